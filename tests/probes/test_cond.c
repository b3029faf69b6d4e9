/* test_cond.c - break conditions (probes/cond.h): the words and node=GLOB
 * parsed, lists of kinds the TUI edits, each condition judged on a value's
 * numbers in fp32, bf16 and fp16 runs, and a recorded batch judged the same
 * way from the session view (sessions/view_break.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_tap.h"
#include "cond.h"
#include "view.h"

static void test_parse(void **state)
{
	(void)state;
	static const char *const words[] = { "nan", "inf", "overflow", "mismatch", "tol" };
	struct mp_breakpoint bp;
	struct mp_error e = { 0 };
	for (int k = 0; k < 5; k++) {
		assert_int_equal(mp_break_parse(words[k], &bp, &e), MP_OK);
		assert_int_equal(bp.kind, k);
		assert_null(bp.glob);
		assert_string_equal(mp_break_kind_name(bp.kind), words[k]);
	}
	assert_int_equal(mp_break_parse("node=/blocks.*/Add", &bp, &e), MP_OK);
	assert_int_equal(bp.kind, MP_BREAK_NODE);
	assert_string_equal(bp.glob, "/blocks.*/Add");
	free(bp.glob);
	assert_int_equal(mp_break_parse("node=", &bp, &e), MP_ERR_USAGE);
	assert_string_equal(e.msg, "--break node=NAME needs a name (or a glob)");
	assert_int_equal(mp_break_parse("node", &bp, &e), MP_ERR_USAGE);
	assert_int_equal(mp_break_parse("NaN", &bp, &e), MP_ERR_USAGE);
	assert_string_equal(e.msg, "--break is nan, inf, overflow, mismatch, tol or node=NAME, not 'NaN'");
	assert_string_equal(mp_break_kind_name(MP_BREAK_KIND_COUNT), "?");
}

static void test_sets(void **state)
{
	(void)state;
	unsigned bits;
	char buf[64];
	assert_true(mp_break_parse_set("nan,inf tol", &bits));
	assert_int_equal(bits, MP_BC_NAN | MP_BC_INF | MP_BC_TOL);
	mp_break_set_str(bits, buf, sizeof buf);
	assert_string_equal(buf, "nan inf tol");
	assert_true(mp_break_parse_set("none", &bits));
	assert_int_equal(bits, 0);
	mp_break_set_str(bits, buf, sizeof buf);
	assert_string_equal(buf, "none");
	assert_true(mp_break_parse_set("", &bits));
	assert_int_equal(bits, 0);
	/* a bad word fails the list, the good ones are still read */
	assert_false(mp_break_parse_set("overflow, bogus", &bits));
	assert_int_equal(bits, MP_BC_OVERFLOW);
	assert_false(mp_break_parse_set("node=x", &bits));
	mp_break_set_str(MP_BC_ANY, buf, sizeof buf);
	assert_string_equal(buf, "nan inf overflow mismatch tol");
	assert_true(mp_break_parse_set(buf, &bits));
	assert_int_equal(bits, MP_BC_ANY);
}

static void test_meets(void **state)
{
	(void)state;
	struct mp_break_facts f = { .has_stats = true };
	assert_int_equal(mp_break_value_bits(&f, MP_BF16, 0.01), 0);
	f.nan = 1;
	f.inf = 2;
	assert_int_equal(mp_break_value_bits(&f, MP_F32, 0.01), MP_BC_NAN | MP_BC_INF);
	f.has_stats = false; /* no statistics: nothing to judge */
	assert_int_equal(mp_break_value_bits(&f, MP_F32, 0.01), 0);

	/* overflow: an fp32 run counts either low type; a low run its own, and
	 * an Inf in a value of the low type */
	f = (struct mp_break_facts){ .has_stats = true };
	f.overflow[MP_LOW_F16] = 3;
	assert_true(mp_break_meets(MP_BREAK_OVERFLOW, &f, MP_F32, 0));
	assert_true(mp_break_meets(MP_BREAK_OVERFLOW, &f, MP_F16, 0));
	assert_false(mp_break_meets(MP_BREAK_OVERFLOW, &f, MP_BF16, 0));
	f.overflow[MP_LOW_F16] = 0;
	f.inf = 1;
	assert_false(mp_break_meets(MP_BREAK_OVERFLOW, &f, MP_BF16, 0));
	f.is_low = true;
	assert_true(mp_break_meets(MP_BREAK_OVERFLOW, &f, MP_BF16, 0));

	/* tol: only with a comparison, strictly above */
	f = (struct mp_break_facts){ .has_stats = true, .rel_l2 = 0.5 };
	assert_false(mp_break_meets(MP_BREAK_TOL, &f, MP_BF16, 0.01));
	f.has_cmp = true;
	assert_true(mp_break_meets(MP_BREAK_TOL, &f, MP_BF16, 0.01));
	assert_false(mp_break_meets(MP_BREAK_TOL, &f, MP_BF16, 0.5));
	/* not about a value */
	assert_false(mp_break_meets(MP_BREAK_MISMATCH, &f, MP_BF16, 0.01));
	assert_false(mp_break_meets(MP_BREAK_NODE, &f, MP_BF16, 0.01));
}

static void test_node_match(void **state)
{
	(void)state;
	struct mp_breakpoint bps[] = { { MP_BREAK_NAN, NULL }, { MP_BREAK_NODE, "/a/*" }, { MP_BREAK_NODE, "*Add" } };
	assert_ptr_equal(mp_break_node_match(bps, 3, "/a/Mul"), &bps[1]);
	assert_ptr_equal(mp_break_node_match(bps, 3, "/b/Add"), &bps[2]);
	assert_null(mp_break_node_match(bps, 3, "/b/Mul"));
	assert_null(mp_break_node_match(bps, 0, "/a/Mul"));
}

/* The session view's judgement: the same numbers, read back. */
static void test_view(void **state)
{
	(void)state;
	struct mp_view v = { .low = MP_BF16 };
	struct mp_view_stat s = { .present = true, .rel_l2 = 0.2 };
	snprintf(s.dtype, sizeof s.dtype, "bfloat16");
	assert_int_equal(mp_view_stat_breaks(&v, &s, 0.01), 0);
	s.posinf = 1;
	assert_int_equal(mp_view_stat_breaks(&v, &s, 0.01), MP_BC_INF | MP_BC_OVERFLOW);
	snprintf(s.dtype, sizeof s.dtype, "float32");
	assert_int_equal(mp_view_stat_breaks(&v, &s, 0.01), MP_BC_INF);
	s.has_cmp = true;
	s.nan = 4;
	assert_int_equal(mp_view_stat_breaks(&v, &s, 0.01), MP_BC_NAN | MP_BC_INF | MP_BC_TOL);
	v.low = MP_F32;
	s.posinf = s.nan = 0;
	s.overflow[MP_LOW_F16] = 1;
	assert_int_equal(mp_view_stat_breaks(&v, &s, 0.5), MP_BC_OVERFLOW);

	struct mp_view_event ev = { .node = 0 };
	snprintf(ev.reason, sizeof ev.reason, "mismatch");
	assert_true(mp_view_event_is_mismatch(&ev));
	snprintf(ev.reason, sizeof ev.reason, "blocked");
	assert_true(mp_view_event_is_mismatch(&ev));
	snprintf(ev.reason, sizeof ev.reason, "autocast");
	assert_false(mp_view_event_is_mismatch(&ev));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_meets),
		cmocka_unit_test(test_node_match),
		cmocka_unit_test(test_view),
	};
	return MP_RUN_TESTS(tests);
}
