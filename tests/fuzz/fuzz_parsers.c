/* fuzz_parsers.c - fuzz targets for every parser mpdbg points at files
 * from other people: ONNX models (loaded, inferred, and run on zero
 * inputs), safetensors files, and TensorProto (.pb) files.
 *
 * Built with clang -fsanitize=fuzzer (-Dfuzz=true) each is a libFuzzer
 * target.  Built plainly, main() is a deterministic mutation driver the test
 * suite runs: seeds made here (a small model, a safetensors file, the
 * shared hand-pose model when present), thousands of mutations each, every
 * one loaded; a crash, leak or sanitizer report fails the test.
 *
 *     fuzz_parsers onnx|safetensors|tensor ITERATIONS
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend.h"
#include "batch.h"
#include "exec.h"
#include "graph.h"
#include "onnx.h"
#include "onnxw.h"
#include "safetensors.h"
#include "testutil.h"

enum target { T_ONNX, T_SAFETENSORS, T_TENSOR };

/* The bytes as a file the loaders can open, without touching the disk. */
static int as_file(const uint8_t *data, size_t size, char *path, size_t plen)
{
	int fd = memfd_create("fuzz", 0);
	if (fd < 0)
		return -1;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return -1;
	}
	snprintf(path, plen, "/proc/self/fd/%d", fd);
	return fd;
}

/* Runs a loaded model on zero inputs of its declared shapes (symbolic dims
 * as 1), with allocations capped: kernels must survive whatever shapes and
 * attributes the mutated model holds. */
static bool run_zeros(struct mp_graph *g)
{
	bool ran = false;
	struct mp_backend *cpu;
	struct mp_error e = { 0 };
	size_t ni = mp_graph_ninputs(g);
	if (ni > 16 || mp_backend_cpu_new(1, &cpu, &e))
		return false;
	struct mp_tensor ins[16];
	void *bufs[16] = { NULL };
	const char *names[16];
	bool ok = true;
	for (size_t i = 0; i < ni && ok; i++) {
		const struct mp_value *v = mp_graph_value(g, (size_t)mp_graph_input(g, i));
		const struct mp_value_info *vi = &v->declared;
		int64_t dims[MP_MAX_DIMS];
		size_t nb;
		ok = v->has_declared && vi->ndim >= 0 && mp_dtype_computable(vi->dtype);
		for (int d = 0; ok && d < vi->ndim; d++)
			dims[d] = vi->dims[d] >= 0 ? vi->dims[d] : 1;
		ok = ok && !mp_shape_nbytes(vi->ndim, dims, vi->dtype, &nb, &e) && nb <= (1u << 20);
		if (!ok)
			break;
		bufs[i] = calloc(1, nb ? nb : 1);
		mp_tensor_init(&ins[i], vi->dtype, vi->ndim, dims);
		ins[i].data = bufs[i];
		names[i] = v->name;
	}
	struct mp_batch *b = NULL;
	struct mp_exec *x = NULL;
	struct mp_exec_options opt = { .max_tensor_bytes = 64u << 20 };
	if (ok && !mp_batch_from_tensors("zeros", ni, names, ins, false, &b, &e) &&
	    !mp_exec_new(g, cpu, cpu, &opt, &x, &e) && !mp_exec_begin(x, b, &e))
		ran = !mp_exec_run(x, &e);
	mp_exec_free(x);
	mp_batch_free(b);
	for (size_t i = 0; i < ni; i++)
		free(bufs[i]);
	mp_backend_free(cpu);
	return ran;
}

/* 0: refused, 1: loaded, 2: loaded and ran to the end */
static int one_input(enum target t, const uint8_t *data, size_t size)
{
	char path[64];
	struct mp_error e = { 0 };
	int fd = as_file(data, size, path, sizeof path), r = 0;
	if (fd < 0)
		return 0;
	if (t == T_ONNX) {
		struct mp_graph *g;
		if (!mp_graph_load(path, &g, &e)) {
			r = run_zeros(g) ? 2 : 1;
			mp_graph_free(g);
		}
	} else if (t == T_SAFETENSORS) {
		struct mp_st_file *f;
		if (!mp_st_open(path, &f, &e)) {
			r = 1;
			for (size_t i = 0; i < mp_st_count(f); i++) { /* touch every byte we were promised */
				const struct mp_st_entry *en = mp_st_entry(f, i);
				volatile unsigned char sum = 0;
				for (uint64_t k = 0; k < en->nbytes; k++)
					sum ^= ((const unsigned char *)en->t.data)[k];
				(void)sum;
			}
			mp_st_close(f);
		}
	} else {
		struct mp_onnx_tensor_file tf;
		if (!mp_onnx_tensor_file_open(path, &tf, &e)) {
			r = 1;
			volatile unsigned char sum = 0;
			for (size_t k = 0; k < tf.t.nbytes && tf.t.t.data; k++)
				sum ^= ((const unsigned char *)tf.t.t.data)[k];
			(void)sum;
			mp_onnx_tensor_file_close(&tf);
		}
	}
	close(fd);
	return r;
}

#ifndef MP_FUZZ_TARGET
#define MP_FUZZ_TARGET T_ONNX
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one_input(MP_FUZZ_TARGET, data, size);
	return 0;
}

#ifndef MP_LIBFUZZER
/* ---- the deterministic driver ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* One mutation of seed into out (cap bytes); returns the new size. */
static size_t mutate(const uint8_t *seed, size_t n, uint8_t *out, size_t cap)
{
	size_t m = n < cap ? n : cap;
	memcpy(out, seed, m);
	int rounds = 1 + (int)(next() % 4);
	for (int r = 0; r < rounds && m; r++) {
		size_t at = (size_t)(next() % m);
		switch (next() % 8) {
		case 0: out[at] ^= (uint8_t)(1u << (next() % 8)); break;
		case 1: out[at] = (uint8_t[]){ 0x00, 0xFF, 0x80, 0x7F, 0x01 }[next() % 5]; break;
		case 2: m = at; break; /* truncate */
		case 3: { /* a large little-endian number: lengths, offsets, dims */
			uint64_t v = (uint64_t[]){ UINT64_MAX, 1ull << 62, 1ull << 32, 0x7FFFFFFF, 0 }[next() % 5];
			size_t k = m - at < 8 ? m - at : 8;
			memcpy(out + at, &v, k);
			break;
		}
		case 4: /* duplicate a chunk */
			if (m < cap) {
				size_t len = (size_t)(next() % 64) + 1, src = (size_t)(next() % m);
				if (src + len > m) len = m - src;
				if (m + len > cap) len = cap - m;
				memmove(out + at + len, out + at, m - at);
				memmove(out + at, out + src + (src >= at ? len : 0), len);
				m += len;
			}
			break;
		case 5: /* a varint continuation run */
			for (size_t k = at; k < m && k < at + 11; k++) out[k] = 0xFF;
			break;
		case 6: if (out[at] >= '0' && out[at] <= '9') out[at] = (uint8_t)('0' + next() % 10); else out[at]++; break;
		default: out[at] = (uint8_t)next(); break;
		}
	}
	return m;
}


/* Seeds: a small model exercising many op families, a safetensors file,
 * and a TensorProto; plus the shared hand-pose export when present. */
static size_t make_seeds(enum target t, const char *dir, uint8_t **seeds, size_t *sizes)
{
	size_t k = 0;
	if (t == T_ONNX) {
		struct pbw g = onnx_graph(), vi, n, at[3];
		vi = onnx_value_info("x", 1, 4, (int64_t[]){ 1, 2, 6, 6 }, NULL);
		onnx_graph_input(&g, &vi);
		vi = onnx_value_info("y", 1, 2, (int64_t[]){ 1, 8 }, NULL);
		onnx_graph_output(&g, &vi);
		float w[3 * 2 * 3 * 3] = { 0 };
		struct pbw tw = onnx_tensor_raw("w", 1, 4, (int64_t[]){ 3, 2, 3, 3 }, w, sizeof w);
		onnx_graph_init(&g, &tw);
		int64_t shp[2] = { 1, -1 };
		struct pbw ts = onnx_tensor_raw("shp", 7, 1, (int64_t[]){ 2 }, shp, sizeof shp);
		onnx_graph_init(&g, &ts);
		at[0] = onnx_attr_ints("pads", 4, (int64_t[]){ 1, 1, 1, 1 });
		n = onnx_node("Conv", "conv", 2, (const char *[]){ "x", "w" }, 1, (const char *[]){ "c" }, 1, at);
		onnx_graph_node(&g, &n);
		at[0] = onnx_attr_ints("kernel_shape", 2, (int64_t[]){ 2, 2 });
		at[1] = onnx_attr_ints("strides", 2, (int64_t[]){ 2, 2 });
		n = onnx_node("MaxPool", "pool", 1, (const char *[]){ "c" }, 1, (const char *[]){ "p" }, 2, at);
		onnx_graph_node(&g, &n);
		n = onnx_node("Reshape", "flat", 2, (const char *[]){ "p", "shp" }, 1, (const char *[]){ "f" }, 0, NULL);
		onnx_graph_node(&g, &n);
		at[0] = onnx_attr_int("axis", -1);
		n = onnx_node("Softmax", "soft", 1, (const char *[]){ "f" }, 1, (const char *[]){ "s" }, 1, at);
		onnx_graph_node(&g, &n);
		int64_t st[1] = { 0 }, en[1] = { 8 };
		struct pbw t1 = onnx_tensor_raw("st", 7, 1, (int64_t[]){ 1 }, st, 8);
		onnx_graph_init(&g, &t1);
		t1 = onnx_tensor_raw("en", 7, 1, (int64_t[]){ 1 }, en, 8);
		onnx_graph_init(&g, &t1);
		t1 = onnx_tensor_raw("ax", 7, 1, (int64_t[]){ 1 }, (int64_t[]){ 1 }, 8);
		onnx_graph_init(&g, &t1);
		n = onnx_node("Slice", "slice", 4, (const char *[]){ "s", "st", "en", "ax" }, 1, (const char *[]){ "y" }, 0, NULL);
		onnx_graph_node(&g, &n);
		struct pbw m = onnx_model(17, &g);
		seeds[k] = m.d;
		sizes[k++] = m.n;
		char *hp = mp_test_shared_path("models/handpose_ts.onnx");
		if (hp && mp_test_read_file(hp, &seeds[k], &sizes[k]))
			k++;
		free(hp);
	} else if (t == T_SAFETENSORS) {
		float a[6] = { 1, 2, 3, 4, 5, 6 };
		uint16_t b[2] = { 0x3F80, 0x4000 };
		struct mp_tensor ta, tb;
		mp_tensor_init(&ta, MP_F32, 2, (int64_t[]){ 2, 3 });
		ta.data = a;
		mp_tensor_init(&tb, MP_BF16, 1, (int64_t[]){ 2 });
		tb.data = b;
		struct mp_st_item items[] = { { "a", &ta }, { "b", &tb } };
		struct mp_error e = { 0 };
		char *p = mp_test_join(dir, "seed.safetensors");
		const char *meta[] = { "k", "v" };
		if (!mp_st_write(p, items, 2, meta, 1, &e) && mp_test_read_file(p, &seeds[k], &sizes[k]))
			k++;
		free(p);
	} else {
		int64_t v[4] = { 1, -2, 3, 1ll << 40 };
		struct pbw t1 = onnx_tensor_raw("t", 7, 2, (int64_t[]){ 2, 2 }, v, sizeof v);
		seeds[k] = t1.d;
		sizes[k++] = t1.n;
	}
	return k;
}

int main(int argc, char **argv)
{
	enum target t = MP_FUZZ_TARGET;
	long iters = 2000;
	if (argc > 1)
		t = !strcmp(argv[1], "safetensors") ? T_SAFETENSORS : !strcmp(argv[1], "tensor") ? T_TENSOR : T_ONNX;
	if (argc > 2)
		iters = atol(argv[2]);
	char *dir = mp_test_tmpdir();
	uint8_t *seeds[4];
	size_t sizes[4], ns = make_seeds(t, dir, seeds, sizes);
	size_t cap = 0;
	for (size_t s = 0; s < ns; s++)
		cap = sizes[s] + 4096 > cap ? sizes[s] + 4096 : cap;
	uint8_t *buf = malloc(cap);
	int tap = 0;
	for (size_t s = 0; s < ns; s++) {
		int seed = one_input(t, seeds[s], sizes[s]), count[3] = { 0 };
		for (long i = 0; i < iters; i++) {
			size_t n = mutate(seeds[s], sizes[s], buf, cap);
			count[one_input(t, buf, n)]++;
		}
		/* the seed itself must load (and a model run), or the run proves little */
		printf("%s %d - %s seed %zu (%zu bytes): %ld mutations, %d refused, %d loaded, %d ran\n",
		       seed == (t == T_ONNX ? 2 : 1) ? "ok" : "not ok", ++tap, argc > 1 ? argv[1] : "onnx", s,
		       sizes[s], iters, count[0], count[1], count[2]);
		free(seeds[s]);
	}
	printf("1..%d\n", tap);
	free(buf);
	mp_test_rmtree(dir);
	free(dir);
	return 0;
}
#endif
