/* preview.h - a PNG shown in the terminal, over the whole screen, until a
 * key is pressed: through chafa (sixel or kitty graphics where the
 * terminal speaks them, Unicode symbols in colour otherwise), or plain
 * half blocks when chafa cannot. */
#ifndef MP_PREVIEW_H
#define MP_PREVIEW_H

#include <stdbool.h>

#include "error.h"

/* A picture read to be shown in cols x rows cells; NULL when it cannot be
 * (an unreadable file, a terminal too small). */
struct mp_preview;
enum mp_status mp_preview_open(const char *path, int cols, int rows, struct mp_preview **out, struct mp_error *e);
/* Printed to stdout from the screen's top left, with a last line that
 * names path and asks for a key: the caller blanks its curses screen
 * before, waits for the key and repaints after. */
void mp_preview_print(const struct mp_preview *p, const char *path, bool color, bool utf8);
void mp_preview_free(struct mp_preview *p);

#endif
