/* cli.h - what the subcommands share: exit statuses, error printing,
 * option values, number formatting, and the terminal's character set. */
#ifndef MP_CLI_H
#define MP_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "tensor.h"

/* Exit statuses: 0 ok, 1 internal failure, 2 bad usage or input. */
enum { MP_EXIT_OK = 0, MP_EXIT_INTERNAL = 1, MP_EXIT_INPUT = 2 };

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
/* True when the locale's character set is UTF-8 (box drawing allowed). */
bool mp_cli_utf8(void);

/* One-line statistics of a host tensor: "min -1.2 max 3.4 mean 0.56" with
 * NaN/Inf counts when there are any. */
const char *mp_cli_tensor_summary(char *buf, size_t size, const struct mp_tensor *t);

/* Subcommands: argc/argv start at the command's name. */
int mp_cmd_inspect(int argc, char **argv);
int mp_cmd_run(int argc, char **argv);

#endif
