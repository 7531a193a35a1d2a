/*
 * Sockets on Windows (Winsock). There are no unix socket files to serve:
 * configurations that name one are refused when they load. A failing call
 * leaves its Winsock error code in errno, for sock_strerror().
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "sock.h"

static int fail(SOCKET s)
{
	int err = WSAGetLastError();

	if (s != INVALID_SOCKET)
		closesocket(s);
	errno = err;
	return -1;
}

int sock_listen_tcp(const struct cfg_listen *cl, struct sockaddr_storage *bound)
{
	int len = sizeof(*bound);
	BOOL on = TRUE;
	u_long nonblocking = 1;
	SOCKET s = WSASocketW(cl->addr.ss_family, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
	                      WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);

	if (s == INVALID_SOCKET)
		return fail(s);
	/*
	 * SO_REUSEADDR would let another process bind the same port and take
	 * connections meant for us; exclusive use is what POSIX's default gives.
	 */
	if (setsockopt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&on, sizeof(on)) != 0 ||
	    ioctlsocket(s, FIONBIO, &nonblocking) != 0 ||
	    (cl->addr.ss_family == AF_INET6 &&
	     setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, (const char *)&on, sizeof(on)) != 0) ||
	    bind(s, (const struct sockaddr *)&cl->addr, (int)cl->addrlen) != 0 ||
	    listen(s, SOMAXCONN) != 0 || getsockname(s, (struct sockaddr *)bound, &len) != 0)
		return fail(s);
	return (int)s;
}

int sock_listen_unix(const struct cfg_listen *cl, sock_file_ours_fn ours, void *arg,
                     struct sock_file *f, char *bound, size_t cap)
{
	(void)cl;
	(void)ours;
	(void)arg;
	(void)f;
	(void)bound;
	(void)cap;
	errno = WSAEAFNOSUPPORT;
	return -1;
}

void sock_unix_remove(struct sock_file *f)
{
	(void)f;
}

const char *sock_strerror(int err)
{
	static char text[256];
	DWORD n;

	if (err < WSABASEERR)
		return strerror(err);
	n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
	                   (DWORD)err, 0, text, sizeof(text), NULL);
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == '.'))
		text[--n] = '\0';
	if (n == 0)
		snprintf(text, sizeof(text), "Winsock error %d", err);
	return text;
}

bool sock_make_nonblocking(int fd)
{
	u_long on = 1;

	return ioctlsocket((SOCKET)fd, FIONBIO, &on) == 0;
}

void sock_shutdown(int fd)
{
	(void)shutdown((SOCKET)fd, SD_BOTH);
}

void sock_close(int fd)
{
	closesocket((SOCKET)fd);
}

int sock_connect(const struct sockaddr *addr, socklen_t len, int *err)
{
	SOCKET s = WSASocketW(addr->sa_family, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
	                      WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
	u_long on = 1;

	if (s == INVALID_SOCKET || ioctlsocket(s, FIONBIO, &on) != 0 ||
	    (connect(s, addr, len) == SOCKET_ERROR && WSAGetLastError() != WSAEWOULDBLOCK)) {
		*err = WSAGetLastError();
		if (s != INVALID_SOCKET)
			closesocket(s);
		return -1;
	}
	return (int)s;
}

int sock_connect_error(int fd)
{
	int e = 0, n = sizeof(e);

	if (getsockopt((SOCKET)fd, SOL_SOCKET, SO_ERROR, (char *)&e, &n) == SOCKET_ERROR)
		return WSAGetLastError();
	return e;
}

long sock_send(int fd, const void *buf, size_t n, int *err)
{
	int k = send((SOCKET)fd, buf, n > INT_MAX ? INT_MAX : (int)n, 0);

	if (k == SOCKET_ERROR)
		*err = WSAGetLastError() == WSAEWOULDBLOCK ? 0 : WSAGetLastError();
	return k == SOCKET_ERROR ? -1 : k;
}

long sock_recv(int fd, void *buf, size_t n, int *err)
{
	int k = recv((SOCKET)fd, buf, n > INT_MAX ? INT_MAX : (int)n, 0);

	if (k == SOCKET_ERROR)
		*err = WSAGetLastError() == WSAEWOULDBLOCK ? 0 : WSAGetLastError();
	return k == SOCKET_ERROR ? -1 : k;
}

void sock_nodelay(int fd)
{
	BOOL on = TRUE;

	(void)setsockopt((SOCKET)fd, IPPROTO_TCP, TCP_NODELAY, (const char *)&on, sizeof(on));
}

void sock_quickack(int fd)
{
	(void)fd; /* Windows has no TCP_QUICKACK */
}

/* Winsock's fd_set is a list of sockets, not a bitmap indexed by descriptor. */
bool sock_fdset_push(const fd_set *rs, const fd_set *ws, int max, sock_push_fn push, void *arg)
{
	(void)max;
	for (u_int i = 0; i < rs->fd_count; i++) {
		SOCKET s = rs->fd_array[i];
		short events = POLLIN;

		if (FD_ISSET(s, (fd_set *)ws))
			events |= POLLOUT;
		if (!push(arg, (int)s, events))
			return false;
	}
	for (u_int i = 0; i < ws->fd_count; i++)
		if (!FD_ISSET(ws->fd_array[i], (fd_set *)rs) &&
		    !push(arg, (int)ws->fd_array[i], POLLOUT))
			return false;
	return true;
}

/*
 * Winsock's fd_set is a counted array of FD_SETSIZE (64) sockets, and
 * select() reads fd_count of them: this is its layout with room for any
 * number, passed to select() as an fd_set.
 */
struct sockset {
	u_int fd_count;
	SOCKET fd_array[];
};

/* NULL when out of memory. */
static struct sockset *sockset_new(size_t n)
{
	struct sockset *set = malloc(sizeof(*set) + (n > 0 ? n : 1) * sizeof(SOCKET));

	if (set != NULL)
		set->fd_count = 0;
	return set;
}

static bool in_set(SOCKET s, const struct sockset *set)
{
	for (u_int i = 0; i < set->fd_count; i++)
		if (set->fd_array[i] == s)
			return true;
	return false;
}

/*
 * select(), not WSAPoll(): before Windows 10 2004 (Windows Server 2019
 * included) WSAPoll() never reports a failed non-blocking connect, so an
 * unreachable upstream would wait out the whole connect timeout. select()
 * reports it in the except set, watched here for every socket that waits
 * to write (a connect in progress does). libcurl's own poll does the same.
 */
int sock_poll(struct pollfd *fds, size_t n, int timeout_ms)
{
	struct sockset *rs = sockset_new(n), *ws = sockset_new(n), *es = sockset_new(n);
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	int ready = -1;

	if (rs == NULL || ws == NULL || es == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		SOCKET s = (SOCKET)fds[i].fd;

		if ((fds[i].events & POLLIN) != 0)
			rs->fd_array[rs->fd_count++] = s;
		if ((fds[i].events & POLLOUT) != 0) {
			ws->fd_array[ws->fd_count++] = s;
			es->fd_array[es->fd_count++] = s;
		}
	}
	if (rs->fd_count + ws->fd_count == 0) {
		/* Winsock refuses a select() on nothing. */
		Sleep(timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms);
		ready = 0;
		goto out;
	}
	if ((ready = select(0, (fd_set *)rs, (fd_set *)ws, (fd_set *)es,
	                    timeout_ms < 0 ? NULL : &tv)) == SOCKET_ERROR) {
		errno = WSAGetLastError();
		ready = -1;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		SOCKET s = (SOCKET)fds[i].fd;

		fds[i].revents = (short)((ready > 0 && in_set(s, rs) ? POLLIN : 0) |
		                         (ready > 0 && in_set(s, ws) ? POLLOUT : 0) |
		                         (ready > 0 && in_set(s, es) ? POLLERR : 0));
	}
out:
	free(rs);
	free(ws);
	free(es);
	return ready;
}
