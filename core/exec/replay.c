/* replay.c - a whole run: planned in the arena, captured as a backend
 * graph, and replayed for batches shaped as the last. */
#include "exec_internal.h"

/* The graph input whose buffer value v's is (a view of it), or -1. */
static int32_t input_of(const struct mp_exec *x, const struct xval *v)
{
	for (size_t k = 0; k < mp_graph_ninputs(x->g); k++) {
		const struct xval *in = &x->vals[mp_graph_input(x->g, k)];
		if (in->present && in->t.buf && in->t.buf == v->t.buf)
			return mp_graph_input(x->g, k);
	}
	return -1;
}

/* After a captured run: the values it leaves (outputs, kept values), which
 * a replay must hand back.  False when one is neither in the arena nor a
 * view of a graph input (whose buffer a replay reads where it was). */
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
		int32_t alias = mp_memplan_owns(x->mp, v->t.buf) ? -1 : input_of(x, v);
		if (!mp_memplan_owns(x->mp, v->t.buf) && alias < 0)
			return false;
		x->finals[n].value = (int32_t)i;
		x->finals[n].t = v->t;
		x->finals[n].t.buf = NULL;
		x->finals[n].bytes = v->t.buf->size;
		x->finals[n].alias = alias;
		x->finals[n].alias_base = alias >= 0 ? v->t.buf->data : NULL;
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
		if (f->alias >= 0) {
			const struct xval *in = &x->vals[f->alias];
			if (!in->present || !in->t.buf || in->t.buf->data != f->alias_base)
				return mp_error_set(e, MP_ERR_INTERNAL, "a replay's input '%s' is not where it was captured",
				                    mp_graph_value(x->g, (size_t)f->alias)->name);
			v->t = f->t;
			v->t.buf = mp_buffer_retain(in->t.buf);
			v->present = true;
			continue;
		}
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
		mp_exec_rewind_run(x);
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
