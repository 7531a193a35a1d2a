#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gate.h"
#include "headers.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "route.h"
#include "server.h"
#include "status.h"

/* Bytes buffered per direction before the other side is paused. */
#define STREAM_BUF (64 * 1024)
/* Upstream response headers kept for one response. */
#define RESP_HEADERS_MAX (64 * 1024)
/* The client's Connection header values, joined. */
#define CONNECTION_MAX 1024
#define ERROR_BODY_MAX 2048
/* libmicrohttpd's buffer for one read of a streamed response. */
#define MHD_BLOCK 16384

/* A capped byte buffer: data lives in [rpos, wpos). */
struct pbuf {
	char *data;
	size_t cap, rpos, wpos;
};

struct req {
	struct req *next, *prev;
	struct app *app;
	struct runtime *rt;
	struct MHD_Connection *conn;
	char *target; /* raw request target; NULL when it was too long */
	const struct cfg_route *route;
	bool started;
	bool suspended;
	bool queued;
	unsigned sent_status; /* for the access log and metrics; 0: nothing sent */
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

	CURL *easy;
	struct curl_slist *hdrs; /* forwarded headers; the last node is the token */
	char *url;
	char errbuf[CURL_ERROR_SIZE];
	bool running; /* the transfer is in the multi handle */
	bool done;    /* the transfer ended, as result says */
	CURLcode result;
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
	bool is_head;
	struct pbuf resp;
	bool write_paused;
};

static void pbuf_free(struct pbuf *b, bool wipe)
{
	if (b->data != NULL && wipe)
		explicit_bzero(b->data, b->cap);
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Moves unread data to the front; afterwards there is cap - wpos room. */
static void pbuf_compact(struct pbuf *b)
{
	if (b->rpos == 0)
		return;
	memmove(b->data, b->data + b->rpos, b->wpos - b->rpos);
	b->wpos -= b->rpos;
	b->rpos = 0;
}

/* Makes room for want more bytes without growing past max. */
static bool pbuf_reserve(struct pbuf *b, size_t want, size_t max)
{
	size_t need = b->wpos + want, cap;
	char *p;

	if (need <= b->cap)
		return true;
	if (need > max)
		return false;
	cap = b->cap ? b->cap : 4096;
	while (cap < need)
		cap *= 2;
	if (cap > max)
		cap = max;
	if ((p = realloc(b->data, cap)) == NULL)
		return false;
	b->data = p;
	b->cap = cap;
	return true;
}

static bool pbuf_append(struct pbuf *b, const void *data, size_t len, size_t max)
{
	if (!pbuf_reserve(b, len, max))
		return false;
	memcpy(b->data + b->wpos, data, len);
	b->wpos += len;
	return true;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void req_wake(struct req *req)
{
	if (!req->suspended)
		return;
	req->suspended = false;
	MHD_resume_connection(req->conn);
	req->app->mhd_pending = true;
}

static void req_suspend(struct req *req)
{
	if (req->suspended)
		return;
	req->suspended = true;
	MHD_suspend_connection(req->conn);
}

static void req_free(struct req *req)
{
	struct app *app = req->app;

	if (req->easy != NULL) {
		if (req->running)
			curl_multi_remove_handle(app->multi, req->easy);
		curl_easy_cleanup(req->easy);
	}
	for (struct curl_slist *h = req->hdrs; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(req->hdrs);
	pbuf_free(&req->body, false);
	pbuf_free(&req->rhdr, false);
	pbuf_free(&req->resp, false);
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

/* ---- errors ---- */

struct jbody {
	char buf[ERROR_BODY_MAX];
	size_t len;
	int err;
};

static void jbody_field(struct jbody *j, const char *key, const char *value)
{
	if (value == NULL)
		return;
	j->err |= json_append_raw(j->buf, sizeof(j->buf), &j->len, j->len > 1 ? "," : "");
	j->err |= json_append_string(j->buf, sizeof(j->buf), &j->len, key);
	j->err |= json_append_raw(j->buf, sizeof(j->buf), &j->len, ":");
	j->err |= json_append_string(j->buf, sizeof(j->buf), &j->len, value);
}

/*
 * Decides the error response for req. The body names the route; extra is a
 * NULL-terminated list of key, value pairs.
 */
static void req_fail(struct req *req, unsigned status, const char *code, const char *message,
                     const char *const *extra)
{
	struct jbody j = {.len = 0};

	if (req->err_status != 0)
		return;
	j.err |= json_append_raw(j.buf, sizeof(j.buf), &j.len, "{");
	jbody_field(&j, "error", code);
	if (req->route != NULL)
		jbody_field(&j, "route", req->route->prefix);
	for (; extra != NULL && extra[0] != NULL; extra += 2)
		jbody_field(&j, extra[0], extra[1]);
	jbody_field(&j, "message", message);
	j.err |= json_append_raw(j.buf, sizeof(j.buf), &j.len, "}\n");
	if (j.err)
		snprintf(j.buf, sizeof(j.buf), "{\"error\":\"%s\"}\n", code);
	/* Belt and braces: no error body may carry a token, whatever went in. */
	log_redact(j.buf, sizeof(j.buf));
	req->err_status = status;
	req->err_body = strdup(j.buf);
}

static enum MHD_Result queue_error(struct req *req)
{
	const char *body = req->err_body ? req->err_body : "{\"error\":\"internal\"}\n";
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        req->err_type ? req->err_type : "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (req->err_status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
		                        req->err_allow[0] ? req->err_allow : "GET, HEAD");
	if (req->app->stopping)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(req->conn, req->err_status, resp);
	MHD_destroy_response(resp);
	req->queued = true;
	req->sent_status = req->err_status;
	req->bytes_out = req->mmethod == MM_HEAD ? 0 : strlen(body);
	return ret;
}

/* ---- upstream callbacks (libcurl) ---- */

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

static const char *resp_header(const struct req *req, const char *name)
{
	const char *p = req->rhdr.data, *end = p + req->rhdr.wpos;

	while (p != NULL && p < end) {
		const char *value = p + strlen(p) + 1;

		if (strcasecmp(p, name) == 0)
			return value;
		p = value + strlen(value) + 1;
	}
	return NULL;
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
	if (!pbuf_reserve(&req->rhdr, namelen + (size_t)(end - value) + 2, RESP_HEADERS_MAX))
		return 0; /* too many header bytes: fail the transfer */
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

/* ---- client side (libmicrohttpd) ---- */

static ssize_t on_client_read(void *arg, uint64_t pos, char *buf, size_t max)
{
	struct req *req = arg;
	struct pbuf *b = &req->resp;
	size_t n;

	(void)pos;
	if (b->wpos == b->rpos && req->write_paused && req->running) {
		req->write_paused = false;
		curl_easy_pause(req->easy, CURLPAUSE_CONT); /* may deliver data right now */
	}
	n = b->wpos - b->rpos;
	if (n > 0) {
		if (n > max)
			n = max;
		memcpy(buf, b->data + b->rpos, n);
		b->rpos += n;
		if (b->rpos == b->wpos)
			b->rpos = b->wpos = 0;
		req->bytes_out += n;
		return (ssize_t)n;
	}
	if (req->done)
		return req->result == CURLE_OK ? MHD_CONTENT_READER_END_OF_STREAM
		                               : MHD_CONTENT_READER_END_WITH_ERROR;
	req_suspend(req);
	return 0;
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
	char line[HDR_LINE_MAX];
	struct curl_slist *l;
	int n;

	(void)kind;
	if (!hdr_forward_request(key, keylen, hc->connection))
		return MHD_YES;
	if (keylen == 6 && strncasecmp(key, "Accept", 6) == 0)
		hc->seen_accept = true;
	/* "Name;" is libcurl's way to send a header with an empty value. */
	if (valuelen == 0)
		n = snprintf(line, sizeof(line), "%.*s;", (int)keylen, key);
	else
		n = snprintf(line, sizeof(line), "%.*s: %.*s", (int)keylen, key, (int)valuelen,
		             value);
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    (l = curl_slist_append(hc->req->hdrs, line)) == NULL) {
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
	return set_auth_header(req);
}

static bool parse_content_length(const char *s, int64_t *out)
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
	       (parse_content_length(cl, &len) && len > 0);
}

static bool setup_easy(struct req *req, const char *method)
{
	const struct config *cfg = req->rt->cfg;
	CURL *e;
	bool ok = true;

	if ((e = req->easy = curl_easy_init()) == NULL)
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
	ok &= curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
	                       req->route->tls ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1) ==
	      CURLE_OK;
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
	req->err_body = r.body; /* NULL (out of memory): queue_error's fallback */
	req->err_type = r.type;
}

/* Whether the request came in on a listener that serves only the status paths. */
static bool req_status_only(const struct req *req)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_DAEMON);

	for (const struct listener *l = req->app->listeners; ci != NULL && l != NULL; l = l->next)
		if (l->mhd == ci->daemon)
			return l->status_only;
	return false;
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
	if (!gate_request(req->conn, cfg, method, &refusal)) {
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
	if (req_status_only(req)) {
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
	if (!gate_route(req->conn, req->route, method, npath, nlen, &refusal)) {
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
		req->has_body = parse_content_length(cl, &req->body_len);
	req->keep_body = true;
	req->body_cap = cfg->replay_body > STREAM_BUF ? (size_t)cfg->replay_body : STREAM_BUF;

	if ((req->url = strdup(url)) == NULL || !build_headers(req) || !setup_easy(req, method) ||
	    curl_multi_add_handle(req->app->multi, req->easy) != CURLM_OK) {
		log_error("route %s: cannot set up the upstream request", req->route->prefix);
		req_fail(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
		         "cannot set up the upstream request", NULL);
		return;
	}
	req->running = true;
}

/* Ends the upstream transfer early; the request is answered from err_status or cut off. */
static void req_stop_upstream(struct req *req)
{
	if (!req->running)
		return;
	curl_multi_remove_handle(req->app->multi, req->easy);
	req->running = false;
	req->done = true;
	req->result = CURLE_ABORTED_BY_CALLBACK;
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
		if (req->read_paused && req->running) {
			req->read_paused = false;
			curl_easy_pause(req->easy, CURLPAUSE_CONT);
		}
	}
	if (*size > 0)
		req_suspend(req); /* woken when the upstream has read some */
	return MHD_YES;
}

static enum MHD_Result queue_upstream(struct req *req)
{
	const char *cl = resp_header(req, "Content-Length");
	const char *connection = resp_header(req, "Connection");
	const char *p = req->rhdr.data, *end = p + req->rhdr.wpos;
	struct MHD_Response *resp;
	uint64_t size = MHD_SIZE_UNKNOWN;
	int64_t len;
	enum MHD_Result ret;

	if (parse_content_length(cl, &len))
		size = (uint64_t)len;
	resp = MHD_create_response_from_callback(size, MHD_BLOCK, on_client_read, req, NULL);
	if (resp == NULL)
		return MHD_NO;
	while (p != NULL && p < end) {
		const char *value = p + strlen(p) + 1;

		if (hdr_forward_response(p, strlen(p), connection) &&
		    MHD_add_response_header(resp, p, value) != MHD_YES)
			log_debug("route %s: response header '%s' not forwarded",
			          req->route->prefix, p);
		p = value + strlen(value) + 1;
	}
	if (req->app->stopping)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(req->conn, (unsigned)req->status, resp);
	MHD_destroy_response(resp);
	req->queued = true;
	req->sent_status = (unsigned)req->status;
	return ret;
}

static enum MHD_Result req_respond(struct req *req)
{
	if (req->queued)
		return MHD_YES;
	if (req->err_status != 0)
		return queue_error(req);
	if (req->headers_done && !req->replay_pending) {
		if (req->status > 999) {
			req_fail(req, MHD_HTTP_BAD_GATEWAY, "bad_upstream_response",
			         "upstream answered with an invalid status", NULL);
			return queue_error(req);
		}
		return queue_upstream(req);
	}
	req_suspend(req); /* woken when the upstream's head or an error arrives */
	return MHD_YES;
}

void *proxy_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct app *app = cls;
	struct req *req;

	server_client_deadline(server_client(conn), "the request headers",
	                       app->rt->cfg->client_header_ms);
	if ((req = calloc(1, sizeof(*req))) == NULL)
		return NULL;
	if (strlen(uri) <= ROUTE_TARGET_MAX)
		req->target = strdup(uri);
	req->app = app;
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

	(void)cls;
	(void)url;
	(void)version;
	if (req == NULL)
		return MHD_NO; /* out of memory in proxy_uri_log */
	if (!req->started) {
		/* Queue nothing yet: answering on the first call costs keep-alive. */
		req->started = true;
		req->conn = conn;
		snprintf(req->method, sizeof(req->method), "%s", method);
		req->mmethod = metrics_method(method);
		req_start(req, method);
		/* A refused body is not read: answering now makes libmicrohttpd close instead. */
		if (req->err_status != 0 && declares_body(conn))
			return queue_error(req);
		server_client_deadline(server_client(conn), "the request body",
		                       declares_body(conn) ? req->rt->cfg->client_body_ms : 0);
		return MHD_YES;
	}
	if (*upload_data_size != 0)
		return req_upload(req, upload_data, upload_data_size);
	if (!req->body_done) {
		req->body_done = true;
		server_client_deadline(server_client(conn), NULL, 0);
		if (req->read_paused && req->running) {
			req->read_paused = false;
			curl_easy_pause(req->easy, CURLPAUSE_CONT); /* lets it see the end */
		}
	}
	return req_respond(req);
}

/*
 * One line per request. The query string stays out: it may carry auth=.
 * "upstream" is the last upstream status ("-": none), after a replay if any.
 */
static void access_log(const struct req *req, enum MHD_RequestTerminationCode toe)
{
	uint64_t us = now_us() - req->start_us;
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

	/* Keep-alive: the next request may wait the idle time, then has its own. */
	server_client_deadline(server_client(conn), "the next request",
	                       app->rt->cfg->client_idle_ms + app->rt->cfg->client_header_ms);
	if (req == NULL)
		return;
	metrics_request(req->stats, req->mmethod, req->sent_status, req->body_total,
	                req->bytes_out);
	if (req->rt->cfg->access_log && log_get_level() >= LOG_INFO)
		access_log(req, toe);
	*req_cls = NULL;
	req_free(req);
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
	if (!req->headers_done || req->replay_pending) {
		upstream = req->route->upstream;
		snprintf(msg, sizeof(msg), "upstream %s: %s", upstream,
		         req->errbuf[0] ? req->errbuf : curl_easy_strerror(result));
		log_warn("route %s: %s", req->route->prefix, msg);
		if (result == CURLE_OPERATION_TIMEDOUT)
			req_fail(req, MHD_HTTP_GATEWAY_TIMEOUT, "upstream_timeout", msg, NULL);
		else
			req_fail(req, MHD_HTTP_BAD_GATEWAY, "upstream_unreachable", msg, NULL);
	} else if (result != CURLE_OK) {
		log_warn("route %s: upstream %s: response cut off: %s", req->route->prefix,
		         req->route->upstream,
		         req->errbuf[0] ? req->errbuf : curl_easy_strerror(result));
	}
	req_wake(req);
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
		if (req->running) {
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
