/* text.c - escaping untrusted strings for the terminal (see text.h). */
#include "text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The length of the valid UTF-8 sequence at s (1..4), or 0 when s does not
 * start one (stray continuation bytes, overlongs, surrogates, > U+10FFFF). */
static size_t utf8_len(const unsigned char *s, uint32_t *cp)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t v, min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF)
		n = 2, v = c & 0x1F, min = 0x80;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3, v = c & 0x0F, min = 0x800;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4, v = c & 0x07, min = 0x10000;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80) /* also stops at the terminator */
			return 0;
		v = v << 6 | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return n;
}

/* The length of the next piece of src; *esc_len > 0 when it is to be
 * written as esc instead of as itself. */
static size_t next_piece(const unsigned char *s, char esc[8], size_t *esc_len, bool lines)
{
	uint32_t cp;
	size_t n = utf8_len(s, &cp);
	*esc_len = 0;
	if (n == 0) {
		*esc_len = (size_t)snprintf(esc, 8, "\\x%02x", s[0]);
		return 1;
	}
	if ((cp < 0x20 && !(lines && cp == '\n')) || cp == 0x7F) {
		*esc_len = (size_t)snprintf(esc, 8, "\\x%02x", (unsigned)cp);
		return 1;
	}
	if (cp >= 0x80 && cp <= 0x9F) {
		*esc_len = (size_t)snprintf(esc, 8, "\\u%04x", (unsigned)cp);
		return n;
	}
	return n;
}

static size_t escape(char *dst, size_t size, const char *src, bool lines)
{
	const unsigned char *s = (const unsigned char *)(src ? src : "");
	size_t need = 0, out = 0;
	bool full = size == 0;
	while (*s) {
		char esc[8];
		size_t el, n = next_piece(s, esc, &el, lines);
		const char *piece = el ? esc : (const char *)s;
		size_t pl = el ? el : n;
		if (!full && out + pl < size) {
			memcpy(dst + out, piece, pl);
			out += pl;
		} else {
			full = true;
		}
		need += pl;
		s += n;
	}
	if (size)
		dst[out] = '\0';
	return need;
}

size_t mp_text_escape(char *dst, size_t size, const char *src)
{
	return escape(dst, size, src, false);
}

static char *escape_dup(const char *src, bool lines)
{
	size_t n = escape(NULL, 0, src, lines);
	char *d = malloc(n + 1);
	if (d)
		escape(d, n + 1, src, lines);
	return d;
}

char *mp_text_escape_dup(const char *src)
{
	return escape_dup(src, false);
}

char *mp_text_escape_lines_dup(const char *src)
{
	return escape_dup(src, true);
}

bool mp_text_is_clean(const char *src)
{
	const unsigned char *s = (const unsigned char *)(src ? src : "");
	while (*s) {
		char esc[8];
		size_t el, n = next_piece(s, esc, &el, false);
		if (el)
			return false;
		s += n;
	}
	return true;
}

void mp_text_fputs(const char *src, FILE *f)
{
	const unsigned char *s = (const unsigned char *)(src ? src : "");
	while (*s) {
		char esc[8];
		size_t el, n = next_piece(s, esc, &el, true);
		fwrite(el ? esc : (const char *)s, 1, el ? el : n, f);
		s += n;
	}
}
