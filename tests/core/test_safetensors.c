/* test_safetensors.c - the safetensors reader enforces the format's rules
 * (and names the file when one is broken); the writer round-trips. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_tap.h"
#include "safetensors.h"
#include "testutil.h"

static char *dir;

MP_TEST_TMPDIR_FIXTURES(dir)

/* A file from a header (its length prefixed) and n data bytes. */
static char *craft(const char *name, const char *header, uint64_t hlen_override, size_t ndata)
{
	size_t hl = strlen(header);
	uint64_t len = hlen_override ? hlen_override : hl;
	size_t total = 8 + hl + ndata;
	unsigned char *buf = calloc(1, total);
	memcpy(buf, &len, 8);
	memcpy(buf + 8, header, hl);
	for (size_t i = 0; i < ndata; i++)
		buf[8 + hl + i] = (unsigned char)i;
	char *p = mp_test_write(dir, name, buf, total);
	free(buf);
	return p;
}

static void expect_error(const char *name, const char *header, uint64_t hlen, size_t ndata,
                         const char *phrase)
{
	char *p = craft(name, header, hlen, ndata);
	struct mp_st_file *f = NULL;
	struct mp_error e = { 0 };
	enum mp_status st = mp_st_open(p, &f, &e);
	if (st != MP_ERR_FORMAT)
		fail_msg("%s: status %d: %s", name, st, e.msg);
	assert_null(f);
	if (!strstr(e.msg, p) || !strstr(e.msg, phrase))
		fail_msg("%s: message should name the file and say '%s': %s", name, phrase, e.msg);
	free(p);
}

static void test_round_trip(void **state)
{
	(void)state;
	float a[6] = { 1, 2, 3, 4, 5, 6 };
	uint16_t b[3] = { 0x3F80, 0x4000, 0xC040 };
	int64_t c[1] = { -42 };
	struct mp_tensor ta, tb, tc;
	mp_tensor_init(&ta, MP_F32, 2, (int64_t[]){ 2, 3 });
	ta.data = a;
	mp_tensor_init(&tb, MP_BF16, 1, (int64_t[]){ 3 });
	tb.data = b;
	mp_tensor_init(&tc, MP_I64, 0, NULL);
	tc.data = c;
	struct mp_st_item items[] = { { "b", &tb }, { "a", &ta }, { "scalar", &tc } };
	const char *meta[] = { "producer", "test" };
	char *p = mp_test_join(dir, "rt.safetensors");
	struct mp_error e = { 0 };
	assert_int_equal(mp_st_write(p, items, 3, meta, 1, &e), MP_OK);
	struct mp_st_file *f;
	assert_int_equal(mp_st_open(p, &f, &e), MP_OK);
	assert_int_equal(mp_st_count(f), 3);
	const struct mp_st_entry *ea = mp_st_find(f, "a"), *eb = mp_st_find(f, "b"), *ec = mp_st_find(f, "scalar");
	assert_non_null(ea);
	assert_int_equal(ea->dtype, MP_F32);
	assert_int_equal(ea->ndim, 2);
	assert_memory_equal(ea->t.data, a, sizeof a);
	assert_int_equal(eb->dtype, MP_BF16);
	assert_memory_equal(eb->t.data, b, sizeof b);
	assert_int_equal(ec->ndim, 0);
	assert_memory_equal(ec->t.data, c, 8);
	assert_string_equal(mp_st_metadata(f, "producer"), "test");
	assert_null(mp_st_find(f, "missing"));
	/* the header is padded to 8 bytes, as the reference writer does */
	assert_int_equal((ea->offset < eb->offset ? ea->offset : eb->offset) % 8, 0);
	mp_st_close(f);
	free(p);
}

static void test_header_rules(void **state)
{
	(void)state;
	const char *ok = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
	expect_error("beyond.st", ok, 1000000, 8, "runs beyond the end of the file");
	expect_error("huge.st", ok, 200000000, 8, "over the format's limit of 100 MB");
	expect_error("notobj.st", "[1, 2, 3]", 0, 0, "does not start with '{'");
	expect_error("badjson.st", "{\"x\": {\"dtype\": ", 0, 0, "header JSON");
	expect_error("dupkey.st", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
	                          "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 0, 8, "duplicate");
	expect_error("trailing.st", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", 0, 8,
	             "bytes after its JSON object");
	expect_error("meta.st", "{\"__metadata__\":{\"a\":1}}", 0, 0, "__metadata__ value 'a' is not a string");
	expect_error("nodtype.st", "{\"x\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 8, "lacks dtype");
	expect_error("unknown.st", "{\"x\":{\"dtype\":\"F128\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 8,
	             "dtype 'F128', which safetensors does not define");
	/* shorter than the length prefix itself */
	char *p = mp_test_write(dir, "tiny.st", "abc", 3);
	struct mp_st_file *f = NULL;
	struct mp_error e = { 0 };
	assert_int_equal(mp_st_open(p, &f, &e), MP_ERR_FORMAT);
	assert_non_null(strstr(e.msg, "too short"));
	free(p);
}

static void test_offset_rules(void **state)
{
	(void)state;
	expect_error("overlap.st",
	             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
	             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 0, 12, "overlaps");
	expect_error("hole.st",
	             "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
	             "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 0, 12, "a hole of 4 bytes");
	expect_error("notzero.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 0, 8,
	             "a hole of 4 bytes");
	expect_error("size.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 0, 8,
	             "hold 8 bytes, but shape and dtype need 12");
	expect_error("tail.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 16,
	             "the tensors end at byte");
	expect_error("short.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 0, 8,
	             "the tensors end at byte");
	expect_error("overflow.st",
	             "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}",
	             0, 8, "overflow 64 bits");
	expect_error("neg.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,8]}}", 0, 8,
	             "not a non-negative integer");
	expect_error("backwards.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 0, 8,
	             "0 <= begin <= end");
	expect_error("f4odd.st", "{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 0, 2,
	             "do not fill whole bytes");
}

/* Empty tensors may sit anywhere, at the same begin as a full one
 * (st_valid_rejected_zero_len.safetensors: [0, 0] beside [0, 24] was
 * refused as overlapping), in either order of the header. */
static void test_empty_tensors(void **state)
{
	(void)state;
	static const char *const headers[] = {
		"{\"x\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
		"\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
		"\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[24,24]}}",
		"{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[24,24]},"
		"\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
		"\"v\":{\"dtype\":\"I64\",\"shape\":[3,0],\"data_offsets\":[0,0]},"
		"\"x\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}",
	};
	for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
		char *p = craft("empty.st", headers[i], 0, 24);
		struct mp_st_file *f = NULL;
		struct mp_error e = { 0 };
		if (mp_st_open(p, &f, &e))
			fail_msg("header %zu refused: %s", i, e.msg);
		assert_int_equal(mp_st_find(f, "x")->nbytes, 24);
		assert_non_null(mp_st_find(f, "x")->t.data);
		assert_int_equal(mp_st_find(f, "z")->nbytes, 0);
		assert_null(mp_st_find(f, "z")->t.data);
		assert_int_equal(mp_st_find(f, "w")->t.ndim, 1);
		mp_st_close(f);
		free(p);
	}
	/* still refused: two full tensors at one place, an empty one past the end */
	expect_error("twice.st",
	             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
	             "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
	             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 8, "overlaps");
	expect_error("emptypast.st",
	             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
	             "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[12,12]}}", 0, 8, "a hole of 4 bytes");
}

static void test_dtypes(void **state)
{
	(void)state;
	/* every dtype of the format parses; those mpdbg cannot compute on are
	 * still read and named */
	char *p = craft("types.st",
	                "{\"f8\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]},"
	                "\"f6\":{\"dtype\":\"F6_E2M3\",\"shape\":[4],\"data_offsets\":[2,5]},"
	                "\"f4\":{\"dtype\":\"F4\",\"shape\":[4],\"data_offsets\":[5,7]},"
	                "\"b\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[7,8]}}", 0, 8);
	struct mp_st_file *f;
	struct mp_error e = { 0 };
	assert_int_equal(mp_st_open(p, &f, &e), MP_OK);
	assert_int_equal(mp_st_find(f, "f8")->dtype, MP_F8E4M3FN);
	assert_false(mp_dtype_computable(mp_st_find(f, "f8")->dtype));
	assert_int_equal(mp_st_find(f, "f6")->dtype, MP_DTYPE_UNDEFINED);
	assert_string_equal(mp_st_find(f, "f6")->st_dtype, "F6_E2M3");
	assert_int_equal(mp_st_find(f, "f4")->nbytes, 2);
	assert_int_equal(mp_st_find(f, "b")->dtype, MP_BOOL);
	mp_st_close(f);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_header_rules),
		cmocka_unit_test(test_offset_rules),
		cmocka_unit_test(test_empty_tensors),
		cmocka_unit_test(test_dtypes),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, setup, teardown);
}
