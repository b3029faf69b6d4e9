/* session.h - the SQLite session file (schema.sql): recording a run, and
 * reading one back.
 *
 * Recording: mp_session_create() makes the file and writes the run's row;
 * mp_session_set_graph() its nodes and values once the first batch's plan
 * is known; mp_session_submit() hands one batch's results to the writer
 * thread, which commits each batch in a transaction of its own, so the
 * executor never waits on the disk; mp_session_finish() drains the queue and
 * closes the run.  A process killed mid-run leaves a file that opens, with
 * every batch committed before the kill.
 */
#ifndef MP_SESSION_H
#define MP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "exec.h"
#include "graph.h"
#include "policy.h"
#include "probes.h"

#define MP_SESSION_SCHEMA 1

struct mp_session_info {
	const char *model_path;
	const struct mp_graph *g;
	const struct mp_policy *policy;
	bool compare;
	double tol;
	const char *backend, *device;
	int argc;
	char *const *argv;
};

/* One batch's results; the writer takes them over. */
struct mp_session_batch {
	size_t index;
	char *source;       /* the batch's file (its hash is taken by the writer) */
	double ms;
	enum mp_status status; /* MP_OK, or how the batch stopped */
	char *message;
	size_t nevents;
	struct mp_dtype_event *events;
	struct mp_probe_batch *probes; /* may be NULL */
	char *hit_message;  /* the breakpoint's report, when probes->hit */
};

void mp_session_batch_free(struct mp_session_batch *b);

struct mp_session_writer;

/* Fails when path exists: sessions are not overwritten. */
enum mp_status mp_session_create(const char *path, const struct mp_session_info *info,
                                 struct mp_session_writer **out, struct mp_error *e);
/* Nodes and values, with the dtypes of x's plan for its bound batch. */
enum mp_status mp_session_set_graph(struct mp_session_writer *w, const struct mp_exec *x, struct mp_error *e);
/* Queues a batch (taken over, even on failure).  Fails when the writer
 * has failed before (its error). */
enum mp_status mp_session_submit(struct mp_session_writer *w, struct mp_session_batch *b, struct mp_error *e);
/* Drains the queue, writes the run's status and closes; frees w.  status
 * MP_OK: done; MP_ERR_MISMATCH or MP_ERR_BREAK: stopped; else failed. */
enum mp_status mp_session_finish(struct mp_session_writer *w, enum mp_status status, const char *message,
                                 struct mp_error *e);
/* Batches committed so far (for progress and tests). */
size_t mp_session_committed(const struct mp_session_writer *w);

/* ---- reading ---- */

struct mp_session;

/* Opens a session read-only (a run may still be writing it). */
enum mp_status mp_session_open(const char *path, struct mp_session **out, struct mp_error *e);
void mp_session_close(struct mp_session *s);
const char *mp_session_path(const struct mp_session *s);

/* `mpdbg report`: text, or one JSON document. */
enum mp_status mp_session_report(struct mp_session *s, FILE *out, bool json, struct mp_error *e);
/* `mpdbg export`: JSON (one document) or CSV (one row per batch x value). */
enum mp_status mp_session_export_json(struct mp_session *s, FILE *out, struct mp_error *e);
enum mp_status mp_session_export_csv(struct mp_session *s, FILE *out, struct mp_error *e);

/* The histogram blob of the stats table. */
size_t mp_hist_encode(const uint64_t *hist, unsigned char *out, size_t size);
enum mp_status mp_hist_decode(const void *blob, size_t n, uint64_t *hist, struct mp_error *e);

#endif
