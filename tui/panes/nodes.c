/* nodes.c - the left column: the module tree or the flat node list, each
 * node with its op, dtype and shape and a flag column (breakpoint, then
 * the worst of what happened at it in the loaded batch). */
#include <stdio.h>
#include <string.h>

#include "pane.h"

/* The flag column: up to 3 symbols, worst first. */
static void draw_flags(const struct mp_app *a, int y, int x, int32_t node)
{
	unsigned f = mp_app_node_flags(a, node);
	static const struct { unsigned bit; char sym; enum mp_term_color pair; } order[] = {
		{ MP_BC_MISMATCH, '!', MP_TC_ERR }, { MP_BC_NAN, 'N', MP_TC_ERR }, { MP_BC_INF, 'I', MP_TC_ERR },
		{ MP_BC_OVERFLOW, 'O', MP_TC_WARN }, { MP_BC_TOL, 'E', MP_TC_WARN }, { MP_NF_CAST, 'c', MP_TC_CAST },
	};
	int k = 0;
	mvaddstr(y, x, "   ");
	if (a->bp[node]) {
		attrset(mp_pane_col(a, MP_TC_BREAK) | A_BOLD);
		mvaddch(y, x, '*');
		k = 1;
	}
	for (size_t i = 0; i < sizeof order / sizeof order[0] && k < 3; i++)
		if (f & order[i].bit) {
			attrset(mp_pane_col(a, order[i].pair) | A_BOLD);
			mvaddch(y, x + k++, (chtype)(unsigned char)order[i].sym);
		}
	attrset(A_NORMAL);
}

static const struct mp_view_stat *out_stat(const struct mp_app *a, int32_t node)
{
	const struct mp_view_node *n = &a->v->nodes[node];
	if (!a->cur || !n->noutputs || n->outputs[0] < 0)
		return NULL;
	const struct mp_view_stat *s = &a->cur->stats[n->outputs[0]];
	return s->present ? s : NULL;
}

static void draw_module(const struct mp_app *a, int y, int x, int w, int ind, int32_t id)
{
	const struct mp_view_module *m = &a->v->modules[id];
	const char *tw = a->collapsed[id] ? (a->utf8 ? "▸" : "+") : (a->utf8 ? "▾" : "-");
	mp_term_put(y, x, w, A_BOLD, "   %*s%s %s  (%d nodes)", ind, "", tw, m->name, m->last_node - m->first_node + 1);
}

static void draw_node(const struct mp_app *a, int y, int x, int w, int ind, int32_t id)
{
	bool sel = id == a->sel_node;
	attr_t base = sel ? (a->focus == MP_PANE_NODES ? A_REVERSE : A_UNDERLINE) : A_NORMAL;
	const struct mp_view_node *n = &a->v->nodes[id];
	const struct mp_view_stat *s = out_stat(a, id);
	bool not_run = a->live && a->step_pos >= 0 && id > a->step_pos;
	char info[128];
	const char *dt = s ? s->dtype : n->noutputs && n->outputs[0] >= 0 ? a->v->values[n->outputs[0]].dtype : "";
	snprintf(info, sizeof info, "%-9.9s %-8.8s %s", n->op, dt, s ? s->shape : "");
	int iw = w >= 70 ? 40 : w >= 50 ? 28 : 18, nw = w - 3 - ind - iw - 1;
	if (nw < 8)
		nw = w - 3 - ind - 1, iw = 0;
	bool here = a->live && a->step_pos >= 0 && id == a->step_pos;
	/* in the tree, a node's name without its module's path ("/a/b/MatMul": "MatMul") */
	const char *name = n->name, *slash = strrchr(name, '/');
	if (a->tree && slash && slash[1] && name[0] == '/')
		name = slash + 1;
	mp_term_put(y, x + 3, w - 3, base | (not_run ? mp_pane_col(a, MP_TC_DIM) : 0) | (here ? A_BOLD : 0),
	            "%*s%-*.*s %.*s", ind, "", nw, nw, name, iw, info);
	draw_flags(a, y, x, id);
}

void mp_pane_nodes_draw(struct mp_app *a, struct mp_rect r)
{
	a->nodes_y = r.y, a->nodes_x = r.x, a->nodes_h = r.h, a->nodes_w = r.w;
	if (r.h <= 0)
		return;
	if (a->top + (size_t)r.h > a->nrows)
		a->top = a->nrows > (size_t)r.h ? a->nrows - (size_t)r.h : 0;
	for (int k = 0; k < r.h; k++) {
		size_t i = a->top + (size_t)k;
		if (i >= a->nrows) {
			mp_term_put(r.y + k, r.x, r.w, A_NORMAL, "%s", "");
			continue;
		}
		const struct mp_row *row = &a->rows[i];
		int ind = row->depth * 2 < r.w / 3 ? row->depth * 2 : r.w / 3;
		if (row->is_module)
			draw_module(a, r.y + k, r.x, r.w, ind, row->id);
		else
			draw_node(a, r.y + k, r.x, r.w, ind, row->id);
	}
}
