/* view_plan.c - strided views and axis splits, for both backends (see
 * view_plan.h). */
#include "view_plan.h"

#include <string.h>

void mp_view_transpose(const struct mp_op_call *c, struct mp_tensor *src, struct mp_tensor *dst)
{
	const struct mp_transpose_params *p = c->params;
	const struct mp_tensor *x = c->in[0];
	const struct mp_tensor *o = c->out[0];
	*src = *x;
	*dst = *o;
	if (c->op == MP_OP_TRANSPOSE) {
		for (int i = 0; i < o->ndim; i++) {
			src->shape[i] = x->shape[p->perm_resolved[i]];
			src->strides[i] = x->strides[p->perm_resolved[i]];
		}
		src->ndim = o->ndim;
		return;
	}
	/* as reshape -> 6-D transpose -> reshape, the 6-D view written over the output */
	int64_t b = p->blocksize, N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
	int64_t es = (int64_t)mp_dtype_size(x->dtype);
	int64_t in6[6], perm[6];
	if (c->op == MP_OP_DEPTH_TO_SPACE) {
		int64_t Co = C / (b * b);
		int64_t crd_s[6] = { N, Co, b, b, H, W }, crd_q[6] = { 0, 1, 4, 2, 5, 3 };
		int64_t dcr_s[6] = { N, b, b, Co, H, W }, dcr_q[6] = { 0, 3, 4, 1, 5, 2 };
		memcpy(in6, p->crd ? crd_s : dcr_s, sizeof in6);
		memcpy(perm, p->crd ? crd_q : dcr_q, sizeof perm);
	} else {
		int64_t s[6] = { N, C, H / b, b, W / b, b }, q[6] = { 0, 3, 5, 1, 2, 4 };
		memcpy(in6, s, sizeof s);
		memcpy(perm, q, sizeof q);
	}
	int64_t st6[6], stride = es;
	for (int i = 5; i >= 0; i--) {
		st6[i] = stride;
		stride *= in6[i];
	}
	src->ndim = dst->ndim = 6;
	stride = es;
	for (int i = 5; i >= 0; i--) {
		src->shape[i] = dst->shape[i] = in6[perm[i]];
		src->strides[i] = st6[perm[i]];
		dst->strides[i] = stride;
		stride *= dst->shape[i];
	}
}

void mp_view_pad_value(enum mp_dtype dt, double constant, unsigned char *v)
{
	mp_dtype_traits(dt)->store_f64(&constant, v, 1);
	if (mp_dtype_traits(dt)->is_int) {
		int64_t iv = (int64_t)constant;
		mp_dtype_traits(dt)->store_i64(&iv, v, 1);
	}
}

bool mp_view_pad_inner(const struct mp_pad_params *p, const struct mp_tensor *x, const struct mp_tensor *o,
                       struct mp_tensor *src, struct mp_tensor *dst)
{
	char *sp = x->data, *dp = o->data;
	*src = *x;
	*dst = *o;
	for (int d = 0; d < o->ndim; d++) {
		int64_t b = p->begin[d];
		int64_t skip = b < 0 ? -b : 0; /* negative pads crop */
		int64_t len = x->shape[d] - skip - (p->end[d] < 0 ? -p->end[d] : 0);
		if (len <= 0)
			return false;
		sp += skip * x->strides[d];
		dp += (b > 0 ? b : 0) * o->strides[d];
		src->shape[d] = dst->shape[d] = len;
	}
	src->data = sp;
	dst->data = dp;
	return true;
}

void mp_view_axis_split(const struct mp_tensor *t, int axis, int64_t *outer, int64_t *len, int64_t *inner)
{
	*outer = *inner = 1;
	for (int d = 0; d < axis; d++)
		*outer *= t->shape[d];
	*len = t->ndim ? t->shape[axis] : 1;
	for (int d = axis + 1; d < t->ndim; d++)
		*inner *= t->shape[d];
}

void mp_view_axis_rows(const struct mp_tensor *t, int axis, int64_t *outer, int64_t *rest)
{
	*outer = *rest = 1;
	for (int d = 0; d < t->ndim; d++)
		if (d < axis)
			*outer *= t->shape[d];
		else
			*rest *= t->shape[d];
}

void mp_view_softmax(const struct mp_softmax_params *p, const struct mp_tensor *x, int64_t *outer, int64_t *len,
                     int64_t *inner)
{
	if (x->ndim == 0) {
		*outer = *inner = *len = 1;
	} else if (p->coerce_2d) {
		mp_view_axis_rows(x, p->axis_resolved, outer, len);
		*inner = 1;
	} else {
		mp_view_axis_split(x, p->axis_resolved, outer, len, inner);
	}
}
