/* ops_shape.c - views (Identity, Dropout, Reshape, Flatten, Squeeze,
 * Unsqueeze), Shape and Size, and tensors made from attributes or shapes
 * (Constant, ConstantOfShape, Range, EyeLike, OneHot). */
#include <math.h>
#include <string.h>

#include "graph_internal.h"
#include "ops.h"

static void copy_sym(struct mp_infer_val *o, const struct mp_infer_val *i, bool scalar)
{
	if (!o || !i || i->nsym < 0)
		return;
	o->nsym = i->nsym;
	o->sym_scalar = scalar;
	memcpy(o->sym, i->sym, sizeof i->sym);
}

/* ---- views ---- */

static enum mp_status parse_view(struct mp_parse *p)
{
	struct mp_view_params *v = p->params;
	const struct mp_node *n = p->node;
	int64_t i;

	switch (n->op) {
	case MP_OP_IDENTITY:
		break;
	case MP_OP_DROPOUT:
		mp_attr_ignore(p, "seed");
		mp_attr_ignore(p, "consumed_inputs");
		MP_TRY(mp_attr_float(p, "ratio", 0.5f, &v->ratio));
		if (n->opset < 7) {
			MP_TRY(mp_attr_int(p, "is_test", 0, &i));
			if (!i)
				return mp_parse_fail(p, MP_ERR_UNSUPPORTED, "Dropout in training mode (is_test=0) is not supported");
		}
		if (n->noutputs > 2 || n->ninputs > 3)
			return mp_parse_fail(p, MP_ERR_MODEL, "Dropout takes up to 3 inputs and 2 outputs");
		return MP_OK;
	case MP_OP_RESHAPE:
		MP_TRY(mp_attr_int(p, "allowzero", 0, &i));
		v->allowzero = i != 0;
		if (n->opset < 5) {
			MP_TRY(mp_attr_ints(p, "shape", v->axes, MP_MAX_DIMS, &v->naxes));
			if (v->naxes < 0)
				return mp_parse_fail(p, MP_ERR_MODEL, "Reshape-1 needs the attribute 'shape'");
			mp_attr_ignore(p, "consumed_inputs");
		} else {
			v->axes_input = true;
			if (n->ninputs != 2)
				return mp_parse_fail(p, MP_ERR_MODEL, "Reshape takes 2 inputs");
		}
		break;
	case MP_OP_FLATTEN:
		MP_TRY(mp_attr_int(p, "axis", 1, &v->axis));
		break;
	case MP_OP_SQUEEZE:
	case MP_OP_UNSQUEEZE:
		if (n->opset < 13) {
			MP_TRY(mp_attr_ints(p, "axes", v->axes, MP_MAX_DIMS, &v->naxes));
			if (n->op == MP_OP_UNSQUEEZE && v->naxes < 0)
				return mp_parse_fail(p, MP_ERR_MODEL, "Unsqueeze needs the attribute 'axes'");
		} else {
			v->axes_input = true;
			v->naxes = -1;
			if (n->op == MP_OP_UNSQUEEZE && n->ninputs != 2)
				return mp_parse_fail(p, MP_ERR_MODEL, "Unsqueeze takes 2 inputs");
		}
		break;
	default:
		break;
	}
	if (n->ninputs < 1 || n->inputs[0] < 0 || n->noutputs != 1)
		return mp_parse_fail(p, MP_ERR_MODEL, "%s takes a data input and 1 output", n->op_type);
	return MP_OK;
}

static enum mp_status infer_reshape(struct mp_infer *c, struct mp_view_params *v)
{
	const struct mp_infer_val *x = c->in[0];
	int64_t target[MP_MAX_DIMS], out[MP_MAX_DIMS];
	int n;
	char buf[256];

	if (v->axes_input) {
		int64_t len;
		MP_TRY(mp_infer_require_dtype(c, 1, mp_dtype_is_index_t, "an int64 shape"));
		if (!mp_infer_ints(c->in[1], target, MP_MAX_DIMS, &n)) {
			if (mp_infer_len(c->in[1], &len)) {
				if (len > MP_MAX_DIMS)
					return mp_error_set(c->e, MP_ERR_UNSUPPORTED, "rank %lld is above %d",
					                    (long long)len, MP_MAX_DIMS);
				mp_infer_set_unknown(c->out[0], x->info.dtype, (int)len);
			} else {
				mp_infer_set_unknown(c->out[0], x->info.dtype, -1);
			}
			return MP_OK;
		}
	} else {
		n = v->naxes;
		memcpy(target, v->axes, sizeof target);
	}
	int minus = -1;
	int64_t known = 1;
	bool all_known = true;
	bool real = !v->axes_input || (c->in[1] && c->in[1]->value);
	for (int i = 0; i < n; i++) {
		int64_t t = target[i];
		if (t == -1) {
			if (minus >= 0)
				return mp_infer_fail(c, "the shape has more than one -1");
			minus = i;
			out[i] = MP_DIM_UNKNOWN;
			continue;
		}
		if (t < -1 && real)
			return mp_infer_fail(c, "shape entry %d is %lld", i, (long long)t);
		if (t == 0 && !v->allowzero) {
			if (x->info.ndim >= 0 && i >= x->info.ndim)
				return mp_infer_fail(c, "shape entry %d is 0 (copy), but the input has only %d dims",
				                     i, x->info.ndim);
			t = x->info.ndim >= 0 ? x->info.dims[i] : MP_DIM_UNKNOWN;
		}
		out[i] = t;
		if (t >= 0)
			known = mp_dim_mul(known, t);
		else
			all_known = false;
	}
	/* total elements of the input, when known */
	int64_t total = 1;
	bool total_known = x->info.ndim >= 0;
	for (int i = 0; total_known && i < x->info.ndim; i++) {
		if (x->info.dims[i] < 0)
			total_known = false;
		else
			total = mp_dim_mul(total, x->info.dims[i]);
	}
	if (minus >= 0 && all_known && total_known) {
		if (known == 0 || total % known)
			return mp_infer_fail(c, "cannot reshape %s (%lld elements) to a shape with -1 and %lld other elements",
			                     mp_infer_dims_str(&x->info, buf, sizeof buf), (long long)total,
			                     (long long)known);
		out[minus] = total / known;
	} else if (minus < 0 && all_known && total_known && known != total) {
		struct mp_value_info t = { .ndim = n };
		char tb[256];
		memcpy(t.dims, out, sizeof out);
		return mp_infer_fail(c, "cannot reshape %s (%lld elements) to %s (%lld elements)",
		                     mp_infer_dims_str(&x->info, buf, sizeof buf), (long long)total,
		                     mp_infer_dims_str(&t, tb, sizeof tb), (long long)known);
	} else if (minus >= 0 && x->info.ndim == n) {
		/* [batch, 65, 96] -> [-1, 65, 96] keeps the symbol where the rest match */
		bool rest_match = true;
		for (int i = 0; i < n; i++)
			if (i != minus && out[i] != x->info.dims[i])
				rest_match = false;
		if (rest_match)
			out[minus] = x->info.dims[minus];
	}
	mp_infer_set(c->out[0], x->info.dtype, n, out);
	copy_sym(c->out[0], x, n == 0);
	return MP_OK;
}

/* Dropout runs as inference: the identity, and a mask of ones. */
static enum mp_status infer_dropout(struct mp_infer *c, struct mp_view_params *v)
{
	const struct mp_infer_val *x = c->in[0];
	struct mp_infer_val *o = c->out[0];
	double training, ratio = v->ratio;
	if (c->ninputs > 1 && c->in[1])
		mp_infer_scalar(c->in[1], &ratio);
	if (c->ninputs > 2 && c->in[2] && mp_infer_scalar(c->in[2], &training) && training != 0 &&
	    ratio != 0)
		return mp_error_set(c->e, MP_ERR_UNSUPPORTED,
		                    "Dropout in training mode with ratio %g is random; mpdbg runs inference only",
		                    ratio);
	mp_infer_same(o, x);
	if (c->noutputs > 1 && c->out[1]) {
		mp_infer_same(c->out[1], x);
		c->out[1]->info.dtype = c->node->opset < 10 ? x->info.dtype : MP_BOOL;
		v->write_mask = true;
	}
	return MP_OK;
}

static enum mp_status infer_flatten(struct mp_infer *c, const struct mp_view_params *v)
{
	const struct mp_infer_val *x = c->in[0];
	struct mp_infer_val *o = c->out[0];
	int64_t out[MP_MAX_DIMS];
	int r = x->info.ndim;
	int axis;
	if (r < 0) {
		mp_infer_set_unknown(o, x->info.dtype, 2);
		return MP_OK;
	}
	if (v->axis < -(int64_t)r || v->axis > r)
		return mp_infer_fail(c, "axis %lld is out of range for rank %d", (long long)v->axis, r);
	axis = (int)(v->axis < 0 ? v->axis + r : v->axis);
	out[0] = out[1] = 1;
	for (int i = 0; i < r; i++)
		out[i < axis ? 0 : 1] = mp_dim_mul(out[i < axis ? 0 : 1], x->info.dims[i]);
	mp_infer_set(o, x->info.dtype, 2, out);
	return MP_OK;
}

static enum mp_status infer_view(struct mp_infer *c)
{
	struct mp_view_params *v = c->params;
	const struct mp_infer_val *x = c->in[0];
	struct mp_infer_val *o = c->out[0];
	int64_t axes[MP_MAX_DIMS], out[MP_MAX_DIMS];
	int naxes = v->naxes, r = x->info.ndim;

	switch (c->node->op) {
	case MP_OP_IDENTITY:
		mp_infer_same(o, x);
		copy_sym(o, x, x->sym_scalar);
		return MP_OK;
	case MP_OP_DROPOUT:
		return infer_dropout(c, v);
	case MP_OP_RESHAPE:
		return infer_reshape(c, v);
	case MP_OP_FLATTEN:
		return infer_flatten(c, v);
	default:
		break;
	}

	/* Squeeze, Unsqueeze */
	bool unsq = c->node->op == MP_OP_UNSQUEEZE;
	if (v->axes_input) {
		naxes = -1;
		if (c->ninputs > 1 && c->in[1]) {
			MP_TRY(mp_infer_require_dtype(c, 1, mp_dtype_is_index_t, "int64 axes"));
			if (!mp_infer_ints(c->in[1], axes, MP_MAX_DIMS, &naxes)) {
				int64_t len;
				if (unsq && r >= 0 && mp_infer_len(c->in[1], &len) && r + len <= MP_MAX_DIMS)
					mp_infer_set_unknown(o, x->info.dtype, r + (int)len);
				else
					mp_infer_set_unknown(o, x->info.dtype, -1);
				return MP_OK;
			}
		}
	} else {
		memcpy(axes, v->axes, sizeof axes);
	}
	if (r < 0) {
		mp_infer_set_unknown(o, x->info.dtype, -1);
		return MP_OK;
	}
	if (unsq) {
		if (naxes < 0)
			return mp_infer_fail(c, "Unsqueeze needs axes");
		int rank = r + naxes;
		bool is_new[MP_MAX_DIMS] = { false };
		if (rank > MP_MAX_DIMS)
			return mp_error_set(c->e, MP_ERR_UNSUPPORTED, "rank %d is above %d", rank, MP_MAX_DIMS);
		for (int i = 0; i < naxes; i++) {
			int a;
			if (!mp_axis_normalize(axes[i], rank, &a))
				return mp_infer_fail(c, "axis %lld is out of range for rank %d", (long long)axes[i], rank);
			if (is_new[a])
				return mp_infer_fail(c, "axis %d is given twice", a);
			is_new[a] = true;
		}
		for (int i = 0, j = 0; i < rank; i++)
			out[i] = is_new[i] ? 1 : x->info.dims[j++];
		mp_infer_set(o, x->info.dtype, rank, out);
		if (x->nsym >= 0 && (x->sym_scalar || r == 1) && rank == 1)
			copy_sym(o, x, false);
		return MP_OK;
	}
	bool drop[MP_MAX_DIMS] = { false };
	if (naxes < 0) { /* every dim of size 1 */
		for (int i = 0; i < r; i++) {
			if (x->info.dims[i] < 0) {
				mp_infer_set_unknown(o, x->info.dtype, -1);
				return MP_OK;
			}
			drop[i] = x->info.dims[i] == 1;
		}
	} else {
		for (int i = 0; i < naxes; i++) {
			int a;
			if (!mp_axis_normalize(axes[i], r, &a))
				return mp_infer_fail(c, "axis %lld is out of range for rank %d", (long long)axes[i], r);
			if (x->info.dims[a] >= 0 && x->info.dims[a] != 1)
				return mp_infer_fail(c, "cannot squeeze dim %d of size %lld", a,
				                     (long long)x->info.dims[a]);
			drop[a] = true;
		}
	}
	int k = 0;
	for (int i = 0; i < r; i++)
		if (!drop[i])
			out[k++] = x->info.dims[i];
	mp_infer_set(o, x->info.dtype, k, out);
	if (x->nsym >= 0 && k == 0)
		copy_sym(o, x, true);
	return MP_OK;
}

static uint32_t value_inputs_view(const struct mp_node *n)
{
	const struct mp_view_params *v = n->params;
	if (n->op == MP_OP_DROPOUT)
		return 0x6u;
	return v->axes_input ? 0x2u : 0;
}

const struct mp_family_ops mp_family_view = {
	sizeof(struct mp_view_params), parse_view, infer_view, value_inputs_view,
};

/* ---- Shape, Size ---- */

static enum mp_status parse_shape(struct mp_parse *p)
{
	struct mp_shape_params *s = p->params;
	const struct mp_attr *end = mp_attr_find(p->node, "end");
	MP_TRY(mp_attr_int(p, "start", 0, &s->start));
	MP_TRY(mp_attr_int(p, "end", 0, &s->end));
	s->has_end = end != NULL;
	if (p->node->ninputs != 1 || p->node->noutputs != 1)
		return mp_parse_fail(p, MP_ERR_MODEL, "%s takes 1 input and 1 output", p->node->op_type);
	return MP_OK;
}

static enum mp_status infer_shape(struct mp_infer *c)
{
	struct mp_shape_params *s = c->params;
	const struct mp_infer_val *x = c->in[0];
	struct mp_infer_val *o = c->out[0];
	int r = x->info.ndim;

	if (c->node->op == MP_OP_SIZE) {
		mp_infer_set(o, MP_I64, 0, NULL);
		if (r >= 0 && o) {
			int64_t n = 1;
			for (int i = 0; i < r; i++)
				n = mp_dim_mul(n, x->info.dims[i]);
			o->nsym = 1;
			o->sym_scalar = true;
			o->sym[0] = n;
		}
		return MP_OK;
	}
	if (r < 0) {
		mp_infer_set_unknown(o, MP_I64, 1);
		return MP_OK;
	}
	int64_t start = s->start, end = s->has_end ? s->end : r;
	if (start < 0) start += r;
	if (end < 0) end += r;
	start = start < 0 ? 0 : start > r ? r : start;
	end = end < 0 ? 0 : end > r ? r : end;
	int64_t len = end > start ? end - start : 0;
	s->start = start;
	s->end = end;
	s->has_end = true;
	mp_infer_set(o, MP_I64, 1, &len);
	if (o) {
		o->nsym = (int)len;
		o->sym_scalar = false;
		for (int64_t i = 0; i < len; i++)
			o->sym[i] = x->info.dims[start + i];
	}
	return MP_OK;
}

const struct mp_family_ops mp_family_shape = {
	sizeof(struct mp_shape_params), parse_shape, infer_shape, NULL,
};

/* ---- Constant, ConstantOfShape, Range, EyeLike, OneHot ---- */

/* A tensor in the graph's arena from a list attribute (Constant's value_ints...). */
static enum mp_status make_tensor(struct mp_parse *p, enum mp_dtype dt, int ndim, int64_t n,
                                  const void *src, struct mp_tensor *t)
{
	size_t es = mp_dtype_size(dt);
	void *d = mp_arena_alloc(&p->g->arena, (size_t)n * es + 1);
	if (!d)
		return mp_error_set(p->e, MP_ERR_NOMEM, "out of memory");
	memcpy(d, src, (size_t)n * es);
	mp_tensor_init(t, dt, ndim, &n);
	t->data = d;
	return MP_OK;
}

static enum mp_status parse_fill(struct mp_parse *p)
{
	struct mp_fill_params *f = p->params;
	const struct mp_node *n = p->node;
	const struct mp_tensor *t;
	int64_t i;

	switch (n->op) {
	case MP_OP_CONSTANT: {
		static const char *const unsupported[] = { "value_string", "value_strings", "sparse_value" };
		const struct mp_attr *a;
		for (size_t k = 0; k < 3; k++)
			if (mp_attr_find(n, unsupported[k]))
				return mp_parse_fail(p, MP_ERR_UNSUPPORTED, "Constant %s is not supported", unsupported[k]);
		MP_TRY(mp_attr_tensor(p, "value", &t));
		if (t) {
			f->value = *t;
		} else if ((a = mp_attr_find(n, "value_float"))) {
			float v;
			MP_TRY(mp_attr_float(p, "value_float", 0, &v));
			MP_TRY(make_tensor(p, MP_F32, 0, 1, &v, &f->value));
		} else if ((a = mp_attr_find(n, "value_int"))) {
			int64_t v;
			MP_TRY(mp_attr_int(p, "value_int", 0, &v));
			MP_TRY(make_tensor(p, MP_I64, 0, 1, &v, &f->value));
		} else if ((a = mp_attr_find(n, "value_floats"))) {
			mp_attr_ignore(p, "value_floats");
			if (a->type != MP_ATTR_FLOATS)
				return mp_parse_fail(p, MP_ERR_MODEL, "value_floats should be a list of floats");
			MP_TRY(make_tensor(p, MP_F32, 1, a->n, a->floats, &f->value));
		} else if ((a = mp_attr_find(n, "value_ints"))) {
			mp_attr_ignore(p, "value_ints");
			if (a->type != MP_ATTR_INTS)
				return mp_parse_fail(p, MP_ERR_MODEL, "value_ints should be a list of ints");
			MP_TRY(make_tensor(p, MP_I64, 1, a->n, a->ints, &f->value));
		} else {
			return mp_parse_fail(p, MP_ERR_MODEL, "Constant has no value");
		}
		if (!mp_dtype_computable(f->value.dtype))
			return mp_parse_fail(p, MP_ERR_UNSUPPORTED, "Constant of %s: mpdbg does not compute on it",
			                     mp_dtype_name(f->value.dtype));
		f->has_value = true;
		if (n->ninputs != 0 || n->noutputs != 1)
			return mp_parse_fail(p, MP_ERR_MODEL, "Constant takes no input and 1 output");
		return MP_OK;
	}
	case MP_OP_CONSTANT_OF_SHAPE: {
		float zero = 0;
		MP_TRY(mp_attr_tensor(p, "value", &t));
		if (t) {
			int64_t k = 1;
			for (int d = 0; d < t->ndim; d++)
				k *= t->shape[d];
			if (k != 1)
				return mp_parse_fail(p, MP_ERR_MODEL, "ConstantOfShape's value must hold one element");
			if (!mp_dtype_computable(t->dtype))
				return mp_parse_fail(p, MP_ERR_UNSUPPORTED, "ConstantOfShape of %s is not supported",
				                     mp_dtype_name(t->dtype));
			f->value = *t;
		} else {
			MP_TRY(make_tensor(p, MP_F32, 0, 1, &zero, &f->value));
		}
		f->has_value = true;
		break;
	}
	case MP_OP_EYE_LIKE:
		MP_TRY(mp_attr_int(p, "k", 0, &f->k));
		MP_TRY(mp_attr_int(p, "dtype", 0, &i));
		if (mp_attr_find(n, "dtype")) {
			if (!mp_dtype_valid((int)i) || !mp_dtype_computable((enum mp_dtype)i))
				return mp_parse_fail(p, MP_ERR_UNSUPPORTED, "EyeLike dtype %lld is not supported", (long long)i);
			f->dtype = (enum mp_dtype)i;
			f->has_dtype = true;
		}
		break;
	case MP_OP_HANN_WINDOW:
		MP_TRY(mp_attr_int(p, "periodic", 1, &i));
		f->periodic = i != 0;
		MP_TRY(mp_attr_int(p, "output_datatype", MP_F32, &i));
		if (!mp_dtype_valid((int)i) || !mp_dtype_computable((enum mp_dtype)i) ||
		    !mp_dtype_is_numeric((enum mp_dtype)i))
			return mp_parse_fail(p, MP_ERR_UNSUPPORTED, "HannWindow output_datatype %lld is not supported",
			                     (long long)i);
		f->dtype = (enum mp_dtype)i;
		f->has_dtype = true;
		if (n->ninputs != 1)
			return mp_parse_fail(p, MP_ERR_MODEL, "HannWindow takes 1 input");
		break;
	case MP_OP_ONE_HOT:
		MP_TRY(mp_attr_int(p, "axis", -1, &f->axis));
		if (n->ninputs != 3)
			return mp_parse_fail(p, MP_ERR_MODEL, "OneHot takes 3 inputs");
		break;
	default: /* Range */
		if (n->ninputs != 3)
			return mp_parse_fail(p, MP_ERR_MODEL, "Range takes 3 inputs");
		break;
	}
	if (n->ninputs < 1 || n->inputs[0] < 0 || n->noutputs != 1)
		return mp_parse_fail(p, MP_ERR_MODEL, "%s takes its inputs and 1 output", n->op_type);
	return MP_OK;
}

static enum mp_status infer_fill(struct mp_infer *c)
{
	struct mp_fill_params *f = c->params;
	const struct mp_fill_params *orig = c->node->params;
	struct mp_infer_val *o = c->out[0];

	switch (c->node->op) {
	case MP_OP_CONSTANT:
		mp_infer_set(o, f->value.dtype, f->value.ndim, f->value.shape);
		if (o)
			o->value = &orig->value;
		return MP_OK;
	case MP_OP_CONSTANT_OF_SHAPE: {
		int64_t dims[MP_MAX_DIMS], len;
		int n;
		MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_index_t, "an int64 shape"));
		if (mp_infer_ints(c->in[0], dims, MP_MAX_DIMS, &n)) {
			for (int i = 0; i < n; i++)
				if (dims[i] < 0 && c->in[0]->value)
					return mp_infer_fail(c, "shape entry %d is negative (%lld)", i, (long long)dims[i]);
			mp_infer_set(o, f->value.dtype, n, dims);
		} else if (mp_infer_len(c->in[0], &len) && len <= MP_MAX_DIMS) {
			mp_infer_set_unknown(o, f->value.dtype, (int)len);
		} else {
			mp_infer_set_unknown(o, f->value.dtype, -1);
		}
		return MP_OK;
	}
	case MP_OP_RANGE: {
		double s, l, d;
		enum mp_dtype t = c->in[0]->info.dtype;
		MP_TRY(mp_infer_same_dtype(c, 0, 1));
		MP_TRY(mp_infer_same_dtype(c, 0, 2));
		MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_numeric, "numeric types"));
		for (int k = 0; k < 3; k++)
			if (c->in[k]->info.ndim > 0)
				return mp_infer_fail(c, "Range's inputs must be scalars");
		if (mp_infer_scalar(c->in[0], &s) && mp_infer_scalar(c->in[1], &l) &&
		    mp_infer_scalar(c->in[2], &d)) {
			if (d == 0)
				return mp_infer_fail(c, "Range's delta is 0");
			double nd = ceil((l - s) / d);
			if (!(nd < 9.2e18))
				return mp_infer_fail(c, "Range would have %g elements", nd);
			int64_t len = nd > 0 ? (int64_t)nd : 0;
			mp_infer_set(o, t, 1, &len);
		} else {
			mp_infer_set_unknown(o, t, 1);
		}
		return MP_OK;
	}
	case MP_OP_EYE_LIKE: {
		const struct mp_infer_val *x = c->in[0];
		if (x->info.ndim >= 0 && x->info.ndim != 2)
			return mp_infer_fail(c, "EyeLike takes a 2-D input");
		mp_infer_same(o, x);
		if (o)
			o->info.dtype = f->has_dtype ? f->dtype : x->info.dtype;
		return MP_OK;
	}
	case MP_OP_HANN_WINDOW: {
		const struct mp_infer_val *s = c->in[0];
		double size;
		MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_int_t, "an integer size"));
		if (s->info.ndim > 1 || (s->info.ndim == 1 && s->info.dims[0] >= 0 && s->info.dims[0] != 1))
			return mp_infer_fail(c, "HannWindow's size must be a scalar");
		if (mp_infer_scalar(s, &size)) {
			if (!(size >= 0 && size < 9.2e18))
				return mp_infer_fail(c, "HannWindow's size is %g", size);
			int64_t len = (int64_t)size;
			mp_infer_set(o, f->dtype, 1, &len);
		} else {
			mp_infer_set_unknown(o, f->dtype, 1);
		}
		return MP_OK;
	}
	default: { /* OneHot */
		const struct mp_infer_val *ind = c->in[0];
		double depth;
		int r = ind->info.ndim, axis;
		int64_t dims[MP_MAX_DIMS];
		MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_numeric, "numeric indices"));
		if (c->in[2]->info.ndim >= 0 && (c->in[2]->info.ndim != 1 ||
		                                 (c->in[2]->info.dims[0] >= 0 && c->in[2]->info.dims[0] != 2)))
			return mp_infer_fail(c, "OneHot's values must hold [off, on]");
		if (r < 0) {
			mp_infer_set_unknown(o, c->in[2]->info.dtype, -1);
			return MP_OK;
		}
		if (r + 1 > MP_MAX_DIMS)
			return mp_error_set(c->e, MP_ERR_UNSUPPORTED, "rank above %d", MP_MAX_DIMS);
		if (!mp_axis_normalize(f->axis, r + 1, &axis))
			return mp_infer_fail(c, "axis %lld is out of range", (long long)f->axis);
		f->axis_resolved = axis;
		int64_t dd = MP_DIM_UNKNOWN;
		if (mp_infer_scalar(c->in[1], &depth)) {
			if (!(depth >= 1 && depth < 1e15))
				return mp_infer_fail(c, "OneHot's depth is %g", depth);
			dd = (int64_t)depth;
			f->depth = dd;
		}
		for (int i = 0, j = 0; i <= r; i++)
			dims[i] = i == axis ? dd : ind->info.dims[j++];
		mp_infer_set(o, c->in[2]->info.dtype, r + 1, dims);
		return MP_OK;
	}
	}
}

static uint32_t value_inputs_fill(const struct mp_node *n)
{
	switch (n->op) {
	case MP_OP_CONSTANT_OF_SHAPE: return 0x1u;
	case MP_OP_RANGE: return 0x7u;
	case MP_OP_ONE_HOT: return 0x2u;
	case MP_OP_HANN_WINDOW: return 0x1u;
	default: return 0;
	}
}

const struct mp_family_ops mp_family_fill = {
	sizeof(struct mp_fill_params), parse_fill, infer_fill, value_inputs_fill,
};
