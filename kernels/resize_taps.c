/* resize_taps.c - Resize's per-axis taps (see resize_taps.h), ONNX's
 * coordinate transforms and interpolation kernels. */
#include "resize_taps.h"

#include <math.h>
#include <stdlib.h>

static double cubic_w(double x, double a)
{
	x = fabs(x);
	if (x <= 1)
		return ((a + 2) * x - (a + 3)) * x * x + 1;
	if (x < 2)
		return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
	return 0;
}

/* x_original for output index x along one axis (ONNX's definitions) */
static double coord(const struct mp_resize_params *p, int d, double x, int64_t in, int64_t out_int,
                    bool *extrap)
{
	double s = p->scale[d], out = s * (double)in;
	*extrap = false;
	switch (p->coord) {
	case MP_COORD_ALIGN_CORNERS:
		return out == 1 ? 0 : x * (double)(in - 1) / (out - 1);
	case MP_COORD_ASYMMETRIC:
		return x / s;
	case MP_COORD_TF_CROP_AND_RESIZE: {
		double r0 = p->roi_start[d], r1 = p->roi_end[d], xo;
		if (out_int == 1)
			xo = (r1 - r0) * (double)(in - 1) / 2;
		else
			xo = x * (r1 - r0) * (double)(in - 1) / (double)(out_int - 1);
		xo += r0 * (double)(in - 1);
		*extrap = xo < 0 || xo > (double)(in - 1);
		return xo;
	}
	case MP_COORD_PYTORCH_HALF_PIXEL:
		return out == 1 ? -0.5 : (x + 0.5) / s - 0.5;
	case MP_COORD_HALF_PIXEL_SYMMETRIC: {
		double adjustment = (double)out_int / out;
		double center = (double)in / 2;
		return center * (1 - adjustment) + (x + 0.5) / s - 0.5;
	}
	case MP_COORD_TF_HALF_PIXEL_FOR_NN:
		return (x + 0.5) / s;
	default:
		return (x + 0.5) / s - 0.5;
	}
}

/* Taps one output index can need along an axis with this scale. */
static int taps_needed(const struct mp_resize_params *p, double scale)
{
	double s = p->antialias && scale < 1 ? scale : 1;
	double start;
	switch (p->mode) {
	case MP_RESIZE_NEAREST: return 1;
	case MP_RESIZE_LINEAR: start = floor(-1 / s) + 1; return (int)fmin(2 - 2 * start, 1e9);
	default: start = floor(-2 / s) + 1; return (int)fmin(4 - 2 * start, 1e9);
	}
}

/* The taps of one output index; returns their count. */
static int taps_for(const struct mp_resize_params *p, double xo, int64_t in, double scale,
                    int64_t *idx, double *w)
{
	bool integral = xo == floor(xo);
	int64_t x0 = integral ? (int64_t)xo - 1 : (int64_t)floor(xo);
	double ratio = integral ? 1 : xo - floor(xo);
	int n = 0;

	if (p->mode == MP_RESIZE_NEAREST) {
		bool right;
		if (integral) right = true;
		else if (p->nearest == MP_NEAREST_ROUND_PREFER_FLOOR) right = ratio > 0.5;
		else if (p->nearest == MP_NEAREST_ROUND_PREFER_CEIL) right = ratio >= 0.5;
		else right = p->nearest == MP_NEAREST_CEIL;
		idx[0] = right ? x0 + 1 : x0;
		w[0] = 1;
		n = 1;
	} else if (p->mode == MP_RESIZE_LINEAR) {
		double s = p->antialias && scale < 1 ? scale : 1;
		int64_t start = (int64_t)floor(-1 / s) + 1, foot = 2 - 2 * start;
		for (int64_t i = start; i < start + foot; i++, n++) {
			double a = ((double)i - ratio) * s;
			idx[n] = x0 + i;
			w[n] = fmax(0, fmin(1, 1 - fabs(a)));
		}
	} else {
		double s = p->antialias && scale < 1 ? scale : 1;
		int64_t start = (int64_t)floor(-2 / s) + 1, end = 2 - start;
		for (int64_t i = start; i < end; i++, n++) {
			idx[n] = x0 + i;
			w[n] = cubic_w(s * ((double)i - ratio), p->cubic_coeff_a);
		}
	}
	double sum = 0;
	for (int k = 0; k < n; k++) {
		if (p->exclude_outside && (idx[k] < 0 || idx[k] >= in))
			w[k] = 0;
		sum += w[k];
	}
	for (int k = 0; k < n; k++) {
		if (p->mode != MP_RESIZE_NEAREST && sum != 0)
			w[k] /= sum;
		/* outside the input: the edge value (ONNX pads with edge values) */
		idx[k] = idx[k] < 0 ? 0 : idx[k] >= in ? in - 1 : idx[k];
	}
	return n;
}

void mp_resize_taps_free(struct mp_resize_taps *t)
{
	free(t->idx);
	free(t->w);
	free(t->n);
	free(t->extrap);
	t->idx = NULL;
	t->w = NULL;
	t->n = NULL;
	t->extrap = NULL;
}

enum mp_status mp_resize_taps_build(const struct mp_resize_params *p, int d, int64_t in, int64_t out,
                                    struct mp_resize_taps *t, struct mp_error *e)
{
	t->ntap = taps_needed(p, p->scale[d]);
	if (t->ntap > MP_RESIZE_MAX_TAPS)
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "Resize: antialiasing a %g downscale needs %d taps, more than %d",
		                    p->scale[d], t->ntap, MP_RESIZE_MAX_TAPS);
	size_t no = (size_t)(out > 0 ? out : 1);
	t->idx = malloc(no * (size_t)t->ntap * sizeof *t->idx);
	t->w = malloc(no * (size_t)t->ntap * sizeof *t->w);
	t->n = malloc(no * sizeof *t->n);
	t->extrap = malloc(no * sizeof *t->extrap);
	if (!t->idx || !t->w || !t->n || !t->extrap) {
		mp_resize_taps_free(t);
		return mp_error_set(e, MP_ERR_NOMEM, "Resize: out of memory for %zu x %d taps", no, t->ntap);
	}
	bool identity = in == out && p->scale[d] == 1 && p->coord != MP_COORD_TF_CROP_AND_RESIZE;
	for (int64_t i = 0; i < out; i++) {
		int64_t *ti = t->idx + i * t->ntap;
		double *tw = t->w + i * t->ntap;
		if (identity) {
			ti[0] = i;
			tw[0] = 1;
			t->n[i] = 1;
			t->extrap[i] = false;
			continue;
		}
		double xo = coord(p, d, (double)i, in, out, &t->extrap[i]);
		t->n[i] = taps_for(p, xo, in, p->scale[d], ti, tw);
	}
	return MP_OK;
}
