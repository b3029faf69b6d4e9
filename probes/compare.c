/* compare.c - the fp32 shadow run.  Its executor follows the fp32 policy
 * with the batch's float tensors converted to fp32 on entry (mismatches
 * cast, so it never stops where the run under test may), and hands each
 * node's outputs, with the node rerun in fp32 on the tested run's inputs,
 * to the probes before its liveness frees them: node by node behind a hook,
 * in lockstep with the run under test; or planned, behind an observer, as a
 * whole run after the run under test is done (which keeps its values), so
 * that the shadow too is planned, captured and replayed. */
#include "compare.h"

#include <stdlib.h>
#include <string.h>

struct mp_compare_run {
	const struct mp_graph *g;
	struct mp_policy policy; /* fp32, --on-mismatch cast */
	struct mp_exec *shadow;
	/* the call in progress */
	struct mp_exec *tested;
	size_t target;
	mp_compare_fn fn;
	void *user;
	const struct mp_tensor **ref, **own, **ins;
	struct mp_tensor *own_t;
	bool planned;
	bool running; /* planned: within the shadow's run (its arena reuses memory) */
};

/* Node i of the shadow has run: its outputs, and the node rerun in fp32 on
 * the tested run's inputs, to c->fn. */
static enum mp_status visit(struct mp_compare_run *c, struct mp_exec *shadow, size_t i, struct mp_error *e)
{
	const struct mp_node *n = mp_graph_node(c->g, i);
	bool rerun = mp_exec_node_has_kernel(shadow, i) && !mp_exec_node_folded(c->tested, i) &&
	             n->op != MP_OP_SHAPE && n->op != MP_OP_SIZE;
	enum mp_status st = MP_OK;

	for (int k = 0; k < n->noutputs; k++) {
		c->ref[k] = n->outputs[k] >= 0 ? mp_exec_value(shadow, n->outputs[k]) : NULL;
		c->own[k] = NULL;
	}
	for (int k = 0; k < n->ninputs && rerun; k++) {
		c->ins[k] = n->inputs[k] >= 0 ? mp_exec_value(c->tested, n->inputs[k]) : NULL;
		if (n->inputs[k] >= 0 && !c->ins[k])
			rerun = false; /* not kept by the tested run */
	}
	if (rerun) {
		st = mp_exec_eval_node(shadow, i, c->ins, c->own_t, e);
		if (st == MP_ERR_UNSUPPORTED) {
			rerun = false;
			st = MP_OK;
		}
		for (int k = 0; rerun && !st && k < n->noutputs; k++)
			c->own[k] = n->outputs[k] >= 0 ? &c->own_t[k] : NULL;
	}
	if (!st)
		st = c->fn(c->user, i, c->ref, rerun ? c->own : NULL, e);
	for (int k = 0; rerun && k < n->noutputs; k++)
		mp_tensor_reset(&c->own_t[k]);
	return st;
}

static enum mp_status shadow_hook(void *user, struct mp_exec *shadow, size_t i, struct mp_error *e)
{
	struct mp_compare_run *c = user;
	return i == c->target && c->fn ? visit(c, shadow, i, e) : MP_OK;
}

/* The planned shadow: every value is looked at when its node has run (so
 * none is fused away or narrowed), none is kept after. */
static bool shadow_watches(void *user, int32_t value)
{
	(void)user;
	(void)value;
	return true;
}

static enum mp_status shadow_ran(void *user, struct mp_exec *shadow, size_t i, struct mp_error *e)
{
	struct mp_compare_run *c = user;
	return c->fn ? visit(c, shadow, i, e) : MP_OK;
}

enum mp_status mp_compare_run_new(const struct mp_graph *g, struct mp_backend *be, struct mp_backend *host,
                                  size_t max_memory, struct mp_compare_run **out, struct mp_error *e)
{
	struct mp_compare_run *c = calloc(1, sizeof *c);
	int maxio = 1;
	enum mp_status st;

	*out = NULL;
	if (!c)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	c->g = g;
	for (size_t i = 0; i < mp_graph_nnodes(g); i++) {
		const struct mp_node *n = mp_graph_node(g, i);
		maxio = n->ninputs > maxio ? n->ninputs : maxio;
		maxio = n->noutputs > maxio ? n->noutputs : maxio;
	}
	c->ref = calloc((size_t)maxio, sizeof *c->ref);
	c->own = calloc((size_t)maxio, sizeof *c->own);
	c->ins = calloc((size_t)maxio, sizeof *c->ins);
	c->own_t = calloc((size_t)maxio, sizeof *c->own_t);
	if (!c->ref || !c->own || !c->ins || !c->own_t) {
		mp_compare_run_free(c);
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	}
	c->policy.base = MP_POLICY_FP32;
	c->policy.on_mismatch = MP_MISMATCH_CAST;
	/* the reference PyTorch users take: the model in fp32, the batch cast to fp32 */
	struct mp_exec_options o = { .policy = &c->policy, .float_inputs = MP_F32, .max_memory = max_memory };
	if ((st = mp_exec_new(g, be, host, &o, &c->shadow, e))) {
		mp_compare_run_free(c);
		return mp_error_prefix(e, "the fp32 shadow run: ");
	}
	mp_compare_run_set_planned(c, false);
	*out = c;
	return MP_OK;
}

void mp_compare_run_free(struct mp_compare_run *c)
{
	if (!c)
		return;
	mp_exec_free(c->shadow);
	free(c->ref);
	free(c->own);
	free(c->ins);
	free(c->own_t);
	free(c);
}

enum mp_status mp_compare_run_begin(struct mp_compare_run *c, const struct mp_batch *b, struct mp_error *e)
{
	enum mp_status st = mp_exec_begin(c->shadow, b, e);
	return st ? mp_error_prefix(e, "the fp32 shadow run: ") : MP_OK;
}

enum mp_status mp_compare_run_to(struct mp_compare_run *c, struct mp_exec *tested, size_t i, mp_compare_fn fn,
                                 void *user, struct mp_error *e)
{
	enum mp_status st = MP_OK;
	c->tested = tested;
	c->target = i;
	c->fn = fn;
	c->user = user;
	while (!st && mp_exec_position(c->shadow) <= i && !mp_exec_done(c->shadow))
		st = mp_exec_step(c->shadow, e);
	c->fn = NULL;
	return st ? mp_error_prefix(e, "the fp32 shadow run: ") : MP_OK;
}

void mp_compare_run_set_planned(struct mp_compare_run *c, bool planned)
{
	c->planned = planned;
	if (planned) {
		struct mp_exec_observer o = { shadow_watches, NULL, shadow_ran, c };
		mp_exec_set_hook(c->shadow, NULL, NULL);
		mp_exec_set_observer(c->shadow, &o);
	} else {
		mp_exec_set_observer(c->shadow, NULL);
		mp_exec_set_hook(c->shadow, shadow_hook, c);
	}
}

enum mp_status mp_compare_run_all(struct mp_compare_run *c, struct mp_exec *tested, mp_compare_fn fn, void *user,
                                  bool *replayed, struct mp_error *e)
{
	struct mp_exec_stats before, after;
	enum mp_status st;
	*replayed = false;
	if (!c->planned)
		return mp_error_set(e, MP_ERR_INTERNAL, "the fp32 shadow run is not planned");
	c->tested = tested;
	c->fn = fn;
	c->user = user;
	mp_exec_get_stats(c->shadow, &before);
	c->running = true;
	st = mp_exec_run(c->shadow, e);
	c->running = false;
	mp_exec_get_stats(c->shadow, &after);
	*replayed = after.graph_replays != before.graph_replays;
	/* the observer never sees nodes folded at binding: they are visited
	 * now, once the shadow has run (a rerun needs the node behind it) */
	for (size_t i = 0; !st && i < mp_graph_nnodes(c->g); i++)
		if (mp_exec_node_folded(c->shadow, i))
			st = visit(c, c->shadow, i, e);
	c->fn = NULL;
	return st ? mp_error_prefix(e, "the fp32 shadow run: ") : MP_OK;
}

void mp_compare_run_get_stats(const struct mp_compare_run *c, struct mp_exec_stats *out)
{
	mp_exec_get_stats(c->shadow, out);
}

bool mp_compare_run_running(const struct mp_compare_run *c)
{
	return c->running;
}
