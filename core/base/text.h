/* text.h - strings from files other people made (session names, sources,
 * messages) made safe to print: control characters would otherwise reach
 * the terminal as escape sequences (OSC titles, screen clears, hyperlinks).
 *
 * Escaped: C0 controls and DEL as \xNN, the C1 controls (U+0080..U+009F,
 * which some terminals obey as CSI/OSC) as \u00NN, and bytes that are not
 * UTF-8 as \xNN.  Everything else, printable UTF-8 included, is kept. */
#ifndef MP_TEXT_H
#define MP_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Writes src escaped into dst (always terminated, cut at size - 1 bytes,
 * never inside an escape or a UTF-8 sequence); returns the length the whole
 * escaped string needs, without the terminator.  src NULL reads as "". */
size_t mp_text_escape(char *dst, size_t size, const char *src);
/* The escaped copy (malloc'd; NULL when out of memory). */
char *mp_text_escape_dup(const char *src);
/* The same, keeping line breaks: for messages, which are written over
 * several lines (a line feed moves the cursor; it cannot reprogram the
 * terminal).  Names stay on one line through mp_text_escape_dup. */
char *mp_text_escape_lines_dup(const char *src);
/* True when src needs no escaping. */
bool mp_text_is_clean(const char *src);
/* Writes src escaped to f, line breaks kept (messages). */
void mp_text_fputs(const char *src, FILE *f);

#endif
