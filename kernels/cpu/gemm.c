/* gemm.c - the CPU GEMM: CBLAS when the build found one, else a blocked
 * loop of our own.  The fallback is always compiled so the tests can hold it
 * against a float64 reference even on machines that have a BLAS. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

#ifdef MP_HAVE_CBLAS
#include <cblas.h>
#endif

enum { GEMM_NB = 256, GEMM_KB = 128 };

static inline float a_at(bool ta, const float *a, int64_t lda, int64_t i, int64_t p)
{
	return ta ? a[p * lda + i] : a[i * lda + p];
}

void cpu_sgemm_blocked(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                       const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                       float *c, int64_t ldc)
{
	float bp[GEMM_KB * GEMM_NB];

	for (int64_t i = 0; i < m; i++) /* beta == 0 overwrites, NaN in C included */
		for (int64_t j = 0; j < n; j++)
			c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
	for (int64_t j0 = 0; j0 < n; j0 += GEMM_NB) {
		int64_t nb = n - j0 < GEMM_NB ? n - j0 : GEMM_NB;
		for (int64_t p0 = 0; p0 < k; p0 += GEMM_KB) {
			int64_t kb = k - p0 < GEMM_KB ? k - p0 : GEMM_KB;
			/* pack the B panel row-major, kb x nb */
			for (int64_t p = 0; p < kb; p++)
				for (int64_t j = 0; j < nb; j++)
					bp[p * nb + j] = tb ? b[(j0 + j) * ldb + p0 + p] : b[(p0 + p) * ldb + j0 + j];
			for (int64_t i = 0; i < m; i++) {
				float *crow = c + i * ldc + j0;
				for (int64_t p = 0; p < kb; p++) {
					float av = alpha * a_at(ta, a, lda, i, p0 + p);
					const float *brow = bp + p * nb;
					for (int64_t j = 0; j < nb; j++)
						crow[j] += av * brow[j];
				}
			}
		}
	}
}

static void dgemm_blocked(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
                          const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                          double *c, int64_t ldc)
{
	for (int64_t i = 0; i < m; i++)
		for (int64_t j = 0; j < n; j++)
			c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
	for (int64_t i = 0; i < m; i++)
		for (int64_t p = 0; p < k; p++) {
			double av = alpha * (ta ? a[p * lda + i] : a[i * lda + p]);
			for (int64_t j = 0; j < n; j++)
				c[i * ldc + j] += av * (tb ? b[j * ldb + p] : b[p * ldb + j]);
		}
}

#ifdef MP_HAVE_CBLAS
static bool fits_int(int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc)
{
	return m <= INT_MAX && n <= INT_MAX && k <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX &&
	       ldc <= INT_MAX;
}
#endif

void cpu_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
               const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
               float *c, int64_t ldc)
{
	if (m == 0 || n == 0)
		return;
#ifdef MP_HAVE_CBLAS
	if (k > 0 && fits_int(m, n, k, lda, ldb, ldc)) {
		cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
		            (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
		return;
	}
#endif
	cpu_sgemm_blocked(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void cpu_dgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
               const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
               double *c, int64_t ldc)
{
	if (m == 0 || n == 0)
		return;
#ifdef MP_HAVE_CBLAS
	if (k > 0 && fits_int(m, n, k, lda, ldb, ldc)) {
		cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
		            (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
		return;
	}
#endif
	dgemm_blocked(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

const char *cpu_gemm_provider(void)
{
#ifdef MP_HAVE_CBLAS
	return "cblas";
#else
	return "blocked";
#endif
}
