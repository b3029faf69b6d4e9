/* probe_print.h - probe results in words, for the command line. */
#ifndef MP_PROBE_PRINT_H
#define MP_PROBE_PRINT_H

#include <stddef.h>

#include "exec.h"
#include "probes.h"

/* "float32 [2, 3]: min -1 max 4 mean 1.5 std 1.7; 1 NaN of 6" */
const char *mp_run_record_line(const struct mp_probe_record *r, enum mp_dtype low, char *buf, size_t size);
/* The breakpoint a batch met: where, the node's outputs and inputs with
 * their statistics and origins. */
const char *mp_run_hit_report(const struct mp_exec *x, const struct mp_probe_batch *pb, const char *batch_name,
                              char *buf, size_t size);
/* What is worth a line after a batch (NaN, Inf, overflow, the worst node
 * against fp32); "" when nothing. */
const char *mp_run_batch_notes(const struct mp_graph *g, const struct mp_probe_batch *pb, double tol, char *buf,
                               size_t size);

#endif
