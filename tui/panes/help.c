/* help.c - the keys, over the whole screen while `?` holds it open. */
#include "pane.h"

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

void mp_pane_help_draw(struct mp_app *a, struct mp_rect r)
{
	if (!a->help)
		return;
	int n = (int)(sizeof help_lines / sizeof help_lines[0]);
	int h = n + 2 < r.h ? n + 2 : r.h, y0 = r.y + (r.h - h) / 2;
	for (int k = 0; k < h; k++)
		mp_term_put(y0 + k, r.x, r.w, k == 0 || k == h - 1 ? A_REVERSE : A_NORMAL, "%s", "");
	for (int i = 0; i < n && i < h - 2; i++)
		mp_term_put(y0 + 1 + i, r.x + 1, r.w - 1, i == 0 ? A_BOLD : A_NORMAL, "%s", help_lines[i]);
}
