/*
 * The socket calls that differ between POSIX systems and Winsock:
 * sock_posix.c (which also makes unix socket files) and sock_win32.c; meson
 * picks one. Descriptors are ints on both: a Winsock SOCKET is a handle,
 * and Windows guarantees that handles fit in 32 bits.
 */
#ifndef ZTP_SOCK_H
#define ZTP_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "net.h"

struct cfg_listen;

/* How the event loop is told about a descriptor to wait on (POLLIN / POLLOUT). */
typedef bool (*sock_push_fn)(void *arg, int fd, short events);

/*
 * A listening TCP socket on cl->addr: non-blocking, not inherited by child
 * processes. bound gets the address actually bound (the port the system
 * chose for port 0). Returns -1 with errno set on failure.
 */
int sock_listen_tcp(const struct cfg_listen *cl, struct sockaddr_storage *bound);

/* A unix socket file we made, and its identity, so that only our own is removed. */
struct sock_file {
	char *path; /* owned; NULL: none */
	dev_t dev;
	ino_t ino;
};

/* Whether the socket file with this identity is one of ours (a listener's). */
typedef bool (*sock_file_ours_fn)(void *arg, dev_t dev, ino_t ino);

/*
 * A listening unix socket at cl's path that has its mode and owner before
 * anyone can connect; records the file in f so that sock_unix_remove()
 * removes only our own, and writes "unix:PATH" to bound. A socket file
 * already at the path is replaced when ours(arg, ...) says it is ours or
 * when nothing accepts on it. Returns -1 on failure (logged, or errno set);
 * always -1 with errno EAFNOSUPPORT where there are none.
 */
int sock_listen_unix(const struct cfg_listen *cl, sock_file_ours_fn ours, void *arg,
                     struct sock_file *f, char *bound, size_t cap);
/* Removes the socket file f records, if the file at its path is still that socket. */
void sock_unix_remove(struct sock_file *f);

/* What went wrong, for an errno a sock_ function set (on Windows, a Winsock error code). */
const char *sock_strerror(int err);

bool sock_make_nonblocking(int fd);
/* Ends the connection both ways; the peer and libmicrohttpd see it closed. */
void sock_shutdown(int fd);
void sock_close(int fd);

/*
 * The upstream client's calls (upstream_h1.c). A failing one returns -1
 * and sets *err (an errno, or a Winsock error code) for sock_strerror();
 * *err is 0 when the call would only have blocked.
 */
/* A non-blocking TCP connection to addr, under way (or made): its descriptor. */
int sock_connect(const struct sockaddr *addr, socklen_t len, int *err);
/* Once poll() finds a connecting socket writable: 0, or the connection's error. */
int sock_connect_error(int fd);
long sock_send(int fd, const void *buf, size_t n, int *err);
/* 0 when the peer closed its side. */
long sock_recv(int fd, void *buf, size_t n, int *err);
/* TCP_NODELAY on; quickack: TCP_QUICKACK, where the system has it (it wears off). */
void sock_nodelay(int fd);
void sock_quickack(int fd);

/*
 * Calls push for every descriptor in the read and write sets (max: the
 * highest one, as select() wants it). Returns false when push did.
 */
/* poll(); on Windows select(), see sock_win32.c (fds hold sockets only there). */
int sock_poll(struct pollfd *fds, size_t n, int timeout_ms);

bool sock_fdset_push(const fd_set *rs, const fd_set *ws, int max, sock_push_fn push, void *arg);

#endif
