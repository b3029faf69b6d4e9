/* index.c - CPU kernels that index: Gather, GatherElements, GatherND,
 * ScatterND, ScatterElements (and the old Scatter), NonZero and Compress.
 * Indices come from the data, so every one is checked; a bad one is an
 * error naming it, never a stray write. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "index_shapes.h"
#include "view_plan.h"

static enum mp_status bad_index(const struct mp_op_call *c, int64_t v, int64_t dim, int axis,
                                struct mp_error *e)
{
	return mp_error_set(e, MP_ERR_INPUT, "%s: indices (input 1) hold %lld, out of range for axis %d of size %lld",
	                    mp_op_name(c->op), (long long)v, axis, (long long)dim);
}

static bool fix_index(int64_t *v, int64_t dim)
{
	if (*v < 0)
		*v += dim;
	return *v >= 0 && *v < dim;
}

enum mp_status cpu_gather(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_gather_params *p = c->params;
	const struct mp_tensor *x = c->in[0], *ind = c->in[1];
	struct mp_tensor *o = c->out[0];
	size_t es = mp_dtype_size(x->dtype);
	int64_t ni = mp_tensor_numel(ind);
	(void)ctx;

	if (c->op == MP_OP_GATHER) {
		int axis = p->axis_resolved;
		int64_t outer, dim, inner;
		mp_view_axis_split(x, axis, &outer, &dim, &inner);
		size_t row = (size_t)inner * es;
		char *dst = o->data;
		for (int64_t i = 0; i < ni; i++) {
			int64_t v = cpu_index_at(ind, i);
			if (!fix_index(&v, dim))
				return bad_index(c, cpu_index_at(ind, i), dim, axis, e);
		}
		for (int64_t a = 0; a < outer; a++)
			for (int64_t i = 0; i < ni; i++) {
				int64_t v = cpu_index_at(ind, i);
				fix_index(&v, dim);
				memcpy(dst + (size_t)(a * ni + i) * row,
				       (const char *)x->data + (size_t)(a * dim + v) * row, row);
			}
		return MP_OK;
	}
	if (c->op == MP_OP_GATHER_ELEMENTS) {
		int axis = p->axis_resolved, r = x->ndim;
		int64_t idx[MP_MAX_DIMS] = { 0 };
		enum mp_status st = mp_index_check_elements(c, x, ind, NULL, axis, e);
		if (st)
			return st;
		for (int64_t i = 0; i < ni; i++) {
			int64_t v = cpu_index_at(ind, i), off = 0;
			if (!fix_index(&v, x->shape[axis]))
				return bad_index(c, cpu_index_at(ind, i), x->shape[axis], axis, e);
			for (int d = 0; d < r; d++)
				off += (d == axis ? v : idx[d]) * x->strides[d];
			memcpy((char *)o->data + (size_t)i * es, (const char *)x->data + off, es);
			for (int d = r - 1; d >= 0; d--) {
				if (++idx[d] < ind->shape[d])
					break;
				idx[d] = 0;
			}
		}
		return MP_OK;
	}
	/* GatherND */
	enum mp_status st = mp_index_check_gather_nd(c, x, ind, p->batch_dims, e);
	if (st)
		return st;
	int64_t b = p->batch_dims, k = ind->shape[ind->ndim - 1], batch = 1, per = 1, slice = 1;
	for (int d = 0; d < b; d++)
		batch *= x->shape[d];
	for (int d = (int)b; d < ind->ndim - 1; d++)
		per *= ind->shape[d];
	for (int d = (int)(b + k); d < x->ndim; d++)
		slice *= x->shape[d];
	int64_t xbatch = 1;
	for (int d = (int)b; d < x->ndim; d++)
		xbatch *= x->shape[d];
	for (int64_t bi = 0; bi < batch; bi++)
		for (int64_t j = 0; j < per; j++) {
			int64_t off = 0;
			for (int64_t q = 0; q < k; q++) {
				int64_t v = cpu_index_at(ind, (bi * per + j) * k + q);
				int64_t dim = x->shape[b + q];
				if (!fix_index(&v, dim))
					return bad_index(c, cpu_index_at(ind, (bi * per + j) * k + q), dim, (int)(b + q), e);
				off = off * dim + v;
			}
			memcpy((char *)o->data + (size_t)((bi * per + j) * slice) * es,
			       (const char *)x->data + (size_t)(bi * xbatch + off * slice) * es, (size_t)slice * es);
		}
	return MP_OK;
}

/* dst op= src for one element, in the dtype's compute class */
static void combine(enum mp_reduction red, enum mp_dtype t, void *dst, const void *src)
{
	size_t es = mp_dtype_size(t);
	const struct mp_dtype_traits *tr = mp_dtype_traits(t);
	if (red == MP_REDUCE_NONE) {
		memcpy(dst, src, es);
		return;
	}
	if (tr->is_float) {
		double a, b;
		tr->load_f64(dst, 1, &a, 1);
		tr->load_f64(src, 1, &b, 1);
		switch (red) {
		case MP_REDUCE_ADD: a += b; break;
		case MP_REDUCE_MUL: a *= b; break;
		case MP_REDUCE_MAX: a = fmax(a, b); break;
		default: a = fmin(a, b); break;
		}
		tr->store_f64(&a, dst, 1);
	} else {
		int64_t a, b;
		bool uns = !tr->is_signed;
		tr->load_i64(dst, 1, &a, 1);
		tr->load_i64(src, 1, &b, 1);
		switch (red) {
		case MP_REDUCE_ADD: a = (int64_t)((uint64_t)a + (uint64_t)b); break;
		case MP_REDUCE_MUL: a = (int64_t)((uint64_t)a * (uint64_t)b); break;
		case MP_REDUCE_MAX: a = (uns ? (uint64_t)b > (uint64_t)a : b > a) ? b : a; break;
		default: a = (uns ? (uint64_t)b < (uint64_t)a : b < a) ? b : a; break;
		}
		tr->store_i64(&a, dst, 1);
	}
}

enum mp_status cpu_scatter(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_scatter_params *p = c->params;
	const struct mp_tensor *x = c->in[0], *ind = c->in[1], *upd = c->in[2];
	struct mp_tensor *o = c->out[0];
	size_t es = mp_dtype_size(x->dtype);
	(void)ctx;

	memcpy(o->data, x->data, mp_tensor_nbytes(o));
	if (c->op == MP_OP_SCATTER_ND) {
		enum mp_status st = mp_index_check_scatter_nd(c, x, ind, upd, e);
		if (st)
			return st;
		int q = ind->ndim;
		int64_t k = ind->shape[q - 1], n = 1, slice = 1;
		for (int d = 0; d < q - 1; d++)
			n *= ind->shape[d];
		for (int d = (int)k; d < x->ndim; d++)
			slice *= x->shape[d];
		for (int64_t i = 0; i < n; i++) {
			int64_t off = 0;
			for (int64_t j = 0; j < k; j++) {
				int64_t v = cpu_index_at(ind, i * k + j);
				if (!fix_index(&v, x->shape[j]))
					return bad_index(c, cpu_index_at(ind, i * k + j), x->shape[j], (int)j, e);
				off = off * x->shape[j] + v;
			}
			for (int64_t s = 0; s < slice; s++)
				combine(p->reduction, x->dtype, (char *)o->data + (size_t)(off * slice + s) * es,
				        (const char *)upd->data + (size_t)(i * slice + s) * es);
		}
		return MP_OK;
	}
	int axis = p->axis_resolved, r = x->ndim;
	int64_t n = mp_tensor_numel(ind), idx[MP_MAX_DIMS] = { 0 };
	enum mp_status st = mp_index_check_elements(c, x, ind, upd, axis, e);
	if (st)
		return st;
	for (int64_t i = 0; i < n; i++) {
		int64_t v = cpu_index_at(ind, i), off = 0;
		if (!fix_index(&v, x->shape[axis]))
			return bad_index(c, cpu_index_at(ind, i), x->shape[axis], axis, e);
		for (int d = 0; d < r; d++)
			off += (d == axis ? v : idx[d]) * o->strides[d];
		int64_t uoff = 0;
		for (int d = 0; d < r; d++)
			uoff += idx[d] * upd->strides[d];
		combine(p->reduction, x->dtype, (char *)o->data + off, (const char *)upd->data + uoff);
		for (int d = r - 1; d >= 0; d--) {
			if (++idx[d] < ind->shape[d])
				break;
			idx[d] = 0;
		}
	}
	return MP_OK;
}

static bool nonzero_at(const struct mp_tensor *t, int64_t i)
{
	double v;
	mp_dtype_traits(t->dtype)->load_f64((const char *)t->data + (size_t)i * mp_dtype_size(t->dtype), 1, &v, 1);
	return v != 0;
}

enum mp_status cpu_select(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_select_params *p = c->params;
	const struct mp_tensor *x = c->in[0];
	struct mp_tensor *o = c->out[0];
	(void)ctx;
	(void)e;

	if (c->op == MP_OP_NON_ZERO) {
		int64_t n = mp_tensor_numel(x), nnz = o->shape[1], k = 0, idx[MP_MAX_DIMS] = { 0 };
		int64_t *out = o->data;
		for (int64_t i = 0; i < n && k < nnz; i++) {
			if (nonzero_at(x, i)) {
				for (int d = 0; d < x->ndim; d++)
					out[d * nnz + k] = idx[d];
				k++;
			}
			for (int d = x->ndim - 1; d >= 0; d--) {
				if (++idx[d] < x->shape[d])
					break;
				idx[d] = 0;
			}
		}
		return MP_OK;
	}
	const struct mp_tensor *cond = c->in[1];
	size_t es = mp_dtype_size(x->dtype);
	int64_t nc = mp_tensor_numel(cond);
	if (!p->has_axis) {
		int64_t n = mp_tensor_numel(x), k = 0;
		for (int64_t i = 0; i < n && i < nc; i++)
			if (((const uint8_t *)cond->data)[i])
				memcpy((char *)o->data + (size_t)(k++) * es, (const char *)x->data + (size_t)i * es, es);
		return MP_OK;
	}
	int axis = p->axis_resolved;
	int64_t outer, dim, inner, k = 0;
	mp_view_axis_split(x, axis, &outer, &dim, &inner);
	int64_t kept = o->shape[axis];
	for (int64_t j = 0; j < dim && j < nc; j++) {
		if (!((const uint8_t *)cond->data)[j])
			continue;
		for (int64_t a = 0; a < outer; a++)
			memcpy((char *)o->data + (size_t)((a * kept + k) * inner) * es,
			       (const char *)x->data + (size_t)((a * dim + j) * inner) * es, (size_t)inner * es);
		k++;
	}
	return MP_OK;
}
