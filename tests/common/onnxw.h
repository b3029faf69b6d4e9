/* onnxw.h - a protobuf writer for tests, with builders for the ONNX
 * messages the tests need: tiny valid models, and every way of breaking one. */
#ifndef MP_ONNXW_H
#define MP_ONNXW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pbw {
	unsigned char *d;
	size_t n, cap;
};

void pbw_free(struct pbw *w);
void pbw_raw(struct pbw *w, const void *p, size_t n);
void pbw_varint(struct pbw *w, uint64_t v);
void pbw_key(struct pbw *w, uint32_t field, int wire);
void pbw_int(struct pbw *w, uint32_t field, uint64_t v);
void pbw_float(struct pbw *w, uint32_t field, float f);
void pbw_bytes(struct pbw *w, uint32_t field, const void *p, size_t n);
void pbw_str(struct pbw *w, uint32_t field, const char *s);
/* Appends sub as an embedded message and frees it. */
void pbw_msg(struct pbw *w, uint32_t field, struct pbw *sub);
bool pbw_save(const struct pbw *w, const char *path);

/* ONNX builders.  dims may hold -1 for a dim_param named by params[i]. */
struct pbw onnx_tensor_raw(const char *name, int dtype, int ndim, const int64_t *dims,
                           const void *raw, size_t len);
struct pbw onnx_tensor_external(const char *name, int dtype, int ndim, const int64_t *dims,
                                const char *location, uint64_t offset, int64_t length);
struct pbw onnx_value_info(const char *name, int dtype, int ndim, const int64_t *dims,
                           const char *const *params);
struct pbw onnx_attr_int(const char *name, int64_t v);
struct pbw onnx_attr_ints(const char *name, int n, const int64_t *v);
struct pbw onnx_attr_float(const char *name, float v);
struct pbw onnx_attr_str(const char *name, const char *v);
struct pbw onnx_attr_tensor(const char *name, struct pbw *t);
/* A node; attrs (may be NULL) are appended and freed. */
struct pbw onnx_node(const char *op, const char *name, int nin, const char *const *ins, int nout,
                     const char *const *outs, int nattrs, struct pbw *attrs);
/* A model: ir_version 8, default-domain opset; the graph's parts are
 * appended and freed. */
struct pbw onnx_model(int opset, struct pbw *graph);
/* A graph named "g" from parts already wrapped with their field numbers. */
struct pbw onnx_graph(void);
void onnx_graph_node(struct pbw *g, struct pbw *node);
void onnx_graph_init(struct pbw *g, struct pbw *tensor);
void onnx_graph_input(struct pbw *g, struct pbw *vi);
void onnx_graph_output(struct pbw *g, struct pbw *vi);
/* Shorthands: a node of one output; an f32 initializer of n values; an f32
 * graph input or output. */
void onnx_graph_add_node(struct pbw *g, const char *op, const char *name, int nin, const char *const *ins,
                         const char *out, int nattrs, struct pbw *attrs);
void onnx_graph_add_floats(struct pbw *g, const char *name, int ndim, const int64_t *dims, const float *v, size_t n);
void onnx_graph_add_io(struct pbw *g, bool input, const char *name, int ndim, const int64_t *dims);

/* A one-node model `y = op(x[, w])` with float inputs of shape dims, saved
 * to path; returns false on an I/O error. */
bool onnx_save_unary(const char *path, const char *op, int ndim, const int64_t *dims);

/* The two-node model the run and key tests record: y = Neg(Relu(x)), x and
 * y f32 [2, 8], nodes "/relu" and "/neg", opset 17. */
struct pbw onnx_chain_model(void);

#endif
