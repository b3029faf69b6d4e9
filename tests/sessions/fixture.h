/* fixture.h - the session tests' shared model, recorder and SQLite
 * helpers (fixture.c), and the tests kept in files of their own. */
#ifndef MP_TEST_SESSIONS_FIXTURE_H
#define MP_TEST_SESSIONS_FIXTURE_H

#include <sqlite3.h>
#include <stdbool.h>

#include "exec.h"
#include "policy.h"
#include "probes.h"
#include "session.h"

extern char *dir;                 /* a temporary folder */
extern struct mp_backend *cpu;
extern struct mp_graph *graph;    /* y = Softmax(x W) [batch, 8], z = Relu(x) */
extern char *model_path;

int setup(void **state);
int teardown(void **state);

struct recorder {
	struct mp_policy pol;
	struct mp_exec *x;
	struct mp_probes *p;
	struct mp_session_writer *w;
};

void recorder_open(struct recorder *r, const char *path, bool compare);
/* Runs batch i (rows x 8) and hands it to the writer; y's stats and values
 * copied out when asked. */
void record_batch(struct recorder *r, size_t i, int rows, struct mp_stats_acc *y_stats, float *y_out);
void recorder_close(struct recorder *r, enum mp_status status);
/* A session of one batch of 3 rows, with comparison. */
char *small_session(const char *name);

sqlite3 *open_db(const char *path);
sqlite3_int64 query_int(sqlite3 *db, const char *sql);
char *query_text(sqlite3 *db, const char *sql);
void db_exec(const char *path, const char *sql);

/* test_session_reads.c */
void test_damaged_midway(void **state);
void test_exact_counts(void **state);

#endif
