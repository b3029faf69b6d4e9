/* plot.h - small charts on a cairo context: a frame with ticked, labelled
 * axes mapping data to the page, and text. */
#ifndef MP_PLOT_H
#define MP_PLOT_H

#include <stdbool.h>

/* cairo's context, named by its struct tag so that this header (included
 * outside tui/png for mp_pictures_release) needs no cairo header: only
 * tui/png sees cairo. */
typedef struct _cairo cairo_t;

struct mp_plot {
	double x, y, w, h;             /* the data area on the page */
	double x0, x1, y0, y1;         /* the data range */
};

extern const double MP_INK[3], MP_GREY[3], MP_RED[3], MP_BLUE[3], MP_ORANGE[3];

void mp_text(cairo_t *cr, double x, double y, double size, bool bold, const double rgb[3], const char *s);
/* Text ending at x (right-aligned), or centred on x. */
void mp_text_right(cairo_t *cr, double x, double y, double size, const double rgb[3], const char *s);
void mp_text_centre(cairo_t *cr, double x, double y, double size, bool bold, const double rgb[3], const char *s);
/* Frame, ticks and labels; a range of zero width is widened. */
void mp_plot_axes(cairo_t *cr, struct mp_plot *p, const char *title, const char *xlabel, const char *ylabel);
double mp_plot_px(const struct mp_plot *p, double x);
double mp_plot_py(const struct mp_plot *p, double y);

/* Frees what cairo and fontconfig keep for the life of the process (font
 * caches), so that leak checkers see none; call once, at exit. */
void mp_pictures_release(void);

#endif
