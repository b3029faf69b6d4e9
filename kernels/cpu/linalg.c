/* linalg.c - CPU kernels for MatMul (batched, broadcasting, numpy's 1-D
 * rules), Gemm and Einsum. */
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "einsum_plan.h"
#include "matmul_plan.h"

/* A float operand as contiguous f64 data: the tensor's own bytes when they
 * already are, else a converted copy (owned).  Float GEMMs run in f64 and
 * round once on store (see gemm.c). */
struct fop {
	const double *p;
	double *owned;
};

static enum mp_status fop_get(const struct mp_tensor *t, struct fop *o, struct mp_error *e)
{
	o->owned = NULL;
	if (t->dtype == MP_F64 && mp_tensor_is_contiguous(t) && ((uintptr_t)t->data % 8) == 0) {
		o->p = t->data;
		return MP_OK;
	}
	o->owned = cpu_to_f64(t, e);
	o->p = o->owned;
	return o->owned ? MP_OK : MP_ERR_NOMEM;
}

/* ---- MatMul ---- */

enum mp_status cpu_matmul(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_tensor *A = c->in[0], *B = c->in[1];
	struct mp_tensor *O = c->out[0];
	enum mp_compute cc = mp_dtype_traits(A->dtype)->compute;
	bool is_float = cc == MP_COMPUTE_F32 || cc == MP_COMPUTE_F64;
	(void)ctx;

	if (cc == MP_COMPUTE_NONE)
		return cpu_unsupported_dtype(c, A->dtype, e);
	struct mp_matmul_plan pl;
	mp_matmul_plan_init(&pl, A, B, O);
	int ra = A->ndim, nb = pl.nb;
	int64_t m = pl.m, k = pl.k, n = pl.n, batch = pl.batch;
	const int64_t *ast = pl.ast, *bst = pl.bst;
	int64_t total = mp_tensor_numel(O);
	if (total == 0)
		return MP_OK;

	if (!is_float) {
		int64_t *a = cpu_to_i64(A, e), *b = a ? cpu_to_i64(B, e) : NULL;
		int64_t *o = b ? cpu_alloc(total, sizeof *o) : NULL;
		if (!o) {
			free(a);
			free(b);
			return e->status ? e->status : cpu_nomem(e, (size_t)total * 8);
		}
		int64_t idx[MP_MAX_DIMS] = { 0 };
		for (int64_t t = 0; t < batch; t++) {
			int64_t oa, ob;
			mp_matmul_plan_step(&pl, O, idx, &oa, &ob);
			for (int64_t i = 0; i < m; i++)
				for (int64_t j = 0; j < n; j++) {
					uint64_t s = 0;
					for (int64_t p = 0; p < k; p++)
						s += (uint64_t)a[oa + i * k + p] * (uint64_t)b[ob + p * n + j];
					o[t * m * n + i * n + j] = (int64_t)s;
				}
		}
		cpu_from_i64(O, o, (size_t)total);
		free(a);
		free(b);
		free(o);
		return MP_OK;
	}

	struct fop fa, fb;
	enum mp_status st = fop_get(A, &fa, e);
	if (st)
		return st;
	if ((st = fop_get(B, &fb, e))) {
		free(fa.owned);
		return st;
	}
	size_t es = 8;
	bool direct = O->dtype == MP_F64;
	double *out = direct ? O->data : cpu_alloc(total, es);
	if (!out) {
		free(fa.owned);
		free(fb.owned);
		return cpu_nomem(e, (size_t)total * es);
	}
	bool b_shared = true;
	for (int d = 0; d < nb; d++)
		b_shared &= bst[d] == 0;
	if (b_shared && ra > 1) {
		/* one GEMM: A's batch dims fold into its rows */
		int64_t rows = batch * m;
		bool a_dense = true;
		for (int d = 0; d < nb; d++)
			a_dense &= ast[d] != 0 || O->shape[d] == 1;
		if (a_dense) {
			cpu_dgemm(false, false, rows, n, k, 1, fa.p, k, fb.p, n, 0, out, n);
			goto store;
		}
	}
	int64_t idx[MP_MAX_DIMS] = { 0 };
	for (int64_t t = 0; t < batch; t++) {
		int64_t oa, ob;
		mp_matmul_plan_step(&pl, O, idx, &oa, &ob);
		cpu_dgemm(false, false, m, n, k, 1, fa.p + oa, k, fb.p + ob, n, 0, out + t * m * n, n);
	}
store:
	if (!direct) {
		cpu_from_f64(O, out, (size_t)total);
		free(out);
	}
	free(fa.owned);
	free(fb.owned);
	return MP_OK;
}

/* ---- Gemm ---- */

enum mp_status cpu_gemm(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_gemm_params *p = c->params;
	const struct mp_tensor *A = c->in[0], *B = c->in[1];
	const struct mp_tensor *C = c->ninputs > 2 ? c->in[2] : NULL;
	struct mp_tensor *O = c->out[0];
	enum mp_compute cc = mp_dtype_traits(A->dtype)->compute;
	int64_t m = O->shape[0], n = O->shape[1], k = A->shape[p->trans_a ? 0 : 1];
	int64_t total = m * n;
	(void)ctx;

	if (cc == MP_COMPUTE_NONE)
		return cpu_unsupported_dtype(c, A->dtype, e);
	if (cc == MP_COMPUTE_I64 || cc == MP_COMPUTE_U64) {
		int64_t *a = cpu_to_i64(A, e), *b = a ? cpu_to_i64(B, e) : NULL;
		int64_t *o = b ? cpu_alloc(total, 8) : NULL;
		if (!o) {
			free(a);
			free(b);
			return cpu_nomem(e, (size_t)total * 8);
		}
		if (C)
			cpu_bcast_load_i64(O, C, o);
		for (int64_t i = 0; i < m; i++)
			for (int64_t j = 0; j < n; j++) {
				int64_t s = 0;
				for (int64_t q = 0; q < k; q++)
					s += (p->trans_a ? a[q * m + i] : a[i * k + q]) *
					     (p->trans_b ? b[j * k + q] : b[q * n + j]);
				o[i * n + j] = (int64_t)p->alpha * s + (C ? (int64_t)p->beta * o[i * n + j] : 0);
			}
		cpu_from_i64(O, o, (size_t)total);
		free(a);
		free(b);
		free(o);
		return MP_OK;
	}
	struct fop fa, fb;
	enum mp_status st = fop_get(A, &fa, e);
	if (st)
		return st;
	if ((st = fop_get(B, &fb, e))) {
		free(fa.owned);
		return st;
	}
	double *out = cpu_alloc(total, 8);
	if (!out) {
		free(fa.owned);
		free(fb.owned);
		return cpu_nomem(e, (size_t)total * 8);
	}
	double beta = C ? p->beta : 0;
	if (C) /* C broadcast to [M, N], then scaled by beta inside the GEMM */
		cpu_bcast_load_f64(O, C, out);
	int64_t lda = p->trans_a ? m : k, ldb = p->trans_b ? k : n;
	cpu_dgemm(p->trans_a, p->trans_b, m, n, k, p->alpha, fa.p, lda, fb.p, ldb, beta, out, n);
	cpu_from_f64(O, out, (size_t)total);
	free(fa.owned);
	free(fb.owned);
	free(out);
	return MP_OK;
}

/* ---- Einsum: one loop nest over every label, any equation ---- */

enum mp_status cpu_einsum(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_einsum_params *p = c->params;
	struct mp_tensor *O = c->out[0];
	struct mp_einsum_plan pl;
	bool is_float = mp_dtype_is_float(O->dtype);
	(void)ctx;

	mp_einsum_plan(p, (const struct mp_tensor *const *)c->in, &pl);
	int nl = pl.nl, nol = pl.nol;
	int64_t ostride[MP_EINSUM_LABELS] = { 0 }, s = 1; /* the output row-major over its loops */
	for (int j = nol - 1; j >= 0; j--) {
		ostride[j] = s;
		s *= pl.size[j];
	}
	int64_t total = mp_tensor_numel(O);
	void *ops[MP_EINSUM_MAX_OPERANDS] = { NULL };
	double *acc_f = is_float ? cpu_alloc(total, 8) : NULL;
	int64_t *acc_i = is_float ? NULL : cpu_alloc(total, 8);
	enum mp_status st = MP_OK;
	if (!acc_f && !acc_i) {
		st = cpu_nomem(e, (size_t)total * 8);
		goto out;
	}
	for (int i = 0; i < p->noperands; i++) {
		ops[i] = is_float ? (void *)cpu_to_f64(c->in[i], e) : (void *)cpu_to_i64(c->in[i], e);
		if (!ops[i]) {
			st = MP_ERR_NOMEM;
			goto out;
		}
	}
	for (int64_t i = 0; i < total; i++) {
		if (is_float) acc_f[i] = 0;
		else acc_i[i] = 0;
	}
	int64_t idx[MP_EINSUM_LABELS] = { 0 }, count = 1;
	for (int j = 0; j < nl; j++)
		count *= pl.size[j];
	for (int64_t it = 0; it < count; it++) {
		int64_t o = 0;
		for (int j = 0; j < nol; j++)
			o += idx[j] * ostride[j];
		if (is_float) {
			double prod = 1;
			for (int i = 0; i < p->noperands; i++) {
				int64_t off = 0;
				for (int j = 0; j < nl; j++)
					off += idx[j] * pl.stride[i][j];
				prod *= ((double *)ops[i])[off];
			}
			acc_f[o] += prod;
		} else {
			uint64_t prod = 1;
			for (int i = 0; i < p->noperands; i++) {
				int64_t off = 0;
				for (int j = 0; j < nl; j++)
					off += idx[j] * pl.stride[i][j];
				prod *= (uint64_t)((int64_t *)ops[i])[off];
			}
			acc_i[o] = (int64_t)((uint64_t)acc_i[o] + prod);
		}
		for (int j = nl - 1; j >= 0; j--) {
			if (++idx[j] < pl.size[j])
				break;
			idx[j] = 0;
		}
	}
	if (is_float)
		cpu_from_f64(O, acc_f, (size_t)total);
	else
		cpu_from_i64(O, acc_i, (size_t)total);
out:
	for (int i = 0; i < p->noperands; i++)
		free(ops[i]);
	free(acc_f);
	free(acc_i);
	return st;
}
