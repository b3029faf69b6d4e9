/* preview.c - PNGs in the terminal: chafa, or half blocks, printed
 * straight to stdout (the caller's curses screen blanked before and
 * repainted after, by tui/term). */
#include <cairo.h>
#include <chafa.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "preview.h"

extern char **environ;

/* Upper and lower halves of a cell from two pixel rows, in 256 colours:
 * what every colour terminal shows (chafa does better; this is the floor). */
static void half_blocks(const unsigned char *px, int w, int h, int stride, int cols, int rows)
{
	for (int r = 0; r < rows; r++) {
		for (int c = 0; c < cols; c++) {
			int cube[2];
			for (int k = 0; k < 2; k++) {
				int y = (2 * r + k) * h / (2 * rows), x = c * w / cols;
				uint32_t p = ((const uint32_t *)(px + (size_t)y * (size_t)stride))[x];
				int R = (p >> 16) & 255, G = (p >> 8) & 255, B = p & 255;
				cube[k] = 16 + 36 * (R * 6 / 256) + 6 * (G * 6 / 256) + B * 6 / 256;
			}
			printf("\033[38;5;%dm\033[48;5;%dm\u2580", cube[0], cube[1]);
		}
		printf("\033[0m\r\n");
	}
}

struct mp_preview {
	cairo_surface_t *s;
	int cols, rows;
};

enum mp_status mp_preview_open(const char *path, int cols, int rows, struct mp_preview **out, struct mp_error *e)
{
	cairo_surface_t *s = cairo_image_surface_create_from_png(path);
	*out = NULL;
	if (cairo_surface_status(s)) {
		cairo_surface_destroy(s);
		return mp_error_set(e, MP_ERR_IO, "%s: cannot read the picture", path);
	}
	if (rows < 2 || cols < 10) {
		cairo_surface_destroy(s);
		return mp_error_set(e, MP_ERR_USAGE, "the terminal is too small for a picture");
	}
	struct mp_preview *p = malloc(sizeof *p);
	if (!p) {
		cairo_surface_destroy(s);
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	}
	*p = (struct mp_preview){ s, cols, rows };
	*out = p;
	return MP_OK;
}

void mp_preview_free(struct mp_preview *p)
{
	if (!p)
		return;
	cairo_surface_destroy(p->s);
	free(p);
}

void mp_preview_print(const struct mp_preview *p, const char *path, bool color, bool utf8)
{
	cairo_surface_t *s = p->s;
	int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
	int stride = cairo_image_surface_get_stride(s);
	const unsigned char *px = cairo_image_surface_get_data(s);
	/* keep the aspect: cells are about twice as tall as wide */
	int cw = p->cols, ch = p->rows - 1;
	chafa_calc_canvas_geometry(w, h, &cw, &ch, 0.5f, TRUE, FALSE);
	printf("\033[H");
	ChafaTermInfo *ti = chafa_term_db_detect(chafa_term_db_get_default(), environ);
	ChafaCanvasConfig *cfg = chafa_canvas_config_new();
	ChafaSymbolMap *map = chafa_symbol_map_new();
	bool done = false;
	if (ti && cfg && map) {
		struct winsize ws = { 0 };
		ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws);
		bool cells_known = ws.ws_xpixel > 0 && ws.ws_ypixel > 0 && ws.ws_col > 0 && ws.ws_row > 0;
		if (cells_known && chafa_term_info_have_seq(ti, CHAFA_TERM_SEQ_BEGIN_KITTY_IMMEDIATE_IMAGE_V1))
			chafa_canvas_config_set_pixel_mode(cfg, CHAFA_PIXEL_MODE_KITTY);
		else if (cells_known && chafa_term_info_have_seq(ti, CHAFA_TERM_SEQ_BEGIN_SIXELS))
			chafa_canvas_config_set_pixel_mode(cfg, CHAFA_PIXEL_MODE_SIXELS);
		else
			chafa_canvas_config_set_pixel_mode(cfg, CHAFA_PIXEL_MODE_SYMBOLS);
		if (cells_known)
			chafa_canvas_config_set_cell_geometry(cfg, ws.ws_xpixel / ws.ws_col, ws.ws_ypixel / ws.ws_row);
		chafa_symbol_map_add_by_tags(map, utf8 ? CHAFA_SYMBOL_TAG_BLOCK | CHAFA_SYMBOL_TAG_BORDER |
		                                         CHAFA_SYMBOL_TAG_SPACE : CHAFA_SYMBOL_TAG_ASCII);
		chafa_canvas_config_set_symbol_map(cfg, map);
		chafa_canvas_config_set_geometry(cfg, cw, ch);
		chafa_canvas_config_set_canvas_mode(cfg, !color ? CHAFA_CANVAS_MODE_FGBG : CHAFA_CANVAS_MODE_TRUECOLOR);
		ChafaCanvas *canvas = chafa_canvas_new(cfg);
		if (canvas) {
			chafa_canvas_draw_all_pixels(canvas, CHAFA_PIXEL_BGRA8_PREMULTIPLIED, px, w, h, stride);
			GString *g = chafa_canvas_print(canvas, ti);
			if (g) {
				/* curses left the terminal without newline translation */
				for (gsize i = 0; i < g->len; i++) {
					if (g->str[i] == '\n')
						putchar('\r');
					putchar(g->str[i]);
				}
				g_string_free(g, TRUE);
				done = true;
			}
			chafa_canvas_unref(canvas);
		}
	}
	if (map)
		chafa_symbol_map_unref(map);
	if (cfg)
		chafa_canvas_config_unref(cfg);
	if (ti)
		chafa_term_info_unref(ti);
	if (!done && utf8 && color)
		half_blocks(px, w, h, stride, cw, ch);
	printf("\033[0m\r\n%s - any key returns", path);
	fflush(stdout);
}
