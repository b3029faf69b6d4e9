/* prefetch.h - one batch read ahead on a thread of its own, so that the
 * host reads batch i+1 (the file, its header, its pages) while the device
 * runs batch i.
 *
 *   mp_prefetch_start(src, i + 1, &p, e)   the thread starts reading
 *   ...batch i runs...
 *   mp_prefetch_finish(p, &b, e)           waits for it: the batch, or the
 *                                          load's own status and message
 *   mp_prefetch_free(p)                    or drops it (waits, frees)
 *
 * The thread only calls mp_batch_load, which reads the source and writes
 * nothing shared, and touches the batch's pages; the batch is the caller's
 * once finished. */
#ifndef MP_PREFETCH_H
#define MP_PREFETCH_H

#include <stddef.h>

#include "batch.h"
#include "error.h"

struct mp_prefetch;

/* Starts reading batch index of src (which must outlive the prefetch) on
 * a new thread. */
enum mp_status mp_prefetch_start(const struct mp_batch_source *src, size_t index, struct mp_prefetch **out,
                                 struct mp_error *e);
/* The batch it reads. */
size_t mp_prefetch_index(const struct mp_prefetch *p);
/* Waits for the thread and frees p: *out is the batch (the caller's), or
 * NULL with mp_batch_load's status and message, word for word. */
enum mp_status mp_prefetch_finish(struct mp_prefetch *p, struct mp_batch **out, struct mp_error *e);
/* Waits for the thread, drops what it read and frees p; NULL is fine. */
void mp_prefetch_free(struct mp_prefetch *p);

#endif
