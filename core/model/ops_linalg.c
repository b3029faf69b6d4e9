/* ops_linalg.c - MatMul (numpy semantics), Gemm and Einsum. */
#include <ctype.h>
#include <string.h>

#include "ops.h"

static bool matmul_type(enum mp_dtype t)
{
	return mp_dtype_is_float_t(t) || t == MP_I32 || t == MP_I64 || t == MP_U32 || t == MP_U64;
}

/* ---- MatMul ---- */

static enum mp_status parse_matmul(struct mp_parse *p)
{
	const struct mp_node *n = p->node;
	if (n->ninputs != 2 || n->noutputs != 1 || n->inputs[0] < 0 || n->inputs[1] < 0)
		return mp_parse_fail(p, MP_ERR_MODEL, "MatMul takes 2 inputs and 1 output");
	return MP_OK;
}

static enum mp_status infer_matmul(struct mp_infer *c)
{
	const struct mp_infer_val *a = c->in[0], *b = c->in[1];
	int ra = a->info.ndim, rb = b->info.ndim;
	char sa[256], sb[256];

	MP_TRY(mp_infer_require_dtype(c, 0, matmul_type, "float, int32, int64, uint32 or uint64"));
	MP_TRY(mp_infer_same_dtype(c, 0, 1));
	if (ra < 0 || rb < 0) {
		mp_infer_set_unknown(c->out[0], a->info.dtype, -1);
		return MP_OK;
	}
	if (ra == 0 || rb == 0)
		return mp_infer_fail(c, "MatMul of a scalar");
	int64_t k1 = a->info.dims[ra - 1], k2 = rb == 1 ? b->info.dims[0] : b->info.dims[rb - 2];
	if (k1 >= 0 && k2 >= 0 && k1 != k2)
		return mp_infer_fail(c, "inner dims differ: %s @ %s (%lld vs %lld)",
		                     mp_infer_dims_str(&a->info, sa, sizeof sa),
		                     mp_infer_dims_str(&b->info, sb, sizeof sb), (long long)k1, (long long)k2);
	/* batch dims broadcast */
	struct mp_infer_val ba = { .info = { .ndim = ra > 2 ? ra - 2 : 0 }, .nsym = -1 };
	struct mp_infer_val bb = { .info = { .ndim = rb > 2 ? rb - 2 : 0 }, .nsym = -1 };
	memcpy(ba.info.dims, a->info.dims, sizeof(int64_t) * (size_t)ba.info.ndim);
	memcpy(bb.info.dims, b->info.dims, sizeof(int64_t) * (size_t)bb.info.ndim);
	struct mp_value_info vi;
	MP_TRY(mp_infer_broadcast(c, 2, (const struct mp_infer_val *const[]){ &ba, &bb }, &vi));
	if (ra > 1)
		vi.dims[vi.ndim++] = a->info.dims[ra - 2];
	if (rb > 1)
		vi.dims[vi.ndim++] = b->info.dims[rb - 1];
	mp_infer_set(c->out[0], a->info.dtype, vi.ndim, vi.dims);
	return MP_OK;
}

const struct mp_family_ops mp_family_matmul = {
	sizeof(struct mp_matmul_params), parse_matmul, infer_matmul, NULL,
};

/* ---- Gemm ---- */

static enum mp_status parse_gemm(struct mp_parse *p)
{
	struct mp_gemm_params *g = p->params;
	const struct mp_node *n = p->node;
	int64_t ta, tb, bc;
	MP_TRY(mp_attr_float(p, "alpha", 1.0f, &g->alpha));
	MP_TRY(mp_attr_float(p, "beta", 1.0f, &g->beta));
	MP_TRY(mp_attr_int(p, "transA", 0, &ta));
	MP_TRY(mp_attr_int(p, "transB", 0, &tb));
	MP_TRY(mp_attr_int(p, "broadcast", 0, &bc)); /* opset < 7 */
	g->trans_a = ta != 0;
	g->trans_b = tb != 0;
	g->broadcast_c = bc != 0 || n->opset >= 7;
	if (n->ninputs < 2 || n->ninputs > 3 || n->noutputs != 1 || n->inputs[0] < 0 || n->inputs[1] < 0)
		return mp_parse_fail(p, MP_ERR_MODEL, "Gemm takes 2 or 3 inputs and 1 output");
	if (n->opset < 11 && (n->ninputs < 3 || n->inputs[2] < 0))
		return mp_parse_fail(p, MP_ERR_MODEL, "Gemm before opset 11 needs C");
	return MP_OK;
}

static enum mp_status infer_gemm(struct mp_infer *c)
{
	struct mp_gemm_params *g = c->params;
	const struct mp_infer_val *a = c->in[0], *b = c->in[1];
	const struct mp_infer_val *cc = c->ninputs > 2 ? c->in[2] : NULL;

	MP_TRY(mp_infer_require_dtype(c, 0, matmul_type, "float, int32, int64, uint32 or uint64"));
	MP_TRY(mp_infer_same_dtype(c, 0, 1));
	if (cc)
		MP_TRY(mp_infer_same_dtype(c, 0, 2));
	if ((a->info.ndim >= 0 && a->info.ndim != 2) || (b->info.ndim >= 0 && b->info.ndim != 2))
		return mp_infer_fail(c, "Gemm takes 2-D A and B");
	int64_t m = a->info.ndim == 2 ? a->info.dims[g->trans_a ? 1 : 0] : MP_DIM_UNKNOWN;
	int64_t k1 = a->info.ndim == 2 ? a->info.dims[g->trans_a ? 0 : 1] : MP_DIM_UNKNOWN;
	int64_t k2 = b->info.ndim == 2 ? b->info.dims[g->trans_b ? 1 : 0] : MP_DIM_UNKNOWN;
	int64_t n = b->info.ndim == 2 ? b->info.dims[g->trans_b ? 0 : 1] : MP_DIM_UNKNOWN;
	if (k1 >= 0 && k2 >= 0 && k1 != k2)
		return mp_infer_fail(c, "inner dims differ (%lld vs %lld)", (long long)k1, (long long)k2);
	int64_t out[2] = { m, n };
	if (cc && cc->info.ndim >= 0) {
		/* C broadcasts to [M, N] */
		if (cc->info.ndim > 2)
			return mp_infer_fail(c, "C has rank %d", cc->info.ndim);
		for (int i = 0; i < cc->info.ndim; i++) {
			int64_t d = cc->info.dims[i], want = out[2 - cc->info.ndim + i];
			if (d >= 0 && want >= 0 && d != 1 && d != want)
				return mp_infer_fail(c, "C does not broadcast to [%lld, %lld]", (long long)m, (long long)n);
		}
	}
	mp_infer_set(c->out[0], a->info.dtype, 2, out);
	return MP_OK;
}

const struct mp_family_ops mp_family_gemm = {
	sizeof(struct mp_gemm_params), parse_gemm, infer_gemm, NULL,
};

/* ---- Einsum ---- */

static int letter_id(char ch)
{
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a';
	if (ch >= 'A' && ch <= 'Z')
		return 26 + ch - 'A';
	return -2;
}

/* Parses one term ("ij", "...ij") into ids; -1 marks the ellipsis. */
static bool parse_term(const char **ps, int8_t *sub, int *n, bool *ellipsis)
{
	const char *s = *ps;
	*n = 0;
	*ellipsis = false;
	for (;; s++) {
		while (*s == ' ')
			s++;
		if (*s == '.') {
			if (s[1] != '.' || s[2] != '.' || *ellipsis || *n > MP_MAX_DIMS)
				return false;
			sub[(*n)++] = -1;
			*ellipsis = true;
			s += 2;
			continue;
		}
		int id = letter_id(*s);
		if (id < 0)
			break;
		if (*n > MP_MAX_DIMS)
			return false;
		sub[(*n)++] = (int8_t)id;
	}
	*ps = s;
	return true;
}

static enum mp_status parse_einsum(struct mp_parse *p)
{
	struct mp_einsum_params *ep = p->params;
	const char *eq, *s;
	bool ell;

	MP_TRY(mp_attr_string(p, "equation", NULL, &eq));
	if (!eq)
		return mp_parse_fail(p, MP_ERR_MODEL, "Einsum needs an equation");
	s = eq;
	for (;;) {
		if (ep->noperands >= MP_EINSUM_MAX_OPERANDS)
			return mp_parse_fail(p, MP_ERR_UNSUPPORTED, "Einsum with more than %d operands",
			                     MP_EINSUM_MAX_OPERANDS);
		if (!parse_term(&s, ep->sub[ep->noperands], &ep->nsub[ep->noperands], &ell))
			return mp_parse_fail(p, MP_ERR_MODEL, "cannot read the equation '%s'", eq);
		ep->noperands++;
		while (*s == ' ')
			s++;
		if (*s == ',') {
			s++;
			continue;
		}
		break;
	}
	if (s[0] == '-' && s[1] == '>') {
		s += 2;
		if (!parse_term(&s, ep->out, &ep->nout, &ell))
			return mp_parse_fail(p, MP_ERR_MODEL, "cannot read the equation '%s'", eq);
		ep->explicit_out = true;
	} else {
		/* implicit: the ellipsis, then letters used once, alphabetically */
		int count[MP_EINSUM_MAX_LETTERS] = { 0 };
		bool any_ell = false;
		for (int i = 0; i < ep->noperands; i++)
			for (int j = 0; j < ep->nsub[i]; j++) {
				if (ep->sub[i][j] < 0)
					any_ell = true;
				else
					count[ep->sub[i][j]]++;
			}
		if (any_ell)
			ep->out[ep->nout++] = -1;
		for (int id = 0; id < MP_EINSUM_MAX_LETTERS; id++)
			if (count[id] == 1) {
				if (ep->nout > MP_MAX_DIMS)
					return mp_parse_fail(p, MP_ERR_UNSUPPORTED, "Einsum output rank too large");
				ep->out[ep->nout++] = (int8_t)id;
			}
	}
	while (*s == ' ')
		s++;
	if (*s)
		return mp_parse_fail(p, MP_ERR_MODEL, "cannot read the equation '%s' at '%s'", eq, s);
	if (p->node->ninputs != ep->noperands || p->node->noutputs != 1)
		return mp_parse_fail(p, MP_ERR_MODEL, "the equation has %d operands, the node %d inputs",
		                     ep->noperands, p->node->ninputs);
	return MP_OK;
}

static enum mp_status infer_einsum(struct mp_infer *c)
{
	const struct mp_einsum_params *ep = c->params;
	int64_t dim[MP_EINSUM_MAX_LETTERS];
	struct mp_infer_val ell[MP_EINSUM_MAX_OPERANDS];
	const struct mp_infer_val *ellp[MP_EINSUM_MAX_OPERANDS];
	int nell = 0;
	struct mp_value_info ev = { .ndim = 0 };

	for (int i = 0; i < MP_EINSUM_MAX_LETTERS; i++)
		dim[i] = -2; /* unseen */
	MP_TRY(mp_infer_require_dtype(c, 0, mp_dtype_is_numeric, "numeric types"));
	for (int i = 0; i < ep->noperands; i++) {
		const struct mp_infer_val *x = c->in[i];
		int r = x->info.ndim, letters = 0;
		bool has_ell = false;
		MP_TRY(mp_infer_same_dtype(c, 0, i));
		if (r < 0) {
			mp_infer_set_unknown(c->out[0], c->in[0]->info.dtype, -1);
			return MP_OK;
		}
		for (int j = 0; j < ep->nsub[i]; j++) {
			if (ep->sub[i][j] < 0)
				has_ell = true;
			else
				letters++;
		}
		if (has_ell ? r < letters : r != letters)
			return mp_infer_fail(c, "operand %d has rank %d, the equation gives it %d labels", i, r, letters);
		int ne = r - letters, d = 0;
		memset(&ell[nell], 0, sizeof ell[nell]);
		ell[nell].nsym = -1;
		ell[nell].info.ndim = ne;
		for (int j = 0; j < ep->nsub[i]; j++) {
			int id = ep->sub[i][j];
			if (id < 0) {
				for (int k = 0; k < ne; k++)
					ell[nell].info.dims[k] = x->info.dims[d++];
				continue;
			}
			int64_t v = x->info.dims[d++];
			if (dim[id] == -2 || dim[id] == 1 || (dim[id] < 0 && v >= 0))
				dim[id] = v;
			else if (v >= 0 && dim[id] >= 0 && v != dim[id] && v != 1)
				return mp_infer_fail(c, "label '%c' has sizes %lld and %lld",
				                     id < 26 ? 'a' + id : 'A' + id - 26, (long long)dim[id], (long long)v);
		}
		if (has_ell) {
			ellp[nell] = &ell[nell];
			nell++;
		}
	}
	if (nell)
		MP_TRY(mp_infer_broadcast(c, nell, ellp, &ev));
	int64_t out[MP_MAX_DIMS];
	int k = 0;
	for (int j = 0; j < ep->nout; j++) {
		int id = ep->out[j];
		if (id < 0) {
			for (int e = 0; e < ev.ndim; e++)
				out[k++] = ev.dims[e];
		} else {
			if (dim[id] == -2)
				return mp_infer_fail(c, "output label '%c' is on no input",
				                     id < 26 ? 'a' + id : 'A' + id - 26);
			out[k++] = dim[id];
		}
		if (k > MP_MAX_DIMS)
			return mp_error_set(c->e, MP_ERR_UNSUPPORTED, "rank above %d", MP_MAX_DIMS);
	}
	mp_infer_set(c->out[0], c->in[0]->info.dtype, k, out);
	return MP_OK;
}

const struct mp_family_ops mp_family_einsum = {
	sizeof(struct mp_einsum_params), parse_einsum, infer_einsum, NULL,
};
