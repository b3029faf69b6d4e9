/* test_session_reads.c - reading sessions back when the file is not what
 * this mpdbg writes: a page damaged midway through the statistics (an error
 * naming the file, never a short read), and a session written before a
 * statistic existed (read, the statistic absent). */
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmocka_tap.h"
#include "fixture.h"
#include "testutil.h"
#include "view.h"

/* A read that fails midway (a damaged page of the stats table, batches
 * in the middle of the run) is an error naming the file and SQLite's
 * reason, in the view, the exports and the report: never a batch read
 * short, or an export that ends early as if whole. */
void test_damaged_midway(void **state)
{
	(void)state;
	char *path = mp_test_join(dir, "midway.db");
	struct recorder r;
	enum { NB = 120 };
	recorder_open(&r, path, false);
	for (size_t i = 0; i < NB; i++)
		record_batch(&r, i, 5, NULL, NULL);
	recorder_close(&r, MP_OK);

	/* the stats table's root is an interior page: its middle child spoilt */
	sqlite3 *db = open_db(path);
	long ps = (long)query_int(db, "PRAGMA page_size"), root = (long)query_int(db, "SELECT rootpage FROM sqlite_master"
	                                                                           " WHERE name = 'stats'");
	sqlite3_close(db);
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	unsigned char page[65536];
	assert_true(ps > 0 && ps <= (long)sizeof page && root > 1);
	assert_int_equal(fseek(f, (root - 1) * ps, SEEK_SET), 0);
	assert_int_equal(fread(page, 1, (size_t)ps, f), (size_t)ps);
	assert_int_equal(page[0], 0x02); /* an interior index b-tree page (WITHOUT ROWID) */
	int ncells = page[3] << 8 | page[4];
	assert_true(ncells >= 2);
	int cell = page[12 + 2 * (ncells / 2)] << 8 | page[13 + 2 * (ncells / 2)];
	long child = (long)page[cell] << 24 | page[cell + 1] << 16 | page[cell + 2] << 8 | page[cell + 3];
	memset(page, 0xA5, (size_t)ps);
	assert_int_equal(fseek(f, (child - 1) * ps, SEEK_SET), 0);
	assert_int_equal(fwrite(page, 1, (size_t)ps, f), (size_t)ps);
	fclose(f);

	/* the view: the first batches read, one further on is an error */
	struct mp_view *v = NULL;
	struct mp_error e = { 0 };
	assert_int_equal(mp_view_open(path, &v, &e), MP_OK);
	assert_int_equal(v->nbatches, NB);
	size_t good = 0;
	enum mp_status st = MP_OK;
	for (size_t i = 0; i < NB && !st; i++) {
		struct mp_view_batch *b = NULL;
		if (!(st = mp_view_load_batch(v, i, &b, &e)))
			good++;
		mp_view_batch_free(b);
	}
	assert_true(good > 0 && good < NB);
	assert_int_equal(st, MP_ERR_FORMAT);
	if (!strstr(e.msg, path) || !strstr(e.msg, "malformed"))
		fail_msg("batch %zu: '%s' does not name the file and the damage", good, e.msg);
	double fig[NB];
	assert_int_equal(mp_view_figure(v, MP_FIG_NONFINITE, fig, &e), MP_ERR_FORMAT);
	assert_non_null(strstr(e.msg, path));
	mp_view_free(v);

	/* exports and the report: batches written up to the damage, then the error */
	struct mp_session *s;
	assert_int_equal(mp_session_open(path, &s, &e), MP_OK);
	char *out = mp_test_join(dir, "midway.json");
	f = fopen(out, "w");
	e = (struct mp_error){ 0 };
	assert_int_equal(mp_session_export_json(s, f, &e), MP_ERR_FORMAT);
	fclose(f);
	if (!strstr(e.msg, path) || !strstr(e.msg, "malformed"))
		fail_msg("JSON export: '%s' does not name the file and the damage", e.msg);
	FILE *devnull = fopen("/dev/null", "w");
	e = (struct mp_error){ 0 };
	assert_int_equal(mp_session_export_csv(s, devnull, &e), MP_ERR_FORMAT);
	assert_non_null(strstr(e.msg, path));
	e = (struct mp_error){ 0 };
	assert_int_not_equal(mp_session_report(s, devnull, true, &e), MP_OK);
	assert_non_null(strstr(e.msg, path));
	fclose(devnull);
	mp_session_close(s);
	unlink(out);
	free(out);
	unlink(path);
	free(path);
}

/* The exact-in-low-type counts (a statistic added after schema 1): recorded
 * now, and absent, not zero, in a session written before them. */
void test_exact_counts(void **state)
{
	(void)state;
	char *path = small_session("exact.db");
	struct mp_view *v = NULL;
	struct mp_error e = { 0 };
	struct mp_view_batch *b = NULL;
	sqlite3 *db = open_db(path);
	int64_t x_exact = query_int(db, "SELECT s.exact_bf16 FROM stats s JOIN graph_values v ON v.id = s.value"
	                                " WHERE v.name = 'x'");
	sqlite3_close(db);
	assert_true(x_exact >= 0);
	assert_int_equal(mp_view_open(path, &v, &e), MP_OK);
	assert_int_equal(mp_view_load_batch(v, 0, &b, &e), MP_OK);
	int32_t x = -1;
	for (size_t i = 0; i < v->nvalues; i++)
		x = strcmp(v->values[i].name, "x") ? x : (int32_t)i;
	assert_true(x >= 0 && b->stats[x].present);
	assert_int_equal(b->stats[x].exact[MP_LOW_BF16], x_exact);
	assert_true(b->stats[x].exact[MP_LOW_F16] >= 0 && b->stats[x].exact[MP_LOW_F16] <= b->stats[x].finite);
	mp_view_batch_free(b);
	mp_view_free(v);

	/* as an mpdbg before the statistic wrote it */
	db_exec(path, "ALTER TABLE stats DROP COLUMN exact_bf16; ALTER TABLE stats DROP COLUMN exact_f16");
	assert_int_equal(mp_view_open(path, &v, &e), MP_OK);
	assert_int_equal(mp_view_load_batch(v, 0, &b, &e), MP_OK);
	assert_true(b->stats[x].present && b->stats[x].count == 24);
	assert_int_equal(b->stats[x].exact[MP_LOW_BF16], -1);
	assert_int_equal(b->stats[x].exact[MP_LOW_F16], -1);
	mp_view_batch_free(b);
	mp_view_free(v);
	struct mp_session *s;
	char *jp = mp_test_join(dir, "exact.json");
	assert_int_equal(mp_session_open(path, &s, &e), MP_OK);
	FILE *f = fopen(jp, "w");
	assert_int_equal(mp_session_export_json(s, f, &e), MP_OK);
	fclose(f);
	FILE *devnull = fopen("/dev/null", "w");
	assert_int_equal(mp_session_export_csv(s, devnull, &e), MP_OK);
	assert_int_equal(mp_session_report(s, devnull, false, &e), MP_OK);
	fclose(devnull);
	mp_session_close(s);
	json_t *root = json_load_file(jp, 0, NULL);
	json_t *xs = json_object_get(json_object_get(json_object_get(json_array_get(json_object_get(root, "batches"), 0),
	                                                                            "stats"), "x"), "exact");
	assert_true(json_is_object(xs) && json_is_null(json_object_get(xs, "bfloat16")));
	json_decref(root);
	unlink(jp);
	free(jp);
	unlink(path);
	free(path);
}
