/* plan.h - the dtype plan: what a policy makes of a whole graph, given the
 * dtypes its inputs arrive in.  Built before anything runs; the executor
 * follows it, `mpdbg inspect --policy` prints it, and a mismatch it finds is
 * reported with every input's origin and PyTorch's own words. */
#ifndef MP_PLAN_H
#define MP_PLAN_H

#include <stddef.h>

#include "batch.h"
#include "graph.h"
#include "policy.h"

/* One cast, or one refusal to cast. */
struct mp_dtype_event {
	int32_t node;          /* -1: before any node (a batch tensor, a weight conversion) */
	int slot;              /* input slot; -1 for the node itself (a Cast node, a refusal) */
	int32_t value;         /* the value cast */
	enum mp_dtype from, to;
	enum mp_cast_reason reason;
	double max_abs, max_rel; /* the rounding error of casting a weight or constant (filled in by
	                          * the executor when it converts it; NaN when not measured) */
};

struct mp_plan;

/* input_dtypes: one per graph input (mp_graph_input order), or NULL for
 * the dtypes the model declares. */
enum mp_status mp_plan_build(const struct mp_graph *g, const struct mp_policy *p,
                             const enum mp_dtype *input_dtypes, struct mp_plan **out,
                             struct mp_error *e);
void mp_plan_free(struct mp_plan *pl);

const struct mp_policy *mp_plan_policy(const struct mp_plan *pl);
const struct mp_node_decision *mp_plan_decision(const struct mp_plan *pl, size_t node);
/* A value's dtype under the plan (UNDEFINED when not known). */
enum mp_dtype mp_plan_value_dtype(const struct mp_plan *pl, int32_t value);
/* The dtype a pure policy converts a weight or constant to, or UNDEFINED. */
enum mp_dtype mp_plan_weight_dtype(const struct mp_plan *pl, int32_t value);
/* True for initializers, constants, and values computed from them alone. */
bool mp_plan_value_static(const struct mp_plan *pl, int32_t value);
bool mp_plan_same_inputs(const struct mp_plan *pl, const enum mp_dtype *input_dtypes);

size_t mp_plan_nevents(const struct mp_plan *pl);
const struct mp_dtype_event *mp_plan_event(const struct mp_plan *pl, size_t i);
/* The first node a mismatch stops at, or -1. */
int32_t mp_plan_first_blocked(const struct mp_plan *pl);

/* Where a value comes from, for people: "graph input 'image' (bfloat16, from
 * batches/batch_000.safetensors)", "weight 'w'", "node '/Mul' (Mul) in
 * module head".  b may be NULL. */
const char *mp_plan_origin(const struct mp_plan *pl, int32_t value, const struct mp_batch *b,
                           char *buf, size_t size);
/* The whole report of a blocked node: which node, its module, each float
 * input's dtype and origin, and what PyTorch says. */
const char *mp_plan_mismatch_message(const struct mp_plan *pl, size_t node, const struct mp_batch *b,
                                     char *buf, size_t size);

#endif
