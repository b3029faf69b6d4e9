/* movement.cu - ops that move bytes or make tensors, on the GPU:
 * Transpose, DepthToSpace, SpaceToDepth, Concat, Split, Slice, Expand,
 * Tile, Pad, Trilu; Constant, ConstantOfShape, Range, EyeLike, OneHot; and
 * Dropout's mask.  Most are one strided view handed to cu_copy, as the CPU
 * backend hands its views to cpu_copy. */
#include "cu.cuh"
#include "view_plan.h"

extern "C" enum mp_status cu_transpose(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	struct mp_tensor src, dst;
	mp_view_transpose(c, &src, &dst);
	return cu_copy(cx, &dst, &src, e);
}

extern "C" enum mp_status cu_concat(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_concat_params *p = (const struct mp_concat_params *)c->params;
	struct mp_tensor *o = c->out[0];
	int axis = p->axis_resolved;
	int64_t at = 0;
	for (int k = 0; k < c->ninputs; k++) {
		const struct mp_tensor *x = c->in[k];
		struct mp_tensor dst = *o;
		dst.shape[axis] = x->shape[axis];
		dst.data = (char *)o->data + at * o->strides[axis];
		if (mp_tensor_numel(x)) {
			enum mp_status st = cu_copy(cx, &dst, x, e);
			if (st)
				return st;
		}
		at += x->shape[axis];
	}
	return MP_OK;
}

extern "C" enum mp_status cu_split(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_split_params *p = (const struct mp_split_params *)c->params;
	const struct mp_tensor *x = c->in[0];
	int axis = p->axis_resolved;
	int64_t at = 0;
	for (int k = 0; k < c->noutputs; k++) {
		struct mp_tensor *o = c->out[k];
		if (!o)
			continue;
		int64_t len = o->shape[axis];
		struct mp_tensor src = *x;
		src.shape[axis] = len;
		src.data = (char *)x->data + at * x->strides[axis];
		if (mp_tensor_numel(o)) {
			enum mp_status st = cu_copy(cx, o, &src, e);
			if (st)
				return st;
		}
		at += len;
	}
	return MP_OK;
}

extern "C" enum mp_status cu_slice(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_slice_params *p = (const struct mp_slice_params *)c->params;
	const struct mp_tensor *x = c->in[0];
	struct mp_tensor *o = c->out[0];
	struct mp_tensor src = *x;
	if (!mp_tensor_numel(o))
		return MP_OK;
	char *base = (char *)x->data;
	for (int d = 0; d < x->ndim; d++) {
		base += p->start[d] * x->strides[d];
		src.strides[d] = x->strides[d] * p->step[d];
		src.shape[d] = o->shape[d];
	}
	src.data = base;
	return cu_copy(cx, o, &src, e);
}

/* Tile: out[i] = x[i mod shape] per dim. */
struct tile_args {
	int nd;
	int64_t oshape[MP_MAX_DIMS], xshape[MP_MAX_DIMS], xstride[MP_MAX_DIMS];
};

template <typename T>
__global__ void k_tile(int64_t n, tile_args a, const T *x, T *o)
{
	CU_FOR(i, n) {
		int64_t rem = i, off = 0;
		for (int d = a.nd - 1; d >= 0; d--) {
			int64_t q = rem / a.oshape[d], r = rem - q * a.oshape[d];
			rem = q;
			off += (r % a.xshape[d]) * a.xstride[d];
		}
		o[i] = x[off];
	}
}

extern "C" enum mp_status cu_expand(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_tensor *x = c->in[0];
	struct mp_tensor *o = c->out[0];
	int64_t n = mp_tensor_numel(o);
	if (!n)
		return MP_OK;
	if (c->op == MP_OP_EXPAND)
		return cu_copy(cx, o, x, e);
	tile_args a;
	memset(&a, 0, sizeof a);
	a.nd = o->ndim;
	for (int d = 0; d < o->ndim; d++) {
		a.oshape[d] = o->shape[d];
		a.xshape[d] = x->shape[d];
		a.xstride[d] = cu_estride(x, d);
	}
	unsigned blocks = cu_blocks(n, 256);
	switch (mp_dtype_size(o->dtype)) {
	case 1: k_tile<uint8_t><<<blocks, 256, 0, cx->stream>>>(n, a, (const uint8_t *)x->data, (uint8_t *)o->data); break;
	case 2: k_tile<uint16_t><<<blocks, 256, 0, cx->stream>>>(n, a, (const uint16_t *)x->data, (uint16_t *)o->data); break;
	case 4: k_tile<uint32_t><<<blocks, 256, 0, cx->stream>>>(n, a, (const uint32_t *)x->data, (uint32_t *)o->data); break;
	case 8: k_tile<uint64_t><<<blocks, 256, 0, cx->stream>>>(n, a, (const uint64_t *)x->data, (uint64_t *)o->data); break;
	default: return cu_unsupported(c, o->dtype, e);
	}
	CU_LAUNCHED("Tile");
	return MP_OK;
}

/* ---- Pad ---- */

__device__ __forceinline__ int64_t pad_source(int mode, int64_t i, int64_t dim)
{
	switch (mode) {
	case MP_PADMODE_EDGE: return i < 0 ? 0 : i >= dim ? dim - 1 : i;
	case MP_PADMODE_WRAP: return ((i % dim) + dim) % dim;
	default: {
		if (dim == 1)
			return 0;
		int64_t period = 2 * (dim - 1), m = ((i % period) + period) % period;
		return m < dim ? m : period - m;
	}
	}
}

struct pad_args {
	int nd, mode, es;
	int64_t oshape[MP_MAX_DIMS], xshape[MP_MAX_DIMS], xstride[MP_MAX_DIMS], begin[MP_MAX_DIMS];
};

__global__ void k_pad(pad_args a, int64_t n, const void *x, void *o)
{
	CU_FOR(i, n) {
		int64_t rem = i, off = 0;
		for (int d = a.nd - 1; d >= 0; d--) {
			int64_t q = rem / a.oshape[d], r = rem - q * a.oshape[d];
			rem = q;
			off += pad_source(a.mode, r - a.begin[d], a.xshape[d]) * a.xstride[d];
		}
		cu_copy_elem(o, i, x, off, a.es);
	}
}

extern "C" enum mp_status cu_pad(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_pad_params *p = (const struct mp_pad_params *)c->params;
	const struct mp_tensor *x = c->in[0];
	struct mp_tensor *o = c->out[0];
	int64_t n = mp_tensor_numel(o);
	enum mp_status st;
	if (!n)
		return MP_OK;
	if (p->mode == MP_PADMODE_CONSTANT) {
		unsigned char v[16];
		mp_view_pad_value(o->dtype, p->constant, v);
		if ((st = cu_fill_bytes(cx, o, v, e)))
			return st;
		struct mp_tensor src, dst;
		if (!mp_view_pad_inner(p, x, o, &src, &dst))
			return MP_OK;
		return cu_copy(cx, &dst, &src, e);
	}
	if (mp_tensor_numel(x) == 0)
		return mp_error_set(e, MP_ERR_MODEL, "cannot pad an empty tensor in this mode");
	pad_args a;
	memset(&a, 0, sizeof a);
	a.nd = o->ndim;
	a.mode = p->mode;
	a.es = (int)mp_dtype_size(o->dtype);
	for (int d = 0; d < o->ndim; d++) {
		a.oshape[d] = o->shape[d];
		a.xshape[d] = x->shape[d];
		a.xstride[d] = cu_estride(x, d);
		a.begin[d] = p->begin[d];
	}
	k_pad<<<cu_blocks(n, 256), 256, 0, cx->stream>>>(a, n, x->data, o->data);
	CU_LAUNCHED("Pad");
	return MP_OK;
}

/* ---- Trilu: a copy, then zeros where the triangle is not kept ---- */

__global__ void k_trilu_mask(void *o, int es, int64_t mats, int64_t rows, int64_t cols, int64_t k, bool upper)
{
	CU_FOR(i, mats * rows * cols) {
		int64_t j = i % cols, r = (i / cols) % rows;
		bool keep = upper ? j - r >= k : j - r <= k;
		if (!keep)
			switch (es) {
			case 1: ((uint8_t *)o)[i] = 0; break;
			case 2: ((uint16_t *)o)[i] = 0; break;
			case 4: ((uint32_t *)o)[i] = 0; break;
			default: ((uint64_t *)o)[i] = 0; break;
			}
	}
}

extern "C" enum mp_status cu_trilu(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_trilu_params *p = (const struct mp_trilu_params *)c->params;
	struct mp_tensor *o = c->out[0];
	int r = o->ndim;
	int64_t rows = o->shape[r - 2], cols = o->shape[r - 1], mats = 1;
	enum mp_status st = cu_copy(cx, o, c->in[0], e);
	if (st)
		return st;
	for (int d = 0; d < r - 2; d++)
		mats *= o->shape[d];
	if (!mats || !rows || !cols)
		return MP_OK;
	k_trilu_mask<<<cu_blocks(mats * rows * cols, 256), 256, 0, cx->stream>>>(
		o->data, (int)mp_dtype_size(o->dtype), mats, rows, cols, p->k_resolved, p->upper);
	CU_LAUNCHED("Trilu");
	return MP_OK;
}

/* ---- tensors made from attributes and scalars ---- */

/* Range: start and delta read on the device; f32 ranges accumulate in f32
 * as numpy's arange (and the CPU reference) does. */
__global__ void k_range(const void *start, const void *delta, int dt, void *o, int64_t n)
{
	bool is_float = dt == MP_F32 || dt == MP_F64 || dt == MP_BF16 || dt == MP_F16;
	CU_FOR(i, n) {
		if (dt == MP_F32) {
			float s = (float)cu_ld_f64(start, 0, dt), d = (float)cu_ld_f64(delta, 0, dt);
			((float *)o)[i] = s + (float)i * d;
		} else if (is_float) {
			cu_st_f64(o, i, dt, cu_ld_f64(start, 0, dt) + (double)i * cu_ld_f64(delta, 0, dt));
		} else {
			int64_t s = cu_ld_i64(start, 0, dt), d = cu_ld_i64(delta, 0, dt);
			cu_st_i64(o, i, dt, (int64_t)((uint64_t)s + (uint64_t)i * (uint64_t)d));
		}
	}
}

__global__ void k_eye(void *o, int dt, int64_t rows, int64_t cols, int64_t k)
{
	CU_FOR(i, rows * cols) {
		int64_t r = i / cols, j = i - r * cols;
		cu_st_f64(o, i, dt, j - r == k ? 1.0 : 0.0);
	}
}

/* HannWindow: sin(i pi / N)^2 in doubles, as ONNX's reference. */
__global__ void k_hann_window(void *o, int dt, int64_t n, double N)
{
	CU_FOR(i, n) {
		double s = sin((double)i * 3.14159265358979323846 / N);
		cu_st_f64(o, i, dt, s * s);
	}
}

/* OneHot: values = [off, on] on the device. */
__global__ void k_one_hot(const void *ind, int it, const void *vals, void *o, int es, int64_t outer, int64_t depth,
                          int64_t inner)
{
	CU_FOR(i, outer * depth * inner) {
		int64_t b = i % inner, k = (i / inner) % depth, a = i / (inner * depth);
		double f = cu_ld_f64(ind, a * inner + b, it);
		int64_t want = (int64_t)f;
		bool on = false;
		if (f == f && want >= -depth && want < depth)
			on = (want < 0 ? want + depth : want) == k;
		cu_copy_elem(o, i, vals, on ? 1 : 0, es);
	}
}

extern "C" enum mp_status cu_fill(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_fill_params *p = (const struct mp_fill_params *)c->params;
	struct mp_tensor *o = c->out[0];
	int64_t n = mp_tensor_numel(o);
	switch (c->op) {
	case MP_OP_CONSTANT:
		if (n)
			CU_TRY(cudaMemcpyAsync(o->data, p->value.data, mp_tensor_nbytes(o), cudaMemcpyHostToDevice, cx->stream),
			       "Constant");
		return MP_OK;
	case MP_OP_CONSTANT_OF_SHAPE:
		return cu_fill_bytes(cx, o, p->value.data, e);
	case MP_OP_RANGE:
		if (!n)
			return MP_OK;
		if (c->in[0]->dtype != o->dtype || c->in[2]->dtype != o->dtype)
			return mp_error_set(e, MP_ERR_INTERNAL, "Range: start or delta is not %s", mp_dtype_name(o->dtype));
		k_range<<<cu_blocks(n, 256), 256, 0, cx->stream>>>(c->in[0]->data, c->in[2]->data, o->dtype, o->data, n);
		CU_LAUNCHED("Range");
		return MP_OK;
	case MP_OP_EYE_LIKE:
		if (!n)
			return MP_OK;
		k_eye<<<cu_blocks(n, 256), 256, 0, cx->stream>>>(o->data, o->dtype, o->shape[0], o->shape[1], p->k);
		CU_LAUNCHED("EyeLike");
		return MP_OK;
	case MP_OP_HANN_WINDOW:
		if (!n)
			return MP_OK;
		k_hann_window<<<cu_blocks(n, 256), 256, 0, cx->stream>>>(o->data, o->dtype, n,
		                                                          (double)(p->periodic ? n : n - 1));
		CU_LAUNCHED("HannWindow");
		return MP_OK;
	default: { /* OneHot */
		const struct mp_tensor *ind = c->in[0], *vals = c->in[2];
		int axis = p->axis_resolved;
		int64_t outer, depth, inner;
		mp_view_axis_split(o, axis, &outer, &depth, &inner);
		if (!n)
			return MP_OK;
		if (!mp_tensor_is_contiguous(ind))
			return mp_error_set(e, MP_ERR_INTERNAL, "OneHot: indices are not contiguous");
		k_one_hot<<<cu_blocks(n, 256), 256, 0, cx->stream>>>(ind->data, ind->dtype, vals->data, o->data,
		                                                      (int)mp_dtype_size(o->dtype), outer, depth, inner);
		CU_LAUNCHED("OneHot");
		return MP_OK;
	}
	}
}

/* The view family: the executor aliases output 0; Dropout's mask, in
 * inference, keeps everything. */
extern "C" enum mp_status cu_view(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_view_params *p = (const struct mp_view_params *)c->params;
	if (c->op == MP_OP_DROPOUT && p->write_mask && c->noutputs > 1 && c->out[1]) {
		double one = 1;
		unsigned char v[16];
		mp_dtype_traits(c->out[1]->dtype)->store_f64(&one, v, 1);
		return cu_fill_bytes(cx, c->out[1], v, e);
	}
	return MP_OK;
}
