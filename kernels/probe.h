/* probe.h - what a backend measures for the probes, in one pass per tensor:
 * fused statistics, the comparison of two tensors, and the diversity of a
 * batch.  Backends fill raw accumulators (sums, counts, extremes) in a
 * table of result slots that stays on their device until fetched, once per
 * batch; probes/ turns them into the numbers people read.
 *
 * Statistics are over the finite values (NaN and +-Inf are counted apart):
 * min, max, absmax, mean and M2 (the sum of squared deviations, Welford
 * per thread or chunk, merged with Chan's formula), the smallest nonzero
 * |x|, zeros; for bf16 and f16, the finite values that would overflow them
 * (round to +-Inf), that would underflow them (nonzero, below their
 * smallest normal) and that would flush to zero; and a histogram of binary
 * exponents: one bin per exponent of the f32 range (-126..127; an f64
 * value beyond it falls in the end bin), plus zero, subnormal (nonzero,
 * below 2^-126), Inf and NaN bins. */
#ifndef MP_PROBE_H
#define MP_PROBE_H

#include <stdint.h>

#include "tensor.h"

enum {
	MP_HIST_ZERO = 0,
	MP_HIST_SUBNORMAL = 1,
	MP_HIST_EXP_MIN = -126, /* bin 2 */
	MP_HIST_EXP_MAX = 127,  /* bin 255 */
	MP_HIST_INF = 256,
	MP_HIST_NAN = 257,
	MP_HIST_BINS = 258,
};

/* The bin of a finite nonzero value with binary exponent e (|x| in [2^e, 2^(e+1))). */
static inline int mp_hist_bin(int e)
{
	return e < MP_HIST_EXP_MIN ? MP_HIST_SUBNORMAL : e > MP_HIST_EXP_MAX ? MP_HIST_EXP_MAX + 128 : e + 128;
}

#ifdef __CUDACC__
#define MP_PROBE_INLINE static inline __host__ __device__
#else
#define MP_PROBE_INLINE static inline
#endif

/* Whether f16 holds exactly the finite f32 value with these bits: zero, or
 * |x| in [2^-24, 2^16) with no bit below its 11th significant one nor below
 * 2^-24 (f16's subnormal step).  Branch-free, for the vectorizer. */
MP_PROBE_INLINE uint32_t mp_f32_bits_exact_f16(uint32_t bits)
{
	uint32_t ab = bits & 0x7FFFFFFFu, e = ab >> 23; /* biased: 103 is 2^-24, 142 is 2^15 */
	uint32_t k = e >= 113 ? 13 : e >= 103 ? 126 - e : 0; /* the low bits f16 drops */
	return (uint32_t)(ab == 0) | ((uint32_t)(e - 103u <= 39u) & (uint32_t)((ab & ((1u << k) - 1u)) == 0));
}

/* The low-precision types whose range every tensor is measured against. */
enum mp_low { MP_LOW_BF16, MP_LOW_F16, MP_LOW_COUNT };

/* A statistic's member, its empty value and its merge, by the kind and
 * merge of its row in stats.def.  The merges work on any two structs with
 * the table's members (the CUDA backend's partials too); CHAN's pair is
 * merged by hand, before the others. */
#define MP_STAT_FIELD_COUNT(f) int64_t f;
#define MP_STAT_FIELD_REAL(f) double f;
#define MP_STAT_FIELD_STD(f) double f;
#define MP_STAT_FIELD_LOW(f) int64_t f[MP_LOW_COUNT];
#define MP_STAT_INIT_ONE(a, f, v) (a)->f = (v);
#define MP_STAT_INIT_COUNT MP_STAT_INIT_ONE
#define MP_STAT_INIT_REAL MP_STAT_INIT_ONE
#define MP_STAT_INIT_STD MP_STAT_INIT_ONE
#define MP_STAT_INIT_LOW(a, f, v) for (int t_ = 0; t_ < MP_LOW_COUNT; t_++) (a)->f[t_] = (v);
#define MP_STAT_MERGE_SUM_COUNT(a, b, f) (a)->f += (b)->f;
#define MP_STAT_MERGE_SUM_LOW(a, b, f) for (int t_ = 0; t_ < MP_LOW_COUNT; t_++) (a)->f[t_] += (b)->f[t_];
#define MP_STAT_MERGE_MIN_REAL(a, b, f) (a)->f = fmin((a)->f, (b)->f);
#define MP_STAT_MERGE_MAX_REAL(a, b, f) (a)->f = fmax((a)->f, (b)->f);
#define MP_STAT_MERGE_CHAN_REAL(a, b, f)
#define MP_STAT_MERGE_CHAN_STD(a, b, f)

/* The statistics of stats.def (over the finite values: min +Inf, max -Inf,
 * absmax 0 and min_nonzero +Inf when there are none), and the histogram. */
struct mp_stats_acc {
#define MP_STAT(field, kind, merge, init, name, flags, doc) MP_STAT_FIELD_##kind(field)
#include "stats.def"
#undef MP_STAT
	uint64_t hist[MP_HIST_BINS];
};

/* a (the value under test) against b (the reference), element by element;
 * sums over the pairs where both are finite. */
struct mp_compare_acc {
	int64_t count;     /* pairs */
	int64_t nonfinite; /* pairs where either is NaN or Inf, and they differ */
	double max_abs;
	double sum_d2, sum_a2, sum_b2, sum_ab;
};

/* For a tensor [B, ...] with B samples: the mean over features of the std
 * across samples, and the mean over samples of the std within a sample. */
struct mp_diversity_acc {
	int64_t samples, features;
	double across, within;
};

enum mp_probe_kind { MP_PROBE_STATS, MP_PROBE_COMPARE, MP_PROBE_DIVERSITY };

enum { MP_PROBE_CMP_PARTS = 3 };

struct mp_probe_req {
	enum mp_probe_kind kind;
	const struct mp_tensor *a, *b; /* contiguous, on the backend's device; b for COMPARE */
	uint32_t slot;
	uint32_t part;                 /* COMPARE: which of the slot's comparisons */
};

/* One slot of the result table; a request fills the part of its kind. */
struct mp_probe_result {
	struct mp_stats_acc stats;
	struct mp_diversity_acc div;
	struct mp_compare_acc cmp[MP_PROBE_CMP_PARTS];
};

/* An empty accumulator (min +Inf, max -Inf, ...). */
void mp_stats_acc_init(struct mp_stats_acc *s);
/* Chan's merge of b into a. */
void mp_stats_acc_merge(struct mp_stats_acc *a, const struct mp_stats_acc *b);

#endif
