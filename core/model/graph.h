/* graph.h - mpdbg's own graph IR, built from an ONNX model.
 *
 * Values are named edges (graph inputs, initializers, node outputs); nodes
 * are kept in a topological order that is also the execution order.  The
 * protobuf is only read once: everything here is ours, in one arena, with
 * initializer bytes pointing into the mapped files (zero copy).
 *
 * Dims: >= 0 known, MP_DIM_UNKNOWN unknown, otherwise <= MP_DIM_SYM0 a named
 * symbol (dim_param such as "batch"; see mp_graph_symbol()).  -1 is never a
 * dim, so it keeps its meaning in shape vectors (Reshape's "infer this").
 */
#ifndef MP_GRAPH_H
#define MP_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "op.h"
#include "tensor.h"

#define MP_DIM_UNKNOWN INT64_MIN
#define MP_DIM_SYM0 (-2)
#define MP_DIM_IS_SYM(d) ((d) <= MP_DIM_SYM0 && (d) != MP_DIM_UNKNOWN)
#define MP_DIM_SYM_INDEX(d) ((int)(MP_DIM_SYM0 - (d)))
#define MP_DIM_FROM_SYM(i) (MP_DIM_SYM0 - (int64_t)(i))

struct mp_value_info {
	enum mp_dtype dtype; /* UNDEFINED when not known (yet) */
	int ndim;            /* -1: rank unknown */
	int64_t dims[MP_MAX_DIMS];
};

enum mp_value_kind {
	MP_VALUE_INPUT,       /* a graph input the batch must provide */
	MP_VALUE_INITIALIZER, /* a weight, from the model file */
	MP_VALUE_NODE,        /* produced by a node */
};

struct mp_value {
	const char *name;
	enum mp_value_kind kind;
	struct mp_value_info info;     /* declared by the model, then inferred */
	struct mp_value_info declared; /* as the model declared it (inputs, outputs, value_info) */
	bool has_declared;
	int32_t producer;              /* node index, or -1 */
	int32_t producer_slot;
	int32_t nconsumers;
	int32_t *consumers;            /* node indexes, in execution order, with repeats */
	bool is_output;                /* a graph output */
	const struct mp_tensor *data;  /* initializer bytes; NULL otherwise */
	const char *location;          /* where data lives: "model.onnx" or the external file */
	uint64_t file_offset;          /* of data in that file */
	bool unsupported_type;         /* a sequence, map, optional or sparse value */
};

enum mp_attr_type {
	MP_ATTR_UNDEFINED = 0, MP_ATTR_FLOAT = 1, MP_ATTR_INT = 2, MP_ATTR_STRING = 3,
	MP_ATTR_TENSOR = 4, MP_ATTR_GRAPH = 5, MP_ATTR_FLOATS = 6, MP_ATTR_INTS = 7,
	MP_ATTR_STRINGS = 8, MP_ATTR_TENSORS = 9, MP_ATTR_GRAPHS = 10,
	MP_ATTR_SPARSE_TENSOR = 11, MP_ATTR_SPARSE_TENSORS = 12, MP_ATTR_TYPE_PROTO = 13,
	MP_ATTR_TYPE_PROTOS = 14,
};

struct mp_attr {
	const char *name;
	enum mp_attr_type type;
	float f;
	int64_t i;
	const char *s; /* NUL-terminated copy; slen may be shorter if it holds NULs */
	size_t slen;
	int n;         /* elements of ints / floats / strings */
	const int64_t *ints;
	const float *floats;
	const char *const *strings;
	struct mp_tensor *t;
	bool used;     /* set when the op's parser read it */
};

struct mp_meta {
	const char *key, *value;
};

struct mp_node {
	const char *name;    /* never NULL: "<op>_<index>" when the model has none */
	const char *op_type;
	const char *domain;  /* "" for the default domain */
	enum mp_op op;       /* MP_OP_NONE when mpdbg does not know it */
	int opset;           /* the model's version of the node's domain */
	int index;           /* position in execution order */
	int ninputs, noutputs;
	const int32_t *inputs;  /* value ids; -1 for an omitted optional input */
	const int32_t *outputs; /* value ids; -1 for an omitted optional output */
	int nattrs;
	struct mp_attr *attrs;
	int nmeta;
	const struct mp_meta *meta;
	void *params;        /* struct mp_<family>_params; NULL when unsupported */
	size_t params_size;
	const char *unsupported; /* why it cannot run (unknown op, attribute, domain); NULL if it can */
	/* the node breaks ONNX's own rules (an attribute without its value,
	 * shapes that cannot fit): a bad model, not a gap in mpdbg; its message
	 * is `unsupported` or mp_graph_node_problem */
	bool invalid;
	int32_t module;      /* index in the module tree; 0 is the root */
};

struct mp_module {
	const char *name;       /* path segment: "layer.0" ("" for the root) */
	const char *path;       /* dotted, as PyTorch names it: "backbone.encoder.layer.0" */
	const char *class_name; /* "Dinov2Layer" when the exporter recorded it, else NULL */
	int32_t parent, first_child, next_sibling;
	int depth;
	int32_t nnodes;         /* nodes directly in this module */
	int32_t nnodes_total;   /* including submodules */
	int64_t nparams;        /* elements of initializers first used here, with submodules */
};

struct mp_opset {
	const char *domain;
	int64_t version;
};

struct mp_graph;

/* Loads an ONNX model: maps the file (and its external data files), builds
 * the IR, sorts nodes, parses attributes, builds the module tree and infers
 * dtypes and shapes as far as the model's own declarations allow.  Errors
 * name the file and what is wrong with it. */
enum mp_status mp_graph_load(const char *path, struct mp_graph **out, struct mp_error *e);

/* What a model may make the loader build, stated in advance: a graph over
 * one is refused with MP_ERR_LIMIT before it is built, and the message names
 * the option that raises it.  0 in a field: its default. */
#define MP_GRAPH_MAX_NODES 250000
#define MP_GRAPH_MAX_VALUES 1000000
struct mp_graph_limits {
	size_t max_nodes;  /* --max-nodes */
	size_t max_values; /* --max-values: initializers, graph inputs and node outputs */
};
/* mp_graph_load under limits (NULL: the defaults). */
enum mp_status mp_graph_load_limited(const char *path, const struct mp_graph_limits *lim, struct mp_graph **out,
                                     struct mp_error *e);
void mp_graph_free(struct mp_graph *g);

const char *mp_graph_path(const struct mp_graph *g);
const char *mp_graph_producer(const struct mp_graph *g); /* "pytorch 2.11.0" */
int64_t mp_graph_ir_version(const struct mp_graph *g);
size_t mp_graph_nopsets(const struct mp_graph *g);
const struct mp_opset *mp_graph_opset_at(const struct mp_graph *g, size_t i);
/* The imported version of a domain ("" and "ai.onnx" are the same), or 0. */
int64_t mp_graph_opset(const struct mp_graph *g, const char *domain);

size_t mp_graph_nvalues(const struct mp_graph *g);
const struct mp_value *mp_graph_value(const struct mp_graph *g, size_t id);
/* The id of a value by name, or -1. */
int32_t mp_graph_find_value(const struct mp_graph *g, const char *name);

size_t mp_graph_nnodes(const struct mp_graph *g);
const struct mp_node *mp_graph_node(const struct mp_graph *g, size_t i);
/* The index of a node by name, or -1. */
int32_t mp_graph_find_node(const struct mp_graph *g, const char *name);

/* Graph inputs the batch must provide (initializers excluded), in order. */
size_t mp_graph_ninputs(const struct mp_graph *g);
int32_t mp_graph_input(const struct mp_graph *g, size_t i);
size_t mp_graph_noutputs(const struct mp_graph *g);
int32_t mp_graph_output(const struct mp_graph *g, size_t i);
size_t mp_graph_ninitializers(const struct mp_graph *g);
int32_t mp_graph_initializer(const struct mp_graph *g, size_t i);

size_t mp_graph_nmodules(const struct mp_graph *g);
const struct mp_module *mp_graph_module(const struct mp_graph *g, size_t i);

/* Symbolic dims: the name of symbol i ("batch"). */
size_t mp_graph_nsymbols(const struct mp_graph *g);
const char *mp_graph_symbol(const struct mp_graph *g, size_t i);

/* Formats a value's dims: "[batch, 3, 112, 112]", "?" for unknown. */
const char *mp_graph_dims_str(const struct mp_graph *g, const struct mp_value_info *vi,
                              char *buf, size_t size);

/* The error, if any, that static inference met at this node (NULL if none):
 * shapes that cannot fit, a missing input.  Loading does not fail on it:
 * `inspect` shows it and running stops there. */
const char *mp_graph_node_problem(const struct mp_graph *g, size_t node);

#endif
