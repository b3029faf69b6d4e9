/* commands.c - what the prompt and the heavier keys do: `:` commands,
 * break conditions, the next stop in a replay, stepping a live run, a
 * rerun under another policy, export, and the pictures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "diversity.h"
#include "overlay.h"
#include "session.h"

/* Does the node meet a break condition in the loaded batch? */
static bool meets(const struct mp_app *a, int32_t node)
{
	unsigned f = mp_app_node_flags(a, node);
	return a->bp[node] || (f & a->conds & (MP_BC_NAN | MP_BC_INF | MP_BC_OVERFLOW | MP_BC_MISMATCH | MP_BC_TOL));
}

/* Replay: the next node after the selected one, in this batch or the
 * next ones, where a break condition holds. */
static void next_stop(struct mp_app *a)
{
	struct mp_error e = { 0 };
	size_t from = a->sel_node >= 0 ? (size_t)a->sel_node + 1 : 0;
	size_t count = a->v->nbatches, start = a->batch;
	for (size_t bi = a->batch; bi < count; bi++) {
		if (bi != a->batch && mp_app_goto_batch(a, bi, &e)) {
			mp_app_msg(a, true, "%s", e.msg);
			return;
		}
		for (size_t i = bi == start ? from : 0; i < a->v->nnodes; i++)
			if (meets(a, (int32_t)i)) {
				mp_app_show_node(a, (int32_t)i);
				mp_app_msg(a, false, "batch %zu, node %zu %s: a break condition holds", bi + 1, i + 1,
				        a->v->nodes[i].name);
				return;
			}
	}
	if (a->batch != start)
		mp_app_goto_batch(a, start, &e);
	mp_app_msg(a, false, "no further node meets a break condition (B edits them, b sets one on a node)");
}

static enum mp_status export_json(struct mp_app *a, const char *file, struct mp_error *e)
{
	struct mp_session *s = NULL;
	enum mp_status st;
	if (!access(file, F_OK))
		return mp_error_set(e, MP_ERR_USAGE, "%s exists: not overwritten", file);
	FILE *f = fopen(file, "w");
	if (!f)
		return mp_error_set(e, MP_ERR_IO, "%s: cannot write it", file);
	if (!(st = mp_session_open(a->v->path, &s, e)))
		st = mp_session_export_json(s, f, e);
	mp_session_close(s);
	if (fclose(f) && !st)
		st = mp_error_set(e, MP_ERR_IO, "%s: write failed", file);
	return st;
}

/* The live run again under another policy: a new run and session; the
 * node and batch the user is at stay selected. */
void mp_app_rerun_policy(struct mp_app *a, const char *policy)
{
	struct mp_error e = { 0 };
	struct mp_live *live = NULL;
	struct mp_view *v = NULL;
	if (!a->live || !a->rerun) {
		mp_app_msg(a, true, "rerunning under another policy needs a live run (mpdbg tui MODEL --data PATH)");
		return;
	}
	if (!*policy) {
		mp_app_msg(a, true, "which policy? fp32, bf16-autocast, bf16, fp16-autocast, fp16");
		return;
	}
	mp_app_busy(a, "rerunning batch %zu under %s...", a->batch + 1, policy);
	if (a->rerun(a->rerun_user, policy, a->batch, &live, &v, &e)) {
		mp_app_msg(a, true, "%s", e.msg);
		return;
	}
	if (v->nnodes != a->v->nnodes) { /* the same model: the same nodes */
		mp_view_free(v);
		mp_live_free(live);
		mp_app_msg(a, true, "the rerun's graph differs");
		return;
	}
	char name[64];
	snprintf(name, sizeof name, "%s", v->policy);
	if (a->step_pos >= 0)
		mp_live_stop_stepping(a->live);
	a->step_pos = -1;
	a->step_note[0] = '\0';
	mp_view_batch_free(a->cur);
	a->cur = NULL;
	mp_view_free(a->v);
	mp_live_free(a->live);
	a->v = v;
	a->live = live;
	a->strip_dirty = true;
	int32_t keep = a->sel_node;
	if (mp_app_goto_batch(a, a->batch, &e)) {
		mp_app_msg(a, true, "%s", e.msg);
		return;
	}
	int32_t stop = mp_app_stop_node(a);
	mp_app_show_node(a, stop >= 0 ? stop : keep);
	mp_app_msg(a, false, "batch %zu rerun under %s", a->batch + 1, name);
}

unsigned mp_app_command(struct mp_app *a, char *line)
{
	struct mp_error e = { 0 };
	char *arg = line + strcspn(line, " ");
	if (*arg)
		*arg++ = '\0';
	while (*arg == ' ')
		arg++;
	if (!strcmp(line, "q") || !strcmp(line, "quit")) {
		return MP_KEY_QUIT;
	} else if (!strcmp(line, "goto")) {
		char *end;
		long k = strtol(arg, &end, 10);
		int32_t n = -1;
		if (*arg && !*end && k >= 1 && (size_t)k <= a->v->nnodes)
			n = (int32_t)(k - 1);
		for (size_t i = 0; n < 0 && i < a->v->nnodes; i++)
			if (!strcmp(a->v->nodes[i].name, arg))
				n = (int32_t)i;
		if (n < 0)
			mp_app_msg(a, true, ":goto %s: no such node (a name, or a number 1..%zu)", arg, a->v->nnodes);
		else
			mp_app_show_node(a, n);
	} else if (!strcmp(line, "break")) {
		unsigned c;
		bool ok = mp_break_parse_set(arg, &c);
		if (!ok || !*arg) {
			mp_app_msg(a, true, ":break wants nan, inf, overflow, mismatch or tol, not '%s'", arg);
		} else {
			a->conds |= c;
			char s[64];
			mp_break_set_str(a->conds, s, sizeof s);
			mp_app_msg(a, false, "break conditions: %s", s);
		}
	} else if (!strcmp(line, "export")) {
		char *file = arg + strcspn(arg, " ");
		if (*file)
			*file++ = '\0';
		if (strcmp(arg, "json") || !*file)
			mp_app_msg(a, true, ":export json FILE");
		else if (export_json(a, file, &e))
			mp_app_msg(a, true, "%s", e.msg);
		else
			mp_app_msg(a, false, "session written to %s", file);
	} else if (!strcmp(line, "policy")) {
		mp_app_rerun_policy(a, arg);
	} else if (!strcmp(line, "filter")) {
		snprintf(a->trace_filter, sizeof a->trace_filter, "%s", arg);
		mp_app_filter_trace(a);
	} else if (*line) {
		mp_app_msg(a, true, ":%s: not a command (policy, break, export, goto, filter, quit)", line);
	}
	return MP_KEY_HANDLED | MP_KEY_REDRAW;
}

/* `o` and `d`: the picture written where the user can find it again (the
 * temporary folder), and shown over the screen until a key. */
void mp_app_picture(struct mp_app *a, bool diversity)
{
	struct mp_error e = { 0 };
	struct mp_pose_options po;
	char path[512];
	const char *tmp = getenv("TMPDIR");
	if (!a->cur) {
		mp_app_msg(a, true, "no batch recorded yet");
		return;
	}
	mp_pose_options_init(&po);
	po.batches_dir = a->batches_dir;
	if (diversity)
		snprintf(path, sizeof path, "%s/mpdbg-%d-diversity.png", tmp && *tmp ? tmp : "/tmp", (int)getpid());
	else
		snprintf(path, sizeof path, "%s/mpdbg-%d-batch%zu.png", tmp && *tmp ? tmp : "/tmp", (int)getpid(),
		         a->cur->index);
	mp_app_busy(a, "drawing %s...", path);
	enum mp_status st;
	if (diversity) {
		struct mp_diversity d;
		st = mp_diversity_analyse(a->v, &po, &d, &e);
		if (!st)
			st = mp_diversity_render(a->v, &d, path, &e);
		if (!st)
			mp_app_msg(a, false, "diversity: %s (ratio %.3g) - %s", mp_verdict_name(d.verdict), d.ratio, path);
		mp_diversity_free(&d);
	} else {
		struct mp_skeleton sk;
		mp_skeleton_hand(&sk);
		size_t pos = a->batch;
		for (size_t i = 0; i < a->v->nbatches; i++) /* live sessions record out of order */
			if (a->v->batch_index[i] == a->cur->index)
				pos = i;
		st = mp_overlay_render(a->v, pos, &po, &sk, path, &e);
		mp_skeleton_free(&sk);
		if (!st)
			mp_app_msg(a, false, "overlay of batch %zu: %s", a->batch + 1, path);
	}
	if (st) {
		mp_app_msg(a, true, "%s", e.msg);
		return;
	}
	snprintf(a->picture, sizeof a->picture, "%s", path);
}

void mp_app_live_step(struct mp_app *a, bool cont)
{
	struct mp_error e = { 0 };
	long pos = a->step_pos;
	enum mp_status st;
	if (!a->live) {
		if (cont)
			next_stop(a);
		else
			mp_app_msg(a, true, "s steps a live run; this is a recorded session (c finds the next stop)");
		return;
	}
	if (cont && a->step_pos < 0) {
		/* not stepping: the next batch, run to its end or a stop */
		size_t count = mp_live_count(a->live);
		if (a->batch + 1 >= count && mp_live_recorded(a->live, a->batch)) {
			mp_app_msg(a, false, "the last batch has run");
			return;
		}
		size_t to = mp_live_recorded(a->live, a->batch) ? a->batch + 1 : a->batch;
		if (mp_app_goto_batch(a, to, &e)) {
			mp_app_msg(a, true, "%s", e.msg);
			return;
		}
		int32_t n = mp_app_stop_node(a);
		if (n >= 0)
			mp_app_show_node(a, n);
		return;
	}
	st = cont ? mp_live_continue(a->live, a->bp, &pos, a->step_note, sizeof a->step_note, &e) :
	            mp_live_step(a->live, a->batch, &pos, a->step_note, sizeof a->step_note, &e);
	if (st) {
		mp_app_msg(a, true, "%s", e.msg);
		a->step_pos = -1;
		return;
	}
	a->step_pos = pos;
	if (pos >= 0) {
		mp_app_show_node(a, (int32_t)pos);
		mp_app_msg(a, false, "%s", a->step_note);
	} else {
		/* the batch ended: it is in the session now */
		char note[sizeof a->step_note];
		snprintf(note, sizeof note, "%s", a->step_note);
		if (mp_app_goto_batch(a, a->batch, &e))
			mp_app_msg(a, true, "%s", e.msg);
		else
			mp_app_msg(a, false, "%s", note);
	}
}
