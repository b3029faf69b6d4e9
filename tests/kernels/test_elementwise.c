/* test_elementwise.c - broadcasting in the CPU kernels, on random shapes
 * (size-1 dims, missing leading dims, zero-size dims, strided views),
 * against a naive index-by-index float64 reference; and the stored dtypes
 * (bf16, f16, int8) round once, as PyTorch does. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_tap.h"
#include "cpu.h"

static unsigned rng = 2463534242u;
static unsigned next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

/* A random shape for an operand that must broadcast to out. */
static int operand_shape(int nout, const int64_t *out, int64_t *shape)
{
	int n = nout - (int)(next() % (unsigned)(nout + 1));
	for (int i = 0; i < n; i++)
		shape[i] = next() % 3 == 0 ? 1 : out[nout - n + i];
	return n;
}

/* Element of t at the output multi-index idx (broadcast rules), as double. */
static double at(const struct mp_tensor *t, int nout, const int64_t *idx)
{
	int64_t off = 0;
	for (int d = 0; d < t->ndim; d++) {
		int64_t i = idx[nout - t->ndim + d];
		off += (t->shape[d] == 1 ? 0 : i) * t->strides[d];
	}
	double v;
	mp_dtype_traits(t->dtype)->load_f64((const char *)t->data + off, 1, &v, 1);
	return v;
}

static double op_ref(enum mp_op op, double a, double b)
{
	switch (op) {
	case MP_OP_ADD: return a + b;
	case MP_OP_SUB: return a - b;
	case MP_OP_MUL: return a * b;
	default: return a > b;
	}
}

static void one_case(enum mp_op op, enum mp_dtype dt)
{
	int64_t out[6];
	int nout = 1 + (int)(next() % 5);
	for (int i = 0; i < nout; i++)
		out[i] = next() % 11 == 0 ? 0 : 1 + (int64_t)(next() % 5);
	struct mp_tensor a, b, o;
	int64_t as[6], bs[6];
	int na = operand_shape(nout, out, as), nb = operand_shape(nout, out, bs);
	/* the output shape is what they broadcast to */
	int64_t os[6];
	for (int i = 0; i < nout; i++) {
		int64_t da = i >= nout - na ? as[i - (nout - na)] : 1, db = i >= nout - nb ? bs[i - (nout - nb)] : 1;
		os[i] = da != 1 ? da : db;
	}
	mp_tensor_init(&a, dt, na, as);
	mp_tensor_init(&b, dt, nb, bs);
	enum mp_dtype odt = op == MP_OP_GREATER ? MP_BOOL : dt;
	mp_tensor_init(&o, odt, nout, os);
	/* a is read through a transposed (strided) view half of the time */
	size_t es = mp_dtype_size(dt);
	int64_t n_a = mp_tensor_numel(&a), n_b = mp_tensor_numel(&b), n_o = mp_tensor_numel(&o);
	void *pa = calloc((size_t)n_a + 1, es), *pb = calloc((size_t)n_b + 1, es), *po = calloc((size_t)n_o + 1, 8);
	double *vals = malloc(((size_t)(n_a > n_b ? n_a : n_b) + 1) * sizeof *vals);
	for (int64_t i = 0; i < n_a; i++)
		vals[i] = (double)((int)(next() % 200) - 100) / (dt == MP_I8 ? 8 : 7);
	mp_dtype_traits(dt)->store_f64(vals, pa, (size_t)n_a);
	for (int64_t i = 0; i < n_b; i++)
		vals[i] = (double)((int)(next() % 200) - 100) / (dt == MP_I8 ? 8 : 3);
	mp_dtype_traits(dt)->store_f64(vals, pb, (size_t)n_b);
	a.data = pa;
	b.data = pb;
	o.data = po;
	if (na >= 2 && next() % 2) { /* view a as its transpose of a transposed buffer */
		int64_t t = a.strides[na - 1];
		a.strides[na - 1] = a.strides[na - 2];
		a.strides[na - 2] = t;
		t = a.shape[na - 1];
		a.shape[na - 1] = a.shape[na - 2];
		a.shape[na - 2] = t;
		/* keep it broadcastable: the output dims follow */
		for (int i = 0; i < nout; i++) {
			int64_t da = i >= nout - na ? a.shape[i - (nout - na)] : 1, db = i >= nout - nb ? bs[i - (nout - nb)] : 1;
			if (da != 1 && db != 1 && da != db)
				a.shape[i - (nout - na)] = 1; /* collapse a clash to a broadcast */
			da = i >= nout - na ? a.shape[i - (nout - na)] : 1;
			os[i] = da != 1 ? da : db;
		}
		mp_tensor_init(&o, odt, nout, os);
		o.data = po;
		if (mp_tensor_numel(&o) > n_o)
			goto out; /* grew past the buffer: skip this draw */
	}
	struct mp_binary_params p = { .legacy_axis = -1 };
	const struct mp_tensor *ins[2] = { &a, &b };
	struct mp_tensor *outs[1] = { &o };
	struct mp_op_call c = { .op = op, .params = &p, .ninputs = 2, .noutputs = 1, .in = ins, .out = outs };
	struct mp_error e = { 0 };
	assert_int_equal(cpu_binary(NULL, &c, &e), MP_OK);
	int64_t idx[6] = { 0 };
	for (int64_t f = 0; f < mp_tensor_numel(&o); f++) {
		double want = op_ref(op, at(&a, nout, idx), at(&b, nout, idx)), got;
		/* the reference rounds once to the stored type, as the kernel must;
		 * integers wrap, as in PyTorch and numpy */
		unsigned char tmp[8];
		if (mp_dtype_traits(odt)->is_int) {
			int64_t w = (int64_t)want;
			mp_dtype_traits(odt)->store_i64(&w, tmp, 1);
		} else {
			mp_dtype_traits(odt)->store_f64(&want, tmp, 1);
		}
		mp_dtype_traits(odt)->load_f64(tmp, 1, &want, 1);
		mp_dtype_traits(odt)->load_f64((const char *)o.data + (size_t)f * mp_dtype_size(odt), 1, &got, 1);
		if (memcmp(&got, &want, sizeof got) != 0)
			fail_msg("%s %s, output element %lld: %.9g, expected %.9g", mp_op_name(op), mp_dtype_name(dt),
			         (long long)f, got, want);
		for (int d = nout - 1; d >= 0; d--) {
			if (++idx[d] < o.shape[d])
				break;
			idx[d] = 0;
		}
	}
out:
	free(pa);
	free(pb);
	free(po);
	free(vals);
}

static void test_random_broadcasts(void **state)
{
	(void)state;
	static const enum mp_op ops[] = { MP_OP_ADD, MP_OP_SUB, MP_OP_MUL, MP_OP_GREATER };
	static const enum mp_dtype dts[] = { MP_F32, MP_BF16, MP_F16, MP_I8, MP_F64 };
	for (int k = 0; k < 3000; k++)
		one_case(ops[next() % 4], dts[next() % 5]);
}

static void test_iter_merges(void **state)
{
	(void)state;
	/* contiguous operands of one shape become one run */
	struct mp_tensor a, o;
	mp_tensor_init(&a, MP_F32, 3, (int64_t[]){ 2, 3, 4 });
	mp_tensor_init(&o, MP_F32, 3, (int64_t[]){ 2, 3, 4 });
	float buf[24];
	a.data = o.data = buf;
	struct cpu_iter it;
	cpu_iter_init(&it, 2, (const struct mp_tensor *const[]){ &o, &a });
	assert_int_equal(it.ndim, 1);
	assert_int_equal(cpu_iter_run(&it), 24);
	int runs = 0;
	while (cpu_iter_next(&it))
		runs++;
	assert_int_equal(runs, 1);
	/* a broadcast row keeps its dims apart */
	struct mp_tensor row;
	mp_tensor_init(&row, MP_F32, 1, (int64_t[]){ 4 });
	row.data = buf;
	cpu_iter_init(&it, 2, (const struct mp_tensor *const[]){ &o, &row });
	assert_int_equal(it.ndim, 2);
	assert_int_equal(cpu_iter_run(&it), 4);
	assert_int_equal(cpu_iter_inner_stride(&it, 1), 4);
	/* an empty output has no runs */
	mp_tensor_init(&o, MP_F32, 2, (int64_t[]){ 3, 0 });
	cpu_iter_init(&it, 1, (const struct mp_tensor *const[]){ &o });
	assert_false(cpu_iter_next(&it));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iter_merges),
		cmocka_unit_test(test_random_broadcasts),
	};
	return MP_RUN_TESTS(tests);
}
