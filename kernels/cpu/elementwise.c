/* elementwise.c - CPU kernels for unary, binary and variadic elementwise ops,
 * Where and Cast.  Rows are converted to the compute type in chunks; the
 * float math is written once for f32 and f64 through <tgmath.h>. */
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "cpu.h"
#include "int_math.h"

/* ---- unary ---- */

#define UNARY_FLOAT(T, op, p, x, n)                                                         \
	do {                                                                                \
		const T a_ = (T)(p)->alpha, b_ = (T)(p)->beta, g_ = (T)(p)->gamma;          \
		(void)a_; (void)b_; (void)g_;                                               \
		for (size_t i = 0; i < (n); i++) {                                          \
			T v = (x)[i], r;                                                    \
			switch (op) {                                                       \
			case MP_OP_ABS: r = fabs(v); break;                                 \
			case MP_OP_NEG: r = -v; break;                                      \
			case MP_OP_SIGN: r = v > 0 ? 1 : v < 0 ? -1 : v; break;             \
			case MP_OP_CEIL: r = ceil(v); break;                                \
			case MP_OP_FLOOR: r = floor(v); break;                              \
			case MP_OP_ROUND: r = rint(v); break; /* half to even */            \
			case MP_OP_SQRT: r = sqrt(v); break;                                \
			case MP_OP_RECIPROCAL: r = 1 / v; break;                            \
			case MP_OP_EXP: r = exp(v); break;                                  \
			case MP_OP_LOG: r = log(v); break;                                  \
			case MP_OP_SIN: r = sin(v); break;                                  \
			case MP_OP_COS: r = cos(v); break;                                  \
			case MP_OP_TAN: r = tan(v); break;                                  \
			case MP_OP_ASIN: r = asin(v); break;                                \
			case MP_OP_ACOS: r = acos(v); break;                                \
			case MP_OP_ATAN: r = atan(v); break;                                \
			case MP_OP_SINH: r = sinh(v); break;                                \
			case MP_OP_COSH: r = cosh(v); break;                                \
			case MP_OP_ASINH: r = asinh(v); break;                              \
			case MP_OP_ACOSH: r = acosh(v); break;                              \
			case MP_OP_ATANH: r = atanh(v); break;                              \
			case MP_OP_ERF: r = erf(v); break;                                  \
			case MP_OP_SIGMOID:                                                 \
				r = v >= 0 ? 1 / (1 + exp(-v)) : exp(v) / (1 + exp(v));     \
				break;                                                      \
			case MP_OP_TANH: r = tanh(v); break;                                \
			case MP_OP_RELU: r = v < 0 ? 0 : v; break;                          \
			case MP_OP_SOFTPLUS:                                                \
				r = v > 0 ? v + log1p(exp(-v)) : log1p(exp(v));             \
				break;                                                      \
			case MP_OP_SOFTSIGN: r = v / (1 + fabs(v)); break;                  \
			case MP_OP_ELU: r = v >= 0 ? v : a_ * expm1(v); break;              \
			case MP_OP_SELU: r = v > 0 ? g_ * v : g_ * (a_ * exp(v) - a_); break; \
			case MP_OP_CELU:                                                    \
				r = (v > 0 ? v : 0) + fmin((T)0, a_ * expm1(v / a_));       \
				break;                                                      \
			case MP_OP_LEAKY_RELU: r = v >= 0 ? v : a_ * v; break;              \
			case MP_OP_HARD_SIGMOID: r = fmax((T)0, fmin((T)1, a_ * v + b_)); break; \
			case MP_OP_HARD_SWISH: r = v * fmax((T)0, fmin((T)1, v / 6 + (T)0.5)); break; \
			case MP_OP_THRESHOLDED_RELU: r = v > a_ ? v : 0; break;             \
			case MP_OP_SHRINK: r = v < -a_ ? v + b_ : v > a_ ? v - b_ : 0; break; \
			case MP_OP_GELU:                                                    \
				if ((p)->gelu_tanh)                                         \
					r = (T)0.5 * v * (1 + tanh((T)0.7978845608028654 *  \
					                           (v + (T)0.044715 * v * v * v))); \
				else                                                        \
					r = (T)0.5 * v * (1 + erf(v * (T)0.7071067811865476)); \
				break;                                                      \
			case MP_OP_SWISH:                                                   \
				r = a_ * v >= 0 ? v / (1 + exp(-a_ * v)) : v * exp(a_ * v) / (1 + exp(a_ * v)); \
				break;                                                      \
			case MP_OP_MISH:                                                    \
				r = v * tanh(v > 0 ? v + log1p(exp(-v)) : log1p(exp(v)));   \
				break;                                                      \
			case MP_OP_CLIP:                                                    \
				r = v;                                                      \
				if ((p)->has_min && r < (T)(p)->min)                        \
					r = (T)(p)->min;                                    \
				if ((p)->has_max && r > (T)(p)->max)                        \
					r = (T)(p)->max;                                    \
				break;                                                      \
			default: r = v; break;                                              \
			}                                                                   \
			(x)[i] = r;                                                         \
		}                                                                           \
	} while (0)

static void unary_f32(enum mp_op op, const struct mp_unary_params *p, float *x, size_t n)
{
	UNARY_FLOAT(float, op, p, x, n);
}

static void unary_f64(enum mp_op op, const struct mp_unary_params *p, double *x, size_t n)
{
	UNARY_FLOAT(double, op, p, x, n);
}

static void unary_bool_of_float(enum mp_op op, const struct mp_unary_params *p,
                                const double *x, int64_t *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		double v = x[i];
		if (op == MP_OP_IS_NAN)
			r[i] = v != v;
		else
			r[i] = (isinf(v) && ((v > 0 && p->detect_positive) || (v < 0 && p->detect_negative)));
	}
}

/* Integer inputs: the ops ONNX defines on them. */
static void unary_int(enum mp_op op, const struct mp_unary_params *p, int64_t *x, size_t n,
                      bool is_unsigned, int64_t lo, int64_t hi, bool has_lo, bool has_hi)
{
	for (size_t i = 0; i < n; i++)
		x[i] = mp_int_unary(op, x[i], is_unsigned, p->alpha, p->beta, has_lo, lo, has_hi, hi);
}

enum mp_status cpu_unary(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_unary_params *p = c->params;
	const struct mp_tensor *x = c->in[0];
	struct mp_tensor *o = c->out[0];
	const struct mp_tensor *ops[2] = { o, x };
	enum mp_compute cc = mp_dtype_traits(x->dtype)->compute;
	bool to_bool = c->op == MP_OP_IS_NAN || c->op == MP_OP_IS_INF;
	int64_t lo = 0, hi = 0;
	bool has_lo = false, has_hi = false;
	struct mp_unary_params fp; /* float Clip: bounds from the inputs when given */
	struct cpu_iter it;
	(void)ctx;

	if (cc == MP_COMPUTE_NONE)
		return cpu_unsupported_dtype(c, x->dtype, e);
	if (c->op == MP_OP_CLIP && (cc == MP_COMPUTE_F32 || cc == MP_COMPUTE_F64)) {
		fp = *p;
		if (c->ninputs > 1 && c->in[1]) { fp.min = cpu_scalar_f64(c->in[1]); fp.has_min = true; }
		if (c->ninputs > 2 && c->in[2]) { fp.max = cpu_scalar_f64(c->in[2]); fp.has_max = true; }
		p = &fp;
	}
	if (c->op == MP_OP_CLIP && (cc == MP_COMPUTE_I64 || cc == MP_COMPUTE_U64)) {
		/* integer bounds read exactly, not through a double */
		if (c->ninputs > 1 && c->in[1]) { lo = cpu_scalar_i64(c->in[1]); has_lo = true; }
		if (c->ninputs > 2 && c->in[2]) { hi = cpu_scalar_i64(c->in[2]); has_hi = true; }
		if (c->ninputs == 1) {
			has_lo = p->has_min;
			has_hi = p->has_max;
			lo = (int64_t)p->min;
			hi = (int64_t)p->max;
		}
	}
	cpu_iter_init(&it, 2, ops);
	int64_t run = cpu_iter_run(&it), sx = cpu_iter_inner_stride(&it, 1);
	size_t osz = mp_dtype_size(o->dtype);
	const struct mp_dtype_traits *ot = mp_dtype_traits(o->dtype);
	while (cpu_iter_next(&it)) {
		for (int64_t off = 0; off < run; off += CPU_CHUNK) {
			size_t n = (size_t)(run - off < CPU_CHUNK ? run - off : CPU_CHUNK);
			const char *src = it.ptr[1] + off * sx;
			char *dst = it.ptr[0] + (size_t)off * osz;
			if (to_bool) {
				double fb[CPU_CHUNK];
				int64_t ib[CPU_CHUNK];
				cpu_load_f64(x->dtype, src, sx, fb, n);
				unary_bool_of_float(c->op, p, fb, ib, n);
				ot->store_i64(ib, dst, n);
			} else if (cc == MP_COMPUTE_F32) {
				float b[CPU_CHUNK];
				cpu_load_f32(x->dtype, src, sx, b, n);
				unary_f32(c->op, p, b, n);
				ot->store_f32(b, dst, n);
			} else if (cc == MP_COMPUTE_F64) {
				double b[CPU_CHUNK];
				cpu_load_f64(x->dtype, src, sx, b, n);
				unary_f64(c->op, p, b, n);
				ot->store_f64(b, dst, n);
			} else {
				int64_t b[CPU_CHUNK];
				cpu_load_i64(x->dtype, src, sx, b, n);
				unary_int(c->op, p, b, n, !mp_dtype_traits(x->dtype)->is_signed, lo, hi,
				          has_lo, has_hi);
				ot->store_i64(b, dst, n);
			}
		}
	}
	return MP_OK;
}

/* ---- binary ---- */

#define BINARY_FLOAT(T, op, p, a, b, o, n)                                                \
	do {                                                                              \
		for (size_t i = 0; i < (n); i++) {                                        \
			T x = (a)[i], y = (b)[i], r;                                      \
			switch (op) {                                                     \
			case MP_OP_ADD: r = x + y; break;                                 \
			case MP_OP_SUB: r = x - y; break;                                 \
			case MP_OP_MUL: r = x * y; break;                                 \
			case MP_OP_DIV: r = x / y; break;                                 \
			case MP_OP_POW: r = pow(x, y); break;                             \
			case MP_OP_MOD: r = fmod(x, y); break;                            \
			case MP_OP_PRELU: r = x < 0 ? x * y : x; break;                   \
			default: r = 0; break;                                            \
			}                                                                 \
			(o)[i] = r;                                                       \
		}                                                                         \
	} while (0)

static void binary_f32(enum mp_op op, const float *a, const float *b, float *o, size_t n)
{
	BINARY_FLOAT(float, op, NULL, a, b, o, n);
}

static void binary_f64(enum mp_op op, const double *a, const double *b, double *o, size_t n)
{
	BINARY_FLOAT(double, op, NULL, a, b, o, n);
}

static void binary_int(enum mp_op op, const struct mp_binary_params *p, const int64_t *a,
                       const int64_t *b, int64_t *o, size_t n, bool uns)
{
	for (size_t i = 0; i < n; i++)
		o[i] = mp_int_binary(op, a[i], b[i], uns, p->fmod, p->shift_left);
}

#define COMPARE(op, x, y, r)                                            \
	do {                                                            \
		switch (op) {                                           \
		case MP_OP_EQUAL: r = x == y; break;                    \
		case MP_OP_LESS: r = x < y; break;                      \
		case MP_OP_LESS_OR_EQUAL: r = x <= y; break;            \
		case MP_OP_GREATER: r = x > y; break;                   \
		case MP_OP_GREATER_OR_EQUAL: r = x >= y; break;         \
		default: r = 0; break;                                  \
		}                                                       \
	} while (0)

static bool is_compare(enum mp_op op)
{
	return op == MP_OP_EQUAL || op == MP_OP_LESS || op == MP_OP_LESS_OR_EQUAL ||
	       op == MP_OP_GREATER || op == MP_OP_GREATER_OR_EQUAL;
}

/* One chunk of a binary op: a and b are n elements at their strides. */
static void binary_chunk(const struct mp_op_call *c, enum mp_compute cc,
                         const struct mp_tensor *A, const char *pa, int64_t sa,
                         const struct mp_tensor *B, const char *pb, int64_t sb,
                         struct mp_tensor *O, char *po, size_t n)
{
	const struct mp_binary_params *p = c->params;
	const struct mp_dtype_traits *ot = mp_dtype_traits(O->dtype);
	enum mp_op op = c->op;

	if (is_compare(op)) {
		int64_t r[CPU_CHUNK];
		if (cc == MP_COMPUTE_F32 || cc == MP_COMPUTE_F64) {
			double x[CPU_CHUNK], y[CPU_CHUNK];
			cpu_load_f64(A->dtype, pa, sa, x, n);
			cpu_load_f64(B->dtype, pb, sb, y, n);
			for (size_t i = 0; i < n; i++)
				COMPARE(op, x[i], y[i], r[i]);
		} else {
			int64_t x[CPU_CHUNK], y[CPU_CHUNK];
			cpu_load_i64(A->dtype, pa, sa, x, n);
			cpu_load_i64(B->dtype, pb, sb, y, n);
			if (cc == MP_COMPUTE_U64)
				for (size_t i = 0; i < n; i++)
					COMPARE(op, (uint64_t)x[i], (uint64_t)y[i], r[i]);
			else
				for (size_t i = 0; i < n; i++)
					COMPARE(op, x[i], y[i], r[i]);
		}
		ot->store_i64(r, po, n);
		return;
	}
	if (cc == MP_COMPUTE_F32) {
		float x[CPU_CHUNK], y[CPU_CHUNK];
		cpu_load_f32(A->dtype, pa, sa, x, n);
		cpu_load_f32(B->dtype, pb, sb, y, n);
		binary_f32(op, x, y, x, n);
		ot->store_f32(x, po, n);
	} else if (cc == MP_COMPUTE_F64 ||
	           (op == MP_OP_POW && mp_dtype_is_float(B->dtype))) {
		/* f64, and integer bases with a float exponent */
		double x[CPU_CHUNK], y[CPU_CHUNK];
		cpu_load_f64(A->dtype, pa, sa, x, n);
		cpu_load_f64(B->dtype, pb, sb, y, n);
		binary_f64(op, x, y, x, n);
		ot->store_f64(x, po, n);
	} else {
		int64_t x[CPU_CHUNK], y[CPU_CHUNK];
		cpu_load_i64(A->dtype, pa, sa, x, n);
		cpu_load_i64(B->dtype, pb, sb, y, n);
		binary_int(op, p, x, y, x, n, cc == MP_COMPUTE_U64);
		ot->store_i64(x, po, n);
	}
}

static enum mp_status binary_apply(const struct mp_op_call *c, const struct mp_tensor *A,
                                   const struct mp_tensor *B, struct mp_tensor *O,
                                   struct mp_error *e)
{
	const struct mp_tensor *ops[3] = { O, A, B };
	enum mp_compute cc = mp_dtype_traits(A->dtype)->compute;
	struct cpu_iter it;

	if (cc == MP_COMPUTE_NONE)
		return cpu_unsupported_dtype(c, A->dtype, e);
	if (!mp_dtype_computable(B->dtype))
		return cpu_unsupported_dtype(c, B->dtype, e);
	cpu_iter_init(&it, 3, ops);
	int64_t run = cpu_iter_run(&it);
	int64_t sa = cpu_iter_inner_stride(&it, 1), sb = cpu_iter_inner_stride(&it, 2);
	size_t osz = mp_dtype_size(O->dtype);
	while (cpu_iter_next(&it))
		for (int64_t off = 0; off < run; off += CPU_CHUNK) {
			size_t n = (size_t)(run - off < CPU_CHUNK ? run - off : CPU_CHUNK);
			binary_chunk(c, cc, A, it.ptr[1] + off * sa, sa, B, it.ptr[2] + off * sb, sb,
			             O, it.ptr[0] + (size_t)off * osz, n);
		}
	return MP_OK;
}

enum mp_status cpu_binary(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_binary_params *p = c->params;
	(void)ctx;
	if (p->b_view) { /* B read with the shape inference gave it */
		struct mp_tensor b = *c->in[1];
		mp_tensor_init(&b, b.dtype, p->b_ndim, p->b_shape);
		b.data = c->in[1]->data;
		return binary_apply(c, c->in[0], &b, c->out[0], e);
	}
	return binary_apply(c, c->in[0], c->in[1], c->out[0], e);
}

/* ---- variadic: folds the inputs into the output one at a time ---- */

static void fold_minmax_f64(bool max, const double *x, double *acc, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		double a = acc[i], b = x[i];
		if (a != a || b != b) /* NaN wins, as numpy and PyTorch */
			acc[i] = a != a ? a : b;
		else
			acc[i] = max ? (b > a ? b : a) : (b < a ? b : a);
	}
}

enum mp_status cpu_variadic(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct mp_tensor *o = c->out[0];
	enum mp_compute cc = mp_dtype_traits(o->dtype)->compute;
	size_t n = (size_t)mp_tensor_numel(o);
	bool is_float = cc == MP_COMPUTE_F32 || cc == MP_COMPUTE_F64;
	bool uns = !mp_dtype_traits(o->dtype)->is_signed;
	(void)ctx;

	if (cc == MP_COMPUTE_NONE)
		return cpu_unsupported_dtype(c, o->dtype, e);
	/* every input broadcast to the output, folded into one accumulator */
	void *acc = malloc((n ? n : 1) * 8), *row = malloc((n ? n : 1) * 8);
	if (!acc || !row) {
		free(acc);
		free(row);
		return cpu_nomem(e, 2 * n * 8);
	}
	double *fa = acc, *fr = row;
	int64_t *ia = acc, *ir = row;
	for (int k = 0; k < c->ninputs; k++) {
		if (is_float)
			cpu_bcast_load_f64(o, c->in[k], k ? fr : fa);
		else
			cpu_bcast_load_i64(o, c->in[k], k ? ir : ia);
		if (k == 0)
			continue;
		if (is_float && (c->op == MP_OP_MAX || c->op == MP_OP_MIN))
			fold_minmax_f64(c->op == MP_OP_MAX, fr, fa, n);
		else if (is_float)
			for (size_t i = 0; i < n; i++)
				fa[i] += fr[i];
		else
			for (size_t i = 0; i < n; i++) {
				int64_t a = ia[i], b = ir[i];
				switch (c->op) {
				case MP_OP_MAX: ia[i] = uns ? ((uint64_t)b > (uint64_t)a ? b : a) : (b > a ? b : a); break;
				case MP_OP_MIN: ia[i] = uns ? ((uint64_t)b < (uint64_t)a ? b : a) : (b < a ? b : a); break;
				default: ia[i] = (int64_t)((uint64_t)a + (uint64_t)b); break;
				}
			}
	}
	if (is_float) {
		if (c->op == MP_OP_MEAN)
			for (size_t i = 0; i < n; i++)
				fa[i] /= c->ninputs;
		cpu_from_f64(o, fa, n);
	} else {
		cpu_from_i64(o, ia, n);
	}
	free(acc);
	free(row);
	return MP_OK;
}

/* ---- Where: bytes are copied, never converted ---- */

enum mp_status cpu_where(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct mp_tensor *o = c->out[0];
	const struct mp_tensor *ops[4] = { o, c->in[0], c->in[1], c->in[2] };
	size_t es = mp_dtype_size(o->dtype);
	struct cpu_iter it;
	(void)ctx;
	(void)e;

	cpu_iter_init(&it, 4, ops);
	int64_t run = cpu_iter_run(&it);
	int64_t sc = cpu_iter_inner_stride(&it, 1), sx = cpu_iter_inner_stride(&it, 2),
	        sy = cpu_iter_inner_stride(&it, 3);
	while (cpu_iter_next(&it)) {
		const char *pc = it.ptr[1], *px = it.ptr[2], *py = it.ptr[3];
		char *po = it.ptr[0];
		for (int64_t i = 0; i < run; i++)
			memcpy(po + (size_t)i * es, pc[i * sc] ? px + i * sx : py + i * sy, es);
	}
	return MP_OK;
}

/* ---- Cast ---- */

enum mp_status cpu_cast(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_tensor *x = c->in[0];
	struct mp_tensor *o = c->out[0];
	(void)ctx;
	if (!mp_dtype_computable(x->dtype))
		return cpu_unsupported_dtype(c, x->dtype, e);
	if (!mp_dtype_computable(o->dtype))
		return cpu_unsupported_dtype(c, o->dtype, e);
	if (!mp_tensor_is_contiguous(x))
		return mp_error_set(e, MP_ERR_INTERNAL, "Cast: input is not contiguous");
	mp_dtype_convert(x->dtype, x->data, o->dtype, o->data, (size_t)mp_tensor_numel(o));
	return MP_OK;
}
