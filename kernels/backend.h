/* backend.h - the interface every compute backend implements.
 *
 * A backend is a table of function pointers plus a private context: memory,
 * copies, and one entry per op (NULL: the backend does not compute it, which
 * callers report by name).  Kernels receive inputs whose shapes inference has
 * checked and outputs already allocated with their final shapes; they return
 * a status and a message, never abort.  No CUDA type appears here: the CUDA
 * backend exposes only its constructor.
 */
#ifndef MP_BACKEND_H
#define MP_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "op.h"
#include "probe.h"
#include "tensor.h"

struct mp_op_call {
	enum mp_op op;
	const void *params; /* struct mp_<family>_params, resolved */
	int ninputs, noutputs;
	const struct mp_tensor *const *in; /* in[i] NULL when an optional input is omitted */
	struct mp_tensor *const *out;      /* out[i] NULL when the graph does not use it */
};

typedef enum mp_status (*mp_op_fn)(void *ctx, const struct mp_op_call *call,
                                   struct mp_error *e);

/* A fused call: the elementwise nodes of one group run as one kernel, each
 * step computing what its node's kernel would, rounded to its node's output
 * dtype, with the intermediate values kept in registers. */
enum { MP_FUSED_MAX_IN = 8, MP_FUSED_MAX_STEPS = 24 };

struct mp_fused_step {
	enum mp_op op;                 /* a float unary or binary op */
	int nargs;                     /* 1 or 2 */
	int arg[2];                    /* >= 0: input k; < 0: the result of step -arg-1 */
	enum mp_dtype round[2];        /* the narrower dtype an argument is read as (a cast the plan
	                                * made), else MP_DTYPE_UNDEFINED */
	enum mp_dtype out;             /* the node's output dtype: the result is rounded to it */
	struct mp_unary_params up;     /* a unary op's parameters */
};

struct mp_fused_call {
	int nin, nsteps;
	const struct mp_tensor *in[MP_FUSED_MAX_IN]; /* f32, bf16 or f16, broadcast onto out's shape */
	struct mp_tensor *out;                       /* the last step's result, contiguous */
	struct mp_fused_step steps[MP_FUSED_MAX_STEPS];
};

/* An attention call: one kernel for the nodes of
 *
 *     O = MatMul(Softmax(sop(MatMul(qop(Q), kop(K)^T))), V)
 *
 * (Q [.., t, d], K [.., s, d], V [.., s, dv]; qop, kop, sop: an optional
 * Mul or Div by a scalar), each step rounded as its node rounds: the scaled
 * Q and K to mm (the GEMMs' operand type, bf16 or f16), the scores to s_dt
 * (and after sop to s2_dt), the probabilities to p_dt and then to mm, O to
 * out's dtype.  The GEMMs accumulate in f32 (in their own order, which
 * need not be cuBLAS's); the softmax is the Softmax kernel's, sum order
 * included.  Tensors are read and written where they are, through strides
 * (elements) for the batch, head and row dims, the last dim contiguous:
 * the Transposes around attention cost nothing. */
struct mp_attn_call {
	const struct mp_tensor *q, *k, *v; /* stored in mm */
	struct mp_tensor *out;             /* mm or f32 */
	int64_t nb, nh, t, s, d, dv;
	int64_t q_st[3], k_st[3], v_st[3], o_st[3]; /* batch, head, row */
	enum mp_dtype mm, s_dt, s2_dt, p_dt;
	enum mp_op q_op, k_op, s_op;       /* MP_OP_MUL, MP_OP_DIV or MP_OP_NONE */
	float q_scale, k_scale, s_scale;   /* as the Mul or Div reads it */
};

struct mp_backend_iface {
	const char *name; /* "cpu", "cuda" */
	enum mp_device device;
	void (*free)(void *ctx);
	enum mp_status (*alloc)(void *ctx, size_t size, struct mp_buffer **out,
	                        struct mp_error *e);
	/* copies between host memory and a tensor of this backend (contiguous) */
	enum mp_status (*to_host)(void *ctx, const struct mp_tensor *src, void *dst,
	                          struct mp_error *e);
	enum mp_status (*from_host)(void *ctx, const void *src, struct mp_tensor *dst,
	                            struct mp_error *e);
	enum mp_status (*sync)(void *ctx, struct mp_error *e);
	const mp_op_fn *ops; /* MP_OP_COUNT entries */
	/* Bit f (1u << MP_FAMILY_f): family f's kernels read f32, bf16 and f16
	 * inputs in any mix, compute in f32 as from f32 inputs, and round once
	 * into whichever of the three the output is.  The executor then hands
	 * them bf16/f16 values the plan widens uncast, and lets them write a
	 * value straight in the narrower type every reader wants. */
	uint32_t mixed_float;
	/* A group of elementwise nodes as one kernel (NULL: the backend runs
	 * each node by itself).  MP_ERR_UNSUPPORTED when it cannot, for the
	 * executor to run the nodes one by one. */
	enum mp_status (*fused)(void *ctx, const struct mp_fused_call *call, struct mp_error *e);
	/* Attention as one kernel (NULL: node by node); MP_ERR_UNSUPPORTED
	 * for shapes, layouts or types it does not take.  With call->out NULL
	 * it only says whether it would run, before the output is allocated. */
	enum mp_status (*attention)(void *ctx, const struct mp_attn_call *call, struct mp_error *e);
	/* Probes (probe.h).  Results go to a table of slots on the backend's
	 * device: probe_reset() sizes and clears it, probe() computes a batch of
	 * requests (one launch on a GPU; the tensors must stay alive until the
	 * next probe_fetch() or sync), probe_fetch() copies slots [0, n) to the
	 * host.  Probes only read: they never change a bit of a tensor. */
	enum mp_status (*probe_reset)(void *ctx, size_t nslots, struct mp_error *e);
	enum mp_status (*probe)(void *ctx, const struct mp_probe_req *reqs, size_t n, struct mp_error *e);
	enum mp_status (*probe_fetch)(void *ctx, struct mp_probe_result *out, size_t n, struct mp_error *e);
	/* Graphs (NULL where the backend has none): the kernels queued between
	 * graph_begin() and graph_end() are recorded, not run, as one graph
	 * that graph_launch() runs, on the same buffers, as often as asked.
	 * graph_end() fails, with nothing recorded, when something queued
	 * cannot be part of a graph. */
	enum mp_status (*graph_begin)(void *ctx, struct mp_error *e);
	enum mp_status (*graph_end)(void *ctx, void **graph, struct mp_error *e);
	enum mp_status (*graph_launch)(void *ctx, void *graph, struct mp_error *e);
	void (*graph_free)(void *ctx, void *graph);
};

struct mp_backend {
	const struct mp_backend_iface *iface;
	void *ctx;
};

static inline mp_op_fn mp_backend_op(const struct mp_backend *b, enum mp_op op)
{
	return (unsigned)op < MP_OP_COUNT ? b->iface->ops[op] : NULL;
}

/* Frees the backend; accepts NULL. */
void mp_backend_free(struct mp_backend *b);

/* The CPU reference backend. `threads` 0 = as many as the machine has. */
enum mp_status mp_backend_cpu_new(int threads, struct mp_backend **out, struct mp_error *e);

/* The CUDA backend on GPU `device` (0: the first).  MP_ERR_DEVICE with the
 * reason where mpdbg was built without CUDA or no GPU is present. */
enum mp_status mp_backend_cuda_new(int device, struct mp_backend **out, struct mp_error *e);
/* Whether a CUDA GPU can be used (false in a build without CUDA). */
bool mp_backend_cuda_present(void);
/* Device memory from the CUDA backend's pool: in use now, and the most in
 * use since the last reset. */
enum mp_status mp_backend_cuda_memory(struct mp_backend *b, size_t *used, size_t *peak, bool reset,
                                      struct mp_error *e);
/* Device memory for kernels' scratch: the scratch stack, and what captured
 * graphs held (the most since the last reset). */
enum mp_status mp_backend_cuda_graph_memory(struct mp_backend *b, size_t *peak, bool reset, struct mp_error *e);
/* TF32 for fp32 GEMMs (off by default: true fp32). */
void mp_backend_cuda_set_tf32(struct mp_backend *b, bool on);
/* Attention as one kernel only when it makes at least n blocks of 128 query
 * rows (-1, the default: one per SM); with fewer, one block's serial walk
 * over the keys is slower than the nodes one by one, and the call declines
 * (the executor runs the nodes).  Tests set 0 to run the kernel at any size. */
void mp_backend_cuda_set_attention_min_blocks(struct mp_backend *b, int n);
/* Timing on the CUDA backend's stream: mark(slot) records an event there
 * (slots 0..7); elapsed() waits for `to` and gives the GPU time between
 * the two marks in milliseconds. */
enum mp_status mp_backend_cuda_mark(struct mp_backend *b, int slot, struct mp_error *e);
enum mp_status mp_backend_cuda_elapsed(struct mp_backend *b, int from, int to, double *ms,
                                       struct mp_error *e);
/* "NVIDIA H100 80GB HBM3", or "CPU". */
const char *mp_backend_device_name(const struct mp_backend *b);

#endif
