/* error.h - status codes and the error record every fallible call fills.
 *
 * Functions that can fail return an enum mp_status (MP_OK = 0) and, on
 * failure, write a human message into a struct mp_error owned by the caller.
 * The numbers never change meaning: sessions and scripts may store them.
 */
#ifndef MP_ERROR_H
#define MP_ERROR_H

#include <stdarg.h>

enum mp_status {
	MP_OK = 0,
	MP_ERR_NOMEM = 1,       /* an allocation failed or would exceed a cap */
	MP_ERR_IO = 2,          /* a file could not be opened, mapped, read or written */
	MP_ERR_FORMAT = 3,      /* malformed input: protobuf, ONNX, safetensors, JSON */
	MP_ERR_UNSUPPORTED = 4, /* valid input that mpdbg does not handle (op, dtype, attribute) */
	MP_ERR_MODEL = 5,       /* a well-formed model that is inconsistent (types, shapes, graph) */
	MP_ERR_INPUT = 6,       /* a batch that does not fit the model */
	MP_ERR_USAGE = 7,       /* bad command-line usage or API argument */
	MP_ERR_DEVICE = 8,      /* the compute device failed or is absent */
	MP_ERR_INTERNAL = 9,    /* a bug in mpdbg */
	MP_ERR_INTERRUPTED = 10,/* stopped on request */
	MP_ERR_MISMATCH = 11,   /* a node's inputs disagree in dtype and the policy stops there */
	MP_ERR_BREAK = 12,      /* a breakpoint's condition was met */
	MP_ERR_LIMIT = 13,      /* input over a limit stated in advance (nodes, values, a run's
	                         * memory); the message names the option that raises it */
	MP_STATUS_COUNT
};

#define MP_ERROR_MSG_MAX 2048

struct mp_error {
	enum mp_status status;
	char msg[MP_ERROR_MSG_MAX];
};

/* Sets the error and returns st, so callers can `return mp_error_set(...)`.
 * e may be NULL. */
enum mp_status mp_error_set(struct mp_error *e, enum mp_status st,
                            const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
enum mp_status mp_error_vset(struct mp_error *e, enum mp_status st,
                             const char *fmt, va_list ap);

/* Prepends context ("model.onnx: ") to the message already set and returns
 * the stored status. */
enum mp_status mp_error_prefix(struct mp_error *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void mp_error_clear(struct mp_error *e);

/* A short name of the status ("malformed input"). */
const char *mp_status_str(enum mp_status st);

/* Returns the status of x from the function that evaluates it when it is
 * not MP_OK (x has set the error). */
#define MP_TRY(x)                                \
	do {                                     \
		enum mp_status st_ = (x);        \
		if (st_)                         \
			return st_;              \
	} while (0)

#endif
