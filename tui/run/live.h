/* live.h - `mpdbg tui MODEL --data PATH`: the model run in this process as
 * the user steps (a run from run.h), every finished batch recorded into a
 * session that the UI reads back like a recorded one (a temporary file
 * unless --session names one). */
#ifndef MP_LIVE_H
#define MP_LIVE_H

#include <stdbool.h>
#include <stddef.h>

#include "graph.h"
#include "policy.h"
#include "probes.h"

struct mp_live;

struct mp_live_options {
	const char *model, *data, *glob, *device, *session;
	long threads;
	struct mp_policy *policy;            /* taken over */
	struct mp_probe_options *probes;     /* taken over */
	struct mp_graph_limits limits;       /* --max-nodes, --max-values (0: defaults) */
	size_t max_memory;                   /* --max-memory (0: the default) */
};
/* Called as a live batch runs; returning true interrupts it. */
typedef bool (*mp_live_progress_fn)(void *user, size_t batch, size_t node, size_t nnodes);
void mp_live_set_progress(struct mp_live *l, mp_live_progress_fn fn, void *user);
enum mp_status mp_live_open(const struct mp_live_options *o, struct mp_live **out, struct mp_error *e);
void mp_live_free(struct mp_live *l);
const char *mp_live_session_path(const struct mp_live *l);
enum mp_status mp_live_run_batch(struct mp_live *l, size_t index, struct mp_error *e);
size_t mp_live_count(const struct mp_live *l);     /* batches in the source */
bool mp_live_recorded(const struct mp_live *l, size_t index);
enum mp_status mp_live_step(struct mp_live *l, size_t index, long *pos, char *note, size_t size, struct mp_error *e);
enum mp_status mp_live_continue(struct mp_live *l, const bool *bp, long *pos, char *note, size_t size,
                                struct mp_error *e);
void mp_live_stop_stepping(struct mp_live *l);
const char *mp_live_node_name(const struct mp_live *l, long pos);

#endif
