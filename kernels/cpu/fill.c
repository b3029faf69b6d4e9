/* fill.c - CPU kernels that make tensors rather than transform them:
 * Constant, ConstantOfShape, Range, EyeLike, OneHot; Shape and Size; and
 * the view family, whose data the executor aliases (only Dropout's mask is
 * computed here). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "view_plan.h"

static void fill_bytes(struct mp_tensor *o, const void *v)
{
	size_t es = mp_dtype_size(o->dtype);
	int64_t n = mp_tensor_numel(o);
	for (int64_t i = 0; i < n; i++)
		memcpy((char *)o->data + (size_t)i * es, v, es);
}

enum mp_status cpu_fill(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_fill_params *p = c->params;
	struct mp_tensor *o = c->out[0];
	int64_t n = mp_tensor_numel(o);
	(void)ctx;

	switch (c->op) {
	case MP_OP_CONSTANT:
		if (n)
			memcpy(o->data, p->value.data, mp_tensor_nbytes(o));
		return MP_OK;
	case MP_OP_CONSTANT_OF_SHAPE:
		fill_bytes(o, p->value.data);
		return MP_OK;
	case MP_OP_RANGE:
		if (mp_dtype_is_float(o->dtype)) {
			double s = cpu_scalar_f64(c->in[0]), d = cpu_scalar_f64(c->in[2]);
			double *v = cpu_alloc(n, sizeof *v);
			if (!v)
				return cpu_nomem(e, (size_t)n * 8);
			for (int64_t i = 0; i < n; i++)
				v[i] = s + (double)i * d;
			/* numpy's arange in the dtype: f32 ranges accumulate in f32 */
			if (o->dtype == MP_F32) {
				float fs = (float)s, fd = (float)d;
				for (int64_t i = 0; i < n; i++)
					v[i] = (double)(fs + (float)i * fd);
			}
			cpu_from_f64(o, v, (size_t)n);
			free(v);
		} else {
			int64_t s = cpu_scalar_i64(c->in[0]), d = cpu_scalar_i64(c->in[2]);
			int64_t *v = cpu_alloc(n, sizeof *v);
			if (!v)
				return cpu_nomem(e, (size_t)n * 8);
			for (int64_t i = 0; i < n; i++)
				v[i] = (int64_t)((uint64_t)s + (uint64_t)i * (uint64_t)d);
			cpu_from_i64(o, v, (size_t)n);
			free(v);
		}
		return MP_OK;
	case MP_OP_EYE_LIKE: {
		int64_t rows = o->shape[0], cols = o->shape[1];
		double one = 1, zero = 0;
		unsigned char v1[16], v0[16];
		size_t es = mp_dtype_size(o->dtype);
		mp_dtype_traits(o->dtype)->store_f64(&one, v1, 1);
		mp_dtype_traits(o->dtype)->store_f64(&zero, v0, 1);
		for (int64_t i = 0; i < rows; i++)
			for (int64_t j = 0; j < cols; j++)
				memcpy((char *)o->data + (size_t)(i * cols + j) * es, j - i == p->k ? v1 : v0, es);
		return MP_OK;
	}
	case MP_OP_HANN_WINDOW: {
		/* as ONNX's reference: sin(i pi / N)^2 in doubles, N the size
		 * (periodic) or one less, then the output dtype */
		double N = (double)(p->periodic ? n : n - 1);
		double *v;
		if (!n)
			return MP_OK;
		if (!(v = cpu_alloc(n, sizeof *v)))
			return cpu_nomem(e, (size_t)n * 8);
		for (int64_t i = 0; i < n; i++) {
			double s = sin((double)i * 3.14159265358979323846 / N);
			v[i] = s * s;
		}
		cpu_from_f64(o, v, (size_t)n);
		free(v);
		return MP_OK;
	}
	default: { /* OneHot */
		const struct mp_tensor *ind = c->in[0], *vals = c->in[2];
		size_t es = mp_dtype_size(o->dtype);
		int axis = p->axis_resolved;
		int64_t outer, depth, inner;
		mp_view_axis_split(o, axis, &outer, &depth, &inner);
		const char *off = vals->data, *on = (const char *)vals->data + es;
		fill_bytes(o, off);
		double *iv = cpu_to_f64(ind, e);
		if (!iv)
			return MP_ERR_NOMEM;
		for (int64_t a = 0; a < outer; a++)
			for (int64_t b = 0; b < inner; b++) {
				double f = iv[a * inner + b];
				int64_t k = (int64_t)f;
				if (f != f || k < -depth || k >= depth)
					continue; /* out of range: all off, as ONNX says */
				if (k < 0)
					k += depth;
				memcpy((char *)o->data + (size_t)((a * depth + k) * inner + b) * es, on, es);
			}
		free(iv);
		return MP_OK;
	}
	}
}

enum mp_status cpu_shape(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_shape_params *p = c->params;
	const struct mp_tensor *x = c->in[0];
	int64_t *out = c->out[0]->data;
	(void)ctx;
	(void)e;
	if (c->op == MP_OP_SIZE) {
		out[0] = mp_tensor_numel(x);
		return MP_OK;
	}
	for (int64_t d = p->start; d < p->end; d++)
		out[d - p->start] = x->shape[d];
	return MP_OK;
}

enum mp_status cpu_view(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_view_params *p = c->params;
	(void)ctx;
	(void)e;
	/* output 0 aliases input 0 (the executor does that); Dropout's mask,
	 * in inference, keeps everything */
	if (c->op == MP_OP_DROPOUT && p->write_mask && c->noutputs > 1 && c->out[1]) {
		double one = 1;
		unsigned char v[16];
		mp_dtype_traits(c->out[1]->dtype)->store_f64(&one, v, 1);
		fill_bytes(c->out[1], v);
	}
	return MP_OK;
}
