/* backend.c - the CUDA backend's function table and constructor, in C: the
 * CUDA side (device.cu and one .cu per op family) is reached through
 * cuda_api.h only.  Shape and Size run on the host (the executor sends them
 * there), so they have no entry here. */
#include <stdlib.h>

#include "cuda_api.h"

#define cu_shape NULL

static const mp_op_fn cu_ops[MP_OP_COUNT] = {
#define MP_OP(id, name, family, since, flags) [MP_OP_##id] = cu_##family,
#include "ops.def"
#undef MP_OP
};

static const struct mp_backend_iface cu_iface = {
	.name = "cuda",
	.device = MP_DEVICE_CUDA,
	.free = cu_ctx_free,
	.alloc = cu_alloc,
	.to_host = cu_to_host,
	.from_host = cu_from_host,
	.sync = cu_sync,
	.ops = cu_ops,
	.fused = cu_fused,
	.attention = cu_attention,
	.mixed_float = 1u << MP_FAMILY_unary | 1u << MP_FAMILY_binary | 1u << MP_FAMILY_softmax | 1u << MP_FAMILY_norm,
	.probe_reset = cu_probe_reset,
	.probe = cu_probe,
	.probe_fetch = cu_probe_fetch,
	.graph_begin = cu_graph_begin,
	.graph_end = cu_graph_end,
	.graph_launch = cu_graph_launch,
	.graph_free = cu_graph_free,
};

bool mp_backend_cuda_present(void)
{
	return cu_device_present();
}

enum mp_status mp_backend_cuda_new(int device, struct mp_backend **out, struct mp_error *e)
{
	struct mp_backend *b = calloc(1, sizeof *b);
	enum mp_status st;
	*out = NULL;
	if (!b)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	if ((st = cu_ctx_new(device, &b->ctx, e))) {
		free(b);
		return st;
	}
	b->iface = &cu_iface;
	*out = b;
	return MP_OK;
}

const char *mp_backend_device_name(const struct mp_backend *b)
{
	return b->iface->device == MP_DEVICE_CUDA ? cu_ctx_name(b->ctx) : "CPU";
}

enum mp_status mp_backend_cuda_memory(struct mp_backend *b, size_t *used, size_t *peak, bool reset,
                                      struct mp_error *e)
{
	if (b->iface != &cu_iface)
		return mp_error_set(e, MP_ERR_USAGE, "not a CUDA backend");
	return cu_ctx_memory(b->ctx, used, peak, reset, e);
}

void mp_backend_cuda_set_attention_min_blocks(struct mp_backend *b, int n)
{
	if (b->iface == &cu_iface)
		cu_ctx_set_attention_min_blocks(b->ctx, n);
}

void mp_backend_cuda_set_tf32(struct mp_backend *b, bool on)
{
	if (b->iface == &cu_iface)
		cu_ctx_set_tf32(b->ctx, on);
}

enum mp_status mp_backend_cuda_mark(struct mp_backend *b, int slot, struct mp_error *e)
{
	if (b->iface != &cu_iface)
		return mp_error_set(e, MP_ERR_USAGE, "not a CUDA backend");
	return cu_ctx_mark(b->ctx, slot, e);
}

enum mp_status mp_backend_cuda_elapsed(struct mp_backend *b, int from, int to, double *ms,
                                       struct mp_error *e)
{
	if (b->iface != &cu_iface)
		return mp_error_set(e, MP_ERR_USAGE, "not a CUDA backend");
	return cu_ctx_elapsed(b->ctx, from, to, ms, e);
}

enum mp_status mp_backend_cuda_graph_memory(struct mp_backend *b, size_t *peak, bool reset, struct mp_error *e)
{
	if (b->iface != &cu_iface)
		return mp_error_set(e, MP_ERR_USAGE, "not a CUDA backend");
	return cu_ctx_graph_memory(b->ctx, peak, reset, e);
}
