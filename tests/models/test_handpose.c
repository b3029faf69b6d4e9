/* test_handpose.c - reference checks on ../shared/models: both PyTorch
 * exports of the hand-pose model run all 4 batches and match onnxruntime's
 * outputs (joints_2d within 0.05 px, joints_3d within 1e-4), and their
 * module trees have the shape of the PyTorch model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "batch.h"
#include "cmocka_tap.h"
#include "exec.h"
#include "graph.h"
#include "policy.h"
#include "safetensors.h"
#include "testutil.h"

static char *models;
static struct mp_backend *dev; /* the backend under test (MPDBG_TEST_DEVICE) */

static double max_abs_diff(const struct mp_tensor *a, const struct mp_tensor *b)
{
	int64_t n = mp_tensor_numel(a);
	double worst = 0;
	assert_int_equal(n, mp_tensor_numel(b));
	for (int64_t i = 0; i < n; i++) {
		double x, y;
		mp_dtype_traits(a->dtype)->load_f64((const char *)a->data + i * 4, 1, &x, 1);
		mp_dtype_traits(b->dtype)->load_f64((const char *)b->data + i * 4, 1, &y, 1);
		if (!(fabs(x - y) <= worst))
			worst = fabs(x - y);
	}
	return worst;
}

static void check_export(const char *file, const char *prefix)
{
	char *mp = mp_test_join(models, file), *bp = mp_test_join(models, "batches");
	struct mp_graph *g;
	struct mp_backend *cpu;
	struct mp_batch_source *src;
	struct mp_exec *x;
	struct mp_error e = { 0 };

	assert_int_equal(mp_graph_load(mp, &g, &e), MP_OK);
	assert_int_equal(mp_backend_cpu_new(0, &cpu, &e), MP_OK);
	assert_int_equal(mp_batch_source_open_glob(bp, "batch_*.safetensors", &src, &e), MP_OK);
	assert_int_equal(mp_batch_source_count(src), 4);
	assert_int_equal(mp_exec_new(g, dev, cpu, NULL, &x, &e), MP_OK);
	for (size_t i = 0; i < 4; i++) {
		struct mp_batch *b;
		char refname[64];
		assert_int_equal(mp_batch_load(src, i, &b, &e), MP_OK);
		if (mp_exec_begin(x, b, &e) || mp_exec_run(x, &e))
			fail_msg("%s batch %zu: %s", file, i, e.msg);
		snprintf(refname, sizeof refname, "ref_%03zu.safetensors", i);
		char *rp = mp_test_join(bp, refname);
		struct mp_st_file *ref;
		assert_int_equal(mp_st_open(rp, &ref, &e), MP_OK);
		static const struct { const char *name; double tol; } outs[] = {
			{ "joints_3d", 1e-4 }, { "joints_2d", 0.05 },
		};
		for (int k = 0; k < 2; k++) {
			char key[64];
			snprintf(key, sizeof key, "%s.%s", prefix, outs[k].name);
			const struct mp_st_entry *want = mp_st_find(ref, key);
			struct mp_tensor gt;
			assert_int_equal(mp_exec_fetch(x, mp_graph_find_value(g, outs[k].name), &gt, &e), MP_OK);
			const struct mp_tensor *got = &gt;
			assert_non_null(want);
			assert_int_equal(got->ndim, want->ndim);
			for (int d = 0; d < got->ndim; d++)
				assert_true(got->shape[d] == want->shape[d]);
			double diff = max_abs_diff(got, &want->t);
			mp_tensor_reset(&gt);
			printf("# %s batch %zu %s on %s: max |mpdbg - onnxruntime| = %.3g (limit %g)\n", file, i,
			       outs[k].name, dev->iface->name, diff, outs[k].tol);
			if (!(diff <= outs[k].tol))
				fail_msg("%s batch %zu %s differs from onnxruntime by %g", file, i, outs[k].name, diff);
		}
		mp_st_close(ref);
		free(rp);
		mp_batch_free(b);
	}
	mp_exec_free(x);
	mp_batch_source_free(src);
	mp_backend_free(cpu);
	mp_graph_free(g);
	free(mp);
	free(bp);
}

/* Runs batch b on x and fetches both outputs to the host. */
static void run_fetch(struct mp_exec *x, const struct mp_graph *g, const struct mp_batch *b, bool again,
                      struct mp_tensor out[2])
{
	struct mp_error e = { 0 };
	if ((again ? mp_exec_restart(x, &e) : mp_exec_begin(x, b, &e)) || mp_exec_run(x, &e))
		fail_msg("%s", e.msg);
	assert_int_equal(mp_exec_fetch(x, mp_graph_find_value(g, "joints_3d"), &out[0], &e), MP_OK);
	assert_int_equal(mp_exec_fetch(x, mp_graph_find_value(g, "joints_2d"), &out[1], &e), MP_OK);
}

/* Batches of one shape after another, a smaller batch between, a batch run
 * twice: the executor that binds fast, plans memory, replays graphs and takes
 * the shortcuts its backend allows gives the same bits as a literal one
 * that does none of it.  Attention as one kernel sums its GEMMs in an order
 * of its own, so it is off here and checked by test_attention_groups. */
static void check_repeats(const char *file, const char *policy)
{
	char *mp = mp_test_join(models, file), *bp = mp_test_join(models, "batches");
	struct mp_graph *g;
	struct mp_backend *cpu;
	struct mp_batch_source *src;
	struct mp_batch *bs[4], *half;
	struct mp_exec *fast, *plain;
	struct mp_policy pol = { 0 };
	struct mp_error e = { 0 };
	struct mp_tensor halves[4];
	const char *names[4];

	assert_int_equal(mp_graph_load(mp, &g, &e), MP_OK);
	assert_int_equal(mp_backend_cpu_new(0, &cpu, &e), MP_OK);
	assert_int_equal(mp_policy_set_base(&pol, policy, &e), MP_OK);
	assert_int_equal(mp_policy_set_on_mismatch(&pol, "cast", &e), MP_OK); /* pure bf16 meets f32 intrinsics */
	assert_int_equal(mp_batch_source_open_glob(bp, "batch_*.safetensors", &src, &e), MP_OK);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(mp_batch_load(src, i, &bs[i], &e), MP_OK);
	/* the first two samples of batch 1 (only the TorchScript export has a
	 * dynamic batch axis) */
	size_t nh = mp_batch_count(bs[1]);
	for (size_t k = 0; k < nh; k++) {
		halves[k] = *mp_batch_tensor(bs[1], k);
		halves[k].buf = NULL;
		halves[k].shape[0] = 2;
		names[k] = mp_batch_tensor_name(bs[1], k);
	}
	assert_int_equal(mp_batch_from_tensors("half", nh, names, halves, false, &half, &e), MP_OK);
	bool dynamic = !strcmp(file, "handpose_ts.onnx");
	struct mp_exec_options fo = { .policy = &pol, .no_fused_attention = true },
	                       po = { .policy = &pol, .no_graphs = true, .no_memplan = true, .literal = true };
	assert_int_equal(mp_exec_new(g, dev, cpu, &fo, &fast, &e), MP_OK);
	assert_int_equal(mp_exec_new(g, dev, cpu, &po, &plain, &e), MP_OK);
	const struct mp_batch *order[] = { bs[0], bs[1], bs[2], bs[0], dynamic ? half : bs[3], bs[3], bs[1], bs[2], bs[2] };
	size_t nruns = sizeof order / sizeof order[0];
	for (size_t r = 0; r < nruns; r++) {
		struct mp_tensor a[2], b[2];
		bool again = r + 1 == nruns; /* the last: the bound batch once more */
		run_fetch(fast, g, order[r], again, a);
		run_fetch(plain, g, order[r], false, b);
		for (int k = 0; k < 2; k++) {
			assert_int_equal(mp_tensor_nbytes(&a[k]), mp_tensor_nbytes(&b[k]));
			if (memcmp(a[k].data, b[k].data, mp_tensor_nbytes(&a[k])))
				fail_msg("%s %s run %zu: output %d differs from the plain executor's", file, policy, r, k);
			mp_tensor_reset(&a[k]);
			mp_tensor_reset(&b[k]);
		}
	}
	struct mp_exec_stats st;
	mp_exec_get_stats(fast, &st);
	printf("# %s %s on %s: %zu of %zu binds fast, %zu planned runs, %zu captured, %zu replayed; arena %zu bytes "
	       "for %zu without reuse; %zu values narrowed; %zu nodes in %zu fused groups%s%s%s%s\n", file, policy,
	       dev->iface->name, st.fast_binds, st.binds, st.planned_runs, st.graph_captures, st.graph_replays,
	       st.arena_bytes, st.unplanned_bytes, st.narrowed, st.fused_nodes, st.fused_groups,
	       st.graph_note[0] ? "; " : "", st.graph_note, st.fusion_note[0] ? "; " : "", st.fusion_note);
	/* shapes change at runs 0 and, with the half batch, 4 and 5 */
	assert_int_equal(st.fast_binds, dynamic ? 5 : 7);
	assert_true(st.planned_runs >= (dynamic ? 4u : 6u));
	assert_true(st.arena_bytes > 0 && st.arena_bytes < st.unplanned_bytes);
	if (dev->iface->fused) {
		assert_string_equal(st.fusion_note, "");
		assert_true(st.fused_groups > 0);
	}
	if (dev->iface->graph_begin) {
		assert_string_equal(st.graph_note, "");
		assert_true(st.graph_captures >= 1 && st.graph_replays >= (dynamic ? 3u : 5u));
	}
	mp_exec_free(fast);
	mp_exec_free(plain);
	mp_batch_free(half);
	for (size_t i = 0; i < 4; i++)
		mp_batch_free(bs[i]);
	mp_batch_source_free(src);
	mp_policy_free(&pol);
	mp_backend_free(cpu);
	mp_graph_free(g);
	free(mp);
	free(bp);
}

static void test_repeats(void **state)
{
	(void)state;
	check_repeats("handpose_ts.onnx", "fp32");
	check_repeats("handpose_ts.onnx", "bf16-autocast");
	check_repeats("handpose_dynamo.onnx", "bf16");
}

/* With attention as one kernel (where the backend has it): the model's
 * attention blocks are found, and the outputs stay within bf16's NMSE limit
 * of the parity table of the nodes one by one, batch after batch. */
static void check_attention(const char *file, const char *policy, bool matches)
{
	char *mp = mp_test_join(models, file), *bp = mp_test_join(models, "batches");
	struct mp_graph *g;
	struct mp_backend *cpu;
	struct mp_batch_source *src;
	struct mp_exec *fast, *plain;
	struct mp_policy pol = { 0 };
	struct mp_error e = { 0 };

	assert_int_equal(mp_graph_load(mp, &g, &e), MP_OK);
	assert_int_equal(mp_backend_cpu_new(0, &cpu, &e), MP_OK);
	assert_int_equal(mp_policy_set_base(&pol, policy, &e), MP_OK);
	assert_int_equal(mp_policy_set_on_mismatch(&pol, "cast", &e), MP_OK);
	assert_int_equal(mp_batch_source_open_glob(bp, "batch_*.safetensors", &src, &e), MP_OK);
	struct mp_exec_options fo = { .policy = &pol }, po = { .policy = &pol, .literal = true, .no_graphs = true };
	assert_int_equal(mp_exec_new(g, dev, cpu, &fo, &fast, &e), MP_OK);
	assert_int_equal(mp_exec_new(g, dev, cpu, &po, &plain, &e), MP_OK);
	for (size_t i = 0; i < mp_batch_source_count(src); i++) {
		struct mp_batch *b;
		struct mp_tensor a[2], r[2];
		assert_int_equal(mp_batch_load(src, i, &b, &e), MP_OK);
		run_fetch(fast, g, b, false, a);
		run_fetch(plain, g, b, false, r);
		for (int k = 0; k < 2; k++) {
			double nmse;
			bool same_nan = mp_test_nmse(&a[k], &r[k], &nmse, NULL);
			printf("# %s %s batch %zu output %d: NMSE %.3g, attention as one kernel vs node by node\n", file,
			       policy, i, k, nmse);
			if (!same_nan || !(nmse <= 1e-4))
				fail_msg("%s %s batch %zu output %d: NMSE %g", file, policy, i, k, nmse);
			mp_tensor_reset(&a[k]);
			mp_tensor_reset(&r[k]);
		}
		mp_batch_free(b);
	}
	struct mp_exec_stats st;
	mp_exec_get_stats(fast, &st);
	printf("# %s %s on %s: %zu attention groups\n", file, policy, dev->iface->name, st.attention_groups);
	if (dev->iface->attention && matches) {
		assert_true(st.attention_groups > 0);
		assert_string_equal(st.fusion_note, "");
	}
	mp_exec_free(fast);
	mp_exec_free(plain);
	mp_batch_source_free(src);
	mp_policy_free(&pol);
	mp_backend_free(cpu);
	mp_graph_free(g);
	free(mp);
	free(bp);
}

static void test_attention_groups(void **state)
{
	(void)state;
	mp_backend_cuda_set_attention_min_blocks(dev, 0); /* a batch of 4 makes few blocks */
	check_attention("handpose_ts.onnx", "bf16-autocast", true);
	/* the dynamo exporter reshapes K^T after its transpose: not a layout
	 * the kernel reads, so its attention runs node by node */
	check_attention("handpose_dynamo.onnx", "bf16", false);
	mp_backend_cuda_set_attention_min_blocks(dev, -1);
}

static int32_t child_named(const struct mp_graph *g, int32_t parent, const char *name)
{
	for (int32_t c = mp_graph_module(g, (size_t)parent)->first_child; c >= 0;
	     c = mp_graph_module(g, (size_t)c)->next_sibling)
		if (!strcmp(mp_graph_module(g, (size_t)c)->name, name))
			return c;
	fail_msg("module '%s' has no child '%s'", mp_graph_module(g, (size_t)parent)->path, name);
	return -1;
}

static void check_tree(const char *file)
{
	char *mp = mp_test_join(models, file);
	struct mp_graph *g;
	struct mp_error e = { 0 };
	assert_int_equal(mp_graph_load(mp, &g, &e), MP_OK);
	int32_t backbone = child_named(g, 0, "backbone"), head = child_named(g, 0, "head");
	int32_t emb = child_named(g, backbone, "embeddings"), enc = child_named(g, backbone, "encoder");
	(void)emb;
	(void)head;
	for (int l = 0; l < 2; l++) {
		int32_t layer = child_named(g, enc, l ? "layer.1" : "layer.0");
		assert_string_equal(mp_graph_module(g, (size_t)layer)->path, l ? "backbone.encoder.layer.1" :
		                                                                  "backbone.encoder.layer.0");
		child_named(g, layer, "attention");
		child_named(g, layer, "mlp");
	}
	/* every node sits somewhere, and the root counts them all */
	assert_int_equal(mp_graph_module(g, 0)->nnodes_total, (int32_t)mp_graph_nnodes(g));
	mp_graph_free(g);
	free(mp);
}

static void test_shared_batch(void **state)
{
	(void)state;
	char *p = mp_test_join(models, "batches/batch_000.safetensors");
	struct mp_st_file *f;
	struct mp_error e = { 0 };
	assert_int_equal(mp_st_open(p, &f, &e), MP_OK);
	const struct mp_st_entry *img = mp_st_find(f, "image"), *k = mp_st_find(f, "camera_intrinsics");
	assert_non_null(img);
	assert_int_equal(img->dtype, MP_BF16);
	assert_int_equal(img->ndim, 4);
	assert_true(img->shape[0] == 4 && img->shape[1] == 3 && img->shape[2] == 112 && img->shape[3] == 112);
	assert_int_equal(k->dtype, MP_F32);
	mp_st_close(f);
	free(p);
}

static void test_ts(void **state)
{
	(void)state;
	check_export("handpose_ts.onnx", "ts");
}

static void test_dynamo(void **state)
{
	(void)state;
	check_export("handpose_dynamo.onnx", "dynamo");
}

static void test_trees(void **state)
{
	(void)state;
	check_tree("handpose_ts.onnx");
	check_tree("handpose_dynamo.onnx");
}

int main(void)
{
	models = mp_test_shared_path("models");
	if (!models) {
		printf("1..0 # SKIP ../shared/models is not beside the checkout\n");
		return 0;
	}
	const char *why;
	if (!(dev = mp_test_device_backend(0, &why))) {
		printf("1..0 # SKIP %s\n", why);
		free(models);
		return 0;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_batch),
		cmocka_unit_test(test_ts),
		cmocka_unit_test(test_dynamo),
		cmocka_unit_test(test_trees),
		cmocka_unit_test(test_repeats),
		cmocka_unit_test(test_attention_groups),
	};
	int rc = MP_RUN_TESTS(tests);
	mp_backend_free(dev);
	free(models);
	return rc;
}
