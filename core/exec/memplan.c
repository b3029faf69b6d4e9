/* memplan.c - a run's device memory, planned from value lifetimes. */
#include "memplan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

enum { ALIGN = 256 };

struct rec {
	size_t size, offset;
	uint32_t t0, t1; /* taken, given back (UINT32_MAX: alive at the end) */
};

/* The recording of one run.  Its buffers outlive the run (the outputs, to
 * the next batch), so it is counted: the planner's reference and each of
 * their wrappers'. */
struct recorder {
	int refs;
	bool active;
	uint32_t clock;
	struct mp_vec recs; /* of struct rec */
};

struct recbuf { /* a recorded buffer: the real one inside */
	struct mp_buffer b;
	struct mp_buffer *inner;
	struct recorder *r;
	size_t idx;
};

struct blockbuf { /* a block of the arena */
	struct mp_buffer b;
	struct mp_buffer *arena;
};

struct mp_memplan {
	struct mp_backend *be;
	enum mp_memplan_state state;
	struct recorder *rec;   /* the recording the plan came from, or the one under way */
	size_t arena_size, total;
	struct mp_buffer *arena;
	bool running, recording, planned, diverged;
	size_t next;            /* planned: the next request's record */
};

static void recorder_unref(struct recorder *r)
{
	if (r && --r->refs == 0) {
		mp_vec_free(&r->recs);
		free(r);
	}
}

static void recbuf_release(struct mp_buffer *b)
{
	struct recbuf *w = (struct recbuf *)b;
	struct recorder *r = w->r;
	if (r->active)
		((struct rec *)mp_vec_at(&r->recs, w->idx))->t1 = r->clock++;
	mp_buffer_release(w->inner);
	recorder_unref(r);
	free(w);
}

static void block_release(struct mp_buffer *b)
{
	struct blockbuf *w = (struct blockbuf *)b;
	mp_buffer_release(w->arena);
	free(w);
}

enum mp_status mp_memplan_new(struct mp_backend *be, struct mp_memplan **out, struct mp_error *e)
{
	struct mp_memplan *m = calloc(1, sizeof *m);
	*out = NULL;
	if (!m)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	m->be = be;
	*out = m;
	return MP_OK;
}

void mp_memplan_reset(struct mp_memplan *m)
{
	if (m->rec)
		m->rec->active = false;
	recorder_unref(m->rec);
	m->rec = NULL;
	m->state = MP_MEMPLAN_EMPTY;
	m->arena_size = m->total = 0;
	m->running = m->recording = m->planned = m->diverged = false;
}

void mp_memplan_free(struct mp_memplan *m)
{
	if (!m)
		return;
	mp_memplan_reset(m);
	mp_buffer_release(m->arena);
	free(m);
}

enum mp_memplan_state mp_memplan_state(const struct mp_memplan *m)
{
	return m->state;
}

bool mp_memplan_planned(const struct mp_memplan *m)
{
	return m->running && m->planned && !m->diverged;
}

static int by_size(const void *a, const void *b, void *recs)
{
	const struct rec *r = recs, *x = &r[*(const size_t *)a], *y = &r[*(const size_t *)b];
	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return x->t0 < y->t0 ? -1 : x->t0 > y->t0;
}

static int by_offset(const void *a, const void *b, void *recs)
{
	const struct rec *r = recs, *x = &r[*(const size_t *)a], *y = &r[*(const size_t *)b];
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Offsets for every record: largest first, each at the lowest offset where
 * it overlaps no placed record alive at the same time. */
static enum mp_status plan(struct mp_memplan *m, struct mp_error *e)
{
	struct recorder *r = m->rec;
	struct rec *recs = r->recs.data;
	size_t n = r->recs.len, nplaced = 0;
	size_t *order = malloc((n + 1) * sizeof *order), *placed = malloc((n + 1) * sizeof *placed),
	       *conf = malloc((n + 1) * sizeof *conf);
	if (!order || !placed || !conf) {
		free(order);
		free(placed);
		free(conf);
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof *order, by_size, recs);
	m->arena_size = m->total = 0;
	for (size_t oi = 0; oi < n; oi++) {
		struct rec *a = &recs[order[oi]];
		size_t nc = 0, off = 0;
		for (size_t p = 0; p < nplaced; p++) {
			const struct rec *b = &recs[placed[p]];
			if (a->t0 < b->t1 && b->t0 < a->t1)
				conf[nc++] = placed[p];
		}
		qsort_r(conf, nc, sizeof *conf, by_offset, recs);
		for (size_t c = 0; c < nc; c++) {
			const struct rec *b = &recs[conf[c]];
			if (off + a->size <= b->offset)
				break;
			if (b->offset + b->size > off)
				off = b->offset + b->size;
		}
		a->offset = off;
		placed[nplaced++] = order[oi];
		if (off + a->size > m->arena_size)
			m->arena_size = off + a->size;
		m->total += a->size;
	}
	free(order);
	free(placed);
	free(conf);
	return MP_OK;
}

enum mp_status mp_memplan_begin(struct mp_memplan *m, struct mp_error *e)
{
	enum mp_status st;
	m->running = true;
	m->recording = m->planned = m->diverged = false;
	if (m->state == MP_MEMPLAN_EMPTY) {
		recorder_unref(m->rec);
		m->rec = calloc(1, sizeof *m->rec);
		if (!m->rec) {
			m->running = false;
			return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		}
		m->rec->refs = 1;
		m->rec->active = true;
		mp_vec_init(&m->rec->recs, sizeof(struct rec), 256, 0);
		m->recording = true;
	} else if (m->state == MP_MEMPLAN_READY) {
		if (!m->arena || m->arena->size < m->arena_size) {
			mp_buffer_release(m->arena);
			m->arena = NULL;
			if ((st = m->be->iface->alloc(m->be->ctx, m->arena_size, &m->arena, e))) {
				m->running = false;
				return mp_error_prefix(e, "the activations' arena (%zu bytes): ", m->arena_size);
			}
		}
		m->planned = true;
		m->next = 0;
	}
	return MP_OK;
}

enum mp_status mp_memplan_end(struct mp_memplan *m, bool ok, struct mp_error *e)
{
	enum mp_status st = MP_OK;
	if (!m->running)
		return MP_OK;
	m->running = false;
	if (m->recording) {
		m->rec->active = false;
		if (ok && m->rec->recs.len && (st = plan(m, e)) == MP_OK)
			m->state = MP_MEMPLAN_READY;
		else if (ok && !m->rec->recs.len)
			m->state = MP_MEMPLAN_OFF; /* nothing to plan */
	} else if (m->planned && (m->diverged || (ok && m->next != m->rec->recs.len))) {
		m->state = MP_MEMPLAN_OFF;
	}
	m->recording = m->planned = false;
	return st;
}

static size_t aligned(size_t size)
{
	size_t s = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	return s ? s : ALIGN;
}

enum mp_status mp_memplan_alloc(struct mp_memplan *m, size_t size, struct mp_buffer **out, struct mp_error *e)
{
	enum mp_status st;
	size_t sz = aligned(size);
	*out = NULL;
	if (m->running && m->planned && !m->diverged) {
		const struct rec *r = m->next < m->rec->recs.len ? mp_vec_at(&m->rec->recs, m->next) : NULL;
		if (r && r->size == sz) {
			struct blockbuf *w = calloc(1, sizeof *w);
			if (!w)
				return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
			w->arena = mp_buffer_retain(m->arena);
			w->b.data = (char *)m->arena->data + r->offset;
			w->b.size = size;
			w->b.refs = 1;
			w->b.device = m->arena->device;
			w->b.release = block_release;
			w->b.owner = m;
			m->next++;
			*out = &w->b;
			return MP_OK;
		}
		m->diverged = true; /* plain from here on */
	}
	if (!(m->running && m->recording))
		return m->be->iface->alloc(m->be->ctx, size, out, e);
	struct recorder *r = m->rec;
	/* the record first: nothing to undo but the count when the rest fails */
	MP_TRY(mp_vec_push(&r->recs, &(struct rec){ sz, 0, r->clock, UINT32_MAX }, "buffer records", e));
	struct recbuf *w = calloc(1, sizeof *w);
	if (!w) {
		r->recs.len--;
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	}
	if ((st = m->be->iface->alloc(m->be->ctx, size, &w->inner, e))) {
		r->recs.len--;
		free(w);
		return st;
	}
	w->b = *w->inner;
	w->b.refs = 1;
	w->b.release = recbuf_release;
	w->b.owner = m;
	w->r = r;
	w->idx = r->recs.len - 1;
	r->refs++;
	r->clock++;
	*out = &w->b;
	return MP_OK;
}

bool mp_memplan_owns(const struct mp_memplan *m, const struct mp_buffer *b)
{
	return b && b->release == block_release && ((const struct blockbuf *)b)->arena == m->arena;
}

struct mp_buffer *mp_memplan_block(struct mp_memplan *m, void *data, size_t size, struct mp_error *e)
{
	struct blockbuf *w = calloc(1, sizeof *w);
	if (!w) {
		mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		return NULL;
	}
	w->arena = mp_buffer_retain(m->arena);
	w->b.data = data;
	w->b.size = size;
	w->b.refs = 1;
	w->b.device = m->arena->device;
	w->b.release = block_release;
	w->b.owner = m;
	return &w->b;
}

size_t mp_memplan_arena_bytes(const struct mp_memplan *m)
{
	return m->state == MP_MEMPLAN_READY ? m->arena_size : 0;
}

size_t mp_memplan_total_bytes(const struct mp_memplan *m)
{
	return m->total;
}
