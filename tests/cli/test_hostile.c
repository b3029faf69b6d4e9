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
	{ "cli_attr_string_null_resize.onnx", { "inspect", F }, 2, { "mode" } },

	/* ---- session files (item 2, item 4's deep module path) ---- */

	/* ---- loading: external data, limits, safetensors (items 3, 4, 5) ---- */
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
