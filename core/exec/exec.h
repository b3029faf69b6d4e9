/* exec.h - the executor: runs a graph on a backend, one node at a time.
 *
 * A batch is bound with mp_exec_begin(), which checks it against the graph
 * and infers every node's output shapes for it before anything runs (errors
 * name the node), folding the small computations on shapes and constants.
 * Then mp_exec_step() runs one node, mp_exec_run_to() runs up to a node,
 * and mp_exec_run() runs the rest.  A hook sees each node after it ran.
 *
 * Under a precision policy the executor follows the dtype plan (plan.h):
 * batch tensors keep their float dtype, each input slot is read in the
 * dtype the plan wants (weights converted once and kept, activations cast
 * per use), and a node the plan blocks stops the run with MP_ERR_MISMATCH
 * before it runs.  Without a policy the graph runs as ONNX defines it, batch
 * tensors converted to the dtypes the graph declares.
 */
#ifndef MP_EXEC_H
#define MP_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "batch.h"
#include "graph.h"
#include "plan.h"
#include "policy.h"

struct mp_exec;

/* The default budget for a run's activations: stated, not the machine's
 * size, so that a model refused on one machine is refused on every one. */
#define MP_EXEC_MAX_MEMORY ((size_t)8 << 30)

struct mp_exec_options {
	bool keep_values;        /* keep every value until the next batch (else freed after last use) */
	size_t max_tensor_bytes; /* largest single allocation; 0: the machine's memory */
	size_t max_memory;       /* the activations a run may hold at once, planned from the
	                          * bound batch's shapes before anything runs (a batch over it
	                          * is refused with MP_ERR_LIMIT); 0: MP_EXEC_MAX_MEMORY */
	const struct mp_policy *policy; /* NULL: the graph as written; must outlive the executor */
	enum mp_dtype float_inputs;     /* under a policy, float batch tensors converted to this on
	                                 * entry (the fp32 reference run); UNDEFINED: kept as they are */
	bool no_graphs;                 /* never replay a run as a captured graph (CUDA graphs) */
	bool literal;                   /* every planned cast made as a tensor of its own, every value
	                                 * in its planned dtype: no shortcut a backend allows (the
	                                 * reference the shortcuts are tested against, bit for bit) */
	bool no_memplan;                /* allocate each buffer on its own, never from a planned arena */
	bool no_fused_attention;        /* attention node by node even where nobody looks between its
	                                 * nodes: bit for bit the literal executor (the attention
	                                 * kernel sums its GEMMs in an order of its own) */
};

/* How runs went: a batch shaped as the one before binds fast (no inference
 * or folding) and runs in the planned arena; on a GPU its run is captured
 * once and replayed after. */
struct mp_exec_stats {
	size_t binds, fast_binds;
	size_t runs, planned_runs, graph_captures, graph_replays;
	size_t narrowed;         /* values written straight in the narrower dtype all readers want */
	size_t fused_groups, fused_nodes; /* elementwise nodes run as one kernel per group */
	size_t attention_groups; /* MatMul -> Softmax -> MatMul (and around) run as one kernel */
	size_t attention_nodes;  /* the nodes in them */
	char fusion_note[192];   /* why a group ran node by node; empty when none did */
	size_t arena_bytes;      /* the planned arena: every activation of a run */
	size_t unplanned_bytes;  /* what those buffers add up to without reuse */
	char graph_note[192];    /* why runs are not replayed as a graph; empty when they are */
};

/* Called after each node has run (or was folded at begin).  A non-OK return
 * stops the run with that status. */
typedef enum mp_status (*mp_exec_hook)(void *user, struct mp_exec *x, size_t node,
                                       struct mp_error *e);

/* An observer sees each node's outputs after the node ran, as a hook does,
 * but leaves the run as planned: memory from the arena, fused groups and
 * attention (whose inner values it does not watch), narrowing of the
 * values it does not watch, and on a GPU the whole run captured once as a
 * graph and replayed.  So `ran` may only queue work on the backend's
 * stream that reads the node's outputs (a GPU capture records it, and each
 * replay repeats it without calling anyone), and cannot stop the run: a
 * non-OK return is an error.  It is not called for a replayed run
 * (mp_exec_stats.graph_replays counts them), for the members of a fused
 * group but its root (the only one whose value reaches memory), nor for
 * nodes folded at binding (their values are there after mp_exec_begin). */
struct mp_exec_observer {
	/* whether value v is read when its node has run: then it is never
	 * inside a fused group nor narrowed (asked when a shape is bound) */
	bool (*watches)(void *user, int32_t value);
	/* whether value v is read after the run: kept until the next batch */
	bool (*keeps)(void *user, int32_t value);
	enum mp_status (*ran)(void *user, struct mp_exec *x, size_t node, struct mp_error *e);
	void *user;
	/* Optional: what `ran` queued may read the watched values of a window
	 * of `window` nodes (nodes [k*window, (k+1)*window)) until `flush` is
	 * called after the window's last node: those values stay in memory
	 * until then, so that the work of many small nodes goes as one.  0 or
	 * 1: each node's values may go once `ran` returns. */
	int window;
	enum mp_status (*flush)(void *user, struct mp_exec *x, struct mp_error *e);
};

/* Fails with MP_ERR_UNSUPPORTED, naming the nodes, when the backend lacks an
 * op the graph uses.  The graph and backends must outlive the executor;
 * `host` computes folded values (the CPU backend). */
enum mp_status mp_exec_new(const struct mp_graph *g, struct mp_backend *be, struct mp_backend *host,
                           const struct mp_exec_options *opt, struct mp_exec **out,
                           struct mp_error *e);
void mp_exec_free(struct mp_exec *x);
void mp_exec_set_hook(struct mp_exec *x, mp_exec_hook hook, void *user);
/* NULL removes it; copied.  A hook, where one is set, makes the run node
 * by node (and is called after the observer). */
void mp_exec_set_observer(struct mp_exec *x, const struct mp_exec_observer *o);

/* Binds a batch (which must outlive the run) and rewinds to node 0. */
enum mp_status mp_exec_begin(struct mp_exec *x, const struct mp_batch *b, struct mp_error *e);
enum mp_status mp_exec_step(struct mp_exec *x, struct mp_error *e);
/* Runs until node `node` (an index in execution order) has run. */
enum mp_status mp_exec_run_to(struct mp_exec *x, size_t node, struct mp_error *e);
enum mp_status mp_exec_run(struct mp_exec *x, struct mp_error *e);
/* Back to the first node with the bound batch's inputs kept: the same batch
 * runs again (after a change of breakpoints, or to time it). */
enum mp_status mp_exec_restart(struct mp_exec *x, struct mp_error *e);

/* The next node to run; mp_graph_nnodes() when the batch is done. */
size_t mp_exec_position(const struct mp_exec *x);
bool mp_exec_done(const struct mp_exec *x);
const struct mp_graph *mp_exec_graph(const struct mp_exec *x);

/* A value's tensor (on the backend's device), or NULL when it is not
 * computed yet or was already freed. */
const struct mp_tensor *mp_exec_value(const struct mp_exec *x, int32_t value);
/* Its dtype and shape for the bound batch. */
const struct mp_value_info *mp_exec_value_info(const struct mp_exec *x, int32_t value);
/* Whether node i was computed when the batch was bound. */
bool mp_exec_node_folded(const struct mp_exec *x, size_t i);

/* A host copy of a value (a view when it already lives on the host); the
 * caller resets it with mp_tensor_reset(). */
enum mp_status mp_exec_fetch(struct mp_exec *x, int32_t value, struct mp_tensor *host,
                             struct mp_error *e);

/* Runs node i's kernel alone on the given inputs (one per input slot, NULL
 * where omitted, on the backend's device), each float input first cast to
 * the dtype this executor's plan reads that slot in; outs (one per output
 * slot) receive new tensors the caller resets.  The node must have run (or
 * been folded) in the bound batch: its shapes and parameters are those.
 * MP_ERR_UNSUPPORTED for nodes without a kernel (views, Constant). */
enum mp_status mp_exec_eval_node(struct mp_exec *x, size_t i, const struct mp_tensor *const *ins,
                                 struct mp_tensor *outs, struct mp_error *e);
/* Whether node i runs a kernel (views and Constant do not). */
bool mp_exec_node_has_kernel(const struct mp_exec *x, size_t i);

/* The dtype plan of the bound batch; NULL without a policy. */
const struct mp_plan *mp_exec_plan(const struct mp_exec *x);
/* Node i's decision under the plan; NULL without a policy. */
const struct mp_node_decision *mp_exec_decision(const struct mp_exec *x, size_t i);

/* Every cast of the bound batch: batch tensors converted on entry (node -1,
 * slot = the graph input's index), then the plan's, with the rounding error
 * of each weight conversion once the executor has made it. */
void mp_exec_get_stats(const struct mp_exec *x, struct mp_exec_stats *out);

size_t mp_exec_nevents(const struct mp_exec *x);
void mp_exec_event(const struct mp_exec *x, size_t i, struct mp_dtype_event *out);

#endif
