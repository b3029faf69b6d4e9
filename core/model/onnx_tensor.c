/* onnx_tensor.c - TensorProto: dims, dtype, and data in any of its forms
 * (raw_data, typed fields, external file), every size checked. */
#include "onnx.h"

#include <stdlib.h>
#include <string.h>

#include "pb.h"

/* TensorProto field numbers (onnx.proto) */
enum {
	T_DIMS = 1, T_DATA_TYPE = 2, T_SEGMENT = 3, T_FLOAT_DATA = 4, T_INT32_DATA = 5,
	T_STRING_DATA = 6, T_INT64_DATA = 7, T_NAME = 8, T_RAW_DATA = 9, T_DOUBLE_DATA = 10,
	T_UINT64_DATA = 11, T_EXTERNAL_DATA = 13, T_DATA_LOCATION = 14,
};
enum { KV_KEY = 1, KV_VALUE = 2 };

void mp_onnx_ext_close(struct mp_onnx_ext *x)
{
	for (size_t i = 0; i < x->nfiles; i++) {
		mp_fmap_close(&x->files[i].map);
		free(x->files[i].path);
	}
	free(x->files);
	x->files = NULL;
	x->nfiles = x->cap = 0;
}

static enum mp_status ext_map(struct mp_onnx_ext *x, const char *rel,
                              const struct mp_fmap **map, const char **path,
                              struct mp_error *e)
{
	char *real;
	enum mp_status st = mp_path_resolve_inside(x->dir, rel, &real, e);
	if (st)
		return mp_error_prefix(e, "external data: ");
	for (size_t i = 0; i < x->nfiles; i++) {
		if (!strcmp(x->files[i].path, real)) {
			free(real);
			*map = &x->files[i].map;
			*path = x->files[i].path;
			return MP_OK;
		}
	}
	if (x->nfiles == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 4;
		struct mp_onnx_ext_file *f = realloc(x->files, cap * sizeof *f);
		if (!f) {
			free(real);
			return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		}
		x->files = f;
		x->cap = cap;
	}
	st = mp_fmap_open(real, &x->files[x->nfiles].map, e);
	if (st) {
		free(real);
		return mp_error_prefix(e, "external data: ");
	}
	x->files[x->nfiles].path = real;
	*map = &x->files[x->nfiles].map;
	*path = real;
	x->nfiles++;
	return MP_OK;
}

/* Bits per element for the sub-byte types; 0 for byte-addressed ones. */
static int sub_byte_bits(int dtype)
{
	switch (dtype) {
	case MP_U4: case MP_I4: case MP_F4E2M1: return 4;
	case MP_U2: case MP_I2: return 2;
	default: return 0;
	}
}

/* Which typed field carries this dtype, and how many numbers per element. */
static int typed_field_of(int dtype, int *per_elem)
{
	*per_elem = 1;
	switch (dtype) {
	case MP_F32: return T_FLOAT_DATA;
	case MP_C64: *per_elem = 2; return T_FLOAT_DATA;
	case MP_F64: return T_DOUBLE_DATA;
	case MP_C128: *per_elem = 2; return T_DOUBLE_DATA;
	case MP_I64: return T_INT64_DATA;
	case MP_U32: case MP_U64: return T_UINT64_DATA;
	case MP_STRING: return T_STRING_DATA;
	default: return T_INT32_DATA; /* the narrow ints, bool, f16, bf16, float8, int4 */
	}
}

static enum mp_pb_wire elem_wire(int field)
{
	switch (field) {
	case T_FLOAT_DATA: return MP_PB_I32;
	case T_DOUBLE_DATA: return MP_PB_I64;
	default: return MP_PB_VARINT;
	}
}

static const char *field_name(int field)
{
	switch (field) {
	case T_FLOAT_DATA: return "float_data";
	case T_INT32_DATA: return "int32_data";
	case T_STRING_DATA: return "string_data";
	case T_INT64_DATA: return "int64_data";
	case T_DOUBLE_DATA: return "double_data";
	case T_UINT64_DATA: return "uint64_data";
	default: return "?";
	}
}

/* Writes one decoded number as an element of dtype. */
static void put_elem(int dtype, void *dst, size_t i, uint64_t v)
{
	switch (dtype) {
	case MP_F32: case MP_C64: { uint32_t w = (uint32_t)v; memcpy((char *)dst + 4 * i, &w, 4); break; }
	case MP_F64: case MP_C128: case MP_I64: case MP_U64: memcpy((char *)dst + 8 * i, &v, 8); break;
	case MP_U32: case MP_I32: { uint32_t w = (uint32_t)v; memcpy((char *)dst + 4 * i, &w, 4); break; }
	case MP_I16: case MP_U16: case MP_F16: case MP_BF16: { uint16_t w = (uint16_t)v; memcpy((char *)dst + 2 * i, &w, 2); break; }
	case MP_BOOL: ((uint8_t *)dst)[i] = v != 0; break;
	default: ((uint8_t *)dst)[i] = (uint8_t)v; break; /* i8, u8, float8 */
	}
}

/* What pass 1 finds in a TensorProto: everything but the typed values,
 * which need their count first. */
struct tensor_fields {
	int64_t dims[MP_MAX_DIMS];
	int ndim;
	uint64_t dtype;
	const uint8_t *raw;
	size_t raw_len;
	bool has_raw, external;
	size_t typed_count[16];
	const char *loc;
	uint64_t ext_offset, ext_length;
	bool has_ext_length;
	const char *name;
	size_t name_len;
};

/* One external_data entry (a key and a value): the location, offset or
 * length of the bytes in another file. */
static enum mp_status tensor_ext_entry(struct mp_pb *r, const struct mp_pb_field *fp, struct mp_arena *a,
                                       struct tensor_fields *tf, struct mp_error *e)
{
	const struct mp_pb_field f = *fp;
	enum mp_status st;
	struct mp_pb kv = mp_pb_sub(r, &f);
	struct mp_pb_field g;
	const char *key = NULL, *val = NULL;
	size_t klen = 0, vlen = 0;
	if (f.wire != MP_PB_LEN)
		return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: external_data is not a message", f.offset);
	while (mp_pb_each(&kv, &g, &st, e)) {
		if (g.wire != MP_PB_LEN)
			continue;
		if (g.num == KV_KEY) { key = (const char *)g.data; klen = g.len; }
		if (g.num == KV_VALUE) { val = (const char *)g.data; vlen = g.len; }
	}
	if (st)
		return st;
	if (!key || !val)
		return MP_OK;
	if (memchr(val, 0, vlen))
		return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: external_data value holds a NUL byte", f.offset);
	char *v = mp_arena_strndup(a, val, vlen);
	if (!v)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	if (klen == 8 && !memcmp(key, "location", 8)) {
		tf->loc = v;
	} else if ((klen == 6 && !memcmp(key, "offset", 6)) ||
	           (klen == 6 && !memcmp(key, "length", 6))) {
		char *endp;
		unsigned long long x;
		if (!vlen || v[0] < '0' || v[0] > '9')
			return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: external_data %.6s '%s' is not a number", f.offset, key, v);
		x = strtoull(v, &endp, 10);
		if (*endp || x > INT64_MAX)
			return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: external_data %.6s '%s' is not a number", f.offset, key, v);
		if (key[0] == 'o') {
			tf->ext_offset = x;
		} else {
			tf->ext_length = x;
			tf->has_ext_length = true;
		}
	}
	return MP_OK;
}

/* The dims field (packed or not), appended to tf->dims. */
static enum mp_status tensor_dims(const struct mp_pb_field *fp, const uint8_t *base, struct tensor_fields *tf,
                                  struct mp_error *e)
{
	const struct mp_pb_field f = *fp;
	enum mp_status st;
	size_t n;
	uint64_t v[MP_MAX_DIMS + 1];
	if ((st = mp_pb_count(&f, MP_PB_VARINT, &n, base, e)))
		return st;
	if (tf->ndim + n > MP_MAX_DIMS)
		return mp_error_set(e, MP_ERR_UNSUPPORTED,
		                    "offset %zu: tensor has more than %d dims", f.offset,
		                    MP_MAX_DIMS);
	if ((st = mp_pb_decode(&f, MP_PB_VARINT, v, &n, base, e)))
		return st;
	for (size_t i = 0; i < n; i++) {
		if ((int64_t)v[i] < 0)
			return mp_error_set(e, MP_ERR_FORMAT,
			                    "offset %zu: tensor dim %d is negative (%lld)",
			                    f.offset, tf->ndim, (long long)(int64_t)v[i]);
		tf->dims[tf->ndim++] = (int64_t)v[i];
	}
	return MP_OK;
}

/* Pass 1. */
static enum mp_status tensor_fields_read(const uint8_t *msg, size_t len, const uint8_t *base, struct mp_arena *a,
                                         struct tensor_fields *tf, struct mp_error *e)
{
	struct mp_pb r;
	struct mp_pb_field f;
	enum mp_status st;

	memset(tf, 0, sizeof *tf);
	tf->name = "";
	mp_pb_init(&r, msg, len, base);
	while (mp_pb_each(&r, &f, &st, e)) {
		switch (f.num) {
		case T_DIMS:
			if ((st = tensor_dims(&f, base, tf, e)))
				return st;
			break;
		case T_DATA_TYPE:
			tf->dtype = f.u;
			break;
		case T_SEGMENT:
			return mp_error_set(e, MP_ERR_UNSUPPORTED,
			                    "offset %zu: segmented tensors are not supported", f.offset);
		case T_NAME:
			if (f.wire == MP_PB_LEN) {
				tf->name = (const char *)f.data;
				tf->name_len = f.len;
			}
			break;
		case T_RAW_DATA:
			if (f.wire != MP_PB_LEN)
				return mp_error_set(e, MP_ERR_FORMAT, "offset %zu: raw_data is not bytes",
				                    f.offset);
			tf->raw = f.data;
			tf->raw_len = f.len;
			tf->has_raw = true;
			break;
		case T_FLOAT_DATA: case T_INT32_DATA: case T_INT64_DATA: case T_DOUBLE_DATA:
		case T_UINT64_DATA: {
			size_t n;
			if ((st = mp_pb_count(&f, elem_wire((int)f.num), &n, base, e)))
				return st;
			tf->typed_count[f.num] += n;
			break;
		}
		case T_STRING_DATA:
			tf->typed_count[T_STRING_DATA]++;
			break;
		case T_DATA_LOCATION:
			tf->external = f.u == 1;
			break;
		case T_EXTERNAL_DATA:
			if ((st = tensor_ext_entry(&r, &f, a, tf, e)))
				return st;
			break;
		default:
			break; /* doc_string, metadata_props, ... */
		}
	}
	return st;
}

/* The messages below name the tensor. */
#define FAIL(status, ...) return mp_error_prefix((mp_error_set(e, status, __VA_ARGS__), e), "tensor '%s': ", out->name)

/* Data in another file of the model's folder: mapped, not copied. */
static enum mp_status tensor_external(const struct tensor_fields *tf, struct mp_onnx_ext *ext, size_t need,
                                      size_t ntyped, struct mp_onnx_tensor *out, struct mp_error *e)
{
	const struct mp_fmap *map = NULL;
	const char *path = NULL;
	uint64_t ext_offset = tf->ext_offset, ext_length = tf->ext_length;
	enum mp_status st;
	if (!ext)
		FAIL(MP_ERR_FORMAT, "external data is not allowed here");
	if (!tf->loc)
		FAIL(MP_ERR_FORMAT, "external data without a location");
	if (tf->has_raw || ntyped)
		FAIL(MP_ERR_FORMAT, "external data and inline data both given");
	if ((st = ext_map(ext, tf->loc, &map, &path, e)))
		return mp_error_prefix(e, "tensor '%s': ", out->name);
	if (!tf->has_ext_length)
		ext_length = need;
	if (ext_length != need)
		FAIL(MP_ERR_FORMAT, "external data length %llu, but shape and dtype need %zu bytes",
		     (unsigned long long)ext_length, need);
	if (ext_offset > map->size || need > map->size - ext_offset)
		FAIL(MP_ERR_FORMAT, "external data [%llu, +%zu) lies beyond the end of %s (%zu bytes)",
		     (unsigned long long)ext_offset, need, path, map->size);
	out->t.data = need ? (void *)(map->data + ext_offset) : NULL;
	out->location = path;
	out->offset = ext_offset;
	return MP_OK;
}

/* Pass 2: the typed field's occurrences decoded in order into need bytes
 * of the arena (sub-byte dtypes one byte's worth per entry). */
static enum mp_status tensor_typed(const uint8_t *msg, size_t len, const uint8_t *base, struct mp_arena *a,
                                   int field, int bits, size_t need, struct mp_onnx_tensor *out,
                                   struct mp_error *e)
{
	struct mp_pb r;
	struct mp_pb_field f;
	enum mp_status st;
	int dtype = (int)out->t.dtype;
	void *dst = mp_arena_alloc(a, need);
	uint64_t *tmp = NULL;
	if (!dst)
		FAIL(MP_ERR_NOMEM, "cannot allocate %zu bytes", need);
	size_t k = 0;
	mp_pb_init(&r, msg, len, base);
	while (mp_pb_each(&r, &f, &st, e)) {
		if ((int)f.num != field)
			continue;
		size_t n, room;
		if ((st = mp_pb_count(&f, elem_wire(field), &n, base, e)))
			return st;
		tmp = malloc((n ? n : 1) * sizeof *tmp);
		if (!tmp)
			FAIL(MP_ERR_NOMEM, "out of memory");
		room = n;
		if ((st = mp_pb_decode(&f, elem_wire(field), tmp, &room, base, e))) {
			free(tmp);
			return st;
		}
		for (size_t i = 0; i < room; i++) {
			uint64_t v = tmp[i];
			if (field == T_FLOAT_DATA || dtype == MP_F64 || dtype == MP_C128)
				put_elem(dtype, dst, k + i, v);
			else
				put_elem(bits ? MP_U8 : dtype, dst, k + i, v);
		}
		k += room;
		free(tmp);
		tmp = NULL;
	}
	if (st)
		return st;
	out->t.data = dst;
	return MP_OK;
}

enum mp_status mp_onnx_tensor_parse(const uint8_t *msg, size_t len, const uint8_t *base,
                                    struct mp_arena *a, struct mp_onnx_ext *ext,
                                    struct mp_onnx_tensor *out, struct mp_error *e)
{
	struct tensor_fields tf;
	enum mp_status st;

	memset(out, 0, sizeof *out);
	if ((st = tensor_fields_read(msg, len, base, a, &tf, e)))
		return st;
	uint64_t dtype = tf.dtype;
	int ndim = tf.ndim;
	const int64_t *dims = tf.dims;

	if (!mp_dtype_valid((int)dtype))
		return mp_error_set(e, MP_ERR_FORMAT, "tensor '%.*s' has data_type %llu, which ONNX does not define",
		                    (int)(tf.name_len > 200 ? 200 : tf.name_len), tf.name, (unsigned long long)dtype);
	out->name = mp_arena_strndup(a, tf.name, tf.name_len);
	if (!out->name)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");

	int64_t numel;
	if ((st = mp_shape_numel(ndim, dims, &numel, e)))
		return mp_error_prefix(e, "tensor '%s': ", out->name);
	out->numel = numel;
	/* bytes the data must hold */
	size_t need;
	int bits = sub_byte_bits((int)dtype);
	if (bits)
		need = (size_t)(((uint64_t)numel * (uint64_t)bits + 7) / 8);
	else if (dtype == MP_STRING)
		need = 0;
	else if ((st = mp_shape_nbytes(ndim, dims, (enum mp_dtype)dtype, &need, e)))
		return mp_error_prefix(e, "tensor '%s': ", out->name);
	out->nbytes = need;

	mp_tensor_init(&out->t, (enum mp_dtype)dtype, ndim, dims);
	int per_elem;
	int field = typed_field_of((int)dtype, &per_elem);
	size_t ntyped = 0;
	for (int k = 0; k < 16; k++) {
		if (!tf.typed_count[k])
			continue;
		if (k != field)
			FAIL(MP_ERR_FORMAT, "%s is given for a %s tensor", field_name(k), mp_dtype_name((int)dtype));
		ntyped = tf.typed_count[k];
	}

	if (tf.external)
		return tensor_external(&tf, ext, need, ntyped, out, e);
	if (tf.has_raw) {
		if (ntyped)
			FAIL(MP_ERR_FORMAT, "raw_data and %s both given", field_name(field));
		if (dtype == MP_STRING)
			FAIL(MP_ERR_FORMAT, "string tensors cannot use raw_data");
		if (tf.raw_len != need)
			FAIL(MP_ERR_FORMAT, "raw_data holds %zu bytes, but shape %s of %s needs %zu",
			     tf.raw_len, mp_shape_str((char[256]){ 0 }, 256, ndim, dims),
			     mp_dtype_name((int)dtype), need);
		out->t.data = need ? (void *)tf.raw : NULL;
		out->offset = (uint64_t)(tf.raw - base);
		return MP_OK;
	}
	if (dtype == MP_STRING) {
		if (ntyped != (size_t)numel)
			FAIL(MP_ERR_FORMAT, "%zu strings for %lld elements", ntyped, (long long)numel);
		return MP_OK; /* strings are not computed on; their bytes are not kept */
	}
	if (bits) {
		/* packed sub-byte data in int32_data: one byte's worth per entry */
		if (ntyped != need && numel)
			FAIL(MP_ERR_FORMAT, "%zu int32_data entries for %lld packed %d-bit elements",
			     ntyped, (long long)numel, bits);
	} else if (ntyped != (size_t)numel * (size_t)per_elem) {
		if (numel && !ntyped)
			FAIL(MP_ERR_FORMAT, "no data for %lld elements", (long long)numel);
		FAIL(MP_ERR_FORMAT, "%s holds %zu values for %lld elements", field_name(field), ntyped,
		     (long long)numel);
	}
	if (!need)
		return MP_OK;
	return tensor_typed(msg, len, base, a, field, bits, need, out, e);
}
#undef FAIL

enum mp_status mp_onnx_tensor_file_open(const char *path, struct mp_onnx_tensor_file *f,
                                        struct mp_error *e)
{
	enum mp_status st;
	memset(f, 0, sizeof *f);
	if ((st = mp_fmap_open(path, &f->map, e)))
		return st;
	st = mp_onnx_tensor_parse(f->map.data, f->map.size, f->map.data, &f->arena, NULL, &f->t, e);
	if (st) {
		mp_onnx_tensor_file_close(f);
		return mp_error_prefix(e, "%s: ", path);
	}
	return MP_OK;
}

void mp_onnx_tensor_file_close(struct mp_onnx_tensor_file *f)
{
	mp_fmap_close(&f->map);
	mp_arena_free(&f->arena);
}
