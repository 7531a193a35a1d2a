/*
 * bench-upstream: the benchmark's stand-in for a ZeroTier One service whose
 * token rotates. One thread, epoll, HTTP/1.1 keep-alive on 127.0.0.1.
 *
 * Every request must carry X-ZT1-Auth equal to the token in TOKEN_FILE as it
 * is *now*: the file is stat()ed on every request and re-read when it changed,
 * so the stand-in can never lag behind the proxy's own watcher (a lagging
 * stand-in would turn a correct proxy's requests into 401s). An empty file,
 * as seen between an in-place rewrite's truncate and its write, keeps the
 * previous token, as ZeroTier's own reader would never see it.
 *
 *   GET  /big/N   answers N bytes (zeros), streamed with back-pressure
 *   PUT  /upload  reads a Content-Length body and answers {"received":N}
 *   anything else answers a small JSON document
 * A wrong or missing token gets 401 {} and the connection is closed.
 *
 * usage: bench-upstream PORT TOKEN_FILE
 * It prints "requests N unauthorized N" (totals so far) to stdout on SIGUSR1,
 * and once more on SIGTERM before it exits 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEAD_MAX  16384
#define TOKEN_CAP 512
#define CHUNK     65536
#define MAX_FDS   65536

static const char small_body[] =
    "{\"address\":\"1234567890\",\"online\":true,\"tcpFallbackActive\":false,"
    "\"version\":\"1.14.0\",\"planetWorldId\":149604618,\"clock\":1700000000000}\n";

struct conn {
	int fd;
	char in[HEAD_MAX];
	size_t inlen;
	uint64_t body_left, body_got; /* request body still to read / read so far */
	bool in_body;
	char out[512];
	size_t outlen, outpos;
	uint64_t zeros_left; /* response body still to send */
	bool close_after;
	bool want_out;
};

static struct conn *conns[MAX_FDS];
static char zeros[CHUNK], scratch[CHUNK];
static int epfd;
static const char *token_path;
static char token[TOKEN_CAP];
static size_t token_len;
static struct stat token_st;
static uint64_t n_requests, n_unauthorized;
static volatile sig_atomic_t stop, report;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		report = 1;
	else
		stop = 1;
}

static void print_counts(void)
{
	printf("requests %" PRIu64 " unauthorized %" PRIu64 "\n", n_requests, n_unauthorized);
	fflush(stdout);
}

static bool same_file_state(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Brings token up to date with the file; keeps the last non-empty value. */
static void token_update(void)
{
	struct stat st;
	char buf[TOKEN_CAP];
	size_t b = 0, e;
	ssize_t n;
	int fd;

	if (stat(token_path, &st) == -1 || same_file_state(&st, &token_st))
		return;
	if ((fd = open(token_path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return;
	/*
	 * st was taken before the read: if the file changed in between, the next
	 * stat() differs and reads it again, so the token never stays stale.
	 */
	e = (size_t)n;
	while (b < e && (buf[b] == ' ' || buf[b] == '\n' || buf[b] == '\r' || buf[b] == '\t'))
		b++;
	while (e > b && (buf[e - 1] == ' ' || buf[e - 1] == '\n' || buf[e - 1] == '\r' ||
	                 buf[e - 1] == '\t' || buf[e - 1] == '\0'))
		e--;
	token_st = st;
	if (e == b)
		return;
	memcpy(token, buf + b, e - b);
	token_len = e - b;
}

static void conn_close(struct conn *c)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	conns[c->fd] = NULL;
	free(c);
}

static void set_interest(struct conn *c, bool want_out)
{
	struct epoll_event ev = {.events = want_out ? EPOLLOUT : EPOLLIN, .data.fd = c->fd};

	if (c->want_out == want_out)
		return;
	c->want_out = want_out;
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void respond(struct conn *c, int status, const char *body, size_t bodylen,
                    uint64_t zeros_len)
{
	int n = snprintf(c->out, sizeof(c->out),
	                 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
	                 "Content-Length: %" PRIu64 "\r\n%s\r\n",
	                 status, status == 200 ? "OK" : "Unauthorized",
	                 zeros_len ? zeros_len : (uint64_t)bodylen,
	                 c->close_after ? "Connection: close\r\n" : "");

	if (n < 0 || (size_t)n + bodylen > sizeof(c->out)) {
		c->close_after = true;
		c->outlen = c->outpos = 0;
		return;
	}
	memcpy(c->out + n, body, bodylen);
	c->outlen = (size_t)n + bodylen;
	c->outpos = 0;
	c->zeros_left = zeros_len;
}

/* The value of header name in head (NUL-terminated, lines end in CRLF), or NULL. */
static const char *header(const char *head, const char *name, size_t *len)
{
	size_t nl = strlen(name);

	for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p, "\r\n")) {
		p += 2;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1, *end;

			while (*v == ' ' || *v == '\t')
				v++;
			end = strstr(v, "\r\n");
			*len = (size_t)(end - v);
			return v;
		}
	}
	return NULL;
}

/* Handles the complete head in c->in (headlen bytes); false closes the connection. */
static bool on_head(struct conn *c, size_t headlen)
{
	char *head = c->in;
	const char *auth, *cl, *path, *connection;
	size_t alen = 0, len = 0;

	head[headlen - 2] = '\0'; /* keeps the last header's CRLF */
	n_requests++;
	path = strchr(head, ' ');
	if (path == NULL)
		return false;
	path++;
	connection = header(head, "Connection", &len);
	c->close_after = connection != NULL && len == 5 && strncasecmp(connection, "close", 5) == 0;
	token_update();
	auth = header(head, "X-ZT1-Auth", &alen);
	if (auth == NULL || token_len == 0 || alen != token_len || memcmp(auth, token, alen) != 0) {
		n_unauthorized++;
		c->close_after = true; /* no need to read a body nobody wants */
		respond(c, 401, "{}", 2, 0);
		return true;
	}
	if (strncmp(path, "/upload", 7) == 0) {
		cl = header(head, "Content-Length", &len);
		c->body_left = cl ? strtoull(cl, NULL, 10) : 0;
		c->body_got = 0;
		c->in_body = true;
		return true;
	}
	if (strncmp(path, "/big/", 5) == 0) {
		uint64_t n = strtoull(path + 5, NULL, 10);

		respond(c, 200, "", 0, n);
		return true;
	}
	respond(c, 200, small_body, sizeof(small_body) - 1, 0);
	return true;
}

static void body_done(struct conn *c)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "{\"received\":%" PRIu64 "}\n", c->body_got);

	c->in_body = false;
	respond(c, 200, body, (size_t)n, 0);
}

/* Consumes buffered input: a body in progress, then at most one request head. */
static bool consume(struct conn *c)
{
	char *end;
	size_t headlen;

	if (c->in_body) {
		size_t n = c->inlen < c->body_left ? c->inlen : (size_t)c->body_left;

		c->body_left -= n;
		c->body_got += n;
		memmove(c->in, c->in + n, c->inlen - n);
		c->inlen -= n;
		if (c->body_left == 0)
			body_done(c);
		return true;
	}
	if (c->outlen > 0 || c->zeros_left > 0)
		return true; /* one response at a time; the rest waits in c->in */
	c->in[c->inlen < HEAD_MAX ? c->inlen : HEAD_MAX - 1] = '\0';
	if ((end = strstr(c->in, "\r\n\r\n")) == NULL)
		return c->inlen < HEAD_MAX - 1; /* a head that does not fit is refused */
	headlen = (size_t)(end - c->in) + 4;
	if (!on_head(c, headlen))
		return false;
	memmove(c->in, c->in + headlen, c->inlen - headlen);
	c->inlen -= headlen;
	if (c->in_body)
		return consume(c);
	return true;
}

/* Writes what is pending; false closes the connection. */
static bool flush(struct conn *c)
{
	while (c->outpos < c->outlen || c->zeros_left > 0) {
		ssize_t n;

		if (c->outpos < c->outlen)
			n = write(c->fd, c->out + c->outpos, c->outlen - c->outpos);
		else
			n = write(c->fd, zeros,
			          c->zeros_left < CHUNK ? (size_t)c->zeros_left : CHUNK);
		if (n < 0 && errno == EAGAIN) {
			set_interest(c, true);
			return true;
		}
		if (n <= 0)
			return false;
		if (c->outpos < c->outlen)
			c->outpos += (size_t)n;
		else
			c->zeros_left -= (uint64_t)n;
	}
	c->outlen = c->outpos = 0;
	set_interest(c, false);
	return !c->close_after;
}

/* Answers every complete request that is buffered (pipelining). */
static void process(struct conn *c)
{
	for (;;) {
		size_t before = c->inlen;

		if (!consume(c)) {
			conn_close(c);
			return;
		}
		if (c->outlen > 0 || c->zeros_left > 0) {
			if (!flush(c)) {
				conn_close(c);
				return;
			}
			if (c->want_out)
				return;
		} else if (c->inlen == before) {
			return;
		}
	}
}

static void on_readable(struct conn *c)
{
	ssize_t n;

	if (c->in_body && c->inlen == 0) {
		/* Body bytes go straight to the scratch buffer: nothing is kept. */
		size_t want = c->body_left < CHUNK ? (size_t)c->body_left : CHUNK;

		n = read(c->fd, scratch, want);
		if (n > 0) {
			c->body_left -= (uint64_t)n;
			c->body_got += (uint64_t)n;
			if (c->body_left == 0) {
				body_done(c);
				if (!flush(c))
					conn_close(c);
			}
			return;
		}
	} else {
		n = read(c->fd, c->in + c->inlen, HEAD_MAX - 1 - c->inlen);
	}
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		conn_close(c);
		return;
	}
	c->inlen += (size_t)n;
	process(c);
}

static void on_writable(struct conn *c)
{
	if (!flush(c))
		conn_close(c);
	else if (!c->want_out)
		process(c); /* requests that arrived while we were writing */
}

static void accept_all(int lfd)
{
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
		struct conn *c;

		if (fd >= MAX_FDS || (c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		conns[fd] = c;
		epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct epoll_event ev = {.events = EPOLLIN}, evs[256];
	struct sigaction act = {.sa_handler = on_signal};
	int lfd, one = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: bench-upstream PORT TOKEN_FILE\n");
		return 64;
	}
	token_path = argv[2];
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	sigaction(SIGUSR1, &act, NULL);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd == -1 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(lfd, 1024) == -1) {
		perror("bench-upstream: listen");
		return 71;
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = lfd;
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
	while (!stop) {
		int n = epoll_wait(epfd, evs, 256, 1000);

		if (report) {
			report = 0;
			print_counts();
		}

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd)
				accept_all(lfd);
			else if (conns[fd] != NULL && conns[fd]->want_out)
				on_writable(conns[fd]);
			else if (conns[fd] != NULL)
				on_readable(conns[fd]);
		}
	}
	print_counts();
	return 0;
}
