/* view.h - a recorded session as the TUI reads it: the run, its graph
 * (nodes in execution order, values, the module tree), and one batch at a
 * time (statistics and comparisons per value, the dtype events, the
 * breakpoint hit), plus one figure per batch for the batch strip.
 *
 * Everything is copied out of SQLite into plain arrays, so that drawing
 * never touches the database; mp_view_refresh() picks up batches a run
 * still recording has committed since. */
#ifndef MP_VIEW_H
#define MP_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "probe.h"
#include "tensor.h"

struct mp_view_node {
	char *name, *op, *module, *exec_dtype;
	int ninputs, noutputs;
	int32_t *inputs;    /* value ids, -1 for an omitted input */
	int32_t *outputs;
	int32_t module_id;  /* into modules[] */
};

struct mp_view_value {
	char *name;
	char *kind;         /* input, initializer, node */
	int32_t producer;   /* node index, -1 */
	char *dtype;        /* under the policy, first batch's plan */
	bool is_output;
};

/* Limits on what a session may hold, checked as it is read (a session is a
 * file someone else made): module paths (their levels and bytes, and all
 * of them together), and one captured tensor's bytes. */
#define MP_VIEW_MODULE_DEPTH_MAX 256
#define MP_VIEW_MODULE_PATH_MAX 4096
#define MP_VIEW_MODULE_BYTES_MAX (64 << 20) /* all modules' paths together */
#define MP_VIEW_CAPTURE_MAX_BYTES ((int64_t)256 << 20)

/* The module tree from the nodes' dotted module paths; 0 is the model. */
struct mp_view_module {
	char *name;         /* the last component ("(model)" for 0) */
	char *path;         /* dotted */
	int32_t parent, depth;
	int32_t first_node, last_node; /* range of nodes in execution order under it (-1: none) */
};

#define MP_VIEW_STAT_COUNT(n) int64_t n;
#define MP_VIEW_STAT_REAL(n) double n;
#define MP_VIEW_STAT_STD(n) double n;
#define MP_VIEW_STAT_LOW(n) int64_t n[MP_LOW_COUNT];

struct mp_view_stat {
	bool present, has_cmp, has_hist;
	char dtype[16], shape[96];
	/* the statistics of stats.def, named as their columns (std for M2;
	 * [MP_LOW_BF16], [MP_LOW_F16] per low type); not measured: NaN, or -1
	 * for a count the file has no column for (written before it) */
#define MP_STAT(field, kind, merge, init, name, flags, doc) MP_VIEW_STAT_##kind(name)
#include "stats.def"
#undef MP_STAT
	uint64_t hist[MP_HIST_BINS];
	double div_across, div_within;
	double max_abs, rel_l2, cosine, sqnr_db, own_rel_l2, inh_rel_l2;
	int64_t nonfinite;
};

struct mp_view_event {
	int64_t seq;
	int32_t node, slot, value;  /* -1: none */
	char from[16], to[16], reason[16];
	double max_abs, max_rel;    /* NaN: not measured */
};

struct mp_view_batch {
	size_t index;
	char *source, *status, *message;
	double ms;
	struct mp_view_stat *stats;   /* per value id (nvalues) */
	size_t nevents;
	struct mp_view_event *events;
	bool hit;
	char hit_kind[16];
	int32_t hit_node, hit_value;
	char *hit_message;
	/* the batch's headline */
	int64_t nan_values, inf_values, overflow_values; /* values holding any */
	int32_t first_nonfinite_node;                    /* -1 */
	int32_t worst_node;                              /* by rel_l2 vs fp32, -1 */
	double worst_rel_l2;
	size_t mismatches;
};

enum mp_view_figure { MP_FIG_NONFINITE, MP_FIG_OUTPUT_ERROR, MP_FIG_OUTPUT_DIVERSITY, MP_FIG_COUNT };

struct mp_view {
	char *path;
	/* the run */
	char *model_path, *policy, *on_mismatch, *low_dtype, *backend, *device, *status, *message, *started_at;
	enum mp_dtype low;               /* low_dtype, read once: f32 for an fp32 run */
	bool compare;
	double tol;
	size_t nnodes, nvalues, nmodules;
	struct mp_view_node *nodes;
	struct mp_view_value *values;
	struct mp_view_module *modules;
	size_t nbatches;                 /* committed */
	size_t *batch_index;             /* their indices, in order */
	void *db;                        /* sqlite3 */
	char *stat_select;               /* the statistics' columns as this file has them (stat_cols.h) */
};

/* A recorded batch judged as the run judged it (view_break.c): a dtype
 * event that is a mismatch ("mismatch", or "blocked": the one that stopped
 * the run), and the value conditions (probes/cond.h MP_BC_* bits: nan,
 * inf, overflow, tol) a value's statistics meet. */
bool mp_view_event_is_mismatch(const struct mp_view_event *ev);
unsigned mp_view_stat_breaks(const struct mp_view *v, const struct mp_view_stat *s, double tol);

/* Opens a session read-only; a file that is not one is an error naming it. */
enum mp_status mp_view_open(const char *path, struct mp_view **out, struct mp_error *e);
void mp_view_free(struct mp_view *v);
/* New batches (and the run's status) since the last look; *changed says. */
enum mp_status mp_view_refresh(struct mp_view *v, bool *changed, struct mp_error *e);
/* The i-th committed batch (0-based position, not its index). */
enum mp_status mp_view_load_batch(struct mp_view *v, size_t i, struct mp_view_batch **out, struct mp_error *e);
void mp_view_batch_free(struct mp_view_batch *b);
/* The file the i-th committed batch was recorded from (malloc'd), alone:
 * no statistics read. */
enum mp_status mp_view_batch_source(struct mp_view *v, size_t i, char **out, struct mp_error *e);
/* One figure per committed batch into out[nbatches] (NaN: not measured). */
enum mp_status mp_view_figure(struct mp_view *v, enum mp_view_figure f, double *out, struct mp_error *e);
const char *mp_view_figure_name(enum mp_view_figure f);
/* Per node (execution order), the probes' feature diversity of its first
 * output averaged over the batches: across-batch std / within-sample std
 * (NaN where not measured). */
enum mp_status mp_view_node_diversity(struct mp_view *v, double *out, struct mp_error *e);
/* A captured tensor of the i-th committed batch as a host f32 tensor
 * (converted from what was stored); MP_ERR_INPUT naming the session when
 * there is none by that name (the run captures graph outputs, and what
 * --capture asked for). */
enum mp_status mp_view_capture(struct mp_view *v, size_t i, const char *value, struct mp_tensor *out,
                               struct mp_error *e);

#endif
