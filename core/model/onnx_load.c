/* onnx_load.c - ONNX ModelProto -> graph IR.
 *
 * Field numbers are those of onnx.proto (ONNX IR version 10 and earlier):
 * ModelProto, GraphProto, NodeProto, AttributeProto, ValueInfoProto,
 * TypeProto and StringStringEntryProto.  Everything read from the file is
 * checked before it is used; every message names where in the model it is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"
#include "onnx_node.h"
#include "pb.h"

enum { M_IR_VERSION = 1, M_PRODUCER_NAME = 2, M_PRODUCER_VERSION = 3, M_GRAPH = 7,
       M_OPSET_IMPORT = 8 };
enum { G_NODE = 1, G_INITIALIZER = 5, G_INPUT = 11, G_OUTPUT = 12, G_VALUE_INFO = 13,
       G_SPARSE_INITIALIZER = 15 };
enum { VI_NAME = 1, VI_TYPE = 2 };
enum { TP_TENSOR = 1, TP_SEQUENCE = 4, TP_MAP = 5, TP_SPARSE = 8, TP_OPTIONAL = 9 };
enum { TT_ELEM_TYPE = 1, TT_SHAPE = 2 };
enum { SHAPE_DIM = 1 };
enum { DIM_VALUE = 1, DIM_PARAM = 2 };
enum { OS_DOMAIN = 1, OS_VERSION = 2 };

#define NOMEM(e) mp_error_set(e, MP_ERR_NOMEM, "out of memory")

/* What the loader may take for each node beyond the arena's cap for the
 * file's size (about 3 KiB a node go to names, attributes, shapes and the
 * module tree). */
enum { NODE_ARENA_BYTES = 4096 };

/* ---- value types ---- */

static enum mp_status parse_tensor_type(struct mp_graph *g, struct mp_pb r,
                                        struct mp_value_info *vi, struct mp_error *e)
{
	struct mp_pb_field f;
	enum mp_status st;
	while (mp_pb_each(&r, &f, &st, e)) {
		if (f.num == TT_ELEM_TYPE && f.wire == MP_PB_VARINT) {
			if (!mp_dtype_valid((int)f.u))
				return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: elem_type %llu is not an ONNX type",
				                    f.offset, (unsigned long long)f.u);
			vi->dtype = (enum mp_dtype)f.u;
		} else if (f.num == TT_SHAPE && f.wire == MP_PB_LEN) {
			struct mp_pb s = mp_pb_sub(&r, &f);
			struct mp_pb_field d;
			vi->ndim = 0;
			while (mp_pb_each(&s, &d, &st, e)) {
				if (d.num != SHAPE_DIM || d.wire != MP_PB_LEN)
					continue;
				if (vi->ndim >= MP_MAX_DIMS)
					return mp_error_set(e, MP_ERR_UNSUPPORTED,
					                    "offset %zu: more than %d dims", d.offset, MP_MAX_DIMS);
				int64_t dim = MP_DIM_UNKNOWN;
				struct mp_pb dr = mp_pb_sub(&s, &d);
				struct mp_pb_field x;
				while (mp_pb_each(&dr, &x, &st, e)) {
					if (x.num == DIM_VALUE && x.wire == MP_PB_VARINT) {
						if ((int64_t)x.u < 0)
							dim = MP_DIM_UNKNOWN; /* -1 is how some exporters say "unknown" */
						else
							dim = (int64_t)x.u;
					} else if (x.num == DIM_PARAM && x.wire == MP_PB_LEN && x.len) {
						const char *name;
						if ((st = mp_onnx_field_str(g, &x, &name, "dim_param", e)))
							return st;
						int id = mp_graph_symbol_intern(g, name);
						if (id < 0)
							return NOMEM(e);
						dim = MP_DIM_FROM_SYM(id);
					}
				}
				if (st)
					return st;
				vi->dims[vi->ndim++] = dim;
			}
			if (st)
				return st;
		}
	}
	if (st)
		return st;
	return MP_OK;
}

static enum mp_status parse_value_info(struct mp_graph *g, const struct mp_pb *parent,
                                       const struct mp_pb_field *msg, const char **name,
                                       struct mp_value_info *vi, bool *unsupported,
                                       struct mp_error *e)
{
	struct mp_pb r = mp_pb_sub(parent, msg);
	struct mp_pb_field f;
	enum mp_status st;

	*name = NULL;
	*unsupported = false;
	vi->dtype = MP_DTYPE_UNDEFINED;
	vi->ndim = -1;
	while (mp_pb_each(&r, &f, &st, e)) {
		if (f.num == VI_NAME) {
			if ((st = mp_onnx_field_str(g, &f, name, "value name", e)))
				return st;
		} else if (f.num == VI_TYPE && f.wire == MP_PB_LEN) {
			struct mp_pb t = mp_pb_sub(&r, &f);
			struct mp_pb_field tf;
			while (mp_pb_each(&t, &tf, &st, e)) {
				if (tf.num == TP_TENSOR && tf.wire == MP_PB_LEN) {
					if ((st = parse_tensor_type(g, mp_pb_sub(&t, &tf), vi, e)))
						return st;
				} else if (tf.num == TP_SEQUENCE || tf.num == TP_MAP ||
				           tf.num == TP_SPARSE || tf.num == TP_OPTIONAL) {
					*unsupported = true;
				}
			}
			if (st)
				return st;
		}
	}
	if (st)
		return st;
	if (!*name)
		return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: a value without a name", msg->offset);
	return MP_OK;
}

/* ---- graph ---- */

static const char *value_name_of(const void *ctx, int32_t id)
{
	return ((const struct mp_graph *)ctx)->values[id].name;
}

static const char *node_name_of(const void *ctx, int32_t id)
{
	return ((const struct mp_graph *)ctx)->nodes[id].name;
}

/* Adds a value; on a duplicate name returns -1 with *dup its id. */
static int32_t add_value(struct mp_graph *g, const char *name, enum mp_value_kind kind,
                         int32_t *dup)
{
	int32_t id = (int32_t)g->nvalues;
	struct mp_value *v = &g->values[id];
	memset(v, 0, sizeof *v);
	v->name = name;
	v->kind = kind;
	v->producer = -1;
	v->info.ndim = -1;
	g->nvalues++;
	if (!mp_name_map_insert(&g->value_names, name, id, value_name_of, g, dup)) {
		g->nvalues--;
		return -1;
	}
	return id;
}

static enum mp_status topo_sort(struct mp_graph *g, struct mp_error *e);

/* What the graph message holds, counted before anything is built. */
struct graph_counts {
	size_t nnode, ninit, nin, nout;
};

/* Pass 1: the counts, against the stated limits. */
static enum mp_status graph_count(struct mp_graph *g, const struct mp_pb *parent, const struct mp_pb_field *gf,
                                  struct graph_counts *c, struct mp_error *e)
{
	struct mp_pb r = mp_pb_sub(parent, gf);
	struct mp_pb_field f;
	enum mp_status st = MP_OK;
	size_t nnode = 0, ninit = 0, nin = 0, nout = 0, nvi = 0, nsparse = 0;

	while (mp_pb_each(&r, &f, &st, e)) {
		if (f.wire != MP_PB_LEN)
			continue;
		switch (f.num) {
		case G_NODE: nnode++; break;
		case G_INITIALIZER: ninit++; break;
		case G_INPUT: nin++; break;
		case G_OUTPUT: nout++; break;
		case G_VALUE_INFO: nvi++; break;
		case G_SPARSE_INITIALIZER: nsparse++; break;
		}
	}
	if (st)
		return st;
	if (nsparse)
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "sparse initializers are not supported");
	if (nnode > INT32_MAX / 4 || ninit > INT32_MAX / 4)
		return mp_error_set(e, MP_ERR_FORMAT, "graph too large");
	/* the stated limits, before anything is built; a graph at them gets a
	 * few KiB a node beyond the arena's cap for the file's size */
	if (nnode > g->limits.max_nodes)
		return mp_error_set(e, MP_ERR_LIMIT, "the graph has %zu nodes, more than the limit of %zu: "
		                    "--max-nodes N raises it", nnode, g->limits.max_nodes);
	if (ninit + nin > g->limits.max_values)
		return mp_error_set(e, MP_ERR_LIMIT, "the graph has %zu initializers and inputs, more than the limit of "
		                    "%zu values: --max-values N raises it", ninit + nin, g->limits.max_values);
	if (g->arena.cap && nnode < (SIZE_MAX - g->arena.cap) / NODE_ARENA_BYTES)
		g->arena.cap += nnode * NODE_ARENA_BYTES;

	c->nnode = nnode;
	c->ninit = ninit;
	c->nin = nin;
	c->nout = nout;
	(void)nvi;
	return MP_OK;
}

/* Pass 2: initializers and nodes, as the file states them. */
static enum mp_status graph_read(struct mp_graph *g, const struct mp_pb *parent, const struct mp_pb_field *gf,
                                 struct mp_onnx_raw_node *raw, struct mp_onnx_tensor *inits, struct mp_error *e)
{
	struct mp_pb r = mp_pb_sub(parent, gf);
	struct mp_pb_field f;
	enum mp_status st = MP_OK;
	size_t k_node = 0, k_init = 0;

	while (mp_pb_each(&r, &f, &st, e)) {
		if (f.wire != MP_PB_LEN)
			continue;
		if (f.num == G_INITIALIZER) {
			st = mp_onnx_tensor_parse(f.data, f.len, r.base, &g->arena, &g->ext, &inits[k_init], e);
			if (st) {
				mp_error_prefix(e, "graph.initializer[%zu]: ", k_init);
				return st;
			}
			k_init++;
		} else if (f.num == G_NODE) {
			st = mp_onnx_parse_node(g, &r, &f, &raw[k_node], e);
			if (st) {
				mp_error_prefix(e, "graph.node[%zu]: ", k_node);
				return st;
			}
			k_node++;
		}
	}
	if (st)
		return st;
	return MP_OK;
}

/* The value table, sized for every value, and the initializers in it. */
static enum mp_status graph_add_inits(struct mp_graph *g, const struct graph_counts *c,
                                      const struct mp_onnx_raw_node *raw, const struct mp_onnx_tensor *inits,
                                      struct mp_error *e)
{
	size_t nnode = c->nnode, ninit = c->ninit, nin = c->nin, nout = c->nout;
	enum mp_status st;

	/* values: initializers, then inputs that are not initializers, then node outputs */
	size_t nvalues = ninit + nin;
	for (size_t i = 0; i < nnode; i++)
		nvalues += (size_t)raw[i].noutputs;
	if (nvalues > g->limits.max_values)
		return mp_error_set(e, MP_ERR_LIMIT, "the graph has %zu values (initializers, inputs and node outputs), "
		                    "more than the limit of %zu: --max-values N raises it", nvalues, g->limits.max_values);
	g->values = mp_arena_array(&g->arena, nvalues ? nvalues : 1, sizeof *g->values);
	g->nodes = mp_arena_array(&g->arena, nnode ? nnode : 1, sizeof *g->nodes);
	g->inits = mp_arena_array(&g->arena, ninit ? ninit : 1, sizeof *g->inits);
	g->inputs = mp_arena_array(&g->arena, nin ? nin : 1, sizeof *g->inputs);
	g->outputs = mp_arena_array(&g->arena, nout ? nout : 1, sizeof *g->outputs);
	if (!g->values || !g->nodes || !g->inits || !g->inputs || !g->outputs)
		return NOMEM(e);
	if ((st = mp_name_map_init(&g->value_names, nvalues, e)))
		return st;
	for (size_t i = 0; i < ninit; i++) {
		int32_t dup, id = add_value(g, inits[i].name, MP_VALUE_INITIALIZER, &dup);
		if (id < 0)
			return mp_error_set(e, MP_ERR_MODEL, "initializer '%s' is defined twice", inits[i].name);
		struct mp_value *v = &g->values[id];
		struct mp_tensor *t = mp_arena_alloc(&g->arena, sizeof *t);
		if (!t)
			return NOMEM(e);
		*t = inits[i].t;
		v->data = t;
		v->info.dtype = t->dtype;
		v->info.ndim = t->ndim;
		memcpy(v->info.dims, t->shape, sizeof t->shape);
		v->location = inits[i].location ? inits[i].location : g->path;
		v->file_offset = inits[i].offset;
		g->inits[g->ninits++] = id;
	}
	return MP_OK;
}

/* Pass 3: the graph inputs (IR < 4 lists initializers among them). */
static enum mp_status graph_inputs(struct mp_graph *g, const struct mp_pb *parent, const struct mp_pb_field *gf,
                                   struct mp_error *e)
{
	struct mp_pb r = mp_pb_sub(parent, gf);
	struct mp_pb_field f;
	enum mp_status st = MP_OK;

	while (mp_pb_each(&r, &f, &st, e)) {
		if (f.wire != MP_PB_LEN || f.num != G_INPUT)
			continue;
		const char *name;
		struct mp_value_info vi;
		bool unsup;
		if ((st = parse_value_info(g, &r, &f, &name, &vi, &unsup, e))) {
			mp_error_prefix(e, "graph.input: ");
			return st;
		}
		int32_t id = mp_graph_find_value(g, name), dup;
		if (id >= 0 && g->values[id].kind == MP_VALUE_INITIALIZER) {
			/* IR < 4 lists initializers among the inputs, as defaults */
			g->values[id].declared = vi;
			g->values[id].has_declared = true;
			continue;
		}
		if (id >= 0)
			return mp_error_set(e, MP_ERR_MODEL, "graph input '%s' is listed twice", name);
		id = add_value(g, name, MP_VALUE_INPUT, &dup);
		g->values[id].info = vi;
		g->values[id].declared = vi;
		g->values[id].has_declared = true;
		g->values[id].unsupported_type = unsup;
		g->inputs[g->ninputs++] = id;
	}
	if (st)
		return st;
	return MP_OK;
}

/* The nodes, each with a name (op_type_index when the file gives none) and
 * its outputs added as values. */
static enum mp_status graph_nodes(struct mp_graph *g, const struct mp_onnx_raw_node *raw, size_t nnode,
                                  struct mp_error *e)
{
	g->nnodes = nnode;
	for (size_t i = 0; i < nnode; i++) {
		const struct mp_onnx_raw_node *rn = &raw[i];
		struct mp_node *n = &g->nodes[i];
		int32_t *ins = mp_arena_array(&g->arena, (size_t)rn->ninputs, sizeof *ins);
		int32_t *outs = mp_arena_array(&g->arena, (size_t)rn->noutputs, sizeof *outs);
		if (!ins || !outs)
			return NOMEM(e);
		n->op_type = rn->op_type;
		n->domain = rn->domain;
		n->index = (int)i;
		if (rn->name[0]) {
			n->name = rn->name;
		} else {
			char buf[64];
			snprintf(buf, sizeof buf, "_%zu", i);
			size_t l1 = strlen(rn->op_type), l2 = strlen(buf);
			char *s = mp_arena_alloc(&g->arena, l1 + l2 + 1);
			if (!s)
				return NOMEM(e);
			memcpy(s, rn->op_type, l1);
			memcpy(s + l1, buf, l2 + 1);
			n->name = s;
		}
		n->ninputs = rn->ninputs;
		n->noutputs = rn->noutputs;
		n->inputs = ins;
		n->outputs = outs;
		n->nattrs = rn->nattrs;
		n->attrs = rn->attrs;
		n->nmeta = rn->nmeta;
		n->meta = rn->meta;
		for (int k = 0; k < rn->noutputs; k++) {
			int32_t dup;
			if (!rn->outputs[k][0]) {
				outs[k] = -1;
				continue;
			}
			int32_t id = add_value(g, rn->outputs[k], MP_VALUE_NODE, &dup);
			if (id < 0)
				return mp_error_set(e, MP_ERR_MODEL,
				                    "node '%s' (%s): output '%s' is already defined by %s",
				                    n->name, n->op_type, rn->outputs[k],
				                    g->values[dup].kind == MP_VALUE_INPUT ? "a graph input" :
				                    g->values[dup].kind == MP_VALUE_INITIALIZER ? "an initializer" :
				                    "another node");
			g->values[id].producer = (int32_t)i;
			g->values[id].producer_slot = k;
			outs[k] = id;
		}
	}
	return MP_OK;
}

/* Every node input resolved to a value, and the values' consumer counts. */
static enum mp_status graph_link(struct mp_graph *g, const struct mp_onnx_raw_node *raw, size_t nnode,
                                 struct mp_error *e)
{
	for (size_t i = 0; i < nnode; i++) {
		struct mp_node *n = &g->nodes[i];
		for (int k = 0; k < n->ninputs; k++) {
			const char *name = raw[i].inputs[k];
			int32_t *ins = (int32_t *)n->inputs;
			if (!name[0]) {
				ins[k] = -1;
				continue;
			}
			ins[k] = mp_graph_find_value(g, name);
			if (ins[k] < 0)
				return mp_error_set(e, MP_ERR_MODEL,
				                    "node '%s' (%s): input '%s' is not a graph input, an "
				                    "initializer or any node's output",
				                    n->name, n->op_type, name);
			g->values[ins[k]].nconsumers++;
		}
	}
	return MP_OK;
}

/* Pass 4: graph outputs and value_info. */
static enum mp_status graph_outputs(struct mp_graph *g, const struct mp_pb *parent, const struct mp_pb_field *gf,
                                    struct mp_error *e)
{
	struct mp_pb r = mp_pb_sub(parent, gf);
	struct mp_pb_field f;
	enum mp_status st = MP_OK;

	while (mp_pb_each(&r, &f, &st, e)) {
		if (f.wire != MP_PB_LEN || (f.num != G_OUTPUT && f.num != G_VALUE_INFO))
			continue;
		const char *name;
		struct mp_value_info vi;
		bool unsup;
		if ((st = parse_value_info(g, &r, &f, &name, &vi, &unsup, e))) {
			mp_error_prefix(e, f.num == G_OUTPUT ? "graph.output: " : "graph.value_info: ");
			return st;
		}
		int32_t id = mp_graph_find_value(g, name);
		if (id < 0) {
			if (f.num == G_VALUE_INFO)
				continue; /* a hint about nothing */
			return mp_error_set(e, MP_ERR_MODEL, "graph output '%s' is not produced by the graph", name);
		}
		struct mp_value *v = &g->values[id];
		if (v->kind == MP_VALUE_NODE && !v->has_declared) {
			v->declared = vi;
			v->has_declared = true;
		}
		v->unsupported_type |= unsup;
		if (f.num == G_OUTPUT) {
			if (v->is_output)
				return mp_error_set(e, MP_ERR_MODEL, "graph output '%s' is listed twice", name);
			v->is_output = true;
			g->outputs[g->noutputs++] = id;
		}
	}
	if (st)
		return st;
	if (g->noutputs == 0)
		return mp_error_set(e, MP_ERR_MODEL, "the graph has no outputs");
	return MP_OK;
}

/* Each value's consumer list. */
static enum mp_status graph_consumers(struct mp_graph *g, size_t nnode, struct mp_error *e)
{
	for (size_t i = 0; i < g->nvalues; i++) {
		struct mp_value *v = &g->values[i];
		v->consumers = mp_arena_array(&g->arena, (size_t)v->nconsumers, sizeof *v->consumers);
		if (!v->consumers)
			return NOMEM(e);
		v->nconsumers = 0;
	}
	for (size_t i = 0; i < nnode; i++)
		for (int k = 0; k < g->nodes[i].ninputs; k++) {
			int32_t id = g->nodes[i].inputs[k];
			if (id >= 0)
				g->values[id].consumers[g->values[id].nconsumers++] = (int32_t)i;
		}
	return MP_OK;
}

static enum mp_status parse_graph(struct mp_graph *g, const struct mp_pb *parent,
                                  const struct mp_pb_field *gf, struct mp_error *e)
{
	struct graph_counts c = { 0, 0, 0, 0 };
	struct mp_onnx_raw_node *raw = NULL;
	struct mp_onnx_tensor *inits = NULL;
	enum mp_status st;

	if ((st = graph_count(g, parent, gf, &c, e)))
		return st;
	raw = calloc(c.nnode ? c.nnode : 1, sizeof *raw);
	inits = calloc(c.ninit ? c.ninit : 1, sizeof *inits);
	if (!raw || !inits) {
		st = NOMEM(e);
		goto out;
	}
	if ((st = graph_read(g, parent, gf, raw, inits, e)) || (st = graph_add_inits(g, &c, raw, inits, e)) ||
	    (st = graph_inputs(g, parent, gf, e)) || (st = graph_nodes(g, raw, c.nnode, e)) ||
	    (st = graph_link(g, raw, c.nnode, e)) || (st = graph_outputs(g, parent, gf, e)) ||
	    (st = graph_consumers(g, c.nnode, e)))
		goto out;
	st = topo_sort(g, e);
out:
	free(raw);
	free(inits);
	return st;
}

/* ---- topological order: Kahn's algorithm taking the lowest original index
 * first, so a model that is already sorted keeps its order ---- */

static void heap_push(int32_t *h, size_t *n, int32_t x)
{
	size_t i = (*n)++;
	h[i] = x;
	while (i && h[(i - 1) / 2] > h[i]) {
		int32_t t = h[i];
		h[i] = h[(i - 1) / 2];
		h[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static int32_t heap_pop(int32_t *h, size_t *n)
{
	int32_t top = h[0];
	h[0] = h[--(*n)];
	for (size_t i = 0;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < *n && h[l] < h[m]) m = l;
		if (r < *n && h[r] < h[m]) m = r;
		if (m == i)
			break;
		int32_t t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
	return top;
}

static enum mp_status topo_sort(struct mp_graph *g, struct mp_error *e)
{
	size_t n = g->nnodes, nheap = 0, k = 0;
	int32_t *indeg = calloc(n ? n : 1, sizeof *indeg);
	int32_t *heap = malloc((n ? n : 1) * sizeof *heap);
	int32_t *order = malloc((n ? n : 1) * sizeof *order);
	int32_t *newpos = malloc((n ? n : 1) * sizeof *newpos);
	struct mp_node *sorted = NULL;
	enum mp_status st = MP_OK;

	if (!indeg || !heap || !order || !newpos) {
		st = NOMEM(e);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		for (int j = 0; j < g->nodes[i].ninputs; j++) {
			int32_t id = g->nodes[i].inputs[j];
			if (id >= 0 && g->values[id].producer >= 0)
				indeg[i]++;
		}
	for (size_t i = 0; i < n; i++)
		if (!indeg[i])
			heap_push(heap, &nheap, (int32_t)i);
	while (nheap) {
		int32_t i = heap_pop(heap, &nheap);
		order[k++] = i;
		const struct mp_node *nd = &g->nodes[i];
		for (int j = 0; j < nd->noutputs; j++) {
			int32_t id = nd->outputs[j];
			if (id < 0)
				continue;
			for (int32_t c = 0; c < g->values[id].nconsumers; c++)
				if (--indeg[g->values[id].consumers[c]] == 0)
					heap_push(heap, &nheap, g->values[id].consumers[c]);
		}
	}
	if (k < n) {
		for (size_t i = 0; i < n; i++)
			if (indeg[i]) {
				st = mp_error_set(e, MP_ERR_MODEL,
				                  "the graph has a cycle through node '%s' (%s)",
				                  g->nodes[i].name, g->nodes[i].op_type);
				goto out;
			}
	}
	sorted = mp_arena_array(&g->arena, n ? n : 1, sizeof *sorted);
	if (!sorted) {
		st = NOMEM(e);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		newpos[order[i]] = (int32_t)i;
		sorted[i] = g->nodes[order[i]];
		sorted[i].index = (int)i;
	}
	g->nodes = sorted;
	for (size_t i = 0; i < g->nvalues; i++) {
		struct mp_value *v = &g->values[i];
		if (v->producer >= 0)
			v->producer = newpos[v->producer];
		for (int32_t c = 0; c < v->nconsumers; c++)
			v->consumers[c] = newpos[v->consumers[c]];
		/* consumers in execution order */
		for (int32_t a = 1; a < v->nconsumers; a++) {
			int32_t x = v->consumers[a], b = a - 1;
			while (b >= 0 && v->consumers[b] > x) {
				v->consumers[b + 1] = v->consumers[b];
				b--;
			}
			v->consumers[b + 1] = x;
		}
	}
out:
	free(indeg);
	free(heap);
	free(order);
	free(newpos);
	return st;
}

/* ---- model ---- */

static enum mp_status parse_model(struct mp_graph *g, struct mp_error *e)
{
	struct mp_pb r;
	struct mp_pb_field f, graph = { 0 };
	enum mp_status st;
	bool has_graph = false;
	const char *pname = "", *pver = "";
	size_t nops = 0;

	mp_pb_init(&r, g->map.data, g->map.size, g->map.data);
	while (mp_pb_each(&r, &f, &st, e)) {
		if (f.num == M_OPSET_IMPORT && f.wire == MP_PB_LEN)
			nops++;
	}
	if (st)
		return st;
	g->opsets = mp_arena_array(&g->arena, nops ? nops : 1, sizeof *g->opsets);
	if (!g->opsets)
		return NOMEM(e);
	mp_pb_init(&r, g->map.data, g->map.size, g->map.data);
	while (mp_pb_each(&r, &f, &st, e)) {
		switch (f.num) {
		case M_IR_VERSION:
			if (f.wire == MP_PB_VARINT)
				g->ir_version = (int64_t)f.u;
			break;
		case M_PRODUCER_NAME:
			if ((st = mp_onnx_field_str(g, &f, &pname, "producer_name", e)))
				return st;
			break;
		case M_PRODUCER_VERSION:
			if ((st = mp_onnx_field_str(g, &f, &pver, "producer_version", e)))
				return st;
			break;
		case M_GRAPH:
			if (f.wire != MP_PB_LEN)
				return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: graph is not a message", f.offset);
			graph = f;
			has_graph = true;
			break;
		case M_OPSET_IMPORT: {
			struct mp_opset *os = &g->opsets[g->nopsets];
			struct mp_pb o = mp_pb_sub(&r, &f);
			struct mp_pb_field x;
			if (f.wire != MP_PB_LEN)
				break;
			os->domain = "";
			while (mp_pb_each(&o, &x, &st, e)) {
				if (x.num == OS_DOMAIN && (st = mp_onnx_field_str(g, &x, &os->domain, "opset domain", e)))
					return st;
				if (x.num == OS_VERSION && x.wire == MP_PB_VARINT)
					os->version = (int64_t)x.u;
			}
			if (st)
				return st;
			if (!strcmp(os->domain, "ai.onnx"))
				os->domain = "";
			g->nopsets++;
			break;
		}
		default:
			break;
		}
	}
	if (st)
		return st;
	if (!has_graph)
		return mp_error_set(e, MP_ERR_FORMAT, "no graph: this is not an ONNX model");
	if (g->ir_version <= 0)
		return mp_error_set(e, MP_ERR_FORMAT, "no ir_version: this is not an ONNX model");
	if (!g->nopsets) {
		if (g->ir_version >= 3)
			return mp_error_set(e, MP_ERR_FORMAT, "the model imports no opset");
		g->opsets[0].domain = ""; /* IR 1 and 2 predate opset_import */
		g->opsets[0].version = 1;
		g->nopsets = 1;
	}
	size_t l = strlen(pname) + 1 + strlen(pver) + 1;
	char *p = mp_arena_alloc(&g->arena, l);
	if (!p)
		return NOMEM(e);
	snprintf(p, l, "%s%s%s", pname, pver[0] ? " " : "", pver);
	g->producer = p;
	return parse_graph(g, &r, &graph, e);
}

enum mp_status mp_graph_load(const char *path, struct mp_graph **out, struct mp_error *e)
{
	return mp_graph_load_limited(path, NULL, out, e);
}

enum mp_status mp_graph_load_limited(const char *path, const struct mp_graph_limits *lim, struct mp_graph **out,
                                     struct mp_error *e)
{
	struct mp_graph *g = calloc(1, sizeof *g);
	enum mp_status st;

	*out = NULL;
	if (!g)
		return NOMEM(e);
	if (lim)
		g->limits = *lim;
	if (!g->limits.max_nodes)
		g->limits.max_nodes = MP_GRAPH_MAX_NODES;
	if (!g->limits.max_values)
		g->limits.max_values = MP_GRAPH_MAX_VALUES;
	g->path = strdup(path);
	g->dir = mp_path_dirname(path);
	if (!g->path || !g->dir) {
		mp_graph_free(g);
		return NOMEM(e);
	}
	g->ext.dir = g->dir;
	if ((st = mp_fmap_open(path, &g->map, e))) {
		mp_graph_free(g);
		return st;
	}
	/* what the file can make us allocate: a few times its size, plus slack */
	g->arena.cap = (g->map.size > SIZE_MAX / 16 ? SIZE_MAX : g->map.size * 16) + ((size_t)256 << 20);
	if (g->map.size == 0)
		st = mp_error_set(e, MP_ERR_FORMAT, "empty file: not an ONNX model");
	else
		st = parse_model(g, e);
	if (!st)
		st = mp_name_map_init(&g->node_names, g->nnodes, e);
	for (size_t i = 0; !st && i < g->nnodes; i++) {
		int32_t dup;
		mp_name_map_insert(&g->node_names, g->nodes[i].name, (int32_t)i, node_name_of, g, &dup);
	}
	for (size_t i = 0; !st && i < g->nnodes; i++) {
		struct mp_node *n = &g->nodes[i];
		n->opset = (int)mp_graph_opset(g, n->domain);
		st = mp_ops_parse_node(g, n, e);
	}
	if (!st)
		st = mp_modtree_build(g, e);
	if (!st)
		st = mp_graph_infer_static(g, e);
	if (st == MP_ERR_NOMEM && g->arena.capped) {
		char a[32];
		snprintf(a, sizeof a, "%.1f MiB", (double)g->arena.cap / (1 << 20));
		st = mp_error_set(e, MP_ERR_LIMIT, "building the graph would take more than %s, the most a model file "
		                  "of %zu bytes and %zu nodes may (16 times its size, 256 MiB and 4 KiB a node): its "
		                  "attributes, names or shapes decode to far more than the file holds",
		                  a, g->map.size, g->nnodes);
	}
	if (st) {
		mp_error_prefix(e, "%s: ", path);
		mp_graph_free(g);
		return st;
	}
	*out = g;
	return MP_OK;
}
