/* test_policy_models.c - precision policies on ../shared/models, against what
 * PyTorch did:
 *  - under bf16-autocast, the dtype of each module's output is the one
 *    PyTorch's CUDA autocast produced (module_stats_batch_000.json), and
 *    the fp32 statistics of those outputs are PyTorch's fp32 figures;
 *  - the two failures of the design page stop where PyTorch raised, with
 *    its words, and run with --on-mismatch cast;
 *  - the plan's dtypes are the dtypes the executor computes in, under every
 *    policy, and weight conversions record their rounding error as a
 *    float64 recomputation finds it;
 *  - autocast and pure bf16 outputs are near PyTorch's. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "batch.h"
#include "cmocka_tap.h"
#include "exec.h"
#include "graph.h"
#include "probes.h"
#include "safetensors.h"
#include "testutil.h"

static char *models;
static struct mp_backend *cpu, *dev; /* the host, and the backend under test (MPDBG_TEST_DEVICE) */

struct run {
	struct mp_graph *g;
	struct mp_batch *b;
	struct mp_exec *x;
	struct mp_policy p;
	struct mp_probes *probes;       /* when asked for */
	struct mp_probe_batch *results;
	enum mp_status st;
	struct mp_error e;
};

/* Runs batch `bi` of the shared batches through `file` under a policy;
 * keeps every value. */
static void run_model_probed(struct run *r, const char *file, const char *policy, const char *on_mismatch,
                             size_t bi, bool probes);

static void run_model(struct run *r, const char *file, const char *policy, const char *on_mismatch,
                      size_t bi)
{
	run_model_probed(r, file, policy, on_mismatch, bi, false);
}

static void run_model_probed(struct run *r, const char *file, const char *policy, const char *on_mismatch,
                             size_t bi, bool probes)
{
	char *mp = mp_test_join(models, file), *bp = mp_test_join(models, "batches");
	struct mp_batch_source *src;
	struct mp_error e = { 0 };

	memset(r, 0, sizeof *r);
	assert_int_equal(mp_graph_load(mp, &r->g, &e), MP_OK);
	assert_int_equal(mp_policy_set_base(&r->p, policy, &e), MP_OK);
	if (on_mismatch)
		assert_int_equal(mp_policy_set_on_mismatch(&r->p, on_mismatch, &e), MP_OK);
	assert_int_equal(mp_batch_source_open_glob(bp, "batch_*.safetensors", &src, &e), MP_OK);
	assert_int_equal(mp_batch_load(src, bi, &r->b, &e), MP_OK);
	struct mp_exec_options o = { .keep_values = true, .policy = &r->p };
	assert_int_equal(mp_exec_new(r->g, dev, cpu, &o, &r->x, &e), MP_OK);
	if (probes) {
		struct mp_probe_options po;
		mp_probe_options_init(&po);
		assert_int_equal(mp_probes_new(r->g, dev, cpu, &r->p, &po, &r->probes, &e), MP_OK);
		mp_probes_attach(r->probes, r->x, NULL, NULL);
	}
	if (mp_exec_begin(r->x, r->b, &e) || (probes && mp_probes_begin(r->probes, r->x, r->b, bi, &e)))
		fail_msg("%s under %s: %s", file, policy, e.msg);
	r->st = mp_exec_run(r->x, &r->e);
	if (probes && mp_probes_end(r->probes, &r->results, &e))
		fail_msg("%s", e.msg);
	mp_batch_source_free(src);
	free(mp);
	free(bp);
}

static void run_free(struct run *r)
{
	mp_probe_batch_free(r->results);
	mp_probes_free(r->probes);
	mp_exec_free(r->x);
	mp_batch_free(r->b);
	mp_graph_free(r->g);
	mp_policy_free(&r->p);
}

static int32_t module_by_path(const struct mp_graph *g, const char *path)
{
	for (size_t i = 0; i < mp_graph_nmodules(g); i++)
		if (!strcmp(mp_graph_module(g, i)->path, path))
			return (int32_t)i;
	return -1;
}

static bool inside(const struct mp_graph *g, int32_t m, int32_t ancestor)
{
	for (; m >= 0; m = mp_graph_module(g, (size_t)m)->parent)
		if (m == ancestor)
			return true;
	return false;
}

/* The last node of module m's subtree (execution order) whose first output
 * has `ndim` dims equal to `shape` (any output when shape is NULL). */
static int32_t last_node_of(const struct mp_exec *x, const struct mp_graph *g, int32_t m, const json_t *shape)
{
	for (size_t i = mp_graph_nnodes(g); i-- > 0;) {
		const struct mp_node *n = mp_graph_node(g, i);
		if (!inside(g, n->module, m) || n->noutputs < 1 || n->outputs[0] < 0)
			continue;
		if (!shape)
			return (int32_t)i;
		const struct mp_value_info *vi = mp_exec_value_info(x, n->outputs[0]);
		bool same = vi->ndim == (int)json_array_size(shape);
		for (int d = 0; same && d < vi->ndim; d++)
			same = vi->dims[d] == json_integer_value(json_array_get(shape, (size_t)d));
		if (same)
			return (int32_t)i;
	}
	return -1;
}

static json_t *load_module_stats(void)
{
	char *p = mp_test_join(models, "module_stats_batch_000.json");
	json_error_t je;
	json_t *root = json_load_file(p, 0, &je);
	if (!root)
		fail_msg("%s: %s", p, je.text);
	free(p);
	return root;
}

/* The output dtype of the last node of each module, under bf16-autocast,
 * is the dtype PyTorch's CUDA autocast gave that module's output. */
static void check_autocast_trace(const char *file)
{
	struct run r;
	json_t *root = load_module_stats(), *list = json_object_get(root, "autocast_bf16_cuda");
	size_t i, checked = 0, without_nodes = 0;
	json_t *m;

	run_model(&r, file, "bf16-autocast", NULL, 0);
	assert_int_equal(r.st, MP_OK);
	json_array_foreach(list, i, m) {
		const char *path = json_string_value(json_object_get(m, "module"));
		const char *want = json_string_value(json_object_get(m, "dtype"));
		int32_t mi = module_by_path(r.g, path);
		if (mi < 0 || mp_graph_module(r.g, (size_t)mi)->nnodes_total == 0) {
			without_nodes++; /* Dropout, Identity: nothing exported */
			continue;
		}
		int32_t ni = last_node_of(r.x, r.g, mi, NULL);
		assert_true(ni >= 0);
		const struct mp_node *n = mp_graph_node(r.g, (size_t)ni);
		enum mp_dtype got = mp_exec_value_info(r.x, n->outputs[0])->dtype;
		if (got != mp_dtype_from_name(want))
			fail_msg("%s: module %s (%s): last node '%s' gives %s, PyTorch's autocast gave %s", file, path,
			         json_string_value(json_object_get(m, "type")), n->name, mp_dtype_name(got), want);
		assert_int_equal(got, mp_plan_value_dtype(mp_exec_plan(r.x), n->outputs[0]));
		checked++;
	}
	printf("# %s: %zu modules match PyTorch's autocast dtypes (%zu have no nodes)\n", file, checked, without_nodes);
	assert_true(checked >= 35);
	run_free(&r);
	json_decref(root);
}

static void test_autocast_trace_ts(void **state)
{
	(void)state;
	check_autocast_trace("handpose_ts.onnx");
}

static void test_autocast_trace_dynamo(void **state)
{
	(void)state;
	check_autocast_trace("handpose_dynamo.onnx");
}

struct stats {
	double min, max, mean, std, absmax;
};

/* In float64, independently of the probes. */
static struct stats stats_of(const struct mp_tensor *t)
{
	struct stats s = { INFINITY, -INFINITY, 0, 0, 0 };
	int64_t n = mp_tensor_numel(t);
	double sum = 0, sq = 0;
	double *v = malloc((size_t)n * sizeof *v);
	assert_non_null(v);
	assert_true(mp_tensor_is_contiguous(t));
	mp_dtype_traits(t->dtype)->load_f64(t->data, 1, v, (size_t)n);
	for (int64_t i = 0; i < n; i++) {
		s.min = fmin(s.min, v[i]);
		s.max = fmax(s.max, v[i]);
		s.absmax = fmax(s.absmax, fabs(v[i]));
		sum += v[i];
	}
	s.mean = sum / (double)n;
	for (int64_t i = 0; i < n; i++)
		sq += (v[i] - s.mean) * (v[i] - s.mean);
	s.std = sqrt(sq / (double)n);
	free(v);
	return s;
}

static void close_to(const char *what, const char *path, double got, double want, double scale)
{
	double tol = 1e-4 * fmax(fabs(want), scale);
	if (!(fabs(got - want) <= tol))
		fail_msg("module %s: %s is %.9g, PyTorch fp32 says %.9g (|diff| %.3g > %.3g)", path, what, got, want,
		         fabs(got - want), tol);
}

/* fp32: the statistics the probes took of each module's output are
 * PyTorch's fp32 figures, to 1e-4 relative (the mean relative to the
 * tensor's spread, since it can be ~0), and a float64 recomputation's. */
static void check_fp32_stats(const char *file)
{
	struct run r;
	json_t *root = load_module_stats(), *list = json_object_get(root, "fp32_cpu");
	size_t i, checked = 0;
	json_t *m;

	run_model_probed(&r, file, "fp32", NULL, 0, true);
	assert_int_equal(r.st, MP_OK);
	json_array_foreach(list, i, m) {
		const char *path = json_string_value(json_object_get(m, "module"));
		int32_t mi = module_by_path(r.g, path);
		if (mi < 0 || mp_graph_module(r.g, (size_t)mi)->nnodes_total == 0)
			continue;
		int32_t ni = last_node_of(r.x, r.g, mi, json_object_get(m, "shape"));
		if (ni < 0)
			fail_msg("%s: module %s has no node with output shape as PyTorch's", file, path);
		const struct mp_node *n = mp_graph_node(r.g, (size_t)ni);
		struct mp_tensor host;
		struct mp_error fe = { 0 };
		assert_int_equal(mp_exec_fetch(r.x, n->outputs[0], &host, &fe), MP_OK);
		const struct mp_tensor *t = &host;
		assert_int_equal(t->dtype, MP_F32);
		const struct mp_probe_record *rec = mp_probe_batch_find(r.results, n->outputs[0]);
		assert_non_null(rec);
		const struct mp_stats_acc *ps = &rec->stats;
		double std = json_real_value(json_object_get(m, "std"));
		close_to("min", path, ps->min, json_real_value(json_object_get(m, "min")), 0);
		close_to("max", path, ps->max, json_real_value(json_object_get(m, "max")), 0);
		close_to("mean", path, ps->mean, json_real_value(json_object_get(m, "mean")), std);
		close_to("std", path, mp_stats_std(ps), std, 0);
		close_to("absmax", path, ps->absmax, json_real_value(json_object_get(m, "absmax")), 0);
		assert_int_equal(ps->nan, json_integer_value(json_object_get(m, "nan")));
		assert_int_equal(ps->posinf + ps->neginf, json_integer_value(json_object_get(m, "inf")));
		/* and what float64 makes of the same tensor */
		struct stats s = stats_of(t);
		assert_true(ps->min == s.min && ps->max == s.max && ps->absmax == s.absmax);
		assert_true(fabs(ps->mean - s.mean) <= 1e-12 * fmax(fabs(s.mean), s.std));
		assert_true(fabs(mp_stats_std(ps) - s.std) <= 1e-12 * s.std);
		mp_tensor_reset(&host);
		checked++;
	}
	printf("# %s: fp32 statistics of %zu module outputs match PyTorch's to 1e-4\n", file, checked);
	assert_true(checked >= 35);
	run_free(&r);
	json_decref(root);
}

static void test_fp32_stats_ts(void **state)
{
	(void)state;
	check_fp32_stats("handpose_ts.onnx");
}

static void test_fp32_stats_dynamo(void **state)
{
	(void)state;
	check_fp32_stats("handpose_dynamo.onnx");
}

static size_t node_named(const struct mp_graph *g, const char *name)
{
	for (size_t i = 0; i < mp_graph_nnodes(g); i++)
		if (!strcmp(mp_graph_node(g, i)->name, name))
			return i;
	fail_msg("no node '%s'", name);
	return 0;
}

static void expect_in(const char *msg, const char *phrase)
{
	if (!strstr(msg, phrase))
		fail_msg("message lacks '%s':\n%s", phrase, msg);
}

/* Pure bf16 stops at the projection MatMul: bf16 joints x F32 intrinsics. */
static void test_bf16_stops_at_projection(void **state)
{
	(void)state;
	struct run r;
	run_model(&r, "handpose_ts.onnx", "bf16", NULL, 0);
	assert_int_equal(r.st, MP_ERR_MISMATCH);
	size_t mm = node_named(r.g, "/MatMul");
	assert_int_equal(mp_exec_position(r.x), mm); /* stopped before it */
	assert_null(mp_exec_value(r.x, mp_graph_node(r.g, mm)->outputs[0]));
	assert_true(mp_exec_decision(r.x, mm)->blocked);
	assert_int_equal(mp_plan_first_blocked(mp_exec_plan(r.x)), (int32_t)mm);
	expect_in(r.e.msg, "dtype mismatch at node '/MatMul' (MatMul) in module (model), under policy bf16");
	expect_in(r.e.msg, "input 0 'joints_3d' is bfloat16: output of node '/Add' (Add) in module (model)");
	expect_in(r.e.msg, "input 1 '/Transpose_output_0' is float32: graph input 'camera_intrinsics' (float32, from ");
	expect_in(r.e.msg, "batches/batch_000.safetensors) through Transpose '/Transpose'");
	expect_in(r.e.msg, "PyTorch: RuntimeError: expected scalar type BFloat16 but found Float");
	/* the manifest holds what PyTorch raised */
	char *mf = mp_test_join(models, "manifest.json");
	json_t *man = json_load_file(mf, 0, NULL);
	assert_non_null(man);
	const char *dumped = json_dumps(man, 0);
	assert_non_null(strstr(dumped, "expected scalar type BFloat16 but found Float"));
	free((void *)dumped);
	json_decref(man);
	free(mf);
	/* everything before it ran in bf16, the weights converted once */
	size_t nweights = 0;
	for (size_t k = 0; k < mp_exec_nevents(r.x); k++) {
		struct mp_dtype_event ev;
		mp_exec_event(r.x, k, &ev);
		if (ev.reason == MP_CAST_WEIGHT) {
			assert_int_equal(ev.to, MP_BF16);
			nweights++;
		}
	}
	assert_int_equal(nweights, 24);
	run_free(&r);
}

/* fp32 with --on-mismatch error: the dynamo export feeds the BF16 image
 * straight into the patch-embedding Conv; the TorchScript export casts it
 * first, and runs. */
static void test_fp32_error_stops_dynamo_not_ts(void **state)
{
	(void)state;
	struct run r;
	run_model(&r, "handpose_dynamo.onnx", "fp32", "error", 0);
	assert_int_equal(r.st, MP_ERR_MISMATCH);
	const struct mp_node *conv = mp_graph_node(r.g, mp_exec_position(r.x));
	assert_string_equal(conv->op_type, "Conv");
	assert_string_equal(mp_graph_module(r.g, (size_t)conv->module)->path,
	                    "backbone.embeddings.patch_embeddings.projection");
	expect_in(r.e.msg, "input 0 'image' is bfloat16: graph input 'image' (bfloat16, from ");
	expect_in(r.e.msg, "is float32: weight 'backbone.embeddings.patch_embeddings.projection.weight' (float32)");
	expect_in(r.e.msg, "PyTorch: RuntimeError: Input type (c10::BFloat16) and bias type (float) should be the same");
	run_free(&r);

	run_model(&r, "handpose_ts.onnx", "fp32", "error", 0);
	if (r.st)
		fail_msg("%s", r.e.msg);
	bool seen = false;
	for (size_t k = 0; k < mp_exec_nevents(r.x); k++) {
		struct mp_dtype_event ev;
		mp_exec_event(r.x, k, &ev);
		if (ev.node >= 0 && !strcmp(mp_graph_node(r.g, (size_t)ev.node)->name, "/backbone/embeddings/Cast")) {
			assert_int_equal(ev.from, MP_BF16);
			assert_int_equal(ev.to, MP_F32);
			assert_int_equal(ev.reason, MP_CAST_GRAPH);
			assert_string_equal(mp_graph_value(r.g, (size_t)ev.value)->name, "image");
			seen = true;
		}
		assert_true(ev.reason != MP_CAST_MISMATCH && ev.reason != MP_CAST_BLOCKED);
	}
	assert_true(seen);
	run_free(&r);
}

static double max_diff_vs_ref(const struct run *r, size_t bi, const char *key, const char *out)
{
	char name[64], *rp;
	struct mp_st_file *ref;
	struct mp_error e = { 0 };
	snprintf(name, sizeof name, "batches/ref_%03zu.safetensors", bi);
	rp = mp_test_join(models, name);
	assert_int_equal(mp_st_open(rp, &ref, &e), MP_OK);
	const struct mp_st_entry *want = mp_st_find(ref, key);
	struct mp_tensor gt;
	assert_int_equal(mp_exec_fetch(r->x, mp_graph_find_value(r->g, out), &gt, &e), MP_OK);
	const struct mp_tensor *got = &gt;
	assert_non_null(want);
	int64_t n = mp_tensor_numel(got);
	assert_int_equal(n, mp_tensor_numel(&want->t));
	double *a = malloc((size_t)n * 8), *b = malloc((size_t)n * 8), worst = 0;
	mp_dtype_traits(got->dtype)->load_f64(got->data, 1, a, (size_t)n);
	mp_dtype_traits(want->dtype)->load_f64(want->t.data, 1, b, (size_t)n);
	for (int64_t i = 0; i < n; i++)
		if (!(fabs(a[i] - b[i]) <= worst))
			worst = fabs(a[i] - b[i]);
	free(a);
	free(b);
	mp_tensor_reset(&gt);
	mp_st_close(ref);
	free(rp);
	return worst;
}

/* --on-mismatch cast: both run and record the cast; the results are
 * onnxruntime's (fp32) and near PyTorch's pure bf16 model (whose
 * intrinsics were cast to bf16 by hand, as the cast here does). */
static void test_cast_runs_both(void **state)
{
	(void)state;
	struct run r;
	for (size_t bi = 0; bi < 4; bi++) {
		run_model(&r, "handpose_dynamo.onnx", "fp32", "cast", bi);
		if (r.st)
			fail_msg("%s", r.e.msg);
		struct mp_dtype_event ev;
		mp_exec_event(r.x, 0, &ev);
		assert_int_equal(ev.reason, MP_CAST_MISMATCH);
		assert_int_equal(ev.from, MP_BF16);
		assert_int_equal(ev.to, MP_F32);
		double d3 = max_diff_vs_ref(&r, bi, "dynamo.joints_3d", "joints_3d");
		double d2 = max_diff_vs_ref(&r, bi, "dynamo.joints_2d", "joints_2d");
		printf("# dynamo fp32 cast, batch %zu: vs onnxruntime joints_3d %.3g, joints_2d %.3g px\n", bi, d3, d2);
		assert_true(d3 <= 1e-4 && d2 <= 0.05);
		run_free(&r);

		run_model(&r, "handpose_ts.onnx", "bf16", "cast", bi);
		if (r.st)
			fail_msg("%s", r.e.msg);
		size_t mm = node_named(r.g, "/MatMul"), found = 0;
		for (size_t k = 0; k < mp_exec_nevents(r.x); k++) {
			mp_exec_event(r.x, k, &ev);
			if (ev.reason == MP_CAST_MISMATCH) {
				assert_int_equal(ev.node, (int32_t)mm);
				assert_int_equal(ev.slot, 1);
				assert_int_equal(ev.from, MP_F32);
				assert_int_equal(ev.to, MP_BF16);
				found++;
			}
		}
		assert_int_equal(found, 1);
		d3 = max_diff_vs_ref(&r, bi, "torch_pure_bf16.joints_3d", "joints_3d");
		d2 = max_diff_vs_ref(&r, bi, "torch_pure_bf16.joints_2d", "joints_2d");
		printf("# ts bf16 cast, batch %zu: vs PyTorch pure bf16 joints_3d %.3g, joints_2d %.3g px\n", bi, d3, d2);
		/* two bf16 computations of a 7-deep network: a few bf16 ulps apart */
		assert_true(d3 <= 0.008 && d2 <= 0.5); /* 2 bf16 ulps */
		run_free(&r);
	}
}

/* bf16-autocast against PyTorch's CUDA autocast. */
static void test_autocast_vs_torch(void **state)
{
	(void)state;
	static const char *const files[] = { "handpose_ts.onnx", "handpose_dynamo.onnx" };
	for (int f = 0; f < 2; f++)
		for (size_t bi = 0; bi < 4; bi++) {
			struct run r;
			run_model(&r, files[f], "bf16-autocast", NULL, bi);
			if (r.st)
				fail_msg("%s", r.e.msg);
			double d3 = max_diff_vs_ref(&r, bi, "torch_autocast_bf16.joints_3d", "joints_3d");
			double d2 = max_diff_vs_ref(&r, bi, "torch_autocast_bf16.joints_2d", "joints_2d");
			double f3 = max_diff_vs_ref(&r, bi, "torch_fp32.joints_3d", "joints_3d");
			printf("# %s bf16-autocast, batch %zu: vs PyTorch autocast joints_3d %.3g, joints_2d %.3g px"
			       " (vs fp32: %.3g)\n", files[f], bi, d3, d2, f3);
			assert_true(d3 <= 0.008 && d2 <= 0.5); /* 2 bf16 ulps */
			run_free(&r);
		}
}

/* Under every policy, each value the executor computes has the dtype the
 * plan gave it. */
static void test_plan_is_what_runs(void **state)
{
	(void)state;
	static const char *const files[] = { "handpose_ts.onnx", "handpose_dynamo.onnx" };
	static const char *const policies[] = { "fp32", "bf16-autocast", "bf16", "fp16-autocast", "fp16" };
	for (int f = 0; f < 2; f++)
		for (int p = 0; p < 5; p++) {
			struct run r;
			run_model(&r, files[f], policies[p], "cast", 0);
			if (r.st)
				fail_msg("%s under %s: %s", files[f], policies[p], r.e.msg);
			const struct mp_plan *pl = mp_exec_plan(r.x);
			size_t n = 0;
			for (size_t i = 0; i < mp_graph_nnodes(r.g); i++) {
				const struct mp_node *nd = mp_graph_node(r.g, i);
				for (int k = 0; k < nd->noutputs; k++) {
					const struct mp_tensor *t = mp_exec_value(r.x, nd->outputs[k]);
					if (!t)
						continue;
					if (t->dtype != mp_plan_value_dtype(pl, nd->outputs[k]))
						fail_msg("%s under %s: node '%s' made %s, the plan says %s", files[f], policies[p],
						         nd->name, mp_dtype_name(t->dtype),
						         mp_dtype_name(mp_plan_value_dtype(pl, nd->outputs[k])));
					n++;
				}
			}
			assert_true(n > 90);
			run_free(&r);
		}
}

/* Round to nearest even, from the bits (independent of the library). */
static double to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
	memcpy(&f, &u, 4);
	return f;
}

/* Each weight conversion carries its rounding error: a float64
 * recomputation from the model's own bytes finds the same. */
static void test_weight_rounding_recorded(void **state)
{
	(void)state;
	struct run r;
	run_model(&r, "handpose_ts.onnx", "bf16", "cast", 0);
	assert_int_equal(r.st, MP_OK);
	size_t checked = 0;
	for (size_t k = 0; k < mp_exec_nevents(r.x); k++) {
		struct mp_dtype_event ev;
		mp_exec_event(r.x, k, &ev);
		if (ev.reason != MP_CAST_WEIGHT)
			continue;
		const struct mp_value *v = mp_graph_value(r.g, (size_t)ev.value);
		assert_non_null(v->data);
		assert_int_equal(v->data->dtype, MP_F32);
		double ea = 0, er = 0;
		for (int64_t i = 0; i < mp_tensor_numel(v->data); i++) {
			float f;
			memcpy(&f, (const char *)v->data->data + 4 * i, 4);
			double d = fabs((double)f - to_bf16(f));
			ea = fmax(ea, d);
			if (f != 0)
				er = fmax(er, d / fabs((double)f));
		}
		if (ev.max_abs != ea || ev.max_rel != er)
			fail_msg("weight '%s': recorded %.9g / %.9g, recomputed %.9g / %.9g", v->name, ev.max_abs, ev.max_rel,
			         ea, er);
		assert_true(er <= 1.0 / 256); /* half a bf16 ulp */
		checked++;
	}
	assert_int_equal(checked, 24);
	run_free(&r);
}

int main(void)
{
	models = mp_test_shared_path("models");
	if (!models) {
		printf("1..0 # SKIP ../shared/models is not beside the checkout\n");
		return 0;
	}
	struct mp_error e = { 0 };
	const char *why;
	if (!(dev = mp_test_device_backend(0, &why))) {
		printf("1..0 # SKIP %s\n", why);
		free(models);
		return 0;
	}
	if (mp_backend_cpu_new(0, &cpu, &e)) {
		fprintf(stderr, "%s\n", e.msg);
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_autocast_trace_ts),
		cmocka_unit_test(test_autocast_trace_dynamo),
		cmocka_unit_test(test_fp32_stats_ts),
		cmocka_unit_test(test_fp32_stats_dynamo),
		cmocka_unit_test(test_bf16_stops_at_projection),
		cmocka_unit_test(test_fp32_error_stops_dynamo_not_ts),
		cmocka_unit_test(test_cast_runs_both),
		cmocka_unit_test(test_autocast_vs_torch),
		cmocka_unit_test(test_plan_is_what_runs),
		cmocka_unit_test(test_weight_rounding_recorded),
	};
	int rc = MP_RUN_TESTS(tests);
	mp_backend_free(dev);
	mp_backend_free(cpu);
	free(models);
	return rc;
}
