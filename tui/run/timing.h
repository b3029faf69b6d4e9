/* timing.h - `mpdbg run --timing`: where each batch's time went (the
 * runner's phases), and what the executor made of the run (planned runs,
 * graph replays, fusion, attention), said once at the end. */
#ifndef MP_RUN_TIMING_H
#define MP_RUN_TIMING_H

#include <stdio.h>

#include "exec.h"
#include "probes.h"
#include "runner.h"

struct mp_run_timing {
	double *rows; /* per batch: ms, then the phases */
	size_t n, cap;
};

enum mp_status mp_run_timing_add(struct mp_run_timing *t, const struct mp_runner_result *res, struct mp_error *e);
/* The medians of each column over the batches after the first three (the
 * first records, the second plans memory, the third is captured), or over
 * every batch when there are no more; then the executor's and the fp32
 * shadow's stats (p may be NULL). */
void mp_run_timing_print(const struct mp_run_timing *t, const struct mp_exec *x, const struct mp_probes *p, FILE *f);
void mp_run_timing_free(struct mp_run_timing *t);

#endif
