/* iter.c - the broadcasting iterator and row helpers shared by CPU kernels. */
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

void cpu_iter_init(struct cpu_iter *it, int nops, const struct mp_tensor *const *ops)
{
	const struct mp_tensor *out = ops[0];
	int64_t st[CPU_ITER_MAX_OPS][MP_MAX_DIMS];
	int nd = 0;

	it->nops = nops;
	for (int k = 0; k < nops; k++)
		mp_tensor_broadcast_strides(ops[k], out->ndim, out->shape, st[k]);
	/* output strides are its own, even where its dim is 1 */
	for (int d = 0; d < out->ndim; d++)
		st[0][d] = out->strides[d];
	/* drop size-1 dims, then merge dims i-1 and i when every operand steps
	 * through them as one */
	for (int d = 0; d < out->ndim; d++) {
		if (out->shape[d] == 1)
			continue;
		if (nd > 0) {
			bool merge = true;
			for (int k = 0; k < nops; k++)
				if (it->stride[k][nd - 1] != st[k][d] * out->shape[d]) {
					merge = false;
					break;
				}
			if (merge) {
				it->shape[nd - 1] *= out->shape[d];
				for (int k = 0; k < nops; k++)
					it->stride[k][nd - 1] = st[k][d];
				continue;
			}
		}
		it->shape[nd] = out->shape[d];
		for (int k = 0; k < nops; k++)
			it->stride[k][nd] = st[k][d];
		nd++;
	}
	it->ndim = nd;
	int64_t runs = mp_tensor_numel(out) ? 1 : 0;
	for (int d = 0; d + 1 < nd; d++)
		runs *= it->shape[d];
	it->remaining = runs;
	memset(it->idx, 0, sizeof it->idx);
	for (int k = 0; k < nops; k++)
		it->ptr[k] = ops[k]->data;
	it->started = false;
}

bool cpu_iter_next(struct cpu_iter *it)
{
	if (it->remaining <= 0)
		return false;
	if (!it->started) {
		it->started = true;
		it->remaining--;
		return true;
	}
	/* advance the outer index (all dims but the last) */
	for (int d = it->ndim - 2; d >= 0; d--) {
		it->idx[d]++;
		for (int k = 0; k < it->nops; k++)
			it->ptr[k] += it->stride[k][d];
		if (it->idx[d] < it->shape[d])
			break;
		for (int k = 0; k < it->nops; k++)
			it->ptr[k] -= it->stride[k][d] * it->shape[d];
		it->idx[d] = 0;
	}
	it->remaining--;
	return true;
}

void cpu_load_f32(enum mp_dtype t, const void *p, int64_t byte_stride, float *dst, size_t n)
{
	size_t es = mp_dtype_size(t);
	mp_dtype_traits(t)->load_f32(p, es ? byte_stride / (int64_t)es : 0, dst, n);
}

void cpu_load_f64(enum mp_dtype t, const void *p, int64_t byte_stride, double *dst, size_t n)
{
	size_t es = mp_dtype_size(t);
	mp_dtype_traits(t)->load_f64(p, es ? byte_stride / (int64_t)es : 0, dst, n);
}

void cpu_load_i64(enum mp_dtype t, const void *p, int64_t byte_stride, int64_t *dst, size_t n)
{
	size_t es = mp_dtype_size(t);
	mp_dtype_traits(t)->load_i64(p, es ? byte_stride / (int64_t)es : 0, dst, n);
}

enum mp_status cpu_nomem(struct mp_error *e, size_t bytes)
{
	return mp_error_set(e, MP_ERR_NOMEM, "cannot allocate %zu bytes of scratch memory", bytes);
}

void *cpu_alloc(int64_t n, size_t size)
{
	if (n < 1)
		n = 1;
	if ((uint64_t)n > SIZE_MAX / size)
		return NULL;
	return malloc((size_t)n * size);
}

#define DEF_TO(NAME, T, LOAD)                                                      \
	T *NAME(const struct mp_tensor *t, struct mp_error *e)                    \
	{                                                                          \
		size_t n = (size_t)mp_tensor_numel(t);                             \
		T *p = malloc((n ? n : 1) * sizeof *p);                            \
		if (!p) {                                                          \
			cpu_nomem(e, n * sizeof *p);                               \
			return NULL;                                               \
		}                                                                  \
		if (n)                                                             \
			mp_dtype_traits(t->dtype)->LOAD(t->data, 1, p, n);         \
		return p;                                                          \
	}
DEF_TO(cpu_to_f32, float, load_f32)
DEF_TO(cpu_to_f64, double, load_f64)
DEF_TO(cpu_to_i64, int64_t, load_i64)

void cpu_from_f32(struct mp_tensor *t, const float *src, size_t n)
{
	if (n)
		mp_dtype_traits(t->dtype)->store_f32(src, t->data, n);
}

void cpu_from_f64(struct mp_tensor *t, const double *src, size_t n)
{
	if (n)
		mp_dtype_traits(t->dtype)->store_f64(src, t->data, n);
}

void cpu_from_i64(struct mp_tensor *t, const int64_t *src, size_t n)
{
	if (n)
		mp_dtype_traits(t->dtype)->store_i64(src, t->data, n);
}

enum mp_status cpu_unsupported_dtype(const struct mp_op_call *c, enum mp_dtype t,
                                     struct mp_error *e)
{
	return mp_error_set(e, MP_ERR_UNSUPPORTED, "the CPU backend has no %s kernel for %s",
	                    mp_op_name(c->op), mp_dtype_name(t));
}

int64_t cpu_index_at(const struct mp_tensor *t, int64_t i)
{
	if (t->dtype == MP_I32) {
		int32_t v;
		memcpy(&v, (const char *)t->data + 4 * i, 4);
		return v;
	}
	int64_t v;
	memcpy(&v, (const char *)t->data + 8 * i, 8);
	return v;
}

int64_t cpu_scalar_i64(const struct mp_tensor *t)
{
	int64_t v = 0;
	if (mp_tensor_numel(t) > 0)
		mp_dtype_traits(t->dtype)->load_i64(t->data, 1, &v, 1);
	return v;
}

double cpu_scalar_f64(const struct mp_tensor *t)
{
	double v = 0;
	if (mp_tensor_numel(t) > 0)
		mp_dtype_traits(t->dtype)->load_f64(t->data, 1, &v, 1);
	return v;
}

#define DEF_BCAST_LOAD(NAME, T, LOAD)                                                   \
	void NAME(const struct mp_tensor *like, const struct mp_tensor *x, T *dst)      \
	{                                                                               \
		const struct mp_tensor *ops[2] = { like, x };                           \
		struct cpu_iter it;                                                     \
		size_t es = mp_dtype_size(like->dtype);                                 \
		cpu_iter_init(&it, 2, ops);                                             \
		int64_t run = cpu_iter_run(&it), sx = cpu_iter_inner_stride(&it, 1);    \
		while (cpu_iter_next(&it)) {                                            \
			size_t at = (size_t)(it.ptr[0] - (char *)like->data) / es;      \
			LOAD(x->dtype, it.ptr[1], sx, dst + at, (size_t)run);           \
		}                                                                       \
	}
DEF_BCAST_LOAD(cpu_bcast_load_f64, double, cpu_load_f64)
DEF_BCAST_LOAD(cpu_bcast_load_i64, int64_t, cpu_load_i64)

void cpu_copy(struct mp_tensor *dst, const struct mp_tensor *src)
{
	const struct mp_tensor *ops[2] = { dst, src };
	struct cpu_iter it;
	size_t es = mp_dtype_size(dst->dtype);
	cpu_iter_init(&it, 2, ops);
	int64_t run = cpu_iter_run(&it), sd = cpu_iter_inner_stride(&it, 0),
	        ss = cpu_iter_inner_stride(&it, 1);
	while (cpu_iter_next(&it)) {
		if (sd == (int64_t)es && ss == (int64_t)es) {
			memcpy(it.ptr[0], it.ptr[1], (size_t)run * es);
			continue;
		}
		char *d = it.ptr[0];
		const char *s = it.ptr[1];
		switch (es) {
		case 1: for (int64_t i = 0; i < run; i++) d[i * sd] = s[i * ss]; break;
		case 2: for (int64_t i = 0; i < run; i++) memcpy(d + i * sd, s + i * ss, 2); break;
		case 4: for (int64_t i = 0; i < run; i++) memcpy(d + i * sd, s + i * ss, 4); break;
		default: for (int64_t i = 0; i < run; i++) memcpy(d + i * sd, s + i * ss, es); break;
		}
	}
}
