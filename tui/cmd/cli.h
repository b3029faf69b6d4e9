/* cli.h - what the subcommands share: exit statuses, error printing,
 * option values, number formatting, and the terminal's character set. */
#ifndef MP_CLI_H
#define MP_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "graph.h"
#include "policy.h"
#include "probes.h"
#include "tensor.h"

/* Exit statuses: 0 ok, 1 internal failure, 2 bad usage or input, 3 stopped
 * at a node (a dtype mismatch the policy refuses, or a breakpoint). */
enum { MP_EXIT_OK = 0, MP_EXIT_INTERNAL = 1, MP_EXIT_INPUT = 2, MP_EXIT_STOPPED = 3 };

int mp_cli_exit_status(enum mp_status st);
/* Prints "mpdbg: <message>" to stderr and returns the exit status. */
int mp_cli_fail(const struct mp_error *e);
int mp_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses a non-negative integer option value; false with a message if not. */
bool mp_cli_parse_count(const char *cmd, const char *opt, const char *s, long *out);

/* "1,234,567" */
const char *mp_cli_thousands(char *buf, size_t size, int64_t v);
/* "1.22 MiB" */
const char *mp_cli_bytes(char *buf, size_t size, uint64_t v);
/* Prints s left-aligned in `width` terminal columns (UTF-8 aware). */
void mp_cli_print_padded(const char *s, int width);
/* path without its extension, then suffix: ("a/s.db", "-batch1.png") ->
 * "a/s-batch1.png". */
const char *mp_cli_sibling(char *buf, size_t size, const char *path, const char *suffix);
/* True when the locale's character set is UTF-8 (box drawing allowed). */
bool mp_cli_utf8(void);


/* The policy options run, inspect and tui share (getopt_long values). */
enum { MP_OPT_POLICY = 0x100, MP_OPT_FP32, MP_OPT_DTYPE, MP_OPT_ON_MISMATCH };
#define MP_CLI_POLICY_OPTIONS                                              \
	{ "policy", required_argument, NULL, MP_OPT_POLICY },              \
	{ "fp32", required_argument, NULL, MP_OPT_FP32 },                  \
	{ "dtype", required_argument, NULL, MP_OPT_DTYPE },                \
	{ "on-mismatch", required_argument, NULL, MP_OPT_ON_MISMATCH }
#define MP_CLI_POLICY_HELP                                                                 \
	"  --policy P           fp32, bf16-autocast, bf16, fp16-autocast or fp16\n"            \
	"  --fp32 GLOB          nodes whose name or module path matches GLOB compute in\n"     \
	"                       fp32 (repeatable; the last match wins)\n"                      \
	"  --dtype GLOB=T       the same with T = bf16, fp16 or fp32\n"                        \
	"  --on-mismatch M      where a node's float inputs disagree: error (stop there),\n"  \
	"                       cast (to the node's type) or promote (to the widest);\n"      \
	"                       default: error for bf16/fp16, cast for fp32, promote\n"       \
	"                       under autocast\n"
/* Handles one of the policy options into p; false (message printed) on a
 * bad value.  *given is set when any was. */
bool mp_cli_policy_option(const char *cmd, int c, const char *arg, struct mp_policy *p, bool *given);

/* The probe options run and tui share. */
enum { MP_OPT_COMPARE = 0x140, MP_OPT_TOL, MP_OPT_BREAK };
#define MP_CLI_PROBE_OPTIONS                                   \
	{ "compare", required_argument, NULL, MP_OPT_COMPARE }, \
	{ "tol", required_argument, NULL, MP_OPT_TOL },         \
	{ "break", required_argument, NULL, MP_OPT_BREAK }
/* Handles one of them into o; false (message printed) on a bad value. */
bool mp_cli_probe_option(const char *cmd, int c, const char *arg, struct mp_probe_options *o);

/* The limits stated in advance (graph.h, exec.h): --max-nodes and
 * --max-values wherever a model is loaded, --max-memory where it runs. */
enum { MP_OPT_MAX_NODES = 0x160, MP_OPT_MAX_VALUES, MP_OPT_MAX_MEMORY };
#define MP_CLI_LIMIT_OPTIONS                                              \
	{ "max-nodes", required_argument, NULL, MP_OPT_MAX_NODES },       \
	{ "max-values", required_argument, NULL, MP_OPT_MAX_VALUES }
#define MP_CLI_LIMIT_HELP                                                                  \
	"  --max-nodes N        refuse a model of more than N nodes (default 250000)\n"        \
	"  --max-values N       refuse a model of more than N values (default 1000000)\n"
#define MP_CLI_MEMORY_OPTION { "max-memory", required_argument, NULL, MP_OPT_MAX_MEMORY }
#define MP_CLI_MEMORY_HELP                                                                 \
	"  --max-memory SIZE    the most a batch's activations may take at once, planned\n"    \
	"                       before it runs (K, M, G, T: binary units; default 8G)\n"
struct mp_cli_limits {
	struct mp_graph_limits graph;
	size_t max_memory; /* 0: the executor's default */
};
/* Handles one of them into l; false (message printed) on a bad value. */
bool mp_cli_limit_option(const char *cmd, int c, const char *arg, struct mp_cli_limits *l);

/* The help line of --force, which every command that writes a file takes
 * (mp_run_may_write, tui/run/outputs.h, says what it means). */
#define MP_CLI_FORCE_HELP "  --force              replace files that exist (refused otherwise)\n"

/* Subcommands: argc/argv start at the command's name. */
int mp_cmd_inspect(int argc, char **argv);
int mp_cmd_run(int argc, char **argv);
int mp_cmd_report(int argc, char **argv);
int mp_cmd_export(int argc, char **argv);
int mp_cmd_tui(int argc, char **argv);
int mp_cmd_overlay(int argc, char **argv);
int mp_cmd_diversity(int argc, char **argv);
int mp_cmd_demo(int argc, char **argv);

#endif
