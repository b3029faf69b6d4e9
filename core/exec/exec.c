/* exec.c - the executor's life (made, freed, values dropped between
 * batches) and what it tells about the bound batch: values, decisions,
 * conversion events, statistics. */
#include "exec_internal.h"

#include <unistd.h>

enum mp_status mp_exec_node_error(const struct mp_node *n, struct mp_error *e)
{
	return mp_error_prefix(e, "node '%s' (%s): ", n->name, n->op_type);
}

/* An aligned host copy of t when t's bytes are misaligned for its dtype. */
static enum mp_status prepare_const(const struct mp_tensor *src, struct mp_tensor *dst,
                                    struct mp_error *e)
{
	size_t es = mp_dtype_size(src->dtype);
	*dst = *src;
	dst->buf = NULL;
	if (!src->data || !es || (uintptr_t)src->data % es == 0)
		return MP_OK;
	struct mp_buffer *b;
	size_t nb = mp_tensor_nbytes(src);
	enum mp_status st = mp_buffer_new_host(nb, false, &b, e);
	if (st)
		return st;
	memcpy(b->data, src->data, nb);
	dst->data = b->data;
	dst->buf = b;
	return MP_OK;
}

/* A value goes after its last reader; outputs, and what an observer
 * reads after the run, stay. */
void mp_exec_liveness(struct mp_exec *x)
{
	for (size_t i = 0; i < x->nvals; i++) {
		const struct mp_value *v = mp_graph_value(x->g, i);
		x->vals[i].last_use = v->nconsumers ? v->consumers[v->nconsumers - 1] :
		                      v->producer >= 0 ? v->producer : INT32_MAX;
		if (v->is_output || x->opt.keep_values || v->kind != MP_VALUE_NODE ||
		    (x->obs.keeps && x->obs.keeps(x->obs.user, (int32_t)i)))
			x->vals[i].last_use = INT32_MAX;
		x->vals[i].last_use = mp_exec_observed_until(x, (int32_t)i, x->vals[i].last_use);
		x->vals[i].last_run = x->vals[i].last_use;
	}
}

/* The later of `last` and the node after which the observer has read
 * value v: the end of its producer's window. */
int32_t mp_exec_observed_until(const struct mp_exec *x, int32_t v, int32_t last)
{
	const struct mp_value *val = mp_graph_value(x->g, (size_t)v);
	int w = x->obs.window;
	if (w <= 1 || !x->obs.flush || val->producer < 0 || !mp_exec_watched(x, v))
		return last;
	int64_t end = ((int64_t)val->producer / w + 1) * w - 1;
	if (end > (int64_t)x->nnodes - 1)
		end = (int64_t)x->nnodes - 1;
	return (int32_t)end > last ? (int32_t)end : last;
}

/* Whether node i ends an observer's window. */
bool mp_exec_window_ends(const struct mp_exec *x, size_t i)
{
	int w = x->obs.window;
	return x->obs.flush && (w <= 1 || (i + 1) % (size_t)w == 0 || i + 1 == x->nnodes);
}

bool mp_exec_is_view(const struct mp_node *n)
{
	return mp_op_info(n->op)->family == MP_FAMILY_view;
}

enum mp_status mp_exec_new(const struct mp_graph *g, struct mp_backend *be, struct mp_backend *host,
                           const struct mp_exec_options *opt, struct mp_exec **out,
                           struct mp_error *e)
{
	struct mp_exec *x = calloc(1, sizeof *x);
	enum mp_status st = MP_OK;
	char missing[MP_ERROR_MSG_MAX / 2] = "";
	size_t nmissing = 0, pm = 0;

	*out = NULL;
	if (!x)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	x->g = g;
	x->be = be;
	x->host = host;
	if (opt)
		x->opt = *opt;
	if (!x->opt.max_tensor_bytes) {
		long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
		x->opt.max_tensor_bytes = pages > 0 && psize > 0 ? (size_t)pages * (size_t)psize : SIZE_MAX;
	}
	if (!x->opt.max_memory)
		x->opt.max_memory = MP_EXEC_MAX_MEMORY;
	x->nvals = mp_graph_nvalues(g);
	x->nnodes = mp_graph_nnodes(g);
	x->maxio = 1;
	/* every node must be runnable before anything runs */
	for (size_t i = 0; i < x->nnodes; i++) {
		const struct mp_node *n = mp_graph_node(g, i);
		if (n->ninputs > x->maxio) x->maxio = n->ninputs;
		if (n->noutputs > x->maxio) x->maxio = n->noutputs;
		bool ok = n->params && (mp_exec_is_view(n) || n->op == MP_OP_CONSTANT ||
		                        mp_backend_op(mp_op_has(n->op, MP_OPF_HOST_ONLY) ? host : be, n->op));
		if (ok)
			continue;
		if (nmissing++ < 4 && pm < sizeof missing)
			pm += (size_t)snprintf(missing + pm, sizeof missing - pm, "%snode '%s' (%s): %s",
			                       nmissing > 1 ? "; " : "", n->name, n->op_type,
			                       n->unsupported ? n->unsupported :
			                       "the backend has no kernel for it");
	}
	if (nmissing) {
		mp_exec_free(x);
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "cannot run %zu node%s on %s: %s%s", nmissing,
		                    nmissing > 1 ? "s" : "", be->iface->name, missing, nmissing > 4 ? "; ..." : "");
	}
	x->vals = calloc(x->nvals ? x->nvals : 1, sizeof *x->vals);
	x->nodes = calloc(x->nnodes ? x->nnodes : 1, sizeof *x->nodes);
	x->prepared = calloc(x->nvals ? x->nvals : 1, sizeof *x->prepared);
	x->has_prepared = calloc(x->nvals ? x->nvals : 1, sizeof *x->has_prepared);
	x->entry = calloc(mp_graph_ninputs(g) + 1, sizeof *x->entry);
	x->in_dtypes = calloc(mp_graph_ninputs(g) + 1, sizeof *x->in_dtypes);
	x->tmp = calloc(2 * (size_t)x->maxio, sizeof *x->tmp);
	x->iadj = calloc((size_t)x->maxio, sizeof *x->iadj);
	x->ins = calloc((size_t)x->maxio, sizeof *x->ins);
	x->outs = calloc((size_t)x->maxio, sizeof *x->outs);
	x->iins = calloc((size_t)x->maxio, sizeof *x->iins);
	x->iouts = calloc((size_t)x->maxio, sizeof *x->iouts);
	x->inbuf = calloc(mp_graph_ninputs(g) + 1, sizeof *x->inbuf);
	if (!x->opt.no_memplan && (st = mp_memplan_new(be, &x->mp, e))) {
		mp_exec_free(x);
		return st;
	}
	if (!x->vals || !x->nodes || !x->prepared || !x->has_prepared || !x->entry || !x->in_dtypes ||
	    !x->tmp || !x->iadj || !x->ins || !x->outs || !x->iins || !x->iouts || !x->inbuf) {
		mp_exec_free(x);
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < x->nnodes; i++) {
		const struct mp_node *n = mp_graph_node(g, i);
		x->nodes[i].params = malloc(n->params_size ? n->params_size : 1);
		if (!x->nodes[i].params) {
			mp_exec_free(x);
			return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		}
	}
	mp_exec_liveness(x);
	for (size_t i = 0; i < x->nnodes; i++)
		x->nodes[i].group = -1;
	/* weights and constants, made ready once */
	for (size_t i = 0; i < mp_graph_ninitializers(g) && !st; i++) {
		int32_t id = mp_graph_initializer(g, i);
		const struct mp_value *v = mp_graph_value(g, (size_t)id);
		if (mp_dtype_computable(v->data->dtype)) {
			st = prepare_const(v->data, &x->prepared[id], e);
			x->has_prepared[id] = true;
		}
	}
	for (size_t i = 0; i < x->nnodes && !st; i++) {
		const struct mp_node *n = mp_graph_node(g, i);
		if (n->op == MP_OP_CONSTANT && n->outputs[0] >= 0) {
			const struct mp_fill_params *fp = n->params;
			st = prepare_const(&fp->value, &x->prepared[n->outputs[0]], e);
			x->has_prepared[n->outputs[0]] = true;
		}
	}
	if (st) {
		mp_exec_free(x);
		return st;
	}
	*out = x;
	return MP_OK;
}

/* Drops staged copies: those of folded values, or all. */
static void drop_copies(struct mp_exec *x, bool all)
{
	size_t keep = 0;
	for (size_t i = 0; i < x->ncopies; i++) {
		struct xcopy *c = x->copies[i];
		if (!all && c->persistent) {
			x->copies[keep++] = c;
			continue;
		}
		mp_tensor_reset(&c->t);
		free(c);
	}
	x->ncopies = keep;
}

/* Frees the bound batch's values; with keep_shapes (a batch shaped as the
 * last), what inference and folding made stays: static values and every
 * value's shape. */
void mp_exec_release_values(struct mp_exec *x, bool keep_shapes)
{
	if (!keep_shapes)
		drop_copies(x, false);
	for (size_t i = 0; i < x->nvals; i++) {
		struct xval *v = &x->vals[i];
		if (keep_shapes && v->is_static)
			continue;
		/* also outputs allocated for a node that then failed (prepared is
		 * NULL when mp_exec_new ran out of memory before it) */
		if (!x->prepared || v->t.buf != x->prepared[i].buf)
			mp_tensor_reset(&v->t);
		mp_tensor_reset(&v->host);
		if (keep_shapes) {
			memset(&v->t, 0, sizeof v->t);
			v->present = false;
			continue;
		}
		/* everything but last_use, which is the graph's, not the batch's */
		memset(v, 0, offsetof(struct xval, last_use));
		v->iv.nsym = -1;
	}
}

void mp_exec_drop_groups(struct mp_exec *x)
{
	for (size_t i = 0; i < x->ngroups; i++)
		free(x->groups[i].members);
	free(x->groups);
	x->groups = NULL;
	x->ngroups = 0;
	for (size_t i = 0; x->nodes && i < x->nnodes; i++)
		x->nodes[i].group = -1;
	for (size_t i = 0; x->vals && i < x->nvals; i++)
		x->vals[i].last_run = x->vals[i].last_use;
	x->stats.fused_groups = x->stats.fused_nodes = x->stats.attention_groups = x->stats.attention_nodes = 0;
}

void mp_exec_drop_graph(struct mp_exec *x)
{
	if (x->graph)
		x->be->iface->graph_free(x->be->ctx, x->graph);
	x->graph = NULL;
	free(x->finals);
	x->finals = NULL;
	x->nfinals = 0;
}

void mp_exec_free(struct mp_exec *x)
{
	if (!x)
		return;
	if (x->vals)
		mp_exec_release_values(x, false);
	mp_exec_drop_graph(x);
	mp_exec_drop_groups(x);
	mp_memplan_free(x->mp);
	for (size_t i = 0; x->inbuf && i < mp_graph_ninputs(x->g); i++)
		mp_buffer_release(x->inbuf[i]);
	free(x->inbuf);
	free(x->sig);
	drop_copies(x, true);
	free(x->copies);
	mp_plan_free(x->plan);
	free(x->in_dtypes);
	free(x->entry);
	free(x->ev_err);
	free(x->tmp);
	free(x->iadj);
	free(x->watched);
	for (size_t i = 0; x->prepared && i < x->nvals; i++)
		mp_tensor_reset(&x->prepared[i]);
	for (size_t i = 0; x->nodes && i < x->nnodes; i++)
		free(x->nodes[i].params);
	free(x->vals);
	free(x->nodes);
	free(x->prepared);
	free(x->has_prepared);
	free(x->ins);
	free(x->outs);
	free(x->iins);
	free(x->iouts);
	free(x);
}

void mp_exec_set_hook(struct mp_exec *x, mp_exec_hook hook, void *user)
{
	/* whether values may be narrowed is settled at binding: the next batch
	 * binds afresh */
	if (!hook != !x->hook)
		x->sig_valid = false;
	x->hook = hook;
	x->hook_user = user;
}

void mp_exec_set_observer(struct mp_exec *x, const struct mp_exec_observer *o)
{
	/* what may be fused, narrowed or freed is settled at binding: the next
	 * batch binds afresh */
	x->sig_valid = false;
	memset(&x->obs, 0, sizeof x->obs);
	free(x->watched);
	x->watched = NULL;
	if (o && o->ran) {
		x->obs = *o;
		x->watched = calloc(x->nvals + 1, sizeof *x->watched);
		for (size_t i = 0; x->watched && i < x->nvals; i++)
			x->watched[i] = !o->watches || o->watches(o->user, (int32_t)i);
	}
	mp_exec_liveness(x);
}

/* Whether value v must reach memory and keep its dtype: a hook or an
 * observer reads it between nodes. */
bool mp_exec_watched(const struct mp_exec *x, int32_t v)
{
	return x->hook || (x->obs.ran && (!x->watched || x->watched[v]));
}

const struct mp_node_decision *mp_exec_decision_at(const struct mp_exec *x, size_t i)
{
	return x->plan ? mp_plan_decision(x->plan, i) : NULL;
}

/* The dtype inference sees a slot in: the one the plan reads it in (a
 * blocked node's float inputs as its dtype, so that what follows is planned
 * as if it ran). */
enum mp_dtype mp_exec_slot_dtype(const struct mp_node_decision *d, int k, enum mp_dtype have)
{
	if (!d)
		return have;
	if (d->slots[k].want)
		return d->slots[k].want;
	if (d->blocked && d->exec && mp_dtype_is_float(have))
		return d->exec;
	if (d->slots[k].via)
		return d->slots[k].via;
	return have;
}

void mp_exec_get_stats(const struct mp_exec *x, struct mp_exec_stats *out)
{
	*out = x->stats;
	out->arena_bytes = x->mp ? mp_memplan_arena_bytes(x->mp) : 0;
	out->unplanned_bytes = x->mp ? mp_memplan_total_bytes(x->mp) : 0;
	if (!x->be->iface->graph_begin && !out->graph_note[0])
		snprintf(out->graph_note, sizeof out->graph_note, "the %s backend has no graphs", x->be->iface->name);
	else if (x->opt.no_graphs && !out->graph_note[0])
		snprintf(out->graph_note, sizeof out->graph_note, "graphs are off");
}

size_t mp_exec_position(const struct mp_exec *x) { return x->pos; }
bool mp_exec_done(const struct mp_exec *x) { return x->bound && x->pos >= x->nnodes; }
const struct mp_graph *mp_exec_graph(const struct mp_exec *x) { return x->g; }
bool mp_exec_node_folded(const struct mp_exec *x, size_t i) { return x->nodes[i].folded; }

const struct mp_tensor *mp_exec_value(const struct mp_exec *x, int32_t value)
{
	if (value < 0 || (size_t)value >= x->nvals || !x->vals[value].present)
		return NULL;
	return &x->vals[value].t;
}

const struct mp_value_info *mp_exec_value_info(const struct mp_exec *x, int32_t value)
{
	if (value < 0 || (size_t)value >= x->nvals)
		return NULL;
	return &x->vals[value].iv.info;
}

enum mp_status mp_exec_fetch(struct mp_exec *x, int32_t value, struct mp_tensor *host,
                             struct mp_error *e)
{
	const struct mp_tensor *t = mp_exec_value(x, value);
	if (!t)
		return mp_error_set(e, MP_ERR_USAGE, "value '%s' is not computed",
		                    value >= 0 && (size_t)value < x->nvals ?
		                    mp_graph_value(x->g, (size_t)value)->name : "?");
	/* shared where nothing will write it; a value in the planned arena is
	 * overwritten by the next run, so it is copied */
	if (t->device == MP_DEVICE_CPU && !(x->mp && mp_memplan_owns(x->mp, t->buf))) {
		mp_tensor_share(host, t);
		return MP_OK;
	}
	struct mp_buffer *b;
	enum mp_status st = mp_buffer_new_host(mp_tensor_nbytes(t), false, &b, e);
	if (st)
		return st;
	if (t->device == MP_DEVICE_CPU)
		memcpy(b->data, t->data, mp_tensor_nbytes(t));
	else if ((st = x->be->iface->to_host(x->be->ctx, t, b->data, e))) {
		mp_buffer_release(b);
		return st;
	}
	mp_tensor_init(host, t->dtype, t->ndim, t->shape);
	host->data = b->data;
	host->buf = b;
	host->device = MP_DEVICE_CPU;
	return MP_OK;
}

bool mp_exec_node_has_kernel(const struct mp_exec *x, size_t i)
{
	const struct mp_node *n = mp_graph_node(x->g, i);
	return !(n->op == MP_OP_CONSTANT || (mp_exec_is_view(n) && n->op != MP_OP_DROPOUT));
}

const struct mp_plan *mp_exec_plan(const struct mp_exec *x) { return x->plan; }

const struct mp_node_decision *mp_exec_decision(const struct mp_exec *x, size_t i)
{
	return i < x->nnodes ? mp_exec_decision_at(x, i) : NULL;
}

size_t mp_exec_nevents(const struct mp_exec *x)
{
	return x->nentry + (x->plan ? mp_plan_nevents(x->plan) : 0);
}

void mp_exec_event(const struct mp_exec *x, size_t i, struct mp_dtype_event *out)
{
	if (i < x->nentry) {
		*out = x->entry[i];
		return;
	}
	i -= x->nentry;
	*out = *mp_plan_event(x->plan, i);
	out->max_abs = x->ev_err[i][0];
	out->max_rel = x->ev_err[i][1];
}
