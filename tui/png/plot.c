/* plot.c - axes and text for the diversity charts and the overlays. */
#include <cairo.h>
#include <fontconfig/fontconfig.h>
#include <math.h>
#include <stdio.h>

#include "plot.h"

const double MP_INK[3] = { 0.1, 0.1, 0.12 }, MP_GREY[3] = { 0.45, 0.45, 0.45 }, MP_RED[3] = { 0.85, 0.1, 0.1 },
             MP_BLUE[3] = { 0.216, 0.494, 0.722 }, MP_ORANGE[3] = { 1.0, 0.498, 0.0 };

static void font(cairo_t *cr, double size, bool bold)
{
	cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
	                       bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
	cairo_set_font_size(cr, size);
}

void mp_text(cairo_t *cr, double x, double y, double size, bool bold, const double rgb[3], const char *s)
{
	font(cr, size, bold);
	cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
	cairo_move_to(cr, x, y);
	cairo_show_text(cr, s);
}

void mp_text_right(cairo_t *cr, double x, double y, double size, const double rgb[3], const char *s)
{
	cairo_text_extents_t te;
	font(cr, size, false);
	cairo_text_extents(cr, s, &te);
	mp_text(cr, x - te.x_advance, y, size, false, rgb, s);
}

void mp_text_centre(cairo_t *cr, double x, double y, double size, bool bold, const double rgb[3], const char *s)
{
	cairo_text_extents_t te;
	font(cr, size, bold);
	cairo_text_extents(cr, s, &te);
	mp_text(cr, x - te.x_advance / 2, y, size, bold, rgb, s);
}

double mp_plot_px(const struct mp_plot *p, double x)
{
	return p->x + (x - p->x0) / (p->x1 - p->x0) * p->w;
}

double mp_plot_py(const struct mp_plot *p, double y)
{
	return p->y + p->h - (y - p->y0) / (p->y1 - p->y0) * p->h;
}

/* A "nice" step for about n ticks over [a, b]. */
static double nice_step(double a, double b, int n)
{
	double raw = (b - a) / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
	return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

void mp_plot_axes(cairo_t *cr, struct mp_plot *p, const char *title, const char *xlabel, const char *ylabel)
{
	if (!(p->x1 > p->x0) || !isfinite(p->x1 - p->x0))
		p->x0 = isfinite(p->x0) ? p->x0 - 1 : 0, p->x1 = p->x0 + 2;
	if (!(p->y1 > p->y0) || !isfinite(p->y1 - p->y0))
		p->y0 = isfinite(p->y0) ? p->y0 - 1 : 0, p->y1 = p->y0 + 2;
	cairo_set_source_rgb(cr, 0.97, 0.97, 0.98);
	cairo_rectangle(cr, p->x, p->y, p->w, p->h);
	cairo_fill(cr);
	char buf[32];
	cairo_set_line_width(cr, 1);
	for (int axis = 0; axis < 2; axis++) {
		double a = axis ? p->y0 : p->x0, b = axis ? p->y1 : p->x1, st = nice_step(a, b, 5);
		for (double t = ceil(a / st) * st; t <= b + st * 1e-9; t += st) {
			double v = fabs(t) < st * 1e-9 ? 0 : t;
			snprintf(buf, sizeof buf, "%g", v);
			cairo_set_source_rgb(cr, 0.88, 0.88, 0.9);
			if (axis) {
				double y = mp_plot_py(p, v);
				cairo_move_to(cr, p->x, y), cairo_line_to(cr, p->x + p->w, y);
				cairo_stroke(cr);
				mp_text_right(cr, p->x - 5, y + 4, 10, MP_GREY, buf);
			} else {
				double x = mp_plot_px(p, v);
				cairo_move_to(cr, x, p->y), cairo_line_to(cr, x, p->y + p->h);
				cairo_stroke(cr);
				mp_text_centre(cr, x, p->y + p->h + 14, 10, false, MP_GREY, buf);
			}
		}
	}
	cairo_set_source_rgb(cr, MP_GREY[0], MP_GREY[1], MP_GREY[2]);
	cairo_rectangle(cr, p->x + 0.5, p->y + 0.5, p->w - 1, p->h - 1);
	cairo_stroke(cr);
	if (title)
		mp_text(cr, p->x, p->y - 8, 13, true, MP_INK, title);
	if (xlabel)
		mp_text_centre(cr, p->x + p->w / 2, p->y + p->h + 30, 11, false, MP_INK, xlabel);
	if (ylabel) {
		cairo_save(cr);
		cairo_translate(cr, p->x - 42, p->y + p->h / 2);
		cairo_rotate(cr, -M_PI / 2);
		mp_text_centre(cr, 0, 0, 11, false, MP_INK, ylabel);
		cairo_restore(cr);
	}
}

void mp_pictures_release(void)
{
	cairo_debug_reset_static_data();
	FcFini();
}
