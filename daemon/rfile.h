/*
 * Reading a small file named by the configuration (the configuration file
 * itself, token files) the one careful way: whatever is planted at the path,
 * a FIFO, a device, a directory or a huge file, the caller gets an error at
 * once, never a wait or an unbounded read.
 */
#ifndef ZTP_RFILE_H
#define ZTP_RFILE_H

#include <stddef.h>
#include <sys/stat.h>

#include "err.h"

/*
 * Opens path read-only and non-blocking (a FIFO cannot block open() or
 * read()), following symbolic links (secret stores swap them; a loop is
 * ELOOP), and fstat()s what was opened into *st. ZT_OK with *fd open (the
 * caller closes it); ZT_ERR_INVALID when it is not a regular file (nothing
 * stays open; *st says what it is, see rfile_kind()); ZT_ERR_IO with errno set when open or fstat failed.
 */
ZT_WUR enum zt_err rfile_open(const char *path, int *fd, struct stat *st);

/* "a directory", "a FIFO", "a device", "a socket" or "not a regular file". */
const char *rfile_kind(const struct stat *st);

/*
 * Reads fd to its end into buf, at most cap bytes; *len is what was read.
 * ZT_ERR_TOOBIG when there is more (buf holds cap bytes then, which the
 * caller wipes if they may be secret); ZT_ERR_IO with errno set on a read
 * error. Does not close fd.
 */
ZT_WUR enum zt_err rfile_read(int fd, char *buf, size_t cap, size_t *len);

#endif
