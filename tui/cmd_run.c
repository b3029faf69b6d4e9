/* cmd_run.c - `mpdbg run MODEL --data PATH`: runs every batch and prints one
 * line per batch; --save-outputs writes each batch's outputs. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "backend.h"
#include "batch.h"
#include "cli.h"
#include "exec.h"
#include "graph.h"
#include "safetensors.h"

static const char *const run_help =
	"usage: mpdbg run MODEL --data PATH [options]\n\n"
	"Runs an ONNX model on batches and prints, per batch, each graph output's\n"
	"dtype, shape and min/max/mean.\n\n"
	"  --data PATH          a .safetensors file, a folder of them (one batch each,\n"
	"                       in name order), or an ONNX test case folder\n"
	"  --glob PATTERN       in a folder, only the files matching PATTERN\n"
	"                       (default *.safetensors)\n"
	"  --device DEV         cpu, cuda or auto (default auto: the GPU when there is one)\n"
	"  --batches N          run the first N batches only\n"
	"  --save-outputs DIR   write DIR/<batch>.safetensors with every graph output\n"
	"  --threads N          CPU threads (default: all)\n"
	MP_CLI_POLICY_HELP
	"                       (default policy: fp32)\n"
	"  -h, --help           this help\n\n"
	"Exit status: 0 done, 2 bad usage or input, 3 stopped at a node (a dtype\n"
	"mismatch under --on-mismatch error), 1 internal failure.\n";

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

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
	for (size_t k = 0; k < mp_exec_nevents(x); k++) {
		struct mp_dtype_event ev;
		mp_exec_event(x, k, &ev);
		if (ev.reason == MP_CAST_GRAPH && ev.from == ev.to)
			continue;
		by[ev.reason]++;
		total++;
	}
	const struct mp_plan *pl = mp_exec_plan(x);
	if (!pl)
		return;
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

static enum mp_status run_batch(struct mp_exec *x, const struct mp_graph *g,
                                const struct mp_batch_source *src, size_t bi, const char *save_dir,
                                struct mp_error *e)
{
	struct mp_batch *b = NULL;
	size_t no = mp_graph_noutputs(g);
	struct mp_tensor *outs = calloc(no, sizeof *outs);
	struct mp_st_item *items = calloc(no, sizeof *items);
	enum mp_status st;
	double t0 = now_ms();

	if (!outs || !items) {
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((st = mp_batch_load(src, bi, &b, e)) || (st = mp_exec_begin(x, b, e)))
		goto out;
	if ((st = mp_exec_run(x, e))) {
		if (st == MP_ERR_MISMATCH)
			print_entry_casts(x, g, b);
		goto out;
	}
	double ms = now_ms() - t0;
	if (bi == 0)
		print_entry_casts(x, g, b);
	printf("%-20s %8.1f ms", mp_batch_source_name(src, bi), ms);
	for (size_t i = 0; i < no; i++) {
		int32_t id = mp_graph_output(g, i);
		char shape[256], stats[256];
		if ((st = mp_exec_fetch(x, id, &outs[i], e)))
			goto out;
		printf("%s  %s %s %s %s", i ? " |" : "", mp_graph_value(g, (size_t)id)->name,
		       mp_dtype_traits(outs[i].dtype)->short_name,
		       mp_shape_str(shape, sizeof shape, outs[i].ndim, outs[i].shape),
		       mp_cli_tensor_summary(stats, sizeof stats, &outs[i]));
		items[i].name = mp_graph_value(g, (size_t)id)->name;
		items[i].t = &outs[i];
	}
	printf("\n");
	fflush(stdout);
	if (save_dir) {
		const char *name = mp_batch_source_name(src, bi);
		size_t n = strlen(save_dir) + strlen(name) + 16;
		char *path = malloc(n);
		if (!path) {
			st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
			goto out;
		}
		snprintf(path, n, "%s/%s.safetensors", save_dir, name);
		const char *meta[] = { "producer", "mpdbg " MPDBG_VERSION, "model", mp_graph_path(g),
		                       "batch", mp_batch_path(b) };
		st = mp_st_write(path, items, no, meta, 3, e);
		free(path);
	}
out:
	for (size_t i = 0; outs && i < no; i++)
		mp_tensor_reset(&outs[i]);
	free(outs);
	free(items);
	mp_batch_free(b);
	return st;
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
		MP_CLI_POLICY_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *device = "auto", *save = NULL, *glob = NULL;
	long batches = -1, threads = 0;
	int c, rc = MP_EXIT_OK;
	struct mp_error e = { 0 };
	struct mp_graph *g = NULL;
	struct mp_backend *cpu = NULL;
	struct mp_batch_source *src = NULL;
	struct mp_exec *x = NULL;
	struct mp_policy policy = { 0 };
	bool policy_given = false;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'D': data = optarg; break;
		case 'g': glob = optarg; break;
		case 'v': device = optarg; break;
		case 's': save = optarg; break;
		case 'b': if (!mp_cli_parse_count("run", "--batches", optarg, &batches)) return MP_EXIT_INPUT; break;
		case 't': if (!mp_cli_parse_count("run", "--threads", optarg, &threads)) return MP_EXIT_INPUT; break;
		case 'h': fputs(run_help, stdout); mp_policy_free(&policy); return MP_EXIT_OK;
		case MP_OPT_POLICY: case MP_OPT_FP32: case MP_OPT_DTYPE: case MP_OPT_ON_MISMATCH:
			if (!mp_cli_policy_option("run", c, optarg, &policy, &policy_given)) {
				mp_policy_free(&policy);
				return MP_EXIT_INPUT;
			}
			break;
		case ':': mp_policy_free(&policy); return mp_cli_usage_error("run", "%s needs a value", argv[optind - 1]);
		default: mp_policy_free(&policy); return mp_cli_usage_error("run", "unknown option '%s'", argv[optind - 1]);
		}
	}
	struct mp_exec_options xo = { .policy = &policy };
	if (optind != argc - 1)
		rc = mp_cli_usage_error("run", optind >= argc ? "which model?" : "one model at a time");
	else if (!data)
		rc = mp_cli_usage_error("run", "--data PATH is required");
	else if (strcmp(device, "cpu") && strcmp(device, "cuda") && strcmp(device, "auto"))
		rc = mp_cli_usage_error("run", "--device is cpu, cuda or auto, not '%s'", device);
	else if (!strcmp(device, "cuda")) {
		mp_error_set(&e, MP_ERR_DEVICE, "--device cuda: this mpdbg was built without the CUDA backend");
		rc = mp_cli_fail(&e);
	}
	if (rc)
		goto out;
	if (mp_graph_load(argv[optind], &g, &e) || mp_batch_source_open_glob(data, glob, &src, &e) ||
	    (save && make_dir(save, &e)) || mp_backend_cpu_new((int)threads, &cpu, &e) ||
	    mp_exec_new(g, cpu, cpu, &xo, &x, &e)) {
		rc = mp_cli_fail(&e);
		goto out;
	}
	size_t n = mp_batch_source_count(src);
	if (batches >= 0 && (size_t)batches < n)
		n = (size_t)batches;
	for (size_t i = 0; i < n; i++)
		if (run_batch(x, g, src, i, save, &e)) {
			rc = mp_cli_fail(&e);
			if (e.status == MP_ERR_INPUT && mp_batch_source_kind(src) == MP_BATCH_SAFETENSORS_DIR && !glob)
				fprintf(stderr, "hint: --glob PATTERN picks which files of %s are batches\n", data);
			goto out;
		}
	(void)policy_given;
	if (n)
		print_trace_summary(x);
out:
	mp_policy_free(&policy);
	mp_exec_free(x);
	mp_backend_free(cpu);
	mp_batch_source_free(src);
	mp_graph_free(g);
	return rc;
}
