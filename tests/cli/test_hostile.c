/* test_hostile.c - every file of ../shared/hostile-repro through the command
 * that once crashed, hung or misbehaved on it: each must now end with the
 * exit status its row names (2 for a refused input) within five seconds,
 * with a message naming the file and the problem, and no sanitizer report.
 * A file of that folder that no row names fails the test, so a new
 * reproducer cannot be forgotten.  TAP, one line a row.
 *
 *     test_hostile PATH/TO/mpdbg
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

extern char **environ;

/* In args: "{F}" is the row's file in hostile-repro, "{R}/NAME" another file
 * there, "{T}/NAME" a path in this run's scratch folder, "{M}" the bundled
 * hand-pose model (examples/handpose). */
struct hostile_case {
	const char *file;        /* the reproducer, relative to hostile-repro */
	const char *args[12];    /* the command after "mpdbg" */
	int status;              /* the exit status expected */
	const char *phrases[4];  /* each must appear in stderr or stdout */
};

#define F "{F}"
static const struct hostile_case cases[] = {
	/* ---- ONNX models whose ops crashed (issue 13, item 1) ---- */
	/* onnx-crash-*: the fuzz artifacts, through inspect and run --synthetic.  Three
	 * are valid as far as their declared (symbolic) shapes go, so inspect
	 * passes them (exit 0) and run refuses the shapes or values it meets. */
	{ "onnx-crash-0874cea01c64b1f3caff9b956422e0933c74166a", { "inspect", F }, 2, { "node 'ScatterElements_0'", "attribute 'reduction' is a string but holds no value" } },
	{ "onnx-crash-0874cea01c64b1f3caff9b956422e0933c74166a", { "run", F, "--synthetic", "--device", "cpu" }, 2, { "node 'ScatterElements_0'", "attribute 'reduction' is a string but holds no value" } },
	{ "onnx-crash-26716cf08b88782459186e540f90d8fbe25f2fa8", { "inspect", F }, 2, { "node 'ConvTranspose_0'", "output_shape has 1 values for 2 spatial dims" } },
	{ "onnx-crash-26716cf08b88782459186e540f90d8fbe25f2fa8", { "run", F, "--synthetic", "--device", "cpu" }, 2, { "node 'ConvTranspose_0'", "output_shape has 1 values for 2 spatial dims" } },
	{ "onnx-crash-33f5395eebd9ab5548f42b738893bf223318c544", { "inspect", F }, 2, { "node 'ReduceLogSum_0'", "input 0 is int8, but ReduceLogSum takes" } },
	{ "onnx-crash-33f5395eebd9ab5548f42b738893bf223318c544", { "run", F, "--synthetic", "--device", "cpu" }, 2, { "node 'ReduceLogSum_0'", "input 0 is int8, but ReduceLogSum takes" } },
	{ "onnx-crash-3b8589da660cb735b26b7dfc30975773187fc1fe", { "inspect", F }, 2, { "node 'ScatterND_0'", "updates (input 2) has shape [2, 4, 4]", "[46, 4, 4]" } },
	{ "onnx-crash-3b8589da660cb735b26b7dfc30975773187fc1fe", { "run", F, "--synthetic", "--device", "cpu" }, 2, { "node 'ScatterND_0'", "updates (input 2) has shape [2, 4, 4]", "[46, 4, 4]" } },
	{ "onnx-crash-434696b8b3592459df5222cd7cc6b1459bf3606a", { "inspect", F }, 0, { "Scatter 1" } },
	{ "onnx-crash-434696b8b3592459df5222cd7cc6b1459bf3606a", { "run", F, "--synthetic", "--device", "cpu" }, 2, { "node 'Scatter_0'", "indices (input 1) has shape [2, 1] but updates (input 2) has shape [1, 3]" } },
	{ "onnx-crash-45be4917d8275aefc81fa06d8210e3bce76d1b6a", { "inspect", F }, 2, { "node 'GatherElements_0'", "indices (input 1) has shape [2, 44], longer than data's [2, 2]" } },
	{ "onnx-crash-45be4917d8275aefc81fa06d8210e3bce76d1b6a", { "run", F, "--synthetic", "--device", "cpu" }, 2, { "node 'GatherElements_0'", "indices (input 1) has shape [2, 44], longer than data's [2, 2]" } },
	{ "onnx-crash-7567b229201fb367c34f80f1db4c21bb4aaf4da2", { "inspect", F }, 2, { "node 'Scatter_0'", "indices (input 1) has shape [1, 111] but updates (input 2) has shape [1, 2]" } },
	{ "onnx-crash-7567b229201fb367c34f80f1db4c21bb4aaf4da2", { "run", F, "--synthetic", "--device", "cpu" }, 2, { "node 'Scatter_0'", "indices (input 1) has shape [1, 111] but updates (input 2) has shape [1, 2]" } },
	{ "onnx-crash-7ec5495627483c40d8625ea9cb81370dbc362df4", { "inspect", F }, 2, { "node 'ScatterND_0'", "updates (input 2) has shape [2, 4, 4]", "[18, 4, 4]" } },
	{ "onnx-crash-7ec5495627483c40d8625ea9cb81370dbc362df4", { "run", F, "--synthetic", "--device", "cpu" }, 2, { "node 'ScatterND_0'", "updates (input 2) has shape [2, 4, 4]", "[18, 4, 4]" } },
	{ "onnx-crash-92ae9e24ccb76d48827cc6b6fdcf5382aeb6efb1", { "inspect", F }, 2, { "node 'LayerNormalization_0'", "scale (input 1) has shape [5]", "normalised dims [93]" } },
	{ "onnx-crash-92ae9e24ccb76d48827cc6b6fdcf5382aeb6efb1", { "run", F, "--synthetic", "--device", "cpu" }, 2, { "node 'LayerNormalization_0'", "scale (input 1) has shape [5]", "normalised dims [93]" } },
	{ "onnx-crash-94cf7a6f51ec8f219a06693f3257c1dbd38b75ae", { "inspect", F }, 0, { "ScatterND 1" } },
	{ "onnx-crash-94cf7a6f51ec8f219a06693f3257c1dbd38b75ae", { "run", F, "--synthetic", "--device", "cpu" }, 2, { "node 'ScatterND_0'", "updates (input 2) has shape [2, 1, 4]" } },
	{ "onnx-crash-bc475ae52eebaf6af978415788cbf4b580412185", { "inspect", F }, 2, { "node 'RMSNormalization_0'", "scale (input 1) has shape [3, 4]", "normalised dims [3, 36]" } },
	{ "onnx-crash-bc475ae52eebaf6af978415788cbf4b580412185", { "run", F, "--synthetic", "--device", "cpu" }, 2, { "node 'RMSNormalization_0'", "scale (input 1) has shape [3, 4]", "normalised dims [3, 36]" } },
	{ "onnx-crash-d76386ecd7ebff3f60c4451bc98925edc5543f5b", { "inspect", F }, 2, { "node 'RMSNormalization_0'", "scale (input 1) has shape [3, 4]", "normalised dims [126, 4]" } },
	{ "onnx-crash-d76386ecd7ebff3f60c4451bc98925edc5543f5b", { "run", F, "--synthetic", "--device", "cpu" }, 2, { "node 'RMSNormalization_0'", "scale (input 1) has shape [3, 4]", "normalised dims [126, 4]" } },
	{ "onnx-crash-deccc45c87274b1ce681d8d6d112f1e46d632756", { "inspect", F }, 2, { "node 'Resize_0'", "attribute 'mode' is a string but holds no value" } },
	{ "onnx-crash-deccc45c87274b1ce681d8d6d112f1e46d632756", { "run", F, "--synthetic", "--device", "cpu" }, 2, { "node 'Resize_0'", "attribute 'mode' is a string but holds no value" } },
	{ "onnx-crash-df7a9d5b8320c0544301848659e08735dd5cf862", { "inspect", F }, 0, { "ReduceLogSum 1" } },
	{ "onnx-crash-df7a9d5b8320c0544301848659e08735dd5cf862", { "run", F, "--synthetic", "--device", "cpu" }, 2, { "'data' (ReduceLogSum)", "-inf (the log of a sum of 0), which int64 cannot hold" } },
	{ "onnx-crash-e692df39177a6a650d44fe3638460a9eb6d914dc", { "inspect", F }, 2, { "node 'ScatterND_0'", "attribute 'reduction' is a string but holds no value" } },
	{ "onnx-crash-e692df39177a6a650d44fe3638460a9eb6d914dc", { "run", F, "--synthetic", "--device", "cpu" }, 2, { "node 'ScatterND_0'", "attribute 'reduction' is a string but holds no value" } },
	{ "onnx-crash-fa19a24b5bb9801cc6c7d188043024faed55d40c", { "inspect", F }, 2, { "node 'RMSNormalization_0'", "scale (input 1) has shape [3, 4, 5]", "normalised dims [3, 68, 5]" } },
	{ "onnx-crash-fa19a24b5bb9801cc6c7d188043024faed55d40c", { "run", F, "--synthetic", "--device", "cpu" }, 2, { "node 'RMSNormalization_0'", "scale (input 1) has shape [3, 4, 5]", "normalised dims [3, 68, 5]" } },
	{ "onnx-crash-fccfe34ca48249e258af4780c8e4a4c33aa2d1db", { "inspect", F }, 2, { "node 'RMSNormalization_0'", "scale (input 1) has shape [3, 4]", "normalised dims [61, 4]" } },
	{ "onnx-crash-fccfe34ca48249e258af4780c8e4a4c33aa2d1db", { "run", F, "--synthetic", "--device", "cpu" }, 2, { "node 'RMSNormalization_0'", "scale (input 1) has shape [3, 4]", "normalised dims [61, 4]" } },
	/* the command-line reproducers, through the commands of the README */
	{ "cli_attr_string_null_resize.onnx", { "inspect", F }, 2, { "node 'Resize_y'", "attribute 'mode' is a string but holds no value" } },
	{ "cli_attr_string_null_resize.onnx", { "run", F, "--synthetic", "--device", "cpu" }, 2, { "node 'Resize_y'", "attribute 'mode' is a string but holds no value" } },
	{ "cli_attr_string_null_scatter.onnx", { "inspect", F }, 2, { "node 'ScatterElements_y'", "attribute 'reduction' is a string but holds no value" } },
	{ "cli_attr_string_null_scatter.onnx", { "run", F, "--synthetic", "--device", "cpu" }, 2, { "node 'ScatterElements_y'", "attribute 'reduction'" } },
	{ "cli_scatter.onnx", { "run", F, "--data", "{R}/cli_scatter_batch.safetensors", "--device", "cpu" }, 2, { "node 'Scatter_y'", "indices (input 1) has shape [1, 200000] but updates (input 2) has shape [1, 2]" } },
	{ "cli_scatter_elements.onnx", { "run", F, "--data", "{R}/cli_scatter_batch.safetensors", "--device", "cpu" }, 2, { "node 'ScatterElements_y'", "indices (input 1) has shape [1, 200000] but updates (input 2) has shape [1, 2]" } },
	{ "cli_scatter_write.onnx", { "run", F, "--data", "{R}/cli_scatter_batch.safetensors", "--device", "cpu" }, 2, { "node 'ScatterElements_y'", "indices (input 1) has shape [4096, 1], longer than data's [1, 5]" } },
	{ "cli_scatter_write.onnx", { "run", F, "--data", "{R}/data15.safetensors", "--device", "cpu" }, 2, { "node 'ScatterElements_y'", "indices (input 1) has shape [4096, 1]" } },
	{ "cli_gather_elements_read.onnx", { "run", F, "--data", "{R}/x15.safetensors", "--device", "cpu" }, 2, { "node 'GatherElements_y'", "indices (input 1) has shape [262144, 1], longer than data's [1, 5]" } },
	{ "cli_layernorm_scale_read.onnx", { "run", F, "--data", "{R}/x_1x1M.safetensors", "--device", "cpu" }, 2, { "node 'LayerNormalization_y'", "scale (input 1) has shape [5]", "normalised dims [1048576]" } },

	/* ---- session files (item 2, item 4's deep module path) ---- */
	/* captures whose shape or dtype lie about their blob: refused before the
	 * batch file is looked for (that one lies outside the session's folder) */
	{ "capture_shape_lie.db", { "overlay", F, "--batch", "0", "--out", "{T}/out.png" }, 2,
	  { "the capture of 'joints_3d' in batch 0 is damaged", "shape [4, 21, 300]", "not the blob's 504 bytes" } },
	{ "capture_shape_lie.db", { "diversity", F, "--out", "{T}/out_d.png" }, 2,
	  { "the capture of 'joints_3d' in batch 0 is damaged", "shape [4, 21, 300]", "not the blob's 504 bytes" } },
	{ "capture_dtype_bad.db", { "overlay", F, "--batch", "0", "--out", "{T}/out.png" }, 2,
	  { "the capture of 'joints_3d' in batch 0 is damaged", "dtype int64", "not a float dtype" } },
	{ "capture_dtype_bad.db", { "diversity", F, "--out", "{T}/out_d.png" }, 2,
	  { "the capture of 'joints_3d' in batch 0 is damaged", "dtype int64", "not a float dtype" } },
	/* damaged pages: the error of the read that met them, nothing leaked */
	{ "garbled_1.db", { "report", F }, 2, { "reading: database disk image is malformed" } },
	{ "garbled_1.db", { "export", F, "--format", "json" }, 2, { "reading: database disk image is malformed" } },
	{ "session_report_leak.db", { "report", F }, 2, { "reading: database disk image is malformed" } },
	{ "session_report_leak.db", { "report", F, "--json" }, 2, { "reading: database disk image is malformed" } },
	/* ESC/OSC in the model path and batch sources: printed escaped (that no
	 * raw ESC byte is written is checked by test_sessions' hostile strings) */
	{ "session_escape_injection.db", { "report", F }, 0, { "model        \\x1b[31mRED\\x1b[0m", "\\x1b]0;pwned\\x07\\x1b[2Jbatch" } },
	{ "session_escape_injection.db", { "export", F, "--format", "csv" }, 0, { "\\x1b]0;pwned\\x07\\x1b[2Jbatch" } },
	/* a 200,000-level module path: refused at once, naming the limit */
	{ "session_module_deep_200k.db", { "overlay", F, "--batch", "0", "--out", "{T}/out.png" }, 2,
	  { "node 0's module path is 200001 levels", "at most 256 levels and 4096 bytes" } },
	{ "session_module_deep_200k.db", { "diversity", F, "--out", "{T}/out_d.png" }, 2,
	  { "node 0's module path is 200001 levels", "at most 256 levels and 4096 bytes" } },
	{ "session_module_deep_200k.db", { "tui", F }, 2, { "node 0's module path is 200001 levels", "at most 256 levels" } },
	{ "session_module_deep_200k.db", { "report", F }, 0, { "batches" } },

	/* ---- loading: external data, limits, safetensors (items 3, 4, 5) ---- */
	{ "onnx_bomb_8x2GB.onnx", { "run", F, "--synthetic", "--device", "cpu" }, 2,
	  { "activations would take 18.00 GiB at once (at node 'Sum_y'", "memory limit of 8.00 GiB", "--max-memory" } },
	/* accepted by the reader (not "overlaps"): the model then wants inputs the file lacks */
	{ "st_valid_rejected_zero_len.safetensors", { "run", "{M}", "--data", F, "--device", "cpu" }, 2,
	  { "the batch lacks the graph input 'image'", "the batch has 'z', 'x', 'w'" } },
};
#undef F

/* Files of hostile-repro that are inputs to other rows, not reproducers. */
static const char *const helpers[] = { "README.md", "cli_scatter_batch.safetensors", "data15.safetensors",
	                               "x15.safetensors", "x_1x1M.safetensors", NULL };

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = calloc(1, 1 << 20);
	if (f && buf) {
		size_t n = fread(buf, 1, (1 << 20) - 1, f);
		buf[n] = '\0';
	}
	if (f)
		fclose(f);
	return buf;
}

static char *expand(const char *arg, const char *repro, const char *file, const char *tmp, const char *model)
{
	char *out = malloc(4096);
	if (!strcmp(arg, "{F}"))
		snprintf(out, 4096, "%s/%s", repro, file);
	else if (!strncmp(arg, "{R}/", 4))
		snprintf(out, 4096, "%s/%s", repro, arg + 4);
	else if (!strncmp(arg, "{T}/", 4))
		snprintf(out, 4096, "%s/%s", tmp, arg + 4);
	else if (!strcmp(arg, "{M}"))
		snprintf(out, 4096, "%s", model);
	else
		snprintf(out, 4096, "%s", arg);
	return out;
}

/* Runs mpdbg with a five-second limit; status is 128 + signal when killed,
 * -1 when it ran past the limit. */
static int run_limited(char **argv, const char *outp, const char *errp, double *secs)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid;
	int ws = 0, status = -1;
	if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ)) {
		posix_spawn_file_actions_destroy(&fa);
		return -2;
	}
	posix_spawn_file_actions_destroy(&fa);
	for (;;) {
		pid_t w = waitpid(pid, &ws, WNOHANG);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		*secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
		if (w == pid) {
			status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
			break;
		}
		if (*secs > 5.0) {
			kill(pid, SIGKILL);
			waitpid(pid, &ws, 0);
			break;
		}
		nanosleep(&(struct timespec){ 0, 5000000 }, NULL);
	}
	return status;
}

static bool named(const char *file)
{
	for (size_t i = 0; helpers[i]; i++)
		if (!strcmp(file, helpers[i]))
			return true;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (!strcmp(file, cases[i].file))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_hostile PATH/TO/mpdbg\n");
		return 2;
	}
	char *repro = mp_test_shared_path("hostile-repro");
	if (!repro) {
		printf("1..0 # SKIP ../shared/hostile-repro is not beside the checkout\n");
		return 0;
	}
	char tmpl[] = "/tmp/mpdbg-hostile-XXXXXX";
	char *tmp = mkdtemp(tmpl);
	if (!tmp) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	char model[4096], outp[4200], errp[4200];
	snprintf(model, sizeof model, "%s/examples/handpose/handpose_ts.onnx", MP_SOURCE_ROOT);
	snprintf(outp, sizeof outp, "%s/stdout.txt", tmp);
	snprintf(errp, sizeof errp, "%s/stderr.txt", tmp);

	/* the files no row names */
	char *unnamed[256];
	size_t nun = 0;
	DIR *d = opendir(repro);
	for (struct dirent *de; d && (de = readdir(d));)
		if (de->d_name[0] != '.' && !named(de->d_name) && nun < 256)
			unnamed[nun++] = strdup(de->d_name);
	if (d)
		closedir(d);

	size_t ncases = sizeof cases / sizeof cases[0];
	printf("1..%zu\n", ncases + 1);
	int failed = 0;
	for (size_t i = 0; i < ncases; i++) {
		const struct hostile_case *c = &cases[i];
		char *av[16];
		int n = 0;
		av[n++] = argv[1];
		for (int k = 0; c->args[k] && n < 15; k++)
			av[n++] = expand(c->args[k], repro, c->file, tmp, model);
		av[n] = NULL;
		/* scratch outputs from an earlier row must not turn into "exists" */
		char cmd[4400];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'/out*", tmp);
		if (system(cmd)) { /* nothing to remove is fine */
		}
		double secs = 0;
		int st = run_limited(av, outp, errp, &secs);
		char *out = slurp(outp), *err = slurp(errp);
		char why[512] = "";
		const char *base = strrchr(c->file, '/') ? strrchr(c->file, '/') + 1 : c->file;
		if (st == -1)
			snprintf(why, sizeof why, "still running after 5 s");
		else if (st != c->status)
			snprintf(why, sizeof why, "exit %d, expected %d", st, c->status);
		else if (secs > 5.0)
			snprintf(why, sizeof why, "took %.1f s", secs);
		else if (strstr(err, "Sanitizer") || strstr(err, "runtime error:"))
			snprintf(why, sizeof why, "a sanitizer report");
		else if (c->status == 2 && !strstr(err, base))
			snprintf(why, sizeof why, "the message does not name %s", base);
		for (int k = 0; !why[0] && c->phrases[k]; k++)
			if (!strstr(err, c->phrases[k]) && !strstr(out, c->phrases[k]))
				snprintf(why, sizeof why, "the output lacks '%s'", c->phrases[k]);
		printf("%sok %zu - %s:", why[0] ? "not " : "", i + 1, c->file);
		for (int k = 1; k < n; k++)
			printf(" %s", c->args[k - 1]);
		printf(" (exit %d, %.2f s)\n", st, secs);
		if (why[0]) {
			failed++;
			printf("# %s\n# stderr: %.1500s\n", why, err);
		}
		for (int k = 1; k < n; k++)
			free(av[k]);
		free(out);
		free(err);
	}
	if (nun) {
		printf("not ok %zu - every reproducer has a row\n", ncases + 1);
		for (size_t i = 0; i < nun; i++)
			printf("# no row runs %s\n", unnamed[i]);
		failed++;
	} else {
		printf("ok %zu - every reproducer has a row\n", ncases + 1);
	}
	for (size_t i = 0; i < nun; i++)
		free(unnamed[i]);
	char cmd[4400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	if (system(cmd)) {
	}
	free(repro);
	return failed ? 1 : 0;
}
