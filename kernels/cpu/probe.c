/* probe.c - the CPU backend's probes: statistics, comparisons and batch
 * diversity in float64, one pass over each tensor in chunks of CPU_CHUNK
 * elements (a chunk's mean and M2 exactly, then Chan's merge), into a result
 * table in host memory. */
#include <float.h>
#include <stdbool.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

/* The thresholds of the low-precision types, as round-to-nearest-even
 * decides them: |x| >= overflow rounds to Inf (the midpoint between the
 * largest finite value and the next power of two ties to the even side,
 * Inf); |x| < normal is subnormal there; |x| <= flush rounds to 0 (half the
 * smallest subnormal ties to the even side, 0). */
static const struct {
	double overflow, normal, flush;
} low_range[MP_LOW_COUNT] = {
	[MP_LOW_BF16] = { 0x1.ffp127, 0x1p-126, 0x1p-134 },
	[MP_LOW_F16] = { 65520.0, 0x1p-14, 0x1p-25 },
};

/* The rare values: zero, and those outside fp16's normal range, where the
 * low types' limits and the histogram's end bins come in. */
static void stats_rare(struct mp_stats_acc *c, double ax, int e)
{
	if (ax == 0) {
		c->zeros++;
		c->hist[MP_HIST_ZERO]++;
		return;
	}
	c->hist[mp_hist_bin(e)]++;
	for (int t = 0; t < MP_LOW_COUNT; t++) {
		c->overflow[t] += ax >= low_range[t].overflow;
		c->underflow[t] += ax < low_range[t].normal;
		c->flush[t] += ax <= low_range[t].flush;
	}
}

/* One chunk: counts, extremes and the histogram in one pass; the chunk's
 * mean and M2 exactly (a second pass over the finite values, in cache),
 * then merged into acc with Chan's formula. */
static void stats_chunk(const double *x, size_t n, struct mp_stats_acc *acc)
{
	struct mp_stats_acc c;
	double sum = 0, fin[CPU_CHUNK];
	double lo = INFINITY, hi = -INFINITY, amax = 0, anz = INFINITY;
	size_t nf = 0;

	mp_stats_acc_init(&c);
	c.count = (int64_t)n;
	for (size_t i = 0; i < n; i++) {
		double v = x[i], ax = fabs(v);
		uint64_t u;
		memcpy(&u, &ax, 8);
		int biased = (int)(u >> 52);
		if (biased == 0x7FF) { /* NaN or Inf */
			if (v != v) {
				c.nan++;
				c.hist[MP_HIST_NAN]++;
			} else {
				*(v > 0 ? &c.posinf : &c.neginf) += 1;
				c.hist[MP_HIST_INF]++;
			}
			continue;
		}
		fin[nf++] = v;
		sum += v;
		float f = ax <= FLT_MAX ? (float)v : 0;
		uint32_t fb;
		memcpy(&fb, &f, 4);
		if ((double)f == v) { /* an f32 value: the low types hold a subset of them */
			c.exact[MP_LOW_BF16] += !(fb & 0xFFFFu);
			c.exact[MP_LOW_F16] += mp_f32_bits_exact_f16(fb);
		}
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
		amax = ax > amax ? ax : amax;
		int e = biased - 1023;
		if ((unsigned)(e + 14) < 29u) { /* [2^-14, 2^15): a normal fp16 value; nothing to flag */
			c.hist[e + 128]++;
			anz = ax < anz ? ax : anz;
		} else {
			if (ax != 0 && ax < anz)
				anz = ax;
			stats_rare(&c, ax, biased ? e : -1023);
		}
	}
	c.min = lo;
	c.max = hi;
	c.absmax = amax;
	c.min_nonzero = anz;
	c.finite = (int64_t)nf;
	if (nf) {
		c.mean = sum / (double)nf;
		for (size_t i = 0; i < nf; i++)
			c.m2 += (fin[i] - c.mean) * (fin[i] - c.mean);
	}
	mp_stats_acc_merge(acc, &c);
}

/* ---- f32, bf16 and f16 tensors, as f32 ----
 * Per chunk: the biased f32 exponent of each value counted in a 256-bin
 * histogram (four copies, so runs of one bin do not wait on each other);
 * then counts, extremes and the sum in one branch-free pass the compiler
 * vectorizes; then M2 about the chunk's mean.  The low types' limits follow
 * from the histogram but for the few binades where a limit falls inside
 * one; only a chunk with values there is looked at again, value by value. */

struct f32_pass {
	uint64_t h[4][256];
	int64_t nan, posinf, neginf, zeros, f16_over, f16_flush_edge, bf16_over, bf16_flush;
};

static inline uint32_t f32_biased(float v)
{
	uint32_t bits;
	memcpy(&bits, &v, 4);
	return (bits >> 23) & 0xFF;
}

enum { EXP_F16_OVER = 127 + 15, EXP_F16_FLUSH = 127 - 25, EXP_BF16_OVER = 254 };

/* The binades where a limit falls inside: the value decides. */
static void f32_edges(const float *x, size_t n, struct f32_pass *p)
{
	for (size_t i = 0; i < n; i++) {
		float ax = fabsf(x[i]);
		switch (f32_biased(ax)) {
		case 0: p->bf16_flush += ax != 0 && ax <= 0x1p-134f; break;
		case EXP_F16_OVER: p->f16_over += ax >= 65520.0f; break;
		case EXP_F16_FLUSH: p->f16_flush_edge += ax <= 0x1p-25f; break;
		case EXP_BF16_OVER: p->bf16_over += ax >= 0x1.ffp127f; break;
		default: break;
		}
	}
}

/* The extremes and sum of the finite values of a chunk that holds NaN or
 * Inf: the slow way, value by value. */
static void finite_extremes(const float *x, size_t n, float *lo, float *hi, float *amax, float *anz, double *sum)
{
	for (size_t i = 0; i < n; i++) {
		float v = x[i], ax = fabsf(v);
		if (!(ax <= FLT_MAX))
			continue;
		*sum += v;
		*lo = v < *lo ? v : *lo;
		*hi = v > *hi ? v : *hi;
		*amax = ax > *amax ? ax : *amax;
		*anz = ax != 0 && ax < *anz ? ax : *anz;
	}
}

/* The passes below are written for the vectorizer; on x86-64 they are
 * built for SSE4.1 and AVX2 as well (integer min/max, wider vectors), the
 * CPU picking its best at load time.  Results do not depend on the choice:
 * integer extremes and counts are exact, and sums are in f64.  Not under
 * ASan or TSan: the clones' resolver runs before their run-time is set up. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__) && \
	!defined(__SANITIZE_THREAD__)
#define SIMD_CLONES __attribute__((target_clones("avx2", "sse4.1", "default")))
#else
#define SIMD_CLONES
#endif

/* Back from the order-preserving integer key to the float. */
static float key_to_float(int32_t key)
{
	uint32_t b = (uint32_t)key ^ ((uint32_t)(key >> 31) & 0x7FFFFFFFu);
	float f;
	memcpy(&f, &b, 4);
	return f;
}

SIMD_CLONES
static void stats_f32_chunk(const float *x, size_t n, struct f32_pass *p, struct mp_stats_acc *acc)
{
	uint64_t before[4] = { 0, 0, 0, 0 };
	static const int edge_bins[4] = { 0, EXP_F16_OVER, EXP_F16_FLUSH, EXP_BF16_OVER };
	size_t i = 0;

	for (int k = 0; k < 4; k++)
		for (int l = 0; l < 4; l++)
			before[k] += p->h[l][edge_bins[k]];
	for (; i + 4 <= n; i += 4) {
		p->h[0][f32_biased(x[i])]++;
		p->h[1][f32_biased(x[i + 1])]++;
		p->h[2][f32_biased(x[i + 2])]++;
		p->h[3][f32_biased(x[i + 3])]++;
	}
	for (; i < n; i++)
		p->h[0][f32_biased(x[i])]++;

	/* counts, extremes, sum: short branch-free loops the compiler
	 * vectorizes.  Extremes are taken on the bits, mapped so that integer
	 * order is float order; a chunk holding NaN or Inf (rare) goes value by
	 * value instead. */
	int32_t zeros = 0, nan = 0, pinf = 0, ninf = 0, exact_bf16 = 0, exact_f16 = 0;
	int32_t klo = INT32_MAX, khi = INT32_MIN, amaxb = 0;
	double sum = 0;
	for (i = 0; i < n; i++) {
		uint32_t b;
		memcpy(&b, &x[i], 4);
		int32_t ab = (int32_t)(b & 0x7FFFFFFFu);
		zeros += ab == 0;
		nan += ab > 0x7F800000;
		pinf += b == 0x7F800000u;
		ninf += b == 0xFF800000u;
		exact_bf16 += (ab < 0x7F800000) & !(b & 0xFFFFu);
		exact_f16 += (int32_t)mp_f32_bits_exact_f16(b);
	}
	acc->exact[MP_LOW_BF16] += exact_bf16;
	acc->exact[MP_LOW_F16] += exact_f16;
	int32_t special = nan + pinf + ninf;
	float lo = INFINITY, hi = -INFINITY, amax = 0, anz = INFINITY;
	if (special) { /* a rare chunk: value by value */
		finite_extremes(x, n, &lo, &hi, &amax, &anz, &sum);
	} else {
		uint32_t anz_m1 = UINT32_MAX; /* |x| bits - 1: zero wraps to the largest */
		for (i = 0; i < n; i++) {
			int32_t b;
			memcpy(&b, &x[i], 4);
			int32_t key = b ^ ((b >> 31) & 0x7FFFFFFF), ab = b & 0x7FFFFFFF;
			uint32_t z = (uint32_t)ab - 1u;
			klo = key < klo ? key : klo;
			khi = key > khi ? key : khi;
			amaxb = ab > amaxb ? ab : amaxb;
			anz_m1 = z < anz_m1 ? z : anz_m1;
		}
		for (i = 0; i < n; i++)
			sum += (double)x[i];
		lo = key_to_float(klo);
		hi = key_to_float(khi);
		memcpy(&amax, &amaxb, 4);
		if (anz_m1 != UINT32_MAX) {
			uint32_t az = anz_m1 + 1;
			memcpy(&anz, &az, 4);
		}
	}
	p->zeros += zeros;
	p->nan += nan;
	p->posinf += pinf;
	p->neginf += ninf;

	/* values in a binade a limit falls inside (zeros aside): look closer */
	uint64_t after[4] = { 0, 0, 0, 0 };
	for (int k = 0; k < 4; k++)
		for (int l = 0; l < 4; l++)
			after[k] += p->h[l][edge_bins[k]];
	if (after[0] - before[0] > (uint64_t)zeros || after[1] != before[1] || after[2] != before[2] ||
	    after[3] != before[3])
		f32_edges(x, n, p);

	size_t nf = n - (size_t)(nan + pinf + ninf);
	double mean = nf ? sum / (double)nf : 0, q = 0;
	if (special) {
		for (i = 0; i < n; i++) {
			double d = (double)x[i] - mean;
			q += fabsf(x[i]) <= FLT_MAX ? d * d : 0.0;
		}
	} else {
		for (i = 0; i < n; i++) {
			double d = (double)x[i] - mean;
			q += d * d;
		}
	}
	/* the chunk's moments into the running ones (Chan); the counts and
	 * the histogram stay in p until the tensor is done */
	acc->count += (int64_t)n;
	acc->min = fmin(acc->min, lo);
	acc->max = fmax(acc->max, hi);
	acc->absmax = fmax(acc->absmax, amax);
	acc->min_nonzero = fmin(acc->min_nonzero, anz);
	if (nf) {
		double na = (double)acc->finite, nb = (double)nf, delta = mean - acc->mean;
		acc->mean += delta * (nb / (na + nb));
		acc->m2 += q + delta * delta * (na * nb / (na + nb));
		acc->finite += (int64_t)nf;
	}
}

/* The histogram, counts and limits from the f32 pass. */
static void f32_finish(const struct f32_pass *p, struct mp_stats_acc *acc)
{
	uint64_t h[256];
	for (int b = 0; b < 256; b++)
		h[b] = p->h[0][b] + p->h[1][b] + p->h[2][b] + p->h[3][b];
	acc->nan = p->nan;
	acc->posinf = p->posinf;
	acc->neginf = p->neginf;
	acc->zeros = p->zeros;
	acc->hist[MP_HIST_ZERO] = (uint64_t)p->zeros;
	acc->hist[MP_HIST_SUBNORMAL] = h[0] - (uint64_t)p->zeros;
	for (int b = 1; b < 255; b++) /* exponent b - 127, bin e + 128 */
		acc->hist[b + 1] = h[b];
	acc->hist[MP_HIST_INF] = (uint64_t)(p->posinf + p->neginf);
	acc->hist[MP_HIST_NAN] = (uint64_t)p->nan;
	/* bf16: normal down to 2^-126 (f32's own range), Inf from 0x1.ffp127 */
	acc->underflow[MP_LOW_BF16] = (int64_t)acc->hist[MP_HIST_SUBNORMAL];
	acc->flush[MP_LOW_BF16] = p->bf16_flush;
	acc->overflow[MP_LOW_BF16] = p->bf16_over;
	/* f16: normal from 2^-14, zero at 2^-25 and below, Inf from 65520 */
	int64_t under = (int64_t)acc->hist[MP_HIST_SUBNORMAL], flush = (int64_t)acc->hist[MP_HIST_SUBNORMAL];
	for (int e = -126; e < -14; e++) {
		under += (int64_t)h[e + 127];
		if (e < -25)
			flush += (int64_t)h[e + 127];
	}
	acc->underflow[MP_LOW_F16] = under;
	acc->flush[MP_LOW_F16] = flush + p->f16_flush_edge;
	int64_t over = p->f16_over;
	for (int e = 16; e <= 127; e++)
		over += (int64_t)h[e + 127];
	acc->overflow[MP_LOW_F16] = over;
}

/* Tensors split into tasks of this many elements (whole chunks), each with
 * its own accumulators, merged in task order: the same result on any
 * number of threads. */
enum { TASK_ELEMS = 64 * CPU_CHUNK };

struct stats_task {
	struct f32_pass pass;
	struct mp_stats_acc acc;
};

struct stats_job {
	const struct mp_tensor *t;
	size_t n;
	struct stats_task *tasks;
};

static void stats_task(void *arg, size_t ti)
{
	struct stats_job *j = arg;
	const struct mp_tensor *t = j->t;
	struct stats_task *k = &j->tasks[ti];
	size_t es = mp_dtype_size(t->dtype), begin = ti * TASK_ELEMS;
	size_t end = begin + TASK_ELEMS < j->n ? begin + TASK_ELEMS : j->n;
	mp_stats_acc_init(&k->acc);
	if (t->dtype == MP_F32 || t->dtype == MP_BF16 || t->dtype == MP_F16) {
		float buf[CPU_CHUNK];
		memset(&k->pass, 0, sizeof k->pass);
		for (size_t off = begin; off < end; off += CPU_CHUNK) {
			size_t m = end - off < CPU_CHUNK ? end - off : CPU_CHUNK;
			const float *x = (const float *)((const char *)t->data + off * es);
			if (t->dtype != MP_F32) {
				cpu_load_f32(t->dtype, x, (int64_t)es, buf, m);
				x = buf;
			}
			stats_f32_chunk(x, m, &k->pass, &k->acc);
		}
		f32_finish(&k->pass, &k->acc);
		return;
	}
	double buf[CPU_CHUNK];
	for (size_t off = begin; off < end; off += CPU_CHUNK) {
		size_t m = end - off < CPU_CHUNK ? end - off : CPU_CHUNK;
		cpu_load_f64(t->dtype, (const char *)t->data + off * es, (int64_t)es, buf, m);
		stats_chunk(buf, m, &k->acc);
	}
}

static enum mp_status do_stats(struct cpu_ctx *ctx, const struct mp_tensor *t, struct mp_stats_acc *acc,
                               struct mp_error *e)
{
	struct stats_job j = { t, (size_t)mp_tensor_numel(t), NULL };
	size_t ntasks = j.n ? (j.n + TASK_ELEMS - 1) / TASK_ELEMS : 0;
	mp_stats_acc_init(acc);
	if (!ntasks)
		return MP_OK;
	if (!(j.tasks = malloc(ntasks * sizeof *j.tasks)))
		return cpu_nomem(e, ntasks * sizeof *j.tasks);
	cpu_parallel_for(ctx, ntasks, stats_task, &j);
	for (size_t i = 0; i < ntasks; i++)
		mp_stats_acc_merge(acc, &j.tasks[i].acc);
	free(j.tasks);
	return MP_OK;
}

/* One chunk of a comparison, as f64; a chunk with NaN or Inf in it goes
 * value by value, the others through loops the compiler vectorizes. */
SIMD_CLONES
static void compare_chunk(const double *x, const double *y, size_t n, struct mp_compare_acc *c)
{
	int64_t special = 0;
	for (size_t i = 0; i < n; i++)
		special += !(fabs(x[i]) <= DBL_MAX) | !(fabs(y[i]) <= DBL_MAX);
	if (special) {
		for (size_t i = 0; i < n; i++) {
			if (!isfinite(x[i]) || !isfinite(y[i])) {
				if (!(x[i] == y[i] || (x[i] != x[i] && y[i] != y[i])))
					c->nonfinite++;
				continue;
			}
			double d = x[i] - y[i];
			c->max_abs = fabs(d) > c->max_abs ? fabs(d) : c->max_abs;
			c->sum_d2 += d * d;
			c->sum_a2 += x[i] * x[i];
			c->sum_b2 += y[i] * y[i];
			c->sum_ab += x[i] * y[i];
		}
		return;
	}
	double mx = 0, d2 = 0, a2 = 0, b2 = 0, ab = 0;
	for (size_t i = 0; i < n; i++) {
		double d = x[i] - y[i], ad = fabs(d);
		mx = ad > mx ? ad : mx;
		d2 += d * d;
		a2 += x[i] * x[i];
		b2 += y[i] * y[i];
		ab += x[i] * y[i];
	}
	c->max_abs = mx > c->max_abs ? mx : c->max_abs;
	c->sum_d2 += d2;
	c->sum_a2 += a2;
	c->sum_b2 += b2;
	c->sum_ab += ab;
}

struct compare_job {
	const struct mp_tensor *a, *b;
	size_t n;
	struct mp_compare_acc *parts;
};

static void compare_task(void *arg, size_t ti)
{
	struct compare_job *j = arg;
	size_t ea = mp_dtype_size(j->a->dtype), eb = mp_dtype_size(j->b->dtype), begin = ti * TASK_ELEMS;
	size_t end = begin + TASK_ELEMS < j->n ? begin + TASK_ELEMS : j->n;
	double x[CPU_CHUNK], y[CPU_CHUNK];
	struct mp_compare_acc *c = &j->parts[ti];
	memset(c, 0, sizeof *c);
	for (size_t off = begin; off < end; off += CPU_CHUNK) {
		size_t k = end - off < CPU_CHUNK ? end - off : CPU_CHUNK;
		cpu_load_f64(j->a->dtype, (const char *)j->a->data + off * ea, (int64_t)ea, x, k);
		cpu_load_f64(j->b->dtype, (const char *)j->b->data + off * eb, (int64_t)eb, y, k);
		compare_chunk(x, y, k, c);
	}
}

static enum mp_status do_compare(struct cpu_ctx *ctx, const struct mp_tensor *a, const struct mp_tensor *b,
                                 struct mp_compare_acc *c, struct mp_error *e)
{
	struct compare_job j = { a, b, (size_t)mp_tensor_numel(a), NULL };
	size_t ntasks = j.n ? (j.n + TASK_ELEMS - 1) / TASK_ELEMS : 0;
	memset(c, 0, sizeof *c);
	c->count = (int64_t)j.n;
	if (!ntasks)
		return MP_OK;
	if (!(j.parts = malloc(ntasks * sizeof *j.parts)))
		return cpu_nomem(e, ntasks * sizeof *j.parts);
	cpu_parallel_for(ctx, ntasks, compare_task, &j);
	for (size_t i = 0; i < ntasks; i++) { /* in task order */
		const struct mp_compare_acc *p = &j.parts[i];
		c->nonfinite += p->nonfinite;
		c->max_abs = p->max_abs > c->max_abs ? p->max_abs : c->max_abs;
		c->sum_d2 += p->sum_d2;
		c->sum_a2 += p->sum_a2;
		c->sum_b2 += p->sum_b2;
		c->sum_ab += p->sum_ab;
	}
	free(j.parts);
	return MP_OK;
}

/* Across samples per feature, and within each sample, over blocks of
 * features that stay in cache: a block of every sample is read once (as
 * f64), its feature sums and each sample's block mean and M2 taken, then
 * the squared deviations about the feature means; each sample's block
 * statistics merge into its running ones with Chan's formula.  Tasks take
 * runs of blocks; their partial results merge in task order. */
enum { DIV_BLOCK = 256 };

struct div_task {
	double across;       /* sum over its features of the std across samples */
	double *smean, *sm2; /* per sample, over its features */
	int64_t nfeat;
};

struct div_job {
	const struct mp_tensor *t;
	int64_t bn, f, per_task; /* features per task: whole blocks */
	struct div_task *tasks;
	double *seg;             /* per task: bn x DIV_BLOCK */
};

SIMD_CLONES
static void div_task(void *arg, size_t ti)
{
	struct div_job *j = arg;
	struct div_task *k = &j->tasks[ti];
	const struct mp_tensor *t = j->t;
	int64_t bn = j->bn, f = j->f, begin = (int64_t)ti * j->per_task;
	int64_t end = begin + j->per_task < f ? begin + j->per_task : f;
	size_t es = mp_dtype_size(t->dtype);
	double *seg = j->seg + (size_t)ti * (size_t)bn * DIV_BLOCK;
	double fsum[DIV_BLOCK], fm2[DIV_BLOCK];

	k->across = 0;
	k->nfeat = end - begin;
	for (int64_t b = 0; b < bn; b++)
		k->smean[b] = k->sm2[b] = 0;
	for (int64_t f0 = begin; f0 < end; f0 += DIV_BLOCK) {
		int64_t fb = end - f0 < DIV_BLOCK ? end - f0 : DIV_BLOCK;
		memset(fsum, 0, sizeof fsum);
		memset(fm2, 0, sizeof fm2);
		for (int64_t b = 0; b < bn; b++) {
			double *x = seg + b * DIV_BLOCK, s = 0, q = 0;
			const char *src = (const char *)t->data + (size_t)(b * f + f0) * es;
			if (t->dtype == MP_F32)
				for (int64_t i = 0; i < fb; i++)
					x[i] = (double)((const float *)src)[i];
			else
				cpu_load_f64(t->dtype, src, (int64_t)es, x, (size_t)fb);
			for (int64_t i = 0; i < fb; i++) {
				s += x[i];
				fsum[i] += x[i];
			}
			double mu = s / (double)fb;
			for (int64_t i = 0; i < fb; i++)
				q += (x[i] - mu) * (x[i] - mu);
			/* Chan: f0 - begin features so far, fb more */
			double na = (double)(f0 - begin), nb = (double)fb, delta = mu - k->smean[b];
			k->smean[b] += delta * (nb / (na + nb));
			k->sm2[b] += q + delta * delta * (na * nb / (na + nb));
		}
		for (int64_t i = 0; i < fb; i++)
			fsum[i] /= (double)bn;
		for (int64_t b = 0; b < bn; b++) {
			const double *x = seg + b * DIV_BLOCK;
			for (int64_t i = 0; i < fb; i++)
				fm2[i] += (x[i] - fsum[i]) * (x[i] - fsum[i]);
		}
		for (int64_t i = 0; i < fb; i++)
			k->across += sqrt(fm2[i] / (double)bn);
	}
}

static enum mp_status do_diversity(struct cpu_ctx *ctx, const struct mp_tensor *t, struct mp_diversity_acc *d,
                                   struct mp_error *e)
{
	int64_t bn = t->ndim ? t->shape[0] : 1, numel = mp_tensor_numel(t);
	int64_t f = bn ? numel / bn : 0;
	memset(d, 0, sizeof *d);
	d->samples = bn;
	d->features = f;
	if (bn < 2 || f < 1)
		return MP_OK;
	struct div_job j = { t, bn, f, 0, NULL, NULL };
	int64_t blocks = (f + DIV_BLOCK - 1) / DIV_BLOCK;
	int64_t per = (TASK_ELEMS / bn + DIV_BLOCK - 1) / DIV_BLOCK; /* blocks per task */
	per = per < 1 ? 1 : per;
	size_t ntasks = (size_t)((blocks + per - 1) / per);
	j.per_task = per * DIV_BLOCK;
	j.tasks = calloc(ntasks, sizeof *j.tasks);
	j.seg = cpu_alloc((int64_t)ntasks * bn * DIV_BLOCK, sizeof *j.seg);
	double *stat = cpu_alloc((int64_t)ntasks * 2 * bn, sizeof *stat);
	if (!j.tasks || !j.seg || !stat) {
		free(j.tasks);
		free(j.seg);
		free(stat);
		return cpu_nomem(e, ntasks * (size_t)bn * (DIV_BLOCK + 2) * sizeof(double));
	}
	for (size_t i = 0; i < ntasks; i++) {
		j.tasks[i].smean = stat + i * 2 * (size_t)bn;
		j.tasks[i].sm2 = j.tasks[i].smean + bn;
	}
	cpu_parallel_for(ctx, ntasks, div_task, &j);
	/* in task order: the across sums, then each sample's features merged */
	double across = 0, within = 0;
	for (size_t i = 0; i < ntasks; i++)
		across += j.tasks[i].across;
	for (int64_t b = 0; b < bn; b++) {
		double n = 0, mean = 0, m2 = 0;
		for (size_t i = 0; i < ntasks; i++) {
			double nb = (double)j.tasks[i].nfeat, mb = j.tasks[i].smean[b], delta = mb - mean;
			mean += delta * (nb / (n + nb));
			m2 += j.tasks[i].sm2[b] + delta * delta * (n * nb / (n + nb));
			n += nb;
		}
		within += sqrt(m2 / (double)f);
	}
	d->across = across / (double)f;
	d->within = within / (double)bn;
	free(j.tasks);
	free(j.seg);
	free(stat);
	return MP_OK;
}

enum mp_status cpu_probe_reset(void *ctx, size_t nslots, struct mp_error *e)
{
	struct cpu_ctx *c = ctx;
	if (nslots > c->nslots_cap) {
		struct mp_probe_result *t = realloc(c->slots, nslots * sizeof *t);
		if (!t)
			return cpu_nomem(e, nslots * sizeof *t);
		c->slots = t;
		c->nslots_cap = nslots;
	}
	c->nslots = nslots;
	if (nslots) /* none yet allocated when a graph has nothing to probe */
		memset(c->slots, 0, nslots * sizeof *c->slots);
	return MP_OK;
}

enum mp_status cpu_probe(void *ctx, const struct mp_probe_req *reqs, size_t n, struct mp_error *e)
{
	struct cpu_ctx *c = ctx;
	for (size_t i = 0; i < n; i++) {
		const struct mp_probe_req *r = &reqs[i];
		if (r->slot >= c->nslots)
			return mp_error_set(e, MP_ERR_INTERNAL, "probe slot %u of %zu", r->slot, c->nslots);
		if (!mp_dtype_is_float(r->a->dtype) || !mp_dtype_computable(r->a->dtype) ||
		    !mp_tensor_is_contiguous(r->a))
			return mp_error_set(e, MP_ERR_INTERNAL, "probe of a %s tensor that is not contiguous float",
			                    mp_dtype_name(r->a->dtype));
		struct mp_probe_result *out = &c->slots[r->slot];
		enum mp_status st = MP_OK;
		switch (r->kind) {
		case MP_PROBE_STATS:
			st = do_stats(c, r->a, &out->stats, e);
			break;
		case MP_PROBE_COMPARE:
			if (!r->b || mp_tensor_numel(r->b) != mp_tensor_numel(r->a) || !mp_tensor_is_contiguous(r->b) ||
			    !mp_dtype_is_float(r->b->dtype) || r->part >= MP_PROBE_CMP_PARTS)
				return mp_error_set(e, MP_ERR_INTERNAL, "probe comparison of tensors that differ in size");
			st = do_compare(c, r->a, r->b, &out->cmp[r->part], e);
			break;
		case MP_PROBE_DIVERSITY:
			st = do_diversity(c, r->a, &out->div, e);
			break;
		}
		if (st)
			return st;
	}
	return MP_OK;
}

enum mp_status cpu_probe_fetch(void *ctx, struct mp_probe_result *out, size_t n, struct mp_error *e)
{
	struct cpu_ctx *c = ctx;
	if (n > c->nslots)
		return mp_error_set(e, MP_ERR_INTERNAL, "fetch of %zu probe slots of %zu", n, c->nslots);
	memcpy(out, c->slots, n * sizeof *out);
	return MP_OK;
}
