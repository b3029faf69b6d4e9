/* batch_internal.h - the batch and batch source records, shared by batch.c
 * (files) and batch_synth.c (batches made from the graph's input shapes). */
#ifndef MP_BATCH_INTERNAL_H
#define MP_BATCH_INTERNAL_H

#include "arena.h"
#include "batch.h"
#include "fmap.h"
#include "safetensors.h"

struct mp_batch_source {
	enum mp_batch_kind kind;
	char **paths, **names;
	size_t n;
	/* MP_BATCH_SYNTHETIC: the graph and options, both the caller's */
	const struct mp_graph *g;
	const struct mp_synth_options *synth;
};

struct mp_batch {
	char *name, *path;
	bool positional;
	size_t n, nexp;
	char **names;
	const char **files;
	const char **types; /* safetensors' own dtype names, NULL elsewhere */
	struct mp_tensor *tensors, *expected;
	/* what keeps the bytes alive */
	struct mp_st_file *st;
	struct mp_fmap *maps;
	size_t nmaps;
	struct mp_arena arena;
	void *owned; /* a synthetic batch's tensor bytes */
};

enum mp_status mp_batch_synth_load(const struct mp_batch_source *s, size_t i, struct mp_batch **out,
                                   struct mp_error *e);

#endif
