/* ops_movement.c - data movement: Transpose, DepthToSpace, SpaceToDepth,
 * Concat, Split, Slice, Expand, Tile, Pad and Trilu. */
#include <string.h>

#include "ops.h"

static enum mp_status need_io(struct mp_parse *p, int min_in, int max_in, int min_out, int max_out)
{
	const struct mp_node *n = p->node;
	if (n->ninputs < min_in || n->ninputs > max_in || n->noutputs < min_out || n->noutputs > max_out ||
	    (min_in > 0 && n->inputs[0] < 0))
		return mp_parse_fail(p, MP_ERR_MODEL, "%s has %d inputs and %d outputs", n->op_type,
		                     n->ninputs, n->noutputs);
	return MP_OK;
}

/* ---- Transpose, DepthToSpace, SpaceToDepth ---- */

static enum mp_status parse_transpose(struct mp_parse *p)
{
	struct mp_transpose_params *t = p->params;
	const char *mode;
	switch (p->node->op) {
	case MP_OP_TRANSPOSE:
		MP_TRY(mp_attr_ints(p, "perm", t->perm, MP_MAX_DIMS, &t->nperm));
		break;
	case MP_OP_DEPTH_TO_SPACE:
		MP_TRY(mp_attr_string(p, "mode", "DCR", &mode));
		if (strcmp(mode, "DCR") && strcmp(mode, "CRD"))
			return mp_parse_fail(p, MP_ERR_MODEL, "DepthToSpace mode '%s' is neither DCR nor CRD", mode);
		t->crd = !strcmp(mode, "CRD");
		/* fall through */
	default:
		MP_TRY(mp_attr_int(p, "blocksize", 0, &t->blocksize));
		if (t->blocksize <= 0 || t->blocksize > (1 << 20))
			return mp_parse_fail(p, MP_ERR_MODEL, "blocksize must be positive");
		break;
	}
	return need_io(p, 1, 1, 1, 1);
}

static enum mp_status infer_transpose(struct mp_infer *c)
{
	struct mp_transpose_params *t = c->params;
	const struct mp_infer_val *x = c->in[0];
	int r = x->info.ndim;
	int64_t out[MP_MAX_DIMS];

	if (c->node->op != MP_OP_TRANSPOSE) {
		int64_t b = t->blocksize, b2 = b * b;
		if (r < 0) {
			mp_infer_set_unknown(c->out[0], x->info.dtype, 4);
			return MP_OK;
		}
		if (r != 4)
			return mp_infer_fail(c, "%s takes a 4-D input", c->node->op_type);
		const int64_t *d = x->info.dims;
		if (c->node->op == MP_OP_DEPTH_TO_SPACE) {
			if (d[1] >= 0 && d[1] % b2)
				return mp_infer_fail(c, "channels %lld are not a multiple of blocksize^2", (long long)d[1]);
			out[0] = d[0];
			out[1] = d[1] >= 0 ? d[1] / b2 : MP_DIM_UNKNOWN;
			out[2] = mp_dim_mul(d[2], b);
			out[3] = mp_dim_mul(d[3], b);
		} else {
			if ((d[2] >= 0 && d[2] % b) || (d[3] >= 0 && d[3] % b))
				return mp_infer_fail(c, "height and width must be multiples of the blocksize");
			out[0] = d[0];
			out[1] = mp_dim_mul(d[1], b2);
			out[2] = d[2] >= 0 ? d[2] / b : MP_DIM_UNKNOWN;
			out[3] = d[3] >= 0 ? d[3] / b : MP_DIM_UNKNOWN;
		}
		mp_infer_set(c->out[0], x->info.dtype, 4, out);
		return MP_OK;
	}
	if (r < 0) {
		mp_infer_set_unknown(c->out[0], x->info.dtype, t->nperm >= 0 ? t->nperm : -1);
		return MP_OK;
	}
	if (t->nperm >= 0 && t->nperm != r)
		return mp_infer_fail(c, "perm has %d entries for a rank-%d input", t->nperm, r);
	bool seen[MP_MAX_DIMS] = { false };
	for (int i = 0; i < r; i++) {
		int a;
		int64_t pi = t->nperm >= 0 ? t->perm[i] : r - 1 - i;
		if (!mp_axis_normalize(pi, r, &a) || seen[a])
			return mp_infer_fail(c, "perm is not a permutation of 0..%d", r - 1);
		seen[a] = true;
		t->perm_resolved[i] = a;
		out[i] = x->info.dims[a];
	}
	mp_infer_set(c->out[0], x->info.dtype, r, out);
	return MP_OK;
}

const struct mp_family_ops mp_family_transpose = {
	sizeof(struct mp_transpose_params), parse_transpose, infer_transpose, NULL,
};

/* ---- Concat ---- */

static enum mp_status parse_concat(struct mp_parse *p)
{
	struct mp_concat_params *cp = p->params;
	const struct mp_node *n = p->node;
	if (n->opset >= 4 && !mp_attr_find(n, "axis"))
		return mp_parse_fail(p, MP_ERR_MODEL, "Concat needs the attribute 'axis'");
	MP_TRY(mp_attr_int(p, "axis", 1, &cp->axis));
	if (n->ninputs < 1 || n->noutputs != 1)
		return mp_parse_fail(p, MP_ERR_MODEL, "Concat takes 1 or more inputs and 1 output");
	for (int i = 0; i < n->ninputs; i++)
		if (n->inputs[i] < 0)
			return mp_parse_fail(p, MP_ERR_MODEL, "Concat input %d is empty", i);
	return MP_OK;
}

static enum mp_status infer_concat(struct mp_infer *c)
{
	struct mp_concat_params *cp = c->params;
	const struct mp_infer_val *x0 = c->in[0];
	int r = -1, axis;
	int64_t out[MP_MAX_DIMS];

	for (int k = 0; k < c->ninputs; k++) {
		MP_TRY(mp_infer_same_dtype(c, 0, k));
		if (c->in[k]->info.ndim >= 0) {
			if (r >= 0 && c->in[k]->info.ndim != r)
				return mp_infer_fail(c, "input %d has rank %d, input 0 has rank %d", k,
				                     c->in[k]->info.ndim, r);
			r = c->in[k]->info.ndim;
		}
	}
	if (r < 0) {
		mp_infer_set_unknown(c->out[0], x0->info.dtype, -1);
		return MP_OK;
	}
	if (r == 0)
		return mp_infer_fail(c, "Concat of scalars");
	if (!mp_axis_normalize(cp->axis, r, &axis))
		return mp_infer_fail(c, "axis %lld is out of range for rank %d", (long long)cp->axis, r);
	cp->axis_resolved = axis;
	for (int d = 0; d < r; d++)
		out[d] = d == axis ? 0 : MP_DIM_UNKNOWN;
	for (int k = 0; k < c->ninputs; k++) {
		const struct mp_value_info *vi = &c->in[k]->info;
		if (vi->ndim < 0) {
			out[axis] = MP_DIM_UNKNOWN;
			continue;
		}
		for (int d = 0; d < r; d++) {
			int64_t v = vi->dims[d];
			if (d == axis) {
				if (out[d] >= 0 && v >= 0 && out[d] <= INT64_MAX - v)
					out[d] += v;
				else
					out[d] = MP_DIM_UNKNOWN;
			} else if (out[d] < 0 || (MP_DIM_IS_SYM(out[d]) && v >= 0)) {
				out[d] = v;
			} else if (v >= 0 && out[d] >= 0 && v != out[d]) {
				return mp_infer_fail(c, "input %d has %lld in dim %d where input 0 has %lld", k,
				                     (long long)v, d, (long long)out[d]);
			}
		}
	}
	mp_infer_set(c->out[0], x0->info.dtype, r, out);
	/* shape vectors: concatenate symbolically */
	struct mp_infer_val *o = c->out[0];
	if (o && r == 1 && mp_dtype_is_index_t(x0->info.dtype)) {
		int n = 0;
		for (int k = 0; k < c->ninputs; k++) {
			int m;
			if (n > MP_MAX_DIMS || !mp_infer_ints(c->in[k], o->sym + n, MP_MAX_DIMS - n, &m)) {
				n = -1;
				break;
			}
			n += m;
		}
		o->nsym = n;
		o->sym_scalar = false;
	}
	return MP_OK;
}

const struct mp_family_ops mp_family_concat = {
	sizeof(struct mp_concat_params), parse_concat, infer_concat, NULL,
};

/* ---- Split ---- */

static enum mp_status parse_split(struct mp_parse *p)
{
	struct mp_split_params *s = p->params;
	const struct mp_node *n = p->node;
	const struct mp_attr *a;

	MP_TRY(mp_attr_int(p, "axis", 0, &s->axis));
	MP_TRY(mp_attr_int(p, "num_outputs", 0, &s->num_outputs));
	if ((a = mp_attr_find(n, "split"))) {
		mp_attr_ignore(p, "split");
		if (a->type != MP_ATTR_INTS)
			return mp_parse_fail(p, MP_ERR_MODEL, "split should be a list of ints");
		s->split = a->ints;
		s->nsplit = a->n;
		if (s->nsplit != n->noutputs)
			return mp_parse_fail(p, MP_ERR_MODEL, "split has %d entries for %d outputs", s->nsplit,
			                     n->noutputs);
	}
	if (s->num_outputs && s->num_outputs != n->noutputs)
		return mp_parse_fail(p, MP_ERR_MODEL, "num_outputs is %lld but the node has %d outputs",
		                     (long long)s->num_outputs, n->noutputs);
	return need_io(p, 1, 2, 1, 1 << 20);
}

static enum mp_status infer_split(struct mp_infer *c)
{
	struct mp_split_params *s = c->params;
	const struct mp_infer_val *x = c->in[0];
	int r = x->info.ndim, axis, nout = c->noutputs;
	int64_t sizes_buf[64], *sizes = sizes_buf;
	bool have_sizes = false;

	if (r < 0) {
		for (int k = 0; k < nout; k++)
			mp_infer_set_unknown(c->out[k], x->info.dtype, -1);
		return MP_OK;
	}
	if (!mp_axis_normalize(s->axis, r, &axis))
		return mp_infer_fail(c, "axis %lld is out of range for rank %d", (long long)s->axis, r);
	s->axis_resolved = axis;
	int64_t dim = x->info.dims[axis];
	if (nout > 64)
		return mp_error_set(c->e, MP_ERR_UNSUPPORTED, "Split into more than 64 outputs");
	if (c->ninputs > 1 && c->in[1]) {
		int n;
		int64_t len;
		if (mp_infer_ints(c->in[1], sizes, 64, &n)) {
			if (n != nout)
				return mp_infer_fail(c, "split has %d entries for %d outputs", n, nout);
			have_sizes = true;
		} else if (!mp_infer_len(c->in[1], &len) || len != nout) {
			if (mp_infer_len(c->in[1], &len))
				return mp_infer_fail(c, "split has %lld entries for %d outputs", (long long)len, nout);
		}
		if (!have_sizes) {
			for (int k = 0; k < nout; k++) {
				int64_t d[MP_MAX_DIMS];
				memcpy(d, x->info.dims, sizeof d);
				d[axis] = MP_DIM_UNKNOWN;
				mp_infer_set(c->out[k], x->info.dtype, r, d);
			}
			return MP_OK;
		}
	} else if (s->nsplit > 0) {
		for (int k = 0; k < nout; k++)
			sizes[k] = s->split[k];
		have_sizes = true;
	}
	if (have_sizes) {
		int64_t sum = 0;
		for (int k = 0; k < nout; k++) {
			if (sizes[k] < 0 || __builtin_add_overflow(sum, sizes[k], &sum))
				return mp_infer_fail(c, "split entry %d is %lld", k, (long long)sizes[k]);
		}
		if (dim >= 0 && sum != dim)
			return mp_infer_fail(c, "split sums to %lld, but the axis has %lld", (long long)sum,
			                     (long long)dim);
	} else if (dim >= 0) {
		int64_t chunk = (dim + nout - 1) / nout;
		if (c->node->opset < 18 && dim % nout)
			return mp_infer_fail(c, "dim %lld does not split evenly into %d outputs", (long long)dim, nout);
		for (int k = 0; k < nout; k++) {
			int64_t left = dim - chunk * k;
			sizes[k] = left < 0 ? 0 : left < chunk ? left : chunk;
		}
		have_sizes = true;
	}
	for (int k = 0; k < nout; k++) {
		int64_t d[MP_MAX_DIMS];
		memcpy(d, x->info.dims, sizeof d);
		d[axis] = have_sizes ? sizes[k] : MP_DIM_UNKNOWN;
		mp_infer_set(c->out[k], x->info.dtype, r, d);
	}
	return MP_OK;
}

static uint32_t value_inputs_split(const struct mp_node *n)
{
	(void)n;
	return 0x2u;
}

const struct mp_family_ops mp_family_split = {
	sizeof(struct mp_split_params), parse_split, infer_split, value_inputs_split,
};

/* ---- Slice ---- */

static enum mp_status parse_slice(struct mp_parse *p)
{
	struct mp_slice_params *s = p->params;
	if (p->node->opset < 10) {
		MP_TRY(mp_attr_ints(p, "starts", s->starts, MP_MAX_DIMS, &s->nstarts));
		MP_TRY(mp_attr_ints(p, "ends", s->ends, MP_MAX_DIMS, &s->nends));
		MP_TRY(mp_attr_ints(p, "axes", s->axes, MP_MAX_DIMS, &s->naxes));
		if (s->nstarts < 0 || s->nends < 0 || s->nstarts != s->nends)
			return mp_parse_fail(p, MP_ERR_MODEL, "Slice needs starts and ends of equal length");
		return need_io(p, 1, 1, 1, 1);
	}
	return need_io(p, 3, 5, 1, 1);
}

static enum mp_status infer_slice(struct mp_infer *c)
{
	struct mp_slice_params *s = c->params;
	const struct mp_infer_val *x = c->in[0];
	int r = x->info.ndim, n, ne, na = -1, nst = -1;
	int64_t starts[MP_MAX_DIMS], ends[MP_MAX_DIMS], axes[MP_MAX_DIMS], steps[MP_MAX_DIMS];
	int64_t out[MP_MAX_DIMS];

	if (c->node->opset < 10) {
		n = s->nstarts;
		ne = s->nends;
		memcpy(starts, s->starts, sizeof starts);
		memcpy(ends, s->ends, sizeof ends);
		na = s->naxes;
		memcpy(axes, s->axes, sizeof axes);
	} else {
		for (int k = 1; k < c->ninputs; k++)
			if (c->in[k])
				MP_TRY(mp_infer_require_dtype(c, k, mp_dtype_is_index_t, "int32 or int64"));
		bool ok = mp_infer_ints(c->in[1], starts, MP_MAX_DIMS, &n) &&
		          mp_infer_ints(c->in[2], ends, MP_MAX_DIMS, &ne);
		if (ok && c->ninputs > 3 && c->in[3])
			ok = mp_infer_ints(c->in[3], axes, MP_MAX_DIMS, &na);
		if (ok && c->ninputs > 4 && c->in[4])
			ok = mp_infer_ints(c->in[4], steps, MP_MAX_DIMS, &nst);
		if (!ok || c->in[1]->nsym >= 0 || c->in[2]->nsym >= 0) {
			/* symbolic starts/ends: the rank is all that is known */
			bool real = ok && c->in[1]->value && c->in[2]->value;
			if (!real) {
				mp_infer_set_unknown(c->out[0], x->info.dtype, r);
				return MP_OK;
			}
		}
	}
	if (r < 0) {
		mp_infer_set_unknown(c->out[0], x->info.dtype, -1);
		return MP_OK;
	}
	if (n != ne || (na >= 0 && na != n) || (nst >= 0 && nst != n))
		return mp_infer_fail(c, "starts, ends, axes and steps differ in length");
	memcpy(out, x->info.dims, sizeof out);
	bool seen[MP_MAX_DIMS] = { false };
	for (int d = 0; d < r; d++) {
		s->start[d] = 0;
		s->step[d] = 1;
	}
	for (int i = 0; i < n; i++) {
		int a;
		int64_t ax = na >= 0 ? axes[i] : i;
		if (!mp_axis_normalize(ax, r, &a))
			return mp_infer_fail(c, "axis %lld is out of range for rank %d", (long long)ax, r);
		if (seen[a])
			return mp_infer_fail(c, "axis %d is sliced twice", a);
		seen[a] = true;
		int64_t step = nst >= 0 ? steps[i] : 1, st = starts[i], en = ends[i];
		int64_t dim = x->info.dims[a];
		if (step == 0)
			return mp_infer_fail(c, "step 0 on axis %d", a);
		if (dim < 0) {
			out[a] = MP_DIM_UNKNOWN;
			continue;
		}
		if (st < 0)
			st += dim; /* no overflow: dim >= 0 */
		if (en < 0)
			en += dim;
		int64_t len;
		if (step > 0) {
			st = st < 0 ? 0 : st > dim ? dim : st;
			en = en < 0 ? 0 : en > dim ? dim : en;
			len = en > st ? (en - st - 1) / step + 1 : 0; /* no overflow for a step near INT64_MAX */
		} else {
			st = st < 0 ? -1 : st > dim - 1 ? dim - 1 : st;
			en = en < -1 ? -1 : en > dim - 1 ? dim - 1 : en;
			/* |step| unsigned: a step of INT64_MIN does not overflow */
			len = st > en ? (int64_t)((uint64_t)(st - en - 1) / (0 - (uint64_t)step)) + 1 : 0;
		}
		s->start[a] = len ? st : 0;
		s->step[a] = step;
		out[a] = len;
	}
	mp_infer_set(c->out[0], x->info.dtype, r, out);
	/* a slice of a shape vector */
	struct mp_infer_val *o = c->out[0];
	if (o && r == 1 && x->nsym >= 0 && !x->value && out[0] >= 0) {
		o->nsym = (int)out[0];
		o->sym_scalar = false;
		for (int64_t i = 0; i < out[0]; i++)
			o->sym[i] = x->sym[s->start[0] + i * s->step[0]];
	}
	return MP_OK;
}

static uint32_t value_inputs_slice(const struct mp_node *n)
{
	return n->opset < 10 ? 0 : 0x1Eu;
}

const struct mp_family_ops mp_family_slice = {
	sizeof(struct mp_slice_params), parse_slice, infer_slice, value_inputs_slice,
};

/* ---- Expand, Tile ---- */

static enum mp_status parse_expand(struct mp_parse *p)
{
	if (p->node->op == MP_OP_TILE && p->node->opset < 6)
		return mp_parse_fail(p, MP_ERR_UNSUPPORTED, "Tile-1 (tiles and axis inputs) is not supported");
	return need_io(p, 2, 2, 1, 1);
}

static enum mp_status infer_expand(struct mp_infer *c)
{
	const struct mp_infer_val *x = c->in[0];
	int64_t v[MP_MAX_DIMS];
	int n;

	MP_TRY(mp_infer_require_dtype(c, 1, mp_dtype_is_index_t, "int64"));
	if (!mp_infer_ints(c->in[1], v, MP_MAX_DIMS, &n)) {
		int64_t len;
		if (c->node->op == MP_OP_TILE)
			mp_infer_set_unknown(c->out[0], x->info.dtype, x->info.ndim);
		else if (mp_infer_len(c->in[1], &len) && x->info.ndim >= 0 && len <= MP_MAX_DIMS)
			mp_infer_set_unknown(c->out[0], x->info.dtype, x->info.ndim > len ? x->info.ndim : (int)len);
		else
			mp_infer_set_unknown(c->out[0], x->info.dtype, -1);
		return MP_OK;
	}
	bool real = c->in[1]->value != NULL;
	if (c->node->op == MP_OP_TILE) {
		int64_t out[MP_MAX_DIMS];
		if (x->info.ndim < 0) {
			mp_infer_set_unknown(c->out[0], x->info.dtype, n);
			return MP_OK;
		}
		if (n != x->info.ndim)
			return mp_infer_fail(c, "repeats has %d entries for a rank-%d input", n, x->info.ndim);
		for (int i = 0; i < n; i++) {
			if (real && v[i] < 0)
				return mp_infer_fail(c, "repeats entry %d is negative", i);
			out[i] = v[i] >= 0 ? mp_dim_mul(x->info.dims[i], v[i]) : MP_DIM_UNKNOWN;
		}
		mp_infer_set(c->out[0], x->info.dtype, n, out);
		return MP_OK;
	}
	struct mp_infer_val shape = { .info = { .dtype = x->info.dtype, .ndim = n }, .nsym = -1 };
	for (int i = 0; i < n; i++) {
		if (real && v[i] < 0)
			return mp_infer_fail(c, "shape entry %d is negative", i);
		shape.info.dims[i] = v[i];
	}
	struct mp_value_info vi;
	MP_TRY(mp_infer_broadcast(c, 2, (const struct mp_infer_val *const[]){ x, &shape }, &vi));
	mp_infer_set(c->out[0], x->info.dtype, vi.ndim, vi.dims);
	return MP_OK;
}

static uint32_t value_inputs_expand(const struct mp_node *n)
{
	(void)n;
	return 0x2u;
}

const struct mp_family_ops mp_family_expand = {
	sizeof(struct mp_expand_params), parse_expand, infer_expand, value_inputs_expand,
};

/* ---- Pad ---- */

static enum mp_status parse_pad(struct mp_parse *p)
{
	struct mp_pad_params *pp = p->params;
	const struct mp_node *n = p->node;
	const char *mode;

	MP_TRY(mp_attr_string(p, "mode", "constant", &mode));
	if (!strcmp(mode, "constant")) pp->mode = MP_PADMODE_CONSTANT;
	else if (!strcmp(mode, "reflect")) pp->mode = MP_PADMODE_REFLECT;
	else if (!strcmp(mode, "edge")) pp->mode = MP_PADMODE_EDGE;
	else if (!strcmp(mode, "wrap") && n->opset >= 19) pp->mode = MP_PADMODE_WRAP;
	else return mp_parse_fail(p, MP_ERR_MODEL, "Pad mode '%s' is not one ONNX defines", mode);
	if (n->opset < 11) {
		MP_TRY(mp_attr_ints(p, n->opset < 2 ? "paddings" : "pads", pp->pads, 2 * MP_MAX_DIMS, &pp->npads));
		MP_TRY(mp_attr_float(p, "value", 0, &pp->value));
		if (pp->npads < 0)
			return mp_parse_fail(p, MP_ERR_MODEL, "Pad needs the attribute 'pads'");
		return need_io(p, 1, 1, 1, 1);
	}
	return need_io(p, 2, 4, 1, 1);
}

static enum mp_status infer_pad(struct mp_infer *c)
{
	struct mp_pad_params *pp = c->params;
	const struct mp_infer_val *x = c->in[0];
	int r = x->info.ndim, np, na = -1;
	int64_t pads[2 * MP_MAX_DIMS], axes[MP_MAX_DIMS], out[MP_MAX_DIMS];

	if (c->node->opset < 11) {
		np = pp->npads;
		memcpy(pads, pp->pads, sizeof pads);
		pp->constant = pp->value;
	} else {
		double v = 0;
		MP_TRY(mp_infer_require_dtype(c, 1, mp_dtype_is_index_t, "int64 pads"));
		if (!mp_infer_ints(c->in[1], pads, 2 * MP_MAX_DIMS, &np)) {
			mp_infer_set_unknown(c->out[0], x->info.dtype, r);
			return MP_OK;
		}
		if (c->ninputs > 2 && c->in[2]) {
			MP_TRY(mp_infer_same_dtype(c, 0, 2));
			if (!mp_infer_scalar(c->in[2], &v) && c->in[2]->value)
				return mp_infer_fail(c, "constant_value must be a scalar");
		}
		pp->constant = v;
		if (c->ninputs > 3 && c->in[3] && !mp_infer_ints(c->in[3], axes, MP_MAX_DIMS, &na)) {
			mp_infer_set_unknown(c->out[0], x->info.dtype, r);
			return MP_OK;
		}
	}
	if (r < 0) {
		mp_infer_set_unknown(c->out[0], x->info.dtype, np >= 0 && na < 0 ? np / 2 : -1);
		return MP_OK;
	}
	int naxes = na >= 0 ? na : r;
	if (np != 2 * naxes)
		return mp_infer_fail(c, "pads has %d entries for %d axes", np, naxes);
	for (int d = 0; d < r; d++)
		pp->begin[d] = pp->end[d] = 0;
	for (int i = 0; i < naxes; i++) {
		int a;
		if (!mp_axis_normalize(na >= 0 ? axes[i] : i, r, &a))
			return mp_infer_fail(c, "axis %lld is out of range", (long long)(na >= 0 ? axes[i] : i));
		pp->begin[a] = pads[i];
		pp->end[a] = pads[i + naxes];
	}
	for (int d = 0; d < r; d++) {
		int64_t dim = x->info.dims[d];
		if (dim < 0) {
			out[d] = MP_DIM_UNKNOWN;
			continue;
		}
		int64_t o;
		if (__builtin_add_overflow(dim, pp->begin[d], &o) || __builtin_add_overflow(o, pp->end[d], &o))
			return mp_infer_fail(c, "pads on dim %d are out of range", d);
		if (o < 0)
			return mp_infer_fail(c, "pads remove more than dim %d holds", d);
		if ((pp->mode == MP_PADMODE_REFLECT && (pp->begin[d] >= dim || pp->end[d] >= dim) &&
		     (pp->begin[d] > 0 || pp->end[d] > 0)) ||
		    (pp->mode != MP_PADMODE_CONSTANT && dim == 0 && o > 0))
			return mp_infer_fail(c, "%s padding of %lld on dim %d of size %lld",
			                     pp->mode == MP_PADMODE_REFLECT ? "reflect" : "edge",
			                     (long long)(pp->begin[d] > pp->end[d] ? pp->begin[d] : pp->end[d]),
			                     d, (long long)dim);
		out[d] = o;
	}
	mp_infer_set(c->out[0], x->info.dtype, r, out);
	return MP_OK;
}

static uint32_t value_inputs_pad(const struct mp_node *n)
{
	return n->opset < 11 ? 0 : 0xEu;
}

const struct mp_family_ops mp_family_pad = {
	sizeof(struct mp_pad_params), parse_pad, infer_pad, value_inputs_pad,
};

/* ---- Trilu ---- */

static enum mp_status parse_trilu(struct mp_parse *p)
{
	struct mp_trilu_params *t = p->params;
	int64_t upper;
	MP_TRY(mp_attr_int(p, "upper", 1, &upper));
	t->upper = upper != 0;
	return need_io(p, 1, 2, 1, 1);
}

static enum mp_status infer_trilu(struct mp_infer *c)
{
	struct mp_trilu_params *t = c->params;
	const struct mp_infer_val *x = c->in[0];
	double k = 0;
	if (x->info.ndim >= 0 && x->info.ndim < 2)
		return mp_infer_fail(c, "Trilu takes an input of rank 2 or more");
	if (c->ninputs > 1 && c->in[1]) {
		MP_TRY(mp_infer_require_dtype(c, 1, mp_dtype_is_index_t, "an int64 k"));
		mp_infer_scalar(c->in[1], &k);
	}
	t->k_resolved = (int64_t)k;
	mp_infer_same(c->out[0], x);
	return MP_OK;
}

static uint32_t value_inputs_trilu(const struct mp_node *n)
{
	(void)n;
	return 0x2u;
}

const struct mp_family_ops mp_family_trilu = {
	sizeof(struct mp_trilu_params), parse_trilu, infer_trilu, value_inputs_trilu,
};
