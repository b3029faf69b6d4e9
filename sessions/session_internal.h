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

/* JSON for reports and exports (jansson): a number, null for NaN ("not
 * measured"), "inf"/"-inf" for what JSON cannot hold; and a column as
 * whatever it holds. */
struct json_t;
struct json_t *mp_session_json_num(double v);
struct json_t *mp_session_json_col(sqlite3_stmt *s, int i);

#endif
