/* onnxw.c - protobuf writing for tests (field numbers from onnx.proto). */
#include "onnxw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pbw_free(struct pbw *w)
{
	free(w->d);
	w->d = NULL;
	w->n = w->cap = 0;
}

void pbw_raw(struct pbw *w, const void *p, size_t n)
{
	if (w->n + n > w->cap) {
		size_t cap = w->cap ? w->cap : 64;
		while (cap < w->n + n)
			cap *= 2;
		w->d = realloc(w->d, cap);
		if (!w->d)
			abort(); /* a test out of memory */
		w->cap = cap;
	}
	if (n)
		memcpy(w->d + w->n, p, n);
	w->n += n;
}

void pbw_varint(struct pbw *w, uint64_t v)
{
	unsigned char b[10];
	int k = 0;
	do {
		b[k] = (unsigned char)(v & 0x7F);
		v >>= 7;
		if (v)
			b[k] |= 0x80;
		k++;
	} while (v);
	pbw_raw(w, b, (size_t)k);
}

void pbw_key(struct pbw *w, uint32_t field, int wire)
{
	pbw_varint(w, ((uint64_t)field << 3) | (uint64_t)wire);
}

void pbw_int(struct pbw *w, uint32_t field, uint64_t v)
{
	pbw_key(w, field, 0);
	pbw_varint(w, v);
}

void pbw_float(struct pbw *w, uint32_t field, float f)
{
	pbw_key(w, field, 5);
	pbw_raw(w, &f, 4);
}

void pbw_bytes(struct pbw *w, uint32_t field, const void *p, size_t n)
{
	pbw_key(w, field, 2);
	pbw_varint(w, n);
	pbw_raw(w, p, n);
}

void pbw_str(struct pbw *w, uint32_t field, const char *s)
{
	pbw_bytes(w, field, s, strlen(s));
}

void pbw_msg(struct pbw *w, uint32_t field, struct pbw *sub)
{
	pbw_bytes(w, field, sub->d, sub->n);
	pbw_free(sub);
}

bool pbw_save(const struct pbw *w, const char *path)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return false;
	bool ok = fwrite(w->d, 1, w->n, f) == w->n;
	return fclose(f) == 0 && ok;
}

struct pbw onnx_tensor_raw(const char *name, int dtype, int ndim, const int64_t *dims,
                           const void *raw, size_t len)
{
	struct pbw t = { 0 };
	for (int i = 0; i < ndim; i++)
		pbw_int(&t, 1, (uint64_t)dims[i]);
	pbw_int(&t, 2, (uint64_t)dtype);
	pbw_str(&t, 8, name);
	pbw_bytes(&t, 9, raw, len);
	return t;
}

static struct pbw kv(const char *k, const char *v)
{
	struct pbw e = { 0 };
	pbw_str(&e, 1, k);
	pbw_str(&e, 2, v);
	return e;
}

struct pbw onnx_tensor_external(const char *name, int dtype, int ndim, const int64_t *dims,
                                const char *location, uint64_t offset, int64_t length)
{
	struct pbw t = { 0 }, e;
	char num[32];
	for (int i = 0; i < ndim; i++)
		pbw_int(&t, 1, (uint64_t)dims[i]);
	pbw_int(&t, 2, (uint64_t)dtype);
	pbw_str(&t, 8, name);
	e = kv("location", location);
	pbw_msg(&t, 13, &e);
	snprintf(num, sizeof num, "%llu", (unsigned long long)offset);
	e = kv("offset", num);
	pbw_msg(&t, 13, &e);
	if (length >= 0) {
		snprintf(num, sizeof num, "%lld", (long long)length);
		e = kv("length", num);
		pbw_msg(&t, 13, &e);
	}
	pbw_int(&t, 14, 1);
	return t;
}

struct pbw onnx_value_info(const char *name, int dtype, int ndim, const int64_t *dims,
                           const char *const *params)
{
	struct pbw vi = { 0 }, type = { 0 }, tt = { 0 }, shape = { 0 };
	pbw_int(&tt, 1, (uint64_t)dtype);
	for (int i = 0; i < ndim; i++) {
		struct pbw d = { 0 };
		if (dims[i] >= 0)
			pbw_int(&d, 1, (uint64_t)dims[i]);
		else
			pbw_str(&d, 2, params[i]);
		pbw_msg(&shape, 1, &d);
	}
	pbw_msg(&tt, 2, &shape);
	pbw_msg(&type, 1, &tt);
	pbw_str(&vi, 1, name);
	pbw_msg(&vi, 2, &type);
	return vi;
}

struct pbw onnx_attr_int(const char *name, int64_t v)
{
	struct pbw a = { 0 };
	pbw_str(&a, 1, name);
	pbw_int(&a, 3, (uint64_t)v);
	pbw_int(&a, 20, 2);
	return a;
}

struct pbw onnx_attr_ints(const char *name, int n, const int64_t *v)
{
	struct pbw a = { 0 };
	pbw_str(&a, 1, name);
	for (int i = 0; i < n; i++)
		pbw_int(&a, 8, (uint64_t)v[i]);
	pbw_int(&a, 20, 7);
	return a;
}

struct pbw onnx_attr_float(const char *name, float v)
{
	struct pbw a = { 0 };
	pbw_str(&a, 1, name);
	pbw_float(&a, 2, v);
	pbw_int(&a, 20, 1);
	return a;
}

struct pbw onnx_attr_str(const char *name, const char *v)
{
	struct pbw a = { 0 };
	pbw_str(&a, 1, name);
	pbw_str(&a, 4, v);
	pbw_int(&a, 20, 3);
	return a;
}

struct pbw onnx_attr_tensor(const char *name, struct pbw *t)
{
	struct pbw a = { 0 };
	pbw_str(&a, 1, name);
	pbw_msg(&a, 5, t);
	pbw_int(&a, 20, 4);
	return a;
}

struct pbw onnx_node(const char *op, const char *name, int nin, const char *const *ins, int nout,
                     const char *const *outs, int nattrs, struct pbw *attrs)
{
	struct pbw n = { 0 };
	for (int i = 0; i < nin; i++)
		pbw_str(&n, 1, ins[i]);
	for (int i = 0; i < nout; i++)
		pbw_str(&n, 2, outs[i]);
	pbw_str(&n, 3, name);
	pbw_str(&n, 4, op);
	for (int i = 0; i < nattrs; i++)
		pbw_msg(&n, 5, &attrs[i]);
	return n;
}

struct pbw onnx_graph(void)
{
	struct pbw g = { 0 };
	pbw_str(&g, 2, "g");
	return g;
}

void onnx_graph_node(struct pbw *g, struct pbw *node) { pbw_msg(g, 1, node); }
void onnx_graph_init(struct pbw *g, struct pbw *tensor) { pbw_msg(g, 5, tensor); }
void onnx_graph_input(struct pbw *g, struct pbw *vi) { pbw_msg(g, 11, vi); }
void onnx_graph_output(struct pbw *g, struct pbw *vi) { pbw_msg(g, 12, vi); }

void onnx_graph_add_node(struct pbw *g, const char *op, const char *name, int nin, const char *const *ins,
                         const char *out, int nattrs, struct pbw *attrs)
{
	const char *outs[] = { out };
	struct pbw n = onnx_node(op, name, nin, ins, 1, outs, nattrs, attrs);
	onnx_graph_node(g, &n);
}

void onnx_graph_add_floats(struct pbw *g, const char *name, int ndim, const int64_t *dims, const float *v, size_t n)
{
	struct pbw t = onnx_tensor_raw(name, 1, ndim, dims, v, n * sizeof *v);
	onnx_graph_init(g, &t);
}

void onnx_graph_add_io(struct pbw *g, bool input, const char *name, int ndim, const int64_t *dims)
{
	struct pbw vi = onnx_value_info(name, 1, ndim, dims, NULL);
	if (input)
		onnx_graph_input(g, &vi);
	else
		onnx_graph_output(g, &vi);
}

struct pbw onnx_model(int opset, struct pbw *graph)
{
	struct pbw m = { 0 }, os = { 0 };
	pbw_int(&m, 1, 8);
	pbw_str(&m, 2, "mpdbg-tests");
	pbw_msg(&m, 7, graph);
	pbw_str(&os, 1, "");
	pbw_int(&os, 2, (uint64_t)opset);
	pbw_msg(&m, 8, &os);
	return m;
}

bool onnx_save_unary(const char *path, const char *op, int ndim, const int64_t *dims)
{
	struct pbw g = onnx_graph();
	const char *in[] = { "x" }, *out[] = { "y" };
	struct pbw vi = onnx_value_info("x", 1, ndim, dims, NULL);
	onnx_graph_input(&g, &vi);
	vi = onnx_value_info("y", 1, ndim, dims, NULL);
	onnx_graph_output(&g, &vi);
	struct pbw n = onnx_node(op, "the_node", 1, in, 1, out, 0, NULL);
	onnx_graph_node(&g, &n);
	struct pbw m = onnx_model(17, &g);
	bool ok = pbw_save(&m, path);
	pbw_free(&m);
	return ok;
}

struct pbw onnx_chain_model(void)
{
	const int64_t xd[] = { 2, 8 };
	struct pbw g = onnx_graph(), vi, n;
	vi = onnx_value_info("x", 1 /* FLOAT */, 2, xd, NULL);
	onnx_graph_input(&g, &vi);
	n = onnx_node("Relu", "/relu", 1, (const char *[]){ "x" }, 1, (const char *[]){ "r" }, 0, NULL);
	onnx_graph_node(&g, &n);
	n = onnx_node("Neg", "/neg", 1, (const char *[]){ "r" }, 1, (const char *[]){ "y" }, 0, NULL);
	onnx_graph_node(&g, &n);
	vi = onnx_value_info("y", 1 /* FLOAT */, 2, xd, NULL);
	onnx_graph_output(&g, &vi);
	struct pbw m = onnx_model(17, &g);
	return m;
}
