/* math.cuh - the device code every elementwise kernel shares, the fused
 * ones that NVRTC compiles at run time (fuse.cu) as much as those nvcc
 * builds: conversions bit for bit the CPU reference's, 32-bit N-d offsets,
 * typed vector loads and stores, and the f32/f64 math of each unary and
 * binary op.  A fused kernel computes what the nodes it replaces compute
 * because it is this same code.  It includes nothing: nvcc sees it after
 * <cuda_runtime.h> and backend.h, NVRTC after fuse.cu's prelude (stdint
 * types, MP_MAX_DIMS, the dtype and op enums). */
#ifndef MP_MATH_CUH
#define MP_MATH_CUH

/* up to this many operands in one N-d iteration: the output and 8 inputs */
enum { CU_ITER_OPS = 9 };


/* ---- element conversions, bit for bit the CPU reference's (dtype.c) ---- */

__device__ __forceinline__ float cu_bf16_to_f32(uint16_t b)
{
	return __uint_as_float((uint32_t)b << 16);
}

/* f32 -> bf16 and f16 by the conversion instruction (sm_80 on): rounded to
 * nearest even, overflow to infinity, subnormals kept, as dtype.c rounds;
 * a NaN becomes dtype.c's quiet NaN rather than the instruction's. */
__device__ __forceinline__ uint16_t cu_f32_to_bf16(float f)
{
	uint16_t h;
	asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f));
	return f != f ? (uint16_t)0x7FC0u : h;
}

__device__ __forceinline__ float cu_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
	if (exp == 0x1F)
		return __uint_as_float(sign | 0x7F800000u | (man << 13) | (man ? 0x00400000u : 0));
	if (exp == 0)
		return __uint_as_float(sign | __float_as_uint((float)man * 0x1p-24f));
	return __uint_as_float(sign | ((exp + 112u) << 23) | (man << 13));
}

/* Round a double to nearest even into a small IEEE float (dtype.c's
 * round_f64_to_small): one rounding from f32 and f64 alike. */
__device__ __forceinline__ uint32_t cu_round_small(double d, int mbits, int ebits, uint32_t qnan)
{
	uint64_t x = (uint64_t)__double_as_longlong(d);
	uint32_t sign = (uint32_t)(x >> 63) << (mbits + ebits);
	uint64_t a = x & 0x7FFFFFFFFFFFFFFFull;
	int bias = (1 << (ebits - 1)) - 1;
	uint64_t inf = (uint64_t)((1u << ebits) - 1) << mbits;
	if (a > 0x7FF0000000000000ull)
		return qnan;
	if (a == 0x7FF0000000000000ull)
		return sign | (uint32_t)inf;
	int ex = (int)(a >> 52);
	if (ex == 0)
		return sign;
	uint64_t m = (a & 0x000FFFFFFFFFFFFFull) | (1ull << 52);
	int te = ex - 1023 + bias;
	int shift = 52 - mbits + (te >= 1 ? 0 : 1 - te);
	if (shift > 53)
		return sign;
	uint64_t q = m >> shift, rem = m & ((1ull << shift) - 1), half = 1ull << (shift - 1);
	if (rem > half || (rem == half && (q & 1)))
		q++;
	if (te < 1)
		return sign | (uint32_t)q;
	uint64_t bits = ((uint64_t)te << mbits) + (q - (1ull << mbits));
	if (bits >= inf)
		return sign | (uint32_t)inf;
	return sign | (uint32_t)bits;
}

__device__ __forceinline__ uint16_t cu_f32_to_f16(float f)
{
	uint16_t h;
	asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
	return f != f ? (uint16_t)0x7E00u : h;
}
__device__ __forceinline__ uint16_t cu_f64_to_f16(double d) { return (uint16_t)cu_round_small(d, 10, 5, 0x7E00u); }
__device__ __forceinline__ uint16_t cu_f64_to_bf16(double d) { return (uint16_t)cu_round_small(d, 7, 8, 0x7FC0u); }

struct cu_divider {
	uint32_t d, m, s;
};


/* n / v.d for n < 2^31 */
__device__ __forceinline__ uint32_t cu_divide(const cu_divider &v, uint32_t n)
{
	return (__umulhi(n, v.m) + n) >> v.s;
}


struct cu_fast {
	int ndim, nops, vec;
	uint32_t n;
	cu_divider div[MP_MAX_DIMS];
	int32_t stride[CU_ITER_OPS][MP_MAX_DIMS];
};


/* The k loops run to the constant CU_ITER_OPS (k < nops tested inside):
 * with a loop bound known only at run time, off[] was indexed at run time
 * and lived in local memory, a store and a load per operand and dimension
 * in every elementwise kernel (ncu: the Adds' first stall). */
__device__ __forceinline__ void cu_fast_offsets(const cu_fast &f, uint32_t i, int32_t *off)
{
#pragma unroll
	for (int k = 0; k < CU_ITER_OPS; k++)
		off[k] = 0;
	for (int d = f.ndim - 1; d > 0; d--) {
		uint32_t q = cu_divide(f.div[d], i), r = i - q * f.div[d].d;
		i = q;
#pragma unroll
		for (int k = 0; k < CU_ITER_OPS; k++)
			if (k < f.nops)
				off[k] += (int32_t)r * f.stride[k][d];
	}
#pragma unroll
	for (int k = 0; k < CU_ITER_OPS; k++)
		if (k < f.nops)
			off[k] += (int32_t)i * f.stride[k][0];
}

/* Typed loads and stores of the float storage types, as f32 (exact) and
 * from f32 (rounded to nearest even, as cu_st_f32). */
template <int DT>
__device__ __forceinline__ float cu_ldf(const void *p, int32_t i)
{
	if (DT == MP_F32)
		return ((const float *)p)[i];
	if (DT == MP_BF16)
		return cu_bf16_to_f32(((const uint16_t *)p)[i]);
	return cu_f16_to_f32(((const uint16_t *)p)[i]);
}

template <int DT>
__device__ __forceinline__ void cu_stf(void *p, int32_t i, float v)
{
	if (DT == MP_F32)
		((float *)p)[i] = v;
	else if (DT == MP_BF16)
		((uint16_t *)p)[i] = cu_f32_to_bf16(v);
	else
		((uint16_t *)p)[i] = cu_f32_to_f16(v);
}

/* V elements from p at i stepping by step (0: one value for all V; 1: a
 * vector load, aligned by cu_fast_init) */
template <int DT, int V>
__device__ __forceinline__ void cu_ldv(const void *p, int32_t i, int32_t step, float *v)
{
	if (V == 1 || step == 0) {
		float x = cu_ldf<DT>(p, i);
#pragma unroll
		for (int j = 0; j < V; j++)
			v[j] = x;
		return;
	}
	if (DT == MP_F32 && (V == 4 || V == 8)) {
#pragma unroll
		for (int h = 0; h < V; h += 4) {
			float4 q = *(const float4 *)((const float *)p + i + h);
			v[h] = q.x, v[h + 1] = q.y, v[h + 2] = q.z, v[h + 3] = q.w;
		}
	} else if (DT != MP_F32 && V == 8) { /* 16 bytes at once */
		uint4 q = *(const uint4 *)((const uint16_t *)p + i);
		uint32_t w[4] = { q.x, q.y, q.z, q.w };
#pragma unroll
		for (int j = 0; j < 8; j++) {
			uint16_t h = (uint16_t)(w[j / 2] >> (16 * (j % 2)));
			v[j] = DT == MP_BF16 ? cu_bf16_to_f32(h) : cu_f16_to_f32(h);
		}
	} else if (DT == MP_F32 && V == 2) {
		float2 q = *(const float2 *)((const float *)p + i);
		v[0] = q.x, v[1] = q.y;
	} else if (DT != MP_F32 && V == 4) {
		uint2 q = *(const uint2 *)((const uint16_t *)p + i);
		uint32_t w[2] = { q.x, q.y };
#pragma unroll
		for (int j = 0; j < 4; j++) {
			uint16_t h = (uint16_t)(w[j / 2] >> (16 * (j % 2)));
			v[j] = DT == MP_BF16 ? cu_bf16_to_f32(h) : cu_f16_to_f32(h);
		}
	} else if (DT != MP_F32 && V == 2) {
		uint32_t q = *(const uint32_t *)((const uint16_t *)p + i);
#pragma unroll
		for (int j = 0; j < 2; j++) {
			uint16_t h = (uint16_t)(q >> (16 * j));
			v[j] = DT == MP_BF16 ? cu_bf16_to_f32(h) : cu_f16_to_f32(h);
		}
	} else {
#pragma unroll
		for (int j = 0; j < V; j++)
			v[j] = cu_ldf<DT>(p, i + j);
	}
}

/* V contiguous elements stored at i (the output always steps by 1) */
template <int DT, int V>
__device__ __forceinline__ void cu_stv(void *p, int32_t i, const float *v)
{
	if (DT == MP_F32 && (V == 4 || V == 8)) {
#pragma unroll
		for (int h = 0; h < V; h += 4) {
			float4 q;
			q.x = v[h], q.y = v[h + 1], q.z = v[h + 2], q.w = v[h + 3];
			*(float4 *)((float *)p + i + h) = q;
		}
	} else if (DT != MP_F32 && V == 8) {
		uint32_t w[4];
#pragma unroll
		for (int j = 0; j < 4; j++) {
			uint16_t lo = DT == MP_BF16 ? cu_f32_to_bf16(v[2 * j]) : cu_f32_to_f16(v[2 * j]);
			uint16_t hi = DT == MP_BF16 ? cu_f32_to_bf16(v[2 * j + 1]) : cu_f32_to_f16(v[2 * j + 1]);
			w[j] = (uint32_t)lo | (uint32_t)hi << 16;
		}
		uint4 q;
		q.x = w[0], q.y = w[1], q.z = w[2], q.w = w[3];
		*(uint4 *)((uint16_t *)p + i) = q;
	} else if (DT == MP_F32 && V == 2) {
		float2 q;
		q.x = v[0], q.y = v[1];
		*(float2 *)((float *)p + i) = q;
	} else if (DT != MP_F32 && (V == 4 || V == 2)) {
		uint16_t h[4];
#pragma unroll
		for (int j = 0; j < V; j++)
			h[j] = DT == MP_BF16 ? cu_f32_to_bf16(v[j]) : cu_f32_to_f16(v[j]);
		if (V == 4) {
			uint2 q;
			q.x = (uint32_t)h[0] | (uint32_t)h[1] << 16;
			q.y = (uint32_t)h[2] | (uint32_t)h[3] << 16;
			*(uint2 *)((uint16_t *)p + i) = q;
		} else {
			*(uint32_t *)((uint16_t *)p + i) = (uint32_t)h[0] | (uint32_t)h[1] << 16;
		}
	} else {
#pragma unroll
		for (int j = 0; j < V; j++)
			cu_stf<DT>(p, i + j, v[j]);
	}
}


/* v as the float storage type DT holds it: rounded to nearest even (bf16,
 * f16) and read back, exactly as a store and a load would. */
template <int DT>
__device__ __forceinline__ float cu_round(float v)
{
	if (DT == MP_BF16)
		return cu_bf16_to_f32(cu_f32_to_bf16(v));
	if (DT == MP_F16)
		return cu_f16_to_f32(cu_f32_to_f16(v));
	return v;
}

/* cu_round for a value that stays inside a kernel whose output is 16-bit:
 * a NaN comes back as whichever NaN the conversion makes, not dtype.c's.
 * Its bits reach nothing: arithmetic on it gives NaN, the ops that pass it
 * through keep it a NaN of its sign, and the output's store writes dtype.c's
 * NaN.  (Where the output is f32, NaNs are written as they come, so there
 * cu_round it is.) */
template <int DT>
__device__ __forceinline__ float cu_round_fast(float v)
{
	if (DT == MP_BF16) {
		uint16_t h;
		asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(v));
		return cu_bf16_to_f32(h);
	}
	if (DT == MP_F16) {
		uint16_t h;
		float r;
		asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
		asm("cvt.f32.f16 %0, %1;" : "=f"(r) : "h"(h));
		return r;
	}
	return v;
}

/* cu_round_fast of V values, two by one conversion */
template <int DT, int V>
__device__ __forceinline__ void cu_round_fast_v(float *v)
{
#pragma unroll
	for (int j = 0; j + 1 < V; j += 2) {
		uint32_t p;
		if (DT == MP_BF16) {
			asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(p) : "f"(v[j + 1]), "f"(v[j]));
			v[j] = __uint_as_float(p << 16);
			v[j + 1] = __uint_as_float(p & 0xFFFF0000u);
		} else if (DT == MP_F16) {
			asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(p) : "f"(v[j + 1]), "f"(v[j]));
			asm("cvt.f32.f16 %0, %1;" : "=f"(v[j]) : "h"((uint16_t)p));
			asm("cvt.f32.f16 %0, %1;" : "=f"(v[j + 1]) : "h"((uint16_t)(p >> 16)));
		}
	}
	if (V % 2)
		v[V - 1] = cu_round_fast<DT>(v[V - 1]);
}

/* ---- x / y for many x and one y, as div.rn.f32 computes it ----
 *
 * div.rn.f32 refines rcp.approx(y) once, multiplies, and corrects the
 * quotient with one fma; a range check (FCHK) sends operands near the ends
 * of the exponent range to a slow path.  With the reciprocal found once,
 * cu_div_by is that fast path's own instructions, so where cu_div_fits holds
 * for both x and y, far inside the check (quotient, reciprocal and residual
 * all normal), it is x / y to the bit; elsewhere the caller divides with
 * '/'.  tests/kernels/test_fused.c holds it to '/' over every bf16 x and
 * every f32 significand. */
__device__ __forceinline__ float cu_div_recip(float y)
{
	float r;
	asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(y));
	return __fmaf_rn(r, __fmaf_rn(-y, r, 1.0f), r);
}

__device__ __forceinline__ float cu_div_by(float x, float y, float r)
{
	float q = __fmul_rn(x, r);
	return __fmaf_rn(__fmaf_rn(-y, q, x), r, q);
}

__device__ __forceinline__ bool cu_div_fits(float v)
{
	float a = fabsf(v);
	return a >= 0x1p-60f && a <= 0x1p60f;
}

/* ---- the math of each op, in f32 for f32/bf16/f16 data and f64 for f64:
 * one overload set, so that every kernel calls the same functions ---- */

#define CU_MATH1(fn)                                                                       \
	__device__ __forceinline__ float cu_##fn(float x) { return fn##f(x); }             \
	__device__ __forceinline__ double cu_##fn(double x) { return fn(x); }
#define CU_MATH2(fn)                                                                       \
	__device__ __forceinline__ float cu_##fn(float x, float y) { return fn##f(x, y); } \
	__device__ __forceinline__ double cu_##fn(double x, double y) { return fn(x, y); }
CU_MATH1(fabs) CU_MATH1(ceil) CU_MATH1(floor) CU_MATH1(rint) CU_MATH1(sqrt) CU_MATH1(exp) CU_MATH1(log)
CU_MATH1(sin) CU_MATH1(cos) CU_MATH1(tan) CU_MATH1(asin) CU_MATH1(acos) CU_MATH1(atan) CU_MATH1(sinh)
CU_MATH1(cosh) CU_MATH1(asinh) CU_MATH1(acosh) CU_MATH1(atanh) CU_MATH1(erf) CU_MATH1(tanh)
CU_MATH1(log1p) CU_MATH1(expm1)
CU_MATH2(fmin) CU_MATH2(fmax) CU_MATH2(pow) CU_MATH2(fmod)
#undef CU_MATH1
#undef CU_MATH2

/* P: struct mp_unary_params, or any struct with its alpha, beta, gamma and
 * gelu_tanh */
template <typename T, typename P>
__device__ __forceinline__ T unary_math(int op, T v, const P &p)
{
	const T a = (T)p.alpha, b = (T)p.beta, g = (T)p.gamma;
	switch (op) {
	case MP_OP_ABS: return cu_fabs(v);
	case MP_OP_NEG: return -v;
	case MP_OP_SIGN: return v > 0 ? (T)1 : v < 0 ? (T)-1 : v;
	case MP_OP_CEIL: return cu_ceil(v);
	case MP_OP_FLOOR: return cu_floor(v);
	case MP_OP_ROUND: return cu_rint(v);
	case MP_OP_SQRT: return cu_sqrt(v);
	case MP_OP_RECIPROCAL: return (T)1 / v;
	case MP_OP_EXP: return cu_exp(v);
	case MP_OP_LOG: return cu_log(v);
	case MP_OP_SIN: return cu_sin(v);
	case MP_OP_COS: return cu_cos(v);
	case MP_OP_TAN: return cu_tan(v);
	case MP_OP_ASIN: return cu_asin(v);
	case MP_OP_ACOS: return cu_acos(v);
	case MP_OP_ATAN: return cu_atan(v);
	case MP_OP_SINH: return cu_sinh(v);
	case MP_OP_COSH: return cu_cosh(v);
	case MP_OP_ASINH: return cu_asinh(v);
	case MP_OP_ACOSH: return cu_acosh(v);
	case MP_OP_ATANH: return cu_atanh(v);
	case MP_OP_ERF: return cu_erf(v);
	case MP_OP_SIGMOID: return v >= 0 ? (T)1 / ((T)1 + cu_exp(-v)) : cu_exp(v) / ((T)1 + cu_exp(v));
	case MP_OP_TANH: return cu_tanh(v);
	case MP_OP_RELU: return v < 0 ? (T)0 : v;
	case MP_OP_SOFTPLUS: return v > 0 ? v + cu_log1p(cu_exp(-v)) : cu_log1p(cu_exp(v));
	case MP_OP_SOFTSIGN: return v / ((T)1 + cu_fabs(v));
	case MP_OP_ELU: return v >= 0 ? v : a * cu_expm1(v);
	case MP_OP_SELU: return v > 0 ? g * v : g * (a * cu_exp(v) - a);
	case MP_OP_CELU: return (v > 0 ? v : (T)0) + cu_fmin((T)0, a * cu_expm1(v / a));
	case MP_OP_LEAKY_RELU: return v >= 0 ? v : a * v;
	case MP_OP_HARD_SIGMOID: return cu_fmax((T)0, cu_fmin((T)1, a * v + b));
	case MP_OP_HARD_SWISH: return v * cu_fmax((T)0, cu_fmin((T)1, v / (T)6 + (T)0.5));
	case MP_OP_THRESHOLDED_RELU: return v > a ? v : (T)0;
	case MP_OP_SHRINK: return v < -a ? v + b : v > a ? v - b : (T)0;
	case MP_OP_GELU:
		if (p.gelu_tanh)
			return (T)0.5 * v * ((T)1 + cu_tanh((T)0.7978845608028654 * (v + (T)0.044715 * v * v * v)));
		return (T)0.5 * v * ((T)1 + cu_erf(v * (T)0.7071067811865476));
	case MP_OP_SWISH:
		return a * v >= 0 ? v / ((T)1 + cu_exp(-a * v)) : v * cu_exp(a * v) / ((T)1 + cu_exp(a * v));
	case MP_OP_MISH: return v * cu_tanh(v > 0 ? v + cu_log1p(cu_exp(-v)) : cu_log1p(cu_exp(v)));
	default: return v;
	}
}

template <typename T>
__device__ __forceinline__ T binary_math(int op, T x, T y)
{
	switch (op) {
	case MP_OP_ADD: return x + y;
	case MP_OP_SUB: return x - y;
	case MP_OP_MUL: return x * y;
	case MP_OP_DIV: return x / y;
	case MP_OP_POW: return cu_pow(x, y);
	case MP_OP_MOD: return cu_fmod(x, y);
	case MP_OP_PRELU: return x < 0 ? x * y : x;
	default: return 0;
	}
}

#endif
