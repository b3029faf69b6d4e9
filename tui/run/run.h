/* run.h - the one wiring of a run: the model, its batches, the device, the
 * executor, the probes and (when asked) the session, set up from options.
 * `mpdbg run`, the live session the TUI steps (live.c) and bench/ all
 * start a run here, so that a run means the same thing in each.
 *
 *   struct mp_run_setup s = { .model = M, .data = D, .policy = &pol, .probes = &po };
 *   mp_run_open(&s, &run, e);                 model, batches, devices, executor, probes
 *   mp_run_record(run, "s.db", argc, argv, e) a session (optional)
 *   mp_run_batch(run, i, done, user, &stop, e) one batch, start to end
 *   mp_run_finish(run, status, message, e)    the session's last word
 *   mp_run_free(run);
 *
 * Stepping node by node goes through the runner (runner.h) that
 * mp_run_runner() hands out. */
#ifndef MP_RUN_H
#define MP_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "batch.h"
#include "exec.h"
#include "graph.h"
#include "policy.h"
#include "probes.h"
#include "runner.h"

struct mp_run_setup {
	const char *model;
	/* the batches: files (a .safetensors file, a folder of them, an ONNX
	 * test case folder), made-up ones, or none (the caller binds its own) */
	const char *data, *glob;
	const struct mp_synth_options *synthetic; /* must outlive the run */
	bool some_batches;                 /* only the first `batches` (synthetic: that many, else 1) */
	size_t batches;
	const char *device;                /* "cpu", "cuda" or "auto" (NULL: auto) */
	long threads;                      /* CPU threads (0: all) */
	bool tf32;                         /* cuBLAS may use TF32 (a CUDA device) */
	struct mp_policy *policy;          /* taken over: the caller's is left empty */
	struct mp_probe_options *probes;   /* taken over (NULL: none given); they also
	                                    * carry --compare and --tol to the session */
	bool no_probes;                    /* the probes are not attached (timing runs) */
	bool output_stats;                 /* with no_probes: but for the graph outputs'
	                                    * statistics (probes.h outputs_only) */
	struct mp_graph_limits limits;     /* --max-nodes, --max-values (0: defaults) */
	size_t max_memory;                 /* --max-memory (0: the default) */
	bool no_graphs, no_fused_attention; /* exec.h's options of those names */
	mp_exec_hook hook;                 /* after every node, behind the probes (may be NULL) */
	void *hook_user;
	const char *save_dir;              /* mp_run_save_outputs writes here (made if missing) */
	bool force;                        /* ...replacing files there */
	bool no_read_ahead;                /* mp_run_batch reads each batch when it begins
	                                    * (tests compare the two; no option sets it) */
};

struct mp_run;

/* Loads the model and opens its batches, makes the devices, the executor
 * and the probes.  A failure of the executor or the probes names the model
 * file. */
enum mp_status mp_run_open(const struct mp_run_setup *s, struct mp_run **out, struct mp_error *e);
/* Records the run into a new session file at path; argv is what the
 * session says was run. */
enum mp_status mp_run_record(struct mp_run *run, const char *path, int argc, char **argv, struct mp_error *e);
/* Batch i from start to end, `done` told before the session has it.  *stop
 * is set (the report in e, its status MP_ERR_MISMATCH or MP_ERR_BREAK) when
 * the run must end here.  This is the batch loop: batch i+1 is read on a
 * thread while batch i runs (runner.h), and a batch's ms run from the end
 * of the previous one's; stepping through the runner does neither. */
enum mp_status mp_run_batch(struct mp_run *run, size_t i, mp_runner_done_fn done, void *user, bool *stop,
                            struct mp_error *e);
/* With save_dir: refuses (before anything runs) outputs that would replace
 * files; then writes a batch's graph outputs, after it ran. */
enum mp_status mp_run_check_outputs(const struct mp_run *run, struct mp_error *e);
enum mp_status mp_run_save_outputs(struct mp_run *run, const struct mp_runner_result *res, struct mp_error *e);
/* Ends the session (if any) with the run's status and message (NULL when
 * it went well): its batches committed. */
enum mp_status mp_run_finish(struct mp_run *run, enum mp_status status, const char *message, struct mp_error *e);
/* Drops a batch under way; a session still open is finished as done. */
void mp_run_free(struct mp_run *run);

struct mp_runner *mp_run_runner(struct mp_run *run);
const struct mp_graph *mp_run_graph(const struct mp_run *run);
struct mp_exec *mp_run_exec(struct mp_run *run);
const struct mp_batch_source *mp_run_source(const struct mp_run *run);
struct mp_backend *mp_run_backend(struct mp_run *run); /* where it runs */
bool mp_run_has_session(const struct mp_run *run);
size_t mp_run_count(const struct mp_run *run);          /* batches to run, after --batches */

#endif
