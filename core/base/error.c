/* error.c - the error record: formatting, prefixing, status names. */
#include "error.h"

#include <stdio.h>
#include <string.h>

enum mp_status mp_error_vset(struct mp_error *e, enum mp_status st,
                             const char *fmt, va_list ap)
{
	if (!e)
		return st;
	e->status = st;
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	return st;
}

enum mp_status mp_error_set(struct mp_error *e, enum mp_status st,
                            const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mp_error_vset(e, st, fmt, ap);
	va_end(ap);
	return st;
}

enum mp_status mp_error_prefix(struct mp_error *e, const char *fmt, ...)
{
	char head[MP_ERROR_MSG_MAX];
	va_list ap;
	size_t hl, ol;

	if (!e)
		return MP_ERR_INTERNAL;
	va_start(ap, fmt);
	vsnprintf(head, sizeof head, fmt, ap);
	va_end(ap);
	/* keep as much of the old message as fits after the new head */
	hl = strlen(head);
	ol = strnlen(e->msg, sizeof e->msg - 1);
	if (hl + ol > sizeof e->msg - 1)
		ol = sizeof e->msg - 1 - hl;
	memmove(e->msg + hl, e->msg, ol);
	memcpy(e->msg, head, hl);
	e->msg[hl + ol] = '\0';
	return e->status;
}

void mp_error_clear(struct mp_error *e)
{
	if (!e)
		return;
	e->status = MP_OK;
	e->msg[0] = '\0';
}

const char *mp_status_str(enum mp_status st)
{
	static const char *const names[MP_STATUS_COUNT] = {
		[MP_OK] = "ok",
		[MP_ERR_NOMEM] = "out of memory",
		[MP_ERR_IO] = "i/o error",
		[MP_ERR_FORMAT] = "malformed input",
		[MP_ERR_UNSUPPORTED] = "unsupported",
		[MP_ERR_MODEL] = "invalid model",
		[MP_ERR_INPUT] = "input does not fit the model",
		[MP_ERR_USAGE] = "usage error",
		[MP_ERR_DEVICE] = "device error",
		[MP_ERR_INTERNAL] = "internal error",
		[MP_ERR_INTERRUPTED] = "interrupted",
		[MP_ERR_MISMATCH] = "dtype mismatch",
		[MP_ERR_BREAK] = "breakpoint",
		[MP_ERR_LIMIT] = "over a stated limit",
	};
	if ((unsigned)st >= MP_STATUS_COUNT)
		return "unknown status";
	return names[st];
}
