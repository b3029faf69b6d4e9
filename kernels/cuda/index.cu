/* index.cu - ops that index, on the GPU: Gather, GatherElements, GatherND,
 * ScatterND, ScatterElements (and the old Scatter), NonZero and Compress.
 * Indices come from the data: every one is checked, a bad one is skipped
 * and reported (the first, with its op, axis and value) at the next sync,
 * never a stray write.  Scatters keep the CPU's order where writes can
 * collide, so duplicate indices give the same result on both. */
#include <cub/cub.cuh>

#include "cu.cuh"
#include "index_shapes.h"
#include "view_plan.h"

__device__ __forceinline__ int64_t ld_index(const void *p, int it, int64_t i)
{
	return it == MP_I32 ? (int64_t)((const int32_t *)p)[i] : ((const int64_t *)p)[i];
}

/* false (and the error recorded) when v is out of [-dim, dim) */
__device__ __forceinline__ bool fix_index(int64_t *v, int64_t dim, cu_err_rec *err, int op, int axis)
{
	int64_t raw = *v;
	if (*v < 0)
		*v += dim;
	if (*v >= 0 && *v < dim)
		return true;
	cu_report_index(err, op, axis, raw, dim);
	return false;
}

__global__ void k_gather(const void *x, const void *ind, int it, void *o, int es, int64_t outer, int64_t ni,
                         int64_t dim, int64_t inner, cu_err_rec *err, int axis)
{
	CU_FOR(i, outer * ni * inner) {
		int64_t b = i % inner, j = (i / inner) % ni, a = i / (inner * ni);
		int64_t v = ld_index(ind, it, j);
		if (!fix_index(&v, dim, err, MP_OP_GATHER, axis))
			continue;
		cu_copy_elem(o, i, x, (a * dim + v) * inner + b, es);
	}
}

struct ge_args {
	int nd, axis, it, es;
	int64_t ishape[MP_MAX_DIMS], xstride[MP_MAX_DIMS], xdim;
};

__global__ void k_gather_elements(ge_args a, int64_t n, const void *x, const void *ind, void *o, cu_err_rec *err)
{
	CU_FOR(i, n) {
		int64_t v = ld_index(ind, a.it, i);
		if (!fix_index(&v, a.xdim, err, MP_OP_GATHER_ELEMENTS, a.axis))
			continue;
		int64_t rem = i, off = 0;
		for (int d = a.nd - 1; d >= 0; d--) {
			int64_t q = rem / a.ishape[d], r = rem - q * a.ishape[d];
			rem = q;
			off += (d == a.axis ? v : r) * a.xstride[d];
		}
		cu_copy_elem(o, i, x, off, a.es);
	}
}

struct gnd_args {
	int64_t b, k, per, slice, xbatch;
	int64_t xshape[MP_MAX_DIMS];
	int it, es;
};

__global__ void k_gather_nd(gnd_args a, int64_t batch, const void *x, const void *ind, void *o, cu_err_rec *err)
{
	CU_FOR(i, batch * a.per * a.slice) {
		int64_t s = i % a.slice, j = (i / a.slice) % a.per, bi = i / (a.slice * a.per), off = 0;
		bool ok = true;
		for (int64_t q = 0; q < a.k && ok; q++) {
			int64_t v = ld_index(ind, a.it, (bi * a.per + j) * a.k + q), dim = a.xshape[a.b + q];
			ok = fix_index(&v, dim, err, MP_OP_GATHER_ND, (int)(a.b + q));
			off = off * dim + v;
		}
		if (ok)
			cu_copy_elem(o, i, x, bi * a.xbatch + off * a.slice + s, a.es);
	}
}

extern "C" enum mp_status cu_gather(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_gather_params *p = (const struct mp_gather_params *)c->params;
	const struct mp_tensor *x = c->in[0], *ind = c->in[1];
	struct mp_tensor *o = c->out[0];
	int es = (int)mp_dtype_size(x->dtype);
	int64_t n = mp_tensor_numel(o);
	if (!mp_tensor_is_contiguous(x) || !mp_tensor_is_contiguous(ind))
		return mp_error_set(e, MP_ERR_INTERNAL, "%s: an input is not contiguous", mp_op_name(c->op));
	if (!n)
		return MP_OK;
	if (c->op == MP_OP_GATHER) {
		int axis = p->axis_resolved;
		int64_t outer, dim, inner;
		mp_view_axis_split(x, axis, &outer, &dim, &inner);
		k_gather<<<cu_blocks(n, 256), 256, 0, cx->stream>>>(x->data, ind->data, ind->dtype, o->data, es, outer,
		                                                     mp_tensor_numel(ind), dim, inner, cx->d_err, axis);
	} else if (c->op == MP_OP_GATHER_ELEMENTS) {
		ge_args a;
		enum mp_status st = mp_index_check_elements(c, x, ind, NULL, p->axis_resolved, e);
		if (st)
			return st;
		memset(&a, 0, sizeof a);
		a.nd = x->ndim;
		a.axis = p->axis_resolved;
		a.it = ind->dtype;
		a.es = es;
		a.xdim = x->shape[a.axis];
		for (int d = 0; d < x->ndim; d++) {
			a.ishape[d] = ind->shape[d];
			a.xstride[d] = cu_estride(x, d);
		}
		k_gather_elements<<<cu_blocks(n, 256), 256, 0, cx->stream>>>(a, n, x->data, ind->data, o->data, cx->d_err);
	} else {
		gnd_args a;
		enum mp_status st = mp_index_check_gather_nd(c, x, ind, p->batch_dims, e);
		if (st)
			return st;
		memset(&a, 0, sizeof a);
		int64_t batch = 1;
		a.b = p->batch_dims;
		a.k = ind->shape[ind->ndim - 1];
		a.per = a.slice = a.xbatch = 1;
		for (int d = 0; d < a.b; d++)
			batch *= x->shape[d];
		for (int d = (int)a.b; d < ind->ndim - 1; d++)
			a.per *= ind->shape[d];
		for (int d = (int)(a.b + a.k); d < x->ndim; d++)
			a.slice *= x->shape[d];
		for (int d = (int)a.b; d < x->ndim; d++)
			a.xbatch *= x->shape[d];
		for (int d = 0; d < x->ndim; d++)
			a.xshape[d] = x->shape[d];
		a.it = ind->dtype;
		a.es = es;
		k_gather_nd<<<cu_blocks(n, 256), 256, 0, cx->stream>>>(a, batch, x->data, ind->data, o->data, cx->d_err);
	}
	CU_LAUNCHED(mp_op_name(c->op));
	return MP_OK;
}

/* ---- scatters ---- */

/* dst op= src for one element, in the dtype's compute class (as the CPU) */
__device__ __forceinline__ void combine(int red, int dt, void *dst, int64_t di, const void *src, int64_t si, int es,
                                        bool is_float, bool uns)
{
	if (red == MP_REDUCE_NONE) {
		cu_copy_elem(dst, di, src, si, es);
		return;
	}
	if (is_float) {
		double a = cu_ld_f64(dst, di, dt), b = cu_ld_f64(src, si, dt);
		switch (red) {
		case MP_REDUCE_ADD: a += b; break;
		case MP_REDUCE_MUL: a *= b; break;
		case MP_REDUCE_MAX: a = fmax(a, b); break;
		default: a = fmin(a, b); break;
		}
		cu_st_f64(dst, di, dt, a);
	} else {
		int64_t a = cu_ld_i64(dst, di, dt), b = cu_ld_i64(src, si, dt);
		switch (red) {
		case MP_REDUCE_ADD: a = (int64_t)((uint64_t)a + (uint64_t)b); break;
		case MP_REDUCE_MUL: a = (int64_t)((uint64_t)a * (uint64_t)b); break;
		case MP_REDUCE_MAX: a = (uns ? (uint64_t)b > (uint64_t)a : b > a) ? b : a; break;
		default: a = (uns ? (uint64_t)b < (uint64_t)a : b < a) ? b : a; break;
		}
		cu_st_i64(dst, di, dt, a);
	}
}

struct snd_args {
	int64_t k, n, slice;
	int64_t xshape[MP_MAX_DIMS];
	int it, es, dt, red;
	bool is_float, uns;
};

/* One thread per slice element; the index tuples in order. */
__global__ void k_scatter_nd(snd_args a, const void *ind, const void *upd, void *o, cu_err_rec *err)
{
	CU_FOR(s, a.slice) {
		for (int64_t i = 0; i < a.n; i++) {
			int64_t off = 0;
			bool ok = true;
			for (int64_t j = 0; j < a.k && ok; j++) {
				int64_t v = ld_index(ind, a.it, i * a.k + j);
				ok = fix_index(&v, a.xshape[j], err, MP_OP_SCATTER_ND, (int)j);
				off = off * a.xshape[j] + v;
			}
			if (ok)
				combine(a.red, a.dt, o, off * a.slice + s, upd, i * a.slice + s, a.es, a.is_float, a.uns);
		}
	}
}

struct se_args {
	int nd, axis, it, es, dt, red, op;
	bool is_float, uns;
	int64_t ishape[MP_MAX_DIMS], ostride[MP_MAX_DIMS], ustride[MP_MAX_DIMS];
	int64_t xdim;
};

/* One thread per position of the index tensor's other dims; along the axis
 * in order (only there can two updates meet). */
__global__ void k_scatter_elements(se_args a, int64_t lines, const void *ind, const void *upd, void *o, cu_err_rec *err)
{
	int64_t alen = a.ishape[a.axis];
	CU_FOR(line, lines) {
		int64_t idx[MP_MAX_DIMS], rem = line;
		for (int d = a.nd - 1; d >= 0; d--) {
			if (d == a.axis) {
				idx[d] = 0;
				continue;
			}
			idx[d] = rem % a.ishape[d];
			rem /= a.ishape[d];
		}
		for (int64_t q = 0; q < alen; q++) {
			idx[a.axis] = q;
			int64_t flat = 0, off = 0, uoff = 0;
			for (int d = 0; d < a.nd; d++)
				flat = flat * a.ishape[d] + idx[d];
			int64_t v = ld_index(ind, a.it, flat);
			if (!fix_index(&v, a.xdim, err, a.op, a.axis))
				continue;
			for (int d = 0; d < a.nd; d++) {
				off += (d == a.axis ? v : idx[d]) * a.ostride[d];
				uoff += idx[d] * a.ustride[d];
			}
			combine(a.red, a.dt, o, off, upd, uoff, a.es, a.is_float, a.uns);
		}
	}
}

extern "C" enum mp_status cu_scatter(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_scatter_params *p = (const struct mp_scatter_params *)c->params;
	const struct mp_tensor *x = c->in[0], *ind = c->in[1], *upd = c->in[2];
	struct mp_tensor *o = c->out[0];
	enum mp_status st;
	if (!mp_tensor_is_contiguous(x) || !mp_tensor_is_contiguous(ind) || !mp_tensor_is_contiguous(upd))
		return mp_error_set(e, MP_ERR_INTERNAL, "%s: an input is not contiguous", mp_op_name(c->op));
	if ((st = cu_copy(cx, o, x, e)))
		return st;
	bool is_float = mp_dtype_traits(x->dtype)->is_float, uns = !mp_dtype_traits(x->dtype)->is_signed;
	if (!mp_tensor_numel(ind))
		return MP_OK;
	if (c->op == MP_OP_SCATTER_ND) {
		snd_args a;
		int q = ind->ndim;
		if ((st = mp_index_check_scatter_nd(c, x, ind, upd, e)))
			return st;
		memset(&a, 0, sizeof a);
		a.k = ind->shape[q - 1];
		a.n = a.slice = 1;
		for (int d = 0; d < q - 1; d++)
			a.n *= ind->shape[d];
		for (int d = (int)a.k; d < x->ndim; d++)
			a.slice *= x->shape[d];
		for (int d = 0; d < x->ndim; d++)
			a.xshape[d] = x->shape[d];
		a.it = ind->dtype;
		a.es = (int)mp_dtype_size(x->dtype);
		a.dt = x->dtype;
		a.red = p->reduction;
		a.is_float = is_float;
		a.uns = uns;
		if (!a.slice)
			return MP_OK;
		k_scatter_nd<<<cu_blocks(a.slice, 128), 128, 0, cx->stream>>>(a, ind->data, upd->data, o->data, cx->d_err);
	} else {
		se_args a;
		if ((st = mp_index_check_elements(c, x, ind, upd, p->axis_resolved, e)))
			return st;
		memset(&a, 0, sizeof a);
		a.nd = x->ndim;
		a.axis = p->axis_resolved;
		a.it = ind->dtype;
		a.es = (int)mp_dtype_size(x->dtype);
		a.dt = x->dtype;
		a.red = p->reduction;
		a.op = c->op;
		a.is_float = is_float;
		a.uns = uns;
		a.xdim = x->shape[a.axis];
		int64_t lines = 1;
		for (int d = 0; d < x->ndim; d++) {
			a.ishape[d] = ind->shape[d];
			a.ostride[d] = cu_estride(o, d);
			a.ustride[d] = cu_estride(upd, d);
			if (d != a.axis)
				lines *= ind->shape[d];
		}
		if (!lines)
			return MP_OK;
		k_scatter_elements<<<cu_blocks(lines, 128), 128, 0, cx->stream>>>(a, lines, ind->data, upd->data, o->data,
		                                                                   cx->d_err);
	}
	CU_LAUNCHED(mp_op_name(c->op));
	return MP_OK;
}

/* ---- NonZero, Compress: flags, an exclusive scan (CUB), then each kept
 * element writes itself at its rank ---- */

__global__ void k_flags(const void *x, int xt, int64_t n, int *flags)
{
	CU_FOR(i, n)
		flags[i] = cu_ld_f64(x, i, xt) != 0;
}

__global__ void k_nonzero(const int *flags, const int *rank, int64_t n, int nd, cu_iter shape, int64_t nnz, int64_t *o)
{
	CU_FOR(i, n) {
		if (!flags[i])
			continue;
		int64_t k = rank[i], rem = i;
		if (k >= nnz)
			continue;
		for (int d = nd - 1; d >= 0; d--) {
			o[d * nnz + k] = rem % shape.shape[d];
			rem /= shape.shape[d];
		}
	}
}

/* Compress along an axis (outer x dim x inner; dim = 1 and inner = 1 for the
 * flattened form): kept slice j goes to its rank. */
__global__ void k_compress(const void *x, const int *flags, const int *rank, void *o, int es, int64_t outer,
                           int64_t dim, int64_t inner, int64_t nc, int64_t kept)
{
	CU_FOR(i, outer * dim * inner) {
		int64_t b = i % inner, j = (i / inner) % dim, a = i / (inner * dim);
		if (j >= nc || !flags[j] || rank[j] >= kept)
			continue;
		cu_copy_elem(o, (a * kept + rank[j]) * inner + b, x, i, es);
	}
}

/* flags and their exclusive prefix sum for n values of x */
static enum mp_status rank_of(struct cu_ctx *cx, const void *x, enum mp_dtype xt, int64_t n, int **flags, int **rank,
                              struct mp_error *e)
{
	void *tmp = NULL;
	size_t tmp_bytes = 0;
	enum mp_status st;
	*flags = *rank = NULL;
	if (n > INT32_MAX)
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "NonZero/Compress over more than 2^31 values");
	if ((st = cu_scratch(cx, (size_t)n * 4, (void **)flags, e)) || (st = cu_scratch(cx, (size_t)n * 4, (void **)rank, e)))
		return st;
	k_flags<<<cu_blocks(n, 256), 256, 0, cx->stream>>>(x, xt, n, *flags);
	CU_LAUNCHED("NonZero");
	cub::DeviceScan::ExclusiveSum(NULL, tmp_bytes, *flags, *rank, (int)n, cx->stream);
	if ((st = cu_scratch(cx, tmp_bytes, &tmp, e)))
		return st;
	cudaError_t err = cub::DeviceScan::ExclusiveSum(tmp, tmp_bytes, *flags, *rank, (int)n, cx->stream);
	cu_scratch_free(cx, tmp);
	if (err != cudaSuccess)
		return cu_fail(err, "a prefix sum", e);
	return MP_OK;
}

extern "C" enum mp_status cu_select(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_select_params *p = (const struct mp_select_params *)c->params;
	const struct mp_tensor *x = c->in[0];
	struct mp_tensor *o = c->out[0];
	int *flags = NULL, *rank = NULL;
	enum mp_status st;
	if (!mp_dtype_computable(x->dtype) || !mp_tensor_is_contiguous(x))
		return cu_unsupported(c, x->dtype, e);
	if (c->op == MP_OP_NON_ZERO) {
		int64_t n = mp_tensor_numel(x), nnz = o->shape[1];
		if (!n || !nnz)
			return MP_OK;
		if (!(st = rank_of(cx, x->data, x->dtype, n, &flags, &rank, e))) {
			cu_iter shape;
			memset(&shape, 0, sizeof shape);
			for (int d = 0; d < x->ndim; d++)
				shape.shape[d] = x->shape[d];
			k_nonzero<<<cu_blocks(n, 256), 256, 0, cx->stream>>>(flags, rank, n, x->ndim, shape, nnz,
			                                                      (int64_t *)o->data);
			if (cudaPeekAtLastError() != cudaSuccess)
				st = cu_fail(cudaGetLastError(), "NonZero", e);
		}
	} else {
		const struct mp_tensor *cond = c->in[1];
		int64_t nc = mp_tensor_numel(cond), outer = 1, inner = 1, dim, kept;
		if (!p->has_axis) {
			dim = mp_tensor_numel(x);
			kept = mp_tensor_numel(o);
		} else {
			int axis = p->axis_resolved;
			mp_view_axis_split(x, axis, &outer, &dim, &inner);
			kept = o->shape[axis];
		}
		if (!nc || !mp_tensor_numel(o))
			return MP_OK;
		if (!(st = rank_of(cx, cond->data, cond->dtype, nc, &flags, &rank, e))) {
			k_compress<<<cu_blocks(outer * dim * inner, 256), 256, 0, cx->stream>>>(
				x->data, flags, rank, o->data, (int)mp_dtype_size(x->dtype), outer, dim, inner, nc, kept);
			if (cudaPeekAtLastError() != cudaSuccess)
				st = cu_fail(cudaGetLastError(), "Compress", e);
		}
	}
	cu_scratch_free(cx, flags);
	cu_scratch_free(cx, rank);
	return st;
}
