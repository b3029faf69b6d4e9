/* runner.c - a batch through the executor, the probes and the session. */
#include <stdlib.h>
#include <string.h>

#include "probe_print.h"
#include "progress.h"
#include "runner.h"

const char *mp_run_phase_name(enum mp_run_phase p)
{
	static const char *const names[MP_PHASE_COUNT] = { "between", "read", "bind", "run", "probes" };
	return (unsigned)p < MP_PHASE_COUNT ? names[p] : "?";
}

/* The time since *t, added to phase p; *t moves to now. */
static void lap(struct mp_runner *r, enum mp_run_phase p, double *t)
{
	double now = mp_progress_now();
	r->phase_ms[p] += (now - *t) * 1e3;
	*t = now;
}

/* A node's failure names the model file and the batch: the node's own
 * message names the node, the input and the index or shape. */
static enum mp_status in_model(const struct mp_runner *r, struct mp_error *e)
{
	return mp_error_prefix(e, "%s: batch %s: ", mp_graph_path(r->g), mp_batch_source_name(r->src, r->index));
}

/* Drops the batch under way (its probes' results unread). */
static void drop_batch(struct mp_runner *r)
{
	if (!r->b)
		return;
	if (r->probes) {
		struct mp_probe_batch *pb = NULL;
		struct mp_error e = { 0 };
		if (!mp_probes_end(r->probes, &pb, &e))
			mp_probe_batch_free(pb);
	}
	mp_batch_free(r->b);
	r->b = NULL;
}

/* Batch index: the one read ahead when it is that one, else read now. */
static enum mp_status load_batch(struct mp_runner *r, size_t index, struct mp_error *e)
{
	struct mp_prefetch *p = r->ahead;
	r->ahead = NULL;
	if (p && mp_prefetch_index(p) == index)
		return mp_prefetch_finish(p, &r->b, e);
	mp_prefetch_free(p);
	return mp_batch_load(r->src, index, &r->b, e);
}

/* In the loop, the next batch is read while this one runs.  A thread that
 * cannot start costs only the overlap: the next batch is then read when it
 * begins. */
static void read_ahead(struct mp_runner *r, size_t index)
{
	struct mp_error e = { 0 };
	if (r->loop && !r->no_read_ahead && index + 1 < r->count && mp_prefetch_start(r->src, index + 1, &r->ahead, &e))
		r->ahead = NULL;
}

enum mp_status mp_runner_begin(struct mp_runner *r, size_t index, struct mp_error *e)
{
	enum mp_status st;
	double now = mp_progress_now();
	drop_batch(r);
	/* In the loop a batch's time runs from the end of the previous batch's:
	 * the figures are the pipeline's wall clock and add up to the run, so a
	 * wait for the batch read ahead (or anything else between batches, the
	 * previous batch's printing and session row) shows in them. */
	r->t0 = r->loop && r->timed && index == r->timed_index + 1 ? r->t_end : now;
	r->timed = false;
	r->index = index;
	r->run_st = MP_OK;
	memset(&r->run_e, 0, sizeof r->run_e);
	memset(r->phase_ms, 0, sizeof r->phase_ms);
	r->phase_ms[MP_PHASE_BETWEEN] = (now - r->t0) * 1e3;
	if ((st = load_batch(r, index, e)))
		return st; /* the message names the batch's file */
	read_ahead(r, index);
	lap(r, MP_PHASE_READ, &now);
	st = mp_exec_begin(r->x, r->b, e);
	/* a planned --compare keeps every value of the run for its fp32
	 * shadow; where that is over the memory limit, node by node it is */
	if (st == MP_ERR_LIMIT && r->probes && mp_probes_planned(r->probes) && mp_probes_shadow_stats(r->probes, NULL)) {
		mp_error_clear(e);
		mp_probes_go_literal(r->probes, r->x);
		st = mp_exec_begin(r->x, r->b, e);
	}
	if (st || (r->probes && (st = mp_probes_begin(r->probes, r->x, r->b, index, e)))) {
		in_model(r, e);
		mp_batch_free(r->b);
		r->b = NULL;
	}
	lap(r, MP_PHASE_BIND, &now);
	return st;
}

bool mp_runner_active(const struct mp_runner *r)
{
	return r->b != NULL;
}

/* A node's or a run's status: a stop is remembered, a failure passed on. */
static enum mp_status ran(struct mp_runner *r, enum mp_status st, struct mp_error *e)
{
	if (st == MP_ERR_MISMATCH || st == MP_ERR_BREAK)
		r->run_st = st;
	if (st)
		*e = r->run_e;
	if (st && st != MP_ERR_MISMATCH && st != MP_ERR_BREAK)
		in_model(r, e);
	return st;
}

enum mp_status mp_runner_step(struct mp_runner *r, struct mp_error *e)
{
	if (!r->b)
		return mp_error_set(e, MP_ERR_USAGE, "no batch is under way");
	if (r->run_st || mp_exec_done(r->x))
		return r->run_st;
	double t = mp_progress_now();
	enum mp_status st = mp_exec_step(r->x, &r->run_e);
	lap(r, MP_PHASE_RUN, &t);
	return ran(r, st, e);
}

enum mp_status mp_runner_continue(struct mp_runner *r, struct mp_error *e)
{
	if (!r->b)
		return mp_error_set(e, MP_ERR_USAGE, "no batch is under way");
	if (r->run_st || mp_exec_done(r->x))
		return r->run_st;
	double t = mp_progress_now();
	enum mp_status st = mp_exec_run(r->x, &r->run_e);
	lap(r, MP_PHASE_RUN, &t);
	return ran(r, st, e);
}

enum mp_status mp_runner_end(struct mp_runner *r, mp_runner_done_fn done, void *user, struct mp_runner_result *res,
                             struct mp_error *e)
{
	struct mp_probe_batch *pb = NULL;
	struct mp_session_batch *sb = NULL;
	enum mp_status st = MP_OK;

	memset(res, 0, sizeof *res);
	if (!r->b)
		return mp_error_set(e, MP_ERR_USAGE, "no batch is under way");
	if (!r->run_st && !mp_exec_done(r->x)) {
		st = mp_runner_continue(r, e);
		if (st && st != MP_ERR_MISMATCH && st != MP_ERR_BREAK)
			goto out;
		st = MP_OK;
	}
	double t = mp_progress_now();
	if (r->probes && (st = mp_probes_end(r->probes, &pb, e)))
		goto out;
	lap(r, MP_PHASE_PROBES, &t);
	memcpy(res->phase_ms, r->phase_ms, sizeof res->phase_ms);
	res->index = r->index;
	res->name = mp_batch_source_name(r->src, r->index);
	r->t_end = mp_progress_now();
	r->timed = true;
	r->timed_index = r->index;
	res->ms = (r->t_end - r->t0) * 1e3;
	res->status = r->run_st;
	res->pb = pb;
	res->b = r->b;
	if (r->session && !r->graph_written) {
		if ((st = mp_session_set_graph(r->session, r->x, e)))
			goto out;
		r->graph_written = true;
	}
	/* what stopped the batch: the executor's mismatch, or a breakpoint */
	if (r->run_st == MP_ERR_MISMATCH || (r->run_st == MP_ERR_BREAK && !pb)) {
		snprintf(res->report, sizeof res->report, "%s", r->run_e.msg);
	} else if (pb && pb->hit) {
		mp_run_hit_report(r->x, pb, res->name, res->report, sizeof res->report);
		res->status = MP_ERR_BREAK;
	}
	if (done && (st = done(user, res, e)))
		goto out;
	if (r->session) {
		if (!(sb = calloc(1, sizeof *sb))) {
			st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
			goto out;
		}
		sb->index = r->index;
		sb->source = strdup(mp_batch_path(r->b));
		sb->ms = res->ms;
		sb->status = res->status;
		sb->message = res->status ? strdup(res->report) : NULL;
		sb->hit_message = pb && pb->hit ? strdup(res->report) : NULL;
		sb->nevents = mp_exec_nevents(r->x);
		sb->events = calloc(sb->nevents + 1, sizeof *sb->events);
		if (!sb->source || !sb->events) {
			mp_session_batch_free(sb);
			st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
			goto out;
		}
		for (size_t k = 0; k < sb->nevents; k++)
			mp_exec_event(r->x, k, &sb->events[k]);
		sb->probes = pb;
		pb = NULL;
		st = mp_session_submit(r->session, sb, e);
	}
out:
	res->pb = NULL;
	res->b = NULL;
	mp_probe_batch_free(pb);
	mp_batch_free(r->b);
	r->b = NULL;
	return st;
}

void mp_runner_abandon(struct mp_runner *r)
{
	drop_batch(r);
	mp_prefetch_free(r->ahead);
	r->ahead = NULL;
	r->timed = false;
}
