/* planned.c - the probes on the planned path: an observer, not a hook, so
 * the run keeps its planned memory, fusion, attention and (on a GPU) graph
 * replay.  Each node's outputs are measured on the stream as it runs; a
 * replayed run calls nobody, so its records are the captured run's.  With
 * --compare the run keeps every value and the fp32 shadow runs whole after
 * it, planned too, comparing node by node as it goes. */
#include <stdlib.h>
#include <string.h>

#include "probes_internal.h"

/* ---- the executor's observer ---- */

static bool obs_watches(void *user, int32_t value)
{
	const struct mp_probes *p = user;
	if (p->o.outputs_only)
		return mp_graph_value(p->g, (size_t)value)->is_output;
	return p->o.stats || p->o.diversity || p->cmp;
}

/* Captured values stay to the end of the run; with --compare every value
 * does, for the shadow that runs after (its nodes rerun on these inputs). */
static bool obs_keeps(void *user, int32_t value)
{
	const struct mp_probes *p = user;
	const struct mp_value *v = mp_graph_value(p->g, (size_t)value);
	return p->cmp ||
	       pr_capture_wanted(p, value, v->producer >= 0 ? mp_graph_node(p->g, (size_t)v->producer) : NULL);
}

/* The node's outputs queued to be measured: at the end of the window (or
 * sooner, when the queue is full), the executor keeping them till then. */
static enum mp_status obs_ran(void *user, struct mp_exec *x, size_t i, struct mp_error *e)
{
	struct mp_probes *p = user;
	const struct mp_node *n = mp_graph_node(p->g, i);
	enum mp_status st;
	if (!p->active)
		return MP_OK;
	for (int k = 0; k < n->noutputs; k++)
		if (n->outputs[k] >= 0 && (st = pr_probe_value(p, x, n->outputs[k], (int32_t)i, e)))
			return st;
	return MP_OK;
}

static enum mp_status obs_flush(void *user, struct mp_exec *x, struct mp_error *e)
{
	(void)x;
	return pr_flush(user, e);
}

void pr_planned_attach(struct mp_probes *p, struct mp_exec *x)
{
	struct mp_exec_observer o = { obs_watches, obs_keeps, obs_ran, p, PR_WINDOW, obs_flush };
	mp_exec_set_hook(x, NULL, NULL);
	mp_exec_set_observer(x, &o);
	if (p->cmp)
		mp_compare_run_set_planned(p->cmp, true);
}

/* ---- the batch ---- */

enum mp_status pr_planned_begin(struct mp_probes *p, struct mp_exec *x, struct mp_error *e)
{
	const struct mp_graph *g = p->g;
	struct mp_exec_stats xs;
	enum mp_status st;
	mp_exec_get_stats(x, &xs);
	p->replays0 = xs.graph_replays;
	/* the observer never sees folded nodes: their values are here now */
	for (size_t i = 0; i < mp_graph_nnodes(g); i++) {
		const struct mp_node *n = mp_graph_node(g, i);
		for (int k = 0; mp_exec_node_folded(x, i) && k < n->noutputs; k++)
			if (n->outputs[k] >= 0 && (st = pr_probe_value(p, x, n->outputs[k], (int32_t)i, e)))
				return st;
	}
	return pr_flush(p, e);
}

/* A replayed run called nobody: its records are the captured run's (the
 * same shapes, slots and requests). */
static bool replayed(const struct mp_probes *p)
{
	struct mp_exec_stats xs;
	mp_exec_get_stats(p->x, &xs);
	return xs.graph_replays != p->replays0;
}

static enum mp_status restore_records(struct mp_probes *p, struct mp_error *e)
{
	if (!p->tmpl || p->ntmpl < p->nrecs || p->ntmpl > p->nslots)
		return mp_error_set(e, MP_ERR_INTERNAL, "a replayed run without the records of its capture");
	memcpy(p->recs, p->tmpl, p->ntmpl * sizeof *p->recs);
	memcpy(p->same_as, p->tmpl_same_as, p->ntmpl * sizeof *p->same_as);
	p->nrecs = p->ntmpl;
	for (size_t i = 0; i < p->nrecs; i++)
		p->rec_of[p->recs[i].value] = (int32_t)i;
	return MP_OK;
}

/* A run that was not replayed is the template for the next. */
static enum mp_status save_records(struct mp_probes *p, struct mp_error *e)
{
	struct mp_probe_record *t = realloc(p->tmpl, (p->nrecs + 1) * sizeof *t);
	if (!t)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	memcpy(t, p->recs, p->nrecs * sizeof *t);
	memcpy(p->tmpl_same_as, p->same_as, p->nrecs * sizeof *p->same_as);
	p->tmpl = t;
	p->ntmpl = p->nrecs;
	return MP_OK;
}

/* The fp32 shadow, whole, now that the run under test kept every value.
 * Its replay sets no flags: those of its last captured run stand. */
static enum mp_status compare(struct mp_probes *p, struct mp_error *e)
{
	const uint32_t cmp_flags = MP_REC_COMPARE | MP_REC_OWN;
	bool again = false;
	enum mp_status st = mp_compare_run_all(p->cmp, p->x, pr_compare_node, p, &again, e);
	if (st || (st = pr_flush(p, e)))
		return st;
	if (again && !p->cmp_tmpl_valid)
		return mp_error_set(e, MP_ERR_INTERNAL, "a replayed fp32 shadow without the records of its capture");
	for (size_t i = 0; i < p->nrecs; i++)
		if (again)
			p->recs[i].flags |= p->cmp_tmpl[i];
		else
			p->cmp_tmpl[i] = p->recs[i].flags & cmp_flags;
	p->cmp_tmpl_valid = true;
	return MP_OK;
}

/* The captures, of the values the run kept, in the order the node-by-node
 * path takes them: graph inputs, then node by node. */
static enum mp_status captures(struct mp_probes *p, struct mp_error *e)
{
	const struct mp_graph *g = p->g;
	enum mp_status st;
	for (size_t i = 0; i < mp_graph_ninputs(g); i++) {
		int32_t v = mp_graph_input(g, i);
		if (mp_exec_value(p->x, v) && pr_capture_wanted(p, v, NULL) && (st = pr_capture(p, p->x, v, e)))
			return st;
	}
	for (size_t i = 0; i < mp_graph_nnodes(g); i++) {
		const struct mp_node *n = mp_graph_node(g, i);
		for (int k = 0; k < n->noutputs; k++) {
			int32_t v = n->outputs[k];
			if (v >= 0 && mp_exec_value(p->x, v) && pr_capture_wanted(p, v, n) && (st = pr_capture(p, p->x, v, e)))
				return st;
		}
	}
	return MP_OK;
}

enum mp_status pr_planned_end(struct mp_probes *p, struct mp_error *e)
{
	bool again = replayed(p);
	enum mp_status st;
	if ((again && (st = restore_records(p, e))) || (p->cmp && (st = compare(p, e))) ||
	    (!again && (st = save_records(p, e))))
		return st;
	return captures(p, e);
}
