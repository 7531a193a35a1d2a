/*
 * One forwarded request's exchange with its upstream, whichever HTTP client
 * runs it. Two backends implement struct upstream_ops:
 *
 *   upstream_curl.c  libcurl: https upstreams, host names, `client: curl`
 *   upstream_h1.c    our HTTP/1.1 client, responses parsed by llhttp: plain
 *                    http to an IP literal or localhost (`client: h1`)
 *
 * The proxy calls only upstream_*(); it never learns which backend runs.
 * A backend reports back through the up_*() calls below, which hold what
 * both share: the response head and body buffers, the request body's
 * flow, the 401 replay, metrics and the 502/504 JSON errors. The route's
 * connection policy (cap and queue) stays above both, in proxy_admit.c.
 */
#ifndef ZTP_UPSTREAM_H
#define ZTP_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "app.h"
#include "err.h"
#include "sock.h"

struct req;

/* How an exchange ended. */
enum up_result {
	UP_OK,
	UP_TIMEOUT, /* connect or total timeout: 504 before any response head */
	UP_FAILED,  /* anything else: 502 before any response head, else a cut-off body */
	UP_ABORTED, /* ended by the proxy (client gone, body too large, shutdown) */
};

struct upstream_ops {
	const char *name;
	/* Backend-wide state: created at start-up, freed at exit. */
	ZT_WUR enum zt_err (*open)(struct app *app);
	void (*close)(struct app *app);
	/*
	 * The sockets to wait on (push) and the next deadline (lowers
	 * *timeout_ms); false when push failed. run() gets the loop's pollfds
	 * for exactly what wait_fds pushed, in the same order.
	 */
	bool (*wait_fds)(struct app *app, sock_push_fn push, void *arg, int *timeout_ms);
	void (*run)(struct app *app, const struct pollfd *ready, size_t n);
	/* Starts req's exchange, or starts it over (a 401 replay); false: cannot. */
	bool (*start)(struct req *req);
	/* Ends it early: its connection is closed, never reused. No up_done() follows. */
	void (*abort)(struct req *req);
	/* req->body has more for the upstream, or its end (req->body_done). */
	void (*send_more)(struct req *req);
	/* req->resp has room again. */
	void (*recv_more)(struct req *req);
	/* Frees what the backend keeps for req; the exchange is over. */
	void (*release)(struct req *req);
};

extern const struct upstream_ops upstream_curl, upstream_h1;

/* ---- For the proxy ---------------------------------------------------- */

/* Every backend's state; upstream_close() is safe after a failed open. */
ZT_WUR enum zt_err upstream_open(struct app *app);
void upstream_close(struct app *app);
bool upstream_wait_fds(struct app *app, sock_push_fn push, void *arg, int *timeout_ms);
void upstream_run(struct app *app, const struct pollfd *ready, size_t n);

/*
 * Picks the route's backend, collects the forwarded headers and starts the
 * exchange; false when any of it fails.
 */
ZT_WUR bool upstream_start(struct req *req);
/* Ends the exchange early (if it runs); the request keeps its err_status. */
void upstream_abort(struct req *req);
void upstream_send_more(struct req *req);
void upstream_recv_more(struct req *req);
void upstream_release(struct req *req);

/* ---- For the backends ------------------------------------------------- */

/*
 * The token line to send ("X-ZT1-Auth: T", ...; no CRLF) into buf; records
 * the token generation for the 401 replay. -1 when it does not fit. The
 * caller wipes buf.
 */
int up_auth_line(struct req *req, char *buf, size_t cap);
/* A response head begins (1xx heads too); status is its code. */
void up_head_begin(struct req *req, long status);
/* One response header; false when the head is over its cap (fail the exchange). */
ZT_WUR bool up_header(struct req *req, const char *name, size_t namelen, const char *value,
                      size_t valuelen);
/* The head is complete (a 1xx one is ignored). */
void up_head_end(struct req *req);
/*
 * Response body bytes: returns how many were taken, all of them or 0 when
 * req->resp is full (the backend then waits for recv_more). must_take:
 * take them whatever the fill, up to STREAM_BUF more.
 */
size_t up_body(struct req *req, const char *data, size_t len, bool must_take);
/*
 * Request body bytes for the upstream, into buf: returns how many, 0 at its
 * end, -1 when none are here yet (the backend then waits for send_more).
 */
ssize_t up_send_read(struct req *req, char *buf, size_t cap);
/*
 * Starts the request body over, for a new attempt on another connection:
 * false when part of it is gone (sent and no longer kept).
 */
bool up_send_rewind(struct req *req);
/*
 * The exchange ended (not after abort): replays it after a 401 when the
 * token changed, else completes the request; why says what failed.
 */
void up_done(struct req *req, enum up_result result, const char *why);

#endif
