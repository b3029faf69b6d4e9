/* fuzz_extdata.c - fuzz target: ONNX external data, resolved and confined.
 *
 * The fuzz bytes are written as model.onnx into a private folder made once
 * per process, beside data files the model may name, and loaded by its
 * real path, so that the location checks (absolute paths, '..', symbolic
 * links out of the folder, folders, devices, short files) run under the
 * fuzzer.  The names differ from "w.bin" by one bit flip or one increment,
 * so the mutations of a seed reach each of them:
 *
 *   m/w.bin       4 KiB of floats               (the seeds' file)
 *   m/sub/x.bin   256 bytes                     (a subfolder)
 *   m/x.bin       -> ../secret.bin              (a link out: refused)
 *   m/v.bin       -> sub                        (a folder: refused)
 *   m/u.bin       -> /dev/zero                  (not a regular file)
 *   m/g.bin       -> sub/x.bin                  (a link inside: allowed)
 *   m/W.bin       4 bytes                       (shorter than declared)
 *   m/s.bin       a FIFO (must be refused without blocking)
 *
 * A model that loads has every initializer's bytes read, and is freed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_driver.h"
#include "graph.h"
#include "onnxw.h"
#include "testutil.h"

/* The folder outlives every input of the process: libFuzzer gives no
 * context pointer, so it is made on first use and removed at exit. */
static char *root_dir, *model_path;

static void remove_root(void)
{
	mp_test_rmtree(root_dir);
	free(root_dir);
	free(model_path);
}

static bool write_bytes(const char *dir, const char *name, size_t n)
{
	unsigned char *d = malloc(n ? n : 1);
	for (size_t i = 0; i < n; i++)
		d[i] = (unsigned char)(i * 37 + 11);
	char *p = mp_test_write(dir, name, d, n);
	free(d);
	bool ok = p != NULL;
	free(p);
	return ok;
}

static bool make_root(void)
{
	if (root_dir)
		return true;
	char *r = mp_test_tmpdir();
	if (!r)
		return false;
	char *m = mp_test_join(r, "m"), *sub = mp_test_join(m, "sub"), *p;
	bool ok = !mkdir(m, 0700) && !mkdir(sub, 0700) && write_bytes(m, "w.bin", 4096) &&
	          write_bytes(sub, "x.bin", 256) && write_bytes(m, "W.bin", 4) && write_bytes(r, "secret.bin", 4096);
	static const char *const links[][2] = {
		{ "x.bin", "../secret.bin" }, { "v.bin", "sub" }, { "u.bin", "/dev/zero" }, { "g.bin", "sub/x.bin" }
	};
	for (size_t i = 0; ok && i < sizeof links / sizeof links[0]; i++) {
		p = mp_test_join(m, links[i][0]);
		ok = !symlink(links[i][1], p);
		free(p);
	}
	if (ok) {
		p = mp_test_join(m, "s.bin");
		ok = !mkfifo(p, 0600);
		free(p);
	}
	if (!ok) {
		fprintf(stderr, "fuzz_extdata: cannot make the data folder in %s\n", r);
		mp_test_rmtree(r);
		free(r), free(m), free(sub);
		return false;
	}
	root_dir = r;
	model_path = mp_test_join(m, "model.onnx");
	free(m), free(sub);
	atexit(remove_root);
	return true;
}

static enum mp_fuzz_result one(const uint8_t *data, size_t size)
{
	if (!make_root())
		return MP_FUZZ_REFUSED;
	FILE *f = fopen(model_path, "wb");
	if (!f)
		return MP_FUZZ_REFUSED;
	size_t w = fwrite(data, 1, size, f);
	if (fclose(f) || w != size)
		return MP_FUZZ_REFUSED;
	struct mp_graph *g;
	struct mp_error e = { 0 };
	if (mp_graph_load(model_path, &g, &e))
		return MP_FUZZ_REFUSED;
	/* every byte promised must be readable */
	volatile unsigned char sum = 0;
	for (size_t i = 0; i < mp_graph_nvalues(g); i++) {
		const struct mp_value *v = mp_graph_value(g, i);
		const struct mp_tensor *t = v->data;
		size_t nb = 0;
		if (v->kind != MP_VALUE_INITIALIZER || !t || !t->data || !mp_dtype_computable(t->dtype) ||
		    mp_shape_nbytes(t->ndim, t->shape, t->dtype, &nb, &e))
			continue;
		for (size_t k = 0; k < nb; k++)
			sum ^= ((const unsigned char *)t->data)[k];
	}
	(void)sum;
	mp_graph_free(g);
	return MP_FUZZ_LOADED;
}

/* y = (x + A) * B with A and B read from the folder's files. */
static void seed_model(const char *la, uint64_t oa, int64_t lena, const char *lb, uint64_t ob, int64_t lenb,
                       uint8_t **out, size_t *size)
{
	const int64_t d[1] = { 4 };
	struct pbw g = onnx_graph(), vi, t;
	vi = onnx_value_info("x", 1, 1, d, NULL);
	onnx_graph_input(&g, &vi);
	vi = onnx_value_info("y", 1, 1, d, NULL);
	onnx_graph_output(&g, &vi);
	t = onnx_tensor_external("A", 1, 1, d, la, oa, lena);
	onnx_graph_init(&g, &t);
	t = onnx_tensor_external("B", 1, 1, d, lb, ob, lenb);
	onnx_graph_init(&g, &t);
	onnx_graph_add_node(&g, "Add", "add", 2, (const char *[]){ "x", "A" }, "s", 0, NULL);
	onnx_graph_add_node(&g, "Mul", "mul", 2, (const char *[]){ "s", "B" }, "y", 0, NULL);
	struct pbw m = onnx_model(17, &g);
	*out = m.d;
	*size = m.n;
}

static size_t seeds(const char *dir, uint8_t **out, size_t *sizes, size_t cap)
{
	(void)dir;
	size_t k = 0;
	if (cap < 3)
		return 0;
	seed_model("w.bin", 0, 16, "w.bin", 64, 16, &out[k], &sizes[k]), k++;
	seed_model("w.bin", 4080, -1, "sub/x.bin", 16, 16, &out[k], &sizes[k]), k++;
	seed_model("g.bin", 240, 16, "./w.bin", 1024, -1, &out[k], &sizes[k]), k++;
	return k;
}

const struct mp_fuzz_target mp_fuzz_target = { "extdata", MP_FUZZ_LOADED, one, seeds };
