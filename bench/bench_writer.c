/* bench_writer.c - how fast the session writer stores statistics rows.
 *
 * A chain of NODES Relu nodes gives NODES + 1 float values; BATCHES batches
 * of results (every value with statistics, diversity and a histogram of a
 * realistic spread) go through mp_session_submit, as a run hands them over,
 * and the clock stops when mp_session_finish has committed the last.
 * Prints rows per second, and the longest a submit had to wait.
 *
 * usage: bench_writer [BATCHES] [NODES] [OUT.db]
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "onnxw.h"
#include "probes.h"
#include "run.h"
#include "session.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const struct mp_error *e)
{
	fprintf(stderr, "bench_writer: %s\n", e->msg);
	exit(1);
}

static const int64_t xd[] = { 4, 16 };

/* The chain x -> Relu -> ... of `nodes` nodes, written to model (a
 * mkstemps template); false if it could not be. */
static bool write_chain(int nodes, char *model)
{
	struct pbw g = onnx_graph(), vi, n;
	vi = onnx_value_info("v0", MP_F32, 2, xd, NULL);
	onnx_graph_input(&g, &vi);
	for (int i = 0; i < nodes; i++) {
		char a[32], b[32], name[32];
		snprintf(a, sizeof a, "v%d", i);
		snprintf(b, sizeof b, "v%d", i + 1);
		snprintf(name, sizeof name, "/layer%d/Relu", i);
		n = onnx_node("Relu", name, 1, (const char *[]){ a }, 1, (const char *[]){ b }, 0, NULL);
		onnx_graph_node(&g, &n);
	}
	char last[32];
	snprintf(last, sizeof last, "v%d", nodes);
	vi = onnx_value_info(last, MP_F32, 2, xd, NULL);
	onnx_graph_output(&g, &vi);
	struct pbw m = onnx_model(17, &g);
	int fd = mkstemps(model, 5);
	bool ok = fd >= 0 && write(fd, m.d, m.n) == (ssize_t)m.n;
	if (fd >= 0)
		close(fd);
	pbw_free(&m);
	return ok;
}

/* One record's statistics, as a real activation's. */
static void make_record(struct mp_probe_record *proto)
{
	memset(proto, 0, sizeof *proto);
	proto->flags = MP_REC_STATS | MP_REC_DIVERSITY;
	proto->dtype = MP_BF16;
	proto->ndim = 3;
	proto->shape[0] = 32;
	proto->shape[1] = 257;
	proto->shape[2] = 384;
	mp_stats_acc_init(&proto->stats);
	proto->stats.count = proto->stats.finite = 32 * 257 * 384;
	proto->stats.min = -4.25;
	proto->stats.max = 5.5;
	proto->stats.mean = 0.0123;
	proto->stats.m2 = 1234.5;
	proto->stats.absmax = 5.5;
	proto->stats.min_nonzero = 1e-6;
	for (int k = 100; k < 131; k++) /* ~30 binades in use */
		proto->stats.hist[k] = (uint64_t)(1000 + k * 37);
	proto->div.samples = 32;
	proto->div.features = 257 * 384;
	proto->div.across = 0.5;
	proto->div.within = 1.0;
}

int main(int argc, char **argv)
{
	int batches = argc > 1 ? atoi(argv[1]) : 500;
	int nodes = argc > 2 ? atoi(argv[2]) : 1000;
	const char *out = argc > 3 ? argv[3] : "/tmp/bench_writer.db";
	char model[] = "/tmp/bench_writer_XXXXXX.onnx";
	struct mp_error e = { 0 };

	if (!write_chain(nodes, model))
		return 1;

	/* the run as mpdbg wires it, on one CPU thread; the batch is ours */
	struct mp_run *run;
	struct mp_policy pol = { 0 };
	struct mp_run_setup s = { .model = model, .device = "cpu", .threads = 1, .policy = &pol, .no_probes = true };
	if (mp_run_open(&s, &run, &e))
		die(&e);
	const struct mp_graph *gr = mp_run_graph(run);
	struct mp_exec *x = mp_run_exec(run);
	float xv[64] = { 0 };
	struct mp_tensor t;
	struct mp_batch *b;
	mp_tensor_init(&t, MP_F32, 2, xd);
	t.data = xv;
	if (mp_batch_from_tensors("b", 1, (const char *[]){ "v0" }, &t, false, &b, &e) || mp_exec_begin(x, b, &e))
		die(&e);
	unlink(out);
	char *args[] = { "bench_writer" };
	if (mp_run_record(run, out, 1, args, &e))
		die(&e);
	struct mp_session_writer *w = mp_run_runner(run)->session;
	if (mp_session_set_graph(w, x, &e))
		die(&e);

	struct mp_probe_record proto;
	make_record(&proto);

	double t0 = now(), worst_wait = 0;
	for (int bi = 0; bi < batches; bi++) {
		struct mp_session_batch *sb = calloc(1, sizeof *sb);
		struct mp_probe_batch *pb = calloc(1, sizeof *pb);
		pb->records = calloc((size_t)nodes + 1, sizeof *pb->records);
		pb->nrecords = (size_t)nodes + 1;
		pb->g = gr;
		pb->low = MP_BF16;
		for (int k = 0; k <= nodes; k++) {
			pb->records[k] = proto;
			pb->records[k].value = k == 0 ? mp_graph_input(gr, 0) : mp_graph_node(gr, (size_t)k - 1)->outputs[0];
			pb->records[k].node = k - 1;
			pb->records[k].stats.mean += k * 1e-3;
		}
		sb->index = (size_t)bi;
		sb->source = strdup("bench");
		sb->ms = 1;
		sb->probes = pb;
		double s0 = now();
		if (mp_session_submit(w, sb, &e))
			die(&e);
		double waited = now() - s0;
		worst_wait = waited > worst_wait ? waited : worst_wait;
	}
	double submitted = now() - t0;
	if (mp_run_finish(run, MP_OK, NULL, &e))
		die(&e);
	double total = now() - t0;
	double rows = (double)batches * (double)(nodes + 1);
	printf("writer: %d batches x %d rows = %.0f statistics rows in %.3f s: %.0f rows/s "
	       "(submitting took %.3f s; the longest submit waited %.3f ms)\n",
	       batches, nodes + 1, rows, total, rows / total, submitted, worst_wait * 1e3);
	mp_run_free(run);
	mp_batch_free(b);
	unlink(model);
	return 0;
}
