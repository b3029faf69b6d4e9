/* skeleton.c - the hand skeleton, and keypoint sets from JSON files. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmap.h"
#include "skeleton.h"

/* One colour per finger (ColorBrewer's Set1, which reads in colour-blind
 * eyes too), the wrist white. */
static const double finger_rgb[5][3] = {
	{ 0.894, 0.102, 0.110 }, /* thumb: red */
	{ 0.302, 0.686, 0.290 }, /* index: green */
	{ 0.216, 0.494, 0.722 }, /* middle: blue */
	{ 1.000, 0.498, 0.000 }, /* ring: orange */
	{ 0.596, 0.306, 0.639 }, /* little: purple */
};

void mp_skeleton_hand(struct mp_skeleton *s)
{
	static const char *const fingers[5] = { "thumb", "index", "middle", "ring", "little" };
	static const char *const parts[4] = { "1", "2", "3", "tip" };
	memset(s, 0, sizeof *s);
	s->njoints = 21;
	s->names[0] = strdup("wrist");
	s->rgb[0][0] = s->rgb[0][1] = s->rgb[0][2] = 1.0;
	for (int f = 0; f < 5; f++)
		for (int k = 0; k < 4; k++) {
			int j = 1 + 4 * f + k;
			char name[32];
			snprintf(name, sizeof name, "%s_%s", fingers[f], parts[k]);
			s->names[j] = strdup(name);
			memcpy(s->rgb[j], finger_rgb[f], sizeof s->rgb[j]);
			s->bones[s->nbones][0] = k ? j - 1 : 0;
			s->bones[s->nbones++][1] = j;
		}
}

void mp_skeleton_free(struct mp_skeleton *s)
{
	for (int i = 0; i < s->njoints; i++)
		free(s->names[i]);
	memset(s, 0, sizeof *s);
}

static bool parse_rgb(const char *c, double rgb[3])
{
	unsigned r, g, b;
	char extra;
	if (!c || strlen(c) != 7 || sscanf(c, "#%2x%2x%2x%c", &r, &g, &b, &extra) != 3)
		return false;
	rgb[0] = r / 255.0, rgb[1] = g / 255.0, rgb[2] = b / 255.0;
	return true;
}

enum mp_status mp_skeleton_load(const char *path, struct mp_skeleton *s, struct mp_error *e)
{
	json_error_t je;
	struct mp_fmap map;
	enum mp_status st;
	memset(s, 0, sizeof *s);
	/* mapped, not fopen'd: a FIFO or a device named here is refused, not waited on */
	if ((st = mp_fmap_open(path, &map, e)))
		return st;
	json_t *root = json_loadb(map.data ? (const char *)map.data : "", map.size, JSON_REJECT_DUPLICATES, &je);
	mp_fmap_close(&map);
	if (!root)
		return mp_error_set(e, MP_ERR_FORMAT, "%s: line %d: %s", path, je.line, je.text);
	json_t *joints = json_object_get(root, "joints"), *bones = json_object_get(root, "bones"),
	       *colors = json_object_get(root, "colors");
	size_t nj = json_array_size(joints), nb = json_array_size(bones);
	if (!json_is_array(joints) || !nj || nj > MP_SKELETON_MAX) {
		st = mp_error_set(e, MP_ERR_FORMAT, "%s: \"joints\" must be a list of 1 to %d names", path, MP_SKELETON_MAX);
		goto out;
	}
	if (!json_is_array(bones) || nb > 2 * MP_SKELETON_MAX) {
		st = mp_error_set(e, MP_ERR_FORMAT, "%s: \"bones\" must be a list of at most %d [from, to] pairs", path,
		                  2 * MP_SKELETON_MAX);
		goto out;
	}
	if (colors && (!json_is_array(colors) || json_array_size(colors) != nj)) {
		st = mp_error_set(e, MP_ERR_FORMAT, "%s: \"colors\" must list one \"#rrggbb\" per joint (%zu)", path, nj);
		goto out;
	}
	s->njoints = (int)nj;
	for (size_t i = 0; i < nj; i++) {
		const char *n = json_string_value(json_array_get(joints, i));
		if (!n || !(s->names[i] = strdup(n))) {
			st = mp_error_set(e, MP_ERR_FORMAT, "%s: joint %zu is not a name", path, i);
			goto out;
		}
		if (colors ? !parse_rgb(json_string_value(json_array_get(colors, i)), s->rgb[i]) : false) {
			st = mp_error_set(e, MP_ERR_FORMAT, "%s: colour %zu is not \"#rrggbb\"", path, i);
			goto out;
		}
		if (!colors) /* a wheel of hues */
			memcpy(s->rgb[i], finger_rgb[i % 5], sizeof s->rgb[i]);
	}
	for (size_t i = 0; i < nb; i++) {
		json_t *b = json_array_get(bones, i);
		json_t *a0 = json_array_get(b, 0), *a1 = json_array_get(b, 1);
		if (json_array_size(b) != 2 || !json_is_integer(a0) || !json_is_integer(a1) ||
		    json_integer_value(a0) < 0 || json_integer_value(a0) >= (json_int_t)nj ||
		    json_integer_value(a1) < 0 || json_integer_value(a1) >= (json_int_t)nj) {
			st = mp_error_set(e, MP_ERR_FORMAT, "%s: bone %zu must be [from, to] with joints 0..%zu", path, i, nj - 1);
			goto out;
		}
		s->bones[i][0] = (int)json_integer_value(a0);
		s->bones[i][1] = (int)json_integer_value(a1);
	}
	s->nbones = (int)nb;
out:
	json_decref(root);
	if (st)
		mp_skeleton_free(s);
	return st;
}
