/* poses.h - one batch's keypoints for the overlays: the image and the
 * camera from the batch file the session recorded, the ground truth when
 * the batch has it, and the model's predictions from the session's
 * captures, projected by mpdbg itself in fp32 and again in the run's low
 * type (the gap between the two is what low precision alone adds). */
#ifndef MP_POSES_H
#define MP_POSES_H

#include <stdbool.h>

#include "error.h"
#include "view.h"

struct mp_pose_options {
	const char *image, *joints2d, *joints3d, *intrinsics, *extrinsics, *gt2d, *gt3d;
	bool normalise;           /* mean/std given */
	bool no_image;            /* keypoints only */
	const char *batches_dir;  /* --data: where else batch files may be opened (NULL: the session's folder only) */
	double mean[3], std[3];
};

void mp_pose_options_init(struct mp_pose_options *o);

struct mp_poses {
	int B, J, H, W;
	float *image;             /* B x 3 x H x W, RGB in [0, 1]; NULL without one */
	double *gt;               /* B x J x 2 pixels, or NULL */
	double *pred;             /* B x J x 2: the model's 2D output, or proj32 */
	double *proj32, *projlow; /* B x J x 2, or NULL (no 3D joints or camera) */
	int low;                  /* the run's low type (an mp_dtype), F32 when none */
	char pred_from[160];      /* what pred is, in words */
	char image_note[160];
};

enum mp_status mp_poses_load(struct mp_view *v, size_t batch_pos, const struct mp_pose_options *o,
                             struct mp_poses *p, struct mp_error *e);
void mp_poses_free(struct mp_poses *p);
/* uvw = K (R x + t), u/w, v/w, in fp32 arithmetic, or in `low`'s as
 * PyTorch runs it (operands rounded, fp32 accumulation, each result
 * rounded); E may be NULL. */
void mp_project(const float *x3, const float *K, const float *E, int low, double out[2]);

#endif
