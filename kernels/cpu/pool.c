/* pool.c - CPU MaxPool (with Indices), AveragePool, LpPool and the global
 * pools, over any number of spatial dims. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

/* The window's positions inside [-pad_begin, in + pad_end) at output
 * position oidx: what count_include_pad divides by. */
static int64_t pool_padded(const struct mp_pool_params *p, const struct mp_tensor *X, const int64_t *oidx)
{
	int64_t padded = 1;
	for (int d = 0; d < p->nspatial; d++) {
		int64_t start = oidx[d] * p->stride[d] - p->pad_begin[d], n = 0;
		for (int64_t k = 0; k < p->k[d]; k++) {
			int64_t pos = start + k * p->dilation[d];
			n += pos < X->shape[2 + d] + p->pad_end[d];
		}
		padded *= n;
	}
	return padded;
}

/* The next multi-index over dims[0..ns) in row-major order (wrapping). */
static void pool_next(int64_t *idx, int ns, const int64_t *dims)
{
	for (int d = ns - 1; d >= 0; d--) {
		if (++idx[d] < dims[d])
			break;
		idx[d] = 0;
	}
}

enum mp_status cpu_pool(void *ctx, const struct mp_op_call *c, struct mp_error *e)
{
	const struct mp_pool_params *p = c->params;
	const struct mp_tensor *X = c->in[0];
	struct mp_tensor *O = c->out[0];
	struct mp_tensor *I = c->noutputs > 1 ? c->out[1] : NULL;
	int ns = p->nspatial;
	bool is_max = c->op == MP_OP_MAX_POOL || c->op == MP_OP_GLOBAL_MAX_POOL;
	bool is_lp = c->op == MP_OP_LP_POOL || c->op == MP_OP_GLOBAL_LP_POOL;
	bool is_int = !mp_dtype_is_float(X->dtype);
	int64_t in_size = 1, out_size = 1, k_size = 1;
	(void)ctx;

	for (int d = 0; d < ns; d++) {
		in_size *= X->shape[2 + d];
		out_size *= O->shape[2 + d];
		k_size *= p->k[d];
	}
	int64_t planes = X->shape[0] * X->shape[1];
	double *x = is_int ? NULL : cpu_to_f64(X, e);
	int64_t *xi = is_int ? cpu_to_i64(X, e) : NULL;
	double *o = cpu_alloc(planes * out_size, sizeof *o);
	int64_t *oi = cpu_alloc(planes * out_size, sizeof *oi);
	int64_t *ix = I ? cpu_alloc(planes * out_size, sizeof *ix) : NULL;
	if ((!x && !xi) || !o || !oi || (I && !ix)) {
		free(x);
		free(xi);
		free(o);
		free(oi);
		free(ix);
		return cpu_nomem(e, (size_t)(planes * out_size) * 8);
	}
	for (int64_t pl = 0; pl < planes; pl++) {
		int64_t oidx[MP_MAX_SPATIAL] = { 0 };
		for (int64_t of = 0; of < out_size; of++) {
			double acc = is_max ? -INFINITY : 0;
			int64_t acci = INT64_MIN, best = -1, count = 0, kidx[MP_MAX_SPATIAL] = { 0 };
			bool nan = false;
			int64_t padded = pool_padded(p, X, oidx);
			for (int64_t kf = 0; kf < k_size; kf++) {
				int64_t off = 0, colmaj = 0, mul = 1;
				bool inside = true;
				for (int d = 0; d < ns; d++) {
					int64_t pos = oidx[d] * p->stride[d] - p->pad_begin[d] + kidx[d] * p->dilation[d];
					if (pos < 0 || pos >= X->shape[2 + d]) {
						inside = false;
						break;
					}
					off = off * X->shape[2 + d] + pos;
					colmaj += pos * mul;
					mul *= X->shape[2 + d];
				}
				pool_next(kidx, ns, p->k);
				if (!inside)
					continue;
				count++;
				if (is_int) {
					int64_t v = xi[pl * in_size + off];
					if (v > acci || best < 0) {
						acci = v;
						best = p->storage_order ? colmaj : off;
					}
					continue;
				}
				double v = x[pl * in_size + off];
				if (is_max) {
					if (v != v)
						nan = true;
					if (v > acc || best < 0) {
						acc = v;
						best = p->storage_order ? colmaj : off;
					}
				} else if (is_lp) {
					acc += pow(fabs(v), (double)p->p);
				} else {
					acc += v;
				}
			}
			int64_t at = pl * out_size + of;
			if (is_int) {
				oi[at] = acci;
			} else if (is_max) {
				o[at] = nan ? NAN : acc;
			} else if (is_lp) {
				o[at] = pow(acc, 1.0 / (double)p->p);
			} else {
				int64_t div = p->count_include_pad ? padded : count;
				o[at] = div ? acc / (double)div : NAN;
			}
			if (ix)
				ix[at] = best < 0 ? 0 : pl * in_size + best;
			pool_next(oidx, ns, O->shape + 2);
		}
	}
	if (is_int)
		cpu_from_i64(O, oi, (size_t)(planes * out_size));
	else
		cpu_from_f64(O, o, (size_t)(planes * out_size));
	if (I)
		memcpy(I->data, ix, (size_t)(planes * out_size) * sizeof *ix);
	free(x);
	free(xi);
	free(o);
	free(oi);
	free(ix);
	return MP_OK;
}
