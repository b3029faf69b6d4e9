/* ops_index.c - indexing: Gather, GatherElements, GatherND, ScatterND,
 * ScatterElements, Scatter, NonZero and Compress. */
#include <string.h>

#include "ops.h"

/* ---- Gather family ---- */

/* GatherElements and ScatterElements walk indices' shape and address data
 * with it on every axis but `axis`: there indices may not be longer. */
static enum mp_status indices_within(struct mp_infer *c, const struct mp_infer_val *x,
                                     const struct mp_infer_val *ix, int axis, const char *what)
{
	for (int d = 0; d < ix->info.ndim; d++)
		if (d != axis && ix->info.dims[d] >= 0 && x->info.dims[d] >= 0 && ix->info.dims[d] > x->info.dims[d]) {
			char a[256], b[256];
			return mp_infer_fail(c, "%s has shape %s, longer than data's %s on axis %d (%lld > %lld)", what,
			                     mp_infer_dims_str(&ix->info, a, sizeof a), mp_infer_dims_str(&x->info, b, sizeof b),
			                     d, (long long)ix->info.dims[d], (long long)x->info.dims[d]);
		}
	return MP_OK;
}

/* Two shapes that must be equal where both are known. */
static enum mp_status same_shape(struct mp_infer *c, const struct mp_value_info *a, const char *an,
                                 const struct mp_value_info *b, const char *bn)
{
	bool differ = a->ndim >= 0 && b->ndim >= 0 && a->ndim != b->ndim;
	for (int d = 0; !differ && a->ndim >= 0 && d < a->ndim && d < b->ndim; d++)
		differ = a->dims[d] >= 0 && b->dims[d] >= 0 && a->dims[d] != b->dims[d];
	if (!differ)
		return MP_OK;
	char x[256], y[256];
	return mp_infer_fail(c, "%s has shape %s but %s has shape %s; %s needs them equal", an,
	                     mp_infer_dims_str(a, x, sizeof x), bn, mp_infer_dims_str(b, y, sizeof y), c->node->op_type);
}

static enum mp_status parse_gather(struct mp_parse *p)
{
	struct mp_gather_params *g = p->params;
	const struct mp_node *n = p->node;
	MP_TRY(mp_attr_int(p, "axis", 0, &g->axis));
	MP_TRY(mp_attr_int(p, "batch_dims", 0, &g->batch_dims));
	if (n->ninputs != 2 || n->noutputs != 1 || n->inputs[0] < 0 || n->inputs[1] < 0)
		return mp_parse_fail(p, MP_ERR_MODEL, "%s takes 2 inputs and 1 output", n->op_type);
	return MP_OK;
}

static enum mp_status infer_gather(struct mp_infer *c)
{
	struct mp_gather_params *g = c->params;
	const struct mp_infer_val *x = c->in[0], *ix = c->in[1];
	int r = x->info.ndim, q = ix->info.ndim, axis;
	int64_t out[MP_MAX_DIMS];

	MP_TRY(mp_infer_require_dtype(c, 1, mp_dtype_is_index_t, "int32 or int64 indices"));
	switch (c->node->op) {
	case MP_OP_GATHER:
		if (r < 0 || q < 0) {
			mp_infer_set_unknown(c->out[0], x->info.dtype, -1);
			return MP_OK;
		}
		if (!mp_axis_normalize(g->axis, r, &axis))
			return mp_infer_fail(c, "axis %lld is out of range for rank %d", (long long)g->axis, r);
		g->axis_resolved = axis;
		if (r - 1 + q > MP_MAX_DIMS)
			return mp_error_set(c->e, MP_ERR_UNSUPPORTED, "rank above %d", MP_MAX_DIMS);
		for (int i = 0; i < axis; i++)
			out[i] = x->info.dims[i];
		for (int i = 0; i < q; i++)
			out[axis + i] = ix->info.dims[i];
		for (int i = axis + 1; i < r; i++)
			out[q + i - 1] = x->info.dims[i];
		mp_infer_set(c->out[0], x->info.dtype, r - 1 + q, out);
		/* picking from a shape vector */
		if (c->out[0] && r == 1 && x->nsym >= 0 && !x->value) {
			int64_t idx[MP_MAX_DIMS];
			int n;
			if (q <= 1 && mp_infer_ints(ix, idx, MP_MAX_DIMS, &n) && ix->value) {
				struct mp_infer_val *o = c->out[0];
				o->nsym = n;
				o->sym_scalar = q == 0;
				for (int i = 0; i < n; i++) {
					int64_t k = idx[i] < 0 ? idx[i] + x->nsym : idx[i];
					if (k < 0 || k >= x->nsym)
						return mp_infer_fail(c, "index %lld is out of range for %d", (long long)idx[i], x->nsym);
					o->sym[i] = x->sym[k];
				}
			}
		}
		return MP_OK;
	case MP_OP_GATHER_ELEMENTS:
		if (r >= 0 && q >= 0 && r != q)
			return mp_infer_fail(c, "data and indices differ in rank (%d, %d)", r, q);
		if (r >= 0) {
			if (!mp_axis_normalize(g->axis, r, &axis))
				return mp_infer_fail(c, "axis %lld is out of range for rank %d", (long long)g->axis, r);
			g->axis_resolved = axis;
			if (q >= 0)
				MP_TRY(indices_within(c, x, ix, axis, "indices (input 1)"));
		}
		mp_infer_same(c->out[0], ix);
		if (c->out[0])
			c->out[0]->info.dtype = x->info.dtype;
		return MP_OK;
	default: { /* GatherND */
		int64_t b = g->batch_dims, last;
		if (q == 0 || r == 0)
			return mp_infer_fail(c, "GatherND takes data and indices of rank 1 or more, not %d and %d", r, q);
		if (r < 0 || q < 0 || (last = ix->info.dims[q - 1]) < 0) {
			mp_infer_set_unknown(c->out[0], x->info.dtype, -1);
			return MP_OK;
		}
		if (q < 1 || r < 1 || b < 0 || b >= q || b >= r)
			return mp_infer_fail(c, "batch_dims %lld does not fit ranks %d and %d", (long long)b, r, q);
		if (last < 1 || last > r - b)
			return mp_infer_fail(c, "indices' last dim %lld does not fit data rank %d", (long long)last, r);
		int k = 0;
		for (int i = 0; i < q - 1; i++)
			out[k++] = ix->info.dims[i];
		for (int i = (int)(b + last); i < r; i++)
			out[k++] = x->info.dims[i];
		if (k > MP_MAX_DIMS)
			return mp_error_set(c->e, MP_ERR_UNSUPPORTED, "rank above %d", MP_MAX_DIMS);
		mp_infer_set(c->out[0], x->info.dtype, k, out);
		return MP_OK;
	}
	}
}

const struct mp_family_ops mp_family_gather = {
	sizeof(struct mp_gather_params), parse_gather, infer_gather, NULL,
};

/* ---- Scatter family ---- */

static enum mp_status parse_scatter(struct mp_parse *p)
{
	struct mp_scatter_params *s = p->params;
	const struct mp_node *n = p->node;
	const char *red;
	MP_TRY(mp_attr_int(p, "axis", 0, &s->axis));
	MP_TRY(mp_attr_string(p, "reduction", "none", &red));
	if (!strcmp(red, "none")) s->reduction = MP_REDUCE_NONE;
	else if (!strcmp(red, "add")) s->reduction = MP_REDUCE_ADD;
	else if (!strcmp(red, "mul")) s->reduction = MP_REDUCE_MUL;
	else if (!strcmp(red, "max")) s->reduction = MP_REDUCE_MAX;
	else if (!strcmp(red, "min")) s->reduction = MP_REDUCE_MIN;
	else return mp_parse_fail(p, MP_ERR_MODEL, "reduction '%s' is not one ONNX defines", red);
	if (n->ninputs != 3 || n->noutputs != 1)
		return mp_parse_fail(p, MP_ERR_MODEL, "%s takes 3 inputs and 1 output", n->op_type);
	return MP_OK;
}

static enum mp_status infer_scatter(struct mp_infer *c)
{
	struct mp_scatter_params *s = c->params;
	const struct mp_infer_val *x = c->in[0], *ix = c->in[1], *up = c->in[2];
	int r = x->info.ndim;

	MP_TRY(mp_infer_require_dtype(c, 1, mp_dtype_is_index_t, "int32 or int64 indices"));
	MP_TRY(mp_infer_same_dtype(c, 0, 2));
	if (c->node->op == MP_OP_SCATTER_ND) {
		int q = ix->info.ndim;
		if (q == 0 || r == 0)
			return mp_infer_fail(c, "ScatterND takes data and indices (input 1) of rank 1 or more, not %d and %d",
			                     r, q);
		if (r >= 0 && q >= 0 && ix->info.dims[q - 1] >= 0) {
			int64_t k = ix->info.dims[q - 1];
			if (k > r)
				return mp_infer_fail(c, "indices' (input 1) last dim %lld exceeds data rank %d", (long long)k, r);
			/* updates are indices.shape[:-1] + data.shape[k:] */
			struct mp_value_info want = { .dtype = up->info.dtype, .ndim = q - 1 + r - (int)k };
			if (want.ndim > MP_MAX_DIMS)
				return mp_error_set(c->e, MP_ERR_UNSUPPORTED, "rank above %d", MP_MAX_DIMS);
			for (int d = 0; d < q - 1; d++)
				want.dims[d] = ix->info.dims[d];
			for (int d = (int)k; d < r; d++)
				want.dims[q - 1 + d - k] = x->info.dims[d];
			MP_TRY(same_shape(c, &up->info, "updates (input 2)", &want, "indices.shape[:-1] + data.shape[k:]"));
		}
	} else {
		if (r >= 0 && ix->info.ndim >= 0 && r != ix->info.ndim)
			return mp_infer_fail(c, "data and indices (input 1) differ in rank (%d, %d)", r, ix->info.ndim);
		MP_TRY(same_shape(c, &ix->info, "indices (input 1)", &up->info, "updates (input 2)"));
		if (r >= 0) {
			int axis;
			if (!mp_axis_normalize(s->axis, r, &axis))
				return mp_infer_fail(c, "axis %lld is out of range for rank %d", (long long)s->axis, r);
			s->axis_resolved = axis;
			if (ix->info.ndim >= 0)
				MP_TRY(indices_within(c, x, ix, axis, "indices (input 1)"));
		}
	}
	mp_infer_same(c->out[0], x);
	return MP_OK;
}

const struct mp_family_ops mp_family_scatter = {
	sizeof(struct mp_scatter_params), parse_scatter, infer_scatter, NULL,
};

/* ---- NonZero, Compress: output sizes depend on the data ---- */

static enum mp_status parse_select(struct mp_parse *p)
{
	struct mp_select_params *s = p->params;
	const struct mp_node *n = p->node;
	s->has_axis = mp_attr_find(n, "axis") != NULL;
	MP_TRY(mp_attr_int(p, "axis", 0, &s->axis));
	if (n->ninputs != (n->op == MP_OP_COMPRESS ? 2 : 1) || n->noutputs != 1)
		return mp_parse_fail(p, MP_ERR_MODEL, "%s has the wrong number of inputs", n->op_type);
	return MP_OK;
}

static bool computable(enum mp_dtype t) { return mp_dtype_computable(t); }

static int64_t count_true(const struct mp_tensor *t, int64_t limit)
{
	int64_t n = mp_tensor_numel(t), k = 0;
	size_t es = mp_dtype_size(t->dtype);
	const unsigned char *p = t->data;
	if (limit >= 0 && limit < n)
		n = limit;
	for (int64_t i = 0; i < n; i++) {
		bool nz = false;
		for (size_t b = 0; b < es; b++)
			nz |= p[i * (int64_t)es + (int64_t)b] != 0;
		/* -0.0 is zero: its only set bit is the sign */
		if (nz && mp_dtype_is_float(t->dtype)) {
			double v;
			mp_dtype_traits(t->dtype)->load_f64(p + i * (int64_t)es, 1, &v, 1);
			nz = v != 0;
		}
		k += nz;
	}
	return k;
}

static enum mp_status infer_select(struct mp_infer *c)
{
	struct mp_select_params *s = c->params;
	const struct mp_infer_val *x = c->in[0];
	int r = x->info.ndim;

	if (c->node->op == MP_OP_NON_ZERO) {
		int64_t dims[2] = { r, MP_DIM_UNKNOWN };
		MP_TRY(mp_infer_require_dtype(c, 0, computable, "numeric or bool"));
		if (r < 0) {
			mp_infer_set_unknown(c->out[0], MP_I64, 2);
			return MP_OK;
		}
		if (x->value)
			dims[1] = count_true(x->value, -1);
		mp_infer_set(c->out[0], MP_I64, 2, dims);
		return MP_OK;
	}
	const struct mp_infer_val *cond = c->in[1];
	MP_TRY(mp_infer_require_dtype(c, 1, mp_dtype_is_bool_t, "a bool condition"));
	if (cond->info.ndim >= 0 && cond->info.ndim != 1)
		return mp_infer_fail(c, "Compress's condition must be 1-D");
	int64_t limit = -1, dims[MP_MAX_DIMS];
	if (s->has_axis) {
		int axis;
		if (r < 0) {
			mp_infer_set_unknown(c->out[0], x->info.dtype, -1);
			return MP_OK;
		}
		if (!mp_axis_normalize(s->axis, r, &axis))
			return mp_infer_fail(c, "axis %lld is out of range for rank %d", (long long)s->axis, r);
		s->axis_resolved = axis;
		limit = x->info.dims[axis];
		memcpy(dims, x->info.dims, sizeof dims);
		dims[axis] = cond->value && limit >= 0 ? count_true(cond->value, limit) : MP_DIM_UNKNOWN;
		mp_infer_set(c->out[0], x->info.dtype, r, dims);
		return MP_OK;
	}
	dims[0] = cond->value ? count_true(cond->value, -1) : MP_DIM_UNKNOWN;
	mp_infer_set(c->out[0], x->info.dtype, 1, dims);
	return MP_OK;
}

static uint32_t value_inputs_select(const struct mp_node *n)
{
	return n->op == MP_OP_NON_ZERO ? 0x1u : 0x2u;
}

const struct mp_family_ops mp_family_select = {
	sizeof(struct mp_select_params), parse_select, infer_select, value_inputs_select,
};
