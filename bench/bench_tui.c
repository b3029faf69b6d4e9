/* bench_tui.c - how fast the TUI opens a recorded session and moves
 * between its batches: the whole path a key press takes (the batch read
 * from SQLite, the trace filtered, the screen drawn by ncurses into a
 * terminal that writes to /dev/null).
 *
 * usage: bench_tui SESSION.db [MOVES]
 * (bench_writer 1000 250 OUT.db makes a session of 1,000 batches x 250 nodes)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "term.h"

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct mp_error e = { 0 };
	int moves = argc > 2 ? atoi(argv[2]) : 200;
	if (argc < 2 || moves < 1) {
		fprintf(stderr, "usage: bench_tui SESSION.db [MOVES]\n");
		return 2;
	}
	FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
	SCREEN *scr = newterm("xterm-256color", out, in);
	if (!scr) {
		fprintf(stderr, "bench_tui: no terminal description for xterm-256color\n");
		return 1;
	}
	set_term(scr);
	resizeterm(50, 200);

	/* opening: the session read, the first batch loaded, the strip's
	 * figure computed, the first screen drawn (best of 5, cold cache first) */
	double open_ms[5];
	struct mp_view *v = NULL;
	struct mp_app a;
	for (int r = 0; r < 5; r++) {
		double t0 = now_ms();
		memset(&a, 0, sizeof a);
		if (mp_view_open(argv[1], &v, &e) || mp_app_init(&a, v, &e)) {
			fprintf(stderr, "bench_tui: %s\n", e.msg);
			return 1;
		}
		mp_app_refresh_strip(&a);
		mp_app_draw(&a);
		open_ms[r] = now_ms() - t0;
		if (r < 4) {
			mp_app_free(&a);
			mp_view_free(v);
		}
	}
	size_t nb = v->nbatches;
	double *ms = calloc((size_t)moves, sizeof *ms);
	for (int i = 0; i < moves; i++) {
		double t0 = now_ms();
		if (mp_app_goto_batch(&a, (a.batch + 1) % nb, &e)) {
			fprintf(stderr, "bench_tui: %s\n", e.msg);
			return 1;
		}
		mp_app_draw(&a);
		ms[i] = now_ms() - t0;
	}
	double first = open_ms[0];
	qsort(open_ms, 5, sizeof *open_ms, cmp);
	qsort(ms, (size_t)moves, sizeof *ms, cmp);
	printf("session %s: %zu batches x %zu nodes (%zu values)\n", argv[1], nb, v->nnodes, v->nvalues);
	printf("open + first screen: %.1f ms first, %.1f ms median of 5\n", first, open_ms[2]);
	printf("next batch + redraw: %.2f ms median, %.2f ms p95, %.2f ms max over %d moves\n", ms[moves / 2],
	       ms[moves * 95 / 100], ms[moves - 1], moves);
	mp_app_free(&a);
	mp_view_free(v);
	endwin();
	delscreen(scr);
	free(ms);
	return 0;
}
