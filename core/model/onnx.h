/* onnx.h - ONNX TensorProto decoding, shared by the model loader (initializers,
 * tensor attributes) and the batch source (test-case .pb files). */
#ifndef MP_ONNX_H
#define MP_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "error.h"
#include "fmap.h"
#include "tensor.h"

/* Where external data may come from: the model's folder, with the files
 * already mapped cached here so each maps once.  Owned by the graph. */
struct mp_onnx_ext {
	const char *dir;
	struct mp_onnx_ext_file {
		char *path;
		struct mp_fmap map;
	} *files;
	size_t nfiles, cap;
};

void mp_onnx_ext_close(struct mp_onnx_ext *x);

struct mp_onnx_tensor {
	const char *name;
	struct mp_tensor t;   /* borrowed: raw_data and external data point into mappings */
	const char *location; /* external file's path, or NULL when inside the message */
	uint64_t offset;      /* of the bytes in their file */
	int64_t numel;
	size_t nbytes;        /* also for dtypes that are not computed on */
};

/* Decodes one TensorProto.  Typed fields (float_data, int64_data, ...) are
 * decoded into the arena; raw_data and external data are not copied.
 * `ext` NULL refuses external data.  Messages carry offsets into the file
 * whose bytes start at base. */
enum mp_status mp_onnx_tensor_parse(const uint8_t *msg, size_t len, const uint8_t *base,
                                    struct mp_arena *a, struct mp_onnx_ext *ext,
                                    struct mp_onnx_tensor *out, struct mp_error *e);

/* A .pb file holding one TensorProto (ONNX test data), mapped and decoded. */
struct mp_onnx_tensor_file {
	struct mp_fmap map;
	struct mp_arena arena;
	struct mp_onnx_tensor t;
};

enum mp_status mp_onnx_tensor_file_open(const char *path, struct mp_onnx_tensor_file *f,
                                        struct mp_error *e);
void mp_onnx_tensor_file_close(struct mp_onnx_tensor_file *f);

#endif
