/* batch.c - batch sources and loaded batches. */
#include "batch.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "arena.h"
#include "batch_internal.h"
#include "fmap.h"
#include "onnx.h"
#include "safetensors.h"

void mp_batch_source_free(struct mp_batch_source *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->paths[i]);
		free(s->names[i]);
	}
	free(s->paths);
	free(s->names);
	free(s);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + 1 + strlen(name) + 1;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* Names in dir accepted by `want`, sorted. */
static enum mp_status list_dir(const char *dir,
                               bool (*want)(const char *dir, const char *name, const char *pattern),
                               const char *pattern, char ***out, size_t *n, struct mp_error *e)
{
	DIR *d = opendir(dir);
	char **v = NULL;
	size_t k = 0, cap = 0;
	struct dirent *de;
	if (!d)
		return mp_error_set(e, MP_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !want(dir, de->d_name, pattern))
			continue;
		if (k == cap) {
			cap = cap ? 2 * cap : 16;
			char **nv = realloc(v, cap * sizeof *v);
			if (!nv)
				goto nomem;
			v = nv;
		}
		if (!(v[k] = strdup(de->d_name)))
			goto nomem;
		k++;
	}
	closedir(d);
	if (k)
		qsort(v, k, sizeof *v, cmp_str);
	*out = v;
	*n = k;
	return MP_OK;
nomem:
	closedir(d);
	for (size_t i = 0; i < k; i++)
		free(v[i]);
	free(v);
	return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
}

static bool is_dir(const char *dir, const char *name)
{
	struct stat st;
	char *p = join(dir, name);
	bool r = p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
	free(p);
	return r;
}

static bool want_safetensors(const char *dir, const char *name, const char *pattern)
{
	(void)dir;
	return pattern ? fnmatch(pattern, name, 0) == 0 : ends_with(name, ".safetensors");
}

static bool want_test_set(const char *dir, const char *name, const char *pattern)
{
	(void)pattern;
	return !strncmp(name, "test_data_set_", 14) && is_dir(dir, name);
}

static bool want_input_pb(const char *dir, const char *name, const char *pattern)
{
	(void)dir;
	(void)pattern;
	return !strncmp(name, "input_", 6) && ends_with(name, ".pb");
}

static bool want_output_pb(const char *dir, const char *name, const char *pattern)
{
	(void)dir;
	(void)pattern;
	return !strncmp(name, "output_", 7) && ends_with(name, ".pb");
}

enum mp_status mp_batch_source_open(const char *path, struct mp_batch_source **out,
                                    struct mp_error *e)
{
	return mp_batch_source_open_glob(path, NULL, out, e);
}

enum mp_status mp_batch_source_open_glob(const char *path, const char *pattern,
                                         struct mp_batch_source **out, struct mp_error *e)
{
	struct mp_batch_source *s = calloc(1, sizeof *s);
	struct stat st;
	enum mp_status rc = MP_OK;
	char **names = NULL;
	size_t n = 0;

	*out = NULL;
	if (!s)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	if (stat(path, &st) != 0) {
		free(s);
		return mp_error_set(e, MP_ERR_IO, "%s: %s", path, strerror(errno));
	}
	if (S_ISREG(st.st_mode)) {
		s->kind = MP_BATCH_SAFETENSORS_FILE;
		s->paths = malloc(sizeof *s->paths);
		s->names = malloc(sizeof *s->names);
		if (!s->paths || !s->names || !(s->paths[0] = strdup(path)) || !(s->names[0] = mp_path_stem(path))) {
			mp_batch_source_free(s);
			return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		}
		s->n = 1;
		*out = s;
		return MP_OK;
	}
	if (!S_ISDIR(st.st_mode)) {
		free(s);
		return mp_error_set(e, MP_ERR_IO, "%s: neither a file nor a folder", path);
	}
	/* a test case holds test_data_set_N folders; a test data set, input_K.pb */
	if ((rc = list_dir(path, want_test_set, NULL, &names, &n, e)))
		goto fail;
	if (n) {
		s->kind = MP_BATCH_TEST_CASE;
	} else {
		size_t k;
		char **inputs;
		if ((rc = list_dir(path, want_input_pb, NULL, &inputs, &k, e)))
			goto fail;
		for (size_t i = 0; i < k; i++)
			free(inputs[i]);
		free(inputs);
		if (k) {
			s->kind = MP_BATCH_TEST_CASE;
			names = malloc(sizeof *names);
			if (!names || !(names[0] = strdup("."))) {
				free(names);
				names = NULL;
				rc = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
				goto fail;
			}
			n = 1;
		} else {
			s->kind = MP_BATCH_SAFETENSORS_DIR;
			if ((rc = list_dir(path, want_safetensors, pattern, &names, &n, e)))
				goto fail;
			if (!n) {
				rc = pattern ? mp_error_set(e, MP_ERR_IO, "%s: no file in this folder matches '%s'", path, pattern) :
				               mp_error_set(e, MP_ERR_IO,
				                            "%s: no .safetensors files and no ONNX test data sets in this folder", path);
				goto fail;
			}
		}
	}
	s->paths = calloc(n, sizeof *s->paths);
	s->names = calloc(n, sizeof *s->names);
	if (!s->paths || !s->names) {
		rc = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		s->paths[i] = strcmp(names[i], ".") ? join(path, names[i]) : strdup(path);
		s->names[i] = s->kind == MP_BATCH_TEST_CASE ?
		              (strcmp(names[i], ".") ? strdup(names[i]) : strdup(mp_path_basename(path))) :
		              mp_path_stem(names[i]);
		s->n++;
		if (!s->paths[i] || !s->names[i]) {
			rc = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
			goto fail;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	*out = s;
	return MP_OK;
fail:
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	mp_batch_source_free(s);
	return rc;
}

enum mp_batch_kind mp_batch_source_kind(const struct mp_batch_source *s) { return s->kind; }
size_t mp_batch_source_count(const struct mp_batch_source *s) { return s->n; }
const char *mp_batch_source_name(const struct mp_batch_source *s, size_t i) { return s->names[i]; }
const char *mp_batch_source_path(const struct mp_batch_source *s, size_t i) { return s->paths[i]; }

void mp_batch_free(struct mp_batch *b)
{
	if (!b)
		return;
	mp_st_close(b->st);
	for (size_t i = 0; i < b->nmaps; i++)
		mp_fmap_close(&b->maps[i]);
	free(b->maps);
	for (size_t i = 0; i < b->n; i++)
		free(b->names[i]);
	free(b->names);
	free(b->files);
	free(b->types);
	free(b->tensors);
	free(b->expected);
	free(b->name);
	free(b->path);
	mp_arena_free(&b->arena);
	free(b->owned);
	free(b);
}

/* Reads a folder's input_K.pb (or output_K.pb) files as TensorProtos. */
static enum mp_status load_pbs(struct mp_batch *b, const char *dir, bool outputs,
                               struct mp_error *e)
{
	char **names;
	size_t n;
	enum mp_status st = list_dir(dir, outputs ? want_output_pb : want_input_pb, NULL, &names, &n, e);
	if (st)
		return st;
	/* sort by K numerically: input_10 after input_9 */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && atol(names[j] + (outputs ? 7 : 6)) < atol(names[j - 1] + (outputs ? 7 : 6)); j--) {
			char *t = names[j];
			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	struct mp_tensor *ts = calloc(n ? n : 1, sizeof *ts);
	struct mp_fmap *maps = realloc(b->maps, (b->nmaps + n + 1) * sizeof *maps);
	if (!ts || !maps) {
		free(ts);
		if (maps)
			b->maps = maps;
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto out;
	}
	b->maps = maps;
	if (!outputs) {
		b->names = calloc(n ? n : 1, sizeof *b->names);
		b->files = calloc(n ? n : 1, sizeof *b->files);
		if (!b->names || !b->files) {
			free(ts);
			st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		char *p = join(dir, names[i]);
		struct mp_onnx_tensor ot;
		if (!p) {
			st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
			break;
		}
		st = mp_fmap_open(p, &b->maps[b->nmaps], e);
		if (!st) {
			b->nmaps++;
			st = mp_onnx_tensor_parse(b->maps[b->nmaps - 1].data, b->maps[b->nmaps - 1].size,
			                          b->maps[b->nmaps - 1].data, &b->arena, NULL, &ot, e);
			if (st)
				mp_error_prefix(e, "%s: ", p);
		}
		if (!st && !outputs) {
			ts[i] = ot.t;
			b->names[i] = strdup(ot.name);
			b->files[i] = mp_arena_strdup(&b->arena, p);
			if (!b->names[i] || !b->files[i])
				st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
			b->n = i + 1;
		} else if (!st) {
			ts[i] = ot.t;
		}
		free(p);
		if (st)
			break;
	}
	if (outputs) {
		b->expected = ts;
		b->nexp = st ? 0 : n;
	} else {
		b->tensors = ts;
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return st;
}

enum mp_status mp_batch_load(const struct mp_batch_source *s, size_t i, struct mp_batch **out,
                             struct mp_error *e)
{
	struct mp_batch *b = calloc(1, sizeof *b);
	enum mp_status st = MP_OK;

	*out = NULL;
	if (!b || !(b->name = strdup(s->names[i])) || !(b->path = strdup(s->paths[i]))) {
		mp_batch_free(b);
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	}
	if (s->kind == MP_BATCH_SYNTHETIC) {
		mp_batch_free(b);
		return mp_batch_synth_load(s, i, out, e);
	}
	if (s->kind == MP_BATCH_TEST_CASE) {
		b->positional = true;
		st = load_pbs(b, s->paths[i], false, e);
		if (!st)
			st = load_pbs(b, s->paths[i], true, e);
	} else {
		st = mp_st_open(s->paths[i], &b->st, e);
		if (!st) {
			size_t n = mp_st_count(b->st);
			b->tensors = calloc(n ? n : 1, sizeof *b->tensors);
			b->names = calloc(n ? n : 1, sizeof *b->names);
			b->files = calloc(n ? n : 1, sizeof *b->files);
			b->types = calloc(n ? n : 1, sizeof *b->types);
			if (!b->tensors || !b->names || !b->files || !b->types)
				st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
			for (size_t k = 0; !st && k < n; k++) {
				const struct mp_st_entry *t = mp_st_entry(b->st, k);
				b->tensors[k] = t->t;
				b->types[k] = t->st_dtype;
				b->names[k] = strdup(t->name);
				b->files[k] = mp_st_path(b->st);
				b->n = k + 1;
				if (!b->names[k])
					st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
			}
		}
	}
	if (st) {
		mp_batch_free(b);
		return st;
	}
	*out = b;
	return MP_OK;
}

enum mp_status mp_batch_from_tensors(const char *name, size_t n, const char *const *names,
                                     const struct mp_tensor *tensors, bool positional,
                                     struct mp_batch **out, struct mp_error *e)
{
	struct mp_batch *b = calloc(1, sizeof *b);
	*out = NULL;
	if (!b || !(b->name = strdup(name)) || !(b->path = strdup(name)))
		goto nomem;
	b->positional = positional;
	b->tensors = calloc(n ? n : 1, sizeof *b->tensors);
	b->names = calloc(n ? n : 1, sizeof *b->names);
	b->files = calloc(n ? n : 1, sizeof *b->files);
	if (!b->tensors || !b->names || !b->files)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		b->tensors[i] = tensors[i];
		b->tensors[i].buf = NULL;
		b->files[i] = b->name;
		if (!(b->names[i] = strdup(names && names[i] ? names[i] : "")))
			goto nomem;
		b->n = i + 1;
	}
	*out = b;
	return MP_OK;
nomem:
	mp_batch_free(b);
	return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
}

const char *mp_batch_name(const struct mp_batch *b) { return b->name; }
const char *mp_batch_path(const struct mp_batch *b) { return b->path; }
size_t mp_batch_count(const struct mp_batch *b) { return b->n; }
const char *mp_batch_tensor_name(const struct mp_batch *b, size_t i) { return b->names[i]; }
const struct mp_tensor *mp_batch_tensor(const struct mp_batch *b, size_t i) { return &b->tensors[i]; }
const char *mp_batch_tensor_file(const struct mp_batch *b, size_t i) { return b->files[i]; }

const char *mp_batch_tensor_type(const struct mp_batch *b, size_t i)
{
	return b->types && b->types[i] ? b->types[i] : mp_dtype_name(b->tensors[i].dtype);
}
bool mp_batch_positional(const struct mp_batch *b) { return b->positional; }
size_t mp_batch_nexpected(const struct mp_batch *b) { return b->nexp; }
const struct mp_tensor *mp_batch_expected(const struct mp_batch *b, size_t i) { return &b->expected[i]; }

enum mp_status mp_batch_match(const struct mp_batch *b, const struct mp_graph *g, size_t *index,
                              struct mp_error *e)
{
	size_t ni = mp_graph_ninputs(g);
	for (size_t i = 0; i < ni; i++) {
		const struct mp_value *v = mp_graph_value(g, (size_t)mp_graph_input(g, i));
		index[i] = SIZE_MAX;
		if (b->positional) {
			if (i < b->n)
				index[i] = i;
		} else {
			for (size_t k = 0; k < b->n; k++)
				if (!strcmp(b->names[k], v->name))
					index[i] = k;
		}
		if (index[i] != SIZE_MAX)
			continue;
		/* name what the model wants and what the batch has */
		char want[512] = "", have[512] = "";
		size_t pw = 0, ph = 0;
		for (size_t k = 0; k < ni && pw < sizeof want; k++)
			pw += (size_t)snprintf(want + pw, sizeof want - pw, "%s'%s'", k ? ", " : "",
			                       mp_graph_value(g, (size_t)mp_graph_input(g, k))->name);
		for (size_t k = 0; k < b->n && ph < sizeof have; k++)
			ph += (size_t)snprintf(have + ph, sizeof have - ph, "%s'%s'", k ? ", " : "", b->names[k]);
		if (b->positional)
			return mp_error_set(e, MP_ERR_INPUT,
			                    "%s: %zu input files, but the model wants %zu inputs (%s)",
			                    b->path, b->n, ni, want);
		return mp_error_set(e, MP_ERR_INPUT,
		                    "%s: the batch lacks the graph input '%s'; the model wants %s, the batch has %s",
		                    b->path, v->name, want, b->n ? have : "no tensors");
	}
	return MP_OK;
}
