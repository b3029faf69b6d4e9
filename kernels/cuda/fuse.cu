/* fuse.cu - a group of elementwise nodes as one kernel, compiled at run time.
 *
 * Each group is written out as CUDA C++ (one line per node, in registers)
 * and compiled with NVRTC for this GPU, once per distinct program: a
 * transformer has a handful (bias and GELU, bias, scale and residual).  The
 * code is math.cuh's, the same the single-node kernels are built from, and
 * both are compiled without FMA contraction, so that a fused result is bit
 * for bit what the nodes one by one would have written.  Where NVRTC is
 * missing or fails, the call says so and the executor runs the nodes one by
 * one.
 */
#include <nvrtc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu.cuh"
#include "cuda_api.h"
#include "fuse_math_src.h"
#include "fuse_ops_src.h"

struct cu_fprog {
	char *src;               /* the generated kernel: the cache key */
	cudaLibrary_t lib;
	cudaKernel_t k8, k4, k1; /* eight elements a thread (16-byte moves of 2-byte types), four, one */
};

struct cu_fcache {
	struct cu_fprog *progs;
	size_t n, cap;
	char arch[32];
	char failed[MP_ERROR_MSG_MAX]; /* NVRTC is unusable here: why */
};

struct fargs {
	cu_fast f;
	const void *in[MP_FUSED_MAX_IN];
	void *out;
};

/* ---- the source ---- */

struct sbuf {
	char *p;
	size_t n, cap;
	bool oom;
};

static void put(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
		va_end(ap);
		if (k < 0) {
			b->oom = true;
			return;
		}
		if (b->p && b->n + (size_t)k < b->cap) {
			b->n += (size_t)k;
			return;
		}
		size_t cap = (b->cap + (size_t)k + 1) * 2;
		char *np = (char *)realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
}

static const char *dt_name(enum mp_dtype t)
{
	return t == MP_BF16 ? "MP_BF16" : t == MP_F16 ? "MP_F16" : "MP_F32";
}

/* How the generated code reads and rounds: which inputs are one value for
 * every element (loaded once a thread), and whether the values between steps
 * may round as cu_round_fast does (the output is 16-bit: see math.cuh). */
struct gen {
	struct sbuf b;
	const struct mp_fused_call *c;
	bool scalar[MP_FUSED_MAX_IN];
	bool fast_round;
};

static void put_round_open(struct gen *g, enum mp_dtype t)
{
	put(&g->b, "%s<%s>(", g->fast_round ? "cu_round_fast" : "cu_round", dt_name(t));
}

/* An argument: an input's element (or its one value), or an earlier step's,
 * rounded as the plan's cast would. */
static void put_arg(struct gen *g, const struct mp_fused_step *s, int a)
{
	int v = s->arg[a];
	bool cast = s->round[a] == MP_BF16 || s->round[a] == MP_F16;
	if (cast)
		put_round_open(g, s->round[a]);
	if (v >= 0)
		put(&g->b, g->scalar[v] ? "x%d" : "x%d[j]", v);
	else
		put(&g->b, "s%d[j]", -v - 1);
	if (cast)
		put(&g->b, ")");
}

/* Step i divides by an input's one value: the reciprocal is found once a
 * thread and each quotient is cu_div_by's where it is '/' to the bit. */
static bool divides_by_scalar(const struct gen *g, const struct mp_fused_step *s)
{
	return s->op == MP_OP_DIV && s->nargs == 2 && s->arg[1] >= 0 && g->scalar[s->arg[1]];
}

/* Step i over the V elements of s<i>[], rounded to its node's dtype (the
 * last step's rounding is the store's). */
static void put_step(struct gen *g, int i, int v)
{
	const struct mp_fused_step *s = &g->c->steps[i];
	put(&g->b, "\t\tfloat s%d[%d];\n", i, v);
	if (divides_by_scalar(g, s)) {
		put(&g->b, "\t\t{\n\t\t\tbool fits = d%d;\n#pragma unroll\n\t\t\tfor (int j = 0; j < %d; j++)\n"
		           "\t\t\t\tfits &= cu_div_fits(", i, v);
		put_arg(g, s, 0);
		put(&g->b, ");\n\t\t\tif (fits) {\n#pragma unroll\n\t\t\t\tfor (int j = 0; j < %d; j++)\n"
		           "\t\t\t\t\ts%d[j] = cu_div_by(", v, i);
		put_arg(g, s, 0);
		put(&g->b, ", y%d, r%d);\n\t\t\t} else {\n#pragma unroll\n\t\t\t\tfor (int j = 0; j < %d; j++)\n"
		           "\t\t\t\t\ts%d[j] = ", i, i, v, i);
		put_arg(g, s, 0);
		put(&g->b, " / y%d;\n\t\t\t}\n\t\t}\n", i);
	} else {
		put(&g->b, "#pragma unroll\n\t\tfor (int j = 0; j < %d; j++)\n\t\t\ts%d[j] = ", v, i);
		if (s->nargs == 1) {
			const struct mp_unary_params *p = &s->up;
			put(&g->b, "unary_math<float>(%d, ", (int)s->op);
			put_arg(g, s, 0);
			put(&g->b, ", fup{ %a, %a, %a, %s });\n", (double)p->alpha, (double)p->beta, (double)p->gamma,
			    p->gelu_tanh ? "true" : "false");
		} else {
			put(&g->b, "binary_math<float>(%d, ", (int)s->op);
			put_arg(g, s, 0);
			put(&g->b, ", ");
			put_arg(g, s, 1);
			put(&g->b, ");\n");
		}
	}
	bool last = i == g->c->nsteps - 1;
	if (s->out == MP_F32 || (last && s->out == g->c->out->dtype))
		return;
	if (g->fast_round)
		put(&g->b, "\t\tcu_round_fast_v<%s, %d>(s%d);\n", dt_name(s->out), v, i);
	else
		put(&g->b, "#pragma unroll\n\t\tfor (int j = 0; j < %d; j++)\n\t\t\ts%d[j] = cu_round<%s>(s%d[j]);\n", v,
		    i, dt_name(s->out), i);
}

/* The kernel's source for call c, three widths (elements a thread); NULL
 * when out of memory.  Each step runs over the thread's elements before the
 * next, so that a division by one value can test them all at once. */
static char *generate(const struct mp_fused_call *c)
{
	struct gen g;
	memset(&g, 0, sizeof g);
	g.c = c;
	g.fast_round = c->out->dtype == MP_BF16 || c->out->dtype == MP_F16;
	for (int k = 0; k < c->nin; k++)
		g.scalar[k] = mp_tensor_numel(c->in[k]) == 1;
	put(&g.b, "extern \"C\" {\n");
	static const int widths[3] = { 8, 4, 1 };
	for (int w = 0; w < 3; w++) {
		int v = widths[w];
		put(&g.b, "__global__ void mpf%d(struct fargs a)\n{\n", v);
		put(&g.b, "\tconst int L = a.f.ndim - 1;\n");
		put(&g.b, "\tuint32_t nv = a.f.n / %d, step = blockDim.x * gridDim.x;\n", v);
		for (int k = 0; k < c->nin; k++)
			if (g.scalar[k])
				put(&g.b, "\tconst float x%d = cu_ldf<%s>(a.in[%d], 0);\n", k, dt_name(c->in[k]->dtype), k);
		for (int i = 0; i < c->nsteps; i++)
			if (divides_by_scalar(&g, &c->steps[i])) {
				put(&g.b, "\tconst float y%d = ", i);
				put_arg(&g, &c->steps[i], 1);
				put(&g.b, ", r%d = cu_div_recip(y%d);\n\tconst bool d%d = cu_div_fits(y%d);\n", i, i, i, i);
			}
		put(&g.b, "\tfor (uint32_t g = blockIdx.x * blockDim.x + threadIdx.x; g < nv; g += step) {\n");
		put(&g.b, "\t\tint32_t off[CU_ITER_OPS];\n\t\tcu_fast_offsets(a.f, g * %d, off);\n", v);
		for (int k = 0; k < c->nin; k++)
			if (!g.scalar[k])
				put(&g.b, "\t\tfloat x%d[%d];\n\t\tcu_ldv<%s, %d>(a.in[%d], off[%d], a.f.stride[%d][L], x%d);\n", k,
				    v, dt_name(c->in[k]->dtype), v, k, k + 1, k + 1, k);
		for (int i = 0; i < c->nsteps; i++)
			put_step(&g, i, v);
		put(&g.b, "\t\tcu_stv<%s, %d>(a.out, off[0], s%d);\n\t}\n}\n", dt_name(c->out->dtype), v, c->nsteps - 1);
	}
	put(&g.b, "}\n");
	if (g.b.oom) {
		free(g.b.p);
		return NULL;
	}
	return g.b.p;
}

/* ---- compiling ---- */

/* What the kernel sees before math.cuh: the types and constants nvcc gets
 * from <stdint.h>, tensor.h, dtype.h and op.h. */
static char *prelude(void)
{
	struct sbuf b = { NULL, 0, 0, false };
	put(&b, "typedef unsigned char uint8_t;\ntypedef signed char int8_t;\ntypedef unsigned short uint16_t;\n"
	        "typedef short int16_t;\ntypedef unsigned int uint32_t;\ntypedef int int32_t;\n"
	        "typedef unsigned long long uint64_t;\ntypedef long long int64_t;\n");
	put(&b, "#define MP_MAX_DIMS %d\n", MP_MAX_DIMS);
	put(&b, "enum mp_dtype { MP_F32 = %d, MP_F16 = %d, MP_F64 = %d, MP_BF16 = %d };\n", MP_F32, MP_F16, MP_F64,
	    MP_BF16);
	put(&b, "enum mp_op {\n\tMP_OP_NONE = 0,\n#define MP_OP(id, name, family, since, flags) MP_OP_##id,\n#include \"ops.def\"\n"
	        "#undef MP_OP\n\tMP_OP_COUNT\n};\n");
	put(&b, "#include \"math.cuh\"\n");
	put(&b, "struct fup { float alpha, beta, gamma; bool gelu_tanh; };\n");
	put(&b, "struct fargs { cu_fast f; const void *in[%d]; void *out; };\n", MP_FUSED_MAX_IN);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

static enum mp_status compile(struct cu_fcache *fc, const char *body, struct cu_fprog *out, struct mp_error *e)
{
	char *pre = prelude();
	size_t np = pre ? strlen(pre) : 0, nb = strlen(body);
	char *src = (char *)malloc(np + nb + 1);
	if (!pre || !src) {
		free(pre);
		free(src);
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	}
	memcpy(src, pre, np);
	memcpy(src + np, body, nb + 1);
	free(pre);

	const char *headers[2] = { mp_cu_math_src, mp_cu_ops_def };
	const char *names[2] = { "math.cuh", "ops.def" };
	nvrtcProgram prog;
	nvrtcResult r = nvrtcCreateProgram(&prog, src, "mpdbg_fused.cu", 2, headers, names);
	free(src);
	if (r != NVRTC_SUCCESS)
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "NVRTC: %s", nvrtcGetErrorString(r));
	const char *opts[] = { fc->arch, "--std=c++17", "--fmad=false", "--device-as-default-execution-space" };
	r = nvrtcCompileProgram(prog, 4, opts);
	if (r != NVRTC_SUCCESS) {
		size_t ln = 0;
		char log[512] = "";
		nvrtcGetProgramLogSize(prog, &ln);
		if (ln > 1) {
			char *full = (char *)malloc(ln);
			if (full && nvrtcGetProgramLog(prog, full) == NVRTC_SUCCESS)
				snprintf(log, sizeof log, "%s", full);
			free(full);
		}
		nvrtcDestroyProgram(&prog);
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "NVRTC could not compile a fused kernel: %s: %s",
		                    nvrtcGetErrorString(r), log);
	}
	size_t ncubin = 0;
	char *cubin = NULL;
	r = nvrtcGetCUBINSize(prog, &ncubin);
	if (r == NVRTC_SUCCESS && (cubin = (char *)malloc(ncubin ? ncubin : 1)))
		r = nvrtcGetCUBIN(prog, cubin);
	nvrtcDestroyProgram(&prog);
	if (r != NVRTC_SUCCESS || !cubin) {
		free(cubin);
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "NVRTC: %s", cubin ? nvrtcGetErrorString(r) : "out of memory");
	}
	cudaError_t err = cudaLibraryLoadData(&out->lib, cubin, NULL, NULL, 0, NULL, NULL, 0);
	free(cubin);
	if (err == cudaSuccess && (err = cudaLibraryGetKernel(&out->k8, out->lib, "mpf8")) == cudaSuccess &&
	    (err = cudaLibraryGetKernel(&out->k4, out->lib, "mpf4")) == cudaSuccess)
		err = cudaLibraryGetKernel(&out->k1, out->lib, "mpf1");
	if (err != cudaSuccess) {
		cudaGetLastError();
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "loading a fused kernel: %s", cudaGetErrorString(err));
	}
	return MP_OK;
}

static enum mp_status find(struct cu_ctx *c, const struct mp_fused_call *call, struct cu_fprog **out,
                           struct mp_error *e)
{
	struct cu_fcache *fc = (struct cu_fcache *)c->fused;
	enum mp_status st;
	if (!fc) {
		if (!(fc = (struct cu_fcache *)calloc(1, sizeof *fc)))
			return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		cudaDeviceProp prop;
		if (cudaGetDeviceProperties(&prop, c->device) != cudaSuccess) {
			cudaGetLastError();
			free(fc);
			return mp_error_set(e, MP_ERR_UNSUPPORTED, "fused kernels: the device's properties are unknown");
		}
		snprintf(fc->arch, sizeof fc->arch, "--gpu-architecture=sm_%d%d", prop.major, prop.minor);
		c->fused = fc;
	}
	if (fc->failed[0])
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "%s", fc->failed);
	char *src = generate(call);
	if (!src)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < fc->n; i++)
		if (!strcmp(fc->progs[i].src, src)) {
			free(src);
			*out = &fc->progs[i];
			return MP_OK;
		}
	if (fc->n == fc->cap) {
		size_t cap = fc->cap ? 2 * fc->cap : 8;
		struct cu_fprog *np = (struct cu_fprog *)realloc(fc->progs, cap * sizeof *np);
		if (!np) {
			free(src);
			return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		}
		fc->progs = np;
		fc->cap = cap;
	}
	struct cu_fprog *p = &fc->progs[fc->n];
	memset(p, 0, sizeof *p);
	if ((st = compile(fc, src, p, e))) {
		free(src);
		/* the first program tells whether NVRTC works here at all */
		if (!fc->n && st == MP_ERR_UNSUPPORTED)
			snprintf(fc->failed, sizeof fc->failed, "%s", e->msg);
		return st;
	}
	p->src = src;
	fc->n++;
	*out = p;
	return MP_OK;
}

extern "C" void cu_fused_free(struct cu_ctx *c)
{
	struct cu_fcache *fc = (struct cu_fcache *)c->fused;
	if (!fc)
		return;
	for (size_t i = 0; i < fc->n; i++) {
		cudaLibraryUnload(fc->progs[i].lib);
		free(fc->progs[i].src);
	}
	free(fc->progs);
	free(fc);
	c->fused = NULL;
}

/* ---- running ---- */

extern "C" enum mp_status cu_fused(void *ctx, const struct mp_fused_call *call, struct mp_error *e)
{
	struct cu_ctx *c = (struct cu_ctx *)ctx;
	struct cu_fprog *p = NULL;
	enum mp_status st;

	if (call->nin < 1 || call->nin > MP_FUSED_MAX_IN || call->nsteps < 1 || call->nsteps > MP_FUSED_MAX_STEPS)
		return mp_error_set(e, MP_ERR_INTERNAL, "a fused call of %d inputs and %d steps", call->nin, call->nsteps);
	for (int k = 0; k < call->nin; k++)
		if (!cu_is_storage_float(call->in[k]->dtype))
			return mp_error_set(e, MP_ERR_UNSUPPORTED, "a fused input of %s", mp_dtype_name(call->in[k]->dtype));
	if (!cu_is_storage_float(call->out->dtype) || !mp_tensor_is_contiguous(call->out))
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "a fused output of %s", mp_dtype_name(call->out->dtype));
	const struct mp_tensor *ops[1 + MP_FUSED_MAX_IN];
	const void *ptrs[1 + MP_FUSED_MAX_IN];
	size_t es[1 + MP_FUSED_MAX_IN];
	ops[0] = call->out;
	for (int k = 0; k < call->nin; k++)
		ops[k + 1] = call->in[k];
	struct cu_iter it;
	cu_iter_init(&it, 1 + call->nin, ops);
	if (!it.n)
		return MP_OK;
	for (int k = 0; k <= call->nin; k++) {
		ptrs[k] = ops[k]->data;
		es[k] = mp_dtype_size(ops[k]->dtype);
	}
	struct fargs a;
	memset(&a, 0, sizeof a);
	if (!cu_fast_init(&a.f, it, ptrs, es, 8))
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "a fused group of %lld elements needs 64-bit offsets",
		                    (long long)it.n);
	if ((st = find(c, call, &p, e)))
		return st;
	for (int k = 0; k < call->nin; k++)
		a.in[k] = call->in[k]->data;
	a.out = call->out->data;
	void *args[1] = { &a };
	int v = a.f.vec >= 8 ? 8 : a.f.vec >= 4 ? 4 : 1;
	cudaKernel_t k = v == 8 ? p->k8 : v == 4 ? p->k4 : p->k1;
	CU_TRY(cudaLaunchKernel((const void *)k, dim3(cu_blocks(a.f.n / v, 256)), dim3(256), args, 0, c->stream),
	       "launching a fused kernel");
	return MP_OK;
}
