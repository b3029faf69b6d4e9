/* test_onnx.c - the ONNX loader: valid models become the IR (zero copy,
 * typed fields, external data, topological order, module tree), and every
 * kind of malformed or hostile model is refused with a message naming the
 * file and the problem. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmocka_tap.h"
#include "graph.h"
#include "onnxw.h"
#include "testutil.h"

static char *dir;

MP_TEST_TMPDIR_FIXTURES(dir)

/* y = Relu(x + w): x [batch, 4] float, w initializer [4] */
static struct pbw tiny_graph(struct pbw *init)
{
	struct pbw g = onnx_graph(), vi;
	const int64_t xd[] = { -1, 4 };
	const char *params[] = { "batch", NULL };
	vi = onnx_value_info("x", 1, 2, xd, params);
	onnx_graph_input(&g, &vi);
	vi = onnx_value_info("y", 1, 2, xd, params);
	onnx_graph_output(&g, &vi);
	onnx_graph_init(&g, init);
	/* nodes in reverse order: the loader sorts them */
	const char *rin[] = { "s" }, *rout[] = { "y" }, *ain[] = { "x", "w" }, *aout[] = { "s" };
	struct pbw n = onnx_node("Relu", "/block/act/Relu", 1, rin, 1, rout, 0, NULL);
	onnx_graph_node(&g, &n);
	n = onnx_node("Add", "/block/Add", 2, ain, 1, aout, 0, NULL);
	onnx_graph_node(&g, &n);
	return g;
}

static char *save(const char *name, struct pbw *m)
{
	char *p = mp_test_write(dir, name, m->d, m->n);
	pbw_free(m);
	assert_non_null(p);
	return p;
}

static enum mp_status load(const char *path, struct mp_graph **g, struct mp_error *e)
{
	memset(e, 0, sizeof *e);
	return mp_graph_load(path, g, e);
}

static void expect_error(const char *path, enum mp_status want, const char *phrase)
{
	struct mp_graph *g = NULL;
	struct mp_error e;
	enum mp_status st = load(path, &g, &e);
	if (st != want)
		fail_msg("%s: status %d (%s), expected %d", path, st, e.msg, want);
	assert_null(g);
	if (!strstr(e.msg, path))
		fail_msg("message does not name the file: %s", e.msg);
	if (!strstr(e.msg, phrase))
		fail_msg("message lacks '%s': %s", phrase, e.msg);
}

static void test_valid_model(void **state)
{
	(void)state;
	float w[4] = { 1, 2, 3, 4 };
	const int64_t wd[] = { 4 };
	struct pbw t = onnx_tensor_raw("w", 1, 1, wd, w, sizeof w);
	struct pbw g = tiny_graph(&t);
	struct pbw m = onnx_model(17, &g);
	char *path = save("tiny.onnx", &m);
	struct mp_graph *gr;
	struct mp_error e;
	char buf[128];

	assert_int_equal(load(path, &gr, &e), MP_OK);
	assert_int_equal(mp_graph_nnodes(gr), 2);
	assert_string_equal(mp_graph_node(gr, 0)->op_type, "Add"); /* sorted */
	assert_string_equal(mp_graph_node(gr, 1)->op_type, "Relu");
	assert_int_equal(mp_graph_ninputs(gr), 1);
	assert_int_equal(mp_graph_ninitializers(gr), 1);
	const struct mp_value *wv = mp_graph_value(gr, (size_t)mp_graph_find_value(gr, "w"));
	assert_null(wv->data->buf); /* borrowed from the mapping, not copied */
	assert_memory_equal(wv->data->data, w, sizeof w);
	/* shapes inferred with the symbolic batch */
	const struct mp_value *y = mp_graph_value(gr, (size_t)mp_graph_find_value(gr, "y"));
	assert_string_equal(mp_graph_dims_str(gr, &y->info, buf, sizeof buf), "[batch, 4]");
	assert_int_equal(y->info.dtype, MP_F32);
	/* module tree from the TorchScript names */
	assert_int_equal(mp_graph_nmodules(gr), 3);
	assert_string_equal(mp_graph_module(gr, 1)->path, "block");
	assert_string_equal(mp_graph_module(gr, 2)->path, "block.act");
	assert_int_equal(mp_graph_module(gr, 0)->nnodes_total, 2);
	assert_int_equal(mp_graph_node(gr, 1)->module, 2);
	mp_graph_free(gr);
	free(path);
}

static void test_truncated(void **state)
{
	(void)state;
	float w[4] = { 1, 2, 3, 4 };
	const int64_t wd[] = { 4 };
	struct pbw t = onnx_tensor_raw("w", 1, 1, wd, w, sizeof w);
	struct pbw g = tiny_graph(&t);
	struct pbw m = onnx_model(17, &g);
	/* every prefix of the file is refused, none crashes */
	for (size_t n = 0; n < m.n; n++) {
		char *p = mp_test_write(dir, "trunc.onnx", m.d, n);
		struct mp_graph *gr = NULL;
		struct mp_error e;
		enum mp_status st = load(p, &gr, &e);
		if (st != MP_ERR_FORMAT)
			fail_msg("prefix of %zu bytes: status %d: %s", n, st, e.msg);
		assert_non_null(strstr(e.msg, p));
		free(p);
	}
	/* the classic case: cut inside the graph */
	char *p = mp_test_write(dir, "half.onnx", m.d, m.n / 2);
	expect_error(p, MP_ERR_FORMAT, "runs past the end of its message");
	free(p);
	pbw_free(&m);
}

static void test_len_past_end(void **state)
{
	(void)state;
	struct pbw m = { 0 };
	pbw_int(&m, 1, 8);
	pbw_key(&m, 7, 2);
	pbw_varint(&m, 5000); /* the graph claims 5000 bytes */
	pbw_raw(&m, "\x0a\x00", 2);
	char *p = save("pastend.onnx", &m);
	expect_error(p, MP_ERR_FORMAT, "length-delimited field 7 runs past the end");
	free(p);
}

static void test_raw_data_short(void **state)
{
	(void)state;
	float w[2] = { 1, 2 };
	const int64_t wd[] = { 4 };
	struct pbw t = onnx_tensor_raw("w", 1, 1, wd, w, sizeof w); /* 8 bytes for 4 floats */
	struct pbw g = tiny_graph(&t);
	struct pbw m = onnx_model(17, &g);
	char *p = save("short.onnx", &m);
	expect_error(p, MP_ERR_FORMAT, "raw_data holds 8 bytes, but shape [4] of float32 needs 16");
	free(p);
}

static void external_model(const char *file, const char *location, uint64_t offset)
{
	const int64_t wd[] = { 4 };
	struct pbw t = onnx_tensor_external("w", 1, 1, wd, location, offset, -1);
	struct pbw g = tiny_graph(&t);
	struct pbw m = onnx_model(17, &g);
	free(save(file, &m));
}

static void test_external_data(void **state)
{
	(void)state;
	float w[6] = { 9, 9, 1, 2, 3, 4 };
	char *sub = mp_test_join(dir, "weights");
	assert_int_equal(mkdir(sub, 0777), 0);
	free(mp_test_write(sub, "w.bin", w, sizeof w));
	external_model("ext.onnx", "weights/w.bin", 8);
	char *p = mp_test_join(dir, "ext.onnx");
	struct mp_graph *g;
	struct mp_error e;
	assert_int_equal(load(p, &g, &e), MP_OK);
	const struct mp_value *wv = mp_graph_value(g, (size_t)mp_graph_find_value(g, "w"));
	assert_memory_equal(wv->data->data, w + 2, 16);
	assert_null(wv->data->buf);
	assert_non_null(strstr(wv->location, "weights/w.bin"));
	mp_graph_free(g);
	free(p);
	/* past the end of the data file */
	external_model("ext_end.onnx", "weights/w.bin", 16);
	p = mp_test_join(dir, "ext_end.onnx");
	expect_error(p, MP_ERR_FORMAT, "beyond the end");
	free(p);
	free(sub);
}

static void test_external_escapes(void **state)
{
	(void)state;
	char *p;
	external_model("dotdot.onnx", "../../etc/passwd", 0);
	p = mp_test_join(dir, "dotdot.onnx");
	expect_error(p, MP_ERR_FORMAT, "'../../etc/passwd' climbs out of the model's folder");
	free(p);
	external_model("abs.onnx", "/etc/passwd", 0);
	p = mp_test_join(dir, "abs.onnx");
	expect_error(p, MP_ERR_FORMAT, "'/etc/passwd' is an absolute path");
	free(p);
	/* a symbolic link inside the folder that leads out of it */
	char *outside = mp_test_tmpdir(), *target = mp_test_write(outside, "secret.bin", "0123456789abcdef", 16);
	char *link = mp_test_join(dir, "link.bin");
	assert_int_equal(symlink(target, link), 0);
	external_model("link.onnx", "link.bin", 0);
	p = mp_test_join(dir, "link.onnx");
	expect_error(p, MP_ERR_FORMAT, "leads out of the model's folder");
	free(p);
	/* ... also through a linked folder */
	char *ldir = mp_test_join(dir, "linkdir");
	assert_int_equal(symlink(outside, ldir), 0);
	external_model("linkdir.onnx", "linkdir/secret.bin", 0);
	p = mp_test_join(dir, "linkdir.onnx");
	expect_error(p, MP_ERR_FORMAT, "leads out of the model's folder");
	free(p);
	mp_test_rmtree(outside);
	free(outside);
	free(target);
	free(link);
	free(ldir);
}

static void test_dims_overflow(void **state)
{
	(void)state;
	const int64_t wd[] = { 1ll << 32, 1ll << 32, 1ll << 32 };
	struct pbw t = onnx_tensor_raw("w", 1, 3, wd, "", 0);
	struct pbw g = tiny_graph(&t);
	struct pbw m = onnx_model(17, &g);
	char *p = save("overflow.onnx", &m);
	expect_error(p, MP_ERR_FORMAT, "overflows 64 bits");
	free(p);
	/* an empty tensor whose other dims are huge: valid, and no overflow (fuzzing) */
	const int64_t ed[] = { 0, 1ll << 40, 1ll << 40 };
	t = onnx_tensor_raw("w", 1, 3, ed, "", 0);
	g = tiny_graph(&t);
	m = onnx_model(17, &g);
	p = save("empty_huge.onnx", &m);
	struct mp_graph *gr;
	struct mp_error e;
	assert_int_equal(load(p, &gr, &e), MP_OK);
	mp_graph_free(gr);
	free(p);
	/* negative dims (a varint that decodes to a negative int64) */
	const int64_t nd[] = { -4 };
	t = onnx_tensor_raw("w", 1, 1, nd, "", 0);
	g = tiny_graph(&t);
	m = onnx_model(17, &g);
	p = save("negdim.onnx", &m);
	expect_error(p, MP_ERR_FORMAT, "negative");
	free(p);
}

static void test_typed_fields(void **state)
{
	(void)state;
	/* float_data packed, int64_data unpacked, int32_data holding f16 bits */
	struct pbw g = onnx_graph(), t = { 0 }, vi, n;
	const int64_t d3[] = { 3 };
	pbw_int(&t, 1, 3);
	pbw_int(&t, 2, MP_F32);
	pbw_str(&t, 8, "f");
	float fv[3] = { 1.5f, -2, 8 };
	pbw_bytes(&t, 4, fv, sizeof fv);
	onnx_graph_init(&g, &t);
	pbw_int(&t, 1, 3);
	pbw_int(&t, 2, MP_I64);
	pbw_str(&t, 8, "i");
	pbw_int(&t, 7, 5);
	pbw_int(&t, 7, (uint64_t)-7);
	pbw_int(&t, 7, 1ull << 40);
	onnx_graph_init(&g, &t);
	pbw_int(&t, 1, 3);
	pbw_int(&t, 2, MP_F16);
	pbw_str(&t, 8, "h");
	struct pbw packed = { 0 };
	pbw_varint(&packed, 0x3C00);
	pbw_varint(&packed, 0xC000);
	pbw_varint(&packed, 0x7C00);
	pbw_bytes(&t, 5, packed.d, packed.n);
	pbw_free(&packed);
	onnx_graph_init(&g, &t);
	const char *in[] = { "f" }, *out[] = { "y" };
	n = onnx_node("Identity", "id", 1, in, 1, out, 0, NULL);
	onnx_graph_node(&g, &n);
	vi = onnx_value_info("y", 1, 1, d3, NULL);
	onnx_graph_output(&g, &vi);
	struct pbw m = onnx_model(17, &g);
	char *p = save("typed.onnx", &m);
	struct mp_graph *gr;
	struct mp_error e;
	assert_int_equal(load(p, &gr, &e), MP_OK);
	const struct mp_tensor *ft = mp_graph_value(gr, (size_t)mp_graph_find_value(gr, "f"))->data;
	const struct mp_tensor *it = mp_graph_value(gr, (size_t)mp_graph_find_value(gr, "i"))->data;
	const struct mp_tensor *ht = mp_graph_value(gr, (size_t)mp_graph_find_value(gr, "h"))->data;
	assert_memory_equal(ft->data, fv, sizeof fv);
	int64_t iv[3];
	memcpy(iv, it->data, sizeof iv);
	assert_true(iv[0] == 5 && iv[1] == -7 && iv[2] == 1ll << 40);
	uint16_t hv[3];
	memcpy(hv, ht->data, sizeof hv);
	assert_true(hv[0] == 0x3C00 && hv[1] == 0xC000 && hv[2] == 0x7C00);
	mp_graph_free(gr);
	free(p);
	/* a typed field with the wrong count, and one of the wrong kind */
	g = onnx_graph();
	pbw_int(&t, 1, 4);
	pbw_int(&t, 2, MP_F32);
	pbw_str(&t, 8, "f");
	pbw_bytes(&t, 4, fv, sizeof fv);
	onnx_graph_init(&g, &t);
	vi = onnx_value_info("f", 1, 1, d3, NULL);
	onnx_graph_output(&g, &vi);
	m = onnx_model(17, &g);
	p = save("typed_count.onnx", &m);
	expect_error(p, MP_ERR_FORMAT, "float_data holds 3 values for 4 elements");
	free(p);
	g = onnx_graph();
	pbw_int(&t, 1, 1);
	pbw_int(&t, 2, MP_F32);
	pbw_str(&t, 8, "f");
	pbw_int(&t, 7, 1);
	onnx_graph_init(&g, &t);
	vi = onnx_value_info("f", 1, 1, d3, NULL);
	onnx_graph_output(&g, &vi);
	m = onnx_model(17, &g);
	p = save("typed_kind.onnx", &m);
	expect_error(p, MP_ERR_FORMAT, "int64_data is given for a float32 tensor");
	free(p);
}

static void test_graph_errors(void **state)
{
	(void)state;
	const int64_t d[] = { 4 };
	struct pbw g, vi, n, m;
	char *p;
	/* a cycle */
	g = onnx_graph();
	vi = onnx_value_info("y", 1, 1, d, NULL);
	onnx_graph_output(&g, &vi);
	const char *a_in[] = { "b" }, *a_out[] = { "a" }, *b_in[] = { "a" }, *b_out[] = { "b" };
	n = onnx_node("Relu", "A", 1, a_in, 1, a_out, 0, NULL);
	onnx_graph_node(&g, &n);
	n = onnx_node("Relu", "B", 1, b_in, 1, b_out, 0, NULL);
	onnx_graph_node(&g, &n);
	const char *y_in[] = { "a" }, *y_out[] = { "y" };
	n = onnx_node("Relu", "Y", 1, y_in, 1, y_out, 0, NULL);
	onnx_graph_node(&g, &n);
	m = onnx_model(17, &g);
	p = save("cycle.onnx", &m);
	expect_error(p, MP_ERR_MODEL, "cycle through node");
	free(p);
	/* an input nothing defines */
	g = onnx_graph();
	vi = onnx_value_info("y", 1, 1, d, NULL);
	onnx_graph_output(&g, &vi);
	const char *u_in[] = { "ghost" };
	n = onnx_node("Relu", "U", 1, u_in, 1, y_out, 0, NULL);
	onnx_graph_node(&g, &n);
	m = onnx_model(17, &g);
	p = save("ghost.onnx", &m);
	expect_error(p, MP_ERR_MODEL, "input 'ghost' is not a graph input, an initializer or any node's output");
	free(p);
	/* the same output twice */
	g = onnx_graph();
	vi = onnx_value_info("x", 1, 1, d, NULL);
	onnx_graph_input(&g, &vi);
	vi = onnx_value_info("y", 1, 1, d, NULL);
	onnx_graph_output(&g, &vi);
	const char *x_in[] = { "x" };
	n = onnx_node("Relu", "P", 1, x_in, 1, y_out, 0, NULL);
	onnx_graph_node(&g, &n);
	n = onnx_node("Relu", "Q", 1, x_in, 1, y_out, 0, NULL);
	onnx_graph_node(&g, &n);
	m = onnx_model(17, &g);
	p = save("dup.onnx", &m);
	expect_error(p, MP_ERR_MODEL, "output 'y' is already defined by another node");
	free(p);
	/* no opset, no graph, not an ONNX file at all */
	m = (struct pbw){ 0 };
	pbw_int(&m, 1, 8);
	p = save("nograph.onnx", &m);
	expect_error(p, MP_ERR_FORMAT, "no graph");
	free(p);
	g = onnx_graph();
	vi = onnx_value_info("y", 1, 1, d, NULL);
	onnx_graph_output(&g, &vi);
	m = (struct pbw){ 0 };
	pbw_int(&m, 1, 8);
	pbw_msg(&m, 7, &g);
	pbw_int(&m, 8, 17); /* opset_import as a number, not a message (fuzzing) */
	p = save("badopset.onnx", &m);
	expect_error(p, MP_ERR_FORMAT, "imports no opset");
	free(p);
	p = mp_test_write(dir, "text.onnx", "hello, I am not a model\n", 24);
	expect_error(p, MP_ERR_FORMAT, p);
	free(p);
	p = mp_test_write(dir, "empty.onnx", "", 0);
	expect_error(p, MP_ERR_FORMAT, "empty file");
	free(p);
	p = mp_test_join(dir, "missing.onnx");
	expect_error(p, MP_ERR_IO, "No such file");
	free(p);
}

static void test_names_and_ranks(void **state)
{
	(void)state;
	/* a NUL byte inside a name */
	struct pbw g = onnx_graph(), vi, n = { 0 }, m;
	const int64_t d[] = { 4 };
	vi = onnx_value_info("y", 1, 1, d, NULL);
	onnx_graph_output(&g, &vi);
	pbw_bytes(&n, 2, "y\0z", 3);
	pbw_str(&n, 4, "Relu");
	onnx_graph_node(&g, &n);
	m = onnx_model(17, &g);
	char *p = save("nul.onnx", &m);
	expect_error(p, MP_ERR_FORMAT, "NUL byte");
	free(p);
	/* a rank above the maximum */
	int64_t big[MP_MAX_DIMS + 1];
	for (int i = 0; i <= MP_MAX_DIMS; i++)
		big[i] = 1;
	struct pbw t = onnx_tensor_raw("w", 1, MP_MAX_DIMS + 1, big, "\0\0\0\0", 4);
	g = tiny_graph(&t);
	m = onnx_model(17, &g);
	p = save("rank.onnx", &m);
	expect_error(p, MP_ERR_UNSUPPORTED, "more than 12 dims");
	free(p);
}

static void test_unsupported_nodes(void **state)
{
	(void)state;
	/* an unknown op, a wrong attribute type and a too-new op load fine and
	 * say why they cannot run */
	const int64_t d[] = { 4 };
	struct pbw g = onnx_graph(), vi, n, m, at;
	vi = onnx_value_info("x", 1, 1, d, NULL);
	onnx_graph_input(&g, &vi);
	vi = onnx_value_info("z", 1, 1, d, NULL);
	onnx_graph_output(&g, &vi);
	const char *x[] = { "x" }, *a[] = { "a" }, *b[] = { "b" }, *z[] = { "z" };
	n = onnx_node("FancyOp", "fancy", 1, x, 1, a, 0, NULL);
	onnx_graph_node(&g, &n);
	at = onnx_attr_str("axis", "one");
	n = onnx_node("Softmax", "soft", 1, a, 1, b, 1, &at);
	onnx_graph_node(&g, &n);
	n = onnx_node("Gelu", "gelu", 1, b, 1, z, 0, NULL);
	onnx_graph_node(&g, &n);
	m = onnx_model(17, &g);
	char *p = save("unsup.onnx", &m);
	struct mp_graph *gr;
	struct mp_error e;
	assert_int_equal(load(p, &gr, &e), MP_OK);
	assert_string_equal(mp_graph_node(gr, 0)->unsupported, "mpdbg does not implement FancyOp");
	assert_non_null(strstr(mp_graph_node(gr, 1)->unsupported, "attribute 'axis' should be an int"));
	assert_non_null(strstr(mp_graph_node(gr, 2)->unsupported, "Gelu exists from opset 20"));
	mp_graph_free(gr);
	free(p);
}

static void test_static_inference(void **state)
{
	(void)state;
	/* Reshape through Shape -> Gather -> Unsqueeze -> Concat keeps the symbol;
	 * a shape conflict on known dims is a problem at that node */
	const int64_t xd[] = { -1, 6 };
	const char *params[] = { "batch", NULL };
	struct pbw g = onnx_graph(), vi, n, m, at;
	vi = onnx_value_info("x", 1, 2, xd, params);
	onnx_graph_input(&g, &vi);
	vi = onnx_value_info("y", 1, 3, (int64_t[]){ -1, 2, 3 }, (const char *[]){ "batch", NULL, NULL });
	onnx_graph_output(&g, &vi);
	int64_t zero = 0, tail[2] = { 2, 3 };
	struct pbw t = onnx_tensor_raw("idx", MP_I64, 0, NULL, &zero, 8);
	onnx_graph_init(&g, &t);
	t = onnx_tensor_raw("tail", MP_I64, 1, (int64_t[]){ 2 }, tail, 16);
	onnx_graph_init(&g, &t);
	n = onnx_node("Shape", "shape", 1, (const char *[]){ "x" }, 1, (const char *[]){ "s" }, 0, NULL);
	onnx_graph_node(&g, &n);
	at = onnx_attr_int("axis", 0);
	n = onnx_node("Gather", "gather", 2, (const char *[]){ "s", "idx" }, 1, (const char *[]){ "b" }, 1, &at);
	onnx_graph_node(&g, &n);
	at = onnx_attr_ints("axes", 1, (int64_t[]){ 0 });
	n = onnx_node("Unsqueeze", "unsq", 1, (const char *[]){ "b" }, 1, (const char *[]){ "b1" }, 1, &at);
	onnx_graph_node(&g, &n);
	at = onnx_attr_int("axis", 0);
	n = onnx_node("Concat", "cat", 2, (const char *[]){ "b1", "tail" }, 1, (const char *[]){ "shp" }, 1, &at);
	onnx_graph_node(&g, &n);
	n = onnx_node("Reshape", "reshape", 2, (const char *[]){ "x", "shp" }, 1, (const char *[]){ "y" }, 0, NULL);
	onnx_graph_node(&g, &n);
	/* and an Add whose inputs cannot broadcast: [batch, 6] + [4] */
	float f4[4] = { 0 };
	t = onnx_tensor_raw("f4", MP_F32, 1, (int64_t[]){ 4 }, f4, sizeof f4);
	onnx_graph_init(&g, &t);
	n = onnx_node("Add", "bad_add", 2, (const char *[]){ "x", "f4" }, 1, (const char *[]){ "q" }, 0, NULL);
	onnx_graph_node(&g, &n);
	m = onnx_model(11, &g);
	char *p = save("static.onnx", &m);
	struct mp_graph *gr;
	struct mp_error e;
	char buf[128];
	assert_int_equal(load(p, &gr, &e), MP_OK);
	const struct mp_value *y = mp_graph_value(gr, (size_t)mp_graph_find_value(gr, "y"));
	assert_string_equal(mp_graph_dims_str(gr, &y->info, buf, sizeof buf), "[batch, 2, 3]");
	int32_t bad = mp_graph_find_node(gr, "bad_add");
	assert_true(bad >= 0);
	assert_non_null(mp_graph_node_problem(gr, (size_t)bad));
	assert_non_null(strstr(mp_graph_node_problem(gr, (size_t)bad), "do not broadcast"));
	mp_graph_free(gr);
	free(p);
}

/* The stated limits: nodes and values counted before the graph is built,
 * refused with MP_ERR_LIMIT naming the option that raises each. */
static void test_limits(void **state)
{
	(void)state;
	float w[4] = { 1, 2, 3, 4 };
	struct pbw t = onnx_tensor_raw("w", MP_F32, 1, (int64_t[]){ 4 }, w, sizeof w);
	struct pbw g = tiny_graph(&t), m = onnx_model(17, &g);
	char *p = save("limits.onnx", &m);
	struct mp_graph *gr = NULL;
	struct mp_error e = { 0 };
	/* 2 nodes; 4 values: w, x, s, y */
	assert_int_equal(mp_graph_load_limited(p, &(struct mp_graph_limits){ 2, 4 }, &gr, &e), MP_OK);
	mp_graph_free(gr);
	gr = NULL;
	assert_int_equal(mp_graph_load_limited(p, &(struct mp_graph_limits){ .max_nodes = 1 }, &gr, &e), MP_ERR_LIMIT);
	assert_null(gr);
	if (!strstr(e.msg, p) || !strstr(e.msg, "2 nodes, more than the limit of 1") || !strstr(e.msg, "--max-nodes"))
		fail_msg("%s", e.msg);
	assert_int_equal(mp_graph_load_limited(p, &(struct mp_graph_limits){ .max_values = 1 }, &gr, &e), MP_ERR_LIMIT);
	if (!strstr(e.msg, "2 initializers and inputs, more than the limit of 1 values") || !strstr(e.msg, "--max-values"))
		fail_msg("%s", e.msg);
	assert_int_equal(mp_graph_load_limited(p, &(struct mp_graph_limits){ .max_values = 3 }, &gr, &e), MP_ERR_LIMIT);
	if (!strstr(e.msg, "4 values (initializers, inputs and node outputs), more than the limit of 3"))
		fail_msg("%s", e.msg);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_model),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_len_past_end),
		cmocka_unit_test(test_raw_data_short),
		cmocka_unit_test(test_external_data),
		cmocka_unit_test(test_external_escapes),
		cmocka_unit_test(test_dims_overflow),
		cmocka_unit_test(test_typed_fields),
		cmocka_unit_test(test_graph_errors),
		cmocka_unit_test(test_names_and_ranks),
		cmocka_unit_test(test_unsupported_nodes),
		cmocka_unit_test(test_static_inference),
		cmocka_unit_test(test_limits),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, setup, teardown);
}
