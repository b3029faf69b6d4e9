/* arena.c - bump allocation in chained blocks. */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct mp_arena_block {
	struct mp_arena_block *next;
	size_t size, used;
	_Alignas(16) unsigned char data[];
};

enum { BLOCK_MIN = 64 * 1024 };

void *mp_arena_alloc(struct mp_arena *a, size_t size)
{
	struct mp_arena_block *b = a->head;
	size_t need = (size + 15) & ~(size_t)15;

	if (need < size)
		return NULL;
	if (!b || b->size - b->used < need) {
		size_t bsize = need > BLOCK_MIN ? need : BLOCK_MIN;
		if (bsize > SIZE_MAX - sizeof *b)
			return NULL;
		if (a->cap && (a->total > a->cap || bsize > a->cap - a->total)) {
			a->capped = true;
			return NULL;
		}
		b = malloc(sizeof *b + bsize);
		if (!b)
			return NULL;
		b->size = bsize;
		b->used = 0;
		b->next = a->head;
		a->head = b;
		a->total += bsize;
	}
	void *p = b->data + b->used;
	b->used += need;
	memset(p, 0, need);
	return p;
}

void *mp_arena_array(struct mp_arena *a, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	size_t total = n * size;
	return mp_arena_alloc(a, total ? total : 1);
}

char *mp_arena_strndup(struct mp_arena *a, const char *s, size_t n)
{
	if (n == SIZE_MAX)
		return NULL;
	char *p = mp_arena_alloc(a, n + 1);
	if (p) {
		if (n)
			memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

char *mp_arena_strdup(struct mp_arena *a, const char *s)
{
	return mp_arena_strndup(a, s, strlen(s));
}

void mp_arena_free(struct mp_arena *a)
{
	struct mp_arena_block *b = a->head;
	while (b) {
		struct mp_arena_block *next = b->next;
		free(b);
		b = next;
	}
	a->head = NULL;
	a->total = 0;
}
