/* view_plan.h - how a kernel sees its tensors, planned on the host the same
 * way for both backends: the strided views through which the data-moving
 * ops are one copy (each backend runs its own cpu_copy or cu_copy over
 * them), and the [outer, len, inner] split of a tensor around an axis that
 * the axis-wise kernels (reduce, softmax, normalisation, gather, OneHot)
 * loop over. */
#ifndef MP_VIEW_PLAN_H
#define MP_VIEW_PLAN_H

#include <stdbool.h>

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Transpose, DepthToSpace and SpaceToDepth (the last two as reshape ->
 * 6-D transpose -> reshape): copying *src to *dst computes c->out[0]. */
void mp_view_transpose(const struct mp_op_call *c, struct mp_tensor *src, struct mp_tensor *dst);
/* Pad's constant as one element of dtype dt (v holds 16 bytes). */
void mp_view_pad_value(enum mp_dtype dt, double constant, unsigned char *v);
/* A constant Pad: the part of x that remains (*src) and where it lands in
 * o (*dst); false when nothing of x remains (negative pads crop it all). */
bool mp_view_pad_inner(const struct mp_pad_params *p, const struct mp_tensor *x, const struct mp_tensor *o,
                       struct mp_tensor *src, struct mp_tensor *dst);
/* t as [outer, len, inner]: the sizes before, at and after axis (a 0-d t
 * is [1, 1, 1]). */
void mp_view_axis_split(const struct mp_tensor *t, int axis, int64_t *outer, int64_t *len, int64_t *inner);
/* t as [outer, rest]: the sizes before axis and from axis on. */
void mp_view_axis_rows(const struct mp_tensor *t, int axis, int64_t *outer, int64_t *rest);
/* Softmax, LogSoftmax and Hardmax over x as [outer, len, inner]: a 0-d x
 * is one element, coerce_2d (opset < 13) makes everything from the axis on
 * one row. */
void mp_view_softmax(const struct mp_softmax_params *p, const struct mp_tensor *x, int64_t *outer, int64_t *len,
                     int64_t *inner);

#ifdef __cplusplus
}
#endif

#endif
