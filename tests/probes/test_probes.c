/* test_probes.c - the probes against float64 recomputation: statistics of
 * random tensors with planted NaN, +-Inf, subnormals and values beyond
 * fp16/bf16 range (in every dtype, through the backend and end to end from
 * captured tensors), comparisons, diversity; the error split into own and
 * inherited; breakpoints; and results that do not change by a bit with
 * probes on.  Runs on every backend present. */
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
#include "probes.h"
#include "testutil.h"

static char *dir;
static struct mp_backend *cpu, *cpu4; /* one thread, and four */
static struct mp_backend *gpu;        /* NULL without a CUDA GPU */

static int setup(void **state)
{
	(void)state;
	struct mp_error e = { 0 };
	dir = mp_test_tmpdir();
	if (mp_backend_cuda_present() && mp_backend_cuda_new(0, &gpu, &e))
		return -1;
	return dir && !mp_backend_cpu_new(1, &cpu, &e) && !mp_backend_cpu_new(4, &cpu4, &e) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	mp_backend_free(cpu);
	mp_backend_free(cpu4);
	mp_backend_free(gpu);
	mp_test_rmtree(dir);
	free(dir);
	return 0;
}

/* ---- references, written here from the definitions ---- */

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}
static double uniform(void) { return (double)(next() >> 11) / 9007199254740992.0; }

/* Round to nearest even into bf16 (8 significant bits, exponents down to
 * -126, subnormals down to 2^-133), from the double, and back. */
static double round_bf16(double x)
{
	if (isnan(x) || isinf(x) || x == 0)
		return x;
	int e;
	frexp(x, &e);
	e -= 1; /* |x| in [2^e, 2^(e+1)) */
	int q = e < -126 ? -133 : e - 7; /* the value of the last bit kept */
	double r = ldexp(nearbyint(ldexp(x, -q)), q);
	return fabs(r) >= 0x1p128 ? copysign(INFINITY, x) : r;
}

/* Round to the nearest fp16, ties to even, in doubles: 11 significant bits,
 * subnormals in steps of 2^-24, and what rounds to 2^16 or past is infinite. */
static double round_f16(double x)
{
	if (x == 0 || !isfinite(x))
		return x;
	int e;
	frexp(x, &e);
	e -= 1; /* |x| in [2^e, 2^(e+1)) */
	int q = e < -14 ? -24 : e - 10; /* the value of the last bit kept */
	double r = ldexp(nearbyint(ldexp(x, -q)), q);
	return fabs(r) >= 0x1p16 ? copysign(INFINITY, x) : r;
}

struct ref_stats {
	int64_t count, finite, nan, posinf, neginf, zeros;
	double min, max, absmax, min_nonzero, mean, std;
	int64_t overflow[2], underflow[2], flush[2], exact[2];
	uint64_t hist[MP_HIST_BINS];
};

static void ref_stats(const double *v, int64_t n, struct ref_stats *r)
{
	memset(r, 0, sizeof *r);
	r->min = INFINITY;
	r->max = -INFINITY;
	r->min_nonzero = INFINITY;
	r->count = n;
	long double sum = 0;
	for (int64_t i = 0; i < n; i++) {
		double x = v[i];
		if (isnan(x)) {
			r->nan++;
			r->hist[MP_HIST_NAN]++;
			continue;
		}
		if (isinf(x)) {
			*(x > 0 ? &r->posinf : &r->neginf) += 1;
			r->hist[MP_HIST_INF]++;
			continue;
		}
		r->finite++;
		sum += x;
		r->min = fmin(r->min, x);
		r->max = fmax(r->max, x);
		r->absmax = fmax(r->absmax, fabs(x));
		r->exact[MP_LOW_BF16] += round_bf16(x) == x;
		r->exact[MP_LOW_F16] += round_f16(x) == x;
		if (x == 0) {
			r->zeros++;
			r->hist[MP_HIST_ZERO]++;
			continue;
		}
		r->min_nonzero = fmin(r->min_nonzero, fabs(x));
		int e;
		frexp(fabs(x), &e); /* |x| = m 2^e, m in [0.5, 1) */
		e -= 1;
		r->hist[e < -126 ? MP_HIST_SUBNORMAL : e > 127 ? 255 : e + 128]++;
		double hb = round_bf16(x);
		double hh = round_f16(x);
		r->overflow[MP_LOW_BF16] += isinf(hb) != 0;
		r->overflow[MP_LOW_F16] += isinf(hh) != 0;
		r->underflow[MP_LOW_BF16] += fabs(x) < 0x1p-126;
		r->underflow[MP_LOW_F16] += fabs(x) < 0x1p-14;
		r->flush[MP_LOW_BF16] += hb == 0;
		r->flush[MP_LOW_F16] += hh == 0;
	}
	r->mean = r->finite ? (double)(sum / r->finite) : 0;
	long double sq = 0;
	for (int64_t i = 0; i < n; i++)
		if (isfinite(v[i]))
			sq += ((long double)v[i] - r->mean) * ((long double)v[i] - r->mean);
	r->std = r->finite ? sqrt((double)(sq / r->finite)) : NAN;
}

static void close(const char *what, double got, double want, double scale)
{
	double tol = 1e-12 * fmax(fabs(want), scale);
	if (!(fabs(got - want) <= tol) && !(isnan(got) && isnan(want)))
		fail_msg("%s: got %.17g, float64 says %.17g", what, got, want);
}

static void check_stats(const char *ctx, const struct mp_stats_acc *s, const struct ref_stats *r)
{
	char what[128];
#define EXACT(f)                                                                        \
	if (s->f != r->f)                                                               \
		fail_msg("%s: " #f " is %lld, float64 says %lld", ctx, (long long)s->f, (long long)r->f)
	EXACT(count);
	EXACT(finite);
	EXACT(nan);
	EXACT(posinf);
	EXACT(neginf);
	EXACT(zeros);
	for (int t = 0; t < MP_LOW_COUNT; t++) {
		EXACT(overflow[t]);
		EXACT(underflow[t]);
		EXACT(flush[t]);
		EXACT(exact[t]);
	}
#undef EXACT
	if (r->finite) {
		assert_true(s->min == r->min && s->max == r->max && s->absmax == r->absmax);
		assert_true(s->min_nonzero == r->min_nonzero);
		snprintf(what, sizeof what, "%s: mean", ctx);
		close(what, s->mean, r->mean, r->std);
		snprintf(what, sizeof what, "%s: std", ctx);
		close(what, mp_stats_std(s), r->std, 0);
	}
	for (int b = 0; b < MP_HIST_BINS; b++)
		if (s->hist[b] != r->hist[b])
			fail_msg("%s: histogram bin %d holds %llu, float64 says %llu", ctx, b,
			         (unsigned long long)s->hist[b], (unsigned long long)r->hist[b]);
}

/* Random values over many binades, with every special planted. */
static void fill_random(double *v, int64_t n, enum mp_dtype t)
{
	for (int64_t i = 0; i < n; i++) {
		double u = uniform();
		double m = uniform() * 2 - 1;
		if (u < 0.02)
			v[i] = NAN;
		else if (u < 0.03)
			v[i] = INFINITY;
		else if (u < 0.04)
			v[i] = -INFINITY;
		else if (u < 0.06)
			v[i] = 0;
		else if (u < 0.08)
			v[i] = m * 0x1p-130;  /* f32 and bf16 subnormal, flushes in f16 */
		else if (u < 0.09)
			v[i] = m * 0x1p-140;  /* f32 subnormal that flushes in bf16 */
		else if (u < 0.10)
			v[i] = m * 0x1p-20;   /* f16 subnormal */
		else if (u < 0.12)
			v[i] = m * 70000;     /* beyond fp16 */
		else if (u < 0.13)
			v[i] = m * 3.4e38;    /* near and beyond bf16's largest */
		else if (u < 0.14)
			v[i] = 65519.0 + (u < 0.135 ? 0 : 1); /* fp16's rounding edge */
		else
			v[i] = ldexp(m, (int)(next() % 40) - 20);
	}
	/* every 16th: an integer of up to 12 bits times a power of two, so that
	 * some values are exact in both low types, some in f16 only (9 to 11
	 * significant bits), some in neither; the random stream is untouched */
	for (int64_t i = 5; i < n; i += 16)
		v[i] = ldexp((double)((i * 2654435761) % 4096 - 2048), (int)(i % 50) - 40);
	/* the values as the tensor's dtype holds them */
	for (int64_t i = 0; i < n; i++) {
		double x = v[i];
		switch (t) {
		case MP_F32: x = (float)x; break;
		case MP_BF16: x = round_bf16(x); break;
		case MP_F16: x = round_f16(x); break;
		default: break;
		}
		v[i] = x;
	}
}

static struct mp_tensor make_tensor(enum mp_dtype t, int ndim, const int64_t *shape, const double *v)
{
	struct mp_tensor x;
	struct mp_buffer *b;
	struct mp_error e = { 0 };
	mp_tensor_init(&x, t, ndim, shape);
	int64_t n = mp_tensor_numel(&x);
	assert_int_equal(mp_buffer_new_host((size_t)n * mp_dtype_size(t) + 1, false, &b, &e), MP_OK);
	mp_dtype_convert(MP_F64, v, t, b->data, (size_t)n);
	x.data = b->data;
	x.buf = b;
	return x;
}

/* The backends to test on: the CPU on one thread and on four, and CUDA
 * where it is built and present. */
static size_t backends(struct mp_backend **out)
{
	out[0] = cpu;
	out[1] = cpu4;
	if (gpu)
		out[2] = gpu;
	return gpu ? 3 : 2;
}

/* x as a tensor of backend be: shared on the CPU, copied to a GPU. */
static struct mp_tensor on_backend(struct mp_backend *be, const struct mp_tensor *x)
{
	struct mp_tensor d;
	struct mp_error e = { 0 };
	if (be->iface->device == MP_DEVICE_CPU) {
		mp_tensor_share(&d, x);
		return d;
	}
	mp_tensor_init(&d, x->dtype, x->ndim, x->shape);
	if (be->iface->alloc(be->ctx, mp_tensor_nbytes(&d) + 1, &d.buf, &e) ||
	    (d.data = d.buf->data, d.device = d.buf->device, be->iface->from_host(be->ctx, x->data, &d, &e)))
		fail_msg("%s", e.msg);
	return d;
}

static void probe_one(struct mp_backend *be, const struct mp_probe_req *r, struct mp_probe_result *res)
{
	struct mp_error e = { 0 };
	assert_int_equal(be->iface->probe_reset(be->ctx, 1, &e), MP_OK);
	if (be->iface->probe(be->ctx, r, 1, &e))
		fail_msg("%s", e.msg);
	assert_int_equal(be->iface->probe_fetch(be->ctx, res, 1, &e), MP_OK);
}

static void test_stats_random(void **state)
{
	(void)state;
	static const enum mp_dtype types[] = { MP_F32, MP_BF16, MP_F16, MP_F64 };
	static const int64_t sizes[] = { 1, 7, 1000, 1024, 4099, 100003, 600001 };
	struct mp_backend *bes[4];
	size_t nb = backends(bes);
	for (size_t bi = 0; bi < nb; bi++)
		for (int ti = 0; ti < 4; ti++)
			for (int si = 0; si < 7; si++) {
				int64_t n = sizes[si];
				double *v = malloc((size_t)n * sizeof *v);
				fill_random(v, n, types[ti]);
				struct mp_tensor x = make_tensor(types[ti], 1, &n, v);
				struct mp_tensor xd = on_backend(bes[bi], &x);
				struct mp_probe_req r = { MP_PROBE_STATS, &xd, NULL, 0, 0 };
				struct mp_probe_result res;
				struct ref_stats ref;
				char ctx[96];
				probe_one(bes[bi], &r, &res);
				if (bi == 1) { /* the same to the bit on any number of threads */
					struct mp_probe_result one;
					r.a = &x;
					probe_one(bes[0], &r, &one);
					assert_memory_equal(&one.stats, &res.stats, sizeof one.stats);
				}
				ref_stats(v, n, &ref);
				snprintf(ctx, sizeof ctx, "%s %s[%lld]", bes[bi]->iface->name, mp_dtype_name(types[ti]),
				         (long long)n);
				check_stats(ctx, &res.stats, &ref);
				/* every planted kind is there in the large ones */
				if (n > 4000)
					assert_true(ref.nan && ref.posinf && ref.neginf && ref.zeros && ref.underflow[MP_LOW_F16] &&
					            ref.hist[MP_HIST_SUBNORMAL] + (types[ti] == MP_F16) &&
					            (types[ti] == MP_F16 || (ref.overflow[MP_LOW_F16] && ref.flush[MP_LOW_F16])) &&
					            (types[ti] != MP_F32 || ref.flush[MP_LOW_BF16]));
				/* and the exact counts are neither none nor all */
				if (n > 4000 && (types[ti] == MP_F32 || types[ti] == MP_F64))
					assert_true(ref.exact[MP_LOW_BF16] > ref.zeros && ref.exact[MP_LOW_F16] > ref.zeros &&
					            ref.exact[MP_LOW_BF16] != ref.exact[MP_LOW_F16] &&
					            ref.exact[MP_LOW_BF16] < ref.finite && ref.exact[MP_LOW_F16] < ref.finite);
				mp_tensor_reset(&xd);
				mp_tensor_reset(&x);
				free(v);
			}
}

static void test_stats_all_special(void **state)
{
	(void)state;
	double v[4] = { NAN, INFINITY, -INFINITY, NAN };
	int64_t n = 4;
	struct mp_tensor x = make_tensor(MP_F32, 1, &n, v);
	struct mp_probe_req r = { MP_PROBE_STATS, &x, NULL, 0, 0 };
	struct mp_probe_result res;
	probe_one(cpu, &r, &res);
	assert_int_equal(res.stats.finite, 0);
	assert_int_equal(res.stats.nan, 2);
	assert_true(isnan(mp_stats_std(&res.stats)));
	mp_tensor_reset(&x);
}

static void test_compare_and_diversity(void **state)
{
	(void)state;
	enum { B = 8, F = 300 };
	int64_t shape[2] = { B, F };
	double *a = malloc(B * F * sizeof *a), *b = malloc(B * F * sizeof *b);
	for (int i = 0; i < B * F; i++) {
		b[i] = (float)(uniform() * 4 - 2);
		a[i] = round_bf16(b[i]);
	}
	a[5] = NAN; /* a pair left out, and counted */
	struct mp_tensor ta = make_tensor(MP_F32, 2, shape, a), tb = make_tensor(MP_F32, 2, shape, b);
	struct mp_probe_req r = { MP_PROBE_COMPARE, &ta, &tb, 0, 1 };
	struct mp_probe_result res;
	probe_one(cpu, &r, &res);
	const struct mp_compare_acc *c = &res.cmp[1];
	long double d2 = 0, a2 = 0, b2 = 0, ab = 0;
	double mx = 0;
	for (int i = 0; i < B * F; i++) {
		if (isnan(a[i]))
			continue;
		d2 += (long double)(a[i] - b[i]) * (a[i] - b[i]);
		a2 += (long double)a[i] * a[i];
		b2 += (long double)b[i] * b[i];
		ab += (long double)a[i] * b[i];
		mx = fmax(mx, fabs(a[i] - b[i]));
	}
	assert_int_equal(c->nonfinite, 1);
	assert_true(c->max_abs == mx);
	close("rel_l2", mp_compare_rel_l2(c), sqrt((double)(d2 / b2)), 0);
	close("cosine", mp_compare_cosine(c), (double)(ab / sqrtl(a2 * b2)), 0);
	close("sqnr", mp_compare_sqnr_db(c), 10 * log10((double)(b2 / d2)), 0);

	/* diversity of b: std across the 8 samples per feature, std within each sample */
	struct mp_probe_req rd = { MP_PROBE_DIVERSITY, &tb, NULL, 0, 0 };
	probe_one(cpu, &rd, &res);
	double across = 0, within = 0;
	for (int f = 0; f < F; f++) {
		double m = 0, q = 0;
		for (int s = 0; s < B; s++)
			m += b[s * F + f];
		m /= B;
		for (int s = 0; s < B; s++)
			q += (b[s * F + f] - m) * (b[s * F + f] - m);
		across += sqrt(q / B);
	}
	for (int s = 0; s < B; s++) {
		double m = 0, q = 0;
		for (int f = 0; f < F; f++)
			m += b[s * F + f];
		m /= F;
		for (int f = 0; f < F; f++)
			q += (b[s * F + f] - m) * (b[s * F + f] - m);
		within += sqrt(q / F);
	}
	close("across", res.div.across, across / F, 0);
	close("within", res.div.within, within / B, 0);
	/* a collapsed layer: every sample the same */
	for (int s = 1; s < B; s++)
		memcpy(b + s * F, b, F * sizeof *b);
	struct mp_tensor tc = make_tensor(MP_F32, 2, shape, b);
	rd.a = &tc;
	probe_one(cpu, &rd, &res);
	assert_true(res.div.across == 0);
	assert_true(mp_diversity_ratio(&res.div) == 0);
	mp_tensor_reset(&ta);
	mp_tensor_reset(&tb);
	mp_tensor_reset(&tc);
	free(a);
	free(b);

	/* a large one, split into tasks: float64 agrees, and four threads give
	 * the bits one gives */
	enum { B2 = 6, F2 = 70001 };
	int64_t shape2[2] = { B2, F2 };
	double *w = malloc((size_t)B2 * F2 * sizeof *w);
	for (int i = 0; i < B2 * F2; i++)
		w[i] = (float)(uniform() * 8 - 4 + (i % F2) * 1e-4);
	struct mp_tensor tw = make_tensor(MP_BF16, 2, shape2, w);
	mp_dtype_convert(MP_BF16, tw.data, MP_F64, w, (size_t)B2 * F2);
	struct mp_probe_req rw = { MP_PROBE_DIVERSITY, &tw, NULL, 0, 0 };
	struct mp_probe_result r1, r4;
	probe_one(cpu, &rw, &r1);
	probe_one(cpu4, &rw, &r4);
	assert_memory_equal(&r1.div, &r4.div, sizeof r1.div);
	double ac = 0, wi = 0;
	for (int f = 0; f < F2; f++) {
		double m = 0, q = 0;
		for (int k = 0; k < B2; k++)
			m += w[k * F2 + f];
		m /= B2;
		for (int k = 0; k < B2; k++)
			q += (w[k * F2 + f] - m) * (w[k * F2 + f] - m);
		ac += sqrt(q / B2);
	}
	for (int k = 0; k < B2; k++) {
		long double m = 0, q = 0;
		for (int f = 0; f < F2; f++)
			m += w[k * F2 + f];
		m /= F2;
		for (int f = 0; f < F2; f++)
			q += (w[k * F2 + f] - m) * (w[k * F2 + f] - m);
		wi += sqrt((double)(q / F2));
	}
	close("across (tasks)", r1.div.across, ac / F2, 0);
	close("within (tasks)", r1.div.within, wi / B2, 0);
	mp_tensor_reset(&tw);
	free(w);
}

/* ---- end to end ---- */

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

static void node(struct pbw *g, const char *op, const char *name, const char *a, const char *b, const char *out)
{
	struct pbw n = onnx_node(op, name, b ? 2 : 1, (const char *[]){ a, b }, 1, (const char *[]){ out }, 0, NULL);
	onnx_graph_node(g, &n);
}

static void io(struct pbw *g, bool in, const char *name, int dtype, int ndim, const int64_t *dims)
{
	struct pbw vi = { 0 };
	if (dtype)
		vi = onnx_value_info(name, dtype, ndim, dims, NULL);
	else
		pbw_str(&vi, 1, name);
	if (in)
		onnx_graph_input(g, &vi);
	else
		onnx_graph_output(g, &vi);
}

struct run {
	struct mp_policy pol;
	struct mp_exec *x;
	struct mp_probes *p;
	struct mp_batch *b;
	struct mp_probe_batch *res;
	enum mp_status st;
	struct mp_error e;
};

static void run(struct run *r, const struct mp_graph *g, struct mp_backend *be, const char *policy,
                const struct mp_probe_options *o, const struct mp_tensor *x)
{
	struct mp_error e = { 0 };
	memset(r, 0, sizeof *r);
	assert_int_equal(mp_policy_set_base(&r->pol, policy, &e), MP_OK);
	r->pol.on_mismatch = MP_MISMATCH_CAST;
	struct mp_exec_options xo = { .policy = &r->pol };
	assert_int_equal(mp_exec_new(g, be, cpu, &xo, &r->x, &e), MP_OK);
	if (o) {
		if (mp_probes_new(g, be, cpu, &r->pol, o, &r->p, &e))
			fail_msg("%s", e.msg);
		mp_probes_attach(r->p, r->x, NULL, NULL);
	}
	assert_int_equal(mp_batch_from_tensors("b", 1, (const char *[]){ "x" }, x, false, &r->b, &e), MP_OK);
	if (mp_exec_begin(r->x, r->b, &e) || (r->p && mp_probes_begin(r->p, r->x, r->b, 0, &e)))
		fail_msg("%s", e.msg);
	r->st = mp_exec_run(r->x, &r->e);
	if (r->p && mp_probes_end(r->p, &r->res, &e))
		fail_msg("%s", e.msg);
}

static void run_free(struct run *r)
{
	mp_probe_batch_free(r->res);
	mp_probes_free(r->p);
	mp_exec_free(r->x);
	mp_batch_free(r->b);
	mp_policy_free(&r->pol);
}

static const struct mp_capture *captured(const struct mp_probe_batch *res, const struct mp_graph *g,
                                         const char *name)
{
	for (size_t i = 0; i < res->ncaptures; i++)
		if (!strcmp(mp_graph_value(g, (size_t)res->captures[i].value)->name, name))
			return &res->captures[i];
	fail_msg("'%s' was not captured", name);
	return NULL;
}

/* A small network: y = Softmax(LayerNorm-free MLP) with a NaN-free path,
 * and statistics of every value equal to float64 from its capture. */
static struct mp_graph *mlp(void)
{
	struct pbw g = onnx_graph();
	const int64_t xd[] = { 4, 16 }, wd[] = { 16, 16 };
	float w[256], w2[256];
	for (int i = 0; i < 256; i++) {
		w[i] = (float)(uniform() - 0.5);
		w2[i] = (float)(uniform() - 0.5) * 0.1f;
	}
	io(&g, true, "x", MP_F32, 2, xd);
	struct pbw t = onnx_tensor_raw("w", MP_F32, 2, wd, w, sizeof w);
	onnx_graph_init(&g, &t);
	t = onnx_tensor_raw("w2", MP_F32, 2, wd, w2, sizeof w2);
	onnx_graph_init(&g, &t);
	node(&g, "MatMul", "/fc1/MatMul", "x", "w", "h");
	node(&g, "Relu", "/act/Relu", "h", NULL, "a");
	node(&g, "MatMul", "/fc2/MatMul", "a", "w2", "z");
	node(&g, "Softmax", "/out/Softmax", "z", NULL, "y");
	io(&g, false, "y", 0, 0, NULL);
	return load(&g, "mlp.onnx");
}

static struct mp_tensor random_input(int64_t rows, int64_t cols, double scale)
{
	int64_t shape[2] = { rows, cols };
	double *v = malloc((size_t)(rows * cols) * sizeof *v);
	for (int64_t i = 0; i < rows * cols; i++)
		v[i] = (float)((uniform() * 2 - 1) * scale);
	struct mp_tensor t = make_tensor(MP_F32, 2, shape, v);
	free(v);
	return t;
}

static void test_end_to_end_stats(void **state)
{
	(void)state;
	struct mp_graph *g = mlp();
	struct mp_tensor x = random_input(4, 16, 3);
	struct mp_probe_options o;
	struct mp_error e = { 0 };
	struct mp_backend *bes[4];
	size_t nb = backends(bes);
	mp_probe_options_init(&o);
	assert_int_equal(mp_probe_options_add_capture(&o, "*", &e), MP_OK);
	for (size_t bi = 0; bi < nb; bi++) {
		static const char *const pols[] = { "fp32", "bf16", "bf16-autocast", "fp16" };
		for (int pi = 0; pi < 4; pi++) {
			struct run r;
			run(&r, g, bes[bi], pols[pi], &o, &x);
			assert_int_equal(r.st, MP_OK);
			assert_int_equal(r.res->nrecords, 5); /* x, h, a, z, y */
			assert_int_equal(r.res->records[0].node, -1);
			for (size_t k = 0; k < r.res->nrecords; k++) {
				const struct mp_probe_record *rec = &r.res->records[k];
				const char *name = mp_graph_value(g, (size_t)rec->value)->name;
				const struct mp_capture *c = captured(r.res, g, name);
				int64_t n = mp_tensor_numel(&c->t);
				double *v = malloc((size_t)n * sizeof *v);
				mp_dtype_convert(c->t.dtype, c->t.data, MP_F64, v, (size_t)n);
				struct ref_stats ref;
				char ctx[128];
				ref_stats(v, n, &ref);
				snprintf(ctx, sizeof ctx, "%s %s '%s'", bes[bi]->iface->name, pols[pi], name);
				check_stats(ctx, &rec->stats, &ref);
				assert_int_equal(rec->dtype, c->t.dtype);
				assert_true(rec->flags & MP_REC_DIVERSITY);
				free(v);
			}
			run_free(&r);
		}
	}
	mp_probe_options_free(&o);
	mp_tensor_reset(&x);
	mp_graph_free(g);
}

/* Probes and the fp32 comparison change no bit of any output. */
static void test_no_bit_changes(void **state)
{
	(void)state;
	struct mp_graph *g = mlp();
	struct mp_tensor x = random_input(4, 16, 3);
	struct mp_probe_options o;
	mp_probe_options_init(&o);
	o.compare = true;
	static const char *const pols[] = { "fp32", "bf16", "bf16-autocast", "fp16-autocast" };
	for (int pi = 0; pi < 4; pi++) {
		struct run plain, probed;
		run(&plain, g, cpu, pols[pi], NULL, &x);
		run(&probed, g, cpu, pols[pi], &o, &x);
		assert_int_equal(plain.st, MP_OK);
		assert_int_equal(probed.st, MP_OK);
		const struct mp_tensor *a = mp_exec_value(plain.x, mp_graph_find_value(g, "y"));
		const struct mp_tensor *b = mp_exec_value(probed.x, mp_graph_find_value(g, "y"));
		assert_int_equal(a->dtype, b->dtype);
		assert_memory_equal(a->data, b->data, mp_tensor_nbytes(a));
		run_free(&plain);
		run_free(&probed);
	}
	mp_probe_options_free(&o);
	mp_tensor_reset(&x);
	mp_graph_free(g);
}

/* Against fp32: fp32 itself has no error; under bf16 the first MatMul adds
 * its own, the Relu adds none (relu of bf16 values is exact) and inherits
 * all it has; the totals match a float64 recomputation from captures. */
static void test_compare_own_inherited(void **state)
{
	(void)state;
	struct mp_graph *g = mlp();
	struct mp_tensor x = random_input(4, 16, 3);
	struct mp_probe_options o;
	struct mp_error e = { 0 };
	mp_probe_options_init(&o);
	o.compare = true;
	assert_int_equal(mp_probe_options_add_capture(&o, "*", &e), MP_OK);

	struct run r;
	run(&r, g, cpu, "fp32", &o, &x);
	for (size_t k = 0; k < r.res->nrecords; k++) {
		const struct mp_probe_record *rec = &r.res->records[k];
		if (rec->node < 0)
			continue;
		assert_true(rec->flags & MP_REC_COMPARE);
		assert_true(mp_compare_rel_l2(&rec->cmp) == 0);
		assert_true(isinf(mp_compare_sqnr_db(&rec->cmp)));
	}
	run_free(&r);

	struct run ref;
	run(&ref, g, cpu, "fp32", &o, &x);
	run(&r, g, cpu, "bf16", &o, &x);
	assert_int_equal(r.st, MP_OK);
	const struct mp_probe_record *h = mp_probe_batch_find(r.res, mp_graph_find_value(g, "h"));
	const struct mp_probe_record *a = mp_probe_batch_find(r.res, mp_graph_find_value(g, "a"));
	const struct mp_probe_record *y = mp_probe_batch_find(r.res, mp_graph_find_value(g, "y"));
	assert_non_null(h);
	assert_true(h->flags & MP_REC_OWN);
	assert_true(mp_compare_rel_l2(&h->cmp) > 1e-4);
	assert_true(mp_compare_rel_l2(&h->own) > 0);
	assert_true(mp_compare_rel_l2(&a->own) == 0);
	close("relu inherits", mp_compare_rel_l2(&a->inh), mp_compare_rel_l2(&a->cmp), 0);
	/* the total against float64 from the two runs' captures */
	const struct mp_capture *lo = captured(r.res, g, "y"), *hi = captured(ref.res, g, "y");
	int64_t n = mp_tensor_numel(&lo->t);
	double *u = malloc((size_t)n * 8), *v = malloc((size_t)n * 8);
	mp_dtype_convert(lo->t.dtype, lo->t.data, MP_F64, u, (size_t)n);
	mp_dtype_convert(hi->t.dtype, hi->t.data, MP_F64, v, (size_t)n);
	double d2 = 0, b2 = 0, mx = 0;
	for (int64_t i = 0; i < n; i++) {
		d2 += (u[i] - v[i]) * (u[i] - v[i]);
		b2 += v[i] * v[i];
		mx = fmax(mx, fabs(u[i] - v[i]));
	}
	assert_true(y->cmp.max_abs == mx);
	close("y rel_l2", mp_compare_rel_l2(&y->cmp), sqrt(d2 / b2), 0);
	free(u);
	free(v);
	run_free(&r);
	run_free(&ref);
	mp_probe_options_free(&o);
	mp_tensor_reset(&x);
	mp_graph_free(g);
}

/* Breakpoints: the first node meeting each condition. */
static void test_breakpoints(void **state)
{
	(void)state;
	struct pbw gb = onnx_graph();
	const int64_t xd[] = { 2, 3 };
	io(&gb, true, "x", MP_F32, 2, xd);
	const float big = 1e5f;
	struct pbw t = onnx_tensor_raw("big", MP_F32, 0, NULL, &big, 4);
	onnx_graph_init(&gb, &t);
	node(&gb, "Mul", "/scale/Mul", "x", "big", "s");    /* beyond fp16 */
	node(&gb, "Log", "/log/Log", "x", NULL, "l");       /* NaN for x < 0 */
	node(&gb, "Reciprocal", "/inv/Reciprocal", "x", NULL, "r"); /* Inf at 0 */
	node(&gb, "Add", "/sum/Add", "l", "r", "y");
	io(&gb, false, "y", 0, 0, NULL);
	struct mp_graph *g = load(&gb, "break.onnx");
	double xv[6] = { 1, -1, 0, 2, 3, 4 };
	int64_t shape[2] = { 2, 3 };
	struct mp_tensor x = make_tensor(MP_F32, 2, shape, xv), xb = make_tensor(MP_BF16, 2, shape, xv);
	static const struct {
		const char *spec, *policy, *node;
	} cases[] = {
		{ "nan", "fp32", "/log/Log" },
		{ "inf", "fp32", "/log/Log" }, /* log(0) = -Inf comes first */
		{ "overflow", "fp32", "/scale/Mul" },
		{ "node=/inv/*", "fp32", "/inv/Reciprocal" },
		{ "tol", "bf16", "/scale/Mul" },
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		struct mp_probe_options o;
		struct mp_error e = { 0 };
		mp_probe_options_init(&o);
		o.compare = !strcmp(cases[c].spec, "tol");
		o.tol = 1e-6;
		assert_int_equal(mp_probe_options_add_break(&o, cases[c].spec, &e), MP_OK);
		struct run r;
		run(&r, g, cpu, cases[c].policy, &o, o.compare ? &xb : &x);
		if (!r.res->hit)
			fail_msg("--break %s: no hit", cases[c].spec);
		const char *at = mp_graph_node(g, (size_t)r.res->hit_at.node)->name;
		if (strcmp(at, cases[c].node))
			fail_msg("--break %s: hit at '%s', expected '%s'", cases[c].spec, at, cases[c].node);
		if (!strncmp(cases[c].spec, "node=", 5)) { /* stops right after that node */
			assert_int_equal(r.st, MP_ERR_BREAK);
			assert_null(mp_exec_value(r.x, mp_graph_find_value(g, "y")));
		} else {
			assert_int_equal(r.st, MP_OK);
		}
		run_free(&r);
		mp_probe_options_free(&o);
	}
	/* bad specs */
	struct mp_probe_options o;
	struct mp_error e = { 0 };
	mp_probe_options_init(&o);
	assert_int_equal(mp_probe_options_add_break(&o, "nans", &e), MP_ERR_USAGE);
	assert_int_equal(mp_probe_options_add_break(&o, "node=", &e), MP_ERR_USAGE);
	assert_int_equal(mp_probe_options_add_break(&o, "tol", &e), MP_OK);
	struct mp_probes *p;
	assert_int_equal(mp_probes_new(g, cpu, cpu, NULL, &o, &p, &e), MP_ERR_USAGE); /* tol without compare */
	mp_probe_options_free(&o);
	mp_tensor_reset(&x);
	mp_tensor_reset(&xb);
	mp_graph_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_random),
		cmocka_unit_test(test_stats_all_special),
		cmocka_unit_test(test_compare_and_diversity),
		cmocka_unit_test(test_end_to_end_stats),
		cmocka_unit_test(test_no_bit_changes),
		cmocka_unit_test(test_compare_own_inherited),
		cmocka_unit_test(test_breakpoints),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, setup, teardown);
}
