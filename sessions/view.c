/* view.c - a session read into plain arrays for the TUI. */
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "store.h"
#include "view.h"

static char *dup_col(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return strdup(t ? (const char *)t : "");
}

static double num_col(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

static void copy_col(char *dst, size_t size, sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	snprintf(dst, size, "%s", t ? (const char *)t : "");
}

static enum mp_status prep(struct mp_view *v, const char *sql, sqlite3_stmt **st, struct mp_error *e)
{
	if (sqlite3_prepare_v2(v->db, sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return mp_store_error(v->db, v->path, "reading", e);
	}
	return MP_OK;
}

static enum mp_status corrupt(struct mp_view *v, const char *what, struct mp_error *e)
{
	return mp_error_set(e, MP_ERR_INPUT, "%s: not a readable mpdbg session (%s)", v->path, what);
}

static int32_t value_id(const struct mp_view *v, const char *name)
{
	if (!*name)
		return -1;
	for (size_t i = 0; i < v->nvalues; i++) /* once per node input at open: fine for graphs of thousands */
		if (!strcmp(v->values[i].name, name))
			return (int32_t)i;
	return -1;
}

/* A JSON array of value names as ids. */
static int32_t *names_to_ids(const struct mp_view *v, const char *json, int *n)
{
	json_error_t je;
	json_t *a = json_loads(json, 0, &je);
	int32_t *ids = NULL;
	*n = 0;
	if (!json_is_array(a) || !(ids = calloc(json_array_size(a) + 1, sizeof *ids))) {
		json_decref(a);
		return NULL;
	}
	for (size_t i = 0; i < json_array_size(a); i++) {
		const char *s = json_string_value(json_array_get(a, i));
		ids[i] = value_id(v, s ? s : "");
	}
	*n = (int)json_array_size(a);
	json_decref(a);
	return ids;
}

/* The module tree from the dotted paths, in order of first appearance. */
static int32_t module_for(struct mp_view *v, const char *path, size_t *cap, struct mp_error *e)
{
	for (size_t i = 0; i < v->nmodules; i++)
		if (!strcmp(v->modules[i].path, path))
			return (int32_t)i;
	int32_t parent = 0;
	const char *dot = strrchr(path, '.');
	if (dot) {
		char *pp = strndup(path, (size_t)(dot - path));
		if (!pp)
			return -1;
		parent = module_for(v, pp, cap, e);
		free(pp);
		if (parent < 0)
			return -1;
	}
	if (v->nmodules == *cap) {
		size_t nc = *cap ? 2 * *cap : 64;
		struct mp_view_module *nm = realloc(v->modules, nc * sizeof *nm);
		if (!nm)
			return -1;
		v->modules = nm;
		*cap = nc;
	}
	struct mp_view_module *m = &v->modules[v->nmodules];
	m->path = strdup(path);
	m->name = strdup(dot ? dot + 1 : path);
	m->parent = parent;
	m->depth = v->modules[parent].depth + 1;
	m->first_node = m->last_node = -1;
	if (!m->path || !m->name)
		return -1;
	return (int32_t)v->nmodules++;
}

/* The rows of a table, and an array of that many zeroed elements. */
static enum mp_status rows_array(struct mp_view *v, const char *count_sql, size_t elem, size_t *n, void **out,
                                 struct mp_error *e)
{
	sqlite3_stmt *s = NULL;
	enum mp_status st;
	*n = 0;
	if ((st = prep(v, count_sql, &s, e)))
		return st;
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int64(s, 0) > 0)
		*n = (size_t)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (*n > (size_t)1 << 26)
		return corrupt(v, "more rows than a graph has", e);
	return (*out = calloc(*n + 1, elem)) ? MP_OK : mp_error_set(e, MP_ERR_NOMEM, "out of memory");
}

static enum mp_status load_graph(struct mp_view *v, struct mp_error *e)
{
	sqlite3_stmt *s = NULL;
	enum mp_status st;
	size_t cap = 0;

	if ((st = rows_array(v, "SELECT count(*) FROM graph_values", sizeof *v->values, &v->nvalues,
	                     (void **)&v->values, e)))
		return st;
	if ((st = prep(v, "SELECT id, name, kind, producer, dtype, is_output FROM graph_values ORDER BY id", &s, e)))
		return st;
	while (sqlite3_step(s) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);
		if (id < 0 || (size_t)id >= v->nvalues) {
			sqlite3_finalize(s);
			return corrupt(v, "a value id out of range", e);
		}
		struct mp_view_value *val = &v->values[id];
		val->name = dup_col(s, 1);
		val->kind = dup_col(s, 2);
		val->producer = sqlite3_column_type(s, 3) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 3);
		val->dtype = dup_col(s, 4);
		val->is_output = sqlite3_column_int(s, 5) != 0;
	}
	sqlite3_finalize(s);
	for (size_t i = 0; i < v->nvalues; i++)
		if (!v->values[i].name && (!(v->values[i].name = strdup("")) || !(v->values[i].kind = strdup("")) ||
		                           !(v->values[i].dtype = strdup(""))))
			return mp_error_set(e, MP_ERR_NOMEM, "out of memory");

	if ((st = rows_array(v, "SELECT count(*) FROM nodes", sizeof *v->nodes, &v->nnodes, (void **)&v->nodes, e)))
		return st;
	/* the model itself is module 0 */
	if (!(v->modules = calloc(64, sizeof *v->modules)))
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	cap = 64;
	v->modules[0] = (struct mp_view_module){ strdup("(model)"), strdup(""), -1, 0, -1, -1 };
	v->nmodules = 1;
	if ((st = prep(v, "SELECT idx, name, op, module, exec_dtype, inputs, outputs FROM nodes ORDER BY idx", &s, e)))
		return st;
	while (sqlite3_step(s) == SQLITE_ROW) {
		int64_t i = sqlite3_column_int64(s, 0);
		if (i < 0 || (size_t)i >= v->nnodes) {
			sqlite3_finalize(s);
			return corrupt(v, "a node index out of range", e);
		}
		struct mp_view_node *n = &v->nodes[i];
		n->name = dup_col(s, 1);
		n->op = dup_col(s, 2);
		n->module = dup_col(s, 3);
		n->exec_dtype = dup_col(s, 4);
		const char *ins = (const char *)sqlite3_column_text(s, 5), *outs = (const char *)sqlite3_column_text(s, 6);
		n->inputs = names_to_ids(v, ins ? ins : "", &n->ninputs);
		n->outputs = names_to_ids(v, outs ? outs : "", &n->noutputs);
		n->module_id = *n->module ? module_for(v, n->module, &cap, e) : 0;
		if (!n->name || !n->op || !n->module || !n->exec_dtype || !n->inputs || !n->outputs || n->module_id < 0) {
			sqlite3_finalize(s);
			return n->inputs && n->outputs && n->module_id >= 0 ? mp_error_set(e, MP_ERR_NOMEM, "out of memory") :
			                                                        corrupt(v, "a node's inputs or outputs", e);
		}
	}
	sqlite3_finalize(s);
	for (size_t i = 0; i < v->nvalues; i++) /* a damaged producer points nowhere */
		if (v->values[i].producer < -1 || v->values[i].producer >= (int32_t)v->nnodes)
			v->values[i].producer = -1;
	for (size_t i = 0; i < v->nnodes; i++) {
		if (!v->nodes[i].name)
			return corrupt(v, "node indices with gaps", e);
		for (int32_t m = v->nodes[i].module_id; m >= 0; m = v->modules[m].parent) {
			if (v->modules[m].first_node < 0)
				v->modules[m].first_node = (int32_t)i;
			v->modules[m].last_node = (int32_t)i;
		}
	}
	return MP_OK;
}

static enum mp_status load_run(struct mp_view *v, struct mp_error *e)
{
	sqlite3_stmt *s = NULL;
	enum mp_status st;
	if ((st = prep(v, "SELECT model_path, policy, on_mismatch, low_dtype, compare, tol, backend, device, status, "
	                  "message, started_at FROM run WHERE id = 1", &s, e)))
		return st;
	if (sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_finalize(s);
		return corrupt(v, "no run row", e);
	}
	free(v->status);
	free(v->message);
	if (!v->model_path) {
		v->model_path = dup_col(s, 0);
		v->policy = dup_col(s, 1);
		v->on_mismatch = dup_col(s, 2);
		v->low_dtype = dup_col(s, 3);
		v->compare = sqlite3_column_type(s, 4) != SQLITE_NULL;
		v->tol = num_col(s, 5);
		v->backend = dup_col(s, 6);
		v->device = dup_col(s, 7);
		v->started_at = dup_col(s, 10);
	}
	v->status = dup_col(s, 8);
	v->message = dup_col(s, 9);
	sqlite3_finalize(s);
	if (!v->model_path || !v->policy || !v->on_mismatch || !v->low_dtype || !v->backend || !v->device ||
	    !v->started_at || !v->status || !v->message)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	return MP_OK;
}

enum mp_status mp_view_refresh(struct mp_view *v, bool *changed, struct mp_error *e)
{
	sqlite3_stmt *s = NULL;
	enum mp_status st;
	size_t n = 0, cap = v->nbatches + 64;
	size_t *idx = malloc(cap * sizeof *idx);
	char *old_status = v->status ? strdup(v->status) : NULL;
	if (changed)
		*changed = false;
	if (!idx) {
		free(old_status);
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	}
	if ((st = load_run(v, e)) || (st = prep(v, "SELECT idx FROM batches ORDER BY idx", &s, e))) {
		free(idx);
		free(old_status);
		return st;
	}
	while (sqlite3_step(s) == SQLITE_ROW) {
		if (n == cap) {
			size_t *ni = realloc(idx, 2 * cap * sizeof *ni);
			if (!ni) {
				sqlite3_finalize(s);
				free(idx);
				free(old_status);
				return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
			}
			idx = ni;
			cap *= 2;
		}
		idx[n++] = (size_t)sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	if (changed)
		*changed = n != v->nbatches || !old_status || strcmp(old_status, v->status);
	free(old_status);
	free(v->batch_index);
	v->batch_index = idx;
	v->nbatches = n;
	return MP_OK;
}

enum mp_status mp_view_open(const char *path, struct mp_view **out, struct mp_error *e)
{
	struct mp_view *v = calloc(1, sizeof *v);
	sqlite3 *db = NULL;
	enum mp_status st;
	*out = NULL;
	if (!v || !(v->path = strdup(path))) {
		free(v);
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	}
	if ((st = mp_store_open_readonly(path, &db, e))) {
		free(v->path);
		free(v);
		return st;
	}
	v->db = db;
	if ((st = load_run(v, e)) || (st = load_graph(v, e)) || (st = mp_view_refresh(v, NULL, e))) {
		mp_view_free(v);
		return st;
	}
	*out = v;
	return MP_OK;
}

void mp_view_free(struct mp_view *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->nnodes; i++) {
		struct mp_view_node *n = &v->nodes[i];
		free(n->name), free(n->op), free(n->module), free(n->exec_dtype), free(n->inputs), free(n->outputs);
	}
	for (size_t i = 0; i < v->nvalues; i++)
		free(v->values[i].name), free(v->values[i].kind), free(v->values[i].dtype);
	for (size_t i = 0; i < v->nmodules; i++)
		free(v->modules[i].name), free(v->modules[i].path);
	free(v->nodes), free(v->values), free(v->modules), free(v->batch_index);
	free(v->model_path), free(v->policy), free(v->on_mismatch), free(v->low_dtype), free(v->backend);
	free(v->device), free(v->status), free(v->message), free(v->started_at);
	sqlite3_close(v->db);
	free(v->path);
	free(v);
}

void mp_view_batch_free(struct mp_view_batch *b)
{
	if (!b)
		return;
	free(b->source), free(b->status), free(b->message), free(b->stats), free(b->events), free(b->hit_message);
	free(b);
}

static enum mp_status load_stats(struct mp_view *v, struct mp_view_batch *b, struct mp_error *e)
{
	sqlite3_stmt *s = NULL;
	enum mp_status st;
	if ((st = prep(v, "SELECT value, dtype, shape, count, finite, nan, posinf, neginf, zeros, min, max, mean, std, "
	                  "absmax, min_nonzero, overflow_bf16, overflow_f16, underflow_bf16, underflow_f16, flush_bf16, "
	                  "flush_f16, hist, div_across, div_within FROM stats WHERE batch = ?", &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)b->index);
	while (sqlite3_step(s) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);
		if (id < 0 || (size_t)id >= v->nvalues)
			continue;
		struct mp_view_stat *t = &b->stats[id];
		t->present = true;
		copy_col(t->dtype, sizeof t->dtype, s, 1);
		copy_col(t->shape, sizeof t->shape, s, 2);
		t->count = sqlite3_column_int64(s, 3);
		t->finite = sqlite3_column_int64(s, 4);
		t->nan = sqlite3_column_int64(s, 5);
		t->posinf = sqlite3_column_int64(s, 6);
		t->neginf = sqlite3_column_int64(s, 7);
		t->zeros = sqlite3_column_int64(s, 8);
		t->min = num_col(s, 9), t->max = num_col(s, 10), t->mean = num_col(s, 11), t->std = num_col(s, 12);
		t->absmax = num_col(s, 13), t->min_nonzero = num_col(s, 14);
		for (int k = 0; k < 2; k++) {
			t->overflow[k] = sqlite3_column_int64(s, 15 + k);
			t->underflow[k] = sqlite3_column_int64(s, 17 + k);
			t->flush[k] = sqlite3_column_int64(s, 19 + k);
		}
		struct mp_error he = { 0 };
		t->has_hist = sqlite3_column_type(s, 21) == SQLITE_BLOB &&
		              !mp_hist_decode(sqlite3_column_blob(s, 21), (size_t)sqlite3_column_bytes(s, 21), t->hist, &he);
		t->div_across = num_col(s, 22), t->div_within = num_col(s, 23);
		t->max_abs = t->rel_l2 = t->cosine = t->sqnr_db = t->own_rel_l2 = t->inh_rel_l2 = NAN;
		int32_t node = v->values[id].producer;
		b->nan_values += t->nan > 0;
		b->inf_values += t->posinf + t->neginf > 0;
		int low = !strcmp(v->low_dtype, "float16");
		b->overflow_values += t->overflow[low] > 0;
		if (t->nan + t->posinf + t->neginf > 0 && node >= 0 &&
		    (b->first_nonfinite_node < 0 || node < b->first_nonfinite_node))
			b->first_nonfinite_node = node;
	}
	sqlite3_finalize(s);

	if ((st = prep(v, "SELECT value, max_abs, rel_l2, cosine, sqnr_db, nonfinite, own_rel_l2, inherited_rel_l2 "
	                  "FROM comparisons WHERE batch = ?", &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)b->index);
	while (sqlite3_step(s) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);
		if (id < 0 || (size_t)id >= v->nvalues)
			continue;
		struct mp_view_stat *t = &b->stats[id];
		t->has_cmp = true;
		t->max_abs = num_col(s, 1), t->rel_l2 = num_col(s, 2), t->cosine = num_col(s, 3);
		t->sqnr_db = num_col(s, 4), t->nonfinite = sqlite3_column_int64(s, 5);
		t->own_rel_l2 = num_col(s, 6), t->inh_rel_l2 = num_col(s, 7);
		if (t->rel_l2 > b->worst_rel_l2 || (b->worst_node < 0 && !isnan(t->rel_l2))) {
			b->worst_rel_l2 = t->rel_l2;
			b->worst_node = v->values[id].producer;
		}
	}
	sqlite3_finalize(s);
	return MP_OK;
}

static enum mp_status load_events(struct mp_view *v, struct mp_view_batch *b, struct mp_error *e)
{
	sqlite3_stmt *s = NULL;
	enum mp_status st;
	size_t cap = 64;
	if (!(b->events = malloc(cap * sizeof *b->events)))
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	if ((st = prep(v, "SELECT seq, node, slot, value, from_dtype, to_dtype, reason, max_abs, max_rel "
	                  "FROM dtype_events WHERE batch = ? ORDER BY seq", &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)b->index);
	while (sqlite3_step(s) == SQLITE_ROW) {
		if (b->nevents == cap) {
			struct mp_view_event *ne = realloc(b->events, 2 * cap * sizeof *ne);
			if (!ne) {
				sqlite3_finalize(s);
				return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
			}
			b->events = ne;
			cap *= 2;
		}
		struct mp_view_event *ev = &b->events[b->nevents++];
		ev->seq = sqlite3_column_int64(s, 0);
		ev->node = sqlite3_column_type(s, 1) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 1);
		ev->slot = sqlite3_column_type(s, 2) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 2);
		ev->value = sqlite3_column_type(s, 3) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 3);
		copy_col(ev->from, sizeof ev->from, s, 4);
		copy_col(ev->to, sizeof ev->to, s, 5);
		copy_col(ev->reason, sizeof ev->reason, s, 6);
		ev->max_abs = num_col(s, 7), ev->max_rel = num_col(s, 8);
		if (ev->node >= (int32_t)v->nnodes || ev->value >= (int32_t)v->nvalues)
			ev->node = ev->value = -1; /* a damaged row points nowhere */
		/* "blocked": the mismatch that stopped the run (--on-mismatch error) */
		b->mismatches += !strcmp(ev->reason, "mismatch") || !strcmp(ev->reason, "blocked");
	}
	sqlite3_finalize(s);
	return MP_OK;
}

enum mp_status mp_view_batch_source(struct mp_view *v, size_t i, char **out, struct mp_error *e)
{
	sqlite3_stmt *s = NULL;
	enum mp_status st;
	*out = NULL;
	if (i >= v->nbatches)
		return mp_error_set(e, MP_ERR_USAGE, "%s: there are %zu batches", v->path, v->nbatches);
	if ((st = prep(v, "SELECT source FROM batches WHERE idx = ?", &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)v->batch_index[i]);
	if (sqlite3_step(s) == SQLITE_ROW)
		*out = dup_col(s, 0);
	sqlite3_finalize(s);
	return *out ? MP_OK : mp_error_set(e, MP_ERR_NOMEM, "out of memory");
}

enum mp_status mp_view_load_batch(struct mp_view *v, size_t i, struct mp_view_batch **out, struct mp_error *e)
{
	sqlite3_stmt *s = NULL;
	enum mp_status st;
	struct mp_view_batch *b = NULL;
	*out = NULL;
	if (i >= v->nbatches)
		return mp_error_set(e, MP_ERR_USAGE, "%s: there are %zu batches", v->path, v->nbatches);
	if (!(b = calloc(1, sizeof *b)) || !(b->stats = calloc(v->nvalues + 1, sizeof *b->stats))) {
		free(b);
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	}
	b->index = v->batch_index[i];
	b->first_nonfinite_node = b->worst_node = b->hit_node = b->hit_value = -1;
	b->worst_rel_l2 = NAN;
	if ((st = prep(v, "SELECT source, ms, status, message FROM batches WHERE idx = ?", &s, e)))
		goto fail;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)b->index);
	if (sqlite3_step(s) == SQLITE_ROW) {
		b->source = dup_col(s, 0);
		b->ms = num_col(s, 1);
		b->status = dup_col(s, 2);
		b->message = dup_col(s, 3);
	}
	sqlite3_finalize(s);
	if (!b->source || !b->status || !b->message) {
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if ((st = load_stats(v, b, e)) || (st = load_events(v, b, e)))
		goto fail;
	if ((st = prep(v, "SELECT kind, node, value, message FROM breakpoint_hits WHERE batch = ? LIMIT 1", &s, e)))
		goto fail;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)b->index);
	if (sqlite3_step(s) == SQLITE_ROW) {
		b->hit = true;
		copy_col(b->hit_kind, sizeof b->hit_kind, s, 0);
		b->hit_node = sqlite3_column_type(s, 1) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 1);
		b->hit_value = sqlite3_column_type(s, 2) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 2);
		if (b->hit_node >= (int32_t)v->nnodes)
			b->hit_node = -1;
		b->hit_message = dup_col(s, 3);
	}
	sqlite3_finalize(s);
	*out = b;
	return MP_OK;
fail:
	mp_view_batch_free(b);
	return st;
}

const char *mp_view_figure_name(enum mp_view_figure f)
{
	switch (f) {
	case MP_FIG_NONFINITE: return "NaN/Inf values";
	case MP_FIG_OUTPUT_ERROR: return "output error vs fp32";
	case MP_FIG_OUTPUT_DIVERSITY: return "output diversity";
	default: return "?";
	}
}

enum mp_status mp_view_figure(struct mp_view *v, enum mp_view_figure f, double *out, struct mp_error *e)
{
	static const char *const sql[MP_FIG_COUNT] = {
		"SELECT batch, sum(nan + posinf + neginf) FROM stats GROUP BY batch",
		"SELECT c.batch, max(c.rel_l2) FROM comparisons c JOIN graph_values g ON g.id = c.value "
		"WHERE g.is_output GROUP BY c.batch",
		"SELECT s.batch, avg(s.div_across / nullif(s.div_within, 0)) FROM stats s JOIN graph_values g "
		"ON g.id = s.value WHERE g.is_output GROUP BY s.batch",
	};
	sqlite3_stmt *s = NULL;
	enum mp_status st;
	for (size_t i = 0; i < v->nbatches; i++)
		out[i] = NAN;
	if ((unsigned)f >= MP_FIG_COUNT)
		return mp_error_set(e, MP_ERR_USAGE, "no such figure");
	if ((st = prep(v, sql[f], &s, e)))
		return st;
	size_t pos = 0;
	while (sqlite3_step(s) == SQLITE_ROW) {
		size_t idx = (size_t)sqlite3_column_int64(s, 0);
		while (pos < v->nbatches && v->batch_index[pos] < idx) /* both in batch order */
			pos++;
		if (pos < v->nbatches && v->batch_index[pos] == idx)
			out[pos] = num_col(s, 1);
	}
	sqlite3_finalize(s);
	return MP_OK;
}

enum mp_status mp_view_capture(struct mp_view *v, size_t i, const char *value, struct mp_tensor *out,
                               struct mp_error *e)
{
	sqlite3_stmt *s = NULL;
	enum mp_status st;
	memset(out, 0, sizeof *out);
	if (i >= v->nbatches)
		return mp_error_set(e, MP_ERR_USAGE, "%s: there are %zu batches", v->path, v->nbatches);
	if ((st = prep(v, "SELECT c.dtype, c.shape, c.data FROM captures c JOIN graph_values g ON g.id = c.value "
	                  "WHERE c.batch = ? AND g.name = ?", &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)v->batch_index[i]);
	sqlite3_bind_text(s, 2, value, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_finalize(s);
		return mp_error_set(e, MP_ERR_INPUT, "%s: batch %zu has no captured tensor '%s' (graph outputs are "
		                    "captured; --capture NAME keeps others)", v->path, v->batch_index[i], value);
	}
	const char *dts = (const char *)sqlite3_column_text(s, 0), *shs = (const char *)sqlite3_column_text(s, 1);
	enum mp_dtype dt = dts ? mp_dtype_from_name(dts) : MP_DTYPE_UNDEFINED;
	json_error_t je;
	json_t *shape = shs ? json_loads(shs, 0, &je) : NULL;
	int64_t dims[MP_MAX_DIMS], n = 1;
	int nd = json_is_array(shape) ? (int)json_array_size(shape) : -1;
	bool ok = nd >= 0 && nd <= MP_MAX_DIMS && mp_dtype_computable(dt) && mp_dtype_is_float(dt);
	for (int k = 0; ok && k < nd; k++) {
		json_t *d = json_array_get(shape, (size_t)k);
		dims[k] = json_is_integer(d) ? json_integer_value(d) : -1;
		ok = dims[k] >= 0 && dims[k] <= (int64_t)1 << 31 && (n *= dims[k]) <= (int64_t)1 << 31;
	}
	json_decref(shape);
	size_t bytes = (size_t)sqlite3_column_bytes(s, 2);
	if (!ok || bytes != (size_t)n * mp_dtype_size(dt)) {
		sqlite3_finalize(s);
		return mp_error_set(e, MP_ERR_FORMAT, "%s: the capture of '%s' in batch %zu is damaged (dtype %s, shape %s, "
		                    "%zu bytes)", v->path, value, v->batch_index[i], dts ? dts : "?", shs ? shs : "?", bytes);
	}
	mp_tensor_init(out, MP_F32, nd, dims);
	if ((st = mp_buffer_new_host((size_t)n * 4 + 4, false, &out->buf, e))) {
		sqlite3_finalize(s);
		return st;
	}
	out->data = out->buf->data;
	if (n)
		mp_dtype_convert(dt, sqlite3_column_blob(s, 2), MP_F32, out->data, (size_t)n);
	sqlite3_finalize(s);
	return MP_OK;
}

enum mp_status mp_view_node_diversity(struct mp_view *v, double *out, struct mp_error *e)
{
	sqlite3_stmt *s = NULL;
	enum mp_status st;
	for (size_t i = 0; i < v->nnodes; i++)
		out[i] = NAN;
	if ((st = prep(v, "SELECT node, value, avg(div_across / nullif(div_within, 0)) FROM stats "
	                  "WHERE node IS NOT NULL GROUP BY node, value", &s, e)))
		return st;
	while (sqlite3_step(s) == SQLITE_ROW) {
		int64_t n = sqlite3_column_int64(s, 0), val = sqlite3_column_int64(s, 1);
		if (n < 0 || (size_t)n >= v->nnodes || !v->nodes[n].noutputs || v->nodes[n].outputs[0] != val)
			continue; /* the node's first output only */
		out[n] = num_col(s, 2);
	}
	sqlite3_finalize(s);
	return MP_OK;
}
