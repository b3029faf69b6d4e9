/* torture.c - the allocation-failure test (curl's "torture" idea): every
 * allocation a loading or reading path makes fails in turn, and each time
 * the path must report it with an error status and a message, free all it
 * took, and never crash.
 *
 *     torture model|session [STRIDE] [--at N | --from N]
 *
 * model:   loads examples/handpose/handpose_ts.onnx and its first batch and
 *          runs it through the executor on the CPU;
 * session: reads a session recorded from that model (unarmed, first)
 *          through what report, export and the TUI's view use.
 *
 * For N = 1, 1 + STRIDE, ... the Nth allocation fails, until a run makes
 * fewer than N; a run that fails must return an error status with a
 * message, one that absorbs the failure must give exactly what the run
 * without failures gave, and either must leave as many live allocations as
 * it found.  --at N runs allocation N's failure alone (for a debugger),
 * --from N starts there.
 *
 * The program replaces malloc, calloc, realloc, free and the aligned
 * allocators, counting calls and live blocks and forwarding to glibc's own
 * (__libc_malloc...); that cannot mix with AddressSanitizer, so meson
 * builds it only without -Dsanitizers.  The counters are the allocator's
 * state and so are process globals, atomics for the executor's and the
 * session writer's threads. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "batch.h"
#include "cli.h"
#include "exec.h"
#include "graph.h"
#include "jansson.h"
#include "session.h"
#include "testutil.h"
#include "view.h"

/* ---- the allocator ---- */

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

static atomic_long alloc_calls, alloc_live, alloc_fail_at, alloc_failed, alloc_spared;
/* Inside jansson's parser (json_loads and kin), allocations are counted but
 * never failed: jansson 2.14's lexer ignores a failed strbuffer append
 * (lex_save) and goes on with the text short of a byte, which silently
 * changes a key ("camera_intrinscs"), trips its assert(0) on an escape, or
 * overruns a buffer (free(): invalid next size) - its bug, not ours; see
 * README.md.  Everything else jansson allocates may fail. */
static _Thread_local bool in_json_parser;

static bool should_fail(void)
{
	long n = atomic_fetch_add(&alloc_calls, 1) + 1;
	if (n == atomic_load(&alloc_fail_at) && in_json_parser) {
		atomic_fetch_add(&alloc_spared, 1);
		return false;
	}
	if (n == atomic_load(&alloc_fail_at)) {
		atomic_fetch_add(&alloc_failed, 1);
		errno = ENOMEM; /* as glibc's own failure sets it */
		return true;
	}
	return false;
}

static void *counted(void *p)
{
	if (p)
		atomic_fetch_add(&alloc_live, 1);
	return p;
}

void *malloc(size_t n)
{
	return should_fail() ? NULL : counted(__libc_malloc(n));
}

void *calloc(size_t n, size_t size)
{
	return should_fail() ? NULL : counted(__libc_calloc(n, size));
}

void *realloc(void *p, size_t n)
{
	if (!p)
		return malloc(n);
	if (n == 0) { /* glibc frees p */
		free(p);
		return NULL;
	}
	if (should_fail())
		return NULL;
	return __libc_realloc(p, n);
}

void free(void *p)
{
	if (p)
		atomic_fetch_sub(&alloc_live, 1);
	__libc_free(p);
}

void *aligned_alloc(size_t align, size_t n)
{
	return should_fail() ? NULL : counted(__libc_memalign(align, n));
}

void *memalign(size_t align, size_t n);
void *memalign(size_t align, size_t n)
{
	return aligned_alloc(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	void *p = aligned_alloc(align, n);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

/* jansson's parsing entry points, interposed as malloc is, to mark the
 * parser's allocations (the real ones found once through RTLD_NEXT) */
#define JSON_PARSER(name, params, args)                                        \
	json_t *name params;                                                   \
	json_t *name params                                                    \
	{                                                                      \
		static json_t *(*real) params;                                 \
		if (!real)                                                     \
			*(void **)&real = dlsym(RTLD_NEXT, #name);             \
		in_json_parser = true;                                         \
		json_t *j = real args;                                         \
		in_json_parser = false;                                        \
		return j;                                                      \
	}
JSON_PARSER(json_loads, (const char *input, size_t flags, json_error_t *error), (input, flags, error))
JSON_PARSER(json_loadb, (const char *buffer, size_t buflen, size_t flags, json_error_t *error),
            (buffer, buflen, flags, error))
JSON_PARSER(json_loadf, (FILE *input, size_t flags, json_error_t *error), (input, flags, error))
JSON_PARSER(json_load_file, (const char *path, size_t flags, json_error_t *error), (path, flags, error))

/* ---- the paths ---- */

/* What a run gave, to compare an absorbed failure's run with the clean
 * one: the output's bytes, or the reports' text. */
struct outcome {
	enum mp_status st;
	char msg[MP_ERROR_MSG_MAX];
	unsigned char *bytes;
	size_t n;
};

struct paths {
	const char *model, *batches, *session;
	FILE *sink;  /* the reports' text, for comparison */
};

static void keep_bytes(struct outcome *o, const void *d, size_t n)
{
	o->bytes = __libc_malloc(n ? n : 1); /* outside the count: the caller frees it unarmed */
	if (o->bytes)
		memcpy(o->bytes, d, n);
	o->n = n;
}

static void run_model(const struct paths *p, struct outcome *o)
{
	struct mp_error e = { 0 };
	struct mp_graph *g = NULL;
	struct mp_batch_source *src = NULL;
	struct mp_batch *b = NULL;
	struct mp_backend *cpu = NULL;
	struct mp_exec *x = NULL;
	struct mp_exec_options opt = { 0 };
	enum mp_status st;
	if (!(st = mp_graph_load(p->model, &g, &e)) && !(st = mp_batch_source_open(p->batches, &src, &e)) &&
	    !(st = mp_batch_load(src, 0, &b, &e)) && !(st = mp_backend_cpu_new(1, &cpu, &e)) &&
	    !(st = mp_exec_new(g, cpu, cpu, &opt, &x, &e)) && !(st = mp_exec_begin(x, b, &e)) &&
	    !(st = mp_exec_run(x, &e))) {
		const struct mp_tensor *y = mp_exec_value(x, mp_graph_output(g, 0));
		size_t nb = 0;
		if (y && !mp_shape_nbytes(y->ndim, y->shape, y->dtype, &nb, &e))
			keep_bytes(o, y->data, nb);
	}
	o->st = st;
	snprintf(o->msg, sizeof o->msg, "%s", st ? e.msg : "");
	mp_exec_free(x);
	mp_backend_free(cpu);
	mp_batch_free(b);
	mp_batch_source_free(src);
	mp_graph_free(g);
}

static void run_session(const struct paths *p, struct outcome *o)
{
	struct mp_error e = { 0 };
	struct mp_session *s = NULL;
	struct mp_view *v = NULL;
	enum mp_status st;
	rewind(p->sink);
	if (ftruncate(fileno(p->sink), 0))
		return;
	if (!(st = mp_session_open(p->session, &s, &e)) && !(st = mp_session_report(s, p->sink, false, &e)) &&
	    !(st = mp_session_report(s, p->sink, true, &e)) && !(st = mp_session_export_json(s, p->sink, &e)) &&
	    !(st = mp_session_export_csv(s, p->sink, &e)) && !(st = mp_view_open(p->session, &v, &e))) {
		for (size_t i = 0; !st && i < v->nbatches; i++) {
			struct mp_view_batch *vb;
			struct mp_tensor t = { 0 };
			if (!(st = mp_view_load_batch(v, i, &vb, &e))) {
				fprintf(p->sink, "%zu %s %s %zu\n", vb->index, vb->source, vb->status, vb->nevents);
				mp_view_batch_free(vb);
			}
			if (!st && !(st = mp_view_capture(v, i, "joints_2d", &t, &e))) {
				fwrite(t.data, sizeof(float), (size_t)mp_tensor_numel(&t), p->sink);
				mp_tensor_reset(&t);
			}
		}
		double fig[2 * 16];
		for (int f = 0; !st && f < MP_FIG_COUNT && v->nbatches <= 16; f++)
			if (!(st = mp_view_figure(v, (enum mp_view_figure)f, fig, &e)))
				fwrite(fig, sizeof(double), v->nbatches, p->sink);
	}
	o->st = st;
	snprintf(o->msg, sizeof o->msg, "%s", st ? e.msg : "");
	mp_view_free(v);
	mp_session_close(s);
	fflush(p->sink);
	if (!st) { /* the text as written, compared byte for byte */
		long n = ftell(p->sink);
		unsigned char *d = n > 0 ? __libc_malloc((size_t)n) : NULL;
		if (d) {
			rewind(p->sink);
			o->n = fread(d, 1, (size_t)n, p->sink);
			o->bytes = d;
		}
	}
}

/* ---- the trials ---- */

typedef void (*path_fn)(const struct paths *p, struct outcome *o);

static volatile sig_atomic_t trial_at;

static void on_crash(int sig)
{
	char msg[96];
	int n = snprintf(msg, sizeof msg, "Bail out! signal %d with allocation %ld failing (rerun with --at %ld)\n",
	                 sig, (long)trial_at, (long)trial_at);
	if (write(1, msg, (size_t)n) < 0)
		_exit(2);
	_exit(1);
}

/* One trial: allocation `at` fails (0: none).  Returns the allocations
 * the run made; *leaked the live blocks it left. */
static long trial(path_fn f, const struct paths *p, long at, struct outcome *o, long *leaked, bool *failed,
                  bool *spared)
{
	memset(o, 0, sizeof *o);
	trial_at = at;
	long live = atomic_load(&alloc_live);
	atomic_store(&alloc_failed, 0);
	atomic_store(&alloc_spared, 0);
	atomic_store(&alloc_calls, 0);
	atomic_store(&alloc_fail_at, at);
	f(p, o);
	atomic_store(&alloc_fail_at, 0);
	long calls = atomic_load(&alloc_calls);
	*leaked = atomic_load(&alloc_live) - live;
	*failed = atomic_load(&alloc_failed) > 0;
	*spared = atomic_load(&alloc_spared) > 0;
	return calls;
}

/* mpdbg run MODEL --data BATCHES --compare fp32 --session DB, in-process */
static bool record(const struct paths *p)
{
	char *argv[] = { "run", (char *)p->model, "--data", (char *)p->batches, "--device", "cpu", "--compare",
	                 "fp32", "--policy", "bf16-autocast", "--session", (char *)p->session, NULL };
	fflush(stdout);
	int saved = dup(1), null = open("/dev/null", O_WRONLY);
	dup2(null, 1);
	close(null);
	int rc = mp_cmd_run(12, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	return rc == MP_EXIT_OK;
}

int main(int argc, char **argv)
{
	if (argc < 2 || (strcmp(argv[1], "model") && strcmp(argv[1], "session"))) {
		fprintf(stderr, "usage: torture model|session [STRIDE] [--at N | --from N]\n");
		return 2;
	}
	bool model = !strcmp(argv[1], "model");
	long stride = argc > 2 && argv[2][0] != '-' ? atol(argv[2]) : 1, only = 0, from = 1;
	for (int i = 2; i + 1 < argc; i++) {
		if (!strcmp(argv[i], "--at"))
			only = atol(argv[i + 1]);
		if (!strcmp(argv[i], "--from"))
			from = atol(argv[i + 1]);
	}
	if (stride < 1)
		stride = 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGSEGV, on_crash);
	signal(SIGBUS, on_crash);
	signal(SIGABRT, on_crash);
	signal(SIGFPE, on_crash);

	char *dir = mp_test_tmpdir();
	struct paths p = { MP_SOURCE_ROOT "/examples/handpose/handpose_ts.onnx",
	                   MP_SOURCE_ROOT "/examples/handpose/batches", NULL, tmpfile() };
	char *db = mp_test_join(dir, "s.db");
	p.session = db;
	if (!p.sink || (!model && !record(&p))) {
		printf("Bail out! cannot record the session to read\n");
		return 1;
	}
	path_fn f = model ? run_model : run_session;
	struct outcome clean, o;
	long leaked;
	bool failed, spared;
	/* twice without failures: the first makes what libraries set up once */
	trial(f, &p, 0, &clean, &leaked, &failed, &spared);
	__libc_free(clean.bytes);
	long total = trial(f, &p, 0, &clean, &leaked, &failed, &spared);
	int tap = 0, bad = 0;
	printf("%s %d - %s without failures: %s%s, %ld allocations, %ld left live\n", clean.st || leaked ? "not ok" : "ok",
	       ++tap, argv[1], clean.st ? "failed: " : "ok", clean.msg, total, leaked);
	if (clean.st)
		return 1;
	long nomem = 0, other = 0, absorbed = 0, trials = 0, nspared = 0;
	for (long at = only ? only : from; at <= total; at += stride) {
		long calls = trial(f, &p, at, &o, &leaked, &failed, &spared);
		if (++trials % 1000 == 0)
			printf("# %ld trials, at allocation %ld of %ld\n", trials, at, total);
		const char *why = NULL;
		if (spared) {
			nspared++;
			__libc_free(o.bytes);
			if (only)
				break;
			continue;
		}
		if (!failed)
			why = "the failure never came (the path allocates differently from run to run)";
		else if (o.st && !o.msg[0])
			why = "an error status without a message";
		else if (!o.st && (o.n != clean.n || (o.n && memcmp(o.bytes, clean.bytes, o.n))))
			why = "MP_OK, but not what the run without failures gave";
		else if (leaked)
			why = "allocations left live";
		if (o.st == MP_ERR_NOMEM)
			nomem++;
		else if (o.st)
			other++;
		else
			absorbed++;
		if (why && getenv("MP_TORTURE_DUMP")) { /* the two results, to compare by hand */
			FILE *d = fopen(getenv("MP_TORTURE_DUMP"), "wb");
			if (d) {
				fwrite(clean.bytes, 1, clean.n, d);
				fputs("\n======== with the failure ========\n", d);
				fwrite(o.bytes, 1, o.n, d);
				fclose(d);
			}
		}
		if (why && ++bad <= 200)
			printf("not ok %d - %s: allocation %ld of %ld failing: %s (status %d: %s; %ld left live)\n", ++tap,
			       argv[1], at, calls, why, (int)o.st, o.msg, leaked);
		else if (o.st && o.st != MP_ERR_NOMEM)
			printf("# allocation %ld failing: status %d, not MP_ERR_NOMEM: %s\n", at, (int)o.st, o.msg);
		__libc_free(o.bytes);
		if (only)
			break;
	}
	printf("%s %d - %s: %ld trials of %ld allocations (stride %ld): %ld out of memory, %ld other errors, "
	       "%ld absorbed with the same result, %ld inside jansson's parser (not failed), %d bad\n",
	       bad ? "not ok" : "ok", ++tap, argv[1], trials, total, stride, nomem, other, absorbed, nspared, bad);
	printf("1..%d\n", tap);
	__libc_free(clean.bytes);
	fclose(p.sink);
	mp_test_rmtree(dir);
	free(dir);
	free(db);
	return 0;
}
