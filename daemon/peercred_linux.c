#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "peercred.h"

enum zt_err peercred_get(int fd, struct acc_peer *peer)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	memset(peer, 0, sizeof(*peer));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return ZT_ERR_IO;
	peer->uid = cred.uid;
	peer->gid = cred.gid;
	/*
	 * Supplementary groups (Linux 4.13+): a caller in a group such as
	 * "ztadmin" only through its supplementary list still matches
	 * allow_gids. Without it (older kernel, or more groups than fit) only the
	 * primary group counts, which can only refuse more.
	 */
	len = sizeof(peer->groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, peer->groups, &len) == 0)
		peer->ngroups = len / sizeof(peer->groups[0]);
	return ZT_OK;
}
