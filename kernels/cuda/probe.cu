/* probe.cu - the probes on the GPU.  One probe() call is one launch: every
 * block takes a chunk of one request's tensor (statistics, comparison or
 * diversity) and writes a partial result; the block that finishes last for
 * its request (a counter per request, in a buffer of the context zeroed
 * once and left zeroed by that block) merges the partials in block order
 * into the request's slot, so the result is the same every run and a
 * captured graph replays it as it ran.  Results stay in a table on the
 * device until the batch's one fetch.  Definitions are the CPU's
 * (kernels/cpu/probe.c, probe.h).
 *
 * Statistics of f32, bf16 and f16 read 16 bytes a load and classify each
 * value from its f32 bits, as the CPU's f32 pass does: a histogram of the
 * biased exponent in shared memory, from which the exponent bins and the
 * low types' limits follow, but for the few binades where a limit falls
 * inside one (those values, and NaN and Inf, take a short rare path);
 * counts in 32-bit registers, extremes as integer keys (-0 below +0, as
 * the CPU's keys).  Every count, extreme and histogram bin is exact, so
 * equal to the CPU's.  The moments: each block sums x - K and (x - K)^2 in
 * f64 with K a finite value of its chunk, then its mean and M2; the last
 * block merges the blocks' (n, mean, M2) with Chan's formula, over
 * contiguous runs of blocks and then a pairwise tree, both in block order.
 * Bound, against an exact f64 two-pass computation: |d mean| <= 1e-12
 * absmax and |d M2| <= 4e-9 M2 (a block's M2 is S2 - S1^2/n, and
 * S2 <= (n + 1) M2 when K is one of the chunk's values, n <= 32768; the
 * sums' rounding is about 1.6e-14 relative), provided one of a chunk's
 * first 32 values is finite (otherwise K is 0).  f64 tensors take a plain
 * value-by-value path with the same partials.  Comparisons and diversity
 * compute what the earlier separate launches did, in the same order, to
 * the bit. */
#include <float.h>
#include <math.h>

#include "cu.cuh"

enum {
	THREADS = 256,
	WARPS = THREADS / 32,
	/* a statistics block's elements: n/512 rounded up to 2048 (so that
	 * every chunk starts 16-byte aligned where the tensor does), within
	 * these bounds; the chunk depends on n only, never on the GPU */
	ST_CHUNK_MIN = 8192,
	ST_CHUNK_MAX = 32768,
	CMP_CHUNK = 64 * 1024,
	DIV_CHUNK = 64 * 1024,
	INLINE_REQS = 8, /* requests passed in the launch's parameters */
	/* the histogram: 16 copies (lane % 16) of 260 bins of 16 bits, two to
	 * a word; a copy counts at most ST_CHUNK_MAX / 16 values */
	HCOPIES = 16,
	HWORDS = 130,
};

static_assert(ST_CHUNK_MAX / HCOPIES < 65536, "a histogram copy's bin fits 16 bits");
static_assert(MP_HIST_BINS <= 2 * HWORDS, "the f64 path's bins fit the histogram");

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
	if (!n)
		return MP_OK;
	/* through pinned memory (kept, grown as the table grows): a copy from
	 * pageable memory is staged by the driver at a fraction of the speed */
	if (n > c->cap_h_slots) {
		void *h = NULL;
		if (c->h_slots)
			cudaFreeHost(c->h_slots);
		c->h_slots = NULL;
		c->cap_h_slots = 0;
		if (cudaMallocHost(&h, c->cap_slots * sizeof *out) == cudaSuccess) {
			c->h_slots = (struct mp_probe_result *)h;
			c->cap_h_slots = c->cap_slots;
		} else {
			cudaGetLastError(); /* no pinned memory: straight to out */
		}
	}
	struct mp_probe_result *land = c->h_slots ? c->h_slots : out;
	CU_TRY(cudaMemcpyAsync(land, c->d_slots, n * sizeof *out, cudaMemcpyDeviceToHost, c->stream),
	       "fetching the probes' results");
	CU_TRY(cudaStreamSynchronize(c->stream), "waiting for the GPU");
	if (land != out)
		memcpy(out, land, n * sizeof *out);
	return MP_OK;
}

/* ---- one launch per call: requests, partials, the last block's merge ---- */

struct preq {                 /* one request, as the kernel sees it */
	const void *a, *b;
	int at, bt, kind;
	uint32_t slot, part;
	int64_t n;
	int64_t first_block;  /* its blocks in the launch */
	int64_t nblocks;
	int64_t chunk;        /* STATS: elements a block */
	int64_t rows, cols;   /* DIVERSITY: [B, F] */
	int64_t fblocks, chunks;
};

struct pcall {                /* the launch's parameters */
	preq inl[INLINE_REQS];
	const preq *reqs;     /* on the device, where more than INLINE_REQS */
	int nreq;
	union part *parts;    /* a partial per block */
	struct cu_probe_acc *acc; /* per request: the context's, zeroed */
	struct mp_probe_result *slots;
};

struct st_part {              /* a statistics block's moments */
	double n, mean, m2;
};

struct cmp_part {
	unsigned long long count, nonfinite;
	double max_abs, d2, a2, b2, ab;
};

union part {
	st_part s;
	cmp_part c;
	double d[3];          /* diversity: a feature block's sum, a sample chunk's n, mean, M2 */
};

/* the final counts a statistics request accumulates, exact in any order */
enum {
	C_NAN, C_PINF, C_NINF, C_ZEROS,
	C_OVER, C_UNDER = C_OVER + MP_LOW_COUNT, C_FLUSH = C_UNDER + MP_LOW_COUNT, C_EXACT = C_FLUSH + MP_LOW_COUNT,
	C_COUNT = C_EXACT + MP_LOW_COUNT
};
enum { K_LO, K_HI, K_AMAX, K_ANZ, K_COUNT }; /* extremes as keys, all merged by max; 0: none */

/* A request's accumulator in the context's buffer: all zero between
 * launches (the last block leaves it so). */
struct cu_probe_acc {
	unsigned long long hist[MP_HIST_BINS];
	unsigned long long cnt[C_COUNT];
	unsigned long long key[K_COUNT];
	unsigned int done;    /* blocks finished */
	unsigned int pad;
};

size_t cu_probe_acc_bytes(void)
{
	return CU_PROBE_MAX_REQS * sizeof(struct cu_probe_acc);
}

/* the shared rare counters of a statistics block */
enum {
	R_NAN, R_PINF, R_NINF, R_BF16_FLUSH, R_BF16_OVER, R_F16_OVER, R_F16_FLUSH_EDGE,
	R_F16_UNDER_BINS, R_F16_FLUSH_BINS, R_F16_OVER_BINS, R_F16_EXACT_BINS,
	R_LOW, /* f64: overflow, underflow, flush per low type */
	R_COUNT = R_LOW + 3 * MP_LOW_COUNT
};

union smem {
	struct {
		uint32_t hist[HWORDS * HCOPIES];
		uint32_t rare[R_COUNT];
		uint32_t h0;
		double s1[WARPS], s2[WARPS];
		uint32_t cnt[WARPS][3];
		unsigned long long key[WARPS][K_COUNT];
	} st;
	struct {
		double n[THREADS], mean[THREADS], m2[THREADS];
	} mg;
	struct {
		double d2[THREADS], a2[THREADS], b2[THREADS], ab[THREADS], mx[THREADS];
		unsigned long long bad[THREADS];
	} cmp;
	double div[THREADS];
};

/* After a block wrote its partial (and its atomics): whether it is the
 * request's last.  The fence before the counter makes this block's writes
 * visible to the last one; the last one fences again before it reads. */
__device__ __forceinline__ bool block_is_last(unsigned int *done, int64_t nblocks, int *flag)
{
	__threadfence();
	__syncthreads();
	if (threadIdx.x == 0)
		*flag = atomicAdd(done, 1u) == (unsigned int)(nblocks - 1);
	__syncthreads();
	bool last = *flag != 0;
	if (last)
		__threadfence();
	return last;
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

/* Order-preserving keys of doubles: unsigned order is float order, -0
 * below +0; never 0 for a finite value. */
__device__ __forceinline__ unsigned long long okey(double d)
{
	unsigned long long u = (unsigned long long)__double_as_longlong(d);
	return (u >> 63) ? ~u : u | 0x8000000000000000ull;
}

__device__ __forceinline__ double okey_value(unsigned long long k)
{
	return __longlong_as_double((long long)((k >> 63) ? k & 0x7FFFFFFFFFFFFFFFull : ~k));
}

/* f32 keys as the CPU's: int order is float order */
__device__ __forceinline__ float key32_value(int32_t key)
{
	return __uint_as_float((uint32_t)key ^ ((uint32_t)(key >> 31) & 0x7FFFFFFFu));
}

/* ---- statistics: a thread's accumulators ---- */

struct st_thr {
	double s1, s2;                 /* sums of x - K and (x - K)^2 */
	uint32_t zeros, ex_bf16, ex_f16;
	int32_t klo, khi;              /* f32 family: keys */
	uint32_t amax, anz_m1;         /* |x| bits; nonzero |x| bits - 1 */
	unsigned long long key[K_COUNT]; /* f64 (and every type at the end) */
};

__device__ __forceinline__ void hist_add(uint32_t *hist, uint32_t bin)
{
	atomicAdd(&hist[(bin >> 1) * HCOPIES + (threadIdx.x & (HCOPIES - 1))], 1u << ((bin & 1u) << 4));
}

/* The values of a binade a limit falls inside, NaN and Inf: 1 for NaN and
 * Inf (which count for nothing else), else 2 where a bf16 value of f16's
 * subnormal binades is exact in f16.  Out of line, and the thread's
 * accumulators not passed (a reference would put them in local memory). */
template <int DT>
__device__ __noinline__ uint32_t st_rare(uint32_t b, uint32_t ab, uint32_t e, uint32_t *rare)
{
	if (e == 255u) {
		atomicAdd(&rare[ab > 0x7F800000u ? R_NAN : (b >> 31) ? R_NINF : R_PINF], 1u);
		return 1u;
	}
	if (e == 0u && ab <= 0x00008000u)          /* (nonzero here) <= 2^-134: 0 in bf16 */
		atomicAdd(&rare[R_BF16_FLUSH], 1u);
	else if (e == 102u && ab <= 0x33000000u)   /* <= 2^-25: 0 in f16 */
		atomicAdd(&rare[R_F16_FLUSH_EDGE], 1u);
	else if (e == 142u && ab >= 0x477FF000u)   /* >= 65520: Inf in f16 */
		atomicAdd(&rare[R_F16_OVER], 1u);
	else if (e == 254u && ab >= 0x7F7F8000u)   /* >= 0x1.ffp127: Inf in bf16 */
		atomicAdd(&rare[R_BF16_OVER], 1u);
	if (DT == MP_BF16 && e - 103u <= 9u)       /* f16's subnormal binades */
		return mp_f32_bits_exact_f16(b) << 1;
	return 0u;
}

/* One value of f32, bf16 or f16, by its f32 bits. */
template <int DT>
__device__ __forceinline__ void st_elem(uint32_t b, double k, st_thr &t, uint32_t *hist, uint32_t *rare)
{
	uint32_t ab = b & 0x7FFFFFFFu, e = ab >> 23;
	hist_add(hist, e);
	bool is_rare;
	if (DT == MP_F16) /* f16's values are normal f32s, below both limits */
		is_rare = e == 255u;
	else if (DT == MP_BF16)
		is_rare = ((e - 1u >= 253u) & (ab != 0u)) | (e - 102u <= 10u) | (e == 142u);
	else
		is_rare = ((e - 1u >= 253u) & (ab != 0u)) | (e == 102u) | (e == 142u);
	if (is_rare) {
		uint32_t r = st_rare<DT>(b, ab, e, rare);
		if (r & 1u)
			return;
		t.ex_f16 += r >> 1;
	}
	t.zeros += ab == 0u;
	if (DT != MP_BF16)
		t.ex_bf16 += (b & 0xFFFFu) == 0u;
	if (DT == MP_F32)
		t.ex_f16 += mp_f32_bits_exact_f16(b);
	int32_t key = (int32_t)(b ^ ((uint32_t)((int32_t)b >> 31) >> 1));
	t.klo = min(t.klo, key);
	t.khi = max(t.khi, key);
	t.amax = max(t.amax, ab);
	t.anz_m1 = min(t.anz_m1, ab - 1u);
	double d = (double)__uint_as_float(b) - k;
	t.s1 += d;
	t.s2 = fma(d, d, t.s2);
}

__device__ __forceinline__ uint32_t f16_bits_to_f32_bits(uint32_t h)
{
	float f;
	asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"((unsigned short)h));
	return __float_as_uint(f);
}

/* a 32-bit word of the tensor: one f32 value or two 16-bit ones */
template <int DT>
__device__ __forceinline__ void st_word(uint32_t w, double k, st_thr &t, uint32_t *hist, uint32_t *rare)
{
	if (DT == MP_F32) {
		st_elem<DT>(w, k, t, hist, rare);
	} else if (DT == MP_BF16) {
		st_elem<DT>(w << 16, k, t, hist, rare);
		st_elem<DT>(w & 0xFFFF0000u, k, t, hist, rare);
	} else {
		st_elem<DT>(f16_bits_to_f32_bits(w & 0xFFFFu), k, t, hist, rare);
		st_elem<DT>(f16_bits_to_f32_bits(w >> 16), k, t, hist, rare);
	}
}

template <int DT>
__device__ __forceinline__ uint32_t st_bits(const void *p, int64_t i)
{
	if (DT == MP_F32)
		return ((const uint32_t *)p)[i];
	uint32_t h = ((const uint16_t *)p)[i];
	return DT == MP_BF16 ? h << 16 : f16_bits_to_f32_bits(h);
}

/* A chunk of f32, bf16 or f16: the unaligned head and tail value by value,
 * the rest 16 bytes a load, two loads in flight a thread. */
template <int DT>
__device__ void st_scan(const void *data, int64_t start, int count, double k, st_thr &t, uint32_t *hist,
                        uint32_t *rare)
{
	enum { ES = DT == MP_F32 ? 4 : 2 };
	const char *base = (const char *)data + start * ES;
	int head = (int)(((16u - ((uintptr_t)base & 15u)) & 15u) / ES);
	head = head < count ? head : count;
	int nvec = (count - head) / (16 / ES), body_end = head + nvec * (16 / ES);
	for (int i = threadIdx.x; i < head; i += THREADS)
		st_elem<DT>(st_bits<DT>(base, i), k, t, hist, rare);
	const uint4 *vp = (const uint4 *)(base + (size_t)head * ES);
	for (int v = threadIdx.x; v < nvec; v += 2 * THREADS) {
		uint4 w0 = __ldg(vp + v), w1 = make_uint4(0, 0, 0, 0);
		bool two = v + THREADS < nvec;
		if (two)
			w1 = __ldg(vp + v + THREADS);
		st_word<DT>(w0.x, k, t, hist, rare);
		st_word<DT>(w0.y, k, t, hist, rare);
		st_word<DT>(w0.z, k, t, hist, rare);
		st_word<DT>(w0.w, k, t, hist, rare);
		if (two) {
			st_word<DT>(w1.x, k, t, hist, rare);
			st_word<DT>(w1.y, k, t, hist, rare);
			st_word<DT>(w1.z, k, t, hist, rare);
			st_word<DT>(w1.w, k, t, hist, rare);
		}
	}
	for (int i = body_end + threadIdx.x; i < count; i += THREADS)
		st_elem<DT>(st_bits<DT>(base, i), k, t, hist, rare);
}

/* The bin of a finite nonzero |x| of f64 (probe.h's mp_hist_bin) */
__device__ __forceinline__ uint32_t hist_bin_f64(double ax)
{
	long long u = __double_as_longlong(ax);
	int biased = (int)((u >> 52) & 0x7FF);
	int e = biased == 0 ? -1023 : biased - 1023;
	return e < MP_HIST_EXP_MIN ? MP_HIST_SUBNORMAL : e > MP_HIST_EXP_MAX ? MP_HIST_EXP_MAX + 128 : e + 128;
}

/* the low types' limits (kernels/cpu/probe.c) */
__constant__ double c_overflow[MP_LOW_COUNT] = { 0x1.ffp127, 65520.0 };
__constant__ double c_normal[MP_LOW_COUNT] = { 0x1p-126, 0x1p-14 };
__constant__ double c_flush[MP_LOW_COUNT] = { 0x1p-134, 0x1p-25 };

/* f64: value by value, the histogram in its final bins. */
__device__ void st_scan_f64(const double *x, int count, double k, st_thr &t, uint32_t *hist, uint32_t *rare)
{
	for (int i = threadIdx.x; i < count; i += THREADS) {
		double v = x[i], ax = fabs(v);
		if (v != v || isinf(v)) {
			hist_add(hist, v != v ? MP_HIST_NAN : MP_HIST_INF);
			atomicAdd(&rare[v != v ? R_NAN : v > 0 ? R_PINF : R_NINF], 1u);
			continue;
		}
		float f = __double2float_rn(v);
		if (ax <= FLT_MAX && (double)f == v) { /* an f32 value: the low types hold a subset */
			uint32_t fb = __float_as_uint(f);
			t.ex_bf16 += (fb & 0xFFFFu) == 0u;
			t.ex_f16 += mp_f32_bits_exact_f16(fb);
		}
		t.key[K_LO] = max(t.key[K_LO], ~okey(v));
		t.key[K_HI] = max(t.key[K_HI], okey(v));
		t.key[K_AMAX] = max(t.key[K_AMAX], (unsigned long long)__double_as_longlong(ax));
		double d = v - k;
		t.s1 += d;
		t.s2 = fma(d, d, t.s2);
		if (ax == 0) {
			t.zeros++;
			hist_add(hist, MP_HIST_ZERO);
			continue;
		}
		t.key[K_ANZ] = max(t.key[K_ANZ], ~(unsigned long long)__double_as_longlong(ax));
		hist_add(hist, hist_bin_f64(ax));
		for (int l = 0; l < MP_LOW_COUNT; l++) {
			if (ax >= c_overflow[l])
				atomicAdd(&rare[R_LOW + l], 1u);
			if (ax < c_normal[l])
				atomicAdd(&rare[R_LOW + MP_LOW_COUNT + l], 1u);
			if (ax <= c_flush[l])
				atomicAdd(&rare[R_LOW + 2 * MP_LOW_COUNT + l], 1u);
		}
	}
}

template <int DT>
__device__ __forceinline__ double st_load(const void *p, int64_t i)
{
	return DT == MP_F64 ? ((const double *)p)[i] : (double)__uint_as_float(st_bits<DT>(p, i));
}

/* K: the first finite value among the chunk's first 32, else 0; every
 * warp finds the same. */
template <int DT>
__device__ __forceinline__ double st_shift(const void *data, int64_t start, int count)
{
	int lane = threadIdx.x & 31;
	double v = lane < count ? st_load<DT>(data, start + lane) : 0.0;
	unsigned fin = __ballot_sync(0xFFFFFFFFu, fabs(v) <= DBL_MAX && lane < count);
	double k = __shfl_sync(0xFFFFFFFFu, v, fin ? __ffs(fin) - 1 : 0);
	return fin ? k : 0.0;
}

/* A thread's sums, counts and keys, over its warp and then (thread 0) the
 * block's warps in order. */
__device__ __forceinline__ void st_reduce_warp(st_thr &t, smem &sm)
{
	for (int o = 16; o > 0; o >>= 1) {
		t.s1 += __shfl_down_sync(0xFFFFFFFFu, t.s1, o);
		t.s2 += __shfl_down_sync(0xFFFFFFFFu, t.s2, o);
		t.zeros += __shfl_down_sync(0xFFFFFFFFu, t.zeros, o);
		t.ex_bf16 += __shfl_down_sync(0xFFFFFFFFu, t.ex_bf16, o);
		t.ex_f16 += __shfl_down_sync(0xFFFFFFFFu, t.ex_f16, o);
		for (int k = 0; k < K_COUNT; k++)
			t.key[k] = max(t.key[k], __shfl_down_sync(0xFFFFFFFFu, t.key[k], o));
	}
	int w = threadIdx.x >> 5;
	if ((threadIdx.x & 31) == 0) {
		sm.st.s1[w] = t.s1;
		sm.st.s2[w] = t.s2;
		sm.st.cnt[w][0] = t.zeros;
		sm.st.cnt[w][1] = t.ex_bf16;
		sm.st.cnt[w][2] = t.ex_f16;
		for (int k = 0; k < K_COUNT; k++)
			sm.st.key[w][k] = t.key[k];
	}
}

/* The block's histogram into the request's: f64's bins as they are; the
 * f32 family's biased exponents as bins, with the sums over the binades
 * that f16's limits take whole. */
template <int DT>
__device__ __forceinline__ void st_hist_finish(cu_probe_acc *acc, smem &sm)
{
	uint32_t *rare = sm.st.rare;
	for (int bin = threadIdx.x; bin < 2 * HWORDS; bin += THREADS) {
		uint32_t h = 0;
		for (int c = 0; c < HCOPIES; c++)
			h += (sm.st.hist[(bin >> 1) * HCOPIES + c] >> ((bin & 1) << 4)) & 0xFFFFu;
		if (DT == MP_F64) {
			if (h && bin < MP_HIST_BINS)
				atomicAdd(&acc->hist[bin], (unsigned long long)h);
			continue;
		}
		if (bin == 0) { /* zeros and f32 subnormals: told apart with the zeros' count */
			sm.st.h0 = h;
			continue;
		}
		if (bin >= 255 || !h) /* 255: NaN and Inf, counted apart */
			continue;
		atomicAdd(&acc->hist[bin + 1], (unsigned long long)h); /* exponent bin - 127, bin e + 128 */
		if (bin <= 127 - 15)
			atomicAdd(&rare[R_F16_UNDER_BINS], h);
		if (bin <= 127 - 26)
			atomicAdd(&rare[R_F16_FLUSH_BINS], h);
		if (bin >= 127 + 16)
			atomicAdd(&rare[R_F16_OVER_BINS], h);
		if (bin >= 127 - 14 && bin <= 127 + 15) /* f16's normal binades: every bf16 value there is exact */
			atomicAdd(&rare[R_F16_EXACT_BINS], h);
	}
}

__device__ __forceinline__ void acc_add(unsigned long long *a, unsigned long long v)
{
	if (v)
		atomicAdd(a, v);
}

/* Thread 0: the block's counts into the request's, and its moments as
 * its partial. */
template <int DT>
__device__ void st_block_finish(int count, double k, cu_probe_acc *acc, union part *p, smem &sm)
{
	double s1 = 0, s2 = 0;
	uint32_t zeros = 0, exb = 0, exf = 0;
	unsigned long long key[K_COUNT] = { 0, 0, 0, 0 };
	for (int w = 0; w < WARPS; w++) {
		s1 += sm.st.s1[w];
		s2 += sm.st.s2[w];
		zeros += sm.st.cnt[w][0];
		exb += sm.st.cnt[w][1];
		exf += sm.st.cnt[w][2];
		for (int j = 0; j < K_COUNT; j++)
			key[j] = max(key[j], sm.st.key[w][j]);
	}
	const uint32_t *rare = sm.st.rare;
	uint32_t nan = rare[R_NAN], pinf = rare[R_PINF], ninf = rare[R_NINF];
	uint32_t finite = (uint32_t)count - nan - pinf - ninf;
	unsigned long long *cnt = acc->cnt;
	acc_add(&cnt[C_NAN], nan);
	acc_add(&cnt[C_PINF], pinf);
	acc_add(&cnt[C_NINF], ninf);
	acc_add(&cnt[C_ZEROS], zeros);
	if (DT == MP_F64) {
		for (int l = 0; l < MP_LOW_COUNT; l++) {
			acc_add(&cnt[C_OVER + l], rare[R_LOW + l]);
			acc_add(&cnt[C_UNDER + l], rare[R_LOW + MP_LOW_COUNT + l]);
			acc_add(&cnt[C_FLUSH + l], rare[R_LOW + 2 * MP_LOW_COUNT + l]);
		}
		acc_add(&cnt[C_EXACT + MP_LOW_BF16], exb);
		acc_add(&cnt[C_EXACT + MP_LOW_F16], exf);
	} else { /* as the CPU's f32_finish */
		uint32_t sub = sm.st.h0 - zeros;
		acc_add(&acc->hist[MP_HIST_ZERO], zeros);
		acc_add(&acc->hist[MP_HIST_SUBNORMAL], sub);
		acc_add(&acc->hist[MP_HIST_INF], pinf + ninf);
		acc_add(&acc->hist[MP_HIST_NAN], nan);
		acc_add(&cnt[C_OVER + MP_LOW_BF16], rare[R_BF16_OVER]);
		acc_add(&cnt[C_OVER + MP_LOW_F16], rare[R_F16_OVER] + rare[R_F16_OVER_BINS]);
		acc_add(&cnt[C_UNDER + MP_LOW_BF16], sub);
		acc_add(&cnt[C_UNDER + MP_LOW_F16], sub + rare[R_F16_UNDER_BINS]);
		acc_add(&cnt[C_FLUSH + MP_LOW_BF16], rare[R_BF16_FLUSH]);
		acc_add(&cnt[C_FLUSH + MP_LOW_F16], sub + rare[R_F16_FLUSH_BINS] + rare[R_F16_FLUSH_EDGE]);
		acc_add(&cnt[C_EXACT + MP_LOW_BF16], DT == MP_BF16 ? finite : exb);
		acc_add(&cnt[C_EXACT + MP_LOW_F16],
		        DT == MP_F16 ? finite : DT == MP_BF16 ? zeros + rare[R_F16_EXACT_BINS] + exf : exf);
	}
	for (int j = 0; j < K_COUNT; j++)
		if (key[j])
			atomicMax(&acc->key[j], key[j]);
	double n = (double)finite, mean = 0, m2 = 0;
	if (finite) {
		mean = k + s1 / n;
		m2 = fmax(0.0, s2 - s1 * (s1 / n));
	}
	p->s.n = n;
	p->s.mean = mean;
	p->s.m2 = m2;
}

/* The last block: the request's partials merged (Chan's formula over
 * contiguous runs of blocks, then a pairwise tree, all in block order),
 * its counts read, the slot written and the accumulator left zeroed. */
__device__ void st_merge(const preq &r, const union part *parts, cu_probe_acc *acc, struct mp_stats_acc *s,
                         smem &sm)
{
	int t = threadIdx.x;
	int64_t nb = r.nblocks, run = (nb + THREADS - 1) / THREADS, b0 = t * run, b1 = b0 + run < nb ? b0 + run : nb;
	double n = 0, mean = 0, m2 = 0;
	for (int64_t b = b0; b < b1; b++)
		chan(n, mean, m2, __ldcg(&parts[b].s.n), __ldcg(&parts[b].s.mean), __ldcg(&parts[b].s.m2));
	sm.mg.n[t] = n;
	sm.mg.mean[t] = mean;
	sm.mg.m2[t] = m2;
	__syncthreads();
	for (int w = 1; w < THREADS; w <<= 1) {
		if ((t & (2 * w - 1)) == 0) {
			double na = sm.mg.n[t], ma = sm.mg.mean[t], qa = sm.mg.m2[t];
			chan(na, ma, qa, sm.mg.n[t + w], sm.mg.mean[t + w], sm.mg.m2[t + w]);
			sm.mg.n[t] = na;
			sm.mg.mean[t] = ma;
			sm.mg.m2[t] = qa;
		}
		__syncthreads();
	}
	for (int k = t; k < MP_HIST_BINS; k += THREADS)
		s->hist[k] = __ldcg(&acc->hist[k]);
	if (t == 0) {
		const unsigned long long *cnt = acc->cnt, *key = acc->key;
#define MP_STAT(field, kind, merge, init, name, flags, doc) MP_STAT_INIT_##kind(s, field, init)
#include "stats.def"
#undef MP_STAT
		s->count = r.n;
		s->nan = (int64_t)__ldcg(&cnt[C_NAN]);
		s->posinf = (int64_t)__ldcg(&cnt[C_PINF]);
		s->neginf = (int64_t)__ldcg(&cnt[C_NINF]);
		s->zeros = (int64_t)__ldcg(&cnt[C_ZEROS]);
		s->finite = r.n - s->nan - s->posinf - s->neginf;
		for (int l = 0; l < MP_LOW_COUNT; l++) {
			s->overflow[l] = (int64_t)__ldcg(&cnt[C_OVER + l]);
			s->underflow[l] = (int64_t)__ldcg(&cnt[C_UNDER + l]);
			s->flush[l] = (int64_t)__ldcg(&cnt[C_FLUSH + l]);
			s->exact[l] = (int64_t)__ldcg(&cnt[C_EXACT + l]);
		}
		unsigned long long lo = __ldcg(&key[K_LO]), hi = __ldcg(&key[K_HI]);
		unsigned long long am = __ldcg(&key[K_AMAX]), nz = __ldcg(&key[K_ANZ]);
		s->min = lo ? okey_value(~lo) : INFINITY;
		s->max = hi ? okey_value(hi) : -INFINITY;
		s->absmax = __longlong_as_double((long long)am);
		s->min_nonzero = nz ? __longlong_as_double((long long)~nz) : INFINITY;
		s->mean = sm.mg.mean[0];
		s->m2 = sm.mg.m2[0];
	}
	__syncthreads();
	for (int k = t; k < MP_HIST_BINS; k += THREADS)
		acc->hist[k] = 0;
	if (t < C_COUNT)
		acc->cnt[t] = 0;
	if (t < K_COUNT)
		acc->key[t] = 0;
	if (t == 0)
		acc->done = 0;
}

/* A statistics block: its chunk, its partial, and the merge where last. */
template <int DT>
__device__ void stats_block(const preq &r, int64_t local, const pcall &c, int ri, smem &sm, int *last)
{
	cu_probe_acc *acc = &c.acc[ri];
	int64_t start = local * r.chunk;
	int count = (int)(r.n - start < r.chunk ? r.n - start : r.chunk);
	for (int k = threadIdx.x; k < HWORDS * HCOPIES; k += THREADS)
		sm.st.hist[k] = 0;
	if (threadIdx.x < R_COUNT)
		sm.st.rare[threadIdx.x] = 0;
	double k = st_shift<DT>(r.a, start, count);
	__syncthreads();
	st_thr t;
	t.s1 = t.s2 = 0;
	t.zeros = t.ex_bf16 = t.ex_f16 = 0;
	t.klo = INT32_MAX;
	t.khi = INT32_MIN;
	t.amax = 0;
	t.anz_m1 = UINT32_MAX;
	for (int j = 0; j < K_COUNT; j++)
		t.key[j] = 0;
	if (DT == MP_F64) {
		st_scan_f64((const double *)r.a + start, count, k, t, sm.st.hist, sm.st.rare);
	} else {
		st_scan<DT>(r.a, start, count, k, t, sm.st.hist, sm.st.rare);
		t.key[K_LO] = t.klo == INT32_MAX ? 0 : ~okey((double)key32_value(t.klo));
		t.key[K_HI] = t.khi == INT32_MIN ? 0 : okey((double)key32_value(t.khi));
		t.key[K_AMAX] = (unsigned long long)__double_as_longlong((double)__uint_as_float(t.amax));
		t.key[K_ANZ] = t.anz_m1 == UINT32_MAX ?
		               0 : ~(unsigned long long)__double_as_longlong((double)__uint_as_float(t.anz_m1 + 1u));
	}
	st_reduce_warp(t, sm);
	__syncthreads();
	st_hist_finish<DT>(acc, sm);
	__syncthreads();
	if (threadIdx.x == 0)
		st_block_finish<DT>(count, k, acc, &c.parts[r.first_block + local], sm);
	if (block_is_last(&acc->done, r.nblocks, last))
		st_merge(r, c.parts + r.first_block, acc, &c.slots[r.slot].stats, sm);
}

/* ---- comparisons: chunks of CMP_CHUNK, each block's sums by a shared tree ---- */

__device__ void compare_block(const preq &r, int64_t local, const pcall &c, int ri, smem &sm, int *last)
{
	int t = threadIdx.x;
	int64_t start = local * CMP_CHUNK, end = r.n - start < CMP_CHUNK ? r.n : start + CMP_CHUNK;
	double d2 = 0, a2 = 0, b2 = 0, ab = 0, mx = 0;
	unsigned long long bad = 0;
	for (int64_t i = start + t; i < end; i += THREADS) {
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
	sm.cmp.d2[t] = d2;
	sm.cmp.a2[t] = a2;
	sm.cmp.b2[t] = b2;
	sm.cmp.ab[t] = ab;
	sm.cmp.mx[t] = mx;
	sm.cmp.bad[t] = bad;
	__syncthreads();
	for (int s = THREADS / 2; s > 0; s >>= 1) {
		if (t < s) {
			sm.cmp.d2[t] += sm.cmp.d2[t + s];
			sm.cmp.a2[t] += sm.cmp.a2[t + s];
			sm.cmp.b2[t] += sm.cmp.b2[t + s];
			sm.cmp.ab[t] += sm.cmp.ab[t + s];
			sm.cmp.mx[t] = sm.cmp.mx[t + s] > sm.cmp.mx[t] ? sm.cmp.mx[t + s] : sm.cmp.mx[t];
			sm.cmp.bad[t] += sm.cmp.bad[t + s];
		}
		__syncthreads();
	}
	const union part *parts = c.parts + r.first_block;
	if (t == 0) {
		cmp_part *p = &c.parts[r.first_block + local].c;
		p->count = (unsigned long long)(end - start);
		p->nonfinite = sm.cmp.bad[0];
		p->d2 = sm.cmp.d2[0];
		p->a2 = sm.cmp.a2[0];
		p->b2 = sm.cmp.b2[0];
		p->ab = sm.cmp.ab[0];
		p->max_abs = sm.cmp.mx[0];
	}
	cu_probe_acc *acc = &c.acc[ri];
	if (!block_is_last(&acc->done, r.nblocks, last) || t)
		return;
	struct mp_compare_acc out;
	memset(&out, 0, sizeof out);
	out.count = r.n;
	for (int64_t b = 0; b < r.nblocks; b++) { /* in block order */
		const cmp_part *p = &parts[b].c;
		out.nonfinite += (int64_t)__ldcg(&p->nonfinite);
		double m = __ldcg(&p->max_abs);
		out.max_abs = m > out.max_abs ? m : out.max_abs;
		out.sum_d2 += __ldcg(&p->d2);
		out.sum_a2 += __ldcg(&p->a2);
		out.sum_b2 += __ldcg(&p->b2);
		out.sum_ab += __ldcg(&p->ab);
	}
	c.slots[r.slot].cmp[r.part] = out;
	acc->done = 0;
}

#include "probe_div.cuh"

/* ---- the kernel: a block finds its request, then its part ---- */

/* The request of block blk (the last whose first block is at or before
 * it): from the parameters by constant indices, or the uploaded table. */
__device__ __forceinline__ int find_req(const pcall &c, int64_t blk, preq &r)
{
	if (c.nreq <= INLINE_REQS) {
		int sel = 0;
#pragma unroll
		for (int i = 1; i < INLINE_REQS; i++)
			if (i < c.nreq && c.inl[i].first_block <= blk)
				sel = i;
#pragma unroll
		for (int i = 0; i < INLINE_REQS; i++)
			if (i == sel)
				r = c.inl[i];
		return sel;
	}
	int lo = 0, hi = c.nreq - 1;
	while (lo < hi) {
		int mid = (lo + hi + 1) / 2;
		if (c.reqs[mid].first_block <= blk)
			lo = mid;
		else
			hi = mid - 1;
	}
	r = c.reqs[lo];
	return lo;
}

__global__ void __launch_bounds__(THREADS) k_probe(const pcall c)
{
	__shared__ smem sm;
	__shared__ int last;
	preq r;
	int ri = find_req(c, (int64_t)blockIdx.x, r);
	int64_t local = (int64_t)blockIdx.x - r.first_block;
	switch (r.kind) {
	case MP_PROBE_STATS:
		switch (r.at) {
		case MP_F32: stats_block<MP_F32>(r, local, c, ri, sm, &last); break;
		case MP_BF16: stats_block<MP_BF16>(r, local, c, ri, sm, &last); break;
		case MP_F16: stats_block<MP_F16>(r, local, c, ri, sm, &last); break;
		default: stats_block<MP_F64>(r, local, c, ri, sm, &last); break;
		}
		break;
	case MP_PROBE_COMPARE: compare_block(r, local, c, ri, sm, &last); break;
	default: diversity_block(r, local, c, ri, sm, &last); break;
	}
}

/* ---- the host: requests laid out as blocks, one launch per group ---- */

static int64_t st_chunk(int64_t n)
{
	int64_t c = (n / 512 + 2047) / 2048 * 2048, lo = ST_CHUNK_MIN, hi = ST_CHUNK_MAX;
	return c < lo ? lo : c > hi ? hi : c;
}

/* The request as the kernel reads it, and how many blocks it takes. */
static void req_layout(const struct mp_probe_req *q, int64_t first, preq *r)
{
	memset(r, 0, sizeof *r);
	r->a = q->a->data;
	r->b = q->b ? q->b->data : NULL;
	r->at = q->a->dtype;
	r->bt = q->b ? (int)q->b->dtype : 0;
	r->kind = q->kind;
	r->slot = q->slot;
	r->part = q->part;
	r->n = mp_tensor_numel(q->a);
	r->first_block = first;
	r->nblocks = 1;
	switch (q->kind) {
	case MP_PROBE_STATS:
		r->chunk = st_chunk(r->n);
		r->nblocks = r->n ? (r->n + r->chunk - 1) / r->chunk : 1;
		break;
	case MP_PROBE_COMPARE:
		r->nblocks = r->n ? (r->n + CMP_CHUNK - 1) / CMP_CHUNK : 1;
		break;
	case MP_PROBE_DIVERSITY:
		r->rows = q->a->ndim ? q->a->shape[0] : 1;
		r->cols = r->rows ? r->n / r->rows : 0;
		if (r->rows >= 2 && r->cols >= 1) {
			r->fblocks = (r->cols + THREADS - 1) / THREADS;
			r->chunks = (r->cols + DIV_CHUNK - 1) / DIV_CHUNK;
			r->nblocks = r->fblocks + r->rows * r->chunks;
		}
		break;
	}
}

/* Requests [0, n) (n <= CU_PROBE_MAX_REQS) as one launch. */
static enum mp_status launch(struct cu_ctx *c, const struct mp_probe_req *reqs, size_t n, struct mp_error *e)
{
	static_assert(sizeof(pcall) <= 4000, "a launch's parameters stay under 4 KB");
	pcall pc;
	preq *hr = n <= INLINE_REQS ? pc.inl : (preq *)malloc(n * sizeof *hr);
	void *dtab = NULL, *dparts = NULL;
	enum mp_status st = MP_OK;
	int64_t blocks = 0;
	if (!hr)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	memset(&pc, 0, sizeof pc);
	for (size_t i = 0; i < n; i++) {
		req_layout(&reqs[i], blocks, &hr[i]);
		blocks += hr[i].nblocks;
	}
	if (blocks > INT32_MAX) {
		st = mp_error_set(e, MP_ERR_UNSUPPORTED, "probes of %lld blocks in one launch", (long long)blocks);
		goto out;
	}
	pc.nreq = (int)n;
	pc.acc = (struct cu_probe_acc *)c->probe_acc;
	pc.slots = c->d_slots;
	if (n > INLINE_REQS) {
		if ((st = cu_upload(c, hr, n * sizeof *hr, &dtab, e)))
			goto out;
		pc.reqs = (const preq *)dtab;
	}
	if ((st = cu_scratch(c, (size_t)blocks * sizeof(union part), &dparts, e)))
		goto out;
	pc.parts = (union part *)dparts;
	k_probe<<<(unsigned)blocks, THREADS, 0, c->stream>>>(pc);
	if (cudaPeekAtLastError() != cudaSuccess)
		st = cu_fail(cudaGetLastError(), "the probes", e);
out:
	cu_table_free(c, dtab);
	cu_scratch_free(c, dparts);
	if (hr != pc.inl)
		free(hr);
	return st;
}

extern "C" enum mp_status cu_probe(void *ctx, const struct mp_probe_req *reqs, size_t n, struct mp_error *e)
{
	struct cu_ctx *c = (struct cu_ctx *)ctx;
	for (size_t i = 0; i < n; i++) {
		const struct mp_probe_req *r = &reqs[i];
		if (r->slot >= c->nslots)
			return mp_error_set(e, MP_ERR_INTERNAL, "probe slot %u of %zu", r->slot, c->nslots);
		if (!mp_dtype_is_float(r->a->dtype) || !mp_dtype_computable(r->a->dtype) || !mp_tensor_is_contiguous(r->a) ||
		    r->a->device != MP_DEVICE_CUDA)
			return mp_error_set(e, MP_ERR_INTERNAL, "probe of a %s tensor that is not contiguous float on the GPU",
			                    mp_dtype_name(r->a->dtype));
		if (r->kind == MP_PROBE_COMPARE &&
		    (!r->b || mp_tensor_numel(r->b) != mp_tensor_numel(r->a) || r->part >= MP_PROBE_CMP_PARTS))
			return mp_error_set(e, MP_ERR_INTERNAL, "probe comparison of tensors that differ in size");
	}
	/* one launch; more only past the context's request accumulators */
	for (size_t i = 0; i < n; i += CU_PROBE_MAX_REQS) {
		size_t most = CU_PROBE_MAX_REQS, m = n - i < most ? n - i : most;
		enum mp_status st = launch(c, reqs + i, m, e);
		if (st)
			return st;
	}
	return MP_OK;
}
