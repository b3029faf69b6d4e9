/* fuzz_runner.c - fuzz target: the ONNX runner.  A model that loads is run
 * on the CPU on inputs of its declared shapes (symbolic dims 1 to 3), with
 * values drawn from a generator seeded by a hash of the fuzz bytes, so
 * that index tensors (Gather, Scatter*, Slice starts, Reshape shapes, TopK
 * k...) take varied values, in and out of range: small integers around the
 * dims, negatives, and the extremes; floats with zeros, NaN, infinities
 * and subnormals (one input in four takes `run --synthetic`'s values
 * instead, mp_batch_synthesize).  The policy (fp32, bf16-autocast or
 * fp16) comes from the hash too.  Kernels must refuse what they cannot
 * compute, naming the node: never read or write outside a tensor. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend.h"
#include "batch.h"
#include "exec.h"
#include "fuzz_driver.h"
#include "graph.h"
#include "onnxw.h"
#include "policy.h"

enum { MAX_INPUTS = 16, MAX_INPUT_BYTES = 1 << 20 };

static uint64_t next(uint64_t *rng)
{
	*rng ^= *rng << 13;
	*rng ^= *rng >> 7;
	*rng ^= *rng << 17;
	return *rng;
}

static uint64_t fnv1a(const uint8_t *d, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ d[i]) * 0x100000001b3ull;
	return h | 1; /* xorshift must not start at 0 */
}

static int64_t index_value(uint64_t *rng)
{
	uint64_t r = next(rng);
	switch (r % 16) {
	case 0: return INT64_MAX;
	case 1: return INT64_MIN;
	case 2: return (int64_t)INT32_MAX + 1;
	case 3: return -(int64_t)(next(rng) % 9) - 1;
	default: return (int64_t)(next(rng) % 8); /* mostly in range of small dims */
	}
}

static float float_value(uint64_t *rng)
{
	uint64_t r = next(rng);
	switch (r % 32) {
	case 0: return NAN;
	case 1: return INFINITY;
	case 2: return -INFINITY;
	case 3: return 0.0f;
	case 4: return 1e-40f;
	case 5: return 3.0e38f;
	default: return (float)((int64_t)(next(rng) % 2001) - 1000) / 250.0f;
	}
}

/* One input's tensor, values into a malloc'd buffer; false when the model
 * declares nothing usable or too large an input. */
static bool make_input(const struct mp_value *v, uint64_t *rng, struct mp_tensor *t, void **buf)
{
	const struct mp_value_info *vi = &v->declared;
	int64_t dims[MP_MAX_DIMS];
	size_t nb;
	struct mp_error e = { 0 };
	if (!v->has_declared || vi->ndim < 0 || vi->ndim > MP_MAX_DIMS || !mp_dtype_computable(vi->dtype))
		return false;
	for (int d = 0; d < vi->ndim; d++)
		dims[d] = vi->dims[d] >= 0 ? vi->dims[d] : 1 + (int64_t)(next(rng) % 3);
	if (mp_shape_nbytes(vi->ndim, dims, vi->dtype, &nb, &e) || nb > MAX_INPUT_BYTES)
		return false;
	mp_tensor_init(t, vi->dtype, vi->ndim, dims);
	size_t n = (size_t)mp_tensor_numel(t);
	*buf = calloc(1, nb ? nb : 1);
	void *src = malloc(n ? n * 8 : 8);
	if (!*buf || !src) {
		free(src);
		return false;
	}
	bool is_float = mp_dtype_is_float(vi->dtype);
	for (size_t i = 0; i < n; i++) {
		if (is_float)
			((float *)src)[i] = float_value(rng);
		else
			((int64_t *)src)[i] = index_value(rng);
	}
	mp_dtype_convert(is_float ? MP_F32 : MP_I64, src, vi->dtype, *buf, n);
	free(src);
	t->data = *buf;
	return true;
}

static bool run(struct mp_graph *g, uint64_t rng)
{
	static const char *const policies[] = { "fp32", "bf16-autocast", "fp16" };
	struct mp_backend *cpu;
	struct mp_error e = { 0 };
	size_t ni = mp_graph_ninputs(g);
	if (ni > MAX_INPUTS || mp_backend_cpu_new(1, &cpu, &e))
		return false;
	struct mp_tensor ins[MAX_INPUTS];
	void *bufs[MAX_INPUTS] = { NULL };
	const char *names[MAX_INPUTS];
	bool ok = true, ran = false;
	for (size_t i = 0; i < ni && ok; i++) {
		const struct mp_value *v = mp_graph_value(g, (size_t)mp_graph_input(g, i));
		ok = make_input(v, &rng, &ins[i], &bufs[i]);
		names[i] = v->name;
	}
	struct mp_policy pol = { 0 };
	struct mp_batch *b = NULL;
	struct mp_exec *x = NULL;
	struct mp_exec_options opt = { .max_tensor_bytes = 64u << 20, .policy = &pol };
	/* one input in four through `run --synthetic`'s maker instead: its
	 * values stay in range ([0, 10), [-1, 1)), ours go beyond on purpose */
	struct mp_synth_options so = { .random = true, .seed = next(&rng), .max_bytes = MAX_INPUT_BYTES };
	bool synth = next(&rng) % 4 == 0;
	if (synth)
		ok = !mp_batch_synthesize(g, &so, 0, &b, &e);
	if (ok && !mp_policy_set_base(&pol, policies[next(&rng) % 3], &e) &&
	    (synth || !mp_batch_from_tensors("fuzz", ni, names, ins, false, &b, &e)) &&
	    !mp_exec_new(g, cpu, cpu, &opt, &x, &e) && !mp_exec_begin(x, b, &e))
		ran = !mp_exec_run(x, &e);
	if (!ran && getenv("MP_FUZZ_VERBOSE"))
		fprintf(stderr, "not run: %s\n", e.msg);
	mp_exec_free(x);
	mp_batch_free(b);
	mp_policy_free(&pol);
	for (size_t i = 0; i < ni; i++)
		free(bufs[i]);
	mp_backend_free(cpu);
	return ran;
}

static enum mp_fuzz_result one(const uint8_t *data, size_t size)
{
	char path[64];
	struct mp_error e = { 0 };
	int fd = memfd_create("runner", 0);
	if (fd < 0)
		return MP_FUZZ_REFUSED;
	enum mp_fuzz_result r = MP_FUZZ_REFUSED;
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	struct mp_graph *g;
	if ((!size || write(fd, data, size) == (ssize_t)size) && !mp_graph_load(path, &g, &e)) {
		r = run(g, fnv1a(data, size)) ? MP_FUZZ_RAN : MP_FUZZ_LOADED;
		mp_graph_free(g);
	} else if (getenv("MP_FUZZ_VERBOSE")) {
		fprintf(stderr, "refused: %s\n", e.msg);
	}
	close(fd);
	return r;
}

/* ---- seeds: index ops whose indices are graph inputs ---- */

static void io(struct pbw *g, bool input, const char *name, int dtype, int ndim, const int64_t *dims)
{
	static const char *const params[] = { "d0", "d1", "d2", "d3" };
	struct pbw vi = onnx_value_info(name, dtype, ndim, dims, params);
	if (input)
		onnx_graph_input(g, &vi);
	else
		onnx_graph_output(g, &vi);
}

/* The model, with a doc_string last: a mutation there leaves the model
 * as it was and changes only the hash, so the deterministic driver runs
 * each seed on many different input values. */
static void finish(struct pbw *g, uint8_t **out, size_t *size)
{
	struct pbw m = onnx_model(18, g);
	pbw_str(&m, 6, "values come from a hash of every byte of this file, this string too.");
	*out = m.d;
	*size = m.n;
}

static size_t seeds(const char *dir, uint8_t **out, size_t *sizes, size_t cap)
{
	(void)dir;
	size_t k = 0;
	struct pbw g, at[2];
	if (cap < 6)
		return 0;
	/* y = Gather(x, i, axis 1) */
	g = onnx_graph();
	io(&g, true, "x", MP_F32, 3, (int64_t[]){ 2, 3, 4 });
	io(&g, true, "i", MP_I64, 1, (int64_t[]){ 2 });
	io(&g, false, "y", MP_F32, 3, (int64_t[]){ 2, 2, 4 });
	at[0] = onnx_attr_int("axis", 1);
	onnx_graph_add_node(&g, "Gather", "gather", 2, (const char *[]){ "x", "i" }, "y", 1, at);
	finish(&g, &out[k], &sizes[k]), k++;
	/* y = GatherElements(x, i, axis 1) */
	g = onnx_graph();
	io(&g, true, "x", MP_F32, 2, (int64_t[]){ 3, 4 });
	io(&g, true, "i", MP_I64, 2, (int64_t[]){ 3, 2 });
	io(&g, false, "y", MP_F32, 2, (int64_t[]){ 3, 2 });
	at[0] = onnx_attr_int("axis", 1);
	onnx_graph_add_node(&g, "GatherElements", "ge", 2, (const char *[]){ "x", "i" }, "y", 1, at);
	finish(&g, &out[k], &sizes[k]), k++;
	/* y = ScatterElements(x, i, u, axis 0, reduction add) */
	g = onnx_graph();
	io(&g, true, "x", MP_F32, 2, (int64_t[]){ 3, 4 });
	io(&g, true, "i", MP_I64, 2, (int64_t[]){ 2, 4 });
	io(&g, true, "u", MP_F32, 2, (int64_t[]){ 2, 4 });
	io(&g, false, "y", MP_F32, 2, (int64_t[]){ 3, 4 });
	at[0] = onnx_attr_int("axis", 0);
	at[1] = onnx_attr_str("reduction", "add");
	onnx_graph_add_node(&g, "ScatterElements", "se", 3, (const char *[]){ "x", "i", "u" }, "y", 2, at);
	finish(&g, &out[k], &sizes[k]), k++;
	/* y = ScatterND(x, i, u) */
	g = onnx_graph();
	io(&g, true, "x", MP_F32, 2, (int64_t[]){ 4, 4 });
	io(&g, true, "i", MP_I64, 2, (int64_t[]){ 2, 1 });
	io(&g, true, "u", MP_F32, 2, (int64_t[]){ 2, 4 });
	io(&g, false, "y", MP_F32, 2, (int64_t[]){ 4, 4 });
	onnx_graph_add_node(&g, "ScatterND", "snd", 3, (const char *[]){ "x", "i", "u" }, "y", 0, NULL);
	finish(&g, &out[k], &sizes[k]), k++;
	/* y = Slice(x, s, e, axes, steps) with starts, ends and steps as inputs */
	g = onnx_graph();
	io(&g, true, "x", MP_F32, 2, (int64_t[]){ 4, 6 });
	io(&g, true, "s", MP_I64, 1, (int64_t[]){ 2 });
	io(&g, true, "e", MP_I64, 1, (int64_t[]){ 2 });
	io(&g, true, "st", MP_I64, 1, (int64_t[]){ 2 });
	io(&g, false, "y", MP_F32, 2, (int64_t[]){ -1, -1 });
	struct pbw t = onnx_tensor_raw("ax", MP_I64, 1, (int64_t[]){ 2 }, (int64_t[]){ 0, 1 }, 16);
	onnx_graph_init(&g, &t);
	onnx_graph_add_node(&g, "Slice", "slice", 5, (const char *[]){ "x", "s", "e", "ax", "st" }, "y", 0, NULL);
	finish(&g, &out[k], &sizes[k]), k++;
	/* y = Softmax(Reshape(Conv(x, w), shape)), the shape an input; z = TopK(y, k) */
	g = onnx_graph();
	io(&g, true, "x", MP_F32, 4, (int64_t[]){ 1, 2, 5, 5 });
	io(&g, true, "shape", MP_I64, 1, (int64_t[]){ 2 });
	io(&g, true, "k", MP_I64, 1, (int64_t[]){ 1 });
	io(&g, false, "y", MP_F32, 2, (int64_t[]){ -1, -1 });
	io(&g, false, "v", MP_F32, 2, (int64_t[]){ -1, -1 });
	float w[3 * 2 * 3 * 3];
	for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
		w[i] = (float)((int)(i * 7 % 11) - 5) / 4.0f;
	t = onnx_tensor_raw("w", MP_F32, 4, (int64_t[]){ 3, 2, 3, 3 }, w, sizeof w);
	onnx_graph_init(&g, &t);
	at[0] = onnx_attr_ints("pads", 4, (int64_t[]){ 1, 1, 1, 1 });
	onnx_graph_add_node(&g, "Conv", "conv", 2, (const char *[]){ "x", "w" }, "c", 1, at);
	onnx_graph_add_node(&g, "Reshape", "flat", 2, (const char *[]){ "c", "shape" }, "f", 0, NULL);
	at[0] = onnx_attr_int("axis", -1);
	onnx_graph_add_node(&g, "Softmax", "soft", 1, (const char *[]){ "f" }, "y", 1, at);
	struct pbw n = onnx_node("TopK", "topk", 2, (const char *[]){ "y", "k" }, 2, (const char *[]){ "v", "vi" }, 0,
	                         NULL);
	onnx_graph_node(&g, &n);
	finish(&g, &out[k], &sizes[k]), k++;
	return k;
}

/* The seeds are models that load; whether they run depends on the values. */
const struct mp_fuzz_target mp_fuzz_target = { "runner", MP_FUZZ_LOADED, one, seeds };
