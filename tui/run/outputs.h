/* outputs.h - a run's outputs: tensor summaries and the may-write rule. */
#ifndef MP_RUN_OUTPUTS_H
#define MP_RUN_OUTPUTS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "probe.h"
#include "tensor.h"

/* One-line statistics of a host tensor: "min -1.2 max 3.4 mean 0.56" with
 * NaN/Inf counts when there are any. */
const char *mp_run_tensor_summary(char *buf, size_t size, const struct mp_tensor *t);
/* The same line from a probe's statistics of the tensor (its mean Chan's,
 * not a running sum: they may differ in the last digits printed). */
const char *mp_run_stats_summary(char *buf, size_t size, const struct mp_stats_acc *s);

/* Every command that writes a file the user named (or one named for them)
 * asks here first: an existing path is refused unless --force was given.
 * False with "PATH exists; pass --force to replace it" in e (MP_ERR_IO). */
bool mp_run_may_write(const char *path, bool force, struct mp_error *e);

#endif
