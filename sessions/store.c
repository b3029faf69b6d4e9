/* store.c - session files: creation with the schema compiled in from
 * schema.sql, read-only opening with the version check, migrations. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "schema_sql.h"
#include "session.h"
#include "stat_cols.h"

enum mp_status mp_store_error(sqlite3 *db, const char *path, const char *what, struct mp_error *e)
{
	int code = db ? sqlite3_extended_errcode(db) : SQLITE_ERROR;
	enum mp_status st = (code & 0xFF) == SQLITE_NOTADB || (code & 0xFF) == SQLITE_CORRUPT ? MP_ERR_FORMAT :
	                    (code & 0xFF) == SQLITE_NOMEM ? MP_ERR_NOMEM : MP_ERR_IO;
	return mp_error_set(e, st, "%s: %s: %s", path, what, db ? sqlite3_errmsg(db) : "cannot open");
}

void mp_store_now(char *buf, size_t size)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static enum mp_status exec_sql(sqlite3 *db, const char *path, const char *sql, struct mp_error *e)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		mp_error_set(e, MP_ERR_IO, "%s: %s", path, msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return MP_ERR_IO;
	}
	return MP_OK;
}

/* False when the file cannot be read as a database at all (the reason is
 * the connection's message); *v may be anything the file says, -1 too. */
static bool user_version(sqlite3 *db, int *v)
{
	sqlite3_stmt *s;
	bool ok = false;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
		*v = sqlite3_column_int(s, 0);
		ok = true;
	}
	sqlite3_finalize(s);
	return ok;
}

/* Migrations from version k to k + 1, in order.  Version 1 is the first:
 * none yet.  A new schema version appends its step here and to schema.sql. */
static const char *const migrations[] = { NULL };

static enum mp_status migrate(sqlite3 *db, const char *path, int from, struct mp_error *e)
{
	for (int v = from; v < MP_SESSION_SCHEMA; v++) {
		char sql[64];
		enum mp_status st;
		if (!migrations[v - 1])
			return mp_error_set(e, MP_ERR_INTERNAL, "%s: no migration from schema %d", path, v);
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
		if ((st = exec_sql(db, path, "BEGIN", e)) || (st = exec_sql(db, path, migrations[v - 1], e)) ||
		    (st = exec_sql(db, path, sql, e)) || (st = exec_sql(db, path, "COMMIT", e)))
			return st;
	}
	return MP_OK;
}

enum mp_status mp_store_create(const char *path, sqlite3 **out, struct mp_error *e)
{
	sqlite3 *db = NULL;
	enum mp_status st;
	char sql[64];

	*out = NULL;
	/* a write-ahead log or journal left beside the name (its database
	 * deleted or moved) would be taken for the new file's, or thrown away:
	 * refused, naming it, rather than either in silence */
	static const char *const leftovers[] = { "-wal", "-journal" };
	for (size_t i = 0; i < sizeof leftovers / sizeof leftovers[0]; i++) {
		char side[4096];
		struct stat sb;
		if ((size_t)snprintf(side, sizeof side, "%s%s", path, leftovers[i]) < sizeof side && lstat(side, &sb) == 0 &&
		    access(path, F_OK) != 0)
			return mp_error_set(e, MP_ERR_IO, "%s: a stale %s lies beside this new session's name (left by a session "
			                    "whose database is gone?): remove it or choose another name", path, side);
	}
	/* O_EXCL: a session is never overwritten, even by a race */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0)
		return mp_error_set(e, MP_ERR_IO, "%s: %s%s", path, strerror(errno),
		                    errno == EEXIST ? " (sessions are not overwritten: choose another name)" : "");
	close(fd);
	/* NOMUTEX: one thread at a time uses the writer's connection (the
	 * caller before the writer thread starts and after it ends) */
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		st = mp_store_error(db, path, "cannot open", e);
		sqlite3_close(db);
		unlink(path);
		return st;
	}
	sqlite3_busy_timeout(db, 5000);
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", MP_SESSION_SCHEMA);
	char *schema = mp_stat_cols_schema(mp_schema_sql);
	if (!schema) {
		sqlite3_close(db);
		unlink(path);
		return mp_error_set(e, MP_ERR_NOMEM, "%s: out of memory", path);
	}
	/* WAL: readers while the run writes; NORMAL: a commit survives the
	 * process being killed (the OS crashing may lose the last ones) */
	if ((st = exec_sql(db, path, "PRAGMA page_size = 8192; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
	                                " PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 16384", e)) ||
	    (st = exec_sql(db, path, "BEGIN", e)) || (st = exec_sql(db, path, schema, e)) ||
	    (st = exec_sql(db, path, sql, e)) || (st = exec_sql(db, path, "COMMIT", e))) {
		free(schema);
		sqlite3_close(db);
		unlink(path);
		return st;
	}
	free(schema);
	*out = db;
	return MP_OK;
}

static bool side_file_exists(const char *path, const char *suffix)
{
	char side[4096 + 16];
	struct stat sb;
	return (size_t)snprintf(side, sizeof side, "%s%s", path, suffix) >= sizeof side || lstat(side, &sb) == 0;
}

/* "file:PATH?immutable=1", PATH percent-encoded; false when it does not fit. */
static bool immutable_uri(const char *path, char *uri, size_t size)
{
	size_t n = (size_t)snprintf(uri, size, "file:");
	for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
		bool plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		             *c == '/' || *c == '.' || *c == '_' || *c == '-';
		if (n + 4 >= size)
			return false;
		n += plain ? (size_t)snprintf(uri + n, size - n, "%c", *c) : (size_t)snprintf(uri + n, size - n, "%%%02X", *c);
	}
	return (size_t)snprintf(uri + n, size - n, "?immutable=1") < size - n;
}

enum mp_status mp_store_open_readonly(const char *path, sqlite3 **out, struct mp_error *e)
{
	sqlite3 *db = NULL;
	struct stat sb;
	enum mp_status st;

	*out = NULL;
	if (stat(path, &sb) != 0)
		return mp_error_set(e, MP_ERR_IO, "%s: %s", path, strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return mp_error_set(e, MP_ERR_IO, "%s: not a file", path);
	/* No -wal (and no hot journal) beside it: no run is writing it, and none
	 * will (sessions are written once, by the run that made them).  Opened
	 * immutable then, so that reading leaves nothing beside the file: a
	 * read-only connection to a WAL database would leave a -wal and a -shm
	 * in the folder of whoever sent it. */
	char uri[3 * 4096 + 32];
	bool quiet = !side_file_exists(path, "-wal") && !side_file_exists(path, "-journal") &&
	             immutable_uri(path, uri, sizeof uri);
	int rc = quiet ? sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) :
	                 sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		/* out of memory, SQLite may give no handle to ask */
		st = !db && rc == SQLITE_NOMEM ? mp_error_set(e, MP_ERR_NOMEM, "%s: cannot open: out of memory", path) :
		                                 mp_store_error(db, path, "cannot open", e);
		sqlite3_close(db);
		return st;
	}
	sqlite3_busy_timeout(db, 5000);
	int v = 0;
	bool is_db = user_version(db, &v);
	sqlite3_stmt *s = NULL;
	bool has_run = is_db && sqlite3_prepare_v2(db, "SELECT id FROM run", -1, &s, NULL) == SQLITE_OK;
	sqlite3_finalize(s);
	if ((!is_db || !has_run) && (sqlite3_errcode(db) & 0xFF) == SQLITE_NOMEM) {
		st = mp_store_error(db, path, "cannot read", e); /* not the file's fault */
	} else if (!is_db) {
		st = mp_error_set(e, MP_ERR_FORMAT, "%s: not an mpdbg session (not an SQLite database: %s)", path,
		                  sqlite3_errmsg(db));
	} else if (v < 0) {
		st = mp_error_set(e, MP_ERR_FORMAT, "%s: session schema version %d is not one mpdbg knows (this build reads "
		                  "1..%d)", path, v, MP_SESSION_SCHEMA);
	} else if (v == 0 || !has_run) {
		st = mp_error_set(e, MP_ERR_FORMAT, "%s: not an mpdbg session (an SQLite database without its tables)",
		                  path);
	} else if (v > MP_SESSION_SCHEMA) {
		st = mp_error_set(e, MP_ERR_UNSUPPORTED,
		                  "%s: written by a newer mpdbg (session schema %d; this one reads up to %d)", path, v,
		                  MP_SESSION_SCHEMA);
	} else if (v < MP_SESSION_SCHEMA) { /* an older mpdbg's file: brought up to date in place */
		sqlite3_close(db);
		db = NULL;
		if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
			st = mp_store_error(db, path, "cannot open to migrate it", e);
		else if (!(st = migrate(db, path, v, e))) {
			sqlite3_close(db);
			return mp_store_open_readonly(path, out, e);
		}
	} else {
		*out = db;
		return MP_OK;
	}
	sqlite3_close(db);
	return st;
}

/* SHA-256 through OpenSSL's libcrypto: a maintained, vetted implementation
 * (with the CPU's SHA instructions) rather than one of our own. */
enum mp_status mp_sha256_files(const char *const *paths, size_t n, char hex[65], struct mp_error *e)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE], buf[1 << 16];
	unsigned int len = 0;
	enum mp_status st = MP_OK;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		return mp_error_set(e, MP_ERR_INTERNAL, "SHA-256 is not available");
	}
	for (size_t i = 0; i < n && !st; i++) {
		FILE *f = fopen(paths[i], "rb");
		size_t k;
		if (!f) {
			st = mp_error_set(e, MP_ERR_IO, "%s: %s", paths[i], strerror(errno));
			break;
		}
		while ((k = fread(buf, 1, sizeof buf, f)) > 0)
			EVP_DigestUpdate(ctx, buf, k);
		if (ferror(f))
			st = mp_error_set(e, MP_ERR_IO, "%s: read error", paths[i]);
		fclose(f);
	}
	if (!st)
		EVP_DigestFinal_ex(ctx, md, &len);
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; !st && i < len && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return st;
}
