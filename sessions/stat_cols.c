/* stat_cols.c - the stats table's statistic columns, from kernels/stats.def. */
#include "stat_cols.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probes.h"
#include "store.h"
#include "view.h"

_Static_assert(MP_LOW_COUNT == 2, "a LOW row's columns below are bf16 and f16");

#define COL(column, key, kind, low, flags, init, doc, acc_off, view_off)                                       \
	{ column, key, doc, MP_STAT_KIND_##kind, low, flags, init, acc_off, view_off },
#define ONE(field, kind, name, flags, init, doc)                                                                \
	COL(#name, #name, kind, -1, flags, init, doc, offsetof(struct mp_stats_acc, field),                       \
	    offsetof(struct mp_view_stat, name))
#define LOW(field, name, flags, init, doc)                                                                      \
	COL(#name "_bf16", #name, LOW, MP_LOW_BF16, flags, init, doc,                                              \
	    offsetof(struct mp_stats_acc, field) + MP_LOW_BF16 * sizeof(int64_t),                                  \
	    offsetof(struct mp_view_stat, name) + MP_LOW_BF16 * sizeof(int64_t))                                   \
	COL(#name "_f16", #name, LOW, MP_LOW_F16, flags, init, doc,                                                \
	    offsetof(struct mp_stats_acc, field) + MP_LOW_F16 * sizeof(int64_t),                                   \
	    offsetof(struct mp_view_stat, name) + MP_LOW_F16 * sizeof(int64_t))
#define ROW_COUNT(field, name, flags, init, doc) ONE(field, COUNT, name, flags, init, doc)
#define ROW_REAL(field, name, flags, init, doc) ONE(field, REAL, name, flags, init, doc)
#define ROW_STD(field, name, flags, init, doc) ONE(field, STD, name, flags, init, doc)
#define ROW_LOW LOW
#define REPORT MP_STAT_FLAG_REPORT
#define ADDED MP_STAT_FLAG_ADDED

const struct mp_stat_col mp_stat_cols[MP_STAT_NCOLS] = {
#define MP_STAT(field, kind, merge, init, name, flags, doc) ROW_##kind(field, name, flags, init, doc)
#include "stats.def"
#undef MP_STAT
};

#undef REPORT
#undef ADDED

const char *mp_stat_low_suffix(int low) { return low == MP_LOW_F16 ? "f16" : "bf16"; }
const char *mp_stat_low_dtype(int low) { return low == MP_LOW_F16 ? "float16" : "bfloat16"; }

static const char marker[] = "@STATS_COLUMNS@";

char *mp_stat_cols_schema(const char *schema)
{
	const char *at = strstr(schema, marker);
	size_t size = strlen(schema) + MP_STAT_NCOLS * 160 + 1, n;
	char *out = at ? malloc(size) : NULL;
	if (!out)
		return NULL;
	n = (size_t)(at - schema);
	memcpy(out, schema, n);
	for (int c = 0; c < MP_STAT_NCOLS; c++) {
		const struct mp_stat_col *k = &mp_stat_cols[c];
		bool integer = k->kind == MP_STAT_KIND_COUNT || k->kind == MP_STAT_KIND_LOW;
		char type[32];
		snprintf(type, sizeof type, "%s%s,", integer ? "INTEGER" : "REAL",
		         integer && !(k->flags & MP_STAT_FLAG_ADDED) ? " NOT NULL" : "");
		n += (size_t)snprintf(out + n, size - n, "%s%-14s %-17s -- %s%s%s%s\n", c ? "    " : "", k->column, type,
		                      k->doc, k->low >= 0 ? " (" : "", k->low >= 0 ? mp_stat_low_dtype(k->low) : "",
		                      k->low >= 0 ? ")" : "");
	}
	/* the marker's line ends where the last column's comment did */
	const char *rest = strchr(at, '\n');
	snprintf(out + n, size - n, "%s", rest ? rest + 1 : "");
	return out;
}

void mp_stat_cols_names(char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = '\0';
	for (int c = 0; c < MP_STAT_NCOLS && n < size; c++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s", c ? ", " : "", mp_stat_cols[c].column);
}

void mp_stat_cols_bind(sqlite3_stmt *s, int *i, const struct mp_stats_acc *a, bool has)
{
	bool fin = has && a->finite > 0;
	for (int c = 0; c < MP_STAT_NCOLS; c++) {
		const struct mp_stat_col *k = &mp_stat_cols[c];
		const char *at = (const char *)a + k->acc;
		if (k->kind == MP_STAT_KIND_COUNT || k->kind == MP_STAT_KIND_LOW) {
			int64_t v;
			memcpy(&v, at, sizeof v);
			sqlite3_bind_int64(s, (*i)++, v);
			continue;
		}
		double v;
		if (k->kind == MP_STAT_KIND_STD)
			v = mp_stats_std(a);
		else
			memcpy(&v, at, sizeof v);
		/* NaN, or still the empty value (+Inf for "no nonzero value"):
		 * not measured */
		if (!fin || isnan(v) || (isinf(v) && v == k->init))
			sqlite3_bind_null(s, (*i)++);
		else
			sqlite3_bind_double(s, (*i)++, v);
	}
}

/* Which of the columns the file's stats table has. */
static enum mp_status cols_present(sqlite3 *db, const char *path, bool *present, struct mp_error *e)
{
	sqlite3_stmt *s = NULL;
	int rc;
	memset(present, 0, MP_STAT_NCOLS * sizeof *present);
	if (sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info('stats')", -1, &s, NULL) != SQLITE_OK)
		return mp_store_error(db, path, "reading the statistics' columns", e);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(s, 0);
		for (int c = 0; name && c < MP_STAT_NCOLS; c++)
			present[c] |= !strcmp(name, mp_stat_cols[c].column);
	}
	enum mp_status st = rc == SQLITE_DONE ? MP_OK : mp_store_error(db, path, "reading the statistics' columns", e);
	sqlite3_finalize(s);
	return st;
}

enum mp_status mp_stat_cols_select(sqlite3 *db, const char *path, const char *prefix, char *buf, size_t size,
                                   struct mp_error *e)
{
	bool present[MP_STAT_NCOLS];
	enum mp_status st = cols_present(db, path, present, e);
	size_t n = 0;
	if (st)
		return st;
	buf[0] = '\0';
	for (int c = 0; c < MP_STAT_NCOLS && n < size; c++) {
		/* one of the first columns missing: the file is not a session, and
		 * the query says which */
		bool old = !present[c] && (mp_stat_cols[c].flags & MP_STAT_FLAG_ADDED);
		n += (size_t)snprintf(buf + n, size - n, "%s%s%s", c ? ", " : "", old ? "NULL" : prefix,
		                      old ? "" : mp_stat_cols[c].column);
	}
	if (n >= size)
		return mp_error_set(e, MP_ERR_INTERNAL, "the statistics' columns do not fit %zu bytes", size);
	return MP_OK;
}

void mp_stat_cols_read(sqlite3_stmt *s, int first, void *view_stat)
{
	for (int c = 0; c < MP_STAT_NCOLS; c++) {
		const struct mp_stat_col *k = &mp_stat_cols[c];
		char *at = (char *)view_stat + k->view;
		int i = first + c;
		bool null = sqlite3_column_type(s, i) == SQLITE_NULL;
		if (k->kind == MP_STAT_KIND_COUNT || k->kind == MP_STAT_KIND_LOW) {
			/* -1: absent, from a file written before the statistic */
			int64_t v = null && (k->flags & MP_STAT_FLAG_ADDED) ? -1 : sqlite3_column_int64(s, i);
			memcpy(at, &v, sizeof v);
		} else {
			double v = null ? NAN : sqlite3_column_double(s, i);
			memcpy(at, &v, sizeof v);
		}
	}
}
