/* op.c - the op info table, generated from ops.def. */
#include "op.h"

#include <string.h>

static const struct mp_op_info infos[MP_OP_COUNT] = {
	[MP_OP_NONE] = { "?", MP_FAMILY_COUNT, 0 },
#define MP_OP(id, name, family, since) [MP_OP_##id] = { name, MP_FAMILY_##family, since },
#include "ops.def"
#undef MP_OP
};

const struct mp_op_info *mp_op_info(enum mp_op op)
{
	if ((unsigned)op >= MP_OP_COUNT)
		return &infos[MP_OP_NONE];
	return &infos[op];
}

const char *mp_op_name(enum mp_op op)
{
	return mp_op_info(op)->name;
}

enum mp_op mp_op_lookup(const char *onnx_name)
{
	/* linear: ~150 short compares once per node at load */
	for (int op = 1; op < MP_OP_COUNT; op++)
		if (!strcmp(infos[op].name, onnx_name))
			return (enum mp_op)op;
	return MP_OP_NONE;
}
