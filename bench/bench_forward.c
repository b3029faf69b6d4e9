/* bench_forward.c - times mpdbg's forward pass of one model on one batch,
 * without probes, for bench_gpu.py to set beside PyTorch.
 *
 *   bench_forward MODEL.onnx BATCH.safetensors [--policy P] [--device cuda|cpu]
 *                 [--warmup N] [--runs N] [--out FILE] [--tf32] [--profile] [--no-graphs]
 *                 [--no-fused-attention] [--trace SUBSTR]
 *
 * Two timings per run, both medians over --runs after --warmup:
 *   gpu_ms   the batch's inputs already on the device (mp_exec_restart, then
 *            mp_exec_run), between CUDA events on the backend's stream: what
 *            PyTorch's figure (its input already on the GPU) compares with;
 *   wall_ms  the whole step a session takes per batch (mp_exec_begin with the
 *            inputs copied from host memory, then mp_exec_run), host clock.
 * Memory: what a run holds beyond the weights and inputs: the planned arena
 * (every activation and temporary), plus the most scratch its kernels took
 * from the pool or, replayed as a graph, the graph's memory.
 * --out writes output 0 as raw little-endian float32, for checking against
 * PyTorch.  --profile adds one more run, synchronised after every node, and
 * prints where its time went by op type (stderr); --trace SUBSTR adds a line
 * for each node of that run whose name holds SUBSTR.  Prints one JSON object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "batch.h"
#include "exec.h"
#include "graph.h"
#include "policy.h"
#include "run.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* --profile: host time per node, the device synchronised after each. */
struct prof {
	struct mp_backend *be;
	double t, ms[64];
	char op[64][24], dt[64][12];
	int count[64], n;
	double *node_ms; /* per node */
	const char *trace; /* --trace: nodes whose name holds this, one line each */
};

static enum mp_status prof_hook(void *user, struct mp_exec *x, size_t node, struct mp_error *e)
{
	struct prof *p = user;
	const struct mp_graph *g = mp_exec_graph(x);
	const struct mp_node *n = mp_graph_node(g, node);
	enum mp_status st = p->be->iface->sync(p->be->ctx, e);
	double t = now_ms(), d = t - p->t;
	const struct mp_value_info *vi = n->noutputs && n->outputs[0] >= 0 ? mp_exec_value_info(x, n->outputs[0]) : NULL;
	const char *dt = vi ? mp_dtype_name(vi->dtype) : "-";
	int k;
	p->t = t;
	for (k = 0; k < p->n; k++)
		if (!strcmp(p->op[k], n->op_type) && !strcmp(p->dt[k], dt))
			break;
	if (k == p->n && p->n < 64) {
		snprintf(p->op[k], sizeof p->op[k], "%s", n->op_type);
		snprintf(p->dt[k], sizeof p->dt[k], "%s", dt);
		p->n++;
	}
	p->node_ms[node] = mp_exec_node_folded(x, node) ? 0 : d;
	if (p->trace && strstr(n->name, p->trace) && !mp_exec_node_folded(x, node)) {
		char shp[128] = "", ins[256] = "";
		if (vi)
			mp_shape_str(shp, sizeof shp, vi->ndim, vi->dims);
		for (int j = 0; j < n->ninputs && n->inputs[j] >= 0; j++) {
			const struct mp_value_info *ii = mp_exec_value_info(x, n->inputs[j]);
			size_t l = strlen(ins);
			snprintf(ins + l, sizeof ins - l, " %s", ii ? mp_dtype_name(ii->dtype) : "?");
		}
		fprintf(stderr, "trace %5zu %-14s %-9s %-22s %8.3f ms %s  in:%s\n", node, n->op_type, dt, shp, d,
		        mp_exec_node_has_kernel(x, node) ? "" : "(no kernel)", ins);
		fprintf(stderr, "      %s\n", n->name);
	}
	if (k < 64) {
		p->ms[k] += mp_exec_node_folded(x, node) ? 0 : d;
		p->count[k] += !mp_exec_node_folded(x, node);
	}
	return st;
}

static int fail(const char *what, const struct mp_error *e)
{
	fprintf(stderr, "bench_forward: %s: %s\n", what, e->msg);
	return 1;
}

static int write_output(struct mp_exec *x, const struct mp_graph *g, const char *path, struct mp_error *e)
{
	struct mp_tensor h;
	if (mp_exec_fetch(x, mp_graph_output(g, 0), &h, e))
		return fail("fetching output 0", e);
	size_t n = (size_t)mp_tensor_numel(&h);
	float *f = malloc(n * sizeof *f + 1);
	FILE *fp = fopen(path, "wb");
	int rc = !f || !fp;
	if (!rc) {
		mp_dtype_convert(h.dtype, h.data, MP_F32, f, n);
		rc = fwrite(f, sizeof *f, n, fp) != n;
	}
	if (fp && fclose(fp))
		rc = 1;
	if (rc)
		fprintf(stderr, "bench_forward: cannot write %s\n", path);
	free(f);
	mp_tensor_reset(&h);
	return rc;
}

/* The command line. */
struct bench_opts {
	const char *model, *batch, *policy, *device, *out, *trace;
	int warmup, runs;
	bool tf32, profile, no_graphs, no_attn;
};

/* 0, or the exit status of a bad command line. */
static int parse_args(int argc, char **argv, struct bench_opts *o)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bench_forward MODEL BATCH [--policy P] [--device cuda|cpu] [--warmup N] "
		                "[--runs N] [--out FILE] [--tf32]\n");
		return 2;
	}
	o->model = argv[1];
	o->batch = argv[2];
	for (int i = 3; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--tf32")) { o->tf32 = true; continue; }
		if (!strcmp(a, "--profile")) { o->profile = true; continue; }
		if (!strcmp(a, "--no-graphs")) { o->no_graphs = true; continue; }
		if (!strcmp(a, "--no-fused-attention")) { o->no_attn = true; continue; }
		if (!v) {
			fprintf(stderr, "bench_forward: %s needs a value\n", a);
			return 2;
		}
		if (!strcmp(a, "--policy")) o->policy = v;
		else if (!strcmp(a, "--device")) o->device = v;
		else if (!strcmp(a, "--warmup")) o->warmup = atoi(v);
		else if (!strcmp(a, "--runs")) o->runs = atoi(v);
		else if (!strcmp(a, "--out")) o->out = v;
		else if (!strcmp(a, "--trace")) { o->trace = v; o->profile = true; }
		else {
			fprintf(stderr, "bench_forward: unknown option %s\n", a);
			return 2;
		}
		i++;
	}
	if (o->runs < 1 || o->runs > 10000 || o->warmup < 0) {
		fprintf(stderr, "bench_forward: --runs must be 1..10000 and --warmup at least 0\n");
		return 2;
	}
	return 0;
}

/* What the timed runs found. */
struct bench_result {
	double first_ms, *gpu_ms, *wall_ms;
	size_t used, act, gpeak;
	struct mp_exec_stats xs;
};

/* The first run, the warm-up, whole steps from host memory, then runs
 * with the inputs resident (device time between events on a GPU). */
static int time_runs(struct mp_exec *x, struct mp_backend *be, bool gpu, const struct mp_batch *b,
                     const struct bench_opts *o, struct bench_result *r, struct mp_error *e)
{
	double t0 = now_ms();
	if (mp_exec_begin(x, b, e) || mp_exec_run(x, e))
		return fail("the first run", e);
	r->first_ms = now_ms() - t0;
	for (int i = 0; i < o->warmup; i++)
		if (mp_exec_begin(x, b, e) || mp_exec_run(x, e))
			return fail("warming up", e);
	for (int i = 0; i < o->runs; i++) {
		t0 = now_ms();
		if (mp_exec_begin(x, b, e) || mp_exec_run(x, e))
			return fail("a timed run", e);
		r->wall_ms[i] = now_ms() - t0;
	}
	size_t peak = 0;
	if (mp_exec_restart(x, e))
		return fail("restart", e);
	if (gpu && (mp_backend_cuda_memory(be, &r->used, &peak, true, e) ||
	            mp_backend_cuda_graph_memory(be, &r->gpeak, true, e)))
		return fail("memory", e);
	for (int i = 0; i < o->runs; i++) {
		if (mp_exec_restart(x, e))
			return fail("restart", e);
		if (gpu && mp_backend_cuda_mark(be, 0, e))
			return fail("timing", e);
		t0 = now_ms();
		if (mp_exec_run(x, e))
			return fail("a timed run", e);
		if (gpu) {
			if (mp_backend_cuda_mark(be, 1, e) || mp_backend_cuda_elapsed(be, 0, 1, &r->gpu_ms[i], e))
				return fail("timing", e);
		} else {
			r->gpu_ms[i] = now_ms() - t0;
		}
	}
	size_t used2 = 0, peak2 = 0;
	if (gpu && (mp_backend_cuda_memory(be, &used2, &peak2, false, e) ||
	            mp_backend_cuda_graph_memory(be, &r->gpeak, false, e)))
		return fail("memory", e);
	mp_exec_get_stats(x, &r->xs);
	r->act = r->xs.arena_bytes + (peak2 > r->used ? peak2 - r->used : 0) + r->gpeak;
	return 0;
}

/* --profile's table: time per (op, dtype), largest first, then the
 * slowest nodes, one of each kind. */
static void print_profile(struct prof *p, struct mp_exec *x, const struct mp_graph *g)
{
	double total = 0;
	for (int k = 0; k < p->n; k++)
		total += p->ms[k];
	for (int pass = 0; pass < p->n; pass++) {
		int best = -1;
		for (int k = 0; k < p->n; k++)
			if (p->count[k] >= 0 && (best < 0 || p->ms[k] > p->ms[best]))
				best = k;
		fprintf(stderr, "%-22s %-9s %5d nodes %9.3f ms %5.1f%%\n", p->op[best], p->dt[best], p->count[best],
		        p->ms[best], 100 * p->ms[best] / total);
		p->count[best] = -1;
	}
	fprintf(stderr, "%-22s %-9s %5s       %9.3f ms (each node synchronised)\n", "total", "", "", total);
	char seen[24][160];
	for (int top = 0, shown = 0; shown < 24 && top < 400; top++) {
		size_t best = 0;
		for (size_t i = 1; i < mp_graph_nnodes(g); i++)
			if (p->node_ms[i] > p->node_ms[best])
				best = i;
		const struct mp_node *n = mp_graph_node(g, best);
		char shp[128] = "";
		const struct mp_value_info *vi = n->noutputs && n->outputs[0] >= 0 ?
		                                 mp_exec_value_info(x, n->outputs[0]) : NULL;
		if (vi)
			mp_shape_str(shp, sizeof shp, vi->ndim, vi->dims);
		char key[160];
		bool dup = false;
		snprintf(key, sizeof key, "%s %s %s", n->op_type, vi ? mp_dtype_name(vi->dtype) : "", shp);
		for (int k = 0; k < shown; k++)
			dup |= !strcmp(seen[k], key);
		if (!dup && p->node_ms[best] > 0) {
			snprintf(seen[shown++], sizeof seen[0], "%s", key);
			fprintf(stderr, "  %8.3f ms  %-44s %s\n", p->node_ms[best], key, n->name);
		}
		p->node_ms[best] = -1;
	}
}

/* One more run, synchronised after every node. */
static int profile_run(struct mp_exec *x, struct mp_backend *be, const struct mp_graph *g, const char *trace,
                       struct mp_error *e)
{
	struct prof p = { .be = be, .trace = trace, .node_ms = calloc(mp_graph_nnodes(g) + 1, sizeof(double)) };
	mp_exec_set_hook(x, prof_hook, &p);
	if (mp_exec_restart(x, e) || be->iface->sync(be->ctx, e))
		return fail("profile", e);
	p.t = now_ms();
	if (mp_exec_run(x, e))
		return fail("the profiled run", e);
	mp_exec_set_hook(x, NULL, NULL);
	print_profile(&p, x, g);
	free(p.node_ms);
	return 0;
}

static void print_json(const struct bench_opts *o, struct mp_backend *be, const struct mp_batch *b,
                       struct bench_result *r)
{
	const struct mp_tensor *in0 = mp_batch_tensor(b, 0);
	double gpu_med = median(r->gpu_ms, o->runs), gpu_min = r->gpu_ms[0], wall_med = median(r->wall_ms, o->runs);
	const struct mp_exec_stats *xs = &r->xs;
	printf("{\"device\": \"%s\", \"policy\": \"%s\", \"batch\": %lld, \"runs\": %d, \"warmup\": %d, "
	       "\"first_ms\": %.3f, \"gpu_ms\": %.4f, \"gpu_min_ms\": %.4f, \"wall_ms\": %.4f, "
	       "\"resident_bytes\": %zu, \"activation_peak_bytes\": %zu, \"arena_bytes\": %zu, "
	       "\"graph_bytes\": %zu, \"fast_binds\": %zu, \"binds\": %zu, \"graph_replays\": %zu, "
	       "\"graph_note\": \"%s\", \"narrowed\": %zu, \"fused_groups\": %zu, \"fused_nodes\": %zu, "
	       "\"attention_groups\": %zu, \"attention_nodes\": %zu, \"fusion_note\": \"%s\", \"tf32\": %s}\n",
	       mp_backend_device_name(be), o->policy, (long long)(in0->ndim ? in0->shape[0] : 1), o->runs, o->warmup,
	       r->first_ms, gpu_med, gpu_min, wall_med, r->used, r->act, xs->arena_bytes, r->gpeak, xs->fast_binds,
	       xs->binds, xs->graph_replays, xs->graph_note, xs->narrowed, xs->fused_groups, xs->fused_nodes,
	       xs->attention_groups, xs->attention_nodes, xs->fusion_note, o->tf32 ? "true" : "false");
}

int main(int argc, char **argv)
{
	struct bench_opts o = { .policy = "fp32", .device = "cuda", .warmup = 10, .runs = 30 };
	struct mp_error e = { 0 };
	struct mp_policy pol = { 0 };
	struct mp_run *run = NULL;
	struct mp_batch *b = NULL;
	int rc = parse_args(argc, argv, &o);
	if (rc)
		return rc;
	if (mp_policy_set_base(&pol, o.policy, &e))
		return fail("--policy", &e);
	/* the run as mpdbg wires it, without probes; the device asked for */
	struct mp_run_setup s = { .model = o.model, .data = o.batch, .device = o.device, .tf32 = o.tf32,
		                  .policy = &pol, .no_probes = true, .no_graphs = o.no_graphs,
		                  .no_fused_attention = o.no_attn };
	if (mp_run_open(&s, &run, &e) || mp_batch_load(mp_run_source(run), 0, &b, &e))
		return fail("setting up", &e);
	struct mp_exec *x = mp_run_exec(run);
	struct mp_backend *be = mp_run_backend(run);
	bool gpu = be != NULL && !strcmp(be->iface->name, "cuda");
	struct bench_result r = { .gpu_ms = calloc((size_t)o.runs, sizeof(double)),
		                  .wall_ms = calloc((size_t)o.runs, sizeof(double)) };
	if ((rc = time_runs(x, be, gpu, b, &o, &r, &e)) || (o.out && (rc = write_output(x, mp_run_graph(run), o.out, &e))) ||
	    (o.profile && (rc = profile_run(x, be, mp_run_graph(run), o.trace, &e))))
		return rc;
	print_json(&o, be, b, &r);
	free(r.gpu_ms);
	free(r.wall_ms);
	mp_batch_free(b);
	mp_run_free(run);
	return 0;
}
