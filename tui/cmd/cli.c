/* cli.c - helpers the subcommands share. */
#include "cli.h"

#include <errno.h>
#include <langinfo.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "text.h"

int mp_cli_exit_status(enum mp_status st)
{
	switch (st) {
	case MP_OK:
		return MP_EXIT_OK;
	case MP_ERR_NOMEM:
	case MP_ERR_INTERNAL:
		return MP_EXIT_INTERNAL;
	case MP_ERR_INTERRUPTED:
		return 130;
	case MP_ERR_MISMATCH:
	case MP_ERR_BREAK:
		return MP_EXIT_STOPPED;
	default: /* usage, unreadable or malformed input, unsupported model, no device */
		return MP_EXIT_INPUT;
	}
}

int mp_cli_fail(const struct mp_error *e)
{
	fflush(stdout);
	/* messages quote names from models and sessions other people made:
	 * their control characters are escaped, never sent to the terminal */
	fputs("mpdbg: ", stderr);
	mp_text_fputs(e->msg[0] ? e->msg : mp_status_str(e->status), stderr);
	fputc('\n', stderr);
	return mp_cli_exit_status(e->status);
}

int mp_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fprintf(stderr, "mpdbg %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'mpdbg %s --help'.\n", cmd);
	return MP_EXIT_INPUT;
}

bool mp_cli_parse_count(const char *cmd, const char *opt, const char *s, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0) {
		mp_cli_usage_error(cmd, "%s wants a non-negative number, not '%s'", opt, s);
		return false;
	}
	*out = v;
	return true;
}

const char *mp_cli_thousands(char *buf, size_t size, int64_t v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof tmp, "%lld", (long long)(v < 0 ? -v : v));
	size_t k = 0;
	if (v < 0 && k + 1 < size)
		buf[k++] = '-';
	for (int i = 0; i < n && k + 1 < size; i++) {
		if (i && (n - i) % 3 == 0 && k + 1 < size)
			buf[k++] = ',';
		buf[k++] = tmp[i];
	}
	buf[k < size ? k : size - 1] = '\0';
	return buf;
}

const char *mp_cli_bytes(char *buf, size_t size, uint64_t v)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double x = (double)v;
	int u = 0;
	while (x >= 1024 && u < 4) {
		x /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%llu B", (unsigned long long)v);
	else
		snprintf(buf, size, "%.2f %s", x, units[u]);
	return buf;
}

void mp_cli_print_padded(const char *s, int width)
{
	int cols = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		cols += (*p & 0xC0) != 0x80; /* one column per code point: enough for box drawing */
	fputs(s, stdout);
	for (; cols < width; cols++)
		putchar(' ');
}

bool mp_cli_utf8(void)
{
	const char *cs = nl_langinfo(CODESET);
	return cs && (!strcmp(cs, "UTF-8") || !strcmp(cs, "utf8"));
}

bool mp_cli_policy_option(const char *cmd, int c, const char *arg, struct mp_policy *p, bool *given)
{
	struct mp_error e = { 0 };
	enum mp_status st;
	switch (c) {
	case MP_OPT_POLICY: st = mp_policy_set_base(p, arg, &e); break;
	case MP_OPT_FP32: st = mp_policy_add_override(p, arg, MP_F32, &e); break;
	case MP_OPT_DTYPE: st = mp_policy_add_override(p, arg, MP_DTYPE_UNDEFINED, &e); break;
	case MP_OPT_ON_MISMATCH: st = mp_policy_set_on_mismatch(p, arg, &e); break;
	default: return false;
	}
	if (st) {
		fflush(stdout);
		fprintf(stderr, "mpdbg %s: %s\n", cmd, e.msg);
		return false;
	}
	*given = true;
	return true;
}

const char *mp_cli_sibling(char *buf, size_t size, const char *path, const char *suffix)
{
	const char *dot = strrchr(path, '.');
	int stem = dot && !strchr(dot, '/') ? (int)(dot - path) : (int)strlen(path);
	snprintf(buf, size, "%.*s%s", stem, path, suffix);
	return buf;
}

bool mp_cli_probe_option(const char *cmd, int c, const char *arg, struct mp_probe_options *o)
{
	struct mp_error e = { 0 };
	char *end;
	switch (c) {
	case MP_OPT_COMPARE:
		if (strcmp(arg, "fp32")) {
			mp_cli_usage_error(cmd, "--compare takes fp32 (the reference), not '%s'", arg);
			return false;
		}
		o->compare = true;
		return true;
	case MP_OPT_TOL:
		errno = 0;
		o->tol = strtod(arg, &end);
		if (errno || end == arg || *end || !(o->tol >= 0)) {
			mp_cli_usage_error(cmd, "--tol wants a number >= 0, not '%s'", arg);
			return false;
		}
		return true;
	case MP_OPT_BREAK:
		if (mp_probe_options_add_break(o, arg, &e)) {
			mp_cli_usage_error(cmd, "%s", e.msg);
			return false;
		}
		return true;
	default:
		return false;
	}
}

/* "32G", "512M", "1048576": bytes, with K, M, G or T (binary, an optional
 * "iB" or "B" after it). */
static bool parse_size(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	if (s[0] < '0' || s[0] > '9')
		return false;
	unsigned long long v = strtoull(s, &end, 10);
	int shift = 0;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	case 'T': case 't': shift = 40; end++; break;
	}
	if (shift && *end == 'i')
		end++;
	if (*end == 'B')
		end++;
	if (errno || *end || !v || v > (SIZE_MAX >> shift))
		return false;
	*out = (size_t)v << shift;
	return true;
}

bool mp_cli_limit_option(const char *cmd, int c, const char *arg, struct mp_cli_limits *l)
{
	long v;
	switch (c) {
	case MP_OPT_MAX_NODES:
	case MP_OPT_MAX_VALUES:
		if (!mp_cli_parse_count(cmd, c == MP_OPT_MAX_NODES ? "--max-nodes" : "--max-values", arg, &v))
			return false;
		if (v == 0) {
			mp_cli_usage_error(cmd, "%s wants a number above 0", c == MP_OPT_MAX_NODES ? "--max-nodes" : "--max-values");
			return false;
		}
		*(c == MP_OPT_MAX_NODES ? &l->graph.max_nodes : &l->graph.max_values) = (size_t)v;
		return true;
	case MP_OPT_MAX_MEMORY:
		if (!parse_size(arg, &l->max_memory)) {
			mp_cli_usage_error(cmd, "--max-memory wants a size above 0 such as 512M or 32G, not '%s'", arg);
			return false;
		}
		return true;
	default:
		return false;
	}
}
