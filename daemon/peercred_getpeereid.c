#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "peercred.h"

enum zt_err peercred_get(int fd, struct acc_peer *peer)
{
	memset(peer, 0, sizeof(*peer));
	/* The effective ids at connect(); supplementary groups are not known here. */
	if (getpeereid(fd, &peer->uid, &peer->gid) != 0)
		return ZT_ERR_IO;
	return ZT_OK;
}
