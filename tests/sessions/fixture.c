/* fixture.c - what the session tests share: a three-node model on the CPU,
 * a recorder that runs batches through it with probes into a session file,
 * and SQLite helpers to look into the file. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "batch.h"
#include "cmocka_tap.h"
#include "exec.h"
#include "fixture.h"
#include "graph.h"
#include "onnxw.h"
#include "probes.h"
#include "session.h"
#include "testutil.h"

char *dir;
struct mp_backend *cpu;
struct mp_graph *graph;
char *model_path;

/* y = Softmax(x W) [batch, 8], z = Relu(x) */
int setup(void **state)
{
	(void)state;
	struct mp_error e = { 0 };
	if (!(dir = mp_test_tmpdir()) || mp_backend_cpu_new(1, &cpu, &e))
		return -1;
	struct pbw g = onnx_graph(), vi, n;
	const int64_t xd[] = { -1, 8 }, wd[] = { 8, 8 };
	const char *pa[] = { "batch", NULL };
	float w[64];
	for (int i = 0; i < 64; i++)
		w[i] = (float)((i * 37 % 17) - 8) / 8.0f;
	vi = onnx_value_info("x", MP_F32, 2, xd, pa);
	onnx_graph_input(&g, &vi);
	vi = onnx_value_info("y", MP_F32, 2, xd, pa);
	onnx_graph_output(&g, &vi);
	vi = onnx_value_info("z", MP_F32, 2, xd, pa);
	onnx_graph_output(&g, &vi);
	struct pbw t = onnx_tensor_raw("W", MP_F32, 2, wd, w, sizeof w);
	onnx_graph_init(&g, &t);
	n = onnx_node("MatMul", "/fc/MatMul", 2, (const char *[]){ "x", "W" }, 1, (const char *[]){ "h" }, 0, NULL);
	onnx_graph_node(&g, &n);
	n = onnx_node("Softmax", "/out/Softmax", 1, (const char *[]){ "h" }, 1, (const char *[]){ "y" }, 0, NULL);
	onnx_graph_node(&g, &n);
	n = onnx_node("Relu", "/act/Relu", 1, (const char *[]){ "x" }, 1, (const char *[]){ "z" }, 0, NULL);
	onnx_graph_node(&g, &n);
	struct pbw m = onnx_model(17, &g);
	model_path = mp_test_write(dir, "m.onnx", m.d, m.n);
	pbw_free(&m);
	if (mp_graph_load(model_path, &graph, &e)) {
		fprintf(stderr, "%s\n", e.msg);
		return -1;
	}
	return 0;
}

int teardown(void **state)
{
	(void)state;
	mp_graph_free(graph);
	mp_backend_free(cpu);
	mp_test_rmtree(dir);
	free(dir);
	free(model_path);
	return 0;
}

/* A batch of `rows` x 8 values, from a seed. */
static void batch_values(float *v, int rows, unsigned seed)
{
	for (int i = 0; i < rows * 8; i++) {
		seed = seed * 1103515245u + 12345u;
		v[i] = (float)((int)(seed >> 16) % 2000 - 1000) / 250.0f;
	}
}

void recorder_open(struct recorder *r, const char *path, bool compare)
{
	struct mp_error e = { 0 };
	struct mp_probe_options o;
	memset(r, 0, sizeof *r);
	assert_int_equal(mp_policy_set_base(&r->pol, "bf16-autocast", &e), MP_OK);
	mp_probe_options_init(&o);
	o.compare = compare;
	struct mp_exec_options xo = { .policy = &r->pol };
	char *argv[] = { "mpdbg", "run", "test" };
	struct mp_session_info info = { model_path, graph, &r->pol, compare, o.tol, "cpu", "test CPU", 3, argv };
	assert_int_equal(mp_exec_new(graph, cpu, cpu, &xo, &r->x, &e), MP_OK);
	assert_int_equal(mp_probes_new(graph, cpu, cpu, &r->pol, &o, &r->p, &e), MP_OK);
	mp_probes_attach(r->p, r->x, NULL, NULL);
	if (mp_session_create(path, &info, &r->w, &e))
		fail_msg("%s", e.msg);
	mp_probe_options_free(&o);
}

/* Runs batch i (rows x 8) and hands it to the writer; returns the probe
 * results' copy of the first record's stats for checking, if asked. */
void record_batch(struct recorder *r, size_t i, int rows, struct mp_stats_acc *y_stats, float *y_out)
{
	struct mp_error e = { 0 };
	float v[64 * 8];
	struct mp_tensor t;
	struct mp_batch *b;
	int64_t shape[2] = { rows, 8 };
	batch_values(v, rows, (unsigned)i * 7919u + 1);
	mp_tensor_init(&t, MP_F32, 2, shape);
	t.data = v;
	assert_int_equal(mp_batch_from_tensors("mem", 1, (const char *[]){ "x" }, &t, false, &b, &e), MP_OK);
	assert_int_equal(mp_exec_begin(r->x, b, &e), MP_OK);
	assert_int_equal(mp_probes_begin(r->p, r->x, b, i, &e), MP_OK);
	assert_int_equal(mp_exec_run(r->x, &e), MP_OK);
	struct mp_session_batch *sb = calloc(1, sizeof *sb);
	assert_non_null(sb);
	assert_int_equal(mp_probes_end(r->p, &sb->probes, &e), MP_OK);
	if (y_stats)
		*y_stats = mp_probe_batch_find(sb->probes, mp_graph_find_value(graph, "y"))->stats;
	if (y_out) {
		const struct mp_tensor *y = mp_exec_value(r->x, mp_graph_find_value(graph, "y"));
		mp_dtype_convert(y->dtype, y->data, MP_F32, y_out, (size_t)mp_tensor_numel(y));
	}
	sb->index = i;
	sb->source = strdup("in memory");
	sb->ms = 1.5;
	sb->nevents = mp_exec_nevents(r->x);
	sb->events = calloc(sb->nevents + 1, sizeof *sb->events);
	for (size_t k = 0; k < sb->nevents; k++)
		mp_exec_event(r->x, k, &sb->events[k]);
	if (i == 0)
		assert_int_equal(mp_session_set_graph(r->w, r->x, &e), MP_OK);
	assert_int_equal(mp_session_submit(r->w, sb, &e), MP_OK);
	mp_batch_free(b);
}

void recorder_close(struct recorder *r, enum mp_status status)
{
	struct mp_error e = { 0 };
	if (r->w)
		assert_int_equal(mp_session_finish(r->w, status, status ? "stopped on purpose" : NULL, &e), MP_OK);
	mp_probes_free(r->p);
	mp_exec_free(r->x);
	mp_policy_free(&r->pol);
}

sqlite3 *open_db(const char *path)
{
	sqlite3 *db;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		fail_msg("%s: %s", path, sqlite3_errmsg(db));
	return db;
}

sqlite3_int64 query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	sqlite3_int64 v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

char *query_text(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	char *v = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
		v = strdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return v;
}

char *small_session(const char *name)
{
	char *path = mp_test_join(dir, name);
	struct recorder r;
	recorder_open(&r, path, true);
	record_batch(&r, 0, 3, NULL, NULL);
	recorder_close(&r, MP_OK);
	return path;
}

void db_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}
