/* testutil.h - helpers the test programs share: tensor comparison in the
 * ONNX runner's terms, paths to the shared fixtures, TAP output. */
#ifndef MP_TESTUTIL_H
#define MP_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exec.h"
#include "tensor.h"

/* |got - want| <= atol + rtol * |want| elementwise (numpy's allclose, NaN
 * equal to NaN, infinities equal only to themselves); integers and bools
 * exactly.  Shapes and dtypes must match.  On a mismatch writes the first
 * bad element and the worst error into why. */
bool mp_test_allclose(const struct mp_tensor *got, const struct mp_tensor *want, double rtol,
                      double atol, char *why, size_t size);

/* a against the reference b (same dtype-agnostic element count): the
 * normalised mean squared error sum (a-b)^2 / sum b^2 over the pairs where
 * both are finite, and (ulps not NULL) the largest difference in units of
 * the last place of b's dtype.  False when NaN and Inf differ in place or
 * sign, or the counts differ. */
bool mp_test_nmse(const struct mp_tensor *a, const struct mp_tensor *b, double *nmse, double *ulps);

/* The folder ../shared/<sub> beside the source tree (MP_SOURCE_ROOT), or
 * NULL when it is absent. The result is malloc'd. */
char *mp_test_shared_path(const char *sub);

/* Builds a path "a/b"; malloc'd. */
char *mp_test_join(const char *a, const char *b);
/* The whole file at path (malloc'd, one spare byte; the caller frees it). */
bool mp_test_read_file(const char *path, uint8_t **data, size_t *n);

/* A fresh temporary folder (malloc'd path), and its removal with contents. */
char *mp_test_tmpdir(void);
void mp_test_rmtree(const char *path);
/* cmocka group setup and teardown making a temporary folder, kept in the
 * file's `static char *var`, for the whole group. */
#define MP_TEST_TMPDIR_FIXTURES(var)                                  \
	static int setup(void **state)                                \
	{                                                             \
		(void)state;                                          \
		return (var = mp_test_tmpdir()) ? 0 : -1;             \
	}                                                             \
	static int teardown(void **state)                             \
	{                                                             \
		(void)state;                                          \
		mp_test_rmtree(var);                                  \
		free(var);                                            \
		return 0;                                             \
	}

/* The backend a test runs on: the CPU, or CUDA when MPDBG_TEST_DEVICE=cuda
 * (the meson suite 'cuda').  Returns NULL with *why set when that device
 * is not there: the test then prints TAP's skip plan. */
struct mp_backend;
struct mp_backend *mp_test_device_backend(int threads, const char **why);
/* A GPU test program's backends (TAP): the CUDA backend and the CPU
 * reference.  Without a GPU it prints the skip plan and returns 0, on an
 * error "Bail out!" and 1 (the program's exit status either way); -1 with
 * both open. */
int mp_test_open_gpu(struct mp_backend **gpu, struct mp_backend **cpu);
/* Runs the model at `path` on backend be (cpu: the host backend) under
 * `policy`, with options o (their policy set here), `reps` times on batch
 * b: the first run records, the second runs in the planned arena, the
 * third on is captured and replayed where the backend can.  Output 0 goes
 * to out, the executor's stats to st; false with e set on an error. */
bool mp_test_run_model(const char *path, struct mp_backend *be, struct mp_backend *cpu, const char *policy,
                       struct mp_exec_options o, const struct mp_batch *b, int reps, struct mp_tensor *out,
                       struct mp_exec_stats *st, struct mp_error *e);
/* "cuda" or "cpu", from MPDBG_TEST_DEVICE. */
const char *mp_test_device_name(void);

/* Writes bytes to dir/name; returns the malloc'd path. */
char *mp_test_write(const char *dir, const char *name, const void *data, size_t n);

#endif
