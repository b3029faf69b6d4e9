/* tensor.h - tensor descriptors: dtype, shape, byte strides, device, and the
 * buffer that owns the data.
 *
 * A tensor either owns a reference to a struct mp_buffer (activations) or
 * borrows its bytes (buf == NULL: a mapped model or batch file, which outlives
 * every tensor pointing into it).
 */
#ifndef MP_TENSOR_H
#define MP_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "error.h"

/* Ranks above this are refused with a message, never overrun. */
#define MP_MAX_DIMS 12

enum mp_device {
	MP_DEVICE_CPU = 0,
	MP_DEVICE_CUDA = 1,
};

struct mp_buffer {
	void *data;
	size_t size;
	int refs;
	enum mp_device device;
	/* frees data and the struct itself; set by whoever allocated it */
	void (*release)(struct mp_buffer *b);
	void *owner;
};

struct mp_tensor {
	enum mp_dtype dtype;
	int ndim;
	int64_t shape[MP_MAX_DIMS];
	int64_t strides[MP_MAX_DIMS]; /* in bytes */
	void *data;                   /* first element; may be NULL when empty */
	struct mp_buffer *buf;        /* owned reference, or NULL when borrowed */
	enum mp_device device;
};

/* Element count of a shape with every product checked: a negative dim or a
 * product above INT64_MAX is an error (MP_ERR_FORMAT, "dims ... overflow"). */
enum mp_status mp_shape_numel(int ndim, const int64_t *shape, int64_t *numel,
                              struct mp_error *e);
/* numel * element size, checked against SIZE_MAX and PTRDIFF_MAX. */
enum mp_status mp_shape_nbytes(int ndim, const int64_t *shape, enum mp_dtype dtype,
                               size_t *nbytes, struct mp_error *e);

/* Writes "[4, 3, 112, 112]" (or "[]" for a scalar) into buf. */
const char *mp_shape_str(char *buf, size_t size, int ndim, const int64_t *shape);

/* Fills t's shape and contiguous strides; data/buf untouched. ndim must be
 * in [0, MP_MAX_DIMS] and dims non-negative (callers validated them). */
void mp_tensor_init(struct mp_tensor *t, enum mp_dtype dtype, int ndim,
                    const int64_t *shape);
int64_t mp_tensor_numel(const struct mp_tensor *t);
size_t mp_tensor_nbytes(const struct mp_tensor *t);
bool mp_tensor_is_contiguous(const struct mp_tensor *t);

/* Byte strides that read t as if it had the broadcast shape (ndim, shape):
 * dims t lacks or has as 1 get stride 0.  t must be broadcastable to shape. */
void mp_tensor_broadcast_strides(const struct mp_tensor *t, int ndim,
                                 const int64_t *shape, int64_t *strides);

/* Numpy-style broadcast of n shapes; false if they are incompatible. */
bool mp_broadcast_shapes(int n, const int *ndims, const int64_t *const *shapes,
                         int *out_ndim, int64_t *out_shape);

/* Normalises an axis in [-rank, rank) to [0, rank); false if out of range. */
bool mp_axis_normalize(int64_t axis, int rank, int *out);

/* Buffer reference counting; release accepts NULL. */
struct mp_buffer *mp_buffer_retain(struct mp_buffer *b);
void mp_buffer_release(struct mp_buffer *b);

/* A host buffer from malloc, 64-byte aligned, zero-filled when zero is set. */
enum mp_status mp_buffer_new_host(size_t size, bool zero, struct mp_buffer **out,
                                  struct mp_error *e);

/* Drops t's buffer reference and clears data/buf. */
void mp_tensor_reset(struct mp_tensor *t);
/* Copies the descriptor and takes a reference on the buffer. */
void mp_tensor_share(struct mp_tensor *dst, const struct mp_tensor *src);

#endif
