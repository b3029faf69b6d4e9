/* test_sessions.c - session files: what a recording holds, read back with
 * SQLite itself (the schema, the run, statistics and captures equal to the
 * probes' and the run's own); a recording killed with SIGKILL, 20 times at
 * random points, leaves a file that opens, passes integrity_check and holds
 * every batch committed before the kill, each whole; exports (JSON that
 * parses to the documented shape, CSV with a row per batch x value); bad
 * and hostile files get clear errors; sessions are never overwritten.
 * Hostile sessions (issue 13): captures whose dtype, shape or length lie,
 * a 500 MB capture blob, control characters in every string, module paths
 * thousands of levels deep, schema version -1, a stale -wal beside a new
 * name: each refused or escaped, naming the file. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "batch.h"
#include "cmocka_tap.h"
#include "exec.h"
#include "fixture.h"
#include "graph.h"
#include "probes.h"
#include "session.h"
#include "testutil.h"
#include "text.h"
#include "view.h"

static void test_recording(void **state)
{
	(void)state;
	char *path = mp_test_join(dir, "rec.db");
	struct recorder r;
	struct mp_stats_acc ys[3];
	float yv[3][5 * 8];
	recorder_open(&r, path, true);
	for (size_t i = 0; i < 3; i++)
		record_batch(&r, i, 5, &ys[i], yv[i]);
	recorder_close(&r, MP_OK);

	sqlite3 *db = open_db(path);
	assert_int_equal(query_int(db, "PRAGMA user_version"), MP_SESSION_SCHEMA);
	char *t = query_text(db, "PRAGMA journal_mode");
	assert_string_equal(t, "wal");
	free(t);
	t = query_text(db, "SELECT status || ' ' || policy || ' ' || low_dtype || ' ' || compare FROM run");
	assert_string_equal(t, "done bf16-autocast bfloat16 fp32");
	free(t);
	t = query_text(db, "SELECT argv FROM run");
	assert_string_equal(t, "[\"mpdbg\",\"run\",\"test\"]");
	free(t);
	t = query_text(db, "SELECT model_sha256 FROM run");
	assert_int_equal(strlen(t), 64);
	free(t);
	assert_int_equal(query_int(db, "SELECT COUNT(*) FROM nodes"), 3);
	assert_int_equal(query_int(db, "SELECT COUNT(*) FROM batches"), 3);
	/* x, h, y, z per batch */
	assert_int_equal(query_int(db, "SELECT COUNT(*) FROM stats"), 3 * 4);
	assert_int_equal(query_int(db, "SELECT COUNT(*) FROM comparisons"), 3 * 3);
	assert_int_equal(query_int(db, "SELECT COUNT(*) FROM captures"), 3 * 2); /* the outputs */
	assert_int_equal(query_int(db, "SELECT COUNT(*) FROM dtype_events WHERE reason = 'autocast'"), 3 * 3); /* x, W; h to fp32 */
	t = query_text(db, "SELECT exec_dtype FROM nodes WHERE name = '/fc/MatMul'");
	assert_string_equal(t, "bfloat16");
	free(t);

	/* the rows are the probes' numbers; the captures are the run's bytes */
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT s.batch, s.count, s.min, s.max, s.mean, s.std, s.hist, c.data, s.dtype"
	                                    " FROM stats s JOIN graph_values v ON v.id = s.value"
	                                    " JOIN captures c ON c.batch = s.batch AND c.value = s.value"
	                                    " WHERE v.name = 'y' ORDER BY s.batch", -1, &s, NULL), SQLITE_OK);
	int rows = 0;
	while (sqlite3_step(s) == SQLITE_ROW) {
		int bi = sqlite3_column_int(s, 0);
		const struct mp_stats_acc *a = &ys[bi];
		assert_int_equal(sqlite3_column_int64(s, 1), a->count);
		assert_true(sqlite3_column_double(s, 2) == a->min);
		assert_true(sqlite3_column_double(s, 3) == a->max);
		assert_true(sqlite3_column_double(s, 4) == a->mean);
		assert_true(sqlite3_column_double(s, 5) == mp_stats_std(a));
		uint64_t h[MP_HIST_BINS];
		struct mp_error e = { 0 };
		assert_int_equal(mp_hist_decode(sqlite3_column_blob(s, 6), (size_t)sqlite3_column_bytes(s, 6), h, &e), MP_OK);
		assert_memory_equal(h, a->hist, sizeof h);
		/* y is bf16 under autocast (Softmax is fp32-listed: f32) */
		const char *dt = (const char *)sqlite3_column_text(s, 8);
		enum mp_dtype yt = mp_dtype_from_name(dt);
		assert_int_equal(sqlite3_column_bytes(s, 7), 5 * 8 * (int)mp_dtype_size(yt));
		float back[40];
		mp_dtype_convert(yt, sqlite3_column_blob(s, 7), MP_F32, back, 40);
		assert_memory_equal(back, yv[bi], sizeof back);
		rows++;
	}
	sqlite3_finalize(s);
	assert_int_equal(rows, 3);
	sqlite3_close(db);

	/* the TUI's view reads back the same numbers */
	struct mp_view *v;
	struct mp_error ve = { 0 };
	assert_int_equal(mp_view_open(path, &v, &ve), MP_OK);
	assert_int_equal(v->nnodes, 3);
	assert_int_equal(v->nbatches, 3);
	assert_string_equal(v->policy, "bf16-autocast");
	assert_true(v->compare);
	int32_t yid = -1;
	for (size_t i = 0; i < v->nvalues; i++)
		if (!strcmp(v->values[i].name, "y"))
			yid = (int32_t)i;
	assert_true(yid >= 0 && v->values[yid].is_output && v->values[yid].producer >= 0);
	double fig[3];
	assert_int_equal(mp_view_figure(v, MP_FIG_NONFINITE, fig, &ve), MP_OK);
	for (size_t bi = 0; bi < 3; bi++) {
		struct mp_view_batch *vb;
		assert_int_equal(mp_view_load_batch(v, bi, &vb, &ve), MP_OK);
		const struct mp_view_stat *st = &vb->stats[yid];
		assert_true(st->present && st->has_hist && st->has_cmp);
		assert_int_equal(st->count, ys[bi].count);
		assert_true(st->min == ys[bi].min && st->max == ys[bi].max && st->mean == ys[bi].mean);
		assert_true(st->std == mp_stats_std(&ys[bi]));
		assert_memory_equal(st->hist, ys[bi].hist, sizeof st->hist);
		assert_true(fig[bi] == 0);
		size_t autocast = 0;
		for (size_t k = 0; k < vb->nevents; k++)
			autocast += !strcmp(vb->events[k].reason, "autocast");
		assert_int_equal(autocast, 3);
		assert_string_equal(vb->status, "done");
		mp_view_batch_free(vb);
	}
	assert_int_equal(mp_view_load_batch(v, 3, &(struct mp_view_batch *){ NULL }, &ve), MP_ERR_USAGE);
	/* the module tree: the model, then fc (the MatMul's) */
	int32_t mm = -1;
	for (size_t i = 0; i < v->nnodes; i++)
		if (!strcmp(v->nodes[i].name, "/fc/MatMul"))
			mm = (int32_t)i;
	assert_true(mm >= 0);
	assert_true(v->modules[v->nodes[mm].module_id].first_node <= mm);
	mp_view_free(v);

	/* never overwritten */
	struct recorder r2;
	struct mp_error e = { 0 };
	struct mp_session_writer *w;
	struct mp_session_info info = { model_path, graph, &r2.pol, false, 0, "cpu", "x", 0, NULL };
	memset(&r2, 0, sizeof r2);
	assert_int_equal(mp_session_create(path, &info, &w, &e), MP_ERR_IO);
	assert_non_null(strstr(e.msg, "sessions are not overwritten"));
	free(path);
}

/* ---- SIGKILL ---- */

/* In a child: records batches until killed, telling the parent through fd
 * how many batches are committed. */
static void child_record(const char *path, int fd)
{
	struct recorder r;
	size_t last = 0;
	recorder_open(&r, path, false);
	for (size_t i = 0;; i++) {
		record_batch(&r, i, 1 + (int)(i % 7), NULL, NULL);
		size_t c = mp_session_committed(r.w);
		if (c != last) {
			last = c;
			if (write(fd, &c, sizeof c) != sizeof c)
				_exit(3);
		}
	}
}

/* One trial: state points at its number, which picks when to kill. */
static void test_sigkill(void **state)
{
	int trial = *(const int *)*state;
	{
		char name[64];
		snprintf(name, sizeof name, "killed_%02d.db", trial);
		char *path = mp_test_join(dir, name);
		int fds[2];
		assert_int_equal(pipe(fds), 0);
		fflush(NULL);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			child_record(path, fds[1]);
			_exit(0);
		}
		close(fds[1]);
		/* kill it once it has committed 1..40 batches, at random */
		size_t target = 1 + (size_t)((trial * 7919 + 13) % 40), seen = 0, c;
		while (seen < target && read(fds[0], &c, sizeof c) == sizeof c)
			seen = c;
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		close(fds[0]);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		assert_true(seen >= target);

		/* it opens, it is whole, it holds what was committed */
		sqlite3 *db;
		assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
		char *ic = query_text(db, "PRAGMA integrity_check");
		assert_string_equal(ic, "ok");
		free(ic);
		sqlite3_int64 nb = query_int(db, "SELECT COUNT(*) FROM batches");
		assert_true(nb >= (sqlite3_int64)seen);
		/* each batch whole: 4 values with statistics, 2 outputs captured */
		assert_int_equal(query_int(db, "SELECT COUNT(*) FROM (SELECT batch FROM stats GROUP BY batch HAVING COUNT(*) = 4)"), nb);
		assert_int_equal(query_int(db, "SELECT COUNT(*) FROM captures"), 2 * nb);
		assert_int_equal(query_int(db, "SELECT MAX(idx) + 1 FROM batches"), nb);
		sqlite3_close(db);
		/* and mpdbg reads it: a run that never finished */
		struct mp_session *s;
		struct mp_error e = { 0 };
		assert_int_equal(mp_session_open(path, &s, &e), MP_OK);
		FILE *devnull = fopen("/dev/null", "w");
		assert_int_equal(mp_session_report(s, devnull, false, &e), MP_OK);
		assert_int_equal(mp_session_export_json(s, devnull, &e), MP_OK);
		fclose(devnull);
		mp_session_close(s);
		printf("# trial %d: killed after %zu committed batches; the file holds %lld\n", trial, seen, (long long)nb);
		free(path);
	}
}

/* ---- exports ---- */

static void test_exports(void **state)
{
	(void)state;
	char *path = mp_test_join(dir, "export.db"), *jp = mp_test_join(dir, "e.json"), *cp = mp_test_join(dir, "e.csv");
	struct recorder r;
	recorder_open(&r, path, true);
	for (size_t i = 0; i < 2; i++)
		record_batch(&r, i, 4, NULL, NULL);
	recorder_close(&r, MP_OK);

	struct mp_session *s;
	struct mp_error e = { 0 };
	assert_int_equal(mp_session_open(path, &s, &e), MP_OK);
	FILE *f = fopen(jp, "w");
	assert_int_equal(mp_session_export_json(s, f, &e), MP_OK);
	fclose(f);
	f = fopen(cp, "w");
	assert_int_equal(mp_session_export_csv(s, f, &e), MP_OK);
	fclose(f);
	mp_session_close(s);

	json_error_t je;
	json_t *root = json_load_file(jp, 0, &je);
	if (!root)
		fail_msg("export is not JSON: %s (line %d)", je.text, je.line);
	assert_int_equal(json_integer_value(json_object_get(root, "schema")), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(root, "run"), "policy")), "bf16-autocast");
	json_t *nodes = json_object_get(root, "nodes");
	assert_int_equal(json_array_size(nodes), 3);
	static const char *const node_keys[] = { "index", "name", "op", "module", "exec_dtype", "inputs", "outputs" };
	for (int k = 0; k < 7; k++)
		assert_non_null(json_object_get(json_array_get(nodes, 0), node_keys[k]));
	json_t *ev = json_array_get(json_object_get(root, "dtype_events"), 0);
	static const char *const ev_keys[] = { "batch", "node", "slot", "from", "to", "reason" };
	for (int k = 0; k < 6; k++)
		assert_non_null(json_object_get(ev, ev_keys[k]));
	json_t *batches = json_object_get(root, "batches");
	assert_int_equal(json_array_size(batches), 2);
	json_t *ys = json_object_get(json_object_get(json_array_get(batches, 1), "stats"), "y");
	static const char *const st_keys[] = { "dtype", "shape", "count", "min", "max", "mean", "std", "absmax",
		                               "zeros", "nan", "posinf", "neginf", "overflow", "underflow" };
	for (int k = 0; k < 14; k++)
		if (!json_object_get(ys, st_keys[k]))
			fail_msg("stats.y lacks '%s'", st_keys[k]);
	assert_int_equal(json_integer_value(json_object_get(ys, "count")), 32);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(ys, "overflow"), "bfloat16")), 0);
	assert_null(json_object_get(json_object_get(ys, "overflow"), "float16")); /* a bf16 run speaks of bf16 */
	json_t *yc = json_object_get(json_object_get(json_array_get(batches, 0), "compare"), "h");
	static const char *const cmp_keys[] = { "max_abs", "rel_l2", "cosine", "sqnr_db", "own_rel_l2" };
	for (int k = 0; k < 5; k++)
		if (!json_object_get(yc, cmp_keys[k]))
			fail_msg("compare.h lacks '%s'", cmp_keys[k]);
	assert_true(json_real_value(json_object_get(yc, "rel_l2")) > 0);
	json_decref(root);

	/* CSV: a header and a row per batch x value, every row as wide */
	f = fopen(cp, "r");
	char line[8192];
	int rows = 0, cols0 = -1;
	while (fgets(line, sizeof line, f)) {
		int cols = 1;
		bool quoted = false;
		for (char *p = line; *p; p++) { /* RFC 4180: commas inside quotes are data */
			if (*p == '"')
				quoted = !quoted;
			cols += *p == ',' && !quoted;
		}
		if (cols0 < 0)
			cols0 = cols;
		assert_int_equal(cols, cols0);
		assert_non_null(strstr(line, "\r\n"));
		rows++;
	}
	fclose(f);
	assert_int_equal(rows, 1 + 2 * 4);
	free(path);
	free(jp);
	free(cp);
}

/* ---- bad files ---- */

static void expect_open_error(const char *path, enum mp_status st, const char *phrase)
{
	struct mp_session *s = NULL;
	struct mp_error e = { 0 };
	assert_int_equal(mp_session_open(path, &s, &e), st);
	if (!strstr(e.msg, phrase) || !strstr(e.msg, path))
		fail_msg("opening %s: '%s' lacks '%s' or the path", path, e.msg, phrase);
}

static void test_bad_files(void **state)
{
	(void)state;
	char *missing = mp_test_join(dir, "missing.db");
	expect_open_error(missing, MP_ERR_IO, "No such file");
	expect_open_error(dir, MP_ERR_IO, "not a file");
	char *junk = mp_test_write(dir, "junk.db", "this is not a database, not at all, really not", 47);
	expect_open_error(junk, MP_ERR_FORMAT, "not an mpdbg session");
	/* an SQLite file of someone else's */
	char *other = mp_test_join(dir, "other.db");
	sqlite3 *db;
	assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
	sqlite3_exec(db, "CREATE TABLE t (a)", NULL, NULL, NULL);
	sqlite3_close(db);
	expect_open_error(other, MP_ERR_FORMAT, "not an mpdbg session");
	/* from a newer mpdbg */
	char *newer = mp_test_join(dir, "newer.db");
	struct recorder r;
	recorder_open(&r, newer, false);
	record_batch(&r, 0, 2, NULL, NULL);
	recorder_close(&r, MP_OK);
	assert_int_equal(sqlite3_open(newer, &db), SQLITE_OK);
	sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
	sqlite3_close(db);
	expect_open_error(newer, MP_ERR_UNSUPPORTED, "newer mpdbg");
	struct mp_view *v = NULL;
	struct mp_error ve = { 0 };
	assert_int_not_equal(mp_view_open(junk, &v, &ve), MP_OK);
	assert_non_null(strstr(ve.msg, junk));
	assert_int_not_equal(mp_view_open(other, &v, &ve), MP_OK);
	assert_non_null(strstr(ve.msg, other));

	/* hostile contents in a valid schema: exports and reports cope */
	char *hostile = mp_test_join(dir, "hostile.db");
	recorder_open(&r, hostile, true);
	record_batch(&r, 0, 3, NULL, NULL);
	recorder_close(&r, MP_OK);
	assert_int_equal(sqlite3_open(hostile, &db), SQLITE_OK);
	sqlite3_exec(db, "UPDATE stats SET hist = x'01ffff0300', shape = 'not json', min = 'text', count = NULL;"
	                 "UPDATE nodes SET inputs = '[[[', name = NULL; UPDATE run SET overrides = 42, low_dtype = NULL;"
	                 "UPDATE comparisons SET rel_l2 = 'x'", NULL, NULL, NULL);
	sqlite3_close(db);
	struct mp_session *s;
	struct mp_error e = { 0 };
	assert_int_equal(mp_session_open(hostile, &s, &e), MP_OK);
	FILE *devnull = fopen("/dev/null", "w");
	mp_session_export_json(s, devnull, &e);
	mp_session_export_csv(s, devnull, &e);
	mp_session_report(s, devnull, false, &e);
	mp_session_report(s, devnull, true, &e);
	fclose(devnull);
	mp_session_close(s);
	/* the view reads what it can of it */
	assert_int_equal(mp_view_open(hostile, &v, &ve), MP_OK);
	struct mp_view_batch *hb = NULL;
	assert_int_equal(mp_view_load_batch(v, 0, &hb, &ve), MP_OK);
	mp_view_batch_free(hb);
	mp_view_free(v);
	/* and refuses what it cannot make sense of, naming the file */
	assert_int_equal(sqlite3_open(hostile, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE nodes SET inputs = '[[['", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_not_equal(mp_view_open(hostile, &v, &ve), MP_OK);
	assert_non_null(strstr(ve.msg, hostile));
	/* out-of-range ids and damaged stats: opened, read, nothing out of bounds */
	char *odd = mp_test_join(dir, "odd.db");
	recorder_open(&r, odd, true);
	record_batch(&r, 0, 3, NULL, NULL);
	recorder_close(&r, MP_OK);
	assert_int_equal(sqlite3_open(odd, &db), SQLITE_OK);
	sqlite3_exec(db, "UPDATE stats SET hist = x'01ffff0300', shape = 'not json', min = 'text';"
	                 "UPDATE dtype_events SET node = 99999, value = -7; UPDATE graph_values SET producer = 12345;"
	                 "INSERT INTO stats (batch, value, dtype, shape, count, finite, nan, posinf, neginf, zeros,"
	                 " overflow_bf16, overflow_f16, underflow_bf16, underflow_f16, flush_bf16, flush_f16)"
	                 " VALUES (0, 4242, 'float32', '[]', 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)", NULL, NULL, NULL);
	sqlite3_close(db);
	if (mp_view_open(odd, &v, &ve) == MP_OK) {
		struct mp_view_batch *vb = NULL;
		double fig[1];
		if (mp_view_load_batch(v, 0, &vb, &ve) == MP_OK)
			for (size_t k = 0; k < vb->nevents; k++)
				assert_true(vb->events[k].node < (int32_t)v->nnodes);
		mp_view_figure(v, MP_FIG_OUTPUT_DIVERSITY, fig, &ve);
		mp_view_batch_free(vb);
		mp_view_free(v);
	} else {
		assert_non_null(strstr(ve.msg, odd));
	}
	free(odd);

	/* truncated: half a file */
	FILE *in = fopen(hostile, "rb");
	fseek(in, 0, SEEK_END);
	long n = ftell(in);
	fseek(in, 0, SEEK_SET);
	char *bytes = malloc((size_t)n);
	assert_int_equal(fread(bytes, 1, (size_t)n, in), (size_t)n);
	fclose(in);
	char *half = mp_test_write(dir, "half.db", bytes, (size_t)n / 2);
	free(bytes);
	if (mp_view_open(half, &v, &ve) == MP_OK) {
		struct mp_view_batch *vb = NULL;
		if (v->nbatches && mp_view_load_batch(v, 0, &vb, &ve) == MP_OK)
			mp_view_batch_free(vb);
		mp_view_free(v);
	} else {
		assert_non_null(strstr(ve.msg, half));
	}
	if (mp_session_open(half, &s, &e) == MP_OK) { /* what opens must still fail cleanly, not crash */
		devnull = fopen("/dev/null", "w");
		enum mp_status st = mp_session_export_json(s, devnull, &e);
		if (st)
			assert_non_null(strstr(e.msg, half));
		fclose(devnull);
		mp_session_close(s);
	} else {
		assert_non_null(strstr(e.msg, half));
	}
	free(missing);
	free(junk);
	free(other);
	free(newer);
	free(hostile);
	free(half);
}

static void test_hist_blob(void **state)
{
	(void)state;
	uint64_t h[MP_HIST_BINS] = { 0 }, back[MP_HIST_BINS];
	unsigned char blob[5 + MP_HIST_BINS * 10];
	struct mp_error e = { 0 };
	size_t n = mp_hist_encode(h, blob, sizeof blob);
	assert_int_equal(mp_hist_decode(blob, n, back, &e), MP_OK); /* empty */
	assert_memory_equal(h, back, sizeof h);
	h[MP_HIST_ZERO] = 5;
	h[130] = 1ull << 40;
	h[MP_HIST_NAN] = 127;
	n = mp_hist_encode(h, blob, sizeof blob);
	assert_int_equal(mp_hist_decode(blob, n, back, &e), MP_OK);
	assert_memory_equal(h, back, sizeof h);
	assert_int_equal(mp_hist_decode(blob, n - 1, back, &e), MP_ERR_FORMAT);
	blob[0] = 2;
	assert_int_equal(mp_hist_decode(blob, n, back, &e), MP_ERR_FORMAT);
	unsigned char wide[5] = { 1, 0xFF, 0, 0x10, 0 }; /* bins 255..271 */
	assert_int_equal(mp_hist_decode(wide, 5, back, &e), MP_ERR_FORMAT);
}

/* ---- hostile sessions (issue 13) ---- */

/* A one-batch session of 3 rows (graph outputs y and z captured). */
/* The capture of y after `sql`: refused as damaged, naming the file and why. */
static void expect_capture_refused(const char *path, const char *sql, const char *why)
{
	struct mp_view *v = NULL;
	struct mp_tensor t;
	struct mp_error e = { 0 };
	db_exec(path, sql);
	assert_int_equal(mp_view_open(path, &v, &e), MP_OK);
	enum mp_status st = mp_view_capture(v, 0, "y", &t, &e);
	if (st != MP_ERR_FORMAT)
		fail_msg("after %s: status %d, not a damaged capture (%s)", sql, st, e.msg);
	if (!strstr(e.msg, path) || !strstr(e.msg, "damaged") || !strstr(e.msg, why))
		fail_msg("after %s: '%s' lacks the path, 'damaged' or '%s'", sql, e.msg, why);
	assert_null(t.buf);
	mp_view_free(v);
}

static void test_hostile_captures(void **state)
{
	(void)state;
	char *path = small_session("captures.db");
	struct mp_view *v = NULL;
	struct mp_tensor t;
	struct mp_error e = { 0 };
	/* the real one reads */
	assert_int_equal(mp_view_open(path, &v, &e), MP_OK);
	assert_int_equal(mp_view_capture(v, 0, "y", &t, &e), MP_OK);
	assert_int_equal(t.ndim, 2);
	assert_int_equal(t.shape[0], 3);
	assert_int_equal(t.shape[1], 8);
	mp_tensor_reset(&t);
	assert_int_equal(mp_view_capture(v, 0, "nope", &t, &e), MP_ERR_INPUT); /* absent is not damaged */
	mp_view_free(v);

#define Y "WHERE value = (SELECT id FROM graph_values WHERE name = 'y')"
	char *ok_row = NULL;
	sqlite3 *db = open_db(path);
	ok_row = query_text(db, "SELECT dtype || '|' || shape FROM captures " Y);
	sqlite3_close(db);
	assert_non_null(ok_row);
	/* a shape that lies (larger, and smaller, than the blob) */
	expect_capture_refused(path, "UPDATE captures SET shape = '[3, 8000]' " Y, "not the blob's");
	expect_capture_refused(path, "UPDATE captures SET shape = '[1, 2]' " Y, "not the blob's");
	/* sizes that overflow when multiplied, negative, too many, not a list */
	expect_capture_refused(path, "UPDATE captures SET shape = '[4294967296, 4294967296, 4294967296]' " Y, "shape");
	expect_capture_refused(path, "UPDATE captures SET shape = '[-3, -8]' " Y, "shape");
	expect_capture_refused(path, "UPDATE captures SET shape = '[1,1,1,1,1,1,1,1,1,1,1,3,8]' " Y, "shape");
	expect_capture_refused(path, "UPDATE captures SET shape = 'not json' " Y, "shape");
	/* a dtype that is not one, or not a float */
	expect_capture_refused(path, "UPDATE captures SET shape = '[3, 8]', dtype = 'int64' " Y, "float dtype");
	expect_capture_refused(path, "UPDATE captures SET dtype = 'float128' " Y, "float dtype");
	expect_capture_refused(path, "UPDATE captures SET dtype = '' " Y, "float dtype");
	/* data that is no blob */
	expect_capture_refused(path, "UPDATE captures SET dtype = 'float32', data = 'text' " Y, "not a blob");
	/* 500 MB behind a small shape: refused by its length, before it is read */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* (written without a journal or syncs: the test is about reading it) */
	expect_capture_refused(path, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
	                             "UPDATE captures SET data = zeroblob(500000000) " Y, "MiB");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# 500 MB capture: written and refused in %.2f s\n",
	       (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
	/* and refused without reading it: within a second, on a slow disk too */
	struct mp_view *bv = NULL;
	struct mp_tensor bt;
	assert_int_equal(mp_view_open(path, &bv, &e), MP_OK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(mp_view_capture(bv, 0, "y", &bt, &e), MP_ERR_FORMAT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	mp_view_free(bv);
	double dt = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
	if (dt > 0.25)
		fail_msg("refusing the 500 MB capture took %.2f s: it was read", dt);
#undef Y
	unlink(path);
	free(ok_row);
	free(path);
}

/* Strings with ESC, OSC, BEL, C1 CSI and bytes that are not UTF-8. */
#define EVIL "'a' || char(27) || ']0;pwned' || char(7) || char(27) || '[2J' || char(155) || 'b' || cast(x'ff' as text)"

static char *slurp_report(struct mp_session *s, int which)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	struct mp_error e = { 0 };
	enum mp_status st = which == 0 ? mp_session_report(s, f, false, &e) : which == 1 ? mp_session_report(s, f, true, &e) :
	                    which == 2 ? mp_session_export_json(s, f, &e) : mp_session_export_csv(s, f, &e);
	fclose(f);
	if (st)
		fail_msg("output %d: %s", which, e.msg);
	return buf;
}

static void test_hostile_strings(void **state)
{
	(void)state;
	/* the helper itself */
	char out[64];
	assert_int_equal(mp_text_escape(out, sizeof out, "plain é ü"), strlen("plain é ü"));
	assert_string_equal(out, "plain é ü");
	assert_true(mp_text_is_clean("plain é ü"));
	mp_text_escape(out, sizeof out, "a\x1b]0;x\x07\n\t\x7f\xc2\x9b\xff\xc3");
	assert_string_equal(out, "a\\x1b]0;x\\x07\\x0a\\x09\\x7f\\u009b\\xff\\xc3");
	assert_false(mp_text_is_clean("\x1b"));
	assert_int_equal(mp_text_escape(out, 4, "\x1bxyz"), 7); /* cut, never inside an escape */
	assert_string_equal(out, "");
	assert_int_equal(mp_text_escape(out, 6, "ab\x1b"), 6);
	assert_string_equal(out, "ab");

	char *path = small_session("evil.db");
	db_exec(path, "UPDATE nodes SET name = " EVIL ", op = " EVIL ", module = " EVIL ";"
	              "UPDATE graph_values SET name = " EVIL " WHERE name = 'y';"
	              "UPDATE batches SET source = " EVIL ", message = " EVIL ";"
	              "UPDATE run SET model_path = " EVIL ", device = " EVIL ", message = " EVIL);
	struct mp_session *s;
	struct mp_error e = { 0 };
	assert_int_equal(mp_session_open(path, &s, &e), MP_OK);
	for (int which = 0; which < 4; which++) {
		char *text = slurp_report(s, which);
		for (const unsigned char *c = (const unsigned char *)text; *c; c++)
			if ((*c < 0x20 && *c != '\n' && *c != '\r') || *c == 0x7f || *c >= 0x80)
				fail_msg("output %d: byte 0x%02x at %zu reaches the terminal", which, *c, (size_t)(c - (const unsigned char *)text));
		assert_non_null(strstr(text, "pwned"));
		if (which == 1 || which == 2) {
			json_error_t je;
			json_t *j = json_loads(text, 0, &je);
			if (!j)
				fail_msg("output %d is not JSON: %s", which, je.text);
			json_decref(j);
		}
		free(text);
	}
	mp_session_close(s);
	/* the view keeps them escaped, for the TUI and the pictures */
	struct mp_view *v = NULL;
	assert_int_equal(mp_view_open(path, &v, &e), MP_OK);
	for (size_t i = 0; i < v->nnodes; i++) {
		assert_true(mp_text_is_clean(v->nodes[i].name));
		assert_true(mp_text_is_clean(v->nodes[i].module));
		assert_non_null(strstr(v->nodes[i].name, "\\x1b]0;pwned"));
	}
	for (size_t i = 0; i < v->nmodules; i++)
		assert_true(mp_text_is_clean(v->modules[i].path));
	assert_true(mp_text_is_clean(v->model_path));
	struct mp_view_batch *b = NULL;
	assert_int_equal(mp_view_load_batch(v, 0, &b, &e), MP_OK);
	assert_true(mp_text_is_clean(b->source) && mp_text_is_clean(b->message));
	mp_view_batch_free(b);
	mp_view_free(v);
	unlink(path);
	free(path);
}

static void test_deep_modules(void **state)
{
	(void)state;
	char *path = small_session("deep.db");
	struct mp_view *v = NULL;
	struct mp_error e = { 0 };
	/* 256 levels: the limit, read */
	db_exec(path, "WITH RECURSIVE p(n, s) AS (SELECT 1, 'm' UNION ALL SELECT n + 1, s || '.m' FROM p WHERE n < 256)"
	              " UPDATE nodes SET module = (SELECT s FROM p WHERE n = 256) WHERE idx = 0");
	assert_int_equal(mp_view_open(path, &v, &e), MP_OK);
	int32_t deepest = 0;
	for (size_t i = 0; i < v->nmodules; i++)
		deepest = v->modules[i].depth > deepest ? v->modules[i].depth : deepest;
	assert_int_equal(deepest, 256);
	assert_int_equal(v->modules[v->nodes[0].module_id].depth, 256);
	mp_view_free(v);
	/* empty components, and paths sharing prefixes: a tree, each module once */
	db_exec(path, "UPDATE nodes SET module = CASE idx WHEN 0 THEN '.a..b.' WHEN 1 THEN '.a..c' ELSE '.a.' END");
	assert_int_equal(mp_view_open(path, &v, &e), MP_OK);
	assert_string_equal(v->modules[v->nodes[0].module_id].path, ".a..b.");
	assert_string_equal(v->modules[v->nodes[1].module_id].path, ".a..c");
	assert_int_equal(v->modules[v->modules[v->nodes[1].module_id].parent].depth, 3);
	for (size_t i = 1; i < v->nmodules; i++)
		for (size_t k = 1; k < i; k++)
			assert_string_not_equal(v->modules[i].path, v->modules[k].path);
	mp_view_free(v);
	/* 257 levels, and 200,000: refused at once, naming the limit */
	const char *deep[] = {
		"WITH RECURSIVE p(n, s) AS (SELECT 1, 'm' UNION ALL SELECT n + 1, s || '.m' FROM p WHERE n < 257)"
		" UPDATE nodes SET module = (SELECT s FROM p WHERE n = 257) WHERE idx = 1",
		"UPDATE nodes SET module = 'x' || replace(hex(zeroblob(100000)), '00', '.x') WHERE idx = 1",
	};
	for (int k = 0; k < 2; k++) {
		db_exec(path, deep[k]);
		assert_int_equal(mp_view_open(path, &v, &e), MP_ERR_FORMAT);
		if (!strstr(e.msg, path) || !strstr(e.msg, "at most 256 levels"))
			fail_msg("'%s' lacks the path or the limit", e.msg);
	}
	/* 200 nodes, each 250 levels deep in a tree of its own: every level
	 * keeps its whole path, 94 MB from 750 KB of file; refused by the
	 * limit on them all */
	db_exec(path, "UPDATE nodes SET module = 'a';"
	              "WITH RECURSIVE cnt(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM cnt WHERE n < 199)"
	              " INSERT INTO nodes (idx, name, op, module, exec_dtype, inputs, outputs) SELECT 3 + n, 'n', 'Relu',"
	              " substr(replace(hex(zeroblob(250)), '00', printf('.c%05dxxxxxxxx', n)), 2), 'float32', '[]', '[]'"
	              " FROM cnt");
	assert_int_equal(mp_view_open(path, &v, &e), MP_ERR_FORMAT);
	if (!strstr(e.msg, path) || !strstr(e.msg, "take more than 64 MiB"))
		fail_msg("'%s' lacks the path or the limit", e.msg);
	unlink(path);
	free(path);

	/* 50,000 nodes, values and modules: opened in linear time (names
	 * looked up by hash; by scanning, this took minutes) */
	path = small_session("wide.db");
	db_exec(path, "WITH RECURSIVE cnt(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM cnt WHERE n < 49999)"
	              " INSERT INTO graph_values (id, name, kind, producer, dtype, is_output)"
	              " SELECT 5 + n, 'v' || n, 'node', 3 + n, 'float32', 0 FROM cnt;"
	              "WITH RECURSIVE cnt(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM cnt WHERE n < 49999)"
	              " INSERT INTO nodes (idx, name, op, module, exec_dtype, inputs, outputs)"
	              " SELECT 3 + n, 'n' || n, 'Relu', 'm' || n || '.sub', 'float32', '[\"v' || n || '\"]',"
	              " '[\"v' || (n + 1) || '\"]' FROM cnt");
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(mp_view_open(path, &v, &e), MP_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double dt = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
	printf("# 50,000 nodes opened in %.2f s\n", dt);
	assert_true(dt < 5);
	assert_true(v->nmodules > 100000);
	assert_int_equal(v->nodes[1003].inputs[0], 1005);
	mp_view_free(v);
	unlink(path);
	free(path);
}

static void test_schema_version_and_wal(void **state)
{
	(void)state;
	char *path = small_session("version.db");
	db_exec(path, "PRAGMA user_version = -1");
	expect_open_error(path, MP_ERR_FORMAT, "session schema version -1 is not one mpdbg knows (this build reads 1..");
	struct mp_view *v = NULL;
	struct mp_error e = { 0 };
	assert_int_equal(mp_view_open(path, &v, &e), MP_ERR_FORMAT);
	assert_non_null(strstr(e.msg, "version -1"));
	/* a stale -wal beside a new session's name: refused, naming it */
	char *fresh = mp_test_join(dir, "fresh.db"), *wal = mp_test_join(dir, "fresh.db-wal");
	free(mp_test_write(dir, "fresh.db-wal", "stale", 5));
	struct mp_session_writer *w = NULL;
	char *argv[] = { "mpdbg" };
	struct mp_policy pol = { 0 };
	assert_int_equal(mp_policy_set_base(&pol, "fp32", &e), MP_OK);
	struct mp_session_info info = { model_path, graph, &pol, false, 0.01, "cpu", "test CPU", 1, argv };
	assert_int_equal(mp_session_create(fresh, &info, &w, &e), MP_ERR_IO);
	if (!strstr(e.msg, wal) || !strstr(e.msg, "stale"))
		fail_msg("'%s' does not name the stale %s", e.msg, wal);
	assert_int_not_equal(access(fresh, F_OK), 0); /* nothing made */
	unlink(wal);
	mp_policy_free(&pol);
	unlink(path);
	free(path);
	free(fresh);
	free(wal);
}

#define SIGKILL_TRIAL(i) cmocka_unit_test_prestate(test_sigkill, (void *)&trials[i])

int main(void)
{
	static const int trials[20] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19 };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recording),
		SIGKILL_TRIAL(0), SIGKILL_TRIAL(1), SIGKILL_TRIAL(2), SIGKILL_TRIAL(3), SIGKILL_TRIAL(4),
		SIGKILL_TRIAL(5), SIGKILL_TRIAL(6), SIGKILL_TRIAL(7), SIGKILL_TRIAL(8), SIGKILL_TRIAL(9),
		SIGKILL_TRIAL(10), SIGKILL_TRIAL(11), SIGKILL_TRIAL(12), SIGKILL_TRIAL(13), SIGKILL_TRIAL(14),
		SIGKILL_TRIAL(15), SIGKILL_TRIAL(16), SIGKILL_TRIAL(17), SIGKILL_TRIAL(18), SIGKILL_TRIAL(19),
		cmocka_unit_test(test_exports),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_hist_blob),
		cmocka_unit_test(test_hostile_captures),
		cmocka_unit_test(test_hostile_strings),
		cmocka_unit_test(test_deep_modules),
		cmocka_unit_test(test_schema_version_and_wal),
		cmocka_unit_test(test_damaged_midway),
		cmocka_unit_test(test_exact_counts),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, setup, teardown);
}
