/* vec.c - the one growable array (see vec.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

void mp_vec_init(struct mp_vec *v, size_t size, size_t first, size_t max)
{
	size_t most = size ? SIZE_MAX / size : 0;
	memset(v, 0, sizeof *v);
	v->size = size;
	v->first = first ? first : 1;
	v->max = max && max < most ? max : most;
}

enum mp_status mp_vec_push(struct mp_vec *v, const void *item, const char *what,
                           struct mp_error *e)
{
	if (v->len == v->cap) {
		if (v->cap >= v->max)
			return mp_error_set(e, MP_ERR_NOMEM, "over the limit of %zu %s", v->max, what);
		size_t cap = !v->cap ? v->first : v->cap > v->max / 2 ? v->max : 2 * v->cap;
		if (cap > v->max)
			cap = v->max;
		void *nd = realloc(v->data, cap * v->size);
		if (!nd)
			return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		v->data = nd;
		v->cap = cap;
	}
	memcpy(mp_vec_at(v, v->len++), item, v->size);
	return MP_OK;
}

void *mp_vec_take(struct mp_vec *v, size_t *len)
{
	void *data = v->data;
	*len = v->len;
	v->data = NULL;
	v->len = v->cap = 0;
	return data;
}

void mp_vec_free(struct mp_vec *v)
{
	if (!v)
		return;
	free(v->data);
	v->data = NULL;
	v->len = v->cap = 0;
}
