/* stat_cols.h - the stats table's statistic columns, one per row of
 * kernels/stats.def (a LOW row: one per low type): their definitions in
 * the schema, the writer's binds, the list readers select (NULL for a
 * column a file written before it lacks) and the reads into the view.
 * Internal to sessions/. */
#ifndef MP_STAT_COLS_H
#define MP_STAT_COLS_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "probe.h"

enum mp_stat_kind { MP_STAT_KIND_COUNT, MP_STAT_KIND_REAL, MP_STAT_KIND_STD, MP_STAT_KIND_LOW };

enum { MP_STAT_FLAG_REPORT = 1u << 0, MP_STAT_FLAG_ADDED = 1u << 1 };

#define MP_STAT_NCOLS_COUNT 1
#define MP_STAT_NCOLS_REAL 1
#define MP_STAT_NCOLS_STD 1
#define MP_STAT_NCOLS_LOW MP_LOW_COUNT

enum {
	MP_STAT_NCOLS = 0
#define MP_STAT(field, kind, merge, init, name, flags, doc) + MP_STAT_NCOLS_##kind
#include "stats.def"
#undef MP_STAT
};

struct mp_stat_col {
	const char *column;    /* "overflow_bf16" */
	const char *key;       /* the export's key: "overflow" */
	const char *doc;
	enum mp_stat_kind kind;
	int low;               /* LOW: enum mp_low; else -1 */
	unsigned flags;        /* MP_STAT_FLAG_* */
	double init;           /* the empty accumulator's value */
	size_t acc, view;      /* offsets in struct mp_stats_acc and struct mp_view_stat */
};

extern const struct mp_stat_col mp_stat_cols[MP_STAT_NCOLS];

/* The low types' names: as columns end ("bf16") and as dtypes ("bfloat16"). */
const char *mp_stat_low_suffix(int low);
const char *mp_stat_low_dtype(int low);

/* schema with its "@STATS_COLUMNS@" line replaced by the columns'
 * definitions (malloc'd; NULL when out of memory). */
char *mp_stat_cols_schema(const char *schema);

/* The columns of an INSERT, comma-separated: "count, finite, ..." */
void mp_stat_cols_names(char *buf, size_t size);

/* Binds the statistics of a (has: measured) from parameter *i on. */
void mp_stat_cols_bind(sqlite3_stmt *s, int *i, const struct mp_stats_acc *a, bool has);

/* The select list "p.count, p.finite, ..." for the file's stats table, with
 * NULL for each column it lacks; errors name path. */
enum mp_status mp_stat_cols_select(sqlite3 *db, const char *path, const char *prefix, char *buf, size_t size,
                                   struct mp_error *e);

/* The columns from `first` on into a struct mp_view_stat. */
void mp_stat_cols_read(sqlite3_stmt *s, int first, void *view_stat);

#endif
