/* gemm.c - the CPU GEMM.
 *
 * The reference backend accumulates every GEMM in f64 and rounds each result
 * to its dtype once.  Results are then correctly rounded f32 in practice and
 * do not depend on where an element falls in the BLAS's tiling, on the batch
 * size or on the thread count: an f32 BLAS gives identical rows different
 * last bits at tile edges, which is noise a reference must not have (ONNX's
 * SqueezeNet case turns that noise into a wrong softmax).  The f64 GEMM is
 * a CBLAS when the build found one, else the blocked loop below, which is
 * always compiled so tests can hold it against a naive reference. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

#ifdef MP_HAVE_CBLAS
#include <cblas.h>
#endif

enum { GEMM_NB = 256, GEMM_KB = 128 };

void cpu_dgemm_blocked(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
                       const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                       double *c, int64_t ldc)
{
	double *bp = malloc(GEMM_KB * GEMM_NB * sizeof *bp);

	for (int64_t i = 0; i < m; i++) /* beta == 0 overwrites, NaN in C included */
		for (int64_t j = 0; j < n; j++)
			c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
	for (int64_t j0 = 0; j0 < n; j0 += GEMM_NB) {
		int64_t nb = n - j0 < GEMM_NB ? n - j0 : GEMM_NB;
		for (int64_t p0 = 0; p0 < k; p0 += GEMM_KB) {
			int64_t kb = k - p0 < GEMM_KB ? k - p0 : GEMM_KB;
			if (bp) { /* pack the B panel row-major, kb x nb */
				for (int64_t p = 0; p < kb; p++)
					for (int64_t j = 0; j < nb; j++)
						bp[p * nb + j] = tb ? b[(j0 + j) * ldb + p0 + p] : b[(p0 + p) * ldb + j0 + j];
			}
			for (int64_t i = 0; i < m; i++) {
				double *crow = c + i * ldc + j0;
				for (int64_t p = 0; p < kb; p++) {
					double av = alpha * (ta ? a[(p0 + p) * lda + i] : a[i * lda + p0 + p]);
					if (bp) {
						const double *brow = bp + p * nb;
						for (int64_t j = 0; j < nb; j++)
							crow[j] += av * brow[j];
					} else {
						for (int64_t j = 0; j < nb; j++)
							crow[j] += av * (tb ? b[(j0 + j) * ldb + p0 + p] : b[(p0 + p) * ldb + j0 + j]);
					}
				}
			}
		}
	}
	free(bp);
}

void cpu_dgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
               const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
               double *c, int64_t ldc)
{
	if (m == 0 || n == 0)
		return;
#ifdef MP_HAVE_CBLAS
	if (k > 0 && m <= INT_MAX && n <= INT_MAX && k <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX &&
	    ldc <= INT_MAX) {
		cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
		            (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
		return;
	}
#endif
	cpu_dgemm_blocked(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

const char *cpu_gemm_provider(void)
{
#ifdef MP_HAVE_CBLAS
	return "cblas (f64 accumulation)";
#else
	return "built-in blocked (f64 accumulation)";
#endif
}
