/* norm.c - CPU normalisation kernels.  Statistics are taken in f64 over
 * the rows each op normalises, outputs rounded once to their dtype. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "view_plan.h"

/* A per-channel or broadcast parameter loaded as n f64 values shaped like
 * dims[0..nd) (the normalised dims). */
static double *param_as(const struct mp_tensor *t, int nd, const int64_t *dims, int64_t n,
                        struct mp_error *e)
{
	double *buf = cpu_alloc(n, sizeof *buf);
	if (!buf) {
		cpu_nomem(e, (size_t)n * 8);
		return NULL;
	}
	struct mp_tensor like = { .dtype = MP_F64, .ndim = nd, .data = buf };
	mp_tensor_init(&like, MP_F64, nd, dims);
	like.data = buf;
	cpu_bcast_load_f64(&like, t, buf);
	return buf;
}

static enum mp_status layer_like(const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_norm_params *p = c->params;
	const struct mp_tensor *X = c->in[0];
	bool rms = c->op == MP_OP_RMS_NORMALIZATION;
	const struct mp_tensor *S = c->in[1];
	const struct mp_tensor *B = !rms && c->ninputs > 2 ? c->in[2] : NULL;
	int axis = p->axis_resolved, nd = X->ndim - axis;
	int64_t outer, inner;
	enum mp_status st = MP_OK;

	mp_view_axis_rows(X, axis, &outer, &inner);
	/* scale and bias broadcast onto X.shape[axis:] (inference checked it;
	 * a short one would be read past its end) */
	for (int k = 1; k < 3; k++) {
		const struct mp_tensor *t = k == 1 ? S : B;
		for (int j = 0; t && j < t->ndim; j++) {
			int d = X->ndim - t->ndim + j;
			int64_t want = d >= axis ? X->shape[d] : 1;
			if (t->shape[j] != 1 && t->shape[j] != want) {
				char a[256], b[256];
				return mp_error_set(e, MP_ERR_INPUT, "%s: %s (input %d) has shape %s, which does not broadcast "
				                    "onto the normalised dims %s", mp_op_name(c->op), k == 1 ? "scale" : "bias", k,
				                    mp_shape_str(a, sizeof a, t->ndim, t->shape),
				                    mp_shape_str(b, sizeof b, nd, X->shape + axis));
			}
		}
	}
	double *x = cpu_to_f64(X, e);
	double *s = x ? param_as(S, nd, X->shape + axis, inner, e) : NULL;
	double *b = s && B ? param_as(B, nd, X->shape + axis, inner, e) : NULL;
	double *mean = cpu_alloc(outer, 8), *inv = cpu_alloc(outer, 8);
	if (!x || !s || (B && !b) || !mean || !inv) {
		st = cpu_nomem(e, (size_t)(outer * inner) * 8);
		goto out;
	}
	for (int64_t r = 0; r < outer; r++) {
		double *row = x + r * inner, m = 0, v = 0;
		if (!rms) {
			for (int64_t i = 0; i < inner; i++)
				m += row[i];
			m /= (double)inner;
		}
		for (int64_t i = 0; i < inner; i++)
			v += (row[i] - m) * (row[i] - m);
		v /= (double)inner;
		double iv = 1 / sqrt(v + p->epsilon);
		mean[r] = m;
		inv[r] = iv;
		for (int64_t i = 0; i < inner; i++)
			row[i] = (row[i] - m) * iv * s[i] + (b ? b[i] : 0);
	}
	cpu_from_f64(c->out[0], x, (size_t)(outer * inner));
	if (c->noutputs > 1 && c->out[1])
		cpu_from_f64(c->out[1], mean, (size_t)outer);
	if (c->noutputs > 2 && c->out[2])
		cpu_from_f64(c->out[2], inv, (size_t)outer);
out:
	free(x);
	free(s);
	free(b);
	free(mean);
	free(inv);
	return st;
}

/* Per-channel normalisation of [N, C, spatial...]: BatchNormalization uses
 * the given statistics; InstanceNormalization and GroupNormalization take
 * them per sample over channel groups. */
static enum mp_status channel_norm(const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_norm_params *p = c->params;
	const struct mp_tensor *X = c->in[0];
	int64_t N = X->shape[0], C = X->shape[1], S = 1;
	enum mp_status st = MP_OK;
	for (int d = 2; d < X->ndim; d++)
		S *= X->shape[d];
	int64_t G = c->op == MP_OP_GROUP_NORMALIZATION ? p->num_groups :
	            c->op == MP_OP_INSTANCE_NORMALIZATION ? C : 0;
	double *x = cpu_to_f64(X, e);
	double *scale = x ? cpu_to_f64(c->in[1], e) : NULL;
	double *bias = scale ? cpu_to_f64(c->in[2], e) : NULL;
	double *mean = NULL, *var = NULL;
	if (c->op == MP_OP_BATCH_NORMALIZATION && bias) {
		mean = cpu_to_f64(c->in[3], e);
		var = mean ? cpu_to_f64(c->in[4], e) : NULL;
	}
	if (!x || !scale || !bias || (c->op == MP_OP_BATCH_NORMALIZATION && (!mean || !var))) {
		st = MP_ERR_NOMEM;
		goto out;
	}
	if (c->op == MP_OP_BATCH_NORMALIZATION && p->training) {
		/* the batch's statistics, over N and the spatial dims; the running
		 * ones move toward them by (1 - momentum) */
		for (int64_t ch = 0; ch < C; ch++) {
			double m = 0, v = 0, cnt = (double)(N * S);
			for (int64_t n = 0; n < N; n++)
				for (int64_t i = 0; i < S; i++)
					m += x[(n * C + ch) * S + i];
			m /= cnt ? cnt : 1;
			for (int64_t n = 0; n < N; n++)
				for (int64_t i = 0; i < S; i++) {
					double d = x[(n * C + ch) * S + i] - m;
					v += d * d;
				}
			v /= cnt ? cnt : 1;
			mean[ch] = mean[ch] * p->momentum + m * (1 - p->momentum);
			var[ch] = var[ch] * p->momentum + v * (1 - p->momentum);
			double iv = 1 / sqrt(v + p->epsilon);
			for (int64_t n = 0; n < N; n++)
				for (int64_t i = 0; i < S; i++) {
					double *px = &x[(n * C + ch) * S + i];
					*px = (*px - m) * iv * scale[ch] + bias[ch];
				}
		}
		cpu_from_f64(c->out[0], x, (size_t)(N * C * S));
		if (c->noutputs > 1 && c->out[1])
			cpu_from_f64(c->out[1], mean, (size_t)C);
		if (c->noutputs > 2 && c->out[2])
			cpu_from_f64(c->out[2], var, (size_t)C);
		goto out;
	}
	for (int64_t n = 0; n < N; n++) {
		if (G == 0) {
			for (int64_t ch = 0; ch < C; ch++) {
				double *v = x + (n * C + ch) * S;
				double iv = 1 / sqrt(var[ch] + p->epsilon);
				for (int64_t i = 0; i < S; i++)
					v[i] = (v[i] - mean[ch]) * iv * scale[ch] + bias[ch];
			}
			continue;
		}
		int64_t cg = C / G;
		for (int64_t g = 0; g < G; g++) {
			double *v = x + (n * C + g * cg) * S, m = 0, s2 = 0;
			int64_t cnt = cg * S;
			for (int64_t i = 0; i < cnt; i++)
				m += v[i];
			m /= (double)(cnt ? cnt : 1);
			for (int64_t i = 0; i < cnt; i++)
				s2 += (v[i] - m) * (v[i] - m);
			double iv = 1 / sqrt(s2 / (double)(cnt ? cnt : 1) + p->epsilon);
			for (int64_t k = 0; k < cg; k++) {
				int64_t ch = g * cg + k;
				/* GroupNormalization-18 scales per group, -21 per channel */
				int64_t si = p->legacy_group_scale && c->op == MP_OP_GROUP_NORMALIZATION ? g : ch;
				for (int64_t i = 0; i < S; i++)
					v[k * S + i] = (v[k * S + i] - m) * iv * scale[si] + bias[si];
			}
		}
	}
	cpu_from_f64(c->out[0], x, (size_t)(N * C * S));
out:
	free(x);
	free(scale);
	free(bias);
	free(mean);
	free(var);
	return st ? st : MP_OK;
}

/* MeanVarianceNormalization over a set of axes, LpNormalization along one. */
static enum mp_status axes_norm(const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_norm_params *p = c->params;
	const struct mp_tensor *X = c->in[0];
	int r = X->ndim;
	int64_t n = mp_tensor_numel(X);
	uint32_t mask = c->op == MP_OP_LP_NORMALIZATION ? 1u << p->axis_resolved : p->mask;
	double *x = cpu_to_f64(X, e);
	int64_t groups = 1, *gid = cpu_alloc(n, sizeof *gid);
	if (!x || !gid) {
		free(x);
		free(gid);
		return cpu_nomem(e, (size_t)n * 8);
	}
	for (int d = 0; d < r; d++)
		if (!(mask & (1u << d)))
			groups *= X->shape[d];
	/* the group of each element: its index over the dims not normalised */
	int64_t idx[MP_MAX_DIMS] = { 0 };
	for (int64_t i = 0; i < n; i++) {
		int64_t g = 0;
		for (int d = 0; d < r; d++)
			if (!(mask & (1u << d)))
				g = g * X->shape[d] + idx[d];
		gid[i] = g;
		for (int d = r - 1; d >= 0; d--) {
			if (++idx[d] < X->shape[d])
				break;
			idx[d] = 0;
		}
	}
	double *s1 = calloc((size_t)(groups ? groups : 1), 8), *s2 = calloc((size_t)(groups ? groups : 1), 8);
	int64_t *cnt = calloc((size_t)(groups ? groups : 1), 8);
	if (!s1 || !s2 || !cnt) {
		free(x); free(gid); free(s1); free(s2); free(cnt);
		return cpu_nomem(e, (size_t)groups * 24);
	}
	for (int64_t i = 0; i < n; i++) {
		double v = x[i];
		s1[gid[i]] += c->op == MP_OP_LP_NORMALIZATION && p->p == 1 ? fabs(v) : v;
		s2[gid[i]] += v * v;
		cnt[gid[i]]++;
	}
	for (int64_t i = 0; i < n; i++) {
		int64_t g = gid[i];
		if (c->op == MP_OP_LP_NORMALIZATION) {
			double norm = p->p == 1 ? s1[g] : sqrt(s2[g]);
			x[i] = norm == 0 ? 0 : x[i] / norm; /* as ONNX: a zero vector stays zero */
		} else {
			double m = s1[g] / (double)cnt[g];
			double var = s2[g] / (double)cnt[g] - m * m;
			/* as ONNX's function body: (x - mean) / (sqrt(var) + 1e-9) */
			x[i] = (x[i] - m) / (sqrt(var > 0 ? var : 0) + 1e-9);
		}
	}
	cpu_from_f64(c->out[0], x, (size_t)n);
	free(x); free(gid); free(s1); free(s2); free(cnt);
	return MP_OK;
}

static enum mp_status lrn(const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_norm_params *p = c->params;
	const struct mp_tensor *X = c->in[0];
	int64_t N = X->shape[0], C = X->shape[1], S = 1;
	for (int d = 2; d < X->ndim; d++)
		S *= X->shape[d];
	double *x = cpu_to_f64(X, e), *y = cpu_alloc(N * C * S, 8);
	if (!x || !y) {
		free(x);
		free(y);
		return cpu_nomem(e, (size_t)(N * C * S) * 8);
	}
	int64_t lo = (p->size - 1) / 2, hi = p->size - 1 - lo;
	for (int64_t n = 0; n < N; n++)
		for (int64_t ch = 0; ch < C; ch++)
			for (int64_t i = 0; i < S; i++) {
				double sum = 0;
				for (int64_t k = ch - lo; k <= ch + hi; k++)
					if (k >= 0 && k < C) {
						double v = x[(n * C + k) * S + i];
						sum += v * v;
					}
				double v = x[(n * C + ch) * S + i];
				y[(n * C + ch) * S + i] = v / pow(p->bias + p->alpha / (double)p->size * sum, p->beta);
			}
	cpu_from_f64(c->out[0], y, (size_t)(N * C * S));
	free(x);
	free(y);
	return MP_OK;
}

enum mp_status cpu_norm(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	(void)ctx;
	if (!mp_dtype_is_float(c->in[0]->dtype))
		return cpu_unsupported_dtype(c, c->in[0]->dtype, e);
	switch (c->op) {
	case MP_OP_LAYER_NORMALIZATION:
	case MP_OP_RMS_NORMALIZATION:
		return layer_like(c, e);
	case MP_OP_MEAN_VARIANCE_NORMALIZATION:
	case MP_OP_LP_NORMALIZATION:
		return axes_norm(c, e);
	case MP_OP_LRN:
		return lrn(c, e);
	default:
		return channel_norm(c, e);
	}
}
