/* writer.c - recording a run: the run's row and graph written up front,
 * then a writer thread that takes batches from a queue and commits each in
 * one transaction, with prepared statements, so the executor goes on while
 * the disk works.  The queue is bounded: a disk far slower than the model
 * makes submit wait rather than memory grow without end. */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "session.h"
#include "stat_cols.h"
#include "store.h"

enum { QUEUE_CAP = 64 };

struct mp_session_writer {
	sqlite3 *db;
	char *path;
	const struct mp_graph *g;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t have_items, have_space;
	struct mp_session_batch *q[QUEUE_CAP];
	size_t head, n;
	bool closing;
	enum mp_status err;
	struct mp_error error;
	size_t committed;
	sqlite3_stmt *ins_batch, *ins_stats, *ins_cmp, *ins_event, *ins_capture, *ins_hit;
};

void mp_session_batch_free(struct mp_session_batch *b)
{
	if (!b)
		return;
	free(b->source);
	free(b->message);
	free(b->events);
	free(b->hit_message);
	mp_probe_batch_free(b->probes);
	free(b);
}

static const char *dtype_name(enum mp_dtype t)
{
	return t ? mp_dtype_name(t) : NULL;
}

static char *shape_json(int ndim, const int64_t *shape, char *buf, size_t size)
{
	size_t k = (size_t)snprintf(buf, size, "[");
	for (int d = 0; d < ndim && k < size; d++)
		k += (size_t)snprintf(buf + k, size - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
	if (k < size)
		snprintf(buf + k, size - k, "]");
	return buf;
}

/* ---- binding helpers: NULL for values not measured ---- */

/* NaN is "not measured": NULL.  Infinities are stored as they are (SQLite
 * keeps them; exports spell them out). */
static void bind_real(sqlite3_stmt *s, int i, double v)
{
	if (isnan(v))
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_double(s, i, v);
}

static void bind_text(sqlite3_stmt *s, int i, const char *t)
{
	if (t)
		sqlite3_bind_text(s, i, t, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

static enum mp_status step(struct mp_session_writer *w, sqlite3_stmt *s, const char *what, struct mp_error *e)
{
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE)
		return mp_store_error(w->db, w->path, what, e);
	return MP_OK;
}

static enum mp_status exec(struct mp_session_writer *w, const char *sql, struct mp_error *e)
{
	if (sqlite3_exec(w->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return mp_store_error(w->db, w->path, sql, e);
	return MP_OK;
}

/* ---- one batch, one transaction ---- */

static enum mp_status write_stats(struct mp_session_writer *w, size_t bi, const struct mp_probe_record *r,
                                  struct mp_error *e)
{
	sqlite3_stmt *s = w->ins_stats;
	const struct mp_stats_acc *a = &r->stats;
	char shape[256];
	unsigned char hist[5 + MP_HIST_BINS * 10];
	bool has = r->flags & MP_REC_STATS;
	int i = 1;
	sqlite3_bind_int64(s, i++, (sqlite3_int64)bi);
	sqlite3_bind_int(s, i++, r->value);
	if (r->node >= 0)
		sqlite3_bind_int(s, i++, r->node);
	else
		sqlite3_bind_null(s, i++);
	bind_text(s, i++, mp_dtype_name(r->dtype));
	bind_text(s, i++, shape_json(r->ndim, r->shape, shape, sizeof shape));
	mp_stat_cols_bind(s, &i, a, has);
	size_t hn = has ? mp_hist_encode(a->hist, hist, sizeof hist) : 0;
	if (hn)
		sqlite3_bind_blob(s, i++, hist, (int)hn, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i++);
	if (r->flags & MP_REC_DIVERSITY) {
		bind_real(s, i++, r->div.across);
		bind_real(s, i++, r->div.within);
	} else {
		sqlite3_bind_null(s, i++);
		sqlite3_bind_null(s, i++);
	}
	return step(w, s, "writing statistics", e);
}

static enum mp_status write_compare(struct mp_session_writer *w, size_t bi, const struct mp_probe_record *r,
                                    struct mp_error *e)
{
	sqlite3_stmt *s = w->ins_cmp;
	double sqnr = mp_compare_sqnr_db(&r->cmp);
	int i = 1;
	sqlite3_bind_int64(s, i++, (sqlite3_int64)bi);
	sqlite3_bind_int(s, i++, r->value);
	sqlite3_bind_int(s, i++, r->node);
	bind_real(s, i++, r->cmp.max_abs);
	bind_real(s, i++, mp_compare_rel_l2(&r->cmp));
	bind_real(s, i++, mp_compare_cosine(&r->cmp));
	if (isinf(sqnr))
		sqlite3_bind_null(s, i++); /* exact */
	else
		bind_real(s, i++, sqnr);
	sqlite3_bind_int64(s, i++, r->cmp.nonfinite);
	if (r->flags & MP_REC_OWN) {
		bind_real(s, i++, mp_compare_rel_l2(&r->own));
		bind_real(s, i++, mp_compare_rel_l2(&r->inh));
	} else {
		sqlite3_bind_null(s, i++);
		sqlite3_bind_null(s, i++);
	}
	return step(w, s, "writing a comparison", e);
}

static enum mp_status write_batch(struct mp_session_writer *w, const struct mp_session_batch *b,
                                  struct mp_error *e)
{
	char now[32], hex[65], shape[256];
	const char *hash = NULL;
	struct stat sb;
	enum mp_status st;

	/* the file's hash, here, off the executor's thread */
	if (b->source && stat(b->source, &sb) == 0 && S_ISREG(sb.st_mode)) {
		const char *paths[1] = { b->source };
		struct mp_error he = { 0 };
		if (mp_sha256_files(paths, 1, hex, &he) == MP_OK)
			hash = hex;
	}
	mp_store_now(now, sizeof now);
	if ((st = exec(w, "BEGIN IMMEDIATE", e)))
		return st;
	sqlite3_stmt *s = w->ins_batch;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)b->index);
	bind_text(s, 2, b->source ? b->source : "");
	bind_text(s, 3, hash);
	bind_real(s, 4, b->ms);
	bind_text(s, 5, b->status == MP_OK ? "done" :
	                b->status == MP_ERR_MISMATCH || b->status == MP_ERR_BREAK ? "stopped" : "failed");
	bind_text(s, 6, b->message);
	bind_text(s, 7, now);
	if ((st = step(w, s, "writing a batch", e)))
		goto fail;
	for (size_t k = 0; k < b->nevents; k++) {
		const struct mp_dtype_event *ev = &b->events[k];
		s = w->ins_event;
		sqlite3_bind_int64(s, 1, (sqlite3_int64)b->index);
		sqlite3_bind_int64(s, 2, (sqlite3_int64)k);
		if (ev->node >= 0) sqlite3_bind_int(s, 3, ev->node); else sqlite3_bind_null(s, 3);
		if (ev->slot >= 0 && ev->node >= 0) sqlite3_bind_int(s, 4, ev->slot); else sqlite3_bind_null(s, 4);
		if (ev->value >= 0) sqlite3_bind_int(s, 5, ev->value); else sqlite3_bind_null(s, 5);
		bind_text(s, 6, dtype_name(ev->from));
		bind_text(s, 7, dtype_name(ev->to));
		bind_text(s, 8, mp_cast_reason_name(ev->reason));
		bind_real(s, 9, ev->max_abs);
		bind_real(s, 10, ev->max_rel);
		if ((st = step(w, s, "writing a dtype event", e)))
			goto fail;
	}
	const struct mp_probe_batch *p = b->probes;
	for (size_t k = 0; p && k < p->nrecords; k++) {
		const struct mp_probe_record *r = &p->records[k];
		if ((st = write_stats(w, b->index, r, e)))
			goto fail;
		if ((r->flags & MP_REC_COMPARE) && (st = write_compare(w, b->index, r, e)))
			goto fail;
	}
	for (size_t k = 0; p && k < p->ncaptures; k++) {
		const struct mp_capture *c = &p->captures[k];
		size_t nb = mp_tensor_nbytes(&c->t);
		s = w->ins_capture;
		sqlite3_bind_int64(s, 1, (sqlite3_int64)b->index);
		sqlite3_bind_int(s, 2, c->value);
		bind_text(s, 3, mp_dtype_name(c->t.dtype));
		bind_text(s, 4, shape_json(c->t.ndim, c->t.shape, shape, sizeof shape));
		if (nb > (size_t)INT32_MAX) {
			st = mp_error_set(e, MP_ERR_UNSUPPORTED, "%s: captured '%s' is %zu bytes, more than SQLite keeps in one blob",
			                  w->path, mp_graph_value(w->g, (size_t)c->value)->name, nb);
			goto fail;
		}
		sqlite3_bind_blob64(s, 5, c->t.data ? c->t.data : "", nb, SQLITE_STATIC);
		if ((st = step(w, s, "writing a capture", e)))
			goto fail;
	}
	if (p && p->hit) {
		const struct mp_breakpoint *bp = p->hit_at.bp;
		char spec[512];
		snprintf(spec, sizeof spec, "%s%s%s", mp_break_kind_name(bp->kind), bp->glob ? "=" : "",
		         bp->glob ? bp->glob : "");
		s = w->ins_hit;
		sqlite3_bind_int64(s, 1, (sqlite3_int64)b->index);
		bind_text(s, 2, mp_break_kind_name(bp->kind));
		bind_text(s, 3, spec);
		if (p->hit_at.node >= 0) sqlite3_bind_int(s, 4, p->hit_at.node); else sqlite3_bind_null(s, 4);
		if (p->hit_at.value >= 0) sqlite3_bind_int(s, 5, p->hit_at.value); else sqlite3_bind_null(s, 5);
		bind_text(s, 6, b->hit_message ? b->hit_message : "");
		if ((st = step(w, s, "writing a breakpoint hit", e)))
			goto fail;
	}
	return exec(w, "COMMIT", e);
fail:
	sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
	return st;
}

static void *writer_main(void *arg)
{
	struct mp_session_writer *w = arg;
	for (;;) {
		pthread_mutex_lock(&w->mu);
		while (!w->n && !w->closing)
			pthread_cond_wait(&w->have_items, &w->mu);
		if (!w->n) {
			pthread_mutex_unlock(&w->mu);
			break;
		}
		struct mp_session_batch *b = w->q[w->head];
		bool failed = w->err != MP_OK;
		pthread_mutex_unlock(&w->mu);

		struct mp_error e = { 0 };
		enum mp_status st = failed ? MP_OK : write_batch(w, b, &e);
		mp_session_batch_free(b);

		pthread_mutex_lock(&w->mu);
		w->head = (w->head + 1) % QUEUE_CAP;
		w->n--;
		if (st && !w->err) {
			w->err = st;
			w->error = e;
		}
		if (!st && !failed)
			w->committed++;
		pthread_cond_broadcast(&w->have_space);
		pthread_mutex_unlock(&w->mu);
	}
	return NULL;
}

/* ---- the run ---- */

static const char *const insert_sql[] = {
	"INSERT INTO batches (idx, source, sha256, ms, status, message, committed_at) VALUES (?,?,?,?,?,?,?)",
	NULL, /* stats: composed by stats_insert() */
	"INSERT INTO comparisons VALUES (?,?,?,?,?,?,?,?,?,?)",
	"INSERT INTO dtype_events VALUES (?,?,?,?,?,?,?,?,?,?)",
	"INSERT INTO captures VALUES (?,?,?,?,?)",
	"INSERT INTO breakpoint_hits VALUES (?,?,?,?,?,?)",
};

/* The stats row's INSERT, with the columns of stats.def named. */
static void stats_insert(char *buf, size_t size)
{
	char cols[2048], marks[MP_STAT_NCOLS * 2 + 1];
	mp_stat_cols_names(cols, sizeof cols);
	for (int c = 0; c < MP_STAT_NCOLS; c++)
		memcpy(marks + 2 * c, ",?", 2);
	marks[2 * MP_STAT_NCOLS] = '\0';
	snprintf(buf, size, "INSERT INTO stats (batch, value, node, dtype, shape, %s, hist, div_across, div_within)"
	         " VALUES (?,?,?,?,?%s,?,?,?)", cols, marks);
}

static void writer_free(struct mp_session_writer *w)
{
	sqlite3_finalize(w->ins_batch);
	sqlite3_finalize(w->ins_stats);
	sqlite3_finalize(w->ins_cmp);
	sqlite3_finalize(w->ins_event);
	sqlite3_finalize(w->ins_capture);
	sqlite3_finalize(w->ins_hit);
	sqlite3_close(w->db);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->have_items);
	pthread_cond_destroy(&w->have_space);
	free(w->path);
	free(w);
}

static char *json_text(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

enum mp_status mp_session_create(const char *path, const struct mp_session_info *info,
                                 struct mp_session_writer **out, struct mp_error *e)
{
	struct mp_session_writer *w = calloc(1, sizeof *w);
	char now[32], model_hash[65], data_hash[65];
	bool has_data = false;
	enum mp_status st;

	*out = NULL;
	if (!w || !(w->path = strdup(path))) {
		free(w);
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->have_items, NULL);
	pthread_cond_init(&w->have_space, NULL);
	w->g = info->g;

	/* the model's hash and its external data's, before the file exists */
	const char *mp[1] = { info->model_path };
	if ((st = mp_sha256_files(mp, 1, model_hash, e))) {
		writer_free(w);
		return st;
	}
	const char **data = calloc(mp_graph_ninitializers(info->g) + 1, sizeof *data);
	size_t nd = 0;
	for (size_t i = 0; data && i < mp_graph_ninitializers(info->g); i++) {
		const struct mp_value *v = mp_graph_value(info->g, (size_t)mp_graph_initializer(info->g, i));
		bool seen = !v->location || !strcmp(v->location, mp_graph_path(info->g));
		for (size_t k = 0; k < nd && !seen; k++)
			seen = !strcmp(data[k], v->location);
		if (!seen)
			data[nd++] = v->location;
	}
	if (nd && !(st = mp_sha256_files(data, nd, data_hash, e)))
		has_data = true;
	free(data);
	if (st || (st = mp_store_create(path, &w->db, e))) {
		writer_free(w);
		return st;
	}
	char stats_sql[4096];
	stats_insert(stats_sql, sizeof stats_sql);
	for (int i = 0; i < 6 && !st; i++) {
		sqlite3_stmt **dst[] = { &w->ins_batch, &w->ins_stats, &w->ins_cmp, &w->ins_event, &w->ins_capture,
		                         &w->ins_hit };
		const char *sql = insert_sql[i] ? insert_sql[i] : stats_sql;
		if (sqlite3_prepare_v3(w->db, sql, -1, SQLITE_PREPARE_PERSISTENT, dst[i], NULL) != SQLITE_OK)
			st = mp_store_error(w->db, path, "preparing", e);
	}
	json_t *ov = json_array(), *argv = json_array();
	const struct mp_policy *p = info->policy;
	for (int i = 0; i < p->noverrides; i++)
		json_array_append_new(ov, json_pack("{s:s, s:s}", "glob", p->overrides[i].glob, "dtype",
		                                     mp_dtype_name(p->overrides[i].dtype)));
	for (int i = 0; i < info->argc; i++)
		json_array_append_new(argv, json_string(info->argv[i]));
	char *ovs = json_text(ov), *argvs = json_text(argv);
	mp_store_now(now, sizeof now);
	sqlite3_stmt *s = NULL;
	if (!st && sqlite3_prepare_v2(w->db,
	                              "INSERT INTO run VALUES (1,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,NULL,'running',NULL)",
	                              -1, &s, NULL) != SQLITE_OK)
		st = mp_store_error(w->db, path, "preparing", e);
	if (!st) {
		int i = 1;
		bind_text(s, i++, info->model_path);
		bind_text(s, i++, model_hash);
		bind_text(s, i++, has_data ? data_hash : NULL);
		bind_text(s, i++, mp_policy_name(p));
		bind_text(s, i++, mp_on_mismatch_name(mp_policy_on_mismatch(p)));
		bind_text(s, i++, ovs ? ovs : "[]");
		bind_text(s, i++, mp_dtype_name(mp_policy_low_type(p)));
		bind_text(s, i++, info->compare ? "fp32" : NULL);
		if (info->compare)
			sqlite3_bind_double(s, i++, info->tol);
		else
			sqlite3_bind_null(s, i++);
		bind_text(s, i++, info->backend);
		bind_text(s, i++, info->device);
		bind_text(s, i++, argvs ? argvs : "[]");
		bind_text(s, i++, MPDBG_VERSION);
		bind_text(s, i++, sqlite3_libversion());
		bind_text(s, i++, now);
		st = step(w, s, "writing the run", e);
	}
	sqlite3_finalize(s);
	free(ovs);
	free(argvs);
	if (st) {
		writer_free(w);
		return st;
	}
	*out = w;
	return MP_OK;
}

enum mp_status mp_session_set_graph(struct mp_session_writer *w, const struct mp_exec *x, struct mp_error *e)
{
	const struct mp_graph *g = w->g;
	const struct mp_plan *pl = mp_exec_plan(x);
	sqlite3_stmt *sn = NULL, *sv = NULL;
	enum mp_status st;

	if (w->started)
		return mp_error_set(e, MP_ERR_USAGE, "the graph goes in before the first batch");
	if ((st = exec(w, "BEGIN", e)))
		return st;
	if (sqlite3_prepare_v2(w->db, "INSERT INTO nodes VALUES (?,?,?,?,?,?,?)", -1, &sn, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(w->db, "INSERT INTO graph_values VALUES (?,?,?,?,?,?)", -1, &sv, NULL) != SQLITE_OK) {
		st = mp_store_error(w->db, w->path, "preparing", e);
		goto out;
	}
	for (size_t i = 0; i < mp_graph_nnodes(g) && !st; i++) {
		const struct mp_node *n = mp_graph_node(g, i);
		const struct mp_node_decision *d = mp_exec_decision(x, i);
		json_t *ins = json_array(), *outs = json_array();
		for (int k = 0; k < n->ninputs; k++)
			json_array_append_new(ins, json_string(n->inputs[k] >= 0 ? mp_graph_value(g, (size_t)n->inputs[k])->name : ""));
		for (int k = 0; k < n->noutputs; k++)
			json_array_append_new(outs, json_string(n->outputs[k] >= 0 ? mp_graph_value(g, (size_t)n->outputs[k])->name : ""));
		char *is = json_text(ins), *os = json_text(outs);
		sqlite3_bind_int64(sn, 1, (sqlite3_int64)i);
		bind_text(sn, 2, n->name);
		bind_text(sn, 3, n->op_type);
		bind_text(sn, 4, mp_graph_module(g, (size_t)n->module)->path);
		bind_text(sn, 5, d ? dtype_name(d->exec) : NULL);
		bind_text(sn, 6, is ? is : "[]");
		bind_text(sn, 7, os ? os : "[]");
		free(is);
		free(os);
		st = step(w, sn, "writing a node", e);
	}
	for (size_t i = 0; i < mp_graph_nvalues(g) && !st; i++) {
		const struct mp_value *v = mp_graph_value(g, i);
		const struct mp_value_info *vi = mp_exec_value_info(x, (int32_t)i);
		sqlite3_bind_int64(sv, 1, (sqlite3_int64)i);
		bind_text(sv, 2, v->name);
		bind_text(sv, 3, v->kind == MP_VALUE_INPUT ? "input" : v->kind == MP_VALUE_INITIALIZER ? "initializer" : "node");
		if (v->producer >= 0)
			sqlite3_bind_int(sv, 4, v->producer);
		else
			sqlite3_bind_null(sv, 4);
		bind_text(sv, 5, pl ? dtype_name(mp_plan_value_dtype(pl, (int32_t)i)) : vi ? dtype_name(vi->dtype) : NULL);
		sqlite3_bind_int(sv, 6, v->is_output);
		st = step(w, sv, "writing a value", e);
	}
out:
	sqlite3_finalize(sn);
	sqlite3_finalize(sv);
	if (st) {
		sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
		return st;
	}
	return exec(w, "COMMIT", e);
}

enum mp_status mp_session_submit(struct mp_session_writer *w, struct mp_session_batch *b, struct mp_error *e)
{
	pthread_mutex_lock(&w->mu);
	if (!w->started) {
		if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
			pthread_mutex_unlock(&w->mu);
			mp_session_batch_free(b);
			return mp_error_set(e, MP_ERR_INTERNAL, "%s: cannot start the writer thread", w->path);
		}
		w->started = true;
	}
	while (w->n == QUEUE_CAP && !w->err)
		pthread_cond_wait(&w->have_space, &w->mu);
	if (w->err) {
		enum mp_status st = w->err;
		*e = w->error;
		pthread_mutex_unlock(&w->mu);
		mp_session_batch_free(b);
		return st;
	}
	w->q[(w->head + w->n) % QUEUE_CAP] = b;
	w->n++;
	pthread_cond_signal(&w->have_items);
	pthread_mutex_unlock(&w->mu);
	return MP_OK;
}

size_t mp_session_committed(const struct mp_session_writer *w)
{
	struct mp_session_writer *m = (struct mp_session_writer *)w;
	pthread_mutex_lock(&m->mu);
	size_t n = m->committed;
	pthread_mutex_unlock(&m->mu);
	return n;
}

enum mp_status mp_session_finish(struct mp_session_writer *w, enum mp_status status, const char *message,
                                 struct mp_error *e)
{
	enum mp_status st = MP_OK;
	char now[32];
	if (!w)
		return MP_OK;
	pthread_mutex_lock(&w->mu);
	w->closing = true;
	pthread_cond_broadcast(&w->have_items);
	pthread_mutex_unlock(&w->mu);
	if (w->started)
		pthread_join(w->thread, NULL);
	if (w->err) {
		st = w->err;
		*e = w->error;
		status = st;
		message = w->error.msg;
	}
	sqlite3_stmt *s = NULL;
	mp_store_now(now, sizeof now);
	if (sqlite3_prepare_v2(w->db, "UPDATE run SET finished_at = ?, status = ?, message = ? WHERE id = 1", -1, &s,
	                       NULL) == SQLITE_OK) {
		bind_text(s, 1, now);
		bind_text(s, 2, status == MP_OK ? "done" :
		                status == MP_ERR_MISMATCH || status == MP_ERR_BREAK ? "stopped" : "failed");
		bind_text(s, 3, status == MP_OK ? NULL : message);
		struct mp_error fe = { 0 };
		enum mp_status fst = step(w, s, "finishing the run", &fe);
		if (fst && !st) {
			st = fst;
			*e = fe;
		}
	}
	sqlite3_finalize(s);
	if (sqlite3_exec(w->db, "CREATE INDEX IF NOT EXISTS stats_by_value ON stats (value, batch)", NULL, NULL, NULL) != SQLITE_OK &&
	    !st)
		st = mp_store_error(w->db, w->path, "indexing", e);
	/* fold the WAL back into the file: one file to share */
	sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	writer_free(w);
	return st;
}
