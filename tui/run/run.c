/* run.c - the one wiring of a run: model, batches, devices, executor,
 * probes and session, in that order (a failure reports the first thing
 * that went wrong), and each batch from start to end. */
#include "run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "outputs.h"
#include "safetensors.h"
#include "session.h"

struct mp_run {
	struct mp_graph *g;
	struct mp_batch_source *src;
	struct mp_backend *cpu, *gpu, *be;
	struct mp_policy policy;
	struct mp_probe_options po;
	struct mp_runner r;
	size_t count;
	const char *save_dir;
	bool force;
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

static enum mp_status open_batches(struct mp_run *run, const struct mp_run_setup *s, struct mp_error *e)
{
	if (s->synthetic)
		return mp_batch_source_synthetic(run->g, s->synthetic, s->some_batches ? s->batches : 1, &run->src, e);
	if (s->data)
		return mp_batch_source_open_glob(s->data, s->glob, &run->src, e);
	return MP_OK;
}

/* The GPU when asked, or when there is one and the choice is ours; the CPU
 * always (it runs what the GPU cannot, and the host side). */
static enum mp_status open_devices(struct mp_run *run, const struct mp_run_setup *s, struct mp_error *e)
{
	const char *dev = s->device ? s->device : "auto";
	enum mp_status st;
	if (strcmp(dev, "cpu") && strcmp(dev, "cuda") && strcmp(dev, "auto"))
		return mp_error_set(e, MP_ERR_USAGE, "--device is cpu, cuda or auto, not '%s'", dev);
	bool want_gpu = !strcmp(dev, "cuda") || (!strcmp(dev, "auto") && mp_backend_cuda_present());
	if ((st = mp_backend_cpu_new((int)s->threads, &run->cpu, e)) ||
	    (want_gpu && (st = mp_backend_cuda_new(0, &run->gpu, e))))
		return st;
	run->be = run->gpu ? run->gpu : run->cpu;
	if (s->tf32 && run->gpu)
		mp_backend_cuda_set_tf32(run->gpu, true);
	return MP_OK;
}

static enum mp_status open_exec(struct mp_run *run, const struct mp_run_setup *s, struct mp_error *e)
{
	struct mp_exec_options xo = { .policy = &run->policy, .max_memory = s->max_memory, .no_graphs = s->no_graphs,
		                      .no_fused_attention = s->no_fused_attention };
	enum mp_status st;
	run->po.max_memory = s->max_memory; /* the fp32 shadow run of --compare too */
	if (s->no_probes && s->output_stats) {
		run->po.outputs_only = true;
		run->po.stats = true;
		run->po.diversity = false;
	}
	if ((st = mp_exec_new(run->g, run->be, run->cpu, &xo, &run->r.x, e)) ||
	    ((!s->no_probes || s->output_stats) &&
	     (st = mp_probes_new(run->g, run->be, run->cpu, &run->policy, &run->po, &run->r.probes, e))))
		return mp_error_prefix(e, "%s: ", s->model);
	if (run->r.probes)
		mp_probes_attach(run->r.probes, run->r.x, s->hook, s->hook_user);
	else if (s->hook)
		mp_exec_set_hook(run->r.x, s->hook, s->hook_user);
	return MP_OK;
}

enum mp_status mp_run_open(const struct mp_run_setup *s, struct mp_run **out, struct mp_error *e)
{
	struct mp_run *run = calloc(1, sizeof *run);
	enum mp_status st;
	*out = NULL;
	if (!run)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	if (s->policy) {
		run->policy = *s->policy;
		memset(s->policy, 0, sizeof *s->policy);
	}
	if (s->probes) {
		run->po = *s->probes;
		memset(s->probes, 0, sizeof *s->probes);
	}
	run->save_dir = s->save_dir;
	run->force = s->force;
	if ((st = mp_graph_load_limited(s->model, &s->limits, &run->g, e)) || (st = open_batches(run, s, e)) ||
	    (s->save_dir && (st = make_dir(s->save_dir, e))) || (st = open_devices(run, s, e)) ||
	    (st = open_exec(run, s, e))) {
		mp_run_free(run);
		return st;
	}
	run->r.g = run->g;
	run->r.src = run->src;
	run->r.tol = run->po.tol;
	run->count = run->src ? mp_batch_source_count(run->src) : 0;
	if (s->some_batches && s->batches < run->count)
		run->count = s->batches;
	run->r.count = run->count; /* no batch past --batches is read ahead */
	run->r.no_read_ahead = s->no_read_ahead;
	*out = run;
	return MP_OK;
}

enum mp_status mp_run_record(struct mp_run *run, const char *path, int argc, char **argv, struct mp_error *e)
{
	char dev[256];
	if (run->gpu)
		snprintf(dev, sizeof dev, "%s", mp_backend_device_name(run->gpu));
	else
		cpu_name(dev, sizeof dev);
	struct mp_session_info info = { mp_graph_path(run->g), run->g, &run->policy, run->po.compare, run->po.tol,
		                        run->be->iface->name, dev, argc, argv };
	return mp_session_create(path, &info, &run->r.session, e);
}

enum mp_status mp_run_batch(struct mp_run *run, size_t i, mp_runner_done_fn done, void *user, bool *stop,
                            struct mp_error *e)
{
	struct mp_runner_result res;
	enum mp_status st;
	*stop = false;
	run->r.loop = true;
	if ((st = mp_runner_begin(&run->r, i, e)))
		return st;
	st = mp_runner_continue(&run->r, e);
	if (st && st != MP_ERR_MISMATCH && st != MP_ERR_BREAK) {
		mp_runner_abandon(&run->r);
		return st;
	}
	if ((st = mp_runner_end(&run->r, done, user, &res, e)))
		return st;
	if (res.status) {
		*stop = true;
		return mp_error_set(e, res.status, "%s", res.report);
	}
	return MP_OK;
}

enum mp_status mp_run_check_outputs(const struct mp_run *run, struct mp_error *e)
{
	for (size_t i = 0; run->save_dir && i < run->count; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s.safetensors", run->save_dir, mp_batch_source_name(run->src, i));
		if (!mp_run_may_write(path, run->force, e))
			return e->status;
	}
	return MP_OK;
}

enum mp_status mp_run_save_outputs(struct mp_run *run, const struct mp_runner_result *res, struct mp_error *e)
{
	const struct mp_graph *g = run->g;
	size_t no = mp_graph_noutputs(g);
	struct mp_tensor *outs = calloc(no + 1, sizeof *outs);
	struct mp_st_item *items = calloc(no + 1, sizeof *items);
	size_t n = strlen(run->save_dir) + strlen(res->name) + 16;
	char *path = malloc(n);
	enum mp_status st = MP_OK;
	if (!outs || !items || !path) {
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < no && !st; i++) {
		int32_t id = mp_graph_output(g, i);
		st = mp_exec_fetch(run->r.x, id, &outs[i], e);
		items[i].name = mp_graph_value(g, (size_t)id)->name;
		items[i].t = &outs[i];
	}
	snprintf(path, n, "%s/%s.safetensors", run->save_dir, res->name);
	if (!st && !mp_run_may_write(path, run->force, e)) /* two batches of one name, too */
		st = e->status;
	const char *meta[] = { "producer", "mpdbg " MPDBG_VERSION, "model", mp_graph_path(g), "batch",
		               mp_batch_path(res->b) };
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

enum mp_status mp_run_finish(struct mp_run *run, enum mp_status status, const char *message, struct mp_error *e)
{
	struct mp_session_writer *w = run->r.session;
	run->r.session = NULL;
	return w ? mp_session_finish(w, status, message, e) : MP_OK;
}

void mp_run_free(struct mp_run *run)
{
	if (!run)
		return;
	mp_runner_abandon(&run->r);
	if (run->r.session) {
		struct mp_error fe = { 0 };
		mp_run_finish(run, MP_OK, NULL, &fe);
	}
	mp_probes_free(run->r.probes);
	mp_exec_free(run->r.x);
	mp_policy_free(&run->policy);
	mp_probe_options_free(&run->po);
	mp_backend_free(run->gpu);
	mp_backend_free(run->cpu);
	mp_batch_source_free(run->src);
	mp_graph_free(run->g);
	free(run);
}

struct mp_runner *mp_run_runner(struct mp_run *run) { return &run->r; }
const struct mp_graph *mp_run_graph(const struct mp_run *run) { return run->g; }
struct mp_exec *mp_run_exec(struct mp_run *run) { return run->r.x; }
const struct mp_batch_source *mp_run_source(const struct mp_run *run) { return run->src; }
struct mp_backend *mp_run_backend(struct mp_run *run) { return run->be; }
bool mp_run_has_session(const struct mp_run *run) { return run->r.session != NULL; }
size_t mp_run_count(const struct mp_run *run) { return run->count; }
