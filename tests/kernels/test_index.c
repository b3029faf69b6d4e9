/* test_index.c - the CPU kernels that index or broadcast by the model's
 * word (Scatter*, GatherElements, GatherND, LayerNormalization, integer
 * ReduceLogSum) refuse an index or a shape that would take them outside a
 * tensor, with a message naming the input and the offending value, rather
 * than reading or writing past it (issue 13: run under ASan/UBSan). */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cmocka_tap.h"

static struct mp_backend *cpu;

static int setup(void **state)
{
	struct mp_error e = { 0 };
	(void)state;
	return mp_backend_cpu_new(1, &cpu, &e) ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	mp_backend_free(cpu);
	return 0;
}

/* A tensor over caller storage. */
static struct mp_tensor tensor(enum mp_dtype dt, int ndim, const int64_t *dims, void *data)
{
	struct mp_tensor t;
	mp_tensor_init(&t, dt, ndim, dims);
	t.data = data;
	return t;
}

static enum mp_status call(enum mp_op op, const void *params, int nin, const struct mp_tensor *const *in,
                           struct mp_tensor *out, struct mp_error *e)
{
	struct mp_op_call c = { .op = op, .params = params, .ninputs = nin, .noutputs = 1, .in = in,
	                        .out = (struct mp_tensor *const[]){ out } };
	mp_op_fn fn = mp_backend_op(cpu, op);
	assert_non_null(fn);
	return fn(cpu->ctx, &c, e);
}

static void test_scatter_elements(void **state)
{
	(void)state;
	float data[6] = { 0 }, upd[2] = { 1, 2 }, out[6];
	int64_t idx[2] = { 0, 2 };
	struct mp_tensor x = tensor(MP_F32, 2, (int64_t[]){ 2, 3 }, data);
	struct mp_tensor i = tensor(MP_I64, 2, (int64_t[]){ 1, 2 }, idx);
	struct mp_tensor u = tensor(MP_F32, 2, (int64_t[]){ 1, 2 }, upd);
	struct mp_tensor o = tensor(MP_F32, 2, (int64_t[]){ 2, 3 }, out);
	struct mp_scatter_params p = { .axis = 1, .axis_resolved = 1 };
	struct mp_error e = { 0 };
	assert_int_equal(call(MP_OP_SCATTER_ELEMENTS, &p, 3, (const struct mp_tensor *[]){ &x, &i, &u }, &o, &e), MP_OK);
	assert_true(out[0] == 1 && out[2] == 2);
	/* an index past the axis: refused, naming it */
	idx[1] = 7;
	assert_int_equal(call(MP_OP_SCATTER_ELEMENTS, &p, 3, (const struct mp_tensor *[]){ &x, &i, &u }, &o, &e),
	                 MP_ERR_INPUT);
	assert_non_null(strstr(e.msg, "indices (input 1) hold 7, out of range for axis 1 of size 3"));
	idx[1] = -4;
	assert_int_equal(call(MP_OP_SCATTER_ELEMENTS, &p, 3, (const struct mp_tensor *[]){ &x, &i, &u }, &o, &e),
	                 MP_ERR_INPUT);
	assert_non_null(strstr(e.msg, "hold -4"));
	/* updates shorter than indices would be read past */
	idx[1] = 1;
	struct mp_tensor u1 = tensor(MP_F32, 2, (int64_t[]){ 1, 1 }, upd);
	assert_int_equal(call(MP_OP_SCATTER_ELEMENTS, &p, 3, (const struct mp_tensor *[]){ &x, &i, &u1 }, &o, &e),
	                 MP_ERR_INPUT);
	assert_non_null(strstr(e.msg, "updates (input 2) has shape [1, 1]"));
	/* indices longer than data on an axis they do not index */
	int64_t big[3] = { 0, 0, 0 };
	float upd3[3] = { 0 };
	struct mp_tensor i3 = tensor(MP_I64, 2, (int64_t[]){ 3, 1 }, big);
	struct mp_tensor u3 = tensor(MP_F32, 2, (int64_t[]){ 3, 1 }, upd3);
	assert_int_equal(call(MP_OP_SCATTER_ELEMENTS, &p, 3, (const struct mp_tensor *[]){ &x, &i3, &u3 }, &o, &e),
	                 MP_ERR_INPUT);
	assert_non_null(strstr(e.msg, "indices (input 1) has shape [3, 1]"));
}

static void test_scatter_nd(void **state)
{
	(void)state;
	float data[8] = { 0 }, upd[4] = { 1, 2, 3, 4 }, out[8];
	int64_t idx[2] = { 1, 0 };
	struct mp_tensor x = tensor(MP_F32, 2, (int64_t[]){ 4, 2 }, data);
	struct mp_tensor i = tensor(MP_I64, 2, (int64_t[]){ 2, 1 }, idx);
	struct mp_tensor u = tensor(MP_F32, 2, (int64_t[]){ 2, 2 }, upd);
	struct mp_tensor o = tensor(MP_F32, 2, (int64_t[]){ 4, 2 }, out);
	struct mp_scatter_params p = { 0 };
	struct mp_error e = { 0 };
	assert_int_equal(call(MP_OP_SCATTER_ND, &p, 3, (const struct mp_tensor *[]){ &x, &i, &u }, &o, &e), MP_OK);
	assert_true(out[2] == 1 && out[3] == 2 && out[0] == 3);
	idx[0] = 4;
	assert_int_equal(call(MP_OP_SCATTER_ND, &p, 3, (const struct mp_tensor *[]){ &x, &i, &u }, &o, &e),
	                 MP_ERR_INPUT);
	assert_non_null(strstr(e.msg, "hold 4, out of range for axis 0 of size 4"));
	/* updates of the wrong shape: [2, 1] where [2, 2] is due */
	idx[0] = 1;
	struct mp_tensor u2 = tensor(MP_F32, 2, (int64_t[]){ 2, 1 }, upd);
	assert_int_equal(call(MP_OP_SCATTER_ND, &p, 3, (const struct mp_tensor *[]){ &x, &i, &u2 }, &o, &e),
	                 MP_ERR_INPUT);
	assert_non_null(strstr(e.msg, "updates (input 2) has shape [2, 1]"));
}

static void test_gather_elements(void **state)
{
	(void)state;
	float data[4] = { 1, 2, 3, 4 }, out[8];
	int64_t idx[8] = { 0 };
	struct mp_tensor x = tensor(MP_F32, 2, (int64_t[]){ 2, 2 }, data);
	struct mp_tensor i = tensor(MP_I64, 2, (int64_t[]){ 2, 4 }, idx);
	struct mp_tensor o = tensor(MP_F32, 2, (int64_t[]){ 2, 4 }, out);
	struct mp_gather_params p = { .axis = 0, .axis_resolved = 0 };
	struct mp_error e = { 0 };
	assert_int_equal(call(MP_OP_GATHER_ELEMENTS, &p, 2, (const struct mp_tensor *[]){ &x, &i }, &o, &e),
	                 MP_ERR_INPUT);
	assert_non_null(strstr(e.msg, "indices (input 1) has shape [2, 4]"));
	struct mp_tensor i2 = tensor(MP_I64, 2, (int64_t[]){ 2, 2 }, idx);
	struct mp_tensor o2 = tensor(MP_F32, 2, (int64_t[]){ 2, 2 }, out);
	idx[3] = 2;
	assert_int_equal(call(MP_OP_GATHER_ELEMENTS, &p, 2, (const struct mp_tensor *[]){ &x, &i2 }, &o2, &e),
	                 MP_ERR_INPUT);
	assert_non_null(strstr(e.msg, "hold 2, out of range for axis 0 of size 2"));
}

static void test_layer_norm_scale(void **state)
{
	(void)state;
	float xv[12] = { 0 }, sv[3] = { 1, 1, 1 }, out[12];
	struct mp_tensor x = tensor(MP_F32, 2, (int64_t[]){ 2, 6 }, xv);
	struct mp_tensor s = tensor(MP_F32, 1, (int64_t[]){ 3 }, sv);
	struct mp_tensor o = tensor(MP_F32, 2, (int64_t[]){ 2, 6 }, out);
	struct mp_norm_params p = { .epsilon = 1e-5f, .axis = -1, .axis_resolved = 1 };
	struct mp_error e = { 0 };
	assert_int_equal(call(MP_OP_RMS_NORMALIZATION, &p, 2, (const struct mp_tensor *[]){ &x, &s }, &o, &e),
	                 MP_ERR_INPUT);
	assert_non_null(strstr(e.msg, "scale (input 1) has shape [3], which does not broadcast onto the normalised dims [6]"));
}

static void test_reduce_log_sum_int(void **state)
{
	(void)state;
	int64_t xv[4] = { 0 }, out[1];
	struct mp_tensor x = tensor(MP_I64, 1, (int64_t[]){ 4 }, xv);
	struct mp_tensor o = tensor(MP_I64, 0, NULL, out);
	struct mp_reduce_params p = { .mask = 1 };
	struct mp_error e = { 0 };
	assert_int_equal(call(MP_OP_REDUCE_LOG_SUM, &p, 1, (const struct mp_tensor *[]){ &x }, &o, &e), MP_ERR_INPUT);
	assert_non_null(strstr(e.msg, "-inf (the log of a sum of 0), which int64 cannot hold"));
	xv[0] = 3;
	xv[1] = 4;
	assert_int_equal(call(MP_OP_REDUCE_LOG_SUM, &p, 1, (const struct mp_tensor *[]){ &x }, &o, &e), MP_OK);
	assert_int_equal(out[0], 1); /* log 7 = 1.95, truncated toward zero */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scatter_elements),
		cmocka_unit_test(test_scatter_nd),
		cmocka_unit_test(test_gather_elements),
		cmocka_unit_test(test_layer_norm_scale),
		cmocka_unit_test(test_reduce_log_sum_int),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, setup, teardown);
}
