/* app.h - the terminal UI's state, shared by its event loop (app.c), its
 * state (state.c), its keys and commands (keys.c, commands.c), its panes
 * (tui/panes/) and `mpdbg tui` (cmd_tui.c).
 *
 * The UI reads everything it shows from a session (sessions/view.h): a
 * recorded one, or in live mode the one its own runs record into, batch by
 * batch as the user steps (live.c). */
#ifndef MP_APP_H
#define MP_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "live.h"
#include "policy.h"
#include "probes.h"
#include "view.h"

struct mp_live;

enum mp_pane { MP_PANE_NODES, MP_PANE_TRACE, MP_PANE_COUNT };

/* A row of the node pane: a module (tree view) or a node. */
struct mp_row {
	bool is_module;
	int32_t id;
	int depth;
};

/* Break conditions that `c` looks for (and live runs stop at): MP_BC_*
 * bits, parsed and judged in probes/cond.h. */

struct mp_app {
	struct mp_view *v;
	struct mp_live *live;           /* NULL: replaying a recorded session */
	const char *model_label;        /* what the header names */
	const char *batches_dir;        /* --data: where else the pictures may open batch files */
	/* where the user is */
	size_t batch;                   /* position among committed batches */
	struct mp_view_batch *cur;      /* that batch, loaded */
	int32_t sel_node;               /* selected node (-1: none) */
	bool tree;                      /* module tree or flat list */
	bool *collapsed;                /* per module */
	bool *bp;                       /* per node: a breakpoint */
	unsigned *flags;                /* per node, for the loaded batch (MP_BC_*, MP_NF_*) */
	unsigned conds;                 /* MP_BC_* */
	double tol;
	struct mp_row *rows;
	size_t nrows, rows_cap;
	size_t top;                     /* first row shown */
	enum mp_pane focus;
	size_t trace_sel, trace_top;
	char trace_filter[256];
	size_t *trace_rows;             /* events shown, after the filter */
	size_t ntrace;
	enum mp_view_figure figure;
	double *strip;                  /* one figure per batch */
	size_t strip_n;
	bool strip_dirty;
	/* search */
	char search[256];
	/* the prompt line (":", "/", "g", "B") */
	char prompt_kind;
	char prompt[256];
	size_t prompt_len;
	/* a message for the bottom line */
	char msg[512];
	bool msg_error;
	bool help;
	/* a picture an action wrote, shown over the screen before the next
	 * draw, until a key ("": none) */
	char picture[512];
	bool color, utf8;
	/* stepping in live mode: nodes run so far (-1: not stepping) */
	long step_pos;
	char step_note[512];
	/* live: the same run under another policy (cmd_tui.c's) */
	enum mp_status (*rerun)(void *user, const char *policy, size_t batch, struct mp_live **live,
	                        struct mp_view **v, struct mp_error *e);
	void *rerun_user;
	/* pane geometry of the last draw, for mouse clicks */
	int nodes_y, nodes_x, nodes_h, nodes_w;
	int trace_y, trace_x, trace_h, trace_w;
	int strip_y, strip_x, strip_w;
	size_t strip_first;
};

/* Live runs: live.h. */

/* Drawing: every pane, laid out from the terminal's size (tui/panes/). */
void mp_app_draw(struct mp_app *a);

/* The event loop (app.c): returns the exit status. */
int mp_app_run(struct mp_app *a);
/* Slow work about to start: the message shown on the screen now (the
 * loop's one way to draw between keys), and a live batch's progress bar
 * (an mp_live_progress_fn; user is the app). */
void mp_app_busy(struct mp_app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool mp_app_progress(void *user, size_t batch, size_t node, size_t nnodes);

/* What a key's action did (keys.c), for the loop: never drawn by the
 * action itself. */
enum { MP_KEY_HANDLED = 1, MP_KEY_REDRAW = 2, MP_KEY_QUIT = 4 };
unsigned mp_app_key(struct mp_app *a, int ch);
/* The prompt's commands (commands.c): `:` lines, rerun, pictures,
 * stepping, break conditions. */
unsigned mp_app_command(struct mp_app *a, char *line);
void mp_app_rerun_policy(struct mp_app *a, const char *policy);
void mp_app_picture(struct mp_app *a, bool diversity);
void mp_app_live_step(struct mp_app *a, bool cont);
void mp_app_search(struct mp_app *a, const char *q, bool next);

/* The UI's state (state.c). */
void mp_app_free(struct mp_app *a);
void mp_app_msg(struct mp_app *a, bool err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The selected row: the node's, or (folded away) its module's; SIZE_MAX. */
size_t mp_app_sel_row(const struct mp_app *a);
void mp_app_scroll_to_sel(struct mp_app *a);
/* Shows a node: unfolds the modules it is in, selects and scrolls to it. */
void mp_app_show_node(struct mp_app *a, int32_t node);
/* Rows the node pane has on this screen (for page moves). */
int mp_app_pane_rows(void);
enum mp_status mp_app_init(struct mp_app *a, struct mp_view *v, struct mp_error *e);
void mp_app_build_rows(struct mp_app *a);
void mp_app_filter_trace(struct mp_app *a);
/* The batch strip's figures, when batches or the figure changed. */
void mp_app_refresh_strip(struct mp_app *a);
enum mp_status mp_app_goto_batch(struct mp_app *a, size_t pos, struct mp_error *e);

/* Flags of a node in the loaded batch (MP_BC_* bits, and the two below),
 * worked out once when the batch is loaded. */
enum { MP_NF_CAST = 32, MP_NF_HIT = 64 };
static inline unsigned mp_app_node_flags(const struct mp_app *a, int32_t node)
{
	return a->flags ? a->flags[node] : 0;
}
/* Where the loaded batch stopped (a breakpoint, a mismatch) or first went
 * NaN/Inf; -1. */
int32_t mp_app_stop_node(const struct mp_app *a);

#endif
