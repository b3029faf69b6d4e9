/* device.cu - the CUDA backend's context and memory: one stream, the
 * stream-ordered allocator (buffers freed when their last reader has been
 * queued are reused by the next allocation, in stream order), cuBLAS with a
 * fixed workspace, copies, the device-side error record, and the helpers
 * every family uses (N-d iteration, strided copy, fill, conversion). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu.cuh"
#include "cuda_api.h"

enum { WORKSPACE_BYTES = 32 << 20 };

enum mp_status cu_fail(cudaError_t err, const char *what, struct mp_error *e)
{
	enum mp_status st = err == cudaErrorMemoryAllocation ? MP_ERR_NOMEM : MP_ERR_DEVICE;
	return mp_error_set(e, st, "CUDA: %s: %s (%s)", what, cudaGetErrorString(err), cudaGetErrorName(err));
}

enum mp_status cu_blas_fail(cublasStatus_t st, const char *what, struct mp_error *e)
{
	return mp_error_set(e, st == CUBLAS_STATUS_ALLOC_FAILED ? MP_ERR_NOMEM : MP_ERR_DEVICE, "cuBLAS: %s: %s",
	                    what, cublasGetStatusString(st));
}

enum mp_status cu_unsupported(const struct mp_op_call *c, enum mp_dtype t, struct mp_error *e)
{
	return mp_error_set(e, MP_ERR_UNSUPPORTED, "the CUDA backend has no %s kernel for %s", mp_op_name(c->op),
	                    mp_dtype_name(t));
}

/* ---- the context ---- */

extern "C" bool cu_device_present(void)
{
	int n = 0;
	return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

extern "C" void cu_ctx_free(void *ctx)
{
	struct cu_ctx *c = (struct cu_ctx *)ctx;
	if (!c)
		return;
	cudaSetDevice(c->device);
	if (c->stream)
		cudaStreamSynchronize(c->stream);
	if (c->blas)
		cublasDestroy(c->blas);
	if (c->lt)
		cublasLtDestroy(c->lt);
	cudaFree(c->workspace);
	cudaFree(c->d_err);
	cudaFree(c->d_slots);
	cudaFree(c->d_scratch);
	for (int i = 0; i < 8; i++)
		if (c->marks[i])
			cudaEventDestroy(c->marks[i]);
	if (c->stream)
		cudaStreamDestroy(c->stream);
	free(c);
}

extern "C" enum mp_status cu_ctx_new(int device, void **out, struct mp_error *e)
{
	int n = 0;
	cudaError_t err = cudaGetDeviceCount(&n);
	*out = NULL;
	if (err != cudaSuccess || n == 0)
		return mp_error_set(e, MP_ERR_DEVICE, "--device cuda: no CUDA GPU is available (%s)",
		                    err != cudaSuccess ? cudaGetErrorString(err) : "none found");
	if (device < 0 || device >= n)
		return mp_error_set(e, MP_ERR_DEVICE, "--device cuda:%d: there are %d GPUs", device, n);
	struct cu_ctx *c = (struct cu_ctx *)calloc(1, sizeof *c);
	if (!c)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	c->device = device;
	enum mp_status st = MP_OK;
	cudaDeviceProp prop;
#define STEP(call, what)                                   \
	do {                                               \
		cudaError_t r_ = (call);                   \
		if (r_ != cudaSuccess) {                   \
			st = cu_fail(r_, what, e);         \
			goto fail;                         \
		}                                          \
	} while (0)
	STEP(cudaSetDevice(device), "selecting the device");
	STEP(cudaGetDeviceProperties(&prop, device), "reading the device's properties");
	snprintf(c->name, sizeof c->name, "%s", prop.name);
	c->sm_count = prop.multiProcessorCount;
	STEP(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), "creating a stream");
	STEP(cudaDeviceGetDefaultMemPool(&c->pool, device), "the memory pool");
	{
		/* keep freed memory in the pool: a batch reuses what the last one freed */
		uint64_t keep = UINT64_MAX;
		STEP(cudaMemPoolSetAttribute(c->pool, cudaMemPoolAttrReleaseThreshold, &keep), "the memory pool");
	}
	STEP(cudaMalloc(&c->workspace, WORKSPACE_BYTES), "the cuBLAS workspace");
	c->workspace_size = WORKSPACE_BYTES;
	STEP(cudaMalloc((void **)&c->d_err, sizeof *c->d_err), "the error record");
	STEP(cudaMemset(c->d_err, 0, sizeof *c->d_err), "the error record");
	if (cublasCreate(&c->blas) != CUBLAS_STATUS_SUCCESS || cublasLtCreate(&c->lt) != CUBLAS_STATUS_SUCCESS) {
		st = mp_error_set(e, MP_ERR_DEVICE, "cuBLAS could not be initialised on %s", c->name);
		goto fail;
	}
	/* true fp32 unless asked (no TF32); no reduced-precision split-K sums */
	if (cublasSetStream(c->blas, c->stream) != CUBLAS_STATUS_SUCCESS ||
	    cublasSetWorkspace(c->blas, c->workspace, c->workspace_size) != CUBLAS_STATUS_SUCCESS ||
	    cublasSetMathMode(c->blas, (cublasMath_t)(CUBLAS_DEFAULT_MATH |
	                                              CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)) !=
	        CUBLAS_STATUS_SUCCESS) {
		st = mp_error_set(e, MP_ERR_DEVICE, "cuBLAS could not be configured");
		goto fail;
	}
#undef STEP
	*out = c;
	return MP_OK;
fail:
	cu_ctx_free(c);
	return st;
}

extern "C" const char *cu_ctx_name(void *ctx)
{
	return ((struct cu_ctx *)ctx)->name;
}

extern "C" void cu_ctx_set_tf32(void *ctx, bool on)
{
	struct cu_ctx *c = (struct cu_ctx *)ctx;
	c->tf32 = on;
	cublasSetMathMode(c->blas, (cublasMath_t)((on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH) |
	                                          CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION));
}

extern "C" enum mp_status cu_ctx_memory(void *ctx, size_t *used, size_t *peak, bool reset, struct mp_error *e)
{
	struct cu_ctx *c = (struct cu_ctx *)ctx;
	uint64_t u = 0, h = 0;
	CU_TRY(cudaMemPoolGetAttribute(c->pool, cudaMemPoolAttrUsedMemCurrent, &u), "the memory pool");
	CU_TRY(cudaMemPoolGetAttribute(c->pool, cudaMemPoolAttrUsedMemHigh, &h), "the memory pool");
	*used = (size_t)u;
	*peak = (size_t)h;
	if (reset) {
		uint64_t zero = 0;
		CU_TRY(cudaMemPoolSetAttribute(c->pool, cudaMemPoolAttrUsedMemHigh, &zero), "the memory pool");
	}
	return MP_OK;
}

extern "C" enum mp_status cu_ctx_mark(void *ctx, int slot, struct mp_error *e)
{
	struct cu_ctx *c = (struct cu_ctx *)ctx;
	if (slot < 0 || slot >= 8)
		return mp_error_set(e, MP_ERR_USAGE, "timing mark %d is not one of 0..7", slot);
	if (!c->marks[slot])
		CU_TRY(cudaEventCreate(&c->marks[slot]), "creating a timing event");
	CU_TRY(cudaEventRecord(c->marks[slot], c->stream), "recording a timing event");
	return MP_OK;
}

extern "C" enum mp_status cu_ctx_elapsed(void *ctx, int from, int to, double *ms, struct mp_error *e)
{
	struct cu_ctx *c = (struct cu_ctx *)ctx;
	float f = 0;
	*ms = 0;
	if (from < 0 || from >= 8 || to < 0 || to >= 8 || !c->marks[from] || !c->marks[to])
		return mp_error_set(e, MP_ERR_USAGE, "timing marks %d and %d were not both recorded", from, to);
	CU_TRY(cudaEventSynchronize(c->marks[to]), "waiting for a timing event");
	CU_TRY(cudaEventElapsedTime(&f, c->marks[from], c->marks[to]), "reading timing events");
	*ms = f;
	return MP_OK;
}

/* ---- memory ---- */

static void buf_release(struct mp_buffer *b)
{
	struct cu_ctx *c = (struct cu_ctx *)b->owner;
	cudaFreeAsync(b->data, c->stream);
	free(b);
}

extern "C" enum mp_status cu_alloc(void *ctx, size_t size, struct mp_buffer **out, struct mp_error *e)
{
	struct cu_ctx *c = (struct cu_ctx *)ctx;
	struct mp_buffer *b = (struct mp_buffer *)calloc(1, sizeof *b);
	void *p = NULL;
	*out = NULL;
	if (!b)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	/* at least 256 bytes: every buffer aligned for any element and vector load */
	cudaError_t err = cudaMallocAsync(&p, size < 256 ? 256 : size, c->stream);
	if (err != cudaSuccess) {
		free(b);
		cudaGetLastError(); /* clear it: the next call must not see it */
		if (err == cudaErrorMemoryAllocation) {
			size_t fr = 0, tot = 0;
			cudaMemGetInfo(&fr, &tot);
			return mp_error_set(e, MP_ERR_NOMEM, "out of GPU memory on %s asking for %zu bytes (%zu of %zu free)",
			                    c->name, size, fr, tot);
		}
		return cu_fail(err, "allocating", e);
	}
	b->data = p;
	b->size = size;
	b->refs = 1;
	b->device = MP_DEVICE_CUDA;
	b->release = buf_release;
	b->owner = c;
	*out = b;
	return MP_OK;
}

enum mp_status cu_scratch(struct cu_ctx *c, size_t bytes, void **out, struct mp_error *e)
{
	*out = NULL;
	cudaError_t err = cudaMallocAsync(out, bytes < 256 ? 256 : bytes, c->stream);
	if (err != cudaSuccess) {
		cudaGetLastError();
		return err == cudaErrorMemoryAllocation ?
		       mp_error_set(e, MP_ERR_NOMEM, "out of GPU memory on %s asking for %zu bytes of scratch", c->name, bytes) :
		       cu_fail(err, "allocating scratch", e);
	}
	return MP_OK;
}

void cu_scratch_free(struct cu_ctx *c, void *p)
{
	if (p)
		cudaFreeAsync(p, c->stream);
}

enum mp_status cu_upload(struct cu_ctx *c, const void *host, size_t bytes, void **dev, struct mp_error *e)
{
	enum mp_status st = cu_scratch(c, bytes, dev, e);
	if (st)
		return st;
	/* from pageable memory the copy is staged before this returns: host may go */
	cudaError_t err = cudaMemcpyAsync(*dev, host, bytes, cudaMemcpyHostToDevice, c->stream);
	if (err != cudaSuccess) {
		cu_scratch_free(c, *dev);
		*dev = NULL;
		return cu_fail(err, "copying a table to the GPU", e);
	}
	return MP_OK;
}

/* The index error a kernel recorded, raised and cleared. */
static enum mp_status check_err_rec(struct cu_ctx *c, struct mp_error *e)
{
	struct cu_err_rec r;
	CU_TRY(cudaMemcpyAsync(&r, c->d_err, sizeof r, cudaMemcpyDeviceToHost, c->stream), "reading the error record");
	CU_TRY(cudaStreamSynchronize(c->stream), "waiting for the GPU");
	if (!r.set)
		return MP_OK;
	CU_TRY(cudaMemsetAsync(c->d_err, 0, sizeof r, c->stream), "clearing the error record");
	return mp_error_set(e, MP_ERR_INPUT, "%s: index %lld is out of range for axis %d of size %lld",
	                    mp_op_name((enum mp_op)r.op), r.value, r.axis, r.dim);
}

extern "C" enum mp_status cu_sync(void *ctx, struct mp_error *e)
{
	struct cu_ctx *c = (struct cu_ctx *)ctx;
	CU_TRY(cudaStreamSynchronize(c->stream), "waiting for the GPU");
	return check_err_rec(c, e);
}

extern "C" enum mp_status cu_to_host(void *ctx, const struct mp_tensor *src, void *dst, struct mp_error *e)
{
	struct cu_ctx *c = (struct cu_ctx *)ctx;
	size_t n = mp_tensor_nbytes(src);
	if (!mp_tensor_is_contiguous(src))
		return mp_error_set(e, MP_ERR_INTERNAL, "copying a strided tensor to the host");
	if (n)
		CU_TRY(cudaMemcpyAsync(dst, src->data, n, cudaMemcpyDeviceToHost, c->stream), "copying to the host");
	CU_TRY(cudaStreamSynchronize(c->stream), "waiting for the GPU");
	return check_err_rec(c, e);
}

extern "C" enum mp_status cu_from_host(void *ctx, const void *src, struct mp_tensor *dst, struct mp_error *e)
{
	struct cu_ctx *c = (struct cu_ctx *)ctx;
	size_t n = mp_tensor_nbytes(dst);
	if (n)
		CU_TRY(cudaMemcpyAsync(dst->data, src, n, cudaMemcpyHostToDevice, c->stream), "copying to the GPU");
	return MP_OK;
}

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
	switch (es) {
	case 1: launch_copy<uint8_t>(c, it, dst->data, src->data); break;
	case 2: launch_copy<uint16_t>(c, it, dst->data, src->data); break;
	case 4: launch_copy<uint32_t>(c, it, dst->data, src->data); break;
	case 8: launch_copy<uint64_t>(c, it, dst->data, src->data); break;
	default: return mp_error_set(e, MP_ERR_UNSUPPORTED, "copying %zu-byte elements", es);
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
	if (st == MP_F32 && dt == MP_BF16)
		k_f32_to_bf16<<<blocks, 256, 0, c->stream>>>((const float *)src, (uint16_t *)dst, n);
	else if (st == MP_BF16 && dt == MP_F32)
		k_bf16_to_f32<<<blocks, 256, 0, c->stream>>>((const uint16_t *)src, (float *)dst, n);
	else
		k_convert<<<blocks, 256, 0, c->stream>>>(src, st, dst, dt, n, mp_dtype_is_float(st), mp_dtype_is_float(dt));
	CU_LAUNCHED("a conversion");
	return MP_OK;
}
