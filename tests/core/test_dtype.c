/* test_dtype.c - dtype traits and conversions: every bf16 and f16 bit
 * pattern each way against PyTorch (fixtures made by gen_dtype_ref.py),
 * f64 -> f16/bf16 against exact rational rounding, and mp_dtype_convert. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_tap.h"
#include "dtype.h"
#include "testutil.h"

static void *read_fixture(const char *name, size_t want)
{
	char *path = mp_test_join(MP_SOURCE_ROOT "/tests/core/data", name);
	FILE *f = fopen(path, "rb");
	void *buf = malloc(want);
	assert_non_null(f);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, want, f), want);
	fclose(f);
	free(path);
	return buf;
}

static uint32_t fnv1a(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint32_t h = 0x811C9DC5u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x01000193u;
	return h;
}

static bool f32_bits_nan(uint32_t u) { return (u & 0x7FFFFFFFu) > 0x7F800000u; }
static bool bf16_nan(uint16_t h) { return (h & 0x7FFFu) > 0x7F80u; }
static bool f16_nan(uint16_t h) { return (h & 0x7FFFu) > 0x7C00u; }

static void test_bf16_to_f32_all(void **state)
{
	(void)state;
	uint32_t *ref = read_fixture("bf16_to_f32.bin", 65536 * 4);
	for (uint32_t p = 0; p < 65536; p++) {
		mp_bf16 h = { (uint16_t)p };
		uint32_t got = mp_f32_bits(mp_bf16_to_f32(h));
		if (got != ref[p])
			fail_msg("bf16 0x%04x -> f32 0x%08x, PyTorch gives 0x%08x", p, got, ref[p]);
	}
	free(ref);
}

static void test_f16_to_f32_all(void **state)
{
	(void)state;
	uint32_t *ref = read_fixture("f16_to_f32.bin", 65536 * 4);
	for (uint32_t p = 0; p < 65536; p++) {
		mp_f16 h = { (uint16_t)p };
		uint32_t got = mp_f32_bits(mp_f16_to_f32(h));
		if (got != ref[p])
			fail_msg("f16 0x%04x -> f32 0x%08x, PyTorch gives 0x%08x", p, got, ref[p]);
	}
	free(ref);
}

/* The inputs gen_dtype_ref.py uses, rebuilt here by the same rule. */
static uint32_t *bf16_inputs(void)
{
	uint32_t *in = malloc(65536 * 4 * sizeof *in);
	for (uint32_t p = 0; p < 65536; p++) {
		in[4 * p] = p << 16;
		in[4 * p + 1] = (p << 16) | 0x7FFF;
		in[4 * p + 2] = (p << 16) | 0x8000;
		in[4 * p + 3] = (p << 16) | 0x8001;
	}
	return in;
}

static uint32_t *f16_inputs(void)
{
	uint32_t *in = malloc(65536 * 4 * sizeof *in);
	for (uint32_t h = 0; h < 65536; h++) {
		uint32_t x = mp_f32_bits(mp_f16_to_f32((mp_f16){ (uint16_t)h })), mb;
		uint32_t e = (h >> 10) & 0x1F;
		if (e == 0x1F) {
			in[4 * h] = in[4 * h + 1] = in[4 * h + 2] = in[4 * h + 3] = x;
			continue;
		}
		if (e == 0) {
			float mid = ldexpf((float)(h & 0x3FF) + 0.5f, -24);
			mb = mp_f32_bits((h & 0x8000) ? -mid : mid);
		} else {
			mb = x + (1u << 12);
		}
		in[4 * h] = x;
		in[4 * h + 1] = mb - 1;
		in[4 * h + 2] = mb;
		in[4 * h + 3] = mb + 1;
	}
	return in;
}

static void check_f32_to_low(const char *fixture, uint32_t *in, bool bf16)
{
	unsigned char *raw = read_fixture(fixture, 4 + 65536 * 4 * 2);
	uint32_t hash;
	memcpy(&hash, raw, 4);
	assert_int_equal(hash, fnv1a(in, 65536 * 4 * sizeof *in));
	for (size_t i = 0; i < 65536 * 4; i++) {
		uint16_t want;
		memcpy(&want, raw + 4 + 2 * i, 2);
		float f = mp_f32_from_bits(in[i]);
		uint16_t got = bf16 ? mp_f32_to_bf16(f).bits : mp_f32_to_f16(f).bits;
		if (f32_bits_nan(in[i])) {
			/* PyTorch's kernels disagree on NaN payloads; ours is canonical */
			if (!(bf16 ? bf16_nan(want) : f16_nan(want)))
				fail_msg("PyTorch gives a non-NaN for NaN input 0x%08x", in[i]);
			if (got != (bf16 ? MP_BF16_QNAN : MP_F16_QNAN))
				fail_msg("NaN 0x%08x -> 0x%04x, not the canonical quiet NaN", in[i], got);
			continue;
		}
		if (got != want)
			fail_msg("f32 0x%08x (%.9g) -> %s 0x%04x, PyTorch gives 0x%04x", in[i], (double)f,
			         bf16 ? "bf16" : "f16", got, want);
	}
	free(raw);
}

static void test_f32_to_bf16_all(void **state)
{
	(void)state;
	uint32_t *in = bf16_inputs();
	check_f32_to_low("f32_to_bf16.bin", in, true);
	free(in);
}

static void test_f32_to_f16_all(void **state)
{
	(void)state;
	uint32_t *in = f16_inputs();
	check_f32_to_low("f32_to_f16.bin", in, false);
	free(in);
}

static void test_f64_to_low_exact(void **state)
{
	(void)state;
	uint32_t n;
	unsigned char *head = read_fixture("f64_to_low.bin", 4);
	memcpy(&n, head, 4);
	free(head);
	unsigned char *raw = read_fixture("f64_to_low.bin", 4 + (size_t)n * 12);
	for (uint32_t i = 0; i < n; i++) {
		double x;
		uint16_t f16, bf16;
		memcpy(&x, raw + 4 + 12 * i, 8);
		memcpy(&f16, raw + 4 + 12 * i + 8, 2);
		memcpy(&bf16, raw + 4 + 12 * i + 10, 2);
		if (mp_f64_to_f16(x).bits != f16)
			fail_msg("f64 %.17g -> f16 0x%04x, exact rounding gives 0x%04x", x, mp_f64_to_f16(x).bits, f16);
		if (mp_f64_to_bf16(x).bits != bf16)
			fail_msg("f64 %.17g -> bf16 0x%04x, exact rounding gives 0x%04x", x, mp_f64_to_bf16(x).bits, bf16);
	}
	free(raw);
}

static void test_round_trip(void **state)
{
	(void)state;
	for (uint32_t p = 0; p < 65536; p++) {
		if (!bf16_nan((uint16_t)p))
			assert_int_equal(mp_f32_to_bf16(mp_bf16_to_f32((mp_bf16){ (uint16_t)p })).bits, p);
		if (!f16_nan((uint16_t)p))
			assert_int_equal(mp_f32_to_f16(mp_f16_to_f32((mp_f16){ (uint16_t)p })).bits, p);
	}
}

static void test_traits(void **state)
{
	(void)state;
	assert_int_equal(mp_dtype_size(MP_BF16), 2);
	assert_int_equal(mp_dtype_size(MP_F64), 8);
	assert_int_equal(mp_dtype_size(MP_BOOL), 1);
	assert_true(mp_dtype_computable(MP_U64));
	assert_false(mp_dtype_computable(MP_STRING));
	assert_false(mp_dtype_computable(MP_F8E4M3FN));
	for (int t = 1; t < MP_DTYPE_COUNT; t++) {
		const struct mp_dtype_traits *d = mp_dtype_traits(t);
		assert_int_equal(mp_dtype_from_name(d->name), t);
		assert_int_equal(mp_dtype_from_name(d->onnx_name), t);
		if (d->compute)
			assert_non_null(d->load_f32);
	}
	assert_int_equal(mp_dtype_from_name("bf16"), MP_BF16);
	assert_int_equal(mp_dtype_from_name("fp16"), MP_F16);
	assert_int_equal(mp_dtype_from_st_name("BF16", 4), MP_BF16);
	assert_int_equal(mp_dtype_from_name("nonsense"), MP_DTYPE_UNDEFINED);
	assert_string_equal(mp_dtype_name(1000), "undefined");
}

static void test_convert(void **state)
{
	(void)state;
	float f[] = { 1.5f, -2.7f, 300.0f, -1e30f, NAN, 0.0f, INFINITY };
	int8_t i8[7];
	mp_dtype_convert(MP_F32, f, MP_I8, i8, 7);
	int8_t want_i8[] = { 1, -2, 127, -128, 0, 0, 127 }; /* truncate, saturate, NaN -> 0 */
	assert_memory_equal(i8, want_i8, 7);
	uint8_t b[7];
	mp_dtype_convert(MP_F32, f, MP_BOOL, b, 7);
	uint8_t want_b[] = { 1, 1, 1, 1, 1, 0, 1 };
	assert_memory_equal(b, want_b, 7);
	int64_t big[] = { INT64_MAX, -3, 16777217 };
	float fb[3];
	mp_dtype_convert(MP_I64, big, MP_F32, fb, 3);
	assert_true(fb[0] == 9223372036854775808.0f);
	assert_true(fb[1] == -3.0f);
	assert_true(fb[2] == 16777216.0f); /* one rounding, to even */
	int32_t wide[] = { 300, -129 };
	uint8_t u8[2];
	mp_dtype_convert(MP_I32, wide, MP_U8, u8, 2); /* integers wrap, as numpy */
	assert_int_equal(u8[0], 44);
	assert_int_equal(u8[1], 127);
	double d = 65519.0;
	mp_f16 h;
	mp_dtype_convert(MP_F64, &d, MP_F16, &h, 1);
	assert_int_equal(h.bits, 0x7BFF);
	uint64_t u = UINT64_MAX;
	double du;
	mp_dtype_convert(MP_U64, &u, MP_F64, &du, 1);
	assert_true(du == 18446744073709551616.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bf16_to_f32_all),
		cmocka_unit_test(test_f16_to_f32_all),
		cmocka_unit_test(test_f32_to_bf16_all),
		cmocka_unit_test(test_f32_to_f16_all),
		cmocka_unit_test(test_f64_to_low_exact),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_traits),
		cmocka_unit_test(test_convert),
	};
	return MP_RUN_TESTS(tests);
}
