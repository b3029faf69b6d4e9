/* resize_taps.h - the taps of Resize along one axis, built as ONNX's
 * reference builds them: per output index, the input indices it reads and
 * their weights, and whether it falls outside the crop box.  Shared by the
 * backends, which differ only in how they sum. */
#ifndef MP_RESIZE_TAPS_H
#define MP_RESIZE_TAPS_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "op.h"

/* Antialiasing widens the filter by 1/scale; past this many taps per output
 * index the op is refused rather than truncated. */
enum { MP_RESIZE_MAX_TAPS = 4096 };

struct mp_resize_taps {
	int ntap;     /* slots per output index */
	int64_t *idx; /* [out][ntap], clamped into [0, in) */
	double *w;    /* [out][ntap] */
	int *n;       /* taps in use per output index */
	bool *extrap; /* [out]: outside the crop box */
};

/* Taps of axis d (input length in, output length out). */
enum mp_status mp_resize_taps_build(const struct mp_resize_params *p, int d, int64_t in, int64_t out,
                                    struct mp_resize_taps *t, struct mp_error *e);
void mp_resize_taps_free(struct mp_resize_taps *t);

#endif
