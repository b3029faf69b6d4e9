/* trace.c - the right column below the rule: the loaded batch's dtype
 * trace (casts, mismatches, blocked inputs), after the filter. */
#include <stdio.h>
#include <string.h>

#include "pane.h"

void mp_pane_trace_draw(struct mp_app *a, struct mp_rect r)
{
	int y = r.y, x = r.x, h = r.h, w = r.w;
	a->trace_y = y, a->trace_x = x, a->trace_h = h, a->trace_w = w;
	if (h <= 0)
		return;
	mp_term_put(y, x, w, (a->focus == MP_PANE_TRACE ? A_BOLD : A_NORMAL) | A_UNDERLINE,
	            "dtype trace: %zu event%s%s%s%s", a->ntrace, a->ntrace == 1 ? "" : "s",
	            a->trace_filter[0] ? "  filter '" : "", a->trace_filter, a->trace_filter[0] ? "'" : "");
	h--, y++;
	if (a->trace_sel < a->trace_top)
		a->trace_top = a->trace_sel;
	if (a->trace_sel >= a->trace_top + (size_t)h)
		a->trace_top = a->trace_sel - (size_t)h + 1;
	for (int k = 0; k < h; k++) {
		size_t i = a->trace_top + (size_t)k;
		if (!a->cur || i >= a->ntrace) {
			mp_term_put(y + k, x, w, A_NORMAL, "%s", "");
			continue;
		}
		const struct mp_view_event *ev = &a->cur->events[a->trace_rows[i]];
		bool mm = mp_view_event_is_mismatch(ev);
		attr_t at = mm ? mp_pane_col(a, MP_TC_ERR) | A_BOLD :
		            !strcmp(ev->reason, "weight") ? mp_pane_col(a, MP_TC_DIM) : mp_pane_col(a, MP_TC_CAST);
		if (i == a->trace_sel && a->focus == MP_PANE_TRACE)
			at |= A_REVERSE;
		char where[160];
		if (ev->node >= 0 && ev->slot >= 0)
			snprintf(where, sizeof where, "%s in%d", a->v->nodes[ev->node].name, ev->slot);
		else if (ev->node >= 0)
			snprintf(where, sizeof where, "%s", a->v->nodes[ev->node].name);
		else
			snprintf(where, sizeof where, "%s", ev->value >= 0 ? a->v->values[ev->value].name : "-");
		mp_term_put(y + k, x, w, at, "%c %-8s %-8s->%-8s %s", mm ? '!' : 'c', ev->reason, ev->from, ev->to, where);
	}
}
