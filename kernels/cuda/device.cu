/* device.cu - the CUDA backend's context and memory: one stream, the
 * stream-ordered allocator (buffers freed when their last reader has been
 * queued are reused by the next allocation, in stream order), cuBLAS with a
 * fixed workspace, copies to and from the host, graph capture and the
 * device-side error record.  copy.cu has the helpers every family uses. */
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
	cu_fused_free(c);
	if (c->blas)
		cublasDestroy(c->blas);
	if (c->lt)
		cublasLtDestroy(c->lt);
	cudaFree(c->workspace);
	cudaFree(c->d_err);
	cudaFree(c->d_slots);
	if (c->h_slots)
		cudaFreeHost(c->h_slots);
	cudaFree(c->probe_acc);
	if (c->ws)
		cudaFreeAsync(c->ws, c->stream);
	if (c->stream)
		cudaStreamSynchronize(c->stream);
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
	c->attn_min_blocks = -1;
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
	STEP(cudaMalloc(&c->probe_acc, cu_probe_acc_bytes()), "the probes' accumulators");
	STEP(cudaMemsetAsync(c->probe_acc, 0, cu_probe_acc_bytes(), c->stream), "the probes' accumulators");
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

extern "C" void cu_ctx_set_attention_min_blocks(void *ctx, int n)
{
	((struct cu_ctx *)ctx)->attn_min_blocks = n;
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

extern "C" enum mp_status cu_ctx_graph_memory(void *ctx, size_t *peak, bool reset, struct mp_error *e)
{
	struct cu_ctx *c = (struct cu_ctx *)ctx;
	uint64_t h = 0;
	CU_TRY(cudaDeviceGetGraphMemAttribute(c->device, cudaGraphMemAttrUsedMemHigh, &h), "graph memory");
	*peak = (size_t)h + c->ws_size + c->keep_bytes;
	if (reset) {
		uint64_t zero = 0;
		CU_TRY(cudaDeviceSetGraphMemAttribute(c->device, cudaGraphMemAttrUsedMemHigh, &zero), "graph memory");
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

/* Device memory that a graph being captured keeps for as long as it lives
 * (cu_graph_free frees it): allocated outside the stream, so that it is not
 * one of the graph's own allocations, which the driver backs in large
 * chunks. */
static enum mp_status keep_alloc(struct cu_ctx *c, size_t bytes, void **dev, struct mp_error *e)
{
	if (c->nkeep == c->capkeep) {
		size_t cap = c->capkeep ? 2 * c->capkeep : 16;
		void **nk = (void **)realloc(c->keep, cap * sizeof *nk);
		if (!nk)
			return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		c->keep = nk;
		c->capkeep = cap;
	}
	*dev = NULL;
	cudaError_t err = cudaMalloc(dev, bytes < 256 ? 256 : bytes);
	if (err != cudaSuccess) {
		cudaGetLastError();
		return err == cudaErrorMemoryAllocation ?
		       mp_error_set(e, MP_ERR_NOMEM, "out of GPU memory on %s asking for %zu bytes", c->name, bytes) :
		       cu_fail(err, "allocating for a graph", e);
	}
	c->keep[c->nkeep++] = *dev;
	c->cap_bytes += bytes;
	return MP_OK;
}

/* An empty stack grows to what the calls before needed; not while
 * capturing (the graph would own the new buffer), nor while a graph holds
 * pointers into the old one. */
static void ws_grow(struct cu_ctx *c)
{
	if (c->ws_top || c->ws_need <= c->ws_size || c->capturing || c->ws_graphs)
		return;
	void *p = NULL;
	if (cudaMallocAsync(&p, c->ws_need, c->stream) != cudaSuccess) {
		cudaGetLastError();
		return;
	}
	if (c->ws)
		cudaFreeAsync(c->ws, c->stream);
	c->ws = (char *)p;
	c->ws_size = c->ws_need;
}

enum mp_status cu_scratch(struct cu_ctx *c, size_t bytes, void **out, struct mp_error *e)
{
	size_t b = (bytes + 255) & ~(size_t)255;
	*out = NULL;
	if (!b)
		b = 256;
	ws_grow(c);
	if (c->ws_top + b > c->ws_need)
		c->ws_need = c->ws_top + b;
	if (c->ws && c->ws_top + b <= c->ws_size && c->ws_n < 16) {
		c->ws_blocks[c->ws_n++] = (struct cu_ctx::cu_wsblock){ c->ws_top, b, true };
		*out = c->ws + c->ws_top;
		c->ws_top += b;
		c->ws_captured |= c->capturing;
		return MP_OK;
	}
	if (c->capturing)
		return keep_alloc(c, b, out, e);
	cudaError_t err = cudaMallocAsync(out, b, c->stream);
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
	if (!p)
		return;
	if (c->ws && (char *)p >= c->ws && (char *)p < c->ws + c->ws_size) {
		for (int i = 0; i < c->ws_n; i++)
			if (c->ws + c->ws_blocks[i].at == (char *)p)
				c->ws_blocks[i].live = false;
		while (c->ws_n && !c->ws_blocks[c->ws_n - 1].live) /* pop what is free at the top */
			c->ws_top = c->ws_blocks[--c->ws_n].at;
		return;
	}
	if (!c->capturing) /* (one taken while capturing is the graph's, kept) */
		cudaFreeAsync(p, c->stream);
}

enum mp_status cu_upload(struct cu_ctx *c, const void *host, size_t bytes, void **dev, struct mp_error *e)
{
	if (c->capturing) { /* outside the stream, for good: every replay reads it */
		enum mp_status st = keep_alloc(c, bytes, dev, e);
		if (st)
			return st;
		CU_TRY(cudaMemcpy(*dev, host, bytes, cudaMemcpyHostToDevice), "copying a table for a graph");
		return MP_OK;
	}
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

void cu_table_free(struct cu_ctx *c, void *dev)
{
	if (!c->capturing)
		cu_scratch_free(c, dev);
}

/* ---- graphs: one captured run, replayed ---- */

struct cu_graph {
	cudaGraphExec_t exec;
	void **keep;   /* the tables its kernels read */
	size_t nkeep;
	bool ws;       /* its kernels read the scratch stack */
	size_t bytes;  /* what keep holds */
};

static void free_tables(void **keep, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cudaFree(keep[i]);
	free(keep);
}

extern "C" enum mp_status cu_graph_begin(void *ctx, struct mp_error *e)
{
	struct cu_ctx *c = (struct cu_ctx *)ctx;
	/* the scratch the run before needed, allocated outside the graph (whose
	 * own allocations the driver backs in large chunks) */
	ws_grow(c);
	/* relaxed: the tables above may be allocated while capturing */
	CU_TRY(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeRelaxed), "starting a graph capture");
	c->capturing = true;
	c->ws_captured = false;
	c->cap_bytes = 0;
	c->keep = NULL;
	c->nkeep = c->capkeep = 0;
	return MP_OK;
}

extern "C" enum mp_status cu_graph_end(void *ctx, void **out, struct mp_error *e)
{
	struct cu_ctx *c = (struct cu_ctx *)ctx;
	cudaGraph_t g = NULL;
	cudaGraphExec_t ex = NULL;
	cudaError_t err = cudaStreamEndCapture(c->stream, &g);
	void **keep = c->keep;
	size_t nkeep = c->nkeep;
	size_t cap_bytes = c->cap_bytes;
	c->capturing = false;
	c->keep = NULL;
	c->nkeep = c->capkeep = 0;
	c->cap_bytes = 0;
	*out = NULL;
	if (err == cudaSuccess && g)
		err = cudaGraphInstantiate(&ex, g, 0);
	if (g)
		cudaGraphDestroy(g);
	struct cu_graph *cg = err == cudaSuccess ? (struct cu_graph *)calloc(1, sizeof *cg) : NULL;
	if (!cg) {
		cudaGetLastError(); /* the capture's error is not the next call's */
		if (ex)
			cudaGraphExecDestroy(ex);
		free_tables(keep, nkeep);
		return err != cudaSuccess ? cu_fail(err, "capturing the run as a CUDA graph", e) :
		                            mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	}
	cg->exec = ex;
	cg->keep = keep;
	cg->nkeep = nkeep;
	cg->ws = c->ws_captured;
	cg->bytes = cap_bytes;
	c->keep_bytes += cg->bytes;
	c->ws_graphs += cg->ws;
	*out = cg;
	return MP_OK;
}

extern "C" enum mp_status cu_graph_launch(void *ctx, void *graph, struct mp_error *e)
{
	struct cu_ctx *c = (struct cu_ctx *)ctx;
	CU_TRY(cudaGraphLaunch(((struct cu_graph *)graph)->exec, c->stream), "launching the captured run");
	return MP_OK;
}

extern "C" void cu_graph_free(void *ctx, void *graph)
{
	struct cu_ctx *c = (struct cu_ctx *)ctx;
	struct cu_graph *cg = (struct cu_graph *)graph;
	if (!cg)
		return;
	cudaStreamSynchronize(c->stream); /* not while a replay may still read its tables */
	cudaGraphExecDestroy(cg->exec);
	free_tables(cg->keep, cg->nkeep);
	c->ws_graphs -= cg->ws;
	c->keep_bytes -= cg->bytes;
	free(cg);
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
