/* probes.h - what is measured at every node while a batch runs.
 *
 * Attached to an executor, the probes see each node after it ran and ask
 * the backend for the fused statistics of its float outputs (and of the
 * graph inputs), the diversity across the batch of every batch-shaped
 * output, and, with comparison on, the error against an fp32 shadow run of
 * the same batch: in total, the part the node adds itself (the node rerun
 * in fp32 on this run's inputs) and the part it inherits.  Requests queue
 * with their tensors kept alive and go to the backend in groups; results
 * come back once, when the batch ends.  Probes only read: results are the
 * same to the bit with them or without.
 *
 *   mp_probes_new(g, be, opts, &p);
 *   mp_exec_set_hook(x, mp_probes_hook, p);    (mp_probes_attach does it)
 *   per batch: mp_exec_begin(x, b); mp_probes_begin(p, x, b);
 *              mp_exec_run(x); mp_probes_end(p, &result);
 */
#ifndef MP_PROBES_H
#define MP_PROBES_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "batch.h"
#include "cond.h"
#include "exec.h"
#include "graph.h"
#include "probe.h"

struct mp_probe_options {
	bool stats;        /* statistics of every float value (default on) */
	bool diversity;    /* diversity across the batch (default on) */
	bool compare;      /* the fp32 shadow run */
	double tol;        /* relative L2 error that MP_BREAK_TOL and the report flag */
	int ncaptures;
	char **captures;   /* globs over value and node names: whole tensors kept */
	int nbreaks;
	struct mp_breakpoint *breaks;
	size_t max_memory; /* the fp32 shadow run's activation budget (exec.h); 0: the default */
	bool outputs_only; /* statistics of the graph outputs alone, nothing else (what `run
	                    * --no-probes` prints of each batch, measured where the run is) */
	bool literal;      /* node by node behind a hook, as the TUI steps: no planned memory,
	                    * narrowing, fusion or graphs (`run --literal`; the reference the
	                    * planned path is tested against) */
};

/* Defaults: stats and diversity on, no comparison, tol 1e-2. */
void mp_probe_options_init(struct mp_probe_options *o);
/* "nan", "inf", "overflow", "mismatch", "tol", "node=GLOB" */
enum mp_status mp_probe_options_add_break(struct mp_probe_options *o, const char *spec, struct mp_error *e);
enum mp_status mp_probe_options_add_capture(struct mp_probe_options *o, const char *glob, struct mp_error *e);
void mp_probe_options_free(struct mp_probe_options *o);

enum {
	MP_REC_STATS = 1u << 0,
	MP_REC_DIVERSITY = 1u << 1,
	MP_REC_COMPARE = 1u << 2,
	MP_REC_OWN = 1u << 3, /* own and inherited error */
};

/* What the probes found for one value in one batch. */
struct mp_probe_record {
	int32_t value;
	int32_t node;              /* producer, in execution order; -1 for a graph input */
	enum mp_dtype dtype;
	int ndim;
	int64_t shape[MP_MAX_DIMS];
	uint32_t flags;            /* MP_REC_* */
	struct mp_stats_acc stats;
	struct mp_diversity_acc div;
	struct mp_compare_acc cmp; /* against the fp32 shadow */
	struct mp_compare_acc own; /* against the node rerun in fp32 on this run's inputs */
	struct mp_compare_acc inh; /* that rerun against the fp32 shadow */
};

struct mp_capture {
	int32_t value;
	struct mp_tensor t; /* a host copy */
};

struct mp_break_hit {
	const struct mp_breakpoint *bp;
	int32_t node;   /* -1: a graph input */
	int32_t value;  /* the value that met the condition, -1 for node/mismatch */
};

/* One batch's results; the caller owns them (mp_probe_batch_free). */
struct mp_probe_batch {
	size_t index;              /* the batch's position in its source */
	const struct mp_graph *g;
	size_t nrecords;
	struct mp_probe_record *records; /* graph inputs first, then in execution order */
	size_t ncaptures;
	struct mp_capture *captures;
	bool hit;
	struct mp_break_hit hit_at; /* the first breakpoint met, in execution order */
	enum mp_dtype low;          /* the run's low type (f32 for fp32 runs) */
	double ms;                  /* from mp_probes_begin to mp_probes_end */
};

void mp_probe_batch_free(struct mp_probe_batch *r);
/* The record of a value, or NULL. */
const struct mp_probe_record *mp_probe_batch_find(const struct mp_probe_batch *r, int32_t value);

struct mp_probes;

/* be: where the executor runs; the options are copied. */
enum mp_status mp_probes_new(const struct mp_graph *g, struct mp_backend *be, struct mp_backend *host,
                             const struct mp_policy *policy, const struct mp_probe_options *o,
                             struct mp_probes **out, struct mp_error *e);
void mp_probes_free(struct mp_probes *p);
/* Puts the probes on x: behind an observer (the planned path: planned
 * memory, fusion, graphs; with --compare the run keeps every value and the
 * fp32 shadow runs whole after it, planned too) unless `next` is given, the
 * options ask for the literal path or a node= break, which put them behind
 * x's hook (node by node; the hook then calls `next`). */
void mp_probes_attach(struct mp_probes *p, struct mp_exec *x, mp_exec_hook next, void *next_user);
mp_exec_hook mp_probes_hook_fn(void);
/* Whether the probes took the planned path at the last attach. */
bool mp_probes_planned(const struct mp_probes *p);
/* Back to the node-by-node path (on x, attached before): for a run whose
 * planned --compare (every value kept) would not fit its memory limit. */
void mp_probes_go_literal(struct mp_probes *p, struct mp_exec *x);
/* With --compare: how the fp32 shadow's runs went (out may be NULL); false
 * without one. */
bool mp_probes_shadow_stats(const struct mp_probes *p, struct mp_exec_stats *out);

/* After mp_exec_begin(x, b): records the graph inputs, binds the shadow. */
enum mp_status mp_probes_begin(struct mp_probes *p, struct mp_exec *x, const struct mp_batch *b, size_t index,
                               struct mp_error *e);
/* After the run (or a stop): fetches the results, finds the first
 * breakpoint met; *out is the caller's. */
enum mp_status mp_probes_end(struct mp_probes *p, struct mp_probe_batch **out, struct mp_error *e);

/* ---- the numbers people read ---- */
double mp_stats_std(const struct mp_stats_acc *s);   /* population; NaN when no finite value */
double mp_compare_rel_l2(const struct mp_compare_acc *c);
double mp_compare_cosine(const struct mp_compare_acc *c);
double mp_compare_sqnr_db(const struct mp_compare_acc *c);
double mp_diversity_ratio(const struct mp_diversity_acc *d); /* across / within; NaN when undefined */
enum mp_low mp_low_index(enum mp_dtype t); /* bf16 -> MP_LOW_BF16, f16 -> MP_LOW_F16 */

#endif
