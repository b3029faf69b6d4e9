/* bind.c - binding a batch: its inputs checked against the graph and
 * moved where the backend runs, the batch's signature (a batch shaped as
 * the last skips inference), the plan for its input dtypes, and the
 * memory budget checked before anything runs. */
#include "exec_internal.h"

/* Integer inputs up to this many elements are part of a batch's signature
 * (inference may read them); a larger one makes every batch new. */
enum { SIG_MAX_INT_ELEMS = 4096 };

static enum mp_status bind_input(struct mp_exec *x, size_t index, int32_t id, const struct mp_tensor *bt,
                                 const char *file, const char *name, const char *type,
                                 int64_t *syms, size_t nsyms, struct mp_error *e)
{
	const struct mp_value *v = mp_graph_value(x->g, (size_t)id);
	struct xval *xv = &x->vals[id];
	const struct mp_value_info *d = &v->declared;
	char a[256], b[256];

	if (!mp_dtype_computable(bt->dtype))
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "%s: tensor '%s' is %s, which mpdbg does not compute on",
		                    file, name, type);
	if (v->has_declared && d->ndim >= 0) {
		if (d->ndim != bt->ndim)
			return mp_error_set(e, MP_ERR_INPUT,
			                    "%s: tensor '%s' has shape %s, but graph input '%s' is %s", file, name,
			                    mp_shape_str(a, sizeof a, bt->ndim, bt->shape), v->name,
			                    mp_graph_dims_str(x->g, d, b, sizeof b));
		for (int k = 0; k < d->ndim; k++) {
			int64_t want = d->dims[k];
			if (MP_DIM_IS_SYM(want) && (size_t)MP_DIM_SYM_INDEX(want) < nsyms) {
				int64_t *bound = &syms[MP_DIM_SYM_INDEX(want)];
				if (*bound < 0)
					*bound = bt->shape[k];
				else if (*bound != bt->shape[k])
					return mp_error_set(e, MP_ERR_INPUT,
					                    "%s: tensor '%s' has %s = %lld in dim %d, but an earlier input has %s = %lld",
					                    file, name, mp_graph_symbol(x->g, (size_t)MP_DIM_SYM_INDEX(want)),
					                    (long long)bt->shape[k], k,
					                    mp_graph_symbol(x->g, (size_t)MP_DIM_SYM_INDEX(want)), (long long)*bound);
			} else if (want >= 0 && want != bt->shape[k]) {
				return mp_error_set(e, MP_ERR_INPUT,
				                    "%s: tensor '%s' has shape %s, but graph input '%s' is %s", file, name,
				                    mp_shape_str(a, sizeof a, bt->ndim, bt->shape), v->name,
				                    mp_graph_dims_str(x->g, d, b, sizeof b));
			}
		}
	}
	enum mp_dtype want = v->has_declared && d->dtype ? d->dtype : bt->dtype;
	/* under a policy a float tensor keeps the dtype it has in the batch */
	if (x->opt.policy && mp_dtype_is_float(bt->dtype) && mp_dtype_is_float(want))
		want = x->opt.float_inputs ? x->opt.float_inputs : bt->dtype;
	size_t es = mp_dtype_size(want);
	xv->t = *bt;
	xv->t.buf = NULL;
	if (want != bt->dtype || (bt->data && (uintptr_t)bt->data % es)) {
		/* the graph declares another dtype: convert as the user's framework
		 * would on feeding it, and note the cast */
		struct mp_buffer *buf;
		size_t nb;
		enum mp_status st = mp_shape_nbytes(bt->ndim, bt->shape, want, &nb, e);
		if (!st)
			st = mp_buffer_new_host(nb, false, &buf, e);
		if (st)
			return mp_error_prefix(e, "%s: tensor '%s': ", file, name);
		mp_tensor_init(&xv->t, want, bt->ndim, bt->shape);
		mp_dtype_convert(bt->dtype, bt->data, want, buf->data, (size_t)mp_tensor_numel(bt));
		xv->t.data = buf->data;
		xv->t.buf = buf;
		if (want != bt->dtype)
			x->entry[x->nentry++] = (struct mp_dtype_event){ -1, (int)index, id, bt->dtype, want,
			                                                 MP_CAST_ENTRY, NAN, NAN };
	}
	xv->present = true;
	xv->iv.info.dtype = xv->t.dtype;
	xv->iv.info.ndim = xv->t.ndim;
	memcpy(xv->iv.info.dims, xv->t.shape, sizeof xv->t.shape);
	xv->iv.value = &xv->t;
	if (x->be->iface->device != MP_DEVICE_CPU) {
		/* on a GPU once, for every node that reads it; the host bytes stay
		 * for inference that reads values */
		struct mp_buffer *buf = x->inbuf[index];
		size_t nb = mp_tensor_nbytes(&xv->t);
		enum mp_status st;
		/* the same buffer batch after batch: a captured run reads it there */
		if (!buf || buf->size != nb) {
			mp_buffer_release(buf);
			x->inbuf[index] = NULL;
			if ((st = x->be->iface->alloc(x->be->ctx, nb, &buf, e)))
				return mp_error_prefix(e, "%s: tensor '%s' (%zu bytes): ", file, name, nb);
			x->inbuf[index] = buf;
		}
		mp_buffer_retain(buf);
		xv->host = xv->t;
		mp_tensor_init(&xv->t, xv->host.dtype, xv->host.ndim, xv->host.shape);
		xv->t.data = buf->data;
		xv->t.buf = buf;
		xv->t.device = buf->device;
		if ((st = x->be->iface->from_host(x->be->ctx, xv->host.data, &xv->t, e)))
			return mp_error_prefix(e, "%s: tensor '%s': ", file, name);
		xv->iv.value = &xv->host;
	}
	return MP_OK;
}



/* Files the rounding error of a static value's conversion under the plan
 * events that describe it. */
void mp_exec_note_error(struct mp_exec *x, const struct xcopy *c, enum mp_dtype from)
{
	for (size_t i = 0; x->plan && i < mp_plan_nevents(x->plan); i++) {
		const struct mp_dtype_event *ev = mp_plan_event(x->plan, i);
		if (ev->value == c->value && ev->from == from && ev->to == c->dtype) {
			x->ev_err[i][0] = c->max_abs;
			x->ev_err[i][1] = c->max_rel;
		}
	}
}

/* The plan for the dtypes this batch's inputs arrived in, kept while they
 * stay the same. */
static enum mp_status ensure_plan(struct mp_exec *x, struct mp_error *e)
{
	const struct mp_graph *g = x->g;
	size_t ni = mp_graph_ninputs(g);
	enum mp_status st;

	if (!x->opt.policy)
		return MP_OK;
	for (size_t i = 0; i < ni; i++)
		x->in_dtypes[i] = x->vals[mp_graph_input(g, i)].t.dtype;
	if (x->plan && mp_plan_same_inputs(x->plan, x->in_dtypes))
		return MP_OK;
	mp_plan_free(x->plan);
	x->plan = NULL;
	free(x->ev_err);
	x->ev_err = NULL;
	if ((st = mp_plan_build(g, x->opt.policy, x->in_dtypes, &x->plan, e)))
		return st;
	size_t n = mp_plan_nevents(x->plan);
	x->ev_err = malloc((n + 1) * sizeof *x->ev_err);
	if (!x->ev_err)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		x->ev_err[i][0] = x->ev_err[i][1] = NAN;
	/* weights converted under an earlier plan keep what they cost */
	for (size_t i = 0; i < x->ncopies; i++) {
		const struct xcopy *c = x->copies[i];
		if (c->device == MP_DEVICE_CPU)
			mp_exec_note_error(x, c, c->via ? c->via : mp_graph_value(g, (size_t)c->value)->info.dtype);
	}
	return MP_OK;
}


/* What makes a batch the same as the last for inference: each input's
 * dtype and shape, and the contents of small integer inputs (shapes, axes,
 * indices that inference may read).  False when an integer input is too
 * large to compare: then no batch counts as the same. */
static bool signature(const struct mp_batch *b, const size_t *match, size_t ni, unsigned char **out,
                      size_t *len)
{
	size_t n = 0;
	*out = NULL;
	*len = 0;
	for (int pass = 0; pass < 2; pass++) {
		unsigned char *p = *out;
		n = 0;
		for (size_t i = 0; i < ni; i++) {
			const struct mp_tensor *t = mp_batch_tensor(b, match[i]);
			int32_t head[2] = { (int32_t)t->dtype, t->ndim };
			size_t body = 0;
			if (!mp_dtype_is_float(t->dtype)) {
				if (mp_tensor_numel(t) > SIG_MAX_INT_ELEMS || !mp_tensor_is_contiguous(t)) {
					free(*out);
					*out = NULL;
					return false;
				}
				body = mp_tensor_nbytes(t);
			}
			if (p) {
				memcpy(p + n, head, sizeof head);
				memcpy(p + n + sizeof head, t->shape, (size_t)t->ndim * sizeof t->shape[0]);
				if (body)
					memcpy(p + n + sizeof head + (size_t)t->ndim * sizeof t->shape[0], t->data, body);
			}
			n += sizeof head + (size_t)t->ndim * sizeof t->shape[0] + body;
		}
		if (!pass && !(*out = malloc(n + 1)))
			return false;
	}
	*len = n;
	return true;
}

static const char *gib(char *buf, size_t size, size_t v)
{
	if (v >= ((size_t)1 << 30))
		snprintf(buf, size, "%.2f GiB", (double)v / (double)((size_t)1 << 30));
	else if (v >= ((size_t)1 << 20))
		snprintf(buf, size, "%.2f MiB", (double)v / (double)((size_t)1 << 20));
	else
		snprintf(buf, size, "%zu bytes", v);
	return buf;
}

/* A value over the run's limits (its own bytes, or the whole run's budget);
 * the message names the option that raises the budget. */
enum mp_status mp_exec_over_limit(const struct mp_exec *x, const char *what, size_t nb, struct mp_error *e)
{
	char a[32], b[32];
	if (nb > x->opt.max_memory)
		return mp_error_set(e, MP_ERR_LIMIT,
		                    "%s would need %s, more than the run's memory limit of %s: "
		                    "--max-memory SIZE raises it (e.g. --max-memory 32G)",
		                    what, gib(a, sizeof a, nb), gib(b, sizeof b, x->opt.max_memory));
	return mp_error_set(e, MP_ERR_LIMIT, "%s would need %s, more than the %s one tensor may take",
	                    what, gib(a, sizeof a, nb), gib(b, sizeof b, x->opt.max_tensor_bytes));
}

/* The most activation bytes alive at once when the bound batch runs, from
 * its inferred shapes and the values' lifetimes, checked against the budget
 * before anything is allocated: a graph of eight 2 GiB tensors, each under
 * the per-tensor cap, is refused here rather than half run.  A view's bytes
 * are its source's, alive until the last reader of either; folded values
 * are already made; values whose shapes come only from running are checked
 * one by one when they are made. */
static enum mp_status check_budget(struct mp_exec *x, struct mp_error *e)
{
	const struct mp_graph *g = x->g;
	int32_t *root = malloc((x->nvals ? x->nvals : 1) * sizeof *root);
	int32_t *until = malloc((x->nvals ? x->nvals : 1) * sizeof *until);
	size_t *bytes = calloc(x->nvals ? x->nvals : 1, sizeof *bytes);
	size_t *freed = calloc(x->nnodes ? x->nnodes : 1, sizeof *freed);
	size_t live = 0, peak = 0, at = 0;
	enum mp_status st = MP_OK;

	if (!root || !until || !bytes || !freed) {
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t v = 0; v < x->nvals; v++) {
		root[v] = (int32_t)v;
		until[v] = x->vals[v].last_run;
	}
	for (size_t i = 0; i < x->nnodes; i++) {
		const struct mp_node *n = mp_graph_node(g, i);
		if (x->nodes[i].folded)
			continue;
		for (int k = 0; k < n->noutputs; k++) {
			int32_t id = n->outputs[k];
			if (id < 0)
				continue;
			if (mp_exec_is_view(n) && n->ninputs > 0 && n->inputs[0] >= 0) {
				int32_t r = root[n->inputs[0]];
				root[id] = r;
				if (until[id] > until[r])
					until[r] = until[id];
				continue;
			}
			const struct mp_value_info *vi = &x->vals[id].iv.info;
			bool known = vi->ndim >= 0;
			for (int d = 0; known && d < vi->ndim; d++)
				known = vi->dims[d] >= 0;
			size_t nb;
			struct mp_error ignored;
			if (!known)
				continue;
			if (mp_shape_nbytes(vi->ndim, vi->dims, vi->dtype, &nb, &ignored))
				nb = SIZE_MAX;
			if (nb > x->opt.max_memory || nb > x->opt.max_tensor_bytes) {
				char what[MP_ERROR_MSG_MAX / 2];
				snprintf(what, sizeof what, "output '%s' of node '%s' (%s)", mp_graph_value(g, (size_t)id)->name,
				         n->name, n->op_type);
				st = mp_exec_over_limit(x, what, nb, e);
				goto out;
			}
			bytes[id] = nb;
		}
	}
	/* a view's source goes when its last alias does */
	for (size_t v = 0; v < x->nvals; v++)
		if (bytes[v] && until[v] >= 0 && until[v] != INT32_MAX && (size_t)until[v] < x->nnodes)
			freed[until[v]] += bytes[v];
	for (size_t i = 0; i < x->nnodes; i++) {
		const struct mp_node *n = mp_graph_node(g, i);
		for (int k = 0; k < n->noutputs && !x->nodes[i].folded; k++)
			if (n->outputs[k] >= 0)
				live += bytes[n->outputs[k]];
		if (live > peak) {
			peak = live;
			at = i;
		}
		live -= freed[i] < live ? freed[i] : live;
	}
	if (peak > x->opt.max_memory) {
		char a[32], b[32];
		const struct mp_node *n = mp_graph_node(g, at);
		st = mp_error_set(e, MP_ERR_LIMIT,
		                  "this batch's activations would take %s at once (at node '%s' (%s)), more than "
		                  "the run's memory limit of %s: --max-memory SIZE raises it (e.g. --max-memory 32G)",
		                  gib(a, sizeof a, peak), n->name, n->op_type, gib(b, sizeof b, x->opt.max_memory));
	}
out:
	free(root);
	free(until);
	free(bytes);
	free(freed);
	return st;
}

/* Binds every graph input to its tensor of the batch. */
static enum mp_status bind_inputs(struct mp_exec *x, const struct mp_batch *b, const size_t *match,
                                  int64_t *syms, size_t nsyms, struct mp_error *e)
{
	const struct mp_graph *g = x->g;
	size_t ni = mp_graph_ninputs(g);
	enum mp_status st = MP_OK;
	for (size_t i = 0; i < ni && !st; i++) {
		size_t k = match[i];
		const char *name = mp_batch_tensor_name(b, k);
		st = bind_input(x, i, mp_graph_input(g, i), mp_batch_tensor(b, k), mp_batch_tensor_file(b, k),
		                name && name[0] ? name : mp_graph_value(g, (size_t)mp_graph_input(g, i))->name,
		                mp_batch_tensor_type(b, k), syms, nsyms, e);
	}
	return st;
}

/* Weights as they are now; Constant outputs once their node runs. */
static void reset_statics(struct mp_exec *x)
{
	for (size_t i = 0; i < x->nvals; i++)
		if (x->has_prepared[i]) {
			struct xval *v = &x->vals[i];
			v->t = x->prepared[i];
			v->present = mp_graph_value(x->g, i)->kind == MP_VALUE_INITIALIZER;
			v->is_static = true;
			v->iv.info.dtype = v->t.dtype;
			v->iv.info.ndim = v->t.ndim;
			memcpy(v->iv.info.dims, v->t.shape, sizeof v->t.shape);
			v->iv.value = v->present ? &v->t : NULL;
		}
}

/* A batch of a new shape: everything from the start (a new plan for
 * memory, inference, folding, fusion), then the budget. */
static enum mp_status bind_new_shape(struct mp_exec *x, const struct mp_batch *b, const size_t *match,
                                     int64_t *syms, size_t nsyms, struct mp_error *e)
{
	enum mp_status st;
	mp_exec_drop_graph(x);
	x->graph_off = false;
	if (x->mp)
		mp_memplan_reset(x->mp);
	reset_statics(x);
	if ((st = bind_inputs(x, b, match, syms, nsyms, e)) || (st = ensure_plan(x, e)) ||
	    (st = mp_exec_infer_all(x, e)))
		return st;
	mp_exec_narrow_outputs(x);
	mp_exec_plan_fusion(x);
	if ((st = check_budget(x, e)))
		return st;
	x->bound = true;
	x->sig_valid = x->sig != NULL;
	for (size_t i = 0; i < x->nnodes; i++)
		if (x->nodes[i].dynamic) /* shapes that come from running: every batch is new */
			x->sig_valid = false;
	return MP_OK;
}

enum mp_status mp_exec_begin(struct mp_exec *x, const struct mp_batch *b, struct mp_error *e)
{
	const struct mp_graph *g = x->g;
	size_t ni = mp_graph_ninputs(g), nsyms = mp_graph_nsymbols(g);
	size_t *match = calloc(ni + 1, sizeof *match);
	int64_t *syms = calloc(nsyms + 1, sizeof *syms);
	enum mp_status st = MP_OK;

	x->bound = false;
	x->pos = 0;
	x->nentry = 0;
	x->batch = b;
	x->stats.binds++;
	if (!match || !syms) {
		mp_exec_release_values(x, false);
		x->sig_valid = false;
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < nsyms; k++)
		syms[k] = -1;
	if ((st = mp_batch_match(b, g, match, e))) {
		mp_exec_release_values(x, false);
		x->sig_valid = false;
		goto out;
	}
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	bool same = signature(b, match, ni, &sig, &sig_len) && x->sig_valid && sig_len == x->sig_len &&
	            !memcmp(sig, x->sig, sig_len);
	mp_exec_release_values(x, same);
	if (same) { /* shaped as the last batch: its inference and folding stand */
		free(sig);
		if ((st = bind_inputs(x, b, match, syms, nsyms, e))) {
			x->sig_valid = false;
			goto out;
		}
		x->stats.fast_binds++;
		x->bound = true;
		goto out;
	}
	x->sig_valid = false;
	free(x->sig);
	x->sig = sig;
	x->sig_len = sig_len;
	st = bind_new_shape(x, b, match, syms, nsyms, e);
out:
	free(match);
	free(syms);
	return st;
}
