/* test_run.c - the one wiring of a run (tui/run/run.h), as `mpdbg run`,
 * the live TUI and bench/ use it: a tiny model (x -> Relu -> Neg) on
 * synthetic batches; --batches, the devices asked for, the policy and probe
 * options taken over, a hook after every node, a session recorded and read
 * back, and failures that name what failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmocka_tap.h"
#include "onnxw.h"
#include "run.h"
#include "testutil.h"
#include "view.h"

static char *dir;

MP_TEST_TMPDIR_FIXTURES(dir)

static char *write_model(void)
{
	struct pbw m = onnx_chain_model();
	char *path = mp_test_write(dir, "chain.onnx", m.d, m.n);
	pbw_free(&m);
	assert_non_null(path);
	return path;
}

static int nodes_seen;

static enum mp_status count_nodes(void *user, struct mp_exec *x, size_t node, struct mp_error *e)
{
	(void)user, (void)x, (void)node, (void)e;
	nodes_seen++;
	return MP_OK;
}

static int batches_done;

static enum mp_status done(void *user, const struct mp_runner_result *res, struct mp_error *e)
{
	(void)user, (void)e;
	assert_int_equal(res->index, (size_t)batches_done);
	assert_int_equal(res->status, MP_OK);
	assert_non_null(res->pb); /* the probes are on */
	batches_done++;
	return MP_OK;
}

/* Three synthetic batches, probes on, recorded, the hook behind the probes. */
static void test_run_and_record(void **state)
{
	(void)state;
	char *model = write_model(), *db = mp_test_join(dir, "s.db");
	struct mp_synth_options so = { .random = true, .seed = 7 };
	struct mp_policy pol = { 0 };
	struct mp_probe_options po;
	struct mp_error e = { 0 };
	struct mp_run *run;
	mp_probe_options_init(&po);
	assert_int_equal(mp_policy_set_base(&pol, "bf16", &e), MP_OK);
	assert_int_equal(mp_probe_options_add_break(&po, "node=/never", &e), MP_OK);
	struct mp_run_setup s = { .model = model, .synthetic = &so, .some_batches = true, .batches = 3,
		                  .device = "cpu", .threads = 1, .policy = &pol, .probes = &po,
		                  .hook = count_nodes };
	assert_int_equal(mp_run_open(&s, &run, &e), MP_OK);
	/* taken over: the caller's are left empty */
	assert_int_equal(po.nbreaks, 0);
	assert_null(po.breaks);
	assert_int_equal(mp_run_count(run), 3);
	assert_string_equal(mp_run_backend(run)->iface->name, "cpu");
	assert_false(mp_run_has_session(run));
	char *argv[] = { "mpdbg", "run", model, NULL };
	assert_int_equal(mp_run_record(run, db, 3, argv, &e), MP_OK);
	assert_true(mp_run_has_session(run));
	nodes_seen = batches_done = 0;
	for (size_t i = 0; i < mp_run_count(run); i++) {
		bool stop = true;
		assert_int_equal(mp_run_batch(run, i, done, NULL, &stop, &e), MP_OK);
		assert_false(stop);
	}
	assert_int_equal(batches_done, 3);
	assert_int_equal(nodes_seen, 3 * 2);
	assert_int_equal(mp_run_finish(run, MP_OK, NULL, &e), MP_OK);
	assert_false(mp_run_has_session(run));
	mp_run_free(run);

	struct mp_view *v;
	assert_int_equal(mp_view_open(db, &v, &e), MP_OK);
	assert_int_equal(v->nbatches, 3);
	assert_string_equal(v->policy, "bf16");
	assert_int_equal(v->low, MP_BF16);
	assert_string_equal(v->status, "done");
	mp_view_free(v);
	free(model);
	free(db);
}

/* A stop ends the run with the report; no probes and no batches asked for
 * are fine; a bad device and a missing model are named. */
static void test_stops_and_failures(void **state)
{
	(void)state;
	char *model = write_model();
	struct mp_synth_options so = { 0 };
	struct mp_probe_options po;
	struct mp_error e = { 0 };
	struct mp_run *run;
	mp_probe_options_init(&po);
	assert_int_equal(mp_probe_options_add_break(&po, "node=/relu", &e), MP_OK);
	struct mp_run_setup s = { .model = model, .synthetic = &so, .device = "cpu", .threads = 1, .probes = &po };
	assert_int_equal(mp_run_open(&s, &run, &e), MP_OK);
	assert_int_equal(mp_run_count(run), 1); /* synthetic: one batch unless told */
	bool stop = false;
	assert_int_equal(mp_run_batch(run, 0, NULL, NULL, &stop, &e), MP_ERR_BREAK);
	assert_true(stop);
	assert_non_null(strstr(e.msg, "node=/relu"));
	mp_run_free(run);

	struct mp_run_setup quiet = { .model = model, .synthetic = &so, .some_batches = true, .batches = 0,
		                      .device = "cpu", .no_probes = true };
	assert_int_equal(mp_run_open(&quiet, &run, &e), MP_OK);
	assert_int_equal(mp_run_count(run), 0);
	assert_null(mp_run_runner(run)->probes);
	mp_run_free(run);

	struct mp_run_setup bad = { .model = model, .synthetic = &so, .device = "tpu" };
	assert_int_equal(mp_run_open(&bad, &run, &e), MP_ERR_USAGE);
	assert_null(run);
	assert_string_equal(e.msg, "--device is cpu, cuda or auto, not 'tpu'");
	char *missing = mp_test_join(dir, "missing.onnx");
	struct mp_run_setup none = { .model = missing, .device = "cpu" };
	assert_int_not_equal(mp_run_open(&none, &run, &e), MP_OK);
	assert_non_null(strstr(e.msg, "missing.onnx"));
	free(missing);
	free(model);
}

static enum mp_status save(void *user, const struct mp_runner_result *res, struct mp_error *e)
{
	return mp_run_save_outputs(user, res, e);
}

/* --save-outputs: the folder made, each batch's outputs written after it
 * ran; a run that would replace them refused before it starts, unless
 * --force. */
static void test_save_outputs(void **state)
{
	(void)state;
	char *model = write_model(), *out = mp_test_join(dir, "outs");
	struct mp_synth_options so = { 0 };
	struct mp_error e = { 0 };
	struct mp_run *run;
	bool stop;
	struct mp_run_setup s = { .model = model, .synthetic = &so, .device = "cpu", .no_probes = true, .save_dir = out };
	assert_int_equal(mp_run_open(&s, &run, &e), MP_OK);
	const char *name = mp_batch_source_name(mp_run_source(run), 0);
	char *file = malloc(strlen(out) + strlen(name) + 16);
	sprintf(file, "%s/%s.safetensors", out, name);
	assert_int_equal(mp_run_check_outputs(run, &e), MP_OK);
	assert_int_equal(mp_run_batch(run, 0, save, run, &stop, &e), MP_OK);
	mp_run_free(run);
	assert_int_equal(access(file, F_OK), 0);

	assert_int_equal(mp_run_open(&s, &run, &e), MP_OK);
	assert_int_equal(mp_run_check_outputs(run, &e), MP_ERR_IO);
	assert_non_null(strstr(e.msg, "exists; pass --force to replace it"));
	mp_run_free(run);
	s.force = true;
	assert_int_equal(mp_run_open(&s, &run, &e), MP_OK);
	assert_int_equal(mp_run_check_outputs(run, &e), MP_OK);
	assert_int_equal(mp_run_batch(run, 0, save, run, &stop, &e), MP_OK);
	mp_run_free(run);
	free(file);
	free(out);
	free(model);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_and_record),
		cmocka_unit_test(test_stops_and_failures),
		cmocka_unit_test(test_save_outputs),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, setup, teardown);
}
