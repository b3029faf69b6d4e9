/* conv_geom.h - the geometry of a Conv or ConvTranspose over its spatial
 * dims (sizes, kernel, stride, dilation, leading pad, and their products),
 * set up on the host the same way for both backends; the CUDA kernels take
 * it by value. */
#ifndef MP_CONV_GEOM_H
#define MP_CONV_GEOM_H

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mp_conv_geom {
	int ns;
	int64_t in[MP_MAX_SPATIAL], out[MP_MAX_SPATIAL], k[MP_MAX_SPATIAL];
	int64_t stride[MP_MAX_SPATIAL], dil[MP_MAX_SPATIAL], pad[MP_MAX_SPATIAL];
	int64_t in_size, out_size, k_size;
};

/* in and out: the p->nspatial spatial sizes of the input and the output. */
void mp_conv_geom_init(struct mp_conv_geom *g, const struct mp_conv_params *p, const int64_t *in,
                       const int64_t *out);

#ifdef __cplusplus
}
#endif

#endif
