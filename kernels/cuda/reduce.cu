/* reduce.cu - Reduce*, ArgMax/ArgMin, Softmax/LogSoftmax/Hardmax,
 * CumSum/CumProd and TopK on the GPU.  Reductions and scans of float data
 * accumulate in f64 and round once, as the CPU reference does; Softmax
 * rows run in f32 (f64 for f64 data), as PyTorch does. */
#include <math.h>

#include "cu.cuh"
#include "view_plan.h"

/* ---- Reduce*: one block per output element (or one thread, for short
 * reductions); the reduced dims walked through their own strides ---- */

struct red_geom {
	int nk, nr;                       /* kept dims, reduced dims */
	int64_t kshape[MP_MAX_DIMS], kstride[MP_MAX_DIMS];
	int64_t rshape[MP_MAX_DIMS], rstride[MP_MAX_DIMS];
	int64_t nout, count;
	int xt, ot, op;
	bool uns, is_bool;
};

__device__ __forceinline__ int64_t red_base(const red_geom &g, int64_t o)
{
	int64_t off = 0;
	for (int d = g.nk - 1; d >= 0; d--) {
		int64_t q = o / g.kshape[d];
		off += (o - q * g.kshape[d]) * g.kstride[d];
		o = q;
	}
	return off;
}

__device__ __forceinline__ int64_t red_off(const red_geom &g, int64_t r)
{
	int64_t off = 0;
	for (int d = g.nr - 1; d >= 0; d--) {
		int64_t q = r / g.rshape[d];
		off += (r - q * g.rshape[d]) * g.rstride[d];
		r = q;
	}
	return off;
}

__device__ __forceinline__ double fold_f(int op, double a, double x, double shift)
{
	switch (op) {
	case MP_OP_REDUCE_MAX: return a != a ? a : (x != x || x > a) ? x : a;
	case MP_OP_REDUCE_MIN: return a != a ? a : (x != x || x < a) ? x : a;
	case MP_OP_REDUCE_PROD: return a * x;
	case MP_OP_REDUCE_L1: return a + fabs(x);
	case MP_OP_REDUCE_L2: case MP_OP_REDUCE_SUM_SQUARE: return a + x * x;
	case MP_OP_REDUCE_LOG_SUM_EXP: return a + (isinf(shift) ? (x == shift ? 1.0 : 0.0) : exp(x - shift));
	default: return a + x;
	}
}

/* two partial results of the same op */
__device__ __forceinline__ double merge_f(int op, double a, double b)
{
	switch (op) {
	case MP_OP_REDUCE_MAX: return a != a ? a : (b != b || b > a) ? b : a;
	case MP_OP_REDUCE_MIN: return a != a ? a : (b != b || b < a) ? b : a;
	case MP_OP_REDUCE_PROD: return a * b;
	default: return a + b;
	}
}

__device__ __forceinline__ int64_t fold_i(int op, int64_t a, int64_t x, bool uns)
{
	switch (op) {
	case MP_OP_REDUCE_MAX: return (uns ? (uint64_t)x > (uint64_t)a : x > a) ? x : a;
	case MP_OP_REDUCE_MIN: return (uns ? (uint64_t)x < (uint64_t)a : x < a) ? x : a;
	case MP_OP_REDUCE_PROD: return (int64_t)((uint64_t)a * (uint64_t)x);
	case MP_OP_REDUCE_L1: return (int64_t)((uint64_t)a + (uint64_t)(x < 0 && !uns ? -(uint64_t)x : (uint64_t)x));
	case MP_OP_REDUCE_L2: case MP_OP_REDUCE_SUM_SQUARE: return (int64_t)((uint64_t)a + (uint64_t)x * (uint64_t)x);
	default: return (int64_t)((uint64_t)a + (uint64_t)x);
	}
}

__device__ __forceinline__ int64_t merge_i(int op, int64_t a, int64_t b, bool uns)
{
	switch (op) {
	case MP_OP_REDUCE_MAX: return (uns ? (uint64_t)b > (uint64_t)a : b > a) ? b : a;
	case MP_OP_REDUCE_MIN: return (uns ? (uint64_t)b < (uint64_t)a : b < a) ? b : a;
	case MP_OP_REDUCE_PROD: return (int64_t)((uint64_t)a * (uint64_t)b);
	default: return (int64_t)((uint64_t)a + (uint64_t)b);
	}
}

__device__ __forceinline__ double init_f(int op)
{
	return op == MP_OP_REDUCE_MAX ? -INFINITY : op == MP_OP_REDUCE_MIN ? INFINITY : op == MP_OP_REDUCE_PROD ? 1.0 : 0.0;
}

__device__ __forceinline__ int64_t init_i(const red_geom &g)
{
	switch (g.op) {
	case MP_OP_REDUCE_MAX: return g.is_bool ? 0 : g.uns ? 0 : INT64_MIN;
	case MP_OP_REDUCE_MIN: return g.is_bool ? 1 : g.uns ? -1 : INT64_MAX;
	case MP_OP_REDUCE_PROD: return 1;
	default: return 0;
	}
}

__device__ __forceinline__ double finish_f(const red_geom &g, double a, double shift)
{
	switch (g.op) {
	case MP_OP_REDUCE_MEAN: return a / (double)g.count;
	case MP_OP_REDUCE_L2: return sqrt(a);
	case MP_OP_REDUCE_LOG_SUM: return log(a);
	case MP_OP_REDUCE_LOG_SUM_EXP: return shift + log(a);
	default: return a;
	}
}

/* double -> int64 without undefined behaviour: log 0 is -inf (issue 13;
 * the CPU refuses that result, here it saturates) */
__device__ __forceinline__ int64_t sat_i64(double v)
{
	return v != v ? 0 : v <= -9.2e18 ? INT64_MIN : v >= 9.2e18 ? INT64_MAX : (int64_t)v;
}

__device__ __forceinline__ int64_t finish_i(const red_geom &g, int64_t a)
{
	switch (g.op) {
	case MP_OP_REDUCE_MEAN: return g.count ? a / g.count : 0;
	case MP_OP_REDUCE_L2: return (int64_t)sqrt((double)(uint64_t)a); /* the sum of squares wraps unsigned */
	case MP_OP_REDUCE_LOG_SUM: case MP_OP_REDUCE_LOG_SUM_EXP: return sat_i64(log((double)a));
	default: return a;
	}
}

/* One block per output: FLOAT folds in f64; LogSumExp's shift (the row's
 * max) is taken first in the same block. */
template <bool FLOAT>
__global__ void k_reduce_block(red_geom g, const void *x, void *o)
{
	__shared__ double sf[256];
	__shared__ int64_t si[256];
	int t = threadIdx.x;
	for (int64_t out = blockIdx.x; out < g.nout; out += gridDim.x) {
		int64_t base = red_base(g, out);
		if (FLOAT) {
			double shift = 0;
			if (g.op == MP_OP_REDUCE_LOG_SUM_EXP) {
				double m = -INFINITY;
				for (int64_t r = t; r < g.count; r += blockDim.x)
					m = fold_f(MP_OP_REDUCE_MAX, m, cu_ld_f64(x, base + red_off(g, r), g.xt), 0);
				sf[t] = m;
				__syncthreads();
				for (int s = blockDim.x / 2; s > 0; s >>= 1) {
					if (t < s)
						sf[t] = merge_f(MP_OP_REDUCE_MAX, sf[t], sf[t + s]);
					__syncthreads();
				}
				shift = sf[0];
				__syncthreads();
			}
			double a = init_f(g.op);
			for (int64_t r = t; r < g.count; r += blockDim.x)
				a = fold_f(g.op, a, cu_ld_f64(x, base + red_off(g, r), g.xt), shift);
			sf[t] = a;
			__syncthreads();
			for (int s = blockDim.x / 2; s > 0; s >>= 1) {
				if (t < s)
					sf[t] = merge_f(g.op, sf[t], sf[t + s]);
				__syncthreads();
			}
			if (t == 0)
				cu_st_f64(o, out, g.ot, finish_f(g, sf[0], shift));
			__syncthreads();
		} else {
			int64_t a = init_i(g);
			for (int64_t r = t; r < g.count; r += blockDim.x)
				a = fold_i(g.op, a, cu_ld_i64(x, base + red_off(g, r), g.xt), g.uns);
			si[t] = a;
			__syncthreads();
			for (int s = blockDim.x / 2; s > 0; s >>= 1) {
				if (t < s)
					si[t] = merge_i(g.op, si[t], si[t + s], g.uns);
				__syncthreads();
			}
			if (t == 0)
				cu_st_i64(o, out, g.ot, finish_i(g, si[0]));
			__syncthreads();
		}
	}
}

/* One thread per output, for reductions of few elements. */
template <bool FLOAT>
__global__ void k_reduce_thread(red_geom g, const void *x, void *o)
{
	CU_FOR(out, g.nout) {
		int64_t base = red_base(g, out);
		if (FLOAT) {
			double shift = 0;
			if (g.op == MP_OP_REDUCE_LOG_SUM_EXP) {
				double m = -INFINITY;
				for (int64_t r = 0; r < g.count; r++)
					m = fold_f(MP_OP_REDUCE_MAX, m, cu_ld_f64(x, base + red_off(g, r), g.xt), 0);
				shift = m;
			}
			double a = init_f(g.op);
			for (int64_t r = 0; r < g.count; r++)
				a = fold_f(g.op, a, cu_ld_f64(x, base + red_off(g, r), g.xt), shift);
			cu_st_f64(o, out, g.ot, finish_f(g, a, shift));
		} else {
			int64_t a = init_i(g);
			for (int64_t r = 0; r < g.count; r++)
				a = fold_i(g.op, a, cu_ld_i64(x, base + red_off(g, r), g.xt), g.uns);
			cu_st_i64(o, out, g.ot, finish_i(g, a));
		}
	}
}

extern "C" enum mp_status cu_reduce(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_reduce_params *p = (const struct mp_reduce_params *)c->params;
	const struct mp_tensor *x = c->in[0];
	struct mp_tensor *o = c->out[0];
	enum mp_compute cc = mp_dtype_traits(x->dtype)->compute;
	bool is_float = cc == MP_COMPUTE_F32 || cc == MP_COMPUTE_F64;
	red_geom g;

	if (cc == MP_COMPUTE_NONE)
		return cu_unsupported(c, x->dtype, e);
	if (p->mask == 0) /* noop_with_empty_axes */
		return cu_copy(cx, o, x, e);
	memset(&g, 0, sizeof g);
	g.nout = g.count = 1;
	for (int d = 0; d < x->ndim; d++) {
		if (p->mask & (1u << d)) {
			g.rshape[g.nr] = x->shape[d];
			g.rstride[g.nr++] = cu_estride(x, d);
			g.count *= x->shape[d];
		} else {
			g.kshape[g.nk] = x->shape[d];
			g.kstride[g.nk++] = cu_estride(x, d);
			g.nout *= x->shape[d];
		}
	}
	g.xt = x->dtype;
	g.ot = o->dtype;
	g.op = c->op;
	g.uns = !mp_dtype_traits(x->dtype)->is_signed && x->dtype != MP_BOOL;
	g.is_bool = x->dtype == MP_BOOL;
	if (!g.nout)
		return MP_OK;
	if (g.count >= 64) {
		unsigned blocks = g.nout > 65535 * 8 ? 65535 * 8 : (unsigned)g.nout;
		if (is_float)
			k_reduce_block<true><<<blocks, 256, 0, cx->stream>>>(g, x->data, o->data);
		else
			k_reduce_block<false><<<blocks, 256, 0, cx->stream>>>(g, x->data, o->data);
	} else if (is_float) {
		k_reduce_thread<true><<<cu_blocks(g.nout, 128), 128, 0, cx->stream>>>(g, x->data, o->data);
	} else {
		k_reduce_thread<false><<<cu_blocks(g.nout, 128), 128, 0, cx->stream>>>(g, x->data, o->data);
	}
	CU_LAUNCHED(mp_op_name(c->op));
	return MP_OK;
}

/* ---- ArgMax, ArgMin: one thread per (outer, inner) column ---- */

__global__ void k_argreduce(const void *x, int xt, int64_t *o, int64_t outer, int64_t len, int64_t inner,
                            bool is_max, bool last, bool is_int, bool uns)
{
	CU_FOR(col, outer * inner) {
		int64_t a = col / inner, b = col - a * inner;
		int64_t base = a * len * inner + b, best = 0;
		if (is_int) {
			int64_t bv = cu_ld_i64(x, base, xt);
			for (int64_t k = 1; k < len; k++) {
				int64_t v = cu_ld_i64(x, base + k * inner, xt);
				bool gt = uns ? (uint64_t)v > (uint64_t)bv : v > bv;
				bool lt = uns ? (uint64_t)v < (uint64_t)bv : v < bv;
				if ((is_max ? gt : lt) || (last && v == bv)) {
					best = k;
					bv = v;
				}
			}
		} else {
			double bv = cu_ld_f64(x, base, xt);
			for (int64_t k = 1; k < len; k++) {
				if (bv != bv)
					break; /* the first NaN wins */
				double v = cu_ld_f64(x, base + k * inner, xt);
				if (v != v || (is_max ? v > bv : v < bv) || (last && v == bv)) {
					best = k;
					bv = v;
				}
			}
		}
		o[col] = best;
	}
}

extern "C" enum mp_status cu_argreduce(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_argreduce_params *p = (const struct mp_argreduce_params *)c->params;
	const struct mp_tensor *x = c->in[0];
	int64_t outer, len, inner;
	if (!mp_dtype_computable(x->dtype))
		return cu_unsupported(c, x->dtype, e);
	if (!mp_tensor_is_contiguous(x))
		return mp_error_set(e, MP_ERR_INTERNAL, "%s: input is not contiguous", mp_op_name(c->op));
	mp_view_axis_split(x, p->axis_resolved, &outer, &len, &inner);
	if (!outer || !inner)
		return MP_OK;
	bool is_int = mp_dtype_traits(x->dtype)->is_int || x->dtype == MP_BOOL;
	k_argreduce<<<cu_blocks(outer * inner, 128), 128, 0, cx->stream>>>(
		x->data, x->dtype, (int64_t *)c->out[0]->data, outer, len, inner, c->op == MP_OP_ARG_MAX,
		p->select_last_index, is_int, !mp_dtype_traits(x->dtype)->is_signed);
	CU_LAUNCHED(mp_op_name(c->op));
	return MP_OK;
}

/* ---- Softmax, LogSoftmax, Hardmax ---- */

template <typename T>
__device__ __forceinline__ T ld_as(const void *x, int64_t i, int xt)
{
	return sizeof(T) == 4 ? (T)cu_ld_f32(x, i, xt) : (T)cu_ld_f64(x, i, xt);
}

/* One warp per row of a contiguous last axis (inner == 1): the common case. */
template <typename T, bool LOG>
__global__ void k_softmax_rows(const void *x, int xt, void *o, int ot, int64_t rows, int64_t len)
{
	int lane = threadIdx.x & 31;
	int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
	int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
	for (int64_t r = warp; r < rows; r += nwarps) {
		int64_t base = r * len;
		T m = -INFINITY;
		for (int64_t k = lane; k < len; k += 32) {
			T v = ld_as<T>(x, base + k, xt);
			m = v > m ? v : m;
		}
		for (int s = 16; s > 0; s >>= 1) {
			T other = __shfl_xor_sync(0xffffffffu, m, s);
			m = other > m ? other : m;
		}
		if (isinf(m) && m < 0)
			m = 0; /* a row of -inf: exp gives 0s and the sum decides */
		T sum = 0;
		for (int64_t k = lane; k < len; k += 32)
			sum += exp(ld_as<T>(x, base + k, xt) - m);
		for (int s = 16; s > 0; s >>= 1)
			sum += __shfl_xor_sync(0xffffffffu, sum, s);
		T ls = log(sum);
		for (int64_t k = lane; k < len; k += 32) {
			T t = ld_as<T>(x, base + k, xt) - m;
			if (sizeof(T) == 4)
				cu_st_f32(o, base + k, ot, (float)(LOG ? t - ls : exp(t) / sum));
			else
				cu_st_f64(o, base + k, ot, (double)(LOG ? t - ls : exp(t) / sum));
		}
	}
}

/* Rows of up to 32 * NPL elements held in registers, one warp a row: one
 * read of the input instead of three.  The sums run in the same order as
 * k_softmax_rows's (each lane its elements in turn, then the butterfly), so
 * the results are the same bits. */
template <int NPL, bool LOG, int XT, int OT>
__global__ void k_softmax_warp(const void *x, void *o, int32_t rows, int len)
{
	int lane = threadIdx.x & 31;
	int32_t warp = (int32_t)((blockIdx.x * blockDim.x + threadIdx.x) >> 5);
	int32_t nwarps = (int32_t)((gridDim.x * blockDim.x) >> 5);
	for (int32_t r = warp; r < rows; r += nwarps) {
		int32_t base = r * len;
		float v[NPL], m = -INFINITY;
#pragma unroll
		for (int j = 0; j < NPL; j++) {
			int k = lane + 32 * j;
			v[j] = k < len ? cu_ldf<XT>(x, base + k) : -INFINITY;
			m = v[j] > m ? v[j] : m;
		}
		for (int s = 16; s > 0; s >>= 1) {
			float other = __shfl_xor_sync(0xffffffffu, m, s);
			m = other > m ? other : m;
		}
		if (isinf(m) && m < 0)
			m = 0;
		float sum = 0;
#pragma unroll
		for (int j = 0; j < NPL; j++)
			if (lane + 32 * j < len) {
				v[j] -= m;
				sum += expf(v[j]);
			}
		for (int s = 16; s > 0; s >>= 1)
			sum += __shfl_xor_sync(0xffffffffu, sum, s);
		float ls = LOG ? logf(sum) : 0;
#pragma unroll
		for (int j = 0; j < NPL; j++) {
			int k = lane + 32 * j;
			if (k < len)
				cu_stf<OT>(o, base + k, LOG ? v[j] - ls : expf(v[j]) / sum);
		}
	}
}

template <int NPL, bool LOG, int XT, int OT>
static void softmax_warp_launch(cudaStream_t s, const void *x, void *o, int64_t rows, int64_t len)
{
	unsigned blocks = cu_blocks(rows * 32, 256);
	k_softmax_warp<NPL, LOG, XT, OT><<<blocks, 256, 0, s>>>(x, o, (int32_t)rows, (int)len);
}

template <int NPL, bool LOG>
static bool softmax_warp_types(cudaStream_t s, const void *x, int xt, void *o, int ot, int64_t rows, int64_t len)
{
#define SMW(X, O) \
	if (xt == X && ot == O) \
		return softmax_warp_launch<NPL, LOG, X, O>(s, x, o, rows, len), true;
	SMW(MP_F32, MP_F32) SMW(MP_BF16, MP_BF16) SMW(MP_F16, MP_F16)
	SMW(MP_BF16, MP_F32) SMW(MP_F16, MP_F32) SMW(MP_F32, MP_BF16) SMW(MP_F32, MP_F16)
#undef SMW
	return false;
}

/* The register-resident softmax where the row fits and the types are
 * the common ones. */
template <bool LOG>
static bool softmax_warp(cudaStream_t s, const void *x, int xt, void *o, int ot, int64_t rows, int64_t len)
{
	if (rows * len > INT32_MAX)
		return false;
	if (len <= 64)
		return softmax_warp_types<2, LOG>(s, x, xt, o, ot, rows, len);
	if (len <= 128)
		return softmax_warp_types<4, LOG>(s, x, xt, o, ot, rows, len);
	if (len <= 256)
		return softmax_warp_types<8, LOG>(s, x, xt, o, ot, rows, len);
	if (len <= 320)
		return softmax_warp_types<10, LOG>(s, x, xt, o, ot, rows, len);
	if (len <= 512)
		return softmax_warp_types<16, LOG>(s, x, xt, o, ot, rows, len);
	if (len <= 1024)
		return softmax_warp_types<32, LOG>(s, x, xt, o, ot, rows, len);
	return false;
}

/* Any axis: one thread per (outer, inner) column; Hardmax too. */
template <typename T>
__global__ void k_softmax_cols(const void *x, int xt, void *o, int ot, int64_t outer, int64_t len, int64_t inner,
                               int op)
{
	CU_FOR(col, outer * inner) {
		int64_t a = col / inner, b = col - a * inner, base = a * len * inner + b, arg = 0;
		T m = ld_as<T>(x, base, xt), sum = 0;
		for (int64_t k = 1; k < len; k++) {
			T v = ld_as<T>(x, base + k * inner, xt);
			if (v > m) {
				m = v;
				arg = k;
			}
		}
		if (op == MP_OP_HARDMAX) {
			for (int64_t k = 0; k < len; k++)
				cu_st_f64(o, base + k * inner, ot, k == arg ? 1.0 : 0.0);
			continue;
		}
		if (isinf(m) && m < 0)
			m = 0;
		for (int64_t k = 0; k < len; k++)
			sum += exp(ld_as<T>(x, base + k * inner, xt) - m);
		for (int64_t k = 0; k < len; k++) {
			T t = ld_as<T>(x, base + k * inner, xt) - m;
			T r = op == MP_OP_LOG_SOFTMAX ? t - log(sum) : exp(t) / sum;
			if (sizeof(T) == 4)
				cu_st_f32(o, base + k * inner, ot, (float)r);
			else
				cu_st_f64(o, base + k * inner, ot, (double)r);
		}
	}
}

extern "C" enum mp_status cu_softmax(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_softmax_params *p = (const struct mp_softmax_params *)c->params;
	const struct mp_tensor *x = c->in[0];
	struct mp_tensor *o = c->out[0];
	int64_t outer, len, inner;

	if (!mp_dtype_is_float(x->dtype) || !mp_dtype_computable(x->dtype))
		return cu_unsupported(c, x->dtype, e);
	if (!mp_tensor_is_contiguous(x))
		return mp_error_set(e, MP_ERR_INTERNAL, "%s: input is not contiguous", mp_op_name(c->op));
	mp_view_softmax(p, x, &outer, &len, &inner);
	if (!mp_tensor_numel(x))
		return MP_OK;
	bool wide = x->dtype == MP_F64;
	if (inner == 1 && c->op != MP_OP_HARDMAX) {
		int64_t threads = outer * 32;
		unsigned blocks = cu_blocks(threads, 256);
		bool lg = c->op == MP_OP_LOG_SOFTMAX;
		if (wide)
			(lg ? k_softmax_rows<double, true> : k_softmax_rows<double, false>)<<<blocks, 256, 0, cx->stream>>>(
				x->data, x->dtype, o->data, o->dtype, outer, len);
		else if (lg ? softmax_warp<true>(cx->stream, x->data, x->dtype, o->data, o->dtype, outer, len) :
		              softmax_warp<false>(cx->stream, x->data, x->dtype, o->data, o->dtype, outer, len))
			;
		else
			(lg ? k_softmax_rows<float, true> : k_softmax_rows<float, false>)<<<blocks, 256, 0, cx->stream>>>(
				x->data, x->dtype, o->data, o->dtype, outer, len);
	} else if (wide) {
		k_softmax_cols<double><<<cu_blocks(outer * inner, 128), 128, 0, cx->stream>>>(
			x->data, x->dtype, o->data, o->dtype, outer, len, inner, c->op);
	} else {
		k_softmax_cols<float><<<cu_blocks(outer * inner, 128), 128, 0, cx->stream>>>(
			x->data, x->dtype, o->data, o->dtype, outer, len, inner, c->op);
	}
	CU_LAUNCHED(mp_op_name(c->op));
	return MP_OK;
}

/* ---- CumSum, CumProd: one thread per column, f64 (or u64) running value ---- */

__global__ void k_cumulative(const void *x, int xt, void *o, int ot, int64_t outer, int64_t len, int64_t inner,
                             bool prod, bool exclusive, bool reverse, bool is_float)
{
	CU_FOR(col, outer * inner) {
		int64_t a = col / inner, b = col - a * inner, base = a * len * inner + b;
		double facc = prod ? 1 : 0;
		uint64_t iacc = prod ? 1 : 0;
		for (int64_t j = 0; j < len; j++) {
			int64_t k = reverse ? len - 1 - j : j, at = base + k * inner;
			if (is_float) {
				double cur = cu_ld_f64(x, at, xt);
				if (exclusive) {
					cu_st_f64(o, at, ot, facc);
					facc = prod ? facc * cur : facc + cur;
				} else {
					facc = prod ? facc * cur : facc + cur;
					cu_st_f64(o, at, ot, facc);
				}
			} else {
				uint64_t cur = (uint64_t)cu_ld_i64(x, at, xt);
				if (exclusive) {
					cu_st_i64(o, at, ot, (int64_t)iacc);
					iacc = prod ? iacc * cur : iacc + cur;
				} else {
					iacc = prod ? iacc * cur : iacc + cur;
					cu_st_i64(o, at, ot, (int64_t)iacc);
				}
			}
		}
	}
}

extern "C" enum mp_status cu_cumulative(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_cumulative_params *p = (const struct mp_cumulative_params *)c->params;
	const struct mp_tensor *x = c->in[0];
	enum mp_compute cc = mp_dtype_traits(x->dtype)->compute;
	int64_t outer, len, inner;
	if (cc == MP_COMPUTE_NONE)
		return cu_unsupported(c, x->dtype, e);
	if (!mp_tensor_is_contiguous(x))
		return mp_error_set(e, MP_ERR_INTERNAL, "%s: input is not contiguous", mp_op_name(c->op));
	mp_view_axis_split(x, p->axis_resolved, &outer, &len, &inner);
	if (!outer || !inner)
		return MP_OK;
	k_cumulative<<<cu_blocks(outer * inner, 128), 128, 0, cx->stream>>>(
		x->data, x->dtype, c->out[0]->data, c->out[0]->dtype, outer, len, inner, c->op == MP_OP_CUM_PROD,
		p->exclusive, p->reverse, cc == MP_COMPUTE_F32 || cc == MP_COMPUTE_F64);
	CU_LAUNCHED(mp_op_name(c->op));
	return MP_OK;
}

/* ---- TopK: one thread per row, k selection passes (each finds the next
 * element in the total order: NaN first for largest, then the value (the
 * exact integer for integer data), then the lower index) ---- */

struct topk_key {
	double v;
	int64_t iv;
	int64_t i;
	bool nan;
};

/* true when a comes before b in the output order */
__device__ __forceinline__ bool topk_before(const topk_key &a, const topk_key &b, bool largest)
{
	if (a.nan != b.nan)
		return largest ? a.nan : b.nan;
	if (!a.nan && a.v != b.v)
		return largest ? a.v > b.v : a.v < b.v;
	if (a.iv != b.iv)
		return largest ? a.iv > b.iv : a.iv < b.iv;
	return a.i < b.i;
}

__global__ void k_topk(const void *x, int xt, void *ov, int ot, int64_t *oi, int64_t outer, int64_t len,
                       int64_t inner, int64_t k, bool largest, bool is_int)
{
	CU_FOR(col, outer * inner) {
		int64_t a = col / inner, b = col - a * inner, base = a * len * inner + b;
		topk_key prev;
		bool have_prev = false;
		for (int64_t j = 0; j < k; j++) {
			topk_key best;
			bool have = false;
			for (int64_t q = 0; q < len; q++) {
				topk_key cur;
				cur.i = q;
				if (is_int) {
					cur.iv = cu_ld_i64(x, base + q * inner, xt);
					cur.v = 0;
					cur.nan = false;
				} else {
					cur.v = cu_ld_f64(x, base + q * inner, xt);
					cur.iv = 0;
					cur.nan = cur.v != cur.v;
				}
				if (have_prev && !topk_before(prev, cur, largest))
					continue; /* already taken */
				if (!have || topk_before(cur, best, largest)) {
					best = cur;
					have = true;
				}
			}
			int64_t at = (a * k + j) * inner + b;
			if (ov && is_int)
				cu_st_i64(ov, at, ot, best.iv);
			else if (ov)
				cu_st_f64(ov, at, ot, best.v);
			if (oi)
				oi[at] = best.i;
			prev = best;
			have_prev = true;
		}
	}
}

extern "C" enum mp_status cu_topk(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_topk_params *p = (const struct mp_topk_params *)c->params;
	const struct mp_tensor *x = c->in[0];
	struct mp_tensor *ov = c->out[0], *oi = c->noutputs > 1 ? c->out[1] : NULL;
	int64_t outer, len, inner;
	if (!mp_dtype_computable(x->dtype))
		return cu_unsupported(c, x->dtype, e);
	if (!mp_tensor_is_contiguous(x))
		return mp_error_set(e, MP_ERR_INTERNAL, "TopK: input is not contiguous");
	mp_view_axis_split(x, p->axis_resolved, &outer, &len, &inner);
	if (!outer || !inner || !p->k_resolved)
		return MP_OK;
	k_topk<<<cu_blocks(outer * inner, 64), 64, 0, cx->stream>>>(
		x->data, x->dtype, ov ? ov->data : NULL, ov ? ov->dtype : 0, oi ? (int64_t *)oi->data : NULL, outer, len,
		inner, p->k_resolved, p->largest, mp_dtype_traits(x->dtype)->is_int);
	CU_LAUNCHED("TopK");
	return MP_OK;
}
