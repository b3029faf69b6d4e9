/* bottom.c - the last line: the prompt being typed (with the cursor), a
 * message, or the keys. */
#include <string.h>

#include "pane.h"

static const char *prompt_label(char kind)
{
	switch (kind) {
	case ':': return ":";
	case '/': return "/";
	case 'g': return "go to batch: ";
	case 'F': return "trace filter: ";
	case 'r': return "rerun under policy (fp32, bf16-autocast, bf16, fp16-autocast, fp16): ";
	default: return "break on (nan,inf,overflow,mismatch,tol): ";
	}
}

void mp_pane_bottom_draw(struct mp_app *a, struct mp_rect r)
{
	if (a->prompt_kind) {
		const char *label = prompt_label(a->prompt_kind);
		int at = (int)strlen(label) + (int)a->prompt_len;
		mp_term_put(r.y, r.x, r.w, A_NORMAL, "%s%s", label, a->prompt);
		curs_set(1);
		move(r.y, at < r.w ? at : r.w - 1);
		return;
	}
	curs_set(0);
	if (a->msg[0])
		mp_term_put(r.y, r.x, r.w, a->msg_error ? mp_pane_col(a, MP_TC_ERR) | A_BOLD : A_NORMAL, "%s", a->msg);
	else
		mp_term_put(r.y, r.x, r.w, mp_pane_col(a, MP_TC_DIM), "%s", a->live ?
		            "q quit  ? help  n/p batch  s step  c continue  b break  / search  t tree  Tab pane  : command" :
		            "q quit  ? help  n/p batch  g go  c next stop  b break  / search  t tree  Tab pane  : command");
}
