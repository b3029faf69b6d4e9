/* cpu.h - internals of the CPU reference backend: the kernel entry points
 * (one per op family) and the helpers they share.
 *
 * Kernels compute in f32 for f32/f16/bf16 data, f64 for f64, and 64-bit
 * integers for integer and bool data, converting rows on load and store
 * through the dtype traits.  Outputs arrive allocated and contiguous. */
#ifndef MP_CPU_H
#define MP_CPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

struct cpu_pool;

struct cpu_ctx {
	int threads;
	struct cpu_pool *pool;         /* workers, started on first use */
	struct mp_probe_result *slots; /* the probes' result table */
	size_t nslots, nslots_cap;
};

/* Runs fn(arg, t) for t in [0, ntasks) on the backend's threads (the caller
 * among them) and returns when all are done. */
void cpu_parallel_for(struct cpu_ctx *ctx, size_t ntasks, void (*fn)(void *arg, size_t task), void *arg);
void cpu_pool_free(struct cpu_pool *p);

enum mp_status cpu_probe_reset(void *ctx, size_t nslots, struct mp_error *e);
enum mp_status cpu_probe(void *ctx, const struct mp_probe_req *reqs, size_t n, struct mp_error *e);
enum mp_status cpu_probe_fetch(void *ctx, struct mp_probe_result *out, size_t n, struct mp_error *e);

#define X(f) enum mp_status cpu_##f(void *ctx, const struct mp_op_call *c, struct mp_error *e);
MP_FAMILIES(X)
#undef X

/* ---- broadcasting iterator ----
 * Walks an output shape with n operands broadcast onto it (operand 0 is the
 * output), in runs along the last dim after dims that are contiguous for all
 * operands have been merged. */
enum { CPU_ITER_MAX_OPS = 8 };

struct cpu_iter {
	int nops, ndim;
	int64_t shape[MP_MAX_DIMS];
	int64_t stride[CPU_ITER_MAX_OPS][MP_MAX_DIMS]; /* bytes */
	/* state */
	int64_t idx[MP_MAX_DIMS];
	char *ptr[CPU_ITER_MAX_OPS];
	int64_t remaining; /* runs left */
	bool started;
};

/* ops[0] is the output; the others broadcast to its shape. */
void cpu_iter_init(struct cpu_iter *it, int nops, const struct mp_tensor *const *ops);
/* The run length (elements) and each operand's byte stride within a run. */
static inline int64_t cpu_iter_run(const struct cpu_iter *it) { return it->ndim ? it->shape[it->ndim - 1] : 1; }
static inline int64_t cpu_iter_inner_stride(const struct cpu_iter *it, int op)
{
	return it->ndim ? it->stride[op][it->ndim - 1] : 0;
}
/* Fills it->ptr with the current run's start; false when done. */
bool cpu_iter_next(struct cpu_iter *it);

/* ---- small helpers ---- */

/* A scratch block for row conversion: CPU_CHUNK elements of 8 bytes. */
enum { CPU_CHUNK = 1024 };

/* Loads n elements of t's dtype at p (element stride in bytes) as f32/f64/i64. */
void cpu_load_f32(enum mp_dtype t, const void *p, int64_t byte_stride, float *dst, size_t n);
void cpu_load_f64(enum mp_dtype t, const void *p, int64_t byte_stride, double *dst, size_t n);
void cpu_load_i64(enum mp_dtype t, const void *p, int64_t byte_stride, int64_t *dst, size_t n);

/* A contiguous f32 copy of a tensor (any computable dtype); free() it. */
float *cpu_to_f32(const struct mp_tensor *t, struct mp_error *e);
double *cpu_to_f64(const struct mp_tensor *t, struct mp_error *e);
int64_t *cpu_to_i64(const struct mp_tensor *t, struct mp_error *e);
/* Stores n f32 values into a contiguous tensor of any computable dtype. */
void cpu_from_f32(struct mp_tensor *t, const float *src, size_t n);
void cpu_from_f64(struct mp_tensor *t, const double *src, size_t n);
void cpu_from_i64(struct mp_tensor *t, const int64_t *src, size_t n);

enum mp_status cpu_unsupported_dtype(const struct mp_op_call *c, enum mp_dtype t,
                                     struct mp_error *e);
enum mp_status cpu_nomem(struct mp_error *e, size_t bytes);
/* malloc of n elements of `size` (at least one), NULL on overflow or failure */
void *cpu_alloc(int64_t n, size_t size);

/* The element at flat index i of an int32/int64 tensor (contiguous). */
int64_t cpu_index_at(const struct mp_tensor *t, int64_t i);
/* The first element of any computable tensor, as int64 / double. */
int64_t cpu_scalar_i64(const struct mp_tensor *t);
double cpu_scalar_f64(const struct mp_tensor *t);

/* Copies the elements of src into dst, both with any strides; src
 * broadcasts to dst's shape.  Bytes move as they are, no conversion. */
void cpu_copy(struct mp_tensor *dst, const struct mp_tensor *src);

/* x broadcast to the shape of `like` (contiguous), loaded into dst. */
void cpu_bcast_load_f64(const struct mp_tensor *like, const struct mp_tensor *x, double *dst);
void cpu_bcast_load_i64(const struct mp_tensor *like, const struct mp_tensor *x, int64_t *dst);

/* ---- GEMM ----
 * C[m,n] = alpha * op(A)[m,k] @ op(B)[k,n] + beta * C, row-major, in f64:
 * every float GEMM of the reference backend accumulates in f64 and rounds
 * once to its dtype (see gemm.c for why). */
void cpu_dgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
               const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
               double *c, int64_t ldc);
/* The fallback itself, always built so tests can compare it with a reference. */
void cpu_dgemm_blocked(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
                       const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                       double *c, int64_t ldc);
const char *cpu_gemm_provider(void);

#endif
