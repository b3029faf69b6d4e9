/* ops_conv.c - Conv, ConvTranspose and the pooling ops: attributes, output
 * sizes and the padding each auto_pad mode resolves to. */
#include <string.h>

#include "ops.h"

static enum mp_status parse_auto_pad(struct mp_parse *p, enum mp_auto_pad *out)
{
	const char *s;
	MP_TRY(mp_attr_string(p, "auto_pad", "NOTSET", &s));
	if (!strcmp(s, "NOTSET") || !s[0]) *out = MP_PAD_NOTSET;
	else if (!strcmp(s, "SAME_UPPER")) *out = MP_PAD_SAME_UPPER;
	else if (!strcmp(s, "SAME_LOWER")) *out = MP_PAD_SAME_LOWER;
	else if (!strcmp(s, "VALID")) *out = MP_PAD_VALID;
	else return mp_parse_fail(p, MP_ERR_MODEL, "auto_pad '%s' is not one ONNX defines", s);
	return MP_OK;
}

/* Attributes are bounded so the size arithmetic below cannot overflow: no
 * real model has a kernel, stride, dilation or pad of 2^31. */
#define SPATIAL_MAX INT32_MAX

/* Checks the spatial list attributes against each other once their rank is known. */
static enum mp_status check_spatial(struct mp_infer *c, int ns, int nk, int nstr, int ndil, int npad,
                                    const int64_t *k, const int64_t *str, const int64_t *dil,
                                    const int64_t *pads)
{
	if (ns > MP_MAX_SPATIAL)
		return mp_error_set(c->e, MP_ERR_UNSUPPORTED, "%d spatial dims, at most %d", ns, MP_MAX_SPATIAL);
	if ((nk >= 0 && nk != ns) || (nstr >= 0 && nstr != ns) || (ndil >= 0 && ndil != ns) ||
	    (npad >= 0 && npad != 2 * ns))
		return mp_infer_fail(c, "kernel_shape, strides, dilations or pads do not fit %d spatial dims", ns);
	for (int i = 0; i < ns; i++) {
		if (k && (k[i] <= 0 || k[i] > SPATIAL_MAX))
			return mp_infer_fail(c, "kernel_shape[%d] is %lld", i, (long long)k[i]);
		if (str && (str[i] <= 0 || str[i] > SPATIAL_MAX))
			return mp_infer_fail(c, "strides[%d] is %lld", i, (long long)str[i]);
		if (dil && (dil[i] <= 0 || dil[i] > SPATIAL_MAX))
			return mp_infer_fail(c, "dilations[%d] is %lld", i, (long long)dil[i]);
	}
	for (int i = 0; pads && npad >= 0 && i < 2 * ns; i++)
		if (pads[i] < 0 || pads[i] > SPATIAL_MAX)
			return mp_infer_fail(c, "pads[%d] is %lld", i, (long long)pads[i]);
	return MP_OK;
}

/* Output size and padding of one spatial dim of a convolution or pool. */
static enum mp_status window_dim(struct mp_infer *c, enum mp_auto_pad ap, bool ceil_mode,
                                 int64_t in, int64_t k, int64_t s, int64_t d, int64_t *pb,
                                 int64_t *pe, int64_t *out)
{
	int64_t ek = (k - 1) * d + 1; /* effective kernel extent; < 2^62 by SPATIAL_MAX */
	if (in < 0) {
		*out = MP_DIM_UNKNOWN;
		return MP_OK;
	}
	if (in > INT64_MAX / 4)
		return mp_infer_fail(c, "input size %lld is out of range", (long long)in);
	switch (ap) {
	case MP_PAD_VALID:
		*pb = *pe = 0;
		/* fall through */
	case MP_PAD_NOTSET: {
		int64_t span = in + *pb + *pe - ek;
		if (span < 0)
			return mp_infer_fail(c, "the window (extent %lld) is larger than the padded input (%lld)",
			                     (long long)ek, (long long)(in + *pb + *pe));
		int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
		/* a last window that would start inside the end padding is dropped */
		if (ceil_mode && (o - 1) * s >= in + *pb)
			o--;
		*out = o;
		return MP_OK;
	}
	default: { /* SAME_UPPER, SAME_LOWER */
		int64_t o = (in + s - 1) / s;
		int64_t total = (o - 1) * s + ek - in;
		if (total < 0)
			total = 0;
		if (ap == MP_PAD_SAME_UPPER) {
			*pb = total / 2;
			*pe = total - *pb;
		} else {
			*pe = total / 2;
			*pb = total - *pe;
		}
		*out = o;
		return MP_OK;
	}
	}
}

/* ---- Conv, ConvTranspose ---- */

static enum mp_status parse_conv(struct mp_parse *p)
{
	struct mp_conv_params *cv = p->params;
	const struct mp_node *n = p->node;
	MP_TRY(parse_auto_pad(p, &cv->auto_pad));
	MP_TRY(mp_attr_int(p, "group", 1, &cv->group));
	MP_TRY(mp_attr_ints(p, "kernel_shape", cv->kernel_shape, MP_MAX_SPATIAL, &cv->nkernel));
	MP_TRY(mp_attr_ints(p, "strides", cv->strides, MP_MAX_SPATIAL, &cv->nstrides));
	MP_TRY(mp_attr_ints(p, "dilations", cv->dilations, MP_MAX_SPATIAL, &cv->ndilations));
	MP_TRY(mp_attr_ints(p, "pads", cv->pads, 2 * MP_MAX_SPATIAL, &cv->npads));
	if (n->op == MP_OP_CONV_TRANSPOSE) {
		MP_TRY(mp_attr_ints(p, "output_padding", cv->output_padding, MP_MAX_SPATIAL, &cv->noutput_padding));
		MP_TRY(mp_attr_ints(p, "output_shape", cv->output_shape, MP_MAX_SPATIAL, &cv->noutput_shape));
	}
	if (cv->group <= 0)
		return mp_parse_fail(p, MP_ERR_MODEL, "group is %lld", (long long)cv->group);
	if (n->ninputs < 2 || n->ninputs > 3 || n->noutputs != 1 || n->inputs[0] < 0 || n->inputs[1] < 0)
		return mp_parse_fail(p, MP_ERR_MODEL, "%s takes X, W and an optional B", n->op_type);
	return MP_OK;
}

/* ConvTranspose's output size on spatial dim i of ns (input size in >= 0,
 * kernel k, stride s, dilation d), and the pads *pb, *pe it resolves to
 * when output_shape or a SAME auto_pad decides them. */
static enum mp_status transposed_dim(struct mp_infer *c, const struct mp_conv_params *cv, int i, int ns,
                                     int64_t in, int64_t k, int64_t s, int64_t d, int64_t *pb, int64_t *pe,
                                     int64_t *out)
{
	int64_t ek = (k - 1) * d + 1, op = cv->out_pad[i], o;
	if (in > (INT64_MAX >> 2) / s)
		return mp_infer_fail(c, "input size %lld is out of range", (long long)in);
	if (cv->noutput_shape > 0 || cv->auto_pad == MP_PAD_SAME_UPPER ||
	    cv->auto_pad == MP_PAD_SAME_LOWER) {
		if (cv->noutput_shape > 0)
			o = cv->output_shape[cv->noutput_shape - ns + i];
		else
			o = in * s;
		int64_t total = s * (in - 1) + op + ek - o;
		if (total < 0)
			total = 0; /* the extra rows come from output padding */
		if (cv->auto_pad == MP_PAD_SAME_LOWER) {
			*pb = total - total / 2;
			*pe = total / 2;
		} else {
			*pb = total / 2;
			*pe = total - total / 2;
		}
	} else {
		if (cv->auto_pad == MP_PAD_VALID)
			*pb = *pe = 0;
		o = s * (in - 1) + op + ek - *pb - *pe;
	}
	if (o < 0)
		return mp_infer_fail(c, "output size %lld on spatial dim %d", (long long)o, i);
	*out = o;
	return MP_OK;
}

static enum mp_status infer_conv(struct mp_infer *c)
{
	struct mp_conv_params *cv = c->params;
	const struct mp_infer_val *x = c->in[0], *w = c->in[1];
	const struct mp_infer_val *b = c->ninputs > 2 ? c->in[2] : NULL;
	bool tr = c->node->op == MP_OP_CONV_TRANSPOSE;
	int r = x->info.ndim;
	int64_t out[MP_MAX_DIMS];

	MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_float_t, "float types"));
	MP_TRY(mp_infer_same_dtype(c, 0, 1));
	if (b)
		MP_TRY(mp_infer_same_dtype(c, 0, 2));
	if (r < 0 && w->info.ndim >= 0)
		r = w->info.ndim;
	if (r < 0) {
		mp_infer_set_unknown(c->out[0], x->info.dtype, -1);
		return MP_OK;
	}
	if (r < 3)
		return mp_infer_fail(c, "%s takes inputs of rank 3 or more, not %d", c->node->op_type, r);
	if (w->info.ndim >= 0 && w->info.ndim != r)
		return mp_infer_fail(c, "X has rank %d but W has rank %d", r, w->info.ndim);
	int ns = r - 2;
	MP_TRY(check_spatial(c, ns, cv->nkernel, cv->nstrides, cv->ndilations, cv->npads,
	                  cv->nkernel >= 0 ? cv->kernel_shape : NULL, cv->nstrides >= 0 ? cv->strides : NULL,
	                  cv->ndilations >= 0 ? cv->dilations : NULL, cv->pads));
	/* output_shape may name N and C too; the spatial dims are its last ns */
	if (tr && cv->noutput_shape > 0 && cv->noutput_shape < ns)
		return mp_infer_fail(c, "output_shape has %d values for %d spatial dims", cv->noutput_shape, ns);
	for (int i = 0; i < cv->noutput_shape; i++)
		if (cv->output_shape[i] < 0 || cv->output_shape[i] > (INT64_MAX >> 2))
			return mp_infer_fail(c, "output_shape[%d] = %lld is out of range", i, (long long)cv->output_shape[i]);
	for (int i = 0; i < ns; i++)
		if ((cv->noutput_padding > i && (cv->output_padding[i] < 0 || cv->output_padding[i] > SPATIAL_MAX)) ||
		    (cv->noutput_shape > i && (cv->output_shape[i] < 0 || cv->output_shape[i] > (INT64_MAX >> 2))))
			return mp_infer_fail(c, "output_padding or output_shape out of range");
	cv->nspatial = ns;
	int64_t g = cv->group;
	const int64_t *xd = x->info.ndim >= 0 ? x->info.dims : NULL;
	const int64_t *wd = w->info.ndim >= 0 ? w->info.dims : NULL;
	/* channels */
	int64_t cin = xd ? xd[1] : MP_DIM_UNKNOWN, cout;
	if (!tr) {
		if (wd && cin >= 0 && wd[1] >= 0 && wd[1] * g != cin)
			return mp_infer_fail(c, "X has %lld channels, W expects %lld x group %lld",
			                     (long long)cin, (long long)wd[1], (long long)g);
		cout = wd ? wd[0] : MP_DIM_UNKNOWN;
		if (cout >= 0 && cout % g)
			return mp_infer_fail(c, "%lld output channels do not divide into %lld groups",
			                     (long long)cout, (long long)g);
	} else {
		if (wd && cin >= 0 && wd[0] >= 0 && wd[0] != cin)
			return mp_infer_fail(c, "X has %lld channels, W has %lld", (long long)cin, (long long)wd[0]);
		if (cin >= 0 && cin % g)
			return mp_infer_fail(c, "%lld input channels do not divide into %lld groups",
			                     (long long)cin, (long long)g);
		cout = wd ? mp_dim_mul(wd[1], g) : MP_DIM_UNKNOWN;
	}
	if (b && b->info.ndim >= 0 && (b->info.ndim != 1 || (cout >= 0 && b->info.dims[0] >= 0 && b->info.dims[0] != cout)))
		return mp_infer_fail(c, "B must be 1-D with %lld entries", (long long)cout);
	out[0] = xd ? xd[0] : MP_DIM_UNKNOWN;
	out[1] = cout;
	for (int i = 0; i < ns; i++) {
		int64_t k = cv->nkernel >= 0 ? cv->kernel_shape[i] : wd ? wd[2 + i] : MP_DIM_UNKNOWN;
		int64_t s = cv->nstrides >= 0 ? cv->strides[i] : 1;
		int64_t d = cv->ndilations >= 0 ? cv->dilations[i] : 1;
		int64_t in = xd ? xd[2 + i] : MP_DIM_UNKNOWN;
		int64_t pb = cv->npads >= 0 ? cv->pads[i] : 0, pe = cv->npads >= 0 ? cv->pads[i + ns] : 0;
		if (wd && wd[2 + i] >= 0 && k >= 0 && k != wd[2 + i])
			return mp_infer_fail(c, "kernel_shape[%d] = %lld but W has %lld", i, (long long)k,
			                     (long long)wd[2 + i]);
		if (k > SPATIAL_MAX)
			return mp_infer_fail(c, "kernel size %lld on spatial dim %d", (long long)k, i);
		if (pb < 0 || pe < 0)
			return mp_infer_fail(c, "negative pads");
		cv->k[i] = k;
		cv->stride[i] = s;
		cv->dilation[i] = d;
		cv->out_pad[i] = cv->noutput_padding >= 0 && i < cv->noutput_padding ? cv->output_padding[i] : 0;
		if (k < 0) {
			out[2 + i] = MP_DIM_UNKNOWN;
			continue;
		}
		if (!tr) {
			MP_TRY(window_dim(c, cv->auto_pad, false, in, k, s, d, &pb, &pe, &out[2 + i]));
		} else {
			if (in < 0) {
				out[2 + i] = MP_DIM_UNKNOWN;
				continue;
			}
			MP_TRY(transposed_dim(c, cv, i, ns, in, k, s, d, &pb, &pe, &out[2 + i]));
		}
		cv->pad_begin[i] = pb;
		cv->pad_end[i] = pe;
	}
	mp_infer_set(c->out[0], x->info.dtype, r, out);
	return MP_OK;
}

const struct mp_family_ops mp_family_conv = {
	sizeof(struct mp_conv_params), parse_conv, infer_conv, NULL,
};

/* ---- pooling ---- */

static bool is_global(enum mp_op op)
{
	return op == MP_OP_GLOBAL_AVERAGE_POOL || op == MP_OP_GLOBAL_MAX_POOL || op == MP_OP_GLOBAL_LP_POOL;
}

static enum mp_status parse_pool(struct mp_parse *p)
{
	struct mp_pool_params *pp = p->params;
	const struct mp_node *n = p->node;
	int64_t i;

	MP_TRY(mp_attr_int(p, "p", 2, &pp->p));
	if (!is_global(n->op)) {
		MP_TRY(parse_auto_pad(p, &pp->auto_pad));
		MP_TRY(mp_attr_int(p, "ceil_mode", 0, &i));
		pp->ceil_mode = i != 0;
		MP_TRY(mp_attr_int(p, "count_include_pad", 0, &i));
		pp->count_include_pad = i != 0;
		MP_TRY(mp_attr_int(p, "storage_order", 0, &pp->storage_order));
		MP_TRY(mp_attr_ints(p, "kernel_shape", pp->kernel_shape, MP_MAX_SPATIAL, &pp->nkernel));
		MP_TRY(mp_attr_ints(p, "strides", pp->strides, MP_MAX_SPATIAL, &pp->nstrides));
		MP_TRY(mp_attr_ints(p, "dilations", pp->dilations, MP_MAX_SPATIAL, &pp->ndilations));
		MP_TRY(mp_attr_ints(p, "pads", pp->pads, 2 * MP_MAX_SPATIAL, &pp->npads));
		if (pp->nkernel < 0)
			return mp_parse_fail(p, MP_ERR_MODEL, "%s needs kernel_shape", n->op_type);
	}
	if (n->op == MP_OP_LP_POOL || n->op == MP_OP_GLOBAL_LP_POOL) {
		const struct mp_attr *a = mp_attr_find(n, "p");
		if (a && a->type == MP_ATTR_FLOAT) /* LpPool-1 had a float p */
			pp->p = (int64_t)a->f;
	}
	int maxout = n->op == MP_OP_MAX_POOL ? 2 : 1;
	if (n->ninputs != 1 || n->noutputs < 1 || n->noutputs > maxout)
		return mp_parse_fail(p, MP_ERR_MODEL, "%s has the wrong number of inputs or outputs", n->op_type);
	return MP_OK;
}

static enum mp_status infer_pool(struct mp_infer *c)
{
	struct mp_pool_params *pp = c->params;
	const struct mp_infer_val *x = c->in[0];
	int r = x->info.ndim;
	int64_t out[MP_MAX_DIMS];
	bool is_max = c->node->op == MP_OP_MAX_POOL || c->node->op == MP_OP_GLOBAL_MAX_POOL;

	MP_TRY(mp_infer_require_dtype(c, 0, is_max ? mp_dtype_is_numeric : mp_dtype_is_float_t,
	                           is_max ? "numeric types" : "float types"));
	if (r < 0) {
		mp_infer_set_unknown(c->out[0], x->info.dtype, -1);
		if (c->noutputs > 1)
			mp_infer_set_unknown(c->out[1], MP_I64, -1);
		return MP_OK;
	}
	if (r < 3)
		return mp_infer_fail(c, "%s takes inputs of rank 3 or more", c->node->op_type);
	int ns = r - 2;
	pp->nspatial = ns;
	out[0] = x->info.dims[0];
	out[1] = x->info.dims[1];
	if (is_global(c->node->op)) {
		for (int i = 0; i < ns; i++) {
			out[2 + i] = 1;
			pp->k[i] = x->info.dims[2 + i];
			pp->stride[i] = pp->dilation[i] = 1;
			pp->pad_begin[i] = pp->pad_end[i] = 0;
		}
		mp_infer_set(c->out[0], x->info.dtype, r, out);
		return MP_OK;
	}
	MP_TRY(check_spatial(c, ns, pp->nkernel, pp->nstrides, pp->ndilations, pp->npads, pp->kernel_shape,
	                  pp->nstrides >= 0 ? pp->strides : NULL, pp->ndilations >= 0 ? pp->dilations : NULL,
	                  pp->pads));
	for (int i = 0; i < ns; i++) {
		int64_t pb = pp->npads >= 0 ? pp->pads[i] : 0, pe = pp->npads >= 0 ? pp->pads[i + ns] : 0;
		pp->k[i] = pp->kernel_shape[i];
		pp->stride[i] = pp->nstrides >= 0 ? pp->strides[i] : 1;
		pp->dilation[i] = pp->ndilations >= 0 ? pp->dilations[i] : 1;
		if (pb < 0 || pe < 0)
			return mp_infer_fail(c, "negative pads");
		if (pb >= pp->k[i] * pp->dilation[i] || pe >= pp->k[i] * pp->dilation[i])
			if (pp->auto_pad == MP_PAD_NOTSET && c->node->op != MP_OP_AVERAGE_POOL)
				return mp_infer_fail(c, "pads %lld, %lld are as large as the window on dim %d",
				                     (long long)pb, (long long)pe, i);
		MP_TRY(window_dim(c, pp->auto_pad, pp->ceil_mode, x->info.dims[2 + i], pp->k[i], pp->stride[i],
		               pp->dilation[i], &pb, &pe, &out[2 + i]));
		pp->pad_begin[i] = pb;
		pp->pad_end[i] = pe;
	}
	mp_infer_set(c->out[0], x->info.dtype, r, out);
	if (c->noutputs > 1)
		mp_infer_set(c->out[1], MP_I64, r, out);
	return MP_OK;
}

const struct mp_family_ops mp_family_pool = {
	sizeof(struct mp_pool_params), parse_pool, infer_pool, NULL,
};
