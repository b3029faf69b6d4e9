/* graph.c - reading the graph IR: accessors, name lookup, formatting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

/* FNV-1a: names are short, and the map only needs a decent spread. */
static uint64_t hash_name(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

enum mp_status mp_name_map_init(struct mp_name_map *m, size_t n, struct mp_error *e)
{
	size_t cap = 16;
	while (cap < 2 * n + 1) {
		if (cap > SIZE_MAX / 4)
			return mp_error_set(e, MP_ERR_NOMEM, "too many names");
		cap *= 2;
	}
	m->slots = malloc(cap * sizeof *m->slots);
	if (!m->slots)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	memset(m->slots, 0xff, cap * sizeof *m->slots);
	m->cap = cap;
	return MP_OK;
}

void mp_name_map_free(struct mp_name_map *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = 0;
}

int32_t mp_name_map_find(const struct mp_name_map *m, const char *name,
                         mp_name_of_fn name_of, const void *ctx)
{
	if (!m->cap)
		return -1;
	for (size_t i = hash_name(name) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		int32_t id = m->slots[i];
		if (id < 0)
			return -1;
		if (!strcmp(name_of(ctx, id), name))
			return id;
	}
}

bool mp_name_map_insert(struct mp_name_map *m, const char *name, int32_t id,
                        mp_name_of_fn name_of, const void *ctx, int32_t *dup)
{
	for (size_t i = hash_name(name) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		int32_t cur = m->slots[i];
		if (cur < 0) {
			m->slots[i] = id;
			return true;
		}
		if (!strcmp(name_of(ctx, cur), name)) {
			*dup = cur;
			return false;
		}
	}
}

static const char *value_name_of(const void *ctx, int32_t id)
{
	return ((const struct mp_graph *)ctx)->values[id].name;
}

static const char *node_name_of(const void *ctx, int32_t id)
{
	return ((const struct mp_graph *)ctx)->nodes[id].name;
}

int mp_graph_symbol_intern(struct mp_graph *g, const char *name)
{
	for (size_t i = 0; i < g->nsymbols; i++)
		if (!strcmp(g->symbols[i], name))
			return (int)i;
	if (g->nsymbols == g->symbols_cap) {
		size_t cap = g->symbols_cap ? 2 * g->symbols_cap : 8;
		if (cap > 100000)
			return -1; /* a model with this many dim names is hostile */
		const char **s = realloc(g->symbols, cap * sizeof *s);
		if (!s)
			return -1;
		g->symbols = s;
		g->symbols_cap = cap;
	}
	g->symbols[g->nsymbols] = name;
	return (int)g->nsymbols++;
}

void mp_graph_free(struct mp_graph *g)
{
	if (!g)
		return;
	mp_name_map_free(&g->value_names);
	mp_name_map_free(&g->node_names);
	mp_onnx_ext_close(&g->ext);
	mp_fmap_close(&g->map);
	mp_arena_free(&g->arena);
	free(g->symbols);
	free(g->problems);
	free(g->path);
	free(g->dir);
	free(g);
}

const char *mp_graph_path(const struct mp_graph *g) { return g->path; }
const char *mp_graph_producer(const struct mp_graph *g) { return g->producer; }
int64_t mp_graph_ir_version(const struct mp_graph *g) { return g->ir_version; }
size_t mp_graph_nopsets(const struct mp_graph *g) { return g->nopsets; }
const struct mp_opset *mp_graph_opset_at(const struct mp_graph *g, size_t i) { return &g->opsets[i]; }

int64_t mp_graph_opset(const struct mp_graph *g, const char *domain)
{
	if (!strcmp(domain, "ai.onnx"))
		domain = "";
	for (size_t i = 0; i < g->nopsets; i++)
		if (!strcmp(g->opsets[i].domain, domain))
			return g->opsets[i].version;
	return 0;
}

size_t mp_graph_nvalues(const struct mp_graph *g) { return g->nvalues; }
const struct mp_value *mp_graph_value(const struct mp_graph *g, size_t id) { return &g->values[id]; }

int32_t mp_graph_find_value(const struct mp_graph *g, const char *name)
{
	return mp_name_map_find(&g->value_names, name, value_name_of, g);
}

size_t mp_graph_nnodes(const struct mp_graph *g) { return g->nnodes; }
const struct mp_node *mp_graph_node(const struct mp_graph *g, size_t i) { return &g->nodes[i]; }

int32_t mp_graph_find_node(const struct mp_graph *g, const char *name)
{
	return mp_name_map_find(&g->node_names, name, node_name_of, g);
}

size_t mp_graph_ninputs(const struct mp_graph *g) { return g->ninputs; }
int32_t mp_graph_input(const struct mp_graph *g, size_t i) { return g->inputs[i]; }
size_t mp_graph_noutputs(const struct mp_graph *g) { return g->noutputs; }
int32_t mp_graph_output(const struct mp_graph *g, size_t i) { return g->outputs[i]; }
size_t mp_graph_ninitializers(const struct mp_graph *g) { return g->ninits; }
int32_t mp_graph_initializer(const struct mp_graph *g, size_t i) { return g->inits[i]; }
size_t mp_graph_nmodules(const struct mp_graph *g) { return g->nmodules; }
const struct mp_module *mp_graph_module(const struct mp_graph *g, size_t i) { return &g->modules[i]; }
size_t mp_graph_nsymbols(const struct mp_graph *g) { return g->nsymbols; }
const char *mp_graph_symbol(const struct mp_graph *g, size_t i) { return g->symbols[i]; }

const char *mp_graph_node_problem(const struct mp_graph *g, size_t node)
{
	return g->problems ? g->problems[node] : NULL;
}

const char *mp_graph_dims_str(const struct mp_graph *g, const struct mp_value_info *vi,
                              char *buf, size_t size)
{
	size_t pos = 0;
	if (!size)
		return buf;
	if (vi->ndim < 0) {
		snprintf(buf, size, "?");
		return buf;
	}
	buf[0] = '\0';
	pos += (size_t)snprintf(buf, size, "[");
	for (int i = 0; i < vi->ndim && pos < size; i++) {
		int64_t d = vi->dims[i];
		const char *sep = i ? ", " : "";
		if (d >= 0)
			pos += (size_t)snprintf(buf + pos, size - pos, "%s%lld", sep, (long long)d);
		else if (MP_DIM_IS_SYM(d) && (size_t)MP_DIM_SYM_INDEX(d) < g->nsymbols)
			pos += (size_t)snprintf(buf + pos, size - pos, "%s%s", sep,
			                        g->symbols[MP_DIM_SYM_INDEX(d)]);
		else
			pos += (size_t)snprintf(buf + pos, size - pos, "%s?", sep);
	}
	if (pos < size)
		snprintf(buf + pos, size - pos, "]");
	return buf;
}
