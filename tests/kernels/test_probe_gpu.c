/* test_probe_gpu.c - the CUDA backend's probes (kernels/cuda/probe.cu)
 * against the CPU reference (kernels/cpu/probe.c): f32, bf16, f16 and f64
 * tensors holding NaN, +-Inf, zeros of both signs, f32 subnormals, values
 * at and beside the low types' limits, huge and tiny magnitudes, at sizes
 * around the kernels' chunk and vector edges, aligned and not.  Exact
 * fields (counts, extremes, every histogram bin) must be equal; mean and
 * M2 within probe.cu's stated bound of an exact two-pass computation;
 * diversity and comparison sums within 1e-12 relative of the CPU's.  The
 * same calls captured as a CUDA graph and replayed give the uncaptured
 * results to the bit.  Skips without a GPU. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cmocka_tap.h"
#include "dtype.h"
#include "testutil.h"

static struct mp_backend *gpu, *cpu;

/* a tensor in host memory and its copy on the GPU */
struct pair {
	struct mp_tensor h, d;
	struct mp_buffer *buf;
	void *host;
};

static uint64_t rng_state = 0x243F6A8885A308D3ull;

static uint32_t rnd(void)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng_state >> 33);
}

static float bits_f32(uint32_t b)
{
	float f;
	memcpy(&f, &b, 4);
	return f;
}

/* The values every tensor holds some of: limits and their neighbours. */
static const uint32_t special_f32[] = {
	0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00001u,
	0x00000001u, 0x80000001u, 0x00007FFFu, 0x00008000u, 0x00008001u, 0x007FFFFFu, 0x00800000u, /* f32 subnormals */
	0x33000000u, 0x33000001u, 0xB2FFFFFFu, 0x33800000u,                                        /* f16 flush: 2^-25 */
	0x477FF000u, 0x477FEFFFu, 0xC77FF000u, 0x477FE000u, 0x47800000u,                          /* f16 overflow: 65520 */
	0x7F7F8000u, 0x7F7F7FFFu, 0xFF7F8000u, 0x7F7FFFFFu, 0x7F7F0000u,                          /* bf16 overflow */
	0x38800000u, 0x387FFFFFu, 0x33800001u, 0x34000000u,                                        /* f16 normal, subnormal */
	0x7E967699u, 0x006CE3EEu, 0x3F800000u, 0xBF800000u,                                        /* 1e38, 1e-38, +-1 */
};
static const uint16_t special_f16[] = { 0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0xFE01, 0x0001, 0x8001,
                                        0x03FF, 0x0400, 0x7BFF, 0xFBFF, 0x3C00, 0x3C01 };

/* A value of the f32 family's bits: mostly of ordinary magnitude, some any
 * bit pattern at all, some from the list above. */
static uint32_t rnd_f32_bits(void)
{
	uint32_t r = rnd() % 100;
	if (r < 3)
		return special_f32[rnd() % (sizeof special_f32 / sizeof special_f32[0])];
	if (r < 13)
		return rnd() ^ (rnd() << 16);
	uint32_t e = 127 - 12 + rnd() % 20; /* 2^-12 .. 2^7 */
	return (rnd() & 0x80000000u) | (e << 23) | (rnd() & 0x7FFFFFu);
}

static uint16_t rnd_f16_bits(void)
{
	uint32_t r = rnd() % 100;
	if (r < 3)
		return special_f16[rnd() % (sizeof special_f16 / sizeof special_f16[0])];
	if (r < 13)
		return (uint16_t)rnd();
	uint32_t e = 15 - 10 + rnd() % 14;
	return (uint16_t)((rnd() & 0x8000u) | (e << 10) | (rnd() & 0x3FFu));
}

static void fill(enum mp_dtype dt, void *p, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		switch (dt) {
		case MP_F32: ((uint32_t *)p)[i] = rnd_f32_bits(); break;
		case MP_BF16: ((uint16_t *)p)[i] = (uint16_t)(rnd_f32_bits() >> 16); break;
		case MP_F16: ((uint16_t *)p)[i] = rnd_f16_bits(); break;
		default: { /* f64: the f32 family's values, and some beyond f32's range */
			double v = (double)bits_f32(rnd_f32_bits());
			if (rnd() % 50 == 0)
				v = ldexp(1.0 + (rnd() % 1000) / 1000.0, (int)(rnd() % 800) - 400); /* squares stay finite */
			((double *)p)[i] = v;
		}
		}
	}
}

/* [rows, n / rows] of dtype dt, `offset` elements into its GPU buffer
 * (not 16-byte aligned where offset is odd). */
static void pair_new(struct pair *p, enum mp_dtype dt, int64_t rows, int64_t n, int64_t offset)
{
	struct mp_error e = { 0 };
	int64_t shape[2] = { rows, rows ? n / rows : 0 };
	size_t es = mp_dtype_size(dt), bytes = (size_t)n * es;
	memset(p, 0, sizeof *p);
	mp_tensor_init(&p->h, dt, 2, shape);
	p->host = malloc(bytes ? bytes : 1);
	assert_non_null(p->host);
	fill(dt, p->host, n);
	p->h.data = p->host;
	p->h.device = MP_DEVICE_CPU;
	assert_int_equal(gpu->iface->alloc(gpu->ctx, bytes + (size_t)offset * es + 64, &p->buf, &e), MP_OK);
	p->d = p->h;
	p->d.data = (char *)p->buf->data + offset * (int64_t)es;
	p->d.device = MP_DEVICE_CUDA;
	assert_int_equal(gpu->iface->from_host(gpu->ctx, p->host, &p->d, &e), MP_OK);
}

static void pair_free(struct pair *p)
{
	mp_buffer_release(p->buf);
	free(p->host);
}

/* reqs on backend be (their tensors being be's), results of slots [0, nslots) */
static void probe_on(struct mp_backend *be, const struct mp_probe_req *reqs, size_t n, size_t nslots,
                     struct mp_probe_result *out)
{
	struct mp_error e = { 0 };
	assert_int_equal(be->iface->probe_reset(be->ctx, nslots, &e), MP_OK);
	if (be->iface->probe(be->ctx, reqs, n, &e) != MP_OK)
		fail_msg("%s probe: %s", be->iface->name, e.msg);
	assert_int_equal(be->iface->probe_fetch(be->ctx, out, nslots, &e), MP_OK);
}

/* The same requests on the GPU, captured once and replayed three times:
 * each replay's results are the uncaptured ones, to the bit. */
static void check_replays(const struct mp_probe_req *reqs, size_t n, size_t nslots,
                          const struct mp_probe_result *want)
{
	struct mp_error e = { 0 };
	struct mp_probe_result *got = calloc(nslots, sizeof *got);
	void *graph = NULL;
	assert_non_null(got);
	assert_int_equal(gpu->iface->probe_reset(gpu->ctx, nslots, &e), MP_OK);
	assert_int_equal(gpu->iface->graph_begin(gpu->ctx, &e), MP_OK);
	assert_int_equal(gpu->iface->probe(gpu->ctx, reqs, n, &e), MP_OK);
	if (gpu->iface->graph_end(gpu->ctx, &graph, &e) != MP_OK)
		fail_msg("capture: %s", e.msg);
	for (int rep = 0; rep < 3; rep++) {
		memset(got, 0xA5, nslots * sizeof *got);
		assert_int_equal(gpu->iface->probe_reset(gpu->ctx, nslots, &e), MP_OK);
		assert_int_equal(gpu->iface->graph_launch(gpu->ctx, graph, &e), MP_OK);
		assert_int_equal(gpu->iface->probe_fetch(gpu->ctx, got, nslots, &e), MP_OK);
		for (size_t s = 0; s < nslots; s++)
			if (memcmp(&got[s], &want[s], sizeof *got))
				fail_msg("replay %d: slot %zu differs from the uncaptured run", rep, s);
	}
	gpu->iface->graph_free(gpu->ctx, graph);
	free(got);
}

/* equal, but for the sign of a zero (the CPU's merge of two chunks' zero
 * extremes by fmin may keep either) */
static void same_real(const char *what, const char *field, double a, double b)
{
	if (!(a == b || (isnan(a) && isnan(b))))
		fail_msg("%s: %s %.17g on the GPU, %.17g on the CPU", what, field, a, b);
}

static void same_count(const char *what, const char *field, int64_t a, int64_t b)
{
	if (a != b)
		fail_msg("%s: %s %lld on the GPU, %lld on the CPU", what, field, (long long)a, (long long)b);
}

static double host_value(const struct mp_tensor *t, int64_t i)
{
	double v;
	mp_dtype_convert(t->dtype, (const char *)t->data + i * (int64_t)mp_dtype_size(t->dtype), MP_F64, &v, 1);
	return v;
}

/* mean and M2 against an exact (long double, two-pass) computation, within
 * probe.cu's bound */
static void check_moments(const char *what, const struct mp_tensor *t, const struct mp_stats_acc *g)
{
	int64_t n = mp_tensor_numel(t), nf = 0;
	long double sum = 0, q = 0;
	double amax = 0;
	for (int64_t i = 0; i < n; i++) {
		double v = host_value(t, i);
		if (isfinite(v)) {
			sum += v;
			nf++;
			amax = fabs(v) > amax ? fabs(v) : amax;
		}
	}
	long double mean = nf ? sum / nf : 0;
	for (int64_t i = 0; i < n; i++) {
		double v = host_value(t, i);
		if (isfinite(v))
			q += ((long double)v - mean) * ((long double)v - mean);
	}
	if (fabs(g->mean - (double)mean) > 1e-12 * amax)
		fail_msg("%s: mean %.17g, exact %.17Lg", what, g->mean, mean);
	if (fabs(g->m2 - (double)q) > 4e-9 * (double)q)
		fail_msg("%s: M2 %.17g, exact %.17Lg", what, g->m2, q);
}

static void check_stats(const char *what, const struct mp_tensor *h, const struct mp_stats_acc *g,
                        const struct mp_stats_acc *c)
{
	same_count(what, "count", g->count, c->count);
	same_count(what, "finite", g->finite, c->finite);
	same_count(what, "nan", g->nan, c->nan);
	same_count(what, "posinf", g->posinf, c->posinf);
	same_count(what, "neginf", g->neginf, c->neginf);
	same_count(what, "zeros", g->zeros, c->zeros);
	same_real(what, "min", g->min, c->min);
	same_real(what, "max", g->max, c->max);
	same_real(what, "absmax", g->absmax, c->absmax);
	same_real(what, "min_nonzero", g->min_nonzero, c->min_nonzero);
	static const char *low[MP_LOW_COUNT] = { "bf16", "f16" };
	char f[64];
	for (int l = 0; l < MP_LOW_COUNT; l++) {
		snprintf(f, sizeof f, "overflow %s", low[l]);
		same_count(what, f, g->overflow[l], c->overflow[l]);
		snprintf(f, sizeof f, "underflow %s", low[l]);
		same_count(what, f, g->underflow[l], c->underflow[l]);
		snprintf(f, sizeof f, "flush %s", low[l]);
		same_count(what, f, g->flush[l], c->flush[l]);
		snprintf(f, sizeof f, "exact %s", low[l]);
		same_count(what, f, g->exact[l], c->exact[l]);
	}
	for (int b = 0; b < MP_HIST_BINS; b++) {
		snprintf(f, sizeof f, "histogram bin %d", b);
		same_count(what, f, (int64_t)g->hist[b], (int64_t)c->hist[b]);
	}
	check_moments(what, h, g);
}

/* within 1e-12 of scale (a sum's terms' magnitude) */
static void near_scaled(const char *what, double a, double b, double scale)
{
	if (fabs(a - b) > 1e-12 * scale)
		fail_msg("%s: %.17g on the GPU, %.17g on the CPU", what, a, b);
}

static void near(const char *what, double a, double b)
{
	near_scaled(what, a, b, fmax(fabs(a), fabs(b)));
}

/* One tensor's statistics (and, where batch-shaped, diversity) in one call
 * on both backends, then captured and replayed. */
static void one_tensor(enum mp_dtype dt, int64_t rows, int64_t n, int64_t offset)
{
	struct pair p;
	char what[96];
	snprintf(what, sizeof what, "%s [%lld, %lld] at +%lld", mp_dtype_name(dt), (long long)rows,
	         (long long)(rows ? n / rows : 0), (long long)offset);
	pair_new(&p, dt, rows, n, offset);
	struct mp_probe_req hr[2] = { { MP_PROBE_STATS, &p.h, NULL, 0, 0 }, { MP_PROBE_DIVERSITY, &p.h, NULL, 1, 0 } };
	struct mp_probe_req dr[2] = { { MP_PROBE_STATS, &p.d, NULL, 0, 0 }, { MP_PROBE_DIVERSITY, &p.d, NULL, 1, 0 } };
	struct mp_probe_result c[2], g[2];
	probe_on(cpu, hr, 2, 2, c);
	probe_on(gpu, dr, 2, 2, g);
	check_stats(what, &p.h, &g[0].stats, &c[0].stats);
	same_count(what, "samples", g[1].div.samples, c[1].div.samples);
	same_count(what, "features", g[1].div.features, c[1].div.features);
	near(what, g[1].div.across, c[1].div.across);
	near(what, g[1].div.within, c[1].div.within);
	check_replays(dr, 2, 2, g);
	pair_free(&p);
}

static const int64_t sizes[] = { 0, 1, 255, 65535, 65536, 65537, 3000001 };

static void sweep(enum mp_dtype dt)
{
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		one_tensor(dt, 1, sizes[i], 0);
		if (sizes[i] > 1)
			one_tensor(dt, 1, sizes[i], 1); /* not 16-byte aligned */
	}
}

static void test_f32(void **state)
{
	(void)state;
	sweep(MP_F32);
}

static void test_bf16(void **state)
{
	(void)state;
	sweep(MP_BF16);
}

static void test_f16(void **state)
{
	(void)state;
	sweep(MP_F16);
}

static void test_f64(void **state)
{
	(void)state;
	one_tensor(MP_F64, 1, 0, 0);
	one_tensor(MP_F64, 1, 255, 0);
	one_tensor(MP_F64, 1, 65537, 1);
}

/* [B, F]: features beyond one diversity chunk (65536), and the small and
 * undefined shapes */
static void test_diversity(void **state)
{
	(void)state;
	one_tensor(MP_F32, 32, 32 * 98688, 0);
	one_tensor(MP_BF16, 32, 32 * 98688, 1);
	one_tensor(MP_F16, 8, 8 * 385, 0);
	one_tensor(MP_F32, 3, 15, 0);
	one_tensor(MP_F32, 1, 100, 0);
}

/* 20 small tensors, one large, a diversity and a comparison in one call
 * (beyond the requests a launch passes in its parameters), then 3 in one
 * call (within them). */
static void test_many(void **state)
{
	(void)state;
	enum { SMALL = 20, NT = SMALL + 2, NREQ = NT + 2, NSLOTS = NT + 1 };
	static const enum mp_dtype types[] = { MP_F32, MP_BF16, MP_F16 };
	struct pair p[NT];
	struct mp_probe_req hr[NREQ], dr[NREQ];
	struct mp_probe_result c[NSLOTS], g[NSLOTS];
	for (int i = 0; i < SMALL; i++)
		pair_new(&p[i], types[i % 3], 1, 1 + (int64_t)(rnd() % 5000), i % 2);
	pair_new(&p[SMALL], MP_BF16, 32, 32 * 98688, 0);
	pair_new(&p[SMALL + 1], MP_F32, 32, 32 * 98688, 0);
	/* first the comparison (into slot 0's part 1), then the statistics
	 * (slot i), then the diversity (slot NT) */
	hr[0] = (struct mp_probe_req){ MP_PROBE_COMPARE, &p[SMALL].h, &p[SMALL + 1].h, 0, 1 };
	dr[0] = (struct mp_probe_req){ MP_PROBE_COMPARE, &p[SMALL].d, &p[SMALL + 1].d, 0, 1 };
	for (int i = 0; i < NT; i++) {
		hr[1 + i] = (struct mp_probe_req){ MP_PROBE_STATS, &p[i].h, NULL, (uint32_t)i, 0 };
		dr[1 + i] = (struct mp_probe_req){ MP_PROBE_STATS, &p[i].d, NULL, (uint32_t)i, 0 };
	}
	hr[NT + 1] = (struct mp_probe_req){ MP_PROBE_DIVERSITY, &p[SMALL].h, NULL, NT, 0 };
	dr[NT + 1] = (struct mp_probe_req){ MP_PROBE_DIVERSITY, &p[SMALL].d, NULL, NT, 0 };
	probe_on(cpu, hr, NREQ, NSLOTS, c);
	probe_on(gpu, dr, NREQ, NSLOTS, g);
	char what[64];
	for (int i = 0; i < NT; i++) {
		snprintf(what, sizeof what, "call of %d: tensor %d", NREQ, i);
		check_stats(what, &p[i].h, &g[i].stats, &c[i].stats);
	}
	near("diversity across", g[NT].div.across, c[NT].div.across);
	near("diversity within", g[NT].div.within, c[NT].div.within);
	const struct mp_compare_acc *gc = &g[0].cmp[1], *cc = &c[0].cmp[1];
	same_count("compare", "count", gc->count, cc->count);
	same_count("compare", "nonfinite", gc->nonfinite, cc->nonfinite);
	same_real("compare", "max_abs", gc->max_abs, cc->max_abs);
	near("compare sum_d2", gc->sum_d2, cc->sum_d2);
	near("compare sum_a2", gc->sum_a2, cc->sum_a2);
	near("compare sum_b2", gc->sum_b2, cc->sum_b2);
	near_scaled("compare sum_ab", gc->sum_ab, cc->sum_ab, sqrt(cc->sum_a2) * sqrt(cc->sum_b2));
	check_replays(dr, NREQ, NSLOTS, g);
	/* three in one call: the parameters' path */
	probe_on(cpu, hr + 1, 3, NSLOTS, c);
	probe_on(gpu, dr + 1, 3, NSLOTS, g);
	for (int i = 0; i < 3; i++)
		check_stats("call of 3", &p[i].h, &g[i].stats, &c[i].stats);
	check_replays(dr + 1, 3, NSLOTS, g);
	for (int i = 0; i < NT; i++)
		pair_free(&p[i]);
}

int main(void)
{
	int r = mp_test_open_gpu(&gpu, &cpu);
	if (r >= 0)
		return r;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_f32), cmocka_unit_test(test_bf16), cmocka_unit_test(test_f16),
		cmocka_unit_test(test_f64), cmocka_unit_test(test_diversity), cmocka_unit_test(test_many),
	};
	r = MP_RUN_TESTS(tests);
	mp_backend_free(gpu);
	mp_backend_free(cpu);
	return r;
}
