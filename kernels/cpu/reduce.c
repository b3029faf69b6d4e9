/* reduce.c - CPU kernels for Reduce*, ArgMax/ArgMin, Softmax/LogSoftmax/
 * Hardmax, CumSum/CumProd and TopK.  Float reductions accumulate in f64 and
 * round once when stored: the reference should be the most accurate
 * figure in the room. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "view_plan.h"

/* ---- Reduce* ---- */

static double reduce_init(enum mp_op op)
{
	switch (op) {
	case MP_OP_REDUCE_MAX: return -INFINITY;
	case MP_OP_REDUCE_MIN: return INFINITY;
	case MP_OP_REDUCE_PROD: return 1;
	default: return 0;
	}
}

/* acc[k] op= v for one run; sa is 0 when the run folds into one slot */
static void reduce_run_f64(enum mp_op op, double *acc, int64_t sa, const double *v, size_t n,
                           const double *shift)
{
	for (size_t i = 0; i < n; i++) {
		double *a = acc + (sa ? (int64_t)i : 0);
		double x = v[i];
		switch (op) {
		case MP_OP_REDUCE_MAX: if (x > *a || x != x) *a = (*a != *a) ? *a : x; break;
		case MP_OP_REDUCE_MIN: if (x < *a || x != x) *a = (*a != *a) ? *a : x; break;
		case MP_OP_REDUCE_PROD: *a *= x; break;
		case MP_OP_REDUCE_L1: *a += fabs(x); break;
		case MP_OP_REDUCE_L2: case MP_OP_REDUCE_SUM_SQUARE: *a += x * x; break;
		case MP_OP_REDUCE_LOG_SUM_EXP: {
			double m = shift[sa ? (int64_t)i : 0];
			*a += isinf(m) ? (x == m ? 1 : 0) : exp(x - m);
			break;
		}
		default: *a += x; break; /* Sum, Mean, LogSum */
		}
	}
}

static void reduce_run_i64(enum mp_op op, int64_t *acc, int64_t sa, const int64_t *v, size_t n,
                           bool uns)
{
	for (size_t i = 0; i < n; i++) {
		int64_t *a = acc + (sa ? (int64_t)i : 0), x = v[i];
		switch (op) {
		case MP_OP_REDUCE_MAX: if (uns ? (uint64_t)x > (uint64_t)*a : x > *a) *a = x; break;
		case MP_OP_REDUCE_MIN: if (uns ? (uint64_t)x < (uint64_t)*a : x < *a) *a = x; break;
		case MP_OP_REDUCE_PROD: *a = (int64_t)((uint64_t)*a * (uint64_t)x); break;
		case MP_OP_REDUCE_L1: *a = (int64_t)((uint64_t)*a + (uint64_t)(x < 0 && !uns ? -(uint64_t)x : (uint64_t)x)); break;
		case MP_OP_REDUCE_L2: case MP_OP_REDUCE_SUM_SQUARE: *a = (int64_t)((uint64_t)*a + (uint64_t)x * (uint64_t)x); break;
		default: *a = (int64_t)((uint64_t)*a + (uint64_t)x); break;
		}
	}
}

/* Walks x, folding each element into acc (one slot per output element). */
static void reduce_pass(const struct mp_tensor *x, const struct mp_tensor *accv, bool is_float,
                        enum mp_op op, const double *shift, bool uns)
{
	const struct mp_tensor *ops[2] = { accv, x };
	struct cpu_iter it;
	cpu_iter_init(&it, 2, ops);
	int64_t run = cpu_iter_run(&it), sa = cpu_iter_inner_stride(&it, 0),
	        sx = cpu_iter_inner_stride(&it, 1);
	while (cpu_iter_next(&it)) {
		for (int64_t off = 0; off < run; off += CPU_CHUNK) {
			size_t n = (size_t)(run - off < CPU_CHUNK ? run - off : CPU_CHUNK);
			if (is_float) {
				double buf[CPU_CHUNK];
				double *a = (double *)(void *)(it.ptr[0] + off * sa);
				const double *sh = shift ? shift + (a - (double *)accv->data) : NULL;
				cpu_load_f64(x->dtype, it.ptr[1] + off * sx, sx, buf, n);
				reduce_run_f64(op, a, sa, buf, n, sh);
			} else {
				int64_t buf[CPU_CHUNK];
				cpu_load_i64(x->dtype, it.ptr[1] + off * sx, sx, buf, n);
				reduce_run_i64(op, (int64_t *)(void *)(it.ptr[0] + off * sa), sa, buf, n, uns);
			}
		}
	}
}

enum mp_status cpu_reduce(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_reduce_params *p = c->params;
	const struct mp_tensor *x = c->in[0];
	struct mp_tensor *o = c->out[0];
	enum mp_compute cc = mp_dtype_traits(x->dtype)->compute;
	bool is_float = cc == MP_COMPUTE_F32 || cc == MP_COMPUTE_F64;
	bool uns = !mp_dtype_traits(x->dtype)->is_signed;
	size_t n = (size_t)mp_tensor_numel(o);
	/* the log of integers is taken in double, then must fit the integer type */
	bool logs = c->op == MP_OP_REDUCE_LOG_SUM || c->op == MP_OP_REDUCE_LOG_SUM_EXP;
	bool int_out = !is_float;
	(void)ctx;

	if (logs)
		is_float = true;

	if (cc == MP_COMPUTE_NONE)
		return cpu_unsupported_dtype(c, x->dtype, e);
	if (p->mask == 0) { /* noop_with_empty_axes */
		memcpy(o->data, x->data, mp_tensor_nbytes(o));
		return MP_OK;
	}
	/* the accumulator, viewed with x's shape and stride 0 on reduced dims */
	void *acc = malloc((n ? n : 1) * 8);
	double *shift = NULL;
	if (!acc)
		return cpu_nomem(e, n * 8);
	struct mp_tensor accv = { .dtype = is_float ? MP_F64 : MP_I64, .ndim = x->ndim, .data = acc };
	int64_t stride = 8;
	for (int d = x->ndim - 1; d >= 0; d--) {
		accv.shape[d] = x->shape[d];
		if (p->mask & (1u << d)) {
			accv.strides[d] = 0;
		} else {
			accv.strides[d] = stride;
			stride *= x->shape[d];
		}
	}
	int64_t count = 1;
	for (int d = 0; d < x->ndim; d++)
		if (p->mask & (1u << d))
			count *= x->shape[d];
	if (is_float) {
		double *a = acc;
		if (c->op == MP_OP_REDUCE_LOG_SUM_EXP) {
			/* the max first, so exp never overflows */
			shift = malloc((n ? n : 1) * sizeof *shift);
			if (!shift) {
				free(acc);
				return cpu_nomem(e, n * 8);
			}
			for (size_t i = 0; i < n; i++)
				a[i] = -INFINITY;
			reduce_pass(x, &accv, true, MP_OP_REDUCE_MAX, NULL, false);
			memcpy(shift, a, n * sizeof *shift);
		}
		for (size_t i = 0; i < n; i++)
			a[i] = reduce_init(c->op);
		reduce_pass(x, &accv, true, c->op, shift, false);
		for (size_t i = 0; i < n; i++) {
			switch (c->op) {
			case MP_OP_REDUCE_MEAN: a[i] /= (double)count; break;
			case MP_OP_REDUCE_L2: a[i] = sqrt(a[i]); break;
			case MP_OP_REDUCE_LOG_SUM: a[i] = log(a[i]); break;
			case MP_OP_REDUCE_LOG_SUM_EXP: a[i] = shift[i] + log(a[i]); break;
			default: break;
			}
			if (int_out && (!isfinite(a[i]) || fabs(a[i]) >= 9.2e18)) {
				double v = a[i];
				free(shift);
				free(acc);
				return mp_error_set(e, MP_ERR_INPUT,
				                    "%s of %s input 0: output element %zu is %g (the log of a sum %s), "
				                    "which %s cannot hold",
				                    mp_op_name(c->op), mp_dtype_name(x->dtype), i, v,
				                    v < 0 ? "of 0" : "that is negative or too large", mp_dtype_name(o->dtype));
			}
		}
		cpu_from_f64(o, a, n);
	} else {
		int64_t *a = acc;
		for (size_t i = 0; i < n; i++)
			a[i] = c->op == MP_OP_REDUCE_MAX ? (uns ? 0 : INT64_MIN) :
			       c->op == MP_OP_REDUCE_MIN ? (uns ? -1 : INT64_MAX) :
			       c->op == MP_OP_REDUCE_PROD ? 1 : 0;
		if (c->op == MP_OP_REDUCE_MAX && x->dtype == MP_BOOL)
			for (size_t i = 0; i < n; i++)
				a[i] = 0;
		if (c->op == MP_OP_REDUCE_MIN && x->dtype == MP_BOOL)
			for (size_t i = 0; i < n; i++)
				a[i] = 1;
		reduce_pass(x, &accv, false, c->op, NULL, uns && x->dtype != MP_BOOL);
		for (size_t i = 0; i < n; i++) {
			if (c->op == MP_OP_REDUCE_MEAN)
				a[i] = count ? a[i] / count : 0;
			else if (c->op == MP_OP_REDUCE_L2)
				a[i] = (int64_t)sqrt((double)(uint64_t)a[i]); /* the sum of squares wraps unsigned */
		}
		cpu_from_i64(o, a, n);
	}
	free(shift);
	free(acc);
	return MP_OK;
}

/* ---- ArgMax, ArgMin ---- */

enum mp_status cpu_argreduce(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_argreduce_params *p = c->params;
	const struct mp_tensor *x = c->in[0];
	struct mp_tensor *o = c->out[0];
	int64_t outer, len, inner;
	bool is_max = c->op == MP_OP_ARG_MAX;
	(void)ctx;

	mp_view_axis_split(x, p->axis_resolved, &outer, &len, &inner);
	double *row = cpu_alloc(len, sizeof *row);
	int64_t *irow = cpu_alloc(len, sizeof *irow);
	int64_t *res = cpu_alloc(outer * inner, sizeof *res);
	bool is_int = mp_dtype_traits(x->dtype)->is_int || x->dtype == MP_BOOL;
	bool uns = !mp_dtype_traits(x->dtype)->is_signed;
	if (!row || !res || !irow) {
		free(row);
		free(irow);
		free(res);
		return cpu_nomem(e, (size_t)len * 8);
	}
	size_t es = mp_dtype_size(x->dtype);
	for (int64_t a = 0; a < outer; a++)
		for (int64_t b = 0; b < inner; b++) {
			const char *base = (const char *)x->data + (size_t)(a * len * inner + b) * es;
			int64_t best = 0;
			if (is_int) { /* compared exactly, not through a double */
				cpu_load_i64(x->dtype, base, (int64_t)(inner * (int64_t)es), irow, (size_t)len);
				for (int64_t k = 1; k < len; k++) {
					int64_t v = irow[k], bv = irow[best];
					bool gt = uns ? (uint64_t)v > (uint64_t)bv : v > bv;
					bool lt = uns ? (uint64_t)v < (uint64_t)bv : v < bv;
					if ((is_max ? gt : lt) || (p->select_last_index && v == bv))
						best = k;
				}
				res[a * inner + b] = best;
				continue;
			}
			cpu_load_f64(x->dtype, base, (int64_t)(inner * (int64_t)es), row, (size_t)len);
			for (int64_t k = 1; k < len; k++) {
				double v = row[k], bv = row[best];
				if (bv != bv)
					break; /* the first NaN wins, as numpy */
				bool better = v != v || (is_max ? v > bv : v < bv) ||
				              (p->select_last_index && v == bv);
				if (better)
					best = k;
			}
			res[a * inner + b] = best;
		}
	memcpy(o->data, res, (size_t)(outer * inner) * sizeof *res);
	free(row);
	free(irow);
	free(res);
	return MP_OK;
}

/* ---- Softmax, LogSoftmax, Hardmax ---- */

enum mp_status cpu_softmax(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_softmax_params *p = c->params;
	const struct mp_tensor *x = c->in[0];
	struct mp_tensor *o = c->out[0];
	int64_t outer, len, inner;
	(void)ctx;

	mp_view_softmax(p, x, &outer, &len, &inner);
	size_t n = (size_t)mp_tensor_numel(x);
	if (n == 0)
		return MP_OK;
	double *v = cpu_alloc((int64_t)n, sizeof *v);
	if (!v)
		return cpu_nomem(e, n * 8);
	mp_dtype_traits(x->dtype)->load_f64(x->data, 1, v, n);
	for (int64_t a = 0; a < outer; a++)
		for (int64_t b = 0; b < inner; b++) {
			double *r = v + a * len * inner + b;
			double m = r[0], s = 0;
			int64_t arg = 0;
			for (int64_t k = 1; k < len; k++)
				if (r[k * inner] > m) {
					m = r[k * inner];
					arg = k;
				}
			if (c->op == MP_OP_HARDMAX) {
				for (int64_t k = 0; k < len; k++)
					r[k * inner] = k == arg;
				continue;
			}
			if (isinf(m) && m < 0)
				m = 0; /* a row of -inf: exp gives 0s and the sum decides */
			for (int64_t k = 0; k < len; k++)
				s += exp(r[k * inner] - m);
			for (int64_t k = 0; k < len; k++) {
				double t = r[k * inner] - m;
				r[k * inner] = c->op == MP_OP_LOG_SOFTMAX ? t - log(s) : exp(t) / s;
			}
		}
	cpu_from_f64(o, v, n);
	free(v);
	return MP_OK;
}

/* ---- CumSum, CumProd ---- */

enum mp_status cpu_cumulative(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_cumulative_params *p = c->params;
	const struct mp_tensor *x = c->in[0];
	struct mp_tensor *o = c->out[0];
	enum mp_compute cc = mp_dtype_traits(x->dtype)->compute;
	bool prod = c->op == MP_OP_CUM_PROD;
	int64_t outer, len, inner;
	size_t n = (size_t)mp_tensor_numel(x);
	(void)ctx;

	mp_view_axis_split(x, p->axis_resolved, &outer, &len, &inner);
	if (cc == MP_COMPUTE_F32 || cc == MP_COMPUTE_F64) {
		double *v = malloc((n ? n : 1) * sizeof *v);
		if (!v)
			return cpu_nomem(e, n * 8);
		if (n)
			mp_dtype_traits(x->dtype)->load_f64(x->data, 1, v, n);
		for (int64_t a = 0; a < outer; a++)
			for (int64_t b = 0; b < inner; b++) {
				double *r = v + a * len * inner + b, acc = prod ? 1 : 0;
				for (int64_t j = 0; j < len; j++) {
					int64_t k = p->reverse ? len - 1 - j : j;
					double cur = r[k * inner];
					if (p->exclusive) {
						r[k * inner] = acc;
						acc = prod ? acc * cur : acc + cur;
					} else {
						acc = prod ? acc * cur : acc + cur;
						r[k * inner] = acc;
					}
				}
			}
		cpu_from_f64(o, v, n);
		free(v);
		return MP_OK;
	}
	int64_t *v = cpu_to_i64(x, e);
	if (!v)
		return MP_ERR_NOMEM;
	for (int64_t a = 0; a < outer; a++)
		for (int64_t b = 0; b < inner; b++) {
			int64_t *r = v + a * len * inner + b;
			uint64_t acc = prod ? 1 : 0;
			for (int64_t j = 0; j < len; j++) {
				int64_t k = p->reverse ? len - 1 - j : j;
				uint64_t cur = (uint64_t)r[k * inner];
				if (p->exclusive) {
					r[k * inner] = (int64_t)acc;
					acc = prod ? acc * cur : acc + cur;
				} else {
					acc = prod ? acc * cur : acc + cur;
					r[k * inner] = (int64_t)acc;
				}
			}
		}
	cpu_from_i64(o, v, n);
	free(v);
	return MP_OK;
}

/* ---- TopK ---- */

struct topk_item {
	double v;
	int64_t i;
	int64_t iv; /* integer value, exact for int64 */
};

static int topk_cmp_desc(const void *pa, const void *pb)
{
	const struct topk_item *a = pa, *b = pb;
	bool an = a->v != a->v, bn = b->v != b->v;
	if (an != bn)
		return an ? -1 : 1; /* NaN counts as the largest */
	if (!an && a->v != b->v)
		return a->v > b->v ? -1 : 1;
	if (a->iv != b->iv)
		return a->iv > b->iv ? -1 : 1;
	return a->i < b->i ? -1 : a->i > b->i; /* equal values: lower index first */
}

static int topk_cmp_asc(const void *pa, const void *pb)
{
	const struct topk_item *a = pa, *b = pb;
	bool an = a->v != a->v, bn = b->v != b->v;
	if (an != bn)
		return an ? 1 : -1;
	if (!an && a->v != b->v)
		return a->v < b->v ? -1 : 1;
	if (a->iv != b->iv)
		return a->iv < b->iv ? -1 : 1;
	return a->i < b->i ? -1 : a->i > b->i;
}

enum mp_status cpu_topk(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_topk_params *p = c->params;
	const struct mp_tensor *x = c->in[0];
	struct mp_tensor *ov = c->out[0], *oi = c->noutputs > 1 ? c->out[1] : NULL;
	int64_t outer, len, inner, k = p->k_resolved;
	bool is_int = mp_dtype_traits(x->dtype)->is_int;
	(void)ctx;

	mp_view_axis_split(x, p->axis_resolved, &outer, &len, &inner);
	struct topk_item *items = cpu_alloc(len, sizeof *items);
	double *vals = cpu_alloc(outer * k * inner, sizeof *vals);
	int64_t *ivals = cpu_alloc(outer * k * inner, sizeof *ivals);
	int64_t *idx = cpu_alloc(outer * k * inner, sizeof *idx);
	if (!items || !vals || !ivals || !idx) {
		free(items);
		free(vals);
		free(ivals);
		free(idx);
		return cpu_nomem(e, (size_t)len * sizeof *items);
	}
	size_t es = mp_dtype_size(x->dtype);
	for (int64_t a = 0; a < outer; a++)
		for (int64_t b = 0; b < inner; b++) {
			const char *base = (const char *)x->data + (size_t)(a * len * inner + b) * es;
			for (int64_t j = 0; j < len; j++) {
				const char *pj = base + (size_t)(j * inner) * es;
				mp_dtype_traits(x->dtype)->load_f64(pj, 1, &items[j].v, 1);
				items[j].iv = 0;
				if (is_int) {
					mp_dtype_traits(x->dtype)->load_i64(pj, 1, &items[j].iv, 1);
					items[j].v = 0; /* order by the exact integer */
				}
				items[j].i = j;
			}
			qsort(items, (size_t)len, sizeof *items, p->largest ? topk_cmp_desc : topk_cmp_asc);
			for (int64_t j = 0; j < k; j++) {
				int64_t at = (a * k + j) * inner + b;
				idx[at] = items[j].i;
				if (is_int) {
					ivals[at] = items[j].iv;
				} else {
					vals[at] = items[j].v;
				}
			}
		}
	size_t n = (size_t)(outer * k * inner);
	if (is_int)
		cpu_from_i64(ov, ivals, n);
	else
		cpu_from_f64(ov, vals, n);
	if (oi)
		memcpy(oi->data, idx, n * sizeof *idx);
	free(items);
	free(vals);
	free(ivals);
	free(idx);
	return MP_OK;
}
