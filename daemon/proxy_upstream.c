/*
 * Everything libcurl: the easy handle, the forwarded request headers and
 * the token line, the callbacks that move the body both ways and collect
 * the upstream's head, and the end of a transfer (with the 401 replay).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compat.h"
#include "headers.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "proxy_impl.h"
#include "sock.h"
#include "xfer.h"

/*
 * Upstream response headers kept for one response; what the client's
 * connection can take is checked when they are passed on (proxy.c).
 */
#define RESP_HEADERS_MAX (64 * 1024)
/* The client's Connection header values, joined. */
#define CONNECTION_MAX 1024

static size_t on_upload_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct req *req = arg;
	struct pbuf *b = &req->body;
	size_t avail = b->wpos - b->rpos, n = size * nitems;

	if (avail == 0) {
		if (req->body_done)
			return 0;
		req->read_paused = true;
		req_wake(req); /* the client may be waiting for room */
		return CURL_READFUNC_PAUSE;
	}
	if (n > avail)
		n = avail;
	memcpy(buf, b->data + b->rpos, n);
	b->rpos += n;
	req_wake(req);
	return n;
}

/* Parses "HTTP/1.1 200 OK" or "HTTP/2 200"; returns the status or 0. */
static long parse_status_line(const char *line, size_t len)
{
	const char *sp = memchr(line, ' ', len);
	long status = 0;

	if (sp == NULL || (size_t)(sp - line) + 4 > len)
		return 0;
	for (int i = 1; i <= 3; i++) {
		if (sp[i] < '0' || sp[i] > '9')
			return 0;
		status = status * 10 + (sp[i] - '0');
	}
	return status >= 100 ? status : 0;
}

static void on_response_head(struct req *req)
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

static size_t on_upstream_header(char *line, size_t size, size_t nitems, void *arg)
{
	struct req *req = arg;
	size_t len = size * nitems, namelen;
	const char *colon, *value, *end;

	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		req->status = parse_status_line(line, len);
		req->rhdr.wpos = 0;
		req->headers_done = false;
		return req->status ? len : 0;
	}
	if (len <= 2 && (line[0] == '\r' || line[0] == '\n')) {
		on_response_head(req);
		return len;
	}
	/* Obsolete line folding and junk without a colon are dropped. */
	if (line[0] == ' ' || line[0] == '\t' || (colon = memchr(line, ':', len)) == NULL)
		return len;
	namelen = (size_t)(colon - line);
	end = line + len;
	while (end > colon + 1 &&
	       (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (value = colon + 1; value < end && (*value == ' ' || *value == '\t'); value++)
		;
	if (!pbuf_reserve(&req->rhdr, namelen + (size_t)(end - value) + 2, RESP_HEADERS_MAX)) {
		req->head_too_big = true;
		return 0; /* too many header bytes: fail the transfer */
	}
	memcpy(req->rhdr.data + req->rhdr.wpos, line, namelen);
	req->rhdr.wpos += namelen;
	req->rhdr.data[req->rhdr.wpos++] = '\0';
	memcpy(req->rhdr.data + req->rhdr.wpos, value, (size_t)(end - value));
	req->rhdr.wpos += (size_t)(end - value);
	req->rhdr.data[req->rhdr.wpos++] = '\0';
	return len;
}

static size_t on_upstream_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct req *req = arg;
	size_t len = size * nmemb;

	if (req->replay_pending)
		return len;
	pbuf_compact(&req->resp);
	/* A chunk larger than the buffer is taken whole rather than stalling forever. */
	if (!pbuf_append(&req->resp, data, len, len > STREAM_BUF ? len : STREAM_BUF)) {
		req->write_paused = true;
		return CURL_WRITEFUNC_PAUSE;
	}
	req_wake(req);
	return len;
}

struct hdr_collect {
	struct req *req;
	const char *connection;
	bool seen_accept;
	bool failed;
};

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

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      size_t keylen, const char *value, size_t valuelen)
{
	struct hdr_collect *hc = cls;
	/* As long as the line is: the gate has held the whole head to max_header_size. */
	size_t cap = keylen + valuelen + 3;
	struct curl_slist *l;
	char *line;
	int n;

	(void)kind;
	if (!hdr_forward_request(key, keylen, hc->connection))
		return MHD_YES;
	if (keylen == 6 && strncasecmp(key, "Accept", 6) == 0)
		hc->seen_accept = true;
	if ((line = malloc(cap)) == NULL) {
		hc->failed = true;
		return MHD_NO;
	}
	/* "Name;" is libcurl's way to send a header with an empty value. */
	if (valuelen == 0)
		n = snprintf(line, cap, "%.*s;", (int)keylen, key);
	else
		n = snprintf(line, cap, "%.*s: %.*s", (int)keylen, key, (int)valuelen, value);
	l = n < 0 || (size_t)n >= cap ? NULL : curl_slist_append(hc->req->hdrs, line);
	explicit_bzero(line, cap);
	free(line);
	if (l == NULL) {
		hc->failed = true;
		return MHD_NO;
	}
	hc->req->hdrs = l;
	return MHD_YES;
}

/* Replaces the token line at the end of req->hdrs (or appends it). */
static bool set_auth_header(struct req *req)
{
	struct token *t = runtime_route_token(req->rt, req->route);
	char line[TOKEN_MAX + 64];
	struct curl_slist *last = req->hdrs;
	bool ok;
	int n;

	if ((n = hdr_format_auth(req->route->auth, t->value, t->len, line, sizeof(line))) < 0)
		return false;
	req->token_gen = t->generation;
	while (last != NULL && last->next != NULL)
		last = last->next;
	if (req->replayed && last != NULL) {
		char *copy = strdup(line);

		if ((ok = copy != NULL)) {
			explicit_bzero(last->data, strlen(last->data));
			free(last->data);
			last->data = copy;
		}
	} else {
		struct curl_slist *l = curl_slist_append(req->hdrs, line);

		if ((ok = l != NULL))
			req->hdrs = l;
	}
	explicit_bzero(line, (size_t)n); /* only what was written: this runs per request */
	return ok;
}

static bool build_headers(struct req *req)
{
	char connection[CONNECTION_MAX] = "";
	struct hdr_collect hc = {.req = req, .connection = connection};
	struct curl_slist *l;

	MHD_get_connection_values_n(req->conn, MHD_HEADER_KIND, collect_connection, connection);
	MHD_get_connection_values_n(req->conn, MHD_HEADER_KIND, collect_header, &hc);
	if (hc.failed)
		return false;
	/* Headers libcurl would add on its own: pass through only what the client sent. */
	if (!hc.seen_accept) {
		if ((l = curl_slist_append(req->hdrs, "Accept:")) == NULL)
			return false;
		req->hdrs = l;
	}
	if ((l = curl_slist_append(req->hdrs, "Expect:")) == NULL)
		return false;
	req->hdrs = l;
	/* The upstream frees its side (a worker, for ZeroTier One) as soon as it has answered. */
	if (req->route->conn_keepalive_ms == 0) {
		if ((l = curl_slist_append(req->hdrs, "Connection: close")) == NULL)
			return false;
		req->hdrs = l;
	}
	return set_auth_header(req);
}

/* Counts the route's upstream connections as libcurl opens and closes them. */
static int on_socket_open(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	struct metrics_route *mr = arg;

	(void)fd;
	(void)purpose;
	/* The connection may outlive the request, and a reload the route: hold the entry. */
	if (metrics_route_ref(mr->prefix) != mr)
		return CURL_SOCKOPT_ERROR;
	mr->up_open++;
	return CURL_SOCKOPT_OK;
}

static int on_socket_close(void *arg, curl_socket_t fd)
{
	struct metrics_route *mr = arg;

	sock_close((int)fd);
	mr->up_open--;
	metrics_route_unref(mr);
	return 0;
}

/* A libcurl without HTTP/2 (the Windows build's) refuses to be asked for it. */
static bool curl_has_http2(void)
{
	static int has = -1;

	if (has < 0)
		has = (curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTP2) != 0;
	return has;
}

static bool setup_easy(struct req *req, const char *method)
{
	const struct config *cfg = req->rt->cfg;
	CURL *e;
	bool ok = true;

	if ((e = req->easy = xfer_easy_take(req->app)) == NULL)
		return false;
	/* Every option below can only fail for lack of memory or an old libcurl. */
	ok &= curl_easy_setopt(e, CURLOPT_URL, req->url) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PRIVATE, req) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_SHARE, req->app->share) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
	/* The token must never go through a proxy named by the environment. */
	ok &= curl_easy_setopt(e, CURLOPT_PROXY, "") == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->hdrs) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_upstream_header) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_HEADERDATA, req) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_upstream_body) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_WRITEDATA, req) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->upstream_connect_ms) ==
	      CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cfg->upstream_ms) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, on_socket_open) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, req->stats) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_socket_close) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, req->stats) == CURLE_OK;
	if (runtime_route_port(req->rt, req->route) != 0)
		ok &= curl_easy_setopt(e, CURLOPT_PORT,
		                       (long)runtime_route_port(req->rt, req->route)) == CURLE_OK;
	/*
	 * connections.keepalive: 0 closes each connection after its request (see
	 * the Connection header above); else libcurl reuses an idle connection
	 * only this young, in whole seconds.
	 */
	if (req->route->conn_keepalive_ms == 0)
		ok &= curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) == CURLE_OK;
	else
		ok &= curl_easy_setopt(e, CURLOPT_MAXAGE_CONN,
		                       (long)(req->route->conn_keepalive_ms + 999) / 1000) ==
		      CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
	                       req->route->tls && curl_has_http2()
	                           ? CURL_HTTP_VERSION_2TLS
	                           : CURL_HTTP_VERSION_1_1) == CURLE_OK;
	if (req->route->ca_file != NULL)
		ok &= curl_easy_setopt(e, CURLOPT_CAINFO, req->route->ca_file) == CURLE_OK;
	if (strcmp(method, "HEAD") == 0) {
		req->is_head = true;
		ok &= curl_easy_setopt(e, CURLOPT_NOBODY, 1L) == CURLE_OK;
	} else if (strcmp(method, "GET") != 0 || req->has_body) {
		ok &= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method) == CURLE_OK;
	}
	if (req->has_body) {
		ok &= curl_easy_setopt(e, CURLOPT_UPLOAD, 1L) == CURLE_OK;
		ok &= curl_easy_setopt(e, CURLOPT_READFUNCTION, on_upload_read) == CURLE_OK;
		ok &= curl_easy_setopt(e, CURLOPT_READDATA, req) == CURLE_OK;
		ok &= curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len) ==
		      CURLE_OK;
	}
	return ok;
}

bool req_start_upstream(struct req *req, const char *method)
{
	if (!build_headers(req) || !setup_easy(req, method) ||
	    curl_multi_add_handle(req->app->multi, req->easy) != CURLM_OK)
		return false;
	req->running = true;
	return true;
}

/* Ends the upstream transfer early; the request is answered from err_status or cut off. */
void req_stop_upstream(struct req *req)
{
	if (req->running) {
		/* Removed before its end, the transfer's connection is closed, never reused. */
		curl_multi_remove_handle(req->app->multi, req->easy);
		req->running = false;
		req->done = true;
		req->result = CURLE_ABORTED_BY_CALLBACK;
	}
	req_release(req);
}

static void req_replay(struct req *req)
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
	if (!set_auth_header(req) ||
	    curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->hdrs) != CURLE_OK ||
	    curl_multi_add_handle(req->app->multi, req->easy) != CURLM_OK) {
		req->done = true;
		req->result = CURLE_OUT_OF_MEMORY;
		req_fail(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
		         "cannot replay the upstream request", NULL);
		req_wake(req);
		return;
	}
	req->running = true;
}

void proxy_transfer_done(struct app *app, CURL *easy, CURLcode result)
{
	struct req *req = NULL;
	char msg[CURL_ERROR_SIZE + 256];
	const char *upstream;
	curl_off_t ttfb;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&req);
	curl_multi_remove_handle(app->multi, easy);
	req->running = false;
	if (req->status > 0 &&
	    curl_easy_getinfo(easy, CURLINFO_STARTTRANSFER_TIME_T, &ttfb) == CURLE_OK) {
		metrics_upstream_latency(req->stats, (uint64_t)ttfb);
		log_debug("route %s: upstream %s answered %ld, its head after %" PRIu64
		          ".%03" PRIu64 " ms",
		          req->route->prefix, req->route->upstream, req->status,
		          (uint64_t)ttfb / 1000, (uint64_t)ttfb % 1000);
	}
	if (req->replay_pending && result == CURLE_OK) {
		req_replay(req);
		return;
	}
	req->done = true;
	req->result = result;
	req_release(req);
	if (!req->headers_done || req->replay_pending) {
		upstream = req->route->upstream;
		snprintf(msg, sizeof(msg), "upstream %s: %s", upstream,
		         req->errbuf[0] ? req->errbuf : curl_easy_strerror(result));
		log_warn("route %s: %s", req->route->prefix, msg);
		if (result == CURLE_OPERATION_TIMEDOUT)
			req_fail(req, MHD_HTTP_GATEWAY_TIMEOUT, "upstream_timeout", msg, NULL);
		else if (req->head_too_big)
			req_fail(req, MHD_HTTP_BAD_GATEWAY, "bad_upstream_response",
			         "the upstream's response head is too large", NULL);
		else
			req_fail(req, MHD_HTTP_BAD_GATEWAY, "upstream_unreachable", msg, NULL);
	} else if (result != CURLE_OK) {
		log_warn("route %s: upstream %s: response cut off: %s", req->route->prefix,
		         req->route->upstream,
		         req->errbuf[0] ? req->errbuf : curl_easy_strerror(result));
	}
	req_wake(req);
}
