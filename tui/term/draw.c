/* draw.c - the screen: header, batch status, batch strip, the node pane
 * (module tree or flat list), the detail pane, the dtype trace, and the
 * bottom line (keys, prompt or message).  Lays out from the terminal's
 * size on every draw, so a resize re-lays it out; meaning is carried by a
 * symbol as well as a colour, so it reads without colour (NO_COLOR). */
#include <curses.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app.h"

enum { C_ERR = 1, C_WARN, C_CAST, C_OK, C_BREAK, C_HEAD, C_DIM };

void mp_app_colors(struct mp_app *a)
{
	if (!a->color || !has_colors())
		return;
	start_color();
	use_default_colors();
	init_pair(C_ERR, COLOR_RED, -1);
	init_pair(C_WARN, COLOR_YELLOW, -1);
	init_pair(C_CAST, COLOR_CYAN, -1);
	init_pair(C_OK, COLOR_GREEN, -1);
	init_pair(C_BREAK, COLOR_MAGENTA, -1);
	init_pair(C_HEAD, COLOR_BLACK, COLOR_CYAN);
	init_pair(C_DIM, COLOR_BLUE, -1);
}

static attr_t col(const struct mp_app *a, int pair)
{
	if (a->color && has_colors())
		return COLOR_PAIR(pair);
	switch (pair) { /* without colour: weight instead */
	case C_ERR: return A_BOLD;
	case C_HEAD: return A_REVERSE;
	case C_DIM: return A_DIM;
	default: return A_NORMAL;
	}
}

/* Text at (y, x) in at most w columns, the rest of w blanked. */
static void put(int y, int x, int w, attr_t at, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	if (w <= 0 || y < 0 || y >= LINES)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	for (char *c = buf; *c; c++) /* one line: a newline or tab would move the cursor */
		if ((unsigned char)*c < 32)
			*c = ' ';
	attrset(at);
	mvhline(y, x, ' ', w);
	int n = (int)strlen(buf), cols = 0, i = 0;
	/* count columns, not bytes (UTF-8 continuation bytes take none) */
	for (; i < n; i++) {
		if (((unsigned char)buf[i] & 0xC0) != 0x80) {
			if (cols == w)
				break;
			cols++;
		}
	}
	mvaddnstr(y, x, buf, i);
	attrset(A_NORMAL);
}

/* Text over as many rows as it needs (up to ymax), continuation rows
 * indented by `ind`; returns the row after it. */
static int wrap(int y, int x, int w, int ymax, int ind, attr_t at, const char *text)
{
	size_t len = strlen(text);
	const char *p = text;
	bool first = true;
	while (y < ymax && (first || *p)) {
		int room = first ? w : w - ind;
		if (room <= 0)
			break;
		size_t n = strlen(p) <= (size_t)room ? strlen(p) : (size_t)room;
		if (n < strlen(p)) { /* break at a space when there is one */
			size_t k = n;
			while (k > (size_t)room / 2 && p[k] != ' ')
				k--;
			if (p[k] == ' ')
				n = k + 1;
		}
		put(y++, first ? x : x + ind, room, at, "%.*s", (int)n, p);
		p += n;
		first = false;
	}
	(void)len;
	return y;
}

static const char *fmt_num(char *b, size_t n, double v)
{
	if (isnan(v))
		snprintf(b, n, "-");
	else if (v != 0 && (fabs(v) >= 1e5 || fabs(v) < 1e-3))
		snprintf(b, n, "%.3g", v);
	else
		snprintf(b, n, "%.4g", v);
	return b;
}

/* The flag column: up to 3 symbols, worst first. */
static void draw_flags(const struct mp_app *a, int y, int x, int32_t node)
{
	unsigned f = mp_app_node_flags(a, node);
	static const struct { unsigned bit; char sym; int pair; } order[] = {
		{ MP_BC_MISMATCH, '!', C_ERR }, { MP_BC_NAN, 'N', C_ERR }, { MP_BC_INF, 'I', C_ERR },
		{ MP_BC_OVERFLOW, 'O', C_WARN }, { MP_BC_TOL, 'E', C_WARN }, { MP_NF_CAST, 'c', C_CAST },
	};
	char s[4] = "   ";
	int k = 0;
	mvaddstr(y, x, "   ");
	if (a->bp[node]) {
		attrset(col(a, C_BREAK) | A_BOLD);
		mvaddch(y, x, '*');
		k = 1;
	}
	for (size_t i = 0; i < sizeof order / sizeof order[0] && k < 3; i++)
		if (f & order[i].bit) {
			s[0] = order[i].sym;
			attrset(col(a, order[i].pair) | A_BOLD);
			mvaddch(y, x + k++, (chtype)(unsigned char)s[0]);
		}
	attrset(A_NORMAL);
}

static const struct mp_view_stat *out_stat(const struct mp_app *a, int32_t node)
{
	const struct mp_view_node *n = &a->v->nodes[node];
	if (!a->cur || !n->noutputs || n->outputs[0] < 0)
		return NULL;
	const struct mp_view_stat *s = &a->cur->stats[n->outputs[0]];
	return s->present ? s : NULL;
}

static void draw_header(struct mp_app *a)
{
	const struct mp_view *v = a->v;
	char node[64] = "node -";
	if (a->sel_node >= 0)
		snprintf(node, sizeof node, "node %d/%zu", a->sel_node + 1, v->nnodes);
	char batch[48];
	snprintf(batch, sizeof batch, "batch %zu/%zu", v->nbatches ? a->batch + 1 : 0,
	         a->live ? mp_live_count(a->live) : v->nbatches);
	put(0, 0, COLS, col(a, C_HEAD) | A_BOLD, " mpdbg  %s  policy %s  %s %s  %s  %s  %s", a->model_label, v->policy,
	    v->backend, v->device, batch, node, a->live ? "[live]" : !strcmp(v->status, "running") ? "[recording]" : "[replay]");
}

/* What went wrong in this batch, in a line. */
static void draw_status(struct mp_app *a, int y)
{
	const struct mp_view_batch *b = a->cur;
	char line[1024];
	size_t n = 0;
	attr_t at = col(a, C_OK);
	if (!b) {
		put(y, 0, COLS, col(a, C_DIM), " %s", a->live && !mp_live_recorded(a->live, a->batch) ?
		    "this batch has not run yet: s steps through it, c runs it" : "no batch recorded yet");
		return;
	}
	line[0] = '\0';
#define ADD(...) (n += (size_t)snprintf(line + n, n < sizeof line ? sizeof line - n : 0, __VA_ARGS__))
	if (strcmp(b->status, "done")) {
		ADD("%s: %s", b->status, *b->message ? b->message : "-");
		at = col(a, C_ERR) | A_BOLD;
	} else {
		ADD("done in %.1f ms", b->ms);
	}
	if (b->mismatches)
		ADD("  | %zu mismatch%s", b->mismatches, b->mismatches == 1 ? "" : "es"), at = col(a, C_ERR) | A_BOLD;
	if (b->nan_values || b->inf_values) {
		ADD("  | NaN in %lld, Inf in %lld values", (long long)b->nan_values, (long long)b->inf_values);
		if (b->first_nonfinite_node >= 0)
			ADD(" (first: %s)", a->v->nodes[b->first_nonfinite_node].name);
		at = col(a, C_ERR) | A_BOLD;
	}
	if (b->overflow_values)
		ADD("  | %lld values overflow %s", (long long)b->overflow_values, a->v->low_dtype);
	if (b->worst_node >= 0) {
		char w[32];
		ADD("  | worst vs fp32: %s (rel L2 %s)", a->v->nodes[b->worst_node].name,
		    fmt_num(w, sizeof w, b->worst_rel_l2));
	}
#undef ADD
	put(y, 0, COLS, at, " %s", line);
}

static const char *spark(const struct mp_app *a, double v, double lo, double hi)
{
	static const char *const u[] = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" };
	static const char *const s[] = { "_", ".", ":", "-", "=", "+", "*", "#" };
	if (isnan(v))
		return " ";
	int k = hi > lo ? (int)((v - lo) / (hi - lo) * 7.999) : (v > 0 ? 7 : 0);
	k = k < 0 ? 0 : k > 7 ? 7 : k;
	return a->utf8 ? u[k] : s[k];
}

static void draw_strip(struct mp_app *a, int y)
{
	const char *name = mp_view_figure_name(a->figure);
	char head[64];
	int hw = snprintf(head, sizeof head, " %s ", name);
	put(y, 0, COLS, col(a, C_DIM), "%s", head);
	int w = COLS - hw - 2;
	a->strip_y = y, a->strip_x = hw, a->strip_w = w;
	if (w <= 0 || !a->strip || !a->strip_n)
		return;
	double lo = INFINITY, hi = -INFINITY;
	for (size_t i = 0; i < a->strip_n; i++)
		if (!isnan(a->strip[i]))
			lo = fmin(lo, a->strip[i]), hi = fmax(hi, a->strip[i]);
	if (a->figure == MP_FIG_NONFINITE)
		lo = 0;
	/* a window of batches around the current one when they do not fit */
	size_t first = 0;
	if (a->strip_n > (size_t)w)
		first = a->batch > (size_t)w / 2 ? a->batch - (size_t)w / 2 : 0;
	if (first + (size_t)w > a->strip_n && a->strip_n > (size_t)w)
		first = a->strip_n - (size_t)w;
	a->strip_first = first;
	move(y, hw);
	for (size_t i = first; i < a->strip_n && i < first + (size_t)w; i++) {
		attr_t at = i == a->batch ? A_REVERSE | A_BOLD : A_NORMAL;
		if (a->figure == MP_FIG_NONFINITE && a->strip[i] > 0)
			at |= col(a, C_ERR);
		attrset(at);
		addstr(spark(a, a->strip[i], lo, hi));
	}
	attrset(A_NORMAL);
}

static void draw_nodes(struct mp_app *a, int y, int x, int h, int w)
{
	a->nodes_y = y, a->nodes_x = x, a->nodes_h = h, a->nodes_w = w;
	if (h <= 0)
		return;
	if (a->top + (size_t)h > a->nrows)
		a->top = a->nrows > (size_t)h ? a->nrows - (size_t)h : 0;
	for (int r = 0; r < h; r++) {
		size_t i = a->top + (size_t)r;
		if (i >= a->nrows) {
			put(y + r, x, w, A_NORMAL, "");
			continue;
		}
		const struct mp_row *row = &a->rows[i];
		bool sel = !row->is_module && row->id == a->sel_node;
		attr_t base = sel ? (a->focus == MP_PANE_NODES ? A_REVERSE : A_UNDERLINE) : A_NORMAL;
		int ind = row->depth * 2 < w / 3 ? row->depth * 2 : w / 3;
		if (row->is_module) {
			const struct mp_view_module *m = &a->v->modules[row->id];
			const char *tw = a->collapsed[row->id] ? (a->utf8 ? "▸" : "+") : (a->utf8 ? "▾" : "-");
			put(y + r, x, w, A_BOLD, "   %*s%s %s  (%d nodes)", ind, "", tw, m->name,
			    m->last_node - m->first_node + 1);
			continue;
		}
		const struct mp_view_node *n = &a->v->nodes[row->id];
		const struct mp_view_stat *s = out_stat(a, row->id);
		bool not_run = a->live && a->step_pos >= 0 && row->id > a->step_pos;
		char info[128];
		const char *dt = s ? s->dtype : n->noutputs && n->outputs[0] >= 0 ? a->v->values[n->outputs[0]].dtype : "";
		snprintf(info, sizeof info, "%-9.9s %-8.8s %s", n->op, dt, s ? s->shape : "");
		int iw = w >= 70 ? 40 : w >= 50 ? 28 : 18, nw = w - 3 - ind - iw - 1;
		if (nw < 8)
			nw = w - 3 - ind - 1, iw = 0;
		bool here = a->live && a->step_pos >= 0 && row->id == a->step_pos;
		/* in the tree, a node's name without its module's path ("/a/b/MatMul": "MatMul") */
		const char *name = n->name, *slash = strrchr(name, '/');
		if (a->tree && slash && slash[1] && name[0] == '/')
			name = slash + 1;
		put(y + r, x + 3, w - 3, base | (not_run ? col(a, C_DIM) : 0) | (here ? A_BOLD : 0), "%*s%-*.*s %.*s", ind,
		    "", nw, nw, name, iw, info);
		draw_flags(a, y + r, x, row->id);
	}
}

/* The exponent histogram as a row of bars over the exponents that hold
 * values, with bf16's and fp16's ranges marked beneath. */
static int draw_hist(struct mp_app *a, int y, int x, int w, int ymax, const struct mp_view_stat *s)
{
	if (!s->has_hist || w < 20 || y + 3 > ymax)
		return y;
	int lo = 999, hi = -999;
	uint64_t top = 0;
	for (int bin = 2; bin < 256; bin++)
		if (s->hist[bin]) {
			int ex = bin - 128;
			lo = ex < lo ? ex : lo, hi = ex > hi ? ex : hi;
			top = s->hist[bin] > top ? s->hist[bin] : top;
		}
	if (lo > hi) {
		put(y++, x, w, A_NORMAL, "  exponents: no finite nonzero values");
		return y;
	}
	/* widen to show the fp16 edges (2^-24 and 2^15) when they are near */
	int span = w - 12;
	if (hi - lo + 1 < span) {
		int extra = span - (hi - lo + 1);
		lo -= extra / 2, hi += extra - extra / 2;
	}
	int per = (hi - lo + span) / span; /* exponents per column */
	put(y, x, w, A_NORMAL, "  2^%-4d", lo);
	move(y, x + 8);
	for (int c = 0; c < span && lo + c * per <= hi; c++) {
		uint64_t n = 0;
		int e0 = lo + c * per;
		for (int k = 0; k < per; k++)
			if (e0 + k >= -126 && e0 + k <= 127)
				n += s->hist[e0 + k + 128];
		bool f16_out = e0 >= 16 || e0 + per - 1 < -24, f16_sub = !f16_out && e0 < -14;
		attrset(f16_out ? col(a, C_ERR) : f16_sub ? col(a, C_WARN) : A_NORMAL);
		addstr(n ? spark(a, log((double)n + 1), 0, log((double)top + 1)) : " ");
	}
	attrset(A_NORMAL);
	char end[16];
	int cx = getcurx(stdscr), room = x + w - cx;
	snprintf(end, sizeof end, " 2^%d", hi);
	if (room > 0)
		addnstr(end, room); /* never past the pane: a full line would wrap */
	y++;
	/* the ruler: where fp16 flushes, goes subnormal and overflows; bf16 reaches 2^127 */
	move(y, x + 8);
	for (int c = 0; c < span && lo + c * per <= hi; c++) {
		int e0 = lo + c * per;
		char ch = e0 >= 16 ? '^' : e0 + per - 1 < -24 ? '0' : e0 < -14 ? 's' : '-';
		attrset(ch == '^' || ch == '0' ? col(a, C_ERR) : ch == 's' ? col(a, C_WARN) : col(a, C_DIM));
		addch((chtype)ch);
	}
	attrset(A_NORMAL);
	y++;
	put(y++, x, w, col(a, C_DIM), "  fp16: - normal  s subnormal  0 flushes  ^ overflows   bf16: normal 2^-126..2^127");
	return y;
}

static bool passes_through(const char *op)
{
	static const char *const ops[] = { "Transpose", "Reshape", "Cast", "Identity", "Unsqueeze", "Squeeze",
	                                   "Flatten", "Expand", "Slice", "Gather", "Concat" };
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
		if (!strcmp(op, ops[i]))
			return true;
	return false;
}

/* Where a value came from: its producer, followed back through ops that
 * only move or cast data to the graph input or weight it started as. */
static const char *origin(const struct mp_app *a, int32_t id, char *buf, size_t n)
{
	size_t k = 0;
	buf[0] = '\0';
	for (int hops = 0; hops < 8 && id >= 0 && k < n; hops++) {
		const struct mp_view_value *val = &a->v->values[id];
		if (val->producer < 0) {
			snprintf(buf + k, n - k, "%s%s '%s'", hops ? " <- " : "", !strcmp(val->kind, "input") ? "graph input" :
			         "weight", val->name);
			return buf;
		}
		const struct mp_view_node *p = &a->v->nodes[val->producer];
		k += (size_t)snprintf(buf + k, n - k, "%soutput of %s (%s)", hops ? " <- " : "", p->name, p->op);
		if (!passes_through(p->op) || p->ninputs < 1)
			return buf;
		id = p->inputs[0];
	}
	return buf;
}

static void draw_detail(struct mp_app *a, int y, int x, int h, int w)
{
	int ymax = y + h;
	for (int r = y; r < ymax; r++)
		put(r, x, w, A_NORMAL, "");
	if (a->sel_node < 0 || h <= 0) {
		return;
	}
	const struct mp_view_node *n = &a->v->nodes[a->sel_node];
	const struct mp_view_batch *b = a->cur;
	char t1[32], t2[32], t3[32], t4[32], o[512];
	put(y++, x, w, A_BOLD, "%s", n->name);
	if (y < ymax)
		put(y++, x, w, A_NORMAL, "%s in %s, computes in %s", n->op, *n->module ? n->module : "(model)",
		    *n->exec_dtype ? n->exec_dtype : "-");
	for (int k = 0; k < n->ninputs && y < ymax; k++) {
		int32_t id = n->inputs[k];
		if (id < 0)
			continue;
		const struct mp_view_value *val = &a->v->values[id];
		const struct mp_view_stat *s = b ? &b->stats[id] : NULL;
		char line[640];
		snprintf(line, sizeof line, " in%d %s %s %s: %s", k, s && s->present ? s->dtype : val->dtype,
		         s && s->present ? s->shape : "", val->name, origin(a, id, o, sizeof o));
		y = wrap(y, x, w, ymax, 5, A_NORMAL, line);
		for (size_t e = 0; b && e < b->nevents && y < ymax; e++) {
			const struct mp_view_event *ev = &b->events[e];
			if (ev->node != a->sel_node || ev->slot != k)
				continue;
			bool mm = !strcmp(ev->reason, "mismatch") || !strcmp(ev->reason, "blocked");
			put(y++, x, w, (mm ? col(a, C_ERR) | A_BOLD : col(a, C_CAST)), "      %s %s %s %s", mm ? "!" : "c",
			    ev->reason, ev->from, *ev->to ? ev->to : "");
		}
	}
	if (b && strcmp(b->status, "done") && b->message[0] && a->sel_node == mp_app_stop_node(a)) {
		/* why the batch stopped here, as the run said it (one line each) */
		const char *p = b->message;
		while (*p && y < ymax) {
			size_t len = strcspn(p, "\n");
			char ln[512];
			snprintf(ln, sizeof ln, "%.*s", (int)len, p);
			y = wrap(y, x, w, ymax, 4, col(a, C_ERR) | A_BOLD, ln);
			p += len + (p[len] == '\n');
		}
	}
	for (int k = 0; k < n->noutputs && y < ymax; k++) {
		int32_t id = n->outputs[k];
		if (id < 0)
			continue;
		const struct mp_view_stat *s = b ? &b->stats[id] : NULL;
		if (!s || !s->present) {
			put(y++, x, w, col(a, C_DIM), " out%d %s  (no statistics in this batch)", k, a->v->values[id].name);
			continue;
		}
		put(y++, x, w, A_BOLD, " out%d %-8s %s  %s", k, s->dtype, s->shape, a->v->values[id].name);
		if (y < ymax)
			put(y++, x, w, A_NORMAL, "  min %s  max %s  mean %s  std %s", fmt_num(t1, 32, s->min),
			    fmt_num(t2, 32, s->max), fmt_num(t3, 32, s->mean), fmt_num(t4, 32, s->std));
		if (y < ymax)
			put(y++, x, w, s->nan + s->posinf + s->neginf ? col(a, C_ERR) | A_BOLD : A_NORMAL,
			    "  NaN %lld  +Inf %lld  -Inf %lld  zeros %lld of %lld", (long long)s->nan, (long long)s->posinf,
			    (long long)s->neginf, (long long)s->zeros, (long long)s->count);
		if (y < ymax)
			put(y++, x, w, s->overflow[0] + s->overflow[1] ? col(a, C_WARN) : A_NORMAL,
			    "  overflow bf16 %lld f16 %lld  underflow bf16 %lld f16 %lld  flush %lld/%lld",
			    (long long)s->overflow[0], (long long)s->overflow[1], (long long)s->underflow[0],
			    (long long)s->underflow[1], (long long)s->flush[0], (long long)s->flush[1]);
		if (y < ymax && !isnan(s->div_across))
			put(y++, x, w, A_NORMAL, "  diversity across batch %s  within sample %s", fmt_num(t1, 32, s->div_across),
			    fmt_num(t2, 32, s->div_within));
		if (y < ymax && s->has_cmp)
			put(y++, x, w, s->rel_l2 > a->tol ? col(a, C_WARN) | A_BOLD : col(a, C_OK),
			    "  vs fp32: rel L2 %s (own %s, inherited %s)  max |d| %s  cos %s", fmt_num(t1, 32, s->rel_l2),
			    fmt_num(t2, 32, s->own_rel_l2), fmt_num(t3, 32, s->inh_rel_l2), fmt_num(t4, 32, s->max_abs),
			    fmt_num(o, 32, s->cosine));
		if (k == 0)
			y = draw_hist(a, y, x, w, ymax, s);
	}
	if (a->live && a->step_note[0] && y < ymax)
		put(y++, x, w, col(a, C_CAST), "%s", a->step_note);
}

static void draw_trace(struct mp_app *a, int y, int x, int h, int w)
{
	a->trace_y = y, a->trace_x = x, a->trace_h = h, a->trace_w = w;
	if (h <= 0)
		return;
	put(y, x, w, (a->focus == MP_PANE_TRACE ? A_BOLD : A_NORMAL) | A_UNDERLINE, "dtype trace: %zu event%s%s%s%s",
	    a->ntrace, a->ntrace == 1 ? "" : "s", a->trace_filter[0] ? "  filter '" : "", a->trace_filter,
	    a->trace_filter[0] ? "'" : "");
	h--, y++;
	if (a->trace_sel < a->trace_top)
		a->trace_top = a->trace_sel;
	if (a->trace_sel >= a->trace_top + (size_t)h)
		a->trace_top = a->trace_sel - (size_t)h + 1;
	for (int r = 0; r < h; r++) {
		size_t i = a->trace_top + (size_t)r;
		if (!a->cur || i >= a->ntrace) {
			put(y + r, x, w, A_NORMAL, "");
			continue;
		}
		const struct mp_view_event *ev = &a->cur->events[a->trace_rows[i]];
		bool mm = !strcmp(ev->reason, "mismatch") || !strcmp(ev->reason, "blocked");
		attr_t at = mm ? col(a, C_ERR) | A_BOLD : !strcmp(ev->reason, "weight") ? col(a, C_DIM) : col(a, C_CAST);
		if (i == a->trace_sel && a->focus == MP_PANE_TRACE)
			at |= A_REVERSE;
		char where[160];
		if (ev->node >= 0 && ev->slot >= 0)
			snprintf(where, sizeof where, "%s in%d", a->v->nodes[ev->node].name, ev->slot);
		else if (ev->node >= 0)
			snprintf(where, sizeof where, "%s", a->v->nodes[ev->node].name);
		else
			snprintf(where, sizeof where, "%s", ev->value >= 0 ? a->v->values[ev->value].name : "-");
		put(y + r, x, w, at, "%c %-8s %-8s->%-8s %s", mm ? '!' : 'c', ev->reason, ev->from, ev->to, where);
	}
}

static void draw_bottom(struct mp_app *a)
{
	int y = LINES - 1;
	if (a->prompt_kind) {
		const char *label = a->prompt_kind == ':' ? ":" : a->prompt_kind == '/' ? "/" :
		                    a->prompt_kind == 'g' ? "go to batch: " : a->prompt_kind == 'F' ? "trace filter: " :
		                    a->prompt_kind == 'r' ? "rerun under policy (fp32, bf16-autocast, bf16, fp16-autocast, fp16): " :
		                    "break on (nan,inf,overflow,mismatch,tol): ";
		put(y, 0, COLS, A_NORMAL, "%s%s", label, a->prompt);
		curs_set(1);
		move(y, (int)strlen(label) + (int)a->prompt_len < COLS ? (int)strlen(label) + (int)a->prompt_len : COLS - 1);
		return;
	}
	curs_set(0);
	if (a->msg[0])
		put(y, 0, COLS, a->msg_error ? col(a, C_ERR) | A_BOLD : A_NORMAL, "%s", a->msg);
	else
		put(y, 0, COLS, col(a, C_DIM), "%s", a->live ?
		    "q quit  ? help  n/p batch  s step  c continue  b break  / search  t tree  Tab pane  : command" :
		    "q quit  ? help  n/p batch  g go  c next stop  b break  / search  t tree  Tab pane  : command");
}

static const char *const help_lines[] = {
	"mpdbg tui - keys",
	"",
	"  Up/Down k/j      select node (or trace event)   PgUp/PgDn Home/End  move by page / to the ends",
	"  Tab              switch pane: nodes, dtype trace",
	"  Enter Space      nodes: fold/unfold a module;  trace: jump to the event's node",
	"  Left/Right       fold / unfold the module (tree view)",
	"  t                module tree / flat node list in execution order",
	"  n / p            next / previous batch          g  go to batch (number)",
	"  s                live: step one node of this batch",
	"  c                continue: live, to the next breakpoint or the end;",
	"                   replay, to the next batch and node where a break condition holds",
	"  b                toggle a breakpoint on the selected node",
	"  B                edit break conditions: nan, inf, overflow, mismatch, tol",
	"  r                live: rerun this batch under another policy (a new session)",
	"  /                search nodes by name, module or op; Enter accepts, Ctrl-N next match",
	"  N                repeat the last search",
	"  o                the batch's joints over its images (a PNG, shown here)",
	"  d                the session's diversity analysis (a PNG, shown here)",
	"  f                batch strip figure: NaN/Inf, output error vs fp32, output diversity",
	"  F                filter the dtype trace (reason, dtype or node text)",
	"  :                command: policy P, break COND, export json FILE, goto NODE, quit",
	"  mouse            click a row, a pane, or a point of the batch strip",
	"  ?                this help      q  quit",
	"",
	"flags: ! mismatch  N NaN  I Inf  O overflows the low type  E error vs fp32 above tol",
	"       c a cast at this node  * breakpoint",
	"",
	"any key closes this help",
};

static void draw_help(struct mp_app *a)
{
	int n = (int)(sizeof help_lines / sizeof help_lines[0]);
	int h = n + 2 < LINES ? n + 2 : LINES, y0 = (LINES - h) / 2;
	for (int r = 0; r < h; r++)
		put(y0 + r, 0, COLS, r == 0 || r == h - 1 ? A_REVERSE : A_NORMAL, "");
	for (int i = 0; i < n && i < h - 2; i++)
		put(y0 + 1 + i, 1, COLS - 1, i == 0 ? A_BOLD : A_NORMAL, "%s", help_lines[i]);
	(void)a;
}

void mp_app_draw(struct mp_app *a)
{
	erase();
	if (LINES < 10 || COLS < 40) {
		put(0, 0, COLS, A_BOLD, "mpdbg: the terminal is %dx%d; it needs 40x10", COLS, LINES);
		refresh();
		return;
	}
	draw_header(a);
	draw_status(a, 1);
	draw_strip(a, 2);
	int top = 3, h = LINES - top - 1;
	int lw = COLS >= 160 ? COLS * 2 / 5 : COLS >= 100 ? COLS / 2 : 34;
	int rx = lw + 1, rw = COLS - rx;
	/* lines as characters, not the terminal's alternate character set:
	 * the same on every terminal, and readable in a captured screen */
	attrset(col(a, C_DIM));
	for (int r = 0; r < h; r++)
		mvaddstr(top + r, lw, a->utf8 ? "│" : "|");
	attrset(A_NORMAL);
	draw_nodes(a, top, 0, h, lw);
	int th = h / 3 < 6 ? (h < 12 ? h / 2 : 6) : h / 3;
	int dh = h - th - 1;
	draw_detail(a, top, rx, dh, rw);
	attrset(col(a, C_DIM));
	move(top + dh, rx);
	for (int c = 0; c < rw; c++)
		addstr(a->utf8 ? "─" : "-");
	attrset(A_NORMAL);
	draw_trace(a, top + dh + 1, rx, th, rw);
	draw_bottom(a);
	if (a->help)
		draw_help(a);
	refresh();
}
