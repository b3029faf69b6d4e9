/* session_internal.h - what the reading side of sessions/ shares. */
#ifndef MP_SESSION_INTERNAL_H
#define MP_SESSION_INTERNAL_H

#include <sqlite3.h>

#include "session.h"
#include "store.h"

struct mp_session {
	sqlite3 *db;
	char *path;
};

enum mp_status mp_session_prepare(struct mp_session *s, const char *sql, sqlite3_stmt **out, struct mp_error *e);

#endif
