/* dtype.h - element types, their traits, and exact conversions.
 *
 * The enum values are ONNX's TensorProto.DataType codes, so a code read from
 * a model file is a dtype as it stands (after a range check).
 *
 * bf16 and f16 are wrapper structs: `a + b` on them does not compile, which
 * keeps arithmetic in f32 where it belongs.  Conversions from f32 and f64
 * round to nearest, ties to even, bit-identical to PyTorch for every non-NaN
 * input; NaN becomes the canonical quiet NaN (bf16 0x7FC0, f16 0x7E00), as
 * c10's scalar conversion does for bf16.  (PyTorch's own CPU kernels disagree
 * on NaN payloads: its vectorized bf16 path gives 0xFFFF, its f16 path keeps
 * the sign; a canonical NaN is the one answer that does not depend on which
 * kernel ran.)
 */
#ifndef MP_DTYPE_H
#define MP_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum mp_dtype {
	MP_DTYPE_UNDEFINED = 0,
	MP_F32 = 1,
	MP_U8 = 2,
	MP_I8 = 3,
	MP_U16 = 4,
	MP_I16 = 5,
	MP_I32 = 6,
	MP_I64 = 7,
	MP_STRING = 8,
	MP_BOOL = 9,
	MP_F16 = 10,
	MP_F64 = 11,
	MP_U32 = 12,
	MP_U64 = 13,
	MP_C64 = 14,
	MP_C128 = 15,
	MP_BF16 = 16,
	MP_F8E4M3FN = 17,
	MP_F8E4M3FNUZ = 18,
	MP_F8E5M2 = 19,
	MP_F8E5M2FNUZ = 20,
	MP_U4 = 21,
	MP_I4 = 22,
	MP_F4E2M1 = 23,
	MP_F8E8M0 = 24,
	MP_U2 = 25,
	MP_I2 = 26,
	MP_DTYPE_COUNT
};

/* How an element type is computed on: float types in f32 (f64 for f64),
 * integer types in 64-bit integers. */
enum mp_compute {
	MP_COMPUTE_NONE = 0, /* not computed on (strings, complex, float8, ...) */
	MP_COMPUTE_F32,
	MP_COMPUTE_F64,
	MP_COMPUTE_I64,
	MP_COMPUTE_U64,
};

typedef struct { uint16_t bits; } mp_bf16;
typedef struct { uint16_t bits; } mp_f16;

/* Row converters: n elements from/to a contiguous compute-type array.
 * `stride` counts elements of the stored type; 0 repeats one element. */
typedef void (*mp_load_f32_fn)(const void *src, ptrdiff_t stride, float *dst, size_t n);
typedef void (*mp_load_f64_fn)(const void *src, ptrdiff_t stride, double *dst, size_t n);
typedef void (*mp_load_i64_fn)(const void *src, ptrdiff_t stride, int64_t *dst, size_t n);
typedef void (*mp_store_f32_fn)(const float *src, void *dst, size_t n);
typedef void (*mp_store_f64_fn)(const double *src, void *dst, size_t n);
typedef void (*mp_store_i64_fn)(const int64_t *src, void *dst, size_t n);

struct mp_dtype_traits {
	const char *name;       /* "float32": the name users read */
	const char *short_name; /* "f32" */
	const char *onnx_name;  /* "FLOAT" */
	const char *st_name;    /* safetensors' "F32", NULL where it has none */
	const char *torch_name; /* "Float", as PyTorch's messages spell it */
	uint8_t size;           /* bytes per element, 0 where elements are not byte-addressed */
	enum mp_compute compute;
	bool is_float, is_int, is_signed;
	/* NULL for types that are not computed on */
	mp_load_f32_fn load_f32;
	mp_load_f64_fn load_f64;
	mp_load_i64_fn load_i64; /* u64 loads reinterpret: values above INT64_MAX wrap */
	mp_store_f32_fn store_f32;
	mp_store_f64_fn store_f64;
	mp_store_i64_fn store_i64;
};

/* The traits of a dtype; a code out of range gets the UNDEFINED entry. */
const struct mp_dtype_traits *mp_dtype_traits(int dtype);

static inline bool mp_dtype_valid(int dtype)
{
	return dtype > MP_DTYPE_UNDEFINED && dtype < MP_DTYPE_COUNT;
}

const char *mp_dtype_name(int dtype);
size_t mp_dtype_size(int dtype);
bool mp_dtype_is_float(int dtype);
bool mp_dtype_computable(int dtype);

/* Looks a dtype up by name: "float32", "f32", "FLOAT", "F32", "bf16", ...
 * Returns MP_DTYPE_UNDEFINED if unknown. */
enum mp_dtype mp_dtype_from_name(const char *name);
/* Safetensors names only ("F32", "BF16", ...); len-delimited. */
enum mp_dtype mp_dtype_from_st_name(const char *name, size_t len);

/* Converts n contiguous elements between any two computable dtypes.
 * Float -> int truncates toward zero, saturating at the target's range;
 * NaN becomes 0.  Anything -> bool is (x != 0). */
void mp_dtype_convert(enum mp_dtype src_type, const void *src,
                      enum mp_dtype dst_type, void *dst, size_t n);
/* The same, and measures what it cost: the largest |x - y| and the largest
 * |x - y| / |x| over nonzero x, in float64.  NaN inputs are not counted; a
 * finite value that became infinite gives infinite errors. */
void mp_dtype_convert_measure(enum mp_dtype src_type, const void *src,
                              enum mp_dtype dst_type, void *dst, size_t n,
                              double *max_abs, double *max_rel);

/* ---- scalar conversions ---- */

static inline uint32_t mp_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float mp_f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint64_t mp_f64_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static inline double mp_f64_from_bits(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }

#define MP_BF16_QNAN 0x7FC0u
#define MP_F16_QNAN 0x7E00u

static inline float mp_bf16_to_f32(mp_bf16 h)
{
	return mp_f32_from_bits((uint32_t)h.bits << 16);
}

static inline mp_bf16 mp_f32_to_bf16(float f)
{
	uint32_t u = mp_f32_bits(f);
	mp_bf16 h;
	if ((u & 0x7FFFFFFFu) > 0x7F800000u) {
		h.bits = MP_BF16_QNAN;
		return h;
	}
	/* Round to nearest even at bit 16; a carry into the exponent is the
	 * correct result, up to and including overflow to infinity. */
	u += 0x7FFFu + ((u >> 16) & 1u);
	h.bits = (uint16_t)(u >> 16);
	return h;
}

float mp_f16_to_f32(mp_f16 h);
mp_f16 mp_f32_to_f16(float f);
mp_f16 mp_f64_to_f16(double d);
mp_bf16 mp_f64_to_bf16(double d);

#endif
