/* index_shapes.h - the shapes an indexing kernel addresses with, checked on
 * the host before it reads or writes: inference refused these already, but
 * a kernel reached another way (a backend test, a graph built by hand)
 * trusts nothing it would run past.  Shared by the backends, which differ
 * only in how they walk the indices; index values are checked where they
 * are read. */
#ifndef MP_INDEX_SHAPES_H
#define MP_INDEX_SHAPES_H

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GatherElements and ScatterElements (upd NULL for the gather): indices
 * address data on every axis but `axis`; updates are shaped as indices. */
enum mp_status mp_index_check_elements(const struct mp_op_call *c, const struct mp_tensor *x,
                                       const struct mp_tensor *ind, const struct mp_tensor *upd, int axis,
                                       struct mp_error *e);
/* GatherND: the last axis of indices picks at most data's remaining axes. */
enum mp_status mp_index_check_gather_nd(const struct mp_op_call *c, const struct mp_tensor *x,
                                        const struct mp_tensor *ind, int64_t batch_dims, struct mp_error *e);
/* ScatterND: updates are indices.shape[:-1] + data.shape[k:]. */
enum mp_status mp_index_check_scatter_nd(const struct mp_op_call *c, const struct mp_tensor *x,
                                         const struct mp_tensor *ind, const struct mp_tensor *upd,
                                         struct mp_error *e);

#ifdef __cplusplus
}
#endif

#endif
