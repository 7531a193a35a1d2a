/*
 * Which headers cross the proxy, and the one we add: pure functions over one
 * static list, unit-tested on their own.
 */
#ifndef ZTP_HEADERS_H
#define ZTP_HEADERS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Longest token line we inject (hdr_format_auth). */
#define HDR_LINE_MAX 8192

/* Whether a field name is an RFC 9110 token (no space, colon or control byte). */
bool hdr_name_ok(const char *name, size_t namelen);

/*
 * Whether name is known, as a server would match it: case-insensitively,
 * and with '_' the same as '-' ("X_ZT1_Auth" is "X-ZT1-Auth").
 */
bool hdr_name_is(const char *name, size_t namelen, const char *known);

/*
 * Whether a field value is free of control bytes other than HTAB: a bare
 * CR, LF or NUL would end or cut the line for some upstream (RFC 9110 5.5).
 */
bool hdr_value_ok(const char *value, size_t n);

/*
 * Whether a Transfer-Encoding value is "chunked" alone (any case, optional
 * whitespace): the only coding the proxy frames, so anything else is a
 * request it cannot delimit (RFC 9112 6.3: 400).
 */
bool hdr_transfer_coding_ok(const char *value, size_t n);

/*
 * Whether a client request header goes upstream. Drops hop-by-hop headers
 * (RFC 9110 7.6.1: Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
 * Transfer-Encoding, Upgrade, Proxy-Authorization and every name listed in
 * the client's Connection header, given as connection, may be NULL), the
 * client's credentials (Authorization, X-ZT1-Auth), and what the upstream
 * client sets itself (Host, Content-Length, Expect). Names compare as
 * hdr_name_is() does.
 */
bool hdr_forward_request(const char *name, size_t namelen, const char *connection);

/* Whether an upstream response header goes to the client: hop-by-hop
 * headers, Proxy-Authenticate, those the server sets itself
 * (Content-Length, Transfer-Encoding), and every Access-Control-* header
 * (a CORS grant would let a web page read the answer) stay behind. */
bool hdr_forward_response(const char *name, size_t namelen, const char *connection);

/*
 * Writes the header line to inject ("X-ZT1-Auth: T", "Authorization: token T",
 * "Authorization: Bearer T"), without CRLF. Returns -1 if it does not fit.
 * The caller wipes buf after use.
 */
int hdr_format_auth(enum auth_style auth, const char *token, size_t toklen, char *buf, size_t cap);

#endif
