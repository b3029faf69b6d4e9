/* test_fused.c - groups of elementwise nodes run as one CUDA kernel (the
 * executor's fused groups, kernels/cuda/fuse.cu) against the same nodes run
 * one by one on CUDA by the literal executor: the outputs must be the same
 * bits.
 *
 * The cases are the groups transformers make (the exporters' erf GELU with
 * its bias Add; bias, layer scale and residual), a division by one value
 * (which the fused kernel does by a reciprocal found once, where that is
 * '/' to the bit) and a group whose output is f32 over 16-bit steps, under
 * each policy.  Their inputs are every 16-bit value there is, or f32 values
 * of every exponent and many significands, with zeros, infinities, NaNs
 * and subnormals among them.  Skips without a GPU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "batch.h"
#include "exec.h"
#include "graph.h"
#include "onnxw.h"
#include "policy.h"
#include "testutil.h"

enum model { GELU, RESIDUAL, DIV, F32_OUT };

struct fcase {
	enum model model;
	const char *policy;
	float c; /* DIV: the divisor */
};

static const struct fcase cases[] = {
	{ GELU, "bf16", 0 },
	{ GELU, "bf16-autocast", 0 },
	{ GELU, "fp16", 0 },
	{ GELU, "fp32", 0 },
	{ RESIDUAL, "bf16-autocast", 0 },
	{ RESIDUAL, "fp16", 0 },
	{ DIV, "bf16", 1.41421356f },
	{ DIV, "bf16", -0.1f },
	{ DIV, "bf16", 1e-18f },  /* inside the reciprocal's range */
	{ DIV, "bf16", 1e-20f },  /* outside it: '/' */
	{ DIV, "bf16", 1e18f },
	{ DIV, "bf16", 7e18f },
	{ DIV, "bf16", 0.0f },
	{ DIV, "fp16", 3.0f },
	{ DIV, "fp16", 1.41421356f },
	{ DIV, "fp32", 1.41421356f },
	{ DIV, "fp32", 3.0f },
	{ DIV, "fp32", -7.3e-5f },
	{ DIV, "fp32", 0x1.fffffep59f },
	{ DIV, "fp32", INFINITY },
	{ DIV, "fp32", NAN },
	{ F32_OUT, "bf16-autocast", 0 },
	{ F32_OUT, "fp16-autocast", 0 },
};

static struct mp_backend *gpu, *cpu;
static char *dir;

enum { ROWS = 512, COLS = 128 }; /* 65536 elements: every 16-bit pattern once */

/* The case's model over inputs x (and r) of rows x COLS. */
static char *case_model(const struct fcase *c, int idx, int64_t rows)
{
	struct pbw g = onnx_graph();
	int64_t xd[2] = { rows, COLS }, cd[1] = { COLS };
	float bias[COLS], lam[COLS];
	for (int i = 0; i < COLS; i++) {
		bias[i] = (float)((i * 37 % 101) - 50) / 16;
		lam[i] = (float)(i % 13 + 1) / 7;
	}
	onnx_graph_add_io(&g, true, "x", 2, xd);
	switch (c->model) {
	case GELU: { /* what the exporters write for nn.GELU() after a Linear's MatMul */
		float s2 = 1.41421356f, one = 1, half = 0.5f;
		onnx_graph_add_floats(&g, "b", 1, cd, bias, COLS);
		onnx_graph_add_floats(&g, "sqrt2", 0, NULL, &s2, 1);
		onnx_graph_add_floats(&g, "one", 0, NULL, &one, 1);
		onnx_graph_add_floats(&g, "half", 0, NULL, &half, 1);
		const char *a0[] = { "b", "x" }, *a1[] = { "h", "sqrt2" }, *a2[] = { "d" }, *a3[] = { "e", "one" },
			   *a4[] = { "h", "e1" }, *a5[] = { "m", "half" };
		onnx_graph_add_node(&g, "Add", "bias", 2, a0, "h", 0, NULL);
		onnx_graph_add_node(&g, "Div", "div", 2, a1, "d", 0, NULL);
		onnx_graph_add_node(&g, "Erf", "erf", 1, a2, "e", 0, NULL);
		onnx_graph_add_node(&g, "Add", "add1", 2, a3, "e1", 0, NULL);
		onnx_graph_add_node(&g, "Mul", "mul", 2, a4, "m", 0, NULL);
		onnx_graph_add_node(&g, "Mul", "mul_half", 2, a5, "y", 0, NULL);
		break;
	}
	case RESIDUAL: { /* bias, layer scale, residual */
		onnx_graph_add_io(&g, true, "r", 2, xd);
		onnx_graph_add_floats(&g, "b", 1, cd, bias, COLS);
		onnx_graph_add_floats(&g, "lam", 1, cd, lam, COLS);
		const char *a0[] = { "b", "x" }, *a1[] = { "h", "lam" }, *a2[] = { "s", "r" };
		onnx_graph_add_node(&g, "Add", "bias", 2, a0, "h", 0, NULL);
		onnx_graph_add_node(&g, "Mul", "scale", 2, a1, "s", 0, NULL);
		onnx_graph_add_node(&g, "Add", "residual", 2, a2, "y", 0, NULL);
		break;
	}
	case DIV: {
		onnx_graph_add_floats(&g, "c", 0, NULL, &c->c, 1);
		const char *a0[] = { "x", "c" }, *a1[] = { "d" };
		onnx_graph_add_node(&g, "Div", "div", 2, a0, "d", 0, NULL);
		onnx_graph_add_node(&g, "Neg", "neg", 1, a1, "y", 0, NULL);
		break;
	}
	case F32_OUT: { /* 16-bit steps, then an f32 input promotes the last one */
		onnx_graph_add_io(&g, true, "r", 2, xd);
		const char *a0[] = { "x" }, *a1[] = { "e" }, *a2[] = { "t", "r" };
		onnx_graph_add_node(&g, "Erf", "erf", 1, a0, "e", 0, NULL);
		onnx_graph_add_node(&g, "Tanh", "tanh", 1, a1, "t", 0, NULL);
		onnx_graph_add_node(&g, "Add", "add", 2, a2, "y", 0, NULL);
		break;
	}
	}
	onnx_graph_add_io(&g, false, "y", 2, xd);
	struct pbw m = onnx_model(17, &g);
	char name[64];
	snprintf(name, sizeof name, "fused%d.onnx", idx);
	char *p = mp_test_write(dir, name, m.d, m.n);
	pbw_free(&m);
	return p;
}

static uint64_t next(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 11;
}

/* Every 16-bit pattern once, in a scrambled order (bf16/f16); f32 values of
 * every exponent (subnormals, zeros, infinities and NaNs among them); or
 * (sweep) every f32 significand once, at exponents inside the fused
 * division's fast range, then a row of values of every kind. */
static void fill(struct mp_tensor *t, enum mp_dtype dt, int64_t n, bool sweep, uint64_t seed)
{
	int64_t dims[2] = { n / COLS, COLS };
	mp_tensor_init(t, dt, 2, dims);
	t->data = malloc((size_t)n * mp_dtype_size(dt));
	uint64_t s = seed;
	if (dt == MP_F32) {
		uint32_t *u = t->data;
		int64_t i = 0;
		for (; sweep && i < ((int64_t)1 << 23); i++)
			u[i] = (uint32_t)(i >> 3 & 1) << 31 | (uint32_t)(127 - 60 + i * 7 % 121) << 23 | (uint32_t)i;
		for (int64_t k = i; k < n; k++) {
			uint32_t sig = (uint32_t)next(&s) & 0x7FFFFFu, ex = (uint32_t)(k % 256), sign = (uint32_t)(k / 256 % 2);
			u[k] = sign << 31 | ex << 23 | sig;
		}
		u[i] = 0, u[i + 1] = 0x80000000u, u[i + 2] = 0x7F800000u, u[i + 3] = 0xFF800000u, u[i + 4] = 0x7FC00000u;
		return;
	}
	uint16_t *h = t->data;
	for (int64_t i = 0; i < n; i++)
		h[i] = (uint16_t)i;
	for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
		int64_t j = (int64_t)(next(&s) % (uint64_t)(i + 1));
		uint16_t k = h[i];
		h[i] = h[j], h[j] = k;
	}
}

/* Runs the model on the GPU, literal (node by node) or not, three times
 * (recorded, planned, replayed as a graph); the output in `out`. */
static bool run(const char *path, const char *policy, bool literal, const struct mp_batch *b,
                struct mp_tensor *out, size_t *groups, char *why, size_t wn)
{
	struct mp_error e = { 0 };
	struct mp_exec_options o = { .literal = literal, .no_graphs = literal, .no_memplan = literal };
	struct mp_exec_stats st;
	if (!mp_test_run_model(path, gpu, cpu, policy, o, b, 3, out, &st, &e)) {
		snprintf(why, wn, "%s run: %.300s", literal ? "literal" : "fused", e.msg);
		return false;
	}
	*groups = st.fused_groups;
	if (st.fusion_note[0]) {
		snprintf(why, wn, "fusion: %.300s", st.fusion_note);
		return false;
	}
	return true;
}

static int run_case(const struct fcase *c, int idx, int *tap)
{
	static const char *names[] = { "gelu", "residual", "div", "f32 out" };
	struct mp_error e = { 0 };
	struct mp_batch *b = NULL;
	struct mp_tensor ts[2] = { 0 }, got = { 0 }, want = { 0 };
	const char *tn[] = { "x", "r" };
	size_t groups = 0, g2 = 0;
	char why[512] = "";
	bool ok = false;
	enum mp_dtype low = strstr(c->policy, "fp16") ? MP_F16 : strstr(c->policy, "bf16") ? MP_BF16 : MP_F32;
	/* f32: 2^20 values, every exponent with 4096 significands each; a
	 * division, every significand as well */
	bool sweep = c->model == DIV && low == MP_F32;
	int64_t n = sweep ? ((int64_t)1 << 23) + (1 << 12) : low == MP_F32 ? (int64_t)1 << 20 : (int64_t)ROWS * COLS;
	int nin = c->model == RESIDUAL || c->model == F32_OUT ? 2 : 1;
	char *path = case_model(c, idx, n / COLS);
	for (int k = 0; k < nin; k++) /* F32_OUT's r in f32, whatever the policy */
		fill(&ts[k], c->model == F32_OUT && k == 1 ? MP_F32 : low, n, sweep, 0x9E3779B97F4A7C15ull * (uint64_t)(2 * idx + k + 1));
	if (mp_batch_from_tensors("values", (size_t)nin, tn, ts, false, &b, &e)) {
		snprintf(why, sizeof why, "batch: %.300s", e.msg);
		goto out;
	}
	if (!run(path, c->policy, false, b, &got, &groups, why, sizeof why) ||
	    !run(path, c->policy, true, b, &want, &g2, why, sizeof why))
		goto out;
	if (groups != 1 || g2) {
		snprintf(why, sizeof why, "%zu fused groups, not 1 (and %zu literal, not 0)", groups, g2);
	} else if (got.dtype != want.dtype || mp_tensor_nbytes(&got) != mp_tensor_nbytes(&want)) {
		snprintf(why, sizeof why, "outputs of %s and %s", mp_dtype_name(got.dtype), mp_dtype_name(want.dtype));
	} else if (c->model == F32_OUT && got.dtype != MP_F32) {
		snprintf(why, sizeof why, "the output is %s, not f32", mp_dtype_name(got.dtype));
	} else {
		size_t es = mp_dtype_size(got.dtype), diff = 0, first = 0;
		for (int64_t i = 0; i < n; i++)
			if (memcmp((char *)got.data + i * es, (char *)want.data + i * es, es) && !diff++)
				first = (size_t)i;
		if (diff) {
			uint32_t a = 0, w = 0;
			memcpy(&a, (char *)got.data + first * es, es);
			memcpy(&w, (char *)want.data + first * es, es);
			snprintf(why, sizeof why, "%zu of %lld elements differ from the nodes', the first at %zu: %#x, not %#x",
			         diff, (long long)n, first, a, w);
		} else {
			ok = true;
		}
	}
out:;
	char by[48] = "";
	if (c->model == DIV)
		snprintf(by, sizeof by, " by %.9g", (double)c->c);
	printf("%s %d - fused %s %s%s -> %s: %lld elements%s%s\n", ok ? "ok" : "not ok", ++*tap, names[c->model],
	       c->policy, by, got.data ? mp_dtype_name(got.dtype) : "?", (long long)n, ok ? ", the nodes' bits" : ": ",
	       why);
	mp_tensor_reset(&got);
	mp_tensor_reset(&want);
	mp_batch_free(b);
	for (int k = 0; k < nin; k++)
		free(ts[k].data);
	free(path);
	return !ok;
}

int main(void)
{
	int rc = mp_test_open_gpu(&gpu, &cpu);
	if (rc >= 0)
		return rc;
	dir = mp_test_tmpdir();
	int tap = 0, failed = 0;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		failed += run_case(&cases[i], (int)i, &tap);
	printf("1..%d\n", tap);
	mp_backend_free(gpu);
	mp_backend_free(cpu);
	mp_test_rmtree(dir);
	free(dir);
	return failed ? 1 : 0;
}
