/* test_gemm.c - the CPU GEMMs (the BLAS path and the built-in blocked one)
 * against a naive float64 triple loop, over transposes, odd sizes, beta,
 * and NaN in C when beta is 0. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_tap.h"
#include "cpu.h"

static double naive(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const double *a, int64_t lda,
                    const double *b, int64_t ldb, int64_t i, int64_t j)
{
	double s = 0;
	for (int64_t p = 0; p < k; p++)
		s += (ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
	(void)m;
	(void)n;
	return s;
}

static void check(bool blocked, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
                  double beta)
{
	int64_t lda = ta ? m : k, ldb = tb ? k : n, ldc = n + 3; /* a padded C */
	double *a = calloc((size_t)(m * k + 1), 8), *b = calloc((size_t)(k * n + 1), 8);
	double *c = malloc((size_t)(m * ldc + 1) * 8), *c0 = malloc((size_t)(m * ldc + 1) * 8);
	unsigned s = 12345;
	for (int64_t i = 0; i < m * k; i++)
		a[i] = ((s = s * 1103515245u + 12345u) >> 8) / 16777216.0 - 0.5;
	for (int64_t i = 0; i < k * n; i++)
		b[i] = ((s = s * 1103515245u + 12345u) >> 8) / 16777216.0 - 0.5;
	for (int64_t i = 0; i < m * ldc; i++)
		c[i] = c0[i] = beta == 0 ? NAN : (double)(i % 7);
	if (blocked)
		cpu_dgemm_blocked(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
	else
		cpu_dgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
	for (int64_t i = 0; i < m; i++)
		for (int64_t j = 0; j < ldc; j++) {
			if (j >= n) { /* the padding is untouched */
				assert_true(memcmp(&c[i * ldc + j], &c0[i * ldc + j], 8) == 0);
				continue;
			}
			double want = alpha * naive(ta, tb, m, n, k, a, lda, b, ldb, i, j) +
			              (beta == 0 ? 0 : beta * c0[i * ldc + j]);
			if (fabs(c[i * ldc + j] - want) > 1e-12 * (1 + fabs(want)))
				fail_msg("%s gemm ta=%d tb=%d %lldx%lldx%lld: C[%lld,%lld] = %.17g, expected %.17g",
				         blocked ? "blocked" : "cblas", ta, tb, (long long)m, (long long)n,
				         (long long)k, (long long)i, (long long)j, c[i * ldc + j], want);
		}
	free(a);
	free(b);
	free(c);
	free(c0);
}

static void run_all(bool blocked)
{
	static const int64_t sizes[][3] = { { 1, 1, 1 }, { 3, 5, 7 }, { 17, 33, 300 }, { 130, 257, 129 },
	                                    { 2, 300, 1 }, { 64, 1, 64 } };
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
		for (int t = 0; t < 4; t++) {
			check(blocked, t & 1, t & 2, sizes[s][0], sizes[s][1], sizes[s][2], 1, 0);
			check(blocked, t & 1, t & 2, sizes[s][0], sizes[s][1], sizes[s][2], 0.5, 2);
		}
	check(blocked, false, false, 4, 4, 0, 1, 0.5); /* k = 0: C = beta * C */
	check(blocked, false, false, 4, 4, 0, 1, 0);
}

static void test_blocked(void **state)
{
	(void)state;
	run_all(true);
}

static void test_provider(void **state)
{
	(void)state;
	run_all(false);
	assert_non_null(strstr(cpu_gemm_provider(), "f64"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blocked),
		cmocka_unit_test(test_provider),
	};
	return MP_RUN_TESTS(tests);
}
