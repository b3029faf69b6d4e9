/* matmul_plan.h - MatMul's batch, planned on the host the same way for
 * both backends: numpy's rules for 1-D operands, the batch dims of the
 * output, and the element stride of each operand's batch dims (0 where it
 * broadcasts). */
#ifndef MP_MATMUL_PLAN_H
#define MP_MATMUL_PLAN_H

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mp_matmul_plan {
	int64_t m, n, k; /* one product: [m, k] x [k, n] */
	int nb;          /* batch dims of the output */
	int64_t batch;   /* products */
	int64_t ast[MP_MAX_DIMS], bst[MP_MAX_DIMS]; /* element strides of A's and B's batch dims */
};

/* Contiguous A and B, O as inference shaped it: a 1-D A is a row, a 1-D
 * B a column, dropped from the result. */
void mp_matmul_plan_init(struct mp_matmul_plan *pl, const struct mp_tensor *A, const struct mp_tensor *B,
                         const struct mp_tensor *O);
/* The element offsets in A and B of the product at idx (a multi-index
 * over O's batch dims, zero to start), then idx moved to the next one. */
void mp_matmul_plan_step(const struct mp_matmul_plan *pl, const struct mp_tensor *O, int64_t *idx, int64_t *oa,
                         int64_t *ob);

#ifdef __cplusplus
}
#endif

#endif
