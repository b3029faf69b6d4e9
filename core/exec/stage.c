/* stage.c - buffers for outputs, nodes inferred again at run time, and
 * each input staged as the plan reads it, where the kernel runs. */
#include "exec_internal.h"

/* A buffer for this run on be: from the planner when be is the executor's
 * backend (recorded or planned), else plain. */
static enum mp_status xalloc(struct mp_exec *x, struct mp_backend *be, size_t nb, struct mp_buffer **out,
                             struct mp_error *e)
{
	if (be == x->be && x->mp)
		return mp_memplan_alloc(x->mp, nb, out, e);
	return be->iface->alloc(be->ctx, nb, out, e);
}

enum mp_status mp_exec_alloc_output(struct mp_exec *x, struct mp_backend *be, const struct mp_node *n,
                                    int32_t id, struct mp_error *e)
{
	struct xval *v = &x->vals[id];
	const struct mp_value_info *vi = &v->iv.info;
	size_t nb;
	struct mp_buffer *buf;
	enum mp_status st;

	if (vi->ndim < 0 || vi->ndim > MP_MAX_DIMS)
		return mp_error_set(e, MP_ERR_INTERNAL, "output '%s' has no known shape",
		                    mp_graph_value(x->g, (size_t)id)->name);
	mp_tensor_init(&v->t, vi->dtype, vi->ndim, vi->dims);
	if ((st = mp_shape_nbytes(vi->ndim, vi->dims, vi->dtype, &nb, e)))
		return st;
	if (nb > x->opt.max_tensor_bytes || nb > x->opt.max_memory) {
		char what[MP_ERROR_MSG_MAX / 2];
		snprintf(what, sizeof what, "output '%s'", mp_graph_value(x->g, (size_t)id)->name);
		return mp_exec_over_limit(x, what, nb, e);
	}
	(void)n;
	if ((st = xalloc(x, be, nb, &buf, e)))
		return mp_error_prefix(e, "output '%s' (%zu bytes): ", mp_graph_value(x->g, (size_t)id)->name, nb);
	v->t.data = buf->data;
	v->t.buf = buf;
	v->t.device = buf->device;
	return MP_OK;
}

/* Re-infers a node whose output shapes depend on values known only now. */
enum mp_status mp_exec_reinfer(struct mp_exec *x, size_t i, struct mp_error *e)
{
	const struct mp_node *n = mp_graph_node(x->g, i);
	struct xnode *xn = &x->nodes[i];
	struct mp_infer c = { .node = n, .ninputs = n->ninputs, .noutputs = n->noutputs,
	                      .in = x->iins, .out = x->iouts, .params = xn->params, .e = e };
	enum mp_status st = MP_OK;
	for (int k = 0; k < n->ninputs && !st; k++) {
		int32_t id = n->inputs[k];
		if (id >= 0) {
			struct xval *v = &x->vals[id];
			v->iv.info.dtype = v->t.dtype;
			v->iv.info.ndim = v->t.ndim;
			memcpy(v->iv.info.dims, v->t.shape, sizeof v->t.shape);
			v->iv.value = v->t.device == MP_DEVICE_CPU ? &v->t : v->host.data ? &v->host : NULL;
			/* values on a GPU that inference may read (shapes, counts):
			 * a host copy, for up to 4M elements */
			if (!v->iv.value && v->present && mp_tensor_numel(&v->t) <= (1 << 22)) {
				st = mp_exec_fetch(x, id, &v->host, e);
				v->iv.value = st ? NULL : &v->host;
			}
		}
	}
	if (!st) {
		mp_exec_infer_inputs(x, i);
		for (int k = 0; k < n->noutputs; k++)
			x->iouts[k] = n->outputs[k] >= 0 ? &x->vals[n->outputs[k]].iv : NULL;
		st = mp_ops_infer(&c);
	}
	for (int k = 0; k < n->ninputs; k++) { /* the copies go; graph inputs keep theirs */
		int32_t id = n->inputs[k];
		if (id >= 0 && mp_graph_value(x->g, (size_t)id)->kind != MP_VALUE_INPUT && x->vals[id].host.buf) {
			mp_tensor_reset(&x->vals[id].host);
			x->vals[id].iv.value = NULL;
		}
	}
	if (st)
		return st;
	for (int k = 0; k < n->noutputs; k++) {
		if (!x->iouts[k])
			continue;
		const struct mp_value_info *vi = &x->iouts[k]->info;
		for (int d = 0; d < vi->ndim; d++)
			if (vi->dims[d] < 0)
				return mp_error_set(e, MP_ERR_INTERNAL, "output %d's shape is still unknown", k);
	}
	return MP_OK;
}

bool mp_exec_persistent_value(const struct mp_graph *g, int32_t id)
{
	const struct mp_value *v = mp_graph_value(g, (size_t)id);
	return v->kind == MP_VALUE_INITIALIZER ||
	       (v->producer >= 0 && mp_graph_node(g, (size_t)v->producer)->op == MP_OP_CONSTANT);
}

/* A tensor shaped like `like` on be: for this run (transient), or kept. */
enum mp_status mp_exec_new_tensor_on(struct mp_exec *x, struct mp_backend *be, enum mp_dtype dtype,
                                     const struct mp_tensor *like, bool transient, struct mp_tensor *t,
                                     struct mp_error *e)
{
	struct mp_buffer *buf;
	size_t nb;
	enum mp_status st = mp_shape_nbytes(like->ndim, like->shape, dtype, &nb, e);
	if (st)
		return st;
	if (nb > x->opt.max_tensor_bytes || nb > x->opt.max_memory)
		return mp_exec_over_limit(x, "a copy", nb, e);
	if ((st = transient ? xalloc(x, be, nb, &buf, e) : be->iface->alloc(be->ctx, nb, &buf, e)))
		return st;
	mp_tensor_init(t, dtype, like->ndim, like->shape);
	t->data = buf->data;
	t->buf = buf;
	t->device = buf->device;
	return MP_OK;
}

/* A new tensor on be holding src cast to `to`, by be's own Cast kernel. */
enum mp_status mp_exec_cast_on(struct mp_exec *x, struct mp_backend *be, const struct mp_tensor *src,
                               enum mp_dtype to, struct mp_tensor *out, struct mp_error *e)
{
	struct mp_cast_params cp = { .to = to };
	const struct mp_tensor *cin[1] = { src };
	struct mp_tensor *cout[1] = { out };
	struct mp_op_call call = { .op = MP_OP_CAST, .params = &cp, .ninputs = 1, .noutputs = 1, .in = cin, .out = cout };
	mp_op_fn fn = mp_backend_op(be, MP_OP_CAST);
	enum mp_status st;
	if (!fn)
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "the %s backend cannot cast", be->iface->name);
	if ((st = mp_exec_new_tensor_on(x, be, to, src, true, out, e)))
		return st;
	return fn(be->ctx, &call, e);
}

/* A static value (weight, constant, folded) read as `dtype` after first
 * becoming `via` (a pure policy's weight conversion), on be's device: made
 * once on the host, where what the rounding cost is measured, then moved. */
enum mp_status mp_exec_static_copy(struct mp_exec *x, int32_t id, enum mp_dtype via, enum mp_dtype dtype,
                                   struct mp_backend *be, const struct mp_tensor **out,
                                   struct mp_error *e)
{
	enum mp_device dev = be->iface->device;
	const struct mp_tensor *src;
	enum mp_status st;

	for (size_t i = 0; i < x->ncopies; i++) {
		const struct xcopy *c = x->copies[i];
		if (c->value == id && c->via == via && c->dtype == dtype && c->device == dev) {
			*out = &c->t;
			return MP_OK;
		}
	}
	if (dev != MP_DEVICE_CPU)
		st = mp_exec_static_copy(x, id, via, dtype, x->host, &src, e);
	else if (via && via != dtype)
		st = mp_exec_static_copy(x, id, MP_DTYPE_UNDEFINED, via, x->host, &src, e);
	else
		src = &x->vals[id].t, st = MP_OK;
	if (st)
		return st;
	if (src->device != MP_DEVICE_CPU || !mp_tensor_is_contiguous(src))
		return mp_error_set(e, MP_ERR_INTERNAL, "'%s' is not a contiguous host tensor",
		                    mp_graph_value(x->g, (size_t)id)->name);
	if (x->ncopies == x->capcopies) {
		size_t cap = x->capcopies ? 2 * x->capcopies : 32;
		struct xcopy **nc = realloc(x->copies, cap * sizeof *nc);
		if (!nc)
			return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		x->copies = nc;
		x->capcopies = cap;
	}
	struct xcopy *c = calloc(1, sizeof *c);
	if (!c)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	*c = (struct xcopy){ id, via, dtype, dev, mp_exec_persistent_value(x->g, id), { 0 }, 0, 0 };
	if ((st = mp_exec_new_tensor_on(x, be, dtype, src, false, &c->t, e))) {
		free(c);
		return st;
	}
	if (dev == MP_DEVICE_CPU) {
		mp_dtype_convert_measure(src->dtype, src->data, dtype, c->t.data, (size_t)mp_tensor_numel(src),
		                         &c->max_abs, &c->max_rel);
		mp_exec_note_error(x, c, src->dtype);
	} else if ((st = be->iface->from_host(be->ctx, src->data, &c->t, e))) {
		mp_tensor_reset(&c->t);
		free(c);
		return st;
	}
	x->copies[x->ncopies++] = c;
	*out = &c->t;
	return MP_OK;
}

static bool widening(enum mp_dtype from, enum mp_dtype to)
{
	return to == MP_F32 && (from == MP_BF16 || from == MP_F16);
}

/* Input slot k of node n as the kernel on be reads it: in the dtype the
 * plan wants, on be's device.  Temporaries go in x->tmp[2k], x->tmp[2k+1]. */
enum mp_status mp_exec_stage_input(struct mp_exec *x, const struct mp_node *n, int k,
                                   const struct mp_node_decision *d, struct mp_backend *be,
                                   struct mp_error *e)
{
	int32_t id = n->inputs[k];
	const struct mp_tensor *t = x->ins[k];
	enum mp_dtype via = d ? d->slots[k].via : MP_DTYPE_UNDEFINED;
	enum mp_dtype want = d && d->slots[k].want && d->slots[k].materialize ? d->slots[k].want :
	                     via ? via : t->dtype;
	enum mp_device dev = be->iface->device;
	enum mp_status st;

	/* a bf16/f16 value the node reads widened to f32: a kernel that reads
	 * any float type as f32 takes it as it is, to the same result */
	if (widening(t->dtype, want) && !x->opt.literal &&
	    (be->iface->mixed_float & (1u << mp_op_info(n->op)->family)))
		want = t->dtype;
	if (want == t->dtype && t->device == dev)
		return MP_OK;
	if (x->vals[id].is_static) {
		if (want == t->dtype)
			via = MP_DTYPE_UNDEFINED;
		if ((st = mp_exec_static_copy(x, id, via, want, be, &x->ins[k], e)))
			return mp_error_prefix(e, "input %d '%s': ", k, mp_graph_value(x->g, (size_t)id)->name);
		return MP_OK;
	}
	if (t->device != dev) { /* moved first, then cast where the kernel runs */
		struct mp_tensor *m = &x->tmp[2 * k];
		struct mp_tensor host;
		if ((st = mp_exec_new_tensor_on(x, be, t->dtype, t, true, m, e)))
			return st;
		if (t->device == MP_DEVICE_CPU)
			st = be->iface->from_host(be->ctx, t->data, m, e);
		else if ((st = mp_exec_fetch(x, id, &host, e)) == MP_OK) {
			memcpy(m->data, host.data, mp_tensor_nbytes(&host));
			mp_tensor_reset(&host);
		}
		if (st)
			return st;
		t = m;
	}
	if (want != t->dtype) {
		if ((st = mp_exec_cast_on(x, be, t, want, &x->tmp[2 * k + 1], e)))
			return st;
		t = &x->tmp[2 * k + 1];
	}
	x->ins[k] = t;
	return MP_OK;
}

/* The staging temporaries of node n's inputs (n NULL: every slot). */
void mp_exec_drop_temporaries(struct mp_exec *x, const struct mp_node *n)
{
	for (int k = 0; k < 2 * (n ? n->ninputs : x->maxio); k++)
		if (x->tmp[k].buf)
			mp_tensor_reset(&x->tmp[k]);
}
