/* graph_internal.h - the graph's private layout, shared by the files that
 * build it (onnx_load.c, modtree.c, infer.c) and read it (graph.c). */
#ifndef MP_GRAPH_INTERNAL_H
#define MP_GRAPH_INTERNAL_H

#include "arena.h"
#include "fmap.h"
#include "graph.h"
#include "onnx.h"

struct mp_name_map {
	int32_t *slots; /* open addressing; -1 empty */
	size_t cap;     /* a power of two */
};

struct mp_graph {
	struct mp_arena arena;
	struct mp_graph_limits limits; /* while loading */
	char *path, *dir;
	struct mp_fmap map;
	struct mp_onnx_ext ext;
	int64_t ir_version;
	const char *producer;
	struct mp_opset *opsets;
	size_t nopsets;
	struct mp_value *values;
	size_t nvalues;
	struct mp_node *nodes;
	size_t nnodes;
	int32_t *inputs, *outputs, *inits;
	size_t ninputs, noutputs, ninits;
	struct mp_module *modules;
	size_t nmodules;
	const char **symbols;
	size_t nsymbols, symbols_cap;
	const char **problems; /* per node, from static inference */
	struct mp_name_map value_names, node_names;
};

/* Name maps over the graph's values / nodes. */
enum mp_status mp_name_map_init(struct mp_name_map *m, size_t n, struct mp_error *e);
void mp_name_map_free(struct mp_name_map *m);
/* The map stores ids; name_of(ctx, id) gives an id's name. */
typedef const char *(*mp_name_of_fn)(const void *ctx, int32_t id);
/* id of name, or -1 */
int32_t mp_name_map_find(const struct mp_name_map *m, const char *name,
                         mp_name_of_fn name_of, const void *ctx);
/* inserts id; false if the name is already there (its id in *dup) */
bool mp_name_map_insert(struct mp_name_map *m, const char *name, int32_t id,
                        mp_name_of_fn name_of, const void *ctx, int32_t *dup);

/* The id of a symbol name, added when new; -1 when out of memory. */
int mp_graph_symbol_intern(struct mp_graph *g, const char *name);

/* modtree.c: builds g->modules and each node's module. */
enum mp_status mp_modtree_build(struct mp_graph *g, struct mp_error *e);

/* ops.c: parses node attributes into the family's params (sets
 * node->params or node->unsupported). */
enum mp_status mp_ops_parse_node(struct mp_graph *g, struct mp_node *n, struct mp_error *e);

/* infer.c: static inference over the whole graph. */
enum mp_status mp_graph_infer_static(struct mp_graph *g, struct mp_error *e);

#endif
