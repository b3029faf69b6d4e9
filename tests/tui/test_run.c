/* test_run.c - the one wiring of a run (tui/run/run.h), as `mpdbg run`,
 * the live TUI and bench/ use it: a tiny model (x -> Relu -> Neg) on
 * synthetic batches; --batches, the devices asked for, the policy and probe
 * options taken over, a hook after every node, a session recorded and read
 * back, and failures that name what failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmocka_tap.h"
#include "onnxw.h"
#include "run.h"
#include "safetensors.h"
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

/* ---- the batch loop reads batch i+1 while batch i runs ---- */

/* n batch files x [2, 8] in dir/sub, each its own values; batch `bad` cut
 * short (SIZE_MAX: none). */
static char *write_batches(const char *sub, size_t n, size_t bad)
{
	char *folder = mp_test_join(dir, sub);
	assert_int_equal(mkdir(folder, 0777), 0);
	for (size_t k = 0; k < n; k++) {
		float x[16];
		char name[32];
		for (int j = 0; j < 16; j++)
			x[j] = (float)((int)k * 16 + j - 20) * 0.37f;
		struct mp_tensor t;
		mp_tensor_init(&t, MP_F32, 2, (int64_t[]){ 2, 8 });
		t.data = x;
		struct mp_st_item item = { "x", &t };
		struct mp_error e = { 0 };
		snprintf(name, sizeof name, "batch_%03zu.safetensors", k);
		char *p = mp_test_join(folder, name);
		assert_int_equal(mp_st_write(p, &item, 1, NULL, 0, &e), MP_OK);
		if (k == bad)
			assert_int_equal(truncate(p, 100), 0);
		free(p);
	}
	return folder;
}

struct loop_seen {
	struct mp_run *run;        /* outputs saved when set */
	size_t ndone, next;        /* batches told, the index expected next */
	double ms[8];
	long sleep_ms;             /* after each batch, as a slow printer would */
};

static enum mp_status loop_done(void *user, const struct mp_runner_result *res, struct mp_error *e)
{
	struct loop_seen *ls = user;
	char name[32];
	assert_int_equal(res->index, ls->next);
	snprintf(name, sizeof name, "batch_%03zu", res->index);
	assert_string_equal(res->name, name);
	assert_string_equal(mp_batch_name(res->b), name);
	ls->ms[ls->ndone++ % 8] = res->ms;
	if (ls->sleep_ms)
		nanosleep(&(struct timespec){ 0, ls->sleep_ms * 1000000L }, NULL);
	return ls->run ? mp_run_save_outputs(ls->run, res, e) : MP_OK;
}

/* A bf16 run of the folder with probes (a breakpoint when brk is set),
 * outputs saved into out when set; read ahead or not. */
static struct mp_run *open_loop(const char *data, const char *out, bool read_ahead, const char *brk)
{
	char *model = write_model();
	struct mp_error e = { 0 };
	struct mp_run_setup s = { .model = model, .data = data, .device = "cpu", .threads = 1, .save_dir = out,
		                  .no_read_ahead = !read_ahead, .policy = &(struct mp_policy){ 0 },
		                  .probes = &(struct mp_probe_options){ 0 } };
	struct mp_run *run;
	mp_probe_options_init(s.probes);
	assert_int_equal(mp_policy_set_base(s.policy, "bf16", &e), MP_OK);
	if (brk)
		assert_int_equal(mp_probe_options_add_break(s.probes, brk, &e), MP_OK);
	assert_int_equal(mp_run_open(&s, &run, &e), MP_OK);
	free(model);
	return run;
}

static void run_loop(const char *data, const char *db, const char *out, bool read_ahead)
{
	struct mp_error e = { 0 };
	struct mp_run *run = open_loop(data, out, read_ahead, NULL);
	struct loop_seen ls = { .run = run };
	char *argv[] = { "mpdbg", "run", NULL };
	assert_int_equal(mp_run_record(run, db, 2, argv, &e), MP_OK);
	for (size_t i = 0; i < mp_run_count(run); i++, ls.next++) {
		bool stop = true;
		assert_int_equal(mp_run_batch(run, i, loop_done, &ls, &stop, &e), MP_OK);
		assert_false(stop);
		/* one batch ahead at most, and none past the last */
		struct mp_runner *r = mp_run_runner(run);
		if (read_ahead && i + 1 < mp_run_count(run))
			assert_int_equal(mp_prefetch_index(r->ahead), i + 1);
		else
			assert_null(r->ahead);
	}
	assert_int_equal(ls.ndone, mp_run_count(run));
	assert_int_equal(mp_run_finish(run, MP_OK, NULL, &e), MP_OK);
	mp_run_free(run);
}

/* The same outputs, byte for byte, and the same session, read ahead or not. */
static void test_read_ahead_same(void **state)
{
	(void)state;
	char *data = write_batches("same", 5, SIZE_MAX);
	char *db[2] = { mp_test_join(dir, "ahead.db"), mp_test_join(dir, "plain.db") };
	char *out[2] = { mp_test_join(dir, "ahead"), mp_test_join(dir, "plain") };
	struct mp_view *v[2];
	struct mp_error e = { 0 };
	for (int k = 0; k < 2; k++) {
		run_loop(data, db[k], out[k], k == 0);
		assert_int_equal(mp_view_open(db[k], &v[k], &e), MP_OK);
		assert_int_equal(v[k]->nbatches, 5);
	}
	for (size_t i = 0; i < 5; i++) {
		char name[32];
		uint8_t *bytes[2];
		size_t n[2];
		struct mp_view_batch *vb[2];
		snprintf(name, sizeof name, "batch_%03zu.safetensors", i);
		for (int k = 0; k < 2; k++) {
			char *p = mp_test_join(out[k], name);
			assert_true(mp_test_read_file(p, &bytes[k], &n[k]));
			free(p);
			assert_int_equal(mp_view_load_batch(v[k], i, &vb[k], &e), MP_OK);
		}
		assert_int_equal(n[0], n[1]);
		assert_memory_equal(bytes[0], bytes[1], n[0]);
		assert_int_equal(vb[0]->index, i);
		assert_int_equal(vb[1]->index, i);
		assert_string_equal(vb[0]->source, vb[1]->source);
		assert_non_null(strstr(vb[0]->source, name));
		assert_string_equal(vb[0]->status, vb[1]->status);
		assert_int_equal(vb[0]->nevents, vb[1]->nevents);
		assert_true(vb[0]->stats[0].present);
		assert_memory_equal(vb[0]->stats, vb[1]->stats, v[0]->nvalues * sizeof *vb[0]->stats);
		for (int k = 0; k < 2; k++) {
			free(bytes[k]);
			mp_view_batch_free(vb[k]);
		}
	}
	for (int k = 0; k < 2; k++) {
		mp_view_free(v[k]);
		free(db[k]);
		free(out[k]);
	}
	free(data);
}

/* A batch file that cannot be read fails when its batch begins, after the
 * batch before it was told, with mp_batch_load's own status and message. */
static void test_read_ahead_failure(void **state)
{
	(void)state;
	char *data = write_batches("bad", 3, 1);
	struct mp_batch_source *src;
	struct mp_batch *b;
	struct mp_error want = { 0 }, e = { 0 };
	assert_int_equal(mp_batch_source_open(data, &src, &e), MP_OK);
	assert_int_not_equal(mp_batch_load(src, 1, &b, &want), MP_OK);
	assert_non_null(strstr(want.msg, "batch_001.safetensors"));
	mp_batch_source_free(src);
	for (int k = 0; k < 2; k++) {
		struct mp_run *run = open_loop(data, NULL, k == 0, NULL);
		struct loop_seen ls = { 0 };
		bool stop = true;
		assert_int_equal(mp_run_batch(run, 0, loop_done, &ls, &stop, &e), MP_OK);
		assert_int_equal(ls.ndone, 1);
		ls.next = 1;
		memset(&e, 0, sizeof e);
		assert_int_equal(mp_run_batch(run, 1, loop_done, &ls, &stop, &e), want.status);
		assert_false(stop);
		assert_string_equal(e.msg, want.msg);
		assert_int_equal(ls.ndone, 1);
		assert_null(mp_run_runner(run)->ahead); /* nothing read past the failure */
		mp_run_free(run);
	}
	free(data);
}

/* Another batch than the next drops the one read ahead; --batches bounds
 * what is read; a stop, and a run freed with a batch being read, leave
 * nothing behind (ASan); stepping through the runner reads nothing ahead. */
static void test_read_ahead_jumps_and_stops(void **state)
{
	(void)state;
	char *data = write_batches("jumps", 5, 4);
	struct mp_error e = { 0 };
	struct loop_seen ls = { 0 };
	bool stop;
	struct mp_run *run = open_loop(data, NULL, true, NULL);
	struct mp_runner *r = mp_run_runner(run);
	assert_int_equal(mp_run_batch(run, 0, loop_done, &ls, &stop, &e), MP_OK);
	ls.next = 3;
	assert_int_equal(mp_run_batch(run, 3, loop_done, &ls, &stop, &e), MP_OK);
	assert_int_equal(mp_prefetch_index(r->ahead), 4); /* the bad one, not yet told */
	ls.next = 2;
	r->loop = false; /* as the TUI steps */
	assert_int_equal(mp_runner_begin(r, 2, &e), MP_OK);
	assert_null(r->ahead);
	assert_int_equal(mp_runner_step(r, &e), MP_OK);
	struct mp_runner_result res;
	assert_int_equal(mp_runner_end(r, loop_done, &ls, &res, &e), MP_OK);
	assert_int_equal(ls.ndone, 3);
	assert_int_equal(mp_run_batch(run, 1, loop_done, &(struct loop_seen){ .next = 1 }, &stop, &e), MP_OK);
	assert_int_equal(mp_prefetch_index(r->ahead), 2);
	mp_run_free(run); /* batch 2 read ahead, dropped */

	/* --batches 4: the bad fifth is never read */
	char *model = write_model();
	struct mp_run_setup s = { .model = model, .data = data, .device = "cpu", .threads = 1, .no_probes = true,
		                  .some_batches = true, .batches = 4 };
	assert_int_equal(mp_run_open(&s, &run, &e), MP_OK);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(mp_run_batch(run, i, NULL, NULL, &stop, &e), MP_OK);
	assert_null(mp_run_runner(run)->ahead);
	mp_run_free(run);

	/* a breakpoint in batch 0 ends the run with batch 1 being read */
	run = open_loop(data, NULL, true, "node=/relu");
	assert_int_equal(mp_run_batch(run, 0, NULL, NULL, &stop, &e), MP_ERR_BREAK);
	assert_true(stop);
	assert_non_null(mp_run_runner(run)->ahead);
	mp_run_free(run);
	free(model);
	free(data);
}

/* In the loop a batch's ms run from the end of the previous batch's: what
 * happens between two batches (here a 40 ms pause) shows in the second. */
static void test_loop_times(void **state)
{
	(void)state;
	char *data = write_batches("times", 3, SIZE_MAX);
	struct mp_error e = { 0 };
	struct loop_seen ls = { .sleep_ms = 40 };
	bool stop;
	struct mp_run *run = open_loop(data, NULL, true, NULL);
	for (size_t i = 0; i < 3; i++, ls.next++)
		assert_int_equal(mp_run_batch(run, i, loop_done, &ls, &stop, &e), MP_OK);
	assert_true(ls.ms[0] > 0);
	assert_true(ls.ms[1] >= 40);
	assert_true(ls.ms[2] >= 40);
	mp_run_free(run);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_and_record),
		cmocka_unit_test(test_stops_and_failures),
		cmocka_unit_test(test_save_outputs),
		cmocka_unit_test(test_read_ahead_same),
		cmocka_unit_test(test_read_ahead_failure),
		cmocka_unit_test(test_read_ahead_jumps_and_stops),
		cmocka_unit_test(test_loop_times),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, setup, teardown);
}
