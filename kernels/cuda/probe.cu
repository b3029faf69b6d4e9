/* probe.cu - the probes on the GPU.  A group of requests (statistics and
 * comparisons of many tensors) is one launch: every block takes a chunk of
 * one tensor and writes a partial result; a second launch merges each
 * tensor's partials in block order (Chan's formula for the moments), so the
 * result is the same every run.  Results stay in a table on the device
 * until the batch's one fetch.  Diversity, whose access pattern differs,
 * is three small launches per tensor.  Definitions are the CPU's
 * (kernels/cpu/probe.c, probe.h), in f64. */
#include <float.h>
#include <math.h>

#include "cu.cuh"

enum { THREADS = 256, CHUNK = 64 * 1024, NCNT = 12 /* a block's counts */ };

/* ---- the result table ---- */

extern "C" enum mp_status cu_probe_reset(void *ctx, size_t nslots, struct mp_error *e)
{
	struct cu_ctx *c = (struct cu_ctx *)ctx;
	if (nslots > c->cap_slots) {
		void *p = NULL;
		if (c->d_slots)
			CU_TRY(cudaFreeAsync(c->d_slots, c->stream), "the probes' table");
		c->d_slots = NULL;
		c->cap_slots = 0;
		CU_TRY(cudaMallocAsync(&p, nslots * sizeof(struct mp_probe_result), c->stream), "the probes' table");
		c->d_slots = (struct mp_probe_result *)p;
		c->cap_slots = nslots;
	}
	c->nslots = nslots;
	if (nslots)
		CU_TRY(cudaMemsetAsync(c->d_slots, 0, nslots * sizeof(struct mp_probe_result), c->stream), "the probes' table");
	return MP_OK;
}

extern "C" enum mp_status cu_probe_fetch(void *ctx, struct mp_probe_result *out, size_t n, struct mp_error *e)
{
	struct cu_ctx *c = (struct cu_ctx *)ctx;
	if (n > c->nslots)
		return mp_error_set(e, MP_ERR_INTERNAL, "fetch of %zu probe slots of %zu", n, c->nslots);
	if (n)
		CU_TRY(cudaMemcpyAsync(out, c->d_slots, n * sizeof *out, cudaMemcpyDeviceToHost, c->stream),
		       "fetching the probes' results");
	CU_TRY(cudaStreamSynchronize(c->stream), "waiting for the GPU");
	return MP_OK;
}

/* ---- statistics and comparisons, batched ---- */

struct preq {                 /* one request, as the kernels see it */
	const void *a, *b;
	int at, bt, kind;
	uint32_t slot, part;
	int64_t n;
	int64_t first_block, nblocks;
};

struct pblock {               /* which request and which chunk a block takes */
	int32_t req;
	int64_t start, count;
};

/* a block's statistics: the members of stats.def, and a histogram of
 * 32-bit counts (a block's chunk is far smaller than 2^32) */
struct st_part {
	unsigned int hist[MP_HIST_BINS];
#define MP_STAT(field, kind, merge, init, name, flags, doc) MP_STAT_FIELD_##kind(field)
#include "stats.def"
#undef MP_STAT
};

struct cmp_part {
	unsigned long long count, nonfinite;
	double max_abs, d2, a2, b2, ab;
};

union part {
	st_part s;
	cmp_part c;
};

/* the low types' limits (kernels/cpu/probe.c) */
__constant__ double c_overflow[MP_LOW_COUNT] = { 0x1.ffp127, 65520.0 };
__constant__ double c_normal[MP_LOW_COUNT] = { 0x1p-126, 0x1p-14 };
__constant__ double c_flush[MP_LOW_COUNT] = { 0x1p-134, 0x1p-25 };

__device__ __forceinline__ int hist_bin_of(double ax)
{
	long long u = __double_as_longlong(ax);
	int biased = (int)((u >> 52) & 0x7FF);
	int e = biased == 0 ? -1023 : biased - 1023; /* as probe.h's mp_hist_bin */
	return e < MP_HIST_EXP_MIN ? MP_HIST_SUBNORMAL : e > MP_HIST_EXP_MAX ? MP_HIST_EXP_MAX + 128 : e + 128;
}

/* Chan's merge of (nb, mb, qb) into (na, ma, qa) */
__device__ __forceinline__ void chan(double &na, double &ma, double &qa, double nb, double mb, double qb)
{
	if (nb == 0)
		return;
	if (na == 0) {
		na = nb;
		ma = mb;
		qa = qb;
		return;
	}
	double n = na + nb, delta = mb - ma;
	ma += delta * (nb / n);
	qa += qb + delta * delta * (na * nb / n);
	na = n;
}

/* A block's share of a comparison, reduced in the kernel's shared arrays. */
static __device__ void block_compare(const pblock &bl, const preq &r, double *sh_n, double *sh_m, double *sh_q,
                                     double *sh_lo, double *sh_hi, unsigned long long (*sh_c)[NCNT], part *parts)
{
	int t = threadIdx.x;
	double d2 = 0, a2 = 0, b2 = 0, ab = 0, mx = 0;
	unsigned long long bad = 0;
	for (int64_t i = bl.start + t; i < bl.start + bl.count; i += THREADS) {
		double x = cu_ld_f64(r.a, i, r.at), y = cu_ld_f64(r.b, i, r.bt);
		if (!isfinite(x) || !isfinite(y)) {
			if (!(x == y || (x != x && y != y)))
				bad++;
			continue;
		}
		double d = x - y;
		mx = fabs(d) > mx ? fabs(d) : mx;
		d2 += d * d;
		a2 += x * x;
		b2 += y * y;
		ab += x * y;
	}
	sh_n[t] = d2;
	sh_m[t] = a2;
	sh_q[t] = b2;
	sh_lo[t] = ab;
	sh_hi[t] = mx;
	sh_c[t][0] = bad;
	__syncthreads();
	for (int s = THREADS / 2; s > 0; s >>= 1) {
		if (t < s) {
			sh_n[t] += sh_n[t + s];
			sh_m[t] += sh_m[t + s];
			sh_q[t] += sh_q[t + s];
			sh_lo[t] += sh_lo[t + s];
			sh_hi[t] = sh_hi[t + s] > sh_hi[t] ? sh_hi[t + s] : sh_hi[t];
			sh_c[t][0] += sh_c[t + s][0];
		}
		__syncthreads();
	}
	if (t == 0) {
		cmp_part *p = &parts[blockIdx.x].c;
		p->count = (unsigned long long)bl.count;
		p->nonfinite = sh_c[0][0];
		p->d2 = sh_n[0];
		p->a2 = sh_m[0];
		p->b2 = sh_q[0];
		p->ab = sh_lo[0];
		p->max_abs = sh_hi[0];
	}
}

__global__ void k_probe_parts(const preq *reqs, const pblock *blocks, part *parts)
{
	__shared__ unsigned int hist[MP_HIST_BINS];
	__shared__ double sh_n[THREADS], sh_m[THREADS], sh_q[THREADS], sh_lo[THREADS], sh_hi[THREADS], sh_ax[THREADS],
		sh_nz[THREADS];
	__shared__ unsigned long long sh_c[THREADS][NCNT];
	const pblock bl = blocks[blockIdx.x];
	const preq r = reqs[bl.req];
	int t = threadIdx.x;

	if (r.kind == MP_PROBE_COMPARE) {
		block_compare(bl, r, sh_n, sh_m, sh_q, sh_lo, sh_hi, sh_c, parts);
		return;
	}

	for (int k = t; k < MP_HIST_BINS; k += THREADS)
		hist[k] = 0;
	__syncthreads();
	double n = 0, mean = 0, m2 = 0, lo = INFINITY, hi = -INFINITY, amax = 0, anz = INFINITY;
	unsigned long long cnt[NCNT] = { 0 }; /* nan, +inf, -inf, zeros, over x2, under x2, flush x2, exact x2 */
	for (int64_t i = bl.start + t; i < bl.start + bl.count; i += THREADS) {
		double v = cu_ld_f64(r.a, i, r.at), ax = fabs(v);
		if (v != v) {
			cnt[0]++;
			atomicAdd(&hist[MP_HIST_NAN], 1u);
			continue;
		}
		if (isinf(v)) {
			cnt[v > 0 ? 1 : 2]++;
			atomicAdd(&hist[MP_HIST_INF], 1u);
			continue;
		}
		n += 1;
		double delta = v - mean;
		mean += delta / n;
		m2 += delta * (v - mean);
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
		amax = ax > amax ? ax : amax;
		float f = __double2float_rn(v);
		if (ax <= FLT_MAX && (double)f == v) { /* an f32 value: the low types hold a subset */
			unsigned int fb = __float_as_uint(f);
			cnt[10] += (fb & 0xFFFFu) == 0;
			cnt[11] += mp_f32_bits_exact_f16(fb);
		}
		if (ax == 0) {
			cnt[3]++;
			atomicAdd(&hist[MP_HIST_ZERO], 1u);
			continue;
		}
		anz = ax < anz ? ax : anz;
		atomicAdd(&hist[hist_bin_of(ax)], 1u);
		for (int k = 0; k < MP_LOW_COUNT; k++) {
			cnt[4 + k] += ax >= c_overflow[k];
			cnt[6 + k] += ax < c_normal[k];
			cnt[8 + k] += ax <= c_flush[k];
		}
	}
	sh_n[t] = n;
	sh_m[t] = mean;
	sh_q[t] = m2;
	sh_lo[t] = lo;
	sh_hi[t] = hi;
	sh_ax[t] = amax;
	sh_nz[t] = anz;
	for (int k = 0; k < NCNT; k++)
		sh_c[t][k] = cnt[k];
	__syncthreads();
	for (int s = THREADS / 2; s > 0; s >>= 1) {
		if (t < s) {
			double na = sh_n[t], ma = sh_m[t], qa = sh_q[t];
			chan(na, ma, qa, sh_n[t + s], sh_m[t + s], sh_q[t + s]);
			sh_n[t] = na;
			sh_m[t] = ma;
			sh_q[t] = qa;
			sh_lo[t] = fmin(sh_lo[t], sh_lo[t + s]);
			sh_hi[t] = fmax(sh_hi[t], sh_hi[t + s]);
			sh_ax[t] = fmax(sh_ax[t], sh_ax[t + s]);
			sh_nz[t] = fmin(sh_nz[t], sh_nz[t + s]);
			for (int k = 0; k < NCNT; k++)
				sh_c[t][k] += sh_c[t + s][k];
		}
		__syncthreads();
	}
	st_part *p = &parts[blockIdx.x].s;
	for (int k = t; k < MP_HIST_BINS; k += THREADS)
		p->hist[k] = hist[k];
	if (t == 0) {
		p->count = bl.count;
		p->finite = (int64_t)sh_n[0];
		p->nan = (int64_t)sh_c[0][0];
		p->posinf = (int64_t)sh_c[0][1];
		p->neginf = (int64_t)sh_c[0][2];
		p->zeros = (int64_t)sh_c[0][3];
		for (int k = 0; k < MP_LOW_COUNT; k++) {
			p->overflow[k] = (int64_t)sh_c[0][4 + k];
			p->underflow[k] = (int64_t)sh_c[0][6 + k];
			p->flush[k] = (int64_t)sh_c[0][8 + k];
			p->exact[k] = (int64_t)sh_c[0][10 + k];
		}
		p->mean = sh_m[0];
		p->m2 = sh_q[0];
		p->min = sh_lo[0];
		p->max = sh_hi[0];
		p->absmax = sh_ax[0];
		p->min_nonzero = sh_nz[0];
	}
}

/* One block per request: its partials merged in block order into its slot. */
__global__ void k_probe_merge(const preq *reqs, const part *parts, struct mp_probe_result *slots)
{
	const preq r = reqs[blockIdx.x];
	struct mp_probe_result *out = &slots[r.slot];
	int t = threadIdx.x;
	if (r.kind == MP_PROBE_COMPARE) {
		if (t)
			return;
		struct mp_compare_acc acc;
		memset(&acc, 0, sizeof acc);
		acc.count = r.n;
		for (int64_t b = 0; b < r.nblocks; b++) {
			const cmp_part &p = parts[r.first_block + b].c;
			acc.nonfinite += (int64_t)p.nonfinite;
			acc.max_abs = p.max_abs > acc.max_abs ? p.max_abs : acc.max_abs;
			acc.sum_d2 += p.d2;
			acc.sum_a2 += p.a2;
			acc.sum_b2 += p.b2;
			acc.sum_ab += p.ab;
		}
		out->cmp[r.part] = acc;
		return;
	}
	struct mp_stats_acc *s = &out->stats;
	for (int k = t; k < MP_HIST_BINS; k += blockDim.x) {
		unsigned long long h = 0;
		for (int64_t b = 0; b < r.nblocks; b++)
			h += parts[r.first_block + b].s.hist[k];
		s->hist[k] = h;
	}
	if (t)
		return;
	double n = 0, mean = 0, m2 = 0;
#define MP_STAT(field, kind, merge, init, name, flags, doc) MP_STAT_INIT_##kind(s, field, init)
#include "stats.def"
#undef MP_STAT
	for (int64_t b = 0; b < r.nblocks; b++) {
		const st_part *p = &parts[r.first_block + b].s;
		chan(n, mean, m2, (double)p->finite, p->mean, p->m2);
#define MP_STAT(field, kind, merge, init, name, flags, doc) MP_STAT_MERGE_##merge##_##kind(s, p, field)
#include "stats.def"
#undef MP_STAT
	}
	s->count = r.n;
	s->mean = mean;
	s->m2 = m2;
}

/* ---- diversity: [B, F] ---- */

/* per feature: the std across samples; a block's sum of them */
__global__ void k_div_features(const void *x, int xt, int64_t B, int64_t F, double *partial)
{
	__shared__ double sh[THREADS];
	double acc = 0;
	int64_t f = (int64_t)blockIdx.x * THREADS + threadIdx.x;
	if (f < F) {
		double m = 0, q = 0;
		for (int64_t b = 0; b < B; b++)
			m += cu_ld_f64(x, b * F + f, xt);
		m /= (double)B;
		for (int64_t b = 0; b < B; b++) {
			double d = cu_ld_f64(x, b * F + f, xt) - m;
			q += d * d;
		}
		acc = sqrt(q / (double)B);
	}
	sh[threadIdx.x] = acc;
	__syncthreads();
	for (int s = THREADS / 2; s > 0; s >>= 1) {
		if (threadIdx.x < s)
			sh[threadIdx.x] += sh[threadIdx.x + s];
		__syncthreads();
	}
	if (threadIdx.x == 0)
		partial[blockIdx.x] = sh[0];
}

/* per (sample, chunk of CHUNK features): count, mean, M2 (two passes) */
__global__ void k_div_samples(const void *x, int xt, int64_t F, int64_t chunks, double *part3)
{
	__shared__ double sh[THREADS];
	int64_t b = blockIdx.x / chunks, ch = blockIdx.x - b * chunks;
	int64_t f0 = ch * CHUNK, f1 = f0 + CHUNK < F ? f0 + CHUNK : F;
	double s = 0;
	for (int64_t f = f0 + threadIdx.x; f < f1; f += THREADS)
		s += cu_ld_f64(x, b * F + f, xt);
	sh[threadIdx.x] = s;
	__syncthreads();
	for (int k = THREADS / 2; k > 0; k >>= 1) {
		if (threadIdx.x < k)
			sh[threadIdx.x] += sh[threadIdx.x + k];
		__syncthreads();
	}
	double n = (double)(f1 - f0), mean = sh[0] / n;
	__syncthreads();
	double q = 0;
	for (int64_t f = f0 + threadIdx.x; f < f1; f += THREADS) {
		double d = cu_ld_f64(x, b * F + f, xt) - mean;
		q += d * d;
	}
	sh[threadIdx.x] = q;
	__syncthreads();
	for (int k = THREADS / 2; k > 0; k >>= 1) {
		if (threadIdx.x < k)
			sh[threadIdx.x] += sh[threadIdx.x + k];
		__syncthreads();
	}
	if (threadIdx.x == 0) {
		part3[3 * blockIdx.x] = n;
		part3[3 * blockIdx.x + 1] = mean;
		part3[3 * blockIdx.x + 2] = sh[0];
	}
}

__global__ void k_div_finish(const double *feat, int64_t nfeat_blocks, const double *part3, int64_t B, int64_t F,
                             int64_t chunks, struct mp_diversity_acc *out)
{
	double across = 0, within = 0;
	for (int64_t i = 0; i < nfeat_blocks; i++)
		across += feat[i];
	for (int64_t b = 0; b < B; b++) {
		double n = 0, mean = 0, m2 = 0;
		for (int64_t c = 0; c < chunks; c++) {
			const double *p = part3 + 3 * (b * chunks + c);
			chan(n, mean, m2, p[0], p[1], p[2]);
		}
		within += sqrt(m2 / (double)F);
	}
	out->samples = B;
	out->features = F;
	out->across = across / (double)F;
	out->within = within / (double)B;
}

static enum mp_status diversity(struct cu_ctx *c, const struct mp_probe_req *r, struct mp_error *e)
{
	const struct mp_tensor *t = r->a;
	int64_t B = t->ndim ? t->shape[0] : 1, n = mp_tensor_numel(t), F = B ? n / B : 0;
	struct mp_diversity_acc *out = &c->d_slots[r->slot].div;
	enum mp_status st;
	if (B < 2 || F < 1) { /* undefined: samples and features recorded, the rest zero */
		struct mp_diversity_acc d = { B, F, 0, 0 };
		CU_TRY(cudaMemcpyAsync(out, &d, sizeof d, cudaMemcpyHostToDevice, c->stream), "a probe");
		return MP_OK;
	}
	int64_t fblocks = (F + THREADS - 1) / THREADS, chunks = (F + CHUNK - 1) / CHUNK;
	double *tmp;
	if ((st = cu_scratch(c, (size_t)(fblocks + 3 * B * chunks) * sizeof(double), (void **)&tmp, e)))
		return st;
	k_div_features<<<(unsigned)fblocks, THREADS, 0, c->stream>>>(t->data, t->dtype, B, F, tmp);
	k_div_samples<<<(unsigned)(B * chunks), THREADS, 0, c->stream>>>(t->data, t->dtype, F, chunks, tmp + fblocks);
	k_div_finish<<<1, 1, 0, c->stream>>>(tmp, fblocks, tmp + fblocks, B, F, chunks, out);
	cu_scratch_free(c, tmp);
	CU_LAUNCHED("a diversity probe");
	return MP_OK;
}

extern "C" enum mp_status cu_probe(void *ctx, const struct mp_probe_req *reqs, size_t n, struct mp_error *e)
{
	struct cu_ctx *c = (struct cu_ctx *)ctx;
	enum mp_status st = MP_OK;
	size_t nb = 0, nr = 0;

	for (size_t i = 0; i < n; i++) {
		const struct mp_probe_req *r = &reqs[i];
		if (r->slot >= c->nslots)
			return mp_error_set(e, MP_ERR_INTERNAL, "probe slot %u of %zu", r->slot, c->nslots);
		if (!mp_dtype_is_float(r->a->dtype) || !mp_dtype_computable(r->a->dtype) || !mp_tensor_is_contiguous(r->a) ||
		    r->a->device != MP_DEVICE_CUDA)
			return mp_error_set(e, MP_ERR_INTERNAL, "probe of a %s tensor that is not contiguous float on the GPU",
			                    mp_dtype_name(r->a->dtype));
		if (r->kind == MP_PROBE_DIVERSITY) {
			if ((st = diversity(c, r, e)))
				return st;
			continue;
		}
		if (r->kind == MP_PROBE_COMPARE &&
		    (!r->b || mp_tensor_numel(r->b) != mp_tensor_numel(r->a) || r->part >= MP_PROBE_CMP_PARTS))
			return mp_error_set(e, MP_ERR_INTERNAL, "probe comparison of tensors that differ in size");
		int64_t cnt = mp_tensor_numel(r->a);
		nb += (size_t)((cnt + CHUNK - 1) / CHUNK);
		nr++;
	}
	if (!nr)
		return MP_OK;
	/* the request and block tables, built here and copied over in one go */
	size_t rbytes = nr * sizeof(preq), bbytes = (nb ? nb : 1) * sizeof(pblock);
	char *host = (char *)malloc(rbytes + bbytes);
	if (!host)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	preq *hr = (preq *)host;
	pblock *hb = (pblock *)(host + rbytes);
	size_t k = 0, b = 0;
	for (size_t i = 0; i < n; i++) {
		const struct mp_probe_req *r = &reqs[i];
		if (r->kind == MP_PROBE_DIVERSITY)
			continue;
		preq *q = &hr[k];
		q->a = r->a->data;
		q->b = r->b ? r->b->data : NULL;
		q->at = r->a->dtype;
		q->bt = r->b ? (int)r->b->dtype : 0;
		q->kind = r->kind;
		q->slot = r->slot;
		q->part = r->part;
		q->n = mp_tensor_numel(r->a);
		q->first_block = (int64_t)b;
		q->nblocks = 0;
		for (int64_t s = 0; s < q->n; s += CHUNK) {
			hb[b].req = (int32_t)k;
			hb[b].start = s;
			hb[b].count = q->n - s < (int64_t)CHUNK ? q->n - s : (int64_t)CHUNK;
			b++;
			q->nblocks++;
		}
		k++;
	}
	void *dtab = NULL, *dparts = NULL;
	if ((st = cu_upload(c, host, rbytes + bbytes, &dtab, e)))
		goto out;
	if ((st = cu_scratch(c, (nb ? nb : 1) * sizeof(part), &dparts, e)))
		goto out;
	if (nb)
		k_probe_parts<<<(unsigned)nb, THREADS, 0, c->stream>>>((const preq *)dtab,
		                                                        (const pblock *)((char *)dtab + rbytes),
		                                                        (part *)dparts);
	k_probe_merge<<<(unsigned)nr, THREADS, 0, c->stream>>>((const preq *)dtab, (const part *)dparts, c->d_slots);
	if (cudaPeekAtLastError() != cudaSuccess)
		st = cu_fail(cudaGetLastError(), "the probes", e);
out:
	cu_table_free(c, dtab);
	cu_scratch_free(c, dparts);
	free(host);
	return st;
}
