/* test_paths.c - the planned path of the probes against the node-by-node
 * one (mp_probe_options.literal, `run --literal`): the same batches through
 * both, each shape at least three times in a row (the planned path plans
 * memory on a shape's second run and, on a GPU, captures the third and
 * replays after), must give the same records, captures and breakpoint hits.
 *
 * Exact fields are equal bit for bit: every count, min, max, absmax,
 * min_nonzero, the per-type counts and the exponent histogram.  The moments
 * (mean, m2), diversity and comparison sums may differ by reassociation:
 * within REL of their scale (mean: of the larger of |mean| and absmax, since
 * a mean near zero is all cancellation).  Both paths use the same kernels
 * today; the bound leaves room for a different summation order later.
 *
 * On the CPU always; on CUDA (the CPU as host) when a GPU is present. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "batch.h"
#include "cmocka_tap.h"
#include "exec.h"
#include "graph.h"
#include "onnxw.h"
#include "probes.h"
#include "testutil.h"

#define REL 1e-12

static char *dir;
static struct mp_backend *cpu; /* the reference backend and every run's host */
static struct mp_backend *gpu; /* NULL without a CUDA GPU */

static int setup(void **state)
{
	(void)state;
	struct mp_error e = { 0 };
	if (!(dir = mp_test_tmpdir()) || mp_backend_cpu_new(2, &cpu, &e))
		return -1;
	if (mp_backend_cuda_present() && mp_backend_cuda_new(0, &gpu, &e)) {
		fprintf(stderr, "%s\n", e.msg);
		return -1;
	}
	if (!gpu)
		printf("# no CUDA GPU here: the CUDA half of each test is skipped (run it on the GPU machine)\n");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mp_backend_free(cpu);
	mp_backend_free(gpu);
	mp_test_rmtree(dir);
	free(dir);
	return 0;
}

/* ---- one path: an executor with its probes ---- */

struct path_run {
	struct mp_policy pol;
	struct mp_exec *x;
	struct mp_probes *p;
};

static void path_open(struct path_run *r, const struct mp_graph *g, struct mp_backend *be, const char *policy,
                      bool cast, const struct mp_probe_options *o, bool literal)
{
	struct mp_error e = { 0 };
	struct mp_probe_options po = *o; /* a shallow copy: mp_probes_new copies what it keeps */
	memset(r, 0, sizeof *r);
	assert_int_equal(mp_policy_set_base(&r->pol, policy, &e), MP_OK);
	if (cast)
		r->pol.on_mismatch = MP_MISMATCH_CAST;
	po.literal = literal;
	struct mp_exec_options xo = { .policy = &r->pol };
	if (mp_exec_new(g, be, cpu, &xo, &r->x, &e) || mp_probes_new(g, be, cpu, &r->pol, &po, &r->p, &e))
		fail_msg("%s on %s: %s", policy, be->iface->name, e.msg);
	mp_probes_attach(r->p, r->x, NULL, NULL);
}

static void path_close(struct path_run *r)
{
	mp_probes_free(r->p);
	mp_exec_free(r->x);
	mp_policy_free(&r->pol);
}

/* One batch through the path; the probes' results are the caller's. */
static struct mp_probe_batch *path_batch(struct path_run *r, const struct mp_batch *b, size_t index)
{
	struct mp_error e = { 0 };
	struct mp_probe_batch *res = NULL;
	if (mp_exec_begin(r->x, b, &e) || mp_probes_begin(r->p, r->x, b, index, &e))
		fail_msg("batch %zu: %s", index, e.msg);
	enum mp_status st = mp_exec_run(r->x, &e);
	if (st && st != MP_ERR_BREAK)
		fail_msg("batch %zu: %s", index, e.msg);
	if (mp_probes_end(r->p, &res, &e))
		fail_msg("batch %zu: %s", index, e.msg);
	return res;
}

/* ---- comparing two batches' results ---- */

/* Where a difference is, for the message. */
struct where {
	const char *what; /* model, policy, backend, batch */
	const struct mp_graph *g;
	int32_t value;
};

static const char *value_name(const struct where *w)
{
	return w->value < 0 ? "(none)" : mp_graph_value(w->g, (size_t)w->value)->name;
}

static void same_int(const struct where *w, const char *field, int64_t a, int64_t b)
{
	if (a != b)
		fail_msg("%s, value '%s': %s %lld literal, %lld planned", w->what, value_name(w), field, (long long)a,
		         (long long)b);
}

/* Bit for bit, any NaN equal to any NaN. */
static void same_bits(const struct where *w, const char *field, double a, double b)
{
	if (memcmp(&a, &b, sizeof a) && !(isnan(a) && isnan(b)))
		fail_msg("%s, value '%s': %s %.17g literal, %.17g planned (not bit for bit)", w->what, value_name(w), field,
		         a, b);
}

/* Within REL of scale (at least of the larger of the two). */
static void near(const struct where *w, const char *field, double a, double b, double scale)
{
	double s = fmax(scale, fmax(fabs(a), fabs(b)));
	if (!(fabs(a - b) <= REL * s) && !(isnan(a) && isnan(b)) && a != b)
		fail_msg("%s, value '%s': %s %.17g literal, %.17g planned (more than %g of %g apart)", w->what,
		         value_name(w), field, a, b, REL, s);
}

/* Each row of stats.def by its merge: order-free ones exactly, Chan's
 * moments within the bound.  A new kind of row fails to compile here. */
#define STAT_CHECK_SUM_COUNT(f) same_int(w, #f, a->f, b->f);
#define STAT_CHECK_SUM_LOW(f)                                         \
	for (int t = 0; t < MP_LOW_COUNT; t++)                        \
		same_int(w, t == MP_LOW_BF16 ? #f "[bf16]" : #f "[f16]", a->f[t], b->f[t]);
#define STAT_CHECK_MIN_REAL(f) same_bits(w, #f, a->f, b->f);
#define STAT_CHECK_MAX_REAL(f) same_bits(w, #f, a->f, b->f);
#define STAT_CHECK_CHAN_REAL(f) near(w, #f, a->f, b->f, fabs(a->absmax));
#define STAT_CHECK_CHAN_STD(f) near(w, #f, a->f, b->f, 0);

static void same_stats(const struct where *w, const struct mp_stats_acc *a, const struct mp_stats_acc *b)
{
#define MP_STAT(field, kind, merge, init, name, flags, doc) STAT_CHECK_##merge##_##kind(field)
#include "stats.def"
#undef MP_STAT
	for (int i = 0; i < MP_HIST_BINS; i++)
		if (a->hist[i] != b->hist[i])
			fail_msg("%s, value '%s': histogram bin %d holds %llu literal, %llu planned", w->what,
			         value_name(w), i, (unsigned long long)a->hist[i], (unsigned long long)b->hist[i]);
}

static void same_compare(const struct where *w, const char *which, const struct mp_compare_acc *a,
                         const struct mp_compare_acc *b)
{
	char f[64];
	snprintf(f, sizeof f, "%s.count", which);
	same_int(w, f, a->count, b->count);
	snprintf(f, sizeof f, "%s.nonfinite", which);
	same_int(w, f, a->nonfinite, b->nonfinite);
	snprintf(f, sizeof f, "%s.max_abs", which);
	same_bits(w, f, a->max_abs, b->max_abs);
	const double *sa[] = { &a->sum_d2, &a->sum_a2, &a->sum_b2, &a->sum_ab };
	const double *sb[] = { &b->sum_d2, &b->sum_a2, &b->sum_b2, &b->sum_ab };
	static const char *const names[] = { "sum_d2", "sum_a2", "sum_b2", "sum_ab" };
	for (int i = 0; i < 4; i++) {
		snprintf(f, sizeof f, "%s.%s", which, names[i]);
		near(w, f, *sa[i], *sb[i], 0);
	}
}

static void same_record(struct where *w, const struct mp_probe_record *a, const struct mp_probe_record *b)
{
	w->value = a->value;
	same_int(w, "value", a->value, b->value);
	same_int(w, "node", a->node, b->node);
	same_int(w, "dtype", a->dtype, b->dtype);
	same_int(w, "ndim", a->ndim, b->ndim);
	for (int d = 0; d < a->ndim; d++)
		same_int(w, "shape", a->shape[d], b->shape[d]);
	same_int(w, "flags", a->flags, b->flags);
	if (a->flags & MP_REC_STATS)
		same_stats(w, &a->stats, &b->stats);
	if (a->flags & MP_REC_DIVERSITY) {
		same_int(w, "div.samples", a->div.samples, b->div.samples);
		same_int(w, "div.features", a->div.features, b->div.features);
		near(w, "div.across", a->div.across, b->div.across, 0);
		near(w, "div.within", a->div.within, b->div.within, 0);
	}
	if (a->flags & MP_REC_COMPARE)
		same_compare(w, "cmp", &a->cmp, &b->cmp);
	if (a->flags & MP_REC_OWN) {
		same_compare(w, "own", &a->own, &b->own);
		same_compare(w, "inh", &a->inh, &b->inh);
	}
}

static void same_capture(struct where *w, const struct mp_capture *a, const struct mp_capture *b)
{
	w->value = a->value;
	same_int(w, "capture's value", a->value, b->value);
	same_int(w, "capture's dtype", a->t.dtype, b->t.dtype);
	same_int(w, "capture's ndim", a->t.ndim, b->t.ndim);
	for (int d = 0; d < a->t.ndim; d++)
		same_int(w, "capture's shape", a->t.shape[d], b->t.shape[d]);
	size_t n = (size_t)mp_tensor_numel(&a->t) * mp_dtype_size(a->t.dtype);
	if (n && memcmp(a->t.data, b->t.data, n))
		fail_msg("%s: the captured tensor '%s' differs between the paths", w->what, value_name(w));
}

static void same_hit(struct where *w, const struct mp_probe_batch *a, const struct mp_probe_batch *b)
{
	w->value = a->hit ? a->hit_at.value : -1;
	same_int(w, "hit", a->hit, b->hit);
	if (!a->hit)
		return;
	same_int(w, "hit's breakpoint", a->hit_at.bp->kind, b->hit_at.bp->kind);
	if (a->hit_at.bp->glob || b->hit_at.bp->glob)
		assert_string_equal(a->hit_at.bp->glob, b->hit_at.bp->glob);
	same_int(w, "hit's node", a->hit_at.node, b->hit_at.node);
	same_int(w, "hit's value", a->hit_at.value, b->hit_at.value);
}

/* The two paths' results of one batch: everything, or with a breakpoint
 * met only the hit (the planned path may stop short of the literal one's
 * records past it). */
static void same_batch(struct where *w, const struct mp_probe_batch *a, const struct mp_probe_batch *b)
{
	w->value = -1;
	same_int(w, "index", (int64_t)a->index, (int64_t)b->index);
	same_int(w, "low", a->low, b->low);
	same_hit(w, a, b);
	if (a->hit)
		return;
	same_int(w, "nrecords", (int64_t)a->nrecords, (int64_t)b->nrecords);
	for (size_t i = 0; i < a->nrecords; i++)
		same_record(w, &a->records[i], &b->records[i]);
	w->value = -1;
	same_int(w, "ncaptures", (int64_t)a->ncaptures, (int64_t)b->ncaptures);
	for (size_t i = 0; i < a->ncaptures; i++)
		same_capture(w, &a->captures[i], &b->captures[i]);
}

/* THE PLANNED PATH WAS TAKEN: planned memory, and on a GPU a replayed
 * graph, for the run and, with --compare fp32, for its fp32 shadow too.  A
 * run with a node= break goes node by node on both paths (it stops the run
 * right after its node, values there to read), so for it the check is
 * that both runs are literal.  Judged
 * after the parity checks of every policy (they say more), each miss
 * appended to *missed. */
static void check_paths_taken(const char *what, struct path_run *literal, struct path_run *planned, bool on_gpu,
                              bool literal_too, char *missed, size_t size)
{
	struct mp_exec_stats ls, ps;
	size_t n = strlen(missed);
	mp_exec_get_stats(literal->x, &ls);
	mp_exec_get_stats(planned->x, &ps);
	printf("# %s: literal %zu runs, %zu planned; planned path %zu runs, %zu planned, %zu graph replays, %zu fused "
	       "groups, %zu attention groups, %zu narrowed%s%s\n",
	       what, ls.runs, ls.planned_runs, ps.runs, ps.planned_runs, ps.graph_replays, ps.fused_groups,
	       ps.attention_groups, ps.narrowed, ps.graph_note[0] ? ": " : "", ps.graph_note);
	if (ls.planned_runs != 0)
		fail_msg("%s: the literal path ran %zu batches in the planned arena", what, ls.planned_runs);
	if (literal_too) {
		if (ps.planned_runs != 0)
			snprintf(missed + n, size - n, "\n  %s: ran planned (%zu runs): flip this check", what,
			         ps.planned_runs);
		return;
	}
	if (ps.planned_runs == 0)
		snprintf(missed + n, size - n, "\n  %s: the planned path never ran in the planned arena", what);
	else if (on_gpu && ps.graph_replays == 0)
		snprintf(missed + n, size - n, "\n  %s: the planned path never replayed a captured graph (%s)", what,
		         ps.graph_note);
	struct mp_exec_stats ss;
	if (!mp_probes_shadow_stats(planned->p, &ss))
		return;
	n = strlen(missed);
	printf("# %s: its fp32 shadow %zu runs, %zu planned, %zu graph replays%s%s\n", what, ss.runs, ss.planned_runs,
	       ss.graph_replays, ss.graph_note[0] ? ": " : "", ss.graph_note);
	if (ss.planned_runs == 0)
		snprintf(missed + n, size - n, "\n  %s: the fp32 shadow never ran in the planned arena", what);
	else if (on_gpu && ss.graph_replays == 0)
		snprintf(missed + n, size - n, "\n  %s: the fp32 shadow never replayed a captured graph (%s)", what,
		         ss.graph_note);
}

static void assert_paths_taken(const char *missed)
{
	if (missed[0])
		fail_msg("the planned path was not taken (is literal = false honoured yet?):%s", missed);
}

/* ---- the hand-pose models ---- */

/* A batch of the first n samples of b (a view: b must outlive it). */
static struct mp_batch *first_samples(const struct mp_batch *b, int64_t n)
{
	size_t k = mp_batch_count(b);
	struct mp_tensor t[8];
	const char *names[8];
	struct mp_batch *out;
	struct mp_error e = { 0 };
	assert_true(k <= 8);
	for (size_t i = 0; i < k; i++) {
		t[i] = *mp_batch_tensor(b, i);
		assert_true(t[i].ndim > 0 && t[i].shape[0] >= n);
		t[i].shape[0] = n;
		names[i] = mp_batch_tensor_name(b, i);
	}
	assert_int_equal(mp_batch_from_tensors("first_samples", k, names, t, false, &out, &e), MP_OK);
	return out;
}

/* Every batch of the sequence through both paths of one backend, with the
 * fp32 comparison or without. */
static void paths_on(const char *model, const struct mp_graph *g, struct mp_backend *be, const char *policy,
                     bool compare, struct mp_batch *const *seq, size_t nseq, char *missed, size_t size)
{
	struct mp_probe_options o;
	struct mp_error e = { 0 };
	struct path_run lit, plan;
	char what[256];
	mp_probe_options_init(&o);
	o.compare = compare;
	/* whole tensors of the attention's probabilities (inside the fused
	 * attention where the planned path fuses it), beside the outputs */
	assert_int_equal(mp_probe_options_add_capture(&o, "*Softmax*", &e), MP_OK);
	path_open(&lit, g, be, policy, false, &o, true);
	path_open(&plan, g, be, policy, false, &o, false);
	for (size_t i = 0; i < nseq; i++) {
		snprintf(what, sizeof what, "%s %s%s on %s, run %zu (%s)", model, policy, compare ? " --compare fp32" : "",
		         be->iface->name, i, mp_batch_name(seq[i]));
		struct where w = { what, g, -1 };
		struct mp_probe_batch *a = path_batch(&lit, seq[i], i), *b = path_batch(&plan, seq[i], i);
		assert_true(a->nrecords > 0);
		same_batch(&w, a, b);
		mp_probe_batch_free(a);
		mp_probe_batch_free(b);
	}
	snprintf(what, sizeof what, "%s %s%s on %s", model, policy, compare ? " --compare fp32" : "", be->iface->name);
	check_paths_taken(what, &lit, &plan, be == gpu, false, missed, size);
	path_close(&lit);
	path_close(&plan);
	mp_probe_options_free(&o);
}

static void handpose(const char *file, bool dynamic_batch)
{
	char *models = mp_test_shared_path("models");
	if (!models) {
		printf("# ../shared/models is not beside the checkout: %s skipped\n", file);
		skip();
	}
	char *mp = mp_test_join(models, file), *bp = mp_test_join(models, "batches");
	struct mp_graph *g;
	struct mp_batch_source *src;
	struct mp_batch *b[4], *half = NULL, *seq[16];
	struct mp_error e = { 0 };
	size_t n = 0;
	char missed[2048] = "";
	assert_int_equal(mp_graph_load(mp, &g, &e), MP_OK);
	assert_int_equal(mp_batch_source_open_glob(bp, "batch_*.safetensors", &src, &e), MP_OK);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(mp_batch_load(src, i, &b[i], &e), MP_OK);
	/* each shape three times in a row: recorded, planned, captured/replayed */
	for (int k = 0; k < 3; k++)
		seq[n++] = b[0];
	for (int k = 0; k < 3; k++)
		seq[n++] = b[1];
	if (dynamic_batch) { /* another shape: the first two samples */
		half = first_samples(b[2], 2);
		for (int k = 0; k < 3; k++)
			seq[n++] = half;
	}
	seq[n++] = b[3]; /* back to the first shape */
	static const char *const policies[] = { "fp32", "bf16-autocast", "fp16-autocast" };
	/* every policy with statistics and diversity; bf16-autocast also with
	 * the comparison against fp32 (the shadow run, own and inherited error) */
	struct mp_backend *bes[] = { cpu, gpu };
	for (size_t k = 0; k < 2 && bes[k]; k++)
		for (size_t p = 0; p < 4; p++)
			paths_on(file, g, bes[k], policies[p < 3 ? p : 1], p == 3, seq, n, missed, sizeof missed);
	mp_batch_free(half);
	for (size_t i = 0; i < 4; i++)
		mp_batch_free(b[i]);
	mp_batch_source_free(src);
	mp_graph_free(g);
	free(mp);
	free(bp);
	free(models);
	assert_paths_taken(missed);
}

static void test_handpose_ts(void **state)
{
	(void)state;
	handpose("handpose_ts.onnx", true);
}

static void test_handpose_dynamo(void **state)
{
	(void)state;
	handpose("handpose_dynamo.onnx", false);
}

/* ---- breakpoints ---- */

/* x [batch, 4] -> a = x * 1e4 -> m = a W (W all 1e4) -> l = Log(m) -> y = l + 1.
 * Small positive x: nothing.  A row summing below zero: NaN at the Log.
 * x = 10: a holds 1e5 (beyond f16: overflow at the Mul, within every type).
 * x = 4e30: a holds 4e34 (beyond f16, within bf16), m 4e38 (beyond bf16
 * and f32: Inf); so overflow and Inf come at different nodes by policy. */
static struct mp_graph *break_model(void)
{
	struct pbw gb = onnx_graph();
	const int64_t xd[] = { -1, 4 }, wd[] = { 4, 4 };
	const char *pa[] = { "batch", NULL };
	struct pbw vi = onnx_value_info("x", MP_F32, 2, xd, pa);
	onnx_graph_input(&gb, &vi);
	float k = 1e4f, one = 1, w[16];
	for (int i = 0; i < 16; i++)
		w[i] = 1e4f;
	onnx_graph_add_floats(&gb, "k", 0, NULL, &k, 1);
	onnx_graph_add_floats(&gb, "one", 0, NULL, &one, 1);
	onnx_graph_add_floats(&gb, "W", 2, wd, w, 16);
	onnx_graph_add_node(&gb, "Mul", "/scale/Mul", 2, (const char *[]){ "x", "k" }, "a", 0, NULL);
	onnx_graph_add_node(&gb, "MatMul", "/proj/MatMul", 2, (const char *[]){ "a", "W" }, "m", 0, NULL);
	onnx_graph_add_node(&gb, "Log", "/log/Log", 1, (const char *[]){ "m" }, "l", 0, NULL);
	onnx_graph_add_node(&gb, "Add", "/out/Add", 2, (const char *[]){ "l", "one" }, "y", 0, NULL);
	vi = onnx_value_info("y", MP_F32, 2, xd, pa);
	onnx_graph_output(&gb, &vi);
	struct pbw m = onnx_model(17, &gb);
	char *p = mp_test_write(dir, "break.onnx", m.d, m.n);
	struct mp_graph *g;
	struct mp_error e = { 0 };
	pbw_free(&m);
	if (mp_graph_load(p, &g, &e))
		fail_msg("%s", e.msg);
	free(p);
	return g;
}

enum { CLEAN, NAN_ROW, BIG_ROW, HUGE_ROW };

struct break_batch {
	float v[6 * 4];
	struct mp_tensor t;
	struct mp_batch *b;
};

static void break_batch_make(struct break_batch *bb, int rows, int kind, unsigned seed)
{
	struct mp_error e = { 0 };
	for (int i = 0; i < rows * 4; i++) {
		seed = seed * 1103515245u + 12345u;
		bb->v[i] = (1.0f + (float)(seed >> 16 & 1023) / 128.0f) * 1e-9f; /* [1e-9, 9e-9) */
	}
	if (kind == NAN_ROW)
		bb->v[4 * (rows - 1)] = -1e-7f; /* the last row sums below zero */
	if (kind == BIG_ROW)
		bb->v[2] = 10; /* a = 1e5: beyond f16 in the middle, not at the input */
	if (kind == HUGE_ROW)
		bb->v[1] = 4e30f;
	mp_tensor_init(&bb->t, MP_F32, 2, (int64_t[]){ rows, 4 });
	bb->t.data = bb->v;
	assert_int_equal(mp_batch_from_tensors((const char *const[]){ "clean", "nan_row", "big_row", "huge_row" }[kind], 1,
	                                       (const char *[]){ "x" }, &bb->t, false, &bb->b, &e),
	                 MP_OK);
}

/* Where breakpoint bp must stop, from a run without breakpoints: the first
 * record meeting a value condition, the first node a node= glob matches
 * (value -1).  False when nothing does. */
static bool first_meeting(const struct mp_graph *g, const struct mp_probe_batch *r, const struct mp_breakpoint *bp,
                          double tol, int32_t *node, int32_t *value)
{
	if (bp->kind == MP_BREAK_NODE) {
		for (size_t i = 0; i < mp_graph_nnodes(g); i++)
			if (mp_break_node_match(bp, 1, mp_graph_node(g, i)->name)) {
				*node = (int32_t)i;
				*value = -1;
				return true;
			}
		return false;
	}
	for (size_t i = 0; i < r->nrecords; i++) {
		const struct mp_probe_record *rec = &r->records[i];
		const struct mp_stats_acc *s = &rec->stats;
		struct mp_break_facts f = { .has_stats = rec->flags & MP_REC_STATS,
			                    .has_cmp = rec->flags & MP_REC_COMPARE,
			                    .nan = s->nan,
			                    .inf = s->posinf + s->neginf,
			                    .is_low = rec->dtype == r->low };
		for (int k = 0; k < MP_LOW_COUNT; k++)
			f.overflow[k] = s->overflow[k];
		if (f.has_cmp)
			f.rel_l2 = mp_compare_rel_l2(&rec->cmp);
		if (mp_break_meets(bp->kind, &f, r->low, tol)) {
			*node = rec->node;
			*value = rec->value;
			return true;
		}
	}
	return false;
}

/* One breakpoint under one policy: every batch of seq through the literal
 * path, the planned path, and a literal run without the breakpoint that
 * says where it must stop.  Returns how many batches hit. */
static size_t breaks_on(const struct mp_graph *g, struct mp_backend *be, const char *policy, const char *spec,
                        struct break_batch *const *seq, size_t nseq, char *missed, size_t size)
{
	struct mp_probe_options o, free_o;
	struct mp_error e = { 0 };
	struct path_run lit, plan, ref;
	size_t hits = 0;
	mp_probe_options_init(&o);
	mp_probe_options_init(&free_o);
	o.compare = free_o.compare = !strcmp(spec, "tol");
	o.tol = free_o.tol = 1e-6;
	assert_int_equal(mp_probe_options_add_break(&o, spec, &e), MP_OK);
	path_open(&lit, g, be, policy, true, &o, true);
	path_open(&plan, g, be, policy, true, &o, false);
	path_open(&ref, g, be, policy, true, &free_o, true);
	for (size_t i = 0; i < nseq; i++) {
		char what[256];
		snprintf(what, sizeof what, "--break %s, %s on %s, run %zu (%s)", spec, policy, be->iface->name, i,
		         mp_batch_name(seq[i]->b));
		struct where w = { what, g, -1 };
		struct mp_probe_batch *a = path_batch(&lit, seq[i]->b, i), *b = path_batch(&plan, seq[i]->b, i);
		struct mp_probe_batch *r = path_batch(&ref, seq[i]->b, i);
		int32_t node, value;
		bool want = first_meeting(g, r, &o.breaks[0], o.tol, &node, &value);
		same_batch(&w, a, b);
		/* the literal path's hit is the first node where the condition holds */
		same_int(&w, "hit (against the first node meeting it)", a->hit, want);
		if (want) {
			same_int(&w, "hit's node (against the first node meeting it)", a->hit_at.node, node);
			same_int(&w, "hit's value (against the first node meeting it)", a->hit_at.value, value);
			printf("# %s: stops at node %d, value '%s'\n", what, node,
			       value < 0 ? "-" : mp_graph_value(g, (size_t)value)->name);
			hits++;
		}
		mp_probe_batch_free(a);
		mp_probe_batch_free(b);
		mp_probe_batch_free(r);
	}
	char what[256];
	snprintf(what, sizeof what, "--break %s, %s on %s", spec, policy, be->iface->name);
	check_paths_taken(what, &lit, &plan, be == gpu, !strncmp(spec, "node=", 5), missed, size);
	path_close(&lit);
	path_close(&plan);
	path_close(&ref);
	mp_probe_options_free(&o);
	mp_probe_options_free(&free_o);
	return hits;
}

static void test_break_parity(void **state)
{
	(void)state;
	struct mp_graph *g = break_model();
	struct break_batch c0, c1, nan3, big3, huge3, c5, nan5;
	char missed[8192] = "";
	break_batch_make(&c0, 3, CLEAN, 1);
	break_batch_make(&c1, 3, CLEAN, 2);
	break_batch_make(&nan3, 3, NAN_ROW, 3);
	break_batch_make(&big3, 3, BIG_ROW, 7);
	break_batch_make(&huge3, 3, HUGE_ROW, 4);
	break_batch_make(&c5, 5, CLEAN, 5);
	break_batch_make(&nan5, 5, NAN_ROW, 6);
	/* the NaN first in the third batch (the planned path has planned the
	 * shape by then), then again after the shape was captured and replayed,
	 * and in a batch of another shape */
	struct break_batch *const seq[] = { &c0, &c1, &nan3, &c0, &c1, &c0, &big3, &huge3, &nan3, &c5, &c5, &c5, &nan5, &c0 };
	size_t nseq = sizeof seq / sizeof seq[0];
	static const char *const policies[] = { "fp32", "bf16-autocast", "fp16-autocast", "bf16" };
	static const char *const specs[] = { "nan", "inf", "overflow", "tol", "node=/log/*" };
	struct mp_backend *bes[] = { cpu, gpu };
	for (size_t k = 0; k < 2 && bes[k]; k++)
		for (size_t p = 0; p < 4; p++)
			for (size_t s = 0; s < 5; s++) {
				size_t hits = breaks_on(g, bes[k], policies[p], specs[s], seq, nseq, missed, sizeof missed);
				/* nan: the three NaN batches; inf, overflow: at least the huge one */
				if (s == 0 && hits != 3)
					fail_msg("--break nan under %s: %zu batches hit, expected 3", policies[p], hits);
				if ((s == 1 || s == 2) && hits < 1)
					fail_msg("--break %s under %s: no batch hit", specs[s], policies[p]);
				if (s == 4 && hits != nseq)
					fail_msg("--break %s under %s: %zu of %zu batches hit", specs[s], policies[p], hits, nseq);
			}
	struct break_batch *all[] = { &c0, &c1, &nan3, &big3, &huge3, &c5, &nan5 };
	for (size_t i = 0; i < 7; i++)
		mp_batch_free(all[i]->b);
	mp_graph_free(g);
	assert_paths_taken(missed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_break_parity),
		cmocka_unit_test(test_handpose_ts),
		cmocka_unit_test(test_handpose_dynamo),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, setup, teardown);
}
