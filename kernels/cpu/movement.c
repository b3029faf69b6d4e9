/* movement.c - CPU kernels that move bytes without arithmetic: Transpose,
 * DepthToSpace, SpaceToDepth, Concat, Split, Slice, Expand, Tile, Pad and
 * Trilu.  Each builds a strided view and lets cpu_copy walk it. */
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "view_plan.h"

enum mp_status cpu_transpose(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct mp_tensor src, dst;
	(void)ctx;
	(void)e;

	mp_view_transpose(c, &src, &dst);
	cpu_copy(&dst, &src);
	return MP_OK;
}

enum mp_status cpu_concat(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_concat_params *p = c->params;
	struct mp_tensor *o = c->out[0];
	int axis = p->axis_resolved;
	int64_t at = 0;
	(void)ctx;
	(void)e;

	for (int k = 0; k < c->ninputs; k++) {
		const struct mp_tensor *x = c->in[k];
		struct mp_tensor dst = *o;
		dst.shape[axis] = x->shape[axis];
		dst.data = (char *)o->data + at * o->strides[axis];
		if (mp_tensor_numel(x))
			cpu_copy(&dst, x);
		at += x->shape[axis];
	}
	return MP_OK;
}

enum mp_status cpu_split(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_split_params *p = c->params;
	const struct mp_tensor *x = c->in[0];
	int axis = p->axis_resolved;
	int64_t at = 0;
	(void)ctx;
	(void)e;

	for (int k = 0; k < c->noutputs; k++) {
		struct mp_tensor *o = c->out[k];
		int64_t len;
		if (!o)
			continue; /* shape known from inference even when unused: skip it */
		len = o->shape[axis];
		struct mp_tensor src = *x;
		src.shape[axis] = len;
		src.data = (char *)x->data + at * x->strides[axis];
		if (mp_tensor_numel(o))
			cpu_copy(o, &src);
		at += len;
	}
	return MP_OK;
}

enum mp_status cpu_slice(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_slice_params *p = c->params;
	const struct mp_tensor *x = c->in[0];
	struct mp_tensor *o = c->out[0];
	struct mp_tensor src = *x;
	(void)ctx;
	(void)e;

	if (!mp_tensor_numel(o))
		return MP_OK;
	char *base = x->data;
	for (int d = 0; d < x->ndim; d++) {
		base += p->start[d] * x->strides[d];
		/* one element: the step is never taken (and may be near INT64_MAX) */
		src.strides[d] = o->shape[d] > 1 ? x->strides[d] * p->step[d] : x->strides[d];
		src.shape[d] = o->shape[d];
	}
	src.data = base;
	cpu_copy(o, &src);
	return MP_OK;
}

enum mp_status cpu_expand(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_tensor *x = c->in[0];
	struct mp_tensor *o = c->out[0];
	(void)ctx;
	(void)e;

	if (!mp_tensor_numel(o))
		return MP_OK;
	if (c->op == MP_OP_EXPAND) {
		cpu_copy(o, x);
		return MP_OK;
	}
	/* Tile: each output dim is repeats x input dim */
	size_t es = mp_dtype_size(x->dtype);
	int64_t n = mp_tensor_numel(o), idx[MP_MAX_DIMS] = { 0 };
	char *dst = o->data;
	for (int64_t i = 0; i < n; i++) {
		int64_t off = 0;
		for (int d = 0; d < o->ndim; d++)
			off += (idx[d] % x->shape[d]) * x->strides[d];
		memcpy(dst + (size_t)i * es, (const char *)x->data + off, es);
		for (int d = o->ndim - 1; d >= 0; d--) {
			if (++idx[d] < o->shape[d])
				break;
			idx[d] = 0;
		}
	}
	return MP_OK;
}

/* The input index an output index reads in a non-constant pad mode. */
static int64_t pad_source(enum mp_pad_mode mode, int64_t i, int64_t dim)
{
	switch (mode) {
	case MP_PADMODE_EDGE:
		return i < 0 ? 0 : i >= dim ? dim - 1 : i;
	case MP_PADMODE_WRAP:
		return ((i % dim) + dim) % dim;
	default: /* reflect, repeatedly for pads wider than the dim */
		if (dim == 1)
			return 0;
		{
			int64_t period = 2 * (dim - 1);
			int64_t m = ((i % period) + period) % period;
			return m < dim ? m : period - m;
		}
	}
}

enum mp_status cpu_pad(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_pad_params *p = c->params;
	const struct mp_tensor *x = c->in[0];
	struct mp_tensor *o = c->out[0];
	size_t es = mp_dtype_size(o->dtype);
	int64_t n = mp_tensor_numel(o);
	(void)ctx;

	if (!n)
		return MP_OK;
	if (p->mode == MP_PADMODE_CONSTANT) {
		/* fill with the constant, then copy the part of x that remains */
		unsigned char v[16];
		mp_view_pad_value(o->dtype, p->constant, v);
		for (int64_t i = 0; i < n; i++)
			memcpy((char *)o->data + (size_t)i * es, v, es);
		struct mp_tensor src, dst;
		if (mp_view_pad_inner(p, x, o, &src, &dst))
			cpu_copy(&dst, &src);
		return MP_OK;
	}
	if (mp_tensor_numel(x) == 0)
		return mp_error_set(e, MP_ERR_MODEL, "cannot pad an empty tensor in this mode");
	int64_t idx[MP_MAX_DIMS] = { 0 };
	for (int64_t i = 0; i < n; i++) {
		int64_t off = 0;
		for (int d = 0; d < o->ndim; d++)
			off += pad_source(p->mode, idx[d] - p->begin[d], x->shape[d]) * x->strides[d];
		memcpy((char *)o->data + (size_t)i * es, (const char *)x->data + off, es);
		for (int d = o->ndim - 1; d >= 0; d--) {
			if (++idx[d] < o->shape[d])
				break;
			idx[d] = 0;
		}
	}
	return MP_OK;
}

enum mp_status cpu_trilu(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_trilu_params *p = c->params;
	const struct mp_tensor *x = c->in[0];
	struct mp_tensor *o = c->out[0];
	int r = o->ndim;
	int64_t rows = o->shape[r - 2], cols = o->shape[r - 1], mats = 1, k = p->k_resolved;
	size_t es = mp_dtype_size(o->dtype);
	(void)ctx;
	(void)e;

	for (int d = 0; d < r - 2; d++)
		mats *= o->shape[d];
	cpu_copy(o, x);
	for (int64_t m = 0; m < mats; m++)
		for (int64_t i = 0; i < rows; i++)
			for (int64_t j = 0; j < cols; j++) {
				bool keep = p->upper ? j - i >= k : j - i <= k;
				if (!keep)
					memset((char *)o->data + (size_t)((m * rows + i) * cols + j) * es, 0, es);
			}
	return MP_OK;
}
