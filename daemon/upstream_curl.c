/*
 * The libcurl backend (upstream.h): https upstreams, host names, and any
 * route with `client: curl`. libcurl's multi handle is driven by the event
 * loop: libcurl says which sockets it wants watched and when it next needs
 * the time (its socket and timer callbacks); the loop polls those sockets
 * with everything else and hands back what is ready. Telling libcurl
 * exactly which socket is ready (curl_multi_socket_action) spares it the
 * poll() of every running transfer's socket that each curl_multi_perform()
 * call makes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "compat.h"
#include "headers.h"
#include "log.h"
#include "metrics.h"
#include "now.h"
#include "proxy_impl.h"
#include "sock.h"
#include "upstream.h"

/* Idle easy handles kept for the next requests; beyond that they are freed. */
#define SPARE_MAX 32

/* A socket libcurl asked to be watched, and for what (POLLIN / POLLOUT). */
struct curl_sock {
	curl_socket_t fd;
	short events;
};

/*
 * The one owner of the multi handle. The sockets are in no particular
 * order; libcurl keeps each one's slot number plus one as its socketp
 * (curl_multi_assign), so that updates are O(1).
 */
struct up_curl {
	CURLM *multi;
	CURLSH *share; /* TLS sessions and DNS answers outlive any one request */
	struct curl_sock *v;
	size_t n, cap;
	int64_t due_ms; /* monotonic time libcurl wants its timer run at; -1: never */
	CURL *spare[SPARE_MAX];
	size_t nspare;
};

/* One request's transfer. */
struct curl_xfer {
	CURL *easy;
	struct curl_slist *hdrs; /* forwarded headers; the last node is the token */
	char errbuf[CURL_ERROR_SIZE];
};

/* ---- The multi handle and the loop ------------------------------------ */

static void *slot_tag(size_t i)
{
	return (void *)(uintptr_t)(i + 1);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct up_curl *x = userp;
	size_t tag = (size_t)(uintptr_t)socketp;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (tag != 0 && tag <= x->n) {
			x->v[tag - 1] = x->v[--x->n];
			if (tag - 1 < x->n)
				curl_multi_assign(x->multi, x->v[tag - 1].fd, slot_tag(tag - 1));
		}
		return 0;
	}
	if (tag == 0) {
		if (x->n == x->cap) {
			size_t cap = x->cap ? x->cap * 2 : 16;
			struct curl_sock *v = realloc(x->v, cap * sizeof(*v));

			if (v == NULL) {
				log_error("out of memory watching an upstream socket");
				return -1; /* libcurl fails the transfers using it */
			}
			x->v = v;
			x->cap = cap;
		}
		tag = ++x->n;
		x->v[tag - 1].fd = fd;
		curl_multi_assign(x->multi, fd, slot_tag(tag - 1));
	}
	x->v[tag - 1].events =
	    (short)(((what & CURL_POLL_IN) ? POLLIN : 0) | ((what & CURL_POLL_OUT) ? POLLOUT : 0));
	return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct up_curl *x = userp;

	(void)multi;
	x->due_ms = timeout_ms < 0 ? -1 : (int64_t)now_ms() + timeout_ms;
	return 0;
}

static enum zt_err curl_open(struct app *app)
{
	struct up_curl *x;
	bool ok = true;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return ZT_ERR_IO;
	if ((x = app->curl = calloc(1, sizeof(*x))) == NULL ||
	    (x->multi = curl_multi_init()) == NULL || (x->share = curl_share_init()) == NULL)
		return ZT_ERR_NOMEM;
	x->due_ms = -1;
	ok &= curl_multi_setopt(x->multi, CURLMOPT_SOCKETFUNCTION, on_socket) == CURLM_OK;
	ok &= curl_multi_setopt(x->multi, CURLMOPT_SOCKETDATA, x) == CURLM_OK;
	ok &= curl_multi_setopt(x->multi, CURLMOPT_TIMERFUNCTION, on_timer) == CURLM_OK;
	ok &= curl_multi_setopt(x->multi, CURLMOPT_TIMERDATA, x) == CURLM_OK;
	ok &=
	    curl_share_setopt(x->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) == CURLSHE_OK;
	ok &= curl_share_setopt(x->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) == CURLSHE_OK;
	return ok ? ZT_OK : ZT_ERR_NOMEM;
}

static void curl_close(struct app *app)
{
	struct up_curl *x = app->curl;

	if (x == NULL) {
		curl_global_cleanup();
		return;
	}
	while (x->nspare > 0)
		curl_easy_cleanup(x->spare[--x->nspare]);
	if (x->multi != NULL)
		curl_multi_cleanup(x->multi);
	if (x->share != NULL)
		curl_share_cleanup(x->share);
	free(x->v);
	free(x);
	app->curl = NULL;
	curl_global_cleanup();
}

static bool curl_wait_fds(struct app *app, sock_push_fn push, void *arg, int *timeout_ms)
{
	struct up_curl *x = app->curl;

	for (size_t i = 0; i < x->n; i++)
		if (!push(arg, (int)x->v[i].fd, x->v[i].events))
			return false;
	if (x->due_ms >= 0) {
		int64_t left = x->due_ms - (int64_t)now_ms();
		int ms = left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;

		if (*timeout_ms < 0 || ms < *timeout_ms)
			*timeout_ms = ms;
	}
	return true;
}

static void transfer_done(struct up_curl *x, CURL *easy, CURLcode result);

static void curl_run(struct app *app, const struct pollfd *ready, size_t n)
{
	struct up_curl *x = app->curl;
	CURLMsg *msg;
	int running, queued;

	/* ready is the loop's copy: the callbacks may reorder x->v meanwhile. */
	for (size_t i = 0; i < n; i++) {
		int bits = 0;

		if ((ready[i].revents & (POLLIN | POLLHUP)) != 0)
			bits |= CURL_CSELECT_IN;
		if ((ready[i].revents & POLLOUT) != 0)
			bits |= CURL_CSELECT_OUT;
		if ((ready[i].revents & (POLLERR | POLLNVAL)) != 0)
			bits |= CURL_CSELECT_ERR;
		if (bits != 0)
			curl_multi_socket_action(x->multi, (curl_socket_t)ready[i].fd, bits,
			                         &running);
	}
	if (x->due_ms >= 0 && (int64_t)now_ms() >= x->due_ms) {
		x->due_ms = -1; /* the timer callback sets the next one */
		curl_multi_socket_action(x->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	while ((msg = curl_multi_info_read(x->multi, &queued)) != NULL)
		if (msg->msg == CURLMSG_DONE)
			transfer_done(x, msg->easy_handle, msg->data.result);
}

/* ---- One transfer ----------------------------------------------------- */

static size_t on_upload_read(char *buf, size_t size, size_t nitems, void *arg)
{
	ssize_t n = up_send_read(arg, buf, size * nitems);

	return n < 0 ? CURL_READFUNC_PAUSE : (size_t)n;
}

/* libcurl resends a request whose reused connection died before an answer. */
static int on_upload_seek(void *arg, curl_off_t offset, int origin)
{
	if (offset != 0 || origin != SEEK_SET)
		return CURL_SEEKFUNC_CANTSEEK;
	return up_send_rewind(arg) ? CURL_SEEKFUNC_OK : CURL_SEEKFUNC_CANTSEEK;
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

static size_t on_upstream_header(char *line, size_t size, size_t nitems, void *arg)
{
	struct req *req = arg;
	size_t len = size * nitems;
	const char *colon, *value, *end;

	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		long status = parse_status_line(line, len);

		up_head_begin(req, status);
		return status ? len : 0;
	}
	if (len <= 2 && (line[0] == '\r' || line[0] == '\n')) {
		up_head_end(req);
		return len;
	}
	/* Obsolete line folding and junk without a colon are dropped. */
	if (line[0] == ' ' || line[0] == '\t' || (colon = memchr(line, ':', len)) == NULL)
		return len;
	end = line + len;
	while (end > colon + 1 &&
	       (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (value = colon + 1; value < end && (*value == ' ' || *value == '\t'); value++)
		;
	/* Too many header bytes fail the transfer. */
	return up_header(req, line, (size_t)(colon - line), value, (size_t)(end - value)) ? len : 0;
}

static size_t on_upstream_body(char *data, size_t size, size_t nmemb, void *arg)
{
	size_t len = size * nmemb;

	if (len > 0 && up_body(arg, data, len, false) == 0)
		return CURL_WRITEFUNC_PAUSE;
	return len;
}

static bool slist_add(struct curl_slist **l, const char *line)
{
	struct curl_slist *n = curl_slist_append(*l, line);

	if (n != NULL)
		*l = n;
	return n != NULL;
}

/* libcurl's header list from req->fwd's "Name: value\r\n" lines. */
static bool build_headers(struct req *req, struct curl_xfer *cx)
{
	const char *p = req->fwd.data, *end = p + req->fwd.wpos;

	while (p != NULL && p < end) {
		const char *eol = memchr(p, '\r', (size_t)(end - p));
		size_t n = (size_t)(eol - p);
		char *line;
		bool ok;

		/* As long as the line is: the gate has held the whole head to max_header_size. */
		if (eol == NULL || (line = malloc(n + 1)) == NULL)
			return false;
		memcpy(line, p, n);
		/* "Name;" is libcurl's way to send a header with an empty value. */
		if (n >= 2 && line[n - 1] == ' ' && line[n - 2] == ':')
			memcpy(line + n - 2, ";", 2);
		else
			line[n] = '\0';
		ok = slist_add(&cx->hdrs, line);
		explicit_bzero(line, n);
		free(line);
		if (!ok)
			return false;
		p = eol + 2;
	}
	/* Headers libcurl would add on its own: pass through only what the client sent. */
	if (!req->fwd_accept && !slist_add(&cx->hdrs, "Accept:"))
		return false;
	if (!slist_add(&cx->hdrs, "Expect:"))
		return false;
	/* The upstream frees its side (a worker, for ZeroTier One) as soon as it has answered. */
	return req->route->conn_keepalive_ms != 0 || slist_add(&cx->hdrs, "Connection: close");
}

/* Replaces the token line at the end of the header list (or appends it). */
static bool set_auth_header(struct req *req, struct curl_xfer *cx)
{
	char line[TOKEN_MAX + 64];
	struct curl_slist *last = cx->hdrs;
	bool ok;
	int n;

	if ((n = up_auth_line(req, line, sizeof(line))) < 0)
		return false;
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
		ok = slist_add(&cx->hdrs, line);
	}
	explicit_bzero(line, (size_t)n); /* only what was written: this runs per request */
	return ok;
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

static bool setup_easy(struct req *req, struct curl_xfer *cx)
{
	const struct config *cfg = req->rt->cfg;
	struct up_curl *x = req->app->curl;
	const char *method = req->method;
	CURL *e;
	bool ok = true;

	if ((e = cx->easy = x->nspare > 0 ? x->spare[--x->nspare] : curl_easy_init()) == NULL)
		return false;
	/* Every option below can only fail for lack of memory or an old libcurl. */
	ok &= curl_easy_setopt(e, CURLOPT_URL, req->url) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PRIVATE, req) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_SHARE, x->share) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
	/* The token must never go through a proxy named by the environment. */
	ok &= curl_easy_setopt(e, CURLOPT_PROXY, "") == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, cx->errbuf) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_HTTPHEADER, cx->hdrs) == CURLE_OK;
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
	if (req->is_head)
		ok &= curl_easy_setopt(e, CURLOPT_NOBODY, 1L) == CURLE_OK;
	else if (strcmp(method, "GET") != 0 || req->has_body)
		ok &= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method) == CURLE_OK;
	if (req->has_body) {
		ok &= curl_easy_setopt(e, CURLOPT_UPLOAD, 1L) == CURLE_OK;
		ok &= curl_easy_setopt(e, CURLOPT_READFUNCTION, on_upload_read) == CURLE_OK;
		ok &= curl_easy_setopt(e, CURLOPT_READDATA, req) == CURLE_OK;
		ok &= curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_upload_seek) == CURLE_OK;
		ok &= curl_easy_setopt(e, CURLOPT_SEEKDATA, req) == CURLE_OK;
		ok &= curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len) ==
		      CURLE_OK;
	}
	return ok;
}

static bool xfer_start(struct req *req)
{
	struct curl_xfer *cx = req->xfer;

	if (cx == NULL) { /* the first start; a replay reuses the handle */
		if ((cx = req->xfer = calloc(1, sizeof(*cx))) == NULL || !build_headers(req, cx) ||
		    !set_auth_header(req, cx) || !setup_easy(req, cx))
			return false;
	} else if (!set_auth_header(req, cx) ||
	           curl_easy_setopt(cx->easy, CURLOPT_HTTPHEADER, cx->hdrs) != CURLE_OK) {
		return false;
	}
	cx->errbuf[0] = '\0';
	return curl_multi_add_handle(req->app->curl->multi, cx->easy) == CURLM_OK;
}

static void xfer_abort(struct req *req)
{
	struct curl_xfer *cx = req->xfer;

	/* Removed before its end, the transfer's connection is closed, never reused. */
	if (cx != NULL && cx->easy != NULL)
		curl_multi_remove_handle(req->app->curl->multi, cx->easy);
}

static void xfer_send_more(struct req *req)
{
	curl_easy_pause(((struct curl_xfer *)req->xfer)->easy, CURLPAUSE_CONT);
}

static void xfer_release(struct req *req)
{
	struct curl_xfer *cx = req->xfer;
	struct up_curl *x = req->app->curl;

	if (cx == NULL)
		return;
	if (cx->easy != NULL) {
		if (x->nspare == SPARE_MAX) {
			curl_easy_cleanup(cx->easy);
		} else {
			curl_easy_reset(cx->easy); /* no option of the last request survives */
			x->spare[x->nspare++] = cx->easy;
		}
	}
	for (struct curl_slist *h = cx->hdrs; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(cx->hdrs);
	free(cx);
	req->xfer = NULL;
}

static void transfer_done(struct up_curl *x, CURL *easy, CURLcode result)
{
	struct req *req = NULL;
	struct curl_xfer *cx;
	enum up_result r = UP_OK;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&req);
	curl_multi_remove_handle(x->multi, easy);
	cx = req->xfer;
	if (result == CURLE_OPERATION_TIMEDOUT)
		r = UP_TIMEOUT;
	else if (result != CURLE_OK)
		r = UP_FAILED;
	up_done(req, r, cx->errbuf[0] ? cx->errbuf : curl_easy_strerror(result));
}

const struct upstream_ops upstream_curl = {
    .name = "curl",
    .open = curl_open,
    .close = curl_close,
    .wait_fds = curl_wait_fds,
    .run = curl_run,
    .start = xfer_start,
    .abort = xfer_abort,
    .send_more = xfer_send_more,
    .recv_more = xfer_send_more, /* one call unpauses both directions */
    .release = xfer_release,
};
