/* conv.cu - Conv and ConvTranspose for any number of spatial dims, and the
 * pools, on the GPU.  Conv is im2col + a strided-batched cuBLAS GEMM per
 * group (batches in chunks that bound the column buffer); with a bias and
 * a bf16/f16 output, the GEMM writes f32 and bias and rounding are one
 * step, as the CPU reference's single rounding.  ConvTranspose is a GEMM
 * into columns and a gathering col2im (each output sums what lands on it:
 * no atomics, the same result every run). */
#include <math.h>

#include "cu.cuh"
#include "conv_geom.h"

/* Column buffers past this many bytes are split over the batch. */
#define COL_BYTES ((size_t)256 << 20)

/* col[(n, c, kf), j] = x[n, c, position of output j under kernel offset kf]
 * for `cg` channels starting at c0 of each of nn samples.  I: the index
 * arithmetic, int32_t where every index fits (im2col_small): a 64-bit
 * division is ~4x a 32-bit one, and an element takes ten (the patch
 * embedding of a ViT at batch 32: 94 us in int64_t). */
template <typename T, typename I>
__global__ void k_im2col(mp_conv_geom g, const T *x, int64_t C, int64_t c0, int64_t cg, int64_t nn, T *col)
{
	const I ksz = (I)g.k_size, osz = (I)g.out_size, rows = (I)(cg * g.k_size), total = (I)(nn * rows * osz);
	for (I idx = (I)(blockIdx.x * blockDim.x + threadIdx.x); idx < total; idx += (I)(blockDim.x * gridDim.x)) {
		I j = idx % osz, r = (idx / osz) % rows, n = idx / (osz * rows);
		I ch = r / ksz, kf = r - ch * ksz;
		I off = 0, jo = j, ko = kf;
		I pos[MP_MAX_SPATIAL];
		bool inside = true;
		for (int d = g.ns - 1; d >= 0; d--) {
			I od = jo % (I)g.out[d], kd = ko % (I)g.k[d];
			jo /= (I)g.out[d];
			ko /= (I)g.k[d];
			pos[d] = od * (I)g.stride[d] - (I)g.pad[d] + kd * (I)g.dil[d];
			inside &= pos[d] >= 0 && pos[d] < (I)g.in[d];
		}
		if (inside)
			for (int d = 0; d < g.ns; d++)
				off = off * (I)g.in[d] + pos[d];
		col[idx] = inside ? x[((int64_t)n * C + c0 + ch) * g.in_size + off] : (T)0;
	}
}

/* int32_t indices hold: the column block, the samples read and every
 * position a kernel offset reaches */
static bool im2col_small(const mp_conv_geom &g, int64_t total, int64_t x_elems)
{
	const int64_t lim = (int64_t)1 << 30;
	if (total >= lim || x_elems >= lim)
		return false;
	for (int d = 0; d < g.ns; d++)
		if (g.out[d] * g.stride[d] + g.k[d] * g.dil[d] + g.pad[d] >= lim)
			return false;
	return true;
}

template <typename T>
static void im2col_launch(cudaStream_t st, const mp_conv_geom &g, const void *x, int64_t C, int64_t c0, int64_t cg,
                          int64_t nn, void *col)
{
	int64_t total = nn * cg * g.k_size * g.out_size;
	unsigned blocks = cu_blocks(total, 256);
	if (im2col_small(g, total, nn * C * g.in_size))
		k_im2col<T, int32_t><<<blocks, 256, 0, st>>>(g, (const T *)x, C, c0, cg, nn, (T *)col);
	else
		k_im2col<T, int64_t><<<blocks, 256, 0, st>>>(g, (const T *)x, C, c0, cg, nn, (T *)col);
}

/* o[n, m, q] = round(y[n, m, q] + b[m]) */
__global__ void k_bias(const void *y, int yt, const void *b, int bt, void *o, int ot, int64_t N, int64_t M, int64_t Q)
{
	CU_FOR(i, N * M * Q) {
		int64_t m = (i / Q) % M;
		if (ot == MP_F64)
			cu_st_f64(o, i, ot, cu_ld_f64(y, i, yt) + (b ? cu_ld_f64(b, m, bt) : 0.0));
		else
			cu_st_f32(o, i, ot, cu_ld_f32(y, i, yt) + (b ? cu_ld_f32(b, m, bt) : 0.0f));
	}
}

/* ConvTranspose: out[n, m, p] = sum over kernel offsets kf and the input
 * position i with i*stride - pad + kf*dil = p of col[n, (m, kf), i]. */
__global__ void k_col2im(mp_conv_geom g, const float *col, const void *b, int bt, void *o, int ot, int64_t nn,
                         int64_t M, int64_t m0, int64_t mg, int64_t n0)
{
	int64_t total = nn * mg * g.out_size;
	CU_FOR(idx, total) {
		int64_t q = idx % g.out_size, m = (idx / g.out_size) % mg, n = idx / (g.out_size * mg);
		float acc = 0;
		for (int64_t kf = 0; kf < g.k_size; kf++) {
			int64_t qo = q, ko = kf, ipos = 0, mul = 1;
			bool ok = true;
			for (int d = g.ns - 1; d >= 0; d--) {
				int64_t pd = qo % g.out[d], kd = ko % g.k[d];
				qo /= g.out[d];
				ko /= g.k[d];
				int64_t t = pd + g.pad[d] - kd * g.dil[d];
				if (t < 0 || t % g.stride[d]) {
					ok = false;
					break;
				}
				int64_t id = t / g.stride[d];
				if (id >= g.in[d]) {
					ok = false;
					break;
				}
				ipos += id * mul;
				mul *= g.in[d];
			}
			if (ok)
				acc += col[((n * mg + m) * g.k_size + kf) * g.in_size + ipos];
		}
		int64_t at = ((n0 + n) * M + m0 + m) * g.out_size + q;
		if (b)
			acc += cu_ld_f32(b, m0 + m, bt);
		cu_st_f32(o, at, ot, acc);
	}
}

static enum mp_status conv_forward(struct cu_ctx *cx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_conv_params *p = (const struct mp_conv_params *)c->params;
	const struct mp_tensor *X = c->in[0], *W = c->in[1];
	const struct mp_tensor *B = c->ninputs > 2 ? c->in[2] : NULL;
	struct mp_tensor *O = c->out[0];
	int64_t N = X->shape[0], C = X->shape[1], G = p->group, M = O->shape[1];
	int64_t Cg = C / G, Mg = M / G;
	size_t es = mp_dtype_size(X->dtype);
	mp_conv_geom g;
	enum mp_status st = MP_OK;

	mp_conv_geom_init(&g, p, X->shape + 2, O->shape + 2);
	int64_t rows = Cg * g.k_size;
	/* the GEMM writes f32 where a bias must join before the rounding */
	bool via_f32 = B && (O->dtype == MP_BF16 || O->dtype == MP_F16);
	void *y = O->data, *col = NULL;
	if (via_f32 && (st = cu_scratch(cx, (size_t)mp_tensor_numel(O) * 4, &y, e)))
		return st;
	int64_t per = (int64_t)(COL_BYTES / ((size_t)rows * (size_t)g.out_size * es + 1));
	per = per < 1 ? 1 : per > N ? N : per;
	if ((st = cu_scratch(cx, (size_t)per * (size_t)rows * (size_t)g.out_size * es, &col, e)))
		goto out;
	for (int64_t n0 = 0; n0 < N && !st; n0 += per) {
		int64_t nn = N - n0 < per ? N - n0 : per;
		for (int64_t gi = 0; gi < G && !st; gi++) {
			const char *xn = (const char *)X->data + (size_t)(n0 * C * g.in_size) * es;
			switch (es) {
			case 2: im2col_launch<uint16_t>(cx->stream, g, xn, C, gi * Cg, Cg, nn, col); break;
			case 4: im2col_launch<uint32_t>(cx->stream, g, xn, C, gi * Cg, Cg, nn, col); break;
			default: im2col_launch<uint64_t>(cx->stream, g, xn, C, gi * Cg, Cg, nn, col); break;
			}
			if (cudaPeekAtLastError() != cudaSuccess) {
				st = cu_fail(cudaGetLastError(), "Conv: im2col", e);
				break;
			}
			/* y[n, g] [Mg, out] = W_g [Mg, rows] x col[n] [rows, out], per sample */
			struct cu_gemm_desc gd;
			memset(&gd, 0, sizeof gd);
			gd.m = Mg;
			gd.n = g.out_size;
			gd.k = rows;
			gd.batch = nn;
			gd.a = (const char *)W->data + (size_t)(gi * Mg * rows) * es;
			gd.b = col;
			gd.c = (char *)y + (size_t)((n0 * M + gi * Mg) * g.out_size) * (via_f32 ? 4 : es);
			gd.at = gd.bt = X->dtype;
			gd.ct = via_f32 ? MP_F32 : O->dtype;
			gd.lda = rows;
			gd.ldb = g.out_size;
			gd.ldc = g.out_size;
			gd.sa = 0;
			gd.sb = rows * g.out_size;
			gd.sc = M * g.out_size;
			gd.alpha = 1;
			st = cu_gemm_run(cx, &gd, e);
		}
	}
	if (!st && B) {
		int64_t Q = g.out_size;
		k_bias<<<cu_blocks(N * M * Q, 256), 256, 0, cx->stream>>>(y, via_f32 ? MP_F32 : O->dtype, B->data, B->dtype,
		                                                           O->data, O->dtype, N, M, Q);
		if (cudaPeekAtLastError() != cudaSuccess)
			st = cu_fail(cudaGetLastError(), "Conv: bias", e);
	}
out:
	cu_scratch_free(cx, col);
	if (via_f32)
		cu_scratch_free(cx, y);
	return st;
}

static enum mp_status conv_transpose(struct cu_ctx *cx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_conv_params *p = (const struct mp_conv_params *)c->params;
	const struct mp_tensor *X = c->in[0], *W = c->in[1];
	const struct mp_tensor *B = c->ninputs > 2 ? c->in[2] : NULL;
	struct mp_tensor *O = c->out[0];
	int64_t N = X->shape[0], C = X->shape[1], G = p->group, M = O->shape[1];
	int64_t Cg = C / G, Mg = M / G;
	size_t es = mp_dtype_size(X->dtype);
	mp_conv_geom g;
	enum mp_status st = MP_OK;
	void *col = NULL;

	if (X->dtype == MP_F64)
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "the CUDA backend has no ConvTranspose kernel for float64");
	mp_conv_geom_init(&g, p, X->shape + 2, O->shape + 2);
	int64_t rows = Mg * g.k_size;
	int64_t per = (int64_t)(COL_BYTES / ((size_t)rows * (size_t)g.in_size * 4 + 1));
	per = per < 1 ? 1 : per > N ? N : per;
	if ((st = cu_scratch(cx, (size_t)per * (size_t)rows * (size_t)g.in_size * 4, &col, e)))
		return st;
	for (int64_t n0 = 0; n0 < N && !st; n0 += per) {
		int64_t nn = N - n0 < per ? N - n0 : per;
		for (int64_t gi = 0; gi < G && !st; gi++) {
			/* col[n] [Mg*K, in] = W_g^T [Mg*K, Cg] x X[n, g] [Cg, in] */
			struct cu_gemm_desc gd;
			memset(&gd, 0, sizeof gd);
			gd.ta = true;
			gd.m = rows;
			gd.n = g.in_size;
			gd.k = Cg;
			gd.batch = nn;
			gd.a = (const char *)W->data + (size_t)(gi * Cg * rows) * es;
			gd.b = (const char *)X->data + (size_t)((n0 * C + gi * Cg) * g.in_size) * es;
			gd.c = col;
			gd.at = gd.bt = X->dtype;
			gd.ct = MP_F32;
			gd.lda = rows;
			gd.ldb = g.in_size;
			gd.ldc = g.in_size;
			gd.sa = 0;
			gd.sb = C * g.in_size;
			gd.sc = rows * g.in_size;
			gd.alpha = 1;
			if (X->dtype == MP_F32 || X->dtype == MP_BF16 || X->dtype == MP_F16)
				st = cu_gemm_run(cx, &gd, e);
			else
				st = mp_error_set(e, MP_ERR_UNSUPPORTED, "the CUDA backend has no ConvTranspose kernel for %s",
				                  mp_dtype_name(X->dtype));
			if (st)
				break;
			int64_t total = nn * Mg * g.out_size;
			k_col2im<<<cu_blocks(total, 256), 256, 0, cx->stream>>>(g, (const float *)col, B ? B->data : NULL,
			                                                         B ? B->dtype : 0, O->data, O->dtype, nn, M,
			                                                         gi * Mg, Mg, n0);
			if (cudaPeekAtLastError() != cudaSuccess)
				st = cu_fail(cudaGetLastError(), "ConvTranspose: col2im", e);
		}
	}
	cu_scratch_free(cx, col);
	return st;
}

extern "C" enum mp_status cu_conv(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_tensor *X = c->in[0];
	if (!mp_dtype_is_float(X->dtype) || !mp_dtype_computable(X->dtype))
		return cu_unsupported(c, X->dtype, e);
	if (!mp_tensor_is_contiguous(X) || !mp_tensor_is_contiguous(c->in[1]))
		return mp_error_set(e, MP_ERR_INTERNAL, "%s: an operand is not contiguous", mp_op_name(c->op));
	if (!mp_tensor_numel(c->out[0]))
		return MP_OK;
	return c->op == MP_OP_CONV_TRANSPOSE ? conv_transpose(cx, c, e) : conv_forward(cx, c, e);
}

/* ---- pools: one thread per output element (the CPU's loop) ---- */

struct pool_geom {
	int ns;
	int64_t in[MP_MAX_SPATIAL], out[MP_MAX_SPATIAL], k[MP_MAX_SPATIAL];
	int64_t stride[MP_MAX_SPATIAL], dil[MP_MAX_SPATIAL], pad_begin[MP_MAX_SPATIAL], pad_end[MP_MAX_SPATIAL];
	int64_t in_size, out_size, k_size, planes;
	int64_t p;
	bool is_max, is_lp, is_int, count_include_pad, col_major;
	int xt, ot;
};

__global__ void k_pool(pool_geom g, const void *x, void *o, int64_t *ix)
{
	CU_FOR(at, g.planes * g.out_size) {
		int64_t pl = at / g.out_size, of = at - pl * g.out_size;
		int64_t oidx[MP_MAX_SPATIAL], rem = of;
		for (int d = g.ns - 1; d >= 0; d--) {
			oidx[d] = rem % g.out[d];
			rem /= g.out[d];
		}
		int64_t padded = 1;
		for (int d = 0; d < g.ns; d++) {
			int64_t start = oidx[d] * g.stride[d] - g.pad_begin[d], n = 0;
			for (int64_t k = 0; k < g.k[d]; k++)
				n += start + k * g.dil[d] < g.in[d] + g.pad_end[d];
			padded *= n;
		}
		double acc = g.is_max ? -INFINITY : 0;
		int64_t acci = INT64_MIN, best = -1, count = 0;
		bool nan = false;
		for (int64_t kf = 0; kf < g.k_size; kf++) {
			int64_t off = 0, colmaj = 0, mul = 1, kr = kf;
			int64_t kidx[MP_MAX_SPATIAL];
			for (int d = g.ns - 1; d >= 0; d--) {
				kidx[d] = kr % g.k[d];
				kr /= g.k[d];
			}
			bool inside = true;
			for (int d = 0; d < g.ns; d++) {
				int64_t pos = oidx[d] * g.stride[d] - g.pad_begin[d] + kidx[d] * g.dil[d];
				if (pos < 0 || pos >= g.in[d]) {
					inside = false;
					break;
				}
				off = off * g.in[d] + pos;
				colmaj += pos * mul;
				mul *= g.in[d];
			}
			if (!inside)
				continue;
			count++;
			if (g.is_int) {
				int64_t v = cu_ld_i64(x, pl * g.in_size + off, g.xt);
				if (v > acci || best < 0) {
					acci = v;
					best = g.col_major ? colmaj : off;
				}
				continue;
			}
			double v = cu_ld_f64(x, pl * g.in_size + off, g.xt);
			if (g.is_max) {
				if (v != v)
					nan = true;
				if (v > acc || best < 0) {
					acc = v;
					best = g.col_major ? colmaj : off;
				}
			} else if (g.is_lp) {
				acc += pow(fabs(v), (double)g.p);
			} else {
				acc += v;
			}
		}
		if (g.is_int)
			cu_st_i64(o, at, g.ot, acci);
		else if (g.is_max)
			cu_st_f64(o, at, g.ot, nan ? (double)NAN : acc);
		else if (g.is_lp)
			cu_st_f64(o, at, g.ot, pow(acc, 1.0 / (double)g.p));
		else {
			int64_t div = g.count_include_pad ? padded : count;
			cu_st_f64(o, at, g.ot, div ? acc / (double)div : (double)NAN);
		}
		if (ix)
			ix[at] = best < 0 ? 0 : pl * g.in_size + best;
	}
}

extern "C" enum mp_status cu_pool(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_pool_params *p = (const struct mp_pool_params *)c->params;
	const struct mp_tensor *X = c->in[0];
	struct mp_tensor *O = c->out[0], *I = c->noutputs > 1 ? c->out[1] : NULL;
	pool_geom g;
	if (!mp_dtype_computable(X->dtype))
		return cu_unsupported(c, X->dtype, e);
	if (!mp_tensor_is_contiguous(X))
		return mp_error_set(e, MP_ERR_INTERNAL, "%s: input is not contiguous", mp_op_name(c->op));
	memset(&g, 0, sizeof g);
	g.ns = p->nspatial;
	g.in_size = g.out_size = g.k_size = 1;
	for (int d = 0; d < g.ns; d++) {
		g.in[d] = X->shape[2 + d];
		g.out[d] = O->shape[2 + d];
		g.k[d] = p->k[d];
		g.stride[d] = p->stride[d];
		g.dil[d] = p->dilation[d];
		g.pad_begin[d] = p->pad_begin[d];
		g.pad_end[d] = p->pad_end[d];
		g.in_size *= g.in[d];
		g.out_size *= g.out[d];
		g.k_size *= g.k[d];
	}
	g.planes = X->shape[0] * X->shape[1];
	g.p = p->p;
	g.is_max = c->op == MP_OP_MAX_POOL || c->op == MP_OP_GLOBAL_MAX_POOL;
	g.is_lp = c->op == MP_OP_LP_POOL || c->op == MP_OP_GLOBAL_LP_POOL;
	g.is_int = !mp_dtype_is_float(X->dtype);
	g.count_include_pad = p->count_include_pad;
	g.col_major = p->storage_order != 0;
	g.xt = X->dtype;
	g.ot = O->dtype;
	if (!g.planes || !g.out_size)
		return MP_OK;
	k_pool<<<cu_blocks(g.planes * g.out_size, 128), 128, 0, cx->stream>>>(g, X->data, O->data,
	                                                                       I ? (int64_t *)I->data : NULL);
	CU_LAUNCHED(mp_op_name(c->op));
	return MP_OK;
}
