/* detail.c - the right column: the selected node, each input with where
 * it came from and the casts made to it, why the batch stopped there,
 * and each output's statistics with the exponent histogram. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "op.h"
#include "pane.h"

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
		mp_term_put(y++, x, w, A_NORMAL, "  exponents: no finite nonzero values");
		return y;
	}
	/* widen to show the fp16 edges (2^-24 and 2^15) when they are near */
	int span = w - 12;
	if (hi - lo + 1 < span) {
		int extra = span - (hi - lo + 1);
		lo -= extra / 2, hi += extra - extra / 2;
	}
	int per = (hi - lo + span) / span; /* exponents per column */
	mp_term_put(y, x, w, A_NORMAL, "  2^%-4d", lo);
	move(y, x + 8);
	for (int c = 0; c < span && lo + c * per <= hi; c++) {
		uint64_t n = 0;
		int e0 = lo + c * per;
		for (int k = 0; k < per; k++)
			if (e0 + k >= -126 && e0 + k <= 127)
				n += s->hist[e0 + k + 128];
		bool f16_out = e0 >= 16 || e0 + per - 1 < -24, f16_sub = !f16_out && e0 < -14;
		attrset(f16_out ? mp_pane_col(a, MP_TC_ERR) : f16_sub ? mp_pane_col(a, MP_TC_WARN) : A_NORMAL);
		addstr(n ? mp_term_spark(a->utf8, log((double)n + 1), 0, log((double)top + 1)) : " ");
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
		attrset(ch == '^' || ch == '0' ? mp_pane_col(a, MP_TC_ERR) : ch == 's' ? mp_pane_col(a, MP_TC_WARN) :
		        mp_pane_col(a, MP_TC_DIM));
		addch((chtype)ch);
	}
	attrset(A_NORMAL);
	y++;
	mp_term_put(y++, x, w, mp_pane_col(a, MP_TC_DIM),
	            "  fp16: - normal  s subnormal  0 flushes  ^ overflows   bf16: normal 2^-126..2^127");
	return y;
}

static bool passes_through(const char *op)
{
	return mp_op_has(mp_op_lookup(op), MP_OPF_MOVES_DATA);
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

/* An input: its dtype, shape and origin, then the casts made to it. */
static int draw_input(struct mp_app *a, int y, struct mp_rect r, int k)
{
	const struct mp_view_node *n = &a->v->nodes[a->sel_node];
	const struct mp_view_batch *b = a->cur;
	int ymax = r.y + r.h;
	int32_t id = n->inputs[k];
	const struct mp_view_value *val = &a->v->values[id];
	const struct mp_view_stat *s = b ? &b->stats[id] : NULL;
	char line[640], o[512];
	snprintf(line, sizeof line, " in%d %s %s %s: %s", k, s && s->present ? s->dtype : val->dtype,
	         s && s->present ? s->shape : "", val->name, origin(a, id, o, sizeof o));
	y = mp_term_wrap(y, r.x, r.w, ymax, 5, A_NORMAL, line);
	for (size_t e = 0; b && e < b->nevents && y < ymax; e++) {
		const struct mp_view_event *ev = &b->events[e];
		if (ev->node != a->sel_node || ev->slot != k)
			continue;
		bool mm = mp_view_event_is_mismatch(ev);
		mp_term_put(y++, r.x, r.w, (mm ? mp_pane_col(a, MP_TC_ERR) | A_BOLD : mp_pane_col(a, MP_TC_CAST)),
		            "      %s %s %s %s", mm ? "!" : "c", ev->reason, ev->from, *ev->to ? ev->to : "");
	}
	return y;
}

/* Why the batch stopped here, as the run said it (one line each). */
static int draw_stop(struct mp_app *a, int y, struct mp_rect r)
{
	const char *p = a->cur->message;
	int ymax = r.y + r.h;
	while (*p && y < ymax) {
		size_t len = strcspn(p, "\n");
		char ln[512];
		snprintf(ln, sizeof ln, "%.*s", (int)len, p);
		y = mp_term_wrap(y, r.x, r.w, ymax, 4, mp_pane_col(a, MP_TC_ERR) | A_BOLD, ln);
		p += len + (p[len] == '\n');
	}
	return y;
}

/* An output's statistics in the loaded batch, a line each. */
static int draw_output(struct mp_app *a, int y, struct mp_rect r, int k)
{
	const struct mp_view_node *n = &a->v->nodes[a->sel_node];
	const struct mp_view_batch *b = a->cur;
	int ymax = r.y + r.h, x = r.x, w = r.w;
	int32_t id = n->outputs[k];
	const struct mp_view_stat *s = b ? &b->stats[id] : NULL;
	char t1[32], t2[32], t3[32], t4[32], t5[32];
	if (!s || !s->present) {
		mp_term_put(y++, x, w, mp_pane_col(a, MP_TC_DIM), " out%d %s  (no statistics in this batch)", k,
		            a->v->values[id].name);
		return y;
	}
	mp_term_put(y++, x, w, A_BOLD, " out%d %-8s %s  %s", k, s->dtype, s->shape, a->v->values[id].name);
	if (y < ymax)
		mp_term_put(y++, x, w, A_NORMAL, "  min %s  max %s  mean %s  std %s", mp_pane_num(t1, 32, s->min),
		            mp_pane_num(t2, 32, s->max), mp_pane_num(t3, 32, s->mean), mp_pane_num(t4, 32, s->std));
	if (y < ymax)
		mp_term_put(y++, x, w, s->nan + s->posinf + s->neginf ? mp_pane_col(a, MP_TC_ERR) | A_BOLD : A_NORMAL,
		            "  NaN %lld  +Inf %lld  -Inf %lld  zeros %lld of %lld", (long long)s->nan, (long long)s->posinf,
		            (long long)s->neginf, (long long)s->zeros, (long long)s->count);
	if (y < ymax)
		mp_term_put(y++, x, w, s->overflow[0] + s->overflow[1] ? mp_pane_col(a, MP_TC_WARN) : A_NORMAL,
		            "  overflow bf16 %lld f16 %lld  underflow bf16 %lld f16 %lld  flush %lld/%lld",
		            (long long)s->overflow[0], (long long)s->overflow[1], (long long)s->underflow[0],
		            (long long)s->underflow[1], (long long)s->flush[0], (long long)s->flush[1]);
	if (y < ymax && s->exact[0] >= 0) /* -1: a session recorded before the count was */
		mp_term_put(y++, x, w, A_NORMAL, "  exact in bf16 %lld f16 %lld of %lld finite", (long long)s->exact[0],
		            (long long)s->exact[1], (long long)s->finite);
	if (y < ymax && !isnan(s->div_across))
		mp_term_put(y++, x, w, A_NORMAL, "  diversity across batch %s  within sample %s",
		            mp_pane_num(t1, 32, s->div_across), mp_pane_num(t2, 32, s->div_within));
	if (y < ymax && s->has_cmp)
		mp_term_put(y++, x, w, s->rel_l2 > a->tol ? mp_pane_col(a, MP_TC_WARN) | A_BOLD : mp_pane_col(a, MP_TC_OK),
		            "  vs fp32: rel L2 %s (own %s, inherited %s)  max |d| %s  cos %s", mp_pane_num(t1, 32, s->rel_l2),
		            mp_pane_num(t2, 32, s->own_rel_l2), mp_pane_num(t3, 32, s->inh_rel_l2),
		            mp_pane_num(t4, 32, s->max_abs), mp_pane_num(t5, 32, s->cosine));
	if (k == 0)
		y = draw_hist(a, y, x, w, ymax, s);
	return y;
}

void mp_pane_detail_draw(struct mp_app *a, struct mp_rect r)
{
	int y = r.y, ymax = r.y + r.h;
	for (int k = y; k < ymax; k++)
		mp_term_put(k, r.x, r.w, A_NORMAL, "%s", "");
	if (a->sel_node < 0 || r.h <= 0)
		return;
	const struct mp_view_node *n = &a->v->nodes[a->sel_node];
	const struct mp_view_batch *b = a->cur;
	mp_term_put(y++, r.x, r.w, A_BOLD, "%s", n->name);
	if (y < ymax)
		mp_term_put(y++, r.x, r.w, A_NORMAL, "%s in %s, computes in %s", n->op, *n->module ? n->module : "(model)",
		            *n->exec_dtype ? n->exec_dtype : "-");
	for (int k = 0; k < n->ninputs && y < ymax; k++)
		if (n->inputs[k] >= 0)
			y = draw_input(a, y, r, k);
	if (b && strcmp(b->status, "done") && b->message[0] && a->sel_node == mp_app_stop_node(a))
		y = draw_stop(a, y, r);
	for (int k = 0; k < n->noutputs && y < ymax; k++)
		if (n->outputs[k] >= 0)
			y = draw_output(a, y, r, k);
	if (a->live && a->step_note[0] && y < ymax)
		mp_term_put(y++, r.x, r.w, mp_pane_col(a, MP_TC_CAST), "%s", a->step_note);
}
