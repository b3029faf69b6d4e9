/* infer.c - static inference at load: dtypes always, shapes as far as the
 * model's symbolic input shapes allow.  A node whose inference fails keeps
 * the message (mp_graph_node_problem) and the pass goes on, so `inspect`
 * can show every problem at once; running stops at the first. */
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"
#include "ops.h"

enum mp_status mp_graph_infer_static(struct mp_graph *g, struct mp_error *e)
{
	struct mp_infer_val *vals = calloc(g->nvalues ? g->nvalues : 1, sizeof *vals);
	const struct mp_infer_val **in = NULL;
	struct mp_infer_val **out = NULL;
	int maxio = 1;
	enum mp_status st = MP_OK;

	g->problems = calloc(g->nnodes ? g->nnodes : 1, sizeof *g->problems);
	for (size_t i = 0; i < g->nnodes; i++) {
		if (g->nodes[i].ninputs > maxio)
			maxio = g->nodes[i].ninputs;
		if (g->nodes[i].noutputs > maxio)
			maxio = g->nodes[i].noutputs;
	}
	in = calloc((size_t)maxio, sizeof *in);
	out = calloc((size_t)maxio, sizeof *out);
	if (!vals || !g->problems || !in || !out) {
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < g->nvalues; i++) {
		vals[i].info = g->values[i].info;
		vals[i].value = g->values[i].data;
		vals[i].nsym = -1;
	}
	for (size_t i = 0; i < g->nnodes; i++) {
		struct mp_node *n = &g->nodes[i];
		struct mp_error ie = { 0 };
		struct mp_infer c = { .node = n, .ninputs = n->ninputs, .noutputs = n->noutputs,
		                      .in = in, .out = out, .e = &ie };
		void *params = NULL;
		enum mp_status ist = MP_OK;

		for (int k = 0; k < n->ninputs; k++) {
			int32_t id = n->inputs[k];
			in[k] = id >= 0 ? &vals[id] : NULL;
			if (id >= 0 && g->values[id].unsupported_type && !ist)
				ist = mp_error_set(&ie, MP_ERR_UNSUPPORTED,
				                   "input '%s' is a sequence, map or optional value",
				                   g->values[id].name);
		}
		for (int k = 0; k < n->noutputs; k++)
			out[k] = n->outputs[k] >= 0 ? &vals[n->outputs[k]] : NULL;
		if (!ist && n->params) {
			params = malloc(n->params_size);
			if (!params) {
				st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
				goto done;
			}
			memcpy(params, n->params, n->params_size);
			c.params = params;
			ist = mp_ops_infer(&c);
			free(params);
		} else if (!ist) {
			ist = MP_ERR_UNSUPPORTED; /* already explained by n->unsupported */
			ie.msg[0] = '\0';
		}
		if (ist) {
			n->invalid |= ist == MP_ERR_MODEL;
			if (ie.msg[0]) {
				g->problems[i] = mp_arena_strdup(&g->arena, ie.msg);
				if (!g->problems[i]) {
					st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
					goto done;
				}
			}
			/* fall back to what the model declares, else unknown */
			for (int k = 0; k < n->noutputs; k++) {
				if (!out[k])
					continue;
				const struct mp_value *v = &g->values[n->outputs[k]];
				if (v->has_declared) {
					out[k]->info = v->declared;
				} else {
					out[k]->info.dtype = MP_DTYPE_UNDEFINED;
					out[k]->info.ndim = -1;
				}
				out[k]->value = NULL;
				out[k]->nsym = -1;
			}
		}
		for (int k = 0; k < n->noutputs; k++)
			if (out[k])
				g->values[n->outputs[k]].info = out[k]->info;
	}
done:
	free(vals);
	free(in);
	free(out);
	return st;
}
