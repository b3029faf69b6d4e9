/* keys.c - the key table: each key's action changes the state and says
 * what it did (handled, redraw, quit); the loop (app.c) draws.  While
 * the help is open any key closes it; while a prompt is open keys edit
 * it. */
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "term.h"

enum { DONE = MP_KEY_HANDLED | MP_KEY_REDRAW };

/* ---- moving ---- */

static void move_sel(struct mp_app *a, long delta)
{
	if (a->focus == MP_PANE_TRACE) {
		long t = (long)a->trace_sel + delta;
		t = t < 0 ? 0 : t >= (long)a->ntrace ? (long)a->ntrace - 1 : t;
		a->trace_sel = t < 0 ? 0 : (size_t)t;
		return;
	}
	if (!a->nrows)
		return;
	size_t r = mp_app_sel_row(a);
	long t = (r == SIZE_MAX ? 0 : (long)r) + delta;
	t = t < 0 ? 0 : t >= (long)a->nrows ? (long)a->nrows - 1 : t;
	/* a module row selects the module's first node, folded or not */
	const struct mp_row *row = &a->rows[t];
	a->sel_node = row->is_module ? a->v->modules[row->id].first_node : row->id;
	if (row->is_module && !a->collapsed[row->id] && delta < 0 && t > 0 && r != SIZE_MAX && (size_t)t + 1 == r) {
		/* up from a module's first node: onto the row above the module */
		const struct mp_row *up = &a->rows[t - 1];
		a->sel_node = up->is_module ? a->v->modules[up->id].first_node : up->id;
	}
	mp_app_scroll_to_sel(a);
}

/* The module of the selected row, to fold (the node's innermost). */
static int32_t sel_module(const struct mp_app *a)
{
	size_t r = mp_app_sel_row(a);
	if (r != SIZE_MAX && a->rows[r].is_module)
		return a->rows[r].id;
	return a->sel_node >= 0 ? a->v->nodes[a->sel_node].module_id : 0;
}

static void fold(struct mp_app *a, int how) /* -1 fold, 1 unfold, 0 toggle */
{
	if (!a->tree)
		return;
	int32_t m = sel_module(a);
	if (m <= 0)
		return;
	a->collapsed[m] = how == 0 ? !a->collapsed[m] : how < 0;
	mp_app_build_rows(a);
	mp_app_scroll_to_sel(a);
}

/* ---- the prompt line ---- */

static void prompt_open(struct mp_app *a, char kind)
{
	a->prompt_kind = kind;
	a->prompt[0] = '\0';
	a->prompt_len = 0;
	a->msg[0] = '\0';
}

static unsigned prompt_accept(struct mp_app *a)
{
	struct mp_error e = { 0 };
	char kind = a->prompt_kind;
	a->prompt_kind = 0;
	switch (kind) {
	case ':': return mp_app_command(a, a->prompt);
	case '/':
		memcpy(a->search, a->prompt, sizeof a->search);
		mp_app_search(a, a->search, false);
		break;
	case 'g': {
		char *end;
		long k = strtol(a->prompt, &end, 10);
		if (!a->prompt[0] || *end || k < 1)
			mp_app_msg(a, true, "go to batch: a number from 1, not '%s'", a->prompt);
		else if (mp_app_goto_batch(a, (size_t)k - 1, &e))
			mp_app_msg(a, true, "%s", e.msg);
		break;
	}
	case 'F':
		memcpy(a->trace_filter, a->prompt, sizeof a->trace_filter);
		mp_app_filter_trace(a);
		a->focus = MP_PANE_TRACE;
		break;
	case 'r': mp_app_rerun_policy(a, a->prompt); break;
	case 'B': {
		unsigned c;
		bool ok = mp_break_parse_set(a->prompt, &c);
		char s[64];
		if (!ok) {
			mp_app_msg(a, true, "break conditions are nan, inf, overflow, mismatch, tol (or none)");
		} else {
			a->conds = c;
			mp_break_set_str(c, s, sizeof s);
			mp_app_msg(a, false, "break conditions: %s", s);
		}
		break;
	}
	}
	return DONE;
}

static unsigned prompt_key(struct mp_app *a, int ch)
{
	if (ch == 27 || ch == 7) { /* Esc, Ctrl-G */
		a->prompt_kind = 0;
	} else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
		return prompt_accept(a);
	} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
		if (a->prompt_len)
			a->prompt[--a->prompt_len] = '\0';
		else
			a->prompt_kind = 0;
	} else if (ch == 14 && a->prompt_kind == '/') { /* Ctrl-N: next match, still searching */
		mp_app_search(a, a->prompt, true);
	} else if (ch >= 32 && ch < 127 && a->prompt_len + 1 < sizeof a->prompt) {
		a->prompt[a->prompt_len++] = (char)ch;
		a->prompt[a->prompt_len] = '\0';
		if (a->prompt_kind == '/') /* incremental */
			mp_app_search(a, a->prompt, false);
	}
	return DONE;
}

/* ---- the keys' actions ---- */

static void click(struct mp_app *a, int y, int x)
{
	struct mp_error e = { 0 };
	if (y == a->strip_y && x >= a->strip_x && x < a->strip_x + a->strip_w) {
		size_t b = a->strip_first + (size_t)(x - a->strip_x);
		if (b < (a->live ? mp_live_count(a->live) : a->v->nbatches) && mp_app_goto_batch(a, b, &e))
			mp_app_msg(a, true, "%s", e.msg);
		return;
	}
	if (y >= a->nodes_y && y < a->nodes_y + a->nodes_h && x < a->nodes_x + a->nodes_w) {
		size_t r = a->top + (size_t)(y - a->nodes_y);
		a->focus = MP_PANE_NODES;
		if (r < a->nrows) {
			const struct mp_row *row = &a->rows[r];
			if (row->is_module) {
				a->collapsed[row->id] = !a->collapsed[row->id];
				mp_app_build_rows(a);
			} else {
				a->sel_node = row->id;
			}
		}
		return;
	}
	if (y >= a->trace_y && y < a->trace_y + a->trace_h && x >= a->trace_x) {
		a->focus = MP_PANE_TRACE;
		size_t r = a->trace_top + (size_t)(y - a->trace_y - 1);
		if (y > a->trace_y && r < a->ntrace)
			a->trace_sel = r;
	}
}

static unsigned key_quit(struct mp_app *a, int ch)
{
	(void)a, (void)ch;
	return MP_KEY_QUIT;
}

static unsigned key_help(struct mp_app *a, int ch)
{
	(void)ch;
	a->help = true;
	return DONE;
}

static unsigned key_move(struct mp_app *a, int ch)
{
	long all = (long)a->v->nnodes + (long)a->ntrace;
	switch (ch) {
	case KEY_UP: case 'k': move_sel(a, -1); break;
	case KEY_DOWN: case 'j': move_sel(a, 1); break;
	case KEY_PPAGE: move_sel(a, -(long)mp_app_pane_rows()); break;
	case KEY_NPAGE: move_sel(a, mp_app_pane_rows()); break;
	case KEY_HOME: move_sel(a, -all); break;
	case KEY_END: move_sel(a, all); break;
	}
	return DONE;
}

static unsigned key_pane(struct mp_app *a, int ch)
{
	(void)ch;
	a->focus = (enum mp_pane)((a->focus + 1) % MP_PANE_COUNT);
	return DONE;
}

static unsigned key_fold(struct mp_app *a, int ch)
{
	fold(a, ch == KEY_LEFT ? -1 : 1);
	return DONE;
}

/* Enter: the trace event's node, or a module folded or unfolded. */
static unsigned key_enter(struct mp_app *a, int ch)
{
	(void)ch;
	if (a->focus == MP_PANE_TRACE && a->trace_sel < a->ntrace) {
		const struct mp_view_event *ev = &a->cur->events[a->trace_rows[a->trace_sel]];
		if (ev->node >= 0)
			mp_app_show_node(a, ev->node);
		else if (ev->value >= 0)
			mp_app_msg(a, false, "%s: before any node (%s)", a->v->values[ev->value].name, ev->reason);
	} else {
		fold(a, 0);
	}
	return DONE;
}

static unsigned key_tree(struct mp_app *a, int ch)
{
	(void)ch;
	a->tree = !a->tree;
	mp_app_build_rows(a);
	mp_app_scroll_to_sel(a);
	return DONE;
}

static unsigned key_batch(struct mp_app *a, int ch)
{
	struct mp_error e = { 0 };
	size_t count = a->live ? mp_live_count(a->live) : a->v->nbatches;
	if (ch == 'n' ? a->batch + 1 >= count : a->batch == 0)
		mp_app_msg(a, false, ch == 'n' ? "this is the last batch" : "this is the first batch");
	else if (mp_app_goto_batch(a, ch == 'n' ? a->batch + 1 : a->batch - 1, &e))
		mp_app_msg(a, true, "%s", e.msg);
	return DONE;
}

static unsigned key_prompt(struct mp_app *a, int ch)
{
	prompt_open(a, (char)ch);
	return DONE;
}

/* B: the prompt starts with the conditions there are now. */
static unsigned key_conds(struct mp_app *a, int ch)
{
	prompt_open(a, (char)ch);
	mp_break_set_str(a->conds, a->prompt, sizeof a->prompt);
	a->prompt_len = strlen(a->prompt);
	return DONE;
}

static unsigned key_search_next(struct mp_app *a, int ch)
{
	(void)ch;
	mp_app_search(a, a->search, true);
	return DONE;
}

static unsigned key_picture(struct mp_app *a, int ch)
{
	mp_app_picture(a, ch == 'd');
	return DONE;
}

static unsigned key_step(struct mp_app *a, int ch)
{
	mp_app_live_step(a, ch == 'c');
	return DONE;
}

static unsigned key_breakpoint(struct mp_app *a, int ch)
{
	(void)ch;
	if (a->sel_node >= 0) {
		a->bp[a->sel_node] = !a->bp[a->sel_node];
		mp_app_msg(a, false, "breakpoint %s %s", a->bp[a->sel_node] ? "on" : "off", a->v->nodes[a->sel_node].name);
	}
	return DONE;
}

static unsigned key_rerun(struct mp_app *a, int ch)
{
	if (!a->live)
		mp_app_msg(a, true, "r reruns a live run; this is a recorded session");
	else
		prompt_open(a, (char)ch);
	return DONE;
}

static unsigned key_figure(struct mp_app *a, int ch)
{
	(void)ch;
	a->figure = (enum mp_view_figure)((a->figure + 1) % MP_FIG_COUNT);
	a->strip_dirty = true;
	return DONE;
}

static unsigned key_mouse(struct mp_app *a, int ch)
{
	MEVENT me;
	(void)ch;
	if (getmouse(&me) == OK) {
		if (me.bstate & BUTTON4_PRESSED)
			move_sel(a, -3);
		else if (me.bstate & BUTTON5_PRESSED)
			move_sel(a, 3);
		else
			click(a, me.y, me.x);
	}
	return DONE;
}

/* Ctrl-L: the whole screen sent again at the next draw. */
static unsigned key_repaint(struct mp_app *a, int ch)
{
	(void)a, (void)ch;
	clearok(curscr, TRUE);
	return DONE;
}

static const struct {
	int key;
	unsigned (*act)(struct mp_app *a, int ch);
} keys[] = {
	{ 'q', key_quit },          { '?', key_help },         { KEY_UP, key_move },      { 'k', key_move },
	{ KEY_DOWN, key_move },     { 'j', key_move },         { KEY_PPAGE, key_move },   { KEY_NPAGE, key_move },
	{ KEY_HOME, key_move },     { KEY_END, key_move },     { '\t', key_pane },        { KEY_LEFT, key_fold },
	{ KEY_RIGHT, key_fold },    { '\n', key_enter },       { '\r', key_enter },       { KEY_ENTER, key_enter },
	{ ' ', key_enter },         { 't', key_tree },         { 'n', key_batch },        { 'p', key_batch },
	{ 'g', key_prompt },        { '/', key_prompt },       { ':', key_prompt },       { 'F', key_prompt },
	{ 'B', key_conds },         { 'N', key_search_next },  { 'o', key_picture },      { 'd', key_picture },
	{ 's', key_step },          { 'c', key_step },         { 'b', key_breakpoint },   { 'r', key_rerun },
	{ 'f', key_figure },        { KEY_MOUSE, key_mouse },  { 12, key_repaint },
};

unsigned mp_app_key(struct mp_app *a, int ch)
{
	if (a->help) {
		a->help = false;
		return DONE;
	}
	if (a->prompt_kind)
		return prompt_key(a, ch);
	a->msg[0] = '\0';
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (keys[i].key == ch)
			return keys[i].act(a, ch);
	return DONE; /* another key (a resize among them): the message cleared */
}
