/* pb.c - protobuf wire format, read in place with every length checked. */
#include "pb.h"

#include <string.h>

static size_t off(const uint8_t *p, const uint8_t *base)
{
	return (size_t)(p - base);
}

void mp_pb_init(struct mp_pb *r, const void *data, size_t len, const void *base)
{
	static const uint8_t empty[1];
	if (!data) { /* no bytes at all: an empty message, and no arithmetic on NULL */
		data = empty;
		len = 0;
	}
	r->p = data;
	r->end = r->p + len;
	r->base = base ? base : data;
}

enum mp_status mp_pb_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v,
                            const uint8_t *base, struct mp_error *e)
{
	const uint8_t *p = *pp;
	uint64_t x = 0;
	for (int i = 0; i < 10; i++) {
		if (p >= end)
			return mp_error_set(e, MP_ERR_FORMAT,
			                    "offset %zu: varint runs past the end of its message",
			                    off(*pp, base));
		uint8_t b = *p++;
		if (i == 9 && b > 1)
			return mp_error_set(e, MP_ERR_FORMAT,
			                    "offset %zu: varint longer than 64 bits", off(*pp, base));
		x |= (uint64_t)(b & 0x7F) << (7 * i);
		if (!(b & 0x80)) {
			*v = x;
			*pp = p;
			return MP_OK;
		}
	}
	return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: varint longer than 10 bytes",
	                    off(*pp, base));
}

enum mp_status mp_pb_next(struct mp_pb *r, struct mp_pb_field *f, bool *got,
                          struct mp_error *e)
{
	uint64_t key;
	enum mp_status st;

	*got = false;
	if (r->p >= r->end)
		return MP_OK;
	f->offset = off(r->p, r->base);
	st = mp_pb_varint(&r->p, r->end, &key, r->base, e);
	if (st)
		return st;
	if ((key >> 3) == 0 || (key >> 3) > 0x1FFFFFFF)
		return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: invalid field number %llu",
		                    f->offset, (unsigned long long)(key >> 3));
	f->num = (uint32_t)(key >> 3);
	f->wire = (enum mp_pb_wire)(key & 7);
	f->data = NULL;
	f->len = 0;
	f->u = 0;
	switch ((int)f->wire) {
	case MP_PB_VARINT:
		st = mp_pb_varint(&r->p, r->end, &f->u, r->base, e);
		break;
	case MP_PB_I64:
		if (r->end - r->p < 8)
			return mp_error_set(e, MP_ERR_FORMAT,
			                    "offset %zu: 64-bit field %u runs past the end of its message",
			                    f->offset, f->num);
		memcpy(&f->u, r->p, 8);
		r->p += 8;
		break;
	case MP_PB_I32: {
		uint32_t w;
		if (r->end - r->p < 4)
			return mp_error_set(e, MP_ERR_FORMAT,
			                    "offset %zu: 32-bit field %u runs past the end of its message",
			                    f->offset, f->num);
		memcpy(&w, r->p, 4);
		f->u = w;
		r->p += 4;
		break;
	}
	case MP_PB_LEN: {
		uint64_t len;
		st = mp_pb_varint(&r->p, r->end, &len, r->base, e);
		if (st)
			return st;
		if (len > (uint64_t)(r->end - r->p))
			return mp_error_set(e, MP_ERR_FORMAT,
			                    "offset %zu: length-delimited field %u runs past the end of "
			                    "its message (%llu bytes declared, %zu left)",
			                    f->offset, f->num, (unsigned long long)len,
			                    (size_t)(r->end - r->p));
		f->data = r->p;
		f->len = (size_t)len;
		r->p += len;
		break;
	}
	case 3:
	case 4:
		return mp_error_set(e, MP_ERR_FORMAT,
		                    "offset %zu: field %u uses protobuf groups, which ONNX never does",
		                    f->offset, f->num);
	default:
		return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: field %u has invalid wire type %d",
		                    f->offset, f->num, (int)f->wire);
	}
	if (st)
		return st;
	*got = true;
	return MP_OK;
}

struct mp_pb mp_pb_sub(const struct mp_pb *parent, const struct mp_pb_field *f)
{
	struct mp_pb r;
	mp_pb_init(&r, f->data, f->len, parent->base);
	return r;
}

static enum mp_status check_elem_wire(const struct mp_pb_field *f, enum mp_pb_wire elem,
                                      struct mp_error *e)
{
	if (f->wire == elem || f->wire == MP_PB_LEN)
		return MP_OK;
	return mp_error_set(e, MP_ERR_FORMAT,
	                    "offset %zu: field %u has wire type %d where %d or packed was expected",
	                    f->offset, f->num, (int)f->wire, (int)elem);
}

enum mp_status mp_pb_count(const struct mp_pb_field *f, enum mp_pb_wire elem, size_t *n,
                           const uint8_t *base, struct mp_error *e)
{
	enum mp_status st = check_elem_wire(f, elem, e);
	if (st)
		return st;
	if (f->wire != MP_PB_LEN) {
		*n = 1;
		return MP_OK;
	}
	if (elem == MP_PB_I32 || elem == MP_PB_I64) {
		size_t w = elem == MP_PB_I32 ? 4 : 8;
		if (f->len % w)
			return mp_error_set(e, MP_ERR_FORMAT,
			                    "offset %zu: packed field %u holds %zu bytes, not a multiple of %zu",
			                    f->offset, f->num, f->len, w);
		*n = f->len / w;
		return MP_OK;
	}
	size_t count = 0;
	for (size_t i = 0; i < f->len; i++)
		if (!(f->data[i] & 0x80))
			count++;
	if (f->len && (f->data[f->len - 1] & 0x80))
		return mp_error_set(e, MP_ERR_FORMAT,
		                    "offset %zu: packed field %u ends inside a varint", f->offset,
		                    f->num);
	(void)base;
	*n = count;
	return MP_OK;
}

enum mp_status mp_pb_decode(const struct mp_pb_field *f, enum mp_pb_wire elem,
                            uint64_t *out, size_t *n, const uint8_t *base,
                            struct mp_error *e)
{
	size_t room = *n, k = 0;
	enum mp_status st = check_elem_wire(f, elem, e);
	if (st)
		return st;
	if (f->wire != MP_PB_LEN) {
		if (room < 1)
			return mp_error_set(e, MP_ERR_INTERNAL, "pb decode: no room");
		out[0] = f->u;
		*n = 1;
		return MP_OK;
	}
	const uint8_t *p = f->data, *end = f->data + f->len;
	while (p < end) {
		if (k >= room)
			return mp_error_set(e, MP_ERR_INTERNAL, "pb decode: no room");
		if (elem == MP_PB_VARINT) {
			st = mp_pb_varint(&p, end, &out[k], base, e);
			if (st)
				return st;
		} else if (elem == MP_PB_I32) {
			uint32_t w;
			if (end - p < 4)
				return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: truncated packed field %u",
				                    f->offset, f->num);
			memcpy(&w, p, 4);
			out[k] = w;
			p += 4;
		} else {
			if (end - p < 8)
				return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: truncated packed field %u",
				                    f->offset, f->num);
			memcpy(&out[k], p, 8);
			p += 8;
		}
		k++;
	}
	*n = k;
	return MP_OK;
}
