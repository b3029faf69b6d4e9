/* norm.cu - normalisation on the GPU: LayerNormalization and
 * RMSNormalization one warp per row (two passes over the row, f32 for
 * f32/bf16/f16 data as PyTorch, f64 for f64); BatchNormalization (given
 * statistics, or the batch's in training mode), InstanceNormalization and
 * GroupNormalization one block per statistic with f64 sums;
 * MeanVarianceNormalization, LpNormalization and LRN. */
#include <math.h>

#include "cu.cuh"
#include "view_plan.h"

/* A parameter broadcast to `n` f32 values shaped dims[0..nd): its own data
 * when it already is that, else a converted copy in scratch (*owned). */
__global__ void k_bcast_f32(cu_iter it, const void *x, int xt, float *out)
{
	CU_FOR(i, it.n) {
		int64_t off[CU_ITER_OPS];
		cu_iter_offsets(it, i, off);
		out[off[0]] = cu_ld_f32(x, off[1], xt);
	}
}

static enum mp_status param_f32(struct cu_ctx *cx, const struct mp_tensor *t, int nd, const int64_t *dims,
                                const float **p, void **owned, struct mp_error *e)
{
	struct mp_tensor like;
	enum mp_status st;
	*owned = NULL;
	*p = NULL;
	if (!t)
		return MP_OK;
	mp_tensor_init(&like, MP_F32, nd, dims);
	int64_t n = mp_tensor_numel(&like);
	if (t->dtype == MP_F32 && mp_tensor_numel(t) == n && mp_tensor_is_contiguous(t)) {
		*p = (const float *)t->data;
		return MP_OK;
	}
	if ((st = cu_scratch(cx, (size_t)n * 4, owned, e)))
		return st;
	like.data = *owned;
	const struct mp_tensor *ops[2] = { &like, t };
	struct cu_iter it;
	cu_iter_init(&it, 2, ops);
	k_bcast_f32<<<cu_blocks(n, 256), 256, 0, cx->stream>>>(it, t->data, t->dtype, (float *)*owned);
	*p = (const float *)*owned;
	CU_LAUNCHED("a normalisation parameter");
	return MP_OK;
}

/* ---- LayerNormalization, RMSNormalization ---- */

template <typename T>
__device__ __forceinline__ T ld_t(const void *x, int64_t i, int xt)
{
	return sizeof(T) == 4 ? (T)cu_ld_f32(x, i, xt) : (T)cu_ld_f64(x, i, xt);
}

template <typename T>
__device__ __forceinline__ void st_t(void *o, int64_t i, int ot, T v)
{
	if (sizeof(T) == 4)
		cu_st_f32(o, i, ot, (float)v);
	else
		cu_st_f64(o, i, ot, (double)v);
}

template <typename T>
__device__ __forceinline__ T warp_sum(T v)
{
	for (int s = 16; s > 0; s >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, s);
	return v;
}

template <typename T, bool RMS>
__global__ void k_layer_norm(const void *x, int xt, void *y, int yt, const float *scale, const float *bias,
                             void *mean_out, int mt, void *inv_out, int it_, int64_t rows, int64_t inner, float eps)
{
	int lane = threadIdx.x & 31;
	int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
	int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
	for (int64_t r = warp; r < rows; r += nwarps) {
		int64_t base = r * inner;
		T m = 0, v = 0;
		if (!RMS) {
			for (int64_t i = lane; i < inner; i += 32)
				m += ld_t<T>(x, base + i, xt);
			m = warp_sum(m) / (T)inner;
		}
		for (int64_t i = lane; i < inner; i += 32) {
			T d = ld_t<T>(x, base + i, xt) - m;
			v += d * d;
		}
		v = warp_sum(v) / (T)inner;
		T iv = (T)1 / sqrt(v + (T)eps);
		for (int64_t i = lane; i < inner; i += 32) {
			T r_ = (ld_t<T>(x, base + i, xt) - m) * iv * (T)scale[i] + (bias ? (T)bias[i] : (T)0);
			st_t<T>(y, base + i, yt, r_);
		}
		if (lane == 0 && mean_out)
			st_t<T>(mean_out, r, mt, m);
		if (lane == 0 && inv_out)
			st_t<T>(inv_out, r, it_, iv);
	}
}

/* LayerNormalization over rows of up to 32 * NPL elements held in
 * registers, one warp a row: one read of the input instead of three, typed
 * loads.  The sums run in k_layer_norm's order (each lane its elements in
 * turn, then the butterfly) and the arithmetic is its own, so the results
 * are the same bits. */
template <int NPL, int XT, int YT>
__global__ void __launch_bounds__(256, NPL <= 12 ? 8 : 1) /* rows up to 384: 64 warps an SM, one wave */
k_layer_norm_warp(const void *x, void *y, const float *scale, const float *bias, int32_t rows, int inner, float eps)
{
	int lane = threadIdx.x & 31;
	int32_t warp = (int32_t)((blockIdx.x * blockDim.x + threadIdx.x) >> 5);
	int32_t nwarps = (int32_t)((gridDim.x * blockDim.x) >> 5);
	for (int32_t r = warp; r < rows; r += nwarps) {
		int32_t base = r * inner;
		float v[NPL], m = 0, var = 0;
#pragma unroll
		for (int j = 0; j < NPL; j++) {
			int i = lane + 32 * j;
			v[j] = i < inner ? cu_ldf<XT>(x, base + i) : 0;
			if (i < inner)
				m += v[j];
		}
		m = warp_sum(m) / (float)inner;
#pragma unroll
		for (int j = 0; j < NPL; j++)
			if (lane + 32 * j < inner) {
				float d = v[j] - m;
				var += d * d;
			}
		var = warp_sum(var) / (float)inner;
		float iv = 1.0f / sqrtf(var + eps);
#pragma unroll
		for (int j = 0; j < NPL; j++) {
			int i = lane + 32 * j;
			if (i < inner)
				cu_stf<YT>(y, base + i, (v[j] - m) * iv * scale[i] + (bias ? bias[i] : 0.0f));
		}
	}
}

template <int NPL>
static bool layer_norm_warp_types(cudaStream_t st, const void *x, int xt, void *y, int yt, const float *s,
                                  const float *b, int64_t rows, int64_t inner, float eps)
{
	unsigned blocks = cu_blocks(rows * 32, 256);
#define LNW(X, Y)                                                                                           \
	if (xt == X && yt == Y) {                                                                           \
		k_layer_norm_warp<NPL, X, Y><<<blocks, 256, 0, st>>>(x, y, s, b, (int32_t)rows, (int)inner, eps); \
		return true;                                                                                \
	}
	LNW(MP_F32, MP_F32) LNW(MP_F32, MP_BF16) LNW(MP_F32, MP_F16) LNW(MP_BF16, MP_BF16) LNW(MP_F16, MP_F16)
	LNW(MP_BF16, MP_F32) LNW(MP_F16, MP_F32)
#undef LNW
	return false;
}

/* The register-resident LayerNormalization where the row fits and the
 * types are the common ones. */
static bool layer_norm_warp(cudaStream_t st, const void *x, int xt, void *y, int yt, const float *s,
                            const float *b, int64_t rows, int64_t inner, float eps)
{
	if (rows * inner > INT32_MAX)
		return false;
	if (inner <= 128)
		return layer_norm_warp_types<4>(st, x, xt, y, yt, s, b, rows, inner, eps);
	if (inner <= 384)
		return layer_norm_warp_types<12>(st, x, xt, y, yt, s, b, rows, inner, eps);
	if (inner <= 1024)
		return layer_norm_warp_types<32>(st, x, xt, y, yt, s, b, rows, inner, eps);
	return false;
}

static enum mp_status layer_like(struct cu_ctx *cx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_norm_params *p = (const struct mp_norm_params *)c->params;
	const struct mp_tensor *X = c->in[0];
	bool rms = c->op == MP_OP_RMS_NORMALIZATION;
	const struct mp_tensor *S = c->in[1], *B = !rms && c->ninputs > 2 ? c->in[2] : NULL;
	int axis = p->axis_resolved, nd = X->ndim - axis;
	int64_t outer, inner;
	const float *s, *b;
	void *so, *bo;
	enum mp_status st;

	mp_view_axis_rows(X, axis, &outer, &inner);
	if (!outer || !inner)
		return MP_OK;
	if ((st = param_f32(cx, S, nd, X->shape + axis, &s, &so, e)))
		return st;
	if ((st = param_f32(cx, B, nd, X->shape + axis, &b, &bo, e))) {
		cu_scratch_free(cx, so);
		return st;
	}
	struct mp_tensor *mo = c->noutputs > 1 ? c->out[1] : NULL, *io = c->noutputs > 2 ? c->out[2] : NULL;
	unsigned blocks = cu_blocks(outer * 32, 256);
	if (!rms && !mo && !io &&
	    layer_norm_warp(cx->stream, X->data, X->dtype, c->out[0]->data, c->out[0]->dtype, s, b, outer, inner,
	                    p->epsilon)) {
		/* launched */
	} else if (X->dtype == MP_F64)
		(rms ? k_layer_norm<double, true> : k_layer_norm<double, false>)<<<blocks, 256, 0, cx->stream>>>(
			X->data, X->dtype, c->out[0]->data, c->out[0]->dtype, s, b, mo ? mo->data : NULL,
			mo ? mo->dtype : 0, io ? io->data : NULL, io ? io->dtype : 0, outer, inner, p->epsilon);
	else
		(rms ? k_layer_norm<float, true> : k_layer_norm<float, false>)<<<blocks, 256, 0, cx->stream>>>(
			X->data, X->dtype, c->out[0]->data, c->out[0]->dtype, s, b, mo ? mo->data : NULL,
			mo ? mo->dtype : 0, io ? io->data : NULL, io ? io->dtype : 0, outer, inner, p->epsilon);
	cu_scratch_free(cx, so);
	cu_scratch_free(cx, bo);
	CU_LAUNCHED(mp_op_name(c->op));
	return MP_OK;
}

/* ---- block sums in f64 ---- */

__device__ __forceinline__ double block_sum(double v, double *sh)
{
	int t = threadIdx.x;
	sh[t] = v;
	__syncthreads();
	for (int s = blockDim.x / 2; s > 0; s >>= 1) {
		if (t < s)
			sh[t] += sh[t + s];
		__syncthreads();
	}
	double r = sh[0];
	__syncthreads();
	return r;
}

/* ---- BatchNormalization with given statistics: elementwise ---- */

__global__ void k_batch_norm(const void *x, int xt, void *y, int yt, const void *scale, int st_, const void *bias,
                             int bt, const void *mean, int mt, const void *var, int vt, int64_t N, int64_t C,
                             int64_t S, double eps)
{
	CU_FOR(i, N * C * S) {
		int64_t ch = (i / S) % C;
		double iv = 1 / sqrt(cu_ld_f64(var, ch, vt) + eps);
		double r = (cu_ld_f64(x, i, xt) - cu_ld_f64(mean, ch, mt)) * iv * cu_ld_f64(scale, ch, st_) +
		           cu_ld_f64(bias, ch, bt);
		cu_st_f64(y, i, yt, r);
	}
}

/* BatchNormalization in training mode: a block per channel; the running
 * statistics move toward the batch's by (1 - momentum). */
__global__ void k_batch_norm_train(const void *x, int xt, void *y, int yt, const void *scale, int st_,
                                   const void *bias, int bt, const void *mean, int mt, const void *var, int vt,
                                   void *mean_out, int mot, void *var_out, int vot, int64_t N, int64_t C, int64_t S,
                                   double eps, double momentum)
{
	__shared__ double sh[256];
	for (int64_t ch = blockIdx.x; ch < C; ch += gridDim.x) {
		double cnt = (double)(N * S), m = 0, v = 0;
		for (int64_t j = threadIdx.x; j < N * S; j += blockDim.x)
			m += cu_ld_f64(x, ((j / S) * C + ch) * S + j % S, xt);
		m = block_sum(m, sh) / (cnt ? cnt : 1);
		for (int64_t j = threadIdx.x; j < N * S; j += blockDim.x) {
			double d = cu_ld_f64(x, ((j / S) * C + ch) * S + j % S, xt) - m;
			v += d * d;
		}
		v = block_sum(v, sh) / (cnt ? cnt : 1);
		double iv = 1 / sqrt(v + eps), sc = cu_ld_f64(scale, ch, st_), bi = cu_ld_f64(bias, ch, bt);
		for (int64_t j = threadIdx.x; j < N * S; j += blockDim.x) {
			int64_t at = ((j / S) * C + ch) * S + j % S;
			cu_st_f64(y, at, yt, (cu_ld_f64(x, at, xt) - m) * iv * sc + bi);
		}
		if (threadIdx.x == 0) {
			if (mean_out)
				cu_st_f64(mean_out, ch, mot, cu_ld_f64(mean, ch, mt) * momentum + m * (1 - momentum));
			if (var_out)
				cu_st_f64(var_out, ch, vot, cu_ld_f64(var, ch, vt) * momentum + v * (1 - momentum));
		}
		__syncthreads();
	}
}

/* InstanceNormalization (G = C) and GroupNormalization: a block per
 * (sample, group); GroupNormalization-18 scales per group, -21 per channel. */
__global__ void k_group_norm(const void *x, int xt, void *y, int yt, const void *scale, int st_, const void *bias,
                             int bt, int64_t N, int64_t C, int64_t S, int64_t G, double eps, bool per_group)
{
	__shared__ double sh[256];
	int64_t cg = C / G, cnt = cg * S;
	for (int64_t ng = blockIdx.x; ng < N * G; ng += gridDim.x) {
		int64_t n = ng / G, g = ng - n * G, base = (n * C + g * cg) * S;
		double m = 0, v = 0;
		for (int64_t j = threadIdx.x; j < cnt; j += blockDim.x)
			m += cu_ld_f64(x, base + j, xt);
		m = block_sum(m, sh) / (double)(cnt ? cnt : 1);
		for (int64_t j = threadIdx.x; j < cnt; j += blockDim.x) {
			double d = cu_ld_f64(x, base + j, xt) - m;
			v += d * d;
		}
		v = block_sum(v, sh) / (double)(cnt ? cnt : 1);
		double iv = 1 / sqrt(v + eps);
		for (int64_t j = threadIdx.x; j < cnt; j += blockDim.x) {
			int64_t ch = g * cg + j / S, si = per_group ? g : ch;
			cu_st_f64(y, base + j, yt,
			          (cu_ld_f64(x, base + j, xt) - m) * iv * cu_ld_f64(scale, si, st_) + cu_ld_f64(bias, si, bt));
		}
	}
}

static enum mp_status channel_norm(struct cu_ctx *cx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_norm_params *p = (const struct mp_norm_params *)c->params;
	const struct mp_tensor *X = c->in[0], *Sc = c->in[1], *Bi = c->in[2];
	struct mp_tensor *Y = c->out[0];
	int64_t N = X->shape[0], C = X->shape[1], S = 1;
	for (int d = 2; d < X->ndim; d++)
		S *= X->shape[d];
	if (!N || !C || !S)
		return MP_OK;
	for (int k = 1; k < c->ninputs; k++)
		if (c->in[k] && !mp_tensor_is_contiguous(c->in[k]))
			return mp_error_set(e, MP_ERR_INTERNAL, "%s: a parameter is not contiguous", mp_op_name(c->op));
	if (c->op == MP_OP_BATCH_NORMALIZATION) {
		const struct mp_tensor *M = c->in[3], *V = c->in[4];
		if (p->training) {
			struct mp_tensor *mo = c->noutputs > 1 ? c->out[1] : NULL, *vo = c->noutputs > 2 ? c->out[2] : NULL;
			unsigned blocks = C > 65535 ? 65535 : (unsigned)C;
			k_batch_norm_train<<<blocks, 256, 0, cx->stream>>>(
				X->data, X->dtype, Y->data, Y->dtype, Sc->data, Sc->dtype, Bi->data, Bi->dtype, M->data, M->dtype,
				V->data, V->dtype, mo ? mo->data : NULL, mo ? mo->dtype : 0, vo ? vo->data : NULL,
				vo ? vo->dtype : 0, N, C, S, p->epsilon, p->momentum);
		} else {
			k_batch_norm<<<cu_blocks(N * C * S, 256), 256, 0, cx->stream>>>(
				X->data, X->dtype, Y->data, Y->dtype, Sc->data, Sc->dtype, Bi->data, Bi->dtype, M->data, M->dtype,
				V->data, V->dtype, N, C, S, p->epsilon);
		}
	} else {
		int64_t G = c->op == MP_OP_GROUP_NORMALIZATION ? p->num_groups : C;
		bool per_group = p->legacy_group_scale && c->op == MP_OP_GROUP_NORMALIZATION;
		int64_t blocks = N * G > 65535 * 8 ? 65535 * 8 : N * G;
		k_group_norm<<<(unsigned)blocks, 256, 0, cx->stream>>>(X->data, X->dtype, Y->data, Y->dtype, Sc->data,
		                                                        Sc->dtype, Bi->data, Bi->dtype, N, C, S, G,
		                                                        p->epsilon, per_group);
	}
	CU_LAUNCHED(mp_op_name(c->op));
	return MP_OK;
}

/* ---- MeanVarianceNormalization over a set of axes, LpNormalization along
 * one: a block per group of the dims not normalised ---- */

struct axes_geom {
	int nk, nr;
	int64_t kshape[MP_MAX_DIMS], kstride[MP_MAX_DIMS];
	int64_t rshape[MP_MAX_DIMS], rstride[MP_MAX_DIMS];
	int64_t groups, count;
};

__device__ __forceinline__ int64_t ax_off(int n, const int64_t *shape, const int64_t *stride, int64_t i)
{
	int64_t off = 0;
	for (int d = n - 1; d >= 0; d--) {
		int64_t q = i / shape[d];
		off += (i - q * shape[d]) * stride[d];
		i = q;
	}
	return off;
}

__global__ void k_axes_norm(axes_geom g, const void *x, int xt, void *y, int yt, bool lp, int64_t p)
{
	__shared__ double sh[256];
	for (int64_t grp = blockIdx.x; grp < g.groups; grp += gridDim.x) {
		int64_t base = ax_off(g.nk, g.kshape, g.kstride, grp);
		double s1 = 0, s2 = 0;
		for (int64_t j = threadIdx.x; j < g.count; j += blockDim.x) {
			double v = cu_ld_f64(x, base + ax_off(g.nr, g.rshape, g.rstride, j), xt);
			s1 += lp && p == 1 ? fabs(v) : v;
			s2 += v * v;
		}
		s1 = block_sum(s1, sh);
		s2 = block_sum(s2, sh);
		for (int64_t j = threadIdx.x; j < g.count; j += blockDim.x) {
			int64_t at = base + ax_off(g.nr, g.rshape, g.rstride, j);
			double v = cu_ld_f64(x, at, xt), r;
			if (lp) {
				double norm = p == 1 ? s1 : sqrt(s2);
				r = norm == 0 ? 0 : v / norm;
			} else {
				double m = s1 / (double)g.count, var = s2 / (double)g.count - m * m;
				r = (v - m) / (sqrt(var > 0 ? var : 0) + 1e-9);
			}
			cu_st_f64(y, at, yt, r);
		}
	}
}

static enum mp_status axes_norm(struct cu_ctx *cx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_norm_params *p = (const struct mp_norm_params *)c->params;
	const struct mp_tensor *X = c->in[0];
	uint32_t mask = c->op == MP_OP_LP_NORMALIZATION ? 1u << p->axis_resolved : p->mask;
	axes_geom g;
	memset(&g, 0, sizeof g);
	g.groups = g.count = 1;
	if (!mp_tensor_is_contiguous(X))
		return mp_error_set(e, MP_ERR_INTERNAL, "%s: input is not contiguous", mp_op_name(c->op));
	for (int d = 0; d < X->ndim; d++) {
		if (mask & (1u << d)) {
			g.rshape[g.nr] = X->shape[d];
			g.rstride[g.nr++] = cu_estride(X, d);
			g.count *= X->shape[d];
		} else {
			g.kshape[g.nk] = X->shape[d];
			g.kstride[g.nk++] = cu_estride(X, d);
			g.groups *= X->shape[d];
		}
	}
	if (!g.groups || !g.count)
		return MP_OK;
	unsigned blocks = g.groups > 65535 * 8 ? 65535 * 8 : (unsigned)g.groups;
	k_axes_norm<<<blocks, 256, 0, cx->stream>>>(g, X->data, X->dtype, c->out[0]->data, c->out[0]->dtype,
	                                            c->op == MP_OP_LP_NORMALIZATION, p->p);
	CU_LAUNCHED(mp_op_name(c->op));
	return MP_OK;
}

/* ---- LRN ---- */

__global__ void k_lrn(const void *x, int xt, void *y, int yt, int64_t N, int64_t C, int64_t S, int64_t size,
                      double alpha, double beta, double bias)
{
	int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
	CU_FOR(i, N * C * S) {
		int64_t s = i % S, ch = (i / S) % C, n = i / (S * C);
		double sum = 0;
		for (int64_t k = ch - lo; k <= ch + hi; k++)
			if (k >= 0 && k < C) {
				double v = cu_ld_f64(x, (n * C + k) * S + s, xt);
				sum += v * v;
			}
		cu_st_f64(y, i, yt, cu_ld_f64(x, i, xt) / pow(bias + alpha / (double)size * sum, beta));
	}
}

extern "C" enum mp_status cu_norm(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_tensor *X = c->in[0];
	if (!mp_dtype_is_float(X->dtype) || !mp_dtype_computable(X->dtype))
		return cu_unsupported(c, X->dtype, e);
	if (!mp_tensor_is_contiguous(X))
		return mp_error_set(e, MP_ERR_INTERNAL, "%s: input is not contiguous", mp_op_name(c->op));
	switch (c->op) {
	case MP_OP_LAYER_NORMALIZATION:
	case MP_OP_RMS_NORMALIZATION:
		return layer_like(cx, c, e);
	case MP_OP_MEAN_VARIANCE_NORMALIZATION:
	case MP_OP_LP_NORMALIZATION:
		return axes_norm(cx, c, e);
	case MP_OP_LRN: {
		const struct mp_norm_params *p = (const struct mp_norm_params *)c->params;
		int64_t N = X->shape[0], C = X->shape[1], S = 1;
		for (int d = 2; d < X->ndim; d++)
			S *= X->shape[d];
		if (!N || !C || !S)
			return MP_OK;
		k_lrn<<<cu_blocks(N * C * S, 256), 256, 0, cx->stream>>>(X->data, X->dtype, c->out[0]->data,
		                                                          c->out[0]->dtype, N, C, S, p->size, p->alpha,
		                                                          p->beta, p->bias);
		CU_LAUNCHED("LRN");
		return MP_OK;
	}
	default:
		return channel_norm(cx, c, e);
	}
}
