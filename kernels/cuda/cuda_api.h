/* cuda_api.h - the CUDA backend's entry points as plain C, for backend.c
 * (which holds the function table and sees no CUDA header). */
#ifndef MP_CUDA_API_H
#define MP_CUDA_API_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

bool cu_device_present(void);
enum mp_status cu_ctx_new(int device, void **out, struct mp_error *e);
void cu_ctx_free(void *ctx);
const char *cu_ctx_name(void *ctx);
void cu_ctx_set_tf32(void *ctx, bool on);
void cu_ctx_set_attention_min_blocks(void *ctx, int n);
enum mp_status cu_ctx_memory(void *ctx, size_t *used, size_t *peak, bool reset, struct mp_error *e);
enum mp_status cu_ctx_graph_memory(void *ctx, size_t *peak, bool reset, struct mp_error *e);
enum mp_status cu_ctx_mark(void *ctx, int slot, struct mp_error *e);
enum mp_status cu_ctx_elapsed(void *ctx, int from, int to, double *ms, struct mp_error *e);

enum mp_status cu_alloc(void *ctx, size_t size, struct mp_buffer **out, struct mp_error *e);
enum mp_status cu_to_host(void *ctx, const struct mp_tensor *src, void *dst, struct mp_error *e);
enum mp_status cu_from_host(void *ctx, const void *src, struct mp_tensor *dst, struct mp_error *e);
enum mp_status cu_sync(void *ctx, struct mp_error *e);
enum mp_status cu_graph_begin(void *ctx, struct mp_error *e);
enum mp_status cu_graph_end(void *ctx, void **graph, struct mp_error *e);
enum mp_status cu_graph_launch(void *ctx, void *graph, struct mp_error *e);
void cu_graph_free(void *ctx, void *graph);

#define X(f) enum mp_status cu_##f(void *ctx, const struct mp_op_call *c, struct mp_error *e);
MP_FAMILIES(X)
#undef X

enum mp_status cu_fused(void *ctx, const struct mp_fused_call *call, struct mp_error *e);
enum mp_status cu_attention(void *ctx, const struct mp_attn_call *call, struct mp_error *e);

enum mp_status cu_probe_reset(void *ctx, size_t nslots, struct mp_error *e);
enum mp_status cu_probe(void *ctx, const struct mp_probe_req *reqs, size_t n, struct mp_error *e);
enum mp_status cu_probe_fetch(void *ctx, struct mp_probe_result *out, size_t n, struct mp_error *e);

#ifdef __cplusplus
}
#endif

#endif
