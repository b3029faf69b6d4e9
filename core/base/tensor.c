/* tensor.c - shapes, strides, broadcasting and host buffers. */
#include "tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum mp_status mp_shape_numel(int ndim, const int64_t *shape, int64_t *numel,
                              struct mp_error *e)
{
	int64_t n = 1;
	if (ndim < 0 || ndim > MP_MAX_DIMS)
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "rank %d is above the maximum of %d",
		                    ndim, MP_MAX_DIMS);
	for (int i = 0; i < ndim; i++) {
		if (shape[i] < 0)
			return mp_error_set(e, MP_ERR_FORMAT, "dim %d is negative (%lld)", i,
			                    (long long)shape[i]);
		if (shape[i] != 0 && n > INT64_MAX / shape[i]) {
			char s[256];
			return mp_error_set(e, MP_ERR_FORMAT,
			                    "dims %s: their product overflows 64 bits",
			                    mp_shape_str(s, sizeof s, ndim, shape));
		}
		n *= shape[i];
	}
	*numel = n;
	return MP_OK;
}

enum mp_status mp_shape_nbytes(int ndim, const int64_t *shape, enum mp_dtype dtype,
                               size_t *nbytes, struct mp_error *e)
{
	int64_t n;
	enum mp_status st = mp_shape_numel(ndim, shape, &n, e);
	size_t size = mp_dtype_size(dtype);
	if (st)
		return st;
	if (size == 0)
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "%s elements are not byte-addressable",
		                    mp_dtype_name(dtype));
	if ((uint64_t)n > (uint64_t)PTRDIFF_MAX / size) {
		char s[256];
		return mp_error_set(e, MP_ERR_FORMAT, "dims %s of %s: size overflows 64 bits",
		                    mp_shape_str(s, sizeof s, ndim, shape), mp_dtype_name(dtype));
	}
	*nbytes = (size_t)n * size;
	return MP_OK;
}

const char *mp_shape_str(char *buf, size_t size, int ndim, const int64_t *shape)
{
	size_t pos = 0;
	if (size == 0)
		return buf;
	buf[0] = '\0';
	pos += (size_t)snprintf(buf + pos, size - pos, "[");
	for (int i = 0; i < ndim && pos < size; i++)
		pos += (size_t)snprintf(buf + pos, size - pos, "%s%lld", i ? ", " : "",
		                        (long long)shape[i]);
	if (pos < size)
		snprintf(buf + pos, size - pos, "]");
	return buf;
}

void mp_tensor_init(struct mp_tensor *t, enum mp_dtype dtype, int ndim,
                    const int64_t *shape)
{
	int64_t stride = (int64_t)mp_dtype_size(dtype);
	t->dtype = dtype;
	t->ndim = ndim;
	for (int i = ndim - 1; i >= 0; i--) {
		t->shape[i] = shape[i];
		t->strides[i] = stride;
		/* only an empty tensor (a 0 dim beside huge ones) can overflow here,
		 * and its strides are never used */
		if (__builtin_mul_overflow(stride, shape[i] > 0 ? shape[i] : 1, &stride))
			stride = 0;
	}
}

int64_t mp_tensor_numel(const struct mp_tensor *t)
{
	int64_t n = 1;
	for (int i = 0; i < t->ndim; i++)
		n *= t->shape[i];
	return n;
}

size_t mp_tensor_nbytes(const struct mp_tensor *t)
{
	return (size_t)mp_tensor_numel(t) * mp_dtype_size(t->dtype);
}

bool mp_tensor_is_contiguous(const struct mp_tensor *t)
{
	int64_t stride = (int64_t)mp_dtype_size(t->dtype);
	if (mp_tensor_numel(t) == 0)
		return true;
	for (int i = t->ndim - 1; i >= 0; i--) {
		if (t->shape[i] != 1 && t->strides[i] != stride)
			return false;
		stride *= t->shape[i];
	}
	return true;
}

void mp_tensor_broadcast_strides(const struct mp_tensor *t, int ndim,
                                 const int64_t *shape, int64_t *strides)
{
	int off = ndim - t->ndim;
	for (int i = 0; i < ndim; i++) {
		int j = i - off;
		if (j < 0 || t->shape[j] == 1)
			strides[i] = 0;
		else
			strides[i] = t->strides[j];
		(void)shape;
	}
}

bool mp_broadcast_shapes(int n, const int *ndims, const int64_t *const *shapes,
                         int *out_ndim, int64_t *out_shape)
{
	int rank = 0;
	for (int k = 0; k < n; k++)
		if (ndims[k] > rank)
			rank = ndims[k];
	if (rank > MP_MAX_DIMS)
		return false;
	for (int i = 0; i < rank; i++) {
		int64_t d = 1;
		for (int k = 0; k < n; k++) {
			int j = i - (rank - ndims[k]);
			if (j < 0)
				continue;
			int64_t s = shapes[k][j];
			if (s == 1)
				continue;
			if (d == 1)
				d = s;
			else if (s != d)
				return false;
		}
		out_shape[i] = d;
	}
	*out_ndim = rank;
	return true;
}

bool mp_axis_normalize(int64_t axis, int rank, int *out)
{
	if (axis < -(int64_t)rank || axis >= (int64_t)rank)
		return false;
	*out = (int)(axis < 0 ? axis + rank : axis);
	return true;
}

struct mp_buffer *mp_buffer_retain(struct mp_buffer *b)
{
	if (b)
		b->refs++;
	return b;
}

void mp_buffer_release(struct mp_buffer *b)
{
	if (b && --b->refs == 0)
		b->release(b);
}

static void host_release(struct mp_buffer *b)
{
	free(b->data);
	free(b);
}

enum mp_status mp_buffer_new_host(size_t size, bool zero, struct mp_buffer **out,
                                  struct mp_error *e)
{
	struct mp_buffer *b = calloc(1, sizeof *b);
	size_t rounded = (size + 63) & ~(size_t)63;
	if (!b || rounded < size)
		goto nomem;
	/* aligned_alloc wants a nonzero multiple of the alignment */
	b->data = aligned_alloc(64, rounded ? rounded : 64);
	if (!b->data)
		goto nomem;
	if (zero)
		memset(b->data, 0, rounded ? rounded : 64);
	b->size = size;
	b->refs = 1;
	b->device = MP_DEVICE_CPU;
	b->release = host_release;
	*out = b;
	return MP_OK;
nomem:
	free(b);
	return mp_error_set(e, MP_ERR_NOMEM, "cannot allocate %zu bytes", size);
}

void mp_tensor_reset(struct mp_tensor *t)
{
	mp_buffer_release(t->buf);
	t->buf = NULL;
	t->data = NULL;
}

void mp_tensor_share(struct mp_tensor *dst, const struct mp_tensor *src)
{
	*dst = *src;
	mp_buffer_retain(dst->buf);
}
