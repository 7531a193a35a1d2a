/*
 * Internals of the proxy module, shared by its files and the upstream
 * backends (upstream*.c), which fill in the response fields. The public
 * interface is proxy.h; the upstream one is upstream.h.
 *
 *   proxy.c           the request lifecycle: struct req from the request line
 *                     to completion, the checks before routing, the request
 *                     body, shutdown
 *   proxy_admit.c     the route's upstream connection policy: cap and queue
 *   proxy_reply.c     the answer to the client: JSON errors, the upstream's
 *                     response and its content reader
 */
#ifndef ZTP_PROXY_IMPL_H
#define ZTP_PROXY_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include <microhttpd.h>

#include "app.h"
#include "err.h"
#include "metrics.h"
#include "pbuf.h"
#include "upstream.h"

/* Bytes buffered per direction before the other side is paused. */
#define STREAM_BUF (64 * 1024)

struct client;

struct req {
	struct req *next, *prev;
	struct app *app;
	struct runtime *rt;
	struct MHD_Connection *conn;
	struct client *client; /* server.c's record of conn (client.h), or NULL */
	char *target;          /* raw request target; NULL when it was too long */
	const struct cfg_route *route;
	bool started;
	bool suspended;
	bool queued;
	/* The route's upstream connection policy (proxy_admit.c). */
	bool holds_slot;           /* counted in stats->up_active */
	bool waiting;              /* in app's wait queue */
	struct req *wnext, *wprev; /* ... in arrival order */
	uint64_t wait_deadline_ms; /* monotonic; a 504 after it */
	unsigned sent_status;      /* for the access log and metrics; 0: nothing sent */
	char method[16];
	enum metrics_method mmethod;
	struct metrics_route *stats; /* the route's counters, or a pseudo-route's */
	uint64_t start_us;           /* when the request line arrived */
	uint64_t bytes_out;          /* response body bytes handed to libmicrohttpd */

	/* An error (or a status page) to answer instead of an upstream response. */
	unsigned err_status;
	char *err_body;
	const char *err_type; /* its Content-Type; NULL: application/json */
	char err_allow[160];  /* the Allow header of a 405 from the gate, or "" */

	/* The upstream exchange (upstream.h). */
	const struct upstream_ops *up; /* its backend; NULL before it starts */
	void *xfer;                    /* the backend's state for this request */
	struct pbuf fwd;               /* forwarded headers, "Name: value\r\n" lines */
	bool fwd_accept;               /* ... among them an Accept header */
	char *url;
	bool running; /* the exchange is under way */
	bool done;    /* the exchange ended, as result says */
	enum up_result result;
	uint64_t up_start_us, head_us; /* monotonic: exchange started, first response head */
	bool replay_pending, replayed;
	unsigned token_gen; /* generation of the token value the upstream was sent */

	/* Request body, client -> upstream. */
	bool has_body;
	bool body_done;   /* libmicrohttpd delivered all of it */
	bool keep_body;   /* still whole in the buffer, so a replay can resend it */
	int64_t body_len; /* Content-Length, or -1 for chunked */
	uint64_t body_total;
	size_t body_cap;
	struct pbuf body;
	bool read_paused;

	/* Response, upstream -> client. */
	long status;
	struct pbuf rhdr; /* "name\0value\0" pairs */
	bool headers_done;
	bool head_too_big; /* over RESP_HEADERS_MAX (upstream.c) */
	bool is_head;
	struct pbuf resp;
	bool write_paused;
};

/* proxy.c */

/* Resumes the connection if it is suspended, so libmicrohttpd calls back. */
void req_wake(struct req *req);
void req_suspend(struct req *req);
/* A Content-Length value: digits only, no overflow. s may be NULL. */
ZT_WUR bool proxy_parse_content_length(const char *s, int64_t *out);

/*
 * Ends the upstream exchange early, or the request's wait in the queue; the
 * request is answered from err_status or cut off.
 */
void req_stop_upstream(struct req *req);

/*
 * Whether the client has hung up, as far as the system can tell without
 * reading (false where it cannot); and the end of a request whose client
 * did: its upstream request cancelled, a 499 for the access log.
 */
bool req_client_gone(const struct req *req);
void req_hang_up(struct req *req);

/* proxy_admit.c */

/*
 * Sends req upstream now if its route has a free upstream slot
 * (connections.max), else queues it in arrival order; a full queue fails
 * it with 503. Either way the request is answered in due course.
 */
void req_admit(struct req *req);
/* Gives back req's slot or its place in the queue; the next waiter goes upstream. */
void req_release(struct req *req);

/* proxy_reply.c */

/*
 * Decides the error response for req (the first decision wins). The body
 * names the route; extra is a NULL-terminated list of key, value pairs.
 */
void req_fail(struct req *req, unsigned status, const char *code, const char *message,
              const char *const *extra);
/* Answers with req's error (or status page). */
enum MHD_Result req_queue_error(struct req *req);
/* Answers with the upstream's status and headers and streams its body. */
enum MHD_Result req_queue_upstream(struct req *req);

#endif
