/* cmd_pictures.c - the commands that draw a session as PNGs:
 * `mpdbg overlay FILE.db --batch N` and `mpdbg diversity FILE.db`. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "outputs.h"
#include "diversity.h"
#include "overlay.h"

static const char *const overlay_help =
	"usage: mpdbg overlay FILE.db --batch N [options]\n\n"
	"Draws batch N of a recorded session as a PNG: for each sample its image,\n"
	"the ground-truth joints when the batch has them, the predicted skeleton,\n"
	"and the gap that projecting the 3D joints in the run's low type adds to\n"
	"the fp32 projection (mpdbg projects them itself, both ways).  Images,\n"
	"camera and ground truth come from the batch file the session recorded;\n"
	"predictions from the session's captures (graph outputs always are).\n\n"
	"  --batch N            the batch's index (as `mpdbg report` lists them)\n"
	"  --out FILE.png       default: SESSION-batchN.png beside the session\n"
	MP_CLI_FORCE_HELP
	"  --image NAME         the images [B,3,H,W] (default image)\n"
	"  --joints NAME        the model's 2D joints [B,J,2] (default joints_2d)\n"
	"  --joints3d NAME      its 3D joints [B,J,3] (default joints_3d)\n"
	"  --intrinsics NAME    [B,3,3] (default camera_intrinsics)\n"
	"  --extrinsics NAME    [B,4,4] world to camera (default camera_extrinsics, if present)\n"
	"  --gt NAME            ground truth [B,J,2] (default joints_2d_gt)\n"
	"  --gt3d NAME          or [B,J,3], projected (default joints_3d_gt)\n"
	"  --mean R,G,B --std R,G,B   undo the images' normalisation\n"
	"  --skeleton FILE.json joints, bones and colours of another keypoint set\n"
	"  --data DIR           where the batch files are, besides the session's folder\n"
	"                       (a session's batch files are opened nowhere else)\n"
	"  -h, --help           this help\n";

static bool parse3(const char *s, double v[3])
{
	char *end;
	for (int i = 0; i < 3; i++) {
		errno = 0;
		v[i] = strtod(s, &end);
		if (errno || end == s || (i < 2 ? *end != ',' : *end != '\0'))
			return false;
		s = end + 1;
	}
	return true;
}

/* The options both commands take: tensor names, and where batches are. */
enum { O_IMAGE = 0x300, O_J2, O_J3, O_K, O_E, O_GT, O_GT3, O_MEAN, O_STD, O_SKEL, O_BATCHES };
#define TENSOR_NAME_OPTIONS                                                                               \
	{ "joints", required_argument, NULL, O_J2 }, { "joints3d", required_argument, NULL, O_J3 },      \
	{ "intrinsics", required_argument, NULL, O_K }, { "extrinsics", required_argument, NULL, O_E }, \
	{ "gt", required_argument, NULL, O_GT }, { "gt3d", required_argument, NULL, O_GT3 },            \
	{ "data", required_argument, NULL, O_BATCHES }

/* One of those into po; false when c is not one. */
static bool tensor_name_option(int c, const char *arg, struct mp_pose_options *po)
{
	const char **slot = c == O_J2 ? &po->joints2d : c == O_J3 ? &po->joints3d : c == O_K ? &po->intrinsics :
	                    c == O_E ? &po->extrinsics : c == O_GT ? &po->gt2d : c == O_GT3 ? &po->gt3d :
	                    c == O_BATCHES ? &po->batches_dir : NULL;
	if (slot)
		*slot = arg;
	return slot != NULL;
}

int mp_cmd_overlay(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "batch", required_argument, NULL, 'b' }, { "out", required_argument, NULL, 'o' },
		{ "image", required_argument, NULL, O_IMAGE }, TENSOR_NAME_OPTIONS,
		{ "mean", required_argument, NULL, O_MEAN }, { "std", required_argument, NULL, O_STD },
		{ "skeleton", required_argument, NULL, O_SKEL }, { "force", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct mp_pose_options po;
	struct mp_skeleton sk;
	struct mp_error e = { 0 };
	struct mp_view *v = NULL;
	const char *out = NULL, *skel = NULL;
	long batch = -1;
	bool mean = false, std = false, force = false;
	int c, rc = MP_EXIT_OK;
	char def_out[4096];

	mp_pose_options_init(&po);
	mp_skeleton_hand(&sk);
	optind = 1;
	opterr = 0;
	while (!rc && (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (tensor_name_option(c, optarg, &po))
			continue;
		switch (c) {
		case 'b': if (!mp_cli_parse_count("overlay", "--batch", optarg, &batch)) rc = MP_EXIT_INPUT; break;
		case 'o': out = optarg; break;
		case O_IMAGE: po.image = optarg; break;
		case O_MEAN:
			if (!parse3(optarg, po.mean))
				rc = mp_cli_usage_error("overlay", "--mean wants R,G,B (three numbers), not '%s'", optarg);
			mean = true;
			break;
		case O_STD:
			if (!parse3(optarg, po.std) || !(po.std[0] > 0 && po.std[1] > 0 && po.std[2] > 0))
				rc = mp_cli_usage_error("overlay", "--std wants R,G,B (three positive numbers), not '%s'", optarg);
			std = true;
			break;
		case O_SKEL: skel = optarg; break;
		case 'F': force = true; break;
		case 'h': fputs(overlay_help, stdout); goto out;
		case ':': rc = mp_cli_usage_error("overlay", "%s needs a value", argv[optind - 1]); break;
		default: rc = mp_cli_usage_error("overlay", "unknown option '%s'", argv[optind - 1]); break;
		}
	}
	if (rc)
		goto out;
	if (optind != argc - 1) {
		rc = mp_cli_usage_error("overlay", optind >= argc ? "which session?" : "one session at a time");
		goto out;
	}
	if (batch < 0) {
		rc = mp_cli_usage_error("overlay", "--batch N is required");
		goto out;
	}
	if (mean != std) {
		rc = mp_cli_usage_error("overlay", "--mean and --std go together");
		goto out;
	}
	po.normalise = mean;
	if (skel) {
		mp_skeleton_free(&sk);
		if (mp_skeleton_load(skel, &sk, &e)) {
			rc = mp_cli_fail(&e);
			goto out;
		}
	}
	if (mp_view_open(argv[optind], &v, &e)) {
		rc = mp_cli_fail(&e);
		goto out;
	}
	size_t pos = SIZE_MAX;
	for (size_t i = 0; i < v->nbatches; i++)
		if (v->batch_index[i] == (size_t)batch)
			pos = i;
	if (pos == SIZE_MAX) {
		mp_error_set(&e, MP_ERR_INPUT, "%s: no batch %ld recorded (%zu batch%s%s)", argv[optind], batch, v->nbatches,
		             v->nbatches == 1 ? "" : "es", v->nbatches ? ", from 0" : "");
		rc = mp_cli_fail(&e);
		goto out;
	}
	if (!out) {
		char sfx[48];
		snprintf(sfx, sizeof sfx, "-batch%ld.png", batch);
		out = mp_cli_sibling(def_out, sizeof def_out, argv[optind], sfx);
	}
	if (!mp_run_may_write(out, force, &e) || mp_overlay_render(v, pos, &po, &sk, out, &e)) {
		rc = mp_cli_fail(&e);
		goto out;
	}
	printf("%s\n", out);
out:
	mp_view_free(v);
	mp_skeleton_free(&sk);
	return rc;
}

static const char *const diversity_help =
	"usage: mpdbg diversity FILE.db [options]\n\n"
	"Whether the predictions of a recorded run still differ from sample to\n"
	"sample as much as the ground truth does: per-joint spread beside the\n"
	"truth's, a 2D PCA of predicted and true poses, pairwise distances, the\n"
	"ratio per batch, the probes' feature diversity along the model with the\n"
	"node where it falls most; and a verdict: collapsed (ratio < 0.05), low\n"
	"(< 0.5) or healthy.  Prints the verdict; writes the chart as a PNG.\n\n"
	"  --out FILE.png       default: SESSION-diversity.png beside the session\n"
	MP_CLI_FORCE_HELP
	"  --joints NAME, --joints3d NAME, --intrinsics NAME, --extrinsics NAME,\n"
	"  --gt NAME, --gt3d NAME   tensor names, as for `mpdbg overlay`\n"
	"  --data DIR           where the batch files are, besides the session's folder\n"
	"  -h, --help           this help\n\n"
	"Exit status: 0 (whatever the verdict), 2 bad usage or input.\n";

int mp_cmd_diversity(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "out", required_argument, NULL, 'o' }, TENSOR_NAME_OPTIONS, { "force", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct mp_pose_options po;
	struct mp_diversity d = { 0 };
	struct mp_error e = { 0 };
	struct mp_view *v = NULL;
	const char *out = NULL;
	bool force = false;
	int c, rc = MP_EXIT_OK;
	char def_out[4096];

	mp_pose_options_init(&po);
	optind = 1;
	opterr = 0;
	while (!rc && (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (tensor_name_option(c, optarg, &po))
			continue;
		switch (c) {
		case 'o': out = optarg; break;
		case 'F': force = true; break;
		case 'h': fputs(diversity_help, stdout); goto out;
		case ':': rc = mp_cli_usage_error("diversity", "%s needs a value", argv[optind - 1]); break;
		default: rc = mp_cli_usage_error("diversity", "unknown option '%s'", argv[optind - 1]); break;
		}
	}
	if (rc)
		goto out;
	if (optind != argc - 1) {
		rc = mp_cli_usage_error("diversity", optind >= argc ? "which session?" : "one session at a time");
		goto out;
	}
	if (!out)
		out = mp_cli_sibling(def_out, sizeof def_out, argv[optind], "-diversity.png");
	if (!mp_run_may_write(out, force, &e) || mp_view_open(argv[optind], &v, &e) || mp_diversity_analyse(v, &po, &d, &e) ||
	    mp_diversity_render(v, &d, out, &e)) {
		rc = mp_cli_fail(&e);
		goto out;
	}
	if (d.gt)
		printf("verdict: %s (predictions spread %.3g px, the truth %.3g px: ratio %.3g)\n", mp_verdict_name(d.verdict),
		       d.pred_spread, d.gt_spread, d.ratio);
	else
		printf("verdict: %s (predictions spread %.3g px; no ground truth)\n", mp_verdict_name(d.verdict), d.pred_spread);
	if (d.fall_node >= 0)
		printf("feature diversity falls most at %s (%s)\n", v->nodes[d.fall_node].name, v->nodes[d.fall_node].op);
	printf("%s\n", out);
out:
	mp_diversity_free(&d);
	mp_view_free(v);
	return rc;
}
