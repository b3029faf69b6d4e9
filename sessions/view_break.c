/* view_break.c - a recorded batch judged as the run judged it: the break
 * conditions of probes/cond.h on a value's numbers read back from the
 * session, and which dtype events are mismatches. */
#include <string.h>

#include "cond.h"
#include "view.h"

bool mp_view_event_is_mismatch(const struct mp_view_event *ev)
{
	/* "blocked": the mismatch that stopped the run (--on-mismatch error) */
	return !strcmp(ev->reason, "mismatch") || !strcmp(ev->reason, "blocked");
}

unsigned mp_view_stat_breaks(const struct mp_view *v, const struct mp_view_stat *s, double tol)
{
	/* the writer stores mp_dtype_name's spelling: one strcmp, not a parse
	 * per value on every batch the TUI loads (bench_tui's batch moves) */
	struct mp_break_facts f = {
		.has_stats = s->present, .has_cmp = s->has_cmp, .nan = s->nan, .inf = s->posinf + s->neginf,
		.is_low = v->low != MP_F32 && !strcmp(s->dtype, mp_dtype_name(v->low)), .rel_l2 = s->rel_l2,
	};
	for (int k = 0; k < MP_LOW_COUNT; k++)
		f.overflow[k] = s->overflow[k];
	return mp_break_value_bits(&f, v->low, tol);
}
