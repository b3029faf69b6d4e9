/* skeleton.h - a keypoint set: joint names, the bones between them and a
 * colour per joint.  The default is the hand (21 joints: the wrist, then
 * four per finger from the thumb, base to tip); a small JSON file gives
 * another:
 *
 *   {"joints": ["nose", "neck", ...],
 *    "bones": [[0, 1], [1, 2], ...],
 *    "colors": ["#e41a1c", ...]}          (one per joint; optional)
 */
#ifndef MP_SKELETON_H
#define MP_SKELETON_H

#include "error.h"

#define MP_SKELETON_MAX 256

struct mp_skeleton {
	int njoints, nbones;
	char *names[MP_SKELETON_MAX];
	int bones[2 * MP_SKELETON_MAX][2];
	double rgb[MP_SKELETON_MAX][3];
};

void mp_skeleton_hand(struct mp_skeleton *s);
enum mp_status mp_skeleton_load(const char *path, struct mp_skeleton *s, struct mp_error *e);
void mp_skeleton_free(struct mp_skeleton *s);

#endif
