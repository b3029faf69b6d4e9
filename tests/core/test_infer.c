/* test_infer.c - shape and dtype inference, op by op, on one-node models:
 * the rules a user relies on (Reshape's -1 and 0, Slice clamping, auto
 * padding, pooling's ceil mode, numpy matmul), and messages that name the
 * node when shapes cannot fit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_tap.h"
#include "graph.h"
#include "onnxw.h"
#include "testutil.h"

static char *dir;

MP_TEST_TMPDIR_FIXTURES(dir)

struct init {
	const char *name;
	int ndim;
	int64_t dims[4];
	int64_t vals[8]; /* int64 values */
	int nvals;
};

/* Builds op(inputs...) -> y; float inputs come from value infos with the
 * given shapes, int64 ones from initializers. Returns y's inferred dims as
 * text, or the node's problem. */
static void infer(const char *op, int opset, int nin, const char *const *names, const int *ndims,
                  const int64_t (*dims)[6], int ninit, const struct init *inits, int nattrs,
                  struct pbw *attrs, char *out, size_t size)
{
	struct pbw g = onnx_graph(), vi;
	for (int i = 0; i < nin; i++) {
		bool is_init = false;
		for (int k = 0; k < ninit; k++)
			is_init |= !strcmp(inits[k].name, names[i]);
		if (is_init || !names[i][0])
			continue;
		vi = onnx_value_info(names[i], 1, ndims[i], dims[i], NULL);
		onnx_graph_input(&g, &vi);
	}
	for (int k = 0; k < ninit; k++) {
		struct pbw t = onnx_tensor_raw(inits[k].name, MP_I64, inits[k].ndim, inits[k].dims, inits[k].vals,
		                               (size_t)inits[k].nvals * 8);
		onnx_graph_init(&g, &t);
	}
	vi = onnx_value_info("y", 1, 0, NULL, NULL);
	onnx_graph_output(&g, &vi);
	struct pbw n = onnx_node(op, "the_node", nin, names, 1, (const char *[]){ "y" }, nattrs, attrs);
	onnx_graph_node(&g, &n);
	struct pbw m = onnx_model(opset, &g);
	char *p = mp_test_write(dir, "m.onnx", m.d, m.n);
	pbw_free(&m);
	struct mp_graph *gr;
	struct mp_error e = { 0 };
	if (mp_graph_load(p, &gr, &e)) {
		snprintf(out, size, "load: %.200s", e.msg);
	} else {
		const char *prob = mp_graph_node_problem(gr, 0);
		const struct mp_node *nd = mp_graph_node(gr, 0);
		if (prob)
			snprintf(out, size, "problem: %s", prob);
		else if (nd->unsupported)
			snprintf(out, size, "unsupported: %s", nd->unsupported);
		else
			mp_graph_dims_str(gr, &mp_graph_value(gr, (size_t)mp_graph_find_value(gr, "y"))->info, out, size);
		mp_graph_free(gr);
	}
	free(p);
}

#define DIMS(...) { __VA_ARGS__ }

static void test_reshape(void **state)
{
	(void)state;
	char out[256];
	const int64_t x[][6] = { DIMS(2, 3, 4), DIMS(0) };
	struct init s = { "s", 1, { 2 }, { -1, 4 }, 2 };
	infer("Reshape", 17, 2, (const char *[]){ "x", "s" }, (int[]){ 3, 1 }, x, 1, &s, 0, NULL, out, sizeof out);
	assert_string_equal(out, "[6, 4]");
	s = (struct init){ "s", 1, { 2 }, { 0, -1 }, 2 };
	infer("Reshape", 17, 2, (const char *[]){ "x", "s" }, (int[]){ 3, 1 }, x, 1, &s, 0, NULL, out, sizeof out);
	assert_string_equal(out, "[2, 12]");
	s = (struct init){ "s", 1, { 2 }, { 5, -1 }, 2 };
	infer("Reshape", 17, 2, (const char *[]){ "x", "s" }, (int[]){ 3, 1 }, x, 1, &s, 0, NULL, out, sizeof out);
	assert_non_null(strstr(out, "problem: cannot reshape [2, 3, 4] (24 elements)"));
	s = (struct init){ "s", 1, { 2 }, { -1, -1 }, 2 };
	infer("Reshape", 17, 2, (const char *[]){ "x", "s" }, (int[]){ 3, 1 }, x, 1, &s, 0, NULL, out, sizeof out);
	assert_non_null(strstr(out, "more than one -1"));
}

static void test_slice(void **state)
{
	(void)state;
	char out[256];
	const int64_t x[][6] = { DIMS(10, 4) };
	struct init in[] = {
		{ "st", 1, { 1 }, { -3 }, 1 }, { "en", 1, { 1 }, { INT64_MAX }, 1 },
	};
	infer("Slice", 13, 3, (const char *[]){ "x", "st", "en" }, (int[]){ 2 }, x, 2, in, 0, NULL, out, sizeof out);
	assert_string_equal(out, "[3, 4]");
	struct init rev[] = {
		{ "st", 1, { 1 }, { -1 }, 1 }, { "en", 1, { 1 }, { INT64_MIN }, 1 },
		{ "ax", 1, { 1 }, { 1 }, 1 }, { "sp", 1, { 1 }, { -2 }, 1 },
	};
	infer("Slice", 13, 5, (const char *[]){ "x", "st", "en", "ax", "sp" }, (int[]){ 2 }, x, 4, rev, 0, NULL,
	      out, sizeof out);
	assert_string_equal(out, "[10, 2]");
}

static void test_conv_pool(void **state)
{
	(void)state;
	char out[256];
	const int64_t xw[][6] = { DIMS(1, 3, 10, 10), DIMS(8, 3, 3, 3) };
	struct pbw at[2];
	at[0] = onnx_attr_ints("pads", 4, (int64_t[]){ 1, 1, 1, 1 });
	infer("Conv", 17, 2, (const char *[]){ "x", "w" }, (int[]){ 4, 4 }, xw, 0, NULL, 1, at, out, sizeof out);
	assert_string_equal(out, "[1, 8, 10, 10]");
	at[0] = onnx_attr_str("auto_pad", "SAME_UPPER");
	at[1] = onnx_attr_ints("strides", 2, (int64_t[]){ 2, 2 });
	infer("Conv", 17, 2, (const char *[]){ "x", "w" }, (int[]){ 4, 4 }, xw, 0, NULL, 2, at, out, sizeof out);
	assert_string_equal(out, "[1, 8, 5, 5]");
	const int64_t bad[][6] = { DIMS(1, 4, 10, 10), DIMS(8, 3, 3, 3) };
	infer("Conv", 17, 2, (const char *[]){ "x", "w" }, (int[]){ 4, 4 }, bad, 0, NULL, 0, NULL, out, sizeof out);
	assert_non_null(strstr(out, "X has 4 channels, W expects 3 x group 1"));
	const int64_t p[][6] = { DIMS(1, 1, 5, 5) };
	at[0] = onnx_attr_ints("kernel_shape", 2, (int64_t[]){ 2, 2 });
	at[1] = onnx_attr_ints("strides", 2, (int64_t[]){ 2, 2 });
	infer("MaxPool", 17, 1, (const char *[]){ "x" }, (int[]){ 4 }, p, 0, NULL, 2, at, out, sizeof out);
	assert_string_equal(out, "[1, 1, 2, 2]");
	struct pbw at3[3];
	at3[0] = onnx_attr_ints("kernel_shape", 2, (int64_t[]){ 2, 2 });
	at3[1] = onnx_attr_ints("strides", 2, (int64_t[]){ 2, 2 });
	at3[2] = onnx_attr_int("ceil_mode", 1);
	infer("MaxPool", 17, 1, (const char *[]){ "x" }, (int[]){ 4 }, p, 0, NULL, 3, at3, out, sizeof out);
	assert_string_equal(out, "[1, 1, 3, 3]");
}

static void test_matmul_gather_expand(void **state)
{
	(void)state;
	char out[256];
	const int64_t v[][6] = { DIMS(3), DIMS(3, 4) };
	infer("MatMul", 17, 2, (const char *[]){ "a", "b" }, (int[]){ 1, 2 }, v, 0, NULL, 0, NULL, out, sizeof out);
	assert_string_equal(out, "[4]");
	const int64_t bt[][6] = { DIMS(2, 1, 3, 4), DIMS(5, 4, 6) };
	infer("MatMul", 17, 2, (const char *[]){ "a", "b" }, (int[]){ 4, 3 }, bt, 0, NULL, 0, NULL, out, sizeof out);
	assert_string_equal(out, "[2, 5, 3, 6]");
	const int64_t bad[][6] = { DIMS(2, 3), DIMS(4, 5) };
	infer("MatMul", 17, 2, (const char *[]){ "a", "b" }, (int[]){ 2, 2 }, bad, 0, NULL, 0, NULL, out, sizeof out);
	assert_non_null(strstr(out, "inner dims differ: [2, 3] @ [4, 5]"));
	const int64_t g[][6] = { DIMS(5, 6) };
	struct init idx = { "i", 2, { 2, 3 }, { 0, 1, 2, 3, 4, 5 }, 6 };
	struct pbw at = onnx_attr_int("axis", 1);
	infer("Gather", 17, 2, (const char *[]){ "x", "i" }, (int[]){ 2, 2 }, g, 1, &idx, 1, &at, out, sizeof out);
	assert_string_equal(out, "[5, 2, 3]");
	const int64_t ex[][6] = { DIMS(3, 1) };
	struct init sh = { "s", 1, { 3 }, { 2, 1, 4 }, 3 };
	infer("Expand", 17, 2, (const char *[]){ "x", "s" }, (int[]){ 2, 1 }, ex, 1, &sh, 0, NULL, out, sizeof out);
	assert_string_equal(out, "[2, 3, 4]");
	const int64_t tr[][6] = { DIMS(2, 3, 4) };
	infer("Transpose", 17, 1, (const char *[]){ "x" }, (int[]){ 3 }, tr, 0, NULL, 0, NULL, out, sizeof out);
	assert_string_equal(out, "[4, 3, 2]");
}

static void test_broadcast(void **state)
{
	(void)state;
	char out[256];
	const int64_t ok[][6] = { DIMS(4, 1, 3), DIMS(5, 1) };
	infer("Add", 17, 2, (const char *[]){ "a", "b" }, (int[]){ 3, 2 }, ok, 0, NULL, 0, NULL, out, sizeof out);
	assert_string_equal(out, "[4, 5, 3]");
	const int64_t bad[][6] = { DIMS(4, 3), DIMS(5) };
	infer("Mul", 17, 2, (const char *[]){ "a", "b" }, (int[]){ 2, 1 }, bad, 0, NULL, 0, NULL, out, sizeof out);
	assert_non_null(strstr(out, "problem: input shapes [4, 3] and [5] do not broadcast"));
	/* the plain function too */
	int64_t a[] = { 8, 1, 6, 1 }, b[] = { 7, 1, 5 }, r[MP_MAX_DIMS];
	int rn;
	assert_true(mp_broadcast_shapes(2, (int[]){ 4, 3 }, (const int64_t *const[]){ a, b }, &rn, r));
	assert_int_equal(rn, 4);
	assert_true(r[0] == 8 && r[1] == 7 && r[2] == 6 && r[3] == 5);
	int64_t c[] = { 2 }, d[] = { 3 };
	assert_false(mp_broadcast_shapes(2, (int[]){ 1, 1 }, (const int64_t *const[]){ c, d }, &rn, r));
	int64_t z[] = { 0 }, one[] = { 1 };
	assert_true(mp_broadcast_shapes(2, (int[]){ 1, 1 }, (const int64_t *const[]){ z, one }, &rn, r));
	assert_true(r[0] == 0);
}

/* Shapes that would take a kernel outside a tensor are the node's problem,
 * and the node is marked invalid (`inspect` exits 2 on it). */
static void test_hostile_shapes(void **state)
{
	(void)state;
	char out[512];
	/* ScatterElements: indices longer than data on an axis they do not index */
	const int64_t se[][6] = { DIMS(1, 3), DIMS(0), DIMS(1, 4) };
	struct init ix = { "i", 2, { 1, 4 }, { 0 }, 4 };
	infer("ScatterElements", 18, 3, (const char *[]){ "x", "i", "u" }, (int[]){ 2, 2, 2 }, se, 1, &ix, 0, NULL, out,
	      sizeof out);
	assert_non_null(strstr(out, "problem: indices (input 1) has shape [1, 4], longer than data's [1, 3] on axis 1"));
	/* updates and indices of different shapes */
	const int64_t su[][6] = { DIMS(2, 3), DIMS(0), DIMS(1, 3) };
	struct init i2 = { "i", 2, { 1, 2 }, { 0, 1 }, 2 };
	infer("ScatterElements", 18, 3, (const char *[]){ "x", "i", "u" }, (int[]){ 2, 2, 2 }, su, 1, &i2, 0, NULL, out,
	      sizeof out);
	assert_non_null(strstr(out, "indices (input 1) has shape [1, 2] but updates (input 2) has shape [1, 3]"));
	/* ScatterND: updates must be indices.shape[:-1] + data.shape[k:] */
	const int64_t sn[][6] = { DIMS(4, 4, 4), DIMS(0), DIMS(2, 3, 4) };
	struct init i3 = { "i", 2, { 2, 1 }, { 0, 1 }, 2 };
	infer("ScatterND", 18, 3, (const char *[]){ "x", "i", "u" }, (int[]){ 3, 2, 3 }, sn, 1, &i3, 0, NULL, out,
	      sizeof out);
	assert_non_null(strstr(out, "updates (input 2) has shape [2, 3, 4] but indices.shape[:-1] + data.shape[k:] "
	                            "has shape [2, 4, 4]"));
	/* GatherElements */
	const int64_t ge[][6] = { DIMS(2, 2) };
	struct init i4 = { "i", 2, { 2, 4 }, { 0 }, 8 };
	infer("GatherElements", 13, 2, (const char *[]){ "x", "i" }, (int[]){ 2, 2 }, ge, 1, &i4, 0, NULL, out, sizeof out);
	assert_non_null(strstr(out, "indices (input 1) has shape [2, 4], longer than data's [2, 2] on axis 1 (4 > 2)"));
	/* LayerNormalization's scale shorter than the normalised dims */
	const int64_t ln[][6] = { DIMS(2, 3, 8), DIMS(5) };
	infer("LayerNormalization", 17, 2, (const char *[]){ "x", "s" }, (int[]){ 3, 1 }, ln, 0, NULL, 0, NULL, out,
	      sizeof out);
	assert_non_null(strstr(out, "scale (input 1) has shape [5], which does not broadcast onto the normalised dims [8]"));
	const int64_t ok[][6] = { DIMS(2, 3, 8), DIMS(1, 8) };
	infer("LayerNormalization", 17, 2, (const char *[]){ "x", "s" }, (int[]){ 3, 2 }, ok, 0, NULL, 0, NULL, out,
	      sizeof out);
	assert_string_equal(out, "[2, 3, 8]");
	/* ConvTranspose's output_shape shorter than the spatial dims */
	const int64_t ct[][6] = { DIMS(1, 1, 3, 3), DIMS(1, 1, 2, 2) };
	struct pbw at = onnx_attr_ints("output_shape", 1, (int64_t[]){ 5 });
	infer("ConvTranspose", 17, 2, (const char *[]){ "x", "w" }, (int[]){ 4, 4 }, ct, 0, NULL, 1, &at, out, sizeof out);
	assert_non_null(strstr(out, "output_shape has 1 values for 2 spatial dims"));
}

/* A string attribute whose value field is absent: a model error naming the
 * attribute, never a NULL handed to a parser. */
static void test_string_attr_without_value(void **state)
{
	(void)state;
	struct pbw g = onnx_graph(), vi, a = { 0 };
	const int64_t d[] = { 2 };
	vi = onnx_value_info("x", 1, 1, d, NULL);
	onnx_graph_input(&g, &vi);
	vi = onnx_value_info("y", 1, 1, d, NULL);
	onnx_graph_output(&g, &vi);
	pbw_str(&a, 1, "mode");
	pbw_int(&a, 20, 3); /* STRING, with no s field */
	struct pbw n = onnx_node("DepthToSpace", "d2s", 1, (const char *[]){ "x" }, 1, (const char *[]){ "y" }, 1, &a);
	onnx_graph_node(&g, &n);
	struct pbw m = onnx_model(17, &g);
	char *p = mp_test_write(dir, "s.onnx", m.d, m.n);
	pbw_free(&m);
	struct mp_graph *gr;
	struct mp_error e = { 0 };
	assert_int_equal(mp_graph_load(p, &gr, &e), MP_OK);
	const struct mp_node *nd = mp_graph_node(gr, 0);
	assert_non_null(nd->unsupported);
	assert_non_null(strstr(nd->unsupported, "attribute 'mode' is a string but holds no value"));
	assert_true(nd->invalid);
	mp_graph_free(gr);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reshape),
		cmocka_unit_test(test_slice),
		cmocka_unit_test(test_conv_pool),
		cmocka_unit_test(test_matmul_gather_expand),
		cmocka_unit_test(test_broadcast),
		cmocka_unit_test(test_hostile_shapes),
		cmocka_unit_test(test_string_attr_without_value),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, setup, teardown);
}
