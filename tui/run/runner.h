/* runner.h - one batch at a time through the executor, the probes and the
 * session writer: what `mpdbg run` does per batch, and what the live TUI
 * does when the user steps.
 *
 *   mp_runner_begin(r, i)              loads batch i and binds it
 *   mp_runner_step(r) / _continue(r)   one node / up to a stop or the end
 *   mp_runner_end(r, &res)             probes' results, the report, the
 *                                      session's row (the batch is done)
 *
 * A stop (a dtype mismatch under --on-mismatch error, a breakpoint) is not
 * a failure: step and continue return MP_ERR_MISMATCH or MP_ERR_BREAK with
 * the executor's message, and mp_runner_end records the batch as stopped.
 *
 * With `loop` set (the batch loop of `mpdbg run`: batches in order),
 * mp_runner_begin(r, i) also starts reading batch i+1 on a thread
 * (prefetch.h) and mp_runner_begin(r, i + 1) takes it, waiting if it is
 * not read yet: at most two batches are held at once.  A failure to read
 * batch i+1 is told when batch i+1 begins, as without the read-ahead;
 * any other index drops the batch read ahead and loads as without. */
#ifndef MP_RUNNER_H
#define MP_RUNNER_H

#include <stdbool.h>
#include <stddef.h>

#include "batch.h"
#include "exec.h"
#include "graph.h"
#include "prefetch.h"
#include "probes.h"
#include "session.h"

/* Where a batch's wall clock (mp_runner_result.ms) went: the time since the
 * previous batch's end (its report and session row, in the loop), waiting
 * for or reading the batch, binding it (executor and probes), running it
 * (to the GPU's last kernel), and the probes' end (one fetch, the records). */
enum mp_run_phase { MP_PHASE_BETWEEN, MP_PHASE_READ, MP_PHASE_BIND, MP_PHASE_RUN, MP_PHASE_PROBES, MP_PHASE_COUNT };
const char *mp_run_phase_name(enum mp_run_phase p);

struct mp_runner {
	const struct mp_graph *g;
	struct mp_exec *x;
	struct mp_probes *probes;           /* may be NULL */
	struct mp_session_writer *session;  /* may be NULL */
	const struct mp_batch_source *src;
	double tol;
	bool graph_written;
	/* the batch loop: batches read ahead below `count` unless no_read_ahead,
	 * and timed end to end (mp_runner_result.ms) */
	bool loop, no_read_ahead;
	size_t count;
	struct mp_prefetch *ahead;          /* the batch being read ahead, or NULL */
	bool timed;                         /* t_end is when batch `timed_index`'s ms ended */
	size_t timed_index;
	double t_end;
	/* the batch under way */
	struct mp_batch *b;
	size_t index;
	double t0;
	enum mp_status run_st;              /* MP_OK, or how the run stopped */
	struct mp_error run_e;
	double phase_ms[MP_PHASE_COUNT];    /* this batch's, so far */
};

/* What a finished batch left. */
struct mp_runner_result {
	size_t index;
	const char *name;                   /* the batch's name in its source */
	double ms;                          /* wall clock: from begin, or in the loop
	                                     * from the previous batch's end */
	enum mp_status status;              /* MP_OK, MP_ERR_MISMATCH or MP_ERR_BREAK */
	char report[MP_ERROR_MSG_MAX];      /* why it stopped */
	double phase_ms[MP_PHASE_COUNT];    /* of ms */
	const struct mp_probe_batch *pb;    /* valid during the callback only */
	const struct mp_batch *b;
};

/* Called by mp_runner_end before the batch goes to the session. */
typedef enum mp_status (*mp_runner_done_fn)(void *user, const struct mp_runner_result *res, struct mp_error *e);

enum mp_status mp_runner_begin(struct mp_runner *r, size_t index, struct mp_error *e);
bool mp_runner_active(const struct mp_runner *r);
/* MP_OK while nodes remain; MP_ERR_MISMATCH/MP_ERR_BREAK at a stop;
 * another status is a failure (in e). */
enum mp_status mp_runner_step(struct mp_runner *r, struct mp_error *e);
enum mp_status mp_runner_continue(struct mp_runner *r, struct mp_error *e);
/* Ends the batch under way (run to the end first unless it stopped). */
enum mp_status mp_runner_end(struct mp_runner *r, mp_runner_done_fn done, void *user, struct mp_runner_result *res,
                             struct mp_error *e);
/* Drops the batch under way without recording it, and the batch read
 * ahead (waiting for its thread). */
void mp_runner_abandon(struct mp_runner *r);

#endif
