/* overlay.c - the joint overlay, drawn with cairo. */
#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "overlay.h"
#include "plot.h"
#include "pngout.h"

enum { MARGIN = 16, HEADER = 58, CAPTION = 40, LEGEND = 44, GAP = 14 };

void mp_overlay_layout(int B, int H, int W, struct mp_overlay_layout *L)
{
	memset(L, 0, sizeof *L);
	int side = H > W ? H : W;
	/* images of a few hundred pixels: whole multiples when small, so a
	 * pixel of the image is a square of the picture */
	L->scale = side >= 320 ? 320.0 / side : floor(320.0 / side);
	if (L->scale < 1)
		L->scale = 1;
	L->tile_w = (int)ceil(W * L->scale);
	L->tile_h = (int)ceil(H * L->scale);
	L->cols = (int)ceil(sqrt((double)B));
	if (L->cols > 8)
		L->cols = 8;
	L->rows = (B + L->cols - 1) / L->cols;
	L->gap_x = L->tile_w < 236 ? GAP + 236 - L->tile_w : GAP; /* room for the captions */
	L->gap_y = GAP + CAPTION;
	L->x0 = MARGIN;
	L->y0 = HEADER;
	L->width = 2 * MARGIN + L->cols * L->tile_w + (L->cols - 1) * L->gap_x;
	if (L->width < 720)
		L->width = 720;
	L->height = HEADER + L->rows * (L->tile_h + L->gap_y) + LEGEND;
}

void mp_overlay_tile(const struct mp_overlay_layout *L, int b, double *x, double *y)
{
	*x = L->x0 + (b % L->cols) * (L->tile_w + L->gap_x);
	*y = L->y0 + (b / L->cols) * (L->tile_h + L->gap_y);
}

/* Sample b's image as a surface of its own (drawn scaled, pixels kept). */
static cairo_surface_t *image_surface(const struct mp_poses *p, int b)
{
	cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, p->W, p->H);
	if (cairo_surface_status(s))
		return s;
	cairo_surface_flush(s);
	unsigned char *d = cairo_image_surface_get_data(s);
	int stride = cairo_image_surface_get_stride(s);
	size_t plane = (size_t)p->H * (size_t)p->W;
	const float *img = p->image + (size_t)b * 3 * plane;
	for (int y = 0; y < p->H; y++)
		for (int x = 0; x < p->W; x++) {
			size_t i = (size_t)y * (size_t)p->W + (size_t)x;
			uint32_t r = (uint32_t)lrintf(img[i] * 255), g = (uint32_t)lrintf(img[plane + i] * 255),
			         bl = (uint32_t)lrintf(img[2 * plane + i] * 255);
			((uint32_t *)(d + (size_t)y * (size_t)stride))[x] = 0xFF000000u | r << 16 | g << 8 | bl;
		}
	cairo_surface_mark_dirty(s);
	return s;
}

static double mean_dist(const double *a, const double *b, int J, double *maxd)
{
	double s = 0, m = 0;
	int n = 0;
	for (int j = 0; j < J; j++) {
		double d = hypot(a[2 * j] - b[2 * j], a[2 * j + 1] - b[2 * j + 1]);
		if (isfinite(d))
			s += d, n++, m = d > m ? d : m;
	}
	if (maxd)
		*maxd = m;
	return n ? s / n : NAN;
}


static void draw_tile(cairo_t *cr, const struct mp_overlay_layout *L, const struct mp_poses *p,
                      const struct mp_skeleton *sk, int b, const char *low_name)
{
	double ox, oy, s = L->scale;
	mp_overlay_tile(L, b, &ox, &oy);
	/* the image, or a grey square without one */
	cairo_save(cr);
	cairo_rectangle(cr, ox, oy, L->tile_w, L->tile_h);
	cairo_clip(cr);
	if (p->image) {
		cairo_surface_t *img = image_surface(p, b);
		cairo_translate(cr, ox, oy);
		cairo_scale(cr, s, s);
		cairo_set_source_surface(cr, img, 0, 0);
		cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
		cairo_paint(cr);
		cairo_surface_destroy(img);
		cairo_identity_matrix(cr);
	} else {
		cairo_set_source_rgb(cr, 0.2, 0.2, 0.22);
		cairo_paint(cr);
	}
	/* a joint at image coordinates (u, v) is at ox + u s: pixel centres of
	 * the image are at half-integers, as PyTorch's pinhole gives them */
#define PX(k) (ox + p->pred[2 * (k)] * s)
#define PY(k) (oy + p->pred[2 * (k) + 1] * s)
	size_t base = (size_t)b * (size_t)p->J;
	/* ground truth: hollow circles on thin bones */
	if (p->gt) {
		const double *g = p->gt + 2 * base;
		cairo_set_line_width(cr, 1.2);
		cairo_set_source_rgba(cr, 1, 1, 1, 0.8);
		for (int i = 0; i < sk->nbones; i++) {
			int a = sk->bones[i][0], c = sk->bones[i][1];
			cairo_move_to(cr, ox + g[2 * a] * s, oy + g[2 * a + 1] * s);
			cairo_line_to(cr, ox + g[2 * c] * s, oy + g[2 * c + 1] * s);
		}
		cairo_stroke(cr);
		for (int j = 0; j < p->J; j++) {
			cairo_new_sub_path(cr);
			cairo_arc(cr, ox + g[2 * j] * s, oy + g[2 * j + 1] * s, 5.5, 0, 2 * M_PI);
		}
		cairo_set_source_rgb(cr, 0, 0, 0);
		cairo_set_line_width(cr, 3);
		cairo_stroke_preserve(cr);
		cairo_set_source_rgb(cr, 1, 1, 1);
		cairo_set_line_width(cr, 1.5);
		cairo_stroke(cr);
	}
	/* the predicted skeleton: bones in the colour of the joint they lead to */
	cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
	for (int i = 0; i < sk->nbones; i++) {
		int a = sk->bones[i][0], c = sk->bones[i][1];
		cairo_move_to(cr, PX(base + a), PY(base + a));
		cairo_line_to(cr, PX(base + c), PY(base + c));
		cairo_set_source_rgb(cr, 0, 0, 0);
		cairo_set_line_width(cr, 4);
		cairo_stroke_preserve(cr);
		cairo_set_source_rgb(cr, sk->rgb[c][0], sk->rgb[c][1], sk->rgb[c][2]);
		cairo_set_line_width(cr, 2);
		cairo_stroke(cr);
	}
	/* the low type's projection: a red line from the fp32 projection to it */
	if (p->projlow) {
		const double *a = p->proj32 + 2 * base, *l = p->projlow + 2 * base;
		cairo_set_source_rgb(cr, MP_RED[0], MP_RED[1], MP_RED[2]);
		cairo_set_line_width(cr, 1.5);
		for (int j = 0; j < p->J; j++) {
			double x1 = ox + a[2 * j] * s, y1 = oy + a[2 * j + 1] * s, x2 = ox + l[2 * j] * s, y2 = oy + l[2 * j + 1] * s;
			cairo_move_to(cr, x1, y1);
			cairo_line_to(cr, x2, y2);
			cairo_move_to(cr, x2 - 3, y2 - 3);
			cairo_line_to(cr, x2 + 3, y2 + 3);
			cairo_move_to(cr, x2 - 3, y2 + 3);
			cairo_line_to(cr, x2 + 3, y2 - 3);
		}
		cairo_stroke(cr);
	}
	/* the joints last, filled in their colour, in index order */
	for (int j = 0; j < p->J; j++) {
		cairo_new_path(cr);
		cairo_arc(cr, PX(base + j), PY(base + j), MP_OVERLAY_JOINT_R, 0, 2 * M_PI);
		cairo_set_source_rgb(cr, sk->rgb[j][0], sk->rgb[j][1], sk->rgb[j][2]);
		cairo_fill(cr);
	}
#undef PX
#undef PY
	cairo_restore(cr);
	cairo_rectangle(cr, ox - 0.5, oy - 0.5, L->tile_w + 1, L->tile_h + 1);
	cairo_set_source_rgb(cr, MP_GREY[0], MP_GREY[1], MP_GREY[2]);
	cairo_set_line_width(cr, 1);
	cairo_stroke(cr);

	/* the caption: error against the ground truth, and the low type's gap */
	char line[160];
	double maxgap = 0;
	double err = p->gt ? mean_dist(p->pred + 2 * base, p->gt + 2 * base, p->J, NULL) : NAN;
	double gap = p->projlow ? mean_dist(p->proj32 + 2 * base, p->projlow + 2 * base, p->J, &maxgap) : NAN;
	if (p->gt)
		snprintf(line, sizeof line, "#%d  error %.2f px", b, err);
	else
		snprintf(line, sizeof line, "#%d  (no ground truth)", b);
	mp_text(cr, ox, oy + L->tile_h + 16, 12, true, MP_INK, line);
	if (p->projlow)
		snprintf(line, sizeof line, "%s gap %.3f px, max %.3f", low_name, gap, maxgap);
	else
		snprintf(line, sizeof line, "no 3D joints and camera");
	mp_text(cr, ox, oy + L->tile_h + 32, 11, false, p->projlow && gap > 0.5 ? MP_RED : MP_GREY, line);
}

static void legend(cairo_t *cr, const struct mp_overlay_layout *L, const struct mp_skeleton *sk, const char *low_name,
                   bool gt, bool gap)
{
	double y = L->height - LEGEND / 2.0 + 4, x = MARGIN;
	if (sk->njoints == 21 && sk->names[1] && !strcmp(sk->names[1], "thumb_1")) {
		static const char *const fingers[5] = { "thumb", "index", "middle", "ring", "little" };
		for (int f = 0; f < 5; f++) {
			const double *c = sk->rgb[1 + 4 * f];
			cairo_new_path(cr);
			cairo_arc(cr, x + 5, y - 4, MP_OVERLAY_JOINT_R, 0, 2 * M_PI);
			cairo_set_source_rgb(cr, c[0], c[1], c[2]);
			cairo_fill(cr);
			mp_text(cr, x + 14, y, 12, false, MP_INK, fingers[f]);
			x += 22 + 7 * strlen(fingers[f]);
		}
	} else {
		cairo_arc(cr, x + 5, y - 4, MP_OVERLAY_JOINT_R, 0, 2 * M_PI);
		cairo_set_source_rgb(cr, sk->rgb[0][0], sk->rgb[0][1], sk->rgb[0][2]);
		cairo_fill(cr);
		mp_text(cr, x + 14, y, 12, false, MP_INK, "predicted");
		x += 90;
	}
	if (gt) {
		cairo_new_path(cr);
		cairo_arc(cr, x + 6, y - 4, 5.5, 0, 2 * M_PI);
		cairo_set_source_rgb(cr, 0, 0, 0);
		cairo_set_line_width(cr, 1.5);
		cairo_stroke(cr);
		mp_text(cr, x + 16, y, 12, false, MP_INK, "ground truth");
		x += 110;
	}
	if (gap) {
		char s[96];
		cairo_set_source_rgb(cr, MP_RED[0], MP_RED[1], MP_RED[2]);
		cairo_set_line_width(cr, 1.5);
		cairo_move_to(cr, x, y - 4);
		cairo_line_to(cr, x + 14, y - 4);
		cairo_stroke(cr);
		snprintf(s, sizeof s, "fp32 -> %s projection", low_name);
		mp_text(cr, x + 20, y, 12, false, MP_INK, s);
	}
}

enum mp_status mp_overlay_render(struct mp_view *v, size_t batch_pos, const struct mp_pose_options *po,
                                 const struct mp_skeleton *sk, const char *out, struct mp_error *e)
{
	struct mp_poses p;
	struct mp_overlay_layout L;
	enum mp_status st;
	if ((st = mp_poses_load(v, batch_pos, po, &p, e)))
		return st;
	if (p.J != sk->njoints) {
		st = mp_error_set(e, MP_ERR_INPUT, "%s: the predictions have %d joints, the skeleton %d%s", v->path, p.J,
		                  sk->njoints, sk->njoints == 21 ? " (the hand's; --skeleton FILE.json gives another)" : "");
		mp_poses_free(&p);
		return st;
	}
	if (!p.image)
		p.H = p.W = 256; /* joints on grey, in a square of the usual size */
	mp_overlay_layout(p.B, p.H, p.W, &L);
	cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, L.width, L.height);
	cairo_t *cr = cairo_create(surf);
	if (cairo_status(cr)) {
		cairo_destroy(cr);
		cairo_surface_destroy(surf);
		mp_poses_free(&p);
		return mp_error_set(e, MP_ERR_NOMEM, "cannot make a %dx%d picture", L.width, L.height);
	}
	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_paint(cr);
	const char *low_name = mp_dtype_name(p.low);
	char title[512], sub[512], bstr[32];
	size_t bidx = v->batch_index[batch_pos];
	const char *model = strrchr(v->model_path, '/');
	model = model ? model + 1 : v->model_path;
	snprintf(title, sizeof title, "%s  batch %zu  policy %s", model, bidx, v->policy);
	snprintf(sub, sizeof sub, "predicted: %s%s%s", p.pred_from, p.image_note[0] ? ";  " : "", p.image_note);
	mp_text(cr, MARGIN, 24, 16, true, MP_INK, title);
	mp_text(cr, MARGIN, 44, 12, false, MP_GREY, sub);
	for (int b = 0; b < p.B; b++)
		draw_tile(cr, &L, &p, sk, b, low_name);
	legend(cr, &L, sk, low_name, p.gt != NULL, p.projlow != NULL);
	cairo_destroy(cr);
	snprintf(bstr, sizeof bstr, "%zu", bidx);
	const struct mp_png_text chunks[] = {
		{ "Software", "mpdbg " MPDBG_VERSION }, { "Title", title }, { "mpdbg.session", v->path },
		{ "mpdbg.batch", bstr }, { "mpdbg.policy", v->policy }, { "mpdbg.model", v->model_path },
	};
	st = cairo_surface_status(surf) ? mp_error_set(e, MP_ERR_INTERNAL, "drawing failed") :
	                                  mp_png_write(out, surf, chunks, 6, e);
	cairo_surface_destroy(surf);
	mp_poses_free(&p);
	return st;
}
