/* progress.c - a one-line progress bar, redrawn in place with \r. */
#include "progress.h"

#include <stdio.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

double mp_progress_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void mp_progress_start(struct mp_progress *p, size_t total)
{
	p->on = isatty(STDERR_FILENO);
	p->total = total;
	p->t0 = mp_progress_now();
	p->drawn = false;
}

static int columns(void)
{
	struct winsize ws;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

static void clock_str(char *buf, size_t size, double s)
{
	long t = (long)(s + 0.5);
	if (t >= 3600)
		snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

void mp_progress_draw(struct mp_progress *p, size_t done)
{
	if (!p->on)
		return;
	double el = mp_progress_now() - p->t0, rate = el > 0 ? (double)done / el : 0;
	char tail[96], eta[32];
	if (done && done < p->total)
		clock_str(eta, sizeof eta, (double)(p->total - done) / rate);
	else
		clock_str(eta, sizeof eta, el);
	int tn = snprintf(tail, sizeof tail, " %zu/%zu batches  %.1f/s  %s %s", done, p->total, rate,
	                  done < p->total ? "ETA" : "in", eta);
	int width = columns() - tn - 3; /* "[" "]" and the last column, which would wrap */
	fputc('\r', stderr);
	if (width >= 10) {
		int fill = p->total ? (int)((double)width * (double)done / (double)p->total) : width;
		fputc('[', stderr);
		for (int i = 0; i < width; i++)
			fputc(i < fill ? '=' : i == fill ? '>' : ' ', stderr);
		fputc(']', stderr);
	}
	fputs(width >= 10 ? tail : tail + 1, stderr);
	fputs("\033[K", stderr); /* clear what a longer line left */
	fflush(stderr);
	p->drawn = true;
}

void mp_progress_clear(struct mp_progress *p)
{
	if (!p->on || !p->drawn)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	p->drawn = false;
}
