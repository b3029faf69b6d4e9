/* plan_print.h - the dtype plan as text or JSON. */
#ifndef MP_PLAN_PRINT_H
#define MP_PLAN_PRINT_H

#include <stdbool.h>

#include "batch.h"
#include "graph.h"
#include "plan.h"

/* Prints the plan; b (may be NULL) names the files inputs come from.
 * Returns the exit status: MP_EXIT_STOPPED when a mismatch stops it. */
int mp_cli_print_plan(const struct mp_graph *g, const struct mp_plan *pl, const struct mp_batch *b,
                      bool all, bool json);

#endif
