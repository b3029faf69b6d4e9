/* read.c - opening a session to read it: a read-only connection that sees
 * every batch committed so far, even while a run still writes the file. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "session_internal.h"
#include "text.h"

enum mp_status mp_session_open(const char *path, struct mp_session **out, struct mp_error *e)
{
	struct mp_session *s = calloc(1, sizeof *s);
	enum mp_status st;
	*out = NULL;
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	}
	if ((st = mp_store_open_readonly(path, &s->db, e))) {
		free(s->path);
		free(s);
		return st;
	}
	*out = s;
	return MP_OK;
}

void mp_session_close(struct mp_session *s)
{
	if (!s)
		return;
	sqlite3_close(s->db);
	free(s->path);
	free(s);
}

const char *mp_session_path(const struct mp_session *s) { return s->path; }

enum mp_status mp_session_prepare(struct mp_session *s, const char *sql, sqlite3_stmt **out, struct mp_error *e)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, out, NULL) != SQLITE_OK) {
		*out = NULL;
		return mp_store_error(s->db, s->path, "reading", e);
	}
	return MP_OK;
}

json_t *mp_session_json_num(double v)
{
	if (isnan(v))
		return json_null();
	if (isinf(v))
		return json_string(v > 0 ? "inf" : "-inf");
	return json_real(v);
}

json_t *mp_session_json_col(sqlite3_stmt *s, int i)
{
	switch (sqlite3_column_type(s, i)) {
	case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(s, i));
	case SQLITE_FLOAT: return mp_session_json_num(sqlite3_column_double(s, i));
	case SQLITE_TEXT: {
		/* a session is someone else's file: its strings reach the terminal
		 * (text reports) and JSON readers only escaped, and as UTF-8; line
		 * breaks stay, for the messages written over several lines */
		char *t = mp_text_escape_lines_dup((const char *)sqlite3_column_text(s, i));
		json_t *j = t ? json_string(t) : NULL;
		free(t);
		return j;
	}
	default: return json_null();
	}
}
