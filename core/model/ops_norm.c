/* ops_norm.c - normalisation ops: BatchNormalization (inference),
 * InstanceNormalization, LayerNormalization, GroupNormalization,
 * RMSNormalization, MeanVarianceNormalization, LpNormalization and LRN. */
#include <string.h>

#include "ops.h"

static enum mp_status parse_norm(struct mp_parse *p)
{
	struct mp_norm_params *np = p->params;
	const struct mp_node *n = p->node;
	int64_t i;
	int nin_min = 1, nin_max = 1, nout_max = 1;

	mp_attr_ignore(p, "consumed_inputs");
	switch (n->op) {
	case MP_OP_BATCH_NORMALIZATION:
		MP_TRY(mp_attr_float(p, "epsilon", 1e-5f, &np->epsilon));
		MP_TRY(mp_attr_float(p, "momentum", 0.9f, &np->momentum));
		/* training: the batch's own statistics normalise it, and the running
		 * ones are updated (outputs 1 and 2); before opset 14 that was
		 * implied by asking for those outputs */
		MP_TRY(mp_attr_int(p, "training_mode", 0, &i));
		np->training = i != 0 || (n->opset < 14 && n->noutputs > 1);
		if (n->opset < 7) {
			MP_TRY(mp_attr_int(p, "is_test", 0, &i));
			np->training = !i && n->noutputs > 1;
		}
		if (n->opset < 9) {
			MP_TRY(mp_attr_int(p, "spatial", 1, &i));
			if (!i)
				return mp_parse_fail(p, MP_ERR_UNSUPPORTED, "BatchNormalization with spatial=0 is not supported");
		}
		if (n->noutputs > 3)
			return mp_parse_fail(p, MP_ERR_UNSUPPORTED,
			                     "BatchNormalization's saved mean and variance outputs are not supported");
		nin_min = nin_max = 5;
		nout_max = 3;
		break;
	case MP_OP_INSTANCE_NORMALIZATION:
		MP_TRY(mp_attr_float(p, "epsilon", 1e-5f, &np->epsilon));
		nin_min = nin_max = 3;
		break;
	case MP_OP_LAYER_NORMALIZATION:
	case MP_OP_RMS_NORMALIZATION:
		MP_TRY(mp_attr_float(p, "epsilon", 1e-5f, &np->epsilon));
		MP_TRY(mp_attr_int(p, "axis", -1, &np->axis));
		MP_TRY(mp_attr_int(p, "stash_type", 1, &i));
		np->stash_f32 = i == 1;
		nin_min = 2;
		nin_max = n->op == MP_OP_LAYER_NORMALIZATION ? 3 : 2;
		nout_max = n->op == MP_OP_LAYER_NORMALIZATION ? 3 : 1;
		break;
	case MP_OP_GROUP_NORMALIZATION:
		MP_TRY(mp_attr_float(p, "epsilon", 1e-5f, &np->epsilon));
		MP_TRY(mp_attr_int(p, "num_groups", 0, &np->num_groups));
		MP_TRY(mp_attr_int(p, "stash_type", 1, &i));
		if (np->num_groups <= 0)
			return mp_parse_fail(p, MP_ERR_MODEL, "GroupNormalization needs num_groups > 0");
		np->legacy_group_scale = n->opset < 21;
		nin_min = nin_max = 3;
		break;
	case MP_OP_MEAN_VARIANCE_NORMALIZATION:
		MP_TRY(mp_attr_ints(p, "axes", np->axes, MP_MAX_DIMS, &np->naxes));
		if (np->naxes < 0) {
			np->naxes = 3;
			np->axes[0] = 0;
			np->axes[1] = 2;
			np->axes[2] = 3;
		}
		break;
	case MP_OP_LP_NORMALIZATION:
		MP_TRY(mp_attr_int(p, "axis", -1, &np->axis));
		MP_TRY(mp_attr_int(p, "p", 2, &np->p));
		if (np->p != 1 && np->p != 2)
			return mp_parse_fail(p, MP_ERR_MODEL, "LpNormalization p must be 1 or 2");
		break;
	default: /* LRN */
		MP_TRY(mp_attr_float(p, "alpha", 1e-4f, &np->alpha));
		MP_TRY(mp_attr_float(p, "beta", 0.75f, &np->beta));
		MP_TRY(mp_attr_float(p, "bias", 1.0f, &np->bias));
		MP_TRY(mp_attr_int(p, "size", 0, &np->size));
		if (np->size <= 0)
			return mp_parse_fail(p, MP_ERR_MODEL, "LRN needs size > 0");
		break;
	}
	if (n->ninputs < nin_min || n->ninputs > nin_max || n->noutputs < 1 || n->noutputs > nout_max)
		return mp_parse_fail(p, MP_ERR_MODEL, "%s has %d inputs and %d outputs", n->op_type,
		                     n->ninputs, n->noutputs);
	for (int k = 0; k < nin_min; k++)
		if (n->inputs[k] < 0)
			return mp_parse_fail(p, MP_ERR_MODEL, "%s input %d is empty", n->op_type, k);
	return MP_OK;
}

/* A per-channel parameter must be 1-D with C entries. */
static enum mp_status check_channels(struct mp_infer *c, int slot, int64_t ch, const char *what)
{
	const struct mp_value_info *vi = &c->in[slot]->info;
	if (vi->ndim < 0)
		return MP_OK;
	int64_t n = 1;
	for (int i = 0; i < vi->ndim; i++)
		n = mp_dim_mul(n, vi->dims[i]);
	if (ch >= 0 && n >= 0 && n != ch)
		return mp_infer_fail(c, "%s has %lld entries for %lld channels", what, (long long)n, (long long)ch);
	return MP_OK;
}

/* LayerNormalization's and RMSNormalization's scale and bias broadcast onto
 * the normalised dims X.shape[axis:]: a dim of them that lines up with one
 * of X's before axis, or differs from X's and is not 1, would be read past. */
static enum mp_status check_norm_param(struct mp_infer *c, int slot, int axis, const char *what)
{
	const struct mp_value_info *xi = &c->in[0]->info, *vi = &c->in[slot]->info;
	int r = xi->ndim;
	if (vi->ndim < 0)
		return MP_OK;
	for (int j = 0; j < vi->ndim; j++) {
		int d = r - vi->ndim + j; /* X's dim this one lines up with */
		int64_t have = vi->dims[j], want = d >= axis ? xi->dims[d] : 1;
		if (have < 0 || have == 1 || want < 0 || have == want)
			continue;
		char a[256], b[256];
		struct mp_value_info normed = { .ndim = r - axis };
		for (int k = axis; k < r; k++)
			normed.dims[k - axis] = xi->dims[k];
		return mp_infer_fail(c, "%s (input %d) has shape %s, which does not broadcast onto the normalised dims %s "
		                     "(X.shape[%d:])", what, slot, mp_infer_dims_str(vi, a, sizeof a),
		                     mp_infer_dims_str(&normed, b, sizeof b), axis);
	}
	return MP_OK;
}

static enum mp_status infer_norm(struct mp_infer *c)
{
	struct mp_norm_params *np = c->params;
	const struct mp_infer_val *x = c->in[0];
	int r = x->info.ndim;
	int64_t ch = r >= 2 ? x->info.dims[1] : MP_DIM_UNKNOWN;

	MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_float_t, "float types"));
	for (int k = 1; k < c->ninputs; k++)
		if (c->in[k])
			MP_TRY(mp_infer_require_dtype(c, k, mp_dtype_is_float_t, "float types"));
	if (r >= 0 && r < 2 && c->node->op != MP_OP_LAYER_NORMALIZATION &&
	    c->node->op != MP_OP_RMS_NORMALIZATION && c->node->op != MP_OP_LP_NORMALIZATION)
		return mp_infer_fail(c, "%s takes inputs of rank 2 or more", c->node->op_type);
	switch (c->node->op) {
	case MP_OP_BATCH_NORMALIZATION:
		for (int k = 1; k < 5; k++)
			MP_TRY(check_channels(c, k, ch, k == 1 ? "scale" : k == 2 ? "B" : k == 3 ? "mean" : "var"));
		for (int k = 1; k < c->noutputs; k++) /* running mean and variance */
			mp_infer_same(c->out[k], c->in[2 + k]);
		break;
	case MP_OP_INSTANCE_NORMALIZATION:
		MP_TRY(check_channels(c, 1, ch, "scale"));
		MP_TRY(check_channels(c, 2, ch, "B"));
		break;
	case MP_OP_GROUP_NORMALIZATION: {
		int64_t want = np->legacy_group_scale ? np->num_groups : ch;
		if (ch >= 0 && ch % np->num_groups)
			return mp_infer_fail(c, "%lld channels do not divide into %lld groups", (long long)ch,
			                     (long long)np->num_groups);
		MP_TRY(check_channels(c, 1, want, "scale"));
		MP_TRY(check_channels(c, 2, want, "bias"));
		break;
	}
	case MP_OP_LAYER_NORMALIZATION:
	case MP_OP_RMS_NORMALIZATION:
	case MP_OP_LP_NORMALIZATION: {
		int axis;
		if (r < 0)
			break;
		if (!mp_axis_normalize(np->axis, r ? r : 1, &axis))
			return mp_infer_fail(c, "axis %lld is out of range for rank %d", (long long)np->axis, r);
		np->axis_resolved = axis;
		if (c->node->op != MP_OP_LP_NORMALIZATION) {
			MP_TRY(check_norm_param(c, 1, axis, "scale"));
			if (c->ninputs > 2 && c->in[2])
				MP_TRY(check_norm_param(c, 2, axis, "bias"));
		}
		/* Mean and InvStdDev keep the leading dims, 1 for the normalised ones */
		for (int k = 1; k < c->noutputs; k++) {
			int64_t d[MP_MAX_DIMS];
			for (int i = 0; i < r; i++)
				d[i] = i < axis ? x->info.dims[i] : 1;
			mp_infer_set(c->out[k], np->stash_f32 ? MP_F32 : x->info.dtype, r, d);
		}
		break;
	}
	case MP_OP_MEAN_VARIANCE_NORMALIZATION:
		np->mask = 0;
		if (r < 0)
			break;
		for (int i = 0; i < np->naxes; i++) {
			int a;
			if (!mp_axis_normalize(np->axes[i], r, &a))
				return mp_infer_fail(c, "axis %lld is out of range for rank %d", (long long)np->axes[i], r);
			np->mask |= 1u << a;
		}
		break;
	default:
		break;
	}
	mp_infer_same(c->out[0], x);
	return MP_OK;
}

const struct mp_family_ops mp_family_norm = {
	sizeof(struct mp_norm_params), parse_norm, infer_norm, NULL,
};
