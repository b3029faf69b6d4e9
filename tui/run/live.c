/* live.c - `mpdbg tui MODEL --data PATH`: the model runs in this process
 * as the user steps, and every finished batch is recorded into a session
 * that the UI reads back like a recorded one (a temporary file unless
 * --session names one).  Stepping node by node re-runs the batch without
 * recording it a second time. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "outputs.h"
#include "live.h"
#include "progress.h"
#include "run.h"

struct mp_live {
	struct mp_run *run;
	struct mp_runner *r;            /* the run's */
	const struct mp_graph *g;       /* the run's */
	char tmpdir[PATH_MAX];          /* "" with --session */
	char path[PATH_MAX + 16];
	bool *recorded;
	size_t count, nrecorded;
	long stepping;                  /* the batch being stepped, -1 */
	mp_live_progress_fn progress;   /* called as nodes run; true: interrupt */
	void *progress_user;
	double last_progress;
};

void mp_live_set_progress(struct mp_live *l, mp_live_progress_fn fn, void *user)
{
	l->progress = fn;
	l->progress_user = user;
}

/* After every node (behind the probes' hook): progress, and the user's
 * interrupt, at most every 50 ms. */
static enum mp_status live_hook(void *user, struct mp_exec *x, size_t node, struct mp_error *e)
{
	struct mp_live *l = user;
	(void)x;
	if (!l->progress)
		return MP_OK;
	double t = mp_progress_now();
	if (t - l->last_progress < 0.05)
		return MP_OK;
	l->last_progress = t;
	if (l->progress(l->progress_user, l->r->index, node + 1, mp_graph_nnodes(l->g)))
		return mp_error_set(e, MP_ERR_INTERRUPTED, "batch %zu interrupted at node %zu of %zu", l->r->index + 1,
		                    node + 1, mp_graph_nnodes(l->g));
	return MP_OK;
}

const char *mp_live_session_path(const struct mp_live *l) { return l->path; }
size_t mp_live_count(const struct mp_live *l) { return l->count; }
bool mp_live_recorded(const struct mp_live *l, size_t i) { return i < l->count && l->recorded[i]; }

const char *mp_live_node_name(const struct mp_live *l, long pos)
{
	return pos >= 0 && (size_t)pos < mp_graph_nnodes(l->g) ? mp_graph_node(l->g, (size_t)pos)->name : "";
}

/* Where the session goes: --session, or a temporary folder of its own. */
static enum mp_status session_path(struct mp_live *l, const char *session, struct mp_error *e)
{
	if (session) {
		snprintf(l->path, sizeof l->path, "%s", session);
		return MP_OK;
	}
	const char *t = getenv("TMPDIR");
	snprintf(l->tmpdir, sizeof l->tmpdir, "%s/mpdbg-tui-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(l->tmpdir)) {
		enum mp_status st = mp_error_set(e, MP_ERR_IO, "%s: cannot make a folder for the session: %s", l->tmpdir,
		                                 strerror(errno));
		l->tmpdir[0] = '\0';
		return st;
	}
	snprintf(l->path, sizeof l->path, "%s/session.db", l->tmpdir);
	return MP_OK;
}

enum mp_status mp_live_open(const struct mp_live_options *o, struct mp_live **out, struct mp_error *e)
{
	struct mp_live *l = calloc(1, sizeof *l);
	enum mp_status st;
	*out = NULL;
	if (!l)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	l->stepping = -1;
	struct mp_run_setup s = {
		.model = o->model, .data = o->data, .glob = o->glob, .device = o->device, .threads = o->threads,
		.policy = o->policy, .probes = o->probes, .limits = o->limits, .max_memory = o->max_memory,
		.hook = live_hook, .hook_user = l,
	};
	if ((st = mp_run_open(&s, &l->run, e)))
		goto fail;
	l->r = mp_run_runner(l->run);
	l->g = mp_run_graph(l->run);
	l->count = mp_run_count(l->run);
	if (!l->count) {
		st = mp_error_set(e, MP_ERR_INPUT, "%s: no batches", o->data);
		goto fail;
	}
	if (!(l->recorded = calloc(l->count, sizeof *l->recorded))) {
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	char *argv[] = { "mpdbg", "tui", (char *)o->model, "--data", (char *)o->data, NULL };
	if ((st = session_path(l, o->session, e)) || (st = mp_run_record(l->run, l->path, 5, argv, e)))
		goto fail;
	*out = l;
	return MP_OK;
fail:
	mp_live_free(l);
	return st;
}

void mp_live_free(struct mp_live *l)
{
	if (!l)
		return;
	mp_run_free(l->run); /* the session finished first: its files go next */
	if (l->tmpdir[0]) { /* the temporary session goes with the UI */
		char p[PATH_MAX + 32];
		static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
		for (int i = 0; i < 4; i++) {
			snprintf(p, sizeof p, "%s%s", l->path, sfx[i]);
			unlink(p);
		}
		rmdir(l->tmpdir);
	}
	free(l->recorded);
	free(l);
}

/* Until the writer thread has committed every recorded batch. */
static void wait_committed(struct mp_live *l)
{
	struct timespec ts = { 0, 1000000 };
	for (int i = 0; i < 30000 && mp_session_committed(l->r->session) < l->nrecorded; i++)
		nanosleep(&ts, NULL);
}

/* Ends the batch under way: recorded when it was not before. */
static enum mp_status finish(struct mp_live *l, struct mp_error *e)
{
	struct mp_runner_result res;
	enum mp_status st;
	size_t i = l->r->index;
	l->stepping = -1;
	if (l->recorded[i]) {
		mp_runner_abandon(l->r);
		return MP_OK;
	}
	if ((st = mp_runner_end(l->r, NULL, NULL, &res, e)))
		return st;
	l->recorded[i] = true;
	l->nrecorded++;
	wait_committed(l);
	return MP_OK;
}

enum mp_status mp_live_run_batch(struct mp_live *l, size_t index, struct mp_error *e)
{
	enum mp_status st;
	if (index >= l->count)
		return mp_error_set(e, MP_ERR_USAGE, "there are %zu batches", l->count);
	if (l->recorded[index])
		return MP_OK;
	if ((long)index != l->stepping && (st = mp_runner_begin(l->r, index, e)))
		return st;
	l->last_progress = mp_progress_now();
	st = mp_runner_continue(l->r, e);
	if (st && st != MP_ERR_MISMATCH && st != MP_ERR_BREAK) {
		mp_runner_abandon(l->r);
		l->stepping = -1;
		return st;
	}
	return finish(l, e);
}

/* After a node ran: what it left, in a line. */
static void describe(struct mp_live *l, long pos, char *note, size_t size)
{
	const struct mp_node *n = mp_graph_node(l->g, (size_t)pos);
	char sum[256] = "", shape[96] = "";
	struct mp_tensor t;
	struct mp_error e = { 0 };
	if (n->noutputs && n->outputs[0] >= 0 && !mp_exec_fetch(l->r->x, n->outputs[0], &t, &e)) {
		mp_run_tensor_summary(sum, sizeof sum, &t);
		mp_shape_str(shape, sizeof shape, t.ndim, t.shape);
		snprintf(note, size, "ran node %ld/%zu %s (%s): %s %s %s", pos + 1, mp_graph_nnodes(l->g), n->name,
		         n->op_type, mp_dtype_name(t.dtype), shape, sum);
		mp_tensor_reset(&t);
	} else {
		snprintf(note, size, "ran node %ld/%zu %s (%s)", pos + 1, mp_graph_nnodes(l->g), n->name, n->op_type);
	}
}

/* One node; *pos: the last node run (-1 once the batch ended). */
enum mp_status mp_live_step(struct mp_live *l, size_t index, long *pos, char *note, size_t size, struct mp_error *e)
{
	enum mp_status st;
	if (index >= l->count)
		return mp_error_set(e, MP_ERR_USAGE, "there are %zu batches", l->count);
	if (l->stepping != (long)index) {
		if ((st = mp_runner_begin(l->r, index, e)))
			return st;
		l->stepping = (long)index;
	}
	if (mp_exec_done(l->r->x) || l->r->run_st) {
		snprintf(note, size, "batch %zu ended", index + 1);
		*pos = -1;
		return finish(l, e);
	}
	st = mp_runner_step(l->r, e);
	*pos = (long)mp_exec_position(l->r->x) - 1;
	if (st == MP_ERR_MISMATCH || st == MP_ERR_BREAK) {
		snprintf(note, size, "stopped: %s", e->msg);
		return MP_OK;
	}
	if (st) {
		mp_runner_abandon(l->r);
		l->stepping = -1;
		return st;
	}
	describe(l, *pos, note, size);
	return MP_OK;
}

/* Steps until a node with a breakpoint has run, a stop, or the end. */
enum mp_status mp_live_continue(struct mp_live *l, const bool *bp, long *pos, char *note, size_t size,
                                struct mp_error *e)
{
	enum mp_status st;
	if (l->stepping < 0)
		return mp_error_set(e, MP_ERR_USAGE, "not stepping");
	while (!mp_exec_done(l->r->x) && !l->r->run_st) {
		if ((st = mp_live_step(l, (size_t)l->stepping, pos, note, size, e)))
			return st;
		if (l->r->run_st || (*pos >= 0 && bp[*pos]))
			return MP_OK;
	}
	snprintf(note, size, "batch %ld ran to the end", l->stepping + 1);
	*pos = -1;
	return finish(l, e);
}

void mp_live_stop_stepping(struct mp_live *l)
{
	mp_runner_abandon(l->r);
	l->stepping = -1;
}
