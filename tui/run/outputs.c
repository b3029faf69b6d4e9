/* outputs.c - what a run says of the tensors it makes and the files it
 * writes: a one-line summary of a tensor, and the rule that an existing
 * file is replaced only with --force. */
#include "outputs.h"

#include <math.h>
#include <stdio.h>
#include <sys/stat.h>

/* The line from the counts and extremes (mean over the finite values). */
static const char *summary(char *buf, size_t size, int64_t n, int64_t finite, double lo, double hi, double mean,
                           int64_t nan, int64_t pinf, int64_t ninf)
{
	int k = finite ? snprintf(buf, size, "min %.6g max %.6g mean %.6g", lo, hi, mean) :
	                 snprintf(buf, size, n ? "no finite values" : "empty");
	if (nan && k >= 0 && (size_t)k < size)
		k += snprintf(buf + k, size - (size_t)k, " NaN %lld", (long long)nan);
	if (pinf && k >= 0 && (size_t)k < size)
		k += snprintf(buf + k, size - (size_t)k, " +Inf %lld", (long long)pinf);
	if (ninf && k >= 0 && (size_t)k < size)
		snprintf(buf + k, size - (size_t)k, " -Inf %lld", (long long)ninf);
	return buf;
}

const char *mp_run_tensor_summary(char *buf, size_t size, const struct mp_tensor *t)
{
	int64_t n = mp_tensor_numel(t), nan = 0, pinf = 0, ninf = 0, finite = 0;
	double lo = INFINITY, hi = -INFINITY, sum = 0;
	double chunk[256];

	if (!mp_dtype_computable(t->dtype)) {
		snprintf(buf, size, "(%s: no statistics)", mp_dtype_name(t->dtype));
		return buf;
	}
	for (int64_t i = 0; i < n; i += 256) {
		size_t k = (size_t)(n - i < 256 ? n - i : 256);
		mp_dtype_traits(t->dtype)->load_f64((const char *)t->data + (size_t)i * mp_dtype_size(t->dtype),
		                                    1, chunk, k);
		for (size_t j = 0; j < k; j++) {
			double v = chunk[j];
			if (v != v) { nan++; continue; }
			if (isinf(v)) { v > 0 ? pinf++ : ninf++; continue; }
			finite++;
			sum += v;
			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
		}
	}
	return summary(buf, size, n, finite, lo, hi, finite ? sum / (double)finite : 0, nan, pinf, ninf);
}

const char *mp_run_stats_summary(char *buf, size_t size, const struct mp_stats_acc *s)
{
	return summary(buf, size, s->count, s->finite, s->min, s->max, s->mean, s->nan, s->posinf, s->neginf);
}

bool mp_run_may_write(const char *path, bool force, struct mp_error *e)
{
	struct stat st;
	if (force || lstat(path, &st) != 0)
		return true;
	mp_error_set(e, MP_ERR_IO, "%s exists; pass --force to replace it", path);
	return false;
}
