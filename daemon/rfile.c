#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "compat.h"
#include "rfile.h"

enum zt_err rfile_open(const char *path, int *fd, struct stat *st)
{
	int err;

	*fd = open(path, O_RDONLY | O_BINARY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (*fd < 0)
		return ZT_ERR_IO;
	if (fstat(*fd, st) != 0) {
		err = errno;
		close(*fd);
		*fd = -1;
		errno = err;
		return ZT_ERR_IO;
	}
	if (!S_ISREG(st->st_mode)) {
		close(*fd);
		*fd = -1;
		return ZT_ERR_INVALID;
	}
	return ZT_OK;
}

enum zt_err rfile_read(int fd, char *buf, size_t cap, size_t *len)
{
	char probe;
	ssize_t n;

	*len = 0;
	for (;;) {
		/* One byte past cap tells a file of exactly cap bytes from a bigger one. */
		n = *len < cap ? read(fd, buf + *len, cap - *len) : read(fd, &probe, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ZT_ERR_IO;
		if (n == 0)
			return ZT_OK;
		if (*len == cap)
			return ZT_ERR_TOOBIG;
		*len += (size_t)n;
	}
}

const char *rfile_kind(const struct stat *st)
{
	if (S_ISDIR(st->st_mode))
		return "a directory";
#ifdef S_ISFIFO
	if (S_ISFIFO(st->st_mode))
		return "a FIFO";
#endif
	if (S_ISCHR(st->st_mode))
		return "a device";
#ifdef S_ISSOCK
	if (S_ISSOCK(st->st_mode))
		return "a socket";
#endif
	return "not a regular file";
}
