/* cmd_report.c - `mpdbg report FILE.db [--json]`: what a recorded run
 * found, from its session file. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "session.h"

static const char *const report_help =
	"usage: mpdbg report FILE.db [--json]\n\n"
	"What a recorded run found: the run, the dtype trace grouped by reason,\n"
	"mismatches, nodes with NaN, Inf, overflow, underflow or flushes to zero in\n"
	"the run's low type, the worst nodes against fp32 (with --compare), the\n"
	"diversity of the outputs across the batch, per-batch timing and the\n"
	"breakpoints hit.  The session may still be recording.\n\n"
	"  --json       one JSON document\n"
	"  -h, --help   this help\n";

int mp_cmd_report(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	int c;
	struct mp_error e = { 0 };
	struct mp_session *s = NULL;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'h': fputs(report_help, stdout); return MP_EXIT_OK;
		default: return mp_cli_usage_error("report", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return mp_cli_usage_error("report", optind >= argc ? "which session file?" : "one session at a time");
	if (mp_session_open(argv[optind], &s, &e) || mp_session_report(s, stdout, json, &e)) {
		mp_session_close(s);
		return mp_cli_fail(&e);
	}
	mp_session_close(s);
	return MP_EXIT_OK;
}
