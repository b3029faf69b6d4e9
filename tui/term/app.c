/* app.c - the terminal UI's event loop: keys, mouse, the prompt line and
 * its commands, search, stepping, breakpoints; and the terminal restored
 * on every way out (q, an error, Ctrl-C, a fatal signal). */
#include <ctype.h>
#include <curses.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "app.h"
#include "cli.h"
#include "diversity.h"
#include "overlay.h"
#include "preview.h"
#include "session.h"

/* ---- the terminal, restored on every way out ---- */

static volatile sig_atomic_t got_sigint; /* the one flag a handler may set */

static void on_sigint(int sig)
{
	(void)sig;
	got_sigint = 1;
}

static void on_fatal(int sig)
{
	endwin(); /* not async-signal-safe in theory; the process is dying anyway and the terminal matters */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void screen_start(struct mp_app *a)
{
	initscr();
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	nonl();
	set_escdelay(25);
	mousemask(BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
	mouseinterval(0);
	curs_set(0);
	timeout(500); /* wake to pick up batches a recording run commits, and Ctrl-C */
	mp_app_colors(a);
	struct sigaction sa = { 0 };
	sa.sa_handler = on_sigint;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_fatal;
	sa.sa_flags = SA_RESETHAND;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
}

/* ---- state ---- */

static void set_msg(struct mp_app *a, bool err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_msg(struct mp_app *a, bool err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->msg, sizeof a->msg, fmt, ap);
	va_end(ap);
	a->msg_error = err;
}

static bool push_row(struct mp_app *a, bool is_module, int32_t id, int depth)
{
	if (a->nrows == a->rows_cap) {
		size_t nc = a->rows_cap ? 2 * a->rows_cap : 256;
		struct mp_row *nr = realloc(a->rows, nc * sizeof *nr);
		if (!nr)
			return false;
		a->rows = nr;
		a->rows_cap = nc;
	}
	a->rows[a->nrows++] = (struct mp_row){ is_module, id, depth };
	return true;
}

/* The node pane's rows: every node in execution order (flat), or the
 * module tree in execution order, a module's row where its first node is,
 * folded modules hiding what is under them. */
void mp_app_build_rows(struct mp_app *a)
{
	const struct mp_view *v = a->v;
	a->nrows = 0;
	bool *shown = calloc(v->nmodules + 1, 1);
	int32_t chain[64];
	for (size_t i = 0; i < v->nnodes; i++) {
		if (!a->tree || !shown) {
			push_row(a, false, (int32_t)i, 0);
			continue;
		}
		int n = 0;
		for (int32_t m = v->nodes[i].module_id; m > 0 && n < 64; m = v->modules[m].parent)
			chain[n++] = m;
		bool hidden = false;
		int depth = 0;
		for (int k = n - 1; k >= 0 && !hidden; k--) {
			int32_t m = chain[k];
			if (!shown[m]) {
				shown[m] = true;
				push_row(a, true, m, depth);
			}
			depth++;
			hidden = a->collapsed[m];
		}
		if (!hidden)
			push_row(a, false, (int32_t)i, depth);
	}
	free(shown);
}

static size_t row_of_node(const struct mp_app *a, int32_t node)
{
	for (size_t i = 0; i < a->nrows; i++)
		if (!a->rows[i].is_module && a->rows[i].id == node)
			return i;
	return SIZE_MAX;
}

/* The selected row: the node's, or (folded away) its module's. */
static size_t sel_row(const struct mp_app *a)
{
	size_t r = row_of_node(a, a->sel_node);
	if (r != SIZE_MAX || a->sel_node < 0)
		return r;
	for (int32_t m = a->v->nodes[a->sel_node].module_id; m > 0; m = a->v->modules[m].parent)
		for (size_t i = 0; i < a->nrows; i++)
			if (a->rows[i].is_module && a->rows[i].id == m && a->collapsed[m])
				return i;
	return SIZE_MAX;
}

static int pane_rows(void)
{
	return LINES - 4 > 1 ? LINES - 4 : 1;
}

static void scroll_to_sel(struct mp_app *a)
{
	size_t r = sel_row(a);
	int h = pane_rows();
	if (r == SIZE_MAX)
		return;
	if (r < a->top)
		a->top = r;
	else if (r >= a->top + (size_t)h)
		a->top = r - (size_t)h + 1;
}

/* Shows a node: unfolds the modules it is in, selects and scrolls to it. */
static void show_node(struct mp_app *a, int32_t node)
{
	if (node < 0 || (size_t)node >= a->v->nnodes)
		return;
	bool rebuild = false;
	for (int32_t m = a->v->nodes[node].module_id; m > 0; m = a->v->modules[m].parent)
		if (a->collapsed[m])
			a->collapsed[m] = false, rebuild = true;
	if (rebuild)
		mp_app_build_rows(a);
	a->sel_node = node;
	a->focus = MP_PANE_NODES;
	scroll_to_sel(a);
}

static bool ci_contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++)
		if (!strncasecmp(hay, needle, n))
			return true;
	return !n;
}

/* Every node's flags in the loaded batch: one pass over its outputs'
 * statistics and one over the batch's events. */
static void compute_flags(struct mp_app *a)
{
	const struct mp_view_batch *b = a->cur;
	const struct mp_view *v = a->v;
	memset(a->flags, 0, v->nnodes * sizeof *a->flags);
	if (!b)
		return;
	int low = !strcmp(v->low_dtype, "float16");
	for (size_t i = 0; i < v->nnodes; i++) {
		unsigned f = 0;
		for (int k = 0; k < v->nodes[i].noutputs; k++) {
			int32_t id = v->nodes[i].outputs[k];
			if (id < 0)
				continue;
			const struct mp_view_stat *s = &b->stats[id];
			f |= (s->nan ? MP_BC_NAN : 0) | (s->posinf + s->neginf ? MP_BC_INF : 0) |
			     (s->overflow[low] ? MP_BC_OVERFLOW : 0) | (s->has_cmp && s->rel_l2 > a->tol ? MP_BC_TOL : 0);
		}
		a->flags[i] = f;
	}
	for (size_t k = 0; k < b->nevents; k++) {
		const struct mp_view_event *ev = &b->events[k];
		if (ev->node < 0)
			continue;
		if (!strcmp(ev->reason, "mismatch") || !strcmp(ev->reason, "blocked"))
			a->flags[ev->node] |= MP_BC_MISMATCH;
		else if (strcmp(ev->from, ev->to))
			a->flags[ev->node] |= MP_NF_CAST;
	}
	if (b->hit_node >= 0)
		a->flags[b->hit_node] |= MP_NF_HIT;
	if (b->first_nonfinite_node >= 0)
		a->flags[b->first_nonfinite_node] |= MP_NF_HIT;
}

void mp_app_filter_trace(struct mp_app *a)
{
	a->ntrace = 0;
	free(a->trace_rows);
	a->trace_rows = NULL;
	if (!a->cur)
		return;
	a->trace_rows = malloc((a->cur->nevents + 1) * sizeof *a->trace_rows);
	if (!a->trace_rows)
		return;
	for (size_t i = 0; i < a->cur->nevents; i++) {
		const struct mp_view_event *ev = &a->cur->events[i];
		/* casts to the same type are the plan's bookkeeping, not events */
		if (!strcmp(ev->from, ev->to) && strcmp(ev->reason, "mismatch") && strcmp(ev->reason, "blocked"))
			continue;
		if (a->trace_filter[0]) {
			const char *node = ev->node >= 0 ? a->v->nodes[ev->node].name : "";
			if (!ci_contains(ev->reason, a->trace_filter) && !ci_contains(ev->from, a->trace_filter) &&
			    !ci_contains(ev->to, a->trace_filter) && !ci_contains(node, a->trace_filter))
				continue;
		}
		a->trace_rows[a->ntrace++] = i;
	}
	if (a->trace_sel >= a->ntrace)
		a->trace_sel = a->ntrace ? a->ntrace - 1 : 0;
}

/* While a live batch runs: a progress bar on the bottom line, and Ctrl-C
 * or Esc to stop it (the UI stays). */
static bool progress(void *user, size_t batch, size_t node, size_t nnodes)
{
	(void)user;
	int w = COLS - 40 > 10 ? COLS - 40 : 10, done = nnodes ? (int)((double)node / (double)nnodes * w) : 0;
	move(LINES - 1, 0);
	clrtoeol();
	printw("batch %zu: node %zu/%zu [", batch + 1, node, nnodes);
	for (int i = 0; i < w; i++)
		addch(i < done ? '#' : '.');
	printw("] Esc stops");
	refresh();
	nodelay(stdscr, TRUE);
	int ch = getch();
	timeout(500);
	if (ch == 27 || got_sigint) {
		got_sigint = 0; /* this Ctrl-C stops the batch, not the UI */
		return true;
	}
	return false;
}

enum mp_status mp_app_goto_batch(struct mp_app *a, size_t pos, struct mp_error *e)
{
	struct mp_view_batch *b = NULL;
	enum mp_status st;
	size_t count = a->live ? mp_live_count(a->live) : a->v->nbatches;
	if (pos >= count)
		return mp_error_set(e, MP_ERR_USAGE, "there %s %zu batch%s", count == 1 ? "is" : "are", count,
		                    count == 1 ? "" : "es");
	if (a->live) {
		if (a->step_pos >= 0 && pos != a->batch) {
			mp_live_stop_stepping(a->live);
			a->step_pos = -1;
			a->step_note[0] = '\0';
		}
		if (!mp_live_recorded(a->live, pos)) {
			set_msg(a, false, "running batch %zu... (Ctrl-C or Esc interrupts)", pos + 1);
			mp_app_draw(a);
			mp_live_set_progress(a->live, progress, a);
			st = mp_live_run_batch(a->live, pos, e);
			mp_live_set_progress(a->live, NULL, NULL);
			a->msg[0] = '\0';
			if (st)
				return st;
		}
		bool changed;
		if ((st = mp_view_refresh(a->v, &changed, e)))
			return st;
		a->strip_dirty = true;
		/* live batches are recorded in the order they ran: find it */
		size_t at = SIZE_MAX;
		for (size_t i = 0; i < a->v->nbatches; i++)
			if (a->v->batch_index[i] == pos)
				at = i;
		if (at == SIZE_MAX)
			return mp_error_set(e, MP_ERR_INTERNAL, "batch %zu ran but is not in the session", pos + 1);
		if ((st = mp_view_load_batch(a->v, at, &b, e)))
			return st;
	} else if ((st = mp_view_load_batch(a->v, pos, &b, e))) {
		return st;
	}
	mp_view_batch_free(a->cur);
	a->cur = b;
	a->batch = pos;
	a->msg[0] = '\0';
	compute_flags(a);
	mp_app_filter_trace(a);
	return MP_OK;
}

/* Where a batch stopped, or its first NaN/Inf: where to look first. */
int32_t mp_app_stop_node(const struct mp_app *a)
{
	const struct mp_view_batch *b = a->cur;
	if (!b)
		return -1;
	if (b->hit_node >= 0)
		return b->hit_node;
	for (size_t i = 0; i < b->nevents; i++)
		if ((!strcmp(b->events[i].reason, "mismatch") || !strcmp(b->events[i].reason, "blocked")) &&
		    b->events[i].node >= 0)
			return b->events[i].node;
	return b->first_nonfinite_node;
}

enum mp_status mp_app_init(struct mp_app *a, struct mp_view *v, struct mp_error *e)
{
	a->v = v;
	a->tree = true;
	a->sel_node = v->nnodes ? 0 : -1;
	a->step_pos = -1;
	a->tol = isnan(v->tol) ? 1e-2 : v->tol;
	a->conds = MP_BC_NAN | MP_BC_INF | MP_BC_MISMATCH;
	a->color = !(getenv("NO_COLOR") && *getenv("NO_COLOR"));
	a->utf8 = mp_cli_utf8();
	a->strip_dirty = true;
	if (!(a->collapsed = calloc(v->nmodules + 1, 1)) || !(a->bp = calloc(v->nnodes + 1, 1)) ||
	    !(a->flags = calloc(v->nnodes + 1, sizeof *a->flags)))
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	/* deep trees start folded below the second level */
	for (size_t m = 1; m < v->nmodules; m++)
		a->collapsed[m] = v->modules[m].depth >= 3;
	mp_app_build_rows(a);
	if (v->nbatches || a->live) {
		enum mp_status st = mp_app_goto_batch(a, 0, e);
		if (st)
			return st;
		int32_t n = mp_app_stop_node(a);
		if (n >= 0)
			show_node(a, n);
	}
	return MP_OK;
}

void mp_app_free(struct mp_app *a)
{
	mp_view_batch_free(a->cur);
	free(a->collapsed);
	free(a->bp);
	free(a->flags);
	free(a->rows);
	free(a->trace_rows);
	free(a->strip);
	memset(a, 0, sizeof *a);
}

/* ---- moving ---- */

static void move_sel(struct mp_app *a, long delta)
{
	if (a->focus == MP_PANE_TRACE) {
		long t = (long)a->trace_sel + delta;
		t = t < 0 ? 0 : t >= (long)a->ntrace ? (long)a->ntrace - 1 : t;
		a->trace_sel = t < 0 ? 0 : (size_t)t;
		return;
	}
	if (!a->nrows)
		return;
	size_t r = sel_row(a);
	long t = (r == SIZE_MAX ? 0 : (long)r) + delta;
	t = t < 0 ? 0 : t >= (long)a->nrows ? (long)a->nrows - 1 : t;
	/* a module row selects the module's first node, folded or not */
	const struct mp_row *row = &a->rows[t];
	a->sel_node = row->is_module ? a->v->modules[row->id].first_node : row->id;
	if (row->is_module && !a->collapsed[row->id] && delta < 0 && t > 0 && r != SIZE_MAX && (size_t)t + 1 == r) {
		/* up from a module's first node: onto the row above the module */
		const struct mp_row *up = &a->rows[t - 1];
		a->sel_node = up->is_module ? a->v->modules[up->id].first_node : up->id;
	}
	scroll_to_sel(a);
}

/* The module of the selected row, to fold (the node's innermost). */
static int32_t sel_module(const struct mp_app *a)
{
	size_t r = sel_row(a);
	if (r != SIZE_MAX && a->rows[r].is_module)
		return a->rows[r].id;
	return a->sel_node >= 0 ? a->v->nodes[a->sel_node].module_id : 0;
}

static void fold(struct mp_app *a, int how) /* -1 fold, 1 unfold, 0 toggle */
{
	if (!a->tree)
		return;
	int32_t m = sel_module(a);
	if (m <= 0)
		return;
	a->collapsed[m] = how == 0 ? !a->collapsed[m] : how < 0;
	mp_app_build_rows(a);
	scroll_to_sel(a);
}

static void search(struct mp_app *a, const char *q, bool next)
{
	size_t n = a->v->nnodes;
	if (!*q || !n)
		return;
	size_t start = a->sel_node >= 0 ? (size_t)a->sel_node + (next ? 1 : 0) : 0;
	for (size_t k = 0; k < n; k++) {
		size_t i = (start + k) % n;
		const struct mp_view_node *nd = &a->v->nodes[i];
		if (ci_contains(nd->name, q) || ci_contains(nd->module, q) || ci_contains(nd->op, q)) {
			show_node(a, (int32_t)i);
			set_msg(a, false, "/%s: %s (%s)%s", q, nd->name, nd->op, i < start ? "  (wrapped)" : "");
			return;
		}
	}
	set_msg(a, true, "/%s: no node's name, module or op has it", q);
}

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
			set_msg(a, true, "%s", e.msg);
			return;
		}
		for (size_t i = bi == start ? from : 0; i < a->v->nnodes; i++)
			if (meets(a, (int32_t)i)) {
				show_node(a, (int32_t)i);
				set_msg(a, false, "batch %zu, node %zu %s: a break condition holds", bi + 1, i + 1,
				        a->v->nodes[i].name);
				return;
			}
	}
	if (a->batch != start)
		mp_app_goto_batch(a, start, &e);
	set_msg(a, false, "no further node meets a break condition (B edits them, b sets one on a node)");
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

static unsigned parse_conds(const char *s, bool *ok)
{
	unsigned c = 0;
	char buf[256];
	snprintf(buf, sizeof buf, "%s", s);
	*ok = true;
	for (char *t = strtok(buf, ", "); t; t = strtok(NULL, ", ")) {
		if (!strcmp(t, "nan")) c |= MP_BC_NAN;
		else if (!strcmp(t, "inf")) c |= MP_BC_INF;
		else if (!strcmp(t, "overflow")) c |= MP_BC_OVERFLOW;
		else if (!strcmp(t, "mismatch")) c |= MP_BC_MISMATCH;
		else if (!strcmp(t, "tol")) c |= MP_BC_TOL;
		else if (strcmp(t, "none")) *ok = false;
	}
	return c;
}

static void conds_str(unsigned c, char *buf, size_t n)
{
	snprintf(buf, n, "%s%s%s%s%s", c & MP_BC_NAN ? "nan " : "", c & MP_BC_INF ? "inf " : "",
	         c & MP_BC_OVERFLOW ? "overflow " : "", c & MP_BC_MISMATCH ? "mismatch " : "", c & MP_BC_TOL ? "tol" : "");
	if (!*buf)
		snprintf(buf, n, "none");
}

/* The live run again under another policy: a new run and session; the
 * node and batch the user is at stay selected. */
static void rerun_policy(struct mp_app *a, const char *policy)
{
	struct mp_error e = { 0 };
	struct mp_live *live = NULL;
	struct mp_view *v = NULL;
	if (!a->live || !a->rerun) {
		set_msg(a, true, "rerunning under another policy needs a live run (mpdbg tui MODEL --data PATH)");
		return;
	}
	if (!*policy) {
		set_msg(a, true, "which policy? fp32, bf16-autocast, bf16, fp16-autocast, fp16");
		return;
	}
	set_msg(a, false, "rerunning batch %zu under %s...", a->batch + 1, policy);
	mp_app_draw(a);
	if (a->rerun(a->rerun_user, policy, a->batch, &live, &v, &e)) {
		set_msg(a, true, "%s", e.msg);
		return;
	}
	if (v->nnodes != a->v->nnodes) { /* the same model: the same nodes */
		mp_view_free(v);
		mp_live_free(live);
		set_msg(a, true, "the rerun's graph differs");
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
		set_msg(a, true, "%s", e.msg);
		return;
	}
	int32_t stop = mp_app_stop_node(a);
	show_node(a, stop >= 0 ? stop : keep);
	set_msg(a, false, "batch %zu rerun under %s", a->batch + 1, name);
}

static void command(struct mp_app *a, char *line)
{
	struct mp_error e = { 0 };
	char *arg = line + strcspn(line, " ");
	if (*arg)
		*arg++ = '\0';
	while (*arg == ' ')
		arg++;
	if (!strcmp(line, "q") || !strcmp(line, "quit")) {
		a->quit = true;
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
			set_msg(a, true, ":goto %s: no such node (a name, or a number 1..%zu)", arg, a->v->nnodes);
		else
			show_node(a, n);
	} else if (!strcmp(line, "break")) {
		bool ok;
		unsigned c = parse_conds(arg, &ok);
		if (!ok || !*arg) {
			set_msg(a, true, ":break wants nan, inf, overflow, mismatch or tol, not '%s'", arg);
		} else {
			a->conds |= c;
			char s[64];
			conds_str(a->conds, s, sizeof s);
			set_msg(a, false, "break conditions: %s", s);
		}
	} else if (!strcmp(line, "export")) {
		char *file = arg + strcspn(arg, " ");
		if (*file)
			*file++ = '\0';
		if (strcmp(arg, "json") || !*file)
			set_msg(a, true, ":export json FILE");
		else if (export_json(a, file, &e))
			set_msg(a, true, "%s", e.msg);
		else
			set_msg(a, false, "session written to %s", file);
	} else if (!strcmp(line, "policy")) {
		rerun_policy(a, arg);
	} else if (!strcmp(line, "filter")) {
		snprintf(a->trace_filter, sizeof a->trace_filter, "%s", arg);
		mp_app_filter_trace(a);
	} else if (*line) {
		set_msg(a, true, ":%s: not a command (policy, break, export, goto, filter, quit)", line);
	}
}

/* `o` and `d`: the picture written where the user can find it again (the
 * temporary folder), and shown over the screen until a key. */
static void picture(struct mp_app *a, bool diversity)
{
	struct mp_error e = { 0 };
	struct mp_pose_options po;
	char path[512];
	const char *tmp = getenv("TMPDIR");
	if (!a->cur) {
		set_msg(a, true, "no batch recorded yet");
		return;
	}
	mp_pose_options_init(&po);
	po.batches_dir = a->batches_dir;
	if (diversity)
		snprintf(path, sizeof path, "%s/mpdbg-%d-diversity.png", tmp && *tmp ? tmp : "/tmp", (int)getpid());
	else
		snprintf(path, sizeof path, "%s/mpdbg-%d-batch%zu.png", tmp && *tmp ? tmp : "/tmp", (int)getpid(),
		         a->cur->index);
	set_msg(a, false, "drawing %s...", path);
	mp_app_draw(a);
	enum mp_status st;
	if (diversity) {
		struct mp_diversity d;
		st = mp_diversity_analyse(a->v, &po, &d, &e);
		if (!st)
			st = mp_diversity_render(a->v, &d, path, &e);
		if (!st)
			set_msg(a, false, "diversity: %s (ratio %.3g) - %s", mp_verdict_name(d.verdict), d.ratio, path);
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
			set_msg(a, false, "overlay of batch %zu: %s", a->batch + 1, path);
	}
	if (st) {
		set_msg(a, true, "%s", e.msg);
		return;
	}
	char note[sizeof a->msg];
	snprintf(note, sizeof note, "%s", a->msg);
	if (mp_preview_png(path, COLS, LINES, a->color, a->utf8, &e))
		set_msg(a, true, "%s", e.msg);
	else
		snprintf(a->msg, sizeof a->msg, "%s", note);
}

static void live_step(struct mp_app *a, bool cont)
{
	struct mp_error e = { 0 };
	long pos = a->step_pos;
	enum mp_status st;
	if (!a->live) {
		if (cont)
			next_stop(a);
		else
			set_msg(a, true, "s steps a live run; this is a recorded session (c finds the next stop)");
		return;
	}
	if (cont && a->step_pos < 0) {
		/* not stepping: the next batch, run to its end or a stop */
		size_t count = mp_live_count(a->live);
		if (a->batch + 1 >= count && mp_live_recorded(a->live, a->batch)) {
			set_msg(a, false, "the last batch has run");
			return;
		}
		size_t to = mp_live_recorded(a->live, a->batch) ? a->batch + 1 : a->batch;
		if (mp_app_goto_batch(a, to, &e)) {
			set_msg(a, true, "%s", e.msg);
			return;
		}
		int32_t n = mp_app_stop_node(a);
		if (n >= 0)
			show_node(a, n);
		return;
	}
	st = cont ? mp_live_continue(a->live, a->bp, &pos, a->step_note, sizeof a->step_note, &e) :
	            mp_live_step(a->live, a->batch, &pos, a->step_note, sizeof a->step_note, &e);
	if (st) {
		set_msg(a, true, "%s", e.msg);
		a->step_pos = -1;
		return;
	}
	a->step_pos = pos;
	if (pos >= 0) {
		show_node(a, (int32_t)pos);
		set_msg(a, false, "%s", a->step_note);
	} else {
		/* the batch ended: it is in the session now */
		char note[sizeof a->step_note];
		snprintf(note, sizeof note, "%s", a->step_note);
		if (mp_app_goto_batch(a, a->batch, &e))
			set_msg(a, true, "%s", e.msg);
		else
			set_msg(a, false, "%s", note);
	}
}

/* ---- the prompt line ---- */

static void prompt_open(struct mp_app *a, char kind)
{
	a->prompt_kind = kind;
	a->prompt[0] = '\0';
	a->prompt_len = 0;
	a->msg[0] = '\0';
}

static void prompt_accept(struct mp_app *a)
{
	struct mp_error e = { 0 };
	char kind = a->prompt_kind;
	a->prompt_kind = 0;
	switch (kind) {
	case ':': command(a, a->prompt); break;
	case '/':
		memcpy(a->search, a->prompt, sizeof a->search);
		search(a, a->search, false);
		break;
	case 'g': {
		char *end;
		long k = strtol(a->prompt, &end, 10);
		if (!a->prompt[0] || *end || k < 1)
			set_msg(a, true, "go to batch: a number from 1, not '%s'", a->prompt);
		else if (mp_app_goto_batch(a, (size_t)k - 1, &e))
			set_msg(a, true, "%s", e.msg);
		break;
	}
	case 'F':
		memcpy(a->trace_filter, a->prompt, sizeof a->trace_filter);
		mp_app_filter_trace(a);
		a->focus = MP_PANE_TRACE;
		break;
	case 'r': rerun_policy(a, a->prompt); break;
	case 'B': {
		bool ok;
		unsigned c = parse_conds(a->prompt, &ok);
		char s[64];
		if (!ok) {
			set_msg(a, true, "break conditions are nan, inf, overflow, mismatch, tol (or none)");
		} else {
			a->conds = c;
			conds_str(c, s, sizeof s);
			set_msg(a, false, "break conditions: %s", s);
		}
		break;
	}
	}
}

static void prompt_key(struct mp_app *a, int ch)
{
	if (ch == 27 || ch == 7) { /* Esc, Ctrl-G */
		a->prompt_kind = 0;
	} else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
		prompt_accept(a);
	} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
		if (a->prompt_len)
			a->prompt[--a->prompt_len] = '\0';
		else
			a->prompt_kind = 0;
	} else if (ch == 14 && a->prompt_kind == '/') { /* Ctrl-N: next match, still searching */
		search(a, a->prompt, true);
	} else if (ch >= 32 && ch < 127 && a->prompt_len + 1 < sizeof a->prompt) {
		a->prompt[a->prompt_len++] = (char)ch;
		a->prompt[a->prompt_len] = '\0';
		if (a->prompt_kind == '/') /* incremental */
			search(a, a->prompt, false);
	}
}

/* ---- mouse ---- */

static void click(struct mp_app *a, int y, int x)
{
	struct mp_error e = { 0 };
	if (y == a->strip_y && x >= a->strip_x && x < a->strip_x + a->strip_w) {
		size_t b = a->strip_first + (size_t)(x - a->strip_x);
		if (b < (a->live ? mp_live_count(a->live) : a->v->nbatches) && mp_app_goto_batch(a, b, &e))
			set_msg(a, true, "%s", e.msg);
		return;
	}
	if (y >= a->nodes_y && y < a->nodes_y + a->nodes_h && x < a->nodes_x + a->nodes_w) {
		size_t r = a->top + (size_t)(y - a->nodes_y);
		a->focus = MP_PANE_NODES;
		if (r < a->nrows) {
			const struct mp_row *row = &a->rows[r];
			if (row->is_module) {
				a->collapsed[row->id] = !a->collapsed[row->id];
				mp_app_build_rows(a);
			} else {
				a->sel_node = row->id;
			}
		}
		return;
	}
	if (y >= a->trace_y && y < a->trace_y + a->trace_h && x >= a->trace_x) {
		a->focus = MP_PANE_TRACE;
		size_t r = a->trace_top + (size_t)(y - a->trace_y - 1);
		if (y > a->trace_y && r < a->ntrace)
			a->trace_sel = r;
	}
}

/* ---- keys ---- */

static void key(struct mp_app *a, int ch)
{
	struct mp_error e = { 0 };
	if (a->help) {
		a->help = false;
		return;
	}
	if (a->prompt_kind) {
		prompt_key(a, ch);
		return;
	}
	a->msg[0] = '\0';
	switch (ch) {
	case 'q': a->quit = true; break;
	case '?': a->help = true; break;
	case KEY_UP: case 'k': move_sel(a, -1); break;
	case KEY_DOWN: case 'j': move_sel(a, 1); break;
	case KEY_PPAGE: move_sel(a, -(long)pane_rows()); break;
	case KEY_NPAGE: move_sel(a, pane_rows()); break;
	case KEY_HOME: move_sel(a, -(long)a->v->nnodes - (long)a->ntrace); break;
	case KEY_END: move_sel(a, (long)a->v->nnodes + (long)a->ntrace); break;
	case '\t': a->focus = (enum mp_pane)((a->focus + 1) % MP_PANE_COUNT); break;
	case KEY_LEFT: fold(a, -1); break;
	case KEY_RIGHT: fold(a, 1); break;
	case '\n': case '\r': case KEY_ENTER: case ' ':
		if (a->focus == MP_PANE_TRACE && a->trace_sel < a->ntrace) {
			const struct mp_view_event *ev = &a->cur->events[a->trace_rows[a->trace_sel]];
			if (ev->node >= 0)
				show_node(a, ev->node);
			else if (ev->value >= 0)
				set_msg(a, false, "%s: before any node (%s)", a->v->values[ev->value].name, ev->reason);
		} else {
			fold(a, 0);
		}
		break;
	case 't':
		a->tree = !a->tree;
		mp_app_build_rows(a);
		scroll_to_sel(a);
		break;
	case 'n': case 'p': {
		size_t count = a->live ? mp_live_count(a->live) : a->v->nbatches;
		if (ch == 'n' ? a->batch + 1 >= count : a->batch == 0)
			set_msg(a, false, ch == 'n' ? "this is the last batch" : "this is the first batch");
		else if (mp_app_goto_batch(a, ch == 'n' ? a->batch + 1 : a->batch - 1, &e))
			set_msg(a, true, "%s", e.msg);
		break;
	}
	case 'g': prompt_open(a, 'g'); break;
	case '/': prompt_open(a, '/'); break;
	case ':': prompt_open(a, ':'); break;
	case 'F': prompt_open(a, 'F'); break;
	case 'B': {
		prompt_open(a, 'B');
		conds_str(a->conds, a->prompt, sizeof a->prompt);
		a->prompt_len = strlen(a->prompt);
		break;
	}
	case 'N': search(a, a->search, true); break;
	case 'o': picture(a, false); break;
	case 'd': picture(a, true); break;
	case 's': live_step(a, false); break;
	case 'c': live_step(a, true); break;
	case 'b':
		if (a->sel_node >= 0) {
			a->bp[a->sel_node] = !a->bp[a->sel_node];
			set_msg(a, false, "breakpoint %s %s", a->bp[a->sel_node] ? "on" : "off", a->v->nodes[a->sel_node].name);
		}
		break;
	case 'r':
		if (!a->live)
			set_msg(a, true, "r reruns a live run; this is a recorded session");
		else
			prompt_open(a, 'r');
		break;
	case 'f':
		a->figure = (enum mp_view_figure)((a->figure + 1) % MP_FIG_COUNT);
		a->strip_dirty = true;
		break;
	case KEY_MOUSE: {
		MEVENT me;
		if (getmouse(&me) == OK) {
			if (me.bstate & BUTTON4_PRESSED)
				move_sel(a, -3);
			else if (me.bstate & BUTTON5_PRESSED)
				move_sel(a, 3);
			else
				click(a, me.y, me.x);
		}
		break;
	}
	case KEY_RESIZE: break;
	case 12: clearok(curscr, TRUE); break; /* Ctrl-L */
	default: break;
	}
}

void mp_app_refresh_strip(struct mp_app *a)
{
	struct mp_error e = { 0 };
	if (!a->strip_dirty)
		return;
	a->strip_dirty = false;
	size_t n = a->v->nbatches;
	double *s = n ? malloc(n * sizeof *s) : NULL;
	if (n && (!s || mp_view_figure(a->v, a->figure, s, &e))) {
		free(s);
		return;
	}
	free(a->strip);
	a->strip = s;
	a->strip_n = n;
}

int mp_app_run(struct mp_app *a)
{
	struct mp_error e = { 0 };
	screen_start(a);
	while (!a->quit && !got_sigint) {
		mp_app_refresh_strip(a);
		mp_app_draw(a);
		int ch = getch();
		if (ch == ERR) {
			/* idle: a session still being recorded may have grown */
			bool changed = false;
			if (!a->live && !strcmp(a->v->status, "running") && !mp_view_refresh(a->v, &changed, &e) && changed) {
				a->strip_dirty = true;
				if (!a->cur && a->v->nbatches)
					mp_app_goto_batch(a, 0, &e);
			}
			continue;
		}
		key(a, ch);
	}
	endwin();
	return MP_EXIT_OK;
}
