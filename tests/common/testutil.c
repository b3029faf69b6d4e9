/* testutil.c - shared test helpers. */
#include "testutil.h"

#include "backend.h"
#include "graph.h"
#include "policy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

char *mp_test_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", a, b);
	return p;
}

char *mp_test_shared_path(const char *sub)
{
	const char *env = getenv("MP_SHARED");
	char *base = env ? strdup(env) : mp_test_join(MP_SOURCE_ROOT, "../shared");
	char *p = base ? mp_test_join(base, sub) : NULL;
	struct stat st;
	free(base);
	if (p && stat(p, &st) == 0)
		return p;
	free(p);
	return NULL;
}

bool mp_test_allclose(const struct mp_tensor *got, const struct mp_tensor *want, double rtol,
                      double atol, char *why, size_t size)
{
	char a[256], b[256];
	if (got->dtype != want->dtype) {
		snprintf(why, size, "dtype %s, expected %s", mp_dtype_name(got->dtype), mp_dtype_name(want->dtype));
		return false;
	}
	bool same = got->ndim == want->ndim;
	for (int d = 0; same && d < got->ndim; d++)
		same = got->shape[d] == want->shape[d];
	if (!same) {
		snprintf(why, size, "shape %s, expected %s", mp_shape_str(a, sizeof a, got->ndim, got->shape),
		         mp_shape_str(b, sizeof b, want->ndim, want->shape));
		return false;
	}
	int64_t n = mp_tensor_numel(got), bad = -1, nbad = 0;
	double worst = 0;
	const struct mp_dtype_traits *t = mp_dtype_traits(got->dtype);
	if (!t->load_f64) {
		snprintf(why, size, "cannot compare %s", t->name);
		return false;
	}
	for (int64_t i = 0; i < n; i++) {
		const char *pg = (const char *)got->data + (size_t)i * t->size;
		const char *pw = (const char *)want->data + (size_t)i * t->size;
		bool ok;
		double x = 0, y = 0;
		if (t->is_float) {
			t->load_f64(pg, 1, &x, 1);
			t->load_f64(pw, 1, &y, 1);
			if (x != x || y != y)
				ok = x != x && y != y;
			else if (isinf(x) || isinf(y))
				ok = x == y;
			else
				ok = fabs(x - y) <= atol + rtol * fabs(y);
			if (!ok && fabs(x - y) > worst)
				worst = fabs(x - y);
		} else {
			int64_t u, v;
			t->load_i64(pg, 1, &u, 1);
			t->load_i64(pw, 1, &v, 1);
			ok = u == v;
			x = (double)u;
			y = (double)v;
		}
		if (!ok) {
			if (bad < 0) {
				bad = i;
				snprintf(why, size, "element %lld is %.9g, expected %.9g", (long long)i, x, y);
			}
			nbad++;
		}
	}
	if (nbad) {
		size_t k = strlen(why);
		snprintf(why + k, size - k, " (%lld of %lld elements differ, worst by %.3g)", (long long)nbad,
		         (long long)n, worst);
		return false;
	}
	return true;
}

char *mp_test_tmpdir(void)
{
	char tmpl[] = "/tmp/mpdbg-test-XXXXXX";
	char *d = mkdtemp(tmpl);
	return d ? strdup(d) : NULL;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void mp_test_rmtree(const char *path)
{
	if (path)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *mp_test_write(const char *dir, const char *name, const void *data, size_t n)
{
	char *p = mp_test_join(dir, name);
	FILE *f = p ? fopen(p, "wb") : NULL;
	if (!f) {
		free(p);
		return NULL;
	}
	if (n)
		fwrite(data, 1, n, f);
	fclose(f);
	return p;
}

const char *mp_test_device_name(void)
{
	const char *d = getenv("MPDBG_TEST_DEVICE");
	return d && !strcmp(d, "cuda") ? "cuda" : "cpu";
}

struct mp_backend *mp_test_device_backend(int threads, const char **why)
{
	struct mp_backend *b = NULL;
	static char msg[MP_ERROR_MSG_MAX];
	struct mp_error e = { 0 };
	*why = NULL;
	if (!strcmp(mp_test_device_name(), "cuda")) {
		if (!mp_backend_cuda_present()) {
			*why = "no CUDA GPU here (or a build without CUDA)";
			return NULL;
		}
		if (mp_backend_cuda_new(0, &b, &e)) {
			snprintf(msg, sizeof msg, "%s", e.msg);
			*why = msg;
			return NULL;
		}
		return b;
	}
	if (mp_backend_cpu_new(threads, &b, &e)) {
		snprintf(msg, sizeof msg, "%s", e.msg);
		*why = msg;
		return NULL;
	}
	return b;
}

bool mp_test_nmse(const struct mp_tensor *a, const struct mp_tensor *b, double *nmse, double *ulps)
{
	int64_t n = mp_tensor_numel(a);
	double *x = malloc((size_t)(n + 1) * 8), *y = malloc((size_t)(n + 1) * 8), d2 = 0, b2 = 0, worst = 0;
	int mbits = b->dtype == MP_BF16 ? 7 : b->dtype == MP_F16 ? 10 : b->dtype == MP_F64 ? 52 : 23;
	bool ok = x && y && mp_tensor_numel(b) == n;
	if (ok) {
		mp_dtype_convert(a->dtype, a->data, MP_F64, x, (size_t)n);
		mp_dtype_convert(b->dtype, b->data, MP_F64, y, (size_t)n);
	}
	for (int64_t i = 0; ok && i < n; i++) {
		if (!isfinite(x[i]) || !isfinite(y[i])) {
			ok = (isnan(x[i]) && isnan(y[i])) || x[i] == y[i];
			continue;
		}
		d2 += (x[i] - y[i]) * (x[i] - y[i]);
		b2 += y[i] * y[i];
		int ex;
		frexp(y[i] != 0 ? y[i] : 1e-30, &ex);
		double u = fabs(x[i] - y[i]) / ldexp(1, ex - 1 - mbits);
		worst = u > worst ? u : worst;
	}
	*nmse = b2 > 0 ? d2 / b2 : d2;
	if (ulps)
		*ulps = worst;
	free(x);
	free(y);
	return ok;
}

int mp_test_open_gpu(struct mp_backend **gpu, struct mp_backend **cpu)
{
	struct mp_error e = { 0 };
	*gpu = *cpu = NULL;
	if (!mp_backend_cuda_present()) {
		printf("1..0 # SKIP no CUDA GPU here (or a build without CUDA)\n");
		return 0;
	}
	if (mp_backend_cuda_new(0, gpu, &e) || mp_backend_cpu_new(0, cpu, &e)) {
		printf("Bail out! %s\n", e.msg);
		mp_backend_free(*gpu);
		return 1;
	}
	return -1;
}

bool mp_test_run_model(const char *path, struct mp_backend *be, struct mp_backend *cpu, const char *policy,
                       struct mp_exec_options o, const struct mp_batch *b, int reps, struct mp_tensor *out,
                       struct mp_exec_stats *st, struct mp_error *e)
{
	struct mp_graph *g = NULL;
	struct mp_exec *x = NULL;
	struct mp_policy pol = { 0 };
	bool ok = false;
	if (mp_graph_load(path, &g, e) || mp_policy_set_base(&pol, policy, e))
		goto out;
	o.policy = &pol;
	if (mp_exec_new(g, be, cpu, &o, &x, e))
		goto out;
	for (int rep = 0; rep < reps; rep++)
		if (mp_exec_begin(x, b, e) || mp_exec_run(x, e))
			goto out;
	if (mp_exec_fetch(x, mp_graph_output(g, 0), out, e))
		goto out;
	mp_exec_get_stats(x, st);
	ok = true;
out:
	mp_exec_free(x);
	mp_graph_free(g);
	mp_policy_free(&pol);
	return ok;
}

bool mp_test_read_file(const char *path, uint8_t **data, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	*data = len >= 0 ? malloc((size_t)len + 1) : NULL;
	*n = *data ? fread(*data, 1, (size_t)len, f) : 0;
	fclose(f);
	return *data != NULL;
}
