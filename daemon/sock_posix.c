/*
 * Sockets on POSIX systems, unix socket files included.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "sock.h"

/* SIGPIPE is ignored anyway (signals.c); MSG_NOSIGNAL only saves the signal. */
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

#define LISTEN_BACKLOG 511

int sock_listen_tcp(const struct cfg_listen *cl, struct sockaddr_storage *bound)
{
	socklen_t len = sizeof(*bound);
	int fd, one = 1, saved;

	fd = socket(cl->addr.ss_family, SOCK_STREAM, 0);
	if (fd == -1)
		return -1;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 || fcntl(fd, F_SETFL, O_NONBLOCK) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    (cl->addr.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    bind(fd, (const struct sockaddr *)&cl->addr, cl->addrlen) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1 ||
	    getsockname(fd, (struct sockaddr *)bound, &len) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

void sock_unix_remove(struct sock_file *f)
{
	struct stat st;

	if (f->path == NULL)
		return;
	if (lstat(f->path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == f->dev &&
	    st.st_ino == f->ino && unlink(f->path) != 0)
		log_errno(LOG_WARN, "cannot remove %s", f->path);
	free(f->path);
	f->path = NULL;
}

/* A non-blocking, close-on-exec unix stream socket (SOCK_CLOEXEC is not everywhere). */
static int unix_socket(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd != -1 &&
	    (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 || fcntl(fd, F_SETFL, O_NONBLOCK) == -1)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Whether something accepts connections on the socket at path (or we cannot tell). */
static bool socket_in_use(const char *path)
{
	struct sockaddr_un su = {.sun_family = AF_UNIX};
	int fd = unix_socket(), rc, err;

	if (fd == -1)
		return true;
	snprintf(su.sun_path, sizeof(su.sun_path), "%s", path);
	rc = connect(fd, (const struct sockaddr *)&su, sizeof(su));
	err = errno;
	close(fd);
	return rc == 0 || err != ECONNREFUSED;
}

/*
 * Whether a new socket may take the name path: nothing is there, a socket
 * nobody listens on (left by a crash), or one of our own sockets (a reload
 * changed its options). Never a symlink or anything that is not a socket.
 */
static bool may_replace(sock_file_ours_fn ours, void *arg, const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return true;
		log_errno(LOG_ERROR, "cannot check %s", path);
		return false;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_error("%s exists and is not a socket%s; it is not replaced: remove it or "
		          "choose another path",
		          path, S_ISLNK(st.st_mode) ? " (a symbolic link)" : "");
		return false;
	}
	if (ours(arg, st.st_dev, st.st_ino))
		return true;
	if (socket_in_use(path)) {
		log_error("%s: another process is listening on this socket", path);
		return false;
	}
	return true;
}

/*
 * A unix socket that has its mode and owner before anyone can connect: it
 * is bound under a private name with a 0600 umask, given its mode and
 * owner, set listening, and only then renamed into place, which also
 * replaces a stale socket atomically.
 */
int sock_listen_unix(const struct cfg_listen *cl, sock_file_ours_fn ours, void *arg,
                     struct sock_file *f, char *bound, size_t cap)
{
	const char *path = ((const struct sockaddr_un *)(const void *)&cl->addr)->sun_path;
	struct sockaddr_un tmp = {.sun_family = AF_UNIX};
	struct stat st;
	mode_t mask;
	int fd, rc, saved;

	if (snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.%ld.new", path, (long)getpid()) >=
	        (int)sizeof(tmp.sun_path) ||
	    !may_replace(ours, arg, tmp.sun_path) || (unlink(tmp.sun_path) != 0 && errno != ENOENT))
		return -1;
	if ((fd = unix_socket()) == -1)
		return -1;
	mask = umask(0177);
	rc = bind(fd, (const struct sockaddr *)&tmp, sizeof(tmp));
	umask(mask);
	if (rc != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if ((cl->owner >= 0 || cl->group >= 0) &&
	    lchown(tmp.sun_path, (uid_t)cl->owner, (gid_t)cl->group) != 0) {
		log_errno(LOG_ERROR, "cannot give %s owner %ld and group %ld", path, cl->owner,
		          cl->group);
		goto fail;
	}
	if (chmod(tmp.sun_path, cl->mode) != 0 || listen(fd, LISTEN_BACKLOG) != 0 ||
	    lstat(tmp.sun_path, &st) != 0) {
		log_errno(LOG_ERROR, "cannot set up %s", tmp.sun_path);
		goto fail;
	}
	if (!may_replace(ours, arg, path))
		goto fail;
	if (rename(tmp.sun_path, path) != 0 || (f->path = strdup(path)) == NULL) {
		log_errno(LOG_ERROR, "cannot move the socket to %s", path);
		goto fail;
	}
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	snprintf(bound, cap, "unix:%s", path);
	return fd;
fail:
	saved = errno;
	(void)unlink(tmp.sun_path);
	close(fd);
	errno = saved;
	return -1;
}

const char *sock_strerror(int err)
{
	return strerror(err);
}

bool sock_make_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl != -1 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) != -1;
}

void sock_shutdown(int fd)
{
	(void)shutdown(fd, SHUT_RDWR);
}

void sock_close(int fd)
{
	close(fd);
}

int sock_connect(const struct sockaddr *addr, socklen_t len, int *err)
{
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd == -1) {
		*err = errno;
		return -1;
	}
	if (connect(fd, addr, len) == -1 && errno != EINPROGRESS) {
		*err = errno;
		close(fd);
		return -1;
	}
	return fd;
}

int sock_connect_error(int fd)
{
	int e = 0;
	socklen_t n = sizeof(e);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &n) == -1)
		return errno;
	return e;
}

long sock_send(int fd, const void *buf, size_t n, int *err)
{
	ssize_t k = send(fd, buf, n, MSG_NOSIGNAL);

	if (k < 0)
		*err = errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : errno;
	return (long)k;
}

long sock_recv(int fd, void *buf, size_t n, int *err)
{
	ssize_t k = recv(fd, buf, n, 0);

	if (k < 0)
		*err = errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : errno;
	return (long)k;
}

void sock_nodelay(int fd)
{
	int on = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

void sock_quickack(int fd)
{
#ifdef TCP_QUICKACK
	int on = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof(on));
#else
	(void)fd;
#endif
}

bool sock_fdset_push(const fd_set *rs, const fd_set *ws, int max, sock_push_fn push, void *arg)
{
	for (int fd = 0; fd <= max; fd++) {
		short events =
		    (short)((FD_ISSET(fd, rs) ? POLLIN : 0) | (FD_ISSET(fd, ws) ? POLLOUT : 0));

		if (events != 0 && !push(arg, fd, events))
			return false;
	}
	return true;
}

int sock_poll(struct pollfd *fds, size_t n, int timeout_ms)
{
	return poll(fds, (nfds_t)n, timeout_ms);
}
