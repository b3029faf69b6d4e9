/* bench_probe_kernel.c - the CUDA backend's probe kernel (probe.cu) by
 * itself: statistics over one 12.6M-element bf16 tensor and one 3.2M f32
 * one, the time of 500 calls of one small tensor each (a probed node's
 * output at batch 1), then diversity across the batch of the same large
 * tensors as [32, features], each run as plain launches and as a captured
 * graph replayed.  GPU time between events on the backend's stream; GB/s
 * count the tensor's bytes once.
 *
 *   bench_probe_kernel [reps]      (default 50) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "dtype.h"

struct bench {
	struct mp_backend *gpu;
	struct mp_error e;
};

static int fail(struct bench *b, const char *what)
{
	fprintf(stderr, "bench_probe_kernel: %s: %s\n", what, b->e.msg);
	return 1;
}

/* A GPU tensor of n values of dtype dt, filled from ordinary magnitudes. */
static int tensor_new(struct bench *b, enum mp_dtype dt, int64_t n, struct mp_tensor *t, struct mp_buffer **buf)
{
	size_t es = mp_dtype_size(dt);
	float *f = malloc((size_t)n * sizeof *f);
	void *h = malloc((size_t)n * es);
	if (!f || !h) {
		free(f);
		free(h);
		snprintf(b->e.msg, sizeof b->e.msg, "out of memory");
		return 1;
	}
	uint64_t s = 0x9E3779B97F4A7C15ull;
	for (int64_t i = 0; i < n; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		f[i] = (float)((int64_t)(s >> 40) - (1 << 23)) / (float)(1 << 21);
	}
	mp_dtype_convert(MP_F32, f, dt, h, (size_t)n);
	free(f);
	mp_tensor_init(t, dt, 1, &n);
	int rc = b->gpu->iface->alloc(b->gpu->ctx, (size_t)n * es, buf, &b->e) != MP_OK;
	if (!rc) {
		t->data = (*buf)->data;
		t->device = MP_DEVICE_CUDA;
		rc = b->gpu->iface->from_host(b->gpu->ctx, h, t, &b->e) != MP_OK;
	}
	free(h);
	return rc;
}

/* ms of GPU time for `calls` probe() calls of req, plain or captured */
static int time_calls(struct bench *b, const struct mp_probe_req *req, int calls, bool captured, double *ms)
{
	const struct mp_backend_iface *f = b->gpu->iface;
	void *ctx = b->gpu->ctx, *graph = NULL;
	if (f->probe_reset(ctx, 1, &b->e))
		return 1;
	if (captured) {
		if (f->graph_begin(ctx, &b->e))
			return 1;
		for (int i = 0; i < calls; i++)
			if (f->probe(ctx, req, 1, &b->e))
				return 1;
		if (f->graph_end(ctx, &graph, &b->e) || f->graph_launch(ctx, graph, &b->e)) /* warm */
			return 1;
	} else {
		for (int i = 0; i < calls && i < 10; i++) /* warm */
			if (f->probe(ctx, req, 1, &b->e))
				return 1;
	}
	if (mp_backend_cuda_mark(b->gpu, 0, &b->e))
		return 1;
	if (captured) {
		if (f->graph_launch(ctx, graph, &b->e))
			return 1;
	} else {
		for (int i = 0; i < calls; i++)
			if (f->probe(ctx, req, 1, &b->e))
				return 1;
	}
	if (mp_backend_cuda_mark(b->gpu, 1, &b->e) || mp_backend_cuda_elapsed(b->gpu, 0, 1, ms, &b->e))
		return 1;
	if (graph)
		f->graph_free(ctx, graph);
	return f->sync(ctx, &b->e) != MP_OK;
}

static int one(struct bench *b, const char *name, enum mp_probe_kind kind, enum mp_dtype dt, int64_t n, int calls)
{
	struct mp_tensor t;
	struct mp_buffer *buf = NULL;
	if (tensor_new(b, dt, n, &t, &buf))
		return fail(b, name);
	if (kind == MP_PROBE_DIVERSITY) /* [32, n / 32] */
		mp_tensor_init(&t, dt, 2, (int64_t[]){ 32, n / 32 });
	struct mp_probe_req req = { kind, &t, NULL, 0, 0 };
	double bytes = (double)n * (double)mp_dtype_size(dt) * calls;
	for (int captured = 0; captured < 2; captured++) {
		double ms;
		if (time_calls(b, &req, calls, captured, &ms)) {
			mp_buffer_release(buf);
			return fail(b, name);
		}
		printf("%-24s %-8s %10lld elems %5d calls  %9.2f us/call  %8.1f GB/s\n", name,
		       captured ? "captured" : "plain", (long long)n, calls, 1e3 * ms / calls, bytes / (ms * 1e6));
	}
	mp_buffer_release(buf);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench b = { NULL, { 0 } };
	int reps = argc > 1 ? atoi(argv[1]) : 50;
	if (reps < 1)
		reps = 1;
	if (!mp_backend_cuda_present()) {
		fprintf(stderr, "bench_probe_kernel: no CUDA GPU here (or a build without CUDA)\n");
		return 77;
	}
	if (mp_backend_cuda_new(0, &b.gpu, &b.e))
		return fail(&b, "opening the GPU");
	printf("# %s\n", mp_backend_device_name(b.gpu));
	int rc = one(&b, "bf16 [32, 257, 1536]", MP_PROBE_STATS, MP_BF16, 32LL * 257 * 1536, reps) ||
	         one(&b, "f32 [32, 257, 384]", MP_PROBE_STATS, MP_F32, 32LL * 257 * 384, reps) ||
	         one(&b, "bf16 [1, 257, 384] x500", MP_PROBE_STATS, MP_BF16, 257LL * 384, 500) ||
	         one(&b, "div bf16 [32, 257*1536]", MP_PROBE_DIVERSITY, MP_BF16, 32LL * 257 * 1536, reps) ||
	         one(&b, "div f32 [32, 257*384]", MP_PROBE_DIVERSITY, MP_F32, 32LL * 257 * 384, reps);
	mp_backend_free(b.gpu);
	return rc;
}
