/* probe_print.c - what the probes found, in words: a record's statistics
 * on one line, the report of a breakpoint hit, and a batch's notable
 * findings for `mpdbg run`. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "probe_print.h"

struct sbuf {
	char *p;
	size_t size, n;
};

static void put(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct sbuf *b, const char *fmt, ...)
{
	if (b->n >= b->size)
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(b->p + b->n, b->size - b->n, fmt, ap);
	va_end(ap);
	if (k > 0)
		b->n += (size_t)k < b->size - b->n ? (size_t)k : b->size - b->n - 1;
}

const char *mp_run_record_line(const struct mp_probe_record *r, enum mp_dtype low, char *buf, size_t size)
{
	struct sbuf b = { buf, size, 0 };
	const struct mp_stats_acc *s = &r->stats;
	char shape[128];
	buf[0] = '\0';
	put(&b, "%s %s", mp_dtype_name(r->dtype), mp_shape_str(shape, sizeof shape, r->ndim, r->shape));
	if (!(r->flags & MP_REC_STATS))
		return buf;
	if (s->finite)
		put(&b, ": min %.6g max %.6g mean %.6g std %.6g", s->min, s->max, s->mean, mp_stats_std(s));
	else
		put(&b, ": no finite value");
	if (s->nan || s->posinf || s->neginf) {
		put(&b, ";");
		if (s->nan)
			put(&b, " %lld NaN", (long long)s->nan);
		if (s->posinf)
			put(&b, " %lld +Inf", (long long)s->posinf);
		if (s->neginf)
			put(&b, " %lld -Inf", (long long)s->neginf);
		put(&b, " of %lld", (long long)s->count);
	}
	for (int t = 0; t < MP_LOW_COUNT; t++) {
		enum mp_dtype lt = t == MP_LOW_BF16 ? MP_BF16 : MP_F16;
		if (low != MP_F32 && low != lt)
			continue;
		if (s->overflow[t])
			put(&b, "; %lld would overflow %s", (long long)s->overflow[t], mp_dtype_name(lt));
	}
	return buf;
}

static const char *module_of(const struct mp_graph *g, int32_t node)
{
	const char *m = mp_graph_module(g, (size_t)mp_graph_node(g, (size_t)node)->module)->path;
	return m[0] ? m : "(model)";
}

const char *mp_run_hit_report(const struct mp_exec *x, const struct mp_probe_batch *pb, const char *batch_name,
                              char *buf, size_t size)
{
	const struct mp_graph *g = mp_exec_graph(x);
	const struct mp_break_hit *h = &pb->hit_at;
	struct sbuf b = { buf, size, 0 };
	char line[512];

	buf[0] = '\0';
	put(&b, "breakpoint %s%s%s: batch %zu (%s), ", mp_break_kind_name(h->bp->kind), h->bp->glob ? "=" : "",
	    h->bp->glob ? h->bp->glob : "", pb->index, batch_name);
	if (h->node < 0) {
		put(&b, "graph input '%s'", mp_graph_value(g, (size_t)h->value)->name);
		const struct mp_probe_record *r = mp_probe_batch_find(pb, h->value);
		if (r)
			put(&b, "\n  %s", mp_run_record_line(r, pb->low, line, sizeof line));
		return buf;
	}
	const struct mp_node *n = mp_graph_node(g, (size_t)h->node);
	put(&b, "node %d '%s' (%s) in module %s", h->node, n->name, n->op_type, module_of(g, h->node));
	for (int k = 0; k < n->noutputs; k++) {
		const struct mp_probe_record *r = n->outputs[k] >= 0 ? mp_probe_batch_find(pb, n->outputs[k]) : NULL;
		if (!r)
			continue;
		put(&b, "\n  %s output '%s' %s", r->value == h->value ? ">" : " ",
		    mp_graph_value(g, (size_t)r->value)->name, mp_run_record_line(r, pb->low, line, sizeof line));
		if (r->flags & MP_REC_COMPARE)
			put(&b, "\n      vs fp32: rel L2 %.3g (own %.3g, inherited %.3g), max |err| %.3g", mp_compare_rel_l2(&r->cmp),
			    mp_compare_rel_l2(&r->own), mp_compare_rel_l2(&r->inh), r->cmp.max_abs);
	}
	const struct mp_plan *pl = mp_exec_plan(x);
	for (int k = 0; k < n->ninputs; k++) {
		int32_t id = n->inputs[k];
		if (id < 0)
			continue;
		const struct mp_probe_record *r = mp_probe_batch_find(pb, id);
		put(&b, "\n    input %d '%s'%s%s", k, mp_graph_value(g, (size_t)id)->name, r ? " " : "",
		    r ? mp_run_record_line(r, pb->low, line, sizeof line) : "");
		if (pl) {
			char origin[512];
			put(&b, "\n      from %s", mp_plan_origin(pl, id, NULL, origin, sizeof origin));
		}
	}
	return buf;
}

const char *mp_run_batch_notes(const struct mp_graph *g, const struct mp_probe_batch *pb, double tol, char *buf,
                               size_t size)
{
	struct sbuf b = { buf, size, 0 };
	int64_t nan_vals = 0, inf_vals = 0, over_vals = 0;
	int32_t first_nan = -1, worst = -1;
	double worst_rel = 0;
	int t = pb->low == MP_F16 ? MP_LOW_F16 : MP_LOW_BF16;

	buf[0] = '\0';
	for (size_t i = 0; i < pb->nrecords; i++) {
		const struct mp_probe_record *r = &pb->records[i];
		if (r->flags & MP_REC_STATS) {
			if (r->stats.nan && !nan_vals++)
				first_nan = (int32_t)i;
			inf_vals += r->stats.posinf + r->stats.neginf > 0;
			over_vals += pb->low == MP_F32 ? r->stats.overflow[MP_LOW_F16] > 0 : r->stats.overflow[t] > 0;
		}
		if ((r->flags & MP_REC_COMPARE) && mp_compare_rel_l2(&r->cmp) > worst_rel) {
			worst_rel = mp_compare_rel_l2(&r->cmp);
			worst = (int32_t)i;
		}
	}
	if (nan_vals)
		put(&b, "NaN in %lld value%s (first '%s')", (long long)nan_vals, nan_vals == 1 ? "" : "s",
		    mp_graph_value(g, (size_t)pb->records[first_nan].value)->name);
	if (inf_vals)
		put(&b, "%sInf in %lld value%s", b.n ? "; " : "", (long long)inf_vals, inf_vals == 1 ? "" : "s");
	if (over_vals)
		put(&b, "%s%lld value%s would overflow %s", b.n ? "; " : "", (long long)over_vals, over_vals == 1 ? "" : "s",
		    pb->low == MP_F32 ? "float16" : mp_dtype_name(pb->low));
	if (worst >= 0) {
		const struct mp_probe_record *r = &pb->records[worst];
		put(&b, "%svs fp32: worst rel L2 %.3g at '%s' (own %.3g)%s", b.n ? "; " : "", worst_rel,
		    r->node >= 0 ? mp_graph_node(g, (size_t)r->node)->name : mp_graph_value(g, (size_t)r->value)->name,
		    mp_compare_rel_l2(&r->own), worst_rel > tol ? ", above --tol" : "");
	}
	return buf;
}
