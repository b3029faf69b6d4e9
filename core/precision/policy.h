/* policy.h - precision policies: which dtype each node computes in, what
 * each of its inputs is cast to, and why.
 *
 * fp32, bf16 and fp16 are pure policies: float weights and constants are
 * converted to the policy's type once, data tensors keep the dtype they have
 * in the batch, every op computes in the dtype of its inputs, and inputs of
 * the ops PyTorch refuses to mix (MatMul, Gemm, Conv, ...) that still
 * disagree are a mismatch, which --on-mismatch settles.
 * bf16-autocast and fp16-autocast follow PyTorch's CUDA autocast (see
 * policy.c for the op lists and where they come from).  Overrides by glob
 * (module path or node name) make a node compute in another dtype: its float
 * inputs are cast to that dtype on the way in, and where its output meets a
 * node of a pure policy it is cast back to the policy's type, so an
 * override is an island that does not spread (reason "override").
 */
#ifndef MP_POLICY_H
#define MP_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "graph.h"

enum mp_policy_base {
	MP_POLICY_FP32,
	MP_POLICY_BF16_AUTOCAST,
	MP_POLICY_BF16,
	MP_POLICY_FP16_AUTOCAST,
	MP_POLICY_FP16,
};

enum mp_on_mismatch {
	MP_MISMATCH_DEFAULT, /* error for bf16/fp16, cast for fp32, promote for autocast */
	MP_MISMATCH_ERROR,
	MP_MISMATCH_CAST,
	MP_MISMATCH_PROMOTE,
};

enum mp_cast_reason {
	MP_CAST_NONE = 0,
	MP_CAST_ENTRY,    /* a batch tensor converted to the graph input's integer type */
	MP_CAST_AUTOCAST, /* autocast's op lists */
	MP_CAST_PROMOTE,  /* type promotion: the widest float input wins */
	MP_CAST_MISMATCH, /* inputs that disagreed, cast by --on-mismatch cast */
	MP_CAST_WEIGHT,   /* a weight or constant converted to a pure policy's type, once */
	MP_CAST_GRAPH,    /* a Cast node of the graph */
	MP_CAST_RETARGET, /* a graph Cast to a float type, made a cast to the pure policy's type */
	MP_CAST_OVERRIDE, /* into or out of a node that --fp32/--dtype gave its own dtype */
	MP_CAST_BLOCKED,  /* a mismatch stopped here (--on-mismatch error) */
	MP_CAST_REASON_COUNT
};

const char *mp_cast_reason_name(enum mp_cast_reason r);

struct mp_policy_override {
	char *glob;
	enum mp_dtype dtype;
};

struct mp_policy {
	enum mp_policy_base base;
	enum mp_on_mismatch on_mismatch;
	int noverrides;
	struct mp_policy_override *overrides;
};

/* A zeroed struct mp_policy is fp32 with the default --on-mismatch and no
 * overrides.  Sets the base: "fp32", "bf16-autocast", "bf16",
 * "fp16-autocast", "fp16". */
enum mp_status mp_policy_set_base(struct mp_policy *p, const char *name, struct mp_error *e);
/* "GLOB=bf16" (--dtype) or GLOB with dtype given (--fp32 GLOB).  Later ones win. */
enum mp_status mp_policy_add_override(struct mp_policy *p, const char *spec, enum mp_dtype dtype,
                                      struct mp_error *e);
enum mp_status mp_policy_set_on_mismatch(struct mp_policy *p, const char *name, struct mp_error *e);
void mp_policy_free(struct mp_policy *p);

const char *mp_policy_name(const struct mp_policy *p);
const char *mp_on_mismatch_name(enum mp_on_mismatch m);
enum mp_on_mismatch mp_policy_on_mismatch(const struct mp_policy *p);
/* The low-precision type of the policy (bf16 or f16), f32 for fp32. */
enum mp_dtype mp_policy_low_type(const struct mp_policy *p);
bool mp_policy_is_autocast(const struct mp_policy *p);

/* What the policy makes of one node. */
struct mp_slot_plan {
	enum mp_dtype via;   /* a weight a pure policy converted: its converted dtype, else UNDEFINED */
	enum mp_dtype want;  /* the dtype the slot is read in; UNDEFINED: as it is */
	bool materialize;    /* false: read in its own dtype (a scalar kept wide, as PyTorch does) */
	enum mp_cast_reason reason;
};

struct mp_node_decision {
	enum mp_dtype exec;  /* the float type the node computes in; UNDEFINED: not a float op */
	enum mp_dtype cast_to; /* a graph Cast node's target after the policy, else UNDEFINED */
	bool mismatch;       /* float inputs PyTorch would refuse to mix (settled by --on-mismatch) */
	bool blocked;        /* a mismatch that --on-mismatch error stops at */
	int nslots;
	struct mp_slot_plan slots[];
};

/* What the decision needs to know of each input. */
struct mp_input_desc {
	enum mp_dtype dtype; /* UNDEFINED when absent or unknown */
	int rank;            /* -1 when unknown */
	bool is_weight;      /* an initializer, a constant, or computed from them alone */
};

/* The dtype a pure policy converts a weight or constant to before any node
 * reads it (as model.to(torch.bfloat16) does), or UNDEFINED: autocast
 * policies, non-float and 0-dim values (exported Python scalars, which
 * PyTorch keeps as they are) and values read only as parameters (Resize
 * scales) stay.  `data_consumers` is how many node inputs read it as data;
 * `all_override` the dtype all of them are overridden to, if they agree. */
enum mp_dtype mp_policy_weight_dtype(const struct mp_policy *p, enum mp_dtype dtype, int rank,
                                     int data_consumers, enum mp_dtype all_override);

/* Decides a node.  d must have room for n->ninputs slots. */
void mp_policy_decide(const struct mp_policy *p, const struct mp_graph *g, const struct mp_node *n,
                      const struct mp_input_desc *in, struct mp_node_decision *d);

/* The dtype a node's override glob gives it, or UNDEFINED. */
enum mp_dtype mp_policy_override_for(const struct mp_policy *p, const struct mp_graph *g,
                                     const struct mp_node *n);

/* PyTorch's own error for a mismatched node ("expected scalar type BFloat16
 * but found Float"), written into buf. */
const char *mp_policy_torch_error(const struct mp_node *n, const struct mp_input_desc *in,
                                  char *buf, size_t size);

#endif
