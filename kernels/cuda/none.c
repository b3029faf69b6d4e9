/* none.c - the CUDA backend's entry points in a build without CUDA: they
 * say so, and nothing else changes. */
#include "backend.h"

bool mp_backend_cuda_present(void)
{
	return false;
}

enum mp_status mp_backend_cuda_new(int device, struct mp_backend **out, struct mp_error *e)
{
	(void)device;
	*out = NULL;
	return mp_error_set(e, MP_ERR_DEVICE, "--device cuda: this mpdbg was built without the CUDA backend "
	                    "(meson setup -Dcuda=enabled needs the CUDA toolkit: nvcc, cuBLAS)");
}

const char *mp_backend_device_name(const struct mp_backend *b)
{
	(void)b;
	return "CPU";
}

enum mp_status mp_backend_cuda_memory(struct mp_backend *b, size_t *used, size_t *peak, bool reset,
                                      struct mp_error *e)
{
	(void)b;
	(void)reset;
	*used = *peak = 0;
	return mp_error_set(e, MP_ERR_DEVICE, "this mpdbg was built without the CUDA backend");
}

void mp_backend_cuda_set_tf32(struct mp_backend *b, bool on)
{
	(void)b;
	(void)on;
}

void mp_backend_cuda_set_attention_min_blocks(struct mp_backend *b, int n)
{
	(void)b;
	(void)n;
}

enum mp_status mp_backend_cuda_mark(struct mp_backend *b, int slot, struct mp_error *e)
{
	(void)b;
	(void)slot;
	return mp_error_set(e, MP_ERR_DEVICE, "this mpdbg was built without the CUDA backend");
}

enum mp_status mp_backend_cuda_elapsed(struct mp_backend *b, int from, int to, double *ms,
                                       struct mp_error *e)
{
	(void)b;
	(void)from;
	(void)to;
	*ms = 0;
	return mp_error_set(e, MP_ERR_DEVICE, "this mpdbg was built without the CUDA backend");
}

enum mp_status mp_backend_cuda_graph_memory(struct mp_backend *b, size_t *peak, bool reset, struct mp_error *e)
{
	(void)b;
	(void)reset;
	*peak = 0;
	return mp_error_set(e, MP_ERR_DEVICE, "this mpdbg was built without the CUDA backend");
}
