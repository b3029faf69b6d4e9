/* gemm.cu - MatMul (batched, broadcasting, numpy's 1-D rules), Gemm and
 * Einsum on the GPU.  Float GEMMs go through cuBLAS: bf16/f16 operands with
 * fp32 accumulation and one rounding of the fp32 result to the output's
 * type (as PyTorch), fp32 in true fp32 unless TF32 was asked for, f64 in
 * f64; batches as one strided-batched call where the batch dims allow it.
 * Integer products (rare) run a plain kernel that wraps like the CPU's. */
#include <stddef.h>

#include "cu.cuh"
#include "matmul_plan.h"

static cudaDataType_t cuda_type(enum mp_dtype t)
{
	switch (t) {
	case MP_F32: return CUDA_R_32F;
	case MP_F64: return CUDA_R_64F;
	case MP_F16: return CUDA_R_16F;
	case MP_BF16: return CUDA_R_16BF;
	default: return CUDA_R_32F;
	}
}

/* C = alpha A B + beta C for integer types: one thread per element. */
__global__ void k_gemm_int(cu_gemm_desc g)
{
	CU_FOR(idx, g.batch * g.m * g.n) {
		int64_t b = idx / (g.m * g.n), r = idx - b * g.m * g.n, i = r / g.n, j = r - i * g.n;
		uint64_t s = 0;
		for (int64_t p = 0; p < g.k; p++) {
			int64_t ai = g.ta ? p * g.lda + i : i * g.lda + p;
			int64_t bi = g.tb ? j * g.ldb + p : p * g.ldb + j;
			s += (uint64_t)cu_ld_i64(g.a, b * g.sa + ai, g.at) * (uint64_t)cu_ld_i64(g.b, b * g.sb + bi, g.bt);
		}
		int64_t ci = b * g.sc + i * g.ldc + j;
		int64_t v = (int64_t)g.alpha * (int64_t)s;
		if (g.beta != 0)
			v += (int64_t)g.beta * cu_ld_i64(g.c, ci, g.ct);
		cu_st_i64(g.c, ci, g.ct, v);
	}
}

/* ---- bf16/f16 operands that are not 16-byte aligned ----
 *
 * cuBLAS's tensor-core kernels move 16-byte vectors along an operand's
 * contiguous dim: one whose extent, leading dim or address is not a
 * multiple of 8 elements (attention over 257 tokens: 257 x 257 scores)
 * sends the whole GEMM to kernels several times slower.  Such a GEMM runs
 * as a padded one instead: the contiguous extents (k of A, n of B and C,
 * and m where A is transposed) rounded up to 8, unaligned operands copied
 * in with zeros around them, and an unaligned result computed padded and
 * copied out.  Zero rows and columns add exact zeros to every dot product,
 * so only the summation blocking can differ from the unpadded call. */

static int64_t round8(int64_t v)
{
	return (v + 7) & ~(int64_t)7;
}

/* A matrix in device memory: nb of rows x cols, row pitch ld and batch
 * stride bs (elements; bs 0: one shared by every batch). */
struct cu_mat {
	const void *p;
	int64_t rows, cols, ld, bs;
};

static bool fits(const struct cu_mat *m, int64_t rows, int64_t cols, size_t es)
{
	return m->rows == rows && m->cols == cols && (uintptr_t)m->p % 16 == 0 && (m->ld * (int64_t)es) % 16 == 0 &&
	       (m->bs * (int64_t)es) % 16 == 0;
}

/* dst[b, i, j] = src[b, i, j] inside src's rows x cols, 0 outside.  One
 * warp a destination row (no division per element), V elements a lane:
 * where the destination's rows are 16-byte aligned (a padded operand) a
 * lane stores 16 bytes at once; otherwise (a padded result copied out to
 * rows of odd length) lane k moves element k, so that a warp's stores stay
 * contiguous - 16-byte loads with stores 16 bytes apart measured 3x slower
 * (ncu, H100). */
template <typename T, int V>
__global__ void k_window(T *dst, int64_t dld, int64_t dbs, uint32_t drows, uint32_t dcols, const T *src, int64_t sld,
                         int64_t sbs, uint32_t srows, uint32_t scols, uint32_t nrows)
{
	uint32_t lane = threadIdx.x & 31, warps = (gridDim.x * blockDim.x) >> 5;
	for (uint32_t row = (blockIdx.x * blockDim.x + threadIdx.x) >> 5; row < nrows; row += warps) {
		uint32_t b = row / drows, i = row - b * drows;
		T *d = dst + b * dbs + i * dld;
		const T *s = src + b * sbs + i * sld;
		uint32_t n = i < srows ? (scols < dcols ? scols : dcols) : 0;
		for (uint32_t j0 = lane * V; j0 < dcols; j0 += 32 * V) {
			alignas(16) T v[V];
#pragma unroll
			for (int q = 0; q < V; q++)
				v[q] = j0 + q < n ? s[j0 + q] : T(0);
			if (V > 1) {
				*(uint4 *)(d + j0) = *(const uint4 *)v;
			} else {
#pragma unroll
				for (int q = 0; q < V; q++)
					if (j0 + q < dcols)
						d[j0 + q] = v[q];
			}
		}
	}
}

static bool aligned_rows(const void *p, int64_t ld, int64_t bs, int64_t cols, size_t es)
{
	return (uintptr_t)p % 16 == 0 && (ld * (int64_t)es) % 16 == 0 && (bs * (int64_t)es) % 16 == 0 &&
	       (cols * (int64_t)es) % 16 == 0;
}

template <typename T>
static void window_launch(cudaStream_t st, T *dst, int64_t dld, int64_t dbs, int64_t drows, int64_t dcols,
                          const struct cu_mat *src, int64_t nrows)
{
	const int V = 16 / sizeof(T);
	unsigned blocks = cu_blocks(nrows * 32, 256);
	const T *s = (const T *)src->p;
	uint32_t dr = (uint32_t)drows, dc = (uint32_t)dcols, sr = (uint32_t)src->rows, sc = (uint32_t)src->cols,
	         nr = (uint32_t)nrows;
	if (aligned_rows(dst, dld, dbs, dcols, sizeof(T)))
		k_window<T, V><<<blocks, 256, 0, st>>>(dst, dld, dbs, dr, dc, s, src->ld, src->bs, sr, sc, nr);
	else
		k_window<T, 1><<<blocks, 256, 0, st>>>(dst, dld, dbs, dr, dc, s, src->ld, src->bs, sr, sc, nr);
}

static enum mp_status window(struct cu_ctx *c, size_t es, int64_t nb, void *dst, int64_t dld, int64_t dbs,
                             int64_t drows, int64_t dcols, const struct cu_mat *src, struct mp_error *e)
{
	int64_t nrows = nb * drows;
	if (!nrows || !dcols)
		return MP_OK;
	if (nrows > INT32_MAX / 32 || dcols > INT32_MAX)
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "padding a GEMM operand of %lld rows", (long long)nrows);
	if (es == 2)
		window_launch<uint16_t>(c->stream, (uint16_t *)dst, dld, dbs, drows, dcols, src, nrows);
	else
		window_launch<uint32_t>(c->stream, (uint32_t *)dst, dld, dbs, drows, dcols, src, nrows);
	CU_LAUNCHED("padding a GEMM operand");
	return MP_OK;
}

/* The operand as the padded GEMM reads it: itself where it fits, else a
 * zero-padded copy of rows x cols (*tmp: scratch to free). */
static enum mp_status operand(struct cu_ctx *c, size_t es, int64_t batch, struct cu_mat *m, int64_t rows,
                              int64_t cols, void **tmp, struct mp_error *e)
{
	enum mp_status st;
	*tmp = NULL;
	if (fits(m, rows, cols, es))
		return MP_OK;
	int64_t nb = m->bs ? batch : 1, bs = m->bs ? rows * cols : 0;
	if ((st = cu_scratch(c, (size_t)(nb * rows * cols) * es, tmp, e)))
		return st;
	if ((st = window(c, es, nb, *tmp, cols, rows * cols, rows, cols, m, e))) {
		cu_scratch_free(c, *tmp);
		*tmp = NULL;
		return st;
	}
	*m = (struct cu_mat){ *tmp, rows, cols, cols, bs };
	return MP_OK;
}

static enum mp_status gemm_call(struct cu_ctx *ctx, const struct cu_gemm_desc *g, struct mp_error *e);

static bool needs_padding(const struct cu_gemm_desc *g)
{
	if ((g->at != MP_BF16 && g->at != MP_F16) || g->bt != g->at || mp_dtype_size(g->ct) > 4)
		return false;
	size_t es = mp_dtype_size(g->at), esc = mp_dtype_size(g->ct);
	int64_t m8 = g->ta ? round8(g->m) : g->m, n8 = round8(g->n), k8 = !g->ta || g->tb ? round8(g->k) : g->k;
	struct cu_mat a = { g->a, g->ta ? g->k : g->m, g->ta ? g->m : g->k, g->lda, g->sa };
	struct cu_mat b = { g->b, g->tb ? g->n : g->k, g->tb ? g->k : g->n, g->ldb, g->sb };
	struct cu_mat c = { g->c, g->m, g->n, g->ldc, g->sc };
	return !fits(&a, g->ta ? k8 : m8, g->ta ? m8 : k8, es) || !fits(&b, g->tb ? n8 : k8, g->tb ? k8 : n8, es) ||
	       !fits(&c, m8, n8, esc);
}

static enum mp_status gemm_padded(struct cu_ctx *ctx, const struct cu_gemm_desc *g, struct mp_error *e)
{
	size_t es = mp_dtype_size(g->at), esc = mp_dtype_size(g->ct);
	int64_t m8 = g->ta ? round8(g->m) : g->m, n8 = round8(g->n), k8 = !g->ta || g->tb ? round8(g->k) : g->k;
	struct cu_mat a = { g->a, g->ta ? g->k : g->m, g->ta ? g->m : g->k, g->lda, g->sa };
	struct cu_mat b = { g->b, g->tb ? g->n : g->k, g->tb ? g->k : g->n, g->ldb, g->sb };
	struct cu_mat c = { g->c, g->m, g->n, g->ldc, g->sc };
	void *ta = NULL, *tb = NULL, *tc = NULL;
	enum mp_status st;
	if ((st = operand(ctx, es, g->batch, &a, g->ta ? k8 : m8, g->ta ? m8 : k8, &ta, e)) ||
	    (st = operand(ctx, es, g->batch, &b, g->tb ? n8 : k8, g->tb ? k8 : n8, &tb, e)))
		goto out;
	if (!fits(&c, m8, n8, esc)) {
		/* beta != 0 reads C: it goes in padded as well */
		if (g->beta != 0) {
			if ((st = operand(ctx, esc, g->batch, &c, m8, n8, &tc, e)))
				goto out;
		} else {
			if ((st = cu_scratch(ctx, (size_t)(g->batch * m8 * n8) * esc, &tc, e)))
				goto out;
			c = (struct cu_mat){ tc, m8, n8, n8, m8 * n8 };
		}
	}
	{
		struct cu_gemm_desc p = *g;
		p.m = m8, p.n = n8, p.k = k8;
		p.a = a.p, p.lda = a.ld, p.sa = a.bs;
		p.b = b.p, p.ldb = b.ld, p.sb = b.bs;
		p.c = (void *)c.p, p.ldc = c.ld, p.sc = c.bs;
		if ((st = gemm_call(ctx, &p, e)))
			goto out;
	}
	if (tc)
		st = window(ctx, esc, g->batch, g->c, g->ldc, g->sc, g->m, g->n, &c, e);
out:
	cu_scratch_free(ctx, tc);
	cu_scratch_free(ctx, tb);
	cu_scratch_free(ctx, ta);
	return st;
}

enum mp_status cu_gemm_run(struct cu_ctx *ctx, const struct cu_gemm_desc *g, struct mp_error *e)
{
	if (g->m == 0 || g->n == 0 || g->batch == 0)
		return MP_OK;
	bool is_float = mp_dtype_is_float(g->at);
	if (!is_float) {
		k_gemm_int<<<cu_blocks(g->batch * g->m * g->n, 128), 128, 0, ctx->stream>>>(*g);
		CU_LAUNCHED("an integer GEMM");
		return MP_OK;
	}
	/* operands of one type; the result in it, or in f32 from bf16/f16
	 * operands (for a bias added before the one rounding) */
	if (g->at != g->bt || (g->at != g->ct && !(g->ct == MP_F32 && (g->at == MP_BF16 || g->at == MP_F16))))
		return mp_error_set(e, MP_ERR_INTERNAL, "a GEMM of %s x %s into %s", mp_dtype_name(g->at),
		                    mp_dtype_name(g->bt), mp_dtype_name(g->ct));
	if (g->k == 0) { /* an empty sum: beta C */
		struct mp_tensor ct;
		int64_t shape[3] = { g->batch, g->m, g->n };
		if (g->beta != 0 || g->sc != g->m * g->ldc || g->ldc != g->n)
			return mp_error_set(e, MP_ERR_UNSUPPORTED, "a GEMM over an empty dimension with a C to keep");
		mp_tensor_init(&ct, g->ct, 3, shape);
		ct.data = g->c;
		double zero = 0;
		unsigned char v[8];
		mp_dtype_traits(g->ct)->store_f64(&zero, v, 1);
		return cu_fill_bytes(ctx, &ct, v, e);
	}
	if (g->m > INT32_MAX || g->n > INT32_MAX || g->k > INT32_MAX || g->batch > INT32_MAX || g->lda > INT32_MAX ||
	    g->ldb > INT32_MAX || g->ldc > INT32_MAX)
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "a GEMM of %lld x %lld x %lld is beyond cuBLAS's 32-bit sizes",
		                    (long long)g->m, (long long)g->n, (long long)g->k);
	if (needs_padding(g))
		return gemm_padded(ctx, g, e);
	return gemm_call(ctx, g, e);
}

/* The cuBLAS call itself. */
static enum mp_status gemm_call(struct cu_ctx *ctx, const struct cu_gemm_desc *g, struct mp_error *e)
{
	/* row-major C = A B is column-major C^T = B^T A^T: operands swapped */
	cublasOperation_t opa = g->ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = g->tb ? CUBLAS_OP_T : CUBLAS_OP_N;
	cudaDataType_t t = cuda_type(g->at), tc = cuda_type(g->ct);
	cublasStatus_t st;
	if (g->at == MP_F64) {
		double alpha = g->alpha, beta = g->beta;
		st = cublasGemmStridedBatchedEx(ctx->blas, opb, opa, (int)g->n, (int)g->m, (int)g->k, &alpha, g->b, t,
		                                (int)g->ldb, g->sb, g->a, t, (int)g->lda, g->sa, &beta, g->c, t,
		                                (int)g->ldc, g->sc, (int)g->batch, CUBLAS_COMPUTE_64F, CUBLAS_GEMM_DEFAULT);
	} else {
		float alpha = (float)g->alpha, beta = (float)g->beta;
		cublasComputeType_t comp = g->at == MP_F32 && ctx->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
		st = cublasGemmStridedBatchedEx(ctx->blas, opb, opa, (int)g->n, (int)g->m, (int)g->k, &alpha, g->b, t,
		                                (int)g->ldb, g->sb, g->a, t, (int)g->lda, g->sa, &beta, g->c, tc,
		                                (int)g->ldc, g->sc, (int)g->batch, comp, CUBLAS_GEMM_DEFAULT);
	}
	if (st != CUBLAS_STATUS_SUCCESS)
		return cu_blas_fail(st, "a GEMM", e);
	return MP_OK;
}

/* ---- MatMul ---- */

/* Whether a batch dim's strides step as one flat index t: stride[d] ==
 * s * (batches after d).  Sets *s. */
static bool linear_batch(int nb, const int64_t *shape, const int64_t *st, int64_t *s)
{
	int64_t inner = 1;
	*s = -1;
	for (int d = nb - 1; d >= 0; d--) {
		if (shape[d] != 1) {
			if (*s < 0)
				*s = inner ? st[d] / inner : 0;
			if (st[d] != *s * inner)
				return false;
		}
		inner *= shape[d];
	}
	if (*s < 0)
		*s = 0;
	return true;
}

extern "C" enum mp_status cu_matmul(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_tensor *A = c->in[0], *B = c->in[1];
	struct mp_tensor *O = c->out[0];
	enum mp_compute cc = mp_dtype_traits(A->dtype)->compute;

	if (cc == MP_COMPUTE_NONE)
		return cu_unsupported(c, A->dtype, e);
	if (!mp_tensor_is_contiguous(A) || !mp_tensor_is_contiguous(B))
		return mp_error_set(e, MP_ERR_INTERNAL, "MatMul: an operand is not contiguous");
	struct mp_matmul_plan pl;
	mp_matmul_plan_init(&pl, A, B, O);
	int ra = A->ndim, nb = pl.nb;
	int64_t m = pl.m, k = pl.k, n = pl.n, batch = pl.batch;
	if (!mp_tensor_numel(O))
		return MP_OK;
	struct cu_gemm_desc g;
	memset(&g, 0, sizeof g);
	g.m = m;
	g.n = n;
	g.k = k;
	g.a = A->data;
	g.b = B->data;
	g.c = O->data;
	g.at = A->dtype;
	g.bt = B->dtype;
	g.ct = O->dtype;
	g.lda = k;
	g.ldb = n;
	g.ldc = n;
	g.alpha = 1;
	g.sc = m * n;
	int64_t s_a, s_b;
	bool la = linear_batch(nb, O->shape, pl.ast, &s_a), lb = linear_batch(nb, O->shape, pl.bst, &s_b);
	if (la && lb) {
		if (s_b == 0 && s_a == m * k && ra > 1) {
			/* B shared: A's batch folds into its rows, one GEMM */
			g.m = batch * m;
			g.batch = 1;
		} else {
			g.batch = batch;
			g.sa = s_a;
			g.sb = s_b;
		}
		return cu_gemm_run(cx, &g, e);
	}
	/* broadcasting that no single stride describes: one GEMM per batch */
	int64_t idx[MP_MAX_DIMS] = { 0 };
	size_t es_a = mp_dtype_size(A->dtype), es_b = mp_dtype_size(B->dtype), es_o = mp_dtype_size(O->dtype);
	g.batch = 1;
	for (int64_t t = 0; t < batch; t++) {
		int64_t oa, ob;
		mp_matmul_plan_step(&pl, O, idx, &oa, &ob);
		g.a = (const char *)A->data + (size_t)oa * es_a;
		g.b = (const char *)B->data + (size_t)ob * es_b;
		g.c = (char *)O->data + (size_t)(t * m * n) * es_o;
		enum mp_status st = cu_gemm_run(cx, &g, e);
		if (st)
			return st;
	}
	return MP_OK;
}

/* ---- Gemm ---- */

extern "C" enum mp_status cu_gemm(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_gemm_params *p = (const struct mp_gemm_params *)c->params;
	const struct mp_tensor *A = c->in[0], *B = c->in[1];
	const struct mp_tensor *C = c->ninputs > 2 ? c->in[2] : NULL;
	struct mp_tensor *O = c->out[0];
	enum mp_status st;

	if (mp_dtype_traits(A->dtype)->compute == MP_COMPUTE_NONE)
		return cu_unsupported(c, A->dtype, e);
	if (!mp_tensor_is_contiguous(A) || !mp_tensor_is_contiguous(B))
		return mp_error_set(e, MP_ERR_INTERNAL, "Gemm: an operand is not contiguous");
	int64_t m = O->shape[0], n = O->shape[1], k = A->shape[p->trans_a ? 0 : 1];
	if (C && (st = cu_copy(cx, O, C, e))) /* C broadcast to [M, N], scaled by beta inside the GEMM */
		return st;
	struct cu_gemm_desc g;
	memset(&g, 0, sizeof g);
	g.ta = p->trans_a;
	g.tb = p->trans_b;
	g.m = m;
	g.n = n;
	g.k = k;
	g.batch = 1;
	g.a = A->data;
	g.b = B->data;
	g.c = O->data;
	g.at = A->dtype;
	g.bt = B->dtype;
	g.ct = O->dtype;
	g.lda = p->trans_a ? m : k;
	g.ldb = p->trans_b ? k : n;
	g.ldc = n;
	g.sc = m * n;
	g.alpha = p->alpha;
	g.beta = C ? p->beta : 0;
	return cu_gemm_run(cx, &g, e);
}

/* ---- Einsum: one thread per output element, the other labels looped ---- */

/* table: size[nl], then stride[nops][nl] (int64); the first nol labels are
 * the output's, in its order */
__global__ void k_einsum(const int64_t *tab, int nl, int nol, int nops, const void *const *in, const int *types,
                         void *o, int ot, int64_t total, int64_t inner_count, bool is_float)
{
	const int64_t *size = tab, *stride = tab + nl;
	CU_FOR(f, total) {
		/* the output labels from f, in output order */
		int64_t base[MP_EINSUM_MAX_OPERANDS] = { 0 }, rem = f;
		for (int j = nol - 1; j >= 0; j--) {
			int64_t q = rem / size[j], r = rem - q * size[j];
			rem = q;
			for (int i = 0; i < nops; i++)
				base[i] += r * stride[i * nl + j];
		}
		double facc = 0;
		uint64_t iacc = 0;
		for (int64_t it = 0; it < inner_count; it++) {
			int64_t off[MP_EINSUM_MAX_OPERANDS], r2 = it;
			for (int i = 0; i < nops; i++)
				off[i] = base[i];
			for (int j = nl - 1; j >= nol; j--) {
				int64_t q = r2 / size[j], r = r2 - q * size[j];
				r2 = q;
				for (int i = 0; i < nops; i++)
					off[i] += r * stride[i * nl + j];
			}
			if (is_float) {
				double prod = 1;
				for (int i = 0; i < nops; i++)
					prod *= cu_ld_f64(in[i], off[i], types[i]);
				facc += prod;
			} else {
				uint64_t prod = 1;
				for (int i = 0; i < nops; i++)
					prod *= (uint64_t)cu_ld_i64(in[i], off[i], types[i]);
				iacc += prod;
			}
		}
		if (is_float)
			cu_st_f64(o, f, ot, facc);
		else
			cu_st_i64(o, f, ot, (int64_t)iacc);
	}
}

extern "C" enum mp_status cu_einsum(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_einsum_params *p = (const struct mp_einsum_params *)c->params;
	struct mp_tensor *O = c->out[0];
	struct mp_einsum_plan pl;
	enum mp_status st;

	for (int i = 0; i < p->noperands; i++)
		if (!mp_tensor_is_contiguous(c->in[i]) || !mp_dtype_computable(c->in[i]->dtype))
			return cu_unsupported(c, c->in[i]->dtype, e);
	mp_einsum_plan(p, (const struct mp_tensor *const *)c->in, &pl);
	int nl = pl.nl, nol = pl.nol;
	int64_t total = mp_tensor_numel(O), inner = 1;
	for (int j = nol; j < nl; j++)
		inner *= pl.size[j];
	if (!total)
		return MP_OK;
	/* the table, compacted to the labels in play */
	int64_t tab[(1 + MP_EINSUM_MAX_OPERANDS) * MP_EINSUM_LABELS];
	for (int j = 0; j < nl; j++) {
		tab[j] = pl.size[j];
		for (int i = 0; i < p->noperands; i++)
			tab[nl + i * nl + j] = pl.stride[i][j];
	}
	struct {
		const void *in[MP_EINSUM_MAX_OPERANDS];
		int types[MP_EINSUM_MAX_OPERANDS];
	} ops;
	for (int i = 0; i < p->noperands; i++) {
		ops.in[i] = c->in[i]->data;
		ops.types[i] = c->in[i]->dtype;
	}
	size_t tab_bytes = (size_t)(1 + p->noperands) * (size_t)nl * sizeof(int64_t);
	void *d_tab, *d_ops;
	if ((st = cu_upload(cx, tab, tab_bytes, &d_tab, e)))
		return st;
	if ((st = cu_upload(cx, &ops, sizeof ops, &d_ops, e))) {
		cu_table_free(cx, d_tab);
		return st;
	}
	const void *const *din = (const void *const *)d_ops;
	const int *dtypes = (const int *)((const char *)d_ops + offsetof(decltype(ops), types));
	k_einsum<<<cu_blocks(total, 128), 128, 0, cx->stream>>>((const int64_t *)d_tab, nl, nol, p->noperands, din,
	                                                         dtypes, O->data, O->dtype, total, inner,
	                                                         mp_dtype_is_float(O->dtype));
	cu_table_free(cx, d_tab);
	cu_table_free(cx, d_ops);
	CU_LAUNCHED("Einsum");
	return MP_OK;
}
