/* cmd_tui.c - `mpdbg tui FILE.db` (a recorded session, read-only, live
 * while a run still writes it) and `mpdbg tui MODEL --data PATH [run
 * options]` (the model run as the user steps). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "cli.h"
#include "fmap.h"

static const char *const tui_help =
	"usage: mpdbg tui FILE.db\n"
	"       mpdbg tui MODEL --data PATH [options]\n\n"
	"The terminal UI: step through batches and nodes, read the dtype trace,\n"
	"compare with fp32, break where it goes wrong.  With a session file it\n"
	"replays the recording (read-only; a run may still be writing it).  With a\n"
	"model it runs the model as you step, recording into a temporary session\n"
	"(or --session FILE).  '?' inside lists the keys.\n\n"
	"  --data PATH          a .safetensors file, a folder of them, or an ONNX test case folder;\n"
	"                       with FILE.db, where its batch files are, for the pictures (o, d)\n"
	"  --glob PATTERN       in a folder, only the files matching PATTERN\n"
	"  --device DEV         cpu, cuda or auto (default auto)\n"
	"  --threads N          CPU threads (default: all)\n"
	MP_CLI_POLICY_HELP
	"  --session FILE.db    keep the recording in FILE.db (a new file)\n"
	"  --compare fp32       also run each batch in fp32 and compare every node\n"
	"  --tol X              relative L2 error that flags a node (default 0.01)\n"
	"  --break COND         live runs stop at nan, inf, overflow, tol or node=GLOB\n"
	MP_CLI_LIMIT_HELP
	MP_CLI_MEMORY_HELP
	"  -h, --help           this help\n\n"
	"Environment: NO_COLOR=1 draws without colour.\n"
	"Exit status: 0 quit, 2 bad usage or input, 1 internal failure.\n";

enum { OPT_SESSION = 0x200, OPT_DEMO };

/* What a live run is made of, kept so that `r` can make another under a
 * different policy: the policy and probe options as given, replayed onto
 * fresh ones. */
struct tui_run {
	struct mp_live_options lo;
	int nopt;
	struct { int c; const char *arg; } opt[128];
	char session_buf[4096];
};

static bool is_policy_option(int c)
{
	return c == MP_OPT_POLICY || c == MP_OPT_FP32 || c == MP_OPT_DTYPE || c == MP_OPT_ON_MISMATCH;
}

static enum mp_status make_live(struct tui_run *t, const char *base, struct mp_live **out, struct mp_error *e)
{
	struct mp_policy policy = { 0 };
	struct mp_probe_options po;
	enum mp_status st = MP_OK;
	bool given;
	mp_probe_options_init(&po);
	for (int i = 0; i < t->nopt && !st; i++) /* (they were good the first time) */
		if (is_policy_option(t->opt[i].c) ? !mp_cli_policy_option("tui", t->opt[i].c, t->opt[i].arg, &policy, &given) :
		                                    !mp_cli_probe_option("tui", t->opt[i].c, t->opt[i].arg, &po))
			st = mp_error_set(e, MP_ERR_USAGE, "the run options");
	if (!st && base)
		st = mp_policy_set_base(&policy, base, e);
	struct mp_live_options lo = t->lo;
	lo.policy = &policy;
	lo.probes = &po;
	if (!st)
		st = mp_live_open(&lo, out, e);
	mp_policy_free(&policy);
	mp_probe_options_free(&po);
	return st;
}

/* `r` / `:policy P`: the same model and batches under another policy, in a
 * session of its own, the batch the user is at run at once. */
static enum mp_status rerun(void *user, const char *policy, size_t batch, struct mp_live **live, struct mp_view **v,
                            struct mp_error *e)
{
	struct tui_run *t = user;
	struct mp_policy check = { 0 };
	enum mp_status st = mp_policy_set_base(&check, policy, e);
	mp_policy_free(&check);
	if (st)
		return st;
	if (t->lo.session) { /* FILE.db: FILE.<policy>.db beside it */
		char sfx[64], prev[sizeof t->session_buf];
		snprintf(sfx, sizeof sfx, ".%s.db", policy);
		snprintf(prev, sizeof prev, "%s", t->lo.session);
		mp_cli_sibling(t->session_buf, sizeof t->session_buf, prev, sfx);
		if (!access(t->session_buf, F_OK))
			return mp_error_set(e, MP_ERR_IO, "%s exists: sessions are not overwritten", t->session_buf);
		t->lo.session = t->session_buf;
	}
	if ((st = make_live(t, policy, live, e)))
		return st;
	if ((st = mp_live_run_batch(*live, batch, e)) || (st = mp_view_open(mp_live_session_path(*live), v, e))) {
		mp_live_free(*live);
		*live = NULL;
	}
	return st;
}

/* A session file starts with SQLite's header. */
static bool is_session(const char *path)
{
	struct mp_fmap m;
	struct mp_error e = { 0 };
	/* mapped, not fopen'd: a FIFO named here is refused (by the model's
	 * loader, which says why), not waited on */
	if (mp_fmap_open(path, &m, &e))
		return false;
	bool yes = m.size >= 16 && !memcmp(m.data, "SQLite format 3", 16);
	mp_fmap_close(&m);
	return yes;
}

/* What the command line asked for. */
struct tui_opts {
	struct mp_live_options lo;
	struct mp_policy policy;
	struct mp_probe_options po;
	bool policy_given, demo, help;
};

static int tui_option(struct tui_opts *o, int c, char **argv)
{
	switch (c) {
	case 'D': o->lo.data = optarg; break;
	case 'g': o->lo.glob = optarg; break;
	case 'v': o->lo.device = optarg; break;
	case OPT_SESSION: o->lo.session = optarg; break;
	case 't': if (!mp_cli_parse_count("tui", "--threads", optarg, &o->lo.threads)) return MP_EXIT_INPUT; break;
	case MP_OPT_COMPARE: case MP_OPT_TOL: case MP_OPT_BREAK:
		if (!mp_cli_probe_option("tui", c, optarg, &o->po))
			return MP_EXIT_INPUT;
		break;
	case OPT_DEMO: o->demo = true; break;
	case MP_OPT_MAX_NODES: case MP_OPT_MAX_VALUES: case MP_OPT_MAX_MEMORY: {
		struct mp_cli_limits l = { o->lo.limits, o->lo.max_memory };
		if (!mp_cli_limit_option("tui", c, optarg, &l))
			return MP_EXIT_INPUT;
		o->lo.limits = l.graph;
		o->lo.max_memory = l.max_memory;
		break;
	}
	case 'h': o->help = true; break;
	case MP_OPT_POLICY: case MP_OPT_FP32: case MP_OPT_DTYPE: case MP_OPT_ON_MISMATCH:
		if (!mp_cli_policy_option("tui", c, optarg, &o->policy, &o->policy_given))
			return MP_EXIT_INPUT;
		break;
	case ':': return mp_cli_usage_error("tui", "%s needs a value", argv[optind - 1]);
	default: return mp_cli_usage_error("tui", "unknown option '%s'", argv[optind - 1]);
	}
	return MP_EXIT_OK;
}

/* The options, the policy and probe ones also kept in `run` for a rerun;
 * stops at --help. */
static int tui_options(int argc, char **argv, struct tui_run *run, struct tui_opts *o)
{
	static const struct option longopts[] = {
		{ "data", required_argument, NULL, 'D' },
		{ "glob", required_argument, NULL, 'g' },
		{ "device", required_argument, NULL, 'v' },
		{ "threads", required_argument, NULL, 't' },
		{ "session", required_argument, NULL, OPT_SESSION },
		MP_CLI_PROBE_OPTIONS,
		{ "demo", no_argument, NULL, OPT_DEMO }, /* mpdbg demo's: its first message */
		MP_CLI_POLICY_OPTIONS,
		MP_CLI_LIMIT_OPTIONS,
		MP_CLI_MEMORY_OPTION,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc = MP_EXIT_OK;
	optind = 1;
	opterr = 0;
	while (!rc && !o->help && (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (is_policy_option(c) || c == MP_OPT_COMPARE || c == MP_OPT_TOL || c == MP_OPT_BREAK) {
			if (run->nopt == (int)(sizeof run->opt / sizeof run->opt[0]))
				return mp_cli_usage_error("tui", "too many policy and probe options");
			run->opt[run->nopt].c = c, run->opt[run->nopt++].arg = optarg;
		}
		rc = tui_option(o, c, argv);
	}
	return rc;
}

/* One session or model, and options that apply to it. */
static int tui_check(const struct tui_opts *o, int argc, char **argv, bool *replay)
{
	if (optind != argc - 1)
		return mp_cli_usage_error("tui", optind >= argc ? "which session or model?" : "one session or model at a time");
	const char *path = argv[optind];
	*replay = is_session(path);
	if (*replay && (o->lo.glob || o->policy_given || o->po.compare || o->po.nbreaks || o->lo.session))
		return mp_cli_usage_error("tui", "%s is a recorded session: run options do not apply to it", path);
	if (!*replay && !o->lo.data)
		return access(path, R_OK) ? mp_cli_usage_error("tui", "%s: %s", path, strerror(errno)) :
		                            mp_cli_usage_error("tui", "%s is not a session file; a model needs --data PATH", path);
	if (strcmp(o->lo.device, "cpu") && strcmp(o->lo.device, "cuda") && strcmp(o->lo.device, "auto"))
		return mp_cli_usage_error("tui", "--device is cpu, cuda or auto, not '%s'", o->lo.device);
	return MP_EXIT_OK;
}

/* The session to show: the file, or a live run's after its first batch.
 * A session is read before the terminal is asked for: a file it refuses
 * is refused the same way with or without one. */
static int tui_open(struct tui_opts *o, struct tui_run *run, const char *path, bool replay, struct mp_view **v,
                    struct mp_live **live)
{
	struct mp_error e = { 0 };
	if (replay && mp_view_open(path, v, &e))
		return mp_cli_fail(&e);
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "mpdbg tui: needs a terminal (for a report: mpdbg report FILE.db)\n");
		return MP_EXIT_INPUT;
	}
	if (replay)
		return MP_EXIT_OK;
	o->lo.model = path;
	o->lo.policy = &o->policy;
	o->lo.probes = &o->po;
	run->lo = o->lo;
	fprintf(stderr, "mpdbg: loading %s and running the first batch...\n", path);
	if (mp_live_open(&o->lo, live, &e) || mp_live_run_batch(*live, 0, &e) ||
	    mp_view_open(mp_live_session_path(*live), v, &e))
		return mp_cli_fail(&e);
	return MP_EXIT_OK;
}

int mp_cmd_tui(int argc, char **argv)
{
	struct tui_run *run = calloc(1, sizeof *run); /* (8 KiB: not on the stack) */
	struct tui_opts o = { .lo = { .device = "auto" } };
	struct mp_error e = { 0 };
	struct mp_app app = { 0 };
	struct mp_view *v = NULL;
	struct mp_live *live = NULL;
	bool replay = false;
	int rc;

	mp_probe_options_init(&o.po);
	if (!run)
		return mp_cli_fail(&(struct mp_error){ .status = MP_ERR_NOMEM, .msg = "out of memory" });
	rc = tui_options(argc, argv, run, &o);
	if (!rc && o.help)
		fputs(tui_help, stdout);
	if (rc || o.help || (rc = tui_check(&o, argc, argv, &replay)) ||
	    (rc = tui_open(&o, run, argv[optind], replay, &v, &live)))
		goto out;
	const char *path = argv[optind], *slash = strrchr(path, '/');
	app.model_label = slash ? slash + 1 : path;
	app.batches_dir = o.lo.data; /* a replay's batch files are opened there too (and in the session's folder) */
	app.live = live;
	if (live) {
		app.rerun = rerun;
		app.rerun_user = run;
	}
	if (mp_app_init(&app, v, &e)) {
		rc = mp_cli_fail(&e);
		goto out;
	}
	if (o.demo)
		snprintf(app.msg, sizeof app.msg, "demo: bf16 joints meet fp32 intrinsics. o joints  d diversity  "
		         "r fp32: the image  ? keys");
	rc = mp_app_run(&app);
	v = app.v; /* a rerun replaced them */
	live = app.live;
	if (live && o.lo.session)
		fprintf(stderr, "session %s kept\n", o.lo.session);
out:
	app.v = NULL, app.live = NULL;
	mp_app_free(&app);
	mp_view_free(v);
	mp_live_free(live);
	mp_policy_free(&o.policy);
	mp_probe_options_free(&o.po);
	free(run);
	return rc;
}
