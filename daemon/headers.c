#include <string.h>
#include <strings.h>

#include "headers.h"

enum {
	HOP = 1 << 0,             /* hop-by-hop: never crosses, either way */
	CREDENTIAL = 1 << 1,      /* the client's credentials: we inject our own */
	CLIENT_SETS = 1 << 2,     /* libcurl sets it for the upstream request */
	SERVER_SETS = 1 << 3,     /* libmicrohttpd sets it for the client response */
	PROXY_CHALLENGE = 1 << 4, /* a challenge addressed to a proxy, not to the client */
	CORS_GRANT = 1 << 5,      /* would let a web page read the answer: never, see access.h */
};

#define REQUEST_DROP  (HOP | CREDENTIAL | CLIENT_SETS)
#define RESPONSE_DROP (HOP | SERVER_SETS | PROXY_CHALLENGE | CORS_GRANT)

static const struct {
	const char *name;
	unsigned flags;
} headers[] = {
    {"Connection", HOP},
    {"Keep-Alive", HOP},
    {"Proxy-Connection", HOP},
    {"TE", HOP},
    {"Trailer", HOP},
    {"Transfer-Encoding", HOP},
    {"Upgrade", HOP},
    {"Proxy-Authorization", CREDENTIAL},
    {"Proxy-Authenticate", PROXY_CHALLENGE},
    {"Authorization", CREDENTIAL},
    {"X-ZT1-Auth", CREDENTIAL},
    {"Host", CLIENT_SETS},
    {"Content-Length", CLIENT_SETS | SERVER_SETS},
    {"Expect", CLIENT_SETS},
    {"Access-Control-*", CORS_GRANT}, /* a trailing '*': every name that starts so */
};

/*
 * Folds case, and '_' into '-': servers that map headers to variables
 * (CGI's HTTP_X_ZT1_AUTH, some frameworks) read "X_ZT1_Auth" as
 * "X-ZT1-Auth", so a name that differs only so is the same name here.
 */
static int fold(int c)
{
	if (c == '_')
		return '-';
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static bool name_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		if (fold((unsigned char)a[i]) != fold((unsigned char)b[i]))
			return false;
	}
	return true;
}

bool hdr_name_is(const char *name, size_t namelen, const char *known)
{
	return name_eq(name, namelen, known, strlen(known));
}

/* RFC 9110 5.6.2 tchar. */
static bool is_tchar(int c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool hdr_name_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_tchar((unsigned char)s[i]))
			return false;
	}
	return true;
}

/* Whether name is one of the comma-separated tokens of a Connection value. */
static bool listed_in_connection(const char *name, size_t namelen, const char *connection)
{
	const char *p = connection, *start;

	if (!p)
		return false;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		start = p;
		while (*p && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		if (name_eq(name, namelen, start, (size_t)(p - start)))
			return true;
		/* Anything after the token's whitespace up to the comma is not a name. */
		while (*p && *p != ',')
			p++;
	}
	return false;
}

static bool table_name_eq(const char *name, size_t namelen, const char *entry)
{
	size_t n = strlen(entry);

	if (entry[n - 1] == '*')
		return namelen >= n - 1 && name_eq(name, n - 1, entry, n - 1);
	return name_eq(name, namelen, entry, n);
}

static bool forward(const char *name, size_t namelen, const char *connection, unsigned drop)
{
	if (!hdr_name_ok(name, namelen))
		return false;
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		if (table_name_eq(name, namelen, headers[i].name) && (headers[i].flags & drop) != 0)
			return false;
	}
	return !listed_in_connection(name, namelen, connection);
}

bool hdr_value_ok(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

bool hdr_transfer_coding_ok(const char *v, size_t n)
{
	while (n > 0 && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	return n == 7 && strncasecmp(v, "chunked", 7) == 0;
}

bool hdr_forward_request(const char *name, size_t namelen, const char *connection)
{
	return forward(name, namelen, connection, REQUEST_DROP);
}

bool hdr_forward_response(const char *name, size_t namelen, const char *connection)
{
	return forward(name, namelen, connection, RESPONSE_DROP);
}

int hdr_format_auth(enum auth_style auth, const char *token, size_t toklen, char *buf, size_t cap)
{
	const char *prefix;
	size_t plen;

	if (cap > 0)
		buf[0] = '\0';
	switch (auth) {
	case AUTH_TOKEN:
		prefix = "Authorization: token ";
		break;
	case AUTH_BEARER:
		prefix = "Authorization: Bearer ";
		break;
	case AUTH_X_ZT1_AUTH:
		prefix = "X-ZT1-Auth: ";
		break;
	default:
		return -1;
	}
	/* Any control byte would end or corrupt the header line, not only CR and LF. */
	if (toklen == 0)
		return -1;
	for (size_t i = 0; i < toklen; i++) {
		if ((unsigned char)token[i] < 0x20 || token[i] == 0x7f)
			return -1;
	}
	plen = strlen(prefix);
	if (toklen >= cap || plen >= cap - toklen || plen + toklen > HDR_LINE_MAX)
		return -1;
	memcpy(buf, prefix, plen);
	memcpy(buf + plen, token, toklen);
	buf[plen + toklen] = '\0';
	return (int)(plen + toklen);
}
