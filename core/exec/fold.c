/* fold.c - every node inferred with the bound batch's shapes, what
 * depends only on constants and shapes folded at binding, and outputs
 * written narrow where every reader casts them. */
#include "exec_internal.h"

/* Shape computations up to this many elements are folded at bind time. */
enum { FOLD_MAX_ELEMS = 1 << 16 };

/* Points x->iins at what node i reads, in the dtypes the plan gives, and
 * resolves its parameters (a graph Cast's target after the policy). */
void mp_exec_infer_inputs(struct mp_exec *x, size_t i)
{
	const struct mp_node *n = mp_graph_node(x->g, i);
	const struct mp_node_decision *d = mp_exec_decision_at(x, i);
	struct xnode *xn = &x->nodes[i];

	memcpy(xn->params, n->params, n->params_size);
	if (d && n->op == MP_OP_CAST && d->cast_to)
		((struct mp_cast_params *)xn->params)->to = d->cast_to;
	for (int k = 0; k < n->ninputs; k++) {
		int32_t id = n->inputs[k];
		x->iins[k] = NULL;
		if (id < 0)
			continue;
		struct mp_infer_val *v = &x->vals[id].iv;
		enum mp_dtype t = mp_exec_slot_dtype(d, k, v->info.dtype);
		x->iins[k] = v;
		if (t != v->info.dtype) {
			x->iadj[k] = *v;
			x->iadj[k].info.dtype = t;
			x->iadj[k].value = NULL; /* a float value as another dtype: not readable as is */
			x->iins[k] = &x->iadj[k];
		}
	}
}

static bool small_outputs(const struct mp_exec *x, const struct mp_node *n)
{
	for (int k = 0; k < n->noutputs; k++) {
		if (n->outputs[k] < 0)
			continue;
		const struct mp_value_info *vi = &x->vals[n->outputs[k]].iv.info;
		int64_t c = 1;
		for (int d = 0; d < vi->ndim; d++)
			c = mp_dim_mul(c, vi->dims[d]);
		if (c < 0 || c > FOLD_MAX_ELEMS)
			return false;
	}
	return true;
}

/* Infers node i with the bound batch's shapes.  Inputs or outputs whose
 * shapes come only from running make it dynamic: it is inferred again, with
 * the real shapes, when it runs. */
static enum mp_status infer_node(struct mp_exec *x, size_t i, bool *inputs_static, struct mp_error *e)
{
	const struct mp_node *n = mp_graph_node(x->g, i);
	struct xnode *xn = &x->nodes[i];
	struct mp_infer c = { .node = n, .ninputs = n->ninputs, .noutputs = n->noutputs,
	                      .in = x->iins, .out = x->iouts, .params = xn->params, .e = e };
	enum mp_status st;
	*inputs_static = true;
	xn->folded = xn->dynamic = false;
	mp_exec_infer_inputs(x, i);
	for (int k = 0; k < n->ninputs; k++)
		if (n->inputs[k] >= 0 && !x->vals[n->inputs[k]].is_static)
			*inputs_static = false;
	for (int k = 0; k < n->noutputs; k++) {
		int32_t id = n->outputs[k];
		x->iouts[k] = id >= 0 ? &x->vals[id].iv : NULL;
		if (id >= 0) {
			memset(&x->vals[id].iv, 0, sizeof x->vals[id].iv);
			x->vals[id].iv.nsym = -1;
		}
	}
	if ((st = mp_ops_infer(&c))) {
		mp_exec_node_error(n, e);
		return st;
	}
	for (int k = 0; k < n->ninputs; k++) {
		const struct mp_infer_val *in = x->iins[k];
		bool known = !in || in->info.ndim >= 0;
		for (int d = 0; in && known && d < in->info.ndim; d++)
			known = in->info.dims[d] >= 0;
		if (!known)
			xn->dynamic = true;
	}
	for (int k = 0; k < n->noutputs; k++) {
		const struct mp_infer_val *o = x->iouts[k];
		if (!o)
			continue;
		o = &x->vals[n->outputs[k]].iv;
		bool known = o->info.ndim >= 0;
		for (int d = 0; known && d < o->info.ndim; d++)
			known = o->info.dims[d] >= 0;
		if (!known)
			xn->dynamic = true;
		x->vals[n->outputs[k]].iv.value = NULL; /* values come from running */
		x->vals[n->outputs[k]].iv.nsym = -1;
	}
	return MP_OK;
}

enum mp_status mp_exec_infer_all(struct mp_exec *x, struct mp_error *e)
{
	for (size_t i = 0; i < x->nnodes; i++) {
		const struct mp_node *n = mp_graph_node(x->g, i);
		struct xnode *xn = &x->nodes[i];
		bool inputs_static;
		enum mp_status st = infer_node(x, i, &inputs_static, e);
		if (st)
			return st;
		bool shape_only = mp_op_has(n->op, MP_OPF_HOST_ONLY) && !xn->dynamic &&
		                  x->iins[0] && x->iins[0]->info.ndim >= 0;
		if (xn->dynamic || !(shape_only || n->op == MP_OP_CONSTANT || (inputs_static && small_outputs(x, n))))
			continue;
		if ((st = mp_exec_run_node(x, i, x->host, true, e)))
			return st;
		xn->folded = true;
		for (int k = 0; k < n->noutputs; k++)
			if (n->outputs[k] >= 0) {
				struct xval *v = &x->vals[n->outputs[k]];
				v->is_static = true;
				v->iv.value = &v->t;
			}
	}
	return MP_OK;
}

/* An f32 value that every reader casts to the same bf16 or f16 (a
 * LayerNorm before autocast's matmuls, a softmax before one) is written in
 * that type by its node, where the backend allows: the cast's pass over
 * memory saved, the bits the same.  Not where anyone looks between nodes
 * (a hook, kept values; a value an observer watches) or the run is to be
 * literal. */
void mp_exec_narrow_outputs(struct mp_exec *x)
{
	x->stats.narrowed = 0;
	if (x->hook || x->opt.keep_values || x->opt.literal || !x->plan)
		return;
	for (size_t i = 0; i < x->nnodes; i++) {
		const struct mp_node *n = mp_graph_node(x->g, i);
		const struct xnode *xn = &x->nodes[i];
		if (xn->folded || xn->dynamic || n->noutputs < 1 || n->outputs[0] < 0 || !mp_op_has(n->op, MP_OPF_NARROWS) ||
		    !(x->be->iface->mixed_float & (1u << mp_op_info(n->op)->family)))
			continue;
		int32_t id = n->outputs[0];
		const struct mp_value *v = mp_graph_value(x->g, (size_t)id);
		struct xval *xv = &x->vals[id];
		if (v->is_output || !v->nconsumers || xv->iv.info.dtype != MP_F32 || mp_exec_watched(x, id))
			continue;
		enum mp_dtype to = MP_DTYPE_UNDEFINED;
		bool ok = true;
		for (int c = 0; ok && c < v->nconsumers; c++) {
			const struct mp_node *r = mp_graph_node(x->g, (size_t)v->consumers[c]);
			const struct mp_node_decision *d = mp_exec_decision_at(x, (size_t)v->consumers[c]);
			/* a reader of the shape alone, or one folded at binding, does
			 * not read the data at run time (Shape on a LayerNorm's output,
			 * as HF attention exports it) */
			if (mp_op_has(r->op, MP_OPF_HOST_ONLY) || x->nodes[v->consumers[c]].folded)
				continue;
			for (int k = 0; ok && k < r->ninputs; k++) {
				if (r->inputs[k] != id)
					continue;
				enum mp_dtype want = d && d->slots[k].materialize ? d->slots[k].want : MP_DTYPE_UNDEFINED;
				ok = (want == MP_BF16 || want == MP_F16) && (!to || to == want) &&
				     !x->nodes[v->consumers[c]].folded && !x->nodes[v->consumers[c]].dynamic;
				to = want;
			}
		}
		if (ok && to) {
			xv->iv.info.dtype = to;
			x->stats.narrowed++;
		}
	}
}
