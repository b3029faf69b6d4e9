/* test_pb.c - the protobuf wire reader: every field kind, and every way a
 * message can lie about its length. */
#include <string.h>

#include "cmocka_tap.h"
#include "onnxw.h"
#include "pb.h"

static enum mp_status read_all(const void *p, size_t n, struct mp_pb_field *last, int *count,
                               struct mp_error *e)
{
	struct mp_pb r;
	struct mp_pb_field f;
	bool got;
	enum mp_status st;
	*count = 0;
	mp_pb_init(&r, p, n, p);
	for (;;) {
		if ((st = mp_pb_next(&r, &f, &got, e)))
			return st;
		if (!got)
			return MP_OK;
		*last = f;
		(*count)++;
	}
}

static void test_varints(void **state)
{
	(void)state;
	uint64_t vals[] = { 0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX, (uint64_t)INT64_MAX, UINT64_MAX };
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		struct pbw w = { 0 };
		struct mp_pb_field f;
		struct mp_error e = { 0 };
		int n;
		pbw_int(&w, 7, vals[i]);
		assert_int_equal(read_all(w.d, w.n, &f, &n, &e), MP_OK);
		assert_int_equal(n, 1);
		assert_int_equal(f.num, 7);
		assert_int_equal(f.wire, MP_PB_VARINT);
		assert_true(f.u == vals[i]);
		pbw_free(&w);
	}
}

static void test_varint_too_long(void **state)
{
	(void)state;
	/* key, then 10 bytes whose last carries more than 64 bits */
	unsigned char b[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 };
	unsigned char c[] = { 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 };
	unsigned char d[] = { 0x08, 0x80, 0x80 }; /* ends inside the varint */
	struct mp_pb_field f;
	struct mp_error e = { 0 };
	int n;
	assert_int_equal(read_all(b, sizeof b, &f, &n, &e), MP_ERR_FORMAT);
	assert_non_null(strstr(e.msg, "64 bits"));
	assert_int_equal(read_all(c, sizeof c, &f, &n, &e), MP_ERR_FORMAT);
	assert_int_equal(read_all(d, sizeof d, &f, &n, &e), MP_ERR_FORMAT);
	assert_non_null(strstr(e.msg, "runs past the end"));
}

static void test_len_past_end(void **state)
{
	(void)state;
	struct pbw w = { 0 };
	struct mp_pb_field f;
	struct mp_error e = { 0 };
	int n;
	pbw_key(&w, 7, 2);
	pbw_varint(&w, 1000); /* declares 1000 bytes, has 3 */
	pbw_raw(&w, "abc", 3);
	assert_int_equal(read_all(w.d, w.n, &f, &n, &e), MP_ERR_FORMAT);
	assert_non_null(strstr(e.msg, "length-delimited field 7 runs past the end"));
	assert_non_null(strstr(e.msg, "offset 0"));
	pbw_free(&w);
	/* a length that overflows pointer arithmetic is caught the same way */
	pbw_key(&w, 1, 2);
	pbw_varint(&w, UINT64_MAX - 2);
	assert_int_equal(read_all(w.d, w.n, &f, &n, &e), MP_ERR_FORMAT);
	pbw_free(&w);
}

static void test_fixed(void **state)
{
	(void)state;
	struct pbw w = { 0 };
	struct mp_pb_field f;
	struct mp_error e = { 0 };
	int n;
	uint64_t q = 0x0102030405060708ull;
	pbw_float(&w, 2, 1.5f);
	pbw_key(&w, 3, 1);
	pbw_raw(&w, &q, 8);
	assert_int_equal(read_all(w.d, w.n, &f, &n, &e), MP_OK);
	assert_int_equal(n, 2);
	assert_true(f.u == q);
	assert_int_equal(read_all(w.d, w.n - 1, &f, &n, &e), MP_ERR_FORMAT); /* truncated fixed64 */
	assert_non_null(strstr(e.msg, "64-bit field 3"));
	assert_int_equal(read_all(w.d, 3, &f, &n, &e), MP_ERR_FORMAT); /* truncated fixed32 */
	pbw_free(&w);
}

static void test_bad_keys(void **state)
{
	(void)state;
	unsigned char group[] = { (1 << 3) | 3 }, wire7[] = { (1 << 3) | 7 }, field0[] = { 0x00, 0x01 };
	struct mp_pb_field f;
	struct mp_error e = { 0 };
	int n;
	assert_int_equal(read_all(group, 1, &f, &n, &e), MP_ERR_FORMAT);
	assert_non_null(strstr(e.msg, "groups"));
	assert_int_equal(read_all(wire7, 1, &f, &n, &e), MP_ERR_FORMAT);
	assert_non_null(strstr(e.msg, "wire type 7"));
	assert_int_equal(read_all(field0, 2, &f, &n, &e), MP_ERR_FORMAT);
	assert_non_null(strstr(e.msg, "field number 0"));
	assert_int_equal(read_all(NULL, 0, &f, &n, &e), MP_OK); /* an empty message is fine */
	assert_int_equal(n, 0);
}

static void test_packed(void **state)
{
	(void)state;
	struct pbw inner = { 0 }, w = { 0 };
	uint64_t out[8];
	size_t n = 8;
	struct mp_error e = { 0 };
	for (uint64_t v = 1; v <= 5; v++)
		pbw_varint(&inner, v * 1000);
	pbw_bytes(&w, 8, inner.d, inner.n);
	struct mp_pb r;
	struct mp_pb_field f;
	bool got;
	mp_pb_init(&r, w.d, w.n, w.d);
	assert_int_equal(mp_pb_next(&r, &f, &got, &e), MP_OK);
	assert_int_equal(mp_pb_count(&f, MP_PB_VARINT, &n, w.d, &e), MP_OK);
	assert_int_equal(n, 5);
	n = 8;
	assert_int_equal(mp_pb_decode(&f, MP_PB_VARINT, out, &n, w.d, &e), MP_OK);
	assert_int_equal(n, 5);
	assert_true(out[4] == 5000);
	/* a packed run that ends inside a varint */
	f.len -= 1;
	assert_int_equal(mp_pb_count(&f, MP_PB_VARINT, &n, w.d, &e), MP_ERR_FORMAT);
	/* packed fixed32 whose length is not a multiple of 4 */
	f.len = 6;
	assert_int_equal(mp_pb_count(&f, MP_PB_I32, &n, w.d, &e), MP_ERR_FORMAT);
	assert_non_null(strstr(e.msg, "not a multiple of 4"));
	pbw_free(&inner);
	pbw_free(&w);
}

static void test_nested(void **state)
{
	(void)state;
	struct pbw inner = { 0 }, w = { 0 };
	pbw_str(&inner, 1, "hello");
	pbw_msg(&w, 9, &inner);
	struct mp_pb r, s;
	struct mp_pb_field f, g;
	bool got;
	struct mp_error e = { 0 };
	mp_pb_init(&r, w.d, w.n, w.d);
	assert_int_equal(mp_pb_next(&r, &f, &got, &e), MP_OK);
	s = mp_pb_sub(&r, &f);
	assert_int_equal(mp_pb_next(&s, &g, &got, &e), MP_OK);
	assert_true(got);
	assert_int_equal(g.len, 5);
	assert_memory_equal(g.data, "hello", 5);
	assert_int_equal(g.offset, 2); /* offsets count from the start of the file */
	pbw_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_varints),
		cmocka_unit_test(test_varint_too_long),
		cmocka_unit_test(test_len_past_end),
		cmocka_unit_test(test_fixed),
		cmocka_unit_test(test_bad_keys),
		cmocka_unit_test(test_packed),
		cmocka_unit_test(test_nested),
	};
	return MP_RUN_TESTS(tests);
}
