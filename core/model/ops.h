/* ops.h - per-op parsing (attributes -> params) and shape/dtype inference.
 *
 * One table entry per op family.  Parsing runs once at load; inference runs
 * at load over symbolic shapes (batch, ...) and again per batch over the
 * actual shapes, filling the params' "resolved" fields that kernels read.
 */
#ifndef MP_OPS_H
#define MP_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "graph.h"

struct mp_graph;

/* What inference knows about one value. */
struct mp_infer_val {
	struct mp_value_info info;
	const struct mp_tensor *value; /* host data when known */
	/* a small int64 vector (or scalar) whose elements may be symbolic dims,
	 * as Shape produces at load time: nsym >= 0 when valid */
	int nsym;
	bool sym_scalar;
	int64_t sym[MP_MAX_DIMS];
};

struct mp_infer {
	const struct mp_node *node;
	int ninputs, noutputs;
	const struct mp_infer_val *const *in; /* in[i] NULL: omitted */
	struct mp_infer_val *const *out;      /* out[i] NULL: omitted */
	void *params;                         /* writable copy of node->params */
	struct mp_error *e;
};

struct mp_parse {
	struct mp_graph *g;
	struct mp_node *node;
	void *params;
	struct mp_error *e;
};

struct mp_family_ops {
	size_t params_size;
	enum mp_status (*parse)(struct mp_parse *p);
	enum mp_status (*infer)(struct mp_infer *c);
	/* input slots whose values inference reads (Reshape's shape, ...) */
	uint32_t (*value_inputs)(const struct mp_node *n);
};

const struct mp_family_ops *mp_family_ops(enum mp_op_family f);

/* Infers one node: checks its inputs and fills its outputs and the resolved
 * params.  Messages are not prefixed with the node; callers do that. */
enum mp_status mp_ops_infer(struct mp_infer *c);
uint32_t mp_ops_value_inputs(const struct mp_node *n);

/* ---- attribute access for the parsers ----
 * Each marks the attribute as read; a wrong type is an error naming it. */
enum mp_status mp_attr_int(struct mp_parse *p, const char *name, int64_t def, int64_t *out);
enum mp_status mp_attr_float(struct mp_parse *p, const char *name, float def, float *out);
enum mp_status mp_attr_string(struct mp_parse *p, const char *name, const char *def,
                              const char **out);
/* Up to max ints; *n = -1 when absent. */
enum mp_status mp_attr_ints(struct mp_parse *p, const char *name, int64_t *out, int max, int *n);
enum mp_status mp_attr_floats(struct mp_parse *p, const char *name, float *out, int max, int *n);
enum mp_status mp_attr_tensor(struct mp_parse *p, const char *name, const struct mp_tensor **out);
const struct mp_attr *mp_attr_find(const struct mp_node *n, const char *name);
/* Marks an attribute read without using it (documented no-ops). */
void mp_attr_ignore(struct mp_parse *p, const char *name);
/* Errors for parsers: MP_ERR_UNSUPPORTED (the node cannot run) or
 * MP_ERR_MODEL (the node is invalid). */
enum mp_status mp_parse_fail(struct mp_parse *p, enum mp_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- helpers for inference ---- */
enum mp_status mp_infer_fail(struct mp_infer *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Reads an int vector input (int32/int64 value or symbolic vector).
 * Returns false when not known; elements may be symbolic dims when sym. */
bool mp_infer_ints(const struct mp_infer_val *v, int64_t *out, int max, int *n);
/* Reads a scalar (or 1-element) input as double; false when unknown. */
bool mp_infer_scalar(const struct mp_infer_val *v, double *out);
/* The number of elements of a 1-D input, when its length is known. */
bool mp_infer_len(const struct mp_infer_val *v, int64_t *n);
/* Sets an output's dtype and shape. */
void mp_infer_set(struct mp_infer_val *o, enum mp_dtype dtype, int ndim, const int64_t *dims);
void mp_infer_set_unknown(struct mp_infer_val *o, enum mp_dtype dtype, int ndim);
/* Copies an input's info to an output (elementwise ops). */
void mp_infer_same(struct mp_infer_val *o, const struct mp_infer_val *i);
/* Broadcasts the infos of n inputs; error on a conflict of known dims. */
enum mp_status mp_infer_broadcast(struct mp_infer *c, int n, const struct mp_infer_val *const *v,
                                  struct mp_value_info *out);
/* "[4, ?, 3]" for messages */
const char *mp_infer_dims_str(const struct mp_value_info *vi, char *buf, size_t size);
/* A symbolic dim product: known only when all are known. */
int64_t mp_dim_mul(int64_t a, int64_t b);
/* Requires a known input dtype among a set; messages name the slot. */
enum mp_status mp_infer_require_dtype(struct mp_infer *c, int slot, bool (*ok)(enum mp_dtype),
                                      const char *what);
/* Requires inputs `a` and `b` to have the same dtype (ONNX's type T). */
enum mp_status mp_infer_same_dtype(struct mp_infer *c, int a, int b);

bool mp_dtype_is_numeric(enum mp_dtype t);
bool mp_dtype_is_float_t(enum mp_dtype t);
bool mp_dtype_is_int_t(enum mp_dtype t);
bool mp_dtype_is_index_t(enum mp_dtype t); /* int32 or int64 */
bool mp_dtype_is_bool_t(enum mp_dtype t);

#endif
