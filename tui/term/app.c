/* app.c - the terminal UI's event loop: a key read, its action run
 * (keys.c), the screen drawn when the action says so (tui/panes/); the
 * terminal restored on every way out (term.c). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "cli.h"
#include "preview.h"
#include "term.h"

void mp_app_busy(struct mp_app *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->msg, sizeof a->msg, fmt, ap);
	va_end(ap);
	a->msg_error = false;
	mp_app_draw(a);
}

/* While a live batch runs: a progress bar on the bottom line, and Ctrl-C
 * or Esc to stop it (the UI stays). */
bool mp_app_progress(void *user, size_t batch, size_t node, size_t nnodes)
{
	(void)user;
	int w = COLS - 40 > 10 ? COLS - 40 : 10, done = nnodes ? (int)((double)node / (double)nnodes * w) : 0;
	move(LINES - 1, 0);
	clrtoeol();
	printw("batch %zu: node %zu/%zu [", batch + 1, node, nnodes);
	for (int i = 0; i < w; i++)
		addch(i < done ? '#' : '.');
	printw("] Esc stops");
	refresh();
	nodelay(stdscr, TRUE);
	int ch = getch();
	timeout(500);
	/* this Ctrl-C stops the batch, not the UI */
	return ch == 27 || mp_term_take_interrupt();
}

/* The picture an action wrote (o, d), over the whole screen until a key. */
static void show_picture(struct mp_app *a)
{
	struct mp_error e = { 0 };
	struct mp_preview *pv;
	if (mp_preview_open(a->picture, COLS, LINES, &pv, &e)) {
		mp_app_msg(a, true, "%s", e.msg);
	} else {
		mp_term_blank();
		mp_preview_print(pv, a->picture, a->color, a->utf8);
		mp_preview_free(pv);
		mp_term_await_key();
	}
	a->picture[0] = '\0';
}

/* No key for a while: a session still being recorded may have grown. */
static unsigned idle(struct mp_app *a)
{
	struct mp_error e = { 0 };
	bool changed = false;
	if (!a->live && !strcmp(a->v->status, "running") && !mp_view_refresh(a->v, &changed, &e) && changed) {
		a->strip_dirty = true;
		if (!a->cur && a->v->nbatches)
			mp_app_goto_batch(a, 0, &e);
	}
	return MP_KEY_REDRAW; /* the screen re-read as often as the session is */
}

int mp_app_run(struct mp_app *a)
{
	unsigned flags = MP_KEY_REDRAW;
	mp_term_start(a->color);
	while (!(flags & MP_KEY_QUIT) && !mp_term_interrupted()) {
		if (a->picture[0])
			show_picture(a);
		if (flags & MP_KEY_REDRAW) {
			mp_app_refresh_strip(a);
			mp_app_draw(a);
		}
		int ch = getch();
		flags = ch == ERR ? idle(a) : mp_app_key(a, ch);
	}
	mp_term_end();
	return MP_EXIT_OK;
}
