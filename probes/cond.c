/* cond.c - break conditions: their names, parsing, and the test of a
 * value's numbers against each. */
#include "cond.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const break_names[MP_BREAK_KIND_COUNT] = {
	[MP_BREAK_NAN] = "nan", [MP_BREAK_INF] = "inf", [MP_BREAK_OVERFLOW] = "overflow",
	[MP_BREAK_MISMATCH] = "mismatch", [MP_BREAK_TOL] = "tol", [MP_BREAK_NODE] = "node",
};

const char *mp_break_kind_name(enum mp_break_kind k)
{
	return (unsigned)k < MP_BREAK_KIND_COUNT ? break_names[k] : "?";
}

/* A kind named by one word (not node=, which carries a glob). */
static enum mp_break_kind kind_of(const char *word)
{
	for (int k = 0; k < MP_BREAK_KIND_COUNT; k++)
		if (k != MP_BREAK_NODE && !strcmp(word, break_names[k]))
			return (enum mp_break_kind)k;
	return MP_BREAK_KIND_COUNT;
}

enum mp_status mp_break_parse(const char *spec, struct mp_breakpoint *out, struct mp_error *e)
{
	*out = (struct mp_breakpoint){ MP_BREAK_KIND_COUNT, NULL };
	if (!strncmp(spec, "node=", 5)) {
		if (!spec[5])
			return mp_error_set(e, MP_ERR_USAGE, "--break node=NAME needs a name (or a glob)");
		out->kind = MP_BREAK_NODE;
		if (!(out->glob = strdup(spec + 5)))
			return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		return MP_OK;
	}
	if ((out->kind = kind_of(spec)) == MP_BREAK_KIND_COUNT)
		return mp_error_set(e, MP_ERR_USAGE, "--break is nan, inf, overflow, mismatch, tol or node=NAME, not '%s'",
		                    spec);
	return MP_OK;
}

bool mp_break_parse_set(const char *list, unsigned *bits)
{
	char buf[256];
	char *save = NULL;
	bool ok = true;
	snprintf(buf, sizeof buf, "%s", list);
	*bits = 0;
	for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		enum mp_break_kind k = kind_of(t);
		if (k != MP_BREAK_KIND_COUNT)
			*bits |= 1u << k;
		else if (strcmp(t, "none"))
			ok = false;
	}
	return ok;
}

void mp_break_set_str(unsigned bits, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s%s%s", bits & MP_BC_NAN ? "nan " : "", bits & MP_BC_INF ? "inf " : "",
	         bits & MP_BC_OVERFLOW ? "overflow " : "", bits & MP_BC_MISMATCH ? "mismatch " : "",
	         bits & MP_BC_TOL ? "tol" : "");
	if (!*buf)
		snprintf(buf, size, "none");
}

bool mp_break_meets(enum mp_break_kind k, const struct mp_break_facts *f, enum mp_dtype low, double tol)
{
	switch (k) {
	case MP_BREAK_NAN:
		return f->has_stats && f->nan > 0;
	case MP_BREAK_INF:
		return f->has_stats && f->inf > 0;
	case MP_BREAK_OVERFLOW:
		if (!f->has_stats)
			return false;
		if (low == MP_F32) /* an fp32 run: either low type */
			return f->overflow[MP_LOW_BF16] + f->overflow[MP_LOW_F16] > 0;
		return f->overflow[low == MP_F16 ? MP_LOW_F16 : MP_LOW_BF16] > 0 || (f->is_low && f->inf > 0);
	case MP_BREAK_TOL:
		return f->has_cmp && f->rel_l2 > tol;
	default:
		return false;
	}
}

unsigned mp_break_value_bits(const struct mp_break_facts *f, enum mp_dtype low, double tol)
{
	static const enum mp_break_kind kinds[] = { MP_BREAK_NAN, MP_BREAK_INF, MP_BREAK_OVERFLOW, MP_BREAK_TOL };
	unsigned bits = 0;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (mp_break_meets(kinds[i], f, low, tol))
			bits |= 1u << kinds[i];
	return bits;
}

const struct mp_breakpoint *mp_break_node_match(const struct mp_breakpoint *bps, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (bps[i].kind == MP_BREAK_NODE && !fnmatch(bps[i].glob, name, 0))
			return &bps[i];
	return NULL;
}
