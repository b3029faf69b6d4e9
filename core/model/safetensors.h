/* safetensors.h - reading and writing the safetensors format.
 *
 * Reading maps the file; tensors point into the mapping (zero copy).  The
 * format's rules are enforced as the reference implementation enforces
 * them: header at most 100 MB and inside the file, tensors contiguous from
 * offset 0 without holes or overlaps, byte sizes equal to shape x dtype with
 * checked arithmetic, and the file ending exactly where the data does. */
#ifndef MP_SAFETENSORS_H
#define MP_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "tensor.h"

#define MP_ST_MAX_HEADER 100000000u

struct mp_st_entry {
	const char *name;
	const char *st_dtype; /* as written: "BF16", "F8_E4M3", "F6_E2M3" ... */
	enum mp_dtype dtype;  /* UNDEFINED where ONNX has no such type */
	int bits;             /* bits per element */
	int ndim;
	int64_t shape[MP_MAX_DIMS];
	uint64_t offset;      /* from the start of the file */
	uint64_t nbytes;
	struct mp_tensor t;   /* borrowed view; data NULL when empty */
};

struct mp_st_file;

enum mp_status mp_st_open(const char *path, struct mp_st_file **out, struct mp_error *e);
void mp_st_close(struct mp_st_file *f);
const char *mp_st_path(const struct mp_st_file *f);
size_t mp_st_count(const struct mp_st_file *f);
/* Entries in file order (by offset). */
const struct mp_st_entry *mp_st_entry(const struct mp_st_file *f, size_t i);
const struct mp_st_entry *mp_st_find(const struct mp_st_file *f, const char *name);
/* The value of a "__metadata__" key, or NULL. */
const char *mp_st_metadata(const struct mp_st_file *f, const char *key);

struct mp_st_item {
	const char *name;
	const struct mp_tensor *t; /* host memory, contiguous */
};

/* Writes a safetensors file (to a temporary name, then renamed into place):
 * tensors in the order given, header padded to 8 bytes as the reference
 * writer does.  meta: nmeta key/value pairs for "__metadata__". */
enum mp_status mp_st_write(const char *path, const struct mp_st_item *items, size_t n,
                           const char *const *meta, size_t nmeta, struct mp_error *e);

#endif
