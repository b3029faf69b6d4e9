/* exec.c - the executor.
 *
 * Per batch: bind inputs, infer every node with the actual shapes (the
 * per-op inference of ops.h, now over known dims), fold what depends only on
 * constants and shapes, then run node by node, freeing each value after its
 * last reader.  Views (Reshape, Squeeze, ...) alias their input's buffer.
 * Under a policy, each input slot is staged before the kernel reads it:
 * converted to the dtype the plan wants and moved to the backend's device,
 * from a cache for weights and folded values, into a temporary otherwise.
 */
#include "exec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuse.h"
#include "memplan.h"
#include "ops.h"

/* Shape computations up to this many elements are folded at bind time. */
enum { FOLD_MAX_ELEMS = 1 << 16 };
/* Integer inputs up to this many elements are part of a batch's signature
 * (inference may read them); a larger one makes every batch new. */
enum { SIG_MAX_INT_ELEMS = 4096 };

struct xval {
	struct mp_tensor t;
	struct mp_tensor host; /* a graph input on a GPU run: the batch's bytes, for inference */
	bool present;
	bool is_static;     /* an initializer, a Constant, or folded: known before running */
	struct mp_infer_val iv;
	int32_t last_use;   /* node after which the value may go; INT32_MAX: never */
	int32_t last_run;   /* the same for this binding: a fused group's readers read at its root */
};

struct xnode {
	void *params;       /* resolved for the bound batch */
	bool folded, dynamic;
	int32_t group;      /* the fused group the node is in (run at its root), or -1 */
};

/* A fused group: elementwise nodes run as one kernel at the root, the last
 * of them.  Inputs are the values its members read from outside it. */
struct xgroup {
	size_t root;
	size_t *members;    /* in node order, the root last */
	int nmembers;
	int nin;
	int32_t in_value[MP_FUSED_MAX_IN];
	enum mp_dtype in_via[MP_FUSED_MAX_IN], in_want[MP_FUSED_MAX_IN]; /* a static input's staged copy */
	struct mp_fused_call call; /* the steps; tensors filled at each run */
	bool attn;          /* an attention group (acall) rather than elementwise (call) */
	struct mp_attn_call acall; /* its dims, strides, scalings; tensors filled at each run */
	int32_t attn_in[3]; /* the values it reads: q, k, v */
	bool off;           /* the backend could not: the members run one by one */
};

/* A static value (weight, constant, folded) staged in another dtype or on
 * another device.  Copies of weights and constants live as long as the
 * executor; copies of folded values, until the next batch. */
struct xcopy {
	int32_t value;
	enum mp_dtype via, dtype;
	enum mp_device device;
	bool persistent;
	struct mp_tensor t;
	double max_abs, max_rel; /* what converting cost */
};

/* A value a replayed graph leaves behind (an output): where it lives. */
struct xfinal {
	int32_t value;
	struct mp_tensor t; /* no buffer of its own: a block of the arena is made at replay */
	size_t bytes;
};

struct mp_exec {
	const struct mp_graph *g;
	struct mp_backend *be, *host;
	struct mp_exec_options opt;
	struct xval *vals;
	struct xnode *nodes;
	struct mp_tensor *prepared; /* per value: initializer / Constant data ready to use */
	bool *has_prepared;
	size_t nvals, nnodes, pos;
	bool bound;
	mp_exec_hook hook;
	void *hook_user;
	struct mp_plan *plan;       /* under a policy: for the dtypes the inputs arrived in */
	enum mp_dtype *in_dtypes;
	const struct mp_batch *batch;
	struct mp_dtype_event *entry; /* this batch's conversions on entry */
	size_t nentry;
	double (*ev_err)[2];        /* per plan event: the rounding error measured, NaN until then */
	struct xcopy **copies;
	size_t ncopies, capcopies;
	struct mp_tensor *tmp;      /* two per input slot: moved, then cast */
	struct mp_infer_val *iadj;  /* per input slot: the dtype the node reads it in */
	const struct mp_tensor **ins;
	struct mp_tensor **outs;
	const struct mp_infer_val **iins;
	struct mp_infer_val **iouts;
	int maxio;
	/* A batch shaped as the last (the same signature: input dtypes, shapes,
	 * small integer contents) skips inference and folding, runs in the
	 * planned arena, and from its third run on replays a captured graph. */
	unsigned char *sig;
	size_t sig_len;
	bool sig_valid;
	struct mp_buffer **inbuf;   /* per graph input: its device buffer, kept for the next batch */
	struct mp_memplan *mp;
	void *graph;                /* the captured run (backend graphs), or NULL */
	bool graph_off;             /* this signature does not capture */
	struct xfinal *finals;
	size_t nfinals;
	struct xgroup *groups;
	size_t ngroups;
	struct mp_exec_stats stats;
};

static enum mp_status node_error(const struct mp_node *n, struct mp_error *e)
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

static bool is_view(const struct mp_node *n)
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
		bool ok = n->params && (is_view(n) || n->op == MP_OP_CONSTANT ||
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
	/* liveness: a value goes after its last reader; outputs stay */
	for (size_t i = 0; i < x->nvals; i++) {
		const struct mp_value *v = mp_graph_value(g, i);
		x->vals[i].last_use = v->nconsumers ? v->consumers[v->nconsumers - 1] :
		                      v->producer >= 0 ? v->producer : INT32_MAX;
		if (v->is_output || x->opt.keep_values || v->kind != MP_VALUE_NODE)
			x->vals[i].last_use = INT32_MAX;
		x->vals[i].last_run = x->vals[i].last_use;
	}
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
static void release_values(struct mp_exec *x, bool keep_shapes)
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

static void drop_groups(struct mp_exec *x)
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

static void drop_graph(struct mp_exec *x)
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
		release_values(x, false);
	drop_graph(x);
	drop_groups(x);
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

/* ---- binding ---- */

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


/* ---- the plan ---- */

/* Files the rounding error of a static value's conversion under the plan
 * events that describe it. */
static void note_error(struct mp_exec *x, const struct xcopy *c, enum mp_dtype from)
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
			note_error(x, c, c->via ? c->via : mp_graph_value(g, (size_t)c->value)->info.dtype);
	}
	return MP_OK;
}

static const struct mp_node_decision *decision(const struct mp_exec *x, size_t i)
{
	return x->plan ? mp_plan_decision(x->plan, i) : NULL;
}

/* The dtype inference sees a slot in: the one the plan reads it in (a
 * blocked node's float inputs as its dtype, so that what follows is planned
 * as if it ran). */
static enum mp_dtype slot_dtype(const struct mp_node_decision *d, int k, enum mp_dtype have)
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

/* Points x->iins at what node i reads, in the dtypes the plan gives, and
 * resolves its parameters (a graph Cast's target after the policy). */
static void infer_inputs(struct mp_exec *x, size_t i)
{
	const struct mp_node *n = mp_graph_node(x->g, i);
	const struct mp_node_decision *d = decision(x, i);
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
		enum mp_dtype t = slot_dtype(d, k, v->info.dtype);
		x->iins[k] = v;
		if (t != v->info.dtype) {
			x->iadj[k] = *v;
			x->iadj[k].info.dtype = t;
			x->iadj[k].value = NULL; /* a float value as another dtype: not readable as is */
			x->iins[k] = &x->iadj[k];
		}
	}
}

static enum mp_status run_node(struct mp_exec *x, size_t i, struct mp_backend *be, bool folding,
                               struct mp_error *e);

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

/* An f32 value that every reader casts to the same bf16 or f16 (a
 * LayerNorm before autocast's matmuls, a softmax before one) is written in
 * that type by its node, where the backend allows: the cast's pass over
 * memory saved, the bits the same.  Not where anyone looks between nodes
 * (a hook, kept values) or the run is to be literal. */
static void narrow_outputs(struct mp_exec *x)
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
		if (v->is_output || !v->nconsumers || xv->iv.info.dtype != MP_F32)
			continue;
		enum mp_dtype to = MP_DTYPE_UNDEFINED;
		bool ok = true;
		for (int c = 0; ok && c < v->nconsumers; c++) {
			const struct mp_node *r = mp_graph_node(x->g, (size_t)v->consumers[c]);
			const struct mp_node_decision *d = decision(x, (size_t)v->consumers[c]);
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

/* ---- fusion ---- */

static bool storage_float(enum mp_dtype t)
{
	return t == MP_F32 || t == MP_BF16 || t == MP_F16;
}

/* The dtype the kernel of node i reads slot k in, and the copy a static
 * value is staged as (stage_input's rule). */
static enum mp_dtype slot_want(const struct mp_exec *x, size_t i, int k, enum mp_dtype *via)
{
	const struct mp_node *n = mp_graph_node(x->g, i);
	const struct mp_node_decision *d = decision(x, i);
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
	const struct mp_node_decision *d = decision(x, i);
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

static enum mp_status static_copy(struct mp_exec *x, int32_t id, enum mp_dtype via, enum mp_dtype dtype,
                                  struct mp_backend *be, const struct mp_tensor **out, struct mp_error *e);

/* A scaling node's scalar, as the node reads it, and which slot is the
 * tensor; false unless one side is a one-element static value. */
static bool scalar_of(struct mp_exec *x, int32_t node, float *scale, int *slot)
{
	const struct mp_node *n = mp_graph_node(x->g, (size_t)node);
	const struct xnode *xn = &x->nodes[node];
	struct mp_error e = { 0 };
	if (xn->folded || xn->dynamic || (decision(x, (size_t)node) && decision(x, (size_t)node)->blocked) ||
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
		if (static_copy(x, id, via, want, x->host, &t, &e)) {
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
static bool build_attention(struct mp_exec *x, const struct mp_attn_match *m, struct xgroup *gr)
{
	struct mp_attn_call *c = &gr->acall;
	const struct mp_graph *g = x->g;
	const struct mp_node *n1 = mp_graph_node(g, (size_t)m->mm1), *n2 = mp_graph_node(g, (size_t)m->mm2);
	const struct mp_node *sm = mp_graph_node(g, (size_t)m->softmax);
	int32_t ids[] = { m->q_tr, m->k_tr, m->v_tr, m->q_scale, m->k_scale, m->mm1, m->s_scale, m->softmax,
	                  m->mm2, m->o_tr };
	enum mp_dtype via;
	memset(gr, 0, sizeof *gr);
	memset(c, 0, sizeof *c);
	for (size_t j = 0; j < sizeof ids / sizeof ids[0]; j++) {
		const struct mp_node_decision *d = ids[j] >= 0 ? decision(x, (size_t)ids[j]) : NULL;
		if (ids[j] >= 0 && (x->nodes[ids[j]].folded || x->nodes[ids[j]].dynamic || (d && d->blocked)))
			return false;
	}
	/* the GEMMs' operands: one low type, no casts on the way */
	c->mm = slot_want(x, (size_t)m->mm1, 0, &via);
	if ((c->mm != MP_BF16 && c->mm != MP_F16) || slot_want(x, (size_t)m->mm1, 1, &via) != c->mm ||
	    slot_want(x, (size_t)m->mm2, 1, &via) != c->mm || slot_want(x, (size_t)m->mm2, 0, &via) != c->mm)
		return false;
	int32_t in_of[3][3] = { { m->q, m->q_tr, m->q_scale }, { m->k, m->k_tr, m->k_scale }, { m->v, m->v_tr, -1 } };
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
	/* Softmax over the last axis, reading the scores as they are */
	const struct mp_softmax_params *sp = x->nodes[m->softmax].params;
	const struct mp_value_info *si = &x->vals[sm->inputs[0]].iv.info;
	if (sm->op != MP_OP_SOFTMAX || sp->axis_resolved != si->ndim - 1 || !reads_exact(x, (size_t)m->softmax, 0))
		return false;
	c->p_dt = x->vals[sm->outputs[0]].iv.info.dtype;
	if (c->p_dt != MP_F32 && c->p_dt != c->mm)
		return false;
	/* dims: q [.., t, d], k^T [.., d, s], v [.., s, dv], o [.., t, dv], the
	 * same batch dims everywhere */
	const struct mp_value_info *oi = &x->vals[n2->outputs[0]].iv.info;
	const struct mp_value_info *ai = &x->vals[n1->inputs[0]].iv.info, *bi = &x->vals[n1->inputs[1]].iv.info;
	const struct mp_value_info *vi = &x->vals[n2->inputs[1]].iv.info;
	int nd = oi->ndim;
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
	if (m->o_tr >= 0 && (!reads_exact(x, (size_t)m->o_tr, 0) ||
	                     x->vals[mp_graph_node(g, (size_t)m->o_tr)->outputs[0]].iv.info.dtype != od))
		return false;
	/* strides: batch, head, row; the last dim contiguous */
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
	/* whether the backend takes these shapes (its answer for the tensors
	 * themselves comes at each run): a group it declines would only keep
	 * its values alive longer */
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
	if (!takes)
		return false;
	/* the members, in node order (the root last) */
	int32_t mem[10];
	int nm = 0;
	for (size_t j = 0; j < sizeof ids / sizeof ids[0]; j++)
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
	gr->root = m->root;
	gr->attn = true;
	gr->attn_in[0] = m->q;
	gr->attn_in[1] = m->k;
	gr->attn_in[2] = m->v;
	return true;
}

/* Groups of elementwise nodes that run as one kernel, where the backend
 * has fused kernels and nobody looks between nodes; the values between
 * members never reach memory, and the lifetimes of what they read end at
 * the root. */
static void plan_fusion(struct mp_exec *x)
{
	drop_groups(x);
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
		keep[v] = x->vals[v].last_use == INT32_MAX;
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
		xv->last_run = last;
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
static enum mp_status over_limit(const struct mp_exec *x, const char *what, size_t nb, struct mp_error *e)
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
			if (is_view(n) && n->ninputs > 0 && n->inputs[0] >= 0) {
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
				st = over_limit(x, what, nb, e);
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
		release_values(x, false);
		x->sig_valid = false;
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < nsyms; k++)
		syms[k] = -1;
	if ((st = mp_batch_match(b, g, match, e))) {
		release_values(x, false);
		x->sig_valid = false;
		goto out;
	}
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	bool same = signature(b, match, ni, &sig, &sig_len) && x->sig_valid && sig_len == x->sig_len &&
	            !memcmp(sig, x->sig, sig_len);
	release_values(x, same);
	if (same) { /* shaped as the last batch: its inference and folding stand */
		free(sig);
		for (size_t i = 0; i < ni && !st; i++) {
			size_t k = match[i];
			const char *name = mp_batch_tensor_name(b, k);
			st = bind_input(x, i, mp_graph_input(g, i), mp_batch_tensor(b, k), mp_batch_tensor_file(b, k),
			                name && name[0] ? name : mp_graph_value(g, (size_t)mp_graph_input(g, i))->name,
			                mp_batch_tensor_type(b, k), syms, nsyms, e);
		}
		if (st) {
			x->sig_valid = false;
			goto out;
		}
		x->stats.fast_binds++;
		x->bound = true;
		goto out;
	}
	/* a new shape: everything from the start, and a new plan for memory */
	x->sig_valid = false;
	free(x->sig);
	x->sig = sig;
	x->sig_len = sig_len;
	drop_graph(x);
	x->graph_off = false;
	if (x->mp)
		mp_memplan_reset(x->mp);
	for (size_t i = 0; i < x->nvals; i++)
		if (x->has_prepared[i]) { /* weights now, Constant outputs once their node runs */
			struct xval *v = &x->vals[i];
			v->t = x->prepared[i];
			v->present = mp_graph_value(g, i)->kind == MP_VALUE_INITIALIZER;
			v->is_static = true;
			v->iv.info.dtype = v->t.dtype;
			v->iv.info.ndim = v->t.ndim;
			memcpy(v->iv.info.dims, v->t.shape, sizeof v->t.shape);
			v->iv.value = v->present ? &v->t : NULL;
		}
	for (size_t i = 0; i < ni; i++) {
		size_t k = match[i];
		const char *name = mp_batch_tensor_name(b, k);
		st = bind_input(x, i, mp_graph_input(g, i), mp_batch_tensor(b, k), mp_batch_tensor_file(b, k),
		                name && name[0] ? name : mp_graph_value(g, (size_t)mp_graph_input(g, i))->name,
		                mp_batch_tensor_type(b, k), syms, nsyms, e);
		if (st)
			goto out;
	}
	if ((st = ensure_plan(x, e)))
		goto out;
	/* every node, with this batch's shapes, before anything runs */
	for (size_t i = 0; i < x->nnodes; i++) {
		const struct mp_node *n = mp_graph_node(g, i);
		struct xnode *xn = &x->nodes[i];
		struct mp_infer c = { .node = n, .ninputs = n->ninputs, .noutputs = n->noutputs,
		                      .in = x->iins, .out = x->iouts, .params = xn->params, .e = e };
		bool inputs_static = true;
		xn->folded = xn->dynamic = false;
		infer_inputs(x, i);
		for (int k = 0; k < n->ninputs; k++)
			if (n->inputs[k] >= 0 && !x->vals[n->inputs[k]].is_static)
				inputs_static = false;
		for (int k = 0; k < n->noutputs; k++) {
			int32_t id = n->outputs[k];
			x->iouts[k] = id >= 0 ? &x->vals[id].iv : NULL;
			if (id >= 0) {
				memset(&x->vals[id].iv, 0, sizeof x->vals[id].iv);
				x->vals[id].iv.nsym = -1;
			}
		}
		if ((st = mp_ops_infer(&c))) {
			node_error(n, e);
			goto out;
		}
		/* inputs whose shapes come only from running make the node dynamic:
		 * it is inferred again, with the real shapes, when it runs */
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
		bool shape_only = mp_op_has(n->op, MP_OPF_HOST_ONLY) && !xn->dynamic &&
		                  x->iins[0] && x->iins[0]->info.ndim >= 0;
		if (!xn->dynamic && (shape_only || n->op == MP_OP_CONSTANT ||
		                     (inputs_static && small_outputs(x, n)))) {
			if ((st = run_node(x, i, x->host, true, e)))
				goto out;
			xn->folded = true;
			for (int k = 0; k < n->noutputs; k++)
				if (n->outputs[k] >= 0) {
					struct xval *v = &x->vals[n->outputs[k]];
					v->is_static = true;
					v->iv.value = &v->t;
				}
		}
	}
	narrow_outputs(x);
	plan_fusion(x);
	if ((st = check_budget(x, e)))
		goto out;
	x->bound = true;
	x->sig_valid = x->sig != NULL;
	for (size_t i = 0; i < x->nnodes; i++)
		if (x->nodes[i].dynamic) /* shapes that come from running: every batch is new */
			x->sig_valid = false;
out:
	free(match);
	free(syms);
	return st;
}

/* ---- running ---- */

/* A buffer for this run on be: from the planner when be is the executor's
 * backend (recorded or planned), else plain. */
static enum mp_status xalloc(struct mp_exec *x, struct mp_backend *be, size_t nb, struct mp_buffer **out,
                             struct mp_error *e)
{
	if (be == x->be && x->mp)
		return mp_memplan_alloc(x->mp, nb, out, e);
	return be->iface->alloc(be->ctx, nb, out, e);
}

static enum mp_status alloc_output(struct mp_exec *x, struct mp_backend *be, const struct mp_node *n,
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
		return over_limit(x, what, nb, e);
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
static enum mp_status reinfer(struct mp_exec *x, size_t i, struct mp_error *e)
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
		infer_inputs(x, i);
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

/* ---- staging: each input as the plan reads it, where the kernel runs ---- */

static bool persistent_value(const struct mp_graph *g, int32_t id)
{
	const struct mp_value *v = mp_graph_value(g, (size_t)id);
	return v->kind == MP_VALUE_INITIALIZER ||
	       (v->producer >= 0 && mp_graph_node(g, (size_t)v->producer)->op == MP_OP_CONSTANT);
}

/* A tensor shaped like `like` on be: for this run (transient), or kept. */
static enum mp_status new_tensor_on(struct mp_exec *x, struct mp_backend *be, enum mp_dtype dtype,
                                    const struct mp_tensor *like, bool transient, struct mp_tensor *t,
                                    struct mp_error *e)
{
	struct mp_buffer *buf;
	size_t nb;
	enum mp_status st = mp_shape_nbytes(like->ndim, like->shape, dtype, &nb, e);
	if (st)
		return st;
	if (nb > x->opt.max_tensor_bytes || nb > x->opt.max_memory)
		return over_limit(x, "a copy", nb, e);
	if ((st = transient ? xalloc(x, be, nb, &buf, e) : be->iface->alloc(be->ctx, nb, &buf, e)))
		return st;
	mp_tensor_init(t, dtype, like->ndim, like->shape);
	t->data = buf->data;
	t->buf = buf;
	t->device = buf->device;
	return MP_OK;
}

/* A new tensor on be holding src cast to `to`, by be's own Cast kernel. */
static enum mp_status cast_on(struct mp_exec *x, struct mp_backend *be, const struct mp_tensor *src,
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
	if ((st = new_tensor_on(x, be, to, src, true, out, e)))
		return st;
	return fn(be->ctx, &call, e);
}

/* A static value (weight, constant, folded) read as `dtype` after first
 * becoming `via` (a pure policy's weight conversion), on be's device: made
 * once on the host, where what the rounding cost is measured, then moved. */
static enum mp_status static_copy(struct mp_exec *x, int32_t id, enum mp_dtype via, enum mp_dtype dtype,
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
		st = static_copy(x, id, via, dtype, x->host, &src, e);
	else if (via && via != dtype)
		st = static_copy(x, id, MP_DTYPE_UNDEFINED, via, x->host, &src, e);
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
	*c = (struct xcopy){ id, via, dtype, dev, persistent_value(x->g, id), { 0 }, 0, 0 };
	if ((st = new_tensor_on(x, be, dtype, src, false, &c->t, e))) {
		free(c);
		return st;
	}
	if (dev == MP_DEVICE_CPU) {
		mp_dtype_convert_measure(src->dtype, src->data, dtype, c->t.data, (size_t)mp_tensor_numel(src),
		                         &c->max_abs, &c->max_rel);
		note_error(x, c, src->dtype);
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
static enum mp_status stage_input(struct mp_exec *x, const struct mp_node *n, int k,
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
		if ((st = static_copy(x, id, via, want, be, &x->ins[k], e)))
			return mp_error_prefix(e, "input %d '%s': ", k, mp_graph_value(x->g, (size_t)id)->name);
		return MP_OK;
	}
	if (t->device != dev) { /* moved first, then cast where the kernel runs */
		struct mp_tensor *m = &x->tmp[2 * k];
		struct mp_tensor host;
		if ((st = new_tensor_on(x, be, t->dtype, t, true, m, e)))
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
		if ((st = cast_on(x, be, t, want, &x->tmp[2 * k + 1], e)))
			return st;
		t = &x->tmp[2 * k + 1];
	}
	x->ins[k] = t;
	return MP_OK;
}

/* The staging temporaries of node n's inputs (n NULL: every slot). */
static void drop_temporaries(struct mp_exec *x, const struct mp_node *n)
{
	for (int k = 0; k < 2 * (n ? n->ninputs : x->maxio); k++)
		if (x->tmp[k].buf)
			mp_tensor_reset(&x->tmp[k]);
}

static enum mp_status run_node_staged(struct mp_exec *x, size_t i, struct mp_backend *be, bool folding,
                                      struct mp_error *e);

static enum mp_status run_node(struct mp_exec *x, size_t i, struct mp_backend *be, bool folding,
                               struct mp_error *e)
{
	enum mp_status st = run_node_staged(x, i, be, folding, e);
	drop_temporaries(x, mp_graph_node(x->g, i));
	return st;
}

static enum mp_status run_node_staged(struct mp_exec *x, size_t i, struct mp_backend *be, bool folding,
                                      struct mp_error *e)
{
	const struct mp_node *n = mp_graph_node(x->g, i);
	const struct mp_node_decision *d = decision(x, i);
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
	if (xn->dynamic && (st = reinfer(x, i, e)))
		return node_error(n, e);
	for (int k = 0; k < n->ninputs; k++) {
		int32_t id = n->inputs[k];
		x->ins[k] = NULL;
		if (id < 0)
			continue;
		x->ins[k] = &x->vals[id].t;
		if (x->vals[id].present) {
			if (!shape_op && (st = stage_input(x, n, k, d, be, e)))
				return node_error(n, e);
			continue;
		}
		if (!(folding && shape_op)) {
			mp_error_set(e, MP_ERR_INTERNAL, "input '%s' is not computed",
			             mp_graph_value(x->g, (size_t)id)->name);
			return node_error(n, e);
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
		} else if (k == 0 && is_view(n)) {
			const struct mp_tensor *in = x->ins[0];
			if (!mp_tensor_is_contiguous(in)) {
				mp_error_set(e, MP_ERR_INTERNAL, "view of a strided tensor");
				return node_error(n, e);
			}
			mp_tensor_init(&v->t, in->dtype, v->iv.info.ndim, v->iv.info.dims);
			v->t.data = in->data;
			v->t.device = in->device;
			v->t.buf = mp_buffer_retain(in->buf);
		} else if ((st = alloc_output(x, shape_op ? x->host : be, n, id, e))) {
			return node_error(n, e);
		}
		x->outs[k] = &v->t;
	}
	/* a Constant is its prepared value; views need no kernel (Dropout's
	 * mask aside) */
	bool kernel = !(n->op == MP_OP_CONSTANT || (is_view(n) && n->op != MP_OP_DROPOUT));
	if (kernel) {
		struct mp_backend *kb = shape_op ? x->host : be;
		struct mp_op_call call = { .op = n->op, .params = xn->params, .ninputs = n->ninputs,
		                           .noutputs = n->noutputs, .in = x->ins, .out = x->outs };
		mp_op_fn fn = mp_backend_op(kb, n->op);
		if (!fn) {
			mp_error_set(e, MP_ERR_UNSUPPORTED, "the %s backend has no kernel", kb->iface->name);
			return node_error(n, e);
		}
		if ((st = fn(kb->ctx, &call, e)))
			return node_error(n, e);
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
	    (st = alloc_output(x, x->be, mp_graph_node(x->g, gr->root), out, e)))
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
			if ((st = static_copy(x, id, gr->in_via[k], gr->in_want[k], x->be, &c->in[k], e)))
				return st;
		} else if (!x->vals[id].present || x->vals[id].t.device != x->be->iface->device) {
			return mp_error_set(e, MP_ERR_INTERNAL, "fused input '%s' is not on the device",
			                    mp_graph_value(x->g, (size_t)id)->name);
		} else {
			c->in[k] = &x->vals[id].t;
		}
	}
	if ((st = alloc_output(x, x->be, mp_graph_node(x->g, gr->root), out, e)))
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
			return node_error(rn, e);
		gr->off = true;
		snprintf(x->stats.fusion_note, sizeof x->stats.fusion_note, "%.180s", e->msg);
		mp_error_clear(e);
	}
	for (int m = 0; m < gr->nmembers; m++)
		if ((st = run_node(x, gr->members[m], x->be, false, e)))
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
	} else if (!x->nodes[i].folded && (st = run_node(x, i, x->be, false, e))) {
		return st;
	}
	x->pos++;
	/* the hook sees the node's inputs and outputs before any of them go */
	st = x->hook ? x->hook(x->hook_user, x, i, e) : MP_OK;
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
static void rewind_run(struct mp_exec *x)
{
	for (size_t i = 0; i < x->nvals; i++) {
		struct xval *v = &x->vals[i];
		if (v->is_static || mp_graph_value(x->g, i)->kind == MP_VALUE_INPUT)
			continue;
		mp_tensor_reset(&v->t);
		v->present = false;
	}
	drop_temporaries(x, NULL);
	x->pos = 0;
}

enum mp_status mp_exec_restart(struct mp_exec *x, struct mp_error *e)
{
	if (!x->bound)
		return mp_error_set(e, MP_ERR_USAGE, "no batch is bound");
	rewind_run(x);
	return MP_OK;
}

/* After a captured run: the values it leaves (outputs, kept values), which
 * a replay must hand back.  False when one is not in the arena. */
static bool note_finals(struct mp_exec *x)
{
	size_t n = 0;
	free(x->finals);
	x->finals = calloc(x->nvals + 1, sizeof *x->finals);
	x->nfinals = 0;
	if (!x->finals)
		return false;
	for (size_t i = 0; i < x->nvals; i++) {
		const struct xval *v = &x->vals[i];
		if (!v->present || v->is_static || mp_graph_value(x->g, i)->kind == MP_VALUE_INPUT)
			continue;
		if (!mp_memplan_owns(x->mp, v->t.buf))
			return false;
		x->finals[n].value = (int32_t)i;
		x->finals[n].t = v->t;
		x->finals[n].t.buf = NULL;
		x->finals[n].bytes = v->t.buf->size;
		n++;
	}
	x->nfinals = n;
	return true;
}

/* A replay of the captured run: the graph, then the values it leaves. */
static enum mp_status replay(struct mp_exec *x, struct mp_error *e)
{
	enum mp_status st = x->be->iface->graph_launch(x->be->ctx, x->graph, e);
	if (st)
		return st;
	for (size_t k = 0; k < x->nfinals; k++) {
		const struct xfinal *f = &x->finals[k];
		struct xval *v = &x->vals[f->value];
		v->t = f->t;
		if (!(v->t.buf = mp_memplan_block(x->mp, f->t.data, f->bytes, e)))
			return MP_ERR_NOMEM;
		v->present = true;
	}
	x->pos = x->nnodes;
	x->stats.graph_replays++;
	return MP_OK;
}

/* The whole run in the planned arena, captured as a graph where the backend
 * records them: a failed capture (something in the run that a graph cannot
 * hold) runs again uncaptured, and the shape is not captured again. */
static enum mp_status run_planned(struct mp_exec *x, struct mp_error *e)
{
	const struct mp_backend_iface *bi = x->be->iface;
	bool capture = mp_memplan_state(x->mp) == MP_MEMPLAN_READY && bi->graph_begin && !x->graph_off &&
	               !x->opt.no_graphs;
	enum mp_status st;

	if ((st = mp_memplan_begin(x->mp, e)))
		return st;
	if (capture && bi->graph_begin(x->be->ctx, e) != MP_OK) {
		snprintf(x->stats.graph_note, sizeof x->stats.graph_note, "%.180s", e->msg);
		x->graph_off = true;
		capture = false;
	}
	st = mp_exec_run_to(x, x->nnodes, e);
	if (capture) {
		struct mp_error ge = { 0 };
		void *graph = NULL;
		enum mp_status gst = bi->graph_end(x->be->ctx, &graph, &ge);
		if (!st && !gst && note_finals(x)) {
			x->graph = graph;
			x->stats.graph_captures++;
			mp_memplan_end(x->mp, true, e);
			/* the capture only recorded: this launch computes the batch */
			return bi->graph_launch(x->be->ctx, x->graph, e);
		}
		if (graph)
			bi->graph_free(x->be->ctx, graph);
		snprintf(x->stats.graph_note, sizeof x->stats.graph_note, "%.180s",
		         gst ? ge.msg : st ? e->msg : "a value the run leaves is not in the planned arena");
		x->graph_off = true;
		/* nothing ran: once more, uncaptured */
		mp_memplan_end(x->mp, false, e);
		rewind_run(x);
		if ((st = mp_memplan_begin(x->mp, e)))
			return st;
		st = mp_exec_run_to(x, x->nnodes, e);
	}
	struct mp_error me = { 0 };
	enum mp_status mst = mp_memplan_end(x->mp, st == MP_OK, &me);
	if (!st && mst)
		*e = me;
	return st ? st : mst;
}

enum mp_status mp_exec_run(struct mp_exec *x, struct mp_error *e)
{
	enum mp_status st;
	/* a whole run of a batch bound for the second time or more, with
	 * nobody looking between nodes: planned memory, a graph */
	if (x->bound && x->pos == 0 && !x->hook && x->mp && x->sig_valid &&
	    mp_memplan_state(x->mp) != MP_MEMPLAN_OFF) {
		x->stats.runs++;
		x->stats.planned_runs += mp_memplan_state(x->mp) == MP_MEMPLAN_READY;
		st = x->graph ? replay(x, e) : run_planned(x, e);
	} else {
		x->stats.runs++;
		st = mp_exec_run_to(x, x->nnodes, e);
	}
	/* a GPU reports what went wrong in its kernels (a bad index) here */
	if (!st && x->be->iface->device != MP_DEVICE_CPU)
		st = x->be->iface->sync(x->be->ctx, e);
	return st;
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
	return !(n->op == MP_OP_CONSTANT || (is_view(n) && n->op != MP_OP_DROPOUT));
}

enum mp_status mp_exec_eval_node(struct mp_exec *x, size_t i, const struct mp_tensor *const *ins,
                                 struct mp_tensor *outs, struct mp_error *e)
{
	const struct mp_node *n = mp_graph_node(x->g, i);
	const struct mp_node_decision *d = decision(x, i);
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
			if (persistent_value(x->g, id) && x->vals[id].is_static && ins[k]->dtype == x->vals[id].t.dtype) {
				/* the graph's own weight: this executor's copy on the device */
				if ((st = static_copy(x, id, MP_DTYPE_UNDEFINED, ins[k]->dtype, be, &x->ins[k], e)))
					break;
			} else {
				if ((st = new_tensor_on(x, be, ins[k]->dtype, ins[k], true, m, e)) ||
				    (st = be->iface->from_host(be->ctx, ins[k]->data, m, e)))
					break;
				x->ins[k] = m;
			}
		}
		if (!mp_dtype_is_float(ins[k]->dtype))
			continue;
		enum mp_dtype want = slot_dtype(d, k, x->vals[n->inputs[k]].iv.info.dtype);
		if (want == ins[k]->dtype || !mp_dtype_is_float(want))
			continue;
		st = cast_on(x, be, x->ins[k], want, &x->tmp[2 * k + 1], e);
		x->ins[k] = &x->tmp[2 * k + 1];
	}
	for (int k = 0; k < n->noutputs && !st; k++) {
		x->outs[k] = NULL;
		if (n->outputs[k] < 0)
			continue;
		const struct mp_value_info *vi = &x->vals[n->outputs[k]].iv.info;
		struct mp_tensor like;
		mp_tensor_init(&like, vi->dtype, vi->ndim, vi->dims);
		st = new_tensor_on(x, be, vi->dtype, &like, false, &outs[k], e);
		x->outs[k] = &outs[k];
	}
	if (!st) {
		struct mp_op_call call = { .op = n->op, .params = x->nodes[i].params, .ninputs = n->ninputs,
		                           .noutputs = n->noutputs, .in = x->ins, .out = x->outs };
		st = mp_backend_op(be, n->op)(be->ctx, &call, e);
	}
	drop_temporaries(x, n);
	if (st) {
		for (int k = 0; k < n->noutputs; k++)
			mp_tensor_reset(&outs[k]);
		return node_error(n, e);
	}
	return MP_OK;
}

const struct mp_plan *mp_exec_plan(const struct mp_exec *x) { return x->plan; }

const struct mp_node_decision *mp_exec_decision(const struct mp_exec *x, size_t i)
{
	return i < x->nnodes ? decision(x, i) : NULL;
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
