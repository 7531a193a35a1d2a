/*
 * Who is at the other end of a unix socket: one small call per platform
 * (peercred_linux.c: SO_PEERCRED and SO_PEERGROUPS; peercred_getpeereid.c:
 * getpeereid(), primary group only). meson picks the file.
 */
#ifndef ZTP_PEERCRED_H
#define ZTP_PEERCRED_H

#include "access.h"
#include "err.h"

/* Fills *peer for the connected unix socket fd; errno is set on ZT_ERR_IO. */
ZT_WUR enum zt_err peercred_get(int fd, struct acc_peer *peer);

#endif
