/* term.h - the terminal: the one header that includes curses.  Set-up and
 * teardown, the signal handlers that restore the screen, the colour scheme
 * (meanings, not colours) and the few ways the panes write text.  Every
 * other file of the UI reaches curses through this header. */
#ifndef MP_TERM_H
#define MP_TERM_H

#include <curses.h>
#include <stdbool.h>

/* What a colour means; without colour each reads as a weight instead. */
enum mp_term_color { MP_TC_ERR = 1, MP_TC_WARN, MP_TC_CAST, MP_TC_OK, MP_TC_BREAK, MP_TC_HEAD, MP_TC_DIM };

/* The screen taken over (keys, mouse, a 500 ms wake-up, colours when
 * `color`), and SIGINT/TERM/HUP noted while fatal signals restore it. */
void mp_term_start(bool color);
void mp_term_end(void);
/* Ctrl-C (or SIGTERM, SIGHUP) since the start; take clears it, for a
 * Ctrl-C that stops a batch and not the UI. */
bool mp_term_interrupted(void);
bool mp_term_take_interrupt(void);

/* Raw output over the screen (a picture): blank it first; then wait for
 * a key and have curses repaint all of it, as it knows nothing of what
 * was printed. */
void mp_term_blank(void);
void mp_term_await_key(void);

attr_t mp_term_attr(bool color, enum mp_term_color c);
/* Text at (y, x) in at most w columns (UTF-8 aware), the rest of w
 * blanked; control characters show as spaces. */
void mp_term_put(int y, int x, int w, attr_t at, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Text over as many rows as it needs (up to ymax), continuation rows
 * indented by `ind`; returns the row after it. */
int mp_term_wrap(int y, int x, int w, int ymax, int ind, attr_t at, const char *text);
/* One cell of a sparkline: v between lo and hi, a block (UTF-8) or an
 * ASCII stand-in. */
const char *mp_term_spark(bool utf8, double v, double lo, double hi);

#endif
