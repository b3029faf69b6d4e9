/* fmap.h - read-only file mappings, and paths resolved inside a folder.
 *
 * Model and batch files are mapped, not read: tensors point into the mapping
 * (zero copy) and the mapping lives as long as the object that opened it. */
#ifndef MP_FMAP_H
#define MP_FMAP_H

#include <stddef.h>

#include "error.h"

struct mp_fmap {
	const unsigned char *data; /* NULL for an empty file */
	size_t size;
};

/* Maps a regular file read-only.  Errors name the path. */
enum mp_status mp_fmap_open(const char *path, struct mp_fmap *m, struct mp_error *e);
void mp_fmap_close(struct mp_fmap *m);

/* Resolves `rel`, a path read from an untrusted file, inside folder `dir`.
 * Refuses absolute paths, `..` components, empty names, and anything whose
 * real path (after following symbolic links) leaves dir.  On success *out is
 * a malloc'd real path. */
enum mp_status mp_path_resolve_inside(const char *dir, const char *rel, char **out,
                                      struct mp_error *e);

/* The folder part of a path ("." if none), malloc'd; NULL on no memory. */
char *mp_path_dirname(const char *path);
/* The last component without its extension, malloc'd ("batch_000"). */
char *mp_path_stem(const char *path);
/* The last component, pointing into path. */
const char *mp_path_basename(const char *path);

#endif
