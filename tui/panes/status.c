/* status.c - the second line: what went wrong in the loaded batch, in a
 * line. */
#include <stdio.h>
#include <string.h>

#include "pane.h"

void mp_pane_status_draw(struct mp_app *a, struct mp_rect r)
{
	const struct mp_view_batch *b = a->cur;
	char line[1024];
	size_t n = 0;
	attr_t at = mp_pane_col(a, MP_TC_OK);
	if (!b) {
		mp_term_put(r.y, r.x, r.w, mp_pane_col(a, MP_TC_DIM), " %s",
		            a->live && !mp_live_recorded(a->live, a->batch) ?
		            "this batch has not run yet: s steps through it, c runs it" : "no batch recorded yet");
		return;
	}
	line[0] = '\0';
#define ADD(...) (n += (size_t)snprintf(line + n, n < sizeof line ? sizeof line - n : 0, __VA_ARGS__))
	if (strcmp(b->status, "done")) {
		ADD("%s: %s", b->status, *b->message ? b->message : "-");
		at = mp_pane_col(a, MP_TC_ERR) | A_BOLD;
	} else {
		ADD("done in %.1f ms", b->ms);
	}
	if (b->mismatches)
		ADD("  | %zu mismatch%s", b->mismatches, b->mismatches == 1 ? "" : "es"), at = mp_pane_col(a, MP_TC_ERR) | A_BOLD;
	if (b->nan_values || b->inf_values) {
		ADD("  | NaN in %lld, Inf in %lld values", (long long)b->nan_values, (long long)b->inf_values);
		if (b->first_nonfinite_node >= 0)
			ADD(" (first: %s)", a->v->nodes[b->first_nonfinite_node].name);
		at = mp_pane_col(a, MP_TC_ERR) | A_BOLD;
	}
	if (b->overflow_values)
		ADD("  | %lld values overflow %s", (long long)b->overflow_values, a->v->low_dtype);
	if (b->worst_node >= 0) {
		char w[32];
		ADD("  | worst vs fp32: %s (rel L2 %s)", a->v->nodes[b->worst_node].name,
		    mp_pane_num(w, sizeof w, b->worst_rel_l2));
	}
#undef ADD
	mp_term_put(r.y, r.x, r.w, at, " %s", line);
}
