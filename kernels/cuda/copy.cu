/* copy.cu - the helpers every family uses: N-d iteration (dims merged
 * where the operands allow, the fast path when they are contiguous), the
 * strided copy (vectorised, or tiled through shared memory when the
 * innermost dim moves), fill and dtype conversion. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu.cuh"
#include "cuda_api.h"

/* ---- N-d iteration ---- */

static void merge(struct cu_iter *it, int ndim, const int64_t *shape, int nops, int64_t st[][MP_MAX_DIMS])
{
	int nd = 0;
	it->nops = nops;
	it->n = 1;
	for (int d = 0; d < ndim; d++)
		it->n *= shape[d];
	for (int d = 0; d < ndim; d++) {
		if (shape[d] == 1)
			continue;
		if (nd > 0) {
			bool m = true;
			for (int k = 0; k < nops; k++)
				if (it->stride[k][nd - 1] != st[k][d] * shape[d]) {
					m = false;
					break;
				}
			if (m) {
				it->shape[nd - 1] *= shape[d];
				for (int k = 0; k < nops; k++)
					it->stride[k][nd - 1] = st[k][d];
				continue;
			}
		}
		it->shape[nd] = shape[d];
		for (int k = 0; k < nops; k++)
			it->stride[k][nd] = st[k][d];
		nd++;
	}
	it->ndim = nd;
}

void cu_iter_init(struct cu_iter *it, int nops, const struct mp_tensor *const *ops)
{
	const struct mp_tensor *out = ops[0];
	int64_t st[CU_ITER_OPS][MP_MAX_DIMS];
	memset(it, 0, sizeof *it);
	for (int k = 0; k < nops; k++) {
		int64_t b[MP_MAX_DIMS];
		size_t es = mp_dtype_size(ops[k]->dtype);
		mp_tensor_broadcast_strides(ops[k], out->ndim, out->shape, b);
		for (int d = 0; d < out->ndim; d++)
			st[k][d] = es ? b[d] / (int64_t)es : 0;
	}
	for (int d = 0; d < out->ndim; d++)
		st[0][d] = cu_estride(out, d);
	merge(it, out->ndim, out->shape, nops, st);
}

void cu_iter_strided(struct cu_iter *it, int ndim, const int64_t *shape, int nops, const int64_t *const *strides)
{
	int64_t st[CU_ITER_OPS][MP_MAX_DIMS];
	memset(it, 0, sizeof *it);
	for (int k = 0; k < nops; k++)
		for (int d = 0; d < ndim; d++)
			st[k][d] = strides[k][d];
	merge(it, ndim, shape, nops, st);
}

bool cu_fast_init(struct cu_fast *f, const struct cu_iter &it, const void *const *ptrs, const size_t *es,
                  int max_vec)
{
	memset(f, 0, sizeof *f);
	f->nops = it.nops;
	f->vec = 1;
	if (it.n > INT32_MAX)
		return false;
	f->n = (uint32_t)it.n;
	if (it.ndim == 0) { /* one element */
		f->ndim = 1;
		f->div[0] = cu_divider_make(1);
		return true;
	}
	f->ndim = it.ndim;
	for (int k = 0; k < it.nops; k++) {
		int64_t span = 0;
		for (int d = 0; d < it.ndim; d++) {
			int64_t st = it.stride[k][d] < 0 ? -it.stride[k][d] : it.stride[k][d];
			span += (it.shape[d] - 1) * st;
			f->stride[k][d] = (int32_t)it.stride[k][d];
		}
		if (span > INT32_MAX)
			return false;
	}
	for (int d = 0; d < it.ndim; d++)
		f->div[d] = cu_divider_make((uint32_t)it.shape[d]);
	int last = it.ndim - 1;
	for (int v = max_vec; v >= 2; v /= 2) {
		bool ok = it.shape[last] % v == 0;
		for (int k = 0; ok && k < it.nops; k++) {
			int64_t si = it.stride[k][last];
			if (si == 0)
				continue;
			ok = si == 1 && (uintptr_t)ptrs[k] % (v * es[k]) == 0;
			for (int d = 0; ok && d < last; d++)
				ok = it.stride[k][d] % v == 0;
		}
		if (ok) {
			f->vec = v;
			break;
		}
	}
	return true;
}

/* ---- copy, fill, convert ---- */

template <typename T>
__global__ void k_copy(cu_iter it, T *dst, const T *src)
{
	if (it.ndim == 1) {
		int64_t sd = it.stride[0][0], ss = it.stride[1][0];
		CU_FOR(i, it.n)
			dst[i * sd] = src[i * ss];
		return;
	}
	CU_FOR(i, it.n) {
		int64_t off[CU_ITER_OPS];
		cu_iter_offsets(it, i, off);
		dst[off[0]] = src[off[1]];
	}
}

template <typename T>
static void launch_copy(struct cu_ctx *c, const cu_iter &it, void *dst, const void *src)
{
	k_copy<T><<<cu_blocks(it.n, 256), 256, 0, c->stream>>>(it, (T *)dst, (const T *)src);
}

template <typename T, int V>
struct alignas(sizeof(T) * V) cu_vec {
	T v[V];
};

/* 32-bit indexing, V elements a thread (one 16-byte move where both step
 * through them contiguously; a broadcast source read once) */
template <typename T, int V>
__global__ void k_copy_fast(cu_fast f, T *dst, const T *src)
{
	uint32_t nv = f.n / V, step = blockDim.x * gridDim.x;
	int32_t ss = f.stride[1][f.ndim - 1];
	for (uint32_t g = blockIdx.x * blockDim.x + threadIdx.x; g < nv; g += step) {
		int32_t off[CU_ITER_OPS];
		cu_fast_offsets(f, g * V, off);
		if (V == 1) {
			dst[off[0]] = src[off[1]];
		} else if (ss == 0) {
			cu_vec<T, V> q;
			T x = src[off[1]];
#pragma unroll
			for (int j = 0; j < V; j++)
				q.v[j] = x;
			*(cu_vec<T, V> *)(dst + off[0]) = q;
		} else {
			*(cu_vec<T, V> *)(dst + off[0]) = *(const cu_vec<T, V> *)(src + off[1]);
		}
	}
}

/* A transpose that moves the innermost dim: 32x32 tiles through shared
 * memory, read along the source's contiguous dim j and written along the
 * destination's; the other dims are the batch (fb: its offsets). */
template <typename T>
__global__ void k_transpose_tiled(cu_fast fb, uint32_t nb, T *dst, const T *src, uint32_t nj, uint32_t ni,
                                  int32_t dst_j, int32_t src_i)
{
	__shared__ T tile[32][33];
	uint32_t tj = blockIdx.y * 32, ti = blockIdx.x * 32;
	for (uint32_t b = blockIdx.z; b < nb; b += gridDim.z) {
		int32_t off[CU_ITER_OPS];
		cu_fast_offsets(fb, b, off);
		const T *s = src + off[1];
		T *d = dst + off[0];
		for (int r = threadIdx.y; r < 32; r += blockDim.y) {
			uint32_t j = tj + threadIdx.x, i = ti + r;
			if (j < nj && i < ni)
				tile[r][threadIdx.x] = s[(int32_t)j + (int32_t)i * src_i];
		}
		__syncthreads();
		for (int r = threadIdx.y; r < 32; r += blockDim.y) {
			uint32_t i = ti + threadIdx.x, j = tj + r;
			if (j < nj && i < ni)
				d[(int32_t)i + (int32_t)j * dst_j] = tile[threadIdx.x][r];
		}
		__syncthreads();
	}
}

/* The tiled transpose where it applies: the destination steps through the
 * inner dim contiguously, the source through another dim j. */
template <typename T>
static bool try_tiled(struct cu_ctx *c, const cu_iter &it, void *dst, const void *src)
{
	int last = it.ndim - 1, dj = -1;
	if (it.ndim < 2 || it.stride[0][last] != 1 || it.stride[1][last] == 1 || it.n > INT32_MAX)
		return false;
	for (int d = 0; d < last; d++)
		if (it.stride[1][d] == 1)
			dj = d;
	if (dj < 0 || it.shape[last] < 8 || it.shape[dj] < 8)
		return false;
	cu_iter ib; /* the batch: every dim but dj and the inner one */
	memset(&ib, 0, sizeof ib);
	ib.nops = 2;
	ib.n = 1;
	for (int d = 0; d < last; d++) {
		if (d == dj)
			continue;
		ib.shape[ib.ndim] = it.shape[d];
		ib.stride[0][ib.ndim] = it.stride[0][d];
		ib.stride[1][ib.ndim] = it.stride[1][d];
		ib.n *= it.shape[d];
		ib.ndim++;
	}
	cu_fast fb;
	const void *ptrs[2] = { dst, src };
	size_t es[2] = { sizeof(T), sizeof(T) };
	if (!cu_fast_init(&fb, ib, ptrs, es, 1) || it.stride[0][dj] > INT32_MAX || it.stride[1][last] > INT32_MAX)
		return false;
	/* the whole tensor's offsets were checked by the caller's cu_fast */
	uint32_t nb = (uint32_t)ib.n, nj = (uint32_t)it.shape[dj], ni = (uint32_t)it.shape[last];
	dim3 grid((ni + 31) / 32, (nj + 31) / 32, nb < 65535 ? nb : 65535), block(32, 8);
	if (grid.y > 65535)
		return false;
	k_transpose_tiled<T><<<grid, block, 0, c->stream>>>(fb, nb, (T *)dst, (const T *)src, nj, ni,
	                                                     (int32_t)it.stride[0][dj], (int32_t)it.stride[1][last]);
	return true;
}

template <typename T>
static bool copy_fast(struct cu_ctx *c, const cu_iter &it, void *dst, const void *src)
{
	cu_fast f;
	const void *ptrs[2] = { dst, src };
	size_t es[2] = { sizeof(T), sizeof(T) };
	if (!cu_fast_init(&f, it, ptrs, es, 16 / (int)sizeof(T)))
		return false;
	if (try_tiled<T>(c, it, dst, src))
		return true;
	unsigned blocks = cu_blocks(f.n / f.vec, 256);
	switch (f.vec) {
	case 16: k_copy_fast<T, 16><<<blocks, 256, 0, c->stream>>>(f, (T *)dst, (const T *)src); break;
	case 8: k_copy_fast<T, 8><<<blocks, 256, 0, c->stream>>>(f, (T *)dst, (const T *)src); break;
	case 4: k_copy_fast<T, 4><<<blocks, 256, 0, c->stream>>>(f, (T *)dst, (const T *)src); break;
	case 2: k_copy_fast<T, 2><<<blocks, 256, 0, c->stream>>>(f, (T *)dst, (const T *)src); break;
	default: k_copy_fast<T, 1><<<blocks, 256, 0, c->stream>>>(f, (T *)dst, (const T *)src); break;
	}
	return true;
}

enum mp_status cu_copy(struct cu_ctx *c, struct mp_tensor *dst, const struct mp_tensor *src, struct mp_error *e)
{
	const struct mp_tensor *ops[2] = { dst, src };
	struct cu_iter it;
	size_t es = mp_dtype_size(dst->dtype);
	cu_iter_init(&it, 2, ops);
	if (!it.n)
		return MP_OK;
	if (it.ndim <= 1 && (it.ndim == 0 || (it.stride[0][0] == 1 && it.stride[1][0] == 1))) {
		CU_TRY(cudaMemcpyAsync(dst->data, src->data, (size_t)it.n * es, cudaMemcpyDeviceToDevice, c->stream),
		       "copying on the GPU");
		return MP_OK;
	}
	bool done = false;
	switch (es) {
	case 1: done = copy_fast<uint8_t>(c, it, dst->data, src->data); break;
	case 2: done = copy_fast<uint16_t>(c, it, dst->data, src->data); break;
	case 4: done = copy_fast<uint32_t>(c, it, dst->data, src->data); break;
	case 8: done = copy_fast<uint64_t>(c, it, dst->data, src->data); break;
	default: return mp_error_set(e, MP_ERR_UNSUPPORTED, "copying %zu-byte elements", es);
	}
	if (!done) {
		switch (es) {
		case 1: launch_copy<uint8_t>(c, it, dst->data, src->data); break;
		case 2: launch_copy<uint16_t>(c, it, dst->data, src->data); break;
		case 4: launch_copy<uint32_t>(c, it, dst->data, src->data); break;
		default: launch_copy<uint64_t>(c, it, dst->data, src->data); break;
		}
	}
	CU_LAUNCHED("a strided copy");
	return MP_OK;
}

template <typename T>
__global__ void k_fill(T *dst, int64_t n, T v)
{
	CU_FOR(i, n)
		dst[i] = v;
}

enum mp_status cu_fill_bytes(struct cu_ctx *c, struct mp_tensor *t, const void *value, struct mp_error *e)
{
	int64_t n = mp_tensor_numel(t);
	size_t es = mp_dtype_size(t->dtype);
	if (!n)
		return MP_OK;
	if (!mp_tensor_is_contiguous(t))
		return mp_error_set(e, MP_ERR_INTERNAL, "filling a strided tensor");
	unsigned blocks = cu_blocks(n, 256);
	switch (es) {
	case 1: { uint8_t v; memcpy(&v, value, 1); k_fill<<<blocks, 256, 0, c->stream>>>((uint8_t *)t->data, n, v); break; }
	case 2: { uint16_t v; memcpy(&v, value, 2); k_fill<<<blocks, 256, 0, c->stream>>>((uint16_t *)t->data, n, v); break; }
	case 4: { uint32_t v; memcpy(&v, value, 4); k_fill<<<blocks, 256, 0, c->stream>>>((uint32_t *)t->data, n, v); break; }
	case 8: { uint64_t v; memcpy(&v, value, 8); k_fill<<<blocks, 256, 0, c->stream>>>((uint64_t *)t->data, n, v); break; }
	default: return mp_error_set(e, MP_ERR_UNSUPPORTED, "filling %zu-byte elements", es);
	}
	CU_LAUNCHED("a fill");
	return MP_OK;
}

/* Conversions as the CPU makes them (dtype.c's mp_dtype_convert): from a
 * float through f64 (exact), integer to f32 in one step, integer to integer
 * wrapping. */
__global__ void k_convert(const void *src, int st, void *dst, int dt, int64_t n, bool src_float, bool dst_float)
{
	CU_FOR(i, n) {
		if (src_float || (dst_float && dt != MP_F32))
			cu_st_f64(dst, i, dt, cu_ld_f64(src, i, st));
		else if (dst_float)
			cu_st_f32(dst, i, dt, cu_ld_f32(src, i, st));
		else
			cu_st_i64(dst, i, dt, cu_ld_i64(src, i, st));
	}
}

__global__ void k_f32_to_bf16(const float *src, uint16_t *dst, int64_t n)
{
	CU_FOR(i, n)
		dst[i] = cu_f32_to_bf16(src[i]);
}

__global__ void k_bf16_to_f32(const uint16_t *src, float *dst, int64_t n)
{
	CU_FOR(i, n)
		dst[i] = cu_bf16_to_f32(src[i]);
}

enum mp_status cu_convert(struct cu_ctx *c, const void *src, enum mp_dtype st, void *dst, enum mp_dtype dt,
                          int64_t n, struct mp_error *e)
{
	if (!n)
		return MP_OK;
	if (st == dt) {
		CU_TRY(cudaMemcpyAsync(dst, src, (size_t)n * mp_dtype_size(st), cudaMemcpyDeviceToDevice, c->stream),
		       "copying on the GPU");
		return MP_OK;
	}
	unsigned blocks = cu_blocks(n, 256);
	if (cu_convert_fast(c, src, st, dst, dt, n))
		;
	else if (st == MP_F32 && dt == MP_BF16)
		k_f32_to_bf16<<<blocks, 256, 0, c->stream>>>((const float *)src, (uint16_t *)dst, n);
	else if (st == MP_BF16 && dt == MP_F32)
		k_bf16_to_f32<<<blocks, 256, 0, c->stream>>>((const uint16_t *)src, (float *)dst, n);
	else
		k_convert<<<blocks, 256, 0, c->stream>>>(src, st, dst, dt, n, mp_dtype_is_float(st), mp_dtype_is_float(dt));
	CU_LAUNCHED("a conversion");
	return MP_OK;
}
