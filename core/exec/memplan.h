/* memplan.h - a run's device memory, planned from value lifetimes.
 *
 * The executor asks for every activation and temporary through here.  The
 * first run of a batch shape is recorded: each buffer's size, and the
 * moments it was taken and given back (its last reader done).  From that,
 * every later run of the same shape gets its buffers at fixed offsets of one
 * arena, laid out so that buffers alive at the same time never overlap
 * (greedy, largest first, as onnxruntime's memory patterns).  Fixed
 * addresses are also what lets a run be replayed as a CUDA graph.
 *
 * A run must ask for the same sizes in the same order as the recorded one;
 * the first request that differs ends the plan for that run (plain
 * allocations from then on) and for the shape.
 */
#ifndef MP_MEMPLAN_H
#define MP_MEMPLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"

struct mp_memplan;

enum mp_memplan_state {
	MP_MEMPLAN_EMPTY,   /* nothing known: the next run records */
	MP_MEMPLAN_READY,   /* a plan: the next runs use the arena */
	MP_MEMPLAN_OFF,     /* this shape does not plan (a run differed) */
};

enum mp_status mp_memplan_new(struct mp_backend *be, struct mp_memplan **out, struct mp_error *e);
/* Frees the planner; buffers still out keep the arena alive. */
void mp_memplan_free(struct mp_memplan *m);
/* Forgets the plan (a new batch shape); the arena is kept for reuse. */
void mp_memplan_reset(struct mp_memplan *m);
enum mp_memplan_state mp_memplan_state(const struct mp_memplan *m);

/* Brackets one run.  begin() records (EMPTY) or makes the arena ready
 * (READY); end(ok) turns a complete recording into a plan. */
enum mp_status mp_memplan_begin(struct mp_memplan *m, struct mp_error *e);
enum mp_status mp_memplan_end(struct mp_memplan *m, bool ok, struct mp_error *e);
/* Whether the run in progress takes its buffers from the arena. */
bool mp_memplan_planned(const struct mp_memplan *m);

/* A buffer of `size` bytes on the planner's backend: recorded, planned, or
 * plain outside a run. */
enum mp_status mp_memplan_alloc(struct mp_memplan *m, size_t size, struct mp_buffer **out, struct mp_error *e);

/* Whether b is a block of the arena; a new reference to the block holding
 * data (for values a replayed graph leaves behind). */
bool mp_memplan_owns(const struct mp_memplan *m, const struct mp_buffer *b);
struct mp_buffer *mp_memplan_block(struct mp_memplan *m, void *data, size_t size, struct mp_error *e);

/* The arena's size, and the sum of every recorded buffer (what a run would
 * hold without reuse). */
size_t mp_memplan_arena_bytes(const struct mp_memplan *m);
size_t mp_memplan_total_bytes(const struct mp_memplan *m);

#endif
