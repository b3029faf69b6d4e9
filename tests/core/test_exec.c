/* test_exec.c - batch sources and the executor: matching inputs, entry
 * casts, shape checks against the model, stepping one node at a time,
 * liveness, the hook, and results against values computed here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend.h"
#include "batch.h"
#include "cmocka_tap.h"
#include "exec.h"
#include "graph.h"
#include "onnxw.h"
#include "safetensors.h"
#include "testutil.h"

static char *dir, *model_path;
static struct mp_graph *graph;
static struct mp_backend *cpu;

/* y = Relu(x * w + b), with a Reshape round trip in the middle:
 * x [batch, 4] and b [batch, 1] float */
static int setup(void **state)
{
	(void)state;
	struct mp_error e = { 0 };
	dir = mp_test_tmpdir();
	struct pbw g = onnx_graph(), vi, n;
	const int64_t xd[] = { -1, 4 }, bd[] = { -1, 1 };
	const char *pa[] = { "batch", NULL };
	vi = onnx_value_info("x", 1, 2, xd, pa);
	onnx_graph_input(&g, &vi);
	vi = onnx_value_info("b", 1, 2, bd, pa);
	onnx_graph_input(&g, &vi);
	vi = onnx_value_info("y", 1, 2, xd, pa);
	onnx_graph_output(&g, &vi);
	float w[4] = { 1, -2, 3, -4 };
	int64_t shp[3] = { 0, 2, 2 }, back[2] = { 0, 4 };
	struct pbw t = onnx_tensor_raw("w", MP_F32, 1, (int64_t[]){ 4 }, w, sizeof w);
	onnx_graph_init(&g, &t);
	t = onnx_tensor_raw("shp", MP_I64, 1, (int64_t[]){ 3 }, shp, sizeof shp);
	onnx_graph_init(&g, &t);
	t = onnx_tensor_raw("back", MP_I64, 1, (int64_t[]){ 2 }, back, sizeof back);
	onnx_graph_init(&g, &t);
	n = onnx_node("Mul", "mul", 2, (const char *[]){ "x", "w" }, 1, (const char *[]){ "xw" }, 0, NULL);
	onnx_graph_node(&g, &n);
	n = onnx_node("Reshape", "r1", 2, (const char *[]){ "xw", "shp" }, 1, (const char *[]){ "r" }, 0, NULL);
	onnx_graph_node(&g, &n);
	n = onnx_node("Reshape", "r2", 2, (const char *[]){ "r", "back" }, 1, (const char *[]){ "xw2" }, 0, NULL);
	onnx_graph_node(&g, &n);
	n = onnx_node("Add", "add", 2, (const char *[]){ "xw2", "b" }, 1, (const char *[]){ "s" }, 0, NULL);
	onnx_graph_node(&g, &n);
	n = onnx_node("Relu", "relu", 1, (const char *[]){ "s" }, 1, (const char *[]){ "y" }, 0, NULL);
	onnx_graph_node(&g, &n);
	struct pbw m = onnx_model(17, &g);
	model_path = mp_test_write(dir, "m.onnx", m.d, m.n);
	pbw_free(&m);
	if (mp_graph_load(model_path, &graph, &e) || mp_backend_cpu_new(1, &cpu, &e)) {
		fprintf(stderr, "%s\n", e.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mp_graph_free(graph);
	mp_backend_free(cpu);
	mp_test_rmtree(dir);
	free(dir);
	free(model_path);
	return 0;
}

static float x3[3][4] = { { 1, 2, 3, 4 }, { -1, -2, -3, -4 }, { 0.5f, 0.25f, 0, 8 } };
static float b3[3] = { 0.5f, 1, -2 };

static float expect_y(int i, int j)
{
	static const float w[4] = { 1, -2, 3, -4 };
	float s = x3[i][j] * w[j] + b3[i];
	return s < 0 ? 0 : s;
}

/* A safetensors batch of x (dtype xt) and b. */
static char *write_batch(const char *name, enum mp_dtype xt, int64_t bbatch, bool with_b)
{
	struct mp_tensor tx, tb;
	uint16_t xh[12];
	mp_tensor_init(&tx, xt, 2, (int64_t[]){ 3, 4 });
	if (xt == MP_BF16) {
		mp_dtype_convert(MP_F32, x3, MP_BF16, xh, 12);
		tx.data = xh;
	} else {
		tx.data = x3;
	}
	mp_tensor_init(&tb, MP_F32, 2, (int64_t[]){ bbatch, 1 });
	tb.data = b3;
	struct mp_st_item items[] = { { "x", &tx }, { "b", &tb } };
	char *p = mp_test_join(dir, name);
	struct mp_error e = { 0 };
	assert_int_equal(mp_st_write(p, items, with_b ? 2 : 1, NULL, 0, &e), MP_OK);
	return p;
}

static struct mp_batch *load_batch(const char *path)
{
	struct mp_batch_source *s;
	struct mp_batch *b;
	struct mp_error e = { 0 };
	assert_int_equal(mp_batch_source_open(path, &s, &e), MP_OK);
	assert_int_equal(mp_batch_load(s, 0, &b, &e), MP_OK);
	mp_batch_source_free(s);
	return b;
}

static void test_run_and_check(void **state)
{
	(void)state;
	char *p = write_batch("ok.safetensors", MP_F32, 3, true);
	struct mp_batch *b = load_batch(p);
	struct mp_exec *x;
	struct mp_error e = { 0 };
	assert_int_equal(mp_exec_new(graph, cpu, cpu, NULL, &x, &e), MP_OK);
	assert_int_equal(mp_exec_begin(x, b, &e), MP_OK);
	assert_int_equal(mp_exec_run(x, &e), MP_OK);
	assert_true(mp_exec_done(x));
	const struct mp_tensor *y = mp_exec_value(x, mp_graph_find_value(graph, "y"));
	assert_non_null(y);
	assert_int_equal(y->ndim, 2);
	assert_true(y->shape[0] == 3 && y->shape[1] == 4);
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 4; j++)
			assert_true(((float *)y->data)[i * 4 + j] == expect_y(i, j));
	/* intermediates are freed after their last reader */
	assert_null(mp_exec_value(x, mp_graph_find_value(graph, "xw")));
	assert_null(mp_exec_value(x, mp_graph_find_value(graph, "s")));
	mp_exec_free(x);
	mp_batch_free(b);
	free(p);
}

struct seen {
	int calls;
	size_t nodes[16];
	int stop_at;
};

static enum mp_status hook(void *user, struct mp_exec *x, size_t node, struct mp_error *e)
{
	struct seen *s = user;
	s->nodes[s->calls++] = node;
	/* the node's outputs are there when the hook looks */
	const struct mp_node *n = mp_graph_node(mp_exec_graph(x), node);
	assert_non_null(mp_exec_value(x, n->outputs[0]));
	if ((int)node == s->stop_at)
		return mp_error_set(e, MP_ERR_INTERRUPTED, "stopped at %s", n->name);
	return MP_OK;
}

static void test_stepping(void **state)
{
	(void)state;
	char *p = write_batch("step.safetensors", MP_F32, 3, true);
	struct mp_batch *b = load_batch(p);
	struct mp_exec *x;
	struct mp_error e = { 0 };
	struct mp_exec_options opt = { .keep_values = true };
	struct seen s = { .stop_at = -1 };
	assert_int_equal(mp_exec_new(graph, cpu, cpu, &opt, &x, &e), MP_OK);
	mp_exec_set_hook(x, hook, &s);
	assert_int_equal(mp_exec_begin(x, b, &e), MP_OK);
	assert_int_equal(mp_exec_position(x), 0);
	assert_int_equal(mp_exec_step(x, &e), MP_OK);
	assert_int_equal(mp_exec_position(x), 1);
	assert_non_null(mp_exec_value(x, mp_graph_find_value(graph, "xw")));
	assert_null(mp_exec_value(x, mp_graph_find_value(graph, "s"))); /* not yet */
	assert_int_equal(mp_exec_run_to(x, 3, &e), MP_OK);
	assert_int_equal(mp_exec_position(x), 4);
	const struct mp_tensor *r = mp_exec_value(x, mp_graph_find_value(graph, "r"));
	assert_non_null(r); /* a view: the Reshape shares xw's bytes */
	assert_int_equal(r->ndim, 3);
	assert_ptr_equal(r->data, mp_exec_value(x, mp_graph_find_value(graph, "xw"))->data);
	assert_int_equal(mp_exec_run(x, &e), MP_OK);
	assert_int_equal(s.calls, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(s.nodes[i], i);
	/* kept: every value stays until the next batch */
	assert_non_null(mp_exec_value(x, mp_graph_find_value(graph, "s")));
	/* rewinding: the same batch again, and a hook that stops the run */
	s = (struct seen){ .stop_at = 2 };
	assert_int_equal(mp_exec_begin(x, b, &e), MP_OK);
	assert_int_equal(mp_exec_run(x, &e), MP_ERR_INTERRUPTED);
	assert_string_equal(e.msg, "stopped at r2");
	assert_int_equal(mp_exec_position(x), 3);
	mp_exec_free(x);
	mp_batch_free(b);
	free(p);
}

static void test_entry_cast(void **state)
{
	(void)state;
	char *p = write_batch("bf16.safetensors", MP_BF16, 3, true);
	struct mp_batch *b = load_batch(p);
	struct mp_exec *x;
	struct mp_error e = { 0 };
	assert_int_equal(mp_exec_new(graph, cpu, cpu, NULL, &x, &e), MP_OK);
	assert_int_equal(mp_exec_begin(x, b, &e), MP_OK);
	assert_int_equal(mp_exec_nevents(x), 1);
	struct mp_dtype_event ev;
	mp_exec_event(x, 0, &ev);
	assert_int_equal(ev.from, MP_BF16);
	assert_int_equal(ev.to, MP_F32);
	assert_int_equal(ev.reason, MP_CAST_ENTRY);
	assert_int_equal(ev.node, -1);
	assert_int_equal(ev.value, mp_graph_input(graph, 0));
	assert_int_equal(mp_exec_run(x, &e), MP_OK);
	const struct mp_tensor *y = mp_exec_value(x, mp_graph_find_value(graph, "y"));
	assert_int_equal(y->dtype, MP_F32);
	mp_exec_free(x);
	mp_batch_free(b);
	free(p);
}

static void expect_begin_error(const char *path, const char *phrase)
{
	struct mp_batch *b = load_batch(path);
	struct mp_exec *x;
	struct mp_error e = { 0 };
	assert_int_equal(mp_exec_new(graph, cpu, cpu, NULL, &x, &e), MP_OK);
	assert_int_equal(mp_exec_begin(x, b, &e), MP_ERR_INPUT);
	if (!strstr(e.msg, phrase) || !strstr(e.msg, path))
		fail_msg("expected '%s' naming %s: %s", phrase, path, e.msg);
	mp_exec_free(x);
	mp_batch_free(b);
}

static void test_bad_batches(void **state)
{
	(void)state;
	char *p = write_batch("nob.safetensors", MP_F32, 3, false);
	expect_begin_error(p, "the batch lacks the graph input 'b'; the model wants 'x', 'b', the batch has 'x'");
	free(p);
	p = write_batch("batchsym.safetensors", MP_F32, 2, true);
	expect_begin_error(p, "tensor 'b' has batch = 2 in dim 0, but an earlier input has batch = 3");
	free(p);
}

static void test_sources(void **state)
{
	(void)state;
	/* a folder of safetensors files: sorted by name, one batch each */
	char *sub = mp_test_join(dir, "batches");
	assert_int_equal(mkdir(sub, 0777), 0);
	const char *names[] = { "b_010.safetensors", "b_002.safetensors", "notes.txt" };
	for (int i = 0; i < 3; i++)
		free(mp_test_write(sub, names[i], "x", 1));
	struct mp_batch_source *s;
	struct mp_error e = { 0 };
	assert_int_equal(mp_batch_source_open(sub, &s, &e), MP_OK);
	assert_int_equal(mp_batch_source_kind(s), MP_BATCH_SAFETENSORS_DIR);
	assert_int_equal(mp_batch_source_count(s), 2);
	assert_string_equal(mp_batch_source_name(s, 0), "b_002");
	assert_string_equal(mp_batch_source_name(s, 1), "b_010");
	struct mp_batch *b = NULL;
	assert_int_equal(mp_batch_load(s, 0, &b, &e), MP_ERR_FORMAT); /* "x" is no safetensors file */
	assert_non_null(strstr(e.msg, "b_002.safetensors"));
	mp_batch_source_free(s);
	/* an empty folder, and one that does not exist */
	char *empty = mp_test_join(dir, "empty");
	assert_int_equal(mkdir(empty, 0777), 0);
	assert_int_equal(mp_batch_source_open(empty, &s, &e), MP_ERR_IO);
	assert_non_null(strstr(e.msg, "no .safetensors files"));
	assert_int_equal(mp_batch_source_open("/nonexistent/batches", &s, &e), MP_ERR_IO);
	free(empty);
	free(sub);
}

/* A node folded at bind time that fails after its outputs were allocated
 * (found by fuzzing: they leaked).  Gather of a weight with a bad index. */
/* Synthetic batches (run --synthetic, the fuzz target): the declared shapes
 * with symbolic dims sized by name, zeros or seeded values, and a cap that
 * names the input. */
static void test_synthetic(void **state)
{
	(void)state;
	struct mp_error e = { 0 };
	struct mp_batch *b = NULL, *b2 = NULL;
	struct mp_batch_source *src = NULL;
	struct mp_synth_dim d = { "batch", 3 };
	struct mp_synth_options o = { .dims = &d, .ndims = 1 };
	assert_int_equal(mp_batch_synthesize(graph, &o, 0, &b, &e), MP_OK);
	assert_int_equal(mp_batch_count(b), 2);
	const struct mp_tensor *x = mp_batch_tensor(b, 0);
	assert_string_equal(mp_batch_tensor_name(b, 0), "x");
	assert_true(x->ndim == 2 && x->shape[0] == 3 && x->shape[1] == 4 && x->dtype == MP_F32);
	for (int i = 0; i < 12; i++)
		assert_true(((const float *)x->data)[i] == 0);
	/* it runs */
	struct mp_exec *ex = NULL;
	assert_int_equal(mp_exec_new(graph, cpu, cpu, NULL, &ex, &e), MP_OK);
	assert_int_equal(mp_exec_begin(ex, b, &e), MP_OK);
	assert_int_equal(mp_exec_run(ex, &e), MP_OK);
	mp_exec_free(ex);
	mp_batch_free(b);
	/* seeded: in [-1, 1), the same twice, another for the next batch */
	o.random = true;
	o.seed = 42;
	assert_int_equal(mp_batch_synthesize(graph, &o, 0, &b, &e), MP_OK);
	assert_int_equal(mp_batch_synthesize(graph, &o, 0, &b2, &e), MP_OK);
	const float *v = mp_batch_tensor(b, 0)->data, *w = mp_batch_tensor(b2, 0)->data;
	assert_memory_equal(v, w, 12 * sizeof *v);
	for (int i = 0; i < 12; i++)
		assert_true(v[i] >= -1 && v[i] < 1);
	mp_batch_free(b2);
	assert_int_equal(mp_batch_synthesize(graph, &o, 1, &b2, &e), MP_OK);
	assert_memory_not_equal(v, mp_batch_tensor(b2, 0)->data, 12 * sizeof *v);
	mp_batch_free(b);
	mp_batch_free(b2);
	/* the cap, naming the input and its shape */
	d.size = 1000;
	o.max_bytes = 4096;
	assert_int_equal(mp_batch_synthesize(graph, &o, 0, &b, &e), MP_ERR_INPUT);
	assert_null(b);
	assert_non_null(strstr(e.msg, "input 'x' of shape [1000, 4] (float32)"));
	/* a dim the model does not name */
	d.name = "seq";
	assert_int_equal(mp_batch_source_synthetic(graph, &o, 1, &src, &e), MP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "no symbolic dim 'seq' (it has 'batch')"));
	d.name = "batch";
	d.size = 2;
	assert_int_equal(mp_batch_source_synthetic(graph, &o, 2, &src, &e), MP_OK);
	assert_int_equal(mp_batch_source_count(src), 2);
	assert_string_equal(mp_batch_source_name(src, 1), "synthetic_1");
	assert_int_equal(mp_batch_load(src, 1, &b, &e), MP_OK);
	assert_int_equal(mp_batch_tensor(b, 1)->shape[0], 2);
	mp_batch_free(b);
	mp_batch_source_free(src);
}

static void test_failed_fold(void **state)
{
	(void)state;
	struct pbw g = onnx_graph(), vi, n;
	vi = onnx_value_info("x", 1, 1, (int64_t[]){ 2 }, NULL);
	onnx_graph_input(&g, &vi);
	vi = onnx_value_info("y", 1, 1, (int64_t[]){ 2 }, NULL);
	onnx_graph_output(&g, &vi);
	float w[3] = { 1, 2, 3 };
	int64_t idx[2] = { 0, 7 };
	struct pbw t = onnx_tensor_raw("w", MP_F32, 1, (int64_t[]){ 3 }, w, sizeof w);
	onnx_graph_init(&g, &t);
	t = onnx_tensor_raw("i", MP_I64, 1, (int64_t[]){ 2 }, idx, sizeof idx);
	onnx_graph_init(&g, &t);
	n = onnx_node("Gather", "pick", 2, (const char *[]){ "w", "i" }, 1, (const char *[]){ "p" }, 0, NULL);
	onnx_graph_node(&g, &n);
	n = onnx_node("Add", "add", 2, (const char *[]){ "x", "p" }, 1, (const char *[]){ "y" }, 0, NULL);
	onnx_graph_node(&g, &n);
	struct pbw m = onnx_model(17, &g);
	char *mp = mp_test_write(dir, "badfold.onnx", m.d, m.n);
	pbw_free(&m);
	struct mp_graph *gr;
	struct mp_exec *x;
	struct mp_batch *b;
	struct mp_error e = { 0 };
	float xv[2] = { 0, 0 };
	struct mp_tensor tx;
	mp_tensor_init(&tx, MP_F32, 1, (int64_t[]){ 2 });
	tx.data = xv;
	assert_int_equal(mp_graph_load(mp, &gr, &e), MP_OK);
	assert_int_equal(mp_exec_new(gr, cpu, cpu, NULL, &x, &e), MP_OK);
	assert_int_equal(mp_batch_from_tensors("b", 1, (const char *[]){ "x" }, &tx, false, &b, &e), MP_OK);
	assert_int_equal(mp_exec_begin(x, b, &e), MP_ERR_INPUT);
	assert_non_null(strstr(e.msg, "node 'pick' (Gather): Gather: indices (input 1) hold 7, out of range for axis 0 of size 3"));
	assert_int_equal(mp_exec_begin(x, b, &e), MP_ERR_INPUT); /* and again: nothing left behind */
	mp_exec_free(x);
	mp_batch_free(b);
	mp_graph_free(gr);
	free(mp);
}

/* The run's memory budget, planned from the batch's shapes before anything
 * runs: xw [3, 4] lives through its two Reshape views until 'add' reads the
 * second, so at 'add' xw and s (48 bytes each) are alive together. */
static void test_memory_budget(void **state)
{
	(void)state;
	char *p = write_batch("budget.safetensors", MP_F32, 3, true);
	struct mp_batch *b = load_batch(p);
	struct mp_error e = { 0 };
	static const struct { size_t limit; enum mp_status st; const char *phrase; } cases[] = {
		{ 96, MP_OK, NULL },
		{ 64, MP_ERR_LIMIT, "activations would take 96 bytes at once (at node 'add' (Add)), more than the "
		                    "run's memory limit of 64 bytes: --max-memory SIZE raises it" },
		{ 40, MP_ERR_LIMIT, "output 'xw' of node 'mul' (Mul) would need 48 bytes, more than the run's memory "
		                    "limit of 40 bytes" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mp_exec_options o = { .max_memory = cases[i].limit };
		struct mp_exec *x;
		assert_int_equal(mp_exec_new(graph, cpu, cpu, &o, &x, &e), MP_OK);
		enum mp_status st = mp_exec_begin(x, b, &e);
		if (st != cases[i].st || (cases[i].phrase && !strstr(e.msg, cases[i].phrase)))
			fail_msg("limit %zu: status %d: %s", cases[i].limit, st, e.msg);
		if (!st)
			assert_int_equal(mp_exec_run(x, &e), MP_OK);
		mp_exec_free(x);
	}
	mp_batch_free(b);
	free(p);
}

/* ---- an observer's window ---- */

enum { CHAIN = 40, WINDOW = 8, WIDTH = 64 };

/* What a GPU kernel queued by `ran` reads at the window's end: the bytes
 * where each watched value was, unchanged by the nodes after it. */
struct window_obs {
	const void *where[CHAIN];
	float want[CHAIN][WIDTH];
	int n, flushes, checked, max_pending, window;
	size_t last_node;
};

static enum mp_status win_ran(void *user, struct mp_exec *x, size_t i, struct mp_error *e)
{
	struct window_obs *w = user;
	(void)e;
	const struct mp_tensor *t = mp_exec_value(x, mp_graph_node(mp_exec_graph(x), i)->outputs[0]);
	assert_non_null(t);
	assert_true(w->n < CHAIN);
	w->where[w->n] = t->data;
	memcpy(w->want[w->n], t->data, sizeof w->want[0]);
	w->n++;
	w->max_pending = w->n > w->max_pending ? w->n : w->max_pending;
	w->last_node = i;
	return MP_OK;
}

static enum mp_status win_flush(void *user, struct mp_exec *x, struct mp_error *e)
{
	struct window_obs *w = user;
	(void)x;
	(void)e;
	if (!((w->last_node + 1) % (size_t)w->window == 0 || w->last_node + 1 == CHAIN))
		fail_msg("flush %d after node %zu (%d pending)", w->flushes, w->last_node, w->n);
	for (int k = 0; k < w->n; k++)
		if (memcmp(w->where[k], w->want[k], sizeof w->want[k]))
			fail_msg("flush %d: value %d of the window was overwritten before the window's end", w->flushes, k);
	w->checked += w->n;
	w->n = 0;
	w->flushes++;
	return MP_OK;
}

/* A chain a[k+1] = a[k] + 1 of CHAIN nodes, run planned (its arena reuses
 * memory two values apart) under an observer reading WINDOW nodes at once:
 * every value stays until its window's flush, which comes after each
 * window's last node; the planned arena is larger for it, never wrong. */
static void test_observer_window(void **state)
{
	(void)state;
	struct mp_error e = { 0 };
	struct pbw g = onnx_graph(), vi, n;
	const int64_t xd[] = { 1, WIDTH };
	vi = onnx_value_info("a0", 1, 2, xd, NULL);
	onnx_graph_input(&g, &vi);
	char out[16];
	snprintf(out, sizeof out, "a%d", CHAIN);
	vi = onnx_value_info(out, 1, 2, xd, NULL);
	onnx_graph_output(&g, &vi);
	float one = 1;
	struct pbw t = onnx_tensor_raw("one", MP_F32, 1, (int64_t[]){ 1 }, &one, sizeof one);
	onnx_graph_init(&g, &t);
	for (int k = 0; k < CHAIN; k++) {
		char a[16], b[16], nm[16];
		snprintf(a, sizeof a, "a%d", k);
		snprintf(b, sizeof b, "a%d", k + 1);
		snprintf(nm, sizeof nm, "add%d", k);
		n = onnx_node("Add", nm, 2, (const char *[]){ a, "one" }, 1, (const char *[]){ b }, 0, NULL);
		onnx_graph_node(&g, &n);
	}
	struct pbw m = onnx_model(17, &g);
	char *mp = mp_test_write(dir, "chain.onnx", m.d, m.n);
	pbw_free(&m);
	struct mp_graph *cg;
	assert_int_equal(mp_graph_load(mp, &cg, &e), MP_OK);
	float x[WIDTH];
	for (int j = 0; j < WIDTH; j++)
		x[j] = (float)j;
	struct mp_tensor tx;
	mp_tensor_init(&tx, MP_F32, 2, (int64_t[]){ 1, WIDTH });
	tx.data = x;
	struct mp_st_item item = { "a0", &tx };
	char *bp = mp_test_join(dir, "chain.safetensors");
	assert_int_equal(mp_st_write(bp, &item, 1, NULL, 0, &e), MP_OK);
	struct mp_batch *b = load_batch(bp);

	struct window_obs w;
	memset(&w, 0, sizeof w);
	w.window = WINDOW;
	struct mp_exec_observer o = { NULL, NULL, win_ran, &w, WINDOW, win_flush };
	struct mp_exec *ex;
	assert_int_equal(mp_exec_new(cg, cpu, cpu, NULL, &ex, &e), MP_OK);
	mp_exec_set_observer(ex, &o);
	for (int run = 0; run < 3; run++) {
		assert_int_equal(mp_exec_begin(ex, b, &e), MP_OK);
		assert_int_equal(mp_exec_run(ex, &e), MP_OK);
		const struct mp_tensor *y = mp_exec_value(ex, mp_graph_output(cg, 0));
		for (int j = 0; j < WIDTH; j++)
			assert_true(((const float *)y->data)[j] == (float)(j + CHAIN));
		/* and every value the windows kept is gone by the end (a value
		 * left over would keep a run from being captured as a graph) */
		for (int k = 1; k < CHAIN; k++) {
			char nm[16];
			snprintf(nm, sizeof nm, "a%d", k);
			int32_t id = mp_graph_find_value(cg, nm);
			assert_true(id >= 0);
			if (mp_exec_value(ex, id))
				fail_msg("run %d: value %s is still there after the run", run, nm);
		}
	}
	struct mp_exec_stats xs;
	mp_exec_get_stats(ex, &xs);
	assert_true(xs.planned_runs >= 1);
	assert_int_equal(w.flushes, 3 * ((CHAIN + WINDOW - 1) / WINDOW));
	assert_int_equal(w.checked, 3 * CHAIN);
	assert_int_equal(w.max_pending, WINDOW);
	/* a window of one: the arena takes two values again */
	size_t wide = xs.arena_bytes;
	o.window = w.window = 1;
	mp_exec_set_observer(ex, &o);
	for (int run = 0; run < 3; run++) {
		assert_int_equal(mp_exec_begin(ex, b, &e), MP_OK);
		assert_int_equal(mp_exec_run(ex, &e), MP_OK);
	}
	mp_exec_get_stats(ex, &xs);
	if (!(xs.arena_bytes < wide))
		fail_msg("arena of a window of 1: %zu bytes, of %d: %zu", xs.arena_bytes, WINDOW, wide);
	mp_exec_free(ex);
	mp_batch_free(b);
	mp_graph_free(cg);
	free(bp);
	free(mp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_and_check),
		cmocka_unit_test(test_stepping),
		cmocka_unit_test(test_entry_cast),
		cmocka_unit_test(test_bad_batches),
		cmocka_unit_test(test_sources),
		cmocka_unit_test(test_failed_fold),
		cmocka_unit_test(test_synthetic),
		cmocka_unit_test(test_memory_budget),
		cmocka_unit_test(test_observer_window),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, setup, teardown);
}
