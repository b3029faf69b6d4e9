/* strip.c - the third line: one figure per batch as a sparkline (a window
 * around the current batch when they do not fit), which a click selects
 * a batch from. */
#include <math.h>
#include <stdio.h>

#include "pane.h"

void mp_pane_strip_draw(struct mp_app *a, struct mp_rect r)
{
	const char *name = mp_view_figure_name(a->figure);
	char head[64];
	int hw = snprintf(head, sizeof head, " %s ", name);
	mp_term_put(r.y, r.x, r.w, mp_pane_col(a, MP_TC_DIM), "%s", head);
	int w = r.w - hw - 2;
	a->strip_y = r.y, a->strip_x = hw, a->strip_w = w;
	if (w <= 0 || !a->strip || !a->strip_n)
		return;
	double lo = INFINITY, hi = -INFINITY;
	for (size_t i = 0; i < a->strip_n; i++)
		if (!isnan(a->strip[i]))
			lo = fmin(lo, a->strip[i]), hi = fmax(hi, a->strip[i]);
	if (a->figure == MP_FIG_NONFINITE)
		lo = 0;
	size_t first = 0;
	if (a->strip_n > (size_t)w)
		first = a->batch > (size_t)w / 2 ? a->batch - (size_t)w / 2 : 0;
	if (first + (size_t)w > a->strip_n && a->strip_n > (size_t)w)
		first = a->strip_n - (size_t)w;
	a->strip_first = first;
	move(r.y, hw);
	for (size_t i = first; i < a->strip_n && i < first + (size_t)w; i++) {
		attr_t at = i == a->batch ? A_REVERSE | A_BOLD : A_NORMAL;
		if (a->figure == MP_FIG_NONFINITE && a->strip[i] > 0)
			at |= mp_pane_col(a, MP_TC_ERR);
		attrset(at);
		addstr(mp_term_spark(a->utf8, a->strip[i], lo, hi));
	}
	attrset(A_NORMAL);
}
