/* cmd_run.c - `mpdbg run MODEL --data PATH`: runs every batch under a
 * precision policy with the probes on, prints one line per batch (a
 * progress bar on a terminal), records the run with --session, and stops at
 * a dtype mismatch or a breakpoint with a report (exit status 3). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "outputs.h"
#include "probe_print.h"
#include "progress.h"
#include "run.h"
#include "session.h"
#include "timing.h"

static const char *const run_help =
	"usage: mpdbg run MODEL --data PATH [options]\n"
	"       mpdbg run MODEL --synthetic [--dim NAME=N ...] [--seed N] [options]\n\n"
	"Runs an ONNX model on batches under a precision policy, with probes on\n"
	"every node, and prints per batch each graph output's dtype, shape and\n"
	"min/max/mean, and what the probes found worth saying.\n\n"
	"  --data PATH          a .safetensors file, a folder of them (one batch each,\n"
	"                       in name order), or an ONNX test case folder\n"
	"  --glob PATTERN       in a folder, only the files matching PATTERN\n"
	"                       (default *.safetensors)\n"
	"  --synthetic          no batch file: inputs of the graph's declared dtypes and\n"
	"                       shapes, zeros (a smoke test; at most 1 GiB of inputs)\n"
	"  --dim NAME=N         with --synthetic, the size of symbolic dim NAME\n"
	"                       (repeatable; default 1)\n"
	"  --seed N             with --synthetic, random values from seed N instead of\n"
	"                       zeros: floats in [-1, 1), integers in [0, 10), bools\n"
	"                       0 or 1\n"
	"  --batches N          run the first N batches only (with --synthetic: N\n"
	"                       batches, default 1)\n"
	"  --device DEV         cpu, cuda or auto (default auto: the GPU when there is one)\n"
	"  --threads N          CPU threads (default: all)\n"
	MP_CLI_POLICY_HELP
	"                       (default policy: fp32)\n"
	"  --session FILE.db    record the run in a session file (a new file); each\n"
	"                       batch's line says it is queued and how many batches\n"
	"                       the file holds so far\n"
	"  --compare fp32       also run each batch in fp32 and compare every node\n"
	"  --tol X              relative L2 error that --break tol and reports flag\n"
	"                       (default 0.01)\n"
	"  --break COND         stop at the first node where COND holds: nan, inf,\n"
	"                       overflow, mismatch, tol or node=GLOB (repeatable)\n"
	"  --capture GLOB       keep whole tensors of matching values or nodes in the\n"
	"                       session (graph outputs always are; repeatable)\n"
	"  --no-probes          no statistics, diversity or comparison but the graph\n"
	"                       outputs' for their line (timing runs)\n"
	"  --literal            the probes node by node with nothing planned, fused or\n"
	"                       captured: the reference the fast path is checked against\n"
	"  --save-outputs DIR   write DIR/<batch>.safetensors with every graph output\n"
	"  --timing             at the end, where a batch's time goes (reading, binding,\n"
	"                       running, the probes) and what the executor planned,\n"
	"                       fused and replayed as a graph\n"
	MP_CLI_FORCE_HELP
	MP_CLI_LIMIT_HELP
	MP_CLI_MEMORY_HELP
	"  -h, --help           this help\n\n"
	"Exit status: 0 done, 2 bad usage or input, 3 stopped at a node (a dtype\n"
	"mismatch under --on-mismatch error, or a breakpoint), 1 internal failure.\n";

enum { OPT_SESSION = 0x200, OPT_CAPTURE, OPT_NO_PROBES, OPT_SYNTHETIC, OPT_DIM, OPT_SEED, OPT_FORCE, OPT_LITERAL,
       OPT_TIMING };

/* What the command line asked for. */
struct run_opts {
	const char *model, *data, *device, *glob, *session, *save_dir;
	long batches, threads;
	bool no_probes, policy_given, synthetic, seed_given, force, help, timing;
	struct mp_synth_options so;
	struct mp_synth_dim *dims;
	struct mp_policy policy;
	struct mp_probe_options po;
	struct mp_cli_limits limits;
};

struct run_ctx {
	struct mp_run *run;
	struct mp_progress progress;
	bool save;
	bool timing;
	struct mp_run_timing times;
};

/* Batch tensors converted to the graph's integer types, once. */
static void print_entry_casts(const struct mp_exec *x, const struct mp_graph *g, const struct mp_batch *b)
{
	for (size_t k = 0; k < mp_exec_nevents(x); k++) {
		struct mp_dtype_event ev;
		mp_exec_event(x, k, &ev);
		if (ev.reason != MP_CAST_ENTRY)
			continue;
		const char *file = NULL;
		for (size_t i = 0; i < mp_batch_count(b); i++)
			if (!strcmp(mp_batch_tensor_name(b, i), mp_graph_value(g, (size_t)ev.value)->name))
				file = mp_batch_tensor_file(b, i);
		fprintf(stderr, "note: %s%s'%s' is %s, the graph input is %s: converted on entry\n",
		        file ? file : "", file ? ": " : "", mp_graph_value(g, (size_t)ev.value)->name,
		        mp_dtype_name(ev.from), mp_dtype_name(ev.to));
	}
}

/* What the policy did, in one line: how many casts of each kind. */
static void print_trace_summary(const struct mp_exec *x)
{
	size_t by[MP_CAST_REASON_COUNT] = { 0 }, total = 0;
	const struct mp_plan *pl = mp_exec_plan(x);
	if (!pl)
		return;
	for (size_t k = 0; k < mp_exec_nevents(x); k++) {
		struct mp_dtype_event ev;
		mp_exec_event(x, k, &ev);
		if (ev.reason == MP_CAST_BLOCKED || (ev.reason == MP_CAST_GRAPH && ev.from == ev.to))
			continue;
		by[ev.reason]++;
		total++;
	}
	fprintf(stderr, "policy %s: %zu cast%s", mp_policy_name(mp_plan_policy(pl)), total, total == 1 ? "" : "s");
	const char *sep = " (";
	for (int r = 1; r < MP_CAST_REASON_COUNT; r++)
		if (by[r]) {
			fprintf(stderr, "%s%s %zu", sep, mp_cast_reason_name((enum mp_cast_reason)r), by[r]);
			sep = ", ";
		}
	fprintf(stderr, "%s; 'mpdbg inspect MODEL --policy %s --data PATH' lists them\n", total ? ")" : "",
	        mp_policy_name(mp_plan_policy(pl)));
}

/* The outputs line: each graph output's dtype, shape and summary, from its
 * probe's statistics where the probes measured it (no copy, no pass over
 * it here), else from a host copy. */
static void print_outputs(struct run_ctx *c, const char *name, double ms, const struct mp_probe_batch *pb)
{
	const struct mp_graph *g = mp_run_graph(c->run);
	printf("%-20s %8.1f ms", name, ms);
	for (size_t i = 0; i < mp_graph_noutputs(g); i++) {
		int32_t id = mp_graph_output(g, i);
		struct mp_tensor t;
		struct mp_error e = { 0 };
		char shape[256], stats[256];
		const struct mp_probe_record *r = pb ? mp_probe_batch_find(pb, id) : NULL;
		if (r && (r->flags & MP_REC_STATS)) {
			printf("%s  %s %s %s %s", i ? " |" : "", mp_graph_value(g, (size_t)id)->name,
			       mp_dtype_traits(r->dtype)->short_name, mp_shape_str(shape, sizeof shape, r->ndim, r->shape),
			       mp_run_stats_summary(stats, sizeof stats, &r->stats));
			continue;
		}
		if (mp_exec_fetch(mp_run_exec(c->run), id, &t, &e)) {
			printf("%s  %s (not computed)", i ? " |" : "", mp_graph_value(g, (size_t)id)->name);
			continue;
		}
		printf("%s  %s %s %s %s", i ? " |" : "", mp_graph_value(g, (size_t)id)->name,
		       mp_dtype_traits(t.dtype)->short_name, mp_shape_str(shape, sizeof shape, t.ndim, t.shape),
		       mp_run_tensor_summary(stats, sizeof stats, &t));
		mp_tensor_reset(&t);
	}
	/* the session's writer thread commits behind the run: a batch printed
	 * here is only queued, and a kill now would lose it (issue 13) */
	if (mp_run_has_session(c->run))
		printf("  [queued; %zu recorded]", mp_session_committed(mp_run_runner(c->run)->session));
	printf("\n");
}

/* What `run` says about a finished batch, before the session has it. */
static enum mp_status batch_done(void *user, const struct mp_runner_result *res, struct mp_error *e)
{
	struct run_ctx *c = user;
	const struct mp_graph *g = mp_run_graph(c->run);
	if (res->index == 0 || res->status == MP_ERR_MISMATCH)
		print_entry_casts(mp_run_exec(c->run), g, res->b);
	mp_progress_clear(&c->progress);
	if (!res->status)
		print_outputs(c, res->name, res->ms, res->pb);
	if (res->pb && !res->status) {
		char notes[1024];
		if (mp_run_batch_notes(g, res->pb, mp_run_runner(c->run)->tol, notes, sizeof notes)[0])
			printf("%20s  %s\n", "", notes);
	}
	fflush(stdout);
	enum mp_status st;
	if (c->timing && !res->status && (st = mp_run_timing_add(&c->times, res, e)))
		return st;
	return !res->status && c->save ? mp_run_save_outputs(c->run, res, e) : MP_OK;
}

/* --dim NAME=N into the synthetic options; false (message printed) if bad. */
static bool add_dim(struct mp_synth_options *so, struct mp_synth_dim **dims, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char *end;
	long long v;
	if (!eq || eq == arg || !eq[1]) {
		mp_cli_usage_error("run", "--dim wants NAME=N, not '%s'", arg);
		return false;
	}
	errno = 0;
	v = strtoll(eq + 1, &end, 10);
	if (errno || *end || v < 0) {
		mp_cli_usage_error("run", "--dim %.*s wants a size >= 0, not '%s'", (int)(eq - arg), arg, eq + 1);
		return false;
	}
	struct mp_synth_dim *nd = realloc(*dims, (so->ndims + 1) * sizeof *nd);
	char *name = strndup(arg, (size_t)(eq - arg));
	if (!nd || !name) {
		free(name);
		if (nd)
			*dims = nd;
		fprintf(stderr, "mpdbg: out of memory\n");
		return false;
	}
	*dims = nd;
	nd[so->ndims++] = (struct mp_synth_dim){ name, (int64_t)v };
	so->dims = nd;
	return true;
}

static int parse_seed(struct run_opts *o, const char *arg)
{
	char *end;
	int rc = MP_EXIT_OK;
	errno = 0;
	o->so.seed = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-')
		rc = mp_cli_usage_error("run", "--seed wants a non-negative number, not '%s'", arg);
	o->so.random = o->seed_given = true;
	return rc;
}

/* One option; an exit status when it is bad. */
static int parse_option(struct run_opts *o, int c, char *arg, char **argv)
{
	struct mp_error e = { 0 };
	switch (c) {
	case 'D': o->data = arg; break;
	case 'g': o->glob = arg; break;
	case 'v': o->device = arg; break;
	case 's': o->save_dir = arg; break;
	case OPT_SESSION: o->session = arg; break;
	case OPT_NO_PROBES: o->no_probes = true; break;
	case OPT_LITERAL: o->po.literal = true; break;
	case OPT_TIMING: o->timing = true; break;
	case OPT_SYNTHETIC: o->synthetic = true; break;
	case OPT_FORCE: o->force = true; break;
	case MP_OPT_MAX_NODES: case MP_OPT_MAX_VALUES: case MP_OPT_MAX_MEMORY:
		return mp_cli_limit_option("run", c, arg, &o->limits) ? MP_EXIT_OK : MP_EXIT_INPUT;
	case OPT_DIM: return add_dim(&o->so, &o->dims, arg) ? MP_EXIT_OK : MP_EXIT_INPUT;
	case OPT_SEED: return parse_seed(o, arg);
	case 'b': return mp_cli_parse_count("run", "--batches", arg, &o->batches) ? MP_EXIT_OK : MP_EXIT_INPUT;
	case 't': return mp_cli_parse_count("run", "--threads", arg, &o->threads) ? MP_EXIT_OK : MP_EXIT_INPUT;
	case MP_OPT_COMPARE: case MP_OPT_TOL: case MP_OPT_BREAK:
		return mp_cli_probe_option("run", c, arg, &o->po) ? MP_EXIT_OK : MP_EXIT_INPUT;
	case OPT_CAPTURE: return mp_probe_options_add_capture(&o->po, arg, &e) ? mp_cli_fail(&e) : MP_EXIT_OK;
	case 'h': o->help = true; break;
	case MP_OPT_POLICY: case MP_OPT_FP32: case MP_OPT_DTYPE: case MP_OPT_ON_MISMATCH:
		return mp_cli_policy_option("run", c, arg, &o->policy, &o->policy_given) ? MP_EXIT_OK : MP_EXIT_INPUT;
	case ':': return mp_cli_usage_error("run", "%s needs a value", argv[optind - 1]);
	default: return mp_cli_usage_error("run", "unknown option '%s'", argv[optind - 1]);
	}
	return MP_EXIT_OK;
}

static int parse_options(int argc, char **argv, struct run_opts *o)
{
	static const struct option longopts[] = {
		{ "data", required_argument, NULL, 'D' },
		{ "glob", required_argument, NULL, 'g' },
		{ "device", required_argument, NULL, 'v' },
		{ "batches", required_argument, NULL, 'b' },
		{ "save-outputs", required_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' },
		{ "session", required_argument, NULL, OPT_SESSION },
		MP_CLI_PROBE_OPTIONS,
		{ "capture", required_argument, NULL, OPT_CAPTURE },
		{ "no-probes", no_argument, NULL, OPT_NO_PROBES },
		{ "literal", no_argument, NULL, OPT_LITERAL },
		{ "timing", no_argument, NULL, OPT_TIMING },
		{ "synthetic", no_argument, NULL, OPT_SYNTHETIC },
		{ "dim", required_argument, NULL, OPT_DIM },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "force", no_argument, NULL, OPT_FORCE },
		MP_CLI_LIMIT_OPTIONS,
		MP_CLI_MEMORY_OPTION,
		MP_CLI_POLICY_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc = MP_EXIT_OK;
	optind = 1;
	opterr = 0;
	while (!rc && !o->help && (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1)
		rc = parse_option(o, c, optarg, argv);
	return rc;
}

/* Options that make sense alone but not together. */
static int check_usage(const struct run_opts *o, int argc)
{
	if (optind != argc - 1)
		return mp_cli_usage_error("run", optind >= argc ? "which model?" : "one model at a time");
	if (!o->data && !o->synthetic)
		return mp_cli_usage_error("run", "--data PATH or --synthetic is required");
	if (o->data && o->synthetic)
		return mp_cli_usage_error("run", "--data and --synthetic are two sources of batches: pick one");
	if (!o->synthetic && (o->so.ndims || o->seed_given))
		return mp_cli_usage_error("run", "--dim and --seed go with --synthetic");
	if (o->synthetic && o->glob)
		return mp_cli_usage_error("run", "--glob goes with --data, not --synthetic");
	if (strcmp(o->device, "cpu") && strcmp(o->device, "cuda") && strcmp(o->device, "auto"))
		return mp_cli_usage_error("run", "--device is cpu, cuda or auto, not '%s'", o->device);
	if (o->no_probes && (o->po.compare || o->po.nbreaks || o->po.ncaptures))
		return mp_cli_usage_error("run", "--no-probes goes with neither --compare, --break nor --capture");
	if (o->no_probes && o->po.literal)
		return mp_cli_usage_error("run", "--literal is how the probes run: it does not go with --no-probes");
	return MP_EXIT_OK;
}

/* The run the options describe, with its session. */
static enum mp_status open_run(struct run_opts *o, int argc, char **argv, struct mp_run **out, struct mp_error *e)
{
	struct mp_run_setup s = {
		.model = o->model, .data = o->data, .glob = o->glob, .synthetic = o->synthetic ? &o->so : NULL,
		.some_batches = o->batches >= 0, .batches = o->batches >= 0 ? (size_t)o->batches : 0,
		.device = o->device, .threads = o->threads, .policy = &o->policy, .probes = &o->po,
		.no_probes = o->no_probes, .output_stats = o->no_probes, .limits = o->limits.graph, .max_memory = o->limits.max_memory,
		.save_dir = o->save_dir, .force = o->force,
	};
	enum mp_status st;
	if ((st = mp_run_open(&s, out, e)) || (st = mp_run_check_outputs(*out, e)) ||
	    (o->session && (st = mp_run_record(*out, o->session, argc, argv, e))))
		return st;
	return MP_OK;
}

/* Every batch, a progress bar below; the exit status. */
static int run_batches(struct run_ctx *c, const struct run_opts *o, enum mp_status *final, size_t *ran,
                       struct mp_error *e)
{
	size_t n = mp_run_count(c->run);
	int rc = MP_EXIT_OK;
	mp_progress_start(&c->progress, n);
	for (size_t i = 0; i < n; i++) {
		bool stop;
		mp_progress_draw(&c->progress, i);
		*final = mp_run_batch(c->run, i, batch_done, c, &stop, e);
		*ran += !*final || stop;
		if (*final) {
			mp_progress_clear(&c->progress);
			rc = mp_cli_fail(e);
			if (e->status == MP_ERR_INPUT && mp_batch_source_kind(mp_run_source(c->run)) == MP_BATCH_SAFETENSORS_DIR &&
			    !o->glob)
				fprintf(stderr, "hint: --glob PATTERN picks which files of %s are batches\n", o->data);
			return rc;
		}
	}
	mp_progress_draw(&c->progress, n);
	mp_progress_clear(&c->progress);
	if (n)
		print_trace_summary(mp_run_exec(c->run));
	if (c->timing)
		mp_run_timing_print(&c->times, mp_run_exec(c->run), mp_run_runner(c->run)->probes, stderr);
	return rc;
}

/* The session's last word, and the line that counts what it holds. */
static int finish_session(struct run_ctx *c, const struct run_opts *o, int rc, enum mp_status final, size_t ran,
                          const struct mp_error *e)
{
	struct mp_error fe = { 0 };
	if (!mp_run_has_session(c->run))
		return rc;
	if (mp_run_finish(c->run, final, final ? e->msg : NULL, &fe)) {
		rc = rc ? rc : mp_cli_fail(&fe);
		if (rc != mp_cli_exit_status(fe.status))
			fprintf(stderr, "mpdbg: %s\n", fe.msg);
	} else {
		fprintf(stderr, "session %s: %zu batch%s recorded\n", o->session, ran, ran == 1 ? "" : "es");
	}
	return rc;
}

int mp_cmd_run(int argc, char **argv)
{
	struct run_opts o = { .device = "auto", .batches = -1 };
	struct run_ctx ctx = { 0 };
	struct mp_error e = { 0 };
	enum mp_status final = MP_OK;
	size_t ran = 0;
	int rc;

	mp_probe_options_init(&o.po);
	if (!(rc = parse_options(argc, argv, &o)) && o.help)
		fputs(run_help, stdout);
	else if (!rc && !(rc = check_usage(&o, argc))) {
		o.model = argv[optind];
		ctx.save = o.save_dir != NULL;
		ctx.timing = o.timing;
		if (open_run(&o, argc, argv, &ctx.run, &e))
			rc = mp_cli_fail(&e);
		else
			rc = run_batches(&ctx, &o, &final, &ran, &e);
		if (ctx.run)
			rc = finish_session(&ctx, &o, rc, final, ran, &e);
	}
	mp_run_free(ctx.run);
	mp_run_timing_free(&ctx.times);
	mp_policy_free(&o.policy);
	mp_probe_options_free(&o.po);
	for (size_t i = 0; i < o.so.ndims; i++)
		free((char *)o.dims[i].name);
	free(o.dims);
	return rc;
}
