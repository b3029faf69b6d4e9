/* fmap.c - file mappings and confined path resolution. */
#include "fmap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *file_kind(mode_t m)
{
	if (S_ISDIR(m)) return "a directory";
	if (S_ISFIFO(m)) return "a FIFO";
	if (S_ISCHR(m)) return "a character device";
	if (S_ISBLK(m)) return "a block device";
	if (S_ISSOCK(m)) return "a socket";
	return "not a regular file";
}

enum mp_status mp_fmap_open(const char *path, struct mp_fmap *m, struct mp_error *e)
{
	struct stat st;
	/* O_NONBLOCK: opening a FIFO for reading would otherwise wait forever for
	 * a writer; the fstat below then refuses anything but a regular file. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	m->data = NULL;
	m->size = 0;
	if (fd < 0)
		return mp_error_set(e, MP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		int err = errno;
		close(fd);
		return mp_error_set(e, MP_ERR_IO, "%s: cannot stat: %s", path, strerror(err));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return mp_error_set(e, MP_ERR_IO, "%s: not a regular file (%s); only regular files are read",
		                    path, file_kind(st.st_mode));
	}
	if (st.st_size > 0) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			int err = errno;
			close(fd);
			return mp_error_set(e, MP_ERR_IO, "%s: cannot map: %s", path, strerror(err));
		}
		m->data = p;
		m->size = (size_t)st.st_size;
	}
	close(fd);
	return MP_OK;
}

void mp_fmap_close(struct mp_fmap *m)
{
	if (m->data)
		munmap((void *)m->data, m->size);
	m->data = NULL;
	m->size = 0;
}

enum mp_status mp_path_resolve_inside(const char *dir, const char *rel, char **out,
                                      struct mp_error *e)
{
	char base[PATH_MAX], full[PATH_MAX], *joined = NULL;
	size_t n = strlen(rel);

	*out = NULL;
	if (n == 0)
		return mp_error_set(e, MP_ERR_FORMAT, "empty path");
	if (rel[0] == '/')
		return mp_error_set(e, MP_ERR_FORMAT,
		                    "'%s' is an absolute path; only paths inside the model's folder are allowed",
		                    rel);
	/* any ".." component is refused outright, even one that would come back */
	for (const char *p = rel; *p;) {
		const char *q = strchr(p, '/');
		size_t len = q ? (size_t)(q - p) : strlen(p);
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return mp_error_set(e, MP_ERR_FORMAT,
			                    "'%s' climbs out of the model's folder with '..'", rel);
		p += len;
		while (*p == '/')
			p++;
	}
	if (!realpath(dir, base))
		return mp_error_set(e, MP_ERR_IO, "%s: cannot resolve folder: %s", dir,
		                    strerror(errno));
	size_t blen = strlen(base);
	if (blen + 1 + n + 1 > PATH_MAX)
		return mp_error_set(e, MP_ERR_FORMAT, "'%s': path too long", rel);
	joined = malloc(blen + 1 + n + 1);
	if (!joined)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	memcpy(joined, base, blen);
	joined[blen] = '/';
	memcpy(joined + blen + 1, rel, n + 1);
	if (!realpath(joined, full)) {
		int err = errno;
		enum mp_status st = mp_error_set(e, MP_ERR_IO, "'%s': %s", rel, strerror(err));
		free(joined);
		return st;
	}
	free(joined);
	/* the real path must lie strictly inside the real folder */
	if (strncmp(full, base, blen) != 0 || (blen > 1 && full[blen] != '/') ||
	    (blen == 1 && full[1] == '\0'))
		return mp_error_set(e, MP_ERR_FORMAT,
		                    "'%s' leads out of the model's folder (to %s) through a symbolic link",
		                    rel, full);
	*out = strdup(full);
	if (!*out)
		return mp_error_set(e, MP_ERR_NOMEM, "out of memory");
	return MP_OK;
}

char *mp_path_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

const char *mp_path_basename(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

char *mp_path_stem(const char *path)
{
	const char *b = mp_path_basename(path);
	const char *dot = strrchr(b, '.');
	return dot && dot != b ? strndup(b, (size_t)(dot - b)) : strdup(b);
}
