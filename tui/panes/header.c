/* header.c - the first line: the model, policy, backend, where the user
 * is, and whether the session is live, being recorded or replayed. */
#include <stdio.h>
#include <string.h>

#include "pane.h"

void mp_pane_header_draw(struct mp_app *a, struct mp_rect r)
{
	const struct mp_view *v = a->v;
	char node[64] = "node -";
	if (a->sel_node >= 0)
		snprintf(node, sizeof node, "node %d/%zu", a->sel_node + 1, v->nnodes);
	char batch[48];
	snprintf(batch, sizeof batch, "batch %zu/%zu", v->nbatches ? a->batch + 1 : 0,
	         a->live ? mp_live_count(a->live) : v->nbatches);
	mp_term_put(r.y, r.x, r.w, mp_pane_col(a, MP_TC_HEAD) | A_BOLD, " mpdbg  %s  policy %s  %s %s  %s  %s  %s",
	            a->model_label, v->policy, v->backend, v->device, batch, node,
	            a->live ? "[live]" : !strcmp(v->status, "running") ? "[recording]" : "[replay]");
}
