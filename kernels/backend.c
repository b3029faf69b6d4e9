/* backend.c - what every backend shares: freeing one through its table. */
#include "backend.h"

#include <stdlib.h>

void mp_backend_free(struct mp_backend *b)
{
	if (!b)
		return;
	b->iface->free(b->ctx);
	free(b);
}
