/* fuseplan.c - the fusion plan: chains of elementwise nodes grouped to
 * run as one kernel, and attention (matmul, scale, softmax, matmul) matched
 * to the backend's fused attention. */
#include "exec_internal.h"

static bool storage_float(enum mp_dtype t)
{
	return t == MP_F32 || t == MP_BF16 || t == MP_F16;
}

/* The dtype the kernel of node i reads slot k in, and the copy a static
 * value is staged as (stage_input's rule). */
static enum mp_dtype slot_want(const struct mp_exec *x, size_t i, int k, enum mp_dtype *via)
{
	const struct mp_node *n = mp_graph_node(x->g, i);
	const struct mp_node_decision *d = mp_exec_decision_at(x, i);
	enum mp_dtype have = x->vals[n->inputs[k]].iv.info.dtype;
	enum mp_dtype v = d ? d->slots[k].via : MP_DTYPE_UNDEFINED;
	enum mp_dtype want = d && d->slots[k].want && d->slots[k].materialize ? d->slots[k].want : v ? v : have;
	*via = want == have ? MP_DTYPE_UNDEFINED : v;
	return want;
}

/* Node i may be in a fused group: a FUSABLE op (a float unary or
 * add/sub/mul/div) whose inputs and output are f32, bf16 or f16. */
static bool fusable(const struct mp_exec *x, size_t i)
{
	const struct mp_node *n = mp_graph_node(x->g, i);
	const struct xnode *xn = &x->nodes[i];
	const struct mp_node_decision *d = mp_exec_decision_at(x, i);
	int nargs;
	if (xn->folded || xn->dynamic || (d && d->blocked) || n->noutputs != 1 || n->outputs[0] < 0)
		return false;
	if (!mp_op_has(n->op, MP_OPF_FUSABLE))
		return false;
	if (mp_op_info(n->op)->family == MP_FAMILY_binary) {
		if (((const struct mp_binary_params *)xn->params)->b_view)
			return false;
		nargs = 2;
	} else {
		nargs = 1;
	}
	if (n->ninputs != nargs || !storage_float(x->vals[n->outputs[0]].iv.info.dtype))
		return false;
	for (int k = 0; k < nargs; k++) {
		enum mp_dtype via;
		if (n->inputs[k] < 0 || !storage_float(x->vals[n->inputs[k]].iv.info.dtype) ||
		    !storage_float(slot_want(x, i, k, &via)))
			return false;
	}
	return true;
}

static bool same_shape(void *user, int32_t v, int32_t w)
{
	const struct mp_exec *x = user;
	const struct mp_value_info *a = &x->vals[v].iv.info, *b = &x->vals[w].iv.info;
	if (a->ndim != b->ndim)
		return false;
	for (int d = 0; d < a->ndim; d++)
		if (a->dims[d] != b->dims[d])
			return false;
	return true;
}

/* The steps of the group rooted at r (members: root_of == r): false when
 * it reads more inputs than a fused call takes. */
static bool build_group(struct mp_exec *x, const int32_t *root_of, size_t r, struct xgroup *gr)
{
	int nm = 0, *step_of;
	memset(gr, 0, sizeof *gr);
	gr->root = r;
	for (size_t i = 0; i <= r; i++)
		nm += root_of[i] == (int32_t)r;
	if (nm > MP_FUSED_MAX_STEPS || !(gr->members = malloc((size_t)nm * sizeof *gr->members)))
		return false;
	if (!(step_of = malloc((r + 1) * sizeof *step_of))) {
		free(gr->members);
		gr->members = NULL;
		return false;
	}
	for (size_t i = 0; i <= r; i++)
		if (root_of[i] == (int32_t)r) {
			step_of[i] = gr->nmembers;
			gr->members[gr->nmembers++] = i;
		}
	struct mp_fused_call *c = &gr->call;
	bool ok = true;
	for (int m = 0; m < gr->nmembers && ok; m++) {
		size_t i = gr->members[m];
		const struct mp_node *n = mp_graph_node(x->g, i);
		struct mp_fused_step *s = &c->steps[m];
		s->op = n->op;
		s->nargs = n->ninputs;
		s->out = x->vals[n->outputs[0]].iv.info.dtype;
		if (mp_op_info(n->op)->family == MP_FAMILY_unary)
			s->up = *(const struct mp_unary_params *)x->nodes[i].params;
		for (int k = 0; k < n->ninputs && ok; k++) {
			int32_t id = n->inputs[k];
			int32_t p = mp_graph_value(x->g, (size_t)id)->producer;
			enum mp_dtype via, want = slot_want(x, i, k, &via), have = x->vals[id].iv.info.dtype;
			s->round[k] = MP_DTYPE_UNDEFINED;
			if (p >= 0 && root_of[p] == (int32_t)r) { /* a member's result */
				s->arg[k] = -step_of[p] - 1;
				if (want != have && want != MP_F32)
					s->round[k] = want;
				continue;
			}
			bool st = x->vals[id].is_static;
			int a;
			for (a = 0; a < gr->nin; a++)
				if (gr->in_value[a] == id && (!st || (gr->in_via[a] == via && gr->in_want[a] == want)))
					break;
			if (a == gr->nin) {
				if (gr->nin == MP_FUSED_MAX_IN) {
					ok = false;
					break;
				}
				gr->in_value[a] = id;
				gr->in_via[a] = via;
				gr->in_want[a] = want;
				gr->nin++;
			}
			s->arg[k] = a;
			/* a value read in a narrower type is rounded as the cast would;
			 * a static one arrives as its staged copy */
			if (!st && want != have && want != MP_F32)
				s->round[k] = want;
		}
	}
	c->nin = gr->nin;
	c->nsteps = gr->nmembers;
	free(step_of);
	if (!ok) {
		free(gr->members);
		gr->members = NULL;
	}
	return ok;
}

/* Strides (elements) of value v read through Transpose node tr (or as
 * it is, tr < 0): stride[j] of the logical tensor, which has v's rank. */
static bool view_strides(const struct mp_exec *x, int32_t v, int32_t tr, int ndim, int64_t *stride)
{
	const struct mp_value_info *vi = &x->vals[v].iv.info;
	int64_t st[MP_MAX_DIMS], acc = 1;
	if (vi->ndim != ndim)
		return false;
	for (int j = ndim; j-- > 0;) {
		st[j] = acc;
		acc *= vi->dims[j];
	}
	if (tr < 0) {
		memcpy(stride, st, (size_t)ndim * sizeof *st);
		return true;
	}
	const struct mp_transpose_params *tp = x->nodes[tr].params;
	for (int j = 0; j < ndim; j++)
		stride[j] = st[tp->perm_resolved[j]];
	return true;
}

/* Node i reads slot k as it is stored, or an f32 read of a narrower float
 * (exact): no rounding between the nodes. */
static bool reads_exact(const struct mp_exec *x, size_t i, int k)
{
	enum mp_dtype via, want = slot_want(x, i, k, &via);
	enum mp_dtype have = x->vals[mp_graph_node(x->g, i)->inputs[k]].iv.info.dtype;
	return want == have || (want == MP_F32 && storage_float(have));
}

/* A scaling node's scalar, as the node reads it, and which slot is the
 * tensor; false unless one side is a one-element static value. */
static bool scalar_of(struct mp_exec *x, int32_t node, float *scale, int *slot)
{
	const struct mp_node *n = mp_graph_node(x->g, (size_t)node);
	const struct xnode *xn = &x->nodes[node];
	struct mp_error e = { 0 };
	if (xn->folded || xn->dynamic || (mp_exec_decision_at(x, (size_t)node) && mp_exec_decision_at(x, (size_t)node)->blocked) ||
	    ((const struct mp_binary_params *)xn->params)->b_view)
		return false;
	for (int k = n->op == MP_OP_MUL ? 0 : 1; k < 2; k++) {
		int32_t id = n->inputs[k];
		const struct mp_tensor *t;
		enum mp_dtype via, want = slot_want(x, (size_t)node, k, &via);
		const struct mp_value_info *vi = &x->vals[id].iv.info;
		int64_t numel;
		if (!x->vals[id].is_static || vi->ndim < 0 || mp_shape_numel(vi->ndim, vi->dims, &numel, &e) || numel != 1 ||
		    !storage_float(want))
			continue;
		if (mp_exec_static_copy(x, id, via, want, x->host, &t, &e)) {
			mp_error_clear(&e);
			return false;
		}
		mp_dtype_convert(t->dtype, t->data, MP_F32, scale, 1);
		*slot = 1 - k;
		return reads_exact(x, (size_t)node, 1 - k);
	}
	return false;
}

/* Scaling node `node` multiplies or divides value `in` by a scalar. */
static bool scaling(struct mp_exec *x, int32_t node, int32_t in, float *scale)
{
	int slot;
	return scalar_of(x, node, scale, &slot) && mp_graph_node(x->g, (size_t)node)->inputs[slot] == in;
}

/* The scaling of Q or K (node sc, -1 for none) of value v read through
 * Transpose tr (or not, -1): its op and scalar, its result in the
 * operand type mm. */
static bool operand_scaling(struct mp_exec *x, int32_t sc, int32_t tr, int32_t v, enum mp_dtype mm, enum mp_op *op,
                            float *scale)
{
	*op = MP_OP_NONE;
	if (sc < 0)
		return true;
	const struct mp_node *n = mp_graph_node(x->g, (size_t)sc);
	int32_t in = tr >= 0 ? mp_graph_node(x->g, (size_t)tr)->outputs[0] : v;
	if (!scaling(x, sc, in, scale) || x->vals[n->outputs[0]].iv.info.dtype != mm)
		return false;
	*op = n->op;
	return true;
}

/* The attention group matched as m: dtypes, dims, strides and scalings
 * for the backend's kernel; false where the kernel cannot compute exactly
 * what the nodes would (a cast between them, a broadcast, a scaling by a
 * tensor, a Softmax over another axis). */
/* The dtypes an attention group runs in: the GEMMs' operands in one low
 * type with no casts on the way, the scalings and the scores as the
 * backend reads them, Softmax over the last axis reading the scores as
 * they are.  in_of: per operand (q, k, v) its value, transpose, scaling. */
static bool attn_dtypes(struct mp_exec *x, const struct mp_attn_match *m, int32_t in_of[3][3],
                        struct mp_attn_call *c)
{
	const struct mp_graph *g = x->g;
	const struct mp_node *n1 = mp_graph_node(g, (size_t)m->mm1);
	const struct mp_node *sm = mp_graph_node(g, (size_t)m->softmax);
	enum mp_dtype via;
	c->mm = slot_want(x, (size_t)m->mm1, 0, &via);
	if ((c->mm != MP_BF16 && c->mm != MP_F16) || slot_want(x, (size_t)m->mm1, 1, &via) != c->mm ||
	    slot_want(x, (size_t)m->mm2, 1, &via) != c->mm || slot_want(x, (size_t)m->mm2, 0, &via) != c->mm)
		return false;
	for (int o = 0; o < 3; o++) {
		if (x->vals[in_of[o][0]].iv.info.dtype != c->mm)
			return false;
		if (in_of[o][1] >= 0 && (!reads_exact(x, (size_t)in_of[o][1], 0) ||
		                         x->vals[mp_graph_node(g, (size_t)in_of[o][1])->outputs[0]].iv.info.dtype != c->mm))
			return false;
	}
	c->s_op = MP_OP_NONE;
	if (!operand_scaling(x, m->q_scale, m->q_tr, m->q, c->mm, &c->q_op, &c->q_scale) ||
	    !operand_scaling(x, m->k_scale, m->k_tr, m->k, c->mm, &c->k_op, &c->k_scale))
		return false;
	c->s_dt = x->vals[n1->outputs[0]].iv.info.dtype;
	c->s2_dt = c->s_dt;
	if (!storage_float(c->s_dt))
		return false;
	if (m->s_scale >= 0) {
		if (!scaling(x, m->s_scale, n1->outputs[0], &c->s_scale))
			return false;
		c->s_op = mp_graph_node(g, (size_t)m->s_scale)->op;
		c->s2_dt = x->vals[mp_graph_node(g, (size_t)m->s_scale)->outputs[0]].iv.info.dtype;
		if (!storage_float(c->s2_dt))
			return false;
	}
	const struct mp_softmax_params *sp = x->nodes[m->softmax].params;
	const struct mp_value_info *si = &x->vals[sm->inputs[0]].iv.info;
	if (sm->op != MP_OP_SOFTMAX || sp->axis_resolved != si->ndim - 1 || !reads_exact(x, (size_t)m->softmax, 0))
		return false;
	c->p_dt = x->vals[sm->outputs[0]].iv.info.dtype;
	return c->p_dt == MP_F32 || c->p_dt == c->mm;
}

/* dims: q [.., t, d], k^T [.., d, s], v [.., s, dv], o [.., t, dv], the
 * same batch dims everywhere; the output in the low type or f32.  *ndim:
 * the rank they share. */
static bool attn_dims(const struct mp_exec *x, const struct mp_attn_match *m, struct mp_attn_call *c, int *ndim)
{
	const struct mp_graph *g = x->g;
	const struct mp_node *n1 = mp_graph_node(g, (size_t)m->mm1), *n2 = mp_graph_node(g, (size_t)m->mm2);
	const struct mp_node *sm = mp_graph_node(g, (size_t)m->softmax);
	const struct mp_value_info *si = &x->vals[sm->inputs[0]].iv.info;
	const struct mp_value_info *oi = &x->vals[n2->outputs[0]].iv.info;
	const struct mp_value_info *ai = &x->vals[n1->inputs[0]].iv.info, *bi = &x->vals[n1->inputs[1]].iv.info;
	const struct mp_value_info *vi = &x->vals[n2->inputs[1]].iv.info;
	int nd = *ndim = oi->ndim;
	if (nd < 2 || nd > 4 || ai->ndim != nd || bi->ndim != nd || vi->ndim != nd || si->ndim != nd)
		return false;
	for (int j = 0; j < nd - 2; j++)
		if (ai->dims[j] != oi->dims[j] || bi->dims[j] != oi->dims[j] || vi->dims[j] != oi->dims[j])
			return false;
	c->nb = nd == 4 ? oi->dims[0] : 1;
	c->nh = nd >= 3 ? oi->dims[nd - 3] : 1;
	c->t = ai->dims[nd - 2];
	c->d = ai->dims[nd - 1];
	c->s = bi->dims[nd - 1];
	c->dv = vi->dims[nd - 1];
	if (bi->dims[nd - 2] != c->d || vi->dims[nd - 2] != c->s || oi->dims[nd - 2] != c->t || oi->dims[nd - 1] != c->dv)
		return false;
	enum mp_dtype od = oi->dtype;
	if (od != c->mm && od != MP_F32)
		return false;
	return !(m->o_tr >= 0 && (!reads_exact(x, (size_t)m->o_tr, 0) ||
	                          x->vals[mp_graph_node(g, (size_t)m->o_tr)->outputs[0]].iv.info.dtype != od));
}

/* strides: batch, head, row; the last dim contiguous */
static bool attn_strides(const struct mp_exec *x, const struct mp_attn_match *m, int nd, struct mp_attn_call *c)
{
	const struct mp_graph *g = x->g;
	const struct mp_node *n2 = mp_graph_node(g, (size_t)m->mm2);
	int64_t qs[MP_MAX_DIMS], ks[MP_MAX_DIMS], vs[MP_MAX_DIMS], os[MP_MAX_DIMS];
	if (!view_strides(x, m->q, m->q_tr, nd, qs) || !view_strides(x, m->k, m->k_tr, nd, ks) ||
	    !view_strides(x, m->v, m->v_tr, nd, vs))
		return false;
	if (m->o_tr >= 0) { /* o = out transposed back: o's dim perm[j] is out's dim j */
		const struct mp_transpose_params *tp = x->nodes[m->o_tr].params;
		int64_t zs[MP_MAX_DIMS];
		if (!view_strides(x, mp_graph_node(g, (size_t)m->o_tr)->outputs[0], -1, nd, zs))
			return false;
		for (int j = 0; j < nd; j++)
			os[tp->perm_resolved[j]] = zs[j];
	} else {
		view_strides(x, n2->outputs[0], -1, nd, os);
	}
	if (qs[nd - 1] != 1 || ks[nd - 2] != 1 || vs[nd - 1] != 1 || os[nd - 1] != 1)
		return false;
	int64_t *dst[4] = { c->q_st, c->k_st, c->v_st, c->o_st }, *src[4] = { qs, ks, vs, os };
	for (int o = 0; o < 4; o++) {
		dst[o][0] = nd == 4 ? src[o][0] : 0;
		dst[o][1] = nd >= 3 ? src[o][nd - 3] : 0;
		dst[o][2] = o == 1 ? src[o][nd - 1] : src[o][nd - 2];
	}
	return true;
}

/* Whether the backend takes these shapes (its answer for the tensors
 * themselves comes at each run): a group it declines would only keep its
 * values alive longer. */
static bool attn_backend_takes(struct mp_exec *x, int32_t in_of[3][3], struct mp_attn_call *c)
{
	struct mp_tensor td[3];
	struct mp_error ce = { 0 };
	for (int o = 0; o < 3; o++) {
		const struct mp_value_info *ii = &x->vals[in_of[o][0]].iv.info;
		mp_tensor_init(&td[o], ii->dtype, ii->ndim, ii->dims);
		td[o].data = NULL;
	}
	c->q = &td[0], c->k = &td[1], c->v = &td[2], c->out = NULL;
	bool takes = x->be->iface->attention(x->be->ctx, c, &ce) == MP_OK;
	c->q = c->k = c->v = NULL;
	return takes;
}

/* The group's members, in node order (the root last). */
static bool attn_members(const struct mp_attn_match *m, const int32_t *ids, size_t nids, struct xgroup *gr)
{
	int32_t mem[10];
	int nm = 0;
	for (size_t j = 0; j < nids; j++)
		if (ids[j] >= 0)
			mem[nm++] = ids[j];
	for (int a = 1; a < nm; a++) /* insertion sort: ten at most */
		for (int b = a; b > 0 && mem[b - 1] > mem[b]; b--) {
			int32_t tmp = mem[b];
			mem[b] = mem[b - 1];
			mem[b - 1] = tmp;
		}
	if ((size_t)mem[nm - 1] != m->root || !(gr->members = malloc((size_t)nm * sizeof *gr->members)))
		return false;
	for (int j = 0; j < nm; j++)
		gr->members[j] = (size_t)mem[j];
	gr->nmembers = nm;
	return true;
}

static bool build_attention(struct mp_exec *x, const struct mp_attn_match *m, struct xgroup *gr)
{
	struct mp_attn_call *c = &gr->acall;
	int32_t ids[] = { m->q_tr, m->k_tr, m->v_tr, m->q_scale, m->k_scale, m->mm1, m->s_scale, m->softmax,
	                  m->mm2, m->o_tr };
	int32_t in_of[3][3] = { { m->q, m->q_tr, m->q_scale }, { m->k, m->k_tr, m->k_scale }, { m->v, m->v_tr, -1 } };
	int nd;
	memset(gr, 0, sizeof *gr);
	memset(c, 0, sizeof *c);
	for (size_t j = 0; j < sizeof ids / sizeof ids[0]; j++) {
		const struct mp_node_decision *d = ids[j] >= 0 ? mp_exec_decision_at(x, (size_t)ids[j]) : NULL;
		if (ids[j] >= 0 && (x->nodes[ids[j]].folded || x->nodes[ids[j]].dynamic || (d && d->blocked)))
			return false;
	}
	if (!attn_dtypes(x, m, in_of, c) || !attn_dims(x, m, c, &nd) || !attn_strides(x, m, nd, c) ||
	    !attn_backend_takes(x, in_of, c) || !attn_members(m, ids, sizeof ids / sizeof ids[0], gr))
		return false;
	gr->root = m->root;
	gr->attn = true;
	gr->attn_in[0] = m->q;
	gr->attn_in[1] = m->k;
	gr->attn_in[2] = m->v;
	return true;
}

/* Groups of elementwise nodes that run as one kernel, where the backend
 * has fused kernels and nobody looks between nodes (an observer's watched
 * values are never inside a group); the values between members never
 * reach memory, and the lifetimes of what they read end at the root. */
void mp_exec_plan_fusion(struct mp_exec *x)
{
	mp_exec_drop_groups(x);
	bool elementwise = x->be->iface->fused, attention = x->be->iface->attention && !x->opt.no_fused_attention;
	if (!(elementwise || attention) || x->hook || x->opt.keep_values || x->opt.literal)
		return;
	bool *cand = calloc(x->nnodes + 1, sizeof *cand), *keep = calloc(x->nvals + 1, sizeof *keep);
	int32_t *root_of = calloc(x->nnodes + 1, sizeof *root_of);
	struct xgroup *groups = NULL, *attn = NULL;
	size_t nattn = 0;
	if (!cand || !keep || !root_of)
		goto out;
	for (size_t v = 0; v < x->nvals; v++)
		keep[v] = x->vals[v].last_use == INT32_MAX || mp_exec_watched(x, (int32_t)v);
	for (size_t i = 0; i < x->nnodes; i++)
		cand[i] = elementwise && fusable(x, i);
	/* attention first: its scalings are no elementwise group's */
	for (size_t i = 0; attention && i < x->nnodes; i++) {
		struct mp_attn_match m;
		struct xgroup gr;
		if (!mp_fuse_attention(x->g, keep, i, &m) || !build_attention(x, &m, &gr))
			continue;
		struct xgroup *na = realloc(attn, (nattn + 1) * sizeof *na);
		if (!na) {
			free(gr.members);
			break;
		}
		attn = na;
		attn[nattn++] = gr;
		for (int k = 0; k < gr.nmembers; k++)
			cand[gr.members[k]] = false;
	}
	struct mp_fuse_query q = { x->g, cand, keep, same_shape, x, MP_FUSED_MAX_STEPS };
	size_t ng = elementwise ? mp_fuse_find(&q, root_of) : 0;
	if (!(ng + nattn) || !(groups = calloc(ng + nattn, sizeof *groups)))
		goto out;
	for (size_t k = 0; k < nattn; k++) {
		groups[x->ngroups] = attn[k];
		for (int m = 0; m < attn[k].nmembers; m++)
			x->nodes[attn[k].members[m]].group = (int32_t)x->ngroups;
		x->ngroups++;
	}
	x->stats.attention_groups = nattn;
	nattn = 0;
	for (size_t r = 0; r < x->nnodes && ng; r++) {
		if (root_of[r] != (int32_t)r)
			continue;
		if (!build_group(x, root_of, r, &groups[x->ngroups])) {
			for (size_t i = 0; i <= r; i++)
				if (root_of[i] == (int32_t)r)
					root_of[i] = -1;
			continue;
		}
		const struct xgroup *gr = &groups[x->ngroups];
		for (int m = 0; m < gr->nmembers; m++)
			x->nodes[gr->members[m]].group = (int32_t)x->ngroups;
		x->ngroups++;
	}
	x->groups = groups;
	groups = NULL;
	/* what a member reads lives until its root has run */
	for (size_t v = 0; v < x->nvals; v++) {
		const struct mp_value *val = mp_graph_value(x->g, v);
		struct xval *xv = &x->vals[v];
		if (xv->last_use == INT32_MAX || !val->nconsumers)
			continue;
		int32_t last = -1;
		for (int c = 0; c < val->nconsumers; c++) {
			int32_t r = val->consumers[c], gi = x->nodes[r].group;
			if (gi >= 0)
				r = (int32_t)x->groups[gi].root;
			last = r > last ? r : last;
		}
		xv->last_run = mp_exec_observed_until(x, (int32_t)v, last);
	}
	x->stats.fused_groups = x->ngroups - x->stats.attention_groups;
	x->stats.fused_nodes = x->stats.attention_nodes = 0;
	for (size_t i = 0; i < x->ngroups; i++)
		*(x->groups[i].attn ? &x->stats.attention_nodes : &x->stats.fused_nodes) += (size_t)x->groups[i].nmembers;
out:
	for (size_t k = 0; k < nattn; k++)
		free(attn[k].members);
	free(attn);
	free(groups);
	free(cand);
	free(keep);
	free(root_of);
}
