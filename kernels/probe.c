/* probe.c - the accumulator helpers every backend's probes share. */
#include "probe.h"

#include <math.h>
#include <string.h>

void mp_stats_acc_init(struct mp_stats_acc *s)
{
	memset(s, 0, sizeof *s);
	s->min = INFINITY;
	s->max = -INFINITY;
	s->min_nonzero = INFINITY;
}

void mp_stats_acc_merge(struct mp_stats_acc *a, const struct mp_stats_acc *b)
{
	if (b->finite) {
		if (!a->finite) {
			a->mean = b->mean;
			a->m2 = b->m2;
		} else { /* Chan, Golub and LeVeque's pairwise update */
			double na = (double)a->finite, nb = (double)b->finite, n = na + nb;
			double delta = b->mean - a->mean;
			a->mean += delta * (nb / n);
			a->m2 += b->m2 + delta * delta * (na * nb / n);
		}
	}
	a->count += b->count;
	a->finite += b->finite;
	a->nan += b->nan;
	a->posinf += b->posinf;
	a->neginf += b->neginf;
	a->zeros += b->zeros;
	a->min = fmin(a->min, b->min);
	a->max = fmax(a->max, b->max);
	a->absmax = fmax(a->absmax, b->absmax);
	a->min_nonzero = fmin(a->min_nonzero, b->min_nonzero);
	for (int t = 0; t < MP_LOW_COUNT; t++) {
		a->overflow[t] += b->overflow[t];
		a->underflow[t] += b->underflow[t];
		a->flush[t] += b->flush[t];
	}
	for (int i = 0; i < MP_HIST_BINS; i++)
		a->hist[i] += b->hist[i];
}
