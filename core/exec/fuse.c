/* fuse.c - which nodes run as one kernel. */
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

/* The node producing value v when v is read by that node alone and may
 * stay out of memory, and the node is op a or b; else -1. */
static int32_t sole(const struct mp_graph *g, const bool *keep, int32_t v, enum mp_op a, enum mp_op b)
{
	if (v < 0)
		return -1;
	const struct mp_value *val = mp_graph_value(g, (size_t)v);
	if (val->producer < 0 || val->nconsumers != 1 || val->is_output || keep[v])
		return -1;
	const struct mp_node *n = mp_graph_node(g, (size_t)val->producer);
	return (n->op == a || n->op == b) && n->noutputs == 1 ? val->producer : -1;
}

/* The only reader of value v, when it is op a and v may stay out of memory. */
static int32_t sole_reader(const struct mp_graph *g, const bool *keep, int32_t v, enum mp_op a)
{
	const struct mp_value *val = mp_graph_value(g, (size_t)v);
	if (val->nconsumers != 1 || val->is_output || keep[v])
		return -1;
	return mp_graph_node(g, (size_t)val->consumers[0])->op == a ? val->consumers[0] : -1;
}

/* A weight or a Constant's output, maybe through Identity nodes (the
 * TorchScript exporter shares equal weights that way): the scalar side of a
 * scaling. */
static bool constant(const struct mp_graph *g, int32_t v)
{
	for (int hops = 0; v >= 0 && hops < 8; hops++) {
		const struct mp_value *val = mp_graph_value(g, (size_t)v);
		if (val->kind == MP_VALUE_INITIALIZER)
			return true;
		if (val->producer < 0)
			return false;
		const struct mp_node *n = mp_graph_node(g, (size_t)val->producer);
		if (n->op == MP_OP_CONSTANT)
			return true;
		if (n->op != MP_OP_IDENTITY || n->ninputs < 1)
			return false;
		v = n->inputs[0];
	}
	return false;
}

/* The input of a scaling node that is not its scalar (a Div's dividend). */
static int32_t scaled(const struct mp_graph *g, int32_t node)
{
	const struct mp_node *n = mp_graph_node(g, (size_t)node);
	if (n->ninputs != 2 || n->inputs[0] < 0 || n->inputs[1] < 0)
		return -1;
	return n->op == MP_OP_MUL && constant(g, n->inputs[0]) ? n->inputs[1] : n->inputs[0];
}

/* Back from value v through an optional scaling and an optional
 * Transpose: the value read from outside. */
static int32_t operand(const struct mp_graph *g, const bool *keep, int32_t v, int32_t *scale, int32_t *tr)
{
	*scale = sole(g, keep, v, MP_OP_MUL, MP_OP_DIV);
	if (*scale >= 0 && (v = scaled(g, *scale)) < 0)
		return -1;
	*tr = sole(g, keep, v, MP_OP_TRANSPOSE, MP_OP_TRANSPOSE);
	if (*tr >= 0)
		v = mp_graph_node(g, (size_t)*tr)->inputs[0];
	return v;
}

bool mp_fuse_attention(const struct mp_graph *g, const bool *keep, size_t mm2, struct mp_attn_match *m)
{
	const struct mp_node *n2 = mp_graph_node(g, mm2);
	if (n2->op != MP_OP_MAT_MUL || n2->ninputs != 2 || n2->noutputs != 1 || n2->outputs[0] < 0 ||
	    n2->inputs[0] < 0 || n2->inputs[1] < 0)
		return false;
	m->mm2 = (int32_t)mm2;
	m->softmax = sole(g, keep, n2->inputs[0], MP_OP_SOFTMAX, MP_OP_SOFTMAX);
	if (m->softmax < 0 || n2->inputs[0] == n2->inputs[1])
		return false;
	const struct mp_node *sm = mp_graph_node(g, (size_t)m->softmax);
	if (sm->ninputs != 1 || sm->inputs[0] < 0)
		return false;
	int32_t s = sm->inputs[0];
	m->s_scale = sole(g, keep, s, MP_OP_MUL, MP_OP_DIV);
	if (m->s_scale >= 0 && (s = scaled(g, m->s_scale)) < 0)
		return false;
	m->mm1 = sole(g, keep, s, MP_OP_MAT_MUL, MP_OP_MAT_MUL);
	if (m->mm1 < 0)
		return false;
	const struct mp_node *n1 = mp_graph_node(g, (size_t)m->mm1);
	if (n1->ninputs != 2 || n1->inputs[0] < 0 || n1->inputs[1] < 0 || n1->inputs[0] == n1->inputs[1])
		return false;
	m->q = operand(g, keep, n1->inputs[0], &m->q_scale, &m->q_tr);
	m->k = operand(g, keep, n1->inputs[1], &m->k_scale, &m->k_tr);
	m->v_tr = sole(g, keep, n2->inputs[1], MP_OP_TRANSPOSE, MP_OP_TRANSPOSE);
	m->v = m->v_tr >= 0 ? mp_graph_node(g, (size_t)m->v_tr)->inputs[0] : n2->inputs[1];
	if (m->q < 0 || m->k < 0 || m->v < 0)
		return false;
	m->o_tr = sole_reader(g, keep, n2->outputs[0], MP_OP_TRANSPOSE);
	m->root = m->o_tr >= 0 ? (size_t)m->o_tr : mm2;
	return true;
}
