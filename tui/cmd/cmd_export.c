/* cmd_export.c - `mpdbg export FILE.db --format json|csv`: a session
 * written out, into a temporary beside --out that is renamed over it once
 * complete. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "outputs.h"
#include "session.h"

static const char *const export_help =
	"usage: mpdbg export FILE.db --format json|csv [--out PATH [--force]]\n\n"
	"Writes a session out: JSON as one document (the run, nodes, dtype events,\n"
	"and per batch every value's statistics and comparison with fp32), or CSV\n"
	"with one row per batch x value and the statistics as columns.  Numbers\n"
	"JSON cannot hold are written as \"inf\" and \"-inf\"; values not measured are\n"
	"null (empty in CSV).\n\n"
	"  --format F   json or csv\n"
	"  --out PATH   write there (default: standard output), once the export is\n"
	"               complete; a PATH that exists is refused\n"
	"  --force      replace PATH if it exists\n"
	"  -h, --help   this help\n";

int mp_cmd_export(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "out", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *format = NULL, *out = NULL;
	bool force = false;
	int c, rc = MP_EXIT_OK;
	struct mp_error e = { 0 };
	struct mp_session *s = NULL;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': format = optarg; break;
		case 'o': out = optarg; break;
		case 'F': force = true; break;
		case 'h': fputs(export_help, stdout); return MP_EXIT_OK;
		case ':': return mp_cli_usage_error("export", "%s needs a value", argv[optind - 1]);
		default: return mp_cli_usage_error("export", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return mp_cli_usage_error("export", optind >= argc ? "which session file?" : "one session at a time");
	if (!format)
		return mp_cli_usage_error("export", "--format json or csv is required");
	if (strcmp(format, "json") && strcmp(format, "csv"))
		return mp_cli_usage_error("export", "--format is json or csv, not '%s'", format);
	if (out && !mp_run_may_write(out, force, &e))
		return mp_cli_fail(&e);
	if (mp_session_open(argv[optind], &s, &e))
		return mp_cli_fail(&e);

	/* into a temporary beside PATH, renamed over it when complete */
	char tmp[4096];
	FILE *f = stdout;
	if (out) {
		snprintf(tmp, sizeof tmp, "%s.partial", out);
		if (!(f = fopen(tmp, "w"))) {
			mp_error_set(&e, MP_ERR_IO, "%s: %s", tmp, strerror(errno));
			mp_session_close(s);
			return mp_cli_fail(&e);
		}
	}
	enum mp_status st = !strcmp(format, "json") ? mp_session_export_json(s, f, &e) : mp_session_export_csv(s, f, &e);
	if (out) {
		if (fclose(f) != 0 && !st)
			st = mp_error_set(&e, MP_ERR_IO, "%s: %s", tmp, strerror(errno));
		if (!st && rename(tmp, out) != 0)
			st = mp_error_set(&e, MP_ERR_IO, "%s: %s", out, strerror(errno));
		if (st)
			unlink(tmp);
	}
	if (st)
		rc = mp_cli_fail(&e);
	mp_session_close(s);
	return rc;
}
