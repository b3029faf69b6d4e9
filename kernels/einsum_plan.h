/* einsum_plan.h - the loop nest of an Einsum, as both backends run it:
 * nl loops, the first nol the output's labels in its order (so the output
 * index is their row-major position), the others summed over, in label
 * order.  Per loop, its size and each operand's element stride (0 where an
 * operand lacks the label or broadcasts it; a label repeated in one
 * operand adds its strides: the diagonal).  Operands are contiguous. */
#ifndef MP_EINSUM_PLAN_H
#define MP_EINSUM_PLAN_H

#include <stdint.h>

#include "op.h"
#include "tensor.h"

enum { MP_EINSUM_LABELS = MP_EINSUM_MAX_LETTERS + MP_MAX_DIMS };

struct mp_einsum_plan {
	int nl, nol;
	int64_t size[MP_EINSUM_LABELS];
	int64_t stride[MP_EINSUM_MAX_OPERANDS][MP_EINSUM_LABELS];
};

void mp_einsum_plan(const struct mp_einsum_params *p, const struct mp_tensor *const *in, struct mp_einsum_plan *out);

#endif
