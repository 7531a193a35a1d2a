/*
 * The request lifecycle: a struct req from the request line to the
 * completion callback, the checks before any upstream is contacted, the
 * request body's flow to the upstream, and ending transfers on shutdown.
 * The upstream side is behind upstream.h, the answers in proxy_reply.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "compat.h"
#include "gate.h"
#include "log.h"
#include "metrics.h"
#include "now.h"
#include "os.h"
#include "proxy.h"
#include "proxy_impl.h"
#include "route.h"
#include "status.h"
#include "upstream.h"

/* server.c's record of conn (client.h): its socket context, NULL when it has none. */
static struct client *conn_client(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

/* The way back to server.c: the client's deadline, ms == 0 for none (client.h). */
static void client_deadline(struct client *c, const char *what, uint32_t ms)
{
	if (c != NULL)
		c->ops->deadline(c, what, ms);
}

void req_wake(struct req *req)
{
	if (!req->suspended)
		return;
	const union MHD_ConnectionInfo *fd =
	    MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct app *app = req->app;

	req->suspended = false;
	MHD_resume_connection(req->conn);
	app->mhd_pending = true;
	if (fd != NULL && app->nwoken < APP_WOKEN_MAX)
		app->woken_fds[app->nwoken++] = fd->connect_fd;
}

/* Ends the upstream exchange early, or the request's wait in the queue. */
void req_stop_upstream(struct req *req)
{
	upstream_abort(req);
	req_release(req);
}

void req_suspend(struct req *req)
{
	if (req->suspended)
		return;
	req->suspended = true;
	MHD_suspend_connection(req->conn);
}

static void req_free(struct req *req)
{
	struct app *app = req->app;

	req_stop_upstream(req);
	upstream_release(req);
	pbuf_free(&req->fwd);
	pbuf_free(&req->body);
	pbuf_free(&req->rhdr);
	pbuf_free(&req->resp);
	free(req->err_body);
	free(req->url);
	free(req->target);
	runtime_unref(req->rt);
	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		app->reqs = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	app->nreqs--;
	free(req);
}

bool proxy_parse_content_length(const char *s, int64_t *out)
{
	int64_t v = 0;

	if (s == NULL || *s == '\0')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return true;
}

/* Whether the request announces a body: Transfer-Encoding, or a Content-Length above 0. */
static bool declares_body(struct MHD_Connection *conn)
{
	const char *cl =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	int64_t len;

	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                   MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL ||
	       (proxy_parse_content_length(cl, &len) && len > 0);
}

static void fail_token(struct req *req, struct token *t)
{
	char src[320];
	const char *extra[] = {"token", t->cfg->name,  "source",
	                       src,     "state",       token_state_name(t->state),
	                       "hint",  token_hint(t), NULL};

	token_describe_source(t->cfg, src, sizeof(src));
	log_warn("route %s: token '%s' unavailable (%s): %s", req->route->prefix, t->cfg->name, src,
	         t->reason);
	req_fail(req, MHD_HTTP_SERVICE_UNAVAILABLE, "token_unavailable", t->reason, extra);
}

/* Answers a request for a status path (status.h) from the proxy itself. */
static void req_status(struct req *req, const char *method, const struct target *tgt)
{
	struct status_reply r;

	req->stats = metrics_status();
	status_serve(req->app, method, tgt, &r);
	req->err_status = r.status;
	req->err_body = r.body; /* NULL (out of memory): req_queue_error's fallback */
	req->err_type = r.type;
}

static void fail_gate(struct req *req, const struct gate_refusal *g)
{
	req_fail(req, g->status, g->code, g->message, NULL);
	snprintf(req->err_allow, sizeof(req->err_allow), "%s", g->allow);
}

/* First call for a request: everything up to starting the upstream transfer. */
static void req_start(struct req *req, const char *method)
{
	const struct config *cfg = req->rt->cfg;
	const char *te, *cl;
	struct target tgt, fwd;
	enum target_err terr;
	struct gate_refusal refusal;
	struct token *t;
	char url[ROUTE_URL_MAX], npath[ROUTE_TARGET_MAX], fpath[ROUTE_TARGET_MAX];
	size_t nlen;

	if (req->target == NULL) {
		req_fail(req, MHD_HTTP_URI_TOO_LONG, "uri_too_long", "request target is too long",
		         NULL);
		return;
	}
	if ((terr = route_check_target(req->target, strlen(req->target), &tgt)) != TARGET_OK) {
		req_fail(req, MHD_HTTP_BAD_REQUEST, "bad_request", route_target_error(terr), NULL);
		return;
	}
	if (!gate_request(req->conn, req->client, cfg, method, &refusal)) {
		fail_gate(req, &refusal);
		return;
	}
	/* Routes and path policies see the normalised path ("/%63entral" is "/central"). */
	nlen = route_normalize(tgt.path, tgt.pathlen, npath);
	/* The status paths come after the access checks above and before any route. */
	if (status_is_reserved(cfg, npath, nlen)) {
		fwd = tgt;
		fwd.path = npath;
		fwd.pathlen = nlen;
		req_status(req, method, &fwd);
		return;
	}
	/* The listener it came in on serves only the status paths. */
	if (req->client != NULL && req->client->status_only) {
		req_fail(req, MHD_HTTP_NOT_FOUND, "no_route",
		         "this address serves only the status paths", NULL);
		return;
	}
	req->route = route_match(cfg->routes, cfg->nroutes, npath, nlen);
	if (req->route == NULL) {
		req_fail(req, MHD_HTTP_NOT_FOUND, "no_route", "no route matches this path", NULL);
		return;
	}
	req->stats = req->rt->route_stats[req->route - cfg->routes];
	if (!gate_route(req->conn, req->client, req->route, method, npath, nlen, &refusal)) {
		fail_gate(req, &refusal);
		return;
	}
	t = runtime_route_token(req->rt, req->route);
	/* A token without a value may have appeared since the watcher last looked. */
	if (!token_usable(t))
		(void)runtime_token_refresh(t);
	if (!token_usable(t)) {
		fail_token(req, t);
		return;
	}
	/* The upstream gets the path as the client wrote it, past the prefix. */
	fwd = tgt;
	fwd.pathlen = route_forward_path(req->route, tgt.path, tgt.pathlen, fpath);
	fwd.path = fpath;
	if (route_upstream_url(req->route, &fwd, req->route->auth == AUTH_X_ZT1_AUTH, url,
	                       sizeof(url)) < 0) {
		req_fail(req, MHD_HTTP_URI_TOO_LONG, "uri_too_long", "upstream URL is too long",
		         NULL);
		return;
	}
	te = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
	                                 MHD_HTTP_HEADER_TRANSFER_ENCODING);
	cl =
	    MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	req->body_len = -1;
	if (te != NULL)
		req->has_body = true;
	else if (cl != NULL)
		req->has_body = proxy_parse_content_length(cl, &req->body_len);
	req->keep_body = true;
	req->body_cap = cfg->replay_body > STREAM_BUF ? (size_t)cfg->replay_body : STREAM_BUF;

	if ((req->url = strdup(url)) == NULL) {
		req_fail(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory", NULL);
		return;
	}
	req_admit(req);
}

static enum MHD_Result req_upload(struct req *req, const char *data, size_t *size)
{
	struct pbuf *b = &req->body;
	size_t n;

	/* A chunked body has no Content-Length for the gate to check: count it. */
	if (req->err_status == 0 && !req->done && req->body_total + *size > req->route->max_body) {
		log_info("route %s: request body over max_body (%llu bytes); upstream request "
		         "aborted",
		         req->route->prefix, (unsigned long long)req->route->max_body);
		req_stop_upstream(req);
		req_fail(req, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large",
		         "the request body is over the route's max_body", NULL);
	}
	if (req->err_status != 0 || req->done) {
		*size = 0; /* nobody will read it: drain the client (client_body bounds this) */
		return MHD_YES;
	}
	/* Once the body is sure to outgrow the replay limit, keep only what is unsent. */
	if (req->keep_body && req->body_total + *size > req->rt->cfg->replay_body)
		req->keep_body = false;
	if (!req->keep_body)
		pbuf_compact(b);
	n = *size;
	if (b->wpos + n > req->body_cap)
		n = req->body_cap - b->wpos;
	if (n > 0 && pbuf_append(b, data, n, req->body_cap)) {
		req->body_total += n;
		*size -= n;
		upstream_send_more(req);
	}
	if (*size > 0)
		req_suspend(req); /* woken when the upstream has read some */
	return MHD_YES;
}

/* The upstream's head as the client gets it: "name: value\r\n" for each "name\0value\0". */
static size_t response_head_size(const struct req *req)
{
	size_t n = 64; /* status line, Date */

	for (size_t i = 0; i < req->rhdr.wpos; i++)
		n += req->rhdr.data[i] == '\0' ? 2 : 1;
	return n;
}

static enum MHD_Result req_respond(struct req *req)
{
	if (req->queued)
		return MHD_YES;
	if (req->err_status != 0)
		return req_queue_error(req);
	if (req->headers_done && !req->replay_pending) {
		if (req->status > 999) {
			req_fail(req, MHD_HTTP_BAD_GATEWAY, "bad_upstream_response",
			         "upstream answered with an invalid status", NULL);
			return req_queue_error(req);
		}
		if (response_head_size(req) > gate_response_room(req->conn, req->client)) {
			log_warn(
			    "route %s: upstream response head of about %zu bytes is too large to "
			    "pass on beside this request's head",
			    req->route->prefix, req->rhdr.wpos);
			req_stop_upstream(req);
			req_fail(req, MHD_HTTP_BAD_GATEWAY, "bad_upstream_response",
			         "the upstream's response head is too large", NULL);
			return req_queue_error(req);
		}
		return req_queue_upstream(req);
	}
	req_suspend(req); /* woken when the upstream's head or an error arrives */
	return MHD_YES;
}

void *proxy_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct app *app = cls;
	struct client *c = conn_client(conn);
	struct req *req;

	client_deadline(c, "the request headers", app->rt->cfg->client_header_ms);
	if ((req = calloc(1, sizeof(*req))) == NULL)
		return NULL;
	req->client = c;
	if (strlen(uri) <= ROUTE_TARGET_MAX)
		req->target = strdup(uri);
	req->app = app;
	req->conn = conn;
	req->rt = runtime_ref(app->rt);
	req->stats = metrics_unrouted();
	req->mmethod = MM_OTHER;
	req->start_us = now_us();
	req->next = app->reqs;
	if (app->reqs != NULL)
		app->reqs->prev = req;
	app->reqs = req;
	app->nreqs++;
	return req;
}

enum MHD_Result proxy_access(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload_data,
                             size_t *upload_data_size, void **req_cls)
{
	struct req *req = *req_cls;
	size_t n;

	(void)cls;
	(void)url;
	(void)version;
	if (req == NULL)
		return MHD_NO; /* out of memory in proxy_uri_log */
	if (!req->started) {
		/* Queue nothing yet: answering on the first call costs keep-alive. */
		req->started = true;
		req->conn = conn;
		n = strnlen(method, sizeof(req->method) - 1);
		memcpy(req->method, method, n);
		req->method[n] = '\0';
		req->mmethod = metrics_method(method);
		req_start(req, method);
		/* A refused body is not read: answering now makes libmicrohttpd close instead. */
		if (req->err_status != 0 && declares_body(conn))
			return req_queue_error(req);
		client_deadline(req->client, "the request body",
		                declares_body(conn) ? req->rt->cfg->client_body_ms : 0);
		return MHD_YES;
	}
	if (*upload_data_size != 0)
		return req_upload(req, upload_data, upload_data_size);
	if (!req->body_done) {
		req->body_done = true;
		client_deadline(req->client, NULL, 0);
		upstream_send_more(req); /* lets it see the end */
	}
	return req_respond(req);
}

/*
 * One line per request. The query string stays out: it may carry auth=.
 * "upstream" is the last upstream status ("-": none), after a replay if any.
 */
static void access_log(const struct req *req, enum MHD_RequestTerminationCode toe)
{
	/* The clock itself: an answer made within one turn would show the turn's 0 us. */
	uint64_t us = os_monotonic_us() - req->start_us;
	const char *target = req->target ? req->target : "-";
	char upstream[32] = "-";

	if (req->status > 0)
		snprintf(upstream, sizeof(upstream), "%ld%s", req->status,
		         req->replayed ? " (replayed)" : "");
	log_info("access: %s %.*s %u route=%s in=%" PRIu64 " out=%" PRIu64 " duration=%" PRIu64
	         ".%03" PRIu64 "ms upstream=%s%s",
	         req->started ? req->method : "-", (int)strcspn(target, "?"), target,
	         req->sent_status, req->stats->prefix, req->body_total, req->bytes_out, us / 1000,
	         us % 1000, upstream,
	         toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (ended early)");
}

void proxy_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                     enum MHD_RequestTerminationCode toe)
{
	struct app *app = cls;
	struct req *req = *req_cls;
	struct client *c = conn_client(conn);

	/* Keep-alive: the next request may wait the idle time, then has its own. */
	if (c != NULL)
		c->ops->idle(c, app->rt->cfg->client_idle_ms + app->rt->cfg->client_header_ms);
	if (req == NULL)
		return;
	metrics_request(req->stats, req->mmethod, req->sent_status, req->body_total,
	                req->bytes_out);
	if (req->rt->cfg->access_log && log_get_level() >= LOG_INFO)
		access_log(req, toe);
	*req_cls = NULL;
	req_free(req);
}

void proxy_abort(struct app *app, struct MHD_Daemon *mhd)
{
	for (struct req *req = app->reqs; req != NULL; req = req->next) {
		const union MHD_ConnectionInfo *ci;

		if (req->conn == NULL)
			continue;
		ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_DAEMON);
		if (mhd != NULL && (ci == NULL || ci->daemon != mhd))
			continue;
		if (req->running || req->waiting) {
			req_stop_upstream(req);
			req_fail(req, MHD_HTTP_SERVICE_UNAVAILABLE, "stopping",
			         "the proxy is shutting down", NULL);
		}
		req_wake(req);
	}
}

void proxy_drop(struct app *app, struct MHD_Connection *conn)
{
	for (struct req *req = app->reqs; req != NULL; req = req->next) {
		if (req->conn != conn)
			continue;
		req_stop_upstream(req);
		req_wake(req);
	}
}

void proxy_closed(struct app *app, struct MHD_Connection *conn)
{
	struct req *req, *next;

	for (req = app->reqs; req != NULL; req = next) {
		next = req->next;
		if (req->conn == conn)
			req_free(req);
	}
}

/* The client's socket, or -1. */
static int req_fd(const struct req *req)
{
	const union MHD_ConnectionInfo *ci =
	    req->conn ? MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD)
	              : NULL;

	return ci ? (int)ci->connect_fd : -1;
}

void req_hang_up(struct req *req)
{
	log_debug("route %s: the client hung up; upstream request cancelled",
	          req->route ? req->route->prefix : "-");
	req_stop_upstream(req);
	/* Like nginx's 499: nobody reads it, the access log shows it. */
	req_fail(req, 499, "client_closed", "the client closed the connection", NULL);
	req_wake(req);
}

#ifdef POLLRDHUP
bool proxy_wait_fds(struct app *app, sock_push_fn push, void *arg)
{
	for (struct req *req = app->reqs; req != NULL; req = req->next) {
		int fd;

		/* libmicrohttpd does not look at a suspended connection: we do. */
		if (!req->suspended || !(req->running || req->waiting) || (fd = req_fd(req)) < 0)
			continue;
		if (!push(arg, fd, POLLRDHUP))
			return false;
	}
	return true;
}

bool req_client_gone(const struct req *req)
{
	struct pollfd p = {.fd = req_fd(req), .events = POLLRDHUP};

	return p.fd >= 0 && sock_poll(&p, 1, 0) > 0 && p.revents != 0;
}
#else
bool proxy_wait_fds(struct app *app, sock_push_fn push, void *arg)
{
	(void)app;
	(void)push;
	(void)arg;
	return true;
}

bool req_client_gone(const struct req *req)
{
	(void)req;
	return false;
}
#endif

void proxy_hangups(struct app *app, const struct pollfd *ready, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ready[i].revents == 0)
			continue;
		for (struct req *req = app->reqs; req != NULL; req = req->next) {
			if (req->suspended && req_fd(req) == (int)ready[i].fd) {
				req_hang_up(req);
				break;
			}
		}
	}
}
