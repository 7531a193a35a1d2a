/*
 * Request targets and routes: pure functions, no I/O.
 *
 * The raw request target (before any percent-decoding) is checked first, so
 * that no request can cross from one route's prefix into another's.
 */
#ifndef ZTP_ROUTE_H
#define ZTP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Longest request target accepted (414 beyond). */
#define ROUTE_TARGET_MAX 8192
/* Longest upstream URL built. */
#define ROUTE_URL_MAX (ROUTE_TARGET_MAX + 512)

enum target_err {
	TARGET_OK = 0,
	TARGET_NOT_ORIGIN_FORM, /* absolute-form, authority-form, '*', or not starting with '/' */
	TARGET_DOT_SEGMENT,     /* "." or ".." segment, raw or percent-encoded */
	TARGET_ENCODED_SLASH,   /* %2f or %5c */
	TARGET_ENCODED_NUL,     /* %00 */
	TARGET_BAD_ESCAPE,      /* '%' not followed by two hex digits */
	TARGET_BAD_CHAR,        /* a control byte, space, '#', backslash or non-ASCII byte */
	TARGET_TOO_LONG,
	TARGET_EMPTY_SEGMENT, /* "//" inside the path */
	TARGET_PATH_PARAM,    /* ';' (raw or %3b) in the path */
};

struct target {
	const char *path; /* points into the checked string; not NUL-terminated */
	size_t pathlen;
	const char *query; /* after '?', or NULL when there is no '?' */
	size_t querylen;
};

/* Checks the raw target (len bytes) and splits it into path and query. */
enum target_err route_check_target(const char *raw, size_t len, struct target *out);
const char *route_target_error(enum target_err err);

/*
 * RFC 3986 6.2.2 normalisation of a path that passed route_check_target:
 * percent-encoded unreserved characters (A-Z a-z 0-9 - . _ ~) are decoded
 * and the hex digits of the other escapes upper-cased, so that "/%63entral/x"
 * is routed, and checked against allow_paths / deny_paths, as "/central/x".
 * Writes at most len bytes to out (no NUL) and returns how many.
 */
size_t route_normalize(const char *path, size_t len, char *out);

/*
 * The path to forward for a raw path whose normalised form matched route:
 * the bytes that normalise to the route's prefix are replaced by the prefix,
 * the rest is kept as the client sent it. Writes at most len bytes to out
 * (no NUL) and returns how many.
 */
size_t route_forward_path(const struct cfg_route *route, const char *path, size_t len, char *out);

/*
 * Longest matching prefix among routes (sorted longest first, as in struct
 * config). A prefix matches at segment boundaries only: "/central" matches
 * "/central" and "/central/x", never "/centralx". Returns NULL if none.
 */
const struct cfg_route *route_match(const struct cfg_route *routes, size_t nroutes,
                                    const char *path, size_t pathlen);

/*
 * Writes the upstream URL for a matched request into buf: the route's
 * upstream, then the path after the prefix, then "?" and the query when
 * there is one. With strip_auth_param, every "auth" query parameter
 * (ZeroTier One's alternative to X-ZT1-Auth) is removed and the '?' is
 * dropped if nothing remains. Returns -1 if it does not fit in cap.
 */
int route_upstream_url(const struct cfg_route *route, const struct target *t, bool strip_auth_param,
                       char *buf, size_t cap);

#endif
