/* panes.c - the layout: the pane table (from panes.def), the slots sized
 * from the terminal, the rules between them, and every pane drawn in
 * order.  Meaning is carried by a symbol as well as a colour, so the
 * screen reads without colour (NO_COLOR). */
#include <math.h>
#include <stdio.h>

#include "pane.h"

static const struct {
	const char *name;
	enum mp_slot slot;
	mp_pane_draw_fn draw;
} panes[] = {
#define MP_PANE(name, slot) { #name, slot, mp_pane_##name##_draw },
#include "panes.def"
#undef MP_PANE
};

const char *mp_pane_num(char *b, size_t n, double v)
{
	if (isnan(v))
		snprintf(b, n, "-");
	else if (v != 0 && (fabs(v) >= 1e5 || fabs(v) < 1e-3))
		snprintf(b, n, "%.3g", v);
	else
		snprintf(b, n, "%.4g", v);
	return b;
}

/* The slots, and the rules between the columns and under the detail:
 * lines as characters, not the terminal's alternate character set (the
 * same on every terminal, and readable in a captured screen). */
static void layout(const struct mp_app *a, struct mp_rect *slots)
{
	int top = 3, h = LINES - top - 1;
	int lw = COLS >= 160 ? COLS * 2 / 5 : COLS >= 100 ? COLS / 2 : 34;
	int rx = lw + 1, rw = COLS - rx;
	int th = h / 3 < 6 ? (h < 12 ? h / 2 : 6) : h / 3;
	int dh = h - th - 1;
	slots[MP_SLOT_TOP] = (struct mp_rect){ 0, 0, 1, COLS };
	slots[MP_SLOT_STATUS] = (struct mp_rect){ 1, 0, 1, COLS };
	slots[MP_SLOT_STRIP] = (struct mp_rect){ 2, 0, 1, COLS };
	slots[MP_SLOT_LEFT] = (struct mp_rect){ top, 0, h, lw };
	slots[MP_SLOT_RIGHT] = (struct mp_rect){ top, rx, dh, rw };
	slots[MP_SLOT_RIGHT_BELOW] = (struct mp_rect){ top + dh + 1, rx, th, rw };
	slots[MP_SLOT_BOTTOM] = (struct mp_rect){ LINES - 1, 0, 1, COLS };
	slots[MP_SLOT_SCREEN] = (struct mp_rect){ 0, 0, LINES, COLS };
	attrset(mp_pane_col(a, MP_TC_DIM));
	for (int r = 0; r < h; r++)
		mvaddstr(top + r, lw, a->utf8 ? "│" : "|");
	move(top + dh, rx);
	for (int c = 0; c < rw; c++)
		addstr(a->utf8 ? "─" : "-");
	attrset(A_NORMAL);
}

void mp_app_draw(struct mp_app *a)
{
	struct mp_rect slots[MP_SLOT_COUNT];
	erase();
	if (LINES < 10 || COLS < 40) {
		mp_term_put(0, 0, COLS, A_BOLD, "mpdbg: the terminal is %dx%d; it needs 40x10", COLS, LINES);
		refresh();
		return;
	}
	layout(a, slots);
	for (size_t i = 0; i < sizeof panes / sizeof panes[0]; i++)
		panes[i].draw(a, slots[panes[i].slot]);
	refresh();
}
