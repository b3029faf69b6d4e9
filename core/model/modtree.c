/* modtree.c - the module tree: which PyTorch module each node came from.
 *
 * Two sources, as the two exporters record it:
 *   - the dynamo exporter: node metadata "pkg.torch.onnx.name_scopes", a
 *     Python list literal of dotted module paths ending with the op's own
 *     name, and "pkg.torch.onnx.class_hierarchy" with the classes alongside;
 *   - the TorchScript exporter: node names "/backbone/encoder/layer.0/.../MatMul",
 *     one segment per module, the last being the op.
 * Nodes with neither sit at the root.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

enum { MAX_SCOPES = 64 };

/* Parses a Python list of string literals into up to `max` arena strings.
 * Returns the count, or -1 when the text is not such a list. */
static int parse_pylist(struct mp_graph *g, const char *s, const char **out, int max)
{
	int n = 0;
	while (*s == ' ')
		s++;
	if (*s++ != '[')
		return -1;
	for (;;) {
		while (*s == ' ')
			s++;
		if (*s == ']')
			return n;
		char q = *s++;
		if (q != '\'' && q != '"')
			return -1;
		size_t len = 0;
		const char *p = s;
		while (*p && *p != q) {
			if (*p == '\\' && p[1])
				p++;
			p++;
			len++;
		}
		if (*p != q || n >= max)
			return -1;
		char *str = mp_arena_alloc(&g->arena, len + 1);
		if (!str)
			return -1;
		for (size_t i = 0; s < p; s++) {
			if (*s == '\\' && s + 1 < p)
				s++;
			str[i++] = *s;
		}
		out[n++] = str;
		s = p + 1;
		while (*s == ' ')
			s++;
		if (*s == ',')
			s++;
		else if (*s != ']')
			return -1;
	}
}

static const char *meta_get(const struct mp_node *n, const char *key)
{
	for (int i = 0; i < n->nmeta; i++)
		if (!strcmp(n->meta[i].key, key))
			return n->meta[i].value;
	return NULL;
}

struct tree {
	struct mp_module *mods;
	size_t n, cap;
	struct mp_name_map index; /* by "parent/segment" key, through keys[] */
	const char **keys;
};

static const char *key_of(const void *ctx, int32_t id)
{
	return ((const struct tree *)ctx)->keys[id];
}

/* Finds or adds the child `seg` of module `parent`. */
static int32_t child(struct mp_graph *g, struct tree *t, int32_t parent, const char *seg,
                     const char *cls)
{
	char head[32];
	snprintf(head, sizeof head, "%d/", parent);
	size_t hl = strlen(head), sl = strlen(seg);
	char *key = mp_arena_alloc(&g->arena, hl + sl + 1);
	if (!key)
		return -1;
	memcpy(key, head, hl);
	memcpy(key + hl, seg, sl + 1);

	int32_t id = mp_name_map_find(&t->index, key, key_of, t);
	if (id >= 0) {
		if (!t->mods[id].class_name && cls)
			t->mods[id].class_name = cls;
		return id;
	}
	if (t->n == t->cap)
		return -1;
	id = (int32_t)t->n++;
	struct mp_module *m = &t->mods[id], *p = &t->mods[parent];
	const char *pp = p->path;
	size_t pl = strlen(pp);
	char *path = mp_arena_alloc(&g->arena, pl + 1 + sl + 1);
	if (!path)
		return -1;
	snprintf(path, pl + 1 + sl + 1, "%s%s%s", pp, pl ? "." : "", seg);
	memset(m, 0, sizeof *m);
	m->name = mp_arena_strdup(&g->arena, seg);
	m->path = path;
	m->class_name = cls;
	m->parent = parent;
	m->first_child = m->next_sibling = -1;
	m->depth = p->depth + 1;
	t->keys[id] = key;
	/* append as last child, keeping the order modules first appear in */
	if (p->first_child < 0) {
		p->first_child = id;
	} else {
		int32_t c = p->first_child;
		while (t->mods[c].next_sibling >= 0)
			c = t->mods[c].next_sibling;
		t->mods[c].next_sibling = id;
	}
	int32_t dup;
	mp_name_map_insert(&t->index, key, id, key_of, t, &dup);
	return m->name ? id : -1;
}

static const char *short_class(struct mp_graph *g, const char *cls)
{
	const char *dot = strrchr(cls, '.');
	return mp_arena_strdup(&g->arena, dot ? dot + 1 : cls);
}

/* The module of one node, created on the way; -1 on no memory. */
static int32_t place(struct mp_graph *g, struct tree *t, const struct mp_node *n)
{
	const char *scopes_s = meta_get(n, "pkg.torch.onnx.name_scopes");
	const char *classes_s = meta_get(n, "pkg.torch.onnx.class_hierarchy");
	const char *scopes[MAX_SCOPES], *classes[MAX_SCOPES];
	int ns, nc = -1;
	int32_t cur = 0;

	if (scopes_s && (ns = parse_pylist(g, scopes_s, scopes, MAX_SCOPES)) >= 2) {
		if (classes_s)
			nc = parse_pylist(g, classes_s, classes, MAX_SCOPES);
		if (nc >= 1 && !t->mods[0].class_name)
			t->mods[0].class_name = short_class(g, classes[0]);
		/* scopes[0] is the root (""), scopes[ns-1] the op itself */
		for (int i = 1; i < ns - 1; i++) {
			const char *prev = scopes[i - 1], *seg = scopes[i];
			size_t pl = strlen(prev);
			if (pl && !strncmp(seg, prev, pl) && seg[pl] == '.')
				seg += pl + 1;
			if (!seg[0])
				continue;
			cur = child(g, t, cur, seg, nc > i ? short_class(g, classes[i]) : NULL);
			if (cur < 0)
				return -1;
		}
		return cur;
	}
	if (n->name[0] == '/') {
		const char *s = n->name + 1;
		for (;;) {
			const char *slash = strchr(s, '/');
			if (!slash)
				break; /* the last segment names the op */
			if (slash > s) {
				/* a container's children are named "head.0" under "head":
				 * keep the part relative to the parent, as PyTorch paths do */
				const char *pn = t->mods[cur].name;
				size_t pl = strlen(pn);
				const char *st = s;
				if (cur && pl && (size_t)(slash - s) > pl + 1 && !strncmp(s, pn, pl) && s[pl] == '.')
					st = s + pl + 1;
				char *seg = mp_arena_strndup(&g->arena, st, (size_t)(slash - st));
				if (!seg)
					return -1;
				cur = child(g, t, cur, seg, NULL);
				if (cur < 0)
					return -1;
			}
			s = slash + 1;
		}
	}
	return cur;
}

enum mp_status mp_modtree_build(struct mp_graph *g, struct mp_error *e)
{
	struct tree t = { 0 };
	enum mp_status st;
	/* every node adds at most MAX_SCOPES modules; TorchScript names add one
	 * per '/' - bound by both */
	size_t cap = 1;
	for (size_t i = 0; i < g->nnodes; i++) {
		size_t slashes = 0;
		for (const char *p = g->nodes[i].name; *p; p++)
			slashes += *p == '/';
		cap += slashes > MAX_SCOPES ? slashes : MAX_SCOPES;
	}
	if (cap > 4 * g->nnodes + 4096)
		cap = 4 * g->nnodes + 4096;
	t.cap = cap;
	t.mods = mp_arena_array(&g->arena, cap, sizeof *t.mods);
	t.keys = calloc(cap, sizeof *t.keys);
	if (!t.mods || !t.keys) {
		free(t.keys);
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	}
	if ((st = mp_name_map_init(&t.index, cap, e))) {
		free(t.keys);
		return st;
	}
	t.n = 1;
	t.mods[0].name = "";
	t.mods[0].path = "";
	t.mods[0].parent = t.mods[0].first_child = t.mods[0].next_sibling = -1;
	for (size_t i = 0; i < g->nnodes; i++) {
		int32_t m = place(g, &t, &g->nodes[i]);
		if (m < 0)
			m = 0; /* out of room: the root still holds it */
		g->nodes[i].module = m;
		t.mods[m].nnodes++;
	}
	/* parameters: each initializer counts where it is first used */
	for (size_t i = 0; i < g->ninits; i++) {
		const struct mp_value *v = &g->values[g->inits[i]];
		int64_t n = 1;
		for (int d = 0; d < v->info.ndim; d++)
			n *= v->info.dims[d];
		if (v->nconsumers > 0)
			t.mods[g->nodes[v->consumers[0]].module].nparams += n;
		else
			t.mods[0].nparams += n;
	}
	/* totals up the tree: children always come after their parent */
	for (size_t i = 0; i < t.n; i++)
		t.mods[i].nnodes_total = t.mods[i].nnodes;
	for (size_t i = t.n; i-- > 1;) {
		struct mp_module *m = &t.mods[i];
		t.mods[m->parent].nnodes_total += m->nnodes_total;
		t.mods[m->parent].nparams += m->nparams;
	}
	g->modules = t.mods;
	g->nmodules = t.n;
	mp_name_map_free(&t.index);
	free(t.keys);
	return MP_OK;
}
