/* cu.cuh - what the CUDA backend's files share: the context, checked calls,
 * element loads and stores with the CPU reference's exact conversions,
 * N-d indexing over merged dims, and launch helpers.  Only kernels/cuda
 * includes CUDA headers. */
#ifndef MP_CU_CUH
#define MP_CU_CUH

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "backend.h"
#include "einsum_plan.h"
#include "probe.h"
}

#include "math.cuh"

/* The first out-of-range index a kernel met; kernels skip the element and
 * report here, the host raises it at the next sync. */
struct cu_err_rec {
	int set;
	int op;
	int axis;
	int pad;
	long long value, dim;
};

struct cu_ctx {
	int device;
	cudaStream_t stream;
	cublasHandle_t blas;
	cublasLtHandle_t lt;
	void *workspace;
	size_t workspace_size;
	cudaMemPool_t pool;
	struct cu_err_rec *d_err;
	struct mp_probe_result *d_slots;
	size_t nslots, cap_slots;
	struct mp_probe_result *h_slots; /* pinned: the fetch's landing, at DMA speed */
	size_t cap_h_slots;
	/* per request of a probe launch: its accumulators and the counter of
	 * its finished blocks, zeroed once, left zeroed by each launch's last
	 * block (probe.cu), so a replayed graph finds them so */
	void *probe_acc;
	/* kernels' scratch: a stack in one buffer (stream order makes a block
	 * free for the next kernel once the last one reading it is queued) */
	char *ws;
	size_t ws_size, ws_top, ws_need;
	struct cu_wsblock { size_t at, size; bool live; } ws_blocks[16];
	int ws_n;
	int ws_graphs;              /* live graphs whose kernels read the stack: it stays put */
	bool ws_captured;           /* the capture under way took blocks from it */
	size_t keep_bytes;          /* what live graphs keep (tables, scratch) */
	size_t cap_bytes;           /* what the capture under way keeps */
	cudaEvent_t marks[8];       /* mp_backend_cuda_mark's, made on first use */
	void *fused;                /* fuse.cu's compiled kernels */
	bool capturing;             /* a graph is being captured on the stream */
	void **keep;                /* tables uploaded during the capture: the graph's */
	size_t nkeep, capkeep;
	char name[256];
	int sm_count;
	int attn_min_blocks;         /* fewer attention blocks than this: node by node; -1: sm_count */
	bool tf32;
};

/* ---- checked calls: every CUDA and cuBLAS status becomes an mp_error ---- */

enum mp_status cu_fail(cudaError_t err, const char *what, struct mp_error *e);
enum mp_status cu_blas_fail(cublasStatus_t st, const char *what, struct mp_error *e);

#define CU_TRY(call, what)                                                       \
	do {                                                                     \
		cudaError_t cu_err_ = (call);                                    \
		if (cu_err_ != cudaSuccess)                                      \
			return cu_fail(cu_err_, what, e);                        \
	} while (0)

#define CU_TRY_BLAS(call, what)                                                  \
	do {                                                                     \
		cublasStatus_t cu_st_ = (call);                                  \
		if (cu_st_ != CUBLAS_STATUS_SUCCESS)                             \
			return cu_blas_fail(cu_st_, what, e);                    \
	} while (0)

/* After a launch: a bad configuration shows here, a fault at the next sync. */
#define CU_LAUNCHED(what) CU_TRY(cudaPeekAtLastError(), what)

/* Device memory for kernel-private scratch, for the duration of one call:
 * from the context's scratch stack, or the stream-ordered pool when it is
 * full (the stack grows to fit before the next call that finds it empty). */
enum mp_status cu_scratch(struct cu_ctx *c, size_t bytes, void **out, struct mp_error *e);
void cu_scratch_free(struct cu_ctx *c, void *p);
/* A host table copied to the device for one call; cu_table_free() after
 * the call.  While a graph is being captured the table is kept on the
 * device as long as the graph (a replay reads it again). */
enum mp_status cu_upload(struct cu_ctx *c, const void *host, size_t bytes, void **dev, struct mp_error *e);
void cu_table_free(struct cu_ctx *c, void *dev);

enum mp_status cu_unsupported(const struct mp_op_call *c, enum mp_dtype t, struct mp_error *e);

/* ---- launch shapes ---- */

static inline unsigned cu_blocks(int64_t n, int threads)
{
	int64_t b = (n + threads - 1) / threads;
	if (b < 1)
		b = 1;
	return b > 65535 * 16 ? 65535 * 16 : (unsigned)b; /* grid-stride loops take the rest */
}

#define CU_FOR(i, n) for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
                          i += (int64_t)blockDim.x * gridDim.x)

/* float -> integer: toward zero, saturating, NaN -> 0 (dtype.c's sat_*) */
template <typename T>
__device__ __forceinline__ T cu_sat(double x, double lo, double hi)
{
	if (x != x)
		return (T)0;
	if (x <= lo)
		return (T)lo;
	if (x >= hi)
		return (T)hi;
	return (T)x;
}
__device__ __forceinline__ int64_t cu_sat_i64(double x)
{
	if (x != x)
		return 0;
	if (x <= -9223372036854775808.0)
		return INT64_MIN;
	if (x >= 9223372036854775808.0)
		return INT64_MAX;
	return (int64_t)x;
}
__device__ __forceinline__ uint64_t cu_sat_u64(double x)
{
	if (x != x || x <= 0)
		return 0;
	if (x >= 18446744073709551616.0)
		return UINT64_MAX;
	return (uint64_t)x;
}

/* ---- loads and stores of any computable dtype (dt: enum mp_dtype) ---- */

__device__ __forceinline__ double cu_ld_f64(const void *p, int64_t i, int dt)
{
	switch (dt) {
	case MP_F32: return (double)((const float *)p)[i];
	case MP_F64: return ((const double *)p)[i];
	case MP_BF16: return (double)cu_bf16_to_f32(((const uint16_t *)p)[i]);
	case MP_F16: return (double)cu_f16_to_f32(((const uint16_t *)p)[i]);
	case MP_I8: return (double)((const int8_t *)p)[i];
	case MP_U8: return (double)((const uint8_t *)p)[i];
	case MP_I16: return (double)((const int16_t *)p)[i];
	case MP_U16: return (double)((const uint16_t *)p)[i];
	case MP_I32: return (double)((const int32_t *)p)[i];
	case MP_U32: return (double)((const uint32_t *)p)[i];
	case MP_I64: return (double)((const int64_t *)p)[i];
	case MP_U64: return (double)((const uint64_t *)p)[i];
	case MP_BOOL: return ((const uint8_t *)p)[i] != 0 ? 1.0 : 0.0;
	default: return 0;
	}
}

__device__ __forceinline__ float cu_ld_f32(const void *p, int64_t i, int dt)
{
	switch (dt) {
	case MP_F32: return ((const float *)p)[i];
	case MP_BF16: return cu_bf16_to_f32(((const uint16_t *)p)[i]);
	case MP_F16: return cu_f16_to_f32(((const uint16_t *)p)[i]);
	case MP_F64: return (float)((const double *)p)[i];
	/* integers: one correctly rounded step, as the CPU's (float)v */
	case MP_I8: return (float)((const int8_t *)p)[i];
	case MP_U8: return (float)((const uint8_t *)p)[i];
	case MP_I16: return (float)((const int16_t *)p)[i];
	case MP_U16: return (float)((const uint16_t *)p)[i];
	case MP_I32: return (float)((const int32_t *)p)[i];
	case MP_U32: return (float)((const uint32_t *)p)[i];
	case MP_I64: return (float)((const int64_t *)p)[i];
	case MP_U64: return (float)((const uint64_t *)p)[i];
	case MP_BOOL: return ((const uint8_t *)p)[i] != 0 ? 1.0f : 0.0f;
	default: return 0;
	}
}

__device__ __forceinline__ int64_t cu_ld_i64(const void *p, int64_t i, int dt)
{
	switch (dt) {
	case MP_I8: return ((const int8_t *)p)[i];
	case MP_U8: return ((const uint8_t *)p)[i];
	case MP_I16: return ((const int16_t *)p)[i];
	case MP_U16: return ((const uint16_t *)p)[i];
	case MP_I32: return ((const int32_t *)p)[i];
	case MP_U32: return ((const uint32_t *)p)[i];
	case MP_I64: return ((const int64_t *)p)[i];
	case MP_U64: return (int64_t)((const uint64_t *)p)[i];
	case MP_BOOL: return ((const uint8_t *)p)[i] != 0;
	case MP_F32: return cu_sat_i64((double)((const float *)p)[i]);
	case MP_F64: return cu_sat_i64(((const double *)p)[i]);
	case MP_BF16: return cu_sat_i64((double)cu_bf16_to_f32(((const uint16_t *)p)[i]));
	case MP_F16: return cu_sat_i64((double)cu_f16_to_f32(((const uint16_t *)p)[i]));
	default: return 0;
	}
}

__device__ __forceinline__ void cu_st_f64(void *p, int64_t i, int dt, double v)
{
	switch (dt) {
	case MP_F32: ((float *)p)[i] = (float)v; break;
	case MP_F64: ((double *)p)[i] = v; break;
	case MP_BF16: ((uint16_t *)p)[i] = cu_f64_to_bf16(v); break;
	case MP_F16: ((uint16_t *)p)[i] = cu_f64_to_f16(v); break;
	case MP_I8: ((int8_t *)p)[i] = cu_sat<int8_t>(v, -128.0, 127.0); break;
	case MP_U8: ((uint8_t *)p)[i] = cu_sat<uint8_t>(v, 0.0, 255.0); break;
	case MP_I16: ((int16_t *)p)[i] = cu_sat<int16_t>(v, -32768.0, 32767.0); break;
	case MP_U16: ((uint16_t *)p)[i] = cu_sat<uint16_t>(v, 0.0, 65535.0); break;
	case MP_I32: ((int32_t *)p)[i] = cu_sat<int32_t>(v, -2147483648.0, 2147483647.0); break;
	case MP_U32: ((uint32_t *)p)[i] = cu_sat<uint32_t>(v, 0.0, 4294967295.0); break;
	case MP_I64: ((int64_t *)p)[i] = cu_sat_i64(v); break;
	case MP_U64: ((uint64_t *)p)[i] = cu_sat_u64(v); break;
	case MP_BOOL: ((uint8_t *)p)[i] = v != 0; break;
	default: break;
	}
}

__device__ __forceinline__ void cu_st_f32(void *p, int64_t i, int dt, float v)
{
	switch (dt) {
	case MP_F32: ((float *)p)[i] = v; break;
	case MP_BF16: ((uint16_t *)p)[i] = cu_f32_to_bf16(v); break;
	case MP_F16: ((uint16_t *)p)[i] = cu_f32_to_f16(v); break;
	default: cu_st_f64(p, i, dt, (double)v); break;
	}
}

__device__ __forceinline__ void cu_st_i64(void *p, int64_t i, int dt, int64_t v)
{
	switch (dt) {
	case MP_I8: ((int8_t *)p)[i] = (int8_t)(uint64_t)v; break;
	case MP_U8: ((uint8_t *)p)[i] = (uint8_t)(uint64_t)v; break;
	case MP_I16: ((int16_t *)p)[i] = (int16_t)(uint64_t)v; break;
	case MP_U16: ((uint16_t *)p)[i] = (uint16_t)(uint64_t)v; break;
	case MP_I32: ((int32_t *)p)[i] = (int32_t)(uint64_t)v; break;
	case MP_U32: ((uint32_t *)p)[i] = (uint32_t)(uint64_t)v; break;
	case MP_I64: ((int64_t *)p)[i] = v; break;
	case MP_U64: ((uint64_t *)p)[i] = (uint64_t)v; break;
	case MP_BOOL: ((uint8_t *)p)[i] = v != 0; break;
	case MP_F32: ((float *)p)[i] = (float)v; break;
	case MP_F64: ((double *)p)[i] = (double)v; break;
	case MP_BF16: ((uint16_t *)p)[i] = cu_f64_to_bf16((double)v); break;
	case MP_F16: ((uint16_t *)p)[i] = cu_f64_to_f16((double)v); break;
	default: break;
	}
}

/* Raw element copy of `es` bytes (es in {1, 2, 4, 8}). */
__device__ __forceinline__ void cu_copy_elem(void *dst, int64_t di, const void *src, int64_t si, int es)
{
	switch (es) {
	case 1: ((uint8_t *)dst)[di] = ((const uint8_t *)src)[si]; break;
	case 2: ((uint16_t *)dst)[di] = ((const uint16_t *)src)[si]; break;
	case 4: ((uint32_t *)dst)[di] = ((const uint32_t *)src)[si]; break;
	default: ((uint64_t *)dst)[di] = ((const uint64_t *)src)[si]; break;
	}
}

/* ---- N-d iteration: up to CU_ITER_OPS operands broadcast onto a shape,
 * size-1 dims dropped and dims that every operand steps through as one
 * merged (as the CPU's cpu_iter); strides in elements ---- */

struct cu_iter {
	int ndim, nops;
	int64_t n;                          /* elements */
	int64_t shape[MP_MAX_DIMS];
	int64_t stride[CU_ITER_OPS][MP_MAX_DIMS];
};

/* ops[0] is the output shape (its own strides); the others broadcast. */
void cu_iter_init(struct cu_iter *it, int nops, const struct mp_tensor *const *ops);
/* One operand viewed with an explicit shape and element strides. */
void cu_iter_strided(struct cu_iter *it, int ndim, const int64_t *shape, int nops,
                     const int64_t *const *strides);

__device__ __forceinline__ void cu_iter_offsets(const cu_iter &it, int64_t i, int64_t *off)
{
	for (int k = 0; k < CU_ITER_OPS; k++)
		off[k] = 0;
	for (int d = it.ndim - 1; d >= 0; d--) {
		int64_t s = it.shape[d], q = i / s, r = i - q * s;
		i = q;
		for (int k = 0; k < it.nops; k++)
			off[k] += r * it.stride[k][d];
	}
}

/* ---- the fast path: 32-bit offsets, division by multiply and shift ----
 *
 * Most tensors have fewer than 2^31 elements and offsets; for them the
 * per-element index arithmetic is 32-bit and each division by a dim a
 * multiply-high and a shift (Granlund and Montgomery; the divisor's magic
 * numbers are made once on the host).  A thread takes `vec` consecutive
 * elements of the innermost dim, loaded as one vector where the operand
 * steps through them contiguously. */

static inline cu_divider cu_divider_make(uint32_t d)
{
	cu_divider v;
	uint32_t s = 0;
	while (s < 32 && (1ull << s) < d)
		s++;
	v.d = d;
	v.s = s;
	v.m = (uint32_t)(((1ull << 32) * ((1ull << s) - d)) / d + 1);
	return v;
}

/* The fast form of it, or false where sizes or offsets need 64 bits.  vec:
 * the widest of 8, 4, 2 (up to max_vec) that divides the inner dim and
 * keeps every operand that steps through it contiguously (inner stride 1)
 * aligned for that many elements of es[k] bytes; operands must step by 0 or
 * 1 in the inner dim for vec > 1. */
bool cu_fast_init(struct cu_fast *f, const struct cu_iter &it, const void *const *ptrs, const size_t *es,
                  int max_vec);

/* The float storage types the fast kernels are made for. */
static inline bool cu_is_storage_float(enum mp_dtype t)
{
	return t == MP_F32 || t == MP_BF16 || t == MP_F16;
}

/* Byte strides of a tensor as element strides. */
static inline int64_t cu_estride(const struct mp_tensor *t, int d)
{
	size_t es = mp_dtype_size(t->dtype);
	return es ? t->strides[d] / (int64_t)es : 0;
}

/* A strided copy dst <- src of the same dtype: the move ops' one kernel. */
enum mp_status cu_copy(struct cu_ctx *c, struct mp_tensor *dst, const struct mp_tensor *src, struct mp_error *e);
/* A fill of every element with the bytes of one value (es bytes). */
enum mp_status cu_fill_bytes(struct cu_ctx *c, struct mp_tensor *t, const void *value, struct mp_error *e);
/* A device-side dtype conversion of n contiguous elements. */
enum mp_status cu_convert(struct cu_ctx *c, const void *src, enum mp_dtype st, void *dst, enum mp_dtype dt,
                          int64_t n, struct mp_error *e);
/* The same among f32, bf16 and f16 on the fast path (elementwise.cu); false
 * where it does not apply. */
bool cu_convert_fast(struct cu_ctx *c, const void *src, enum mp_dtype st, void *dst, enum mp_dtype dt, int64_t n);

/* Reports an index error from a kernel (first one wins). */
__device__ __forceinline__ void cu_report_index(cu_err_rec *rec, int op, int axis, long long v, long long dim)
{
	if (atomicCAS(&rec->set, 0, 1) == 0) {
		rec->op = op;
		rec->axis = axis;
		rec->value = v;
		rec->dim = dim;
	}
}

/* ---- the families (one file each), as in backend.h's op table ---- */

#define CU_FAMILY(f) extern "C" enum mp_status cu_##f(void *ctx, const struct mp_op_call *c, struct mp_error *e);
CU_FAMILY(unary) CU_FAMILY(binary) CU_FAMILY(variadic) CU_FAMILY(where) CU_FAMILY(cast)
CU_FAMILY(reduce) CU_FAMILY(argreduce) CU_FAMILY(softmax) CU_FAMILY(cumulative) CU_FAMILY(topk)
CU_FAMILY(matmul) CU_FAMILY(gemm) CU_FAMILY(einsum) CU_FAMILY(conv) CU_FAMILY(pool) CU_FAMILY(norm)
CU_FAMILY(view) CU_FAMILY(fill) CU_FAMILY(transpose) CU_FAMILY(concat) CU_FAMILY(split)
CU_FAMILY(slice) CU_FAMILY(expand) CU_FAMILY(pad) CU_FAMILY(gather) CU_FAMILY(scatter)
CU_FAMILY(trilu) CU_FAMILY(resize) CU_FAMILY(select)
#undef CU_FAMILY

extern "C" enum mp_status cu_probe_reset(void *ctx, size_t nslots, struct mp_error *e);
extern "C" enum mp_status cu_probe(void *ctx, const struct mp_probe_req *reqs, size_t n, struct mp_error *e);
extern "C" enum mp_status cu_probe_fetch(void *ctx, struct mp_probe_result *out, size_t n, struct mp_error *e);
/* The requests one probe launch takes (a call with more is several), and
 * the bytes of the context's accumulators for them. */
enum { CU_PROBE_MAX_REQS = 512 };
size_t cu_probe_acc_bytes(void);

/* The compiled fused kernels, freed with the context (fuse.cu). */
extern "C" void cu_fused_free(struct cu_ctx *c);

/* GEMMs shared by MatMul, Gemm, Conv (gemm.cu): row-major C[b] = alpha A[b] B[b] + beta C[b]
 * with per-operand batch strides (elements, 0 = shared), fp32 accumulation
 * for float types (f64 for f64), any dtype of C the tensor's own. */
struct cu_gemm_desc {
	bool ta, tb;
	int64_t m, n, k, batch;
	const void *a, *b;
	void *c;
	enum mp_dtype at, bt, ct;
	int64_t lda, ldb, ldc;
	int64_t sa, sb, sc;
	double alpha, beta;
};
enum mp_status cu_gemm_run(struct cu_ctx *ctx, const struct cu_gemm_desc *g, struct mp_error *e);

#endif
