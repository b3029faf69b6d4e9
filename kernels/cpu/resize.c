/* resize.c - CPU Resize and Upsample.  Each resized axis gets a table of
 * taps (input index, weight) per output index (resize_taps.c); an output
 * element is the weighted sum over the product of its axes' taps. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "resize_taps.h"

enum mp_status cpu_resize(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_resize_params *p = c->params;
	const struct mp_tensor *X = c->in[0];
	struct mp_tensor *O = c->out[0];
	int r = X->ndim;
	struct mp_resize_taps taps[MP_MAX_DIMS] = { 0 };
	enum mp_status st = MP_OK;
	double *x = NULL, *o = NULL;
	(void)ctx;

	if (!mp_dtype_computable(X->dtype))
		return cpu_unsupported_dtype(c, X->dtype, e);
	int64_t total = mp_tensor_numel(O);
	if (total == 0)
		return MP_OK;
	if (mp_tensor_numel(X) == 0)
		return mp_error_set(e, MP_ERR_MODEL, "Resize of an empty input to a non-empty output");
	for (int d = 0; d < r; d++)
		if ((st = mp_resize_taps_build(p, d, X->shape[d], O->shape[d], &taps[d], e)))
			goto out;
	x = cpu_to_f64(X, e);
	o = cpu_alloc(total, sizeof *o);
	if (!x || !o) {
		st = cpu_nomem(e, (size_t)total * 8);
		goto out;
	}
	int64_t oidx[MP_MAX_DIMS] = { 0 };
	for (int64_t f = 0; f < total; f++) {
		bool ex = false;
		for (int d = 0; d < r; d++)
			ex |= taps[d].extrap[oidx[d]];
		if (ex) {
			o[f] = p->extrapolation_value;
		} else {
			/* sum over the product of each axis' taps */
			int k[MP_MAX_DIMS] = { 0 };
			double sum = 0;
			for (;;) {
				double w = 1;
				int64_t off = 0;
				for (int d = 0; d < r; d++) {
					int64_t at = oidx[d] * taps[d].ntap + k[d];
					w *= taps[d].w[at];
					off = off * X->shape[d] + taps[d].idx[at];
				}
				if (w != 0)
					sum += w * x[off];
				int d = r - 1;
				for (; d >= 0; d--) {
					if (++k[d] < taps[d].n[oidx[d]])
						break;
					k[d] = 0;
				}
				if (d < 0)
					break;
			}
			o[f] = sum;
		}
		for (int d = r - 1; d >= 0; d--) {
			if (++oidx[d] < O->shape[d])
				break;
			oidx[d] = 0;
		}
	}
	if (mp_dtype_is_float(O->dtype)) {
		cpu_from_f64(O, o, (size_t)total);
	} else { /* integer images round to nearest, as ONNX's reference casts after rounding */
		for (int64_t i = 0; i < total; i++)
			o[i] = nearbyint(o[i]);
		cpu_from_f64(O, o, (size_t)total);
	}
out:
	for (int d = 0; d < r; d++)
		mp_resize_taps_free(&taps[d]);
	free(x);
	free(o);
	return st;
}
