/* preview.h - a PNG shown in the terminal, over the whole screen, until a
 * key is pressed: through chafa (sixel or kitty graphics where the
 * terminal speaks them, Unicode symbols in colour otherwise), or plain
 * half blocks when chafa cannot. */
#ifndef MP_PREVIEW_H
#define MP_PREVIEW_H

#include <stdbool.h>

#include "error.h"

/* Shows path in cols x rows cells (the caller's curses screen is
 * repainted afterwards); returns after a key. */
enum mp_status mp_preview_png(const char *path, int cols, int rows, bool color, bool utf8, struct mp_error *e);

#endif
