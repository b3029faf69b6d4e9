/* probes_internal.h - the probes' state, shared by the node-by-node path
 * (probes.c) and the planned path (planned.c); not for other modules. */
#ifndef MP_PROBES_INTERNAL_H
#define MP_PROBES_INTERNAL_H

#include "compare.h"
#include "probes.h"
#include "vec.h"

/* Requests go to a GPU in groups this large (or holding this many bytes of
 * tensors kept alive); the CPU computes each as it comes. */
enum { QUEUE_MAX = 512 };
/* The planned path measures the values of this many nodes in one go (on a
 * GPU one launch: exec.h's observer window) */
enum { PR_WINDOW = 32 };
#define QUEUE_MAX_BYTES ((size_t)256 << 20)

struct qreq {
	struct mp_probe_req r;
	struct mp_tensor a, b; /* shares of the tensors, released after the backend ran */
};

struct mp_probes {
	const struct mp_graph *g;
	struct mp_backend *be, *host;
	struct mp_probe_options o;
	enum mp_dtype low;
	struct mp_compare_run *cmp;   /* with --compare */
	struct mp_exec *x;
	mp_exec_hook next;
	void *next_user;
	/* the batch */
	bool active;
	size_t index;
	int64_t batch_size;
	int32_t *rec_of;              /* per value: its record, or -1 */
	struct mp_probe_record *recs;
	size_t nrecs, nslots;
	struct qreq *queue;
	size_t nq;
	size_t qbytes;
	struct mp_vec caps; /* of struct mp_capture */
	bool node_hit;
	struct mp_break_hit hit;
	/* the planned path (an observer, not a hook): a replayed run calls
	 * nobody, so its records are those of the run that was captured */
	bool planned;
	size_t replays0;                /* the executor's graph replays at mp_probes_begin */
	struct mp_probe_record *tmpl;   /* the records of the last run that was not a replay */
	size_t ntmpl;
	/* per slot: the slot whose results it shares (a view of the same
	 * bytes, measured once), or -1; and the template's */
	int32_t *same_as, *tmpl_same_as;
	/* --compare on the planned path: per slot, the compare flags the fp32
	 * shadow's last run that was not a replay set (a replay sets none) */
	uint32_t *cmp_tmpl;
	bool cmp_tmpl_valid;
	/* device copies of small host values (probes.c's copy cache) */
	struct mp_copy_entry *copies;
	size_t ncopies;
};

/* The queued requests to the backend, then the queue emptied. */
enum mp_status pr_flush(struct mp_probes *p, struct mp_error *e);
/* Statistics and diversity of value (node: its producer, -1 for a graph
 * input) queued, its record made; on the node-by-node path its capture. */
enum mp_status pr_probe_value(struct mp_probes *p, struct mp_exec *x, int32_t value, int32_t node,
                              struct mp_error *e);
bool pr_capture_wanted(const struct mp_probes *p, int32_t value, const struct mp_node *n);
enum mp_status pr_capture(struct mp_probes *p, struct mp_exec *x, int32_t value, struct mp_error *e);
/* The fp32 shadow's mp_compare_fn: node i's comparisons queued. */
enum mp_status pr_compare_node(void *user, size_t i, const struct mp_tensor *const *ref,
                               const struct mp_tensor *const *own, struct mp_error *e);
bool pr_breaks_on(const struct mp_probes *p, enum mp_break_kind k);

/* planned.c: the observer set on x; the batch's start (the records of
 * values there before the run) and its end (records of a replayed run,
 * the comparison with the fp32 shadow, captures). */
void pr_planned_attach(struct mp_probes *p, struct mp_exec *x);
enum mp_status pr_planned_begin(struct mp_probes *p, struct mp_exec *x, struct mp_error *e);
enum mp_status pr_planned_end(struct mp_probes *p, struct mp_error *e);

#endif
