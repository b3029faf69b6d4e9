/* test_vec.c - the capped growable array and MP_TRY: growth keeps what was
 * pushed, the cap refuses with a status and a message, take hands over. */
#include <stdlib.h>
#include <string.h>

#include "cmocka_tap.h"
#include "vec.h"

static void test_push_grows(void **state)
{
	(void)state;
	struct mp_vec v;
	struct mp_error e = {0};
	mp_vec_init(&v, sizeof(int), 2, 0);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(mp_vec_push(&v, &i, "ints", &e), MP_OK);
	}
	assert_int_equal(v.len, 100);
	for (int i = 0; i < 100; i++)
		assert_int_equal(*(int *)mp_vec_at(&v, (size_t)i), i);
	size_t n;
	int *items = mp_vec_take(&v, &n);
	assert_int_equal(n, 100);
	assert_int_equal(items[99], 99);
	assert_null(v.data);
	assert_int_equal(v.len, 0);
	free(items);
	mp_vec_free(&v);
	mp_vec_free(NULL);
}

static void test_cap_refuses(void **state)
{
	(void)state;
	struct mp_vec v;
	struct mp_error e = {0};
	mp_vec_init(&v, sizeof(double), 4, 5);
	double x = 1.5;
	for (int i = 0; i < 5; i++)
		assert_int_equal(mp_vec_push(&v, &x, "values", &e), MP_OK);
	assert_int_equal(v.cap, 5);
	assert_int_equal(mp_vec_push(&v, &x, "values", &e), MP_ERR_NOMEM);
	assert_string_equal(e.msg, "over the limit of 5 values");
	assert_int_equal(v.len, 5);
	mp_vec_free(&v);
}

static enum mp_status fails(struct mp_error *e)
{
	return mp_error_set(e, MP_ERR_FORMAT, "bad");
}

static enum mp_status tries(struct mp_error *e, int *reached)
{
	MP_TRY(MP_OK);
	*reached = 1;
	MP_TRY(fails(e));
	*reached = 2;
	return MP_OK;
}

static void test_try(void **state)
{
	(void)state;
	struct mp_error e = {0};
	int reached = 0;
	assert_int_equal(tries(&e, &reached), MP_ERR_FORMAT);
	assert_int_equal(reached, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_push_grows),
		cmocka_unit_test(test_cap_refuses),
		cmocka_unit_test(test_try),
	};
	return MP_RUN_TESTS(tests);
}
