/* fuzz_skeleton.c - fuzz target: the skeleton JSON of `overlay --skeleton`
 * (tui/skeleton.c), read from a file as the command reads it; what loads
 * is walked (every name, bone and colour) and freed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_driver.h"
#include "skeleton.h"

static enum mp_fuzz_result one(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = memfd_create("skeleton", 0);
	if (fd < 0)
		return MP_FUZZ_REFUSED;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return MP_FUZZ_REFUSED;
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	struct mp_skeleton *s = calloc(1, sizeof *s);
	struct mp_error e = { 0 };
	enum mp_fuzz_result r = MP_FUZZ_REFUSED;
	if (s && !mp_skeleton_load(path, s, &e)) {
		/* what overlay draws: every bone's ends index a joint with a name */
		volatile size_t sum = 0;
		for (int i = 0; i < s->njoints; i++)
			sum += strlen(s->names[i]) + (size_t)(s->rgb[i][0] * 255);
		for (int i = 0; i < s->nbones; i++)
			sum += strlen(s->names[s->bones[i][0]]) + strlen(s->names[s->bones[i][1]]);
		(void)sum;
		r = MP_FUZZ_RAN;
	}
	if (s)
		mp_skeleton_free(s);
	free(s);
	close(fd);
	return r;
}

static size_t seeds(const char *dir, uint8_t **out, size_t *sizes, size_t cap)
{
	(void)dir;
	static const char *const text[] = {
		"{\"joints\": [\"nose\", \"neck\", \"l_eye\", \"r_eye\"],\n"
		" \"bones\": [[0, 1], [0, 2], [0, 3]],\n"
		" \"colors\": [\"#e41a1c\", \"#377eb8\", \"#4daf4a\", \"#984ea3\"]}\n",
		"{\"joints\": [\"a\", \"b\\u00e9\", \"c\"], \"bones\": [[0, 1], [1, 2], [2, 0]]}",
	};
	size_t k = 0;
	for (size_t i = 0; i < sizeof text / sizeof text[0] && k < cap; i++) {
		sizes[k] = strlen(text[i]);
		out[k] = malloc(sizes[k]);
		memcpy(out[k], text[i], sizes[k]);
		k++;
	}
	return k;
}

const struct mp_fuzz_target mp_fuzz_target = { "skeleton", MP_FUZZ_RAN, one, seeds };
