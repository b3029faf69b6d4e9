/* matmul_plan.c - MatMul's batch strides, for both backends (see
 * matmul_plan.h). */
#include "matmul_plan.h"

#include <string.h>

void mp_matmul_plan_init(struct mp_matmul_plan *pl, const struct mp_tensor *A, const struct mp_tensor *B,
                         const struct mp_tensor *O)
{
	int ra = A->ndim, rb = B->ndim;
	memset(pl, 0, sizeof *pl);
	pl->m = ra > 1 ? A->shape[ra - 2] : 1;
	pl->k = A->shape[ra - 1];
	pl->n = rb > 1 ? B->shape[rb - 1] : 1;
	pl->nb = O->ndim - (ra > 1) - (rb > 1);
	pl->batch = 1;
	for (int d = 0; d < pl->nb; d++)
		pl->batch *= O->shape[d];
	int64_t sa = pl->m * pl->k, sb = pl->k * pl->n;
	for (int d = pl->nb - 1, ia = ra - 3, ib = rb - 3; d >= 0; d--, ia--, ib--) {
		pl->ast[d] = ia >= 0 && A->shape[ia] != 1 ? sa : 0;
		pl->bst[d] = ib >= 0 && B->shape[ib] != 1 ? sb : 0;
		if (ia >= 0)
			sa *= A->shape[ia];
		if (ib >= 0)
			sb *= B->shape[ib];
	}
}

void mp_matmul_plan_step(const struct mp_matmul_plan *pl, const struct mp_tensor *O, int64_t *idx, int64_t *oa,
                         int64_t *ob)
{
	*oa = *ob = 0;
	for (int d = 0; d < pl->nb; d++) {
		*oa += idx[d] * pl->ast[d];
		*ob += idx[d] * pl->bst[d];
	}
	for (int d = pl->nb - 1; d >= 0; d--) {
		if (++idx[d] < O->shape[d])
			break;
		idx[d] = 0;
	}
}
