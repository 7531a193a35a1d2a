/* No unix socket listeners here (Windows), so no caller to ask about. */
#include <errno.h>
#include <string.h>

#include "peercred.h"

enum zt_err peercred_get(int fd, struct acc_peer *peer)
{
	(void)fd;
	memset(peer, 0, sizeof(*peer));
	errno = ENOSYS;
	return ZT_ERR_UNSUPPORTED;
}
