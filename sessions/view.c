/* view.c - a session read into plain arrays for the TUI. */
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "session.h"
#include "stat_cols.h"
#include "store.h"
#include "text.h"
#include "view.h"

/* Every string a session holds is someone else's: it is kept escaped (see
 * text.h), so that drawing, captions and messages can print it as it is. */
static char *dup_col(sqlite3_stmt *s, int i)
{
	return mp_text_escape_dup((const char *)sqlite3_column_text(s, i));
}

static double num_col(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

/* Messages run over several lines: their line breaks are kept. */
static char *dup_message_col(sqlite3_stmt *s, int i)
{
	return mp_text_escape_lines_dup((const char *)sqlite3_column_text(s, i));
}

static void copy_col(char *dst, size_t size, sqlite3_stmt *s, int i)
{
	mp_text_escape(dst, size, (const char *)sqlite3_column_text(s, i));
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

/* Finalizes s after its last step rc: a read that ended on an error (a
 * damaged page, I/O) is one, naming the file, not a short read. */
static enum mp_status finish(struct mp_view *v, sqlite3_stmt *s, int rc, struct mp_error *e)
{
	enum mp_status st = rc == SQLITE_DONE || rc == SQLITE_ROW ? MP_OK : mp_store_error(v->db, v->path, "reading", e);
	sqlite3_finalize(s);
	return st;
}

/* Value names and module paths to ids, while the graph is read. */
struct graph_index {
	struct mp_names values, modules;
	size_t module_bytes; /* of the modules' paths, each stored whole */
};

/* A JSON array of value names as ids ('' and unknown names: -1). */
/* A node's inputs or outputs, a JSON array of value names, as value ids
 * (-1 for a name the graph lacks or ""): MP_ERR_FORMAT when the text is not
 * an array of names, MP_ERR_NOMEM when memory ran out, so that running out
 * is never blamed on the file. */
static enum mp_status names_to_ids(const struct graph_index *ix, const char *json, int32_t **out, int *n)
{
	json_error_t je;
	json_t *a = json_loads(json, 0, &je);
	enum mp_status st = MP_OK;
	int32_t *ids = NULL;
	*out = NULL;
	*n = 0;
	if (!json_is_array(a))
		st = a || json_error_code(&je) != json_error_out_of_memory ? MP_ERR_FORMAT : MP_ERR_NOMEM;
	else if (!(ids = calloc(json_array_size(a) + 1, sizeof *ids)))
		st = MP_ERR_NOMEM;
	for (size_t i = 0; !st && i < json_array_size(a); i++) {
		const char *raw = json_string_value(json_array_get(a, i));
		char *name = raw ? mp_text_escape_dup(raw) : NULL;
		if (!name)
			st = raw ? MP_ERR_NOMEM : MP_ERR_FORMAT;
		else
			ids[i] = *name ? mp_names_find(&ix->values, name) : -1;
		free(name);
	}
	size_t count = json_array_size(a);
	json_decref(a);
	if (st) {
		free(ids);
		return st;
	}
	*out = ids;
	*n = (int)count;
	return MP_OK;
}

/* The module tree from the dotted paths, in order of first appearance.
 * A path is bounded before anything is built from it: each level copies its
 * prefix, so a path 200,000 levels deep would cost gigabytes. */
static enum mp_status module_for(struct mp_view *v, struct graph_index *ix, int64_t node, const char *path,
                                 size_t *cap, int32_t *out, struct mp_error *e)
{
	size_t len = strlen(path), depth = 1;
	for (const char *c = path; *c; c++)
		depth += *c == '.';
	if (len > MP_VIEW_MODULE_PATH_MAX || depth > MP_VIEW_MODULE_DEPTH_MAX)
		return mp_error_set(e, MP_ERR_FORMAT, "%s: node %lld's module path is %zu levels and %zu bytes long; "
		                    "mpdbg reads at most %d levels and %d bytes", v->path, (long long)node, depth, len,
		                    MP_VIEW_MODULE_DEPTH_MAX, MP_VIEW_MODULE_PATH_MAX);
	/* the innermost module already known, then its missing descendants */
	char buf[MP_VIEW_MODULE_PATH_MAX + 1];
	memcpy(buf, path, len + 1);
	int32_t parent = 0;
	size_t pos = 0; /* where the first missing component starts */
	for (size_t end = len;;) {
		buf[end] = '\0';
		int32_t known = mp_names_find(&ix->modules, buf);
		if (known > 0)
			parent = known, pos = end + 1;
		char *dot = pos ? NULL : strrchr(buf, '.');
		if (!dot)
			break;
		end = (size_t)(dot - buf);
	}
	while (pos <= len) {
		const char *dot = strchr(path + pos, '.');
		size_t end = dot ? (size_t)(dot - path) : len;
		/* each level keeps its whole path: 4096 bytes and 256 levels a
		 * node would otherwise let a small file take gigabytes */
		if ((ix->module_bytes += end + 1) > MP_VIEW_MODULE_BYTES_MAX)
			return mp_error_set(e, MP_ERR_FORMAT, "%s: the module paths of the nodes up to node %lld take more than "
			                    "%d MiB; mpdbg reads at most that", v->path, (long long)node,
			                    MP_VIEW_MODULE_BYTES_MAX >> 20);
		if (v->nmodules == *cap) {
			size_t nc = *cap ? 2 * *cap : 64;
			struct mp_view_module *nm = realloc(v->modules, nc * sizeof *nm);
			if (!nm)
				return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
			v->modules = nm;
			*cap = nc;
		}
		struct mp_view_module *m = &v->modules[v->nmodules];
		m->path = strndup(path, end);
		m->name = strndup(path + pos, end - pos);
		m->parent = parent;
		m->depth = v->modules[parent].depth + 1;
		m->first_node = m->last_node = -1;
		v->nmodules++;
		if (!m->path || !m->name || !mp_names_add(&ix->modules, m->path, (int32_t)(v->nmodules - 1)))
			return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		parent = (int32_t)(v->nmodules - 1);
		pos = end + 1;
	}
	*out = parent;
	return MP_OK;
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
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_int64(s, 0) > 0)
		*n = (size_t)sqlite3_column_int64(s, 0);
	if ((st = finish(v, s, rc, e)))
		return st;
	if (*n > (size_t)1 << 26)
		return corrupt(v, "more rows than a graph has", e);
	if (!(*out = calloc(*n + 1, elem))) {
		*n = 0; /* mp_view_free walks n entries of *out */
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	}
	return MP_OK;
}

static enum mp_status load_graph_indexed(struct mp_view *v, struct graph_index *ix, struct mp_error *e)
{
	sqlite3_stmt *s = NULL;
	enum mp_status st;
	size_t cap = 0;

	if ((st = rows_array(v, "SELECT count(*) FROM graph_values", sizeof *v->values, &v->nvalues,
	                     (void **)&v->values, e)))
		return st;
	if ((st = prep(v, "SELECT id, name, kind, producer, dtype, is_output FROM graph_values ORDER BY id", &s, e)))
		return st;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);
		if (id < 0 || (size_t)id >= v->nvalues || v->values[id].name) {
			sqlite3_finalize(s);
			return corrupt(v, "a value id out of range or given twice", e);
		}
		struct mp_view_value *val = &v->values[id];
		val->name = dup_col(s, 1);
		val->kind = dup_col(s, 2);
		val->producer = sqlite3_column_type(s, 3) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 3);
		val->dtype = dup_col(s, 4);
		val->is_output = sqlite3_column_int(s, 5) != 0;
		if (!val->name || !val->kind || !val->dtype) {
			sqlite3_finalize(s);
			return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		}
	}
	if ((st = finish(v, s, rc, e)))
		return st;
	for (size_t i = 0; i < v->nvalues; i++)
		if ((!v->values[i].name && (!(v->values[i].name = strdup("")) || !(v->values[i].kind = strdup("")) ||
		                            !(v->values[i].dtype = strdup("")))) ||
		    !mp_names_add(&ix->values, v->values[i].name, (int32_t)i))
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
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t i = sqlite3_column_int64(s, 0);
		if (i < 0 || (size_t)i >= v->nnodes || v->nodes[i].name) {
			sqlite3_finalize(s);
			return corrupt(v, "a node index out of range or given twice", e);
		}
		struct mp_view_node *n = &v->nodes[i];
		n->name = dup_col(s, 1);
		n->op = dup_col(s, 2);
		n->module = dup_col(s, 3);
		n->exec_dtype = dup_col(s, 4);
		const char *ins = (const char *)sqlite3_column_text(s, 5), *outs = (const char *)sqlite3_column_text(s, 6);
		if (!(st = names_to_ids(ix, ins ? ins : "", &n->inputs, &n->ninputs)))
			st = names_to_ids(ix, outs ? outs : "", &n->outputs, &n->noutputs);
		if (!st && (!n->name || !n->op || !n->module || !n->exec_dtype))
			st = MP_ERR_NOMEM;
		if (st) {
			sqlite3_finalize(s);
			return st == MP_ERR_NOMEM ? mp_error_set(e, MP_ERR_NOMEM, "%s: out of memory reading the graph", v->path) :
			                            corrupt(v, "a node's inputs or outputs", e);
		}
		n->module_id = 0;
		if (*n->module && (st = module_for(v, ix, i, n->module, &cap, &n->module_id, e))) {
			sqlite3_finalize(s);
			return st;
		}
	}
	if ((st = finish(v, s, rc, e)))
		return st;
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

static enum mp_status load_graph(struct mp_view *v, struct mp_error *e)
{
	struct graph_index ix = { .module_bytes = 0 };
	mp_names_init(&ix.values);
	mp_names_init(&ix.modules);
	enum mp_status st = load_graph_indexed(v, &ix, e);
	mp_names_free(&ix.values);
	mp_names_free(&ix.modules);
	return st;
}

static enum mp_status load_run(struct mp_view *v, struct mp_error *e)
{
	sqlite3_stmt *s = NULL;
	enum mp_status st;
	if ((st = prep(v, "SELECT model_path, policy, on_mismatch, low_dtype, compare, tol, backend, device, status, "
	                  "message, started_at FROM run WHERE id = 1", &s, e)))
		return st;
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		return (st = finish(v, s, rc, e)) ? st : corrupt(v, "no run row", e);
	}
	free(v->status);
	free(v->message);
	if (!v->model_path) {
		v->model_path = dup_col(s, 0);
		v->policy = dup_col(s, 1);
		v->on_mismatch = dup_col(s, 2);
		v->low_dtype = dup_col(s, 3);
		v->low = v->low_dtype ? mp_dtype_from_name(v->low_dtype) : MP_DTYPE_UNDEFINED;
		v->compare = sqlite3_column_type(s, 4) != SQLITE_NULL;
		v->tol = num_col(s, 5);
		v->backend = dup_col(s, 6);
		v->device = dup_col(s, 7);
		v->started_at = dup_col(s, 10);
	}
	v->status = dup_col(s, 8);
	v->message = dup_message_col(s, 9);
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
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
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
	if ((st = finish(v, s, rc, e))) {
		free(idx);
		free(old_status);
		return st;
	}
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
	char select[2048];
	if ((st = mp_stat_cols_select(db, path, "", select, sizeof select, e)) ||
	    (!(v->stat_select = strdup(select)) && (st = mp_error_set(e, MP_ERR_NOMEM, "out of memory")))) {
		mp_view_free(v);
		return st;
	}
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
	free(v->stat_select);
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
	char sql[4096];
	snprintf(sql, sizeof sql, "SELECT value, dtype, shape, hist, div_across, div_within, %s FROM stats WHERE batch = ?",
	         v->stat_select);
	if ((st = prep(v, sql, &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)b->index);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);
		if (id < 0 || (size_t)id >= v->nvalues)
			continue;
		struct mp_view_stat *t = &b->stats[id];
		t->present = true;
		copy_col(t->dtype, sizeof t->dtype, s, 1);
		copy_col(t->shape, sizeof t->shape, s, 2);
		struct mp_error he = { 0 };
		t->has_hist = sqlite3_column_type(s, 3) == SQLITE_BLOB &&
		              !mp_hist_decode(sqlite3_column_blob(s, 3), (size_t)sqlite3_column_bytes(s, 3), t->hist, &he);
		t->div_across = num_col(s, 4), t->div_within = num_col(s, 5);
		mp_stat_cols_read(s, 6, t);
		t->max_abs = t->rel_l2 = t->cosine = t->sqnr_db = t->own_rel_l2 = t->inh_rel_l2 = NAN;
		int32_t node = v->values[id].producer;
		b->nan_values += t->nan > 0;
		b->inf_values += t->posinf + t->neginf > 0;
		b->overflow_values += t->overflow[mp_low_index(v->low)] > 0;
		if (t->nan + t->posinf + t->neginf > 0 && node >= 0 &&
		    (b->first_nonfinite_node < 0 || node < b->first_nonfinite_node))
			b->first_nonfinite_node = node;
	}
	if ((st = finish(v, s, rc, e)))
		return st;

	if ((st = prep(v, "SELECT value, max_abs, rel_l2, cosine, sqnr_db, nonfinite, own_rel_l2, inherited_rel_l2 "
	                  "FROM comparisons WHERE batch = ?", &s, e)))
		return st;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)b->index);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
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
	if ((st = finish(v, s, rc, e)))
		return st;
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
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
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
		b->mismatches += mp_view_event_is_mismatch(ev);
	}
	if ((st = finish(v, s, rc, e)))
		return st;
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
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) { /* as stored, to be opened: the one string not escaped */
		const unsigned char *t = sqlite3_column_text(s, 0);
		if (!(*out = strdup(t ? (const char *)t : ""))) {
			sqlite3_finalize(s);
			return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		}
	}
	if ((st = finish(v, s, rc, e)))
		return st;
	return *out ? MP_OK : corrupt(v, "a batch without its row", e);
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
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		b->source = dup_col(s, 0);
		b->ms = num_col(s, 1);
		b->status = dup_col(s, 2);
		b->message = dup_message_col(s, 3);
	}
	if ((st = finish(v, s, rc, e)))
		goto fail;
	if (rc != SQLITE_ROW) {
		st = corrupt(v, "a batch without its row", e);
		goto fail;
	}
	if (!b->source || !b->status || !b->message) {
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if ((st = load_stats(v, b, e)) || (st = load_events(v, b, e)))
		goto fail;
	if ((st = prep(v, "SELECT kind, node, value, message FROM breakpoint_hits WHERE batch = ? LIMIT 1", &s, e)))
		goto fail;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)b->index);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		b->hit = true;
		copy_col(b->hit_kind, sizeof b->hit_kind, s, 0);
		b->hit_node = sqlite3_column_type(s, 1) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 1);
		b->hit_value = sqlite3_column_type(s, 2) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 2);
		if (b->hit_node >= (int32_t)v->nnodes)
			b->hit_node = -1;
		b->hit_message = dup_message_col(s, 3);
	}
	if ((st = finish(v, s, rc, e)))
		goto fail;
	if (b->hit && !b->hit_message) {
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto fail;
	}
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
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		size_t idx = (size_t)sqlite3_column_int64(s, 0);
		while (pos < v->nbatches && v->batch_index[pos] < idx) /* both in batch order */
			pos++;
		if (pos < v->nbatches && v->batch_index[pos] == idx)
			out[pos] = num_col(s, 1);
	}
	if ((st = finish(v, s, rc, e)))
		return st;
	return MP_OK;
}

/* One capture row's dtype and shape, checked against each other and against
 * the blob's length before the blob is read: the row is someone else's, and
 * a shape that lies would have us read past the blob. */
static enum mp_status capture_check(struct mp_view *v, size_t i, const char *value, sqlite3_stmt *s, enum mp_dtype *dt,
                                    int *nd, int64_t *dims, int64_t *numel, struct mp_error *e)
{
	char dts[64], shs[256];
	copy_col(dts, sizeof dts, s, 0); /* copies: the column text dies with the statement */
	copy_col(shs, sizeof shs, s, 1);
	int64_t bytes = sqlite3_column_int64(s, 3);
	bool blob = sqlite3_column_type(s, 2) == SQLITE_TEXT && !strcmp((const char *)sqlite3_column_text(s, 2), "blob");
	const char *why = NULL;
	char whyb[160];

	*dt = mp_dtype_from_name(dts);
	*nd = -1;
	*numel = 1;
	if (!blob) {
		why = "its data is not a blob";
	} else if (bytes > MP_VIEW_CAPTURE_MAX_BYTES) {
		snprintf(whyb, sizeof whyb, "%lld bytes, over the %lld MiB mpdbg reads of one capture", (long long)bytes,
		         (long long)(MP_VIEW_CAPTURE_MAX_BYTES >> 20));
		why = whyb;
	} else if (*dt == MP_DTYPE_UNDEFINED || !mp_dtype_computable(*dt) || !mp_dtype_is_float(*dt)) {
		why = "not a float dtype mpdbg reads";
	} else {
		json_error_t je;
		json_t *shape = json_loads(shs, 0, &je);
		*nd = json_is_array(shape) && json_array_size(shape) <= MP_MAX_DIMS ? (int)json_array_size(shape) : -1;
		for (int k = 0; k < *nd; k++) {
			json_t *d = json_array_get(shape, (size_t)k);
			dims[k] = json_is_integer(d) ? json_integer_value(d) : -1;
			/* each factor and the product bounded: no overflow on the way */
			if (dims[k] < 0 || dims[k] > MP_VIEW_CAPTURE_MAX_BYTES ||
			    (*numel *= dims[k]) > MP_VIEW_CAPTURE_MAX_BYTES) {
				*nd = -1;
				break;
			}
		}
		json_decref(shape);
		if (*nd < 0) {
			snprintf(whyb, sizeof whyb, "the shape is not a list of at most %d sizes that fit", MP_MAX_DIMS);
			why = whyb;
		}
		else if (*numel * (int64_t)mp_dtype_size(*dt) != bytes) {
			snprintf(whyb, sizeof whyb, "%lld elements of %zu bytes are not the blob's %lld bytes", (long long)*numel,
			         mp_dtype_size(*dt), (long long)bytes);
			why = whyb;
		}
	}
	if (why)
		return mp_error_set(e, MP_ERR_FORMAT, "%s: the capture of '%s' in batch %zu is damaged (dtype %s, shape %s: %s)",
		                    v->path, value, v->batch_index[i], dts, shs, why);
	return MP_OK;
}

enum mp_status mp_view_capture(struct mp_view *v, size_t i, const char *value, struct mp_tensor *out,
                               struct mp_error *e)
{
	/* typeof() and length() of a blob do not read it.  "+": a scan, not a
	 * seek, because a seek in a WITHOUT ROWID table reads every row it
	 * compares against whole when the row overflows its page: 500 MB of a
	 * hostile blob before any check could run. */
	static const char *const sql[2] = {
		"SELECT dtype, shape, typeof(data), length(data) FROM captures WHERE +batch = ?1 AND "
		"+value = (SELECT id FROM graph_values WHERE name = ?2 LIMIT 1)",
		"SELECT data FROM captures WHERE +batch = ?1 AND +value = (SELECT id FROM graph_values WHERE name = ?2 LIMIT 1)",
	};
	sqlite3_stmt *s = NULL;
	enum mp_status st;
	enum mp_dtype dt = MP_DTYPE_UNDEFINED;
	int64_t dims[MP_MAX_DIMS], n = 0;
	int nd = -1;
	memset(out, 0, sizeof *out);
	if (i >= v->nbatches)
		return mp_error_set(e, MP_ERR_USAGE, "%s: there are %zu batches", v->path, v->nbatches);
	for (int q = 0; q < 2; q++) {
		if ((st = prep(v, sql[q], &s, e)))
			goto fail;
		sqlite3_bind_int64(s, 1, (sqlite3_int64)v->batch_index[i]);
		sqlite3_bind_text(s, 2, value, -1, SQLITE_TRANSIENT);
		int rc = sqlite3_step(s);
		if (rc != SQLITE_ROW) {
			st = finish(v, s, rc, e); /* finalizes s, failing or not */
			s = NULL;
			if (st)
				goto fail;
			st = mp_error_set(e, MP_ERR_INPUT, "%s: batch %zu has no captured tensor '%s' (graph outputs are "
			                  "captured; --capture NAME keeps others)", v->path, v->batch_index[i], value);
			goto fail;
		}
		if (q == 0) {
			st = capture_check(v, i, value, s, &dt, &nd, dims, &n, e);
			sqlite3_finalize(s);
			s = NULL;
			if (st)
				goto fail;
			continue;
		}
		/* the same row read again: its length checked once more, as it is now */
		if (sqlite3_column_type(s, 0) != SQLITE_BLOB ||
		    (int64_t)sqlite3_column_bytes(s, 0) != n * (int64_t)mp_dtype_size(dt)) {
			st = mp_error_set(e, MP_ERR_FORMAT, "%s: the capture of '%s' in batch %zu changed while read", v->path,
			                  value, v->batch_index[i]);
			goto fail;
		}
		mp_tensor_init(out, MP_F32, nd, dims);
		if ((st = mp_buffer_new_host((size_t)n * 4 + 4, false, &out->buf, e)))
			goto fail;
		out->data = out->buf->data;
		if (n)
			mp_dtype_convert(dt, sqlite3_column_blob(s, 0), MP_F32, out->data, (size_t)n);
	}
	sqlite3_finalize(s);
	return MP_OK;
fail:
	sqlite3_finalize(s);
	mp_tensor_reset(out);
	memset(out, 0, sizeof *out);
	return st;
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
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t n = sqlite3_column_int64(s, 0), val = sqlite3_column_int64(s, 1);
		if (n < 0 || (size_t)n >= v->nnodes || !v->nodes[n].noutputs || v->nodes[n].outputs[0] != val)
			continue; /* the node's first output only */
		out[n] = num_col(s, 2);
	}
	if ((st = finish(v, s, rc, e)))
		return st;
	return MP_OK;
}
