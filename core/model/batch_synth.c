/* batch_synth.c - batches made from the graph's declared input shapes, for
 * a smoke test without a batch file (`run --synthetic`) and for the ONNX
 * fuzz target: the model's shapes are untrusted, so every size is checked
 * and the whole batch is capped before anything is allocated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch_internal.h"

/* splitmix64: small, seedable, the same stream on every machine */
static uint64_t mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static const struct mp_synth_dim *find_dim(const struct mp_synth_options *o, const char *name)
{
	for (size_t i = 0; i < o->ndims; i++)
		if (!strcmp(o->dims[i].name, name))
			return &o->dims[i];
	return NULL;
}

/* The input's shape with its symbolic dims given sizes. */
static enum mp_status input_shape(const struct mp_graph *g, const struct mp_synth_options *o,
                                  const struct mp_value *v, int64_t *dims, struct mp_error *e)
{
	const struct mp_value_info *vi = &v->declared;
	if (!v->has_declared || vi->ndim < 0)
		return mp_error_set(e, MP_ERR_INPUT, "input '%s' declares no shape, so --synthetic cannot make it", v->name);
	if (vi->dtype == MP_DTYPE_UNDEFINED)
		return mp_error_set(e, MP_ERR_INPUT, "input '%s' declares no element type, so --synthetic cannot make it",
		                    v->name);
	if (!mp_dtype_computable(vi->dtype))
		return mp_error_set(e, MP_ERR_INPUT, "input '%s' is %s, which --synthetic cannot make", v->name,
		                    mp_dtype_name(vi->dtype));
	for (int d = 0; d < vi->ndim; d++) {
		int64_t x = vi->dims[d];
		if (MP_DIM_IS_SYM(x)) {
			const struct mp_synth_dim *sd = find_dim(o, mp_graph_symbol(g, (size_t)MP_DIM_SYM_INDEX(x)));
			x = sd ? sd->size : 1;
		} else if (x < 0) {
			x = 1;
		}
		dims[d] = x;
	}
	return MP_OK;
}

static void fill_random(const struct mp_tensor *t, uint64_t seed)
{
	int64_t n = mp_tensor_numel(t);
	const struct mp_dtype_traits *tr = mp_dtype_traits(t->dtype);
	size_t es = mp_dtype_size(t->dtype);
	uint64_t s = seed;
	for (int64_t i = 0; i < n; i++) {
		uint64_t r = mix(&s);
		char *p = (char *)t->data + (size_t)i * es;
		if (t->dtype == MP_BOOL) {
			int64_t v = (int64_t)(r & 1);
			tr->store_i64(&v, p, 1);
		} else if (tr->is_float) {
			double v = (double)(r >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0;
			tr->store_f64(&v, p, 1);
		} else {
			int64_t v = (int64_t)(r % 10);
			tr->store_i64(&v, p, 1);
		}
	}
}

enum mp_status mp_batch_synthesize(const struct mp_graph *g, const struct mp_synth_options *o, size_t index,
                                   struct mp_batch **out, struct mp_error *e)
{
	size_t ni = mp_graph_ninputs(g);
	uint64_t cap = o->max_bytes ? o->max_bytes : MP_SYNTH_MAX_BYTES, total = 0;
	struct mp_tensor *ts = calloc(ni ? ni : 1, sizeof *ts);
	const char **names = calloc(ni ? ni : 1, sizeof *names);
	size_t *offs = calloc(ni ? ni : 1, sizeof *offs);
	struct mp_batch *b = NULL;
	char bname[64];
	enum mp_status st = MP_OK;

	*out = NULL;
	if (!ts || !names || !offs) {
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* shapes and sizes first: nothing is allocated for a batch refused */
	for (size_t i = 0; i < ni; i++) {
		const struct mp_value *v = mp_graph_value(g, (size_t)mp_graph_input(g, i));
		int64_t dims[MP_MAX_DIMS];
		size_t nb;
		char shape[256];
		if ((st = input_shape(g, o, v, dims, e)))
			goto fail;
		mp_shape_str(shape, sizeof shape, v->declared.ndim, dims);
		if (mp_shape_nbytes(v->declared.ndim, dims, v->declared.dtype, &nb, e) || nb > cap ||
		    (((uint64_t)nb + 63) & ~(uint64_t)63) > cap - total) {
			st = mp_error_set(e, MP_ERR_INPUT,
			                  "input '%s' of shape %s (%s) would take the synthetic inputs past their limit of "
			                  "%llu MiB; give its symbolic dims smaller sizes with --dim NAME=N",
			                  v->name, shape, mp_dtype_name(v->declared.dtype), (unsigned long long)(cap >> 20));
			goto fail;
		}
		mp_tensor_init(&ts[i], v->declared.dtype, v->declared.ndim, dims);
		names[i] = v->name;
		/* each tensor at an offset aligned for any element type */
		offs[i] = (size_t)total;
		total += ((uint64_t)nb + 63) & ~(uint64_t)63;
	}
	snprintf(bname, sizeof bname, "synthetic_%zu", index);
	if ((st = mp_batch_from_tensors(bname, ni, names, ts, false, &b, e)))
		goto out;
	free(b->path);
	b->path = strdup(o->random ? "synthetic (random)" : "synthetic (zeros)");
	b->owned = calloc(1, total ? (size_t)total : 1);
	if (!b->path || !b->owned) {
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory: %llu bytes of synthetic inputs",
		                  (unsigned long long)total);
		goto out;
	}
	for (size_t i = 0; i < ni; i++) {
		b->tensors[i].data = (char *)b->owned + offs[i];
		b->files[i] = b->path;
		if (o->random)
			fill_random(&b->tensors[i], o->seed + index * 0x10001ull + i * 0x9E37ull);
	}
	*out = b;
	b = NULL;
	goto out;
fail:
	mp_error_prefix(e, "%s: ", mp_graph_path(g));
out:
	mp_batch_free(b);
	free(ts);
	free(names);
	free(offs);
	return st;
}

enum mp_status mp_batch_synth_load(const struct mp_batch_source *s, size_t i, struct mp_batch **out,
                                   struct mp_error *e)
{
	return mp_batch_synthesize(s->g, s->synth, i, out, e);
}

enum mp_status mp_batch_source_synthetic(const struct mp_graph *g, const struct mp_synth_options *o,
                                         size_t count, struct mp_batch_source **out, struct mp_error *e)
{
	struct mp_batch_source *s;
	*out = NULL;
	for (size_t k = 0; k < o->ndims; k++) {
		bool known = false;
		for (size_t j = 0; j < mp_graph_nsymbols(g) && !known; j++)
			known = !strcmp(mp_graph_symbol(g, j), o->dims[k].name);
		if (!known) {
			char have[512] = "";
			size_t ph = 0;
			for (size_t j = 0; j < mp_graph_nsymbols(g) && ph < sizeof have; j++)
				ph += (size_t)snprintf(have + ph, sizeof have - ph, "%s'%s'", j ? ", " : "", mp_graph_symbol(g, j));
			return mp_error_set(e, MP_ERR_USAGE, "%s: the model has no symbolic dim '%s' (it has %s)",
			                    mp_graph_path(g), o->dims[k].name, ph ? have : "none");
		}
	}
	if (!(s = calloc(1, sizeof *s)) || !(s->paths = calloc(count ? count : 1, sizeof *s->paths)) ||
	    !(s->names = calloc(count ? count : 1, sizeof *s->names)))
		goto nomem;
	s->kind = MP_BATCH_SYNTHETIC;
	s->g = g;
	s->synth = o;
	for (size_t i = 0; i < count; i++) {
		char name[64];
		snprintf(name, sizeof name, "synthetic_%zu", i);
		s->paths[i] = strdup(o->random ? "synthetic (random)" : "synthetic (zeros)");
		s->names[i] = strdup(name);
		s->n = i + 1;
		if (!s->paths[i] || !s->names[i])
			goto nomem;
	}
	*out = s;
	return MP_OK;
nomem:
	mp_batch_source_free(s);
	return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
}
