#include <string.h>
#include <unistd.h>

#include "watch_link.h"

bool watch_link_target(const char *path, const char *dir, char *out, size_t cap)
{
	size_t dlen = strlen(dir);
	ssize_t n;

	if (cap < 2 || (n = readlink(path, out, cap - 1)) <= 0 || (size_t)n >= cap - 1)
		return false; /* vanished, or truncated */
	if (out[0] != '/') {
		if (dlen + 1 + (size_t)n >= cap)
			return false;
		memmove(out + dlen + 1, out, (size_t)n);
		memcpy(out, dir, dlen);
		out[dlen] = '/';
		n += (ssize_t)dlen + 1;
	}
	out[n] = '\0';
	return true;
}
