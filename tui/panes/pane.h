/* pane.h - what a pane is: a function that draws part of the UI's state
 * into a rectangle the layout gives it.  Panes only draw (the keys change
 * the state, tui/term/keys.c); panes.def lists them. */
#ifndef MP_PANE_H
#define MP_PANE_H

#include <stddef.h>

#include "app.h"
#include "term.h"

struct mp_rect {
	int y, x, h, w;
};

/* Where the layout (panes.c) puts a pane; it sizes them from the
 * terminal on every draw, so a resize re-lays the screen out. */
enum mp_slot {
	MP_SLOT_TOP,         /* the first line */
	MP_SLOT_STATUS,      /* the second */
	MP_SLOT_STRIP,       /* the third */
	MP_SLOT_LEFT,        /* the left column */
	MP_SLOT_RIGHT,       /* the right column, above the rule */
	MP_SLOT_RIGHT_BELOW, /* the right column, below the rule */
	MP_SLOT_BOTTOM,      /* the last line */
	MP_SLOT_SCREEN,      /* all of it (an overlay) */
	MP_SLOT_COUNT
};

typedef void (*mp_pane_draw_fn)(struct mp_app *a, struct mp_rect r);

#define MP_PANE(name, slot) void mp_pane_##name##_draw(struct mp_app *a, struct mp_rect r);
#include "panes.def"
#undef MP_PANE

static inline attr_t mp_pane_col(const struct mp_app *a, enum mp_term_color c)
{
	return mp_term_attr(a->color, c);
}

/* A statistic as the panes print it: 4 significant digits, exponent form
 * for the very large and small, "-" for NaN (not recorded). */
const char *mp_pane_num(char *b, size_t n, double v);

#endif
