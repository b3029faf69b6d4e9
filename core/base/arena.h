/* arena.h - a bump allocator for everything that lives as long as a loaded
 * graph (names, nodes, attributes, decoded typed data).  One free releases
 * it all; a cap bounds what a hostile file can make us allocate. */
#ifndef MP_ARENA_H
#define MP_ARENA_H

#include <stdbool.h>
#include <stddef.h>

struct mp_arena_block;

struct mp_arena {
	struct mp_arena_block *head;
	size_t total; /* bytes obtained from malloc so far */
	size_t cap;   /* 0: no cap */
	bool capped;  /* the cap refused a request (rather than malloc) */
};

/* Returns 16-byte aligned, zero-filled memory, or NULL when out of memory,
 * past the cap, or when size overflows. */
void *mp_arena_alloc(struct mp_arena *a, size_t size);
/* n elements of size each, with the product checked. */
void *mp_arena_array(struct mp_arena *a, size_t n, size_t size);
/* A NUL-terminated copy of n bytes. */
char *mp_arena_strndup(struct mp_arena *a, const char *s, size_t n);
char *mp_arena_strdup(struct mp_arena *a, const char *s);
void mp_arena_free(struct mp_arena *a);

#endif
