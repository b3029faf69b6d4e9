/* fuzz_session.c - fuzz target: the session reader behind report, export,
 * overlay, diversity and tui.
 *
 * A real session is recorded once per process (mpdbg run in-process: a
 * small pose model with modules, two batches with images, cameras and
 * ground truth, --compare fp32), and each input edits a copy of it:
 *
 *   first byte's bit 1: the PNGs are drawn too (they cost the most)
 *   first byte even: SQL edits, each  op table.column row kind value...
 *       op 0-5 UPDATE one cell to NULL, an int64 (huge and negative
 *       included), a small int, a double, text or a blob of the fuzz
 *       bytes, or a zeroblob up to 64 MiB; 6 DELETE a row; 7 INSERT a copy
 *       of a row; 8 PRAGMA user_version
 *   first byte odd: raw byte patches of the file (offset, value), pages
 *       and headers SQLite and the schema checks must refuse
 *
 * then reads the copy as the commands do: report (text and JSON), export
 * (JSON and CSV) to /dev/null, the TUI's view (every batch, figures,
 * diversity, captures, sources), the poses of overlay, diversity's
 * analysis, and both PNG renderers.  Every failure must be a status with a
 * message; never a crash, a sanitizer report or a leak. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cli.h"
#include "diversity.h"
#include "fuzz_driver.h"
#include "onnxw.h"
#include "overlay.h"
#include "plot.h"
#include "poses.h"
#include "safetensors.h"
#include "session.h"
#include "skeleton.h"
#include "testutil.h"
#include "view.h"

enum { B = 2, J = 21, S = 16, MAX_COLUMNS = 128, MAX_BATCHES = 8 };

/* The recorded session and the scratch folder live for the process:
 * libFuzzer gives no context pointer, so they are made on first use. */
struct fuzz_state {
	char *dir, *work, *png, *wal;
	uint8_t *golden;
	size_t ngolden;
	int ncols;
	char table[MAX_COLUMNS][32], column[MAX_COLUMNS][32];
	FILE *devnull;
};
static struct fuzz_state *state;

static void free_state(void)
{
	if (!state)
		return;
	if (state->devnull)
		fclose(state->devnull);
	mp_test_rmtree(state->dir);
	free(state->dir), free(state->work), free(state->png), free(state->wal), free(state->golden);
	free(state);
	state = NULL;
	mp_pictures_release(); /* fontconfig's and cairo's caches, for the leak check */
}

/* joints_3d = Identity(x3 * one), in modules body.scale and head */
static bool write_fixture(const char *dir, char **model, char **data)
{
	int64_t d3[3] = { B, J, 3 };
	struct pbw g = onnx_graph(), vi;
	vi = onnx_value_info("x3", MP_F32, 3, d3, NULL);
	onnx_graph_input(&g, &vi);
	vi = onnx_value_info("joints_3d", MP_F32, 3, d3, NULL);
	onnx_graph_output(&g, &vi);
	onnx_graph_add_floats(&g, "one", 0, NULL, (float[]){ 1.0f }, 1);
	onnx_graph_add_node(&g, "Mul", "/body/scale/Mul", 2, (const char *[]){ "x3", "one" }, "t", 0, NULL);
	onnx_graph_add_node(&g, "Identity", "/head/Identity", 1, (const char *[]){ "t" }, "joints_3d", 0, NULL);
	struct pbw m = onnx_model(17, &g);
	*model = mp_test_join(dir, "pose.onnx");
	bool ok = pbw_save(&m, *model);
	pbw_free(&m);
	*data = mp_test_join(dir, "batches");
	ok = ok && !mkdir(*data, 0700);
	static float x3[B][J][3], img[B][3][S][S], k[B][3][3], gt[B][J][2];
	for (int bi = 0; ok && bi < 2; bi++) {
		for (int b = 0; b < B; b++) {
			float K[9] = { 10, 0, 8, 0, 10, 8, 0, 0, 1 };
			memcpy(k[b], K, sizeof K);
			for (int j = 0; j < J; j++) {
				x3[b][j][0] = 0.05f * (float)(j - 10) + 0.1f * (float)(b + bi);
				x3[b][j][1] = 0.03f * (float)(j % 7) - 0.1f;
				x3[b][j][2] = 2.0f;
				gt[b][j][0] = 8.0f + 5.0f * x3[b][j][0] + 0.5f;
				gt[b][j][1] = 8.0f + 5.0f * x3[b][j][1];
			}
			for (int c = 0; c < 3; c++)
				for (int y = 0; y < S; y++)
					for (int x = 0; x < S; x++)
						img[b][c][y][x] = (float)((x + y + c) % 5) / 5.0f;
		}
		struct mp_tensor t[4];
		mp_tensor_init(&t[0], MP_F32, 3, d3), t[0].data = x3;
		mp_tensor_init(&t[1], MP_F32, 4, (int64_t[]){ B, 3, S, S }), t[1].data = img;
		mp_tensor_init(&t[2], MP_F32, 3, (int64_t[]){ B, 3, 3 }), t[2].data = k;
		mp_tensor_init(&t[3], MP_F32, 3, (int64_t[]){ B, J, 2 }), t[3].data = gt;
		struct mp_st_item items[4] = { { "x3", &t[0] }, { "image", &t[1] }, { "camera_intrinsics", &t[2] },
		                               { "joints_2d_gt", &t[3] } };
		struct mp_error e = { 0 };
		char name[32], *p;
		snprintf(name, sizeof name, "batch_%03d.safetensors", bi);
		p = mp_test_join(*data, name);
		ok = !mp_st_write(p, items, 4, NULL, 0, &e);
		free(p);
	}
	return ok;
}

/* mpdbg run, in this process, its output to /dev/null */
static bool record(const char *model, const char *data, const char *db)
{
	char *argv[] = { "run", (char *)model, "--data", (char *)data, "--device", "cpu", "--compare", "fp32",
	                 "--policy", "bf16-autocast", "--session", (char *)db, NULL };
	fflush(stdout);
	int saved = dup(1), null = open("/dev/null", O_WRONLY);
	if (saved < 0 || null < 0)
		return false;
	dup2(null, 1);
	close(null);
	int rc = mp_cmd_run(12, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	return rc == MP_EXIT_OK;
}

/* Every (table, column) of the schema, for the edits to pick from. */
static bool list_columns(struct fuzz_state *s, const char *db)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(h, "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p "
	                          "WHERE m.type = 'table' ORDER BY m.name, p.cid", -1, &st, NULL) != SQLITE_OK) {
		sqlite3_close(h);
		return false;
	}
	while (sqlite3_step(st) == SQLITE_ROW && s->ncols < MAX_COLUMNS) {
		snprintf(s->table[s->ncols], sizeof s->table[0], "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(s->column[s->ncols], sizeof s->column[0], "%s", (const char *)sqlite3_column_text(st, 1));
		s->ncols++;
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	return s->ncols > 0;
}

static struct fuzz_state *get_state(void)
{
	if (state)
		return state;
	struct fuzz_state *s = calloc(1, sizeof *s);
	char *model = NULL, *data = NULL, *db = NULL;
	bool ok = s && (s->dir = mp_test_tmpdir()) && write_fixture(s->dir, &model, &data) &&
	          (db = mp_test_join(s->dir, "golden.db")) && record(model, data, db) &&
	          mp_test_read_file(db, &s->golden, &s->ngolden) && list_columns(s, db) &&
	          (s->devnull = fopen("/dev/null", "w"));
	free(model), free(data), free(db);
	if (!ok) {
		fprintf(stderr, "fuzz_session: cannot record the session to edit\n");
		state = s;
		free_state();
		return NULL;
	}
	s->work = mp_test_join(s->dir, "work.db");
	s->png = mp_test_join(s->dir, "out.png");
	s->wal = mp_test_join(s->dir, "work.db-wal");
	state = s;
	atexit(free_state);
	return s;
}

/* ---- the edits ---- */

struct reader {
	const uint8_t *p, *end;
};

static unsigned take(struct reader *r)
{
	return r->p < r->end ? *r->p++ : 0;
}

static uint64_t take_n(struct reader *r, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)take(r) << (8 * i);
	return v;
}

static void sql_edit(struct fuzz_state *s, sqlite3 *h, struct reader *r)
{
	unsigned op = take(r) % 9, c = take(r) % (unsigned)s->ncols, row = take(r);
	const char *t = s->table[c], *col = s->column[c];
	char sql[256];
	sqlite3_stmt *st = NULL;
	if (op == 6)
		snprintf(sql, sizeof sql, "DELETE FROM \"%s\" WHERE rowid = (SELECT rowid FROM \"%s\" LIMIT 1 OFFSET %u)", t,
		         t, row % 8);
	else if (op == 7)
		snprintf(sql, sizeof sql, "INSERT INTO \"%s\" SELECT * FROM \"%s\" LIMIT 1 OFFSET %u", t, t, row % 8);
	else if (op == 8)
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", (int)(int8_t)row);
	else
		snprintf(sql, sizeof sql,
		         "UPDATE \"%s\" SET \"%s\" = ?1 WHERE rowid = (SELECT rowid FROM \"%s\" LIMIT 1 OFFSET %u)", t, col,
		         t, row % 16);
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return;
	}
	if (op < 6) {
		unsigned kind = take(r) % 7;
		size_t len = take(r);
		if (len > (size_t)(r->end - r->p))
			len = (size_t)(r->end - r->p);
		switch (kind) {
		case 0: sqlite3_bind_null(st, 1); break;
		case 1: sqlite3_bind_int64(st, 1, (sqlite3_int64)take_n(r, 8)); break;
		case 2: sqlite3_bind_int64(st, 1, (int8_t)take(r)); break;
		case 3: {
			uint64_t bits = take_n(r, 8);
			double d;
			memcpy(&d, &bits, sizeof d);
			sqlite3_bind_double(st, 1, d);
			break;
		}
		case 4: sqlite3_bind_text(st, 1, (const char *)r->p, (int)len, SQLITE_TRANSIENT), r->p += len; break;
		case 5: sqlite3_bind_blob(st, 1, r->p, (int)len, SQLITE_TRANSIENT), r->p += len; break;
		default: sqlite3_bind_zeroblob(st, 1, (int)(take_n(r, 3) * 4)); break; /* up to 64 MiB */
		}
	}
	sqlite3_step(st);
	sqlite3_finalize(st);
}

static bool make_copy(struct fuzz_state *s, const uint8_t *data, size_t size)
{
	unlink(s->wal);
	char shm[PATH_MAX];
	snprintf(shm, sizeof shm, "%s-shm", s->work);
	unlink(shm);
	FILE *f = fopen(s->work, "wb");
	if (!f)
		return false;
	bool raw = size && (data[0] & 1);
	struct reader r = { data + (size ? 1 : 0), data + size };
	if (raw) { /* patches of the file: a 3-byte offset, then the byte */
		uint8_t *copy = malloc(s->ngolden);
		memcpy(copy, s->golden, s->ngolden);
		while (r.p + 4 <= r.end) {
			size_t at = (size_t)take_n(&r, 3) % s->ngolden;
			copy[at] = (uint8_t)take(&r);
		}
		fwrite(copy, 1, s->ngolden, f);
		free(copy);
		return !fclose(f);
	}
	fwrite(s->golden, 1, s->ngolden, f);
	if (fclose(f))
		return false;
	sqlite3 *h;
	if (sqlite3_open(s->work, &h) == SQLITE_OK) {
		/* no fsync: the copy is scratch, and the disk would set the pace */
		sqlite3_exec(h, "PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF", NULL, NULL, NULL);
		for (int n = 0; r.p < r.end && n < 64; n++)
			sql_edit(s, h, &r);
	}
	sqlite3_close(h);
	return true;
}

/* ---- the readers ---- */

static void read_session(struct fuzz_state *s)
{
	struct mp_session *ss;
	struct mp_error e = { 0 };
	if (mp_session_open(s->work, &ss, &e))
		return;
	mp_session_report(ss, s->devnull, false, &e);
	mp_session_report(ss, s->devnull, true, &e);
	mp_session_export_json(ss, s->devnull, &e);
	mp_session_export_csv(ss, s->devnull, &e);
	mp_session_close(ss);
}

static bool read_view(struct fuzz_state *s, bool render)
{
	struct mp_view *v;
	struct mp_error e = { 0 };
	if (mp_view_open(s->work, &v, &e))
		return false;
	bool changed;
	mp_view_refresh(v, &changed, &e);
	size_t nb = v->nbatches < MAX_BATCHES ? v->nbatches : MAX_BATCHES;
	for (size_t i = 0; i < nb; i++) {
		struct mp_view_batch *b;
		if (!mp_view_load_batch(v, i, &b, &e))
			mp_view_batch_free(b);
		char *src;
		if (!mp_view_batch_source(v, i, &src, &e))
			free(src);
		struct mp_tensor t = { 0 };
		if (!mp_view_capture(v, i, "joints_3d", &t, &e))
			mp_tensor_reset(&t);
	}
	double *fig = calloc(v->nbatches + 1, sizeof *fig);
	for (int f = 0; fig && f < MP_FIG_COUNT; f++)
		mp_view_figure(v, (enum mp_view_figure)f, fig, &e);
	free(fig);
	double *div = calloc(v->nnodes + 1, sizeof *div);
	if (div)
		mp_view_node_diversity(v, div, &e);
	free(div);
	/* what overlay and diversity read and draw */
	struct mp_pose_options po;
	mp_pose_options_init(&po);
	struct mp_poses p = { 0 };
	if (v->nbatches && !mp_poses_load(v, 0, &po, &p, &e))
		mp_poses_free(&p);
	struct mp_skeleton sk;
	mp_skeleton_hand(&sk);
	if (render && v->nbatches && !mp_overlay_render(v, 0, &po, &sk, s->png, &e))
		unlink(s->png);
	mp_skeleton_free(&sk);
	struct mp_diversity d = { 0 };
	if (!mp_diversity_analyse(v, &po, &d, &e) && render && !mp_diversity_render(v, &d, s->png, &e))
		unlink(s->png);
	mp_diversity_free(&d);
	mp_view_free(v);
	return true;
}

static enum mp_fuzz_result one(const uint8_t *data, size_t size)
{
	struct fuzz_state *s = get_state();
	if (!s || !make_copy(s, data, size))
		return MP_FUZZ_REFUSED;
	read_session(s);
	/* drawing the PNGs costs most of an input's time: every other input */
	return read_view(s, size && (data[0] & 2)) ? MP_FUZZ_RAN : MP_FUZZ_REFUSED;
}

/* Seeds: no edit (the session as recorded), a few cell edits of each kind,
 * and a raw patch of the header. */
static size_t seeds(const char *dir, uint8_t **out, size_t *sizes, size_t cap)
{
	(void)dir;
	static const uint8_t s0[] = { 2 };
	/* UPDATE captures.shape (col chosen at run time by index), kind text "[2,21,3]" */
	static const uint8_t s1[] = { 0, 0, 3, 0, 4, 8, '[', '2', ',', '2', '1', ',', '9', ']',
	                              1, 7, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0x80 };
	static const uint8_t s2[] = { 2, 5, 20, 1, 5, 4, 0xff, 0xff, 0xff, 0x7f, 6, 30, 0, 7, 12, 0 };
	static const uint8_t s3[] = { 3, 0x00, 0x30, 0, 0x41, 0x00, 0x50, 0, 0x42 };
	const uint8_t *const all[] = { s0, s1, s2, s3 };
	const size_t n[] = { sizeof s0, sizeof s1, sizeof s2, sizeof s3 };
	size_t k = 0;
	for (; k < 4 && k < cap; k++) {
		out[k] = malloc(n[k]);
		memcpy(out[k], all[k], n[k]);
		sizes[k] = n[k];
	}
	return k;
}

const struct mp_fuzz_target mp_fuzz_target = { "session", MP_FUZZ_RAN, one, seeds };
