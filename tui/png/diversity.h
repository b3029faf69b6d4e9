/* diversity.h - `mpdbg diversity`: whether a model's predictions still
 * differ from sample to sample as much as the truth does, across a whole
 * recorded session: per-joint spread of predictions beside the truth's, a
 * 2D PCA of the poses, pairwise distances, the ratio per batch, and the
 * probes' feature diversity along the module order with the layer where
 * it falls; a verdict (collapsed / low / healthy). */
#ifndef MP_DIVERSITY_H
#define MP_DIVERSITY_H

#include "poses.h"
#include "view.h"

enum mp_verdict { MP_VERDICT_COLLAPSED, MP_VERDICT_LOW, MP_VERDICT_HEALTHY, MP_VERDICT_UNKNOWN };

struct mp_diversity {
	int N, J;                 /* samples over the session, joints */
	double *pred, *gt;        /* N x J x 2; gt NULL without ground truth */
	int *batch_of;            /* N */
	size_t nbatches;
	double *ratio_batch;      /* per batch: prediction spread / truth spread */
	double *spread_pred, *spread_gt; /* per joint, px */
	double pred_spread, gt_spread, ratio;
	enum mp_verdict verdict;
	double *feature;          /* per node: across / within (probes), NaN */
	int32_t fall_node;        /* where feature diversity falls most; -1 */
};

const char *mp_verdict_name(enum mp_verdict v);
enum mp_status mp_diversity_analyse(struct mp_view *v, const struct mp_pose_options *po, struct mp_diversity *d,
                                    struct mp_error *e);
void mp_diversity_free(struct mp_diversity *d);
enum mp_status mp_diversity_render(struct mp_view *v, const struct mp_diversity *d, const char *out,
                                   struct mp_error *e);

#endif
