/* pb.h - a zero-copy reader of the protobuf wire format.
 *
 * Why not protobuf-c: it copies every bytes field (raw_data included) and its
 * generated code pins one version of onnx.proto.  ONNX files need only the
 * wire format: varints, fixed 32/64-bit words and length-delimited fields,
 * every one bounds-checked here against the message that holds it.
 * Offsets in messages count from the start of the file. */
#ifndef MP_PB_H
#define MP_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum mp_pb_wire {
	MP_PB_VARINT = 0,
	MP_PB_I64 = 1,
	MP_PB_LEN = 2,
	MP_PB_I32 = 5,
};

struct mp_pb {
	const uint8_t *p, *end;
	const uint8_t *base; /* start of the file, for offsets */
};

struct mp_pb_field {
	uint32_t num;
	enum mp_pb_wire wire;
	uint64_t u;          /* VARINT, I64, I32 */
	const uint8_t *data; /* LEN */
	size_t len;          /* LEN */
	size_t offset;       /* of the field's key */
};

void mp_pb_init(struct mp_pb *r, const void *data, size_t len, const void *base);

/* Reads the next field.  *got is false at the end of the message. */
enum mp_status mp_pb_next(struct mp_pb *r, struct mp_pb_field *f, bool *got,
                          struct mp_error *e);

/* The loop over a message's fields:
 *     while (mp_pb_each(&r, &f, &st, e)) { ... }
 *     if (st) return st;
 * stops at the end (st == MP_OK) or at a malformed field (st set). */
static inline bool mp_pb_each(struct mp_pb *r, struct mp_pb_field *f, enum mp_status *st,
                              struct mp_error *e)
{
	bool got = false;
	*st = mp_pb_next(r, f, &got, e);
	return *st == MP_OK && got;
}

/* A reader over a LEN field's bytes (an embedded message). */
struct mp_pb mp_pb_sub(const struct mp_pb *parent, const struct mp_pb_field *f);

/* One varint from [*p, end), advancing *p. */
enum mp_status mp_pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v,
                            const uint8_t *base, struct mp_error *e);

/* Counts the elements of a repeated scalar field occurrence, packed (LEN) or
 * not.  `elem` is the wire type of one element (VARINT, I32 or I64). */
enum mp_status mp_pb_count(const struct mp_pb_field *f, enum mp_pb_wire elem, size_t *n,
                           const uint8_t *base, struct mp_error *e);

/* Decodes a repeated scalar field occurrence into out[0..n): each element as
 * raw 64 bits (varint value, or the fixed word zero-extended).  *n is the
 * room on input and the count on output. */
enum mp_status mp_pb_decode(const struct mp_pb_field *f, enum mp_pb_wire elem,
                            uint64_t *out, size_t *n, const uint8_t *base,
                            struct mp_error *e);

#endif
