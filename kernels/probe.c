/* probe.c - the accumulator helpers every backend's probes share. */
#include "probe.h"

#include <math.h>
#include <string.h>

void mp_stats_acc_init(struct mp_stats_acc *s)
{
	memset(s, 0, sizeof *s);
#define MP_STAT(field, kind, merge, init, name, flags, doc) MP_STAT_INIT_##kind(s, field, init)
#include "stats.def"
#undef MP_STAT
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
#define MP_STAT(field, kind, merge, init, name, flags, doc) MP_STAT_MERGE_##merge##_##kind(a, b, field)
#include "stats.def"
#undef MP_STAT
	for (int i = 0; i < MP_HIST_BINS; i++)
		a->hist[i] += b->hist[i];
}
