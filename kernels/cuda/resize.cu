/* resize.cu - Resize and Upsample on the GPU: the taps of every axis built
 * on the host (resize_taps.c, as the CPU backend builds them) and copied to
 * the device in one table; one thread per output element sums over the
 * product of its axes' taps in f64. */
#include <math.h>

extern "C" {
#include "resize_taps.h"
}

#include "cu.cuh"

struct resize_args {
	int r, xt, ot;
	bool is_float;
	double extrapolation;
	int64_t ishape[MP_MAX_DIMS], oshape[MP_MAX_DIMS];
	int ntap[MP_MAX_DIMS];
	/* offsets into the table (in int64 slots): idx, w (as f64 bits), n, extrap */
	int64_t idx_at[MP_MAX_DIMS], w_at[MP_MAX_DIMS], n_at[MP_MAX_DIMS], ex_at[MP_MAX_DIMS];
};

__global__ void k_resize(resize_args a, const int64_t *tab, const void *x, void *o, int64_t total)
{
	CU_FOR(f, total) {
		int64_t oidx[MP_MAX_DIMS], rem = f;
		for (int d = a.r - 1; d >= 0; d--) {
			oidx[d] = rem % a.oshape[d];
			rem /= a.oshape[d];
		}
		bool ex = false;
		for (int d = 0; d < a.r; d++)
			ex |= tab[a.ex_at[d] + oidx[d]] != 0;
		double sum = 0;
		if (ex) {
			sum = a.extrapolation;
		} else {
			int k[MP_MAX_DIMS];
			for (int d = 0; d < a.r; d++)
				k[d] = 0;
			for (;;) {
				double w = 1;
				int64_t off = 0;
				for (int d = 0; d < a.r; d++) {
					int64_t at = oidx[d] * a.ntap[d] + k[d];
					w *= __longlong_as_double(tab[a.w_at[d] + at]);
					off = off * a.ishape[d] + tab[a.idx_at[d] + at];
				}
				if (w != 0)
					sum += w * cu_ld_f64(x, off, a.xt);
				int d = a.r - 1;
				for (; d >= 0; d--) {
					if (++k[d] < tab[a.n_at[d] + oidx[d]])
						break;
					k[d] = 0;
				}
				if (d < 0)
					break;
			}
		}
		if (!a.is_float)
			sum = nearbyint(sum); /* integer images round to nearest */
		cu_st_f64(o, f, a.ot, sum);
	}
}

extern "C" enum mp_status cu_resize(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const struct mp_resize_params *p = (const struct mp_resize_params *)c->params;
	const struct mp_tensor *X = c->in[0];
	struct mp_tensor *O = c->out[0];
	int r = X->ndim;
	struct mp_resize_taps taps[MP_MAX_DIMS];
	resize_args a;
	enum mp_status st = MP_OK;
	int64_t *tab = NULL;
	void *dtab = NULL;

	if (!mp_dtype_computable(X->dtype))
		return cu_unsupported(c, X->dtype, e);
	if (!mp_tensor_is_contiguous(X))
		return mp_error_set(e, MP_ERR_INTERNAL, "Resize: input is not contiguous");
	int64_t total = mp_tensor_numel(O);
	if (!total)
		return MP_OK;
	if (!mp_tensor_numel(X))
		return mp_error_set(e, MP_ERR_MODEL, "Resize of an empty input to a non-empty output");
	memset(taps, 0, sizeof taps);
	memset(&a, 0, sizeof a);
	a.r = r;
	a.xt = X->dtype;
	a.ot = O->dtype;
	a.is_float = mp_dtype_is_float(O->dtype);
	a.extrapolation = p->extrapolation_value;
	int64_t slots = 0;
	for (int d = 0; d < r && !st; d++) {
		st = mp_resize_taps_build(p, d, X->shape[d], O->shape[d], &taps[d], e);
		a.ishape[d] = X->shape[d];
		a.oshape[d] = O->shape[d];
		a.ntap[d] = taps[d].ntap;
		a.idx_at[d] = slots;
		slots += O->shape[d] * taps[d].ntap;
		a.w_at[d] = slots;
		slots += O->shape[d] * taps[d].ntap;
		a.n_at[d] = slots;
		slots += O->shape[d];
		a.ex_at[d] = slots;
		slots += O->shape[d];
	}
	if (!st && !(tab = (int64_t *)malloc((size_t)slots * sizeof *tab)))
		st = mp_error_set(e, MP_ERR_NOMEM, "Resize: out of memory for its taps");
	for (int d = 0; d < r && !st; d++) {
		int64_t nt = O->shape[d] * taps[d].ntap;
		memcpy(tab + a.idx_at[d], taps[d].idx, (size_t)nt * sizeof *tab);
		memcpy(tab + a.w_at[d], taps[d].w, (size_t)nt * sizeof *tab); /* doubles, bit for bit */
		for (int64_t i = 0; i < O->shape[d]; i++) {
			tab[a.n_at[d] + i] = taps[d].n[i];
			tab[a.ex_at[d] + i] = taps[d].extrap[i];
		}
	}
	if (!st)
		st = cu_upload(cx, tab, (size_t)slots * sizeof *tab, &dtab, e);
	if (!st) {
		k_resize<<<cu_blocks(total, 128), 128, 0, cx->stream>>>(a, (const int64_t *)dtab, X->data, O->data, total);
		if (cudaPeekAtLastError() != cudaSuccess)
			st = cu_fail(cudaGetLastError(), "Resize", e);
	}
	cu_table_free(cx, dtab);
	free(tab);
	for (int d = 0; d < r; d++)
		mp_resize_taps_free(&taps[d]);
	return st;
}
