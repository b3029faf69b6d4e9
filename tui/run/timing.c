/* timing.c - `mpdbg run --timing`. */
#include "timing.h"

#include <stdlib.h>
#include <string.h>

enum { COLS = 1 + MP_PHASE_COUNT, WARM = 3 };

enum mp_status mp_run_timing_add(struct mp_run_timing *t, const struct mp_runner_result *res, struct mp_error *e)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		double *nr = realloc(t->rows, cap * COLS * sizeof *nr);
		if (!nr)
			return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		t->rows = nr;
		t->cap = cap;
	}
	double *row = t->rows + t->n * COLS;
	row[0] = res->ms;
	memcpy(row + 1, res->phase_ms, sizeof res->phase_ms);
	t->n++;
	return MP_OK;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The median of column c over rows [from, n). */
static double median(const struct mp_run_timing *t, size_t from, int c, double *tmp)
{
	size_t k = 0;
	for (size_t i = from; i < t->n; i++)
		tmp[k++] = t->rows[i * COLS + c];
	qsort(tmp, k, sizeof *tmp, by_value);
	return k % 2 ? tmp[k / 2] : (tmp[k / 2 - 1] + tmp[k / 2]) / 2;
}

static void print_exec(const char *what, const struct mp_exec_stats *s, FILE *f)
{
	fprintf(f, "%s: %zu run%s, %zu in the planned arena, %zu replayed as a graph; %zu fused group%s (%zu nodes), "
	           "%zu attention group%s (%zu nodes), %zu value%s narrowed\n",
	        what, s->runs, s->runs == 1 ? "" : "s", s->planned_runs, s->graph_replays, s->fused_groups,
	        s->fused_groups == 1 ? "" : "s", s->fused_nodes, s->attention_groups, s->attention_groups == 1 ? "" : "s",
	        s->attention_nodes, s->narrowed, s->narrowed == 1 ? "" : "s");
	if (s->graph_note[0])
		fprintf(f, "  no graph: %s\n", s->graph_note);
	if (s->fusion_note[0])
		fprintf(f, "  a group ran node by node: %s\n", s->fusion_note);
}

void mp_run_timing_print(const struct mp_run_timing *t, const struct mp_exec *x, const struct mp_probes *p, FILE *f)
{
	if (!t->n)
		return;
	size_t from = t->n > WARM ? WARM : 0;
	double *tmp = malloc(t->n * sizeof *tmp);
	if (!tmp)
		return;
	if (t->n == 1)
		fprintf(f, "timing of the one batch (ms):");
	else if (!from)
		fprintf(f, "timing, median of the %zu batches (ms):", t->n);
	else if (from + 1 == t->n)
		fprintf(f, "timing of batch %zu (ms; batches 1-%zu warm up):", t->n, from);
	else
		fprintf(f, "timing, median of batches %zu-%zu (ms; 1-%zu warm up):", from + 1, t->n, from);
	fprintf(f, " %.2f a batch =", median(t, from, 0, tmp));
	for (int c = 0; c < MP_PHASE_COUNT; c++)
		fprintf(f, "%s %s %.2f", c ? " +" : "", mp_run_phase_name((enum mp_run_phase)c), median(t, from, 1 + c, tmp));
	fprintf(f, "\n");
	free(tmp);
	struct mp_exec_stats s;
	mp_exec_get_stats(x, &s);
	print_exec("executor", &s, f);
	if (p && mp_probes_shadow_stats(p, &s))
		print_exec("fp32 shadow", &s, f);
}

void mp_run_timing_free(struct mp_run_timing *t)
{
	free(t->rows);
	memset(t, 0, sizeof *t);
}
