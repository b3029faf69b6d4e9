/* plan_print.c - the dtype plan for people (`mpdbg inspect --policy`) and
 * for scripts (--json): each node's compute dtype, every cast with its
 * reason, what converting the weights costs, and where a mismatch stops. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "plan_print.h"

/* The rounding error of converting an initializer, measured here, since
 * nothing has run. */
static void measure_weight(const struct mp_graph *g, const struct mp_dtype_event *ev, double *abs_err,
                           double *rel_err)
{
	const struct mp_value *v = mp_graph_value(g, (size_t)ev->value);
	*abs_err = *rel_err = NAN;
	if (v->kind != MP_VALUE_INITIALIZER || !v->data || !mp_dtype_computable(v->data->dtype))
		return;
	size_t n = (size_t)mp_tensor_numel(v->data), es = mp_dtype_size(v->data->dtype);
	void *src = malloc(n * es + 1), *dst = malloc(n * mp_dtype_size(ev->to) + 1);
	if (src && dst) {
		memcpy(src, v->data->data, n * es); /* the mapping may be misaligned */
		mp_dtype_convert_measure(v->data->dtype, src, ev->to, dst, n, abs_err, rel_err);
	}
	free(src);
	free(dst);
}

static const char *module_of(const struct mp_graph *g, const struct mp_node *n)
{
	const char *p = mp_graph_module(g, (size_t)n->module)->path;
	return p[0] ? p : "(model)";
}

static const char *short_dtype(enum mp_dtype t)
{
	return t ? mp_dtype_traits(t)->short_name : "-";
}

static const char *input_file(const struct mp_graph *g, const struct mp_batch *b, int32_t id)
{
	for (size_t i = 0; b && i < mp_batch_count(b); i++)
		if (!strcmp(mp_batch_tensor_name(b, i), mp_graph_value(g, (size_t)id)->name))
			return mp_batch_tensor_file(b, i);
	return NULL;
}

static int print_text(const struct mp_graph *g, const struct mp_plan *pl, const struct mp_batch *b,
                      bool all)
{
	const struct mp_policy *p = mp_plan_policy(pl);
	size_t nn = mp_graph_nnodes(g), ne = mp_plan_nevents(pl);
	size_t by_reason[MP_CAST_REASON_COUNT] = { 0 }, by_dtype[MP_DTYPE_COUNT] = { 0 };
	const char *sep;
	char buf[64];

	printf("policy       %s (on mismatch: %s)", mp_policy_name(p), mp_on_mismatch_name(mp_policy_on_mismatch(p)));
	for (int i = 0; i < p->noverrides; i++)
		printf("%s%s=%s", i ? ", " : "; overrides ", p->overrides[i].glob, short_dtype(p->overrides[i].dtype));
	printf("\n");
	for (size_t i = 0; i < mp_graph_ninputs(g); i++) {
		int32_t id = mp_graph_input(g, i);
		const char *file = input_file(g, b, id);
		printf("%-13s", i ? "" : "inputs");
		mp_cli_print_padded(mp_graph_value(g, (size_t)id)->name, 24);
		printf(" %-9s %s%s\n", mp_dtype_name(mp_plan_value_dtype(pl, id)), file ? "from " : "(as declared)",
		       file ? file : "");
	}
	/* weights converted once, with their worst rounding error */
	size_t nweights = 0;
	double worst_rel = 0;
	const char *worst = NULL;
	enum mp_dtype wto = MP_DTYPE_UNDEFINED;
	for (size_t k = 0; k < ne; k++) {
		const struct mp_dtype_event *ev = mp_plan_event(pl, k);
		if (ev->reason != MP_CAST_WEIGHT)
			continue;
		double a, r;
		measure_weight(g, ev, &a, &r);
		nweights++;
		wto = ev->to;
		if (r == r && (!worst || r > worst_rel)) {
			worst_rel = r;
			worst = mp_graph_value(g, (size_t)ev->value)->name;
		}
	}
	if (nweights) {
		printf("weights      %zu converted to %s once", nweights, mp_dtype_name(wto));
		if (worst)
			printf("; largest relative rounding error %.3g, in '%s'", worst_rel, worst);
		printf("\n");
	} else {
		printf("weights      as stored%s\n", mp_policy_is_autocast(p) ? " (autocast casts them per use)" : "");
	}
	for (size_t i = 0; i < nn; i++) {
		const struct mp_node_decision *d = mp_plan_decision(pl, i);
		if (d->exec)
			by_dtype[d->exec]++;
	}
	printf("compute      ");
	sep = "";
	for (int t = 1; t < MP_DTYPE_COUNT; t++)
		if (by_dtype[t]) {
			printf("%s%s %s", sep, mp_cli_thousands(buf, sizeof buf, (int64_t)by_dtype[t]), mp_dtype_name(t));
			sep = ", ";
		}
	printf("%s\n", sep[0] ? " nodes" : "no float nodes");
	size_t ncasts = 0;
	for (size_t k = 0; k < ne; k++) {
		const struct mp_dtype_event *ev = mp_plan_event(pl, k);
		if (ev->reason == MP_CAST_BLOCKED || (ev->reason == MP_CAST_GRAPH && ev->from == ev->to))
			continue;
		by_reason[ev->reason]++;
		ncasts++;
	}
	printf("casts        %zu", ncasts);
	sep = " (";
	for (int r = 1; r < MP_CAST_REASON_COUNT; r++)
		if (by_reason[r]) {
			printf("%s%s %zu", sep, mp_cast_reason_name((enum mp_cast_reason)r), by_reason[r]);
			sep = ", ";
		}
	printf("%s\n\n", ncasts ? ")" : "");

	/* node by node: every node with a cast, or all of them */
	printf("   #  node (op, compute dtype)\n");
	size_t k = 0;
	for (size_t i = 0; i < nn; i++) {
		const struct mp_node *n = mp_graph_node(g, i);
		const struct mp_node_decision *d = mp_plan_decision(pl, i);
		while (k < ne && mp_plan_event(pl, k)->node < (int32_t)i)
			k++;
		size_t first = k, last = k;
		while (last < ne && mp_plan_event(pl, last)->node == (int32_t)i)
			last++;
		k = last;
		const struct mp_dtype_event *only = first + 1 == last ? mp_plan_event(pl, first) : NULL;
		if (!all && only && only->reason == MP_CAST_GRAPH && only->from == only->to)
			first = last; /* a Cast that changes nothing */
		if (!all && first == last)
			continue;
		printf("%4zu  %s (%s, %s)\n", i, n->name, n->op_type, d->exec ? mp_dtype_name(d->exec) : "no float math");
		for (size_t j = first; j < last; j++) {
			const struct mp_dtype_event *ev = mp_plan_event(pl, j);
			if (ev->reason == MP_CAST_BLOCKED)
				printf("        STOP: float inputs disagree (%s and %s)\n", mp_dtype_name(ev->from),
				       mp_dtype_name(ev->to));
			else if (ev->slot < 0)
				printf("        output %s -> %s  %s\n", short_dtype(ev->from), short_dtype(ev->to),
				       ev->reason == MP_CAST_RETARGET ? "retarget (the graph casts to another float type)" :
				       "graph");
			else
				printf("        in %d '%s' %s -> %s  %s\n", ev->slot, mp_graph_value(g, (size_t)ev->value)->name,
				       short_dtype(ev->from), short_dtype(ev->to), mp_cast_reason_name(ev->reason));
		}
	}
	int32_t bi = mp_plan_first_blocked(pl);
	if (bi >= 0) {
		char msg[MP_ERROR_MSG_MAX];
		printf("\nstops at node %d, module %s:\n%s\n", bi, module_of(g, mp_graph_node(g, (size_t)bi)),
		       mp_plan_mismatch_message(pl, (size_t)bi, b, msg, sizeof msg));
		return MP_EXIT_STOPPED;
	}
	return MP_EXIT_OK;
}

static json_t *num_or_null(double v)
{
	return v == v && !isinf(v) ? json_real(v) : isinf(v) ? json_string("inf") : json_null();
}

static int print_json(const struct mp_graph *g, const struct mp_plan *pl, const struct mp_batch *b)
{
	const struct mp_policy *p = mp_plan_policy(pl);
	json_t *root = json_object(), *ins = json_array(), *nodes = json_array(), *evs = json_array(),
	       *ovs = json_array();
	for (int i = 0; i < p->noverrides; i++)
		json_array_append_new(ovs, json_pack("{s:s, s:s}", "glob", p->overrides[i].glob, "dtype",
		                                     mp_dtype_name(p->overrides[i].dtype)));
	json_object_set_new(root, "policy", json_string(mp_policy_name(p)));
	json_object_set_new(root, "on_mismatch", json_string(mp_on_mismatch_name(mp_policy_on_mismatch(p))));
	json_object_set_new(root, "overrides", ovs);
	for (size_t i = 0; i < mp_graph_ninputs(g); i++) {
		int32_t id = mp_graph_input(g, i);
		const char *file = input_file(g, b, id);
		json_array_append_new(ins, json_pack("{s:s, s:s, s:o}", "name", mp_graph_value(g, (size_t)id)->name,
		                                     "dtype", mp_dtype_name(mp_plan_value_dtype(pl, id)), "file",
		                                     file ? json_string(file) : json_null()));
	}
	json_object_set_new(root, "inputs", ins);
	for (size_t i = 0; i < mp_graph_nnodes(g); i++) {
		const struct mp_node *n = mp_graph_node(g, i);
		const struct mp_node_decision *d = mp_plan_decision(pl, i);
		json_t *outs = json_array();
		for (int k = 0; k < n->noutputs; k++)
			if (n->outputs[k] >= 0)
				json_array_append_new(outs, json_pack("{s:s, s:s}", "name",
				                                      mp_graph_value(g, (size_t)n->outputs[k])->name, "dtype",
				                                      mp_dtype_name(mp_plan_value_dtype(pl, n->outputs[k]))));
		json_array_append_new(nodes, json_pack("{s:I, s:s, s:s, s:s, s:o, s:b, s:o}", "index", (json_int_t)i,
		                                       "name", n->name, "op", n->op_type, "module", module_of(g, n),
		                                       "exec_dtype", d->exec ? json_string(mp_dtype_name(d->exec)) : json_null(),
		                                       "blocked", d->blocked, "outputs", outs));
	}
	json_object_set_new(root, "nodes", nodes);
	for (size_t k = 0; k < mp_plan_nevents(pl); k++) {
		const struct mp_dtype_event *ev = mp_plan_event(pl, k);
		json_t *o = json_pack("{s:o, s:o, s:o, s:s, s:s, s:s}",
		                      "node", ev->node >= 0 ? json_integer(ev->node) : json_null(),
		                      "slot", ev->slot >= 0 ? json_integer(ev->slot) : json_null(),
		                      "value", ev->value >= 0 ? json_string(mp_graph_value(g, (size_t)ev->value)->name) : json_null(),
		                      "from", ev->from ? mp_dtype_name(ev->from) : "undefined",
		                      "to", ev->to ? mp_dtype_name(ev->to) : "undefined",
		                      "reason", mp_cast_reason_name(ev->reason));
		if (ev->reason == MP_CAST_WEIGHT) {
			double a, r;
			measure_weight(g, ev, &a, &r);
			json_object_set_new(o, "max_abs", num_or_null(a));
			json_object_set_new(o, "max_rel", num_or_null(r));
		}
		json_array_append_new(evs, o);
	}
	json_object_set_new(root, "dtype_events", evs);
	int32_t bi = mp_plan_first_blocked(pl);
	if (bi >= 0) {
		char msg[MP_ERROR_MSG_MAX];
		json_object_set_new(root, "stop", json_pack("{s:i, s:s, s:s}", "node", (int)bi, "name",
		                                            mp_graph_node(g, (size_t)bi)->name, "message",
		                                            mp_plan_mismatch_message(pl, (size_t)bi, b, msg, sizeof msg)));
	} else {
		json_object_set_new(root, "stop", json_null());
	}
	json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("\n");
	json_decref(root);
	return bi >= 0 ? MP_EXIT_STOPPED : MP_EXIT_OK;
}

int mp_cli_print_plan(const struct mp_graph *g, const struct mp_plan *pl, const struct mp_batch *b,
                      bool all, bool json)
{
	return json ? print_json(g, pl, b) : print_text(g, pl, b, all);
}
