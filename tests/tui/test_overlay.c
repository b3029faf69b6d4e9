/* test_overlay.c - `mpdbg overlay` and `mpdbg diversity` as a user runs
 * them, checked on the pixels: a tiny model whose 3D joints are its input
 * (so the predictions are known), a batch with images, intrinsics and
 * ground truth, recorded by `mpdbg run`, drawn, and the PNG decoded with
 * libpng.  A session's batch files are opened only inside its folder or the
 * one --data names.  Usage: test_overlay PATH/TO/mpdbg */
#include <math.h>
#include <png.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmocka_tap.h"
#include "onnxw.h"
#include "overlay.h"
#include "safetensors.h"
#include "skeleton.h"
#include "testutil.h"

extern char **environ;
static const char *mpdbg;
static char *dir;

MP_TEST_TMPDIR_FIXTURES(dir)

enum { B = 3, J = 21, S = 32 }; /* samples, joints, image side */

static int run(const char *const *args)
{
	char *argv[32];
	int n = 0, ws = 0;
	argv[n++] = (char *)mpdbg;
	for (; args[n - 1]; n++)
		argv[n] = (char *)args[n - 1];
	argv[n] = NULL;
	pid_t pid;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
	assert_int_equal(posix_spawn(&pid, mpdbg, &fa, NULL, argv, environ), 0);
	waitpid(pid, &ws, 0);
	posix_spawn_file_actions_destroy(&fa);
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* The 3D joints: sample b's joint j on a ring, well apart from each other
 * once projected (no two markers overlap), 2 m in front of the camera. */
static void joint3(int b, int j, float x[3])
{
	double a = 2 * M_PI * j / J + 0.3 * b, r = 0.55 + 0.1 * (j % 2);
	x[0] = (float)(r * cos(a)), x[1] = (float)(r * sin(a)), x[2] = 2.0f;
}

static const float K[9] = { 20, 0, 16, 0, 20, 16, 0, 0, 1 }; /* f 20 px, centre (16, 16) of a 32-px image */

/* A model `joints_3d = Identity(x3)` and a batch for it. */
static void make_fixture(char **model, char **batch, bool collapsed)
{
	int64_t d3[3] = { B, J, 3 };
	struct pbw g = onnx_graph();
	struct pbw vi = onnx_value_info("x3", 1, 3, d3, NULL), vo = onnx_value_info("joints_3d", 1, 3, d3, NULL);
	onnx_graph_input(&g, &vi);
	onnx_graph_output(&g, &vo);
	struct pbw node = onnx_node("Identity", "/head/Identity", 1, (const char *[]){ "x3" }, 1,
	                            (const char *[]){ "joints_3d" }, 0, NULL);
	onnx_graph_node(&g, &node);
	struct pbw m = onnx_model(17, &g);
	*model = mp_test_join(dir, collapsed ? "flat.onnx" : "ring.onnx");
	assert_true(pbw_save(&m, *model));
	pbw_free(&m);

	static float x3[B][J][3], img[B][3][S][S], k[B][3][3], gt[B][J][2];
	for (int b = 0; b < B; b++) {
		memcpy(k[b], K, sizeof K);
		for (int j = 0; j < J; j++) {
			float t[3];
			joint3(collapsed ? 0 : b, j, x3[b][j]);
			joint3(b, j, t); /* the truth moves from sample to sample, 1.5 px right of the ring */
			gt[b][j][0] = (float)(K[0] * t[0] / 2 + K[2]) + 1.5f;
			gt[b][j][1] = (float)(K[4] * t[1] / 2 + K[5]);
		}
		for (int c = 0; c < 3; c++)
			for (int y = 0; y < S; y++)
				for (int x = 0; x < S; x++)
					img[b][c][y][x] = 0.1f * (float)c + 0.2f; /* a flat colour */
	}
	struct mp_tensor t[4];
	int64_t di[4] = { B, 3, S, S }, dk[3] = { B, 3, 3 }, dg[3] = { B, J, 2 };
	mp_tensor_init(&t[0], MP_F32, 3, d3), t[0].data = x3;
	mp_tensor_init(&t[1], MP_F32, 4, di), t[1].data = img;
	mp_tensor_init(&t[2], MP_F32, 3, dk), t[2].data = k;
	mp_tensor_init(&t[3], MP_F32, 3, dg), t[3].data = gt;
	struct mp_st_item items[4] = { { "x3", &t[0] }, { "image", &t[1] }, { "camera_intrinsics", &t[2] },
	                               { "joints_2d_gt", &t[3] } };
	struct mp_error e = { 0 };
	*batch = mp_test_join(dir, collapsed ? "flat.safetensors" : "ring.safetensors");
	assert_int_equal(mp_st_write(*batch, items, 4, NULL, 0, &e), MP_OK);
}

struct picture {
	int w, h;
	unsigned char *rgba;
	char *text[16][2];
	int ntext;
};

static void read_png(const char *path, struct picture *p)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(png);
	assert_int_equal(setjmp(png_jmpbuf(png)), 0);
	png_init_io(png, f);
	png_read_info(png, info);
	p->w = (int)png_get_image_width(png, info);
	p->h = (int)png_get_image_height(png, info);
	assert_int_equal(png_get_color_type(png, info), PNG_COLOR_TYPE_RGB_ALPHA);
	assert_int_equal(png_get_bit_depth(png, info), 8);
	p->rgba = malloc((size_t)p->w * (size_t)p->h * 4);
	for (int y = 0; y < p->h; y++)
		png_read_row(png, p->rgba + (size_t)y * (size_t)p->w * 4, NULL);
	png_read_end(png, info);
	png_textp text;
	int n = 0;
	png_get_text(png, info, &text, &n);
	p->ntext = n < 16 ? n : 16;
	for (int i = 0; i < p->ntext; i++)
		p->text[i][0] = strdup(text[i].key), p->text[i][1] = strdup(text[i].text);
	png_destroy_read_struct(&png, &info, NULL);
	fclose(f);
}

static void free_png(struct picture *p)
{
	for (int i = 0; i < p->ntext; i++)
		free(p->text[i][0]), free(p->text[i][1]);
	free(p->rgba);
}

static const char *text_chunk(const struct picture *p, const char *key)
{
	for (int i = 0; i < p->ntext; i++)
		if (!strcmp(p->text[i][0], key))
			return p->text[i][1];
	return NULL;
}

static const unsigned char *pixel(const struct picture *p, double x, double y)
{
	int xi = (int)floor(x), yi = (int)floor(y);
	assert_true(xi >= 0 && yi >= 0 && xi < p->w && yi < p->h);
	return p->rgba + ((size_t)yi * (size_t)p->w + (size_t)xi) * 4;
}

static void test_overlay_pixels(void **state)
{
	(void)state;
	char *model, *batch, *db = mp_test_join(dir, "ring.db"), *png = mp_test_join(dir, "ring.png");
	make_fixture(&model, &batch, false);
	assert_int_equal(run((const char *[]){ "run", model, "--data", batch, "--device", "cpu", "--policy", "bf16",
	                                       "--session", db, NULL }), 0);
	assert_int_equal(run((const char *[]){ "overlay", db, "--batch", "0", "--out", png, NULL }), 0);
	struct picture p;
	read_png(png, &p);
	struct mp_overlay_layout L;
	mp_overlay_layout(B, S, S, &L);
	assert_int_equal(p.w, L.width);
	assert_int_equal(p.h, L.height);
	struct mp_skeleton sk;
	mp_skeleton_hand(&sk);
	/* every predicted joint: a marker at its fp32 projection, in its colour
	 * (the centre and 1 px around it, which is inside the marker) */
	int checked = 0;
	for (int b = 0; b < B; b++) {
		double ox, oy;
		mp_overlay_tile(&L, b, &ox, &oy);
		for (int j = 0; j < J; j++) {
			float x[3];
			joint3(b, j, x);
			double u = (K[0] * (double)x[0] + K[2] * (double)x[2]) / x[2], v = (K[4] * (double)x[1] + K[5] * (double)x[2]) / x[2];
			for (int dy = -1; dy <= 1; dy++)
				for (int dx = -1; dx <= 1; dx++) {
					const unsigned char *px = pixel(&p, ox + u * L.scale + dx, oy + v * L.scale + dy);
					for (int c = 0; c < 3; c++)
						assert_true(abs(px[c] - (int)lrint(sk.rgb[j][c] * 255)) <= 1);
					checked++;
				}
		}
	}
	assert_int_equal(checked, B * J * 9);
	/* one tile per sample: each tile's image where its tile is (the flat
	 * image colour inside, away from the joints), and nothing where a
	 * fourth would go */
	for (int b = 0; b < B + 1 && b < L.cols * L.rows; b++) {
		double ox, oy;
		mp_overlay_tile(&L, b, &ox, &oy);
		const unsigned char *px = pixel(&p, ox + 2, oy + 2);
		if (b < B)
			assert_true(abs(px[0] - 51) <= 1 && abs(px[1] - 77) <= 1 && abs(px[2] - 102) <= 1);
		else
			assert_true(px[0] == 255 && px[1] == 255 && px[2] == 255);
	}
	/* the text chunks */
	assert_string_equal(text_chunk(&p, "mpdbg.session"), db);
	assert_string_equal(text_chunk(&p, "mpdbg.batch"), "0");
	assert_string_equal(text_chunk(&p, "mpdbg.policy"), "bf16");
	assert_string_equal(text_chunk(&p, "mpdbg.model"), model);
	assert_non_null(strstr(text_chunk(&p, "Software"), "mpdbg"));
	free_png(&p);
	mp_skeleton_free(&sk);
	free(model), free(batch), free(db), free(png);
}

static void test_overlay_errors(void **state)
{
	(void)state;
	char *model, *batch, *db = mp_test_join(dir, "err.db"), *png = mp_test_join(dir, "err.png");
	make_fixture(&model, &batch, false);
	assert_int_equal(run((const char *[]){ "run", model, "--data", batch, "--device", "cpu", "--session", db, NULL }), 0);
	/* no such batch, no such tensor, a skeleton of another size, a bad one */
	assert_int_equal(run((const char *[]){ "overlay", db, "--batch", "7", "--out", png, NULL }), 2);
	assert_int_equal(run((const char *[]){ "overlay", db, "--batch", "0", "--joints3d", "nope", "--joints", "nope2",
	                                       "--out", png, NULL }), 2);
	const char *two = "{\"joints\": [\"a\", \"b\"], \"bones\": [[0, 1]]}";
	char *sk = mp_test_write(dir, "two.json", two, strlen(two));
	assert_int_equal(run((const char *[]){ "overlay", db, "--batch", "0", "--skeleton", sk, "--out", png, NULL }), 2);
	const char *bone = "{\"joints\": [\"a\"], \"bones\": [[0, 5]]}";
	char *bad = mp_test_write(dir, "bad.json", bone, strlen(bone));
	assert_int_equal(run((const char *[]){ "overlay", db, "--batch", "0", "--skeleton", bad, "--out", png, NULL }), 2);
	assert_int_equal(access(png, F_OK), -1); /* nothing half-written */
	/* the batch file gone: the message names it */
	unlink(batch);
	assert_int_equal(run((const char *[]){ "overlay", db, "--batch", "0", "--out", png, NULL }), 2);
	free(model), free(batch), free(db), free(png), free(sk), free(bad);
}

static void set_source(const char *db, const char *source)
{
	sqlite3 *h;
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "UPDATE batches SET source = ?", -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_text(s, 1, source, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(s), SQLITE_DONE);
	sqlite3_finalize(s);
	sqlite3_close(h);
}

/* A session is someone else's file: the batch file it names is opened only
 * inside the session's folder or the one --data names. */
static void test_sources_confined(void **state)
{
	(void)state;
	char *model, *batch, *sent = mp_test_join(dir, "sent"), png[4096];
	int npng = 0;
#define PNG (snprintf(png, sizeof png, "%s/src%d.png", dir, npng++), png) /* outputs are not replaced */
	make_fixture(&model, &batch, false);
	assert_int_equal(mkdir(sent, 0755), 0);
	char *db = mp_test_join(sent, "s.db"), *copy = mp_test_join(sent, "ring.safetensors");
	assert_int_equal(run((const char *[]){ "run", model, "--data", batch, "--device", "cpu", "--session", db, NULL }), 0);
	/* the batch outside the session's folder: refused, unless --data names it */
	assert_int_equal(run((const char *[]){ "overlay", db, "--batch", "0", "--out", PNG, NULL }), 2);
	assert_int_equal(run((const char *[]){ "diversity", db, "--out", PNG, NULL }), 2);
	assert_int_equal(run((const char *[]){ "overlay", db, "--batch", "0", "--out", PNG, "--data", dir, NULL }), 0);
	assert_int_equal(run((const char *[]){ "overlay", db, "--batch", "0", "--out", PNG, "--data", batch, NULL }), 0);
	assert_int_equal(run((const char *[]){ "diversity", db, "--out", PNG, "--data", dir, NULL }), 0);
	/* a link in the session's folder that leads out of it: refused */
	assert_int_equal(symlink(batch, copy), 0);
	assert_int_equal(run((const char *[]){ "overlay", db, "--batch", "0", "--out", PNG, NULL }), 2);
	unlink(copy);
	/* the session sent with its batch: the file of that name beside it */
	FILE *in = fopen(batch, "rb"), *out = fopen(copy, "wb");
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		fwrite(buf, 1, n, out);
	fclose(in), fclose(out);
	assert_int_equal(run((const char *[]){ "overlay", db, "--batch", "0", "--out", PNG, NULL }), 0);
	/* sources pointing anywhere else: refused, --data or not (a file of the
	 * same name inside would be taken: it is inside) */
	unlink(copy);
	const char *evil[] = { "/etc/passwd", "../ring.safetensors", "/dev/zero", "" };
	for (int k = 0; k < 4; k++) {
		set_source(db, evil[k]);
		assert_int_equal(run((const char *[]){ "overlay", db, "--batch", "0", "--out", PNG, NULL }), 2);
		assert_int_equal(run((const char *[]){ "overlay", db, "--batch", "0", "--out", PNG, "--data", sent, NULL }), 2);
	}
#undef PNG
	free(model), free(batch), free(sent), free(db), free(copy);
}

static void test_diversity_verdicts(void **state)
{
	(void)state;
	for (int flat = 0; flat < 2; flat++) {
		char *model, *batch, *db = mp_test_join(dir, flat ? "dflat.db" : "dring.db"),
		     *png = mp_test_join(dir, flat ? "dflat.png" : "dring.png");
		make_fixture(&model, &batch, flat);
		assert_int_equal(run((const char *[]){ "run", model, "--data", batch, "--device", "cpu", "--session", db,
		                                       NULL }), 0);
		assert_int_equal(run((const char *[]){ "diversity", db, "--out", png, NULL }), 0);
		struct picture p;
		read_png(png, &p);
		/* all predictions equal: collapsed; the same spread as the truth: healthy */
		assert_string_equal(text_chunk(&p, "mpdbg.verdict"), flat ? "collapsed" : "healthy");
		double ratio = atof(text_chunk(&p, "mpdbg.ratio"));
		if (flat)
			assert_true(ratio == 0);
		else
			assert_true(fabs(ratio - 1) < 1e-3);
		free_png(&p);
		free(model), free(batch), free(db), free(png);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_overlay PATH/TO/mpdbg\n");
		return 2;
	}
	mpdbg = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overlay_pixels),
		cmocka_unit_test(test_overlay_errors),
		cmocka_unit_test(test_sources_confined),
		cmocka_unit_test(test_diversity_verdicts),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, setup, teardown);
}
