/* backend.c - the CPU backend's function table: host memory, plain copies,
 * and one kernel per op family. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu.h"

#ifdef MP_HAVE_OPENBLAS
#include <cblas.h>
#endif

static const mp_op_fn cpu_ops[MP_OP_COUNT] = {
#define MP_OP(id, name, family, since, flags) [MP_OP_##id] = cpu_##family,
#include "ops.def"
#undef MP_OP
};

static void cpu_free(void *ctx)
{
	struct cpu_ctx *c = ctx;
	if (c) {
		cpu_pool_free(c->pool);
		free(c->slots);
	}
	free(c);
}

static enum mp_status cpu_alloc_buf(void *ctx, size_t size, struct mp_buffer **out,
                                    struct mp_error *e)
{
	(void)ctx;
	return mp_buffer_new_host(size, false, out, e);
}

static enum mp_status cpu_to_host(void *ctx, const struct mp_tensor *src, void *dst,
                                  struct mp_error *e)
{
	(void)ctx;
	(void)e;
	memcpy(dst, src->data, mp_tensor_nbytes(src));
	return MP_OK;
}

static enum mp_status cpu_from_host(void *ctx, const void *src, struct mp_tensor *dst,
                                    struct mp_error *e)
{
	(void)ctx;
	(void)e;
	memcpy(dst->data, src, mp_tensor_nbytes(dst));
	return MP_OK;
}

static enum mp_status cpu_sync(void *ctx, struct mp_error *e)
{
	(void)ctx;
	(void)e;
	return MP_OK;
}

static const struct mp_backend_iface cpu_iface = {
	.name = "cpu",
	.device = MP_DEVICE_CPU,
	.free = cpu_free,
	.alloc = cpu_alloc_buf,
	.to_host = cpu_to_host,
	.from_host = cpu_from_host,
	.sync = cpu_sync,
	.ops = cpu_ops,
	.probe_reset = cpu_probe_reset,
	.probe = cpu_probe,
	.probe_fetch = cpu_probe_fetch,
};

enum mp_status mp_backend_cpu_new(int threads, struct mp_backend **out, struct mp_error *e)
{
	struct mp_backend *b = calloc(1, sizeof *b);
	struct cpu_ctx *ctx = calloc(1, sizeof *ctx);
	if (!b || !ctx) {
		free(b);
		free(ctx);
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	}
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	ctx->threads = threads > 0 ? threads : (n > 0 ? (int)n : 1);
#ifdef MP_HAVE_OPENBLAS
	/* OpenBLAS keeps one thread count for the process; ours is the one asked */
	if (threads > 0)
		openblas_set_num_threads(threads);
#endif
	b->iface = &cpu_iface;
	b->ctx = ctx;
	*out = b;
	return MP_OK;
}
