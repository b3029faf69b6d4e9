/* pngout.h - cairo surfaces out to PNG files through libpng, with text chunks
 * (cairo's own writer has none), written to FILE.partial and renamed so
 * that a failed write never leaves half a picture under the name. */
#ifndef MP_PNGOUT_H
#define MP_PNGOUT_H

#include "error.h"

/* cairo's surface by its struct tag: the header needs no cairo header. */
typedef struct _cairo_surface cairo_surface_t;

struct mp_png_text {
	const char *key, *value;
};

enum mp_status mp_png_write(const char *path, cairo_surface_t *s, const struct mp_png_text *text, int ntext,
                            struct mp_error *e);

#endif
