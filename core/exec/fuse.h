/* fuse.h - which nodes run as one kernel: groups of elementwise nodes, and
 * attention (MatMul -> Softmax -> MatMul with the scalings and transposes
 * around it).
 *
 * A group grows backwards from its root (its last node): a candidate node
 * joins when its output has the root's shape and every node that reads it
 * is already in the group, so the values between members never need
 * memory.  Which nodes are candidates, and which values must stay in
 * memory, is the executor's to say (the op, the dtypes, a hook, outputs).
 */
#ifndef MP_FUSE_H
#define MP_FUSE_H

#include <stdbool.h>
#include <stdint.h>

#include "graph.h"

struct mp_fuse_query {
	const struct mp_graph *g;
	const bool *candidate;  /* per node: may be in a group */
	const bool *keep;       /* per value: must be in memory (a graph output, say) */
	/* whether value v has the shape of value root_out */
	bool (*same_shape)(void *user, int32_t v, int32_t root_out);
	void *user;
	int max_nodes;          /* the most nodes in one group */
};

/* Fills root_of[i] with the root of node i's group, -1 for a node in none
 * (groups of one node are none).  Returns the number of groups. */
size_t mp_fuse_find(const struct mp_fuse_query *q, int32_t *root_of);

/* Attention read back from its second MatMul, by op and by who reads what:
 *
 *   q [-> Transpose] [-> Mul|Div] --\
 *                                   MatMul -> [Mul|Div] -> Softmax --\
 *   k [-> Transpose] [-> Mul|Div] --/                                 MatMul [-> Transpose]
 *   v [-> Transpose] -------------------------------------------------/
 *
 * where every value between the nodes is read by the next node alone and
 * is not kept.  Whether the scalings are by scalars, the Softmax is over
 * the last axis, the Transposes and dtypes are ones a kernel takes, is the
 * executor's to check.  Nodes are -1 where absent. */
struct mp_attn_match {
	int32_t q_tr, k_tr, v_tr, q_scale, k_scale; /* on the way in */
	int32_t mm1, s_scale, softmax, mm2, o_tr;
	int32_t q, k, v;                             /* the values read from outside */
	size_t root;                                 /* the last node: o_tr, else mm2 */
};

bool mp_fuse_attention(const struct mp_graph *g, const bool *keep, size_t mm2, struct mp_attn_match *m);

#endif
