/* op.c - the op info table, generated from ops.def. */
#include "op.h"

#include <string.h>

/* ops.def's flags column names the traits without their prefix */
#define AUTOCAST_LOW MP_OPF_AUTOCAST_LOW
#define AUTOCAST_FP32 MP_OPF_AUTOCAST_FP32
#define STRICT MP_OPF_STRICT
#define FUSABLE MP_OPF_FUSABLE
#define NARROWS MP_OPF_NARROWS
#define MOVES_DATA MP_OPF_MOVES_DATA
#define HOST_ONLY MP_OPF_HOST_ONLY

static const struct mp_op_info infos[MP_OP_COUNT] = {
	[MP_OP_NONE] = { "?", MP_FAMILY_COUNT, 0, 0 },
#define MP_OP(id, name, family, since, flags) [MP_OP_##id] = { name, MP_FAMILY_##family, since, (flags) },
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

bool mp_op_has(enum mp_op op, enum mp_op_flag flag)
{
	return (mp_op_info(op)->flags & (unsigned)flag) != 0;
}

enum mp_op mp_op_lookup(const char *onnx_name)
{
	/* linear: ~150 short compares once per node at load */
	for (int op = 1; op < MP_OP_COUNT; op++)
		if (!strcmp(infos[op].name, onnx_name))
			return (enum mp_op)op;
	return MP_OP_NONE;
}
