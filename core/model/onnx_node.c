/* onnx_node.c - one NodeProto: its inputs, outputs, attributes (the
 * AttributeProto of every IR version) and metadata, checked as it is read;
 * every message names where in the model it is.  Field numbers are those
 * of onnx.proto. */
#include <stdlib.h>
#include <string.h>

#include "onnx.h"
#include "onnx_node.h"

enum { N_INPUT = 1, N_OUTPUT = 2, N_NAME = 3, N_OP_TYPE = 4, N_ATTRIBUTE = 5, N_DOMAIN = 7,
       N_METADATA = 9 };
enum { A_NAME = 1, A_F = 2, A_I = 3, A_S = 4, A_T = 5, A_G = 6, A_FLOATS = 7, A_INTS = 8,
       A_STRINGS = 9, A_TENSORS = 10, A_GRAPHS = 11, A_TP = 14, A_TPS = 15, A_TYPE = 20,
       A_REF_ATTR_NAME = 21, A_SPARSE = 22, A_SPARSES = 23 };
enum { KV_KEY = 1, KV_VALUE = 2 };

#define NOMEM(e) mp_error_set(e, MP_ERR_NOMEM, "out of memory")

enum mp_status mp_onnx_field_str(struct mp_graph *g, const struct mp_pb_field *f, const char **out,
                                 const char *what, struct mp_error *e)
{
	if (f->wire != MP_PB_LEN)
		return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: %s is not a string", f->offset, what);
	if (memchr(f->data, 0, f->len))
		return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: %s contains a NUL byte", f->offset,
		                    what);
	*out = mp_arena_strndup(&g->arena, (const char *)f->data, f->len);
	return *out ? MP_OK : NOMEM(e);
}

/* ---- attributes ---- */

/* How many elements each list field holds, counted in the first pass and
 * decoded in the second. */
struct attr_counts {
	size_t nfloats, nints, nstrings;
};

/* The first pass: the scalar fields, the tensor, and the list lengths;
 * has[] marks the fields seen (for IR < 3, which wrote no type). */
static enum mp_status attr_fields(struct mp_graph *g, struct mp_pb r, struct mp_attr *a, bool *has,
                                  struct attr_counts *c, struct mp_error *e)
{
	struct mp_pb_field f;
	enum mp_status st;
	size_t nfloats = 0, nints = 0, nstrings = 0;

	while (mp_pb_each(&r, &f, &st, e)) {
		if (f.num < 32)
			has[f.num] = true;
		switch (f.num) {
		case A_NAME:
			if ((st = mp_onnx_field_str(g, &f, &a->name, "attribute name", e)))
				return st;
			break;
		case A_TYPE:
			a->type = (enum mp_attr_type)f.u;
			break;
		case A_F:
			if (f.wire != MP_PB_I32)
				return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: attribute f is not a float", f.offset);
			a->f = mp_f32_from_bits((uint32_t)f.u);
			break;
		case A_I:
			if (f.wire != MP_PB_VARINT)
				return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: attribute i is not an integer", f.offset);
			a->i = (int64_t)f.u;
			break;
		case A_S:
			if (f.wire != MP_PB_LEN)
				return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: attribute s is not bytes", f.offset);
			a->s = mp_arena_strndup(&g->arena, (const char *)f.data, f.len);
			a->slen = f.len;
			if (!a->s)
				return NOMEM(e);
			break;
		case A_T: {
			struct mp_onnx_tensor t;
			if (f.wire != MP_PB_LEN)
				return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: attribute t is not a message", f.offset);
			if ((st = mp_onnx_tensor_parse(f.data, f.len, r.base, &g->arena, &g->ext, &t, e)))
				return st;
			a->t = mp_arena_alloc(&g->arena, sizeof *a->t);
			if (!a->t)
				return NOMEM(e);
			*a->t = t.t;
			break;
		}
		case A_FLOATS: {
			size_t n;
			if ((st = mp_pb_count(&f, MP_PB_I32, &n, r.base, e)))
				return st;
			nfloats += n;
			break;
		}
		case A_INTS: {
			size_t n;
			if ((st = mp_pb_count(&f, MP_PB_VARINT, &n, r.base, e)))
				return st;
			nints += n;
			break;
		}
		case A_STRINGS:
			nstrings++;
			break;
		case A_REF_ATTR_NAME:
			return mp_error_set(e, MP_ERR_UNSUPPORTED,
			                    "offset %zu: attribute references (functions) are not supported",
			                    f.offset);
		default:
			break;
		}
	}
	c->nfloats = nfloats;
	c->nints = nints;
	c->nstrings = nstrings;
	return st;
}

/* IR < 3 wrote no type: take it from the field set */
static void attr_infer_type(struct mp_attr *a, const bool *has)
{
	if (a->type == MP_ATTR_UNDEFINED) {
		if (has[A_F]) a->type = MP_ATTR_FLOAT;
		else if (has[A_I]) a->type = MP_ATTR_INT;
		else if (has[A_S]) a->type = MP_ATTR_STRING;
		else if (has[A_T]) a->type = MP_ATTR_TENSOR;
		else if (has[A_G]) a->type = MP_ATTR_GRAPH;
		else if (has[A_FLOATS]) a->type = MP_ATTR_FLOATS;
		else if (has[A_INTS]) a->type = MP_ATTR_INTS;
		else if (has[A_STRINGS]) a->type = MP_ATTR_STRINGS;
		else if (has[A_TENSORS]) a->type = MP_ATTR_TENSORS;
		else if (has[A_GRAPHS]) a->type = MP_ATTR_GRAPHS;
		else if (has[A_SPARSE]) a->type = MP_ATTR_SPARSE_TENSOR;
		else if (has[A_SPARSES]) a->type = MP_ATTR_SPARSE_TENSORS;
		else if (has[A_TP]) a->type = MP_ATTR_TYPE_PROTO;
		else if (has[A_TPS]) a->type = MP_ATTR_TYPE_PROTOS;
	}
}

/* The second pass: the lists, decoded into the arena. */
static enum mp_status attr_lists(struct mp_graph *g, struct mp_pb r, struct mp_attr *a,
                                 const struct attr_counts *c, struct mp_error *e)
{
	struct mp_pb_field f;
	enum mp_status st;
	size_t nfloats = c->nfloats, nints = c->nints, nstrings = c->nstrings;
	float *fl = nfloats ? mp_arena_array(&g->arena, nfloats, sizeof *fl) : NULL;
	int64_t *in = nints ? mp_arena_array(&g->arena, nints, sizeof *in) : NULL;
	const char **sl = nstrings ? mp_arena_array(&g->arena, nstrings, sizeof *sl) : NULL;
	size_t kf = 0, ki = 0, ks = 0;
	if ((nfloats && !fl) || (nints && !in) || (nstrings && !sl))
		return NOMEM(e);
	while (mp_pb_each(&r, &f, &st, e)) {
		if (f.num == A_FLOATS || f.num == A_INTS) {
			enum mp_pb_wire w = f.num == A_FLOATS ? MP_PB_I32 : MP_PB_VARINT;
			size_t n;
			if ((st = mp_pb_count(&f, w, &n, r.base, e)))
				return st;
			uint64_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
			if (!tmp)
				return NOMEM(e);
			if ((st = mp_pb_decode(&f, w, tmp, &n, r.base, e))) {
				free(tmp);
				return st;
			}
			for (size_t i = 0; i < n; i++) {
				if (f.num == A_FLOATS)
					fl[kf++] = mp_f32_from_bits((uint32_t)tmp[i]);
				else
					in[ki++] = (int64_t)tmp[i];
			}
			free(tmp);
		} else if (f.num == A_STRINGS && f.wire == MP_PB_LEN) {
			sl[ks] = mp_arena_strndup(&g->arena, (const char *)f.data, f.len);
			if (!sl[ks++])
				return NOMEM(e);
		}
	}
	if (st)
		return st;
	if (nfloats + nints + nstrings > INT32_MAX)
		return mp_error_set(e, MP_ERR_FORMAT, "attribute '%s' is too long", a->name);
	a->floats = fl;
	a->ints = in;
	a->strings = sl;
	a->n = (int)(a->type == MP_ATTR_FLOATS ? nfloats :
	             a->type == MP_ATTR_INTS ? nints : nstrings);
	return MP_OK;
}

static enum mp_status parse_attr(struct mp_graph *g, const struct mp_pb *parent,
                                 const struct mp_pb_field *msg, struct mp_attr *a,
                                 struct mp_error *e)
{
	struct attr_counts c = { 0, 0, 0 };
	bool has[32] = { false };
	enum mp_status st;

	memset(a, 0, sizeof *a);
	if ((st = attr_fields(g, mp_pb_sub(parent, msg), a, has, &c, e)))
		return st;
	if (!a->name)
		return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: an attribute without a name", msg->offset);
	attr_infer_type(a, has);
	if (a->type == MP_ATTR_TENSOR && !a->t)
		return mp_error_set(e, MP_ERR_FORMAT, "attribute '%s' is a tensor but holds none", a->name);
	if (c.nfloats || c.nints || c.nstrings)
		return attr_lists(g, mp_pb_sub(parent, msg), a, &c, e);
	return MP_OK;
}

static enum mp_status parse_kv(struct mp_graph *g, const struct mp_pb *parent,
                               const struct mp_pb_field *msg, struct mp_meta *m,
                               struct mp_error *e)
{
	struct mp_pb r = mp_pb_sub(parent, msg);
	struct mp_pb_field f;
	enum mp_status st;
	m->key = m->value = "";
	while (mp_pb_each(&r, &f, &st, e)) {
		if (f.num == KV_KEY && (st = mp_onnx_field_str(g, &f, &m->key, "metadata key", e)))
			return st;
		if (f.num == KV_VALUE && (st = mp_onnx_field_str(g, &f, &m->value, "metadata value", e)))
			return st;
	}
	if (st)
		return st;
	return MP_OK;
}

enum mp_status mp_onnx_parse_node(struct mp_graph *g, const struct mp_pb *parent, const struct mp_pb_field *msg,
                                  struct mp_onnx_raw_node *n, struct mp_error *e)
{
	struct mp_pb r = mp_pb_sub(parent, msg);
	struct mp_pb_field f;
	enum mp_status st;
	size_t ni = 0, no = 0, na = 0, nm = 0;

	memset(n, 0, sizeof *n);
	n->domain = "";
	n->name = "";
	while (mp_pb_each(&r, &f, &st, e)) {
		if (f.num == N_INPUT) ni++;
		else if (f.num == N_OUTPUT) no++;
		else if (f.num == N_ATTRIBUTE) na++;
		else if (f.num == N_METADATA) nm++;
	}
	if (st)
		return st;
	if (ni > INT32_MAX || no > INT32_MAX || na > INT32_MAX || nm > INT32_MAX)
		return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: node too large", msg->offset);
	n->inputs = mp_arena_array(&g->arena, ni, sizeof *n->inputs);
	n->outputs = mp_arena_array(&g->arena, no, sizeof *n->outputs);
	n->attrs = mp_arena_array(&g->arena, na, sizeof *n->attrs);
	n->meta = mp_arena_array(&g->arena, nm, sizeof *n->meta);
	if (!n->inputs || !n->outputs || !n->attrs || !n->meta)
		return NOMEM(e);
	r = mp_pb_sub(parent, msg);
	while (mp_pb_each(&r, &f, &st, e)) {
		switch (f.num) {
		case N_INPUT:
			if ((st = mp_onnx_field_str(g, &f, &n->inputs[n->ninputs++], "node input", e)))
				return st;
			break;
		case N_OUTPUT:
			if ((st = mp_onnx_field_str(g, &f, &n->outputs[n->noutputs++], "node output", e)))
				return st;
			break;
		case N_NAME:
			if ((st = mp_onnx_field_str(g, &f, &n->name, "node name", e)))
				return st;
			break;
		case N_OP_TYPE:
			if ((st = mp_onnx_field_str(g, &f, &n->op_type, "op_type", e)))
				return st;
			break;
		case N_DOMAIN:
			if ((st = mp_onnx_field_str(g, &f, &n->domain, "domain", e)))
				return st;
			break;
		case N_ATTRIBUTE:
			if (f.wire != MP_PB_LEN)
				return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: attribute is not a message", f.offset);
			if ((st = parse_attr(g, &r, &f, &n->attrs[n->nattrs], e)))
				return st;
			n->nattrs++;
			break;
		case N_METADATA:
			if (f.wire != MP_PB_LEN)
				return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: metadata_props is not a message", f.offset);
			if ((st = parse_kv(g, &r, &f, &n->meta[n->nmeta++], e)))
				return st;
			break;
		default:
			break;
		}
	}
	if (st)
		return st;
	if (!n->op_type)
		return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: node '%s' has no op_type", msg->offset,
		                    n->name);
	return MP_OK;
}

