/* ops_reduce.c - reductions (Reduce*), ArgMax/ArgMin, Softmax family,
 * CumSum/CumProd and TopK. */
#include <string.h>

#include "ops.h"

/* ---- Reduce* ---- */

static enum mp_status parse_reduce(struct mp_parse *p)
{
	struct mp_reduce_params *r = p->params;
	const struct mp_node *n = p->node;
	int64_t k, noop;
	/* axes became an input in opset 13 for ReduceSum, 18 for the others */
	int axes_input_from = n->op == MP_OP_REDUCE_SUM ? 13 : 18;

	MP_TRY(mp_attr_int(p, "keepdims", 1, &k));
	MP_TRY(mp_attr_int(p, "noop_with_empty_axes", 0, &noop));
	r->keepdims = k != 0;
	r->noop_with_empty_axes = noop != 0;
	r->naxes = -1;
	if (n->opset >= axes_input_from) {
		r->axes_input = true;
		if (n->ninputs < 1 || n->ninputs > 2)
			return mp_parse_fail(p, MP_ERR_MODEL, "%s takes 1 or 2 inputs", n->op_type);
	} else {
		MP_TRY(mp_attr_ints(p, "axes", r->axes, MP_MAX_DIMS, &r->naxes));
		if (n->ninputs != 1)
			return mp_parse_fail(p, MP_ERR_MODEL, "%s takes 1 input", n->op_type);
	}
	if (n->noutputs != 1 || n->inputs[0] < 0)
		return mp_parse_fail(p, MP_ERR_MODEL, "%s has 1 output", n->op_type);
	return MP_OK;
}

static bool reducible(enum mp_dtype t) { return mp_dtype_computable(t); }

static enum mp_status infer_reduce(struct mp_infer *c)
{
	struct mp_reduce_params *r = c->params;
	const struct mp_infer_val *x = c->in[0];
	int rank = x->info.ndim, naxes = r->naxes;
	int64_t axes[MP_MAX_DIMS], out[MP_MAX_DIMS];

	MP_TRY(mp_infer_require_dtype(c, 0, reducible, "numeric types"));
	if (x->info.dtype == MP_BOOL && c->node->op != MP_OP_REDUCE_MAX && c->node->op != MP_OP_REDUCE_MIN)
		return mp_infer_fail(c, "%s does not take bool", c->node->op_type);
	/* ONNX's type constraint: integers of 32 and 64 bits only, but for Max
	 * and Min (the log, square and product of an int8 would not fit it) */
	if (mp_dtype_is_int_t(x->info.dtype) && mp_dtype_size(x->info.dtype) < 4 &&
	    c->node->op != MP_OP_REDUCE_MAX && c->node->op != MP_OP_REDUCE_MIN)
		return mp_infer_fail(c, "input 0 is %s, but %s takes float types and 32- or 64-bit integers",
		                     mp_dtype_name(x->info.dtype), c->node->op_type);
	memcpy(axes, r->axes, sizeof axes);
	if (r->axes_input) {
		naxes = -1;
		if (c->ninputs > 1 && c->in[1]) {
			MP_TRY(mp_infer_require_dtype(c, 1, mp_dtype_is_index_t, "int64 axes"));
			if (!mp_infer_ints(c->in[1], axes, MP_MAX_DIMS, &naxes)) {
				mp_infer_set_unknown(c->out[0], x->info.dtype, r->keepdims ? rank : -1);
				return MP_OK;
			}
		}
	}
	if (rank < 0) {
		mp_infer_set_unknown(c->out[0], x->info.dtype, -1);
		return MP_OK;
	}
	r->mask = 0;
	if (naxes <= 0) {
		if (!r->noop_with_empty_axes)
			r->mask = rank ? (uint32_t)((1ull << rank) - 1) : 0;
	} else {
		for (int i = 0; i < naxes; i++) {
			int a;
			if (!mp_axis_normalize(axes[i], rank, &a))
				return mp_infer_fail(c, "axis %lld is out of range for rank %d", (long long)axes[i], rank);
			r->mask |= 1u << a;
		}
	}
	int k = 0;
	for (int d = 0; d < rank; d++) {
		if (!(r->mask & (1u << d)))
			out[k++] = x->info.dims[d];
		else if (r->keepdims)
			out[k++] = 1;
	}
	mp_infer_set(c->out[0], x->info.dtype, k, out);
	return MP_OK;
}

static uint32_t value_inputs_reduce(const struct mp_node *n)
{
	const struct mp_reduce_params *r = n->params;
	return r->axes_input ? 0x2u : 0;
}

const struct mp_family_ops mp_family_reduce = {
	sizeof(struct mp_reduce_params), parse_reduce, infer_reduce, value_inputs_reduce,
};

/* ---- ArgMax, ArgMin ---- */

static enum mp_status parse_argreduce(struct mp_parse *p)
{
	struct mp_argreduce_params *a = p->params;
	int64_t k, last;
	MP_TRY(mp_attr_int(p, "axis", 0, &a->axis));
	MP_TRY(mp_attr_int(p, "keepdims", 1, &k));
	MP_TRY(mp_attr_int(p, "select_last_index", 0, &last));
	a->keepdims = k != 0;
	a->select_last_index = last != 0;
	if (p->node->ninputs != 1 || p->node->noutputs != 1)
		return mp_parse_fail(p, MP_ERR_MODEL, "%s takes 1 input and 1 output", p->node->op_type);
	return MP_OK;
}

static enum mp_status infer_argreduce(struct mp_infer *c)
{
	struct mp_argreduce_params *a = c->params;
	const struct mp_infer_val *x = c->in[0];
	int r = x->info.ndim, axis, k = 0;
	int64_t out[MP_MAX_DIMS];
	MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_numeric, "numeric types"));
	if (r < 0) {
		mp_infer_set_unknown(c->out[0], MP_I64, -1);
		return MP_OK;
	}
	if (!mp_axis_normalize(a->axis, r, &axis))
		return mp_infer_fail(c, "axis %lld is out of range for rank %d", (long long)a->axis, r);
	if (x->info.dims[axis] == 0)
		return mp_infer_fail(c, "%s over an empty axis", c->node->op_type);
	a->axis_resolved = axis;
	for (int d = 0; d < r; d++) {
		if (d != axis)
			out[k++] = x->info.dims[d];
		else if (a->keepdims)
			out[k++] = 1;
	}
	mp_infer_set(c->out[0], MP_I64, k, out);
	return MP_OK;
}

const struct mp_family_ops mp_family_argreduce = {
	sizeof(struct mp_argreduce_params), parse_argreduce, infer_argreduce, NULL,
};

/* ---- Softmax, LogSoftmax, Hardmax ---- */

static enum mp_status parse_softmax(struct mp_parse *p)
{
	struct mp_softmax_params *s = p->params;
	s->coerce_2d = p->node->opset < 13;
	MP_TRY(mp_attr_int(p, "axis", s->coerce_2d ? 1 : -1, &s->axis));
	if (p->node->ninputs != 1 || p->node->noutputs != 1)
		return mp_parse_fail(p, MP_ERR_MODEL, "%s takes 1 input and 1 output", p->node->op_type);
	return MP_OK;
}

static enum mp_status infer_softmax(struct mp_infer *c)
{
	struct mp_softmax_params *s = c->params;
	const struct mp_infer_val *x = c->in[0];
	int axis;
	MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_float_t, "float types"));
	if (x->info.ndim >= 0) {
		if (!mp_axis_normalize(s->axis, x->info.ndim ? x->info.ndim : 1, &axis))
			return mp_infer_fail(c, "axis %lld is out of range for rank %d", (long long)s->axis,
			                     x->info.ndim);
		s->axis_resolved = axis;
	}
	mp_infer_same(c->out[0], x);
	return MP_OK;
}

const struct mp_family_ops mp_family_softmax = {
	sizeof(struct mp_softmax_params), parse_softmax, infer_softmax, NULL,
};

/* ---- CumSum, CumProd ---- */

static enum mp_status parse_cumulative(struct mp_parse *p)
{
	struct mp_cumulative_params *cp = p->params;
	int64_t ex, rev;
	MP_TRY(mp_attr_int(p, "exclusive", 0, &ex));
	MP_TRY(mp_attr_int(p, "reverse", 0, &rev));
	cp->exclusive = ex != 0;
	cp->reverse = rev != 0;
	if (p->node->ninputs != 2 || p->node->noutputs != 1)
		return mp_parse_fail(p, MP_ERR_MODEL, "%s takes 2 inputs and 1 output", p->node->op_type);
	return MP_OK;
}

static enum mp_status infer_cumulative(struct mp_infer *c)
{
	struct mp_cumulative_params *cp = c->params;
	const struct mp_infer_val *x = c->in[0];
	double a;
	int axis;
	MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_numeric, "numeric types"));
	MP_TRY(mp_infer_require_dtype(c, 1, mp_dtype_is_index_t, "an int32 or int64 axis"));
	if (c->in[1]->info.ndim > 1)
		return mp_infer_fail(c, "axis must be a scalar");
	if (x->info.ndim >= 0 && mp_infer_scalar(c->in[1], &a)) {
		if (!mp_axis_normalize((int64_t)a, x->info.ndim, &axis))
			return mp_infer_fail(c, "axis %lld is out of range for rank %d", (long long)a, x->info.ndim);
		cp->axis_resolved = axis;
	}
	mp_infer_same(c->out[0], x);
	return MP_OK;
}

static uint32_t value_inputs_cumulative(const struct mp_node *n)
{
	(void)n;
	return 0x2u;
}

const struct mp_family_ops mp_family_cumulative = {
	sizeof(struct mp_cumulative_params), parse_cumulative, infer_cumulative, value_inputs_cumulative,
};

/* ---- TopK ---- */

static enum mp_status parse_topk(struct mp_parse *p)
{
	struct mp_topk_params *t = p->params;
	int64_t largest, sorted;
	MP_TRY(mp_attr_int(p, "axis", -1, &t->axis));
	MP_TRY(mp_attr_int(p, "largest", 1, &largest));
	MP_TRY(mp_attr_int(p, "sorted", 1, &sorted));
	t->largest = largest != 0;
	t->sorted = sorted != 0;
	if (p->node->opset < 10) {
		MP_TRY(mp_attr_int(p, "k", -1, &t->k_attr));
		if (t->k_attr < 0)
			return mp_parse_fail(p, MP_ERR_MODEL, "TopK-1 needs the attribute 'k'");
		if (p->node->ninputs != 1)
			return mp_parse_fail(p, MP_ERR_MODEL, "TopK-1 takes 1 input");
	} else {
		t->k_input = true;
		if (p->node->ninputs != 2)
			return mp_parse_fail(p, MP_ERR_MODEL, "TopK takes 2 inputs");
	}
	if (p->node->noutputs != 2)
		return mp_parse_fail(p, MP_ERR_MODEL, "TopK has 2 outputs");
	return MP_OK;
}

static enum mp_status infer_topk(struct mp_infer *c)
{
	struct mp_topk_params *t = c->params;
	const struct mp_infer_val *x = c->in[0];
	int r = x->info.ndim, axis;
	int64_t out[MP_MAX_DIMS], k = t->k_attr;
	double kv;

	MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_numeric, "numeric types"));
	if (t->k_input) {
		MP_TRY(mp_infer_require_dtype(c, 1, mp_dtype_is_index_t, "an int64 K"));
		k = mp_infer_scalar(c->in[1], &kv) ? (int64_t)kv : -1;
		if (c->in[1]->value && k < 0)
			return mp_infer_fail(c, "K is negative");
	}
	if (r < 0) {
		mp_infer_set_unknown(c->out[0], x->info.dtype, -1);
		mp_infer_set_unknown(c->out[1], MP_I64, -1);
		return MP_OK;
	}
	if (!mp_axis_normalize(t->axis, r, &axis))
		return mp_infer_fail(c, "axis %lld is out of range for rank %d", (long long)t->axis, r);
	if (k >= 0 && x->info.dims[axis] >= 0 && k > x->info.dims[axis])
		return mp_infer_fail(c, "K = %lld exceeds the axis length %lld", (long long)k,
		                     (long long)x->info.dims[axis]);
	t->axis_resolved = axis;
	t->k_resolved = k;
	memcpy(out, x->info.dims, sizeof out);
	out[axis] = k >= 0 ? k : MP_DIM_UNKNOWN;
	mp_infer_set(c->out[0], x->info.dtype, r, out);
	mp_infer_set(c->out[1], MP_I64, r, out);
	return MP_OK;
}

static uint32_t value_inputs_topk(const struct mp_node *n)
{
	const struct mp_topk_params *t = n->params;
	return t->k_input ? 0x2u : 0;
}

const struct mp_family_ops mp_family_topk = {
	sizeof(struct mp_topk_params), parse_topk, infer_topk, value_inputs_topk,
};
