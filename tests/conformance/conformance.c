/* conformance.c - runs ONNX's own backend test cases on the CPU backend.
 *
 * Every case in node/, simple/, pytorch-converted/ and pytorch-operator/
 * (model.onnx + test_data_set_N) and every whole CNN in light/ is run and
 * compared with its expected outputs (rtol 1e-3, atol 1e-7, as ONNX's runner;
 * DenseNet-121 rtol 2e-3).  A case is skipped only when it holds a type mpdbg
 * does not compute on (strings, complex, float8, int4, sequences, ...); a case
 * that uses an op mpdbg does not implement is reported as not run.  Any
 * failure of a case whose ops are all supported fails the suite.
 *
 * Output is TAP (one line per case) with per-op and total summaries as
 * comments.  Usage: conformance [ROOT] [FILTER]
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend.h"
#include "batch.h"
#include "exec.h"
#include "graph.h"
#include "onnx.h"
#include "testutil.h"

enum outcome { PASS, FAIL, SKIP, UNSUP };

struct opstat {
	char op[64];
	int n[4];
};

struct runner {
	struct mp_backend *be, *cpu; /* the backend under test (MPDBG_TEST_DEVICE), and the host's */
	struct opstat *ops;
	size_t nops, capops;
	int total[4], tap;
	char skips[64][96];
	int skipn[64], nskips;
	bool verbose;
};

static void count_skip(struct runner *r, const char *why)
{
	for (int i = 0; i < r->nskips; i++)
		if (!strcmp(r->skips[i], why)) {
			r->skipn[i]++;
			return;
		}
	if (r->nskips < 64) {
		snprintf(r->skips[r->nskips], sizeof r->skips[0], "%s", why);
		r->skipn[r->nskips++] = 1;
	}
}

static struct opstat *opstat_of(struct runner *r, const char *op)
{
	for (size_t i = 0; i < r->nops; i++)
		if (!strcmp(r->ops[i].op, op))
			return &r->ops[i];
	if (r->nops == r->capops) {
		r->capops = r->capops ? 2 * r->capops : 64;
		r->ops = realloc(r->ops, r->capops * sizeof *r->ops);
		if (!r->ops)
			abort(); /* a test harness out of memory has nothing better to do */
	}
	struct opstat *s = &r->ops[r->nops++];
	memset(s, 0, sizeof *s);
	snprintf(s->op, sizeof s->op, "%s", op);
	return s;
}

static void record(struct runner *r, const struct mp_graph *g, const char *label, enum outcome o,
                   const char *why)
{
	r->total[o]++;
	r->tap++;
	if (g) { /* each op counts the case once */
		for (size_t i = 0; i < mp_graph_nnodes(g); i++) {
			const char *op = mp_graph_node(g, i)->op_type;
			bool seen = false;
			for (size_t j = 0; j < i && !seen; j++)
				seen = !strcmp(mp_graph_node(g, j)->op_type, op);
			if (!seen)
				opstat_of(r, op)->n[o]++;
		}
	}
	switch (o) {
	case PASS: printf("ok %d - %s\n", r->tap, label); break;
	case FAIL: printf("not ok %d - %s: %s\n", r->tap, label, why); break;
	case SKIP: printf("ok %d - %s # SKIP %s\n", r->tap, label, why); count_skip(r, why); break;
	case UNSUP: printf("ok %d - %s # SKIP not run: %s\n", r->tap, label, why); break;
	}
	fflush(stdout);
}

/* Why a case cannot be computed for its types, or NULL. */
static const char *type_skip(const struct mp_graph *g)
{
	for (size_t i = 0; i < mp_graph_nvalues(g); i++) {
		const struct mp_value *v = mp_graph_value(g, i);
		if (v->kind == MP_VALUE_NODE && !v->is_output)
			continue;
		if (v->unsupported_type)
			return "sequence, map or optional values";
		enum mp_dtype t = v->kind == MP_VALUE_INITIALIZER ? v->data->dtype :
		                  v->has_declared ? v->declared.dtype : MP_DTYPE_UNDEFINED;
		if (t && !mp_dtype_computable(t)) {
			switch (t) {
			case MP_STRING: return "string tensors";
			case MP_C64: case MP_C128: return "complex tensors";
			case MP_F8E4M3FN: case MP_F8E4M3FNUZ: case MP_F8E5M2: case MP_F8E5M2FNUZ: case MP_F8E8M0:
				return "float8 tensors";
			default: return "4-bit and 2-bit tensors";
			}
		}
	}
	for (size_t i = 0; i < mp_graph_nnodes(g); i++) { /* Cast to a type we do not compute on */
		const struct mp_node *n = mp_graph_node(g, i);
		if (n->unsupported && strstr(n->unsupported, "does not compute on"))
			return strstr(n->unsupported, "string") ? "string tensors" :
			       strstr(n->unsupported, "float8") ? "float8 tensors" :
			       strstr(n->unsupported, "int4") || strstr(n->unsupported, "int2") ||
			       strstr(n->unsupported, "float4") ? "4-bit and 2-bit tensors" : "complex tensors";
	}
	return NULL;
}

/* The first node mpdbg cannot run, as "Op (reason)", or NULL. */
static const char *op_blocker(const struct mp_graph *g, char *buf, size_t size)
{
	for (size_t i = 0; i < mp_graph_nnodes(g); i++) {
		const struct mp_node *n = mp_graph_node(g, i);
		if (n->unsupported || !n->params) {
			snprintf(buf, size, "%s (%s)", n->op_type, n->unsupported ? n->unsupported : "?");
			return buf;
		}
	}
	return NULL;
}

/* Runs one batch and compares the outputs; returns PASS/FAIL/SKIP. */
static enum outcome run_batch(struct runner *r, struct mp_exec *x, const struct mp_graph *g,
                              const struct mp_batch *b, const struct mp_tensor *expected, size_t nexp,
                              double rtol, char *why, size_t size)
{
	struct mp_error e = { 0 };
	for (size_t i = 0; i < mp_batch_count(b); i++)
		if (!mp_dtype_computable(mp_batch_tensor(b, i)->dtype)) {
			snprintf(why, size, "%s tensors", mp_dtype_name(mp_batch_tensor(b, i)->dtype));
			return SKIP;
		}
	if (mp_exec_begin(x, b, &e) || mp_exec_run(x, &e)) {
		if (e.status == MP_ERR_UNSUPPORTED && strstr(e.msg, "does not compute on")) {
			snprintf(why, size, "%.*s", (int)(size > 1 ? size - 1 : 0), e.msg);
			return SKIP;
		}
		if (e.status == MP_ERR_UNSUPPORTED) { /* known only once the inputs are: not run */
			snprintf(why, size, "%.*s", (int)(size > 1 ? size - 1 : 0), e.msg);
			return UNSUP;
		}
		snprintf(why, size, "%.*s", (int)(size > 1 ? size - 1 : 0), e.msg);
		return FAIL;
	}
	if (nexp != mp_graph_noutputs(g)) {
		snprintf(why, size, "%zu expected outputs for %zu graph outputs", nexp, mp_graph_noutputs(g));
		return FAIL;
	}
	for (size_t i = 0; i < nexp; i++) {
		struct mp_tensor got = { 0 };
		char w[512];
		if (!mp_dtype_computable(expected[i].dtype)) {
			snprintf(why, size, "%s tensors", mp_dtype_name(expected[i].dtype));
			return SKIP;
		}
		if (mp_exec_fetch(x, mp_graph_output(g, i), &got, &e)) {
			snprintf(why, size, "output %zu: %.900s", i, e.msg);
			return FAIL;
		}
		bool ok = mp_test_allclose(&got, &expected[i], rtol, 1e-7, w, sizeof w);
		mp_tensor_reset(&got);
		if (!ok) {
			snprintf(why, size, "output %zu '%s': %s", i,
			         mp_graph_value(g, (size_t)mp_graph_output(g, i))->name, w);
			return FAIL;
		}
	}
	(void)r;
	return PASS;
}

static void run_case(struct runner *r, const char *label, const char *dir)
{
	char *model = mp_test_join(dir, "model.onnx");
	struct mp_graph *g = NULL;
	struct mp_batch_source *src = NULL;
	struct mp_exec *x = NULL;
	struct mp_error e = { 0 };
	char why[1024], blk[512];
	const char *skip;
	enum outcome o = PASS;

	if (mp_graph_load(model, &g, &e)) {
		if (e.status == MP_ERR_UNSUPPORTED)
			record(r, NULL, label, UNSUP, e.msg);
		else
			record(r, NULL, label, FAIL, e.msg);
		goto out;
	}
	if ((skip = type_skip(g))) {
		record(r, g, label, SKIP, skip);
		goto out;
	}
	if ((skip = op_blocker(g, blk, sizeof blk))) {
		record(r, g, label, UNSUP, skip);
		goto out;
	}
	if (mp_exec_new(g, r->be, r->cpu, NULL, &x, &e)) {
		record(r, g, label, e.status == MP_ERR_UNSUPPORTED ? UNSUP : FAIL, e.msg);
		goto out;
	}
	if (mp_batch_source_open(dir, &src, &e)) {
		record(r, g, label, FAIL, e.msg);
		goto out;
	}
	for (size_t i = 0; i < mp_batch_source_count(src) && o == PASS; i++) {
		struct mp_batch *b;
		if (mp_batch_load(src, i, &b, &e)) {
			snprintf(why, sizeof why, "%.*s", (int)sizeof why - 1, e.msg);
			o = FAIL;
			break;
		}
		o = run_batch(r, x, g, b, mp_batch_nexpected(b) ? mp_batch_expected(b, 0) : NULL,
		              mp_batch_nexpected(b), 1e-3, why, sizeof why);
		mp_batch_free(b);
	}
	record(r, g, label, o, why);
out:
	mp_exec_free(x);
	mp_batch_source_free(src);
	mp_graph_free(g);
	free(model);
}

/* light/: inputs are arange(n)/n of each graph input's declared shape. */
static void run_light(struct runner *r, const char *root, const char *file)
{
	char *model = mp_test_join(root, file), label[256], why[1024], blk[512];
	struct mp_graph *g = NULL;
	struct mp_exec *x = NULL;
	struct mp_batch *b = NULL;
	struct mp_error e = { 0 };
	struct mp_onnx_tensor_file exp = { 0 };
	bool have_exp = false;
	struct mp_tensor *ins = NULL;
	float **bufs = NULL;
	size_t ni = 0;
	const char *skip;

	snprintf(label, sizeof label, "light/%s", file);
	if (mp_graph_load(model, &g, &e)) {
		record(r, NULL, label, FAIL, e.msg);
		goto out;
	}
	if ((skip = op_blocker(g, blk, sizeof blk))) {
		record(r, g, label, UNSUP, skip);
		goto out;
	}
	ni = mp_graph_ninputs(g);
	ins = calloc(ni + 1, sizeof *ins);
	bufs = calloc(ni + 1, sizeof *bufs);
	for (size_t i = 0; i < ni; i++) {
		const struct mp_value *v = mp_graph_value(g, (size_t)mp_graph_input(g, i));
		int64_t dims[MP_MAX_DIMS], n = 1;
		for (int d = 0; d < v->declared.ndim; d++) {
			dims[d] = v->declared.dims[d] >= 0 ? v->declared.dims[d] : 1;
			n *= dims[d];
		}
		bufs[i] = malloc((size_t)n * sizeof(float));
		for (int64_t k = 0; k < n; k++)
			bufs[i][k] = (float)((double)k / (double)n);
		mp_tensor_init(&ins[i], MP_F32, v->declared.ndim, dims);
		ins[i].data = bufs[i];
	}
	if (mp_batch_from_tensors(label, ni, NULL, ins, true, &b, &e) ||
	    mp_exec_new(g, r->be, r->cpu, NULL, &x, &e)) {
		record(r, g, label, FAIL, e.msg);
		goto out;
	}
	/* the expected output: <name>_output_0.pb beside the model */
	char out_name[512];
	snprintf(out_name, sizeof out_name, "%.*s_output_0.pb", (int)(strlen(file) - 5), file);
	char *out_path = mp_test_join(root, out_name);
	have_exp = out_path && !mp_onnx_tensor_file_open(out_path, &exp, &e);
	free(out_path);
	if (!have_exp) {
		record(r, g, label, FAIL, e.msg);
		goto out;
	}
	double rtol = strstr(file, "densenet121") ? 2e-3 : 1e-3;
	enum outcome o = run_batch(r, x, g, b, &exp.t.t, 1, rtol, why, sizeof why);
	record(r, g, label, o, why);
out:
	if (have_exp)
		mp_onnx_tensor_file_close(&exp);
	mp_batch_free(b);
	mp_exec_free(x);
	mp_graph_free(g);
	for (size_t i = 0; bufs && i < ni; i++)
		free(bufs[i]);
	free(bufs);
	free(ins);
	free(model);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t list(const char *dir, char ***out)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t n = 0;
	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			v = realloc(v, (n + 1) * sizeof *v);
			v[n++] = strdup(de->d_name);
		}
	closedir(d);
	if (n)
		qsort(v, n, sizeof *v, cmp_name);
	*out = v;
	return n;
}

static int cmp_opstat(const void *a, const void *b)
{
	return strcmp(((const struct opstat *)a)->op, ((const struct opstat *)b)->op);
}

int main(int argc, char **argv)
{
	struct runner r = { 0 };
	struct mp_error e = { 0 };
	char *root = argc > 1 && argv[1][0] ? strdup(argv[1]) : mp_test_shared_path("onnx-backend-tests");
	const char *filter = argc > 2 ? argv[2] : NULL;
	static const char *const suites[] = { "node", "simple", "pytorch-converted", "pytorch-operator" };

	if (!root) {
		/* TAP's way to skip a whole program; meson and .ci/run count it so */
		printf("1..0 # SKIP ../shared/onnx-backend-tests is not beside the checkout\n");
		return 0;
	}
	const char *why;
	if (!(r.be = mp_test_device_backend(0, &why))) {
		printf("1..0 # SKIP %s\n", why);
		free(root);
		return 0;
	}
	if (mp_backend_cpu_new(0, &r.cpu, &e)) {
		fprintf(stderr, "%s\n", e.msg);
		return 1;
	}
	printf("# backend: %s (%s)\n", r.be->iface->name, mp_backend_device_name(r.be));
	for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++) {
		char *dir = mp_test_join(root, suites[s]), **names = NULL;
		size_t n = list(dir, &names);
		for (size_t i = 0; i < n; i++) {
			char label[512];
			snprintf(label, sizeof label, "%s/%s", suites[s], names[i]);
			if (!filter || strstr(label, filter)) {
				char *c = mp_test_join(dir, names[i]);
				run_case(&r, label, c);
				free(c);
			}
			free(names[i]);
		}
		free(names);
		free(dir);
	}
	char *light = mp_test_join(root, "light"), **names = NULL;
	size_t n = list(light, &names);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(names[i]);
		if (l > 5 && !strcmp(names[i] + l - 5, ".onnx") && (!filter || strstr(names[i], filter)))
			run_light(&r, light, names[i]);
		free(names[i]);
	}
	free(names);
	free(light);

	/* per-op summary: cases containing each op */
	qsort(r.ops, r.nops, sizeof *r.ops, cmp_opstat);
	int supported = 0;
	printf("# %-28s %6s %6s %8s %8s\n", "op", "passed", "failed", "skipped", "not run");
	for (size_t i = 0; i < r.nops; i++) {
		struct opstat *s = &r.ops[i];
		bool known = mp_op_lookup(s->op) != MP_OP_NONE;
		supported += known;
		printf("# %-28s %6d %6d %8d %8d%s\n", s->op, s->n[PASS], s->n[FAIL], s->n[SKIP], s->n[UNSUP],
		       known ? "" : "  (not implemented)");
	}
	int run = r.total[PASS] + r.total[FAIL];
	printf("# cases: %d, run %d, passed %d, failed %d, skipped %d (types), not run %d (unsupported ops)\n",
	       r.tap, run, r.total[PASS], r.total[FAIL], r.total[SKIP], r.total[UNSUP]);
	for (int i = 0; i < r.nskips; i++)
		printf("#   skipped %4d: %s\n", r.skipn[i], r.skips[i]);
	printf("# ops: %d of the %zu op types in the suite are implemented (%d in mpdbg); not implemented:",
	       supported, r.nops, MP_OP_COUNT - 1);
	for (size_t i = 0; i < r.nops; i++)
		if (mp_op_lookup(r.ops[i].op) == MP_OP_NONE)
			printf(" %s", r.ops[i].op);
	printf("\n1..%d\n", r.tap);
	if (r.be != r.cpu)
		mp_backend_free(r.be);
	mp_backend_free(r.cpu);
	free(r.ops);
	free(root);
	return r.total[FAIL] ? 1 : 0;
}
