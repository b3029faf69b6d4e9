/* fuse.c - which elementwise nodes run as one kernel. */
#include "fuse.h"

#include <stdlib.h>

/* Whether node p (a candidate outside any group) may join the group of
 * root r, whose members are marked root_of[] == r. */
static bool may_join(const struct mp_fuse_query *q, const int32_t *root_of, size_t p, size_t r)
{
	const struct mp_node *n = mp_graph_node(q->g, p);
	if (!q->candidate[p] || root_of[p] != -1 || n->noutputs != 1 || n->outputs[0] < 0)
		return false;
	int32_t v = n->outputs[0];
	const struct mp_value *val = mp_graph_value(q->g, (size_t)v);
	const struct mp_node *root = mp_graph_node(q->g, r);
	if (q->keep[v] || val->is_output || !val->nconsumers || !q->same_shape(q->user, v, root->outputs[0]))
		return false;
	for (int c = 0; c < val->nconsumers; c++)
		if (root_of[val->consumers[c]] != (int32_t)r)
			return false;
	return true;
}

size_t mp_fuse_find(const struct mp_fuse_query *q, int32_t *root_of)
{
	size_t nn = mp_graph_nnodes(q->g), ngroups = 0;
	for (size_t i = 0; i < nn; i++)
		root_of[i] = -1;
	for (size_t r = nn; r-- > 0;) {
		const struct mp_node *rn = mp_graph_node(q->g, r);
		if (!q->candidate[r] || root_of[r] != -1 || rn->noutputs != 1 || rn->outputs[0] < 0)
			continue;
		root_of[r] = (int32_t)r;
		int size = 1;
		/* to a fixed point: a producer read twice inside the group joins
		 * once both readers have */
		for (bool grew = true; grew && size < q->max_nodes;) {
			grew = false;
			for (size_t m = r + 1; m-- > 0 && size < q->max_nodes;) {
				if (root_of[m] != (int32_t)r)
					continue;
				const struct mp_node *mn = mp_graph_node(q->g, m);
				for (int k = 0; k < mn->ninputs && size < q->max_nodes; k++) {
					int32_t v = mn->inputs[k];
					if (v < 0)
						continue;
					int32_t p = mp_graph_value(q->g, (size_t)v)->producer;
					if (p >= 0 && may_join(q, root_of, (size_t)p, r)) {
						root_of[p] = (int32_t)r;
						size++;
						grew = true;
					}
				}
			}
		}
		if (size == 1)
			root_of[r] = -1;
		else
			ngroups++;
	}
	return ngroups;
}
