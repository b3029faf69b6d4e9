/* conv_geom.c - a Conv's spatial geometry, for both backends (see
 * conv_geom.h). */
#include "conv_geom.h"

void mp_conv_geom_init(struct mp_conv_geom *g, const struct mp_conv_params *p, const int64_t *in,
                       const int64_t *out)
{
	g->ns = p->nspatial;
	g->in_size = g->out_size = g->k_size = 1;
	for (int d = 0; d < g->ns; d++) {
		g->in[d] = in[d];
		g->out[d] = out[d];
		g->k[d] = p->k[d];
		g->stride[d] = p->stride[d];
		g->dil[d] = p->dilation[d];
		g->pad[d] = p->pad_begin[d];
		g->in_size *= in[d];
		g->out_size *= out[d];
		g->k_size *= p->k[d];
	}
}
