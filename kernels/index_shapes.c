/* index_shapes.c - the host-side shape checks of the indexing kernels. */
#include "index_shapes.h"

#include <stdbool.h>

static enum mp_status bad_shape(const struct mp_op_call *c, const char *what, const struct mp_tensor *t,
                                const struct mp_tensor *ref, const char *refname, struct mp_error *e)
{
	char a[256], b[256];
	return mp_error_set(e, MP_ERR_INPUT, "%s: %s has shape %s, which does not fit %s %s", mp_op_name(c->op), what,
	                    mp_shape_str(a, sizeof a, t->ndim, t->shape), refname,
	                    mp_shape_str(b, sizeof b, ref->ndim, ref->shape));
}

enum mp_status mp_index_check_elements(const struct mp_op_call *c, const struct mp_tensor *x,
                                       const struct mp_tensor *ind, const struct mp_tensor *upd, int axis,
                                       struct mp_error *e)
{
	bool fits = ind->ndim == x->ndim && axis >= 0 && axis < x->ndim;
	for (int d = 0; fits && d < x->ndim; d++)
		fits = d == axis || ind->shape[d] <= x->shape[d];
	if (!fits)
		return bad_shape(c, "indices (input 1)", ind, x, "data", e);
	fits = !upd || upd->ndim == ind->ndim;
	for (int d = 0; fits && upd && d < ind->ndim; d++)
		fits = upd->shape[d] == ind->shape[d];
	if (!fits)
		return bad_shape(c, "updates (input 2)", upd, ind, "indices", e);
	return MP_OK;
}

enum mp_status mp_index_check_gather_nd(const struct mp_op_call *c, const struct mp_tensor *x,
                                        const struct mp_tensor *ind, int64_t batch_dims, struct mp_error *e)
{
	if (ind->ndim < 1 || batch_dims < 0 || batch_dims >= ind->ndim ||
	    batch_dims + ind->shape[ind->ndim - 1] > x->ndim)
		return bad_shape(c, "indices (input 1)", ind, x, "data", e);
	return MP_OK;
}

enum mp_status mp_index_check_scatter_nd(const struct mp_op_call *c, const struct mp_tensor *x,
                                         const struct mp_tensor *ind, const struct mp_tensor *upd,
                                         struct mp_error *e)
{
	int q = ind->ndim;
	if (q < 1 || ind->shape[q - 1] > x->ndim)
		return bad_shape(c, "indices (input 1)", ind, x, "data", e);
	int k = (int)ind->shape[q - 1];
	bool fits = upd->ndim == q - 1 + x->ndim - k;
	for (int d = 0; fits && d < q - 1; d++)
		fits = upd->shape[d] == ind->shape[d];
	for (int d = k; fits && d < x->ndim; d++)
		fits = upd->shape[q - 1 + d - k] == x->shape[d];
	if (!fits)
		return bad_shape(c, "updates (input 2)", upd, ind, "indices", e);
	return MP_OK;
}
