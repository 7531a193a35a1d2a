/*
 * What both upstream backends share: the choice between them, the
 * forwarded request headers and the token line, the response head and body
 * buffers, the request body's flow, and the end of an exchange (the 401
 * replay, the upstream latency metric, the 502/504 JSON errors).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "compat.h"
#include "headers.h"
#include "log.h"
#include "metrics.h"
#include "now.h"
#include "proxy_impl.h"
#include "upstream.h"

/*
 * Upstream response headers kept for one response; what the client's
 * connection can take is checked when they are passed on (proxy.c).
 */
#define RESP_HEADERS_MAX (64 * 1024)
/* Forwarded request header bytes; the gate has held the head to max_header_size. */
#define FWD_HEADERS_MAX (2 * 1024 * 1024)
/* The client's Connection header values, joined. */
#define CONNECTION_MAX 1024

static const struct upstream_ops *const backends[] = {&upstream_curl, &upstream_h1};
#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

/* How many descriptors each backend pushed in the last wait, for run(). */
static size_t pushed[NBACKENDS];

enum zt_err upstream_open(struct app *app)
{
	enum zt_err err;

	for (size_t i = 0; i < NBACKENDS; i++)
		if ((err = backends[i]->open(app)) != ZT_OK)
			return err;
	return ZT_OK;
}

void upstream_close(struct app *app)
{
	for (size_t i = NBACKENDS; i-- > 0;)
		backends[i]->close(app);
}

struct counting {
	sock_push_fn push;
	void *arg;
	size_t n;
};

static bool count_push(void *arg, int fd, short events)
{
	struct counting *c = arg;

	c->n++;
	return c->push(c->arg, fd, events);
}

bool upstream_wait_fds(struct app *app, sock_push_fn push, void *arg, int *timeout_ms)
{
	for (size_t i = 0; i < NBACKENDS; i++) {
		struct counting c = {push, arg, 0};
		bool ok = backends[i]->wait_fds(app, count_push, &c, timeout_ms);

		pushed[i] = c.n;
		if (!ok)
			return false;
	}
	return true;
}

void upstream_run(struct app *app, const struct pollfd *ready, size_t n)
{
	size_t at = 0;

	for (size_t i = 0; i < NBACKENDS; i++) {
		size_t k = at + pushed[i] <= n ? pushed[i] : (at < n ? n - at : 0);

		backends[i]->run(app, k ? ready + at : NULL, k);
		at += k;
	}
}

/* ---- The request side ------------------------------------------------- */

static enum MHD_Result collect_connection(void *cls, enum MHD_ValueKind kind, const char *key,
                                          size_t keylen, const char *value, size_t valuelen)
{
	char *joined = cls;
	size_t len = strlen(joined);

	(void)kind;
	if (keylen != 10 || strncasecmp(key, "Connection", 10) != 0)
		return MHD_YES;
	if (len + valuelen + 2 >= CONNECTION_MAX) {
		joined[0] = '\0';
		return MHD_NO;
	}
	if (len > 0)
		joined[len++] = ',';
	memcpy(joined + len, value, valuelen);
	joined[len + valuelen] = '\0';
	return MHD_YES;
}

struct hdr_collect {
	struct req *req;
	const char *connection;
	bool failed;
};

/* Appends "Name: value\r\n" to req->fwd for each header that crosses. */
static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      size_t keylen, const char *value, size_t valuelen)
{
	struct hdr_collect *hc = cls;
	struct pbuf *b = &hc->req->fwd;
	size_t n = keylen + valuelen + 4;

	(void)kind;
	if (!hdr_forward_request(key, keylen, hc->connection))
		return MHD_YES;
	if (keylen == 6 && strncasecmp(key, "Accept", 6) == 0)
		hc->req->fwd_accept = true;
	if (!pbuf_reserve(b, n, FWD_HEADERS_MAX)) {
		hc->failed = true;
		return MHD_NO;
	}
	memcpy(b->data + b->wpos, key, keylen);
	memcpy(b->data + b->wpos + keylen, ": ", 2);
	memcpy(b->data + b->wpos + keylen + 2, value, valuelen);
	memcpy(b->data + b->wpos + keylen + 2 + valuelen, "\r\n", 2);
	b->wpos += n;
	return MHD_YES;
}

static bool collect_headers(struct req *req)
{
	char connection[CONNECTION_MAX] = "";
	struct hdr_collect hc = {.req = req, .connection = connection};

	MHD_get_connection_values_n(req->conn, MHD_HEADER_KIND, collect_connection, connection);
	MHD_get_connection_values_n(req->conn, MHD_HEADER_KIND, collect_header, &hc);
	return !hc.failed;
}

int up_auth_line(struct req *req, char *buf, size_t cap)
{
	struct token *t = runtime_route_token(req->rt, req->route);

	req->token_gen = t->generation;
	return hdr_format_auth(req->route->auth, t->value, t->len, buf, cap);
}

bool upstream_start(struct req *req)
{
	req->up = req->route->client == CLIENT_H1 ? &upstream_h1 : &upstream_curl;
	req->is_head = strcmp(req->method, "HEAD") == 0;
	req->up_start_us = now_us();
	if (!collect_headers(req))
		return false;
	/* Running from here: start() may already end the exchange (up_done). */
	req->running = true;
	if (!req->up->start(req)) {
		req->running = false;
		return false;
	}
	return true;
}

void upstream_abort(struct req *req)
{
	if (!req->running)
		return;
	req->up->abort(req);
	req->running = false;
	req->done = true;
	req->result = UP_ABORTED;
}

void upstream_send_more(struct req *req)
{
	if (req->read_paused && req->running) {
		req->read_paused = false;
		req->up->send_more(req);
	}
}

void upstream_recv_more(struct req *req)
{
	if (req->write_paused && req->running) {
		req->write_paused = false;
		req->up->recv_more(req);
	}
}

void upstream_release(struct req *req)
{
	if (req->up != NULL)
		req->up->release(req);
}

ssize_t up_send_read(struct req *req, char *buf, size_t cap)
{
	struct pbuf *b = &req->body;
	size_t n = b->wpos - b->rpos;

	if (n == 0) {
		if (req->body_done)
			return 0;
		req->read_paused = true;
		req_wake(req); /* the client may be waiting for room */
		return -1;
	}
	if (n > cap)
		n = cap;
	memcpy(buf, b->data + b->rpos, n);
	b->rpos += n;
	req_wake(req);
	return (ssize_t)n;
}

bool up_send_rewind(struct req *req)
{
	if (req->has_body && !req->keep_body)
		return false;
	req->body.rpos = 0;
	req->read_paused = false;
	return true;
}

/* ---- The response side ------------------------------------------------ */

void up_head_begin(struct req *req, long status)
{
	if (req->head_us == 0)
		req->head_us = now_us();
	req->status = status;
	req->rhdr.wpos = 0;
	req->headers_done = false;
}

bool up_header(struct req *req, const char *name, size_t namelen, const char *value,
               size_t valuelen)
{
	struct pbuf *b = &req->rhdr;

	if (!pbuf_reserve(b, namelen + valuelen + 2, RESP_HEADERS_MAX)) {
		req->head_too_big = true;
		return false;
	}
	memcpy(b->data + b->wpos, name, namelen);
	b->wpos += namelen;
	b->data[b->wpos++] = '\0';
	memcpy(b->data + b->wpos, value, valuelen);
	b->wpos += valuelen;
	b->data[b->wpos++] = '\0';
	return true;
}

void up_head_end(struct req *req)
{
	struct token *t = runtime_route_token(req->rt, req->route);

	if (req->status < 200)
		return; /* 100 Continue and friends: the real head follows */
	req->headers_done = true;
	if (req->status == 401)
		metrics_upstream_401(req->stats, t);
	if (req->status == 401 && !req->replayed && req->keep_body &&
	    (!req->has_body || req->body_done)) {
		/* The watcher may have seen the new token while this request was out. */
		(void)runtime_token_refresh(t);
		if (t->generation != req->token_gen) {
			log_info("route %s: upstream answered 401 and token '%s' has changed since "
			         "the request was sent; replaying it once with the new token",
			         req->route->prefix, t->cfg->name);
			metrics_upstream_replay(req->stats);
			req->replay_pending = true;
			return;
		}
	}
	req_wake(req);
}

size_t up_body(struct req *req, const char *data, size_t len, bool must_take)
{
	size_t max = must_take ? 2 * STREAM_BUF : len > STREAM_BUF ? len : STREAM_BUF;

	if (req->replay_pending)
		return len;
	pbuf_compact(&req->resp);
	/* A chunk larger than the buffer is taken whole rather than stalling forever. */
	if (!pbuf_append(&req->resp, data, len, max)) {
		req->write_paused = true;
		return 0;
	}
	req_wake(req);
	return len;
}

static void replay(struct req *req)
{
	req->replay_pending = false;
	req->replayed = true;
	req->status = 0;
	req->headers_done = false;
	req->rhdr.wpos = 0;
	req->resp.rpos = req->resp.wpos = 0;
	req->write_paused = false;
	req->body.rpos = 0;
	req->read_paused = false;
	req->head_us = 0;
	req->up_start_us = now_us();
	req->running = true;
	if (!req->up->start(req)) {
		req->running = false;
		req->done = true;
		req->result = UP_FAILED;
		req_fail(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
		         "cannot replay the upstream request", NULL);
		req_wake(req);
		return;
	}
}

void up_done(struct req *req, enum up_result result, const char *why)
{
	char msg[1024];
	const char *upstream = req->route->upstream;

	req->running = false;
	if (req->status > 0 && req->head_us != 0) {
		uint64_t ttfb = req->head_us - req->up_start_us;

		metrics_upstream_latency(req->stats, ttfb);
		log_debug("route %s: upstream %s answered %ld, its head after %" PRIu64
		          ".%03" PRIu64 " ms",
		          req->route->prefix, upstream, req->status, ttfb / 1000, ttfb % 1000);
	}
	if (req->replay_pending && result == UP_OK) {
		replay(req);
		return;
	}
	req->done = true;
	req->result = result;
	req_release(req);
	if (!req->headers_done || req->replay_pending) {
		snprintf(msg, sizeof(msg), "upstream %s: %s", upstream, why ? why : "failed");
		log_warn("route %s: %s", req->route->prefix, msg);
		if (result == UP_TIMEOUT)
			req_fail(req, MHD_HTTP_GATEWAY_TIMEOUT, "upstream_timeout", msg, NULL);
		else if (req->head_too_big)
			req_fail(req, MHD_HTTP_BAD_GATEWAY, "bad_upstream_response",
			         "the upstream's response head is too large", NULL);
		else
			req_fail(req, MHD_HTTP_BAD_GATEWAY, "upstream_unreachable", msg, NULL);
	} else if (result != UP_OK) {
		log_warn("route %s: upstream %s: response cut off: %s", req->route->prefix,
		         upstream, why ? why : "failed");
	}
	req_wake(req);
}
