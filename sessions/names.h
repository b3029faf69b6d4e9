/* names.h - names to ids (value names, module paths) while a session is
 * read: a lookup in constant time, so that a session of many values and
 * modules opens in time linear in its size, not quadratic (a 60,000-node
 * session took minutes).  Internal to sessions/. */
#ifndef MP_NAMES_H
#define MP_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mp_names_slot;

struct mp_names {
	size_t cap, n;
	struct mp_names_slot *slots;
};

void mp_names_init(struct mp_names *t);
void mp_names_free(struct mp_names *t);
/* The id of key, or -1. */
int32_t mp_names_find(const struct mp_names *t, const char *key);
/* key -> id, key not copied (it must outlive t); a key already there keeps
 * its first id.  False when out of memory. */
bool mp_names_add(struct mp_names *t, const char *key, int32_t id);

#endif
