/* run.c - running the bound batch node by node (and fused group by
 * group), stepping, restarting, and evaluating one node on given inputs. */
#include "exec_internal.h"

static enum mp_status run_node_staged(struct mp_exec *x, size_t i, struct mp_backend *be, bool folding,
                                      struct mp_error *e);

enum mp_status mp_exec_run_node(struct mp_exec *x, size_t i, struct mp_backend *be, bool folding,
                                struct mp_error *e)
{
	enum mp_status st = run_node_staged(x, i, be, folding, e);
	mp_exec_drop_temporaries(x, mp_graph_node(x->g, i));
	return st;
}

static enum mp_status run_node_staged(struct mp_exec *x, size_t i, struct mp_backend *be, bool folding,
                                      struct mp_error *e)
{
	const struct mp_node *n = mp_graph_node(x->g, i);
	const struct mp_node_decision *d = mp_exec_decision_at(x, i);
	struct xnode *xn = &x->nodes[i];
	/* Shape and Size read only their input's shape: they run on the host,
	 * and when folded, before the input exists (its inferred shape stands in) */
	bool shape_op = mp_op_has(n->op, MP_OPF_HOST_ONLY);
	struct mp_tensor shape_in;
	enum mp_status st;

	if (d && d->blocked) {
		char msg[MP_ERROR_MSG_MAX];
		return mp_error_set(e, MP_ERR_MISMATCH, "%s",
		                    mp_plan_mismatch_message(x->plan, i, x->batch, msg, sizeof msg));
	}
	if (xn->dynamic && (st = mp_exec_reinfer(x, i, e)))
		return mp_exec_node_error(n, e);
	for (int k = 0; k < n->ninputs; k++) {
		int32_t id = n->inputs[k];
		x->ins[k] = NULL;
		if (id < 0)
			continue;
		x->ins[k] = &x->vals[id].t;
		if (x->vals[id].present) {
			if (!shape_op && (st = mp_exec_stage_input(x, n, k, d, be, e)))
				return mp_exec_node_error(n, e);
			continue;
		}
		if (!(folding && shape_op)) {
			mp_error_set(e, MP_ERR_INTERNAL, "input '%s' is not computed",
			             mp_graph_value(x->g, (size_t)id)->name);
			return mp_exec_node_error(n, e);
		}
		const struct mp_value_info *vi = &x->vals[id].iv.info;
		mp_tensor_init(&shape_in, vi->dtype, vi->ndim, vi->dims);
		shape_in.data = NULL;
		x->ins[k] = &shape_in;
	}
	for (int k = 0; k < n->noutputs; k++) {
		int32_t id = n->outputs[k];
		x->outs[k] = NULL;
		if (id < 0)
			continue;
		struct xval *v = &x->vals[id];
		if (n->op == MP_OP_CONSTANT) {
			v->t = x->prepared[id];
		} else if (k == 0 && mp_exec_is_view(n)) {
			const struct mp_tensor *in = x->ins[0];
			if (!mp_tensor_is_contiguous(in)) {
				mp_error_set(e, MP_ERR_INTERNAL, "view of a strided tensor");
				return mp_exec_node_error(n, e);
			}
			mp_tensor_init(&v->t, in->dtype, v->iv.info.ndim, v->iv.info.dims);
			v->t.data = in->data;
			v->t.device = in->device;
			v->t.buf = mp_buffer_retain(in->buf);
		} else if ((st = mp_exec_alloc_output(x, shape_op ? x->host : be, n, id, e))) {
			return mp_exec_node_error(n, e);
		}
		x->outs[k] = &v->t;
	}
	/* a Constant is its prepared value; views need no kernel (Dropout's
	 * mask aside) */
	bool kernel = !(n->op == MP_OP_CONSTANT || (mp_exec_is_view(n) && n->op != MP_OP_DROPOUT));
	if (kernel) {
		struct mp_backend *kb = shape_op ? x->host : be;
		struct mp_op_call call = { .op = n->op, .params = xn->params, .ninputs = n->ninputs,
		                           .noutputs = n->noutputs, .in = x->ins, .out = x->outs };
		mp_op_fn fn = mp_backend_op(kb, n->op);
		if (!fn) {
			mp_error_set(e, MP_ERR_UNSUPPORTED, "the %s backend has no kernel", kb->iface->name);
			return mp_exec_node_error(n, e);
		}
		if ((st = fn(kb->ctx, &call, e)))
			return mp_exec_node_error(n, e);
	}
	for (int k = 0; k < n->noutputs; k++)
		if (n->outputs[k] >= 0)
			x->vals[n->outputs[k]].present = true;
	return MP_OK;
}

static void release_node(struct mp_exec *x, const struct mp_node *n, size_t i)
{
	for (int pass = 0; pass < 2; pass++)
		for (int k = 0; k < (pass ? n->noutputs : n->ninputs); k++) {
			int32_t id = pass ? n->outputs[k] : n->inputs[k];
			if (id >= 0 && x->vals[id].last_run == (int32_t)i && !x->vals[id].is_static &&
			    x->vals[id].present) {
				mp_tensor_reset(&x->vals[id].t);
				x->vals[id].present = false;
			}
		}
}

/* An attention group's kernel: q, k, v where they are, the root's output.
 * The backend is asked first, so that a run that declines allocates as the
 * nodes one by one will (the memory plan sees one order). */
static enum mp_status call_attention(struct mp_exec *x, struct xgroup *gr, int32_t out, struct mp_error *e)
{
	struct mp_attn_call *ac = &gr->acall;
	const struct mp_tensor **slot[3] = { &ac->q, &ac->k, &ac->v };
	enum mp_status st;
	for (int k = 0; k < 3; k++) {
		struct xval *v = &x->vals[gr->attn_in[k]];
		if (!v->present || v->t.device != x->be->iface->device)
			return mp_error_set(e, MP_ERR_INTERNAL, "attention input '%s' is not on the device",
			                    mp_graph_value(x->g, (size_t)gr->attn_in[k])->name);
		*slot[k] = &v->t;
	}
	ac->out = NULL;
	if ((st = x->be->iface->attention(x->be->ctx, ac, e)) ||
	    (st = mp_exec_alloc_output(x, x->be, mp_graph_node(x->g, gr->root), out, e)))
		return st;
	ac->out = &x->vals[out].t;
	return x->be->iface->attention(x->be->ctx, ac, e);
}

/* An elementwise group's kernel: the inputs where the kernel reads them
 * (static ones as their staged copies), the root's output. */
static enum mp_status call_fused(struct mp_exec *x, struct xgroup *gr, int32_t out, struct mp_error *e)
{
	struct mp_fused_call *c = &gr->call;
	enum mp_status st;
	for (int k = 0; k < c->nin; k++) {
		int32_t id = gr->in_value[k];
		if (x->vals[id].is_static) {
			if ((st = mp_exec_static_copy(x, id, gr->in_via[k], gr->in_want[k], x->be, &c->in[k], e)))
				return st;
		} else if (!x->vals[id].present || x->vals[id].t.device != x->be->iface->device) {
			return mp_error_set(e, MP_ERR_INTERNAL, "fused input '%s' is not on the device",
			                    mp_graph_value(x->g, (size_t)id)->name);
		} else {
			c->in[k] = &x->vals[id].t;
		}
	}
	if ((st = mp_exec_alloc_output(x, x->be, mp_graph_node(x->g, gr->root), out, e)))
		return st;
	c->out = &x->vals[out].t;
	return x->be->iface->fused(x->be->ctx, c, e);
}

/* A group at its root, as one kernel.  Where the backend cannot, the
 * members run one by one, now and from then on. */
static enum mp_status run_group(struct mp_exec *x, struct xgroup *gr, struct mp_error *e)
{
	const struct mp_node *rn = mp_graph_node(x->g, gr->root);
	int32_t out = rn->outputs[0];
	enum mp_status st;

	if (!gr->off) {
		st = gr->attn ? call_attention(x, gr, out, e) : call_fused(x, gr, out, e);
		if (st == MP_OK) {
			x->vals[out].present = true;
			return MP_OK;
		}
		mp_tensor_reset(&x->vals[out].t);
		if (st != MP_ERR_UNSUPPORTED)
			return mp_exec_node_error(rn, e);
		gr->off = true;
		snprintf(x->stats.fusion_note, sizeof x->stats.fusion_note, "%.180s", e->msg);
		mp_error_clear(e);
	}
	for (int m = 0; m < gr->nmembers; m++)
		if ((st = mp_exec_run_node(x, gr->members[m], x->be, false, e)))
			return st;
	return MP_OK;
}

/* Frees the values node i read or wrote for the last time (at a group's
 * root: those of every member). */
static void release_after(struct mp_exec *x, size_t i)
{
	int32_t gi = x->nodes[i].group;
	if (gi >= 0 && x->groups[gi].root == i) {
		const struct xgroup *gr = &x->groups[gi];
		for (int m = 0; m < gr->nmembers; m++)
			release_node(x, mp_graph_node(x->g, gr->members[m]), i);
		return;
	}
	release_node(x, mp_graph_node(x->g, i), i);
	/* what an observer's window kept to its end goes after its last node,
	 * which need not touch it */
	if (x->obs.window > 1 && mp_exec_window_ends(x, i))
		for (size_t v = 0; v < x->nvals; v++) {
			struct xval *xv = &x->vals[v];
			if (xv->last_run == (int32_t)i && !xv->is_static && xv->present) {
				mp_tensor_reset(&xv->t);
				xv->present = false;
			}
		}
}

enum mp_status mp_exec_step(struct mp_exec *x, struct mp_error *e)
{
	enum mp_status st;
	if (!x->bound)
		return mp_error_set(e, MP_ERR_USAGE, "no batch is bound");
	if (x->pos >= x->nnodes)
		return MP_OK;
	size_t i = x->pos;
	int32_t gi = x->nodes[i].group;
	if (gi >= 0) { /* a fused group runs at its root; its other members are in it */
		if (x->groups[gi].root == i && (st = run_group(x, &x->groups[gi], e)))
			return st;
	} else if (!x->nodes[i].folded && (st = mp_exec_run_node(x, i, x->be, false, e))) {
		return st;
	}
	x->pos++;
	/* observer and hook see the node's inputs and outputs before any of
	 * them go; the observer only where the node wrote memory */
	st = MP_OK;
	if (x->obs.ran && !x->nodes[i].folded && (gi < 0 || x->groups[gi].root == i))
		st = x->obs.ran(x->obs.user, x, i, e);
	if (!st && x->obs.ran && mp_exec_window_ends(x, i))
		st = x->obs.flush(x->obs.user, x, e);
	if (!st && x->hook)
		st = x->hook(x->hook_user, x, i, e);
	release_after(x, i);
	return st;
}

enum mp_status mp_exec_run_to(struct mp_exec *x, size_t node, struct mp_error *e)
{
	while (x->pos <= node && x->pos < x->nnodes) {
		enum mp_status st = mp_exec_step(x, e);
		if (st)
			return st;
	}
	return MP_OK;
}

/* Back to before the first node: what the nodes made goes, the batch's
 * inputs and the static values stay. */
void mp_exec_rewind_run(struct mp_exec *x)
{
	for (size_t i = 0; i < x->nvals; i++) {
		struct xval *v = &x->vals[i];
		if (v->is_static || mp_graph_value(x->g, i)->kind == MP_VALUE_INPUT)
			continue;
		mp_tensor_reset(&v->t);
		v->present = false;
	}
	mp_exec_drop_temporaries(x, NULL);
	x->pos = 0;
}

enum mp_status mp_exec_restart(struct mp_exec *x, struct mp_error *e)
{
	if (!x->bound)
		return mp_error_set(e, MP_ERR_USAGE, "no batch is bound");
	mp_exec_rewind_run(x);
	return MP_OK;
}

enum mp_status mp_exec_eval_node(struct mp_exec *x, size_t i, const struct mp_tensor *const *ins,
                                 struct mp_tensor *outs, struct mp_error *e)
{
	const struct mp_node *n = mp_graph_node(x->g, i);
	const struct mp_node_decision *d = mp_exec_decision_at(x, i);
	struct mp_backend *be = x->be;
	enum mp_status st = MP_OK;

	if (!x->bound || i >= x->pos)
		return mp_error_set(e, MP_ERR_USAGE, "node '%s' has not run in this batch", n->name);
	if (!mp_exec_node_has_kernel(x, i) || mp_op_has(n->op, MP_OPF_HOST_ONLY))
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "node '%s' (%s) runs no kernel", n->name, n->op_type);
	for (int k = 0; k < n->noutputs; k++)
		memset(&outs[k], 0, sizeof outs[k]);
	for (int k = 0; k < n->ninputs && !st; k++) {
		x->ins[k] = ins[k];
		if (!ins[k])
			continue;
		if (ins[k]->device != be->iface->device) { /* a weight or folded value, kept on the host */
			struct mp_tensor *m = &x->tmp[2 * k];
			int32_t id = n->inputs[k];
			if (mp_exec_persistent_value(x->g, id) && x->vals[id].is_static && ins[k]->dtype == x->vals[id].t.dtype) {
				/* the graph's own weight: this executor's copy on the device */
				if ((st = mp_exec_static_copy(x, id, MP_DTYPE_UNDEFINED, ins[k]->dtype, be, &x->ins[k], e)))
					break;
			} else {
				if ((st = mp_exec_new_tensor_on(x, be, ins[k]->dtype, ins[k], true, m, e)) ||
				    (st = be->iface->from_host(be->ctx, ins[k]->data, m, e)))
					break;
				x->ins[k] = m;
			}
		}
		if (!mp_dtype_is_float(ins[k]->dtype))
			continue;
		enum mp_dtype want = mp_exec_slot_dtype(d, k, x->vals[n->inputs[k]].iv.info.dtype);
		if (want == ins[k]->dtype || !mp_dtype_is_float(want))
			continue;
		st = mp_exec_cast_on(x, be, x->ins[k], want, &x->tmp[2 * k + 1], e);
		x->ins[k] = &x->tmp[2 * k + 1];
	}
	for (int k = 0; k < n->noutputs && !st; k++) {
		x->outs[k] = NULL;
		if (n->outputs[k] < 0)
			continue;
		const struct mp_value_info *vi = &x->vals[n->outputs[k]].iv.info;
		struct mp_tensor like;
		mp_tensor_init(&like, vi->dtype, vi->ndim, vi->dims);
		st = mp_exec_new_tensor_on(x, be, vi->dtype, &like, false, &outs[k], e);
		x->outs[k] = &outs[k];
	}
	if (!st) {
		struct mp_op_call call = { .op = n->op, .params = x->nodes[i].params, .ninputs = n->ninputs,
		                           .noutputs = n->noutputs, .in = x->ins, .out = x->outs };
		st = mp_backend_op(be, n->op)(be->ctx, &call, e);
	}
	mp_exec_drop_temporaries(x, n);
	if (st) {
		for (int k = 0; k < n->noutputs; k++)
			mp_tensor_reset(&outs[k]);
		return mp_exec_node_error(n, e);
	}
	return MP_OK;
}
