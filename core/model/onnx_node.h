/* onnx_node.h - reading one NodeProto (its inputs, outputs, attributes and
 * metadata) for the model loader, and the checked string field both use.
 * Internal to core/model. */
#ifndef MP_ONNX_NODE_H
#define MP_ONNX_NODE_H

#include "graph_internal.h"
#include "pb.h"

/* A node as the file states it: names, not yet value ids. */
struct mp_onnx_raw_node {
	const char *name, *op_type, *domain;
	int ninputs, noutputs, nattrs, nmeta;
	const char **inputs, **outputs;
	struct mp_attr *attrs;
	struct mp_meta *meta;
};

/* A string field as a C string in the graph's arena; NUL bytes inside are
 * refused because names are compared as C strings. */
enum mp_status mp_onnx_field_str(struct mp_graph *g, const struct mp_pb_field *f, const char **out,
                                 const char *what, struct mp_error *e);
/* The NodeProto in msg (a field of parent), into the graph's arena. */
enum mp_status mp_onnx_parse_node(struct mp_graph *g, const struct mp_pb *parent, const struct mp_pb_field *msg,
                                  struct mp_onnx_raw_node *n, struct mp_error *e);

#endif
