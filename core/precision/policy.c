/* policy.c - precision policies and the decision they make for each node. */
#include "policy.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

static const char *const reason_names[MP_CAST_REASON_COUNT] = {
	[MP_CAST_NONE] = "none",         [MP_CAST_ENTRY] = "entry",
	[MP_CAST_AUTOCAST] = "autocast", [MP_CAST_PROMOTE] = "promote",
	[MP_CAST_MISMATCH] = "mismatch", [MP_CAST_WEIGHT] = "weight",
	[MP_CAST_GRAPH] = "graph",       [MP_CAST_RETARGET] = "retarget",
	[MP_CAST_OVERRIDE] = "override", [MP_CAST_BLOCKED] = "blocked",
};

const char *mp_cast_reason_name(enum mp_cast_reason r)
{
	return (unsigned)r < MP_CAST_REASON_COUNT && reason_names[r] ? reason_names[r] : "?";
}

static const struct {
	const char *name;
	enum mp_policy_base base;
} bases[] = {
	{ "fp32", MP_POLICY_FP32 },
	{ "bf16-autocast", MP_POLICY_BF16_AUTOCAST },
	{ "bf16", MP_POLICY_BF16 },
	{ "fp16-autocast", MP_POLICY_FP16_AUTOCAST },
	{ "fp16", MP_POLICY_FP16 },
};

enum mp_status mp_policy_set_base(struct mp_policy *p, const char *name, struct mp_error *e)
{
	for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++)
		if (!strcmp(name, bases[i].name)) {
			p->base = bases[i].base;
			return MP_OK;
		}
	return mp_error_set(e, MP_ERR_USAGE,
	                    "unknown policy '%s' (fp32, bf16-autocast, bf16, fp16-autocast or fp16)", name);
}

const char *mp_policy_name(const struct mp_policy *p)
{
	for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++)
		if (bases[i].base == p->base)
			return bases[i].name;
	return "?";
}

enum mp_status mp_policy_add_override(struct mp_policy *p, const char *spec, enum mp_dtype dtype,
                                      struct mp_error *e)
{
	char *glob = strdup(spec);
	if (!glob)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	if (dtype == MP_DTYPE_UNDEFINED) { /* "GLOB=TYPE" */
		char *eq = strrchr(glob, '=');
		if (!eq || eq == glob) {
			free(glob);
			return mp_error_set(e, MP_ERR_USAGE, "--dtype wants GLOB=bf16|fp16|fp32, not '%s'", spec);
		}
		*eq = '\0';
		dtype = !strcmp(eq + 1, "bf16") || !strcmp(eq + 1, "bfloat16") ? MP_BF16 :
		        !strcmp(eq + 1, "fp16") || !strcmp(eq + 1, "float16") ? MP_F16 :
		        !strcmp(eq + 1, "fp32") || !strcmp(eq + 1, "float32") ? MP_F32 : MP_DTYPE_UNDEFINED;
		if (dtype == MP_DTYPE_UNDEFINED) {
			mp_error_set(e, MP_ERR_USAGE, "--dtype: '%s' is not bf16, fp16 or fp32", eq + 1);
			free(glob);
			return MP_ERR_USAGE;
		}
	}
	struct mp_policy_override *o = realloc(p->overrides, (size_t)(p->noverrides + 1) * sizeof *o);
	if (!o) {
		free(glob);
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	}
	p->overrides = o;
	o[p->noverrides].glob = glob;
	o[p->noverrides].dtype = dtype;
	p->noverrides++;
	return MP_OK;
}

enum mp_status mp_policy_set_on_mismatch(struct mp_policy *p, const char *name, struct mp_error *e)
{
	if (!strcmp(name, "error")) p->on_mismatch = MP_MISMATCH_ERROR;
	else if (!strcmp(name, "cast")) p->on_mismatch = MP_MISMATCH_CAST;
	else if (!strcmp(name, "promote")) p->on_mismatch = MP_MISMATCH_PROMOTE;
	else return mp_error_set(e, MP_ERR_USAGE, "--on-mismatch is error, cast or promote, not '%s'", name);
	return MP_OK;
}

void mp_policy_free(struct mp_policy *p)
{
	for (int i = 0; i < p->noverrides; i++)
		free(p->overrides[i].glob);
	free(p->overrides);
	p->overrides = NULL;
	p->noverrides = 0;
}

const char *mp_on_mismatch_name(enum mp_on_mismatch m)
{
	switch (m) {
	case MP_MISMATCH_ERROR: return "error";
	case MP_MISMATCH_CAST: return "cast";
	case MP_MISMATCH_PROMOTE: return "promote";
	default: return "default";
	}
}

enum mp_on_mismatch mp_policy_on_mismatch(const struct mp_policy *p)
{
	if (p->on_mismatch != MP_MISMATCH_DEFAULT)
		return p->on_mismatch;
	switch (p->base) {
	case MP_POLICY_FP32: return MP_MISMATCH_CAST;
	case MP_POLICY_BF16: case MP_POLICY_FP16: return MP_MISMATCH_ERROR;
	default: return MP_MISMATCH_PROMOTE;
	}
}

enum mp_dtype mp_policy_low_type(const struct mp_policy *p)
{
	switch (p->base) {
	case MP_POLICY_BF16: case MP_POLICY_BF16_AUTOCAST: return MP_BF16;
	case MP_POLICY_FP16: case MP_POLICY_FP16_AUTOCAST: return MP_F16;
	default: return MP_F32;
	}
}

bool mp_policy_is_autocast(const struct mp_policy *p)
{
	return p->base == MP_POLICY_BF16_AUTOCAST || p->base == MP_POLICY_FP16_AUTOCAST;
}

/* Overrides match a node's name ("/backbone/embeddings/Conv"), its module
 * path as PyTorch writes it ("backbone.embeddings") or with slashes
 * ("/backbone/embeddings"); '*' crosses separators. */
enum mp_dtype mp_policy_override_for(const struct mp_policy *p, const struct mp_graph *g,
                                     const struct mp_node *n)
{
	const char *path = mp_graph_module(g, (size_t)n->module)->path;
	char slashed[1024];
	size_t k = 0;
	slashed[k++] = '/';
	for (const char *s = path; *s && k + 1 < sizeof slashed; s++)
		slashed[k++] = *s == '.' && !(s[1] >= '0' && s[1] <= '9') ? '/' : *s;
	slashed[k] = '\0';
	for (int i = p->noverrides - 1; i >= 0; i--) { /* the last match wins */
		const char *gl = p->overrides[i].glob;
		if (!fnmatch(gl, n->name, 0) || !fnmatch(gl, path, 0) || !fnmatch(gl, slashed, 0))
			return p->overrides[i].dtype;
	}
	return MP_DTYPE_UNDEFINED;
}

/* ---- PyTorch's CUDA autocast ----
 * The op lists are PyTorch's: the "Autocast Op Reference" of the torch.amp
 * documentation ("CUDA Ops that can autocast to float16 / to float32") and
 * aten/src/ATen/autocast_mode.h (AT_FORALL_LOWER_PRECISION_FP,
 * AT_FORALL_FP32, AT_FORALL_FP32_SET_OPT_DTYPE), here mapped to the ONNX ops
 * those PyTorch ops export to and kept as ops.def's AUTOCAST_LOW (linear,
 * matmul, mm, bmm, addmm, conv*, conv_transpose*, einsum, prelu) and
 * AUTOCAST_FP32 flags (acos asin cosh exp log reciprocal sinh tan pow
 * softplus layer_norm group_norm logsumexp upsample_* prod softmax
 * log_softmax cumprod cumsum sum linalg_vector_norm normalize).  Every op on
 * neither list runs in the dtype of its inputs, with type promotion where
 * they differ. */

/* The fp32 list, and __rdiv__ (a scalar divided by a tensor), which depends
 * on the inputs' ranks. */
static bool autocast_fp32(const struct mp_node *n, const struct mp_input_desc *in)
{
	if (n->op == MP_OP_DIV)
		return n->ninputs == 2 && in[0].rank == 0 && in[1].rank > 0;
	return mp_op_has(n->op, MP_OPF_AUTOCAST_FP32);
}

/* Ops whose kernels read each input in its own dtype, so a scalar can stay
 * wide inside a narrow op, as PyTorch keeps wrapped numbers. */
static bool reads_mixed(enum mp_op op)
{
	enum mp_op_family f = mp_op_info(op)->family;
	return f == MP_FAMILY_binary || f == MP_FAMILY_variadic;
}

/* A Linear exported as MatMul + Add: the Add of the bias belongs to the
 * linear, which autocast runs in the low type whole. */
static bool linear_bias_add(const struct mp_graph *g, const struct mp_node *n,
                            const struct mp_input_desc *in)
{
	if (n->op != MP_OP_ADD || n->ninputs != 2)
		return false;
	for (int k = 0; k < 2; k++) {
		int32_t a = n->inputs[k], b = n->inputs[1 - k];
		if (a < 0 || b < 0 || !in[1 - k].is_weight)
			continue;
		int32_t pi = mp_graph_value(g, (size_t)a)->producer;
		if (pi < 0)
			continue;
		const struct mp_node *p = mp_graph_node(g, (size_t)pi);
		if ((p->op == MP_OP_MAT_MUL || p->op == MP_OP_GEMM) && p->module == n->module && n->module != 0)
			return true;
	}
	return false;
}

static int width(enum mp_dtype t)
{
	switch (t) {
	case MP_F64: return 4;
	case MP_F32: return 3;
	case MP_BF16: case MP_F16: return 2; /* equal rank: PyTorch promotes bf16 + f16 to f32 */
	default: return 0;
	}
}

/* PyTorch's promotion of float dtypes: the wider wins; bf16 with f16 gives f32. */
static enum mp_dtype promote(enum mp_dtype a, enum mp_dtype b)
{
	if (!a) return b;
	if (!b || a == b) return a;
	if (width(a) == width(b))
		return MP_F32;
	return width(a) > width(b) ? a : b;
}

static void set_slot(struct mp_node_decision *d, int k, enum mp_dtype t, bool materialize,
                     enum mp_cast_reason r)
{
	d->slots[k] = (struct mp_slot_plan){ d->slots[k].via, t, materialize, r };
}

enum mp_dtype mp_policy_weight_dtype(const struct mp_policy *p, enum mp_dtype dtype, int rank,
                                     int data_consumers, enum mp_dtype all_override)
{
	if (mp_policy_is_autocast(p) || !mp_dtype_is_float(dtype) || !mp_dtype_computable(dtype) ||
	    rank == 0 || data_consumers == 0)
		return MP_DTYPE_UNDEFINED;
	enum mp_dtype t = all_override != MP_DTYPE_UNDEFINED ? all_override : mp_policy_low_type(p);
	return t != dtype ? t : MP_DTYPE_UNDEFINED;
}

/* Every float input to t: autocast's lists and override islands.  A 0-dim
 * input stays as it is where the kernel reads it so (PyTorch's wrapped
 * numbers) only when `keep_scalars`. */
static void all_to(struct mp_node_decision *d, const struct mp_node *n, const struct mp_input_desc *in,
                   const bool *is_float, enum mp_dtype t, enum mp_cast_reason r)
{
	d->exec = t;
	for (int k = 0; k < n->ninputs && k < 64; k++)
		if (is_float[k] && in[k].dtype != t)
			set_slot(d, k, t, true, r);
}

void mp_policy_decide(const struct mp_policy *p, const struct mp_graph *g, const struct mp_node *n,
                      const struct mp_input_desc *in, struct mp_node_decision *d)
{
	uint32_t params = mp_ops_value_inputs(n);
	bool is_float[64] = { false }, any_float = false;
	enum mp_dtype ov = mp_policy_override_for(p, g, n);
	bool autocast = ov == MP_DTYPE_UNDEFINED && mp_policy_is_autocast(p);
	enum mp_dtype target = ov != MP_DTYPE_UNDEFINED ? ov : mp_policy_low_type(p);
	int nin = n->ninputs < 64 ? n->ninputs : 64;

	d->exec = MP_DTYPE_UNDEFINED;
	d->cast_to = MP_DTYPE_UNDEFINED;
	d->mismatch = d->blocked = false;
	d->nslots = n->ninputs;
	for (int k = 0; k < n->ninputs; k++)
		d->slots[k] = (struct mp_slot_plan){ MP_DTYPE_UNDEFINED, MP_DTYPE_UNDEFINED, true, MP_CAST_NONE };
	if (mp_op_has(n->op, MP_OPF_HOST_ONLY)) /* reads only the shape */
		return;
	for (int k = 0; k < nin; k++) {
		is_float[k] = n->inputs[k] >= 0 && !(params & (1u << k)) && mp_dtype_is_float(in[k].dtype) &&
		              mp_dtype_computable(in[k].dtype);
		any_float |= is_float[k];
	}

	if (n->op == MP_OP_CAST) { /* the graph's own cast; a pure policy retargets a float one */
		const struct mp_cast_params *cp = n->params;
		if (cp && mp_dtype_is_float(cp->to))
			d->cast_to = autocast ? cp->to : target;
		else if (cp)
			d->cast_to = cp->to;
		d->exec = mp_dtype_is_float(d->cast_to) ? d->cast_to : MP_DTYPE_UNDEFINED;
		return;
	}
	if (!any_float)
		return;
	if (ov != MP_DTYPE_UNDEFINED) { /* an override island: everything in, in its dtype */
		all_to(d, n, in, is_float, ov, MP_CAST_OVERRIDE);
		return;
	}

	/* autocast's two lists: every float input to one type */
	if (autocast) {
		bool bias = linear_bias_add(g, n, in);
		if (mp_op_has(n->op, MP_OPF_AUTOCAST_LOW) || bias) {
			all_to(d, n, in, is_float, target, MP_CAST_AUTOCAST);
			return;
		}
		if (autocast_fp32(n, in)) {
			all_to(d, n, in, is_float, MP_F32, MP_CAST_AUTOCAST);
			return;
		}
	}

	/* what the inputs are once values come back from override islands
	 * (weights a pure policy converts arrive converted already) */
	enum mp_dtype seen[64];
	for (int k = 0; k < nin; k++) {
		seen[k] = in[k].dtype;
		if (!is_float[k] || autocast || in[k].dtype == target || in[k].is_weight)
			continue;
		int32_t pi = mp_graph_value(g, (size_t)n->inputs[k])->producer;
		if (pi >= 0 && mp_policy_override_for(p, g, mp_graph_node(g, (size_t)pi)) != MP_DTYPE_UNDEFINED) {
			set_slot(d, k, target, true, MP_CAST_OVERRIDE);
			seen[k] = target;
		}
	}
	/* the widest float input; 0-dim tensors widen only when all are 0-dim */
	enum mp_dtype wide = MP_DTYPE_UNDEFINED, wide_all = MP_DTYPE_UNDEFINED;
	bool disagree = false;
	for (int k = 0; k < nin; k++) {
		if (!is_float[k])
			continue;
		if (wide_all && seen[k] != wide_all)
			disagree = true;
		wide_all = promote(wide_all, seen[k]);
		if (in[k].rank != 0)
			wide = promote(wide, seen[k]);
	}
	if (!wide)
		wide = wide_all;

	/* ops PyTorch refuses to run on mixed float dtypes ("expected scalar
	 * type BFloat16 but found Float"); the elementwise ones promote */
	if (mp_op_has(n->op, MP_OPF_STRICT) && disagree) {
		d->mismatch = !autocast;
		enum mp_on_mismatch m = autocast ? MP_MISMATCH_PROMOTE : mp_policy_on_mismatch(p);
		if (m == MP_MISMATCH_ERROR) {
			d->blocked = true;
			d->exec = is_float[0] ? seen[0] : wide;
			return;
		}
		enum mp_dtype t = m == MP_MISMATCH_CAST ? target : wide_all;
		d->exec = t;
		for (int k = 0; k < nin; k++)
			if (is_float[k] && seen[k] != t)
				set_slot(d, k, t, true, m == MP_MISMATCH_CAST ? MP_CAST_MISMATCH : MP_CAST_PROMOTE);
		return;
	}
	/* promotion: narrower inputs widen; a 0-dim one keeps its precision
	 * where the kernel can read it so, as PyTorch computes with wrapped numbers */
	d->exec = wide;
	for (int k = 0; k < nin; k++) {
		if (!is_float[k] || seen[k] == wide)
			continue;
		bool keep = in[k].rank == 0 && reads_mixed(n->op);
		if (keep && d->slots[k].reason == MP_CAST_NONE)
			set_slot(d, k, wide, false, MP_CAST_PROMOTE);
		else if (!keep)
			set_slot(d, k, wide, true, d->slots[k].reason ? d->slots[k].reason : MP_CAST_PROMOTE);
	}
}

/* ---- PyTorch's words for a mismatch ---- */

static const char *c10_name(enum mp_dtype t)
{
	switch (t) {
	case MP_BF16: return "c10::BFloat16";
	case MP_F16: return "c10::Half";
	case MP_F32: return "float";
	case MP_F64: return "double";
	default: return mp_dtype_name(t);
	}
}

const char *mp_policy_torch_error(const struct mp_node *n, const struct mp_input_desc *in,
                                  char *buf, size_t size)
{
	enum mp_dtype a = in[0].dtype, b = MP_DTYPE_UNDEFINED;
	for (int k = 1; k < n->ninputs && !b; k++)
		if (in[k].dtype && mp_dtype_is_float(in[k].dtype) && in[k].dtype != a)
			b = in[k].dtype;
	if (n->op == MP_OP_CONV || n->op == MP_OP_CONV_TRANSPOSE)
		snprintf(buf, size, "Input type (%s) and bias type (%s) should be the same", c10_name(a), c10_name(b));
	else
		snprintf(buf, size, "expected scalar type %s but found %s", mp_dtype_traits(a)->torch_name,
		         mp_dtype_traits(b)->torch_name);
	return buf;
}
