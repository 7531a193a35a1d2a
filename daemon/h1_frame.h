/*
 * The h1 backend's decisions that need no socket, unit-tested on their own:
 * where an upstream URL points, whether the h1 backend can reach that host,
 * how a request body is framed, and whether a connection may be reused.
 * Response parsing is llhttp's (upstream_h1.c), never ours.
 */
#ifndef ZTP_H1_FRAME_H
#define ZTP_H1_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Longest host name or address we keep from a URL. */
#define H1_HOST_MAX 256

/* An http:// URL taken apart; target points into the URL. */
struct h1_url {
	char host[H1_HOST_MAX]; /* without the brackets of an IPv6 literal */
	uint16_t port;          /* 80 when the URL names none */
	bool has_port;
	const char *authority; /* "host[:port]" as written, for the Host header */
	size_t authority_len;
	const char *target; /* "/path?query"; "" when the URL ends at the authority */
};

/* Splits "http://host[:port][/...]"; false for https, userinfo or a bad port. */
ZT_WUR bool h1_url_split(const char *url, struct h1_url *out);

/* Whether the h1 backend connects to host itself: an IPv4 or IPv6 literal, or localhost. */
bool h1_host_direct(const char *host);

/* How the request body goes: none, Content-Length, or chunked. */
enum h1_body { H1_BODY_NONE, H1_BODY_LENGTH, H1_BODY_CHUNKED };
/* has_body and len (-1: unknown) are what the client announced. */
enum h1_body h1_body_framing(bool has_body, int64_t len);

/* "%zx\r\n" for a chunk of n bytes into buf (at least 20 bytes); returns its length. */
size_t h1_chunk_head(size_t n, char *buf);

/*
 * Whether a connection goes back to the pool after a response: the route
 * keeps connections (keepalive_ms > 0), the parser says the server keeps
 * it, the request went out whole, and the proxy did not end the exchange.
 */
bool h1_reusable(uint32_t keepalive_ms, bool server_keeps, bool request_sent, bool aborted);

/*
 * Whether a failed exchange on a pooled connection is retried once on a
 * fresh one: the connection had served a response before, no byte of this
 * response arrived, and the request body is still whole to resend.
 */
bool h1_retry_stale(bool was_pooled, bool got_response_bytes, bool body_whole, bool retried);

#endif
