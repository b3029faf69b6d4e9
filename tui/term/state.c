/* state.c - the UI's state between keys: the node pane's rows, the
 * selection, every node's flags and the filtered trace of the loaded
 * batch, moving to a batch (running it first in live mode), search. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "cli.h"
#include "term.h"

void mp_app_msg(struct mp_app *a, bool err, const char *fmt, ...)
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
size_t mp_app_sel_row(const struct mp_app *a)
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

int mp_app_pane_rows(void)
{
	return LINES - 4 > 1 ? LINES - 4 : 1;
}

void mp_app_scroll_to_sel(struct mp_app *a)
{
	size_t r = mp_app_sel_row(a);
	int h = mp_app_pane_rows();
	if (r == SIZE_MAX)
		return;
	if (r < a->top)
		a->top = r;
	else if (r >= a->top + (size_t)h)
		a->top = r - (size_t)h + 1;
}

/* Shows a node: unfolds the modules it is in, selects and scrolls to it. */
void mp_app_show_node(struct mp_app *a, int32_t node)
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
	mp_app_scroll_to_sel(a);
}

static bool ci_contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++)
		if (!strncasecmp(hay, needle, n))
			return true;
	return !n;
}

void mp_app_search(struct mp_app *a, const char *q, bool next)
{
	size_t n = a->v->nnodes;
	if (!*q || !n)
		return;
	size_t start = a->sel_node >= 0 ? (size_t)a->sel_node + (next ? 1 : 0) : 0;
	for (size_t k = 0; k < n; k++) {
		size_t i = (start + k) % n;
		const struct mp_view_node *nd = &a->v->nodes[i];
		if (ci_contains(nd->name, q) || ci_contains(nd->module, q) || ci_contains(nd->op, q)) {
			mp_app_show_node(a, (int32_t)i);
			mp_app_msg(a, false, "/%s: %s (%s)%s", q, nd->name, nd->op, i < start ? "  (wrapped)" : "");
			return;
		}
	}
	mp_app_msg(a, true, "/%s: no node's name, module or op has it", q);
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
	for (size_t i = 0; i < v->nnodes; i++) {
		unsigned f = 0;
		for (int k = 0; k < v->nodes[i].noutputs; k++) {
			int32_t id = v->nodes[i].outputs[k];
			if (id < 0)
				continue;
			f |= mp_view_stat_breaks(v, &b->stats[id], a->tol);
		}
		a->flags[i] = f;
	}
	for (size_t k = 0; k < b->nevents; k++) {
		const struct mp_view_event *ev = &b->events[k];
		if (ev->node < 0)
			continue;
		if (mp_view_event_is_mismatch(ev))
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
		if (!strcmp(ev->from, ev->to) && !mp_view_event_is_mismatch(ev))
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
			mp_app_busy(a, "running batch %zu... (Ctrl-C or Esc interrupts)", pos + 1);
			mp_live_set_progress(a->live, mp_app_progress, a);
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
		if (mp_view_event_is_mismatch(&b->events[i]) && b->events[i].node >= 0)
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
			mp_app_show_node(a, n);
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
