/* dtype.c - the dtype traits table and its row converters. */
#include "dtype.h"

#include <math.h>
#include <strings.h>

/* ---- scalar conversions that need more than a line ---- */

float mp_f16_to_f32(mp_f16 h)
{
	uint32_t sign = (uint32_t)(h.bits & 0x8000u) << 16;
	uint32_t exp = (h.bits >> 10) & 0x1Fu;
	uint32_t man = h.bits & 0x3FFu;

	if (exp == 0x1F) /* Inf, or NaN with its payload and the quiet bit set, as x86's vcvtph2ps does */
		return mp_f32_from_bits(sign | 0x7F800000u | (man << 13) | (man ? 0x00400000u : 0));
	if (exp == 0) { /* zero or subnormal: man * 2^-24, exact in f32 */
		float f = (float)man * 0x1p-24f;
		return mp_f32_from_bits(sign | mp_f32_bits(f));
	}
	return mp_f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
}

/* Rounds a double to a binary float with `mbits` stored mantissa bits and
 * `ebits` exponent bits (IEEE layout, with subnormals and infinities), to
 * nearest with ties to even.  One routine for f16 and bf16, from f32 (exact
 * in a double) and from f64 alike, so there is no double rounding. */
static uint32_t round_f64_to_small(double d, int mbits, int ebits, uint32_t qnan)
{
	uint64_t x = mp_f64_bits(d);
	uint32_t sign = (uint32_t)(x >> 63) << (mbits + ebits);
	uint64_t a = x & 0x7FFFFFFFFFFFFFFFull;
	int bias = (1 << (ebits - 1)) - 1;
	uint64_t inf = (uint64_t)((1u << ebits) - 1) << mbits;

	if (a > 0x7FF0000000000000ull)
		return qnan;
	if (a == 0x7FF0000000000000ull)
		return sign | (uint32_t)inf;
	int e = (int)(a >> 52);
	if (e == 0) /* f64 subnormals lie far below any small float */
		return sign;
	uint64_t m = (a & 0x000FFFFFFFFFFFFFull) | (1ull << 52);
	int te = e - 1023 + bias; /* the target's biased exponent */
	int shift = 52 - mbits + (te >= 1 ? 0 : 1 - te);
	if (shift > 53) /* below half the smallest subnormal */
		return sign;
	uint64_t q = m >> shift;
	uint64_t rem = m & ((1ull << shift) - 1);
	uint64_t half = 1ull << (shift - 1);
	if (rem > half || (rem == half && (q & 1)))
		q++;
	if (te < 1) /* subnormal; q == 1 << mbits is the smallest normal, encoded right */
		return sign | (uint32_t)q;
	/* q holds the implicit bit; a carry out of the mantissa bumps the exponent */
	uint64_t bits = ((uint64_t)te << mbits) + (q - (1ull << mbits));
	if (bits >= inf)
		return sign | (uint32_t)inf;
	return sign | (uint32_t)bits;
}

mp_f16 mp_f32_to_f16(float f)
{
	mp_f16 h = { (uint16_t)round_f64_to_small((double)f, 10, 5, MP_F16_QNAN) };
	return h;
}

mp_f16 mp_f64_to_f16(double d)
{
	mp_f16 h = { (uint16_t)round_f64_to_small(d, 10, 5, MP_F16_QNAN) };
	return h;
}

mp_bf16 mp_f64_to_bf16(double d)
{
	mp_bf16 h = { (uint16_t)round_f64_to_small(d, 7, 8, MP_BF16_QNAN) };
	return h;
}

/* ---- saturating float -> integer (NaN -> 0), no undefined behaviour ---- */

#define DEF_SAT(T, LO, HI)                                    \
	static inline T sat_##T(double x)                     \
	{                                                     \
		if (x != x)                                   \
			return 0;                             \
		if (x <= (double)(LO))                        \
			return (LO);                          \
		if (x >= (double)(HI))                        \
			return (HI);                          \
		return (T)x;                                  \
	}
DEF_SAT(int8_t, INT8_MIN, INT8_MAX)
DEF_SAT(uint8_t, 0, UINT8_MAX)
DEF_SAT(int16_t, INT16_MIN, INT16_MAX)
DEF_SAT(uint16_t, 0, UINT16_MAX)
DEF_SAT(int32_t, INT32_MIN, INT32_MAX)
DEF_SAT(uint32_t, 0, UINT32_MAX)
DEF_SAT(int64_t, INT64_MIN, INT64_MAX)
DEF_SAT(uint64_t, 0, UINT64_MAX)

/* ---- row converters ---- */

/* Elements are read and written through memcpy: tensors point into mapped
 * files where raw_data may sit at any address, and memcpy of one element is
 * a plain (unaligned-safe) load or store once compiled. */
#define DEF_LOAD(NAME, T, CT, EXPR)                                               \
	static void NAME(const void *src, ptrdiff_t stride, CT *dst, size_t n)    \
	{                                                                         \
		const unsigned char *s = src;                                     \
		for (size_t i = 0; i < n; i++) {                                  \
			T v;                                                      \
			memcpy(&v, s + (ptrdiff_t)i * stride * (ptrdiff_t)sizeof(T), sizeof v); \
			dst[i] = (EXPR);                                          \
		}                                                                 \
	}

#define DEF_STORE(NAME, T, CT, EXPR)                                  \
	static void NAME(const CT *src, void *dst, size_t n)          \
	{                                                             \
		unsigned char *d = dst;                               \
		for (size_t i = 0; i < n; i++) {                      \
			CT v = src[i];                                \
			T r = EXPR;                                   \
			memcpy(d + i * sizeof(T), &r, sizeof r);      \
		}                                                     \
	}

/* Integer types: one set of converters each. */
#define DEF_INT(SUF, T)                                                        \
	DEF_LOAD(load_f32_##SUF, T, float, (float)v)                           \
	DEF_LOAD(load_f64_##SUF, T, double, (double)v)                         \
	DEF_LOAD(load_i64_##SUF, T, int64_t, (int64_t)v)                       \
	DEF_STORE(store_f32_##SUF, T, float, sat_##T(v))                       \
	DEF_STORE(store_f64_##SUF, T, double, sat_##T(v))                      \
	DEF_STORE(store_i64_##SUF, T, int64_t, (T)(uint64_t)v)

DEF_INT(i8, int8_t)
DEF_INT(u8, uint8_t)
DEF_INT(i16, int16_t)
DEF_INT(u16, uint16_t)
DEF_INT(i32, int32_t)
DEF_INT(u32, uint32_t)
DEF_INT(i64, int64_t)
DEF_INT(u64, uint64_t)

/* bool is stored as one byte, 0 or 1; any nonzero value is true. */
DEF_LOAD(load_f32_bool, uint8_t, float, (float)(v != 0))
DEF_LOAD(load_f64_bool, uint8_t, double, (double)(v != 0))
DEF_LOAD(load_i64_bool, uint8_t, int64_t, (int64_t)(v != 0))
DEF_STORE(store_f32_bool, uint8_t, float, (uint8_t)(v != 0))
DEF_STORE(store_f64_bool, uint8_t, double, (uint8_t)(v != 0))
DEF_STORE(store_i64_bool, uint8_t, int64_t, (uint8_t)(v != 0))

DEF_LOAD(load_f32_f32, float, float, v)
DEF_LOAD(load_f64_f32, float, double, (double)v)
DEF_LOAD(load_i64_f32, float, int64_t, sat_int64_t(v))
DEF_STORE(store_f64_f32, float, double, (float)v)
DEF_STORE(store_i64_f32, float, int64_t, (float)v)
static void store_f32_f32(const float *src, void *dst, size_t n)
{
	memcpy(dst, src, n * sizeof(float));
}

DEF_LOAD(load_f32_f64, double, float, (float)v)
DEF_LOAD(load_f64_f64, double, double, v)
DEF_LOAD(load_i64_f64, double, int64_t, sat_int64_t(v))
DEF_STORE(store_f32_f64, double, float, (double)v)
DEF_STORE(store_i64_f64, double, int64_t, (double)v)
static void store_f64_f64(const double *src, void *dst, size_t n)
{
	memcpy(dst, src, n * sizeof(double));
}

DEF_LOAD(load_f32_f16, mp_f16, float, mp_f16_to_f32(v))
DEF_LOAD(load_f64_f16, mp_f16, double, (double)mp_f16_to_f32(v))
DEF_LOAD(load_i64_f16, mp_f16, int64_t, sat_int64_t(mp_f16_to_f32(v)))
DEF_STORE(store_f32_f16, mp_f16, float, mp_f32_to_f16(v))
DEF_STORE(store_f64_f16, mp_f16, double, mp_f64_to_f16(v))
DEF_STORE(store_i64_f16, mp_f16, int64_t, mp_f64_to_f16((double)v))

DEF_LOAD(load_f32_bf16, mp_bf16, float, mp_bf16_to_f32(v))
DEF_LOAD(load_f64_bf16, mp_bf16, double, (double)mp_bf16_to_f32(v))
DEF_LOAD(load_i64_bf16, mp_bf16, int64_t, sat_int64_t(mp_bf16_to_f32(v)))
DEF_STORE(store_f32_bf16, mp_bf16, float, mp_f32_to_bf16(v))
DEF_STORE(store_f64_bf16, mp_bf16, double, mp_f64_to_bf16(v))
DEF_STORE(store_i64_bf16, mp_bf16, int64_t, mp_f64_to_bf16((double)v))

#define CONVERTERS(SUF) \
	load_f32_##SUF, load_f64_##SUF, load_i64_##SUF, store_f32_##SUF, store_f64_##SUF, store_i64_##SUF

static const struct mp_dtype_traits traits[MP_DTYPE_COUNT] = {
	[MP_DTYPE_UNDEFINED] = { "undefined", "?", "UNDEFINED", NULL, NULL, 0, MP_COMPUTE_NONE, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL },
	[MP_F32] = { "float32", "f32", "FLOAT", "F32", "Float", 4, MP_COMPUTE_F32, 1, 0, 1, CONVERTERS(f32) },
	[MP_U8] = { "uint8", "u8", "UINT8", "U8", "Byte", 1, MP_COMPUTE_I64, 0, 1, 0, CONVERTERS(u8) },
	[MP_I8] = { "int8", "i8", "INT8", "I8", "Char", 1, MP_COMPUTE_I64, 0, 1, 1, CONVERTERS(i8) },
	[MP_U16] = { "uint16", "u16", "UINT16", "U16", "UInt16", 2, MP_COMPUTE_I64, 0, 1, 0, CONVERTERS(u16) },
	[MP_I16] = { "int16", "i16", "INT16", "I16", "Short", 2, MP_COMPUTE_I64, 0, 1, 1, CONVERTERS(i16) },
	[MP_I32] = { "int32", "i32", "INT32", "I32", "Int", 4, MP_COMPUTE_I64, 0, 1, 1, CONVERTERS(i32) },
	[MP_I64] = { "int64", "i64", "INT64", "I64", "Long", 8, MP_COMPUTE_I64, 0, 1, 1, CONVERTERS(i64) },
	[MP_STRING] = { "string", "str", "STRING", NULL, NULL, 0, MP_COMPUTE_NONE, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL },
	[MP_BOOL] = { "bool", "bool", "BOOL", "BOOL", "Bool", 1, MP_COMPUTE_I64, 0, 0, 0, CONVERTERS(bool) },
	[MP_F16] = { "float16", "f16", "FLOAT16", "F16", "Half", 2, MP_COMPUTE_F32, 1, 0, 1, CONVERTERS(f16) },
	[MP_F64] = { "float64", "f64", "DOUBLE", "F64", "Double", 8, MP_COMPUTE_F64, 1, 0, 1, CONVERTERS(f64) },
	[MP_U32] = { "uint32", "u32", "UINT32", "U32", "UInt32", 4, MP_COMPUTE_I64, 0, 1, 0, CONVERTERS(u32) },
	[MP_U64] = { "uint64", "u64", "UINT64", "U64", "UInt64", 8, MP_COMPUTE_U64, 0, 1, 0, CONVERTERS(u64) },
	[MP_C64] = { "complex64", "c64", "COMPLEX64", "C64", "ComplexFloat", 8, MP_COMPUTE_NONE, 0, 0, 1, NULL, NULL, NULL, NULL, NULL, NULL },
	[MP_C128] = { "complex128", "c128", "COMPLEX128", NULL, "ComplexDouble", 16, MP_COMPUTE_NONE, 0, 0, 1, NULL, NULL, NULL, NULL, NULL, NULL },
	[MP_BF16] = { "bfloat16", "bf16", "BFLOAT16", "BF16", "BFloat16", 2, MP_COMPUTE_F32, 1, 0, 1, CONVERTERS(bf16) },
	[MP_F8E4M3FN] = { "float8_e4m3fn", "f8e4m3fn", "FLOAT8E4M3FN", "F8_E4M3", "Float8_e4m3fn", 1, MP_COMPUTE_NONE, 0, 0, 1, NULL, NULL, NULL, NULL, NULL, NULL },
	[MP_F8E4M3FNUZ] = { "float8_e4m3fnuz", "f8e4m3fnuz", "FLOAT8E4M3FNUZ", NULL, "Float8_e4m3fnuz", 1, MP_COMPUTE_NONE, 0, 0, 1, NULL, NULL, NULL, NULL, NULL, NULL },
	[MP_F8E5M2] = { "float8_e5m2", "f8e5m2", "FLOAT8E5M2", "F8_E5M2", "Float8_e5m2", 1, MP_COMPUTE_NONE, 0, 0, 1, NULL, NULL, NULL, NULL, NULL, NULL },
	[MP_F8E5M2FNUZ] = { "float8_e5m2fnuz", "f8e5m2fnuz", "FLOAT8E5M2FNUZ", NULL, "Float8_e5m2fnuz", 1, MP_COMPUTE_NONE, 0, 0, 1, NULL, NULL, NULL, NULL, NULL, NULL },
	[MP_U4] = { "uint4", "u4", "UINT4", NULL, NULL, 0, MP_COMPUTE_NONE, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL },
	[MP_I4] = { "int4", "i4", "INT4", NULL, NULL, 0, MP_COMPUTE_NONE, 0, 0, 1, NULL, NULL, NULL, NULL, NULL, NULL },
	[MP_F4E2M1] = { "float4_e2m1", "f4e2m1", "FLOAT4E2M1", NULL, NULL, 0, MP_COMPUTE_NONE, 0, 0, 1, NULL, NULL, NULL, NULL, NULL, NULL },
	[MP_F8E8M0] = { "float8_e8m0", "f8e8m0", "FLOAT8E8M0", "F8_E8M0", "Float8_e8m0fnu", 1, MP_COMPUTE_NONE, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL },
	[MP_U2] = { "uint2", "u2", "UINT2", NULL, NULL, 0, MP_COMPUTE_NONE, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL },
	[MP_I2] = { "int2", "i2", "INT2", NULL, NULL, 0, MP_COMPUTE_NONE, 0, 0, 1, NULL, NULL, NULL, NULL, NULL, NULL },
};

const struct mp_dtype_traits *mp_dtype_traits(int dtype)
{
	if (!mp_dtype_valid(dtype))
		return &traits[MP_DTYPE_UNDEFINED];
	return &traits[dtype];
}

const char *mp_dtype_name(int dtype) { return mp_dtype_traits(dtype)->name; }
size_t mp_dtype_size(int dtype) { return mp_dtype_traits(dtype)->size; }
bool mp_dtype_is_float(int dtype) { return mp_dtype_traits(dtype)->is_float; }
bool mp_dtype_computable(int dtype) { return mp_dtype_traits(dtype)->compute != MP_COMPUTE_NONE; }

enum mp_dtype mp_dtype_from_name(const char *name)
{
	static const struct { const char *alias; enum mp_dtype t; } aliases[] = {
		{ "float", MP_F32 }, { "fp32", MP_F32 }, { "half", MP_F16 }, { "fp16", MP_F16 },
		{ "bfloat", MP_BF16 }, { "double", MP_F64 }, { "fp64", MP_F64 },
	};
	for (int t = 1; t < MP_DTYPE_COUNT; t++) {
		const struct mp_dtype_traits *d = &traits[t];
		if (!strcasecmp(name, d->name) || !strcasecmp(name, d->short_name) ||
		    !strcasecmp(name, d->onnx_name) || (d->st_name && !strcasecmp(name, d->st_name)))
			return (enum mp_dtype)t;
	}
	for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
		if (!strcasecmp(name, aliases[i].alias))
			return aliases[i].t;
	return MP_DTYPE_UNDEFINED;
}

enum mp_dtype mp_dtype_from_st_name(const char *name, size_t len)
{
	for (int t = 1; t < MP_DTYPE_COUNT; t++) {
		const char *s = traits[t].st_name;
		if (s && strlen(s) == len && !memcmp(s, name, len))
			return (enum mp_dtype)t;
	}
	return MP_DTYPE_UNDEFINED;
}

/* ---- conversion between any two computable dtypes ---- */

enum { CONVERT_CHUNK = 512 };

void mp_dtype_convert(enum mp_dtype src_type, const void *src,
                      enum mp_dtype dst_type, void *dst, size_t n)
{
	const struct mp_dtype_traits *s = mp_dtype_traits(src_type);
	const struct mp_dtype_traits *d = mp_dtype_traits(dst_type);
	const char *sp = src;
	char *dp = dst;
	bool src_float = s->is_float, dst_float = d->is_float;

	if (src_type == dst_type) {
		memmove(dst, src, n * s->size);
		return;
	}
	for (size_t done = 0; done < n; done += CONVERT_CHUNK) {
		size_t k = n - done < CONVERT_CHUNK ? n - done : CONVERT_CHUNK;
		const void *in = sp + done * s->size;
		void *out = dp + done * d->size;
		if (src_float || (dst_float && dst_type != MP_F32)) {
			/* via f64: exact for every float source and for integers
			 * up to 2^53; f64 -> f16/bf16 rounds once */
			double buf[CONVERT_CHUNK];
			s->load_f64(in, 1, buf, k);
			d->store_f64(buf, out, k);
		} else if (dst_float) { /* integer -> f32: one correctly rounded step */
			float buf[CONVERT_CHUNK];
			s->load_f32(in, 1, buf, k);
			d->store_f32(buf, out, k);
		} else { /* integer -> integer: two's complement wrap, as numpy and PyTorch */
			int64_t ib[CONVERT_CHUNK];
			s->load_i64(in, 1, ib, k);
			d->store_i64(ib, out, k);
		}
	}
}

void mp_dtype_convert_measure(enum mp_dtype src_type, const void *src,
                              enum mp_dtype dst_type, void *dst, size_t n,
                              double *max_abs, double *max_rel)
{
	const struct mp_dtype_traits *s = mp_dtype_traits(src_type);
	const struct mp_dtype_traits *d = mp_dtype_traits(dst_type);
	double ea = 0, er = 0;

	mp_dtype_convert(src_type, src, dst_type, dst, n);
	for (size_t done = 0; done < n; done += CONVERT_CHUNK) {
		size_t k = n - done < CONVERT_CHUNK ? n - done : CONVERT_CHUNK;
		double a[CONVERT_CHUNK], b[CONVERT_CHUNK];
		s->load_f64((const char *)src + done * s->size, 1, a, k);
		d->load_f64((const char *)dst + done * d->size, 1, b, k);
		for (size_t i = 0; i < k; i++) {
			if (a[i] != a[i] || a[i] == b[i])
				continue; /* NaN, or exact (infinities included) */
			double diff = fabs(a[i] - b[i]);
			if (diff != diff) /* a finite value that became NaN: not a float target */
				diff = INFINITY;
			if (diff > ea)
				ea = diff;
			if (a[i] != 0 && diff / fabs(a[i]) > er)
				er = diff / fabs(a[i]);
		}
	}
	*max_abs = ea;
	*max_rel = er;
}
