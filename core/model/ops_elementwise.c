/* ops_elementwise.c - parsing and inference of elementwise ops: unary,
 * binary and variadic with broadcasting, Where, Cast and CastLike. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "ops.h"

/* ---- unary ---- */

static enum mp_status parse_unary(struct mp_parse *p)
{
	struct mp_unary_params *u = p->params;
	const struct mp_node *n = p->node;
	int64_t i;
	const char *s;

	mp_attr_ignore(p, "consumed_inputs"); /* opset < 6: an optimisation hint */
	switch (n->op) {
	case MP_OP_ELU:
	case MP_OP_CELU:
	case MP_OP_THRESHOLDED_RELU:
	case MP_OP_SWISH:
		MP_TRY(mp_attr_float(p, "alpha", 1.0f, &u->alpha));
		break;
	case MP_OP_SELU:
		MP_TRY(mp_attr_float(p, "alpha", 1.67326319217681884765625f, &u->alpha));
		MP_TRY(mp_attr_float(p, "gamma", 1.05070102214813232421875f, &u->gamma));
		break;
	case MP_OP_LEAKY_RELU:
		MP_TRY(mp_attr_float(p, "alpha", 0.01f, &u->alpha));
		break;
	case MP_OP_HARD_SIGMOID:
		MP_TRY(mp_attr_float(p, "alpha", 0.2f, &u->alpha));
		MP_TRY(mp_attr_float(p, "beta", 0.5f, &u->beta));
		break;
	case MP_OP_SHRINK:
		MP_TRY(mp_attr_float(p, "lambd", 0.5f, &u->alpha));
		MP_TRY(mp_attr_float(p, "bias", 0.0f, &u->beta));
		break;
	case MP_OP_GELU:
		MP_TRY(mp_attr_string(p, "approximate", "none", &s));
		if (!strcmp(s, "tanh"))
			u->gelu_tanh = true;
		else if (strcmp(s, "none"))
			return mp_parse_fail(p, MP_ERR_MODEL, "Gelu approximate='%s' is neither 'none' nor 'tanh'", s);
		break;
	case MP_OP_IS_INF:
		MP_TRY(mp_attr_int(p, "detect_negative", 1, &i));
		u->detect_negative = i != 0;
		MP_TRY(mp_attr_int(p, "detect_positive", 1, &i));
		u->detect_positive = i != 0;
		break;
	case MP_OP_CLIP:
		if (n->opset < 11) {
			float lo, hi;
			MP_TRY(mp_attr_float(p, "min", -FLT_MAX, &lo));
			MP_TRY(mp_attr_float(p, "max", FLT_MAX, &hi));
			u->has_min = u->has_max = true;
			u->min = lo;
			u->max = hi;
		}
		break;
	default:
		break;
	}
	if (n->ninputs < 1 || n->noutputs != 1 ||
	    (n->ninputs > 1 && !(n->op == MP_OP_CLIP && n->opset >= 11 && n->ninputs <= 3)))
		return mp_parse_fail(p, MP_ERR_MODEL, "%s takes 1 input and 1 output, not %d and %d",
		                     n->op_type, n->ninputs, n->noutputs);
	return MP_OK;
}

static bool is_any_computable(enum mp_dtype t) { return mp_dtype_computable(t); }
static bool is_signed_numeric(enum mp_dtype t)
{
	return mp_dtype_is_numeric(t) && mp_dtype_traits(t)->is_signed;
}

static enum mp_status infer_unary(struct mp_infer *c)
{
	struct mp_unary_params *u = c->params;
	const struct mp_infer_val *x = c->in[0];
	enum mp_dtype out = x->info.dtype;

	switch (c->node->op) {
	case MP_OP_ABS: case MP_OP_SIGN: case MP_OP_CLIP:
		MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_numeric, "numeric types"));
		break;
	case MP_OP_NEG: case MP_OP_RELU: case MP_OP_LEAKY_RELU:
		MP_TRY(mp_infer_require_dtype(c, 0, is_signed_numeric, "signed numeric types"));
		break;
	case MP_OP_NOT:
		MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_bool_t, "bool"));
		break;
	case MP_OP_BITWISE_NOT:
		MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_int_t, "integer types"));
		break;
	case MP_OP_IS_NAN: case MP_OP_IS_INF:
		MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_float_t, "float types"));
		out = MP_BOOL;
		break;
	default:
		MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_float_t, "float types"));
		break;
	}
	if (c->node->op == MP_OP_CLIP && c->node->opset >= 11) {
		for (int k = 1; k < c->ninputs; k++) {
			double v;
			if (!c->in[k])
				continue;
			MP_TRY(mp_infer_same_dtype(c, 0, k));
			if (c->in[k]->info.ndim > 1 ||
			    (c->in[k]->info.ndim == 1 && c->in[k]->info.dims[0] > 1))
				return mp_infer_fail(c, "Clip's %s must be a scalar", k == 1 ? "min" : "max");
			if (mp_infer_scalar(c->in[k], &v)) {
				if (k == 1) { u->has_min = true; u->min = v; }
				else { u->has_max = true; u->max = v; }
			}
		}
	}
	mp_infer_same(c->out[0], x);
	if (c->out[0])
		c->out[0]->info.dtype = out;
	return MP_OK;
}

static uint32_t value_inputs_unary(const struct mp_node *n)
{
	return n->op == MP_OP_CLIP ? 0x6u : 0;
}

const struct mp_family_ops mp_family_unary = {
	sizeof(struct mp_unary_params), parse_unary, infer_unary, value_inputs_unary,
};

/* ---- binary ---- */

/* Opset < 7 broadcast only when asked (broadcast=1), aligning B at `axis`
 * of A (numpy aligns trailing dims, which is the default). */
static enum mp_status parse_legacy_broadcast(struct mp_parse *p, struct mp_binary_params *b)
{
	int64_t on, axis;
	MP_TRY(mp_attr_int(p, "broadcast", 0, &on));
	MP_TRY(mp_attr_int(p, "axis", INT64_MIN, &axis));
	b->legacy_axis = on && axis != INT64_MIN ? axis : -1;
	return MP_OK;
}

static enum mp_status parse_binary(struct mp_parse *p)
{
	struct mp_binary_params *b = p->params;
	const struct mp_node *n = p->node;
	int64_t i;
	const char *s;

	mp_attr_ignore(p, "consumed_inputs");
	b->legacy_axis = -1;
	if (n->opset < 7 && (n->op == MP_OP_ADD || n->op == MP_OP_SUB || n->op == MP_OP_MUL ||
	                     n->op == MP_OP_DIV || n->op == MP_OP_AND || n->op == MP_OP_OR ||
	                     n->op == MP_OP_XOR || n->op == MP_OP_EQUAL || n->op == MP_OP_LESS ||
	                     n->op == MP_OP_GREATER || n->op == MP_OP_POW))
		MP_TRY(parse_legacy_broadcast(p, b));
	if (n->op == MP_OP_MOD) {
		MP_TRY(mp_attr_int(p, "fmod", 0, &i));
		b->fmod = i != 0;
	}
	if (n->op == MP_OP_BIT_SHIFT) {
		MP_TRY(mp_attr_string(p, "direction", NULL, &s));
		if (!s || (strcmp(s, "LEFT") && strcmp(s, "RIGHT")))
			return mp_parse_fail(p, MP_ERR_MODEL, "BitShift needs direction LEFT or RIGHT");
		b->shift_left = !strcmp(s, "LEFT");
	}
	if (n->ninputs != 2 || n->noutputs != 1)
		return mp_parse_fail(p, MP_ERR_MODEL, "%s takes 2 inputs and 1 output, not %d and %d",
		                     n->op_type, n->ninputs, n->noutputs);
	return MP_OK;
}

static bool is_unsigned_int(enum mp_dtype t)
{
	return mp_dtype_is_int_t(t) && !mp_dtype_traits(t)->is_signed;
}

static enum mp_status infer_binary(struct mp_infer *c)
{
	struct mp_binary_params *bp = c->params;
	enum mp_op op = c->node->op;
	enum mp_dtype out;
	struct mp_value_info vi;

	if (!c->in[0] || !c->in[1])
		return mp_infer_fail(c, "%s needs both inputs", c->node->op_type);
	out = c->in[0]->info.dtype;
	switch (op) {
	case MP_OP_AND: case MP_OP_OR: case MP_OP_XOR:
		MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_bool_t, "bool"));
		MP_TRY(mp_infer_require_dtype(c, 1, mp_dtype_is_bool_t, "bool"));
		break;
	case MP_OP_BITWISE_AND: case MP_OP_BITWISE_OR: case MP_OP_BITWISE_XOR:
		MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_int_t, "integer types"));
		MP_TRY(mp_infer_same_dtype(c, 0, 1));
		break;
	case MP_OP_BIT_SHIFT:
		MP_TRY(mp_infer_require_dtype(c, 0, is_unsigned_int, "unsigned integer types"));
		MP_TRY(mp_infer_same_dtype(c, 0, 1));
		break;
	case MP_OP_EQUAL:
		MP_TRY(mp_infer_require_dtype(c, 0, is_any_computable, "numeric or bool types"));
		MP_TRY(mp_infer_same_dtype(c, 0, 1));
		out = MP_BOOL;
		break;
	case MP_OP_LESS: case MP_OP_LESS_OR_EQUAL: case MP_OP_GREATER: case MP_OP_GREATER_OR_EQUAL:
		MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_numeric, "numeric types"));
		MP_TRY(mp_infer_same_dtype(c, 0, 1));
		out = MP_BOOL;
		break;
	case MP_OP_POW:
		MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_numeric, "numeric types"));
		MP_TRY(mp_infer_require_dtype(c, 1, mp_dtype_is_numeric, "numeric types"));
		break;
	case MP_OP_MOD:
		MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_numeric, "numeric types"));
		MP_TRY(mp_infer_same_dtype(c, 0, 1));
		if (!bp->fmod && mp_dtype_is_float(c->in[0]->info.dtype))
			return mp_infer_fail(c, "Mod of float inputs needs fmod=1");
		break;
	default: /* Add Sub Mul Div PRelu */
		MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_numeric, "numeric types"));
		MP_TRY(mp_infer_same_dtype(c, 0, 1));
		break;
	}
	/* B read with another shape: opset < 7 broadcasting at an axis, and
	 * PRelu-6's slope of one value per channel */
	struct mp_infer_val bview = *c->in[1];
	const struct mp_value_info *ai = &c->in[0]->info, *bi = &c->in[1]->info;
	bp->b_view = false;
	if (ai->ndim >= 0 && bi->ndim >= 0) {
		int64_t at = -1;
		if (bp->legacy_axis >= 0 || (bp->legacy_axis < -1 && bp->legacy_axis >= -ai->ndim))
			at = bp->legacy_axis < 0 ? bp->legacy_axis + ai->ndim : bp->legacy_axis;
		else if (op == MP_OP_PRELU && c->node->opset < 7 && bi->ndim == 1 && ai->ndim > 2 &&
		         bi->dims[0] == ai->dims[1] && bi->dims[0] != 1)
			at = 1;
		if (at >= 0) {
			if (at + bi->ndim > ai->ndim)
				return mp_infer_fail(c, "B (rank %d) does not fit A (rank %d) at axis %lld", bi->ndim,
				                     ai->ndim, (long long)at);
			bp->b_view = true;
			bp->b_ndim = ai->ndim;
			for (int d = 0; d < ai->ndim; d++)
				bp->b_shape[d] = d >= at && d < at + bi->ndim ? bi->dims[d - at] : 1;
			bview.info.ndim = ai->ndim;
			memcpy(bview.info.dims, bp->b_shape, sizeof bp->b_shape);
		}
	}
	MP_TRY(mp_infer_broadcast(c, 2, (const struct mp_infer_val *const[]){ c->in[0], &bview }, &vi));
	if (op == MP_OP_PRELU && vi.ndim >= 0 && c->in[0]->info.ndim >= 0) {
		/* the slope broadcasts to X, never the other way */
		if (vi.ndim != c->in[0]->info.ndim)
			return mp_infer_fail(c, "PRelu's slope has more dims than its input");
		vi = c->in[0]->info;
	}
	mp_infer_set(c->out[0], out, vi.ndim, vi.dims);
	return MP_OK;
}

const struct mp_family_ops mp_family_binary = {
	sizeof(struct mp_binary_params), parse_binary, infer_binary, NULL,
};

/* ---- variadic: Sum Mean Max Min ---- */

static enum mp_status parse_variadic(struct mp_parse *p)
{
	mp_attr_ignore(p, "consumed_inputs");
	if (p->node->ninputs < 1 || p->node->noutputs != 1)
		return mp_parse_fail(p, MP_ERR_MODEL, "%s takes 1 or more inputs and 1 output",
		                     p->node->op_type);
	for (int i = 0; i < p->node->ninputs; i++)
		if (p->node->inputs[i] < 0)
			return mp_parse_fail(p, MP_ERR_MODEL, "%s input %d is empty", p->node->op_type, i);
	return MP_OK;
}

static enum mp_status infer_variadic(struct mp_infer *c)
{
	struct mp_value_info vi;
	MP_TRY(mp_infer_require_dtype(c, 0, c->node->op == MP_OP_MEAN ? mp_dtype_is_float_t :
	                           mp_dtype_is_numeric, "numeric types"));
	for (int k = 1; k < c->ninputs; k++)
		MP_TRY(mp_infer_same_dtype(c, 0, k));
	MP_TRY(mp_infer_broadcast(c, c->ninputs, c->in, &vi));
	mp_infer_set(c->out[0], c->in[0]->info.dtype, vi.ndim, vi.dims);
	return MP_OK;
}

const struct mp_family_ops mp_family_variadic = {
	sizeof(struct mp_variadic_params), parse_variadic, infer_variadic, NULL,
};

/* ---- Where ---- */

static enum mp_status parse_where(struct mp_parse *p)
{
	if (p->node->ninputs != 3 || p->node->noutputs != 1)
		return mp_parse_fail(p, MP_ERR_MODEL, "Where takes 3 inputs and 1 output");
	return MP_OK;
}

static enum mp_status infer_where(struct mp_infer *c)
{
	struct mp_value_info vi;
	if (!c->in[0] || !c->in[1] || !c->in[2])
		return mp_infer_fail(c, "Where needs all three inputs");
	MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_bool_t, "a bool condition"));
	MP_TRY(mp_infer_require_dtype(c, 1, is_any_computable, "numeric or bool types"));
	MP_TRY(mp_infer_same_dtype(c, 1, 2));
	MP_TRY(mp_infer_broadcast(c, 3, c->in, &vi));
	mp_infer_set(c->out[0], c->in[1]->info.dtype, vi.ndim, vi.dims);
	/* a constant-folding shortcut for shape values the exporter routes
	 * through Where (position-embedding interpolation does) is left to the
	 * executor, which folds small host values */
	return MP_OK;
}

const struct mp_family_ops mp_family_where = {
	sizeof(struct mp_where_params), parse_where, infer_where, NULL,
};

/* ---- Cast, CastLike ---- */

static enum mp_status parse_cast(struct mp_parse *p)
{
	struct mp_cast_params *cp = p->params;
	const struct mp_node *n = p->node;
	int64_t sat;

	MP_TRY(mp_attr_int(p, "saturate", 1, &sat)); /* float8 targets only */
	cp->saturate = sat != 0;
	if (n->op == MP_OP_CAST) {
		const struct mp_attr *a = mp_attr_find(n, "to");
		if (!a)
			return mp_parse_fail(p, MP_ERR_MODEL, "Cast needs the attribute 'to'");
		if (a->type == MP_ATTR_STRING) { /* opset < 6 named the type */
			const char *s;
			MP_TRY(mp_attr_string(p, "to", "", &s));
			cp->to = mp_dtype_from_name(s);
		} else {
			int64_t to;
			MP_TRY(mp_attr_int(p, "to", 0, &to));
			cp->to = mp_dtype_valid((int)to) && to == (int)to ? (enum mp_dtype)to : MP_DTYPE_UNDEFINED;
		}
		if (cp->to == MP_DTYPE_UNDEFINED)
			return mp_parse_fail(p, MP_ERR_MODEL, "Cast to an unknown type");
		if (!mp_dtype_computable(cp->to))
			return mp_parse_fail(p, MP_ERR_UNSUPPORTED, "Cast to %s: mpdbg does not compute on %s",
			                     mp_dtype_name(cp->to), mp_dtype_name(cp->to));
		if (n->ninputs != 1)
			return mp_parse_fail(p, MP_ERR_MODEL, "Cast takes 1 input");
	} else if (n->ninputs != 2) {
		return mp_parse_fail(p, MP_ERR_MODEL, "CastLike takes 2 inputs");
	}
	if (n->noutputs != 1)
		return mp_parse_fail(p, MP_ERR_MODEL, "%s has 1 output", n->op_type);
	return MP_OK;
}

static enum mp_status infer_cast(struct mp_infer *c)
{
	struct mp_cast_params *cp = c->params;
	MP_TRY(mp_infer_require_dtype(c, 0, is_any_computable, "numeric or bool types"));
	if (c->node->op == MP_OP_CAST_LIKE) {
		MP_TRY(mp_infer_require_dtype(c, 1, is_any_computable, "numeric or bool types"));
		cp->to = c->in[1]->info.dtype;
	}
	mp_infer_same(c->out[0], c->in[0]);
	if (c->out[0]) {
		c->out[0]->info.dtype = cp->to;
		/* integer shape vectors pass through casts between integer types */
		if (c->in[0]->nsym >= 0 && mp_dtype_is_int_t(cp->to)) {
			c->out[0]->nsym = c->in[0]->nsym;
			c->out[0]->sym_scalar = c->in[0]->sym_scalar;
			memcpy(c->out[0]->sym, c->in[0]->sym, sizeof c->in[0]->sym);
		}
	}
	return MP_OK;
}

const struct mp_family_ops mp_family_cast = {
	sizeof(struct mp_cast_params), parse_cast, infer_cast, NULL,
};
