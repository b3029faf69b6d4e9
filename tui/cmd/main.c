/* main.c - mpdbg's entry point: dispatches to the subcommands. */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "plot.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "demo", mp_cmd_demo, "the terminal UI on the bundled example: start here" },
	{ "inspect", mp_cmd_inspect, "show a model: opsets, ops, parameters, modules, inputs, outputs" },
	{ "run", mp_cmd_run, "run a model on batches under a precision policy, with probes (and record it)" },
	{ "tui", mp_cmd_tui, "the terminal UI: step through batches and nodes of a run or a recorded session" },
	{ "overlay", mp_cmd_overlay, "a batch's predicted and true joints, and the low-precision gap, as a PNG" },
	{ "diversity", mp_cmd_diversity, "whether predictions vary across samples as the truth does, as a PNG" },
	{ "report", mp_cmd_report, "what a recorded session found" },
	{ "export", mp_cmd_export, "write a session out as JSON or CSV" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: mpdbg <command> [options]\n\n"
	           "mpdbg is a debugger for neural networks that run in mixed precision.\n\n"
	           "commands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'mpdbg <command> --help' describes a command.\n");
}

int main(int argc, char **argv)
{
	setlocale(LC_ALL, "");
	setlocale(LC_NUMERIC, "C"); /* numbers print the same everywhere */
	if (argc < 2) {
		usage(stderr);
		return MP_EXIT_INPUT;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		if (argc > 2)
			for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
				if (!strcmp(argv[2], commands[i].name)) {
					char *sub[] = { argv[2], "--help", NULL };
					return commands[i].run(2, sub);
				}
		usage(stdout);
		return MP_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("mpdbg %s\n", MPDBG_VERSION);
		return MP_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(argv[1], commands[i].name)) {
			int rc = commands[i].run(argc - 1, argv + 1);
			mp_pictures_release();
			return rc;
		}
	fprintf(stderr, "mpdbg: '%s' is not a command\n\n", argv[1]);
	usage(stderr);
	return MP_EXIT_INPUT;
}
