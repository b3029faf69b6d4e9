/* cmd_inspect.c - `mpdbg inspect MODEL`: what a model is made of, and what
 * mpdbg cannot run in it, before anything runs. */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "batch.h"
#include "cli.h"
#include "graph.h"
#include "plan.h"
#include "plan_print.h"

static const char *const inspect_help =
	"usage: mpdbg inspect MODEL [--json] [--depth N]\n"
	"       mpdbg inspect MODEL --policy P [--data PATH] [--all] [--json]\n\n"
	"Shows an ONNX model: opsets, node and op counts, parameters by dtype, the\n"
	"module tree, graph inputs and outputs with their shapes, and every node that\n"
	"no backend can run, with the reason.  Nodes that break ONNX's own rules\n"
	"(shapes that cannot fit, an attribute without its value) are listed as\n"
	"problems, and make the exit status 2.\n\n"
	"With a policy option it shows the dtype plan instead, without running\n"
	"anything: each node's compute dtype and every cast the policy makes, with its\n"
	"reason, and the node a dtype mismatch would stop at (exit status 3).\n\n"
	"  --json               print the same as one JSON object\n"
	"  --depth N            levels of the module tree to show (default 4; 0 for all)\n"
	MP_CLI_POLICY_HELP
	"  --data PATH          take the input dtypes from the first batch in PATH\n"
	"                       (default: the dtypes the graph declares)\n"
	"  --glob PATTERN       in a folder, only the files matching PATTERN\n"
	"  --all                list every node, not only those with casts\n"
	MP_CLI_LIMIT_HELP
	"  -h, --help           this help\n";

struct op_count {
	const char *op;
	int n;
};

static int cmp_count(const void *a, const void *b)
{
	const struct op_count *x = a, *y = b;
	return x->n != y->n ? y->n - x->n : strcmp(x->op, y->op);
}

/* Histogram of op types, most frequent first; returns the count of types. */
static size_t op_histogram(const struct mp_graph *g, struct op_count *out)
{
	size_t k = 0;
	for (size_t i = 0; i < mp_graph_nnodes(g); i++) {
		const char *op = mp_graph_node(g, i)->op_type;
		size_t j = 0;
		while (j < k && strcmp(out[j].op, op))
			j++;
		if (j == k)
			out[k++] = (struct op_count){ op, 0 };
		out[j].n++;
	}
	qsort(out, k, sizeof *out, cmp_count);
	return k;
}

/* Why a node cannot run (NULL when it can): the op is unknown or has an
 * unsupported attribute, or the backend has no kernel. */
static const char *node_blocker(const struct mp_node *n, const struct mp_backend *cpu)
{
	if (n->unsupported)
		return n->unsupported;
	if (!n->params)
		return "unsupported";
	enum mp_op_family f = mp_op_info(n->op)->family;
	if (f != MP_FAMILY_view && n->op != MP_OP_CONSTANT && !mp_backend_op(cpu, n->op))
		return "no backend has a kernel for it";
	return NULL;
}

struct dtype_stat {
	int64_t tensors, elems;
	uint64_t bytes;
};

static void param_stats(const struct mp_graph *g, struct dtype_stat *by)
{
	for (size_t i = 0; i < mp_graph_ninitializers(g); i++) {
		const struct mp_value *v = mp_graph_value(g, (size_t)mp_graph_initializer(g, i));
		int64_t n = mp_tensor_numel(v->data);
		by[v->data->dtype].tensors++;
		by[v->data->dtype].elems += n;
		by[v->data->dtype].bytes += (uint64_t)n * mp_dtype_size(v->data->dtype);
	}
}

/* ---- text ---- */

struct tree_style {
	const char *tee, *last, *pipe, *blank;
};

static void print_module(const struct mp_graph *g, int32_t id, const char *prefix, bool last,
                         int depth, int max_depth, const struct tree_style *ts)
{
	const struct mp_module *m = mp_graph_module(g, (size_t)id);
	char params[32], name[1600];
	int nchild = 0;
	for (int32_t c = m->first_child; c >= 0; c = mp_graph_module(g, (size_t)c)->next_sibling)
		nchild++;
	snprintf(name, sizeof name, "%s%s%s", id == 0 ? "" : prefix, id == 0 ? "" : (last ? ts->last : ts->tee),
	         id == 0 ? "(model)" : m->name);
	printf("  ");
	mp_cli_print_padded(name, 34);
	printf(" %-22.22s %6d %11s", m->class_name ? m->class_name : "", m->nnodes_total,
	       mp_cli_thousands(params, sizeof params, m->nparams));
	if (max_depth && depth >= max_depth && nchild) {
		printf("  +%d\n", nchild);
		return;
	}
	printf("\n");
	char next[1024];
	snprintf(next, sizeof next, "%s%s", id == 0 ? "" : prefix, id == 0 ? "" : (last ? ts->blank : ts->pipe));
	for (int32_t c = m->first_child; c >= 0;) {
		int32_t sib = mp_graph_module(g, (size_t)c)->next_sibling;
		print_module(g, c, next, sib < 0, depth + 1, max_depth, ts);
		c = sib;
	}
}

/* What the model declares, with dims inference knows better filled in
 * (exporters name output dims "Addjoints_3d_dim_1" that are really 21). */
static struct mp_value_info shown_info(const struct mp_value *v)
{
	struct mp_value_info vi = v->has_declared ? v->declared : v->info;
	if (v->has_declared && v->info.ndim == vi.ndim)
		for (int d = 0; d < vi.ndim; d++)
			if (vi.dims[d] < 0 && v->info.dims[d] >= 0)
				vi.dims[d] = v->info.dims[d];
	if (!vi.dtype)
		vi.dtype = v->info.dtype;
	return vi;
}

static void print_value_line(const struct mp_graph *g, const char *label, int32_t id)
{
	const struct mp_value *v = mp_graph_value(g, (size_t)id);
	struct mp_value_info shown = shown_info(v);
	const struct mp_value_info *vi = &shown;
	char dims[512];
	printf("%-12s %-28s %-9s %s\n", label, v->name, vi->dtype ? mp_dtype_name(vi->dtype) : "?",
	       mp_graph_dims_str(g, vi, dims, sizeof dims));
}

static int inspect_text(const struct mp_graph *g, const struct mp_backend *cpu, int depth)
{
	struct op_count *ops = calloc(mp_graph_nnodes(g) + 1, sizeof *ops);
	struct dtype_stat by[MP_DTYPE_COUNT] = { 0 };
	char a[64], b[64];
	if (!ops)
		return MP_EXIT_INTERNAL;
	size_t nops = op_histogram(g, ops);
	param_stats(g, by);

	printf("%-12s %s\n", "model", mp_graph_path(g));
	printf("%-12s ONNX IR %lld, produced by %s\n", "format", (long long)mp_graph_ir_version(g),
	       mp_graph_producer(g)[0] ? mp_graph_producer(g) : "(unknown)");
	printf("%-12s", "opsets");
	for (size_t i = 0; i < mp_graph_nopsets(g); i++) {
		const struct mp_opset *o = mp_graph_opset_at(g, i);
		printf(" %s %lld%s", o->domain[0] ? o->domain : "ai.onnx", (long long)o->version,
		       i + 1 < mp_graph_nopsets(g) ? "," : "");
	}
	printf("\n%-12s %zu nodes, %zu op types, %zu initializers\n", "graph", mp_graph_nnodes(g), nops,
	       mp_graph_ninitializers(g));
	int64_t total = 0;
	uint64_t bytes = 0;
	for (int t = 0; t < MP_DTYPE_COUNT; t++) {
		total += by[t].elems;
		bytes += by[t].bytes;
	}
	printf("%-12s %s (%s)\n", "parameters", mp_cli_thousands(a, sizeof a, total), mp_cli_bytes(b, sizeof b, bytes));
	for (int t = 0; t < MP_DTYPE_COUNT; t++)
		if (by[t].tensors)
			printf("%-12s   %-9s %5lld tensors %14s %12s\n", "", mp_dtype_name(t), (long long)by[t].tensors,
			       mp_cli_thousands(a, sizeof a, by[t].elems), mp_cli_bytes(b, sizeof b, by[t].bytes));
	for (size_t i = 0; i < mp_graph_ninputs(g); i++)
		print_value_line(g, i ? "" : "inputs", mp_graph_input(g, i));
	for (size_t i = 0; i < mp_graph_noutputs(g); i++)
		print_value_line(g, i ? "" : "outputs", mp_graph_output(g, i));
	printf("%-12s", "ops");
	for (size_t i = 0; i < nops; i++)
		printf("%s%s %d", i ? (i % 6 ? ", " : ",\n             ") : " ", ops[i].op, ops[i].n);
	printf("\n\n%-36s %-22s %6s %11s\n", "modules", "class", "nodes", "params");
	static const struct tree_style utf8 = { "├─ ", "└─ ", "│  ", "   " };
	static const struct tree_style ascii = { "|- ", "`- ", "|  ", "   " };
	print_module(g, 0, "", true, 0, depth, mp_cli_utf8() ? &utf8 : &ascii);
	printf("  (parameters count where first used%s)\n",
	       depth ? "; +N: submodules below the depth shown, --depth 0 for all" : "");

	/* what cannot run, by op, then each node */
	size_t blocked = 0, problems = 0;
	for (size_t i = 0; i < mp_graph_nnodes(g); i++) {
		blocked += node_blocker(mp_graph_node(g, i), cpu) != NULL;
		problems += mp_graph_node_problem(g, i) != NULL;
	}
	printf("\n");
	if (!blocked) {
		printf("%-12s all %zu nodes run on: cpu\n", "support", mp_graph_nnodes(g));
	} else {
		printf("%-12s %zu of %zu nodes cannot run on any backend (cpu):\n", "unsupported", blocked,
		       mp_graph_nnodes(g));
		for (size_t i = 0; i < mp_graph_nnodes(g); i++) {
			const struct mp_node *n = mp_graph_node(g, i);
			const char *why = node_blocker(n, cpu);
			if (why)
				printf("  %-18s %-36s %s\n", n->op_type, n->name, why);
		}
	}
	if (problems) {
		printf("%-12s %zu node%s fail shape or type inference:\n", "problems", problems,
		       problems > 1 ? "s" : "");
		for (size_t i = 0; i < mp_graph_nnodes(g); i++) {
			const char *p = mp_graph_node_problem(g, i);
			if (p)
				printf("  %-18s %-36s %s\n", mp_graph_node(g, i)->op_type, mp_graph_node(g, i)->name, p);
		}
	}
	free(ops);
	return MP_EXIT_OK;
}

/* ---- JSON ---- */

static json_t *dims_json(const struct mp_graph *g, const struct mp_value_info *vi)
{
	if (vi->ndim < 0)
		return json_null();
	json_t *a = json_array();
	for (int d = 0; d < vi->ndim; d++) {
		int64_t v = vi->dims[d];
		if (v >= 0)
			json_array_append_new(a, json_integer(v));
		else if (MP_DIM_IS_SYM(v))
			json_array_append_new(a, json_string(mp_graph_symbol(g, (size_t)MP_DIM_SYM_INDEX(v))));
		else
			json_array_append_new(a, json_null());
	}
	return a;
}

static json_t *value_json(const struct mp_graph *g, int32_t id)
{
	const struct mp_value *v = mp_graph_value(g, (size_t)id);
	struct mp_value_info shown = shown_info(v);
	const struct mp_value_info *vi = &shown;
	return json_pack("{s:s, s:s, s:o}", "name", v->name, "dtype",
	                 vi->dtype ? mp_dtype_name(vi->dtype) : "?", "shape", dims_json(g, vi));
}

static json_t *module_json(const struct mp_graph *g, int32_t id, int depth, int max_depth)
{
	const struct mp_module *m = mp_graph_module(g, (size_t)id);
	json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "name", m->name, "path", m->path,
	                      "nodes", (json_int_t)m->nnodes_total, "params", (json_int_t)m->nparams);
	if (m->class_name)
		json_object_set_new(o, "class", json_string(m->class_name));
	if (m->first_child >= 0 && (!max_depth || depth < max_depth)) {
		json_t *ch = json_array();
		for (int32_t c = m->first_child; c >= 0; c = mp_graph_module(g, (size_t)c)->next_sibling)
			json_array_append_new(ch, module_json(g, c, depth + 1, max_depth));
		json_object_set_new(o, "children", ch);
	}
	return o;
}

static int inspect_json(const struct mp_graph *g, const struct mp_backend *cpu, int depth)
{
	struct op_count *ops = calloc(mp_graph_nnodes(g) + 1, sizeof *ops);
	struct dtype_stat by[MP_DTYPE_COUNT] = { 0 };
	if (!ops)
		return MP_EXIT_INTERNAL;
	size_t nops = op_histogram(g, ops);
	param_stats(g, by);
	json_t *root = json_object(), *a;
	json_object_set_new(root, "model", json_string(mp_graph_path(g)));
	json_object_set_new(root, "ir_version", json_integer(mp_graph_ir_version(g)));
	json_object_set_new(root, "producer", json_string(mp_graph_producer(g)));
	a = json_object();
	for (size_t i = 0; i < mp_graph_nopsets(g); i++) {
		const struct mp_opset *o = mp_graph_opset_at(g, i);
		json_object_set_new(a, o->domain[0] ? o->domain : "ai.onnx", json_integer(o->version));
	}
	json_object_set_new(root, "opsets", a);
	json_object_set_new(root, "nodes", json_integer((json_int_t)mp_graph_nnodes(g)));
	a = json_object();
	for (size_t i = 0; i < nops; i++)
		json_object_set_new(a, ops[i].op, json_integer(ops[i].n));
	json_object_set_new(root, "ops", a);
	a = json_object();
	for (int t = 0; t < MP_DTYPE_COUNT; t++)
		if (by[t].tensors)
			json_object_set_new(a, mp_dtype_name(t),
			                    json_pack("{s:I, s:I, s:I}", "tensors", (json_int_t)by[t].tensors,
			                              "elements", (json_int_t)by[t].elems, "bytes", (json_int_t)by[t].bytes));
	json_object_set_new(root, "parameters", a);
	a = json_array();
	for (size_t i = 0; i < mp_graph_ninputs(g); i++)
		json_array_append_new(a, value_json(g, mp_graph_input(g, i)));
	json_object_set_new(root, "inputs", a);
	a = json_array();
	for (size_t i = 0; i < mp_graph_noutputs(g); i++)
		json_array_append_new(a, value_json(g, mp_graph_output(g, i)));
	json_object_set_new(root, "outputs", a);
	json_object_set_new(root, "modules", module_json(g, 0, 0, depth));
	a = json_array();
	json_t *probs = json_array();
	for (size_t i = 0; i < mp_graph_nnodes(g); i++) {
		const struct mp_node *n = mp_graph_node(g, i);
		const char *why = node_blocker(n, cpu), *p = mp_graph_node_problem(g, i);
		if (why)
			json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "node", n->name, "op", n->op_type, "reason", why));
		if (p)
			json_array_append_new(probs, json_pack("{s:s, s:s, s:s}", "node", n->name, "op", n->op_type, "problem", p));
	}
	json_object_set_new(root, "unsupported", a);
	json_object_set_new(root, "problems", probs);
	json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("\n");
	json_decref(root);
	free(ops);
	return MP_EXIT_OK;
}

/* The dtype plan for the first batch of `data` (or the declared dtypes). */
static int inspect_plan(const struct mp_graph *g, const struct mp_policy *p, const char *data,
                        const char *glob, bool all, bool json)
{
	struct mp_error e = { 0 };
	struct mp_batch_source *src = NULL;
	struct mp_batch *b = NULL;
	struct mp_plan *pl = NULL;
	size_t ni = mp_graph_ninputs(g);
	enum mp_dtype *dt = calloc(ni + 1, sizeof *dt);
	size_t *match = calloc(ni + 1, sizeof *match);
	int rc;

	if (!dt || !match) {
		mp_error_set(&e, MP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < ni; i++)
		dt[i] = mp_graph_value(g, (size_t)mp_graph_input(g, i))->declared.dtype;
	if (data) {
		if (mp_batch_source_open_glob(data, glob, &src, &e))
			goto fail;
		if (!mp_batch_source_count(src)) {
			mp_error_set(&e, MP_ERR_INPUT, "%s: no batches", data);
			goto fail;
		}
		if (mp_batch_load(src, 0, &b, &e) || mp_batch_match(b, g, match, &e))
			goto fail;
		for (size_t i = 0; i < ni; i++) { /* float tensors keep their dtype, as when running */
			enum mp_dtype have = mp_batch_tensor(b, match[i])->dtype;
			if (mp_dtype_is_float(have) && (mp_dtype_is_float(dt[i]) || !dt[i]))
				dt[i] = have;
		}
	}
	if (mp_plan_build(g, p, dt, &pl, &e))
		goto fail;
	rc = mp_cli_print_plan(g, pl, b, all, json);
	goto out;
fail:
	rc = mp_cli_fail(&e);
out:
	mp_plan_free(pl);
	mp_batch_free(b);
	mp_batch_source_free(src);
	free(dt);
	free(match);
	return rc;
}

/* A model whose nodes break ONNX's rules is a refused input (exit 2), after
 * the listing: the first such node named on stderr with the file. */
static int invalid_verdict(const struct mp_graph *g, const char *path)
{
	size_t n = 0, first = 0;
	for (size_t i = 0; i < mp_graph_nnodes(g); i++)
		if (mp_graph_node(g, i)->invalid && !n++)
			first = i;
	if (!n)
		return MP_EXIT_OK;
	const struct mp_node *nd = mp_graph_node(g, first);
	const char *why = mp_graph_node_problem(g, first);
	struct mp_error e = { 0 };
	mp_error_set(&e, MP_ERR_MODEL, "%s: %zu invalid node%s; node '%s' (%s): %s", path, n, n > 1 ? "s" : "",
	             nd->name, nd->op_type, why ? why : nd->unsupported ? nd->unsupported : "invalid");
	return mp_cli_fail(&e);
}

int mp_cmd_inspect(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "depth", required_argument, NULL, 'd' },
		{ "data", required_argument, NULL, 'D' },
		{ "glob", required_argument, NULL, 'g' },
		{ "all", no_argument, NULL, 'a' },
		MP_CLI_LIMIT_OPTIONS,
		MP_CLI_POLICY_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false, all = false, plan = false;
	const char *data = NULL, *glob = NULL;
	long depth = 4;
	int c, rc;
	struct mp_error e = { 0 };
	struct mp_graph *g = NULL;
	struct mp_backend *cpu = NULL;
	struct mp_policy policy = { 0 };
	struct mp_cli_limits limits = { 0 };

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'a': all = true; break;
		case 'D': data = optarg; break;
		case 'g': glob = optarg; break;
		case 'd':
			if (!mp_cli_parse_count("inspect", "--depth", optarg, &depth)) {
				mp_policy_free(&policy);
				return MP_EXIT_INPUT;
			}
			break;
		case 'h': fputs(inspect_help, stdout); mp_policy_free(&policy); return MP_EXIT_OK;
		case MP_OPT_MAX_NODES: case MP_OPT_MAX_VALUES:
			if (!mp_cli_limit_option("inspect", c, optarg, &limits)) {
				mp_policy_free(&policy);
				return MP_EXIT_INPUT;
			}
			break;
		case MP_OPT_POLICY: case MP_OPT_FP32: case MP_OPT_DTYPE: case MP_OPT_ON_MISMATCH:
			if (!mp_cli_policy_option("inspect", c, optarg, &policy, &plan)) {
				mp_policy_free(&policy);
				return MP_EXIT_INPUT;
			}
			break;
		case ':': mp_policy_free(&policy); return mp_cli_usage_error("inspect", "%s needs a value", argv[optind - 1]);
		default: mp_policy_free(&policy); return mp_cli_usage_error("inspect", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		rc = mp_cli_usage_error("inspect", optind >= argc ? "which model?" : "one model at a time");
	else if ((data || all) && !plan)
		rc = mp_cli_usage_error("inspect", "--data and --all go with --policy");
	else if (mp_graph_load_limited(argv[optind], &limits.graph, &g, &e) || mp_backend_cpu_new(1, &cpu, &e))
		rc = mp_cli_fail(&e);
	else if (plan)
		rc = inspect_plan(g, &policy, data, glob, all, json);
	else
		rc = json ? inspect_json(g, cpu, (int)depth) : inspect_text(g, cpu, (int)depth);
	if (g && !rc)
		rc = invalid_verdict(g, argv[optind]);
	mp_policy_free(&policy);
	mp_backend_free(cpu);
	mp_graph_free(g);
	return rc;
}
