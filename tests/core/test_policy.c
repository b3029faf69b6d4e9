/* test_policy.c - the policy's rules on tiny graphs: type promotion (0-dim
 * tensors do not widen), autocast's lists, pure policies (weights converted
 * once, parameters untouched, scalars kept, graph Casts retargeted),
 * mismatches under error / cast / promote, override islands, option
 * parsing, and the numbers each policy computes against float64 and
 * bf16 rounding done here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "batch.h"
#include "cmocka_tap.h"
#include "exec.h"
#include "graph.h"
#include "onnxw.h"
#include "testutil.h"

static char *dir;
static struct mp_backend *cpu;

static int setup(void **state)
{
	(void)state;
	struct mp_error e = { 0 };
	dir = mp_test_tmpdir();
	return dir && !mp_backend_cpu_new(1, &cpu, &e) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	mp_backend_free(cpu);
	mp_test_rmtree(dir);
	free(dir);
	return 0;
}

static struct mp_graph *load(struct pbw *g, const char *name)
{
	struct pbw m = onnx_model(17, g);
	char *p = mp_test_write(dir, name, m.d, m.n);
	struct mp_graph *gr;
	struct mp_error e = { 0 };
	pbw_free(&m);
	if (mp_graph_load(p, &gr, &e))
		fail_msg("%s", e.msg);
	free(p);
	return gr;
}

static void input(struct pbw *g, const char *name, int dtype, int ndim, const int64_t *dims)
{
	struct pbw vi = onnx_value_info(name, dtype, ndim, dims, NULL);
	onnx_graph_input(g, &vi);
}

/* A graph output declared by name only: its type is what the policy makes. */
static void output(struct pbw *g, const char *name)
{
	struct pbw vi = { 0 };
	pbw_str(&vi, 1, name);
	onnx_graph_output(g, &vi);
}

static void node2(struct pbw *g, const char *op, const char *name, const char *a, const char *b, const char *out)
{
	struct pbw n = onnx_node(op, name, b ? 2 : 1, (const char *[]){ a, b }, 1, (const char *[]){ out }, 0, NULL);
	onnx_graph_node(g, &n);
}

static void init_f32(struct pbw *g, const char *name, int ndim, const int64_t *dims, const float *v, size_t n)
{
	struct pbw t = onnx_tensor_raw(name, MP_F32, ndim, dims, v, n * 4);
	onnx_graph_init(g, &t);
}

struct policy_run {
	struct mp_policy p;
	struct mp_exec *x;
	struct mp_batch *b;
	enum mp_status st;
	struct mp_error e;
};

/* Runs g under `policy` (with on-mismatch m and override specs "GLOB=T")
 * on the named tensors. */
static void run(struct policy_run *r, const struct mp_graph *g, const char *policy, const char *m,
                const char *override, size_t n, const char *const *names, const struct mp_tensor *ts)
{
	struct mp_error e = { 0 };
	memset(r, 0, sizeof *r);
	assert_int_equal(mp_policy_set_base(&r->p, policy, &e), MP_OK);
	if (m)
		assert_int_equal(mp_policy_set_on_mismatch(&r->p, m, &e), MP_OK);
	if (override)
		assert_int_equal(mp_policy_add_override(&r->p, override, MP_DTYPE_UNDEFINED, &e), MP_OK);
	assert_int_equal(mp_batch_from_tensors("t", n, names, ts, false, &r->b, &e), MP_OK);
	struct mp_exec_options o = { .keep_values = true, .policy = &r->p };
	assert_int_equal(mp_exec_new(g, cpu, cpu, &o, &r->x, &e), MP_OK);
	if (mp_exec_begin(r->x, r->b, &e))
		fail_msg("%s", e.msg);
	r->st = mp_exec_run(r->x, &r->e);
}

static void run_free(struct policy_run *r)
{
	mp_exec_free(r->x);
	mp_batch_free(r->b);
	mp_policy_free(&r->p);
}

static const struct mp_tensor *value(const struct policy_run *r, const struct mp_graph *g, const char *name)
{
	const struct mp_tensor *t = mp_exec_value(r->x, mp_graph_find_value(g, name));
	if (!t)
		fail_msg("'%s' was not computed", name);
	return t;
}

static const struct mp_node_decision *decision_of(const struct policy_run *r, const struct mp_graph *g,
                                                   const char *node)
{
	for (size_t i = 0; i < mp_graph_nnodes(g); i++)
		if (!strcmp(mp_graph_node(g, i)->name, node))
			return mp_exec_decision(r->x, i);
	fail_msg("no node '%s'", node);
	return NULL;
}

/* Round to nearest even, from the bits. */
static float bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	if ((u & 0x7F800000u) != 0x7F800000u)
		u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
	memcpy(&f, &u, 4);
	return f;
}

static double at(const struct mp_tensor *t, int64_t i)
{
	double v;
	mp_dtype_traits(t->dtype)->load_f64((const char *)t->data + i * (int64_t)mp_dtype_size(t->dtype), 1, &v, 1);
	return v;
}

static uint16_t bf16_bits(float f)
{
	uint32_t u;
	f = bf16(f);
	memcpy(&u, &f, 4);
	return (uint16_t)(u >> 16);
}

static const float xs[6] = { 1.5f, -2.25f, 3.1415927f, 100.3f, -0.0078125f, 7.77f };

/* Type promotion: bf16 + f32 gives f32 (the bf16 input widened); a 0-dim
 * f32 constant does not widen a bf16 tensor, and is read as f32, as
 * PyTorch reads a wrapped number; bf16 + f16 gives f32. */
static void test_promotion(void **state)
{
	(void)state;
	struct pbw g = onnx_graph();
	const int64_t d[] = { 2, 3 };
	const float c = 0.1f;
	input(&g, "a", MP_BF16, 2, d);
	input(&g, "b", MP_F32, 2, d);
	input(&g, "h", MP_F16, 2, d);
	init_f32(&g, "c", 0, NULL, &c, 1);
	node2(&g, "Add", "/add", "a", "b", "s");
	node2(&g, "Mul", "/mul", "a", "c", "m");
	node2(&g, "Add", "/mix", "a", "h", "ah");
	output(&g, "s");
	output(&g, "m");
	output(&g, "ah");
	struct mp_graph *gr = load(&g, "promote.onnx");

	uint16_t ab[6], hb[6];
	struct mp_tensor ta, tb, th;
	for (int i = 0; i < 6; i++)
		ab[i] = bf16_bits(xs[i]);
	mp_dtype_convert(MP_F32, xs, MP_F16, hb, 6);
	mp_tensor_init(&ta, MP_BF16, 2, d);
	ta.data = ab;
	mp_tensor_init(&tb, MP_F32, 2, d);
	tb.data = (void *)xs;
	mp_tensor_init(&th, MP_F16, 2, d);
	th.data = hb;
	const char *names[] = { "a", "b", "h" };
	struct mp_tensor ts[] = { ta, tb, th };
	static const char *const policies[] = { "fp32", "bf16", "bf16-autocast" };
	for (int p = 0; p < 3; p++) {
		struct policy_run r;
		run(&r, gr, policies[p], NULL, NULL, 3, names, ts);
		assert_int_equal(r.st, MP_OK);
		const struct mp_tensor *s = value(&r, gr, "s"), *m = value(&r, gr, "m"), *ah = value(&r, gr, "ah");
		assert_int_equal(s->dtype, MP_F32);
		assert_int_equal(m->dtype, MP_BF16);
		assert_int_equal(ah->dtype, MP_F32);
		const struct mp_node_decision *d0 = decision_of(&r, gr, "/add"), *d1 = decision_of(&r, gr, "/mul");
		assert_int_equal(d0->exec, MP_F32);
		assert_int_equal(d0->slots[0].want, MP_F32);
		assert_int_equal(d0->slots[0].reason, MP_CAST_PROMOTE);
		assert_int_equal(d1->exec, MP_BF16);
		assert_false(d1->slots[1].materialize); /* the scalar is read as it is */
		for (int i = 0; i < 6; i++) {
			assert_true(at(s, i) == (double)(bf16(xs[i]) + xs[i]));
			assert_true(at(m, i) == (double)bf16(bf16(xs[i]) * c));
		}
		/* the constant is no weight to convert: no event names it */
		for (size_t k = 0; k < mp_exec_nevents(r.x); k++) {
			struct mp_dtype_event ev;
			mp_exec_event(r.x, k, &ev);
			assert_true(ev.value != mp_graph_find_value(gr, "c"));
		}
		run_free(&r);
	}
	mp_graph_free(gr);
}

/* Autocast: MatMul's float inputs (weights too) go to bf16 and it produces
 * bf16; Softmax takes fp32; an elementwise op between them promotes. */
static void test_autocast_lists(void **state)
{
	(void)state;
	struct pbw g = onnx_graph();
	const int64_t xd[] = { 2, 3 }, wd[] = { 3, 2 };
	const float w[6] = { 0.3f, -1.7f, 2.2f, 0.01f, -0.5f, 1.25f };
	input(&g, "x", MP_F32, 2, xd);
	init_f32(&g, "w", 2, wd, w, 6);
	node2(&g, "MatMul", "/lin/MatMul", "x", "w", "y");
	node2(&g, "Softmax", "/sm/Softmax", "y", NULL, "p");
	node2(&g, "Add", "/res/Add", "p", "y", "z");
	output(&g, "z");
	struct mp_graph *gr = load(&g, "autocast.onnx");
	struct mp_tensor tx;
	mp_tensor_init(&tx, MP_F32, 2, xd);
	tx.data = (void *)xs;
	struct policy_run r;
	run(&r, gr, "bf16-autocast", NULL, NULL, 1, (const char *[]){ "x" }, &tx);
	assert_int_equal(r.st, MP_OK);
	const struct mp_tensor *y = value(&r, gr, "y"), *p = value(&r, gr, "p"), *z = value(&r, gr, "z");
	assert_int_equal(y->dtype, MP_BF16);
	assert_int_equal(p->dtype, MP_F32);
	assert_int_equal(z->dtype, MP_F32);
	const struct mp_node_decision *dm = decision_of(&r, gr, "/lin/MatMul"), *ds = decision_of(&r, gr, "/sm/Softmax");
	assert_int_equal(dm->slots[0].reason, MP_CAST_AUTOCAST);
	assert_int_equal(dm->slots[1].reason, MP_CAST_AUTOCAST);
	assert_int_equal(ds->exec, MP_F32);
	assert_int_equal(ds->slots[0].want, MP_F32);
	/* the numbers: bf16 inputs, fp32 accumulation, one rounding to bf16 */
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++) {
			double acc = 0;
			for (int k = 0; k < 3; k++)
				acc += (double)bf16(xs[i * 3 + k]) * (double)bf16(w[k * 2 + j]);
			assert_true(at(y, i * 2 + j) == (double)bf16((float)acc));
		}
	/* the weight's cast is measured: half a bf16 ulp at most, and exact here */
	bool measured = false;
	for (size_t k = 0; k < mp_exec_nevents(r.x); k++) {
		struct mp_dtype_event ev;
		mp_exec_event(r.x, k, &ev);
		if (ev.value == mp_graph_find_value(gr, "w")) {
			double ea = 0, er = 0;
			for (int i = 0; i < 6; i++) {
				ea = fmax(ea, fabs((double)w[i] - bf16(w[i])));
				er = fmax(er, fabs((double)w[i] - bf16(w[i])) / fabs((double)w[i]));
			}
			assert_true(ev.max_abs == ea && ev.max_rel == er);
			measured = true;
		} else if (ev.value == mp_graph_find_value(gr, "x")) {
			assert_true(isnan(ev.max_abs)); /* activations are not measured */
		}
	}
	assert_true(measured);
	run_free(&r);
	mp_graph_free(gr);
}

/* Pure bf16: weights converted once (and a WEIGHT event with the rounding
 * error), parameters untouched (Resize's scales), the graph's Cast to
 * float retargeted to bf16, data keep their batch dtype. */
static void test_pure_weights_params_casts(void **state)
{
	(void)state;
	struct pbw g = onnx_graph();
	const int64_t xd[] = { 1, 1, 2, 2 }, sd[] = { 4 };
	const float w[4] = { 1.0009765625f, 3.3f, -2.7f, 0.1f }, scales[4] = { 1, 1, 2, 2 };
	input(&g, "x", MP_F32, 4, xd);
	init_f32(&g, "w", 4, xd, w, 4);
	init_f32(&g, "scales", 1, sd, scales, 4);
	struct pbw to = onnx_attr_int("to", MP_F32);
	struct pbw n = onnx_node("Cast", "/Cast", 1, (const char *[]){ "x" }, 1, (const char *[]){ "xc" }, 1, &to);
	onnx_graph_node(&g, &n);
	node2(&g, "Mul", "/Mul", "xc", "w", "y");
	n = onnx_node("Resize", "/Resize", 3, (const char *[]){ "y", "", "scales" }, 1, (const char *[]){ "r" }, 0, NULL);
	onnx_graph_node(&g, &n);
	output(&g, "r");
	struct mp_graph *gr = load(&g, "pure.onnx");
	struct mp_tensor tx;
	mp_tensor_init(&tx, MP_F32, 4, xd);
	tx.data = (void *)xs;
	struct policy_run r;
	run(&r, gr, "bf16", NULL, NULL, 1, (const char *[]){ "x" }, &tx);
	assert_int_equal(r.st, MP_OK);
	const struct mp_tensor *xc = value(&r, gr, "xc"), *y = value(&r, gr, "y"), *rs = value(&r, gr, "r");
	assert_int_equal(xc->dtype, MP_BF16);
	assert_int_equal(y->dtype, MP_BF16);
	assert_int_equal(rs->dtype, MP_BF16);
	assert_true(rs->shape[2] == 4 && rs->shape[3] == 4); /* the scales were read as they are */
	for (int i = 0; i < 4; i++)
		assert_true(at(y, i) == (double)bf16(bf16(xs[i]) * bf16(w[i])));
	size_t nweight = 0, nretarget = 0;
	for (size_t k = 0; k < mp_exec_nevents(r.x); k++) {
		struct mp_dtype_event ev;
		mp_exec_event(r.x, k, &ev);
		assert_true(ev.value != mp_graph_find_value(gr, "scales"));
		if (ev.reason == MP_CAST_WEIGHT) {
			assert_int_equal(ev.value, mp_graph_find_value(gr, "w"));
			assert_int_equal(ev.node, -1);
			double ea = 0;
			for (int i = 0; i < 4; i++)
				ea = fmax(ea, fabs((double)w[i] - bf16(w[i])));
			assert_true(ev.max_abs == ea);
			nweight++;
		}
		if (ev.reason == MP_CAST_RETARGET) {
			assert_int_equal(ev.from, MP_F32);
			assert_int_equal(ev.to, MP_BF16);
			nretarget++;
		}
	}
	assert_int_equal(nweight, 1);
	assert_int_equal(nretarget, 1);
	run_free(&r);
	mp_graph_free(gr);
}

/* A MatMul whose inputs disagree: error stops before it, naming both and
 * PyTorch's words; cast casts to the policy's type; promote widens. */
static void test_mismatch_modes(void **state)
{
	(void)state;
	struct pbw g = onnx_graph();
	const int64_t ad[] = { 2, 3 }, kd[] = { 3, 2 };
	input(&g, "act", MP_BF16, 2, ad);
	input(&g, "K", MP_F32, 2, kd);
	node2(&g, "Relu", "/head/Relu", "act", NULL, "h");
	node2(&g, "MatMul", "/proj/MatMul", "h", "K", "y");
	output(&g, "y");
	struct mp_graph *gr = load(&g, "mismatch.onnx");
	uint16_t ab[6];
	for (int i = 0; i < 6; i++)
		ab[i] = bf16_bits(xs[i]);
	struct mp_tensor ts[2];
	mp_tensor_init(&ts[0], MP_BF16, 2, ad);
	ts[0].data = ab;
	mp_tensor_init(&ts[1], MP_F32, 2, kd);
	ts[1].data = (void *)xs;
	const char *names[] = { "act", "K" };
	struct policy_run r;

	run(&r, gr, "bf16", NULL, NULL, 2, names, ts);
	assert_int_equal(r.st, MP_ERR_MISMATCH);
	assert_int_equal(mp_exec_position(r.x), 1);
	assert_non_null(strstr(r.e.msg, "dtype mismatch at node '/proj/MatMul' (MatMul) in module proj"));
	assert_non_null(strstr(r.e.msg, "input 0 'h' is bfloat16: output of node '/head/Relu' (Relu) in module head"));
	assert_non_null(strstr(r.e.msg, "input 1 'K' is float32: graph input 'K' (float32, from t)"));
	assert_non_null(strstr(r.e.msg, "expected scalar type BFloat16 but found Float"));
	run_free(&r);

	run(&r, gr, "bf16", "cast", NULL, 2, names, ts);
	assert_int_equal(r.st, MP_OK);
	const struct mp_tensor *y = value(&r, gr, "y");
	assert_int_equal(y->dtype, MP_BF16);
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++) {
			double acc = 0;
			for (int k = 0; k < 3; k++)
				acc += (double)fmaxf(bf16(xs[i * 3 + k]), 0) * (double)bf16(xs[k * 2 + j]);
			assert_true(at(y, i * 2 + j) == (double)bf16((float)acc));
		}
	assert_int_equal(decision_of(&r, gr, "/proj/MatMul")->slots[1].reason, MP_CAST_MISMATCH);
	run_free(&r);

	run(&r, gr, "bf16", "promote", NULL, 2, names, ts);
	assert_int_equal(r.st, MP_OK);
	y = value(&r, gr, "y");
	assert_int_equal(y->dtype, MP_F32);
	assert_int_equal(decision_of(&r, gr, "/proj/MatMul")->slots[0].reason, MP_CAST_PROMOTE);
	run_free(&r);

	/* fp32's default is cast; autocast's is promote, and MatMul is on its list */
	run(&r, gr, "fp32", NULL, NULL, 2, names, ts);
	assert_int_equal(r.st, MP_OK);
	assert_int_equal(value(&r, gr, "y")->dtype, MP_F32);
	run_free(&r);
	run(&r, gr, "bf16-autocast", NULL, NULL, 2, names, ts);
	assert_int_equal(r.st, MP_OK);
	assert_int_equal(value(&r, gr, "y")->dtype, MP_BF16);
	run_free(&r);

	/* an override island: the projection in fp32, by module path */
	run(&r, gr, "bf16", NULL, "proj=fp32", 2, names, ts);
	assert_int_equal(r.st, MP_OK);
	assert_int_equal(value(&r, gr, "y")->dtype, MP_F32);
	assert_int_equal(decision_of(&r, gr, "/proj/MatMul")->slots[0].reason, MP_CAST_OVERRIDE);
	run_free(&r);
	mp_graph_free(gr);
}

/* An island's output comes back to the pure policy's type where it meets
 * the rest of the graph; overrides match node names, dotted and slashed
 * module paths, and the last match wins. */
static void test_override_islands(void **state)
{
	(void)state;
	struct pbw g = onnx_graph();
	const int64_t d[] = { 2, 3 };
	input(&g, "x", MP_BF16, 2, d);
	node2(&g, "Exp", "/enc/layer.0/Exp", "x", NULL, "e");
	node2(&g, "Add", "/dec/Add", "e", "x", "y");
	output(&g, "y");
	struct mp_graph *gr = load(&g, "islands.onnx");
	uint16_t ab[6];
	for (int i = 0; i < 6; i++)
		ab[i] = bf16_bits(xs[i]);
	struct mp_tensor tx;
	mp_tensor_init(&tx, MP_BF16, 2, d);
	tx.data = ab;
	static const char *const specs[] = { "enc.layer.0=fp32", "/enc/*=fp32", "/enc/layer.0/Exp=fp32", "*=fp32" };
	for (int s = 0; s < 4; s++) {
		struct policy_run r;
		run(&r, gr, "bf16", NULL, specs[s], 1, (const char *[]){ "x" }, &tx);
		assert_int_equal(r.st, MP_OK);
		assert_int_equal(value(&r, gr, "e")->dtype, MP_F32);
		if (s < 3) { /* the Add is outside: it gets the exp back in bf16 */
			assert_int_equal(value(&r, gr, "y")->dtype, MP_BF16);
			assert_int_equal(decision_of(&r, gr, "/dec/Add")->slots[0].reason, MP_CAST_OVERRIDE);
		} else {
			assert_int_equal(value(&r, gr, "y")->dtype, MP_F32);
		}
		for (int i = 0; i < 6; i++)
			if (s < 3)
				assert_true(at(value(&r, gr, "y"), i) ==
				            (double)bf16(bf16(expf(bf16(xs[i]))) + bf16(xs[i])));
		run_free(&r);
	}
	/* the last match wins */
	struct mp_policy p = { 0 };
	struct mp_error e = { 0 };
	assert_int_equal(mp_policy_set_base(&p, "bf16", &e), MP_OK);
	assert_int_equal(mp_policy_add_override(&p, "*", MP_F32, &e), MP_OK);
	assert_int_equal(mp_policy_add_override(&p, "enc.*=fp16", MP_DTYPE_UNDEFINED, &e), MP_OK);
	assert_int_equal(mp_policy_override_for(&p, gr, mp_graph_node(gr, 0)), MP_F16);
	assert_int_equal(mp_policy_override_for(&p, gr, mp_graph_node(gr, 1)), MP_F32);
	mp_policy_free(&p);
	mp_graph_free(gr);
}

static void test_option_errors(void **state)
{
	(void)state;
	struct mp_policy p = { 0 };
	struct mp_error e = { 0 };
	assert_int_equal(mp_policy_set_base(&p, "bf32", &e), MP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "unknown policy 'bf32'"));
	assert_int_equal(mp_policy_add_override(&p, "noequals", MP_DTYPE_UNDEFINED, &e), MP_ERR_USAGE);
	assert_int_equal(mp_policy_add_override(&p, "=bf16", MP_DTYPE_UNDEFINED, &e), MP_ERR_USAGE);
	assert_int_equal(mp_policy_add_override(&p, "x=int8", MP_DTYPE_UNDEFINED, &e), MP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "'int8' is not bf16, fp16 or fp32"));
	assert_int_equal(mp_policy_set_on_mismatch(&p, "ignore", &e), MP_ERR_USAGE);
	assert_int_equal(p.noverrides, 0);
	assert_int_equal(mp_policy_on_mismatch(&p), MP_MISMATCH_CAST); /* fp32 */
	assert_int_equal(mp_policy_set_base(&p, "fp16", &e), MP_OK);
	assert_int_equal(mp_policy_on_mismatch(&p), MP_MISMATCH_ERROR);
	assert_int_equal(mp_policy_set_base(&p, "fp16-autocast", &e), MP_OK);
	assert_int_equal(mp_policy_on_mismatch(&p), MP_MISMATCH_PROMOTE);
	assert_int_equal(mp_policy_low_type(&p), MP_F16);
	mp_policy_free(&p);
}

/* mp_dtype_convert_measure against float64 on random values, with values
 * beyond fp16's range (infinite error) and NaN (not counted). */
static void test_convert_measure(void **state)
{
	(void)state;
	enum { N = 4096 };
	float *src = malloc(N * 4);
	uint16_t *dst = malloc(N * 2);
	uint64_t s = 12345;
	for (int i = 0; i < N; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		src[i] = (float)ldexp((double)(s >> 40) / (double)(1 << 24) - 0.5, (int)(s % 30) - 15);
	}
	double ea, er, wa = 0, wr = 0;
	mp_dtype_convert_measure(MP_F32, src, MP_BF16, dst, N, &ea, &er);
	for (int i = 0; i < N; i++) {
		double d = fabs((double)src[i] - bf16(src[i]));
		wa = fmax(wa, d);
		if (src[i] != 0)
			wr = fmax(wr, d / fabs((double)src[i]));
		assert_int_equal(dst[i], bf16_bits(src[i]));
	}
	assert_true(ea == wa && er == wr);
	src[7] = NAN;
	src[9] = 1e6f; /* beyond fp16 */
	mp_dtype_convert_measure(MP_F32, src, MP_F16, dst, N, &ea, &er);
	assert_true(isinf(ea) && isinf(er));
	src[9] = 1.0f;
	mp_dtype_convert_measure(MP_F32, src, MP_F16, dst, N, &ea, &er);
	wa = wr = 0;
	for (int i = 0; i < N; i++) { /* what the f16 values (checked against PyTorch elsewhere) differ by */
		double h;
		mp_dtype_traits(MP_F16)->load_f64(&dst[i], 1, &h, 1);
		if (isnan(src[i]))
			continue;
		wa = fmax(wa, fabs((double)src[i] - h));
		if (src[i] != 0)
			wr = fmax(wr, fabs((double)src[i] - h) / fabs((double)src[i]));
	}
	assert_true(ea == wa && er == wr);
	assert_true(er > 1.0 / 2048); /* values below fp16's normal range lose more than half an ulp */
	free(src);
	free(dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_promotion),
		cmocka_unit_test(test_autocast_lists),
		cmocka_unit_test(test_pure_weights_params_casts),
		cmocka_unit_test(test_mismatch_modes),
		cmocka_unit_test(test_override_islands),
		cmocka_unit_test(test_option_errors),
		cmocka_unit_test(test_convert_measure),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, setup, teardown);
}
