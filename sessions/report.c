/* report.c - `mpdbg report`: what a recorded run found, gathered with SQL
 * into one JSON document (--json prints it), which the text report then
 * renders, so both always say the same: the run, the dtype trace grouped,
 * mismatches, nodes with NaN/Inf/overflow/underflow, the worst nodes
 * against fp32, the diversity of the outputs, per-batch timing and the
 * breakpoints hit. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "session_internal.h"
#include "stat_cols.h"

enum { TOP = 10 };

/* Every row of a query as an object keyed by the column names. */
/* json_object_set_new, saying when it failed (v is freed then): a report
 * missing a section because memory ran out must not pass for a whole one */
static enum mp_status put(json_t *o, const char *key, json_t *v, struct mp_error *e)
{
	return json_object_set_new(o, key, v) ? mp_error_set(e, MP_ERR_NOMEM, "out of memory building the report") : MP_OK;
}

static enum mp_status rows(struct mp_session *s, const char *sql, double arg, bool has_arg, json_t **out,
                           struct mp_error *e)
{
	sqlite3_stmt *q;
	enum mp_status st = mp_session_prepare(s, sql, &q, e);
	*out = NULL;
	if (st)
		return st;
	if (has_arg)
		sqlite3_bind_double(q, 1, arg);
	json_t *a = json_array();
	int rc = SQLITE_NOMEM;
	bool nomem = !a; /* a row half copied would print as empty fields */
	while (!nomem && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		json_t *o = json_object();
		nomem = json_array_append_new(a, o) != 0;
		for (int i = 0; !nomem && i < sqlite3_column_count(q); i++)
			nomem = json_object_set_new(o, sqlite3_column_name(q, i), mp_session_json_col(q, i)) != 0;
	}
	if (nomem) {
		st = mp_error_set(e, MP_ERR_NOMEM, "%s: out of memory reading the session", s->path);
		json_decref(a);
		a = NULL;
	} else if (rc != SQLITE_DONE) {
		st = mp_store_error(s->db, s->path, "reading", e);
		json_decref(a);
		a = NULL;
	}
	sqlite3_finalize(q);
	*out = a;
	return st;
}

#define NODE_COLS "n.idx AS node, n.name AS name, n.op AS op, n.module AS module"

/* Per node, over all batches: how many of its values were `col`, and in
 * how many batches. */
static char *count_sql(const char *expr)
{
	char *sql = NULL;
	if (asprintf(&sql,
	             "SELECT " NODE_COLS ", v.name AS value, SUM(%s) AS values_, COUNT(DISTINCT CASE WHEN %s > 0"
	             " THEN s.batch END) AS batches, MIN(CASE WHEN %s > 0 THEN s.batch END) AS first_batch"
	             " FROM stats s JOIN graph_values v ON v.id = s.value LEFT JOIN nodes n ON n.idx = s.node"
	             " GROUP BY s.value HAVING SUM(%s) > 0 ORDER BY s.node IS NOT NULL, s.node LIMIT 1000",
	             expr, expr, expr, expr) < 0)
		return NULL;
	return sql;
}

static enum mp_status numerics(struct mp_session *s, const char *low, json_t *root, struct mp_error *e)
{
	/* NaN and Inf, then the per-low-type counts stats.def marks REPORT */
	struct {
		char key[64], expr[64];
	} kinds[2 + MP_STAT_NCOLS] = { { "nan", "s.nan" }, { "inf", "s.posinf + s.neginf" } };
	size_t nkinds = 2;
	for (int c = 0; c < MP_STAT_NCOLS; c++) {
		const struct mp_stat_col *k = &mp_stat_cols[c];
		if (!(k->flags & MP_STAT_FLAG_REPORT) || k->low < 0)
			continue;
		snprintf(kinds[nkinds].key, sizeof kinds[nkinds].key, "%s_%s", k->key, mp_stat_low_dtype(k->low));
		snprintf(kinds[nkinds].expr, sizeof kinds[nkinds].expr, "s.%s", k->column);
		nkinds++;
	}
	json_t *o = json_object();
	enum mp_status st = MP_OK;
	/* owned by root from here, so that every way out frees it (a failed
	 * set has freed it already: it must not be used) */
	if (json_object_set_new(root, "numerics", o))
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	for (size_t k = 0; k < nkinds && !st; k++) {
		/* the run's low type; both under fp32 */
		const char *t = strchr(kinds[k].key, '_');
		if (t && strcmp(low, "float32") && strcmp(t + 1, low))
			continue;
		char *sql = count_sql(kinds[k].expr);
		json_t *a = NULL;
		if (!sql)
			return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		st = rows(s, sql, 0, false, &a, e);
		free(sql);
		if (a) {
			/* "values_" reads as "values" */
			size_t i;
			json_t *r;
			json_array_foreach(a, i, r) {
				if (json_object_set(r, "values", json_object_get(r, "values_")) && !st)
					st = mp_error_set(e, MP_ERR_NOMEM, "out of memory building the report");
				json_object_del(r, "values_");
			}
			enum mp_status pst = put(o, kinds[k].key, a, e);
			st = st ? st : pst;
		}
	}
	return st;
}

static enum mp_status build(struct mp_session *s, json_t **out, struct mp_error *e)
{
	json_t *root = json_object(), *a = NULL;
	enum mp_status st;
	const char *low = "float32";
	double tol = NAN;

	*out = NULL;
	if (!root)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	if ((st = rows(s, "SELECT model_path, model_sha256, policy, on_mismatch, overrides, low_dtype, compare, tol,"
	                  " backend, device, mpdbg_version, started_at, finished_at, status, message,"
	                  " (SELECT COUNT(*) FROM batches) AS batches FROM run", 0, false, &a, e)))
		goto fail;
	json_t *run = json_array_get(a, 0);
	if (!run) {
		json_decref(a);
		st = mp_error_set(e, MP_ERR_FORMAT, "%s: the session has no run", s->path);
		goto fail;
	}
	if (json_object_set(root, "run", run)) {
		json_decref(a);
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory building the report");
		goto fail;
	}
	if (json_is_string(json_object_get(run, "low_dtype")))
		low = json_string_value(json_object_get(run, "low_dtype"));
	if (json_is_number(json_object_get(run, "tol")))
		tol = json_number_value(json_object_get(run, "tol"));
	char low_buf[32];
	snprintf(low_buf, sizeof low_buf, "%s", low);
	low = low_buf;
	json_decref(a);

	/* the dtype trace of the first batch, grouped (root owns it at once:
	 * a damaged file fails half-way) */
	json_t *trace = json_object();
	if (json_object_set_new(root, "dtype_trace", trace)) {
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if ((st = rows(s, "SELECT reason, from_dtype, to_dtype, COUNT(*) AS count, MAX(max_abs) AS max_abs,"
	                  " MAX(max_rel) AS max_rel FROM dtype_events WHERE batch = (SELECT MIN(idx) FROM batches)"
	                  " AND NOT (reason = 'graph' AND from_dtype IS to_dtype)"
	                  " GROUP BY reason, from_dtype, to_dtype ORDER BY reason, count DESC", 0, false, &a, e)))
		goto fail;
	if ((st = put(trace, "casts", a, e)))
		goto fail;
	if ((st = rows(s, "SELECT v.name AS value, d.from_dtype AS from_dtype, d.to_dtype AS to_dtype, d.max_abs AS"
	                  " max_abs, d.max_rel AS max_rel FROM dtype_events d JOIN graph_values v ON v.id = d.value"
	                  " WHERE d.reason = 'weight' AND d.batch = (SELECT MIN(idx) FROM batches)"
	                  " ORDER BY d.max_rel DESC LIMIT 10", 0, false, &a, e)))
		goto fail;
	if ((st = put(trace, "worst_weights", a, e)))
		goto fail;
	if ((st = rows(s, "SELECT DISTINCT " NODE_COLS ", d.slot AS slot, v.name AS value, d.from_dtype AS from_dtype,"
	                  " d.to_dtype AS to_dtype, d.reason AS reason FROM dtype_events d JOIN nodes n ON n.idx = d.node"
	                  " LEFT JOIN graph_values v ON v.id = d.value WHERE d.reason IN ('mismatch', 'blocked')"
	                  " ORDER BY n.idx", 0, false, &a, e)))
		goto fail;
	if ((st = put(trace, "mismatches", a, e)))
		goto fail;

	if ((st = numerics(s, low, root, e)))
		goto fail;

	/* against fp32 */
	json_t *cmp = json_object();
	if (json_object_set_new(root, "compare", cmp)) {
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if ((st = rows(s, "SELECT " NODE_COLS ", v.name AS value, MAX(c.rel_l2) AS rel_l2, MAX(c.own_rel_l2) AS"
	                  " own_rel_l2, MAX(c.inherited_rel_l2) AS inherited_rel_l2, MIN(c.cosine) AS cosine,"
	                  " MIN(c.sqnr_db) AS sqnr_db, MAX(c.max_abs) AS max_abs FROM comparisons c"
	                  " JOIN nodes n ON n.idx = c.node JOIN graph_values v ON v.id = c.value GROUP BY c.value"
	                  " ORDER BY MAX(c.rel_l2) DESC LIMIT 10", 0, false, &a, e)))
		goto fail;
	if ((st = put(cmp, "worst", a, e)))
		goto fail;
	if ((st = rows(s, "SELECT c.batch AS batch, " NODE_COLS ", v.name AS value, c.rel_l2 AS rel_l2,"
	                  " c.own_rel_l2 AS own_rel_l2 FROM comparisons c JOIN nodes n ON n.idx = c.node"
	                  " JOIN graph_values v ON v.id = c.value WHERE c.rel_l2 > ?1 ORDER BY c.batch, c.node LIMIT 1",
	                  tol, true, &a, e)))
		goto fail;
	json_t *first = json_array_get(a, 0);
	if ((st = put(cmp, "tol", mp_session_json_num(tol), e)) ||
	    (st = put(cmp, "first_above_tol", first ? json_incref(first) : json_null(), e))) {
		json_decref(a);
		goto fail;
	}
	json_decref(a);

	/* the graph outputs' diversity, averaged over batches */
	if ((st = rows(s, "SELECT v.name AS value, AVG(s.div_across) AS across, AVG(s.div_within) AS within,"
	                  " AVG(CASE WHEN s.div_within > 0 THEN s.div_across / s.div_within END) AS ratio,"
	                  " COUNT(*) AS batches FROM stats s JOIN graph_values v ON v.id = s.value"
	                  " WHERE v.is_output AND s.div_across IS NOT NULL GROUP BY s.value ORDER BY s.value",
	                  0, false, &a, e)))
		goto fail;
	if ((st = put(root, "diversity", a, e)))
		goto fail;

	if ((st = rows(s, "SELECT idx AS batch, source, ms, status, message FROM batches ORDER BY idx", 0, false, &a, e)))
		goto fail;
	if ((st = put(root, "batches", a, e)))
		goto fail;
	if ((st = rows(s, "SELECT h.batch AS batch, h.kind AS kind, h.spec AS spec, h.node AS node, n.name AS name,"
	                  " v.name AS value, h.message AS message FROM breakpoint_hits h LEFT JOIN nodes n ON n.idx = h.node"
	                  " LEFT JOIN graph_values v ON v.id = h.value ORDER BY h.batch", 0, false, &a, e)))
		goto fail;
	if ((st = put(root, "breakpoints", a, e)))
		goto fail;
	*out = root;
	return MP_OK;
fail:
	json_decref(root);
	return st;
}

/* ---- text ---- */

static const char *str(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : "";
}

static double dbl(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);
	if (json_is_string(v))
		return !strcmp(json_string_value(v), "inf") ? INFINITY : -INFINITY;
	return json_is_number(v) ? json_number_value(v) : NAN;
}

static long long integer(const json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static const char *module_of(const json_t *r)
{
	const char *m = str(r, "module");
	return m[0] ? m : "(model)";
}

static void where(FILE *out, const json_t *r)
{
	if (json_is_null(json_object_get(r, "node")))
		fprintf(out, "graph input '%s'", str(r, "value"));
	else
		fprintf(out, "%s (%s, %s)", str(r, "name"), str(r, "op"), module_of(r));
}

static void print_text(FILE *out, const json_t *root)
{
	const json_t *run = json_object_get(root, "run");
	size_t i;
	json_t *r;

	fprintf(out, "model        %s\n", str(run, "model_path"));
	fprintf(out, "             sha256 %s\n", str(run, "model_sha256"));
	fprintf(out, "policy       %s (on mismatch: %s)", str(run, "policy"), str(run, "on_mismatch"));
	if (strcmp(str(run, "overrides"), "[]"))
		fprintf(out, ", overrides %s", str(run, "overrides"));
	fprintf(out, "\nran on       %s, %s\n", str(run, "backend"), str(run, "device"));
	fprintf(out, "batches      %lld, %s to %s\n", integer(run, "batches"), str(run, "started_at"),
	        json_is_string(json_object_get(run, "finished_at")) ? str(run, "finished_at") : "(still running)");
	fprintf(out, "status       %s%s%s\n", str(run, "status"), json_is_string(json_object_get(run, "message")) ? ": " : "",
	        str(run, "message"));

	const json_t *trace = json_object_get(root, "dtype_trace");
	fprintf(out, "\ndtype trace (first batch)\n");
	if (!json_array_size(json_object_get(trace, "casts")))
		fprintf(out, "  no casts\n");
	json_array_foreach(json_object_get(trace, "casts"), i, r) {
		fprintf(out, "  %-9s %6lld  %s -> %s", str(r, "reason"), integer(r, "count"),
		        json_is_string(json_object_get(r, "from_dtype")) ? str(r, "from_dtype") : "-",
		        json_is_string(json_object_get(r, "to_dtype")) ? str(r, "to_dtype") : "-");
		if (!strcmp(str(r, "reason"), "weight") && !isnan(dbl(r, "max_rel")))
			fprintf(out, "  (largest rounding: %.3g relative, %.3g absolute)", dbl(r, "max_rel"), dbl(r, "max_abs"));
		fprintf(out, "\n");
	}
	const json_t *mm = json_object_get(trace, "mismatches");
	if (json_array_size(mm))
		fprintf(out, "  mismatches:\n");
	json_array_foreach(mm, i, r) {
		fprintf(out, "    ");
		where(out, r);
		if (!strcmp(str(r, "reason"), "blocked"))
			fprintf(out, ": stopped here (%s and %s)\n", str(r, "from_dtype"), str(r, "to_dtype"));
		else
			fprintf(out, ": input %lld '%s' cast %s -> %s\n", integer(r, "slot"), str(r, "value"),
			        str(r, "from_dtype"), str(r, "to_dtype"));
	}

	fprintf(out, "\nnumerics (all batches)\n");
	const json_t *nm = json_object_get(root, "numerics");
	const char *key;
	json_t *list;
	json_object_foreach((json_t *)nm, key, list) {
		char label[40];
		snprintf(label, sizeof label, "%s", key);
		char *u = strchr(label, '_');
		if (u)
			*u = ' ';
		if (!json_array_size(list)) {
			fprintf(out, "  %-19s none\n", label);
			continue;
		}
		fprintf(out, "  %-19s %zu value%s", label, json_array_size(list), json_array_size(list) == 1 ? "" : "s");
		fprintf(out, "; first: ");
		where(out, json_array_get(list, 0));
		fprintf(out, ", batch %lld\n", integer(json_array_get(list, 0), "first_batch"));
		json_array_foreach(list, i, r) {
			if (i >= TOP) {
				fprintf(out, "      ... %zu more\n", json_array_size(list) - TOP);
				break;
			}
			fprintf(out, "      %10lld in %lld batch%s  '%s'  ", integer(r, "values"), integer(r, "batches"),
			        integer(r, "batches") == 1 ? "" : "es", str(r, "value"));
			where(out, r);
			fprintf(out, "\n");
		}
	}

	const json_t *cmp = json_object_get(root, "compare");
	if (!json_is_null(json_object_get(run, "compare"))) {
		fprintf(out, "\nagainst fp32 (worst over batches)\n");
		fprintf(out, "  %10s %10s %10s %9s  node\n", "rel L2", "own", "inherited", "SQNR dB");
		json_array_foreach(json_object_get(cmp, "worst"), i, r) {
			double sq = dbl(r, "sqnr_db");
			fprintf(out, "  %10.3g %10.3g %10.3g ", dbl(r, "rel_l2"), dbl(r, "own_rel_l2"), dbl(r, "inherited_rel_l2"));
			if (isnan(sq))
				fprintf(out, "%9s  ", "exact");
			else
				fprintf(out, "%9.1f  ", sq);
			where(out, r);
			fprintf(out, "\n");
		}
		const json_t *f = json_object_get(cmp, "first_above_tol");
		if (json_is_object(f)) {
			fprintf(out, "  first above --tol %g: ", dbl(cmp, "tol"));
			where(out, f);
			fprintf(out, ", batch %lld (rel L2 %.3g, own %.3g)\n", integer(f, "batch"), dbl(f, "rel_l2"),
			        dbl(f, "own_rel_l2"));
		} else {
			fprintf(out, "  no node above --tol %g\n", dbl(cmp, "tol"));
		}
	}

	const json_t *dv = json_object_get(root, "diversity");
	if (json_array_size(dv)) {
		fprintf(out, "\noutput diversity (std across the batch / std within a sample)\n");
		json_array_foreach(dv, i, r) {
			double ratio = dbl(r, "ratio");
			fprintf(out, "  %-24s across %-10.3g within %-10.3g ratio %.3g%s\n", str(r, "value"), dbl(r, "across"),
			        dbl(r, "within"), ratio, ratio < 0.05 ? "  collapsed: the samples barely differ" : "");
		}
	}

	fprintf(out, "\nbatches\n");
	json_array_foreach(json_object_get(root, "batches"), i, r) {
		fprintf(out, "  %4lld  %10.1f ms  %-8s %s%s%s\n", integer(r, "batch"), dbl(r, "ms"), str(r, "status"),
		        str(r, "source"), json_is_string(json_object_get(r, "message")) ? ": " : "", str(r, "message"));
	}
	const json_t *hits = json_object_get(root, "breakpoints");
	if (json_array_size(hits))
		fprintf(out, "\nbreakpoints\n");
	json_array_foreach(hits, i, r)
		fprintf(out, "  batch %lld, --break %s: %s\n", integer(r, "batch"), str(r, "spec"), str(r, "message"));
}

enum mp_status mp_session_report(struct mp_session *s, FILE *out, bool json, struct mp_error *e)
{
	json_t *root;
	enum mp_status st = build(s, &root, e);
	if (st)
		return st;
	if (json) {
		/* ENSURE_ASCII: no byte of the session's strings reaches a terminal raw;
		 * jansson stops half-way when it runs out of memory */
		if (json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)) {
			json_decref(root);
			return mp_error_set(e, MP_ERR_NOMEM, "%s: out of memory writing the report", s->path);
		}
		fputc('\n', out);
	} else {
		print_text(out, root);
	}
	json_decref(root);
	if (fflush(out) || ferror(out))
		return mp_error_set(e, MP_ERR_IO, "cannot write the report");
	return MP_OK;
}
