#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "access.h"
#include "client.h"
#include "gate.h"
#include "headers.h"
#include "log.h"

ZT_PRINTF(4, 5)
static bool refuse(struct gate_refusal *out, unsigned status, const char *code, const char *fmt,
                   ...)
{
	va_list ap;

	out->status = status;
	out->code = code;
	out->allow[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(out->message, sizeof(out->message), fmt, ap);
	va_end(ap);
	return false;
}

/*
 * The request head as libmicrohttpd parsed it, walked header by header.
 * libmicrohttpd 0.9.7x parses in place: each name and value stays where it
 * arrived, between [head, end), with the colon and line ends overwritten by
 * NULs. Two things it does not refuse show up only in that layout: an
 * obs-fold continuation line (RFC 9112 5.2) glues itself onto the previous
 * header's *name* in a copy outside the head, and a NUL cuts a value short,
 * leaving the rest of the line in the gap before the next header.
 */
struct fields {
	const char *head, *end;
	const char *prev_end; /* end of the previous header's value, or NULL */
	unsigned host, te, cl, origin, referer, fetch_site;
	const char *why; /* the first problem found */
};

/* Whether p .. p+n is all NUL: the line ends libmicrohttpd overwrote. */
static bool all_nul(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\0')
			return false;
	}
	return true;
}

/*
 * The layout check, for the libmicrohttpd versions whose parser it was
 * made against (0.9.7x before 0.9.77, which rewrote the header parser):
 * with another parser the layout says nothing, so it passes.
 */
#if MHD_VERSION < 0x00097700
#define LAYOUT_KNOWN 1
#else
#define LAYOUT_KNOWN 0
#endif

static bool layout_ok(struct fields *f, const char *key, size_t keylen, const char *value,
                      size_t valuelen)
{
	const char *ows = key + keylen + 1;

	if (!LAYOUT_KNOWN)
		return true;
	if (key < f->head || value < ows || value + valuelen >= f->end ||
	    (f->prev_end != NULL && (key - f->prev_end < 1 || key - f->prev_end > 2 ||
	                             !all_nul(f->prev_end, (size_t)(key - f->prev_end))))) {
		f->why = "a folded header line (obs-fold) or a NUL byte in a header";
		return false;
	}
	for (; ows < value; ows++) {
		if (*ows != ' ' && *ows != '\t') {
			f->why = "a malformed header line";
			return false;
		}
	}
	return true;
}

static enum MHD_Result check_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t keylen, const char *value, size_t valuelen)
{
	struct fields *f = cls;

	(void)kind;
	if (!layout_ok(f, key, keylen, value, valuelen))
		return MHD_NO;
	f->prev_end = value + valuelen;
	if (!hdr_name_ok(key, keylen)) {
		f->why = "a header name that is not a token";
		return MHD_NO;
	}
	if (!hdr_value_ok(value, valuelen)) {
		f->why = "a control character (CR, LF, NUL) in a header value";
		return MHD_NO;
	}
	f->host += hdr_name_is(key, keylen, "Host");
	f->cl += hdr_name_is(key, keylen, "Content-Length");
	/* libmicrohttpd frames by the dashed names only; an upstream may not. */
	if ((hdr_name_is(key, keylen, "Content-Length") ||
	     hdr_name_is(key, keylen, "Transfer-Encoding")) &&
	    memchr(key, '_', keylen) != NULL) {
		f->why = "a Content_Length or Transfer_Encoding header (with '_')";
		return MHD_NO;
	}
	f->origin += hdr_name_is(key, keylen, "Origin");
	f->referer += hdr_name_is(key, keylen, "Referer");
	f->fetch_site += hdr_name_is(key, keylen, "Sec-Fetch-Site");
	if (hdr_name_is(key, keylen, "Transfer-Encoding")) {
		f->te++;
		if (!hdr_transfer_coding_ok(value, valuelen)) {
			f->why = "a Transfer-Encoding other than chunked";
			return MHD_NO;
		}
	}
	return MHD_YES;
}

/*
 * RFC 9112 framing and RFC 9110 field syntax: what an upstream could read
 * differently from libmicrohttpd is refused, never passed on.
 */
static bool check_fields(struct MHD_Connection *conn, const struct client *c, const char *method,
                         size_t head_size, struct gate_refusal *out)
{
	struct fields f = {.head = method, .end = method + head_size};

	MHD_get_connection_values_n(conn, MHD_HEADER_KIND, check_field, &f);
	if (LAYOUT_KNOWN && f.why == NULL && f.prev_end != NULL &&
	    (f.end - f.prev_end < 2 || f.end - f.prev_end > 4 ||
	     !all_nul(f.prev_end, (size_t)(f.end - f.prev_end))))
		f.why = "a NUL byte in a header";
	if (f.why == NULL && f.te > 0 && f.cl > 0)
		f.why = "both Transfer-Encoding and Content-Length";
	if (f.why == NULL && (f.host > 1 || f.te > 1 || f.cl > 1 || f.origin > 1 || f.referer > 1 ||
	                      f.fetch_site > 1))
		f.why = "more than one Host, Transfer-Encoding, Content-Length, Origin, Referer "
		        "or Sec-Fetch-Site header";
	if (f.why == NULL)
		return true;
	log_warn("refused a request from %s: %s", c->addr, f.why);
	return refuse(out, MHD_HTTP_BAD_REQUEST, "bad_request", "the request has %s", f.why);
}

static const char *header(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* "uid 1000 (gid 1000)", or what is known about a caller that is not on a unix socket. */
static void describe_caller(const struct client *c, char *buf, size_t cap)
{
	if (c->peer_known)
		snprintf(buf, cap, "uid %u (gid %u)", (unsigned)c->peer.uid, (unsigned)c->peer.gid);
	else
		snprintf(buf, cap, "%.100s (not on a unix socket, so its uid is unknown)", c->addr);
}

/* where_kind and where_name say what the caller asked for: "route " and its prefix. */
static bool check_caller(const struct client *c, const struct acc_ids *uids,
                         const struct acc_ids *gids, const char *where_kind, const char *where_name,
                         struct gate_refusal *out)
{
	char who[160];

	if (acc_caller_allowed(uids, gids, c->peer_known ? &c->peer : NULL))
		return true;
	describe_caller(c, who, sizeof(who));
	log_warn("refused %s on %s%s: not in its allow_uids / allow_gids", who, where_kind,
	         where_name);
	return refuse(out, MHD_HTTP_FORBIDDEN, "caller_not_allowed",
	              "%s may not use %s%s (allow_uids / allow_gids)", who, where_kind, where_name);
}

size_t gate_response_room(struct MHD_Connection *conn, const struct client *c)
{
	const union MHD_ConnectionInfo *size =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	int records = MHD_get_connection_values(
	    conn, (enum MHD_ValueKind)(MHD_HEADER_KIND | MHD_COOKIE_KIND | MHD_GET_ARGUMENT_KIND),
	    NULL, NULL);
	/* libmicrohttpd parses cookies in a copy of the (first) Cookie header. */
	const char *cookie = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Cookie");
	/* The head, libmicrohttpd's records of it, and room for a body chunk. */
	size_t used = 2048;

	if (c == NULL || size == NULL || records < 0)
		return 0;
	used += size->header_size + (size_t)records * CLIENT_MHD_RECORD;
	if (cookie != NULL)
		used += strlen(cookie) + 16;
	return c->pool_size > used ? c->pool_size - used : 0;
}

bool gate_request(struct MHD_Connection *conn, const struct client *c, const struct config *cfg,
                  const char *method, struct gate_refusal *out)
{
	const union MHD_ConnectionInfo *size =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	struct acc_browser b = {0};
	enum acc_browser_verdict v;
	const char *host;
	int lines;

	if (c == NULL) /* server.c could not keep track of the connection (out of memory) */
		return refuse(out, MHD_HTTP_SERVICE_UNAVAILABLE, "internal", "out of memory");
	if (size != NULL && size->header_size > cfg->max_header_size)
		return refuse(out, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large",
		              "the request line and headers are %zu bytes, more than "
		              "limits.max_header_size (%llu)",
		              size->header_size, (unsigned long long)cfg->max_header_size);
	if (size == NULL)
		return refuse(out, MHD_HTTP_BAD_REQUEST, "bad_request",
		              "the request head cannot be read");
	if ((lines = MHD_get_connection_values(conn, MHD_HEADER_KIND, NULL, NULL)) >
	    (int)cfg->max_headers)
		return refuse(out, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large",
		              "the request has %d header lines, more than limits.max_headers (%u)",
		              lines, (unsigned)cfg->max_headers);
	if (gate_response_room(conn, c) < GATE_ROOM_MIN)
		return refuse(out, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large",
		              "the request's cookies and query parameters leave no room for the "
		              "response beside its head");
	if (!check_fields(conn, c, method, size->header_size, out))
		return false;
	if (c->is_unix && !check_caller(c, c->allow_uids, c->allow_gids, "", c->bound, out))
		return false;
	/*
	 * A DNS-rebinding page talks to us under its own name; unix sockets have no
	 * such name, and neither has the address the client connected to (a page
	 * cannot rebind an IP address), which remote clients of allow_remote send.
	 */
	if (!c->is_unix) {
		char *local[] = {(char *)c->local};

		host = header(conn, MHD_HTTP_HEADER_HOST);
		if (host != NULL &&
		    !acc_host_allowed(host, strlen(host), cfg->allowed_hosts.v,
		                      cfg->allowed_hosts.n) &&
		    (c->local[0] == '\0' || !acc_host_allowed(host, strlen(host), local, 1))) {
			log_warn("refused a request from %s for Host '%.64s': not localhost, "
			         "127.0.0.1, [::1] or in allowed_hosts",
			         c->addr, host);
			return refuse(
			    out, MHD_HTTP_FORBIDDEN, "host_not_allowed",
			    "Host '%.64s' is not served: only localhost, 127.0.0.1, [::1] "
			    "and the names in allowed_hosts are",
			    host);
		}
	}
	b.origin = header(conn, "Origin");
	b.referer = header(conn, "Referer");
	b.sec_fetch_site = header(conn, "Sec-Fetch-Site");
	b.preflight =
	    strcmp(method, "OPTIONS") == 0 && header(conn, "Access-Control-Request-Method") != NULL;
	if ((v = acc_check_browser(&b, cfg->allowed_origins.v, cfg->allowed_origins.n)) !=
	    ACC_BROWSER_OK) {
		log_warn("refused a request from %s made by a web page (Origin '%.64s', Referer "
		         "'%.64s', Sec-Fetch-Site '%.16s')",
		         c->addr, b.origin ? b.origin : "-", b.referer ? b.referer : "-",
		         b.sec_fetch_site ? b.sec_fetch_site : "-");
		return refuse(out, MHD_HTTP_FORBIDDEN,
		              v == ACC_BROWSER_PREFLIGHT ? "cors_preflight" : "browser_request",
		              "%s", acc_browser_message(v));
	}
	return true;
}

/* "GET, HEAD" for an Allow header. */
static void join_methods(char *const *v, size_t n, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && len < cap; i++) {
		int w = snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", v[i]);

		if (w < 0 || (size_t)w >= cap - len) {
			buf[len] = '\0';
			break;
		}
		len += (size_t)w;
	}
}

/* A Content-Length of digits only; libmicrohttpd has refused other forms already. */
static bool declared_length(struct MHD_Connection *conn, unsigned long long *out)
{
	const char *s = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long v = 0;

	if (s == NULL || *s == '\0')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (~0ull - 9) / 10)
			return false;
		v = v * 10 + (unsigned)(*s - '0');
	}
	*out = v;
	return true;
}

bool gate_route(struct MHD_Connection *conn, const struct client *c, const struct cfg_route *route,
                const char *method, const char *path, size_t len, struct gate_refusal *out)
{
	static char *const read_only[] = {"GET", "HEAD"};
	/*
	 * Without a methods list: what the ZeroTier APIs take (GET, POST and
	 * DELETE in their OpenAPI specs; ZeroTier One takes PUT as POST), HEAD,
	 * and OPTIONS for tools that probe. Not TRACE, CONNECT, "get" or others.
	 */
	static char *const by_default[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"};
	char *const *methods = route->read_only       ? read_only
	                       : route->methods.n > 0 ? route->methods.v
	                                              : by_default;
	size_t nmethods = route->read_only       ? 2
	                  : route->methods.n > 0 ? route->methods.n
	                                         : sizeof(by_default) / sizeof(by_default[0]);
	unsigned long long cl;
	enum acc_path_verdict pv;

	if (c == NULL)
		return refuse(out, MHD_HTTP_SERVICE_UNAVAILABLE, "internal", "out of memory");
	if (!check_caller(c, &route->allow_uids, &route->allow_gids, "route ", route->prefix, out))
		return false;
	if (!acc_method_allowed(method, methods, nmethods)) {
		refuse(out, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
		       "route %s does not allow %.32s", route->prefix, method);
		join_methods(methods, nmethods, out->allow, sizeof(out->allow));
		log_info("route %s: refused %.32s: not in the route's %s", route->prefix, method,
		         route->read_only       ? "read_only methods (GET, HEAD)"
		         : route->methods.n > 0 ? "methods"
		                                : "default methods");
		return false;
	}
	pv = acc_check_path(path, len, route->allow_paths.v, route->allow_paths.n,
	                    route->deny_paths.v, route->deny_paths.n);
	if (pv != ACC_PATH_OK) {
		log_info("route %s: refused %s %.*s: %s", route->prefix, method,
		         (int)(len > 512 ? 512 : len), path,
		         pv == ACC_PATH_DENIED ? "matches deny_paths" : "not in allow_paths");
		return refuse(out, MHD_HTTP_FORBIDDEN, "path_not_allowed",
		              "route %s does not allow this path (%s)", route->prefix,
		              pv == ACC_PATH_DENIED ? "deny_paths" : "allow_paths");
	}
	if (declared_length(conn, &cl) && cl > route->max_body)
		return refuse(out, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large",
		              "the request body of %llu bytes is over route %s's max_body of %llu",
		              cl, route->prefix, (unsigned long long)route->max_body);
	return true;
}
