/* exec_internal.h - the executor's state, shared by its files and by no
 * one else (users see exec.h).
 *
 * Per batch: bind inputs (bind.c), infer every node with the actual shapes
 * (the per-op inference of ops.h, now over known dims), fold what depends
 * only on constants and shapes and narrow outputs (fold.c), group
 * elementwise chains and attention (fuseplan.c), then run node by node
 * (run.c), freeing each value after its last reader, or replay a captured
 * run (replay.c).  Views (Reshape, Squeeze, ...) alias their input's
 * buffer.  Under a policy, each input slot is staged before the kernel
 * reads it (stage.c): converted to the dtype the plan wants and moved to
 * the backend's device, from a cache for weights and folded values, into a
 * temporary otherwise.
 *
 * The functions below carry mp_exec_ for the linker's sake; they are the
 * executor's own and are not part of exec.h's API.
 */
#ifndef MP_EXEC_INTERNAL_H
#define MP_EXEC_INTERNAL_H

#include "exec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuse.h"
#include "memplan.h"
#include "ops.h"

struct xval {
	struct mp_tensor t;
	struct mp_tensor host; /* a graph input on a GPU run: the batch's bytes, for inference */
	bool present;
	bool is_static;     /* an initializer, a Constant, or folded: known before running */
	struct mp_infer_val iv;
	int32_t last_use;   /* node after which the value may go; INT32_MAX: never */
	int32_t last_run;   /* the same for this binding: a fused group's readers read at its root */
};

struct xnode {
	void *params;       /* resolved for the bound batch */
	bool folded, dynamic;
	int32_t group;      /* the fused group the node is in (run at its root), or -1 */
};

/* A fused group: elementwise nodes run as one kernel at the root, the last
 * of them.  Inputs are the values its members read from outside it. */
struct xgroup {
	size_t root;
	size_t *members;    /* in node order, the root last */
	int nmembers;
	int nin;
	int32_t in_value[MP_FUSED_MAX_IN];
	enum mp_dtype in_via[MP_FUSED_MAX_IN], in_want[MP_FUSED_MAX_IN]; /* a static input's staged copy */
	struct mp_fused_call call; /* the steps; tensors filled at each run */
	bool attn;          /* an attention group (acall) rather than elementwise (call) */
	struct mp_attn_call acall; /* its dims, strides, scalings; tensors filled at each run */
	int32_t attn_in[3]; /* the values it reads: q, k, v */
	bool off;           /* the backend could not: the members run one by one */
};

/* A static value (weight, constant, folded) staged in another dtype or on
 * another device.  Copies of weights and constants live as long as the
 * executor; copies of folded values, until the next batch. */
struct xcopy {
	int32_t value;
	enum mp_dtype via, dtype;
	enum mp_device device;
	bool persistent;
	struct mp_tensor t;
	double max_abs, max_rel; /* what converting cost */
};

/* A value a replayed graph leaves behind (an output): where it lives. */
struct xfinal {
	int32_t value;
	struct mp_tensor t; /* no buffer of its own: a block of the arena is made at replay */
	size_t bytes;
	int32_t alias;      /* or a view of this graph input's buffer (a kept value), -1 */
	const void *alias_base; /* that buffer's data when the run was captured */
};

struct mp_exec {
	const struct mp_graph *g;
	struct mp_backend *be, *host;
	struct mp_exec_options opt;
	struct xval *vals;
	struct xnode *nodes;
	struct mp_tensor *prepared; /* per value: initializer / Constant data ready to use */
	bool *has_prepared;
	size_t nvals, nnodes, pos;
	bool bound;
	mp_exec_hook hook;
	void *hook_user;
	struct mp_exec_observer obs; /* obs.ran NULL: none */
	bool *watched;              /* per value: the observer reads it when its node has run */
	struct mp_plan *plan;       /* under a policy: for the dtypes the inputs arrived in */
	enum mp_dtype *in_dtypes;
	const struct mp_batch *batch;
	struct mp_dtype_event *entry; /* this batch's conversions on entry */
	size_t nentry;
	double (*ev_err)[2];        /* per plan event: the rounding error measured, NaN until then */
	struct xcopy **copies;
	size_t ncopies, capcopies;
	struct mp_tensor *tmp;      /* two per input slot: moved, then cast */
	struct mp_infer_val *iadj;  /* per input slot: the dtype the node reads it in */
	const struct mp_tensor **ins;
	struct mp_tensor **outs;
	const struct mp_infer_val **iins;
	struct mp_infer_val **iouts;
	int maxio;
	/* A batch shaped as the last (the same signature: input dtypes, shapes,
	 * small integer contents) skips inference and folding, runs in the
	 * planned arena, and from its third run on replays a captured graph. */
	unsigned char *sig;
	size_t sig_len;
	bool sig_valid;
	struct mp_buffer **inbuf;   /* per graph input: its device buffer, kept for the next batch */
	struct mp_memplan *mp;
	void *graph;                /* the captured run (backend graphs), or NULL */
	bool graph_off;             /* this signature does not capture */
	struct xfinal *finals;
	size_t nfinals;
	struct xgroup *groups;
	size_t ngroups;
	struct mp_exec_stats stats;
};

/* exec.c: shared helpers and the executor's life */
void mp_exec_liveness(struct mp_exec *x);
bool mp_exec_watched(const struct mp_exec *x, int32_t v);
/* The later of `last` and the node after which the observer has read v
 * (the end of its producer's window: mp_exec_observer.window). */
int32_t mp_exec_observed_until(const struct mp_exec *x, int32_t v, int32_t last);
/* Whether node i ends an observer's window (then its flush is called). */
bool mp_exec_window_ends(const struct mp_exec *x, size_t i);
const struct mp_node_decision *mp_exec_decision_at(const struct mp_exec *x, size_t i);
void mp_exec_drop_graph(struct mp_exec *x);
void mp_exec_drop_groups(struct mp_exec *x);
bool mp_exec_is_view(const struct mp_node *n);
enum mp_status mp_exec_node_error(const struct mp_node *n, struct mp_error *e);
void mp_exec_release_values(struct mp_exec *x, bool keep_shapes);
enum mp_dtype mp_exec_slot_dtype(const struct mp_node_decision *d, int k, enum mp_dtype have);

/* bind.c: binding a batch */
void mp_exec_note_error(struct mp_exec *x, const struct xcopy *c, enum mp_dtype from);
enum mp_status mp_exec_over_limit(const struct mp_exec *x, const char *what, size_t nb, struct mp_error *e);

/* fold.c: inference, folding, narrowing */
void mp_exec_infer_inputs(struct mp_exec *x, size_t i);
void mp_exec_narrow_outputs(struct mp_exec *x);
/* Every node inferred with the bound shapes; what depends only on
 * constants and shapes run on the host and marked folded. */
enum mp_status mp_exec_infer_all(struct mp_exec *x, struct mp_error *e);

/* fuseplan.c: fused groups */
void mp_exec_plan_fusion(struct mp_exec *x);

/* stage.c: buffers and staged inputs */
enum mp_status mp_exec_alloc_output(struct mp_exec *x, struct mp_backend *be, const struct mp_node *n,
                                    int32_t id, struct mp_error *e);
enum mp_status mp_exec_cast_on(struct mp_exec *x, struct mp_backend *be, const struct mp_tensor *src,
                               enum mp_dtype to, struct mp_tensor *out, struct mp_error *e);
void mp_exec_drop_temporaries(struct mp_exec *x, const struct mp_node *n);
enum mp_status mp_exec_new_tensor_on(struct mp_exec *x, struct mp_backend *be, enum mp_dtype dtype,
                                     const struct mp_tensor *like, bool transient, struct mp_tensor *t,
                                     struct mp_error *e);
bool mp_exec_persistent_value(const struct mp_graph *g, int32_t id);
enum mp_status mp_exec_reinfer(struct mp_exec *x, size_t i, struct mp_error *e);
enum mp_status mp_exec_stage_input(struct mp_exec *x, const struct mp_node *n, int k,
                                   const struct mp_node_decision *d, struct mp_backend *be,
                                   struct mp_error *e);
enum mp_status mp_exec_static_copy(struct mp_exec *x, int32_t id, enum mp_dtype via, enum mp_dtype dtype,
                                   struct mp_backend *be, const struct mp_tensor **out,
                                   struct mp_error *e);

/* run.c: running nodes */
void mp_exec_rewind_run(struct mp_exec *x);
enum mp_status mp_exec_run_node(struct mp_exec *x, size_t i, struct mp_backend *be, bool folding,
                                struct mp_error *e);

#endif
