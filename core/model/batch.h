/* batch.h - where batches come from: one .safetensors file, a folder of
 * them (sorted by name, one batch per file), or an ONNX test case
 * (test_data_set_N/input_K.pb, with the expected output_K.pb alongside). */
#ifndef MP_BATCH_H
#define MP_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "graph.h"
#include "tensor.h"

enum mp_batch_kind {
	MP_BATCH_SAFETENSORS_FILE,
	MP_BATCH_SAFETENSORS_DIR,
	MP_BATCH_TEST_CASE,
	MP_BATCH_SYNTHETIC, /* made from the graph's input shapes (mp_batch_source_synthetic) */
};

struct mp_batch_source;
struct mp_batch;

enum mp_status mp_batch_source_open(const char *path, struct mp_batch_source **out,
                                    struct mp_error *e);
/* The same, taking only the files of a folder that match a glob
 * ("batch_*.safetensors"); NULL means "*.safetensors". */
enum mp_status mp_batch_source_open_glob(const char *path, const char *pattern,
                                         struct mp_batch_source **out, struct mp_error *e);
void mp_batch_source_free(struct mp_batch_source *s);
enum mp_batch_kind mp_batch_source_kind(const struct mp_batch_source *s);
size_t mp_batch_source_count(const struct mp_batch_source *s);
/* "batch_000" (the file's stem) or "test_data_set_0" */
const char *mp_batch_source_name(const struct mp_batch_source *s, size_t i);
const char *mp_batch_source_path(const struct mp_batch_source *s, size_t i);

/* ---- synthetic batches: `run --synthetic` and the ONNX fuzz target ----
 * One tensor per graph input, of its declared dtype and shape: a named
 * symbolic dim takes its size from dims (else 1), an unnamed unknown dim is
 * 1.  Zeros, or with random set values drawn from seed + the batch's index:
 * floats uniform in [-1, 1), integers in [0, 10), bools 0 or 1.  An input
 * that declares no dtype or shape, or inputs above max_bytes in all, are
 * refused (MP_ERR_INPUT) naming the input and its shape. */
struct mp_synth_dim {
	const char *name;
	int64_t size;
};

struct mp_synth_options {
	const struct mp_synth_dim *dims; /* the caller's */
	size_t ndims;
	bool random;
	uint64_t seed;
	uint64_t max_bytes;              /* all inputs together; 0: MP_SYNTH_MAX_BYTES */
};

#define MP_SYNTH_MAX_BYTES ((uint64_t)1 << 30)

/* One synthetic batch ("synthetic_N" for index N). */
enum mp_status mp_batch_synthesize(const struct mp_graph *g, const struct mp_synth_options *o, size_t index,
                                   struct mp_batch **out, struct mp_error *e);
/* A source of count synthetic batches; g and o must outlive it.  Checks
 * the options against the graph (each dim a symbolic dim it names) first. */
enum mp_status mp_batch_source_synthetic(const struct mp_graph *g, const struct mp_synth_options *o,
                                         size_t count, struct mp_batch_source **out, struct mp_error *e);

enum mp_status mp_batch_load(const struct mp_batch_source *s, size_t i, struct mp_batch **out,
                             struct mp_error *e);
void mp_batch_free(struct mp_batch *b);

/* A batch of tensors the caller holds (they must outlive it), matched to
 * graph inputs by name, or by position when positional. */
enum mp_status mp_batch_from_tensors(const char *name, size_t n, const char *const *names,
                                     const struct mp_tensor *tensors, bool positional,
                                     struct mp_batch **out, struct mp_error *e);

const char *mp_batch_name(const struct mp_batch *b);
/* The file or folder the batch was read from. */
const char *mp_batch_path(const struct mp_batch *b);
size_t mp_batch_count(const struct mp_batch *b);
/* The tensor's name: its safetensors key, or the TensorProto's name ("" if none). */
const char *mp_batch_tensor_name(const struct mp_batch *b, size_t i);
const struct mp_tensor *mp_batch_tensor(const struct mp_batch *b, size_t i);
/* The tensor's element type as its file names it ("BF16", "F6_E2M3"): the
 * only name there is for types ONNX lacks. */
const char *mp_batch_tensor_type(const struct mp_batch *b, size_t i);
/* The file a tensor came from, for messages and the dtype trace. */
const char *mp_batch_tensor_file(const struct mp_batch *b, size_t i);
/* True when tensors match graph inputs by position (test cases). */
bool mp_batch_positional(const struct mp_batch *b);
/* The expected outputs of a test case (output_K.pb), else 0. */
size_t mp_batch_nexpected(const struct mp_batch *b);
const struct mp_tensor *mp_batch_expected(const struct mp_batch *b, size_t i);

/* Which batch tensor feeds each graph input (mp_graph_input order): by name,
 * or by position for test cases.  A graph input the batch lacks is an error
 * listing what the model wants and what the batch has. */
enum mp_status mp_batch_match(const struct mp_batch *b, const struct mp_graph *g, size_t *index,
                              struct mp_error *e);

#endif
