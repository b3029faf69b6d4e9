/* int_math.h - the integer semantics of the unary and binary elementwise
 * ops (wrapping arithmetic, division and modulo by zero, the sign of a
 * modulo, shifts past the width), written once and compiled for the CPU backend
 * and, under nvcc, for the GPU: the backends agree because they run the
 * same code. */
#ifndef MP_INT_MATH_H
#define MP_INT_MATH_H

#include <stdbool.h>
#include <stdint.h>

#include "op.h"

#ifdef __CUDACC__
#define MP_INT_INLINE static inline __host__ __device__
#else
#define MP_INT_INLINE static inline
#endif

/* The integer unary ops on v (uns: v is unsigned): Clip between lo and hi
 * where given, Shrink with lambd alpha and bias beta; an op that is not an
 * integer unary op leaves v. */
MP_INT_INLINE int64_t mp_int_unary(int op, int64_t v, bool uns, float alpha, float beta, bool has_lo, int64_t lo,
                                   bool has_hi, int64_t hi)
{
	switch (op) {
	case MP_OP_ABS: return (!uns && v < 0) ? (int64_t)(0 - (uint64_t)v) : v;
	case MP_OP_NEG: return (int64_t)(0 - (uint64_t)v);
	case MP_OP_SIGN: return uns ? (v != 0) : (v > 0) - (v < 0);
	case MP_OP_RELU: return (!uns && v < 0) ? 0 : v;
	case MP_OP_NOT: return !v;
	case MP_OP_BITWISE_NOT: return (int64_t)~(uint64_t)v;
	case MP_OP_CLIP:
		if (uns) {
			if (has_lo && (uint64_t)v < (uint64_t)lo) v = lo;
			if (has_hi && (uint64_t)v > (uint64_t)hi) v = hi;
		} else {
			if (has_lo && v < lo) v = lo;
			if (has_hi && v > hi) v = hi;
		}
		return v;
	case MP_OP_SHRINK: {
		double d = uns ? (double)(uint64_t)v : (double)v, r;
		r = d < -alpha ? d + beta : d > alpha ? d - beta : 0;
		return (int64_t)r;
	}
	default: return v;
	}
}

MP_INT_INLINE int64_t mp_int_pow(int64_t base, int64_t exp)
{
	uint64_t r = 1, b = (uint64_t)base;
	if (exp < 0) /* only |base| == 1 survives integer division by a power */
		return base == 1 ? 1 : base == -1 ? ((exp & 1) ? -1 : 1) : 0;
	while (exp) {
		if (exp & 1)
			r *= b;
		b *= b;
		exp >>= 1;
	}
	return (int64_t)r;
}

/* x op y in 64 bits (uns: both are unsigned; c_fmod: Mod's fmod, the sign
 * of the dividend, as C); an op that is not an integer binary op gives 0. */
MP_INT_INLINE int64_t mp_int_binary(int op, int64_t x, int64_t y, bool uns, bool c_fmod, bool shift_left)
{
	uint64_t ux = (uint64_t)x, uy = (uint64_t)y;
	switch (op) {
	case MP_OP_ADD: return (int64_t)(ux + uy);
	case MP_OP_SUB: return (int64_t)(ux - uy);
	case MP_OP_MUL: return (int64_t)(ux * uy);
	case MP_OP_DIV: /* x / 0 is 0 here rather than a crash; ONNX leaves it undefined */
		if (y == 0) return 0;
		if (uns) return (int64_t)(ux / uy);
		if (x == INT64_MIN && y == -1) return INT64_MIN;
		return x / y;
	case MP_OP_MOD: {
		if (y == 0) return 0;
		if (uns) return (int64_t)(ux % uy);
		if (y == -1) return 0;
		int64_t r = x % y;
		if (!c_fmod && r != 0 && ((r < 0) != (y < 0)))
			r += y; /* the sign of the divisor, as Python and numpy */
		return r;
	}
	case MP_OP_POW: return mp_int_pow(x, y);
	case MP_OP_PRELU: return (!uns && x < 0) ? (int64_t)(ux * uy) : x;
	case MP_OP_BIT_SHIFT:
		if (uy >= 64) return 0;
		return shift_left ? (int64_t)(ux << uy) : (int64_t)(ux >> uy);
	case MP_OP_BITWISE_AND: case MP_OP_AND: return x & y;
	case MP_OP_BITWISE_OR: case MP_OP_OR: return x | y;
	case MP_OP_BITWISE_XOR: case MP_OP_XOR: return x ^ y;
	default: return 0;
	}
}

#endif
