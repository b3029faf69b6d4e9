/* safetensors.c - the safetensors reader (mapped, validated) and writer.
 * The JSON header is parsed by jansson: a maintained parser that rejects
 * duplicate keys and bounds numbers, so we do not write our own. */
#include "safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmap.h"

struct mp_st_file {
	char *path;
	struct mp_fmap map;
	json_t *header;
	struct mp_st_entry *entries;
	size_t n;
};

static const struct { const char *name; enum mp_dtype dtype; int bits; } st_types[] = {
	{ "BOOL", MP_BOOL, 8 }, { "U8", MP_U8, 8 }, { "I8", MP_I8, 8 },
	{ "F8_E5M2", MP_F8E5M2, 8 }, { "F8_E4M3", MP_F8E4M3FN, 8 }, { "F8_E8M0", MP_F8E8M0, 8 },
	{ "I16", MP_I16, 16 }, { "U16", MP_U16, 16 }, { "F16", MP_F16, 16 }, { "BF16", MP_BF16, 16 },
	{ "I32", MP_I32, 32 }, { "U32", MP_U32, 32 }, { "F32", MP_F32, 32 },
	{ "F64", MP_F64, 64 }, { "I64", MP_I64, 64 }, { "U64", MP_U64, 64 }, { "C64", MP_C64, 64 },
	{ "F4", MP_F4E2M1, 4 }, { "F6_E2M3", MP_DTYPE_UNDEFINED, 6 }, { "F6_E3M2", MP_DTYPE_UNDEFINED, 6 },
};

/* By (begin, end), as the format's own reader orders them: an empty tensor
 * at [0, 0] then sorts before one at [0, 24], and the contiguity check below
 * accepts empty tensors anywhere, as that reader does. */
static int cmp_offset(const void *a, const void *b)
{
	const struct mp_st_entry *x = a, *y = b;
	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

void mp_st_close(struct mp_st_file *f)
{
	if (!f)
		return;
	json_decref(f->header);
	mp_fmap_close(&f->map);
	free(f->entries);
	free(f->path);
	free(f);
}

#define FAIL(...)                                                   \
	do {                                                        \
		st = mp_error_set(e, MP_ERR_FORMAT, __VA_ARGS__);   \
		goto fail;                                          \
	} while (0)

/* The same checks as mp_st_open's, for its helpers: they return. */
#define BAD(...) return mp_error_set(e, MP_ERR_FORMAT, __VA_ARGS__)

/* One tensor's entry of the header: dtype, shape and data_offsets, with its
 * byte size checked against the offsets (offset still relative). */
static enum mp_status st_entry(const char *path, const char *key, json_t *val, struct mp_st_entry *t,
                               struct mp_error *e)
{
	json_t *dt = json_object_get(val, "dtype"), *sh = json_object_get(val, "shape"),
	       *off = json_object_get(val, "data_offsets");
	if (!json_is_object(val) || !json_is_string(dt) || !json_is_array(sh) || !json_is_array(off) ||
	    json_array_size(off) != 2)
		BAD("%s: tensor '%s' lacks dtype, shape or data_offsets [begin, end]", path, key);
	t->name = key;
	t->st_dtype = json_string_value(dt);
	t->bits = 0;
	for (size_t k = 0; k < sizeof st_types / sizeof st_types[0]; k++)
		if (!strcmp(st_types[k].name, t->st_dtype)) {
			t->dtype = st_types[k].dtype;
			t->bits = st_types[k].bits;
		}
	if (!t->bits)
		BAD("%s: tensor '%s' has dtype '%s', which safetensors does not define", path, key,
		    t->st_dtype);
	if (json_array_size(sh) > MP_MAX_DIMS)
		BAD("%s: tensor '%s' has %zu dims, more than mpdbg's %d", path, key,
		    json_array_size(sh), MP_MAX_DIMS);
	t->ndim = (int)json_array_size(sh);
	for (int d = 0; d < t->ndim; d++) {
		json_t *x = json_array_get(sh, (size_t)d);
		if (!json_is_integer(x) || json_integer_value(x) < 0)
			BAD("%s: tensor '%s': shape entry %d is not a non-negative integer", path, key, d);
		t->shape[d] = json_integer_value(x);
	}
	json_t *b0 = json_array_get(off, 0), *b1 = json_array_get(off, 1);
	if (!json_is_integer(b0) || !json_is_integer(b1) || json_integer_value(b0) < 0 ||
	    json_integer_value(b1) < json_integer_value(b0))
		BAD("%s: tensor '%s': data_offsets must be integers with 0 <= begin <= end", path, key);
	uint64_t begin = (uint64_t)json_integer_value(b0), end = (uint64_t)json_integer_value(b1);
	/* byte size from the shape, with every product checked */
	uint64_t elems = 1;
	for (int d = 0; d < t->ndim; d++) {
		uint64_t s = (uint64_t)t->shape[d];
		if (s && elems > UINT64_MAX / s)
			BAD("%s: tensor '%s': dims overflow 64 bits", path, key);
		elems *= s;
	}
	if (elems > UINT64_MAX / (uint64_t)t->bits)
		BAD("%s: tensor '%s': size overflows 64 bits", path, key);
	uint64_t nbits = elems * (uint64_t)t->bits;
	if (nbits % 8)
		BAD("%s: tensor '%s': %llu elements of %s do not fill whole bytes", path, key,
		    (unsigned long long)elems, t->st_dtype);
	if (end - begin != nbits / 8)
		BAD("%s: tensor '%s': data_offsets hold %llu bytes, but shape and dtype need %llu",
		    path, key, (unsigned long long)(end - begin), (unsigned long long)(nbits / 8));
	t->offset = begin; /* relative for now */
	t->nbytes = end - begin;
	return MP_OK;
}

/* The tensors' bytes: contiguous, from 0, no holes, no overlaps, ending at
 * the end of the file; then each entry's tensor points into the map. */
static enum mp_status st_layout(struct mp_st_file *f, const char *path, uint64_t hlen, struct mp_error *e)
{
	qsort(f->entries, f->n, sizeof *f->entries, cmp_offset);
	uint64_t at = 0, base = 8 + hlen;
	for (size_t i = 0; i < f->n; i++) {
		struct mp_st_entry *t = &f->entries[i];
		if (t->offset != at) {
			if (t->offset < at)
				BAD("%s: tensor '%s' at [%llu, %llu) overlaps '%s'", path, t->name,
				    (unsigned long long)t->offset, (unsigned long long)(t->offset + t->nbytes),
				    f->entries[i - 1].name);
			BAD("%s: a hole of %llu bytes before tensor '%s': tensors must be contiguous", path,
			    (unsigned long long)(t->offset - at), t->name);
		}
		at += t->nbytes;
	}
	if (base + at != f->map.size)
		BAD("%s: the tensors end at byte %llu but the file has %zu bytes", path,
		    (unsigned long long)(base + at), f->map.size);
	for (size_t i = 0; i < f->n; i++) {
		struct mp_st_entry *t = &f->entries[i];
		t->offset += base;
		mp_tensor_init(&t->t, t->dtype, t->ndim, t->shape);
		t->t.data = t->nbytes ? (void *)(f->map.data + t->offset) : NULL;
	}
	return MP_OK;
}
#undef BAD

enum mp_status mp_st_open(const char *path, struct mp_st_file **out, struct mp_error *e)
{
	struct mp_st_file *f = calloc(1, sizeof *f);
	enum mp_status st;
	uint64_t hlen;
	json_error_t jerr;

	*out = NULL;
	if (!f || !(f->path = strdup(path))) {
		free(f);
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	}
	if ((st = mp_fmap_open(path, &f->map, e)))
		goto fail;
	if (f->map.size < 8)
		FAIL("%s: %zu bytes is too short for a safetensors file (the header length alone takes 8)",
		     path, f->map.size);
	memcpy(&hlen, f->map.data, 8);
	if (hlen > MP_ST_MAX_HEADER)
		FAIL("%s: header length %llu is over the format's limit of 100 MB", path,
		     (unsigned long long)hlen);
	if (hlen > f->map.size - 8)
		FAIL("%s: header length %llu runs beyond the end of the file (%zu bytes)", path,
		     (unsigned long long)hlen, f->map.size);
	const char *h = (const char *)f->map.data + 8;
	if (hlen == 0 || h[0] != '{')
		FAIL("%s: the header does not start with '{'", path);
	f->header = json_loadb(h, (size_t)hlen, JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, &jerr);
	if (!f->header)
		FAIL("%s: header JSON, byte %d: %s", path, jerr.position, jerr.text);
	/* after the object only whitespace (the writer pads with spaces) */
	for (size_t i = (size_t)jerr.position; i < hlen; i++)
		if (h[i] != ' ' && h[i] != '\t' && h[i] != '\n' && h[i] != '\r')
			FAIL("%s: the header has bytes after its JSON object (at %zu)", path, i);
	if (!json_is_object(f->header))
		FAIL("%s: the header is not a JSON object", path);

	size_t n = json_object_size(f->header);
	f->entries = calloc(n ? n : 1, sizeof *f->entries);
	if (!f->entries) {
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	const char *key;
	json_t *val;
	json_object_foreach(f->header, key, val) {
		if (!strcmp(key, "__metadata__")) {
			const char *k2;
			json_t *v2;
			if (!json_is_object(val))
				FAIL("%s: __metadata__ is not an object", path);
			json_object_foreach(val, k2, v2)
				if (!json_is_string(v2))
					FAIL("%s: __metadata__ value '%s' is not a string", path, k2);
			continue;
		}
		if ((st = st_entry(path, key, val, &f->entries[f->n], e)))
			goto fail;
		f->n++;
	}
	if ((st = st_layout(f, path, hlen, e)))
		goto fail;
	*out = f;
	return MP_OK;
fail:
	mp_st_close(f);
	return st;
}

const char *mp_st_path(const struct mp_st_file *f) { return f->path; }
size_t mp_st_count(const struct mp_st_file *f) { return f->n; }
const struct mp_st_entry *mp_st_entry(const struct mp_st_file *f, size_t i) { return &f->entries[i]; }

const struct mp_st_entry *mp_st_find(const struct mp_st_file *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->entries[i].name, name))
			return &f->entries[i];
	return NULL;
}

const char *mp_st_metadata(const struct mp_st_file *f, const char *key)
{
	json_t *m = json_object_get(f->header, "__metadata__");
	return json_string_value(json_object_get(m, key));
}

/* ---- writer ---- */

enum mp_status mp_st_write(const char *path, const struct mp_st_item *items, size_t n,
                           const char *const *meta, size_t nmeta, struct mp_error *e)
{
	json_t *h = json_object();
	char *text = NULL, *tmp = NULL;
	FILE *fp = NULL;
	enum mp_status st = MP_OK;
	uint64_t at = 0;

	if (!h)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	if (nmeta) {
		json_t *m = json_object();
		for (size_t i = 0; m && i < nmeta; i++)
			json_object_set_new(m, meta[2 * i], json_string(meta[2 * i + 1]));
		json_object_set_new(h, "__metadata__", m);
	}
	for (size_t i = 0; i < n; i++) {
		const struct mp_tensor *t = items[i].t;
		const char *sn = mp_dtype_traits(t->dtype)->st_name;
		if (!sn) {
			st = mp_error_set(e, MP_ERR_UNSUPPORTED, "%s: safetensors has no %s type (tensor '%s')",
			                  path, mp_dtype_name(t->dtype), items[i].name);
			goto out;
		}
		json_t *sh = json_array(), *o = json_object();
		for (int d = 0; d < t->ndim; d++)
			json_array_append_new(sh, json_integer(t->shape[d]));
		uint64_t nb = mp_tensor_nbytes(t);
		json_object_set_new(o, "dtype", json_string(sn));
		json_object_set_new(o, "shape", sh);
		json_object_set_new(o, "data_offsets", json_pack("[II]", (json_int_t)at, (json_int_t)(at + nb)));
		if (json_object_set_new(h, items[i].name, o)) {
			st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
			goto out;
		}
		at += nb;
	}
	text = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!text) {
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto out;
	}
	size_t tl = strlen(text), pad = (8 - tl % 8) % 8;
	uint64_t hl = tl + pad;
	size_t pl = strlen(path);
	tmp = malloc(pl + 16);
	if (!tmp) {
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto out;
	}
	snprintf(tmp, pl + 16, "%s.tmp%d", path, (int)getpid());
	fp = fopen(tmp, "wb");
	if (!fp) {
		st = mp_error_set(e, MP_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
		goto out;
	}
	bool ok = fwrite(&hl, 8, 1, fp) == 1 && fwrite(text, 1, tl, fp) == tl;
	for (size_t i = 0; ok && i < pad; i++)
		ok = fputc(' ', fp) != EOF;
	for (size_t i = 0; ok && i < n; i++) {
		size_t nb = mp_tensor_nbytes(items[i].t);
		ok = !nb || fwrite(items[i].t->data, 1, nb, fp) == nb;
	}
	if (fclose(fp) != 0)
		ok = false;
	fp = NULL;
	if (!ok || rename(tmp, path) != 0) {
		st = mp_error_set(e, MP_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
		remove(tmp);
	}
out:
	if (fp) {
		fclose(fp);
		remove(tmp);
	}
	free(tmp);
	free(text);
	json_decref(h);
	return st;
}
