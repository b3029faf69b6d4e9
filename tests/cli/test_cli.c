/* test_cli.c - the mpdbg program as a user meets it: --help on every
 * command, exit statuses (0 ok, 2 bad usage or input), and for each kind of
 * malformed input a message naming the file and the problem, never a crash.
 * Usage: test_cli PATH/TO/mpdbg */
#include <fcntl.h>
#include <jansson.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmocka_tap.h"
#include "onnxw.h"
#include "safetensors.h"
#include "testutil.h"

extern char **environ;
static const char *mpdbg;
static char *dir;

struct result {
	int status; /* exit status; 128 + signal when killed */
	char *out, *err;
	double secs; /* how long it ran */
};

/* A command that hangs (a FIFO opened for reading waits for a writer) is
 * killed after this long and fails its test rather than the whole suite's. */
enum { RUN_LIMIT_S = 60 };

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = calloc(1, 1 << 20);
	if (f) {
		size_t n = fread(buf, 1, (1 << 20) - 1, f);
		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

static struct result run(const char *const *args)
{
	char *argv[32];
	int n = 0;
	argv[n++] = (char *)mpdbg;
	for (; args[n - 1]; n++)
		argv[n] = (char *)args[n - 1];
	argv[n] = NULL;
	char *op = mp_test_join(dir, "stdout.txt"), *ep = mp_test_join(dir, "stderr.txt");
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, op, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, ep, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	pid_t pid;
	int ws = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(posix_spawn(&pid, mpdbg, &fa, NULL, argv, environ), 0);
	for (;;) {
		if (waitpid(pid, &ws, WNOHANG) == pid)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec > RUN_LIMIT_S) {
			kill(pid, SIGKILL);
			waitpid(pid, &ws, 0);
			break;
		}
		nanosleep(&(struct timespec){ 0, 5000000 }, NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	posix_spawn_file_actions_destroy(&fa);
	struct result r = { WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws), slurp(op), slurp(ep),
	                    (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec) };
	free(op);
	free(ep);
	return r;
}

static void result_free(struct result *r)
{
	free(r->out);
	free(r->err);
}

/* Runs and checks the status, the time, and that stderr holds every phrase given. */
static void expect_within(const char *const *args, int status, const char *const *phrases, double limit_s)
{
	struct result r = run(args);
	if (r.secs > limit_s)
		fail_msg("mpdbg %s ...: ran %.1f s, more than %.0f s (exit %d)\nstderr: %s", args[0], r.secs, limit_s,
		         r.status, r.err);
	if (r.status != status)
		fail_msg("mpdbg %s ...: exit %d, expected %d\nstderr: %s", args[0], r.status, status, r.err);
	for (int i = 0; phrases && phrases[i]; i++)
		if (!strstr(r.err, phrases[i]) && !strstr(r.out, phrases[i]))
			fail_msg("mpdbg %s ...: output lacks '%s'\nstdout: %.2000s\nstderr: %s", args[0], phrases[i],
			         r.out, r.err);
	result_free(&r);
}

static void expect(const char *const *args, int status, const char *const *phrases)
{
	expect_within(args, status, phrases, RUN_LIMIT_S);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

MP_TEST_TMPDIR_FIXTURES(dir)

/* y = Relu(x + w), x [batch, 4] */
static char *good_model(const char *name)
{
	struct pbw g = onnx_graph(), vi, n;
	const int64_t xd[] = { -1, 4 };
	const char *pa[] = { "batch", NULL };
	float w[4] = { 1, -1, 2, -2 };
	vi = onnx_value_info("x", 1, 2, xd, pa);
	onnx_graph_input(&g, &vi);
	vi = onnx_value_info("y", 1, 2, xd, pa);
	onnx_graph_output(&g, &vi);
	struct pbw t = onnx_tensor_raw("w", MP_F32, 1, (int64_t[]){ 4 }, w, sizeof w);
	onnx_graph_init(&g, &t);
	n = onnx_node("Add", "/net/add/Add", 2, (const char *[]){ "x", "w" }, 1, (const char *[]){ "s" }, 0, NULL);
	onnx_graph_node(&g, &n);
	n = onnx_node("Relu", "/net/act/Relu", 1, (const char *[]){ "s" }, 1, (const char *[]){ "y" }, 0, NULL);
	onnx_graph_node(&g, &n);
	struct pbw m = onnx_model(17, &g);
	char *p = mp_test_write(dir, name, m.d, m.n);
	pbw_free(&m);
	return p;
}

static char *good_batch(const char *name, const char *tensor)
{
	float x[8] = { 1, 2, 3, 4, -5, -6, -7, -8 };
	struct mp_tensor t;
	mp_tensor_init(&t, MP_F32, 2, (int64_t[]){ 2, 4 });
	t.data = x;
	struct mp_st_item item = { tensor, &t };
	char *p = mp_test_join(dir, name);
	struct mp_error e = { 0 };
	assert_int_equal(mp_st_write(p, &item, 1, NULL, 0, &e), MP_OK);
	return p;
}

static void test_help(void **state)
{
	(void)state;
	expect(ARGS("--help"), 0, ARGS("usage: mpdbg <command>", "inspect", "run"));
	expect(ARGS("help", "run"), 0, ARGS("--save-outputs DIR"));
	expect(ARGS("inspect", "--help"), 0, ARGS("usage: mpdbg inspect MODEL"));
	expect(ARGS("run", "--help"), 0, ARGS("usage: mpdbg run MODEL --data PATH"));
	expect(ARGS("--version"), 0, ARGS("mpdbg "));
	struct result r = run((const char *const[]){ NULL });
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "usage: mpdbg"));
	result_free(&r);
}

static void test_usage_errors(void **state)
{
	(void)state;
	char *m = good_model("usage.onnx");
	expect(ARGS("bogus"), 2, ARGS("'bogus' is not a command"));
	expect(ARGS("inspect"), 2, ARGS("which model?"));
	expect(ARGS("inspect", m, "--frobnicate"), 2, ARGS("unknown option '--frobnicate'"));
	expect(ARGS("run", m), 2, ARGS("--data PATH", "is required"));
	expect(ARGS("run", m, "--data", m, "--batches", "many"), 2, ARGS("--batches wants a non-negative number"));
	expect(ARGS("run", m, "--data", m, "--device", "tpu"), 2, ARGS("--device is cpu, cuda or auto"));
	free(m);
}

static void test_inspect_and_run(void **state)
{
	(void)state;
	char *m = good_model("good.onnx"), *b = good_batch("b0.safetensors", "x");
	char *outdir = mp_test_join(dir, "outs");
	expect(ARGS("inspect", m), 0, ARGS("ONNX IR 8", "inputs       x", "[batch, 4]", "net", "add", "act",
	                                   "all 2 nodes run on: cpu"));
	struct result r = run(ARGS("inspect", m, "--json"));
	assert_int_equal(r.status, 0);
	json_error_t je;
	json_t *j = json_loads(r.out, 0, &je);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "nodes")), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "inputs"), 0), "name")), "x");
	json_decref(j);
	result_free(&r);
	expect(ARGS("run", m, "--data", b, "--save-outputs", outdir), 0,
	       ARGS("b0", "y f32 [2, 4] min 0 max 5 mean 1.25"));
	char *saved = mp_test_join(outdir, "b0.safetensors");
	struct mp_st_file *f;
	struct mp_error e = { 0 };
	assert_int_equal(mp_st_open(saved, &f, &e), MP_OK);
	const float *y = mp_st_find(f, "y")->t.data;
	assert_true(y[0] == 2 && y[1] == 1 && y[2] == 5 && y[3] == 2 && y[4] == 0);
	mp_st_close(f);
	free(saved);
	free(outdir);
	free(m);
	free(b);
}

/* Sessions from the command line: record, report, export; breakpoints and
 * their exit status; options that do not go together. */
static void test_sessions_cli(void **state)
{
	(void)state;
	char *m = good_model("sess.onnx"), *b = good_batch("s0.safetensors", "x");
	char *db = mp_test_join(dir, "s.db"), *js = mp_test_join(dir, "s.json"), *csv = mp_test_join(dir, "s.csv");
	expect(ARGS("run", m, "--data", b, "--session", db, "--compare", "fp32", "--policy", "bf16-autocast"), 0,
	       ARGS("session ", "1 batch recorded"));
	expect(ARGS("run", m, "--data", b, "--session", db), 2, ARGS(db, "sessions are not overwritten"));
	expect(ARGS("report", db), 0, ARGS("policy       bf16-autocast", "dtype trace (first batch)", "numerics (all batches)",
	                                   "against fp32", "output diversity", "batches", "done"));
	struct result r = run(ARGS("report", db, "--json"));
	assert_int_equal(r.status, 0);
	json_t *j = json_loads(r.out, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "run"), "status")), "done");
	assert_non_null(json_object_get(j, "numerics"));
	json_decref(j);
	result_free(&r);
	expect(ARGS("export", db, "--format", "json", "--out", js), 0, NULL);
	j = json_load_file(js, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "schema")), 1);
	assert_int_equal(json_array_size(json_object_get(j, "batches")), 1);
	json_decref(j);
	expect(ARGS("export", db, "--format", "csv", "--out", csv), 0, NULL);
	char *text = slurp(csv);
	assert_non_null(strstr(text, "batch,source,value_id,value,node"));
	free(text);
	expect(ARGS("export", db), 2, ARGS("--format json or csv is required"));
	expect(ARGS("export", db, "--format", "xml"), 2, ARGS("--format is json or csv, not 'xml'"));
	expect(ARGS("report", m), 2, ARGS(m, "not an mpdbg session"));
	expect(ARGS("report"), 2, ARGS("which session file?"));

	/* breakpoints stop with status 3 and a report; the session says why */
	char *db2 = mp_test_join(dir, "s2.db");
	expect(ARGS("run", m, "--data", b, "--break", "node=/net/*", "--session", db2), 3,
	       ARGS("breakpoint node=/net/*: batch 0 (s0), node 0 '/net/add/Add' (Add) in module net.add",
	            "output 's' float32 [2, 4]: min -10 max 5", "from graph input 'x' (float32)"));
	expect(ARGS("report", db2), 0, ARGS("stopped", "--break node=/net/*"));
	expect(ARGS("run", m, "--data", b, "--break", "nan"), 0, ARGS("s0"));
	expect(ARGS("run", m, "--data", b, "--break", "nans"), 2, ARGS("--break is nan, inf, overflow, mismatch, tol or node=NAME"));
	expect(ARGS("run", m, "--data", b, "--break", "tol"), 2, ARGS("--break tol needs --compare fp32"));
	expect(ARGS("run", m, "--data", b, "--compare", "fp64"), 2, ARGS("--compare takes fp32"));
	expect(ARGS("run", m, "--data", b, "--tol", "-1"), 2, ARGS("--tol wants a number >= 0"));
	expect(ARGS("run", m, "--data", b, "--no-probes", "--compare", "fp32"), 2, ARGS("--no-probes goes with neither"));
	expect(ARGS("run", m, "--data", b, "--policy", "bf32"), 2, ARGS("unknown policy 'bf32'"));
	expect(ARGS("run", m, "--data", b, "--dtype", "x=int8"), 2, ARGS("'int8' is not bf16, fp16 or fp32"));
	expect(ARGS("run", m, "--data", b, "--on-mismatch", "ignore"), 2, ARGS("--on-mismatch is error, cast or promote"));
	char *nodir = mp_test_join(dir, "no/such/dir/s.db");
	expect(ARGS("run", m, "--data", b, "--session", nodir), 2, ARGS(nodir));
	free(nodir);
	free(db2);
	free(db);
	free(js);
	free(csv);
	free(m);
	free(b);
}

static void test_malformed_models(void **state)
{
	(void)state;
	char *good = good_model("whole.onnx");
	struct stat st;
	assert_int_equal(stat(good, &st), 0);
	char *bytes = slurp(good);
	char *trunc = mp_test_write(dir, "truncated.onnx", bytes, (size_t)st.st_size / 2);
	expect(ARGS("inspect", trunc), 2, ARGS(trunc, "runs past the end"));
	free(bytes);
	/* a length-delimited field that runs past the end */
	struct pbw m = { 0 };
	pbw_int(&m, 1, 8);
	pbw_key(&m, 7, 2);
	pbw_varint(&m, 1u << 20);
	pbw_raw(&m, "\x0a\x01", 2);
	char *past = mp_test_write(dir, "pastend.onnx", m.d, m.n);
	pbw_free(&m);
	expect(ARGS("inspect", past), 2, ARGS(past, "length-delimited field 7 runs past the end"));
	/* raw_data shorter than its shape needs, dims that overflow */
	struct pbw g = onnx_graph(), vi;
	vi = onnx_value_info("w", 1, 1, (int64_t[]){ 8 }, NULL);
	onnx_graph_output(&g, &vi);
	struct pbw t = onnx_tensor_raw("w", MP_F32, 1, (int64_t[]){ 8 }, "abcd", 4);
	onnx_graph_init(&g, &t);
	m = onnx_model(17, &g);
	char *shortraw = mp_test_write(dir, "shortraw.onnx", m.d, m.n);
	pbw_free(&m);
	expect(ARGS("inspect", shortraw), 2, ARGS(shortraw, "raw_data holds 4 bytes, but shape [8] of float32 needs 32"));
	g = onnx_graph();
	vi = onnx_value_info("w", 1, 1, (int64_t[]){ 8 }, NULL);
	onnx_graph_output(&g, &vi);
	t = onnx_tensor_raw("w", MP_F32, 2, (int64_t[]){ 1ll << 40, 1ll << 40 }, "", 0);
	onnx_graph_init(&g, &t);
	m = onnx_model(17, &g);
	char *ovf = mp_test_write(dir, "overflow.onnx", m.d, m.n);
	pbw_free(&m);
	expect(ARGS("inspect", ovf), 2, ARGS(ovf, "overflows 64 bits"));
	char *missing = mp_test_join(dir, "missing.onnx");
	expect(ARGS("inspect", missing), 2, ARGS(missing, "No such file"));
	free(good);
	free(trunc);
	free(past);
	free(shortraw);
	free(ovf);
	free(missing);
}

static char *external_model(const char *name, const char *location)
{
	struct pbw g = onnx_graph(), vi;
	vi = onnx_value_info("w", 1, 1, (int64_t[]){ 4 }, NULL);
	onnx_graph_output(&g, &vi);
	struct pbw t = onnx_tensor_external("w", MP_F32, 1, (int64_t[]){ 4 }, location, 0, 16);
	onnx_graph_init(&g, &t);
	struct pbw m = onnx_model(17, &g);
	char *p = mp_test_write(dir, name, m.d, m.n);
	pbw_free(&m);
	return p;
}

static void test_hostile_external_data(void **state)
{
	(void)state;
	char *p = external_model("dotdot.onnx", "../../etc/passwd");
	expect(ARGS("inspect", p), 2, ARGS(p, "'../../etc/passwd' climbs out of the model's folder"));
	free(p);
	p = external_model("absolute.onnx", "/etc/passwd");
	expect(ARGS("inspect", p), 2, ARGS(p, "'/etc/passwd' is an absolute path"));
	free(p);
	char *outside = mp_test_tmpdir(), *target = mp_test_write(outside, "data.bin", "0123456789abcdef", 16);
	char *link = mp_test_join(dir, "outside.bin");
	assert_int_equal(symlink(target, link), 0);
	p = external_model("symlink.onnx", "outside.bin");
	expect(ARGS("inspect", p), 2, ARGS(p, "leads out of the model's folder"));
	free(p);
	mp_test_rmtree(outside);
	free(outside);
	free(target);
	free(link);

	/* only regular files are read: a FIFO would wait forever for a writer,
	 * a device never end; each is refused at once, naming what it is */
	char *fifo = mp_test_join(dir, "pipe.bin"), *sub = mp_test_join(dir, "folder.bin");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	char *b = good_batch("fifo_b.safetensors", "x");
	p = external_model("fifo.onnx", "pipe.bin");
	expect_within(ARGS("inspect", p), 2, ARGS(p, "pipe.bin: not a regular file (a FIFO)"), 5);
	expect_within(ARGS("run", p, "--data", b, "--device", "cpu"), 2, ARGS(p, "not a regular file (a FIFO)"), 5);
	free(p);
	p = external_model("folder.onnx", "folder.bin");
	expect_within(ARGS("inspect", p), 2, ARGS(p, "folder.bin: not a regular file (a directory)"), 5);
	free(p);
	/* the FIFO named as the model, the batch, a batch in a folder, a skeleton */
	expect_within(ARGS("inspect", fifo), 2, ARGS(fifo, "not a regular file (a FIFO)"), 5);
	expect_within(ARGS("inspect", sub), 2, ARGS(sub, "not a regular file (a directory)"), 5);
	char *m = good_model("fifo_m.onnx");
	expect_within(ARGS("run", m, "--data", fifo, "--device", "cpu"), 2, ARGS(fifo, "neither a file nor a folder"), 5);
	char *bdir = mp_test_join(dir, "fifo_batches"), *bfifo = mp_test_join(bdir, "b0.safetensors");
	assert_int_equal(mkdir(bdir, 0700), 0);
	assert_int_equal(mkfifo(bfifo, 0600), 0);
	expect_within(ARGS("run", m, "--data", bdir, "--device", "cpu"), 2, ARGS(bfifo, "not a regular file (a FIFO)"), 5);
	char *db = mp_test_join(dir, "fifo.db");
	expect(ARGS("run", m, "--data", b, "--device", "cpu", "--session", db), 0, NULL);
	char *png = mp_test_join(dir, "fifo_overlay.png");
	expect_within(ARGS("overlay", db, "--batch", "0", "--skeleton", fifo, "--out", png), 2,
	              ARGS(fifo, "not a regular file (a FIFO)"), 5);
	expect_within(ARGS("report", fifo), 2, ARGS(fifo), 5);
	expect_within(ARGS("tui", fifo), 2, ARGS(fifo), 5);
	free(png);
	free(db);
	free(bfifo);
	free(bdir);
	free(m);
	free(b);
	free(sub);
	free(fifo);
}

/* One rule for every command that writes a file: one that exists is
 * refused, naming it and --force, before any work; --force replaces it. */
static void test_force(void **state)
{
	(void)state;
	char *m = good_model("force.onnx"), *b = good_batch("f0.safetensors", "x");
	char *outs = mp_test_join(dir, "force_outs"), *saved = mp_test_join(outs, "f0.safetensors");
	expect(ARGS("run", m, "--data", b, "--device", "cpu", "--save-outputs", outs), 0, ARGS("f0"));
	struct stat st0, st1;
	assert_int_equal(stat(saved, &st0), 0);
	expect(ARGS("run", m, "--data", b, "--device", "cpu", "--save-outputs", outs), 2,
	       ARGS(saved, "exists; pass --force to replace it"));
	expect(ARGS("run", m, "--data", b, "--device", "cpu", "--save-outputs", outs, "--force"), 0, ARGS("f0"));
	assert_int_equal(stat(saved, &st1), 0);
	assert_true(st1.st_ino != st0.st_ino || st1.st_mtim.tv_nsec != st0.st_mtim.tv_nsec ||
	            st1.st_mtim.tv_sec != st0.st_mtim.tv_sec); /* written again (a rename gives a new inode) */

	char *db = mp_test_join(dir, "force.db"), *js = mp_test_join(dir, "force.json");
	expect(ARGS("run", m, "--data", b, "--device", "cpu", "--session", db), 0, NULL);
	/* a session is never overwritten, --force or not: it is a record */
	expect(ARGS("run", m, "--data", b, "--device", "cpu", "--session", db), 2, ARGS(db, "sessions are not overwritten"));
	char *keep = mp_test_write(dir, "force.json", "keep me", 7);
	free(keep);
	expect(ARGS("export", db, "--format", "json", "--out", js), 2, ARGS(js, "exists; pass --force to replace it"));
	char *text = slurp(js);
	assert_string_equal(text, "keep me");
	free(text);
	expect(ARGS("export", db, "--format", "json", "--out", js, "--force"), 0, NULL);
	text = slurp(js);
	assert_non_null(strstr(text, "\"schema\""));
	free(text);

	/* the pictures: an explicit --out and the default beside the session */
	char *png = mp_test_write(dir, "force.png", "keep me", 7), *def = mp_test_write(dir, "force-diversity.png", "keep", 4);
	char *def0 = mp_test_write(dir, "force-batch0.png", "keep", 4);
	expect(ARGS("overlay", db, "--batch", "0", "--out", png), 2, ARGS(png, "exists; pass --force to replace it"));
	expect(ARGS("overlay", db, "--batch", "0"), 2, ARGS(def0, "exists; pass --force to replace it"));
	expect(ARGS("diversity", db, "--out", png), 2, ARGS(png, "exists; pass --force to replace it"));
	expect(ARGS("diversity", db), 2, ARGS(def, "exists; pass --force to replace it"));
	/* with --force the check passes: this model has no images or joints to draw */
	struct result r = run(ARGS("diversity", db, "--force"));
	assert_null(strstr(r.err, "exists; pass --force"));
	result_free(&r);
	r = run(ARGS("overlay", db, "--batch", "0", "--force"));
	assert_null(strstr(r.err, "exists; pass --force"));
	result_free(&r);
	text = slurp(png);
	assert_string_equal(text, "keep me");
	free(text);

	/* --force is in each command's help */
	expect(ARGS("run", "--help"), 0, ARGS("--force"));
	expect(ARGS("export", "--help"), 0, ARGS("--force"));
	expect(ARGS("overlay", "--help"), 0, ARGS("--force"));
	expect(ARGS("diversity", "--help"), 0, ARGS("--force"));
	free(def0);
	free(def);
	free(png);
	free(js);
	free(db);
	free(saved);
	free(outs);
	free(b);
	free(m);
}

/* Limits stated in advance: exit 2 naming the limit and its option. */
static void test_limits(void **state)
{
	(void)state;
	char *m = good_model("limits.onnx"), *b = good_batch("l0.safetensors", "x");
	expect(ARGS("inspect", m, "--max-nodes", "1"), 2, ARGS(m, "2 nodes, more than the limit of 1", "--max-nodes N"));
	expect(ARGS("inspect", m, "--max-values", "3"), 2, ARGS(m, "more than the limit of 3", "--max-values N"));
	expect(ARGS("inspect", m, "--max-nodes", "2", "--max-values", "4"), 0, NULL);
	expect(ARGS("run", m, "--data", b, "--device", "cpu", "--max-nodes", "1"), 2, ARGS(m, "--max-nodes N"));
	/* x [2, 4] f32: 32 bytes a value */
	expect(ARGS("run", m, "--data", b, "--device", "cpu", "--max-memory", "16"), 2,
	       ARGS(m, "would need 32 bytes, more than the run's memory limit of 16 bytes", "--max-memory SIZE"));
	expect(ARGS("run", m, "--data", b, "--device", "cpu", "--max-memory", "1K"), 0, ARGS("l0"));
	expect(ARGS("run", m, "--data", b, "--max-memory", "lots"), 2, ARGS("--max-memory wants a size"));
	expect(ARGS("run", m, "--data", b, "--max-nodes", "0"), 2, ARGS("--max-nodes wants a number above 0"));
	expect(ARGS("run", "--help"), 0, ARGS("--max-memory SIZE", "--max-nodes N", "--max-values N"));
	/* --timing: the phases of a batch's time, what the executor did */
	expect(ARGS("run", m, "--data", b, "--device", "cpu", "--timing"), 0,
	       ARGS("timing of the one batch (ms): ", " a batch = between ", " + read ", " + bind ", " + run ", " + probes ",
	            "executor: 1 run, 0 in the planned arena, 0 replayed as a graph"));
	expect(ARGS("inspect", "--help"), 0, ARGS("--max-nodes N", "--max-values N"));
	free(m);
	free(b);
}

static char *raw_safetensors(const char *name, const char *header, uint64_t hlen, size_t ndata)
{
	size_t hl = strlen(header), total = 8 + hl + ndata;
	unsigned char *buf = calloc(1, total);
	uint64_t len = hlen ? hlen : hl;
	memcpy(buf, &len, 8);
	memcpy(buf + 8, header, hl);
	char *p = mp_test_write(dir, name, buf, total);
	free(buf);
	return p;
}

static void test_malformed_batches(void **state)
{
	(void)state;
	char *m = good_model("model.onnx");
	char *p = raw_safetensors("beyond.safetensors", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,4],\"data_offsets\":[0,32]}}",
	                          1u << 20, 32);
	expect(ARGS("run", m, "--data", p), 2, ARGS(p, "header length 1048576 runs beyond the end of the file"));
	free(p);
	p = raw_safetensors("overlap.safetensors",
	                    "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,4],\"data_offsets\":[0,32]},"
	                    "\"z\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]}}", 0, 32);
	expect(ARGS("run", m, "--data", p), 2, ARGS(p, "overlaps"));
	free(p);
	p = raw_safetensors("dims.safetensors",
	                    "{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,32]}}",
	                    0, 32);
	expect(ARGS("run", m, "--data", p), 2, ARGS(p, "dims overflow 64 bits"));
	free(p);
	p = good_batch("wrongname.safetensors", "image");
	expect(ARGS("run", m, "--data", p), 2, ARGS(p, "the batch lacks the graph input 'x'", "the batch has 'image'"));
	free(p);
	p = good_batch("ok.safetensors", "x");
	expect(ARGS("run", m, "--data", p, "--device", "cuda"), 2, ARGS("--device cuda"));
	free(p);
	free(m);
}

/* A batch file that cannot be read fails the run when its batch begins,
 * as it did before the next batch was read ahead on a thread: the batch
 * before it printed and recorded, the file's own message, exit 2, and
 * nothing of the batch after it. */
static void test_bad_second_batch(void **state)
{
	(void)state;
	char *m = good_model("ahead.onnx"), *folder = mp_test_join(dir, "cut"), *db = mp_test_join(dir, "cut.db");
	assert_int_equal(mkdir(folder, 0777), 0);
	char *b0 = good_batch("cut/b0.safetensors", "x"), *b2 = good_batch("cut/b2.safetensors", "x");
	char *b1 = raw_safetensors("cut/b1.safetensors",
	                           "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,4],\"data_offsets\":[0,32]}}", 1u << 20, 32);
	struct result r = run(ARGS("run", m, "--data", folder, "--session", db));
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.out, "b0 "));
	assert_non_null(strstr(r.out, "y f32 [2, 4] min 0 max 5"));
	assert_null(strstr(r.out, "b2"));
	assert_non_null(strstr(r.err, b1));
	assert_non_null(strstr(r.err, "header length 1048576 runs beyond the end of the file"));
	assert_non_null(strstr(r.err, "1 batch recorded"));
	result_free(&r);
	free(b0);
	free(b1);
	free(b2);
	free(db);
	free(folder);
	free(m);
}

/* stdout without the per-batch times: each line's "   12.3 ms" cut out,
 * the one thing two runs of the same batches may print differently. */
static char *untimed(const char *out)
{
	char *s = strdup(out), *line = s;
	assert_non_null(s);
	while (*line) {
		char *eol = strchr(line, '\n'), *ms = strstr(line, " ms");
		if (!eol)
			eol = line + strlen(line);
		if (ms && ms < eol) {
			char *num = ms;
			while (num > line && (num[-1] == '.' || (num[-1] >= '0' && num[-1] <= '9') || num[-1] == ' '))
				num--;
			memmove(num, ms + 3, strlen(ms + 3) + 1);
			eol = strchr(num, '\n');
			if (!eol)
				eol = num + strlen(num);
		}
		line = *eol ? eol + 1 : eol;
	}
	return s;
}

/* `run --literal` (the node-by-node path) prints what the planned path
 * prints: the same outputs, statistics and notes per batch. */
static void expect_literal_same(const char *const *args)
{
	const char *with[32];
	int n = 0;
	for (; args[n]; n++)
		with[n] = args[n];
	with[n] = "--literal";
	with[n + 1] = NULL;
	struct result a = run(args), b = run(with);
	if (a.status != 0 || b.status != 0)
		fail_msg("mpdbg run: exit %d, with --literal %d\nstderr: %s\n%s", a.status, b.status, a.err, b.err);
	char *ua = untimed(a.out), *ub = untimed(b.out);
	if (strcmp(ua, ub))
		fail_msg("mpdbg run prints differently with --literal:\n%s\nwith --literal:\n%s", ua, ub);
	assert_non_null(strstr(ua, "min "));
	free(ua);
	free(ub);
	result_free(&a);
	result_free(&b);
}

static void test_literal(void **state)
{
	(void)state;
	char *m = good_model("literal.onnx"), *b = good_batch("l0.safetensors", "x");
	expect(ARGS("run", "--help"), 0, ARGS("--literal", "the reference the fast path is checked against"));
	expect(ARGS("run", m, "--data", b, "--literal"), 0, ARGS("l0", "y f32 [2, 4] min 0 max 5 mean 1.25"));
	expect_literal_same(ARGS("run", m, "--data", b));
	expect_literal_same(ARGS("run", m, "--synthetic", "--seed", "7", "--dim", "batch=5", "--batches", "3"));
	expect_literal_same(ARGS("run", m, "--synthetic", "--seed", "7", "--dim", "batch=5", "--batches", "3",
	                         "--policy", "bf16-autocast", "--compare", "fp32"));
	expect(ARGS("run", m, "--data", b, "--literal", "--break", "node=/net/act/*"), 3,
	       ARGS("breakpoint node=/net/act/*: batch 0 (l0), node 1 '/net/act/Relu' (Relu)"));
	expect(ARGS("run", m, "--data", b, "--literal", "--no-probes"), 2, ARGS("--literal", "--no-probes"));
	free(m);
	free(b);
}

static void test_shared_models(void **state)
{
	(void)state;
	char *models = mp_test_shared_path("models");
	assert_non_null(models);
	char *ts = mp_test_join(models, "handpose_ts.onnx"), *dyn = mp_test_join(models, "handpose_dynamo.onnx");
	char *batches = mp_test_join(models, "batches");
	const char *const tree[] = { "backbone", "embeddings", "encoder", "layer.0", "layer.1", "attention", "mlp",
	                             "head", NULL };
	expect(ARGS("inspect", ts), 0, tree);
	expect(ARGS("inspect", dyn), 0, tree);
	expect(ARGS("inspect", dyn), 0, ARGS("Dinov2Layer", "image", "float32", "[4, 3, 112, 112]"));
	expect(ARGS("run", ts, "--data", batches, "--glob", "batch_*.safetensors"), 0,
	       ARGS("batch_000", "batch_003", "joints_2d f32 [4, 21, 2]", "policy fp32"));
	expect(ARGS("run", ts, "--data", batches), 2, ARGS("ref_000.safetensors", "hint: --glob"));
	/* --compare on the planned path keeps every value of the run (7 MiB
	 * here) for its fp32 shadow; under a limit only node by node meets, the
	 * run goes node by node, with the same figures */
	expect(ARGS("run", ts, "--data", batches, "--glob", "batch_*", "--policy", "bf16-autocast", "--compare", "fp32",
	            "--max-memory", "4M", "--literal"),
	       0, ARGS("batch_003", "worst rel L2 0.00704 at '/Mul' (own 0.00169)"));
	expect(ARGS("run", ts, "--data", batches, "--glob", "batch_*", "--policy", "bf16-autocast", "--compare", "fp32",
	            "--max-memory", "4M"),
	       0, ARGS("batch_003", "worst rel L2 0.00704 at '/Mul' (own 0.00169)"));
	expect(ARGS("run", ts, "--data", batches, "--glob", "batch_*", "--policy", "bf16-autocast", "--compare", "fp32",
	            "--max-memory", "1M"),
	       2, ARGS("the fp32 shadow run: this batch's activations would take", "--max-memory SIZE"));

	/* the two failures of the design page, headless: exit status 3 */
	expect(ARGS("run", ts, "--data", batches, "--glob", "batch_*", "--policy", "bf16"), 3,
	       ARGS("dtype mismatch at node '/MatMul' (MatMul) in module (model), under policy bf16",
	            "input 0 'joints_3d' is bfloat16: output of node '/Add' (Add)",
	            "is float32: graph input 'camera_intrinsics' (float32, from ", "batch_000.safetensors)",
	            "RuntimeError: expected scalar type BFloat16 but found Float"));
	expect(ARGS("run", dyn, "--data", batches, "--glob", "batch_*", "--policy", "fp32", "--on-mismatch", "error"), 3,
	       ARGS("dtype mismatch at node 'node_Conv_185' (Conv) in module backbone.embeddings.patch_embeddings.projection",
	            "input 0 'image' is bfloat16: graph input 'image' (bfloat16, from ",
	            "RuntimeError: Input type (c10::BFloat16) and bias type (float) should be the same"));
	expect(ARGS("run", ts, "--data", batches, "--glob", "batch_*", "--policy", "fp32", "--on-mismatch", "error"), 0,
	       ARGS("batch_003", "policy fp32: 2 casts (graph 2)"));
	expect(ARGS("inspect", ts, "--policy", "fp32", "--on-mismatch", "error", "--data", batches, "--glob", "batch_*"), 0,
	       ARGS("image                    bfloat16  from ", "/backbone/embeddings/Cast (Cast, float32)",
	            "output bf16 -> f32  graph"));
	/* --on-mismatch cast: both run, and show the cast */
	expect(ARGS("run", dyn, "--data", batches, "--glob", "batch_*", "--policy", "fp32", "--on-mismatch", "cast"), 0,
	       ARGS("batch_003", "mismatch 1"));
	expect(ARGS("inspect", dyn, "--policy", "fp32", "--on-mismatch", "cast", "--data", batches, "--glob", "batch_*"), 0,
	       ARGS("node_Conv_185 (Conv, float32)", "in 0 'image' bf16 -> f32  mismatch"));
	expect(ARGS("run", ts, "--data", batches, "--glob", "batch_*", "--policy", "bf16", "--on-mismatch", "cast"), 0,
	       ARGS("batch_003", "joints_2d bf16", "weight 24", "mismatch 1"));
	expect(ARGS("inspect", ts, "--policy", "bf16", "--on-mismatch", "cast", "--data", batches, "--glob", "batch_*"), 0,
	       ARGS("/MatMul (MatMul, bfloat16)", "in 1 '/Transpose_output_0' f32 -> bf16  mismatch",
	            "24 converted to bfloat16 once"));
	expect(ARGS("inspect", ts, "--policy", "bf16", "--data", batches, "--glob", "batch_*"), 3,
	       ARGS("STOP: float inputs disagree (bfloat16 and float32)", "stops at node"));
	/* --break mismatch: where the cast was needed */
	expect(ARGS("run", ts, "--data", batches, "--glob", "batch_*", "--policy", "bf16", "--on-mismatch", "cast",
	            "--break", "mismatch"), 3,
	       ARGS("breakpoint mismatch: batch 0 (batch_000)", "'/MatMul' (MatMul) in module (model)",
	            "input 1 '/Transpose_output_0' float32 [4, 3, 3]"));
	/* a recorded session of the autocast run against fp32 */
	char *db = mp_test_join(dir, "handpose.db");
	expect(ARGS("run", ts, "--data", batches, "--glob", "batch_*", "--policy", "bf16-autocast", "--compare", "fp32",
	            "--session", db), 0, ARGS("vs fp32: worst rel L2", "4 batches recorded"));
	expect(ARGS("report", db), 0, ARGS("autocast      44  float32 -> bfloat16", "against fp32 (worst over batches)",
	                                   "joints_3d", "collapsed: the samples barely differ"));
	free(db);
	/* the node-by-node path prints what the planned one does */
	expect_literal_same(ARGS("run", ts, "--data", batches, "--glob", "batch_*", "--policy", "bf16-autocast",
	                         "--compare", "fp32"));
	expect_literal_same(ARGS("run", dyn, "--data", batches, "--glob", "batch_*", "--policy", "fp16-autocast"));
	/* an override: the projection in fp32 */
	expect(ARGS("inspect", ts, "--policy", "bf16", "--fp32", "/MatMul", "--data", batches, "--glob", "batch_*"), 0,
	       ARGS("/MatMul (MatMul, float32)", "in 0 'joints_3d' bf16 -> f32  override"));
	free(ts);
	free(dyn);
	free(batches);
	free(models);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_cli PATH/TO/mpdbg [shared]\n");
		return 2;
	}
	mpdbg = argv[1];
	cmocka_set_message_output(CM_OUTPUT_TAP);
	if (argc > 2 && !strcmp(argv[2], "shared")) { /* the checks on ../shared/models */
		char *models = mp_test_shared_path("models");
		if (!models) {
			printf("1..0 # SKIP ../shared/models is not beside the checkout\n");
			return 0;
		}
		free(models);
		const struct CMUnitTest shared[] = { cmocka_unit_test(test_shared_models) };
		return cmocka_run_group_tests(shared, setup, teardown);
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_inspect_and_run),
		cmocka_unit_test(test_sessions_cli),
		cmocka_unit_test(test_malformed_models),
		cmocka_unit_test(test_hostile_external_data),
		cmocka_unit_test(test_malformed_batches),
		cmocka_unit_test(test_bad_second_batch),
		cmocka_unit_test(test_force),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_literal),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
