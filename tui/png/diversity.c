/* diversity.c - the diversity analysis and its chart. */
#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diversity.h"
#include "plot.h"
#include "pngout.h"

/* Below this ratio of prediction spread to truth spread the predictions
 * have collapsed (they barely move with the input); below LOW they move
 * much less than the truth does. */
#define RATIO_COLLAPSED 0.05
#define RATIO_LOW 0.5

const char *mp_verdict_name(enum mp_verdict v)
{
	switch (v) {
	case MP_VERDICT_COLLAPSED: return "collapsed";
	case MP_VERDICT_LOW: return "low";
	case MP_VERDICT_HEALTHY: return "healthy";
	default: return "unknown";
	}
}

void mp_diversity_free(struct mp_diversity *d)
{
	free(d->pred), free(d->gt), free(d->batch_of), free(d->ratio_batch), free(d->spread_pred), free(d->spread_gt);
	free(d->feature);
	memset(d, 0, sizeof *d);
}

/* Mean over joints of the spread (sqrt(var x + var y)) across the samples
 * in [a, b); per joint into sj when given. */
static double spread(const double *x, int J, int a, int b, double *sj)
{
	double total = 0;
	int n = b - a;
	for (int j = 0; j < J; j++) {
		double mx = 0, my = 0, v = 0;
		for (int i = a; i < b; i++)
			mx += x[(2 * (size_t)i * J) + 2 * j], my += x[(2 * (size_t)i * J) + 2 * j + 1];
		mx /= n, my /= n;
		for (int i = a; i < b; i++) {
			double dx = x[(2 * (size_t)i * J) + 2 * j] - mx, dy = x[(2 * (size_t)i * J) + 2 * j + 1] - my;
			v += dx * dx + dy * dy;
		}
		double s = n > 0 ? sqrt(v / n) : NAN;
		if (sj)
			sj[j] = s;
		total += s;
	}
	return total / J;
}

static bool grow(void **p, size_t n, size_t size)
{
	void *q = realloc(*p, n * size);
	if (!q)
		return false;
	*p = q;
	return true;
}

enum mp_status mp_diversity_analyse(struct mp_view *v, const struct mp_pose_options *po_in, struct mp_diversity *d,
                                    struct mp_error *e)
{
	struct mp_pose_options po = *po_in;
	enum mp_status st = MP_OK;
	bool all_gt = true;
	memset(d, 0, sizeof *d);
	d->fall_node = -1;
	po.no_image = true;
	if (!v->nbatches)
		return mp_error_set(e, MP_ERR_INPUT, "%s: no batch recorded", v->path);
	d->nbatches = v->nbatches;
	if (!(d->ratio_batch = calloc(v->nbatches, sizeof *d->ratio_batch)) ||
	    !(d->feature = calloc(v->nnodes + 1, sizeof *d->feature)))
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	size_t *first = calloc(v->nbatches + 1, sizeof *first);
	if (!first)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < v->nbatches; i++) {
		struct mp_poses p;
		if ((st = mp_poses_load(v, i, &po, &p, e)))
			goto out;
		if (d->J && p.J != d->J) {
			mp_poses_free(&p);
			st = mp_error_set(e, MP_ERR_INPUT, "%s: batch %zu has %d joints, the ones before %d", v->path,
			                  v->batch_index[i], p.J, d->J);
			goto out;
		}
		d->J = p.J;
		size_t n = (size_t)d->N + (size_t)p.B, k = (size_t)p.B * (size_t)p.J * 2;
		if (n > 100000 || !grow((void **)&d->pred, n * (size_t)p.J * 2, sizeof *d->pred) ||
		    !grow((void **)&d->gt, n * (size_t)p.J * 2, sizeof *d->gt) ||
		    !grow((void **)&d->batch_of, n, sizeof *d->batch_of)) {
			mp_poses_free(&p);
			st = mp_error_set(e, n > 100000 ? MP_ERR_UNSUPPORTED : MP_ERR_NOMEM,
			                  n > 100000 ? "more than 100,000 samples" : "out of memory");
			goto out;
		}
		memcpy(d->pred + (size_t)d->N * (size_t)p.J * 2, p.pred, k * sizeof *d->pred);
		if (p.gt)
			memcpy(d->gt + (size_t)d->N * (size_t)p.J * 2, p.gt, k * sizeof *d->gt);
		all_gt &= p.gt != NULL;
		first[i] = (size_t)d->N;
		for (int b = 0; b < p.B; b++)
			d->batch_of[d->N + b] = (int)i;
		d->N += p.B;
		mp_poses_free(&p);
	}
	first[v->nbatches] = (size_t)d->N;
	if (!all_gt) {
		free(d->gt);
		d->gt = NULL;
	}
	if (!(d->spread_pred = calloc((size_t)d->J, sizeof *d->spread_pred)) ||
	    !(d->spread_gt = calloc((size_t)d->J, sizeof *d->spread_gt))) {
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto out;
	}
	d->pred_spread = spread(d->pred, d->J, 0, d->N, d->spread_pred);
	d->gt_spread = d->gt ? spread(d->gt, d->J, 0, d->N, d->spread_gt) : NAN;
	for (size_t i = 0; i < v->nbatches; i++) {
		int a = (int)first[i], b = (int)first[i + 1];
		double g = d->gt ? spread(d->gt, d->J, a, b, NULL) : NAN;
		d->ratio_batch[i] = b - a > 1 && g > 0 ? spread(d->pred, d->J, a, b, NULL) / g : NAN;
	}
	d->ratio = d->gt && d->gt_spread > 0 ? d->pred_spread / d->gt_spread : NAN;
	if (d->N < 2)
		d->verdict = MP_VERDICT_UNKNOWN;
	else if (d->pred_spread <= 1e-9 * (1 + fabs(d->pred[0])) || d->ratio < RATIO_COLLAPSED)
		d->verdict = MP_VERDICT_COLLAPSED; /* all equal, or next to it */
	else if (isnan(d->ratio))
		d->verdict = MP_VERDICT_UNKNOWN;
	else
		d->verdict = d->ratio < RATIO_LOW ? MP_VERDICT_LOW : MP_VERDICT_HEALTHY;
	/* the probes' feature diversity, and where it falls most (in log) */
	if ((st = mp_view_node_diversity(v, d->feature, e)))
		goto out;
	double prev = NAN, worst = 0;
	for (size_t i = 0; i < v->nnodes; i++) {
		double r = d->feature[i];
		if (!(r > 0) || !isfinite(r))
			continue;
		if (prev > 0 && log(prev / r) > worst)
			worst = log(prev / r), d->fall_node = (int32_t)i;
		prev = r;
	}
out:
	free(first);
	if (st)
		mp_diversity_free(d);
	return st;
}

/* ---- the chart ---- */

/* The top two principal directions of the rows of X (n x D), centred on
 * mean, by power iteration with deflation. */
static void pca2(const double *X, int n, int D, const double *mean, double *u1, double *u2)
{
	double *c = calloc((size_t)D * (size_t)D, sizeof *c);
	if (!c)
		return;
	for (int i = 0; i < n; i++)
		for (int a = 0; a < D; a++) {
			double xa = X[(size_t)i * D + a] - mean[a];
			for (int b = 0; b < D; b++)
				c[(size_t)a * D + b] += xa * (X[(size_t)i * D + b] - mean[b]);
		}
	double *us[2] = { u1, u2 }, *t = malloc((size_t)D * sizeof *t);
	for (int k = 0; k < 2 && t; k++) {
		double *u = us[k];
		for (int a = 0; a < D; a++)
			u[a] = 1.0 / sqrt(D) + 1e-3 * (a % 7); /* a start not orthogonal to anything likely */
		for (int it = 0; it < 200; it++) {
			double norm = 0;
			for (int a = 0; a < D; a++) {
				double s = 0;
				for (int b = 0; b < D; b++)
					s += c[(size_t)a * D + b] * u[b];
				t[a] = s;
			}
			if (k == 1) { /* stay orthogonal to the first */
				double dot = 0;
				for (int a = 0; a < D; a++)
					dot += t[a] * u1[a];
				for (int a = 0; a < D; a++)
					t[a] -= dot * u1[a];
			}
			for (int a = 0; a < D; a++)
				norm += t[a] * t[a];
			norm = sqrt(norm);
			if (!(norm > 1e-300))
				break;
			for (int a = 0; a < D; a++)
				u[a] = t[a] / norm;
		}
	}
	free(t);
	free(c);
}

static void project2(const double *X, int n, int D, const double *mean, const double *u1, const double *u2, double *out)
{
	for (int i = 0; i < n; i++) {
		double a = 0, b = 0;
		for (int k = 0; k < D; k++) {
			double x = X[(size_t)i * D + k] - mean[k];
			a += x * u1[k], b += x * u2[k];
		}
		out[2 * i] = a, out[2 * i + 1] = b;
	}
}

static void dot(cairo_t *cr, double x, double y, double r, const double c[3])
{
	cairo_new_path(cr);
	cairo_arc(cr, x, y, r, 0, 2 * M_PI);
	cairo_set_source_rgba(cr, c[0], c[1], c[2], 0.75);
	cairo_fill(cr);
}

static void legend2(cairo_t *cr, double x, double y, const char *a, const char *b)
{
	dot(cr, x, y - 4, 4, MP_ORANGE);
	mp_text(cr, x + 8, y, 11, false, MP_INK, a);
	dot(cr, x + 110, y - 4, 4, MP_BLUE);
	mp_text(cr, x + 118, y, 11, false, MP_INK, b);
}

/* Distance x's bin of `bins` over [0, hmax], or -1 for one not finite: the
 * predictions come from a session's captures, which may hold NaN or Inf
 * (a NaN converted to int is undefined, and was a negative index). */
static int dist_bin(double x, double hmax, int bins)
{
	if (!isfinite(x) || !isfinite(hmax) || x < 0)
		return -1;
	int k = hmax > 0 ? (int)(x / hmax * (bins - 1e-9)) : 0;
	return k < bins ? k : bins - 1;
}

static double mean_dist(const double *a, const double *b, int J)
{
	double s = 0;
	for (int j = 0; j < J; j++)
		s += hypot(a[2 * j] - b[2 * j], a[2 * j + 1] - b[2 * j + 1]);
	return s / J;
}

/* The title and the verdict. */
static void draw_title(cairo_t *cr, const struct mp_view *v, const struct mp_diversity *d)
{
	char buf[512];
	const char *model = strrchr(v->model_path, '/');
	model = model ? model + 1 : v->model_path;
	snprintf(buf, sizeof buf, "Diversity of predictions: %s, policy %s, %zu batch%s, %d samples", model, v->policy,
	         d->nbatches, d->nbatches == 1 ? "" : "es", d->N);
	mp_text(cr, 24, 30, 17, true, MP_INK, buf);
	const double *vc = d->verdict == MP_VERDICT_HEALTHY ? (const double[3]){ 0.1, 0.5, 0.1 } :
	                   d->verdict == MP_VERDICT_UNKNOWN ? MP_GREY : MP_RED;
	if (d->gt)
		snprintf(buf, sizeof buf, "verdict: %s - predictions spread %.3g px, the truth %.3g px: ratio %.3g",
		         mp_verdict_name(d->verdict), d->pred_spread, d->gt_spread, d->ratio);
	else
		snprintf(buf, sizeof buf, "verdict: %s - predictions spread %.3g px (no ground truth to compare with)",
		         mp_verdict_name(d->verdict), d->pred_spread);
	mp_text(cr, 24, 56, 15, true, vc, buf);
}

/* A: per-joint spread, predictions beside the truth */
static void draw_spread(cairo_t *cr, const struct mp_diversity *d)
{
	double ymax = 0;
	for (int j = 0; j < d->J; j++) {
		ymax = fmax(ymax, d->spread_pred[j]);
		if (d->gt)
			ymax = fmax(ymax, d->spread_gt[j]);
	}
	struct mp_plot A = { 80, 110, 420, 240, -0.5, d->J - 0.5, 0, ymax > 0 ? ymax * 1.1 : 1 };
	mp_plot_axes(cr, &A, "Spread per joint", "joint", "std of position (px)");
	double bw = A.w / d->J * 0.38;
	for (int j = 0; j < d->J; j++) {
		double x = mp_plot_px(&A, j);
		cairo_set_source_rgb(cr, MP_ORANGE[0], MP_ORANGE[1], MP_ORANGE[2]);
		cairo_rectangle(cr, x - bw, mp_plot_py(&A, d->spread_pred[j]), bw, mp_plot_py(&A, 0) - mp_plot_py(&A, d->spread_pred[j]));
		cairo_fill(cr);
		if (d->gt) {
			cairo_set_source_rgb(cr, MP_BLUE[0], MP_BLUE[1], MP_BLUE[2]);
			cairo_rectangle(cr, x, mp_plot_py(&A, d->spread_gt[j]), bw, mp_plot_py(&A, 0) - mp_plot_py(&A, d->spread_gt[j]));
			cairo_fill(cr);
		}
	}
	legend2(cr, A.x + A.w - 230, A.y + 16, "predicted", d->gt ? "ground truth" : "");
}

/* B: PCA of the poses (fitted on the truth when there is one) */
static void draw_pca(cairo_t *cr, const struct mp_diversity *d)
{
	const int D = 2 * d->J;
	double *mean = calloc((size_t)D, sizeof *mean), *u1 = calloc((size_t)D, sizeof *u1),
	       *u2 = calloc((size_t)D, sizeof *u2), *pp = malloc((size_t)d->N * 2 * sizeof *pp),
	       *pg = malloc((size_t)d->N * 2 * sizeof *pg);
	struct mp_plot Bp = { 620, 110, 420, 240, 0, 0, 0, 0 };
	if (mean && u1 && u2 && pp && pg) {
		const double *fit = d->gt ? d->gt : d->pred;
		for (int i = 0; i < d->N; i++)
			for (int k = 0; k < D; k++)
				mean[k] += fit[(size_t)i * D + k] / d->N;
		pca2(fit, d->N, D, mean, u1, u2);
		project2(d->pred, d->N, D, mean, u1, u2, pp);
		if (d->gt)
			project2(d->gt, d->N, D, mean, u1, u2, pg);
		double lo[2] = { INFINITY, INFINITY }, hi[2] = { -INFINITY, -INFINITY };
		for (int i = 0; i < d->N; i++)
			for (int k = 0; k < 2; k++) {
				lo[k] = fmin(lo[k], pp[2 * i + k]), hi[k] = fmax(hi[k], pp[2 * i + k]);
				if (d->gt)
					lo[k] = fmin(lo[k], pg[2 * i + k]), hi[k] = fmax(hi[k], pg[2 * i + k]);
			}
		Bp.x0 = lo[0] - 0.05 * (hi[0] - lo[0]), Bp.x1 = hi[0] + 0.05 * (hi[0] - lo[0]);
		Bp.y0 = lo[1] - 0.05 * (hi[1] - lo[1]), Bp.y1 = hi[1] + 0.05 * (hi[1] - lo[1]);
		mp_plot_axes(cr, &Bp, "Poses, first two principal components", "PC 1 (px)", "PC 2 (px)");
		for (int i = 0; i < d->N; i++) {
			if (d->gt)
				dot(cr, mp_plot_px(&Bp, pg[2 * i]), mp_plot_py(&Bp, pg[2 * i + 1]), 3, MP_BLUE);
			dot(cr, mp_plot_px(&Bp, pp[2 * i]), mp_plot_py(&Bp, pp[2 * i + 1]), 3, MP_ORANGE);
		}
		legend2(cr, Bp.x + Bp.w - 230, Bp.y + 16, "predicted", d->gt ? "ground truth" : "");
	}
	free(mean), free(u1), free(u2), free(pp), free(pg);
}

/* C: pairwise distances (a sample of at most 2000 samples' pairs) */
static void draw_distances(cairo_t *cr, const struct mp_diversity *d)
{
	const int D = 2 * d->J;
	enum { BINS = 30 };
	int n = d->N < 2000 ? d->N : 2000;
	double hmax = 0;
	for (int a = 0; a < n; a++)
		for (int b = a + 1; b < n; b++) {
			hmax = fmax(hmax, mean_dist(d->pred + (size_t)a * D, d->pred + (size_t)b * D, d->J));
			if (d->gt)
				hmax = fmax(hmax, mean_dist(d->gt + (size_t)a * D, d->gt + (size_t)b * D, d->J));
		}
	double hp[BINS] = { 0 }, hg[BINS] = { 0 }, top = 0;
	for (int a = 0; a < n; a++)
		for (int b = a + 1; b < n; b++) {
			double x = mean_dist(d->pred + (size_t)a * D, d->pred + (size_t)b * D, d->J);
			int k = dist_bin(x, hmax, BINS);
			if (k >= 0)
				hp[k]++;
			if (d->gt) {
				x = mean_dist(d->gt + (size_t)a * D, d->gt + (size_t)b * D, d->J);
				if ((k = dist_bin(x, hmax, BINS)) >= 0)
					hg[k]++;
			}
		}
	for (int k = 0; k < BINS; k++)
		top = fmax(top, fmax(hp[k], hg[k]));
	struct mp_plot C = { 80, 430, 420, 240, 0, hmax > 0 ? hmax : 1, 0, top > 0 ? top * 1.1 : 1 };
	mp_plot_axes(cr, &C, "Pairwise distances between samples", "mean joint distance (px)", "pairs");
	for (int set = 0; set < (d->gt ? 2 : 1); set++) {
		const double *h = set ? hg : hp, *c = set ? MP_BLUE : MP_ORANGE;
		cairo_new_path(cr);
		cairo_move_to(cr, mp_plot_px(&C, 0), mp_plot_py(&C, 0));
		for (int k = 0; k < BINS; k++) {
			double x0 = C.x0 + (C.x1 - C.x0) * k / BINS, x1 = C.x0 + (C.x1 - C.x0) * (k + 1) / BINS;
			cairo_line_to(cr, mp_plot_px(&C, x0), mp_plot_py(&C, h[k]));
			cairo_line_to(cr, mp_plot_px(&C, x1), mp_plot_py(&C, h[k]));
		}
		cairo_line_to(cr, mp_plot_px(&C, C.x1), mp_plot_py(&C, 0));
		cairo_set_source_rgb(cr, c[0], c[1], c[2]);
		cairo_set_line_width(cr, 2);
		cairo_stroke(cr);
	}
	legend2(cr, C.x + C.w - 230, C.y + 16, "predicted", d->gt ? "ground truth" : "");
}

/* D: the ratio per batch */
static void draw_ratio(cairo_t *cr, const struct mp_diversity *d)
{
	double rmax = 1.2;
	for (size_t i = 0; i < d->nbatches; i++)
		if (isfinite(d->ratio_batch[i]))
			rmax = fmax(rmax, d->ratio_batch[i] * 1.1);
	struct mp_plot Dp = { 620, 430, 420, 240, -0.5, d->nbatches - 0.5, 0, rmax };
	mp_plot_axes(cr, &Dp, "Diversity ratio per batch (predicted / true spread)", "batch", "ratio");
	cairo_set_source_rgb(cr, MP_GREY[0], MP_GREY[1], MP_GREY[2]);
	cairo_set_dash(cr, (double[]){ 4, 3 }, 2, 0);
	cairo_set_line_width(cr, 1);
	cairo_move_to(cr, Dp.x, mp_plot_py(&Dp, 1)), cairo_line_to(cr, Dp.x + Dp.w, mp_plot_py(&Dp, 1));
	cairo_move_to(cr, Dp.x, mp_plot_py(&Dp, RATIO_LOW)), cairo_line_to(cr, Dp.x + Dp.w, mp_plot_py(&Dp, RATIO_LOW));
	cairo_stroke(cr);
	cairo_set_dash(cr, NULL, 0, 0);
	mp_text(cr, Dp.x + 4, mp_plot_py(&Dp, RATIO_LOW) - 4, 10, false, MP_GREY, "low");
	cairo_new_path(cr);
	for (size_t i = 0; i < d->nbatches; i++)
		if (isfinite(d->ratio_batch[i])) {
			double x = mp_plot_px(&Dp, (double)i), y = mp_plot_py(&Dp, d->ratio_batch[i]);
			cairo_line_to(cr, x, y);
		}
	cairo_set_source_rgb(cr, MP_ORANGE[0], MP_ORANGE[1], MP_ORANGE[2]);
	cairo_set_line_width(cr, 2);
	cairo_stroke(cr);
	for (size_t i = 0; i < d->nbatches; i++)
		if (isfinite(d->ratio_batch[i]))
			dot(cr, mp_plot_px(&Dp, (double)i), mp_plot_py(&Dp, d->ratio_batch[i]), 3.5, MP_ORANGE);
	if (!d->gt)
		mp_text(cr, Dp.x + 10, Dp.y + Dp.h / 2, 12, false, MP_GREY, "no ground truth in the batches");
}

/* E: the probes' feature diversity along the module order */
static void draw_feature(cairo_t *cr, const struct mp_view *v, const struct mp_diversity *d)
{
	char buf[512];
	double fmaxv = 0;
	int measured = 0;
	for (size_t i = 0; i < v->nnodes; i++)
		if (isfinite(d->feature[i]))
			fmaxv = fmax(fmaxv, d->feature[i]), measured++;
	struct mp_plot E = { 80, 760, 960, 170, -0.5, v->nnodes - 0.5, 0, fmaxv > 0 ? fmaxv * 1.1 : 1 };
	mp_plot_axes(cr, &E, "Feature diversity along the model (across the batch / within a sample, per node output)",
	             "node, in execution order", "ratio");
	cairo_new_path(cr);
	for (size_t i = 0; i < v->nnodes; i++)
		if (isfinite(d->feature[i]))
			cairo_line_to(cr, mp_plot_px(&E, (double)i), mp_plot_py(&E, d->feature[i]));
	cairo_set_source_rgb(cr, MP_BLUE[0], MP_BLUE[1], MP_BLUE[2]);
	cairo_set_line_width(cr, 1.5);
	cairo_stroke(cr);
	if (d->fall_node >= 0) {
		double x = mp_plot_px(&E, d->fall_node);
		cairo_set_source_rgb(cr, MP_RED[0], MP_RED[1], MP_RED[2]);
		cairo_move_to(cr, x, E.y), cairo_line_to(cr, x, E.y + E.h);
		cairo_stroke(cr);
		const struct mp_view_node *nd = &v->nodes[d->fall_node];
		snprintf(buf, sizeof buf, "falls most at %s (%s%s%s)", nd->name, nd->op, *nd->module ? " in " : "",
		         nd->module);
		mp_text(cr, E.x + 8, E.y + E.h + 56, 12, true, MP_RED, buf);
	} else if (!measured) {
		mp_text(cr, E.x + 10, E.y + E.h / 2, 12, false, MP_GREY, "the session has no diversity figures");
	}
}

enum mp_status mp_diversity_render(struct mp_view *v, const struct mp_diversity *d, const char *out, struct mp_error *e)
{
	const int W = 1100, H = 1020;
	cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, W, H);
	cairo_t *cr = cairo_create(surf);
	enum mp_status st;
	if (cairo_status(cr)) {
		cairo_destroy(cr);
		cairo_surface_destroy(surf);
		return mp_error_set(e, MP_ERR_NOMEM, "cannot make a %dx%d picture", W, H);
	}
	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_paint(cr);
	draw_title(cr, v, d);
	draw_spread(cr, d);
	draw_pca(cr, d);
	draw_distances(cr, d);
	draw_ratio(cr, d);
	draw_feature(cr, v, d);
	cairo_destroy(cr);
	char nb[32];
	snprintf(nb, sizeof nb, "%.6g", d->ratio);
	const struct mp_png_text chunks[] = {
		{ "Software", "mpdbg " MPDBG_VERSION }, { "Title", "diversity" }, { "mpdbg.session", v->path },
		{ "mpdbg.policy", v->policy }, { "mpdbg.model", v->model_path },
		{ "mpdbg.verdict", mp_verdict_name(d->verdict) }, { "mpdbg.ratio", nb },
	};
	st = cairo_surface_status(surf) ? mp_error_set(e, MP_ERR_INTERNAL, "drawing failed") :
	                                  mp_png_write(out, surf, chunks, 7, e);
	cairo_surface_destroy(surf);
	return st;
}
