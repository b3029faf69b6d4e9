/* cmd_demo.c - `mpdbg demo`: the terminal UI on the bundled example
 * (examples/demo: a small hand-pose model trained on synthetic hands, and
 * four batches stored as a GPU-cached dataset stores them), under pure
 * bf16, where it stops at the projection; the UI's first line says what
 * to try next.  Without a terminal it runs the same batches and prints
 * what it finds. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static bool is_demo_dir(const char *d)
{
	char p[PATH_MAX + 32];
	struct stat st;
	snprintf(p, sizeof p, "%s/demo.onnx", d);
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* MPDBG_DEMO_DIR, then examples/demo beside the executable's folder (a
 * build tree), then the source tree it was built from. */
static bool find_demo(char *out, size_t size)
{
	const char *env = getenv("MPDBG_DEMO_DIR");
	char exe[PATH_MAX];
	ssize_t n;
	if (env && *env) {
		snprintf(out, size, "%s", env);
		return is_demo_dir(out);
	}
	if ((n = readlink("/proc/self/exe", exe, sizeof exe - 1)) > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(out, size, "%.3900s/../examples/demo", exe);
			if (is_demo_dir(out))
				return true;
		}
	}
	snprintf(out, size, "%s/examples/demo", MPDBG_SOURCE_DIR);
	return is_demo_dir(out);
}

int mp_cmd_demo(int argc, char **argv)
{
	char dir[PATH_MAX], model[PATH_MAX + 16], data[PATH_MAX + 16];
	const char *device = "auto";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("usage: mpdbg demo [--device cpu|cuda|auto]\n\n"
			       "Opens the terminal UI on the bundled example: a small hand-pose model\n"
			       "(a ViT backbone, an MLP head, a pinhole projection with the camera\n"
			       "intrinsics) trained on synthetic hands, with four batches stored as a\n"
			       "GPU-cached dataset stores them (bf16 images, fp32 intrinsics).  Under pure\n"
			       "bf16 it stops where the bf16 joints meet the fp32 intrinsics; r fp32 shows\n"
			       "the bf16 image meeting the fp32 Conv; o the joints; d the diversity.\n"
			       "MPDBG_DEMO_DIR overrides where the example is looked for.\n");
			return MP_EXIT_OK;
		}
		if (!strcmp(argv[i], "--device") && i + 1 < argc)
			device = argv[++i];
		else
			return mp_cli_usage_error("demo", "unknown option '%s'", argv[i]);
	}
	if (!find_demo(dir, sizeof dir)) {
		fprintf(stderr, "mpdbg demo: the bundled example is not there (examples/demo beside the program's folder, "
		                "or %s/examples/demo); MPDBG_DEMO_DIR names another folder\n", MPDBG_SOURCE_DIR);
		return MP_EXIT_INPUT;
	}
	snprintf(model, sizeof model, "%s/demo.onnx", dir);
	snprintf(data, sizeof data, "%s/batches", dir);
	if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) {
		char *args[] = { "tui", model, "--data", data, "--device", (char *)device, "--policy", "bf16", "--demo", NULL };
		return mp_cmd_tui(9, args);
	}
	printf("mpdbg demo: not a terminal, so no UI; what it finds, as `mpdbg run` says it:\n\n");
	fflush(stdout);
	char *args[] = { "run", model, "--data", data, "--device", (char *)device, "--policy", "bf16",
	                 "--on-mismatch", "cast", NULL };
	return mp_cmd_run(10, args);
}
