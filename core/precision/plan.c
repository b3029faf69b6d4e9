/* plan.c - building the dtype plan: the policy's decision node by node, with
 * dtypes propagated through each op's own inference. */
#include "plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "vec.h"

struct mp_plan {
	const struct mp_graph *g;
	const struct mp_policy *policy;
	struct mp_node_decision **dec;
	enum mp_dtype *dtype;      /* per value */
	enum mp_dtype *weight;     /* per value: what a pure policy converts it to, else UNDEFINED */
	bool *is_static;           /* per value */
	enum mp_dtype *inputs;     /* the input dtypes it was built for */
	struct mp_vec events;      /* of struct mp_dtype_event */
	int32_t first_blocked;
};

static enum mp_status add_event(struct mp_plan *pl, struct mp_dtype_event ev, struct mp_error *e)
{
	ev.max_abs = ev.max_rel = NAN; /* measured by the executor */
	return mp_vec_push(&pl->events, &ev, "dtype events", e);
}

void mp_plan_free(struct mp_plan *pl)
{
	if (!pl)
		return;
	for (size_t i = 0; pl->dec && i < mp_graph_nnodes(pl->g); i++)
		free(pl->dec[i]);
	free(pl->dec);
	free(pl->dtype);
	free(pl->weight);
	free(pl->is_static);
	free(pl->inputs);
	mp_vec_free(&pl->events);
	free(pl);
}

/* What building a plan works in: the dtypes inference sees per value, and
 * per input slot of the node at hand. */
struct plan_work {
	struct mp_infer_val *vals;      /* per value */
	struct mp_infer_val *adj;       /* per slot: the value as the node reads it */
	const struct mp_infer_val **in; /* per slot */
	struct mp_infer_val **outp;     /* per output */
	struct mp_input_desc *desc;     /* per slot: what the policy decides on */
	void *params;                   /* the node's parameters, a Cast retargeted */
};

static void work_free(struct plan_work *w)
{
	free(w->params);
	free(w->vals);
	free(w->adj);
	free(w->in);
	free(w->outp);
	free(w->desc);
}

/* The plan's arrays and the work's, values as the graph declares them
 * and the inputs in the dtypes they arrive in. */
static enum mp_status plan_alloc(struct mp_plan *pl, const enum mp_dtype *input_dtypes, struct plan_work *w,
                                 struct mp_error *e)
{
	const struct mp_graph *g = pl->g;
	size_t nv = mp_graph_nvalues(g), nn = mp_graph_nnodes(g), ni = mp_graph_ninputs(g);
	int maxio = 1;
	for (size_t i = 0; i < nn; i++) {
		const struct mp_node *n = mp_graph_node(g, i);
		maxio = n->ninputs > maxio ? n->ninputs : maxio;
		maxio = n->noutputs > maxio ? n->noutputs : maxio;
	}
	pl->dec = calloc(nn + 1, sizeof *pl->dec);
	pl->dtype = calloc(nv + 1, sizeof *pl->dtype);
	pl->weight = calloc(nv + 1, sizeof *pl->weight);
	pl->is_static = calloc(nv + 1, sizeof *pl->is_static);
	pl->inputs = calloc(ni + 1, sizeof *pl->inputs);
	w->vals = calloc(nv + 1, sizeof *w->vals);
	w->adj = calloc((size_t)maxio, sizeof *w->adj);
	w->in = calloc((size_t)maxio, sizeof *w->in);
	w->outp = calloc((size_t)maxio, sizeof *w->outp);
	w->desc = calloc((size_t)maxio, sizeof *w->desc);
	if (!pl->dec || !pl->dtype || !pl->weight || !pl->is_static || !pl->inputs || !w->vals || !w->adj ||
	    !w->in || !w->outp || !w->desc)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < nv; i++) {
		const struct mp_value *v = mp_graph_value(g, i);
		w->vals[i].info = v->info;
		w->vals[i].value = v->data;
		w->vals[i].nsym = -1;
		pl->is_static[i] = v->kind == MP_VALUE_INITIALIZER;
	}
	for (size_t i = 0; i < ni; i++) {
		int32_t id = mp_graph_input(g, i);
		pl->inputs[i] = input_dtypes ? input_dtypes[i] : mp_graph_value(g, (size_t)id)->declared.dtype;
		w->vals[id].info.dtype = pl->inputs[i];
	}
	return MP_OK;
}

/* Weights and constants a pure policy converts, once, before anything
 * reads them. */
static enum mp_status plan_weights(struct mp_plan *pl, struct plan_work *w, struct mp_error *e)
{
	const struct mp_graph *g = pl->g;
	size_t nv = mp_graph_nvalues(g);
	enum mp_status st;
	for (size_t i = 0; i < nv; i++) {
		const struct mp_value *v = mp_graph_value(g, i);
		bool source = v->kind == MP_VALUE_INITIALIZER ||
		              (v->producer >= 0 && mp_graph_node(g, (size_t)v->producer)->op == MP_OP_CONSTANT);
		if (!source)
			continue;
		int ndata = 0;
		enum mp_dtype ov = MP_DTYPE_UNDEFINED;
		bool same_ov = true;
		for (int32_t c = 0; c < v->nconsumers; c++) {
			const struct mp_node *n = mp_graph_node(g, (size_t)v->consumers[c]);
			if (c > 0 && v->consumers[c] == v->consumers[c - 1])
				continue;
			uint32_t pmask = mp_ops_value_inputs(n);
			bool data = false;
			for (int k = 0; k < n->ninputs && k < 32; k++)
				data |= n->inputs[k] == (int32_t)i && !(pmask & (1u << k)) &&
				        !mp_op_has(n->op, MP_OPF_HOST_ONLY);
			if (!data)
				continue;
			enum mp_dtype o = mp_policy_override_for(pl->policy, g, n);
			if (ndata++ == 0)
				ov = o;
			else if (o != ov)
				same_ov = false;
		}
		pl->weight[i] = mp_policy_weight_dtype(pl->policy, v->info.dtype, v->info.ndim, ndata,
		                                       same_ov ? ov : MP_DTYPE_UNDEFINED);
		if (pl->weight[i] && (st = add_event(pl, (struct mp_dtype_event){ -1, -1, (int32_t)i, v->info.dtype,
		                                                               pl->weight[i], MP_CAST_WEIGHT, 0, 0 }, e)))
			return st;
		if (pl->weight[i] && v->kind == MP_VALUE_INITIALIZER)
			w->vals[i].info.dtype = pl->weight[i];
	}
	return MP_OK;
}

/* Node i's decision from what its inputs are; *all_static: whether its
 * outputs are known before running. */
static void decide_node(struct mp_plan *pl, struct plan_work *w, size_t i, struct mp_node_decision *d,
                        bool *all_static)
{
	const struct mp_graph *g = pl->g;
	const struct mp_node *n = mp_graph_node(g, i);
	uint32_t pmask = mp_ops_value_inputs(n);
	*all_static = true;
	for (int k = 0; k < n->ninputs; k++) {
		int32_t id = n->inputs[k];
		w->desc[k] = (struct mp_input_desc){ MP_DTYPE_UNDEFINED, -1, false };
		if (id < 0)
			continue;
		w->desc[k].dtype = w->vals[id].info.dtype;
		w->desc[k].rank = w->vals[id].info.ndim;
		w->desc[k].is_weight = pl->is_static[id];
		/* Shape and Size only read shapes: their outputs are static */
		if (!pl->is_static[id] && !mp_op_has(n->op, MP_OPF_HOST_ONLY))
			*all_static = false;
	}
	for (int k = 0; k < n->ninputs && k < 32; k++) /* parameters read the weight as it is */
		if (pmask & (1u << k) && n->inputs[k] >= 0 && pl->weight[n->inputs[k]])
			w->desc[k].dtype = mp_graph_value(g, (size_t)n->inputs[k])->info.dtype;
	if (n->params) {
		mp_policy_decide(pl->policy, g, n, w->desc, d);
	} else {
		d->nslots = n->ninputs;
		for (int k = 0; k < n->ninputs; k++)
			d->slots[k] = (struct mp_slot_plan){ MP_DTYPE_UNDEFINED, MP_DTYPE_UNDEFINED, true,
			                                     MP_CAST_NONE };
	}
	for (int k = 0; k < n->ninputs; k++)
		if (n->inputs[k] >= 0 && pl->weight[n->inputs[k]] && !(k < 32 && pmask & (1u << k)) &&
		    !mp_op_has(n->op, MP_OPF_HOST_ONLY))
			d->slots[k].via = pl->weight[n->inputs[k]];
}

/* The events of node i: its slots' casts, a graph Cast, a blocked node. */
static enum mp_status node_events(struct mp_plan *pl, const struct plan_work *w, size_t i,
                                  const struct mp_node_decision *d, struct mp_error *e)
{
	const struct mp_node *n = mp_graph_node(pl->g, i);
	const struct mp_input_desc *desc = w->desc;
	enum mp_status st;
	for (int k = 0; k < n->ninputs; k++) {
		const struct mp_slot_plan *s = &d->slots[k];
		if (s->want && s->materialize && s->want != desc[k].dtype &&
		    (st = add_event(pl, (struct mp_dtype_event){ (int32_t)i, k, n->inputs[k], desc[k].dtype,
		                                                 s->want, s->reason, 0, 0 }, e)))
			return st;
	}
	if (n->op == MP_OP_CAST && n->params && n->inputs[0] >= 0) {
		const struct mp_cast_params *cp = n->params;
		if ((st = add_event(pl, (struct mp_dtype_event){ (int32_t)i, -1, n->inputs[0], desc[0].dtype,
		                                                 d->cast_to, d->cast_to != cp->to ? MP_CAST_RETARGET :
		                                                 MP_CAST_GRAPH, 0, 0 }, e)))
			return st;
	}
	if (d->blocked) {
		enum mp_dtype other = MP_DTYPE_UNDEFINED;
		for (int k = 0; k < n->ninputs && !other; k++)
			if (desc[k].dtype && mp_dtype_is_float(desc[k].dtype) && desc[k].dtype != desc[0].dtype)
				other = desc[k].dtype;
		if (pl->first_blocked < 0)
			pl->first_blocked = (int32_t)i;
		if ((st = add_event(pl, (struct mp_dtype_event){ (int32_t)i, -1, -1, desc[0].dtype, other,
		                                                 MP_CAST_BLOCKED, 0, 0 }, e)))
			return st;
	}
	return MP_OK;
}

/* Node i's outputs, through its inference on the planned dtypes. */
static enum mp_status node_outputs(struct mp_plan *pl, struct plan_work *w, size_t i,
                                   const struct mp_node_decision *d, bool all_static, struct mp_error *e)
{
	const struct mp_graph *g = pl->g;
	const struct mp_node *n = mp_graph_node(g, i);
	struct mp_infer_val *vals = w->vals;
	for (int k = 0; k < n->ninputs; k++) {
		int32_t id = n->inputs[k];
		w->in[k] = NULL;
		if (id < 0)
			continue;
		w->adj[k] = vals[id];
		w->adj[k].info.dtype = w->desc[k].dtype;
		if (d->slots[k].want)
			w->adj[k].info.dtype = d->slots[k].want;
		else if (d->blocked && mp_dtype_is_float(w->adj[k].info.dtype) && d->exec)
			w->adj[k].info.dtype = d->exec; /* as if it ran, to plan what follows */
		w->in[k] = &w->adj[k];
	}
	for (int k = 0; k < n->noutputs; k++) {
		int32_t id = n->outputs[k];
		w->outp[k] = id >= 0 ? &vals[id] : NULL;
		if (id >= 0) {
			vals[id].value = NULL;
			vals[id].nsym = -1;
		}
	}
	bool inferred = false;
	if (n->params) {
		struct mp_error ie = { 0 };
		free(w->params);
		w->params = malloc(n->params_size);
		if (!w->params)
			return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		memcpy(w->params, n->params, n->params_size);
		if (n->op == MP_OP_CAST)
			((struct mp_cast_params *)w->params)->to = d->cast_to;
		struct mp_infer c = { .node = n, .ninputs = n->ninputs, .noutputs = n->noutputs, .in = w->in,
		                      .out = w->outp, .params = w->params, .e = &ie };
		inferred = mp_ops_infer(&c) == MP_OK;
	}
	for (int k = 0; k < n->noutputs; k++) {
		int32_t id = n->outputs[k];
		if (id < 0)
			continue;
		if (!inferred) { /* keep what static inference found, with the float type planned */
			vals[id].info = mp_graph_value(g, (size_t)id)->info;
			if (mp_dtype_is_float(vals[id].info.dtype) && d->exec)
				vals[id].info.dtype = d->exec;
		}
		if (pl->weight[id]) /* a Constant a pure policy converts */
			vals[id].info.dtype = pl->weight[id];
		pl->dtype[id] = vals[id].info.dtype;
		pl->is_static[id] = all_static;
	}
	return MP_OK;
}

enum mp_status mp_plan_build(const struct mp_graph *g, const struct mp_policy *p,
                             const enum mp_dtype *input_dtypes, struct mp_plan **out,
                             struct mp_error *e)
{
	size_t nv = mp_graph_nvalues(g), nn = mp_graph_nnodes(g);
	struct mp_plan *pl = calloc(1, sizeof *pl);
	struct plan_work w = { 0 };
	enum mp_status st = MP_OK;

	*out = NULL;
	if (!pl)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	pl->g = g;
	pl->policy = p;
	pl->first_blocked = -1;
	mp_vec_init(&pl->events, sizeof(struct mp_dtype_event), 64, 0);
	if ((st = plan_alloc(pl, input_dtypes, &w, e)) || (st = plan_weights(pl, &w, e)))
		goto out;
	for (size_t i = 0; i < nn; i++) {
		const struct mp_node *n = mp_graph_node(g, i);
		struct mp_node_decision *d = calloc(1, sizeof *d + (size_t)n->ninputs * sizeof d->slots[0]);
		bool all_static;
		if (!d) {
			st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
			goto out;
		}
		pl->dec[i] = d;
		decide_node(pl, &w, i, d, &all_static);
		if ((st = node_events(pl, &w, i, d, e)) || (st = node_outputs(pl, &w, i, d, all_static, e)))
			goto out;
	}
	for (size_t i = 0; i < nv; i++)
		if (!pl->dtype[i])
			pl->dtype[i] = w.vals[i].info.dtype;
	*out = pl;
	pl = NULL;
out:
	work_free(&w);
	mp_plan_free(pl);
	return st;
}

const struct mp_policy *mp_plan_policy(const struct mp_plan *pl) { return pl->policy; }
const struct mp_node_decision *mp_plan_decision(const struct mp_plan *pl, size_t node) { return pl->dec[node]; }

enum mp_dtype mp_plan_value_dtype(const struct mp_plan *pl, int32_t value)
{
	return value >= 0 ? pl->dtype[value] : MP_DTYPE_UNDEFINED;
}

enum mp_dtype mp_plan_weight_dtype(const struct mp_plan *pl, int32_t value)
{
	return value >= 0 ? pl->weight[value] : MP_DTYPE_UNDEFINED;
}

bool mp_plan_value_static(const struct mp_plan *pl, int32_t value)
{
	return value >= 0 && pl->is_static[value];
}

bool mp_plan_same_inputs(const struct mp_plan *pl, const enum mp_dtype *input_dtypes)
{
	for (size_t i = 0; i < mp_graph_ninputs(pl->g); i++)
		if (pl->inputs[i] != input_dtypes[i])
			return false;
	return true;
}

size_t mp_plan_nevents(const struct mp_plan *pl) { return pl->events.len; }
const struct mp_dtype_event *mp_plan_event(const struct mp_plan *pl, size_t i) { return mp_vec_at(&pl->events, i); }
int32_t mp_plan_first_blocked(const struct mp_plan *pl) { return pl->first_blocked; }

/* Ops that hand their one data input's dtype through unchanged. */
static bool passes_through(enum mp_op op)
{
	switch (mp_op_info(op)->family) {
	case MP_FAMILY_view: case MP_FAMILY_transpose: case MP_FAMILY_slice: case MP_FAMILY_expand:
	case MP_FAMILY_gather: case MP_FAMILY_pad:
		return true;
	default:
		return false;
	}
}

static const char *module_name(const struct mp_graph *g, int32_t m)
{
	const char *p = mp_graph_module(g, (size_t)m)->path;
	return p[0] ? p : "(model)";
}

const char *mp_plan_origin(const struct mp_plan *pl, int32_t value, const struct mp_batch *b,
                           char *buf, size_t size)
{
	const struct mp_graph *g = pl->g;
	char through[512] = "";
	size_t tp = 0;
	for (int hops = 0; hops < 64 && value >= 0; hops++) {
		const struct mp_value *v = mp_graph_value(g, (size_t)value);
		if (v->kind == MP_VALUE_INPUT) {
			const char *file = NULL;
			for (size_t i = 0; b && i < mp_batch_count(b); i++)
				if (!strcmp(mp_batch_tensor_name(b, i), v->name) ||
				    (mp_batch_positional(b) && mp_graph_input(g, i < mp_graph_ninputs(g) ? i : 0) == value))
					file = mp_batch_tensor_file(b, i);
			snprintf(buf, size, "graph input '%s' (%s%s%s)%s", v->name, mp_dtype_name(pl->dtype[value]),
			         file ? ", from " : "", file ? file : "", through);
			return buf;
		}
		if (v->kind == MP_VALUE_INITIALIZER) {
			if (pl->weight[value])
				snprintf(buf, size, "weight '%s' (%s, converted from %s)%s", v->name,
				         mp_dtype_name(pl->dtype[value]), mp_dtype_name(v->info.dtype), through);
			else
				snprintf(buf, size, "weight '%s' (%s)%s", v->name, mp_dtype_name(pl->dtype[value]), through);
			return buf;
		}
		const struct mp_node *n = mp_graph_node(g, (size_t)v->producer);
		if (passes_through(n->op) && n->ninputs >= 1 && n->inputs[0] >= 0 &&
		    pl->dtype[n->inputs[0]] == pl->dtype[value]) {
			if (tp < sizeof through)
				tp += (size_t)snprintf(through + tp, sizeof through - tp, " through %s '%s'", n->op_type, n->name);
			value = n->inputs[0];
			continue;
		}
		snprintf(buf, size, "output of node '%s' (%s) in module %s%s", n->name, n->op_type,
		         module_name(g, n->module), through);
		return buf;
	}
	snprintf(buf, size, "?");
	return buf;
}

const char *mp_plan_mismatch_message(const struct mp_plan *pl, size_t node, const struct mp_batch *b,
                                     char *buf, size_t size)
{
	const struct mp_graph *g = pl->g;
	const struct mp_node *n = mp_graph_node(g, node);
	struct mp_input_desc desc[16];
	size_t pos = 0;
	char origin[1024], torch[256];
	int k;

	pos += (size_t)snprintf(buf + pos, size - pos,
	                        "dtype mismatch at node '%s' (%s) in module %s, under policy %s:",
	                        n->name, n->op_type, module_name(g, n->module), mp_policy_name(pl->policy));
	for (k = 0; k < n->ninputs && k < 16; k++) {
		int32_t id = n->inputs[k];
		desc[k] = (struct mp_input_desc){ id >= 0 ? pl->dtype[id] : MP_DTYPE_UNDEFINED, -1, false };
		if (id < 0 || !mp_dtype_is_float(desc[k].dtype) || pos >= size)
			continue;
		pos += (size_t)snprintf(buf + pos, size - pos, "\n  input %d '%s' is %s: %s", k,
		                        mp_graph_value(g, (size_t)id)->name, mp_dtype_name(desc[k].dtype),
		                        mp_plan_origin(pl, id, b, origin, sizeof origin));
	}
	if (pos < size)
		pos += (size_t)snprintf(buf + pos, size - pos, "\n  PyTorch: RuntimeError: %s",
		                        mp_policy_torch_error(n, desc, torch, sizeof torch));
	if (pos < size)
		snprintf(buf + pos, size - pos, "\n  (--on-mismatch cast or promote runs on, and records the cast)");
	return buf;
}
