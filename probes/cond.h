/* cond.h - break conditions (`--break`, the TUI's `B` and `:break`): the
 * only place they are parsed and judged, so that a node the TUI flags is a
 * node a run would stop at.  The probes judge a value's record as a batch
 * runs; the TUI judges the same numbers read back from a session. */
#ifndef MP_COND_H
#define MP_COND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "error.h"
#include "probe.h"

enum mp_break_kind {
	MP_BREAK_NAN,      /* an output holds NaN */
	MP_BREAK_INF,      /* an output holds +-Inf */
	MP_BREAK_OVERFLOW, /* an output would overflow the run's low type, or did (Inf in it) */
	MP_BREAK_MISMATCH, /* a node whose float inputs PyTorch would refuse to mix */
	MP_BREAK_TOL,      /* relative L2 error against fp32 above --tol (needs --compare) */
	MP_BREAK_NODE,     /* a node whose name matches a glob */
	MP_BREAK_KIND_COUNT
};

struct mp_breakpoint {
	enum mp_break_kind kind;
	char *glob; /* MP_BREAK_NODE */
};

/* A set of kinds as bits (1 << kind): what the TUI looks for. */
enum {
	MP_BC_NAN = 1u << MP_BREAK_NAN,
	MP_BC_INF = 1u << MP_BREAK_INF,
	MP_BC_OVERFLOW = 1u << MP_BREAK_OVERFLOW,
	MP_BC_MISMATCH = 1u << MP_BREAK_MISMATCH,
	MP_BC_TOL = 1u << MP_BREAK_TOL,
	MP_BC_ANY = MP_BC_NAN | MP_BC_INF | MP_BC_OVERFLOW | MP_BC_MISMATCH | MP_BC_TOL,
};

const char *mp_break_kind_name(enum mp_break_kind k);
/* "nan", "inf", "overflow", "mismatch", "tol", "node=GLOB" (*out's glob is
 * malloc'd). */
enum mp_status mp_break_parse(const char *spec, struct mp_breakpoint *out, struct mp_error *e);
/* A list of kinds ("nan,inf tol", "none") into bits; false when a word is
 * none of them (the others are still in *bits).  node=GLOB is not a kind
 * of this list. */
bool mp_break_parse_set(const char *list, unsigned *bits);
/* Bits back into the list's words ("none" when empty). */
void mp_break_set_str(unsigned bits, char *buf, size_t size);

/* What a value's conditions are judged on, wherever its numbers come from. */
struct mp_break_facts {
	bool has_stats, has_cmp;
	int64_t nan, inf;                 /* inf: +Inf and -Inf */
	int64_t overflow[MP_LOW_COUNT];   /* values beyond each low type's range */
	bool is_low;                      /* the value is of the run's low type */
	double rel_l2;                    /* against fp32, with has_cmp */
};

/* Whether a value meets condition k in a run whose low type is `low`
 * (MP_F32 for an fp32 run: then either low type's overflow counts); false
 * for the kinds that are not about a value (mismatch, node). */
bool mp_break_meets(enum mp_break_kind k, const struct mp_break_facts *f, enum mp_dtype low, double tol);
/* The value conditions (nan, inf, overflow, tol) it meets, as bits. */
unsigned mp_break_value_bits(const struct mp_break_facts *f, enum mp_dtype low, double tol);
/* The first node= breakpoint of bps whose glob matches name, or NULL. */
const struct mp_breakpoint *mp_break_node_match(const struct mp_breakpoint *bps, int n, const char *name);

#endif
