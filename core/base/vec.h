/* vec.h - the one growable array: elements of one size, grown by doubling,
 * never past a cap stated when it is made.  A push that would pass the cap
 * or that malloc refuses fails with a status and a message, never aborts;
 * a hostile file can make it no longer than its cap. */
#ifndef MP_VEC_H
#define MP_VEC_H

#include <stddef.h>

#include "error.h"

struct mp_vec {
	void *data;   /* owned; len elements of size bytes */
	size_t len;   /* elements in use */
	size_t cap;   /* elements allocated */
	size_t size;  /* bytes of one element */
	size_t first; /* elements of the first allocation */
	size_t max;   /* most elements it may hold */
};

/* An empty array of elements of size bytes: first elements at the first
 * push, at most max (0: as many as size_t can count in bytes). */
void mp_vec_init(struct mp_vec *v, size_t size, size_t first, size_t max);
/* Copies one element (size bytes at item) to the end; MP_ERR_NOMEM ("out
 * of memory", or "over the limit of N <what>" past the cap) when it cannot
 * grow, the array unchanged. */
enum mp_status mp_vec_push(struct mp_vec *v, const void *item, const char *what,
                           struct mp_error *e);
/* Element i (i < len). */
static inline void *mp_vec_at(const struct mp_vec *v, size_t i)
{
	return (char *)v->data + i * v->size;
}
/* Hands the elements to the caller (to free()), with their count in *len,
 * and leaves the array empty. */
void *mp_vec_take(struct mp_vec *v, size_t *len);
/* Frees the elements (not what they point to) and leaves the array empty;
 * v may be NULL. */
void mp_vec_free(struct mp_vec *v);

#endif
