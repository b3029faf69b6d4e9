/* probes.c - the probes' life in a batch: records for the graph inputs and
 * every float node output, requests queued to the backend with their
 * tensors kept alive, captures copied to the host, and at the end one fetch
 * of the result table and the search for the first breakpoint met. */
#include "probes.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probes_internal.h"

static void copy_cache_clear(struct mp_probes *p);

void mp_probe_options_init(struct mp_probe_options *o)
{
	memset(o, 0, sizeof *o);
	o->stats = true;
	o->diversity = true;
	o->tol = 1e-2;
}

enum mp_status mp_probe_options_add_break(struct mp_probe_options *o, const char *spec, struct mp_error *e)
{
	struct mp_breakpoint bp;
	enum mp_status st = mp_break_parse(spec, &bp, e);
	if (st)
		return st;
	struct mp_breakpoint *nb = realloc(o->breaks, (size_t)(o->nbreaks + 1) * sizeof *nb);
	if (!nb) {
		free(bp.glob);
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	}
	o->breaks = nb;
	o->breaks[o->nbreaks++] = bp;
	return MP_OK;
}

enum mp_status mp_probe_options_add_capture(struct mp_probe_options *o, const char *glob, struct mp_error *e)
{
	char **nc = realloc(o->captures, (size_t)(o->ncaptures + 1) * sizeof *nc);
	if (!nc)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	o->captures = nc;
	if (!(o->captures[o->ncaptures] = strdup(glob)))
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	o->ncaptures++;
	return MP_OK;
}

void mp_probe_options_free(struct mp_probe_options *o)
{
	for (int i = 0; i < o->nbreaks; i++)
		free(o->breaks[i].glob);
	for (int i = 0; i < o->ncaptures; i++)
		free(o->captures[i]);
	free(o->breaks);
	free(o->captures);
	memset(o, 0, sizeof *o);
}

static enum mp_status copy_options(struct mp_probe_options *dst, const struct mp_probe_options *src,
                                   struct mp_error *e)
{
	enum mp_status st = MP_OK;
	*dst = *src;
	dst->breaks = NULL;
	dst->captures = NULL;
	dst->nbreaks = dst->ncaptures = 0;
	for (int i = 0; i < src->nbreaks && !st; i++) {
		char spec[1024];
		if (src->breaks[i].kind == MP_BREAK_NODE)
			snprintf(spec, sizeof spec, "node=%s", src->breaks[i].glob);
		else
			snprintf(spec, sizeof spec, "%s", mp_break_kind_name(src->breaks[i].kind));
		st = mp_probe_options_add_break(dst, spec, e);
	}
	for (int i = 0; i < src->ncaptures && !st; i++)
		st = mp_probe_options_add_capture(dst, src->captures[i], e);
	return st;
}

void mp_probe_batch_free(struct mp_probe_batch *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->ncaptures; i++)
		mp_tensor_reset(&r->captures[i].t);
	free(r->captures);
	free(r->records);
	free(r);
}

const struct mp_probe_record *mp_probe_batch_find(const struct mp_probe_batch *r, int32_t value)
{
	for (size_t i = 0; i < r->nrecords; i++)
		if (r->records[i].value == value)
			return &r->records[i];
	return NULL;
}

bool pr_breaks_on(const struct mp_probes *p, enum mp_break_kind k)
{
	for (int i = 0; i < p->o.nbreaks; i++)
		if (p->o.breaks[i].kind == k)
			return true;
	return false;
}

enum mp_status mp_probes_new(const struct mp_graph *g, struct mp_backend *be, struct mp_backend *host,
                             const struct mp_policy *policy, const struct mp_probe_options *o,
                             struct mp_probes **out, struct mp_error *e)
{
	struct mp_probes *p = calloc(1, sizeof *p);
	size_t nv = mp_graph_nvalues(g);
	enum mp_status st;

	*out = NULL;
	if (!p)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	p->g = g;
	p->be = be;
	p->host = host;
	mp_vec_init(&p->caps, sizeof(struct mp_capture), 8, 0);
	p->low = policy ? mp_policy_low_type(policy) : MP_F32;
	if ((st = copy_options(&p->o, o, e)))
		goto fail;
	if (pr_breaks_on(p, MP_BREAK_TOL) && !p->o.compare) {
		st = mp_error_set(e, MP_ERR_USAGE, "--break tol needs --compare fp32");
		goto fail;
	}
	if (!be->iface->probe || !be->iface->probe_reset || !be->iface->probe_fetch) {
		st = mp_error_set(e, MP_ERR_UNSUPPORTED, "the %s backend has no probes", be->iface->name);
		goto fail;
	}
	p->rec_of = malloc((nv + 1) * sizeof *p->rec_of);
	p->recs = calloc(nv + 1, sizeof *p->recs);
	p->queue = calloc(QUEUE_MAX, sizeof *p->queue);
	p->same_as = malloc((nv + 1) * sizeof *p->same_as);
	p->tmpl_same_as = malloc((nv + 1) * sizeof *p->tmpl_same_as);
	p->cmp_tmpl = calloc(nv + 1, sizeof *p->cmp_tmpl);
	if (!p->rec_of || !p->recs || !p->queue || !p->same_as || !p->tmpl_same_as || !p->cmp_tmpl) {
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (p->o.compare && (st = mp_compare_run_new(g, be, host, p->o.max_memory, &p->cmp, e)))
		goto fail;
	*out = p;
	return MP_OK;
fail:
	mp_probes_free(p);
	return st;
}

static void drop_queue(struct mp_probes *p)
{
	for (size_t i = 0; i < p->nq; i++) {
		mp_tensor_reset(&p->queue[i].a);
		mp_tensor_reset(&p->queue[i].b);
	}
	p->nq = 0;
	p->qbytes = 0;
}

static void drop_captures(struct mp_probes *p)
{
	for (size_t i = 0; i < p->caps.len; i++)
		mp_tensor_reset(&((struct mp_capture *)mp_vec_at(&p->caps, i))->t);
	p->caps.len = 0;
}

void mp_probes_free(struct mp_probes *p)
{
	if (!p)
		return;
	if (p->queue)
		drop_queue(p);
	drop_captures(p);
	copy_cache_clear(p);
	free(p->copies);
	mp_vec_free(&p->caps);
	mp_compare_run_free(p->cmp);
	mp_probe_options_free(&p->o);
	free(p->queue);
	free(p->rec_of);
	free(p->recs);
	free(p->tmpl);
	free(p->same_as);
	free(p->tmpl_same_as);
	free(p->cmp_tmpl);
	free(p);
}

/* ---- the queue ---- */

enum mp_status pr_flush(struct mp_probes *p, struct mp_error *e)
{
	if (!p->nq)
		return MP_OK;
	struct mp_probe_req reqs[QUEUE_MAX];
	for (size_t i = 0; i < p->nq; i++) {
		reqs[i] = p->queue[i].r;
		reqs[i].a = &p->queue[i].a;
		reqs[i].b = p->queue[i].r.kind == MP_PROBE_COMPARE ? &p->queue[i].b : NULL;
	}
	enum mp_status st = p->be->iface->probe(p->be->ctx, reqs, p->nq, e);
	/* a GPU reads them in stream order: releasing now is safe */
	drop_queue(p);
	return st;
}

/* The copy cache: values folded on the host (constants, shape arithmetic)
 * are probed every batch, and are the same every batch while the binding
 * holds; their device copies are kept, each with a host snapshot that
 * tells whether the value under the same address is still the same. */
enum { COPY_CACHE_MAX = 4096 };
#define COPY_CACHE_BYTES ((size_t)1 << 20)

struct mp_copy_entry {
	const void *src;
	void *snap;
	struct mp_tensor dev;
};

static void copy_cache_clear(struct mp_probes *p)
{
	for (size_t i = 0; i < p->ncopies; i++) {
		free(p->copies[i].snap);
		mp_tensor_reset(&p->copies[i].dev);
	}
	p->ncopies = 0;
}

static struct mp_copy_entry *copy_cached(struct mp_probes *p, const struct mp_tensor *t)
{
	size_t nb = mp_tensor_nbytes(t);
	for (size_t i = 0; i < p->ncopies; i++) {
		struct mp_copy_entry *c = &p->copies[i];
		if (c->src == t->data && c->dev.dtype == t->dtype && c->dev.ndim == t->ndim &&
		    !memcmp(c->dev.shape, t->shape, (size_t)t->ndim * sizeof *t->shape) && !memcmp(c->snap, t->data, nb))
			return c;
	}
	return NULL;
}

/* t where the probes' backend reads it: shared when it is there already, else
 * a copy (a value folded on the host, read by probes on a GPU), kept for
 * the next batches where small. */
static enum mp_status on_device(struct mp_probes *p, const struct mp_tensor *t, struct mp_tensor *out,
                                struct mp_error *e)
{
	const struct mp_backend_iface *bi = p->be->iface;
	size_t nb = mp_tensor_nbytes(t);
	enum mp_status st;
	if (t->device == bi->device) {
		mp_tensor_share(out, t);
		return MP_OK;
	}
	struct mp_copy_entry *c = nb <= COPY_CACHE_BYTES ? copy_cached(p, t) : NULL;
	if (c) {
		mp_tensor_share(out, &c->dev);
		return MP_OK;
	}
	mp_tensor_init(out, t->dtype, t->ndim, t->shape);
	if ((st = bi->alloc(p->be->ctx, nb, &out->buf, e)))
		return st;
	out->data = out->buf->data;
	out->device = out->buf->device;
	if ((st = bi->from_host(p->be->ctx, t->data, out, e))) {
		mp_tensor_reset(out);
		return st;
	}
	if (nb > COPY_CACHE_BYTES)
		return MP_OK;
	if (p->ncopies == COPY_CACHE_MAX)
		copy_cache_clear(p);
	if (!p->copies && !(p->copies = calloc(COPY_CACHE_MAX, sizeof *p->copies)))
		return MP_OK; /* no cache: a copy a batch */
	void *snap = malloc(nb ? nb : 1);
	if (!snap)
		return MP_OK;
	memcpy(snap, t->data, nb);
	c = &p->copies[p->ncopies++];
	c->src = t->data;
	c->snap = snap;
	mp_tensor_share(&c->dev, out);
	return MP_OK;
}

static enum mp_status enqueue(struct mp_probes *p, enum mp_probe_kind kind, const struct mp_tensor *a,
                              const struct mp_tensor *b, uint32_t slot, uint32_t part, struct mp_error *e)
{
	enum mp_status st;
	if (p->nq == QUEUE_MAX && (st = pr_flush(p, e)))
		return st;
	struct qreq *q = &p->queue[p->nq];
	q->r = (struct mp_probe_req){ kind, NULL, NULL, slot, part };
	memset(&q->b, 0, sizeof q->b);
	if ((st = on_device(p, a, &q->a, e)))
		return st;
	if (b && (st = on_device(p, b, &q->b, e))) {
		mp_tensor_reset(&q->a);
		return st;
	}
	p->nq++;
	p->qbytes += mp_tensor_nbytes(a) + (b ? mp_tensor_nbytes(b) : 0);
	if (p->be->iface->device == MP_DEVICE_CPU || p->qbytes >= QUEUE_MAX_BYTES)
		return pr_flush(p, e);
	return MP_OK;
}

/* ---- records ---- */

static bool probed(const struct mp_tensor *t)
{
	return t && mp_dtype_is_float(t->dtype) && mp_dtype_computable(t->dtype) && mp_tensor_is_contiguous(t);
}

static struct mp_probe_record *new_record(struct mp_probes *p, int32_t value, int32_t node,
                                          const struct mp_tensor *t)
{
	if (p->rec_of[value] >= 0)
		return &p->recs[p->rec_of[value]];
	struct mp_probe_record *r = &p->recs[p->nrecs];
	memset(r, 0, sizeof *r);
	r->value = value;
	r->node = node;
	r->dtype = t->dtype;
	r->ndim = t->ndim;
	memcpy(r->shape, t->shape, sizeof r->shape);
	p->same_as[p->nrecs] = -1;
	p->rec_of[value] = (int32_t)p->nrecs++;
	return r;
}

/* A view's value (Reshape, Flatten, ...) is its input's bytes: where it
 * also keeps the input's dtype and first dim (diversity reads [dim0, rest]),
 * its results are the input's record's, to the bit, without another pass. */
static int32_t view_source(const struct mp_probes *p, struct mp_exec *x, const struct mp_node *n,
                           const struct mp_tensor *t)
{
	if (!n || n->ninputs < 1 || n->inputs[0] < 0 || p->rec_of[n->inputs[0]] < 0)
		return -1;
	const struct mp_tensor *in = mp_exec_value(x, n->inputs[0]);
	if (!in || in->data != t->data || in->dtype != t->dtype || mp_tensor_numel(in) != mp_tensor_numel(t) ||
	    !t->ndim || !in->ndim || in->shape[0] != t->shape[0])
		return -1;
	return p->rec_of[n->inputs[0]];
}

bool pr_capture_wanted(const struct mp_probes *p, int32_t value, const struct mp_node *n)
{
	const struct mp_value *v = mp_graph_value(p->g, (size_t)value);
	if (p->o.outputs_only)
		return false;
	if (v->is_output)
		return true;
	for (int i = 0; i < p->o.ncaptures; i++)
		if (!fnmatch(p->o.captures[i], v->name, 0) || (n && !fnmatch(p->o.captures[i], n->name, 0)))
			return true;
	return false;
}

enum mp_status pr_capture(struct mp_probes *p, struct mp_exec *x, int32_t value, struct mp_error *e)
{
	struct mp_tensor host;
	struct mp_buffer *buf;
	enum mp_status st;
	/* its slot first, an empty one taken back when the rest fails */
	MP_TRY(mp_vec_push(&p->caps, &(struct mp_capture){0}, "captures", e));
	p->caps.len--;
	if ((st = mp_exec_fetch(x, value, &host, e)))
		return st;
	if (host.buf && host.buf != mp_exec_value(x, value)->buf) { /* a fresh host copy already: kept */
		struct mp_capture *c = mp_vec_at(&p->caps, p->caps.len++);
		c->value = value;
		c->t = host;
		return MP_OK;
	}
	size_t nb = mp_tensor_nbytes(&host);
	/* a copy of its own: the batch's memory and the run's buffers go */
	if ((st = mp_buffer_new_host(nb, false, &buf, e))) {
		mp_tensor_reset(&host);
		return st;
	}
	memcpy(buf->data, host.data, nb);
	struct mp_capture *c = mp_vec_at(&p->caps, p->caps.len++);
	c->value = value;
	mp_tensor_init(&c->t, host.dtype, host.ndim, host.shape);
	c->t.data = buf->data;
	c->t.buf = buf;
	mp_tensor_reset(&host);
	return MP_OK;
}

/* Statistics, diversity and (on the node-by-node path, where values go
 * after their last reader) capture of one value. */
enum mp_status pr_probe_value(struct mp_probes *p, struct mp_exec *x, int32_t value, int32_t node,
                                  struct mp_error *e)
{
	const struct mp_tensor *t = mp_exec_value(x, value);
	const struct mp_node *n = node >= 0 ? mp_graph_node(p->g, (size_t)node) : NULL;
	enum mp_status st;
	if (p->o.outputs_only && !mp_graph_value(p->g, (size_t)value)->is_output)
		return MP_OK;
	if (!p->planned && t && pr_capture_wanted(p, value, n) && (st = pr_capture(p, x, value, e)))
		return st;
	if (!probed(t))
		return MP_OK;
	int32_t src = view_source(p, x, n, t);
	struct mp_probe_record *r = new_record(p, value, node, t);
	uint32_t slot = (uint32_t)(r - p->recs);
	if (src >= 0 && src != (int32_t)slot) {
		r->flags |= p->recs[src].flags & (MP_REC_STATS | MP_REC_DIVERSITY);
		p->same_as[slot] = src;
		return MP_OK;
	}
	if (p->o.stats) {
		r->flags |= MP_REC_STATS;
		if ((st = enqueue(p, MP_PROBE_STATS, t, NULL, slot, 0, e)))
			return st;
	}
	if (p->o.diversity && p->batch_size >= 2 && t->ndim >= 1 && t->shape[0] == p->batch_size) {
		r->flags |= MP_REC_DIVERSITY;
		if ((st = enqueue(p, MP_PROBE_DIVERSITY, t, NULL, slot, 0, e)))
			return st;
	}
	return MP_OK;
}

/* The shadow ran node i: compare what both made. */
enum mp_status pr_compare_node(void *user, size_t i, const struct mp_tensor *const *ref,
                                   const struct mp_tensor *const *own, struct mp_error *e)
{
	struct mp_probes *p = user;
	const struct mp_node *n = mp_graph_node(p->g, i);
	enum mp_status st;
	for (int k = 0; k < n->noutputs; k++) {
		int32_t id = n->outputs[k];
		if (id < 0 || p->rec_of[id] < 0 || !probed(ref[k]))
			continue;
		struct mp_probe_record *r = &p->recs[p->rec_of[id]];
		const struct mp_tensor *low = mp_exec_value(p->x, id);
		uint32_t slot = (uint32_t)(r - p->recs);
		if (!low || mp_tensor_numel(low) != mp_tensor_numel(ref[k]))
			continue;
		r->flags |= MP_REC_COMPARE;
		if ((st = enqueue(p, MP_PROBE_COMPARE, low, ref[k], slot, 0, e)))
			return st;
		if (own && probed(own[k])) {
			r->flags |= MP_REC_OWN;
			if ((st = enqueue(p, MP_PROBE_COMPARE, low, own[k], slot, 1, e)) ||
			    (st = enqueue(p, MP_PROBE_COMPARE, own[k], ref[k], slot, 2, e)))
				return st;
		}
	}
	/* planned, the shadow's arena gives the memory to later nodes */
	return p->planned && mp_compare_run_running(p->cmp) ? pr_flush(p, e) : MP_OK;
}

static const struct mp_breakpoint *break_of(const struct mp_probes *p, enum mp_break_kind k)
{
	for (int i = 0; i < p->o.nbreaks; i++)
		if (p->o.breaks[i].kind == k)
			return &p->o.breaks[i];
	return NULL;
}

static enum mp_status hook(void *user, struct mp_exec *x, size_t i, struct mp_error *e)
{
	struct mp_probes *p = user;
	const struct mp_node *n = mp_graph_node(p->g, i);
	enum mp_status st;

	if (p->active) {
		for (int k = 0; k < n->noutputs; k++)
			if (n->outputs[k] >= 0 && (st = pr_probe_value(p, x, n->outputs[k], (int32_t)i, e)))
				return st;
		if (p->cmp && (st = mp_compare_run_to(p->cmp, x, i, pr_compare_node, p, e)))
			return st;
		if (!p->node_hit && mp_break_node_match(p->o.breaks, p->o.nbreaks, n->name)) {
			p->node_hit = true;
			p->hit = (struct mp_break_hit){ break_of(p, MP_BREAK_NODE), (int32_t)i, -1 };
			if ((st = pr_flush(p, e)))
				return st;
			return mp_error_set(e, MP_ERR_BREAK, "breakpoint node=%s: node '%s' (%s) ran",
			                    p->hit.bp->glob, n->name, n->op_type);
		}
	}
	return p->next ? p->next(p->next_user, x, i, e) : MP_OK;
}

mp_exec_hook mp_probes_hook_fn(void) { return hook; }

void mp_probes_attach(struct mp_probes *p, struct mp_exec *x, mp_exec_hook next, void *next_user)
{
	p->x = x;
	p->next = next;
	p->next_user = next_user;
	/* stepping and node= breaks (which stop the run) need the hook */
	p->planned = !next && !p->o.literal && !pr_breaks_on(p, MP_BREAK_NODE);
	if (p->planned) {
		pr_planned_attach(p, x);
	} else {
		mp_exec_set_observer(x, NULL);
		mp_exec_set_hook(x, hook, p);
		if (p->cmp)
			mp_compare_run_set_planned(p->cmp, false);
	}
	free(p->tmpl);
	p->tmpl = NULL;
	p->ntmpl = 0;
	p->cmp_tmpl_valid = false;
}

bool mp_probes_planned(const struct mp_probes *p)
{
	return p->planned;
}

void mp_probes_go_literal(struct mp_probes *p, struct mp_exec *x)
{
	p->o.literal = true;
	mp_probes_attach(p, x, p->next, p->next_user);
}

bool mp_probes_shadow_stats(const struct mp_probes *p, struct mp_exec_stats *out)
{
	if (!p->cmp)
		return false;
	if (out)
		mp_compare_run_get_stats(p->cmp, out);
	return true;
}

enum mp_status mp_probes_begin(struct mp_probes *p, struct mp_exec *x, const struct mp_batch *b, size_t index,
                               struct mp_error *e)
{
	const struct mp_graph *g = p->g;
	size_t nv = mp_graph_nvalues(g), nslots = 0;
	enum mp_status st;

	p->x = x;
	p->active = false;
	p->index = index;
	p->nrecs = 0;
	p->node_hit = false;
	drop_queue(p);
	drop_captures(p);
	for (size_t i = 0; i < nv; i++)
		p->rec_of[i] = -1;
	/* one slot per float value this batch can produce */
	for (size_t i = 0; i < nv; i++) {
		const struct mp_value_info *vi = mp_exec_value_info(x, (int32_t)i);
		if (vi && mp_dtype_is_float(vi->dtype))
			nslots++;
	}
	p->nslots = nslots;
	if ((st = p->be->iface->probe_reset(p->be->ctx, nslots, e)))
		return st;
	p->batch_size = -1;
	for (size_t i = 0; i < mp_graph_ninputs(g) && p->batch_size < 0; i++) {
		const struct mp_tensor *t = mp_exec_value(x, mp_graph_input(g, i));
		if (t && t->ndim >= 1)
			p->batch_size = t->shape[0];
	}
	if (p->cmp && (st = mp_compare_run_begin(p->cmp, b, e)))
		return st;
	p->active = true;
	for (size_t i = 0; i < mp_graph_ninputs(g); i++)
		if ((st = pr_probe_value(p, x, mp_graph_input(g, i), -1, e)))
			return st;
	return p->planned ? pr_planned_begin(p, x, e) : MP_OK;
}

/* What the break conditions judge of record r (cond.h). */
static void record_facts(const struct mp_probes *p, const struct mp_probe_record *r, struct mp_break_facts *f)
{
	const struct mp_stats_acc *s = &r->stats;
	*f = (struct mp_break_facts){ .has_stats = r->flags & MP_REC_STATS, .has_cmp = r->flags & MP_REC_COMPARE,
		                      .nan = (int64_t)s->nan, .inf = (int64_t)(s->posinf + s->neginf),
		                      .is_low = r->dtype == p->low };
	for (int k = 0; k < MP_LOW_COUNT; k++)
		f->overflow[k] = (int64_t)s->overflow[k];
	if (f->has_cmp)
		f->rel_l2 = mp_compare_rel_l2(&r->cmp);
}

struct rec_key {
	int32_t node;
	uint32_t slot;
};

static int by_node(const void *a, const void *b)
{
	const struct rec_key *x = a, *y = b;
	if (x->node != y->node)
		return x->node < y->node ? -1 : 1;
	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* The slots in execution order, graph inputs first (the planned path makes
 * the records of folded nodes at the start); a node's outputs keep theirs. */
static struct rec_key *record_order(const struct mp_probes *p)
{
	struct rec_key *k = malloc((p->nrecs + 1) * sizeof *k);
	for (size_t i = 0; k && i < p->nrecs; i++)
		k[i] = (struct rec_key){ p->recs[i].node, (uint32_t)i };
	if (k)
		qsort(k, p->nrecs, sizeof *k, by_node);
	return k;
}

enum mp_status mp_probes_end(struct mp_probes *p, struct mp_probe_batch **out, struct mp_error *e)
{
	struct mp_probe_batch *r = calloc(1, sizeof *r);
	struct mp_probe_result *tab = NULL;
	struct rec_key *order = NULL;
	enum mp_status st;

	*out = NULL;
	if (!r)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	p->active = false;
	if ((st = pr_flush(p, e)) || (p->planned && (st = pr_planned_end(p, e))))
		goto fail;
	tab = calloc(p->nrecs + 1, sizeof *tab);
	r->records = calloc(p->nrecs + 1, sizeof *r->records);
	order = record_order(p);
	if (!tab || !r->records || !order) {
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (p->nrecs && (st = p->be->iface->probe_fetch(p->be->ctx, tab, p->nrecs, e)))
		goto fail;
	for (size_t i = 0; i < p->nrecs; i++) /* a source's slot is below its views' */
		if (p->same_as[i] >= 0) {
			tab[i].stats = tab[p->same_as[i]].stats;
			tab[i].div = tab[p->same_as[i]].div;
		}
	r->index = p->index;
	r->g = p->g;
	r->low = p->low;
	r->nrecords = p->nrecs;
	for (size_t j = 0; j < p->nrecs; j++) {
		struct mp_probe_record *rec = &r->records[j];
		size_t i = order[j].slot;
		*rec = p->recs[i];
		rec->stats = tab[i].stats;
		rec->div = tab[i].div;
		rec->cmp = tab[i].cmp[0];
		rec->own = tab[i].cmp[1];
		rec->inh = tab[i].cmp[2];
		/* a node that runs no kernel (a view, a folded shape computation)
		 * adds nothing: all it has, it inherits */
		if ((rec->flags & MP_REC_COMPARE) && !(rec->flags & MP_REC_OWN)) {
			rec->flags |= MP_REC_OWN;
			memset(&rec->own, 0, sizeof rec->own);
			rec->own.count = rec->cmp.count;
			rec->own.sum_a2 = rec->own.sum_b2 = rec->own.sum_ab = rec->cmp.sum_a2;
			rec->inh = rec->cmp;
		}
	}
	/* captures move to the result */
	r->captures = mp_vec_take(&p->caps, &r->ncaptures);
	/* the first breakpoint met, in execution order (a node= hit stopped the
	 * run after its node, so nothing later was recorded) */
	if (p->node_hit) {
		r->hit = true;
		r->hit_at = p->hit;
	}
	const struct mp_breakpoint *mm = break_of(p, MP_BREAK_MISMATCH);
	for (size_t i = 0; i < r->nrecords; i++) {
		const struct mp_probe_record *rec = &r->records[i];
		if (r->hit && rec->node >= r->hit_at.node)
			break;
		const struct mp_node_decision *d = rec->node >= 0 ? mp_exec_decision(p->x, (size_t)rec->node) : NULL;
		if (mm && d && d->mismatch) {
			r->hit = true;
			r->hit_at = (struct mp_break_hit){ mm, rec->node, -1 };
			break;
		}
		struct mp_break_facts f;
		record_facts(p, rec, &f);
		for (int k = 0; k < p->o.nbreaks && !(r->hit && r->hit_at.node == rec->node); k++)
			if (mp_break_meets(p->o.breaks[k].kind, &f, p->low, p->o.tol)) {
				r->hit = true;
				r->hit_at = (struct mp_break_hit){ &p->o.breaks[k], rec->node, rec->value };
			}
		if (r->hit && r->hit_at.node == rec->node)
			break;
	}
	free(tab);
	free(order);
	*out = r;
	return MP_OK;
fail:
	free(tab);
	free(order);
	mp_probe_batch_free(r);
	return st;
}

/* ---- the numbers people read ---- */

double mp_stats_std(const struct mp_stats_acc *s)
{
	return s->finite ? sqrt(s->m2 / (double)s->finite) : NAN;
}

double mp_compare_rel_l2(const struct mp_compare_acc *c)
{
	if (c->sum_b2 > 0)
		return sqrt(c->sum_d2 / c->sum_b2);
	return c->sum_d2 > 0 ? INFINITY : 0;
}

double mp_compare_cosine(const struct mp_compare_acc *c)
{
	double d = sqrt(c->sum_a2) * sqrt(c->sum_b2);
	if (d > 0)
		return c->sum_ab / d;
	return c->sum_a2 == c->sum_b2 ? 1 : 0; /* both zero: the same */
}

double mp_compare_sqnr_db(const struct mp_compare_acc *c)
{
	if (c->sum_d2 == 0)
		return INFINITY;
	return 10 * log10(c->sum_b2 / c->sum_d2);
}

double mp_diversity_ratio(const struct mp_diversity_acc *d)
{
	if (d->samples < 2 || d->features < 1)
		return NAN;
	return d->within > 0 ? d->across / d->within : (d->across > 0 ? INFINITY : NAN);
}

enum mp_low mp_low_index(enum mp_dtype t)
{
	return t == MP_F16 ? MP_LOW_F16 : MP_LOW_BF16;
}
