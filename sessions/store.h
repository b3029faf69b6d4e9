/* store.h - opening a session file: pragmas, schema creation and
 * migration by PRAGMA user_version, and the small helpers the writer,
 * reports and exports share.  Internal to sessions/. */
#ifndef MP_STORE_H
#define MP_STORE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Creates a new session file (failing if path exists), or opens one
 * read-only.  Errors name the file. */
enum mp_status mp_store_create(const char *path, sqlite3 **out, struct mp_error *e);
enum mp_status mp_store_open_readonly(const char *path, sqlite3 **out, struct mp_error *e);

/* Sets e from the connection's last error, prefixed with the file's name. */
enum mp_status mp_store_error(sqlite3 *db, const char *path, const char *what, struct mp_error *e);

/* "2026-11-22T10:31:07Z" */
void mp_store_now(char *buf, size_t size);

/* The SHA-256 of a file, or of several read one after the other, as 64 hex
 * digits. */
enum mp_status mp_sha256_files(const char *const *paths, size_t n, char hex[65], struct mp_error *e);

#endif
