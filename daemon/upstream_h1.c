/*
 * The h1 backend (upstream.h): our own HTTP/1.1 client for plain-http
 * upstreams at an IP literal or localhost, such as ZeroTier One's local
 * API. It writes the request itself and leaves every byte of the response
 * to llhttp, Node.js's parser (h1_resp.c). Why not libcurl here: libcurl 7.88 polls
 * twice per transfer and spends more CPU per request than the rest of the
 * proxy together; this path is the one local tools hit hard.
 *
 * A connection is either attached to one request (its exchange) or idle
 * in the pool (connections.keepalive > 0), watched for the server closing
 * it. Connections are freed only in sweep(), so that the loop's pollfds
 * and the pointers taken in wait_fds stay valid through run().
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "h1_frame.h"
#include "h1_pool.h"
#include "h1_resp.h"
#include "headers.h"
#include "log.h"
#include "metrics.h"
#include "net.h"
#include "now.h"
#include "proxy_impl.h"
#include "sock.h"
#include "upstream.h"

/* One read from an upstream socket. */
#define READ_SIZE (16 * 1024)
/* Reads per connection per loop turn, so that one fast upstream cannot starve the rest. */
#define READS_PER_TURN 4
/* Idle connections kept at most, over all routes. */
#define POOL_MAX 1024
/* The request head we write: request line, Host, forwarded headers, token, framing. */
#define HEAD_MAX (512 * 1024)

struct h1_conn {
	int fd;
	bool dead; /* closed; freed by the next sweep() */
	struct up_h1 *h;
	struct metrics_route *mr; /* its route's entry, held: counts up_open */
	char key[H1_KEY_MAX];
	char where[H1_HOST_MAX + 16]; /* "host port N", for messages */
	char host[H1_HOST_MAX + 16];  /* the Host header, the same for each request on it */
	bool reused;                  /* it served a response before this one */
	bool quickack; /* keep-alive: TCP_QUICKACK when a read leaves the response short */

	/* The exchange, while a request is attached. */
	struct req *req;
	struct h1_resp resp;
	bool connecting;
	bool want_write, want_read;
	struct pbuf out;   /* bytes to send: the head (with the token), then body pieces */
	size_t secret_end; /* out holds the token before this offset: wiped once sent */
	enum h1_body framing;
	bool body_end;  /* the whole request is in out (or sent) */
	bool got_bytes; /* a byte of the response arrived */
	bool retried;
	bool localhost_v4;    /* connecting to localhost as 127.0.0.1: ::1 is next */
	uint64_t connect_due; /* monotonic ms; 0: connected */
	uint64_t due;         /* monotonic ms for the whole exchange; 0: no limit */
	uint64_t bytes_in;    /* for the timeout message */
};

struct up_h1 {
	struct h1_conn **all; /* every connection not yet swept */
	size_t n, cap;
	struct h1_conn **polled; /* what the last wait_fds pushed, in order */
	size_t npolled, cap_polled;
	struct h1_pool pool;
};

static void exchange_fail(struct h1_conn *c, enum up_result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- Connections ------------------------------------------------------ */

static void conn_close(struct h1_conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	(void)h1_pool_remove(&c->h->pool, c);
	sock_close(c->fd);
	c->mr->up_open--;
	metrics_route_unref(c->mr);
	if (c->out.data != NULL)
		explicit_bzero(c->out.data, c->out.cap);
	c->secret_end = 0;
	pbuf_free(&c->out);
	h1_resp_free(&c->resp);
}

/* Frees the connections closed since the last sweep. */
static void sweep(struct up_h1 *h)
{
	size_t k = 0;

	for (size_t i = 0; i < h->n; i++) {
		if (h->all[i]->dead)
			free(h->all[i]);
		else
			h->all[k++] = h->all[i];
	}
	h->n = k;
}

/*
 * host as an address; "localhost" is 127.0.0.1, or ::1 on the second try
 * (second_try), as libcurl would find a server listening on either.
 */
static bool resolve(const char *host, uint16_t port, bool second_try, struct sockaddr_storage *ss,
                    socklen_t *len)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (strcmp(host, "localhost") == 0)
		host = second_try ? "::1" : "127.0.0.1";
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		*len = sizeof(*a4);
		return true;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*len = sizeof(*a6);
		return true;
	}
	return false;
}

/* A new connection (under way) for req; NULL with *err set, or 0 for out of memory. */
static struct h1_conn *conn_new(struct up_h1 *h, struct req *req, const struct sockaddr *sa,
                                socklen_t salen, int *err)
{
	struct h1_conn *c;

	*err = 0;
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		struct h1_conn **v = realloc(h->all, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		h->all = v;
		h->cap = cap;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	/* The connection may outlive the request, and a reload the route: hold the entry. */
	if ((c->mr = metrics_route_ref(req->stats->prefix)) != req->stats) {
		if (c->mr != NULL)
			metrics_route_unref(c->mr);
		free(c);
		return NULL;
	}
	if ((c->fd = sock_connect(sa, salen, err)) < 0) {
		metrics_route_unref(c->mr);
		free(c);
		return NULL;
	}
	c->mr->up_open++;
	c->h = h;
	c->connecting = true;
	h->all[h->n++] = c;
	return c;
}

/* ---- The response, through llhttp (h1_resp.c) -------------------------- */

static void on_begin(void *arg)
{
	up_head_begin(((struct h1_conn *)arg)->req, 0);
}

static bool on_header(void *arg, const char *name, size_t namelen, const char *value,
                      size_t valuelen)
{
	return up_header(((struct h1_conn *)arg)->req, name, namelen, value, valuelen);
}

static void on_head_end(void *arg, int status)
{
	struct req *req = ((struct h1_conn *)arg)->req;

	req->status = status;
	up_head_end(req);
}

static void on_body(void *arg, const char *data, size_t len)
{
	/* Reads stop while req->resp is full (pump_in), so this always has room. */
	(void)up_body(((struct h1_conn *)arg)->req, data, len, true);
}

static const struct h1_resp_cb resp_cb = {on_begin, on_header, on_head_end, on_body};

/* ---- The request we write --------------------------------------------- */

static bool out_add(struct h1_conn *c, const void *data, size_t n, size_t max)
{
	return pbuf_append(&c->out, data, n, max);
}

static bool out_str(struct h1_conn *c, const char *s)
{
	return out_add(c, s, strlen(s), HEAD_MAX);
}

/* The request head into c->out; the token is wiped from it once sent. */
static bool write_head(struct h1_conn *c, const struct h1_url *u)
{
	struct req *req = c->req;
	char line[TOKEN_MAX + 64];
	const char *target = u->target[0] == '/' ? u->target : "/";
	bool ok = true;
	int n;

	c->out.rpos = c->out.wpos = 0;
	ok &= out_str(c, req->method) && out_str(c, " ");
	/* A URL with a query but no path ("http://h?x") still needs a path. */
	if (u->target[0] == '?')
		ok &= out_str(c, "/");
	ok &= out_str(c, u->target[0] == '?' ? u->target : target) && out_str(c, " HTTP/1.1\r\n");
	ok &= out_str(c, "Host: ") && out_str(c, c->host) && out_str(c, "\r\n");
	ok &= out_add(c, req->fwd.data, req->fwd.wpos, HEAD_MAX);
	if (req->route->conn_keepalive_ms == 0)
		ok &= out_str(c, "Connection: close\r\n");
	c->framing = h1_body_framing(req->has_body, req->body_len);
	if (c->framing == H1_BODY_LENGTH) {
		char cl[48];

		snprintf(cl, sizeof(cl), "Content-Length: %" PRId64 "\r\n", req->body_len);
		ok &= out_str(c, cl);
	} else if (c->framing == H1_BODY_CHUNKED) {
		ok &= out_str(c, "Transfer-Encoding: chunked\r\n");
	}
	if (!ok || (n = up_auth_line(req, line, sizeof(line))) < 0)
		return false;
	/* Room first: growing out after the token is in would free a copy unwiped. */
	ok = pbuf_reserve(&c->out, (size_t)n + 4, HEAD_MAX) &&
	     out_add(c, line, (size_t)n, HEAD_MAX) && out_str(c, "\r\n\r\n");
	explicit_bzero(line, (size_t)n);
	c->secret_end = c->out.wpos;
	c->body_end = c->framing == H1_BODY_NONE;
	return ok;
}

/* Moves the next piece of the request body into c->out; false: none yet. */
static bool fill_body(struct h1_conn *c)
{
	char buf[READ_SIZE];
	ssize_t n = up_send_read(c->req, buf, sizeof(buf));
	char head[20];

	if (n < 0)
		return false;
	c->out.rpos = c->out.wpos = 0;
	if (n == 0) {
		c->body_end = true;
		return c->framing != H1_BODY_CHUNKED || out_str(c, "0\r\n\r\n");
	}
	if (c->framing == H1_BODY_CHUNKED)
		return out_add(c, head, h1_chunk_head((size_t)n, head), 2 * READ_SIZE) &&
		       out_add(c, buf, (size_t)n, 2 * READ_SIZE) && out_str(c, "\r\n");
	return out_add(c, buf, (size_t)n, 2 * READ_SIZE);
}

/* ---- The exchange ----------------------------------------------------- */

/* The head with the token, once sent or given up; the rest of out holds nothing secret. */
static void wipe_secret(struct h1_conn *c)
{
	if (c->secret_end > 0) {
		explicit_bzero(c->out.data, c->secret_end);
		c->secret_end = 0;
	}
}

static bool retry_fresh(struct h1_conn *c, bool second_address);

/* Detaches the request from c and ends the exchange with result. */
static void exchange_end(struct h1_conn *c, enum up_result r, const char *why)
{
	struct req *req = c->req;

	c->req = NULL;
	req->xfer = NULL;
	wipe_secret(c);
	up_done(req, r, why);
}

static void exchange_fail(struct h1_conn *c, enum up_result r, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	conn_close(c);
	exchange_end(c, r, why);
}

/* A pooled connection failed before any byte of the response: maybe once more, afresh. */
static void exchange_broken(struct h1_conn *c, const char *what)
{
	struct req *req = c->req;
	bool whole = !req->has_body || req->keep_body;

	if (h1_retry_stale(c->reused, c->got_bytes, whole, c->retried)) {
		log_debug("route %s: pooled connection to %s was stale (%s); retrying on a new one",
		          req->route->prefix, c->where, what);
		if (retry_fresh(c, false))
			return;
	}
	if (c->got_bytes)
		exchange_fail(c, UP_FAILED, "connection to %s closed: %s", c->where, what);
	else
		exchange_fail(c, UP_FAILED, "%s: empty reply from server (%s)", c->where, what);
}

/* The final response is complete: the connection goes back to the pool or is closed. */
static void exchange_complete(struct h1_conn *c)
{
	struct req *req = c->req;
	uint64_t keep = req->route->conn_keepalive_ms;
	bool reuse = h1_reusable((uint32_t)keep, h1_resp_keep_alive(&c->resp),
	                         c->body_end && c->out.rpos == c->out.wpos, false);

	c->want_read = c->want_write = false;
	c->reused = true;
	if (c->dead || !reuse || !h1_pool_put(&c->h->pool, c, c->key, now_ms() + keep))
		conn_close(c);
	exchange_end(c, UP_OK, NULL);
}

static void pump_out(struct h1_conn *c);

static void parse(struct h1_conn *c, const char *data, size_t n)
{
	size_t used;

	switch (h1_resp_feed(&c->resp, data, n, &used)) {
	case H1R_MORE:
		return;
	case H1R_DONE:
		/* Bytes past the response: the connection cannot be trusted again. */
		if (used != n)
			conn_close(c);
		exchange_complete(c);
		return;
	case H1R_ERROR:
		exchange_fail(c, UP_FAILED, "%s: bad response: %s", c->where,
		              h1_resp_error(&c->resp));
		return;
	}
}

static void pump_in(struct h1_conn *c)
{
	char buf[READ_SIZE];

	for (int i = 0; i < READS_PER_TURN && c->req != NULL && !c->dead; i++) {
		struct req *req = c->req;
		int err = 0;
		long n;

		/* Back-pressure: no read while the client has not taken what is here. */
		if (req->resp.wpos - req->resp.rpos >= STREAM_BUF) {
			req->write_paused = true;
			c->want_read = false;
			return;
		}
		n = sock_recv(c->fd, buf, sizeof(buf), &err);
		if (n < 0 && err == 0)
			return;
		if (n < 0) {
			exchange_broken(c, sock_strerror(err));
			return;
		}
		if (n == 0) {
			/* A close-delimited body ends here; anything else was cut off. */
			if (c->got_bytes && h1_resp_eof(&c->resp) == H1R_DONE) {
				conn_close(c);
				exchange_complete(c);
			} else {
				exchange_broken(c, "the server closed the connection");
			}
			return;
		}
		c->got_bytes = true;
		c->bytes_in += (uint64_t)n;
		parse(c, buf, (size_t)n);
		/* An upstream with Nagle on (cpp-httplib, ZeroTier One) holds the rest of its
		 * answer until these bytes are acknowledged; without this, our delayed ACK
		 * costs it 40 ms. A complete answer needs no ACK now: the next request on the
		 * connection carries one, and a system call per request is saved. */
		if (c->quickack && c->req == req && !c->dead)
			sock_quickack(c->fd);
	}
}

static void pump_out(struct h1_conn *c)
{
	while (c->req != NULL && !c->dead) {
		int err = 0;
		long n;

		if (c->out.rpos == c->out.wpos) {
			wipe_secret(c);
			if (c->body_end || !fill_body(c)) {
				c->want_write = false;
				return;
			}
			continue;
		}
		n = sock_send(c->fd, c->out.data + c->out.rpos, c->out.wpos - c->out.rpos, &err);
		if (n < 0 && err == 0) {
			c->want_write = true;
			return;
		}
		if (n < 0) {
			exchange_broken(c, sock_strerror(err));
			return;
		}
		c->out.rpos += (size_t)n;
	}
}

/* Sends the request on c, just attached (connecting, or from the pool). */
static bool exchange_begin(struct h1_conn *c, struct req *req, const struct h1_url *u)
{
	const struct config *cfg = req->rt->cfg;
	uint64_t now = now_ms();

	c->req = req;
	req->xfer = c;
	c->quickack = req->route->conn_keepalive_ms > 0;
	c->got_bytes = false;
	c->bytes_in = 0;
	c->due = cfg->upstream_ms ? now + cfg->upstream_ms : 0;
	c->connect_due = c->connecting ? now + cfg->upstream_connect_ms : 0;
	h1_resp_init(&c->resp, req->is_head, &resp_cb, c);
	if (!write_head(c, u))
		return false;
	c->want_read = true;
	c->want_write = true;
	if (!c->connecting)
		pump_out(c);
	return true;
}

/*
 * Which idle connections may take a request: those to the same host and port
 * for the same route entry. Built for every request, so not with printf.
 */
static char *put_hex(char *out, uintmax_t v, unsigned bits)
{
	for (; bits > 0; bits -= 4)
		*out++ = "0123456789abcdef"[(v >> (bits - 4)) & 15];
	*out++ = ' ';
	return out;
}

static void pool_key(char key[H1_KEY_MAX], const struct metrics_route *mr, const char *host,
                     uint16_t port)
{
	char *p = put_hex(key, (uintptr_t)mr, sizeof(uintptr_t) * 8);

	p = put_hex(p, port, 16);
	memcpy(p, host, strlen(host) + 1); /* h1_url_split keeps it under H1_HOST_MAX */
}
_Static_assert(2 * sizeof(uintptr_t) + 6 + H1_HOST_MAX <= H1_KEY_MAX, "a pool key fits");

static bool target_of(struct req *req, struct h1_url *u, uint16_t *port)
{
	uint16_t p = runtime_route_port(req->rt, req->route);

	if (!h1_url_split(req->url, u))
		return false;
	*port = p != 0 ? p : u->port;
	return true;
}

/*
 * Opens a new connection for req, to the second address of localhost if
 * second_address; on failure the exchange has ended (up_done).
 */
static bool connect_for(struct up_h1 *h, struct req *req, bool retried, bool second_address)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct h1_url u;
	struct h1_conn *c;
	uint16_t port;
	int err;
	bool localhost;

	if (!target_of(req, &u, &port) || !resolve(u.host, port, second_address, &ss, &sslen))
		return false;
	localhost = strcmp(u.host, "localhost") == 0;
	if ((c = conn_new(h, req, (struct sockaddr *)&ss, sslen, &err)) == NULL) {
		char why[512];

		if (err == 0)
			return false;
		if (localhost && !second_address)
			return connect_for(h, req, retried, true);
		snprintf(why, sizeof(why), "Failed to connect to %s port %u: %s", u.host, port,
		         sock_strerror(err));
		up_done(req, UP_FAILED, why);
		return true;
	}
	pool_key(c->key, c->mr, u.host, port);
	snprintf(c->where, sizeof(c->where), "%s port %u", u.host, port);
	/* Host as libcurl sends it: the port only when it is not 80. */
	if (port == 80)
		snprintf(c->host, sizeof(c->host), "%s", u.host);
	else
		snprintf(c->host, sizeof(c->host), "%s%s%s:%u", strchr(u.host, ':') ? "[" : "",
		         u.host, strchr(u.host, ':') ? "]" : "", port);
	c->retried = retried;
	c->localhost_v4 = localhost && !second_address;
	return exchange_begin(c, req, &u);
}

/*
 * Moves c's exchange to a new connection: a stale pooled one's, or localhost's
 * ::1; false (c closed, the exchange still on it) when the body cannot be resent.
 */
static bool retry_fresh(struct h1_conn *c, bool second_address)
{
	struct req *req = c->req;

	conn_close(c);
	if (!up_send_rewind(req))
		return false;
	c->req = NULL;
	req->xfer = NULL;
	req->status = 0;
	req->rhdr.wpos = 0;
	req->head_us = 0;
	if (connect_for(c->h, req, second_address ? c->retried : true, second_address))
		return true;
	up_done(req, UP_FAILED, "cannot set up the upstream request");
	return true;
}

static void on_connected(struct h1_conn *c)
{
	int e = sock_connect_error(c->fd);

	if (e != 0 && c->localhost_v4 && retry_fresh(c, true))
		return;
	if (e != 0) {
		exchange_fail(c, UP_FAILED, "Failed to connect to %s: %s", c->where,
		              sock_strerror(e));
		return;
	}
	c->connecting = false;
	c->connect_due = 0;
	sock_nodelay(c->fd);
	pump_out(c);
}

/* ---- The backend interface -------------------------------------------- */

static enum zt_err h1_open(struct app *app)
{
	struct up_h1 *h = app->h1 = calloc(1, sizeof(*h));

	if (h == NULL)
		return ZT_ERR_NOMEM;
	h->pool.max = POOL_MAX;
	return ZT_OK;
}

static void h1_close(struct app *app)
{
	struct up_h1 *h = app->h1;

	if (h == NULL)
		return;
	for (size_t i = 0; i < h->n; i++)
		conn_close(h->all[i]);
	sweep(h);
	free(h->all);
	free(h->polled);
	h1_pool_free(&h->pool);
	free(h);
	app->h1 = NULL;
}

static void lower_timeout(int *timeout_ms, uint64_t due, uint64_t now)
{
	int ms;

	if (due == 0 || due == UINT64_MAX)
		return;
	ms = due <= now ? 0 : due - now > INT32_MAX ? INT32_MAX : (int)(due - now);
	if (*timeout_ms < 0 || ms < *timeout_ms)
		*timeout_ms = ms;
}

static bool h1_wait_fds(struct app *app, sock_push_fn push, void *arg, int *timeout_ms)
{
	struct up_h1 *h = app->h1;
	uint64_t now = now_ms();

	sweep(h);
	if (h->cap_polled < h->n) {
		struct h1_conn **v = realloc(h->polled, h->cap * sizeof(*v));

		if (v == NULL)
			return false;
		h->polled = v;
		h->cap_polled = h->cap;
	}
	h->npolled = 0;
	for (size_t i = 0; i < h->n; i++) {
		struct h1_conn *c = h->all[i];
		short ev = 0;

		if (c->req == NULL) {
			ev = POLLIN; /* idle: the server closing it */
		} else if (c->connecting) {
			ev = POLLOUT;
			lower_timeout(timeout_ms, c->connect_due, now);
		} else {
			ev = (short)((c->want_read ? POLLIN : 0) | (c->want_write ? POLLOUT : 0));
		}
		if (c->req != NULL)
			lower_timeout(timeout_ms, c->due, now);
		if (ev == 0)
			continue;
		if (!push(arg, c->fd, ev))
			return false;
		h->polled[h->npolled++] = c;
	}
	lower_timeout(timeout_ms, h1_pool_next_deadline(&h->pool), now);
	return true;
}

static void check_deadlines(struct up_h1 *h, uint64_t now)
{
	void *idle;

	/* Connections opened meanwhile are appended: h->n is read on every turn. */
	for (size_t i = 0; i < h->n; i++) {
		struct h1_conn *c = h->all[i];
		const struct config *cfg;

		if (c->dead || c->req == NULL)
			continue;
		cfg = c->req->rt->cfg;
		if (c->connecting && now >= c->connect_due)
			exchange_fail(c, UP_TIMEOUT,
			              "Connection timed out after %u milliseconds (%s)",
			              cfg->upstream_connect_ms, c->where);
		else if (c->due != 0 && now >= c->due)
			exchange_fail(c, UP_TIMEOUT,
			              "Operation timed out after %u milliseconds with %" PRIu64
			              " bytes received",
			              cfg->upstream_ms, c->bytes_in);
	}
	while ((idle = h1_pool_expired(&h->pool, now)) != NULL)
		conn_close(idle);
}

static void h1_run(struct app *app, const struct pollfd *ready, size_t n)
{
	struct up_h1 *h = app->h1;

	for (size_t i = 0; i < n && i < h->npolled; i++) {
		struct h1_conn *c = h->polled[i];
		short re = ready[i].revents;

		if (re == 0 || c->dead || c->fd != (int)ready[i].fd)
			continue;
		if (c->req == NULL) {
			conn_close(c); /* an idle connection has nothing to say but goodbye */
		} else if (c->connecting) {
			on_connected(c);
		} else {
			if ((re & POLLOUT) != 0)
				pump_out(c);
			if ((re & (POLLIN | POLLHUP | POLLERR)) != 0 && c->req != NULL && !c->dead)
				pump_in(c);
		}
	}
	check_deadlines(h, now_ms());
	sweep(h);
	h->npolled = 0;
}

static bool h1_start(struct req *req)
{
	struct up_h1 *h = req->app->h1;
	struct h1_conn *c = NULL;
	struct h1_url u;
	uint16_t port;
	char key[H1_KEY_MAX];

	if (req->route->conn_keepalive_ms > 0 && target_of(req, &u, &port)) {
		pool_key(key, req->stats, u.host, port);
		c = h1_pool_take(&h->pool, key, now_ms());
	}
	if (c != NULL) {
		c->retried = false;
		return exchange_begin(c, req, &u);
	}
	return connect_for(h, req, false, false);
}

static void h1_abort(struct req *req)
{
	struct h1_conn *c = req->xfer;

	if (c == NULL)
		return;
	c->req = NULL;
	req->xfer = NULL;
	conn_close(c);
}

static void h1_send_more(struct req *req)
{
	struct h1_conn *c = req->xfer;

	if (c != NULL && !c->connecting)
		pump_out(c);
}

static void h1_recv_more(struct req *req)
{
	struct h1_conn *c = req->xfer;

	if (c != NULL)
		c->want_read = true; /* the next wait reads on */
}

static void h1_release(struct req *req)
{
	h1_abort(req);
}

const struct upstream_ops upstream_h1 = {
    .name = "h1",
    .open = h1_open,
    .close = h1_close,
    .wait_fds = h1_wait_fds,
    .run = h1_run,
    .start = h1_start,
    .abort = h1_abort,
    .send_more = h1_send_more,
    .recv_more = h1_recv_more,
    .release = h1_release,
};
