/* test_attention.c - attention run as one CUDA kernel (the executor's
 * attention groups, kernels/cuda/attention.cu) against the CPU reference
 * running the same nodes one by one.
 *
 * Each case is a small model in one of the layouts exporters write
 * (transformers' q/k/v projections reshaped and transposed with the scale
 * on Q and K, with the projections' bias Adds or without; "eager"
 * attention dividing the scores; batched 3-d), run
 * under a low-precision policy on random inputs (up to 288 keys the
 * register kernel runs, past that the shared-memory one; the wide-score
 * case takes the register kernel's '/' path).  The CUDA run must have
 * made the attention group (or, where the case says the kernel cannot
 * take it, must not have), and its output must be within the per-dtype
 * NMSE limit of the parity table of the CPU's; NaN and Inf in the same
 * places.  Printed beside: how far the fused run is from the CUDA nodes
 * one by one, whose GEMMs sum in cuBLAS's order.  Skips without a GPU. */
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

enum layout {
	HF,     /* q [b,t,h,d] -> T(0,2,1,3) -> Mul; k [b,s,h,d] -> T(0,2,3,1) -> Mul; v -> T; out T(0,2,1,3) */
	EAGER,  /* q [b,h,t,d]; k [b,h,s,d] -> T(0,1,3,2); scores / c; out [b,h,t,dv] */
	RANK3,  /* q [n,t,d]; k [n,s,d] -> T(0,2,1); scores * c; v [n,s,dv] */
	KT,     /* k^T given as [b,h,d,s]: its head dim is not contiguous, the kernel declines */
	BIAS,   /* HF from the projections: [b,t,h*d] + a bias per channel -> Reshape [b,t,h,d] -> HF */
};

struct acase {
	enum layout layout;
	const char *policy;
	int64_t b, h, t, s, d, dv;
	int want_groups;
	double amp; /* inputs in [-3 amp, 3 amp] (0: 1) */
};

static const struct acase cases[] = {
	{ HF, "bf16", 2, 3, 70, 257, 64, 64, 1 },
	{ HF, "bf16-autocast", 2, 6, 257, 257, 64, 64, 1 },
	{ HF, "fp16", 1, 2, 65, 300, 32, 40, 1 },
	{ HF, "bf16", 1, 2, 100, 288, 128, 128, 1 }, /* the most keys held in registers */
	{ HF, "bf16", 2, 2, 64, 200, 64, 64, 1, 5 },   /* wide scores: expf() underflows, subnormal quotients */
	{ EAGER, "fp16", 1, 2, 40, 90, 32, 32, 1, 3 },
	{ HF, "fp16", 1, 3, 50, 289, 128, 96, 1 },   /* one more: score rows in shared memory */
	{ HF, "fp16-autocast", 2, 2, 1, 1, 16, 8, 1 },
	{ EAGER, "bf16", 2, 2, 130, 77, 128, 128, 1 },
	{ EAGER, "fp16", 1, 3, 64, 64, 64, 64, 1 },
	{ EAGER, "bf16", 1, 2, 40, 600, 64, 64, 1 },
	{ EAGER, "bf16", 1, 1, 8, 1100, 32, 32, 0 }, /* too many keys for the kernel: no group */
	{ RANK3, "bf16-autocast", 1, 4, 33, 129, 48, 16, 1 },
	{ RANK3, "bf16", 1, 5, 200, 17, 16, 24, 1 },
	{ HF, "fp32", 1, 2, 20, 30, 64, 64, 0 },  /* f32 GEMMs: node by node */
	{ KT, "bf16", 1, 2, 40, 50, 64, 64, 0 },
	{ BIAS, "bf16-autocast", 2, 6, 257, 257, 64, 64, 1 },
	{ BIAS, "fp16", 1, 3, 70, 130, 32, 40, 1 },
	{ BIAS, "bf16", 1, 2, 30, 300, 64, 64, 1 },
	{ BIAS, "fp16-autocast", 1, 2, 100, 150, 64, 64, 1 },
};

static struct mp_backend *gpu, *cpu;
static char *dir;

static void add_transpose(struct pbw *g, const char *name, const char *in, const char *out, int n,
                          const int64_t *perm)
{
	const char *ins[] = { in };
	struct pbw a = onnx_attr_ints("perm", n, perm);
	onnx_graph_add_node(g, "Transpose", name, 1, ins, out, 1, &a);
}

static void add_scalar(struct pbw *g, const char *name, float v)
{
	onnx_graph_add_floats(g, name, 0, NULL, &v, 1);
}

/* The case's model; its inputs' rank in in_nd, their shapes in qd, kd, vd. */
static char *case_model(const struct acase *c, int idx, int *nd, int *in_nd, int64_t *qd, int64_t *kd, int64_t *vd)
{
	struct pbw g = onnx_graph();
	float sc = (float)(1 / sqrt(sqrt((double)c->d)));
	const char *mm1[2], *mm2[2];
	int64_t od[4];
	if (c->layout == HF || c->layout == BIAS) {
		static const int64_t p0213[] = { 0, 2, 1, 3 }, p0231[] = { 0, 2, 3, 1 };
		*nd = 4;
		int64_t q4[] = { c->b, c->t, c->h, c->d }, k4[] = { c->b, c->s, c->h, c->d }, v4[] = { c->b, c->s, c->h, c->dv };
		int64_t o4[] = { c->b, c->t, c->h, c->dv };
		memcpy(qd, q4, sizeof q4), memcpy(kd, k4, sizeof k4), memcpy(vd, v4, sizeof v4), memcpy(od, o4, sizeof o4);
		add_scalar(&g, "cq", sc);
		add_scalar(&g, "ck", sc);
		const char *tin[3] = { "q", "k", "v" };
		if (c->layout == BIAS) { /* the inputs [b, rows, h*d] through a Linear (MatMul, bias Add), then
		                          * split into heads */
			static const char *in[3] = { "q", "k", "v" }, *bn[3] = { "bq", "bk", "bv" }, *an[3] = { "aq", "ak", "av" },
					  *sn[3] = { "sq", "sk", "sv" }, *rn[3] = { "rq", "rk", "rv" };
			/* a module's nodes, so that autocast takes the Add as the Linear's */
			static const char *hn[3] = { "/q_proj/Add", "/k_proj/Add", "/v_proj/Add" }, *wn[3] = { "wq", "wk", "wv" },
					  *mn[3] = { "/q_proj/MatMul", "/k_proj/MatMul", "/v_proj/MatMul" }, *pn[3] = { "pq", "pk", "pv" };
			int64_t *dims[3] = { qd, kd, vd };
			for (int o = 0; o < 3; o++) {
				int64_t ch = c->h * dims[o][3], shape[4] = { dims[o][0], dims[o][1], c->h, dims[o][3] };
				int64_t wd[2] = { ch, ch };
				float *bv = malloc((size_t)(ch * ch) * sizeof *bv);
				for (int64_t j = 0; j < ch * ch; j++) /* about the identity, mixed a little */
					bv[j] = (float)(j % (ch + 1) == 0) + (float)((j * 13 + o) % 9 - 4) / (float)(16 * ch);
				onnx_graph_add_floats(&g, wn[o], 2, wd, bv, (size_t)(ch * ch));
				for (int64_t j = 0; j < ch; j++)
					bv[j] = (float)((j * 29 + o * 7) % 23 - 11) / 8;
				onnx_graph_add_floats(&g, bn[o], 1, &ch, bv, (size_t)ch);
				free(bv);
				struct pbw st = onnx_tensor_raw(sn[o], 7, 1, (const int64_t[]){ 4 }, shape, sizeof shape);
				onnx_graph_init(&g, &st);
				const char *mi[] = { in[o], wn[o] }, *ai[] = { bn[o], pn[o] }, *ri[] = { an[o], sn[o] };
				onnx_graph_add_node(&g, "MatMul", mn[o], 2, mi, pn[o], 0, NULL);
				onnx_graph_add_node(&g, "Add", hn[o], 2, ai, an[o], 0, NULL);
				onnx_graph_add_node(&g, "Reshape", rn[o], 2, ri, rn[o], 0, NULL);
				tin[o] = rn[o];
				dims[o][2] = ch;
			}
		}
		add_transpose(&g, "tq", tin[0], "qt", 4, p0213);
		add_transpose(&g, "tk", tin[1], "kt", 4, p0231);
		add_transpose(&g, "tv", tin[2], "vt", 4, p0213);
		const char *mq[] = { "qt", "cq" }, *mk[] = { "ck", "kt" }; /* the scalar on either side */
		onnx_graph_add_node(&g, "Mul", "mq", 2, mq, "qs", 0, NULL);
		onnx_graph_add_node(&g, "Mul", "mk", 2, mk, "ks", 0, NULL);
		mm1[0] = "qs", mm1[1] = "ks", mm2[1] = "vt";
	} else if (c->layout == EAGER || c->layout == KT) {
		static const int64_t p0132[] = { 0, 1, 3, 2 };
		*nd = 4;
		int64_t q4[] = { c->b, c->h, c->t, c->d }, k4[] = { c->b, c->h, c->s, c->d }, v4[] = { c->b, c->h, c->s, c->dv };
		int64_t kt4[] = { c->b, c->h, c->d, c->s }, o4[] = { c->b, c->h, c->t, c->dv };
		memcpy(qd, q4, sizeof q4), memcpy(vd, v4, sizeof v4), memcpy(od, o4, sizeof o4);
		if (c->layout == KT) {
			memcpy(kd, kt4, sizeof kt4);
			mm1[1] = "k";
		} else {
			memcpy(kd, k4, sizeof k4);
			add_transpose(&g, "tk", "k", "kt", 4, p0132);
			mm1[1] = "kt";
		}
		mm1[0] = "q", mm2[1] = "v";
	} else {
		static const int64_t p021[] = { 0, 2, 1 };
		*nd = 3;
		int64_t q3[] = { c->h, c->t, c->d }, k3[] = { c->h, c->s, c->d }, v3[] = { c->h, c->s, c->dv };
		int64_t o3[] = { c->h, c->t, c->dv };
		memcpy(qd, q3, sizeof q3), memcpy(kd, k3, sizeof k3), memcpy(vd, v3, sizeof v3), memcpy(od, o3, sizeof o3);
		add_transpose(&g, "tk", "k", "kt", 3, p021);
		mm1[0] = "q", mm1[1] = "kt", mm2[1] = "v";
	}
	*in_nd = c->layout == BIAS ? 3 : *nd;
	onnx_graph_add_io(&g, true, "q", *in_nd, qd);
	onnx_graph_add_io(&g, true, "k", *in_nd, kd);
	onnx_graph_add_io(&g, true, "v", *in_nd, vd);
	onnx_graph_add_node(&g, "MatMul", "mm1", 2, mm1, "s", 0, NULL);
	const char *sin = "s";
	if (c->layout == EAGER || c->layout == RANK3 || c->layout == KT) {
		add_scalar(&g, "cs", c->layout == RANK3 ? sc * sc : 1 / (sc * sc));
		const char *ss[] = { "s", "cs" };
		onnx_graph_add_node(&g, c->layout == RANK3 ? "Mul" : "Div", "scale", 2, ss, "s2", 0, NULL);
		sin = "s2";
	}
	struct pbw ax = onnx_attr_int("axis", -1);
	const char *smi[] = { sin };
	onnx_graph_add_node(&g, "Softmax", "softmax", 1, smi, "p", 1, &ax);
	mm2[0] = "p";
	bool hf = c->layout == HF || c->layout == BIAS;
	onnx_graph_add_node(&g, "MatMul", "mm2", 2, mm2, hf ? "o" : "y", 0, NULL);
	if (hf) {
		static const int64_t p0213[] = { 0, 2, 1, 3 };
		add_transpose(&g, "to", "o", "y", 4, p0213);
	}
	onnx_graph_add_io(&g, false, "y", *nd, od);
	struct pbw m = onnx_model(17, &g);
	char name[64];
	snprintf(name, sizeof name, "attn%d.onnx", idx);
	char *p = mp_test_write(dir, name, m.d, m.n);
	pbw_free(&m);
	return p;
}

/* Runs the model on be; the output as a host tensor in `out`; four runs:
 * recorded, then in the planned arena, then captured and replayed as a
 * graph (on the fast executor). */
static bool run(const char *path, struct mp_backend *be, const char *policy, bool literal, bool no_attn,
                const struct mp_batch *b, struct mp_tensor *out, size_t *groups, size_t *members, char *why, size_t wn)
{
	struct mp_error e = { 0 };
	struct mp_exec_options o = { .literal = literal, .no_fused_attention = no_attn };
	struct mp_exec_stats st;
	if (!mp_test_run_model(path, be, cpu, policy, o, b, 4, out, &st, &e)) {
		snprintf(why, wn, "%s run: %.300s", be->iface->name, e.msg);
		return false;
	}
	*groups = st.attention_groups;
	*members = st.attention_nodes;
	return true;
}

static double limit_of(enum mp_dtype t)
{
	return t == MP_BF16 ? 1e-4 : t == MP_F16 ? 1e-6 : 1e-9; /* test_parity's */
}

static int run_case(const struct acase *c, int idx, int *tap)
{
	static const char *names[] = { "hf", "eager", "rank3", "k^T given", "hf with biases" };
	struct mp_error e = { 0 };
	struct mp_batch *b = NULL;
	struct mp_tensor ts[3], got = { 0 }, want = { 0 }, nodes = { 0 };
	const char *tn[] = { "q", "k", "v" };
	int64_t dims[3][4];
	int nd, in_nd;
	size_t groups = 0, g2 = 0, g3 = 0, members = 0, m2;
	char why[512] = "";
	bool ok = false;
	/* batch tensors in the policy's low type, as a bf16 data pipeline keeps them */
	enum mp_dtype low = strstr(c->policy, "fp16") ? MP_F16 : strstr(c->policy, "bf16") ? MP_BF16 : MP_F32;
	char *path = case_model(c, idx, &nd, &in_nd, dims[0], dims[1], dims[2]);
	uint64_t rng = 0x9E3779B97F4A7C15ull * (uint64_t)(idx + 1);
	for (int k = 0; k < 3; k++) {
		mp_tensor_init(&ts[k], low, in_nd, dims[k]);
		int64_t n = mp_tensor_numel(&ts[k]);
		double *v = malloc((size_t)n * 8);
		for (int64_t i = 0; i < n; i++) {
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			v[i] = (((double)(rng >> 11) / 9007199254740992.0) * 6 - 3) * (c->amp ? c->amp : 1);
		}
		ts[k].data = malloc((size_t)n * mp_dtype_size(low));
		mp_dtype_convert(MP_F64, v, low, ts[k].data, (size_t)n);
		free(v);
	}
	if (mp_batch_from_tensors("random", 3, tn, ts, true, &b, &e)) {
		snprintf(why, sizeof why, "batch: %.300s", e.msg);
		goto out;
	}
	if (!run(path, gpu, c->policy, false, false, b, &got, &groups, &members, why, sizeof why) ||
	    !run(path, cpu, c->policy, true, false, b, &want, &g2, &m2, why, sizeof why) ||
	    !run(path, gpu, c->policy, false, true, b, &nodes, &g3, &m2, why, sizeof why))
		goto out;
	double nmse, ulps, nmse2, ulps2;
	/* the transposes, the scalings, the GEMMs and the Softmax: the bias
	 * Adds and Reshapes run as nodes before */
	size_t want_members = c->layout == BIAS ? 9 : members;
	if ((int)groups != c->want_groups) {
		snprintf(why, sizeof why, "%zu attention groups, not %d", groups, c->want_groups);
	} else if (members != want_members) {
		snprintf(why, sizeof why, "%zu nodes in the attention group, not %zu", members, want_members);
	} else if (g3) {
		snprintf(why, sizeof why, "no_fused_attention still made %zu groups", g3);
	} else if (!mp_test_nmse(&got, &want, &nmse, &ulps)) {
		snprintf(why, sizeof why, "NaN or Inf where the CPU has none, or the reverse");
	} else if (!(nmse <= limit_of(got.dtype))) {
		snprintf(why, sizeof why, "NMSE %.3g > %.3g against the CPU", nmse, limit_of(got.dtype));
	} else {
		mp_test_nmse(&got, &nodes, &nmse2, &ulps2);
		printf("# %s %s [%lld,%lld,%lld,%lld,%lld,%lld] %s: NMSE %.3g vs the CPU; vs CUDA node by node "
		       "NMSE %.3g, at most %.1f ulp\n", names[c->layout], c->policy, (long long)c->b, (long long)c->h,
		       (long long)c->t, (long long)c->s, (long long)c->d, (long long)c->dv, mp_dtype_name(got.dtype),
		       nmse, nmse2, ulps2);
		ok = true;
	}
out:
	printf("%s %d - attention %s %s [b %lld h %lld t %lld s %lld d %lld dv %lld]%s%s\n", ok ? "ok" : "not ok",
	       ++*tap, names[c->layout], c->policy, (long long)c->b, (long long)c->h, (long long)c->t,
	       (long long)c->s, (long long)c->d, (long long)c->dv, ok ? "" : ": ", why);
	mp_tensor_reset(&got);
	mp_tensor_reset(&want);
	mp_tensor_reset(&nodes);
	mp_batch_free(b);
	for (int k = 0; k < 3; k++)
		free(ts[k].data);
	free(path);
	return !ok;
}

int main(void)
{
	int rc = mp_test_open_gpu(&gpu, &cpu);
	if (rc >= 0)
		return rc;
	mp_backend_cuda_set_attention_min_blocks(gpu, 0); /* the kernel at every size */
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
