/* progress.h - the progress bar of `mpdbg run` on a terminal: batches
 * done of total, rate and time left, drawn on stderr at the terminal's
 * width; lines printed meanwhile go above it. */
#ifndef MP_PROGRESS_H
#define MP_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>

struct mp_progress {
	bool on;          /* stderr is a terminal */
	size_t total;
	double t0;        /* seconds */
	bool drawn;
};

void mp_progress_start(struct mp_progress *p, size_t total);
/* Redraws the bar for `done` batches. */
void mp_progress_draw(struct mp_progress *p, size_t done);
/* Clears the bar so a line can be printed; the next draw brings it back. */
void mp_progress_clear(struct mp_progress *p);
double mp_progress_now(void);

#endif
