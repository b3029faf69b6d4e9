/* poses.c - keypoints of one batch, gathered for the overlays. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "dtype.h"
#include "fmap.h"
#include "poses.h"
#include "safetensors.h"
#include "text.h"

void mp_pose_options_init(struct mp_pose_options *o)
{
	memset(o, 0, sizeof *o);
	o->image = "image";
	o->joints2d = "joints_2d";
	o->joints3d = "joints_3d";
	o->intrinsics = "camera_intrinsics";
	o->extrinsics = "camera_extrinsics";
	o->gt2d = "joints_2d_gt";
	o->gt3d = "joints_3d_gt";
}

void mp_poses_free(struct mp_poses *p)
{
	free(p->image), free(p->gt), free(p->pred), free(p->proj32), free(p->projlow);
	memset(p, 0, sizeof *p);
}

static float rnd(int low, float v)
{
	float out;
	if (low == MP_F32)
		return v;
	if (low == MP_BF16)
		return mp_bf16_to_f32(mp_f32_to_bf16(v));
	uint16_t h;
	mp_dtype_convert(MP_F32, &v, low, &h, 1);
	mp_dtype_convert(low, &h, MP_F32, &out, 1);
	return out;
}

void mp_project(const float *x3, const float *K, const float *E, int low, double out[2])
{
	float x[3], c[3], uvw[3];
	for (int i = 0; i < 3; i++)
		x[i] = rnd(low, x3[i]);
	if (E) { /* camera frame: R x + t (a [4,4] matrix, row-major) */
		for (int r = 0; r < 3; r++) {
			float acc = 0;
			for (int k = 0; k < 3; k++)
				acc += rnd(low, E[4 * r + k]) * x[k];
			c[r] = rnd(low, rnd(low, acc) + rnd(low, E[4 * r + 3]));
		}
	} else {
		memcpy(c, x, sizeof c);
	}
	for (int r = 0; r < 3; r++) { /* x @ K^T: row r of K against the point */
		float acc = 0;
		for (int k = 0; k < 3; k++)
			acc += rnd(low, K[3 * r + k]) * c[k];
		uvw[r] = rnd(low, acc);
	}
	out[0] = rnd(low, uvw[0] / uvw[2]);
	out[1] = rnd(low, uvw[1] / uvw[2]);
}

/* A batch-file tensor as f32, checked against the shape wanted (-1: any). */
static enum mp_status st_tensor(struct mp_st_file *f, const char *name, int nd, const int64_t *want, float **out,
                                int64_t *shape, struct mp_error *e)
{
	const struct mp_st_entry *en = mp_st_find(f, name);
	*out = NULL;
	if (!en)
		return MP_ERR_IO; /* absent: the caller decides */
	if (en->ndim != nd || !mp_dtype_is_float(en->dtype) || !mp_dtype_computable(en->dtype))
		return mp_error_set(e, MP_ERR_INPUT, "%s: '%s' is %s of rank %d; a float tensor of rank %d is wanted",
		                    mp_st_path(f), name, en->st_dtype, en->ndim, nd);
	int64_t n = 1;
	for (int k = 0; k < nd; k++) {
		if (want[k] >= 0 && en->shape[k] != want[k])
			return mp_error_set(e, MP_ERR_INPUT, "%s: '%s' has %lld in dim %d where %lld is wanted", mp_st_path(f),
			                    name, (long long)en->shape[k], k, (long long)want[k]);
		shape[k] = en->shape[k];
		n *= en->shape[k];
	}
	if (n > (int64_t)1 << 28)
		return mp_error_set(e, MP_ERR_INPUT, "%s: '%s' is too large to draw", mp_st_path(f), name);
	if (!(*out = malloc((size_t)n * sizeof **out + 1)))
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	if (n)
		mp_dtype_convert(en->dtype, en->t.data, MP_F32, *out, (size_t)n);
	return MP_OK;
}

static enum mp_status load_image(struct mp_st_file *f, const struct mp_pose_options *o, struct mp_poses *p,
                                 struct mp_error *e)
{
	int64_t want[4] = { p->B, -1, -1, -1 }, sh[4];
	float *x = NULL;
	enum mp_status st = st_tensor(f, o->image, 4, want, &x, sh, e);
	if (st == MP_ERR_IO) {
		snprintf(p->image_note, sizeof p->image_note, "no '%s' in the batch", o->image);
		return MP_OK;
	}
	if (st)
		return st;
	bool nhwc = sh[1] != 1 && sh[1] != 3 && (sh[3] == 1 || sh[3] == 3);
	int64_t C = nhwc ? sh[3] : sh[1], H = nhwc ? sh[1] : sh[2], W = nhwc ? sh[2] : sh[3];
	if ((C != 1 && C != 3) || H < 1 || W < 1 || H > 4096 || W > 4096) {
		free(x);
		return mp_error_set(e, MP_ERR_INPUT, "%s: '%s' is not a batch of images ([B,3,H,W] or [B,H,W,3])",
		                    mp_st_path(f), o->image);
	}
	p->H = (int)H, p->W = (int)W;
	size_t plane = (size_t)(H * W);
	if (!(p->image = malloc((size_t)p->B * 3 * plane * sizeof *p->image))) {
		free(x);
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	}
	for (int b = 0; b < p->B; b++) {
		float lo = INFINITY, hi = -INFINITY;
		for (int c = 0; c < 3; c++)
			for (size_t i = 0; i < plane; i++) {
				int64_t cc = C == 1 ? 0 : c;
				float v = nhwc ? x[((size_t)b * plane + i) * (size_t)C + (size_t)cc] :
				                 x[((size_t)b * (size_t)C + (size_t)cc) * plane + i];
				if (o->normalise)
					v = (float)(v * o->std[c] + o->mean[c]);
				p->image[((size_t)b * 3 + (size_t)c) * plane + i] = v;
				if (isfinite(v))
					lo = fminf(lo, v), hi = fmaxf(hi, v);
			}
		/* without --mean/--std, an image outside [0, 1] is stretched to it */
		bool stretch = !o->normalise && (lo < -0.01f || hi > 1.01f) && hi > lo;
		for (size_t i = 0; i < 3 * plane; i++) {
			float *v = &p->image[(size_t)b * 3 * plane + i];
			float u = stretch ? (*v - lo) / (hi - lo) : *v;
			*v = isfinite(u) ? fminf(fmaxf(u, 0.f), 1.f) : 0.f;
		}
		if (stretch)
			snprintf(p->image_note, sizeof p->image_note, "'%s' stretched from [%.3g, %.3g] (give --mean/--std)",
			         o->image, lo, hi);
	}
	free(x);
	return MP_OK;
}

/* Whether real path full lies inside real folder base. */
static bool path_inside(const char *base, const char *full)
{
	size_t n = strlen(base);
	return !strncmp(full, base, n) && (full[n] == '/' || (n == 1 && base[0] == '/'));
}

/* The batch file a session names, found only inside the session's folder or
 * the one the user names (--data): the session is someone else's file,
 * and its source could name any file of this machine.  Tried in each: the
 * path as recorded (after links), then a file of the same name there (the
 * session sent along with its batches). */
static enum mp_status source_confined(const struct mp_view *v, const char *source, const char *batches_dir,
                                      size_t bidx, char **out, struct mp_error *e)
{
	char *sdir = mp_path_dirname(v->path);
	const char *roots[2] = { batches_dir, sdir };
	char base[PATH_MAX], full[PATH_MAX];
	struct mp_error ie = { 0 };
	*out = NULL;
	if (!sdir)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	for (int r = 0; r < 2 && !*out; r++) {
		struct stat sb;
		if (!roots[r] || !realpath(roots[r], base) || stat(base, &sb))
			continue;
		if (!S_ISDIR(sb.st_mode)) { /* a batch file named: its folder */
			char *slash = strrchr(base, '/');
			if (slash)
				slash[slash == base] = '\0';
		}
		if (source[0] == '/') {
			if (realpath(source, full) && path_inside(base, full) && !(*out = strdup(full))) {
				free(sdir);
				return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
			}
		} else {
			mp_path_resolve_inside(base, source, out, &ie);
		}
		if (!*out && *mp_path_basename(source))
			mp_path_resolve_inside(base, mp_path_basename(source), out, &ie);
	}
	enum mp_status st = MP_OK;
	if (!*out) {
		char *shown = mp_text_escape_dup(source);
		st = mp_error_set(e, MP_ERR_INPUT, "%s: batch %zu was recorded from %.1000s, not found inside the session's folder "
		             "(%s)%s%s; a session's batch files are opened only there or in the folder --data DIR names",
		             v->path, bidx, shown ? shown : "?", sdir, batches_dir ? " or " : "", batches_dir ? batches_dir : "");
		free(shown);
	}
	free(sdir);
	return st;
}

enum mp_status mp_poses_load(struct mp_view *v, size_t batch_pos, const struct mp_pose_options *o,
                             struct mp_poses *p, struct mp_error *e)
{
	char *source = NULL, *file = NULL;
	size_t bidx = batch_pos < v->nbatches ? v->batch_index[batch_pos] : 0;
	struct mp_st_file *f = NULL;
	struct mp_tensor j2 = { 0 }, j3 = { 0 };
	struct mp_error ie = { 0 };
	float *K = NULL, *E = NULL, *g2 = NULL, *g3 = NULL;
	enum mp_status st;
	int64_t sh[4];

	memset(p, 0, sizeof *p);
	p->low = mp_dtype_from_name(v->low_dtype);
	if (!mp_dtype_is_float(p->low))
		p->low = MP_F32;
	/* the predictions: 3D joints and/or the model's own 2D; absent is fine,
	 * damaged is not */
	bool has3 = !(st = mp_view_capture(v, batch_pos, o->joints3d, &j3, &ie));
	if (st && st != MP_ERR_INPUT) {
		*e = ie;
		goto out;
	}
	bool has2 = !(st = mp_view_capture(v, batch_pos, o->joints2d, &j2, &ie));
	if (st && st != MP_ERR_INPUT) {
		*e = ie;
		goto out;
	}
	if ((st = mp_view_batch_source(v, batch_pos, &source, e)) ||
	    (st = source_confined(v, source, o->batches_dir, bidx, &file, e)))
		goto out;
	if ((st = mp_st_open(file, &f, e))) {
		char why[MP_ERROR_MSG_MAX];
		snprintf(why, sizeof why, "%s", e->msg);
		mp_error_set(e, st, "%.300s (the file batch %zu of %s was recorded from)", why, bidx, v->path);
		goto out;
	}
	if (!has3 && !has2) {
		st = mp_error_set(e, MP_ERR_INPUT, "%s: batch %zu has neither '%s' nor '%s' captured (--joints, --joints3d "
		                  "name the model's outputs)", v->path, bidx, o->joints2d, o->joints3d);
		goto out;
	}
	const struct mp_tensor *ref = has2 ? &j2 : &j3;
	if (ref->ndim != 3 || ref->shape[2] != (has2 ? 2 : 3) || (has2 && has3 && (j3.ndim != 3 || j3.shape[2] != 3 ||
	    j3.shape[0] != j2.shape[0] || j3.shape[1] != j2.shape[1]))) {
		st = mp_error_set(e, MP_ERR_INPUT, "%s: the predictions are not [B, J, 2] / [B, J, 3] joints", v->path);
		goto out;
	}
	p->B = (int)ref->shape[0];
	p->J = (int)ref->shape[1];
	if (p->B < 1 || p->J < 1 || p->B > 4096 || p->J > 256) {
		st = mp_error_set(e, MP_ERR_INPUT, "%s: %d samples of %d joints: nothing to draw", v->path, p->B, p->J);
		goto out;
	}
	size_t n2 = (size_t)p->B * (size_t)p->J * 2;
	int64_t wk[3] = { p->B, 3, 3 }, we[3] = { p->B, 4, 4 }, wg2[3] = { p->B, p->J, 2 }, wg3[3] = { p->B, p->J, 3 };
	if ((st = st_tensor(f, o->intrinsics, 3, wk, &K, sh, e)) && st != MP_ERR_IO)
		goto out;
	if ((st = st_tensor(f, o->extrinsics, 3, we, &E, sh, e)) && st != MP_ERR_IO)
		goto out;
	if ((st = st_tensor(f, o->gt2d, 3, wg2, &g2, sh, e)) && st != MP_ERR_IO)
		goto out;
	if (!g2 && (st = st_tensor(f, o->gt3d, 3, wg3, &g3, sh, e)) && st != MP_ERR_IO)
		goto out;
	if (!o->no_image && (st = load_image(f, o, p, e)))
		goto out;
	if (!(p->pred = malloc(n2 * sizeof *p->pred))) {
		st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (has3 && K) {
		if (!(p->proj32 = malloc(n2 * sizeof *p->proj32)) || !(p->projlow = malloc(n2 * sizeof *p->projlow))) {
			st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
			goto out;
		}
		const float *x = j3.data;
		for (int b = 0; b < p->B; b++)
			for (int j = 0; j < p->J; j++) {
				size_t k = (size_t)b * (size_t)p->J + (size_t)j;
				mp_project(x + 3 * k, K + 9 * b, E ? E + 16 * b : NULL, MP_F32, p->proj32 + 2 * k);
				mp_project(x + 3 * k, K + 9 * b, E ? E + 16 * b : NULL, p->low, p->projlow + 2 * k);
			}
	}
	if (has2) {
		for (size_t i = 0; i < n2; i++)
			p->pred[i] = ((const float *)j2.data)[i];
		snprintf(p->pred_from, sizeof p->pred_from, "the model's '%s'", o->joints2d);
	} else if (p->proj32) {
		memcpy(p->pred, p->proj32, n2 * sizeof *p->pred);
		snprintf(p->pred_from, sizeof p->pred_from, "'%s' projected with '%s' in fp32", o->joints3d, o->intrinsics);
	} else {
		st = mp_error_set(e, MP_ERR_INPUT, "%s (batch %zu of %s): no '%s' to project the 3D joints with "
		                  "(--intrinsics NAME)", file, bidx, v->path, o->intrinsics);
		goto out;
	}
	if (g2 || (g3 && K)) {
		if (!(p->gt = malloc(n2 * sizeof *p->gt))) {
			st = mp_error_set(e, MP_ERR_NOMEM, "out of memory");
			goto out;
		}
		for (int b = 0; b < p->B; b++)
			for (int j = 0; j < p->J; j++) {
				size_t k = (size_t)b * (size_t)p->J + (size_t)j;
				if (g2)
					p->gt[2 * k] = g2[2 * k], p->gt[2 * k + 1] = g2[2 * k + 1];
				else
					mp_project(g3 + 3 * k, K + 9 * b, E ? E + 16 * b : NULL, MP_F32, p->gt + 2 * k);
			}
	}
	st = MP_OK;
out:
	if (st)
		mp_poses_free(p);
	mp_tensor_reset(&j2);
	mp_tensor_reset(&j3);
	free(K), free(E), free(g2), free(g3);
	mp_st_close(f);
	free(source);
	free(file);
	return st;
}
