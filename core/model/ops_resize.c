/* ops_resize.c - Resize (opsets 10 to 19) and Upsample: modes, coordinate
 * transformations, and output sizes from scales or sizes. */
#include <math.h>
#include <string.h>

#include "ops.h"

static enum mp_status parse_resize(struct mp_parse *p)
{
	struct mp_resize_params *rp = p->params;
	const struct mp_node *n = p->node;
	const char *s;
	int64_t i;

	MP_TRY(mp_attr_string(p, "mode", "nearest", &s));
	if (!strcmp(s, "nearest")) rp->mode = MP_RESIZE_NEAREST;
	else if (!strcmp(s, "linear") || !strcmp(s, "bilinear")) rp->mode = MP_RESIZE_LINEAR;
	else if (!strcmp(s, "cubic") && n->op == MP_OP_RESIZE && n->opset >= 11) rp->mode = MP_RESIZE_CUBIC;
	else return mp_parse_fail(p, MP_ERR_MODEL, "%s mode '%s' is not one ONNX defines", n->op_type, s);

	if (n->op == MP_OP_UPSAMPLE || n->opset < 11) {
		/* Upsample and Resize-10: x_original = x_resized / scale, nearest floors */
		rp->coord = MP_COORD_ASYMMETRIC;
		rp->nearest = MP_NEAREST_FLOOR;
		if (n->op == MP_OP_UPSAMPLE && n->opset < 9) {
			MP_TRY(mp_attr_floats(p, "scales", rp->scales_attr, MP_MAX_DIMS, &rp->nscales_attr));
			if (rp->nscales_attr < 0)
				return mp_parse_fail(p, MP_ERR_MODEL, "Upsample-7 needs the attribute 'scales'");
			if (n->ninputs != 1)
				return mp_parse_fail(p, MP_ERR_MODEL, "Upsample-7 takes 1 input");
		} else if (n->ninputs != 2) {
			return mp_parse_fail(p, MP_ERR_MODEL, "%s takes X and scales", n->op_type);
		}
		rp->naxes = -1;
		return n->noutputs == 1 ? MP_OK : mp_parse_fail(p, MP_ERR_MODEL, "%s has 1 output", n->op_type);
	}
	MP_TRY(mp_attr_string(p, "coordinate_transformation_mode", "half_pixel", &s));
	if (!strcmp(s, "half_pixel")) rp->coord = MP_COORD_HALF_PIXEL;
	else if (!strcmp(s, "half_pixel_symmetric")) rp->coord = MP_COORD_HALF_PIXEL_SYMMETRIC;
	else if (!strcmp(s, "pytorch_half_pixel")) rp->coord = MP_COORD_PYTORCH_HALF_PIXEL;
	else if (!strcmp(s, "align_corners")) rp->coord = MP_COORD_ALIGN_CORNERS;
	else if (!strcmp(s, "asymmetric")) rp->coord = MP_COORD_ASYMMETRIC;
	else if (!strcmp(s, "tf_crop_and_resize")) rp->coord = MP_COORD_TF_CROP_AND_RESIZE;
	else if (!strcmp(s, "tf_half_pixel_for_nn")) rp->coord = MP_COORD_TF_HALF_PIXEL_FOR_NN;
	else return mp_parse_fail(p, MP_ERR_MODEL, "coordinate_transformation_mode '%s' is unknown", s);
	MP_TRY(mp_attr_string(p, "nearest_mode", "round_prefer_floor", &s));
	if (!strcmp(s, "round_prefer_floor")) rp->nearest = MP_NEAREST_ROUND_PREFER_FLOOR;
	else if (!strcmp(s, "round_prefer_ceil")) rp->nearest = MP_NEAREST_ROUND_PREFER_CEIL;
	else if (!strcmp(s, "floor")) rp->nearest = MP_NEAREST_FLOOR;
	else if (!strcmp(s, "ceil")) rp->nearest = MP_NEAREST_CEIL;
	else return mp_parse_fail(p, MP_ERR_MODEL, "nearest_mode '%s' is unknown", s);
	MP_TRY(mp_attr_string(p, "keep_aspect_ratio_policy", "stretch", &s));
	if (!strcmp(s, "stretch")) rp->aspect = MP_ASPECT_STRETCH;
	else if (!strcmp(s, "not_larger")) rp->aspect = MP_ASPECT_NOT_LARGER;
	else if (!strcmp(s, "not_smaller")) rp->aspect = MP_ASPECT_NOT_SMALLER;
	else return mp_parse_fail(p, MP_ERR_MODEL, "keep_aspect_ratio_policy '%s' is unknown", s);
	MP_TRY(mp_attr_float(p, "cubic_coeff_a", -0.75f, &rp->cubic_coeff_a));
	MP_TRY(mp_attr_int(p, "exclude_outside", 0, &i));
	rp->exclude_outside = i != 0;
	MP_TRY(mp_attr_int(p, "antialias", 0, &i));
	rp->antialias = i != 0;
	MP_TRY(mp_attr_float(p, "extrapolation_value", 0, &rp->extrapolation_value));
	MP_TRY(mp_attr_ints(p, "axes", rp->axes, MP_MAX_DIMS, &rp->naxes));
	if (n->ninputs < 1 || n->ninputs > 4 || n->noutputs != 1 || n->inputs[0] < 0)
		return mp_parse_fail(p, MP_ERR_MODEL, "Resize takes X and up to 3 more inputs");
	return MP_OK;
}

/* Output dims and scales from checked sizes v on the naxes axes, under
 * keep_aspect_ratio_policy. */
static void resize_to_sizes(struct mp_resize_params *rp, const struct mp_infer_val *x, const int64_t *v,
                            const int *axes, int naxes, int64_t *out)
{
	if (rp->aspect != MP_ASPECT_STRETCH) {
		double s = rp->aspect == MP_ASPECT_NOT_LARGER ? INFINITY : 0;
		for (int i = 0; i < naxes; i++) {
			double q = (double)v[i] / (double)x->info.dims[axes[i]];
			s = rp->aspect == MP_ASPECT_NOT_LARGER ? fmin(s, q) : fmax(s, q);
		}
		for (int i = 0; i < naxes; i++) {
			int a = axes[i];
			rp->scale[a] = s;
			out[a] = (int64_t)floor(s * (double)x->info.dims[a] + 0.5);
		}
	} else {
		for (int i = 0; i < naxes; i++) {
			int a = axes[i];
			out[a] = v[i];
			if (x->info.dims[a] > 0)
				rp->scale[a] = (double)v[i] / (double)x->info.dims[a];
		}
	}
}

static enum mp_status infer_resize(struct mp_infer *c)
{
	struct mp_resize_params *rp = c->params;
	const struct mp_infer_val *x = c->in[0];
	const struct mp_infer_val *roi = NULL, *scales = NULL, *sizes = NULL;
	int r = x->info.ndim, axes[MP_MAX_DIMS], naxes;
	int64_t out[MP_MAX_DIMS];

	if (c->node->op == MP_OP_UPSAMPLE || c->node->opset < 11) {
		if (c->ninputs > 1)
			scales = c->in[1];
	} else {
		roi = c->ninputs > 1 ? c->in[1] : NULL;
		scales = c->ninputs > 2 ? c->in[2] : NULL;
		sizes = c->ninputs > 3 ? c->in[3] : NULL;
	}
	if (scales && scales->info.ndim == 1 && scales->info.dims[0] == 0)
		scales = NULL; /* an empty tensor stands for "not given" */
	if (roi && roi->info.ndim == 1 && roi->info.dims[0] == 0)
		roi = NULL;
	if (!!scales + !!sizes + (rp->nscales_attr > 0) != 1)
		return mp_infer_fail(c, "exactly one of scales and sizes must be given");
	if (r < 0) {
		mp_infer_set_unknown(c->out[0], x->info.dtype, -1);
		return MP_OK;
	}
	naxes = rp->naxes >= 0 ? rp->naxes : r;
	for (int i = 0; i < naxes; i++)
		if (rp->naxes >= 0) {
			if (!mp_axis_normalize(rp->axes[i], r, &axes[i]))
				return mp_infer_fail(c, "axis %lld is out of range", (long long)rp->axes[i]);
		} else {
			axes[i] = i;
		}
	for (int d = 0; d < r; d++) {
		rp->scale[d] = 1;
		rp->roi_start[d] = 0;
		rp->roi_end[d] = 1;
		out[d] = x->info.dims[d];
	}
	if (roi && rp->coord == MP_COORD_TF_CROP_AND_RESIZE) {
		const struct mp_tensor *t = roi->value;
		if (!t) {
			mp_infer_set_unknown(c->out[0], x->info.dtype, r);
			return MP_OK;
		}
		if (mp_tensor_numel(t) != 2 * naxes)
			return mp_infer_fail(c, "roi has %lld entries for %d axes", (long long)mp_tensor_numel(t), naxes);
		double v[2 * MP_MAX_DIMS];
		mp_dtype_traits(t->dtype)->load_f64(t->data, 1, v, (size_t)(2 * naxes));
		for (int i = 0; i < naxes; i++) {
			rp->roi_start[axes[i]] = v[i];
			rp->roi_end[axes[i]] = v[naxes + i];
		}
	}
	if (rp->nscales_attr > 0 || scales) {
		double v[MP_MAX_DIMS];
		if (rp->nscales_attr > 0) {
			if (rp->nscales_attr != r)
				return mp_infer_fail(c, "scales has %d entries for rank %d", rp->nscales_attr, r);
			for (int i = 0; i < r; i++)
				v[i] = rp->scales_attr[i];
		} else {
			const struct mp_tensor *t = scales->value;
			if (!t) {
				mp_infer_set_unknown(c->out[0], x->info.dtype, r);
				return MP_OK;
			}
			if (mp_tensor_numel(t) != naxes || !mp_dtype_is_float(t->dtype))
				return mp_infer_fail(c, "scales must be %d floats", naxes);
			mp_dtype_traits(t->dtype)->load_f64(t->data, 1, v, (size_t)naxes);
		}
		for (int i = 0; i < naxes; i++) {
			int a = axes[i];
			if (!(v[i] > 0) || !isfinite(v[i]))
				return mp_infer_fail(c, "scale %g on axis %d", v[i], a);
			rp->scale[a] = (double)(float)v[i];
			double len = x->info.dims[a];
			if (rp->coord == MP_COORD_TF_CROP_AND_RESIZE)
				len *= rp->roi_end[a] - rp->roi_start[a];
			if (x->info.dims[a] >= 0) {
				double o = floor(len * (double)(float)v[i]);
				if (!(o < 1e15))
					return mp_infer_fail(c, "output dim %g is too large", o);
				out[a] = (int64_t)o;
			}
		}
	} else {
		int64_t v[MP_MAX_DIMS];
		int n;
		if (!mp_infer_ints(sizes, v, MP_MAX_DIMS, &n) || !sizes->value) {
			mp_infer_set_unknown(c->out[0], x->info.dtype, r);
			return MP_OK;
		}
		if (n != naxes)
			return mp_infer_fail(c, "sizes has %d entries for %d axes", n, naxes);
		for (int i = 0; i < naxes; i++)
			if (v[i] < 0)
				return mp_infer_fail(c, "sizes has a negative entry");
		resize_to_sizes(rp, x, v, axes, naxes, out);
	}
	mp_infer_set(c->out[0], x->info.dtype, r, out);
	return MP_OK;
}

static uint32_t value_inputs_resize(const struct mp_node *n)
{
	return n->op == MP_OP_UPSAMPLE || n->opset < 11 ? 0x2u : 0xEu;
}

const struct mp_family_ops mp_family_resize = {
	sizeof(struct mp_resize_params), parse_resize, infer_resize, value_inputs_resize,
};
