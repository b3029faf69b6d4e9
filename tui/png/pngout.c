/* pngout.c - PNG out through libpng. */
#include <cairo.h>
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pngout.h"

struct png_err {
	char msg[256];
};

static void on_error(png_structp png, png_const_charp msg)
{
	struct png_err *pe = png_get_error_ptr(png);
	snprintf(pe->msg, sizeof pe->msg, "%s", msg);
	png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
	(void)png, (void)msg;
}

enum mp_status mp_png_write(const char *path, cairo_surface_t *s, const struct mp_png_text *text, int ntext,
                            struct mp_error *e)
{
	cairo_surface_flush(s);
	int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
	int stride = cairo_image_surface_get_stride(s);
	const unsigned char *data = cairo_image_surface_get_data(s);
	size_t n = strlen(path) + 16;
	char *tmp = malloc(n);
	unsigned char *row = malloc((size_t)w * 4 + 1);
	struct png_err pe = { "" };
	png_structp png = NULL;
	png_infop info = NULL;
	FILE *f = NULL;
	enum mp_status st = MP_OK;
	if (!tmp || !row || !data || cairo_image_surface_get_format(s) != CAIRO_FORMAT_ARGB32) {
		st = mp_error_set(e, !tmp || !row ? MP_ERR_NOMEM : MP_ERR_INTERNAL, "%s: cannot make the picture", path);
		goto out;
	}
	snprintf(tmp, n, "%s.partial", path);
	if (!(f = fopen(tmp, "wb"))) {
		st = mp_error_set(e, MP_ERR_IO, "%s: cannot write it", tmp);
		goto out;
	}
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &pe, on_error, on_warning);
	info = png ? png_create_info_struct(png) : NULL;
	if (!png || !info) {
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (setjmp(png_jmpbuf(png))) {
		st = mp_error_set(e, MP_ERR_IO, "%s: %s", path, pe.msg);
		goto out;
	}
	png_init_io(png, f);
	png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB_ALPHA, PNG_INTERLACE_NONE,
	             PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_text chunks[16];
	int nt = ntext < 16 ? ntext : 16;
	for (int i = 0; i < nt; i++) {
		memset(&chunks[i], 0, sizeof chunks[i]);
		chunks[i].compression = PNG_TEXT_COMPRESSION_NONE;
		chunks[i].key = (png_charp)text[i].key;
		chunks[i].text = (png_charp)text[i].value;
		chunks[i].text_length = strlen(text[i].value);
	}
	if (nt)
		png_set_text(png, info, chunks, nt);
	png_write_info(png, info);
	for (int y = 0; y < h; y++) {
		/* cairo: premultiplied ARGB in native-endian 32-bit words */
		const uint32_t *src = (const uint32_t *)(data + (size_t)y * (size_t)stride);
		for (int x = 0; x < w; x++) {
			uint32_t p = src[x];
			unsigned a = p >> 24, r = (p >> 16) & 0xFF, g = (p >> 8) & 0xFF, b = p & 0xFF;
			if (a && a < 255)
				r = (r * 255 + a / 2) / a, g = (g * 255 + a / 2) / a, b = (b * 255 + a / 2) / a;
			unsigned char *d = row + 4 * x;
			d[0] = (unsigned char)r, d[1] = (unsigned char)g, d[2] = (unsigned char)b, d[3] = (unsigned char)a;
		}
		png_write_row(png, row);
	}
	png_write_end(png, info);
out:
	if (png)
		png_destroy_write_struct(&png, info ? &info : NULL);
	if (f && fclose(f) && !st)
		st = mp_error_set(e, MP_ERR_IO, "%s: write failed", tmp);
	if (f && !st && rename(tmp, path))
		st = mp_error_set(e, MP_ERR_IO, "%s: cannot rename %s to it", path, tmp);
	if (f && st)
		unlink(tmp);
	free(tmp);
	free(row);
	return st;
}
