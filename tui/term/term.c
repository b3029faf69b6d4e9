/* term.c - the terminal taken over and given back on every way out (q, an
 * error, Ctrl-C, a fatal signal), the colour scheme, and the text writers
 * the panes share. */
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "term.h"

static volatile sig_atomic_t got_sigint; /* the one flag a handler may set */

static void on_sigint(int sig)
{
	(void)sig;
	got_sigint = 1;
}

static void on_fatal(int sig)
{
	endwin(); /* not async-signal-safe in theory; the process is dying anyway and the terminal matters */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void colors_start(bool color)
{
	if (!color || !has_colors())
		return;
	start_color();
	use_default_colors();
	init_pair(MP_TC_ERR, COLOR_RED, -1);
	init_pair(MP_TC_WARN, COLOR_YELLOW, -1);
	init_pair(MP_TC_CAST, COLOR_CYAN, -1);
	init_pair(MP_TC_OK, COLOR_GREEN, -1);
	init_pair(MP_TC_BREAK, COLOR_MAGENTA, -1);
	init_pair(MP_TC_HEAD, COLOR_BLACK, COLOR_CYAN);
	init_pair(MP_TC_DIM, COLOR_BLUE, -1);
}

void mp_term_start(bool color)
{
	initscr();
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	nonl();
	set_escdelay(25);
	mousemask(BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
	mouseinterval(0);
	curs_set(0);
	timeout(500); /* wake to pick up batches a recording run commits, and Ctrl-C */
	colors_start(color);
	struct sigaction sa = { 0 };
	sa.sa_handler = on_sigint;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_fatal;
	sa.sa_flags = SA_RESETHAND;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
}

void mp_term_end(void)
{
	endwin();
}

bool mp_term_interrupted(void)
{
	return got_sigint;
}

bool mp_term_take_interrupt(void)
{
	if (!got_sigint)
		return false;
	got_sigint = 0;
	return true;
}

void mp_term_blank(void)
{
	erase();
	refresh();
}

void mp_term_await_key(void)
{
	timeout(-1);
	getch();
	timeout(500);
	clearok(curscr, TRUE);
}

attr_t mp_term_attr(bool color, enum mp_term_color c)
{
	if (color && has_colors())
		return COLOR_PAIR(c);
	switch (c) { /* without colour: weight instead */
	case MP_TC_ERR: return A_BOLD;
	case MP_TC_HEAD: return A_REVERSE;
	case MP_TC_DIM: return A_DIM;
	default: return A_NORMAL;
	}
}

void mp_term_put(int y, int x, int w, attr_t at, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	if (w <= 0 || y < 0 || y >= LINES)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	for (char *c = buf; *c; c++) /* one line: a newline or tab would move the cursor */
		if ((unsigned char)*c < 32)
			*c = ' ';
	attrset(at);
	mvhline(y, x, ' ', w);
	int n = (int)strlen(buf), cols = 0, i = 0;
	/* count columns, not bytes (UTF-8 continuation bytes take none) */
	for (; i < n; i++) {
		if (((unsigned char)buf[i] & 0xC0) != 0x80) {
			if (cols == w)
				break;
			cols++;
		}
	}
	mvaddnstr(y, x, buf, i);
	attrset(A_NORMAL);
}

int mp_term_wrap(int y, int x, int w, int ymax, int ind, attr_t at, const char *text)
{
	const char *p = text;
	bool first = true;
	while (y < ymax && (first || *p)) {
		int room = first ? w : w - ind;
		if (room <= 0)
			break;
		size_t n = strlen(p) <= (size_t)room ? strlen(p) : (size_t)room;
		if (n < strlen(p)) { /* break at a space when there is one */
			size_t k = n;
			while (k > (size_t)room / 2 && p[k] != ' ')
				k--;
			if (p[k] == ' ')
				n = k + 1;
		}
		mp_term_put(y++, first ? x : x + ind, room, at, "%.*s", (int)n, p);
		p += n;
		first = false;
	}
	return y;
}

const char *mp_term_spark(bool utf8, double v, double lo, double hi)
{
	static const char *const u[] = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" };
	static const char *const s[] = { "_", ".", ":", "-", "=", "+", "*", "#" };
	if (isnan(v))
		return " ";
	int k = hi > lo ? (int)((v - lo) / (hi - lo) * 7.999) : (v > 0 ? 7 : 0);
	k = k < 0 ? 0 : k > 7 ? 7 : k;
	return utf8 ? u[k] : s[k];
}
