/* cmd_run.c - `mpdbg run MODEL --data PATH`: runs every batch under a
 * precision policy with the probes on, prints one line per batch (a
 * progress bar on a terminal), records the run with --session, and stops at
 * a dtype mismatch or a breakpoint with a report (exit status 3). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend.h"
#include "batch.h"
#include "cli.h"
#include "exec.h"
#include "graph.h"
#include "probe_print.h"
#include "probes.h"
#include "progress.h"
#include "runner.h"
#include "safetensors.h"
#include "session.h"

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
	"  --no-probes          no statistics, diversity or comparison (timing runs)\n"
	"  --save-outputs DIR   write DIR/<batch>.safetensors with every graph output\n"
	MP_CLI_FORCE_HELP
	MP_CLI_LIMIT_HELP
	MP_CLI_MEMORY_HELP
	"  -h, --help           this help\n\n"
	"Exit status: 0 done, 2 bad usage or input, 3 stopped at a node (a dtype\n"
	"mismatch under --on-mismatch error, or a breakpoint), 1 internal failure.\n";

enum { OPT_SESSION = 0x200, OPT_CAPTURE, OPT_NO_PROBES, OPT_SYNTHETIC, OPT_DIM, OPT_SEED, OPT_FORCE };

struct run_ctx {
	struct mp_runner r;
	struct mp_progress progress;
	const char *save_dir;
	bool force; /* --force: files in save_dir may be replaced */
};

static enum mp_status make_dir(const char *dir, struct mp_error *e)
{
	struct stat st;
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return mp_error_set(e, MP_ERR_IO, "%s: exists and is not a folder", dir);
		return MP_OK;
	}
	if (mkdir(dir, 0777) != 0)
		return mp_error_set(e, MP_ERR_IO, "%s: cannot create folder: %s", dir, strerror(errno));
	return MP_OK;
}

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

static enum mp_status save_outputs(struct run_ctx *c, const struct mp_batch *b, const char *name,
                                   struct mp_error *e)
{
	const struct mp_graph *g = c->r.g;
	size_t no = mp_graph_noutputs(g);
	struct mp_tensor *outs = calloc(no + 1, sizeof *outs);
	struct mp_st_item *items = calloc(no + 1, sizeof *items);
	size_t n = strlen(c->save_dir) + strlen(name) + 16;
	char *path = malloc(n);
	enum mp_status st = MP_OK;
	if (!outs || !items || !path) {
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < no && !st; i++) {
		int32_t id = mp_graph_output(g, i);
		st = mp_exec_fetch(c->r.x, id, &outs[i], e);
		items[i].name = mp_graph_value(g, (size_t)id)->name;
		items[i].t = &outs[i];
	}
	snprintf(path, n, "%s/%s.safetensors", c->save_dir, name);
	if (!st && !mp_cli_may_write(path, c->force, e)) /* two batches of one name, too */
		st = e->status;
	const char *meta[] = { "producer", "mpdbg " MPDBG_VERSION, "model", mp_graph_path(g), "batch", mp_batch_path(b) };
	if (!st)
		st = mp_st_write(path, items, no, meta, 3, e);
out:
	for (size_t i = 0; outs && i < no; i++)
		mp_tensor_reset(&outs[i]);
	free(outs);
	free(items);
	free(path);
	return st;
}

/* The outputs line: each graph output's dtype, shape and summary. */
static void print_outputs(struct run_ctx *c, const char *name, double ms)
{
	const struct mp_graph *g = c->r.g;
	printf("%-20s %8.1f ms", name, ms);
	for (size_t i = 0; i < mp_graph_noutputs(g); i++) {
		int32_t id = mp_graph_output(g, i);
		struct mp_tensor t;
		struct mp_error e = { 0 };
		char shape[256], stats[256];
		if (mp_exec_fetch(c->r.x, id, &t, &e)) {
			printf("%s  %s (not computed)", i ? " |" : "", mp_graph_value(g, (size_t)id)->name);
			continue;
		}
		printf("%s  %s %s %s %s", i ? " |" : "", mp_graph_value(g, (size_t)id)->name,
		       mp_dtype_traits(t.dtype)->short_name, mp_shape_str(shape, sizeof shape, t.ndim, t.shape),
		       mp_cli_tensor_summary(stats, sizeof stats, &t));
		mp_tensor_reset(&t);
	}
	/* the session's writer thread commits behind the run: a batch printed
	 * here is only queued, and a kill now would lose it (issue 13) */
	if (c->r.session)
		printf("  [queued; %zu recorded]", mp_session_committed(c->r.session));
	printf("\n");
}

/* What `run` says about a finished batch, before the session has it. */
static enum mp_status batch_done(void *user, const struct mp_runner_result *res, struct mp_error *e)
{
	struct run_ctx *c = user;
	if (res->index == 0 || res->status == MP_ERR_MISMATCH)
		print_entry_casts(c->r.x, c->r.g, res->b);
	mp_progress_clear(&c->progress);
	if (!res->status)
		print_outputs(c, res->name, res->ms);
	if (res->pb && !res->status) {
		char notes[1024];
		if (mp_cli_batch_notes(c->r.g, res->pb, c->r.tol, notes, sizeof notes)[0])
			printf("%20s  %s\n", "", notes);
	}
	fflush(stdout);
	return !res->status && c->save_dir ? save_outputs(c, res->b, res->name, e) : MP_OK;
}

/* Runs batch bi; *stop is set (with the report in e) when the run must end
 * here: a mismatch, a breakpoint. */
static enum mp_status run_batch(struct run_ctx *c, size_t bi, bool *stop, struct mp_error *e)
{
	struct mp_runner_result res;
	enum mp_status st;
	*stop = false;
	if ((st = mp_runner_begin(&c->r, bi, e)))
		return st;
	st = mp_runner_continue(&c->r, e);
	if (st && st != MP_ERR_MISMATCH && st != MP_ERR_BREAK) {
		mp_runner_abandon(&c->r);
		return st;
	}
	if ((st = mp_runner_end(&c->r, batch_done, c, &res, e)))
		return st;
	if (res.status) {
		*stop = true;
		return mp_error_set(e, res.status, "%s", res.report);
	}
	return MP_OK;
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

/* The processor's name, for the session. */
static void cpu_name(char *buf, size_t size)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	snprintf(buf, size, "CPU");
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "model name", 10)) {
			char *v = strchr(line, ':');
			if (v) {
				v += 1 + (v[1] == ' ');
				v[strcspn(v, "\n")] = '\0';
				snprintf(buf, size, "%s", v);
			}
			break;
		}
	if (f)
		fclose(f);
}

int mp_cmd_run(int argc, char **argv)
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
	const char *data = NULL, *device = "auto", *glob = NULL, *session = NULL;
	long batches = -1, threads = 0;
	int c, rc = MP_EXIT_OK;
	bool no_probes = false, policy_given = false, synthetic = false, seed_given = false;
	struct mp_synth_options so = { 0 };
	struct mp_synth_dim *dims = NULL;
	struct mp_error e = { 0 };
	struct mp_graph *g = NULL;
	struct mp_backend *cpu = NULL, *gpu = NULL, *be = NULL;
	struct mp_batch_source *src = NULL;
	struct mp_policy policy = { 0 };
	struct mp_probe_options po;
	struct run_ctx ctx = { 0 };
	struct mp_cli_limits limits = { 0 };

	mp_probe_options_init(&po);
	optind = 1;
	opterr = 0;
	while (!rc && (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'D': data = optarg; break;
		case 'g': glob = optarg; break;
		case 'v': device = optarg; break;
		case 's': ctx.save_dir = optarg; break;
		case OPT_SESSION: session = optarg; break;
		case OPT_NO_PROBES: no_probes = true; break;
		case OPT_SYNTHETIC: synthetic = true; break;
		case OPT_FORCE: ctx.force = true; break;
		case MP_OPT_MAX_NODES: case MP_OPT_MAX_VALUES: case MP_OPT_MAX_MEMORY:
			if (!mp_cli_limit_option("run", c, optarg, &limits))
				rc = MP_EXIT_INPUT;
			break;
		case OPT_DIM: if (!add_dim(&so, &dims, optarg)) rc = MP_EXIT_INPUT; break;
		case OPT_SEED: {
			char *end;
			errno = 0;
			so.seed = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-')
				rc = mp_cli_usage_error("run", "--seed wants a non-negative number, not '%s'", optarg);
			so.random = seed_given = true;
			break;
		}
		case 'b': if (!mp_cli_parse_count("run", "--batches", optarg, &batches)) rc = MP_EXIT_INPUT; break;
		case 't': if (!mp_cli_parse_count("run", "--threads", optarg, &threads)) rc = MP_EXIT_INPUT; break;
		case MP_OPT_COMPARE: case MP_OPT_TOL: case MP_OPT_BREAK:
			if (!mp_cli_probe_option("run", c, optarg, &po))
				rc = MP_EXIT_INPUT;
			break;
		case OPT_CAPTURE:
			if (mp_probe_options_add_capture(&po, optarg, &e))
				rc = mp_cli_fail(&e);
			break;
		case 'h': fputs(run_help, stdout); goto out;
		case MP_OPT_POLICY: case MP_OPT_FP32: case MP_OPT_DTYPE: case MP_OPT_ON_MISMATCH:
			if (!mp_cli_policy_option("run", c, optarg, &policy, &policy_given))
				rc = MP_EXIT_INPUT;
			break;
		case ':': rc = mp_cli_usage_error("run", "%s needs a value", argv[optind - 1]); break;
		default: rc = mp_cli_usage_error("run", "unknown option '%s'", argv[optind - 1]); break;
		}
	}
	if (rc)
		goto out;
	if (optind != argc - 1)
		rc = mp_cli_usage_error("run", optind >= argc ? "which model?" : "one model at a time");
	else if (!data && !synthetic)
		rc = mp_cli_usage_error("run", "--data PATH or --synthetic is required");
	else if (data && synthetic)
		rc = mp_cli_usage_error("run", "--data and --synthetic are two sources of batches: pick one");
	else if (!synthetic && (so.ndims || seed_given))
		rc = mp_cli_usage_error("run", "--dim and --seed go with --synthetic");
	else if (synthetic && glob)
		rc = mp_cli_usage_error("run", "--glob goes with --data, not --synthetic");
	else if (strcmp(device, "cpu") && strcmp(device, "cuda") && strcmp(device, "auto"))
		rc = mp_cli_usage_error("run", "--device is cpu, cuda or auto, not '%s'", device);
	else if (no_probes && (po.compare || po.nbreaks || po.ncaptures))
		rc = mp_cli_usage_error("run", "--no-probes goes with neither --compare, --break nor --capture");
	if (rc)
		goto out;

	struct mp_exec_options xo = { .policy = &policy, .max_memory = limits.max_memory };
	po.max_memory = limits.max_memory; /* the fp32 shadow run of --compare too */
	/* the GPU when asked, or when there is one and the choice is ours */
	bool want_gpu = !strcmp(device, "cuda") || (!strcmp(device, "auto") && mp_backend_cuda_present());
	if (mp_graph_load_limited(argv[optind], &limits.graph, &g, &e) ||
	    (synthetic ? mp_batch_source_synthetic(g, &so, batches >= 0 ? (size_t)batches : 1, &src, &e) :
	                 mp_batch_source_open_glob(data, glob, &src, &e)) ||
	    (ctx.save_dir && make_dir(ctx.save_dir, &e)) || mp_backend_cpu_new((int)threads, &cpu, &e) ||
	    (want_gpu && mp_backend_cuda_new(0, &gpu, &e))) {
		rc = mp_cli_fail(&e);
		goto out;
	}
	be = gpu ? gpu : cpu;
	if (mp_exec_new(g, be, cpu, &xo, &ctx.r.x, &e) ||
	    (!no_probes && mp_probes_new(g, be, cpu, &policy, &po, &ctx.r.probes, &e))) {
		mp_error_prefix(&e, "%s: ", argv[optind]);
		rc = mp_cli_fail(&e);
		goto out;
	}
	ctx.r.g = g;
	ctx.r.src = src;
	ctx.r.tol = po.tol;
	if (ctx.r.probes)
		mp_probes_attach(ctx.r.probes, ctx.r.x, NULL, NULL);
	size_t n = mp_batch_source_count(src);
	if (batches >= 0 && (size_t)batches < n)
		n = (size_t)batches;
	/* outputs that would replace files: refused before anything runs */
	for (size_t i = 0; ctx.save_dir && i < n; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s.safetensors", ctx.save_dir, mp_batch_source_name(src, i));
		if (!mp_cli_may_write(path, ctx.force, &e)) {
			rc = mp_cli_fail(&e);
			goto out;
		}
	}
	if (session) {
		char dev[256];
		if (gpu)
			snprintf(dev, sizeof dev, "%s", mp_backend_device_name(gpu));
		else
			cpu_name(dev, sizeof dev);
		struct mp_session_info info = { argv[optind], g, &policy, po.compare, po.tol, be->iface->name, dev, argc,
		                                argv };
		if (mp_session_create(session, &info, &ctx.r.session, &e)) {
			rc = mp_cli_fail(&e);
			goto out;
		}
	}
	mp_progress_start(&ctx.progress, n);
	enum mp_status final = MP_OK;
	size_t ran = 0;
	for (size_t i = 0; i < n; i++) {
		bool stop;
		mp_progress_draw(&ctx.progress, i);
		final = run_batch(&ctx, i, &stop, &e);
		ran += !final || stop;
		if (final) {
			mp_progress_clear(&ctx.progress);
			rc = mp_cli_fail(&e);
			if (e.status == MP_ERR_INPUT && mp_batch_source_kind(src) == MP_BATCH_SAFETENSORS_DIR && !glob)
				fprintf(stderr, "hint: --glob PATTERN picks which files of %s are batches\n", data);
			break;
		}
	}
	if (!final) {
		mp_progress_draw(&ctx.progress, n);
		mp_progress_clear(&ctx.progress);
		if (n)
			print_trace_summary(ctx.r.x);
	}
	if (ctx.r.session) {
		struct mp_error fe = { 0 };
		if (mp_session_finish(ctx.r.session, final, final ? e.msg : NULL, &fe)) {
			rc = rc ? rc : mp_cli_fail(&fe);
			if (rc != mp_cli_exit_status(fe.status))
				fprintf(stderr, "mpdbg: %s\n", fe.msg);
		} else {
			fprintf(stderr, "session %s: %zu batch%s recorded\n", session, ran, ran == 1 ? "" : "es");
		}
		ctx.r.session = NULL;
	}
out:
	mp_probes_free(ctx.r.probes);
	mp_exec_free(ctx.r.x);
	mp_policy_free(&policy);
	mp_probe_options_free(&po);
	mp_backend_free(gpu);
	mp_backend_free(cpu);
	mp_batch_source_free(src);
	mp_graph_free(g);
	for (size_t i = 0; i < so.ndims; i++)
		free((char *)dims[i].name);
	free(dims);
	return rc;
}
