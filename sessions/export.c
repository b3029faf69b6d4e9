/* export.c - a session as one JSON document, or as CSV with one row per
 * batch x value.  The JSON is written item by item (each node, event and
 * batch built with jansson and dumped), so a long session never sits in
 * memory whole.  Numbers JSON cannot hold are written as the strings
 * "inf" and "-inf"; values not measured are null. */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "session_internal.h"
#include "stat_cols.h"
#include "text.h"

/* A column holding JSON text (shapes, name lists) as JSON. */
static json_t *col_json(sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);
	json_t *j = t ? json_loads(t, JSON_DECODE_ANY, NULL) : NULL;
	return j ? j : json_null();
}

/* o[k] = v (taken over), clearing *ok when jansson could not: an object
 * short of a member must not be exported as if whole */
static void put(json_t *o, const char *k, json_t *v, bool *ok)
{
	if (json_object_set_new(o, k, v))
		*ok = false;
}

/* j written out (and freed); ok false: it was built short of a member */
static enum mp_status dump(json_t *j, bool ok, FILE *out, const char *path, struct mp_error *e)
{
	if (!ok) {
		json_decref(j);
		j = NULL;
	}
	/* ENSURE_ASCII: strings from JSON columns (shapes, argv) are the
	 * session's own; as \uXXXX no control character reaches a terminal */
	int rc = j ? json_dumpf(j, out, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : -1;
	bool built = j != NULL, failed_write = rc && ferror(out);
	json_decref(j);
	if (rc && (!built || !failed_write)) /* jansson ran out of memory, building or dumping */
		return mp_error_set(e, MP_ERR_NOMEM, "%s: out of memory writing the export", path);
	if (rc)
		return mp_error_set(e, MP_ERR_IO, "%s: cannot write the export", path);
	return MP_OK;
}

/* Which low types the run's statistics speak of: its own, or both under
 * fp32.  A failed read is an error: guessing both would export columns the
 * run never measured. */
static enum mp_status run_lows(struct mp_session *s, bool *lows, struct mp_error *e)
{
	sqlite3_stmt *q = NULL;
	lows[0] = lows[1] = true;
	int rc = sqlite3_prepare_v2(s->db, "SELECT low_dtype FROM run", -1, &q, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(q, 0);
		if (!t && sqlite3_errcode(s->db) == SQLITE_NOMEM)
			rc = SQLITE_NOMEM;
		else if (t && !strcmp(t, "bfloat16"))
			lows[1] = false;
		else if (t && !strcmp(t, "float16"))
			lows[0] = false;
	}
	enum mp_status st = rc == SQLITE_ROW || rc == SQLITE_DONE ? MP_OK : mp_store_error(s->db, s->path, "reading", e);
	sqlite3_finalize(q);
	return st;
}

static json_t *hist_json(const void *blob, int n, bool *ok)
{
	uint64_t h[MP_HIST_BINS];
	struct mp_error e = { 0 };
	if (!blob || mp_hist_decode(blob, (size_t)n, h, &e))
		return json_null();
	json_t *o = json_object();
	for (int b = 0; b < MP_HIST_BINS; b++) {
		if (!h[b])
			continue;
		char key[16];
		if (b == MP_HIST_ZERO) snprintf(key, sizeof key, "zero");
		else if (b == MP_HIST_SUBNORMAL) snprintf(key, sizeof key, "subnormal");
		else if (b == MP_HIST_INF) snprintf(key, sizeof key, "inf");
		else if (b == MP_HIST_NAN) snprintf(key, sizeof key, "nan");
		else snprintf(key, sizeof key, "%d", b - 128);
		put(o, key, json_integer((json_int_t)h[b]), ok);
	}
	return o;
}

/* A batch's statistics: the value's name, node, dtype, shape, histogram
 * and diversity, then the columns of stats.def (`cols`, stat_cols.h). */
enum { SC_NAME, SC_NODE, SC_DTYPE, SC_SHAPE, SC_HIST, SC_DIV_ACROSS, SC_DIV_WITHIN, SC_STATS };

static void stats_sql(const char *cols, char *buf, size_t size)
{
	snprintf(buf, size, "SELECT v.name, s.node, s.dtype, s.shape, s.hist, s.div_across, s.div_within, %s"
	         " FROM stats s JOIN graph_values v ON v.id = s.value WHERE s.batch = ?"
	         " ORDER BY s.node IS NOT NULL, s.node, s.value", cols);
}

/* *rc: the last step's result (SQLITE_DONE when every row was read). */
/* o[the value name in column 0] = v (taken over), the name escaped as every
 * string of a session is. */
static void set_named(json_t *o, sqlite3_stmt *q, json_t *v, bool *ok)
{
	char *name = mp_text_escape_dup((const char *)sqlite3_column_text(q, 0));
	put(o, name ? name : "", v, ok);
	*ok = *ok && name;
	free(name);
}

/* The statistics of stats.def into v, a low type's counts as one object
 * keyed by the types the run speaks of. */
static void stat_members(json_t *v, sqlite3_stmt *q, const bool *lows, bool *ok)
{
	json_t *per_low = NULL;
	for (int c = 0; c < MP_STAT_NCOLS; c++) {
		const struct mp_stat_col *k = &mp_stat_cols[c];
		if (k->low < 0) {
			put(v, k->key, mp_session_json_col(q, SC_STATS + c), ok);
			continue;
		}
		if (!per_low)
			per_low = json_object();
		if (lows[k->low])
			put(per_low, mp_stat_low_dtype(k->low), mp_session_json_col(q, SC_STATS + c), ok);
		if (k->low == MP_LOW_COUNT - 1) {
			put(v, k->key, per_low, ok);
			per_low = NULL;
		}
	}
}

static json_t *batch_stats(sqlite3_stmt *q, const bool *lows, int *rc, bool *ok)
{
	json_t *o = json_object();
	while ((*rc = sqlite3_step(q)) == SQLITE_ROW) {
		json_t *v = json_object();
		put(v, "node", mp_session_json_col(q, SC_NODE), ok);
		put(v, "dtype", mp_session_json_col(q, SC_DTYPE), ok);
		put(v, "shape", col_json(q, SC_SHAPE), ok);
		stat_members(v, q, lows, ok);
		put(v, "hist", hist_json(sqlite3_column_blob(q, SC_HIST), sqlite3_column_bytes(q, SC_HIST), ok), ok);
		if (sqlite3_column_type(q, SC_DIV_ACROSS) != SQLITE_NULL) {
			double a = sqlite3_column_double(q, SC_DIV_ACROSS), w = sqlite3_column_double(q, SC_DIV_WITHIN);
			put(v, "diversity", json_pack("{s:o, s:o, s:o}", "across", mp_session_json_num(a), "within", mp_session_json_num(w),
			                              "ratio", w > 0 ? mp_session_json_num(a / w) : json_null()), ok);
		}
		set_named(o, q, v, ok);
	}
	return o;
}

static json_t *batch_compare(sqlite3_stmt *q, int *rc, bool *ok)
{
	json_t *o = json_object();
	static const char *const names[] = { "max_abs", "rel_l2", "cosine", "sqnr_db", "own_rel_l2", "inherited_rel_l2",
		                             "nonfinite" };
	while ((*rc = sqlite3_step(q)) == SQLITE_ROW) {
		json_t *v = json_object();
		for (int k = 0; k < 7; k++)
			put(v, names[k], mp_session_json_col(q, 1 + k), ok);
		set_named(o, q, v, ok);
	}
	return o;
}

enum mp_status mp_session_export_json(struct mp_session *s, FILE *out, struct mp_error *e)
{
	sqlite3_stmt *q = NULL, *qs = NULL, *qc = NULL, *qh = NULL;
	enum mp_status st;
	bool lows[2];
	bool first, ok = true; /* every member set so far */
	int rc = SQLITE_DONE;

	char cols[2048], sql[4096];
	if ((st = run_lows(s, lows, e)) || (st = mp_stat_cols_select(s->db, s->path, "s.", cols, sizeof cols, e)))
		return st;
	stats_sql(cols, sql, sizeof sql);
	fprintf(out, "{\"schema\":%d,\n\"run\":", MP_SESSION_SCHEMA);
	if ((st = mp_session_prepare(s, "SELECT * FROM run", &q, e)))
		return st;
	if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		json_t *run = json_object();
		for (int i = 1; i < sqlite3_column_count(q); i++) {
			const char *name = sqlite3_column_name(q, i);
			bool is_json = !strcmp(name, "overrides") || !strcmp(name, "argv");
			put(run, name, is_json ? col_json(q, i) : mp_session_json_col(q, i), &ok);
		}
		st = dump(run, ok, out, s->path, e);
	} else if (rc != SQLITE_DONE) {
		st = mp_store_error(s->db, s->path, "reading", e);
	} else {
		st = mp_error_set(e, MP_ERR_FORMAT, "%s: the session has no run", s->path);
	}
	sqlite3_finalize(q);
	if (st)
		return st;

	fputs(",\n\"nodes\":[", out);
	if ((st = mp_session_prepare(s, "SELECT idx, name, op, module, exec_dtype, inputs, outputs FROM nodes ORDER BY idx", &q, e)))
		return st;
	for (first = true; !st && (rc = sqlite3_step(q)) == SQLITE_ROW; first = false) {
		json_t *n = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "index", mp_session_json_col(q, 0), "name", mp_session_json_col(q, 1), "op",
		                      mp_session_json_col(q, 2), "module", mp_session_json_col(q, 3), "exec_dtype", mp_session_json_col(q, 4), "inputs", col_json(q, 5),
		                      "outputs", col_json(q, 6));
		fputs(first ? "\n" : ",\n", out);
		st = dump(n, ok, out, s->path, e);
	}
	if (!st && rc != SQLITE_DONE)
		st = mp_store_error(s->db, s->path, "reading", e);
	sqlite3_finalize(q);
	if (st)
		return st;

	fputs("],\n\"dtype_events\":[", out);
	if ((st = mp_session_prepare(s, "SELECT d.batch, d.node, d.slot, v.name, d.from_dtype, d.to_dtype, d.reason,"
	                                " d.max_abs, d.max_rel FROM dtype_events d LEFT JOIN graph_values v ON v.id = d.value"
	                                " ORDER BY d.batch, d.seq", &q, e)))
		return st;
	for (first = true; !st && (rc = sqlite3_step(q)) == SQLITE_ROW; first = false) {
		json_t *ev = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "batch", mp_session_json_col(q, 0), "node", mp_session_json_col(q, 1), "slot",
		                       mp_session_json_col(q, 2), "value", mp_session_json_col(q, 3), "from", mp_session_json_col(q, 4), "to", mp_session_json_col(q, 5), "reason", mp_session_json_col(q, 6));
		if (sqlite3_column_type(q, 7) != SQLITE_NULL) {
			put(ev, "max_abs", mp_session_json_col(q, 7), &ok);
			put(ev, "max_rel", mp_session_json_col(q, 8), &ok);
		}
		fputs(first ? "\n" : ",\n", out);
		st = dump(ev, ok, out, s->path, e);
	}
	if (!st && rc != SQLITE_DONE)
		st = mp_store_error(s->db, s->path, "reading", e);
	sqlite3_finalize(q);
	if (st)
		return st;

	fputs("],\n\"batches\":[", out);
	if ((st = mp_session_prepare(s, "SELECT idx, source, sha256, ms, status, message FROM batches ORDER BY idx", &q, e)) ||
	    (st = mp_session_prepare(s, sql, &qs, e)) ||
	    (st = mp_session_prepare(s, "SELECT v.name, c.max_abs, c.rel_l2, c.cosine, c.sqnr_db, c.own_rel_l2,"
	                                " c.inherited_rel_l2, c.nonfinite FROM comparisons c JOIN graph_values v ON v.id = c.value"
	                                " WHERE c.batch = ? ORDER BY c.node, c.value", &qc, e)) ||
	    (st = mp_session_prepare(s, "SELECT h.kind, h.spec, h.node, v.name, h.message FROM breakpoint_hits h"
	                                " LEFT JOIN graph_values v ON v.id = h.value WHERE h.batch = ?", &qh, e)))
		goto out;
	for (first = true; !st && (rc = sqlite3_step(q)) == SQLITE_ROW; first = false) {
		sqlite3_int64 bi = sqlite3_column_int64(q, 0);
		json_t *b = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "index", mp_session_json_col(q, 0), "source", mp_session_json_col(q, 1), "sha256",
		                      mp_session_json_col(q, 2), "ms", mp_session_json_col(q, 3), "status", mp_session_json_col(q, 4), "message", mp_session_json_col(q, 5));
		int rs, rcmp, rh;
		sqlite3_bind_int64(qs, 1, bi);
		put(b, "stats", batch_stats(qs, lows, &rs, &ok), &ok);
		sqlite3_reset(qs);
		sqlite3_bind_int64(qc, 1, bi);
		put(b, "compare", batch_compare(qc, &rcmp, &ok), &ok);
		sqlite3_reset(qc);
		sqlite3_bind_int64(qh, 1, bi);
		if ((rh = sqlite3_step(qh)) == SQLITE_ROW)
			put(b, "breakpoint", json_pack("{s:o, s:o, s:o, s:o, s:o}", "kind", mp_session_json_col(qh, 0), "spec",
			                               mp_session_json_col(qh, 1), "node", mp_session_json_col(qh, 2), "value", mp_session_json_col(qh, 3),
			                               "message", mp_session_json_col(qh, 4)), &ok);
		sqlite3_reset(qh);
		if (rs != SQLITE_DONE || rcmp != SQLITE_DONE || (rh != SQLITE_ROW && rh != SQLITE_DONE)) {
			/* from the step's code: sqlite3_reset has cleared the handle's */
			int bad = (rs != SQLITE_DONE ? rs : rcmp != SQLITE_DONE ? rcmp : rh) & 0xFF;
			json_decref(b);
			st = mp_error_set(e, bad == SQLITE_NOMEM ? MP_ERR_NOMEM :
			                     bad == SQLITE_CORRUPT || bad == SQLITE_NOTADB ? MP_ERR_FORMAT : MP_ERR_IO,
			                  "%s: reading: %s", s->path, sqlite3_errstr(bad));
			break;
		}
		fputs(first ? "\n" : ",\n", out);
		st = dump(b, ok, out, s->path, e);
	}
	if (!st && rc != SQLITE_DONE)
		st = mp_store_error(s->db, s->path, "reading", e);
	if (!st)
		fputs("]}\n", out);
out:
	sqlite3_finalize(q);
	sqlite3_finalize(qs);
	sqlite3_finalize(qc);
	sqlite3_finalize(qh);
	if (!st && (fflush(out) || ferror(out)))
		st = mp_error_set(e, MP_ERR_IO, "cannot write the export");
	return st;
}

/* ---- CSV (RFC 4180) ---- */

/* Escaped first (no control character, CR and LF included, reaches the
 * file or a terminal), then quoted when it holds a comma or a quote.
 * False when out of memory (SQLite's text or the escaped copy): an empty
 * cell would pass for an empty string. */
static bool csv_text(FILE *out, const char *raw)
{
	char *t = raw ? mp_text_escape_dup(raw) : NULL;
	if (!t)
		return false;
	if (!strpbrk(t, ",\"")) {
		fputs(t, out);
	} else {
		fputc('"', out);
		for (const char *c = t; *c; c++) {
			if (*c == '"')
				fputc('"', out);
			fputc(*c, out);
		}
		fputc('"', out);
	}
	free(t);
	return true;
}

static bool csv_col(FILE *out, sqlite3_stmt *q, int i)
{
	switch (sqlite3_column_type(q, i)) {
	case SQLITE_INTEGER: fprintf(out, "%lld", (long long)sqlite3_column_int64(q, i)); break;
	case SQLITE_FLOAT: {
		double v = sqlite3_column_double(q, i);
		if (isinf(v))
			fputs(v > 0 ? "inf" : "-inf", out);
		else
			fprintf(out, "%.17g", v);
		break;
	}
	case SQLITE_TEXT: return csv_text(out, (const char *)sqlite3_column_text(q, i));
	default: break;
	}
	return true;
}

enum mp_status mp_session_export_csv(struct mp_session *s, FILE *out, struct mp_error *e)
{
	static const char *const sql_head =
		"SELECT s.batch, b.source, s.value, v.name, s.node, n.name, n.op, n.module, s.dtype, s.shape, ";
	static const char *const sql_tail =
		", s.div_across, s.div_within,"
		" CASE WHEN s.div_within > 0 THEN s.div_across / s.div_within END,"
		" c.max_abs, c.rel_l2, c.cosine, c.sqnr_db, c.own_rel_l2, c.inherited_rel_l2, c.nonfinite"
		" FROM stats s JOIN batches b ON b.idx = s.batch JOIN graph_values v ON v.id = s.value"
		" LEFT JOIN nodes n ON n.idx = s.node"
		" LEFT JOIN comparisons c ON c.batch = s.batch AND c.value = s.value"
		" ORDER BY s.batch, s.node IS NOT NULL, s.node, s.value";
	char cols[2048], sql[4096];
	sqlite3_stmt *q;
	enum mp_status st = mp_stat_cols_select(s->db, s->path, "s.", cols, sizeof cols, e);
	if (st)
		return st;
	snprintf(sql, sizeof sql, "%s%s%s", sql_head, cols, sql_tail);
	if ((st = mp_session_prepare(s, sql, &q, e)))
		return st;
	/* the header: the statistics by their column names */
	fputs("batch,source,value_id,value,node,node_name,op,module,dtype,shape", out);
	for (int c = 0; c < MP_STAT_NCOLS; c++)
		fprintf(out, ",%s", mp_stat_cols[c].column);
	fputs(",div_across,div_within,div_ratio,max_abs,rel_l2,cosine,sqnr_db,own_rel_l2,inherited_rel_l2,nonfinite\r\n",
	      out);
	int rc;
	bool ok = true;
	while (ok && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		int nc = sqlite3_column_count(q);
		for (int i = 0; ok && i < nc; i++) {
			if (i)
				fputc(',', out);
			ok = csv_col(out, q, i);
		}
		fputs("\r\n", out);
	}
	if (!ok)
		st = mp_error_set(e, MP_ERR_NOMEM, "%s: out of memory writing the export", s->path);
	else if (rc != SQLITE_DONE)
		st = mp_store_error(s->db, s->path, "reading", e);
	sqlite3_finalize(q);
	if (!st && (fflush(out) || ferror(out)))
		st = mp_error_set(e, MP_ERR_IO, "cannot write the export");
	return st;
}
