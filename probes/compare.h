/* compare.h - the fp32 shadow run behind --compare: the same graph, the
 * same batch, under the fp32 policy, stepped in lockstep with the run under
 * test, and each node rerun in fp32 on the inputs the run under test gave
 * it, so that a node's error splits into what it adds and what it inherits. */
#ifndef MP_COMPARE_H
#define MP_COMPARE_H

#include "backend.h"
#include "batch.h"
#include "exec.h"
#include "graph.h"

struct mp_compare_run;

/* Called for node i once the shadow ran it: ref[k] is the shadow's output k,
 * own[k] the node rerun in fp32 on the tested run's inputs (own is NULL
 * where the node runs no kernel or was folded); NULL entries where the
 * output is unused.  The tensors live until the call returns (share them
 * to keep them). */
typedef enum mp_status (*mp_compare_fn)(void *user, size_t i, const struct mp_tensor *const *ref,
                                        const struct mp_tensor *const *own, struct mp_error *e);

/* max_memory: the shadow run's activation budget (0: exec.h's default). */
enum mp_status mp_compare_run_new(const struct mp_graph *g, struct mp_backend *be, struct mp_backend *host,
                                  size_t max_memory, struct mp_compare_run **out, struct mp_error *e);
void mp_compare_run_free(struct mp_compare_run *c);
enum mp_status mp_compare_run_begin(struct mp_compare_run *c, const struct mp_batch *b, struct mp_error *e);
/* Runs the shadow through node i; `tested` is the run under test, at its
 * hook for node i. */
enum mp_status mp_compare_run_to(struct mp_compare_run *c, struct mp_exec *tested, size_t i, mp_compare_fn fn,
                                 void *user, struct mp_error *e);

/* Planned: the shadow behind an observer that watches every value (so that
 * nothing in it is fused away or narrowed), run whole by
 * mp_compare_run_all() once the run under test is done; else (the default)
 * node by node behind a hook, by mp_compare_run_to().  Set before
 * mp_compare_run_begin(). */
void mp_compare_run_set_planned(struct mp_compare_run *c, bool planned);
/* The planned shadow's whole run after the run under test, which must have
 * kept every value: fn for each node as mp_compare_run_to calls it (the
 * nodes folded at binding after the rest).  A replayed run calls nobody:
 * *replayed says so, and the work fn queued in the run that was captured
 * is replayed with it. */
enum mp_status mp_compare_run_all(struct mp_compare_run *c, struct mp_exec *tested, mp_compare_fn fn, void *user,
                                  bool *replayed, struct mp_error *e);
/* Whether fn is being called from within the planned shadow's run (whose
 * arena gives a value's memory to later nodes: what fn queued must be
 * computed before it returns), not for a folded node after it. */
bool mp_compare_run_running(const struct mp_compare_run *c);
/* How the shadow's runs went (exec.h). */
void mp_compare_run_get_stats(const struct mp_compare_run *c, struct mp_exec_stats *out);

#endif
