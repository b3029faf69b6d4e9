/* elementwise.cu - unary, binary (broadcasting), variadic, Where and Cast
 * on the GPU, with the CPU reference's compute classes: f32 for f32, bf16
 * and f16 data, f64 for f64, 64-bit integers for integer and bool data;
 * each result rounded once to the output's dtype. */
#include <math.h>

#include "cu.cuh"
#include "int_math.h"

/* ---- unary ---- */

struct unary_args {
	int op;
	struct mp_unary_params p;
	int xt, ot;
	bool uns;
	/* Clip's bounds from its inputs (device scalars), when given */
	const void *lo, *hi;
	int lot, hit;
};

template <int CC> /* 1 f32, 2 f64, 3 integer, 4 float -> bool (IsNaN, IsInf) */
__global__ void k_unary(cu_iter it, const void *x, void *o, unary_args a)
{
	double flo = a.p.min, fhi = a.p.max;
	bool has_flo = a.p.has_min, has_fhi = a.p.has_max;
	int64_t ilo = (int64_t)a.p.min, ihi = (int64_t)a.p.max;
	if (a.op == MP_OP_CLIP) {
		if (a.lo) { flo = cu_ld_f64(a.lo, 0, a.lot); ilo = cu_ld_i64(a.lo, 0, a.lot); has_flo = true; }
		if (a.hi) { fhi = cu_ld_f64(a.hi, 0, a.hit); ihi = cu_ld_i64(a.hi, 0, a.hit); has_fhi = true; }
	}
	CU_FOR(i, it.n) {
		int64_t off[CU_ITER_OPS];
		cu_iter_offsets(it, i, off);
		if (CC == 1) {
			float v = cu_ld_f32(x, off[1], a.xt);
			if (a.op == MP_OP_CLIP) {
				if (has_flo && v < (float)flo) v = (float)flo;
				if (has_fhi && v > (float)fhi) v = (float)fhi;
			} else {
				v = unary_math<float>(a.op, v, a.p);
			}
			cu_st_f32(o, off[0], a.ot, v);
		} else if (CC == 2) {
			double v = cu_ld_f64(x, off[1], a.xt);
			if (a.op == MP_OP_CLIP) {
				if (has_flo && v < flo) v = flo;
				if (has_fhi && v > fhi) v = fhi;
			} else {
				v = unary_math<double>(a.op, v, a.p);
			}
			cu_st_f64(o, off[0], a.ot, v);
		} else if (CC == 3) {
			int64_t v = cu_ld_i64(x, off[1], a.xt);
			cu_st_i64(o, off[0], a.ot,
			          mp_int_unary(a.op, v, a.uns, a.p.alpha, a.p.beta, has_flo, ilo, has_fhi, ihi));
		} else {
			double v = cu_ld_f64(x, off[1], a.xt);
			bool r = a.op == MP_OP_IS_NAN ? v != v :
			         (isinf(v) && ((v > 0 && a.p.detect_positive) || (v < 0 && a.p.detect_negative)));
			cu_st_i64(o, off[0], a.ot, r);
		}
	}
}

/* The fast path: float storage in and out, 32-bit offsets, V elements a
 * thread; the same math as k_unary<1> (op -1: a plain conversion). */
template <int TX, int TO, int V>
__global__ void k_unary_fast(cu_fast f, const void *x, void *o, int op, struct mp_unary_params p, float lo, float hi)
{
	uint32_t nv = f.n / V, step = blockDim.x * gridDim.x;
	int32_t sx = f.stride[1][f.ndim - 1];
	for (uint32_t g = blockIdx.x * blockDim.x + threadIdx.x; g < nv; g += step) {
		int32_t off[CU_ITER_OPS];
		cu_fast_offsets(f, g * V, off);
		float v[V];
		cu_ldv<TX, V>(x, off[1], sx, v);
#pragma unroll
		for (int j = 0; j < V; j++) {
			if (op == MP_OP_CLIP) {
				if (p.has_min && v[j] < lo)
					v[j] = lo;
				if (p.has_max && v[j] > hi)
					v[j] = hi;
			} else if (op >= 0) {
				v[j] = unary_math<float>(op, v[j], p);
			}
		}
		cu_stv<TO, V>(o, off[0], v);
	}
}

template <int TX, int TO>
static void launch_unary_fast2(cudaStream_t s, const cu_fast &f, const void *x, void *o, int op,
                               const struct mp_unary_params &p)
{
	float lo = (float)p.min, hi = (float)p.max;
	if (f.vec >= 8)
		k_unary_fast<TX, TO, 8><<<cu_blocks(f.n / 8, 256), 256, 0, s>>>(f, x, o, op, p, lo, hi);
	else if (f.vec >= 4)
		k_unary_fast<TX, TO, 4><<<cu_blocks(f.n / 4, 256), 256, 0, s>>>(f, x, o, op, p, lo, hi);
	else
		k_unary_fast<TX, TO, 1><<<cu_blocks(f.n, 256), 256, 0, s>>>(f, x, o, op, p, lo, hi);
}

template <int TX>
static void launch_unary_fast1(cudaStream_t s, const cu_fast &f, const void *x, int to, void *o, int op,
                               const struct mp_unary_params &p)
{
	switch (to) {
	case MP_F32: launch_unary_fast2<TX, MP_F32>(s, f, x, o, op, p); break;
	case MP_BF16: launch_unary_fast2<TX, MP_BF16>(s, f, x, o, op, p); break;
	default: launch_unary_fast2<TX, MP_F16>(s, f, x, o, op, p); break;
	}
}

/* A float-to-float unary map over it (ops: output, input) on the fast path;
 * false where it does not apply. */
static bool unary_fast(struct cu_ctx *cx, const cu_iter &it, const void *x, enum mp_dtype xt, void *o,
                       enum mp_dtype ot, int op, const struct mp_unary_params &p)
{
	cu_fast f;
	const void *ptrs[2] = { o, x };
	size_t es[2] = { mp_dtype_size(ot), mp_dtype_size(xt) };
	if (!cu_is_storage_float(xt) || !cu_is_storage_float(ot) || !cu_fast_init(&f, it, ptrs, es, 8))
		return false;
	switch (xt) {
	case MP_F32: launch_unary_fast1<MP_F32>(cx->stream, f, x, ot, o, op, p); break;
	case MP_BF16: launch_unary_fast1<MP_BF16>(cx->stream, f, x, ot, o, op, p); break;
	default: launch_unary_fast1<MP_F16>(cx->stream, f, x, ot, o, op, p); break;
	}
	return true;
}

bool cu_convert_fast(struct cu_ctx *c, const void *src, enum mp_dtype st, void *dst, enum mp_dtype dt, int64_t n)
{
	/* every conversion among f32, bf16 and f16 is one rounding through f32,
	 * as the CPU's through f64 */
	struct cu_iter it;
	struct mp_unary_params p;
	memset(&it, 0, sizeof it);
	memset(&p, 0, sizeof p);
	it.ndim = 1;
	it.nops = 2;
	it.n = n;
	it.shape[0] = n;
	it.stride[0][0] = it.stride[1][0] = 1;
	return unary_fast(c, it, src, st, dst, dt, -1, p);
}

extern "C" enum mp_status cu_unary(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_tensor *x = c->in[0];
	struct mp_tensor *o = c->out[0];
	const struct mp_tensor *ops[2] = { o, x };
	enum mp_compute cc = mp_dtype_traits(x->dtype)->compute;
	struct cu_iter it;
	unary_args a;

	if (cc == MP_COMPUTE_NONE)
		return cu_unsupported(c, x->dtype, e);
	memset(&a, 0, sizeof a);
	a.op = c->op;
	a.p = *(const struct mp_unary_params *)c->params;
	a.xt = x->dtype;
	a.ot = o->dtype;
	a.uns = !mp_dtype_traits(x->dtype)->is_signed;
	if (c->op == MP_OP_CLIP) {
		if (c->ninputs > 1 && c->in[1]) { a.lo = c->in[1]->data; a.lot = c->in[1]->dtype; }
		if (c->ninputs > 2 && c->in[2]) { a.hi = c->in[2]->data; a.hit = c->in[2]->dtype; }
	}
	cu_iter_init(&it, 2, ops);
	if (!it.n)
		return MP_OK;
	if (cc == MP_COMPUTE_F32 && c->op != MP_OP_IS_NAN && c->op != MP_OP_IS_INF && !a.lo && !a.hi &&
	    unary_fast(cx, it, x->data, x->dtype, o->data, o->dtype, c->op, a.p)) {
		CU_LAUNCHED(mp_op_name(c->op));
		return MP_OK;
	}
	unsigned blocks = cu_blocks(it.n, 256);
	if (c->op == MP_OP_IS_NAN || c->op == MP_OP_IS_INF)
		k_unary<4><<<blocks, 256, 0, cx->stream>>>(it, x->data, o->data, a);
	else if (cc == MP_COMPUTE_F32)
		k_unary<1><<<blocks, 256, 0, cx->stream>>>(it, x->data, o->data, a);
	else if (cc == MP_COMPUTE_F64)
		k_unary<2><<<blocks, 256, 0, cx->stream>>>(it, x->data, o->data, a);
	else
		k_unary<3><<<blocks, 256, 0, cx->stream>>>(it, x->data, o->data, a);
	CU_LAUNCHED(mp_op_name(c->op));
	return MP_OK;
}

/* ---- binary ---- */

struct binary_args {
	int op;
	bool fmod, shift_left, uns;
	int at, bt, ot;
};

__device__ __forceinline__ int64_t binary_int(const binary_args &a, int64_t x, int64_t y)
{
	return mp_int_binary(a.op, x, y, a.uns, a.fmod, a.shift_left);
}

template <typename T>
__device__ __forceinline__ bool compare(int op, T x, T y)
{
	switch (op) {
	case MP_OP_EQUAL: return x == y;
	case MP_OP_LESS: return x < y;
	case MP_OP_LESS_OR_EQUAL: return x <= y;
	case MP_OP_GREATER: return x > y;
	case MP_OP_GREATER_OR_EQUAL: return x >= y;
	default: return false;
	}
}

/* CC: 1 f32, 2 f64, 3 signed int, 4 unsigned, 5 compare float, 6 compare int, 7 compare unsigned */
template <int CC>
__global__ void k_binary(cu_iter it, const void *A, const void *B, void *O, binary_args a)
{
	CU_FOR(i, it.n) {
		int64_t off[CU_ITER_OPS];
		if (it.ndim == 1) {
			off[0] = i * it.stride[0][0];
			off[1] = i * it.stride[1][0];
			off[2] = i * it.stride[2][0];
		} else {
			cu_iter_offsets(it, i, off);
		}
		if (CC == 1) {
			float r = binary_math<float>(a.op, cu_ld_f32(A, off[1], a.at), cu_ld_f32(B, off[2], a.bt));
			cu_st_f32(O, off[0], a.ot, r);
		} else if (CC == 2) {
			double r = binary_math<double>(a.op, cu_ld_f64(A, off[1], a.at), cu_ld_f64(B, off[2], a.bt));
			cu_st_f64(O, off[0], a.ot, r);
		} else if (CC == 3 || CC == 4) {
			cu_st_i64(O, off[0], a.ot, binary_int(a, cu_ld_i64(A, off[1], a.at), cu_ld_i64(B, off[2], a.bt)));
		} else if (CC == 5) {
			cu_st_i64(O, off[0], a.ot, compare<double>(a.op, cu_ld_f64(A, off[1], a.at), cu_ld_f64(B, off[2], a.bt)));
		} else if (CC == 6) {
			cu_st_i64(O, off[0], a.ot, compare<int64_t>(a.op, cu_ld_i64(A, off[1], a.at), cu_ld_i64(B, off[2], a.bt)));
		} else {
			cu_st_i64(O, off[0], a.ot, compare<uint64_t>(a.op, (uint64_t)cu_ld_i64(A, off[1], a.at),
			                                             (uint64_t)cu_ld_i64(B, off[2], a.bt)));
		}
	}
}

/* The fast path: float storage everywhere, 32-bit offsets, V elements a
 * thread; the same math as k_binary<1>. */
template <int TA, int TB, int TO, int V>
__global__ void k_binary_fast(cu_fast f, const void *A, const void *B, void *O, int op)
{
	uint32_t nv = f.n / V, step = blockDim.x * gridDim.x;
	int32_t sa = f.stride[1][f.ndim - 1], sb = f.stride[2][f.ndim - 1];
	for (uint32_t g = blockIdx.x * blockDim.x + threadIdx.x; g < nv; g += step) {
		int32_t off[CU_ITER_OPS];
		cu_fast_offsets(f, g * V, off);
		float a[V], b[V], r[V];
		cu_ldv<TA, V>(A, off[1], sa, a);
		cu_ldv<TB, V>(B, off[2], sb, b);
		if (op == MP_OP_ADD) /* a transformer's bias and residual Adds: no switch per element */
#pragma unroll
			for (int j = 0; j < V; j++)
				r[j] = a[j] + b[j];
		else
#pragma unroll
			for (int j = 0; j < V; j++)
				r[j] = binary_math<float>(op, a[j], b[j]);
		cu_stv<TO, V>(O, off[0], r);
	}
}

template <int TA, int TB, int TO>
static void launch_binary_fast3(cudaStream_t s, const cu_fast &f, const void *A, const void *B, void *O, int op)
{
	if (f.vec >= 8)
		k_binary_fast<TA, TB, TO, 8><<<cu_blocks(f.n / 8, 256), 256, 0, s>>>(f, A, B, O, op);
	else if (f.vec >= 4)
		k_binary_fast<TA, TB, TO, 4><<<cu_blocks(f.n / 4, 256), 256, 0, s>>>(f, A, B, O, op);
	else
		k_binary_fast<TA, TB, TO, 1><<<cu_blocks(f.n, 256), 256, 0, s>>>(f, A, B, O, op);
}

template <int TA, int TB>
static void launch_binary_fast2(cudaStream_t s, const cu_fast &f, const void *A, const void *B, int to, void *O, int op)
{
	switch (to) {
	case MP_F32: launch_binary_fast3<TA, TB, MP_F32>(s, f, A, B, O, op); break;
	case MP_BF16: launch_binary_fast3<TA, TB, MP_BF16>(s, f, A, B, O, op); break;
	default: launch_binary_fast3<TA, TB, MP_F16>(s, f, A, B, O, op); break;
	}
}

template <int TA>
static void launch_binary_fast1(cudaStream_t s, const cu_fast &f, const void *A, const void *B, int tb, int to,
                                void *O, int op)
{
	switch (tb) {
	case MP_F32: launch_binary_fast2<TA, MP_F32>(s, f, A, B, to, O, op); break;
	case MP_BF16: launch_binary_fast2<TA, MP_BF16>(s, f, A, B, to, O, op); break;
	default: launch_binary_fast2<TA, MP_F16>(s, f, A, B, to, O, op); break;
	}
}

static bool binary_fast(struct cu_ctx *cx, const cu_iter &it, const void *A, enum mp_dtype at, const void *B,
                        enum mp_dtype bt, void *O, enum mp_dtype ot, int op)
{
	cu_fast f;
	const void *ptrs[3] = { O, A, B };
	size_t es[3] = { mp_dtype_size(ot), mp_dtype_size(at), mp_dtype_size(bt) };
	if (!cu_is_storage_float(at) || !cu_is_storage_float(bt) || !cu_is_storage_float(ot) ||
	    !cu_fast_init(&f, it, ptrs, es, 8))
		return false;
	switch (at) {
	case MP_F32: launch_binary_fast1<MP_F32>(cx->stream, f, A, B, bt, ot, O, op); break;
	case MP_BF16: launch_binary_fast1<MP_BF16>(cx->stream, f, A, B, bt, ot, O, op); break;
	default: launch_binary_fast1<MP_F16>(cx->stream, f, A, B, bt, ot, O, op); break;
	}
	return true;
}

static bool is_compare(enum mp_op op)
{
	return op == MP_OP_EQUAL || op == MP_OP_LESS || op == MP_OP_LESS_OR_EQUAL || op == MP_OP_GREATER ||
	       op == MP_OP_GREATER_OR_EQUAL;
}

extern "C" enum mp_status cu_binary(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_binary_params *p = (const struct mp_binary_params *)c->params;
	const struct mp_tensor *A = c->in[0];
	struct mp_tensor Bv = *c->in[1];
	struct mp_tensor *O = c->out[0];
	enum mp_compute cc = mp_dtype_traits(A->dtype)->compute;
	binary_args a;
	struct cu_iter it;

	if (cc == MP_COMPUTE_NONE)
		return cu_unsupported(c, A->dtype, e);
	if (!mp_dtype_computable(Bv.dtype))
		return cu_unsupported(c, Bv.dtype, e);
	if (p->b_view) { /* B read with the shape inference gave it */
		mp_tensor_init(&Bv, Bv.dtype, p->b_ndim, p->b_shape);
		Bv.data = c->in[1]->data;
	}
	const struct mp_tensor *ops[3] = { O, A, &Bv };
	cu_iter_init(&it, 3, ops);
	if (!it.n)
		return MP_OK;
	a.op = c->op;
	a.fmod = p->fmod;
	a.shift_left = p->shift_left;
	a.uns = !mp_dtype_traits(A->dtype)->is_signed;
	a.at = A->dtype;
	a.bt = Bv.dtype;
	a.ot = O->dtype;
	unsigned blocks = cu_blocks(it.n, 256);
	if (cc == MP_COMPUTE_F32 && !is_compare(c->op) && !(c->op == MP_OP_POW && mp_dtype_is_float(Bv.dtype)) &&
	    mp_dtype_traits(Bv.dtype)->compute == MP_COMPUTE_F32 &&
	    binary_fast(cx, it, A->data, A->dtype, Bv.data, Bv.dtype, O->data, O->dtype, c->op)) {
		CU_LAUNCHED(mp_op_name(c->op));
		return MP_OK;
	}
	if (is_compare(c->op))
		(cc == MP_COMPUTE_F32 || cc == MP_COMPUTE_F64 ?
		 k_binary<5> : cc == MP_COMPUTE_U64 ? k_binary<7> : k_binary<6>)<<<blocks, 256, 0, cx->stream>>>(
			it, A->data, Bv.data, O->data, a);
	else if (cc == MP_COMPUTE_F32)
		k_binary<1><<<blocks, 256, 0, cx->stream>>>(it, A->data, Bv.data, O->data, a);
	else if (cc == MP_COMPUTE_F64 || (c->op == MP_OP_POW && mp_dtype_is_float(Bv.dtype)))
		k_binary<2><<<blocks, 256, 0, cx->stream>>>(it, A->data, Bv.data, O->data, a);
	else
		(cc == MP_COMPUTE_U64 ? k_binary<4> : k_binary<3>)<<<blocks, 256, 0, cx->stream>>>(it, A->data, Bv.data,
		                                                                                  O->data, a);
	CU_LAUNCHED(mp_op_name(c->op));
	return MP_OK;
}

/* ---- variadic: every input folded into an f64 (or i64) accumulator ---- */

template <bool FLOAT>
__global__ void k_variadic_fold(cu_iter it, const void *x, int xt, void *acc, int op, bool first, bool uns)
{
	CU_FOR(i, it.n) {
		int64_t off[CU_ITER_OPS];
		cu_iter_offsets(it, i, off);
		if (FLOAT) {
			double b = cu_ld_f64(x, off[1], xt), *pa = (double *)acc + off[0];
			if (first) {
				*pa = b;
				continue;
			}
			double av = *pa;
			if (op == MP_OP_MAX || op == MP_OP_MIN) {
				if (av != av || b != b)
					*pa = av != av ? av : b;
				else
					*pa = op == MP_OP_MAX ? (b > av ? b : av) : (b < av ? b : av);
			} else {
				*pa = av + b;
			}
		} else {
			int64_t b = cu_ld_i64(x, off[1], xt), *pa = (int64_t *)acc + off[0];
			if (first) {
				*pa = b;
				continue;
			}
			int64_t av = *pa;
			switch (op) {
			case MP_OP_MAX: *pa = uns ? ((uint64_t)b > (uint64_t)av ? b : av) : (b > av ? b : av); break;
			case MP_OP_MIN: *pa = uns ? ((uint64_t)b < (uint64_t)av ? b : av) : (b < av ? b : av); break;
			default: *pa = (int64_t)((uint64_t)av + (uint64_t)b); break;
			}
		}
	}
}

__global__ void k_variadic_store(const void *acc, void *o, int ot, int64_t n, bool is_float, double div)
{
	CU_FOR(i, n) {
		if (is_float)
			cu_st_f64(o, i, ot, ((const double *)acc)[i] / div);
		else
			cu_st_i64(o, i, ot, ((const int64_t *)acc)[i]);
	}
}

extern "C" enum mp_status cu_variadic(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	struct mp_tensor *o = c->out[0];
	enum mp_compute cc = mp_dtype_traits(o->dtype)->compute;
	bool is_float = cc == MP_COMPUTE_F32 || cc == MP_COMPUTE_F64;
	bool uns = !mp_dtype_traits(o->dtype)->is_signed;
	int64_t n = mp_tensor_numel(o);
	void *acc;
	enum mp_status st;

	if (cc == MP_COMPUTE_NONE)
		return cu_unsupported(c, o->dtype, e);
	if (!n)
		return MP_OK;
	if ((st = cu_scratch(cx, (size_t)n * 8, &acc, e)))
		return st;
	/* the accumulator viewed with the output's shape, contiguous */
	struct mp_tensor av;
	mp_tensor_init(&av, is_float ? MP_F64 : MP_I64, o->ndim, o->shape);
	for (int k = 0; k < c->ninputs; k++) {
		const struct mp_tensor *ops[2] = { &av, c->in[k] };
		struct cu_iter it;
		cu_iter_init(&it, 2, ops);
		if (is_float)
			k_variadic_fold<true><<<cu_blocks(n, 256), 256, 0, cx->stream>>>(it, c->in[k]->data, c->in[k]->dtype,
			                                                                 acc, c->op, k == 0, uns);
		else
			k_variadic_fold<false><<<cu_blocks(n, 256), 256, 0, cx->stream>>>(it, c->in[k]->data, c->in[k]->dtype,
			                                                                  acc, c->op, k == 0, uns);
	}
	k_variadic_store<<<cu_blocks(n, 256), 256, 0, cx->stream>>>(
		acc, o->data, o->dtype, n, is_float, is_float && c->op == MP_OP_MEAN ? (double)c->ninputs : 1.0);
	cu_scratch_free(cx, acc);
	CU_LAUNCHED(mp_op_name(c->op));
	return MP_OK;
}

/* ---- Where: bytes copied, never converted ---- */

template <typename T>
__global__ void k_where(cu_iter it, const uint8_t *cond, const T *x, const T *y, T *o)
{
	CU_FOR(i, it.n) {
		int64_t off[CU_ITER_OPS];
		cu_iter_offsets(it, i, off);
		o[off[0]] = cond[off[1]] ? x[off[2]] : y[off[3]];
	}
}

extern "C" enum mp_status cu_where(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	struct mp_tensor *o = c->out[0];
	const struct mp_tensor *ops[4] = { o, c->in[0], c->in[1], c->in[2] };
	struct cu_iter it;
	cu_iter_init(&it, 4, ops);
	if (!it.n)
		return MP_OK;
	unsigned blocks = cu_blocks(it.n, 256);
	const uint8_t *cond = (const uint8_t *)c->in[0]->data;
	switch (mp_dtype_size(o->dtype)) {
	case 1: k_where<uint8_t><<<blocks, 256, 0, cx->stream>>>(it, cond, (const uint8_t *)c->in[1]->data, (const uint8_t *)c->in[2]->data, (uint8_t *)o->data); break;
	case 2: k_where<uint16_t><<<blocks, 256, 0, cx->stream>>>(it, cond, (const uint16_t *)c->in[1]->data, (const uint16_t *)c->in[2]->data, (uint16_t *)o->data); break;
	case 4: k_where<uint32_t><<<blocks, 256, 0, cx->stream>>>(it, cond, (const uint32_t *)c->in[1]->data, (const uint32_t *)c->in[2]->data, (uint32_t *)o->data); break;
	case 8: k_where<uint64_t><<<blocks, 256, 0, cx->stream>>>(it, cond, (const uint64_t *)c->in[1]->data, (const uint64_t *)c->in[2]->data, (uint64_t *)o->data); break;
	default: return cu_unsupported(c, o->dtype, e);
	}
	CU_LAUNCHED("Where");
	return MP_OK;
}

/* ---- Cast ---- */

extern "C" enum mp_status cu_cast(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_tensor *x = c->in[0];
	struct mp_tensor *o = c->out[0];
	if (!mp_dtype_computable(x->dtype))
		return cu_unsupported(c, x->dtype, e);
	if (!mp_dtype_computable(o->dtype))
		return cu_unsupported(c, o->dtype, e);
	if (!mp_tensor_is_contiguous(x))
		return mp_error_set(e, MP_ERR_INTERNAL, "Cast: input is not contiguous");
	return cu_convert(cx, x->data, x->dtype, o->data, o->dtype, mp_tensor_numel(o), e);
}
