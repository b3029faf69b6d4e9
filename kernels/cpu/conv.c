/* conv.c - CPU Conv and ConvTranspose for any number of spatial dims:
 * im2col / col2im in tiles of output positions, with the f64 GEMM doing
 * the arithmetic (see gemm.c). */
#include <stdlib.h>
#include <string.h>

#include "conv_geom.h"
#include "cpu.h"

enum { CONV_TILE = 4096 };

/* Multi-index of flat position `f` over dims[0..n). */
static void unflatten(int64_t f, int n, const int64_t *dims, int64_t *idx)
{
	for (int d = n - 1; d >= 0; d--) {
		idx[d] = dims[d] ? f % dims[d] : 0;
		f = dims[d] ? f / dims[d] : 0;
	}
}

/* col[r][j] for rows r = (c, kernel offset) and output positions o0 + j */
#define DEF_IM2COL(NAME, T)                                                                  \
	static void NAME(const struct mp_conv_geom *g, const T *x, int64_t channels, int64_t o0,   \
	                 int64_t tile, T *col)                                                   \
	{                                                                                        \
		int64_t kidx[MP_MAX_SPATIAL], oidx[MP_MAX_SPATIAL];                              \
		for (int64_t kf = 0; kf < g->k_size; kf++) {                                     \
			unflatten(kf, g->ns, g->k, kidx);                                        \
			for (int64_t j = 0; j < tile; j++) {                                     \
				int64_t off = 0;                                                 \
				bool inside = true;                                              \
				unflatten(o0 + j, g->ns, g->out, oidx);                          \
				for (int d = 0; d < g->ns; d++) {                                \
					int64_t pos = oidx[d] * g->stride[d] - g->pad[d] + kidx[d] * g->dil[d]; \
					if (pos < 0 || pos >= g->in[d]) {                        \
						inside = false;                                  \
						break;                                           \
					}                                                        \
					off = off * g->in[d] + pos;                              \
				}                                                                \
				for (int64_t c = 0; c < channels; c++)                           \
					col[(c * g->k_size + kf) * tile + j] =                   \
						inside ? x[c * g->in_size + off] : 0;            \
			}                                                                        \
		}                                                                                \
	}
DEF_IM2COL(im2col_f64, double)

/* out[c][pos] += col[(c, kernel offset)][input position]: ConvTranspose */
#define DEF_COL2IM(NAME, T)                                                                  \
	static void NAME(const struct mp_conv_geom *g, const T *col, int64_t channels, int64_t i0,  \
	                 int64_t tile, T *out)                                                   \
	{                                                                                        \
		int64_t kidx[MP_MAX_SPATIAL], iidx[MP_MAX_SPATIAL];                              \
		for (int64_t kf = 0; kf < g->k_size; kf++) {                                     \
			unflatten(kf, g->ns, g->k, kidx);                                        \
			for (int64_t j = 0; j < tile; j++) {                                     \
				int64_t off = 0;                                                 \
				bool inside = true;                                              \
				unflatten(i0 + j, g->ns, g->in, iidx);                           \
				for (int d = 0; d < g->ns; d++) {                                \
					int64_t pos = iidx[d] * g->stride[d] - g->pad[d] + kidx[d] * g->dil[d]; \
					if (pos < 0 || pos >= g->out[d]) {                       \
						inside = false;                                  \
						break;                                           \
					}                                                        \
					off = off * g->out[d] + pos;                             \
				}                                                                \
				if (!inside)                                                     \
					continue;                                                \
				for (int64_t c = 0; c < channels; c++)                           \
					out[c * g->out_size + off] += col[(c * g->k_size + kf) * tile + j]; \
			}                                                                        \
		}                                                                                \
	}
DEF_COL2IM(col2im_f64, double)

#define DEF_CONV(NAME, T, GEMM, IM2COL, COL2IM, TO)                                               \
	static enum mp_status NAME(const struct mp_op_call *c, struct mp_error *e)                \
	{                                                                                         \
		const struct mp_conv_params *p = c->params;                                       \
		const struct mp_tensor *X = c->in[0], *W = c->in[1];                              \
		const struct mp_tensor *B = c->ninputs > 2 ? c->in[2] : NULL;                     \
		struct mp_tensor *O = c->out[0];                                                  \
		bool tr = c->op == MP_OP_CONV_TRANSPOSE;                                          \
		struct mp_conv_geom g;                                                            \
		int64_t N = X->shape[0], G = p->group;                                            \
		int64_t Cg = X->shape[1] / G, Mg = O->shape[1] / G;                               \
		enum mp_status st = MP_OK;                                                        \
		T *x = TO(X, e), *w = x ? TO(W, e) : NULL, *b = NULL, *o = NULL, *col = NULL;     \
		if (!w || (B && !(b = TO(B, e)))) {                                               \
			st = MP_ERR_NOMEM;                                                        \
			goto out;                                                                 \
		}                                                                                 \
		mp_conv_geom_init(&g, p, X->shape + 2, O->shape + 2);                             \
		o = cpu_alloc(mp_tensor_numel(O), sizeof *o);                                     \
		int64_t rows = (tr ? Mg : Cg) * g.k_size;                                         \
		col = cpu_alloc(rows * CONV_TILE, sizeof *col);                                   \
		if (!o || !col) {                                                                 \
			st = cpu_nomem(e, (size_t)(rows * CONV_TILE) * sizeof(T));                \
			goto out;                                                                 \
		}                                                                                 \
		memset(o, 0, (size_t)mp_tensor_numel(O) * sizeof *o);                             \
		for (int64_t n = 0; n < N; n++)                                                   \
			for (int64_t gi = 0; gi < G; gi++) {                                      \
				const T *xg = x + (n * X->shape[1] + gi * Cg) * g.in_size;        \
				T *og = o + (n * O->shape[1] + gi * Mg) * g.out_size;             \
				if (!tr) {                                                        \
					const T *wg = w + gi * Mg * Cg * g.k_size;                \
					for (int64_t o0 = 0; o0 < g.out_size; o0 += CONV_TILE) { \
						int64_t t = g.out_size - o0 < CONV_TILE ? g.out_size - o0 : CONV_TILE; \
						IM2COL(&g, xg, Cg, o0, t, col);                   \
						GEMM(false, false, Mg, t, Cg * g.k_size, 1, wg,   \
						     Cg * g.k_size, col, t, 0, og + o0, g.out_size); \
					}                                                         \
				} else {                                                          \
					const T *wg = w + gi * Cg * Mg * g.k_size;                \
					for (int64_t i0 = 0; i0 < g.in_size; i0 += CONV_TILE) {  \
						int64_t t = g.in_size - i0 < CONV_TILE ? g.in_size - i0 : CONV_TILE; \
						/* col = W_g^T [Mg*K, Cg] @ X_g[:, tile] */       \
						GEMM(true, false, Mg * g.k_size, t, Cg, 1, wg,    \
						     Mg * g.k_size, xg + i0, g.in_size, 0, col, t); \
						COL2IM(&g, col, Mg, i0, t, og);                   \
					}                                                         \
				}                                                                 \
				if (b)                                                            \
					for (int64_t m = 0; m < Mg; m++)                          \
						for (int64_t q = 0; q < g.out_size; q++)          \
							og[m * g.out_size + q] += b[gi * Mg + m]; \
			}                                                                         \
		cpu_from_f64(O, o, (size_t)mp_tensor_numel(O));                                   \
	out:                                                                                      \
		free(x);                                                                          \
		free(w);                                                                          \
		free(b);                                                                          \
		free(o);                                                                          \
		free(col);                                                                        \
		return st;                                                                        \
	}
DEF_CONV(conv_f64, double, cpu_dgemm, im2col_f64, col2im_f64, cpu_to_f64)

enum mp_status cpu_conv(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	(void)ctx;
	/* every float type: f64 operands and accumulation, rounded once on store */
	if (!mp_dtype_is_float(c->in[0]->dtype))
		return cpu_unsupported_dtype(c, c->in[0]->dtype, e);
	return conv_f64(c, e);
}
