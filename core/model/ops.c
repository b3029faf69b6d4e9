/* ops.c - the family table, node parsing, attribute access, and the helpers
 * every family's inference uses. */
#include "ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "graph_internal.h"

#define X(f) extern const struct mp_family_ops mp_family_##f;
MP_FAMILIES(X)
#undef X

static const struct mp_family_ops *const families[MP_FAMILY_COUNT] = {
#define X(f) [MP_FAMILY_##f] = &mp_family_##f,
	MP_FAMILIES(X)
#undef X
};

const struct mp_family_ops *mp_family_ops(enum mp_op_family f)
{
	return (unsigned)f < MP_FAMILY_COUNT ? families[f] : NULL;
}

/* ---- attributes ---- */

const struct mp_attr *mp_attr_find(const struct mp_node *n, const char *name)
{
	for (int i = 0; i < n->nattrs; i++)
		if (!strcmp(n->attrs[i].name, name))
			return &n->attrs[i];
	return NULL;
}

static struct mp_attr *attr_take(struct mp_parse *p, const char *name)
{
	for (int i = 0; i < p->node->nattrs; i++)
		if (!strcmp(p->node->attrs[i].name, name)) {
			p->node->attrs[i].used = true;
			return &p->node->attrs[i];
		}
	return NULL;
}

static enum mp_status wrong_type(struct mp_parse *p, const struct mp_attr *a, const char *want)
{
	return mp_error_set(p->e, MP_ERR_MODEL, "attribute '%s' should be %s", a->name, want);
}

enum mp_status mp_parse_fail(struct mp_parse *p, enum mp_status st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mp_error_vset(p->e, st, fmt, ap);
	va_end(ap);
	return st;
}

void mp_attr_ignore(struct mp_parse *p, const char *name)
{
	attr_take(p, name);
}

enum mp_status mp_attr_int(struct mp_parse *p, const char *name, int64_t def, int64_t *out)
{
	struct mp_attr *a = attr_take(p, name);
	*out = def;
	if (!a)
		return MP_OK;
	if (a->type != MP_ATTR_INT)
		return wrong_type(p, a, "an int");
	*out = a->i;
	return MP_OK;
}

enum mp_status mp_attr_float(struct mp_parse *p, const char *name, float def, float *out)
{
	struct mp_attr *a = attr_take(p, name);
	*out = def;
	if (!a)
		return MP_OK;
	if (a->type == MP_ATTR_INT) { /* some exporters write integral floats as ints */
		*out = (float)a->i;
		return MP_OK;
	}
	if (a->type != MP_ATTR_FLOAT)
		return wrong_type(p, a, "a float");
	*out = a->f;
	return MP_OK;
}

enum mp_status mp_attr_string(struct mp_parse *p, const char *name, const char *def,
                              const char **out)
{
	struct mp_attr *a = attr_take(p, name);
	*out = def;
	if (!a)
		return MP_OK;
	if (a->type != MP_ATTR_STRING)
		return wrong_type(p, a, "a string");
	/* a string attribute whose value field is absent: no parser may see NULL */
	if (!a->s)
		return mp_error_set(p->e, MP_ERR_MODEL, "attribute '%s' is a string but holds no value", a->name);
	*out = a->s;
	return MP_OK;
}

enum mp_status mp_attr_ints(struct mp_parse *p, const char *name, int64_t *out, int max, int *n)
{
	struct mp_attr *a = attr_take(p, name);
	*n = -1;
	if (!a)
		return MP_OK;
	if (a->type != MP_ATTR_INTS)
		return wrong_type(p, a, "a list of ints");
	if (a->n > max)
		return mp_error_set(p->e, MP_ERR_UNSUPPORTED, "attribute '%s' has %d values, at most %d are supported",
		                    name, a->n, max);
	for (int i = 0; i < a->n; i++)
		out[i] = a->ints[i];
	*n = a->n;
	return MP_OK;
}

enum mp_status mp_attr_floats(struct mp_parse *p, const char *name, float *out, int max, int *n)
{
	struct mp_attr *a = attr_take(p, name);
	*n = -1;
	if (!a)
		return MP_OK;
	if (a->type != MP_ATTR_FLOATS)
		return wrong_type(p, a, "a list of floats");
	if (a->n > max)
		return mp_error_set(p->e, MP_ERR_UNSUPPORTED, "attribute '%s' has %d values, at most %d are supported",
		                    name, a->n, max);
	for (int i = 0; i < a->n; i++)
		out[i] = a->floats[i];
	*n = a->n;
	return MP_OK;
}

enum mp_status mp_attr_tensor(struct mp_parse *p, const char *name, const struct mp_tensor **out)
{
	struct mp_attr *a = attr_take(p, name);
	*out = NULL;
	if (!a)
		return MP_OK;
	if (a->type != MP_ATTR_TENSOR)
		return wrong_type(p, a, "a tensor");
	*out = a->t;
	return MP_OK;
}

/* ---- parsing a node ---- */

static enum mp_status unsupported(struct mp_graph *g, struct mp_node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum mp_status unsupported(struct mp_graph *g, struct mp_node *n, const char *fmt, ...)
{
	char buf[MP_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	n->params = NULL;
	n->unsupported = mp_arena_strdup(&g->arena, buf);
	return n->unsupported ? MP_OK : MP_ERR_NOMEM;
}

enum mp_status mp_ops_parse_node(struct mp_graph *g, struct mp_node *n, struct mp_error *e)
{
	const struct mp_op_info *info;
	const struct mp_family_ops *fam;
	struct mp_error pe = { 0 };
	struct mp_parse p;
	enum mp_status st;

	n->op = MP_OP_NONE;
	if (n->domain[0])
		return unsupported(g, n, "ops of domain '%s' are not supported", n->domain);
	if (n->opset <= 0)
		return unsupported(g, n, "the model does not import the default (ai.onnx) opset");
	n->op = mp_op_lookup(n->op_type);
	if (n->op == MP_OP_NONE)
		return unsupported(g, n, "mpdbg does not implement %s", n->op_type);
	info = mp_op_info(n->op);
	if (n->opset < info->since)
		return unsupported(g, n, "%s exists from opset %d on, but the model imports opset %d",
		                   n->op_type, info->since, n->opset);
	fam = mp_family_ops(info->family);
	p.g = g;
	p.node = n;
	p.e = &pe;
	p.params = mp_arena_alloc(&g->arena, fam->params_size);
	if (!p.params)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	st = fam->parse(&p);
	if (st == MP_ERR_NOMEM)
		return mp_error_set(e, st, "%s", pe.msg);
	if (st) {
		n->invalid = st == MP_ERR_MODEL;
		return unsupported(g, n, "%s", pe.msg);
	}
	for (int i = 0; i < n->nattrs; i++)
		if (!n->attrs[i].used)
			return unsupported(g, n, "attribute '%s' of %s is not supported", n->attrs[i].name,
			                   n->op_type);
	n->params = p.params;
	n->params_size = fam->params_size;
	return MP_OK;
}

/* ---- inference ---- */

enum mp_status mp_ops_infer(struct mp_infer *c)
{
	const struct mp_family_ops *fam = mp_family_ops(mp_op_info(c->node->op)->family);
	if (!fam || !c->node->params)
		return mp_error_set(c->e, MP_ERR_UNSUPPORTED, "%s",
		                    c->node->unsupported ? c->node->unsupported : "unsupported op");
	return fam->infer(c);
}

uint32_t mp_ops_value_inputs(const struct mp_node *n)
{
	const struct mp_family_ops *fam = mp_family_ops(mp_op_info(n->op)->family);
	if (!fam || !n->params || !fam->value_inputs)
		return 0;
	return fam->value_inputs(n);
}

enum mp_status mp_infer_fail(struct mp_infer *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mp_error_vset(c->e, MP_ERR_MODEL, fmt, ap);
	va_end(ap);
	return MP_ERR_MODEL;
}

bool mp_infer_ints(const struct mp_infer_val *v, int64_t *out, int max, int *n)
{
	if (!v)
		return false;
	if (v->value) {
		const struct mp_tensor *t = v->value;
		int64_t k = mp_tensor_numel(t);
		if (t->ndim > 1 || k > max || (t->dtype != MP_I64 && t->dtype != MP_I32))
			return false;
		for (int64_t i = 0; i < k; i++) {
			const char *p = (const char *)t->data + i * (t->ndim ? t->strides[0] : 0);
			if (t->dtype == MP_I64) {
				int64_t x;
				memcpy(&x, p, 8);
				out[i] = x;
			} else {
				int32_t x;
				memcpy(&x, p, 4);
				out[i] = x;
			}
		}
		*n = (int)k;
		return true;
	}
	if (v->nsym >= 0 && v->nsym <= max) {
		memcpy(out, v->sym, (size_t)v->nsym * sizeof *out);
		*n = v->nsym;
		return true;
	}
	return false;
}

bool mp_infer_scalar(const struct mp_infer_val *v, double *out)
{
	if (!v || !v->value || mp_tensor_numel(v->value) != 1 || !mp_dtype_computable(v->value->dtype))
		return false;
	mp_dtype_traits(v->value->dtype)->load_f64(v->value->data, 1, out, 1);
	return true;
}

bool mp_infer_len(const struct mp_infer_val *v, int64_t *n)
{
	if (!v || v->info.ndim != 1 || v->info.dims[0] < 0)
		return false;
	*n = v->info.dims[0];
	return true;
}

void mp_infer_set(struct mp_infer_val *o, enum mp_dtype dtype, int ndim, const int64_t *dims)
{
	if (!o)
		return;
	o->info.dtype = dtype;
	o->info.ndim = ndim;
	for (int i = 0; i < ndim && i < MP_MAX_DIMS; i++)
		o->info.dims[i] = dims[i];
}

void mp_infer_set_unknown(struct mp_infer_val *o, enum mp_dtype dtype, int ndim)
{
	if (!o)
		return;
	o->info.dtype = dtype;
	o->info.ndim = ndim;
	for (int i = 0; i < ndim && i < MP_MAX_DIMS; i++)
		o->info.dims[i] = MP_DIM_UNKNOWN;
}

void mp_infer_same(struct mp_infer_val *o, const struct mp_infer_val *i)
{
	if (o)
		o->info = i->info;
}

const char *mp_infer_dims_str(const struct mp_value_info *vi, char *buf, size_t size)
{
	size_t pos = 0;
	if (vi->ndim < 0) {
		snprintf(buf, size, "[?]");
		return buf;
	}
	pos += (size_t)snprintf(buf, size, "[");
	for (int i = 0; i < vi->ndim && pos < size; i++) {
		if (vi->dims[i] >= 0)
			pos += (size_t)snprintf(buf + pos, size - pos, "%s%lld", i ? ", " : "",
			                        (long long)vi->dims[i]);
		else
			pos += (size_t)snprintf(buf + pos, size - pos, "%s?", i ? ", " : "");
	}
	if (pos < size)
		snprintf(buf + pos, size - pos, "]");
	return buf;
}

static bool bcast_dim(int64_t a, int64_t b, int64_t *out)
{
	if (a == 1) { *out = b; return true; }
	if (b == 1 || a == b) { *out = a; return true; }
	if (a >= 0 && b >= 0) return false;
	if (a >= 0) { *out = a; return true; }
	if (b >= 0) { *out = b; return true; }
	*out = MP_DIM_UNKNOWN;
	return true;
}

enum mp_status mp_infer_broadcast(struct mp_infer *c, int n, const struct mp_infer_val *const *v,
                                  struct mp_value_info *out)
{
	int rank = 0;
	for (int k = 0; k < n; k++) {
		if (v[k]->info.ndim < 0) {
			out->ndim = -1;
			return MP_OK;
		}
		if (v[k]->info.ndim > rank)
			rank = v[k]->info.ndim;
	}
	out->ndim = rank;
	for (int i = 0; i < rank; i++)
		out->dims[i] = 1;
	for (int k = 0; k < n; k++) {
		const struct mp_value_info *vi = &v[k]->info;
		int off = rank - vi->ndim;
		for (int j = 0; j < vi->ndim; j++) {
			if (!bcast_dim(out->dims[off + j], vi->dims[j], &out->dims[off + j])) {
				char a[256], b[256];
				struct mp_value_info so_far = *out;
				return mp_infer_fail(c, "input shapes %s and %s do not broadcast (dim %d: %lld vs %lld)",
				                     mp_infer_dims_str(&so_far, a, sizeof a),
				                     mp_infer_dims_str(vi, b, sizeof b), off + j,
				                     (long long)so_far.dims[off + j], (long long)vi->dims[j]);
			}
		}
	}
	return MP_OK;
}

int64_t mp_dim_mul(int64_t a, int64_t b)
{
	if (a == 0 || b == 0)
		return 0;
	if (a < 0 || b < 0)
		return MP_DIM_UNKNOWN;
	if (a > INT64_MAX / b)
		return MP_DIM_UNKNOWN;
	return a * b;
}

bool mp_dtype_is_numeric(enum mp_dtype t)
{
	return mp_dtype_computable(t) && t != MP_BOOL;
}
bool mp_dtype_is_float_t(enum mp_dtype t) { return mp_dtype_is_float(t) && mp_dtype_computable(t); }
bool mp_dtype_is_int_t(enum mp_dtype t) { return mp_dtype_traits(t)->is_int; }
bool mp_dtype_is_index_t(enum mp_dtype t) { return t == MP_I32 || t == MP_I64; }
bool mp_dtype_is_bool_t(enum mp_dtype t) { return t == MP_BOOL; }

enum mp_status mp_infer_require_dtype(struct mp_infer *c, int slot, bool (*ok)(enum mp_dtype),
                                      const char *what)
{
	const struct mp_infer_val *v = slot < c->ninputs ? c->in[slot] : NULL;
	if (!v || v->info.dtype == MP_DTYPE_UNDEFINED)
		return MP_OK; /* not known yet: checked when it is */
	if (ok(v->info.dtype))
		return MP_OK;
	if (!mp_dtype_computable(v->info.dtype))
		return mp_error_set(c->e, MP_ERR_UNSUPPORTED, "input %d is %s, which mpdbg does not compute on",
		                    slot, mp_dtype_name(v->info.dtype));
	return mp_infer_fail(c, "input %d is %s, but %s takes %s", slot,
	                     mp_dtype_name(v->info.dtype), c->node->op_type, what);
}

enum mp_status mp_infer_same_dtype(struct mp_infer *c, int a, int b)
{
	const struct mp_infer_val *va = c->in[a], *vb = c->in[b];
	if (!va || !vb || !va->info.dtype || !vb->info.dtype || va->info.dtype == vb->info.dtype)
		return MP_OK;
	return mp_infer_fail(c, "input %d is %s but input %d is %s; %s needs them equal", a,
	                     mp_dtype_name(va->info.dtype), b, mp_dtype_name(vb->info.dtype),
	                     c->node->op_type);
}
