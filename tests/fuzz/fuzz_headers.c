/*
 * Header filtering and the injected auth line. The input is split at its
 * first two '\n' bytes into a header name, a Connection value and a token;
 * each property is checked against a plain restatement of the rules.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "headers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const request_drop[] = {
    "Connection",
    "Keep-Alive",
    "Proxy-Connection",
    "TE",
    "Trailer",
    "Transfer-Encoding",
    "Upgrade",
    "Proxy-Authorization",
    "Authorization",
    "X-ZT1-Auth",
    "Host",
    "Content-Length",
    "Expect",
};
static const char *const response_drop[] = {
    "Connection", "Keep-Alive",         "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding",
    "Upgrade",    "Proxy-Authenticate", "Content-Length",
};
#define N(a) (sizeof(a) / sizeof((a)[0]))

static bool is_token(const char *s, size_t n)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c != '\0' && memchr(extra, c, sizeof(extra) - 1))))
			return false;
	}
	return n > 0;
}

/* Names compare ignoring case, with '_' the same as '-' (headers.h). */
static bool same_name(const char *a, const char *b, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char x = a[i] == '_' ? '-' : a[i], y = b[i] == '_' ? '-' : b[i];

		if (strncasecmp(&x, &y, 1) != 0)
			return false;
	}
	return true;
}

static bool in_list(const char *const *list, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if (strlen(list[i]) == len && same_name(list[i], name, len))
			return true;
	}
	return false;
}

/* Whether some comma-separated element of conn, without OWS, is name. */
static bool listed(const char *conn, const char *name, size_t len)
{
	const char *p = conn, *end;

	for (;;) {
		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if ((size_t)(end - p) == len && same_name(p, name, len))
			return true;
		p = strchr(p, ',');
		if (!p)
			return false;
		p++;
	}
}

/* Whether name occurs anywhere in conn, ignoring case. */
static bool mentioned(const char *conn, const char *name, size_t len)
{
	size_t n = strlen(conn);

	for (size_t i = 0; i + len <= n; i++) {
		if (same_name(conn + i, name, len))
			return true;
	}
	return false;
}

static void check_filters(const char *name, size_t len, const char *conn)
{
	bool rq = hdr_forward_request(name, len, conn);
	bool rs = hdr_forward_response(name, len, conn);
	bool rq_plain = hdr_forward_request(name, len, NULL);
	bool rs_plain = hdr_forward_response(name, len, NULL);

	if (!is_token(name, len)) {
		if (rq || rs || rq_plain || rs_plain)
			abort();
		return;
	}
	if (rq_plain == in_list(request_drop, N(request_drop), name, len))
		abort();
	if (rs_plain == in_list(response_drop, N(response_drop), name, len))
		abort();
	/* A Connection value only ever removes more. */
	if ((rq && !rq_plain) || (rs && !rs_plain))
		abort();
	if (listed(conn, name, len) && (rq || rs))
		abort();
	if (!mentioned(conn, name, len) && (rq != rq_plain || rs != rs_plain))
		abort();
}

static void check_auth(const char *tok, size_t len, size_t cap)
{
	static const char *const prefix[] = {"Authorization: token ", "Authorization: Bearer ",
	                                     "X-ZT1-Auth: "};
	static char big[2 * HDR_LINE_MAX];
	bool ok = len > 0;
	char *buf;
	int n;

	for (size_t i = 0; i < len; i++)
		ok = ok && (unsigned char)tok[i] >= 0x20 && tok[i] != 0x7f;
	for (int a = AUTH_TOKEN; a <= AUTH_X_ZT1_AUTH; a++) {
		size_t plen = strlen(prefix[a]);

		n = hdr_format_auth((enum auth_style)a, tok, len, big, sizeof(big));
		if (plen + len <= HDR_LINE_MAX ? ok != (n >= 0) : n >= 0)
			abort();
		if (n >= 0 &&
		    ((size_t)n != plen + len || strlen(big) != (size_t)n ||
		     strncmp(big, prefix[a], plen) != 0 || memcmp(big + plen, tok, len) != 0))
			abort();
		/* Exactly cap bytes, so that a write past it is caught. */
		buf = malloc(cap ? cap : 1);
		n = hdr_format_auth((enum auth_style)a, tok, len, buf, cap);
		if (n >= 0 && ((size_t)n >= cap || strlen(buf) != (size_t)n))
			abort();
		if (n < 0 && cap > 0 && buf[0] != '\0')
			abort();
		free(buf);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *nl1, *nl2 = NULL;
	size_t namelen, connlen = 0, toklen = 0;
	char *conn;

	nl1 = memchr(in, '\n', size);
	namelen = nl1 ? (size_t)(nl1 - in) : size;
	if (nl1) {
		nl2 = memchr(nl1 + 1, '\n', size - namelen - 1);
		connlen = nl2 ? (size_t)(nl2 - nl1 - 1) : size - namelen - 1;
	}
	if (nl2)
		toklen = size - (size_t)(nl2 + 1 - in);

	/* The Connection value is a C string; an embedded NUL ends it early. */
	conn = malloc(connlen + 1);
	if (connlen)
		memcpy(conn, nl1 + 1, connlen);
	conn[connlen] = '\0';
	check_filters(in, namelen, conn);
	free(conn);

	check_auth(nl2 ? nl2 + 1 : "", toklen, size % 64);
	if (!nl2)
		check_auth(in, namelen, 2 * HDR_LINE_MAX);
	return 0;
}
