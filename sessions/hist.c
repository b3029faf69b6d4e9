/* hist.c - the exponent histogram as the stats table stores it: the
 * nonzero range only, counts as LEB128 varints (a tensor fills a few dozen
 * of the 258 bins: ~40 bytes instead of 2 KiB). */
#include <string.h>

#include "session.h"

size_t mp_hist_encode(const uint64_t *hist, unsigned char *out, size_t size)
{
	int first = 0, last = MP_HIST_BINS - 1;
	while (first < MP_HIST_BINS && !hist[first])
		first++;
	while (last > first && !hist[last])
		last--;
	int n = first < MP_HIST_BINS ? last - first + 1 : 0;
	size_t k = 0;
	if (size < 5 + (size_t)n * 10)
		return 0;
	out[k++] = 1;
	out[k++] = (unsigned char)(first & 0xFF);
	out[k++] = (unsigned char)(first >> 8);
	out[k++] = (unsigned char)(n & 0xFF);
	out[k++] = (unsigned char)(n >> 8);
	for (int i = 0; i < n; i++) {
		uint64_t v = hist[first + i];
		do {
			unsigned char b = v & 0x7F;
			v >>= 7;
			out[k++] = (unsigned char)(b | (v ? 0x80 : 0));
		} while (v);
	}
	return k;
}

enum mp_status mp_hist_decode(const void *blob, size_t n, uint64_t *hist, struct mp_error *e)
{
	const unsigned char *p = blob;
	memset(hist, 0, MP_HIST_BINS * sizeof *hist);
	if (n < 5 || p[0] != 1)
		return mp_error_set(e, MP_ERR_FORMAT, "histogram: not encoding 1");
	unsigned first = p[1] | (unsigned)p[2] << 8, count = p[3] | (unsigned)p[4] << 8;
	if (first + count > MP_HIST_BINS)
		return mp_error_set(e, MP_ERR_FORMAT, "histogram: bins %u..%u out of range", first, first + count);
	size_t k = 5;
	for (unsigned i = 0; i < count; i++) {
		uint64_t v = 0;
		int shift = 0;
		for (;;) {
			if (k >= n || shift > 63)
				return mp_error_set(e, MP_ERR_FORMAT, "histogram: truncated");
			unsigned char b = p[k++];
			v |= (uint64_t)(b & 0x7F) << shift;
			shift += 7;
			if (!(b & 0x80))
				break;
		}
		hist[first + i] = v;
	}
	if (k != n)
		return mp_error_set(e, MP_ERR_FORMAT, "histogram: %zu bytes left over", n - k);
	return MP_OK;
}
