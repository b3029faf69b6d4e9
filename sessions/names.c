/* names.c - an open-addressing hash of names to ids (see names.h). */
#include "names.h"

#include <stdlib.h>
#include <string.h>

struct mp_names_slot {
	const char *key; /* NULL: empty */
	int32_t id;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

void mp_names_init(struct mp_names *t) { memset(t, 0, sizeof *t); }

void mp_names_free(struct mp_names *t)
{
	free(t->slots);
	memset(t, 0, sizeof *t);
}

int32_t mp_names_find(const struct mp_names *t, const char *key)
{
	if (!t->cap)
		return -1;
	for (size_t i = hash(key) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		if (!t->slots[i].key)
			return -1;
		if (!strcmp(t->slots[i].key, key))
			return t->slots[i].id;
	}
}

static void put(struct mp_names_slot *slots, size_t cap, const char *key, int32_t id)
{
	size_t i = hash(key) & (cap - 1);
	while (slots[i].key)
		i = (i + 1) & (cap - 1);
	slots[i] = (struct mp_names_slot){ key, id };
}

bool mp_names_add(struct mp_names *t, const char *key, int32_t id)
{
	if (mp_names_find(t, key) >= 0)
		return true;
	if (2 * (t->n + 1) > t->cap) { /* at most half full: probes stay short */
		size_t cap = t->cap ? 2 * t->cap : 64;
		struct mp_names_slot *s = calloc(cap, sizeof *s);
		if (!s)
			return false;
		for (size_t i = 0; i < t->cap; i++)
			if (t->slots[i].key)
				put(s, cap, t->slots[i].key, t->slots[i].id);
		free(t->slots);
		t->slots = s;
		t->cap = cap;
	}
	put(t->slots, t->cap, key, id);
	t->n++;
	return true;
}
