/* overlay.h - `mpdbg overlay`: one PNG per batch with, for each sample,
 * its image, the ground-truth joints, the predicted skeleton, and the gap
 * that projecting in the run's low type adds; tiles in a grid with a
 * legend; text chunks naming session, batch, policy and model. */
#ifndef MP_OVERLAY_H
#define MP_OVERLAY_H

#include "poses.h"
#include "skeleton.h"
#include "view.h"

/* Where things go: the picture's size, and each tile's image. */
struct mp_overlay_layout {
	int width, height;
	int cols, rows;
	double scale;          /* picture pixels per image pixel */
	int tile_w, tile_h;    /* the image part of a tile */
	int x0, y0, gap_x, gap_y;
};

void mp_overlay_layout(int B, int H, int W, struct mp_overlay_layout *L);
/* Sample b's image origin in the picture: (x0 + col (tile_w + gap_x), ...). */
void mp_overlay_tile(const struct mp_overlay_layout *L, int b, double *x, double *y);
/* The marker radius of a predicted joint, in picture pixels. */
#define MP_OVERLAY_JOINT_R 4.0

enum mp_status mp_overlay_render(struct mp_view *v, size_t batch_pos, const struct mp_pose_options *po,
                                 const struct mp_skeleton *sk, const char *out, struct mp_error *e);

#endif
