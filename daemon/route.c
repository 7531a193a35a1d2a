#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "route.h"

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decodes the escape at s[0] == '%' into *out. A NUL is refused in path and
 * query alike: upstreams that decode would cut the string there.
 */
static enum target_err decode_escape(const char *s, size_t left, int *out)
{
	int hi, lo;

	if (left < 3 || (hi = hexval((unsigned char)s[1])) < 0 ||
	    (lo = hexval((unsigned char)s[2])) < 0)
		return TARGET_BAD_ESCAPE;
	*out = hi * 16 + lo;
	if (*out == 0)
		return TARGET_ENCODED_NUL;
	return TARGET_OK;
}

static bool visible(int c)
{
	return c >= 0x21 && c <= 0x7e && c != '#';
}

static enum target_err check_path(const char *p, size_t len)
{
	/* Decoded length of the current segment, and whether it is all dots. */
	size_t seglen = 0;
	bool dots = true;
	enum target_err err;
	int c;

	/*
	 * Policy matches the path that is forwarded, so nothing an upstream may
	 * read as another path passes: not "//" (collapsed by some servers, not
	 * by others) nor ';' (path parameters, which some servers strip from a
	 * segment). The ZeroTier APIs use neither.
	 */
	for (size_t i = 1; i <= len; i++) {
		if (i == len || p[i] == '/') {
			if (dots && (seglen == 1 || seglen == 2))
				return TARGET_DOT_SEGMENT;
			if (seglen == 0 && i < len)
				return TARGET_EMPTY_SEGMENT;
			seglen = 0;
			dots = true;
			continue;
		}
		c = (unsigned char)p[i];
		if (!visible(c) || c == '\\')
			return TARGET_BAD_CHAR;
		if (c == '%') {
			if ((err = decode_escape(p + i, len - i, &c)) != TARGET_OK)
				return err;
			if (c == '/' || c == '\\')
				return TARGET_ENCODED_SLASH;
			i += 2;
		}
		if (c == ';')
			return TARGET_PATH_PARAM;
		seglen++;
		dots = dots && c == '.';
	}
	return TARGET_OK;
}

static enum target_err check_query(const char *q, size_t len)
{
	enum target_err err;
	int c;

	for (size_t i = 0; i < len; i++) {
		if (!visible((unsigned char)q[i]))
			return TARGET_BAD_CHAR;
		if (q[i] == '%') {
			if ((err = decode_escape(q + i, len - i, &c)) != TARGET_OK)
				return err;
			i += 2;
		}
	}
	return TARGET_OK;
}

enum target_err route_check_target(const char *raw, size_t len, struct target *out)
{
	const char *q;
	size_t pathlen;
	enum target_err err;

	if (len > ROUTE_TARGET_MAX)
		return TARGET_TOO_LONG;
	/* "//host/x" would be a network-path reference to some clients. */
	if (len == 0 || raw[0] != '/' || (len > 1 && raw[1] == '/'))
		return TARGET_NOT_ORIGIN_FORM;
	q = memchr(raw, '?', len);
	pathlen = q ? (size_t)(q - raw) : len;
	if ((err = check_path(raw, pathlen)) != TARGET_OK)
		return err;
	if (q && (err = check_query(q + 1, len - pathlen - 1)) != TARGET_OK)
		return err;
	out->path = raw;
	out->pathlen = pathlen;
	out->query = q ? q + 1 : NULL;
	out->querylen = q ? len - pathlen - 1 : 0;
	return TARGET_OK;
}

const char *route_target_error(enum target_err err)
{
	switch (err) {
	case TARGET_OK:
		return "request target is valid";
	case TARGET_NOT_ORIGIN_FORM:
		return "request target is not in origin-form";
	case TARGET_DOT_SEGMENT:
		return "request target has a dot-segment";
	case TARGET_ENCODED_SLASH:
		return "request target has an encoded slash or backslash";
	case TARGET_ENCODED_NUL:
		return "request target has an encoded NUL byte";
	case TARGET_BAD_ESCAPE:
		return "request target has a malformed percent-escape";
	case TARGET_BAD_CHAR:
		return "request target has a forbidden character";
	case TARGET_TOO_LONG:
		return "request target is too long";
	case TARGET_EMPTY_SEGMENT:
		return "request target has an empty path segment ('//')";
	case TARGET_PATH_PARAM:
		return "request target has a ';' in its path";
	}
	return "request target is invalid";
}

static bool is_unreserved(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static int upper_hex(int c)
{
	return c >= 'a' && c <= 'f' ? c - 'a' + 'A' : c;
}

/*
 * Normalises path until out holds want bytes (or the whole path when want is
 * SIZE_MAX); returns the number of path bytes consumed, and the output
 * length in *outlen.
 */
static size_t normalize(const char *path, size_t len, char *out, size_t want, size_t *outlen)
{
	size_t i = 0, o = 0;
	int c;

	while (i < len && o < want) {
		if (path[i] == '%' && i + 2 < len && hexval((unsigned char)path[i + 1]) >= 0 &&
		    hexval((unsigned char)path[i + 2]) >= 0) {
			c = hexval((unsigned char)path[i + 1]) * 16 +
			    hexval((unsigned char)path[i + 2]);
			if (is_unreserved(c)) {
				out[o++] = (char)c;
			} else {
				out[o++] = '%';
				out[o++] = (char)upper_hex((unsigned char)path[i + 1]);
				out[o++] = (char)upper_hex((unsigned char)path[i + 2]);
			}
			i += 3;
		} else {
			out[o++] = path[i++];
		}
	}
	*outlen = o;
	return i;
}

size_t route_normalize(const char *path, size_t len, char *out)
{
	size_t n;

	(void)normalize(path, len, out, SIZE_MAX, &n);
	return n;
}

size_t route_forward_path(const struct cfg_route *route, const char *path, size_t len, char *out)
{
	size_t raw, n;

	/* Both halves are equivalent forms of the same bytes, so any split point is safe. */
	raw = normalize(path, len, out, strlen(route->prefix), &n);
	memcpy(out + n, path + raw, len - raw);
	return n + len - raw;
}

/*
 * Length of the prefix when it matches path at a segment boundary, else 0.
 * A prefix ending in '/' (only "/" in a valid config) needs no boundary.
 */
static size_t prefix_match(const char *prefix, const char *path, size_t pathlen)
{
	size_t plen = strlen(prefix);

	if (plen == 0 || plen > pathlen || memcmp(prefix, path, plen) != 0)
		return 0;
	if (prefix[plen - 1] == '/' || plen == pathlen || path[plen] == '/')
		return plen;
	return 0;
}

const struct cfg_route *route_match(const struct cfg_route *routes, size_t nroutes,
                                    const char *path, size_t pathlen)
{
	const struct cfg_route *best = NULL;
	size_t bestlen = 0, n;

	/* Does not rely on the sort order: a mis-sorted table must not widen a route. */
	for (size_t i = 0; i < nroutes; i++) {
		n = prefix_match(routes[i].prefix, path, pathlen);
		if (n > bestlen) {
			best = &routes[i];
			bestlen = n;
		}
	}
	return best;
}

struct out {
	char *buf;
	size_t cap, len;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || n >= o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

/*
 * Whether a query parameter is a credential to ZeroTier One or to anything
 * on the way: its name, percent-decoded and in any case, is "auth" or
 * starts "auth[" (PHP- and Rails-style arrays). ZeroTier One itself reads
 * only "auth", decoded; the other forms cost nothing to drop.
 */
static bool is_auth_param(const char *p, size_t n)
{
	static const char want[] = "auth[";
	size_t i = 0, k = 0;
	int c;

	while (i < n && p[i] != '=' && k < 5) {
		c = (unsigned char)p[i];
		if (c == '%' && i + 2 < n && hexval((unsigned char)p[i + 1]) >= 0 &&
		    hexval((unsigned char)p[i + 2]) >= 0) {
			c = hexval((unsigned char)p[i + 1]) * 16 + hexval((unsigned char)p[i + 2]);
			i += 3;
		} else {
			i++;
		}
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != want[k])
			return false;
		k++;
	}
	return k == 5 || (k == 4 && (i == n || p[i] == '='));
}

/*
 * Copies the query without its auth parameters, splitting at '&' and at
 * ';' (which some servers also take as a separator), each kept parameter
 * with the separator it had. Empty parameters ("a&&b") are dropped with
 * them: they carry nothing and would leave stray separators.
 */
static void put_stripped_query(struct out *o, const char *q, size_t qlen)
{
	const char *end = q + qlen, *sep = NULL;
	size_t n;
	bool first = true;

	for (;;) {
		for (n = 0; q + n < end && q[n] != '&' && q[n] != ';'; n++)
			;
		if (n > 0 && !is_auth_param(q, n)) {
			put(o, first ? "?" : sep, 1);
			put(o, q, n);
			first = false;
		}
		if (q + n == end)
			return;
		sep = q + n;
		q = sep + 1;
	}
}

int route_upstream_url(const struct cfg_route *route, const struct target *t, bool strip_auth_param,
                       char *buf, size_t cap)
{
	struct out o = {buf, cap, 0, false};
	size_t plen = prefix_match(route->prefix, t->path, t->pathlen);

	if (cap == 0)
		return -1;
	buf[0] = '\0';
	if (plen == 0)
		return -1;
	/* Keep the '/' that a prefix such as "/" ends with. */
	if (route->prefix[plen - 1] == '/')
		plen--;
	put(&o, route->upstream, strlen(route->upstream));
	if (plen == t->pathlen)
		put(&o, "/", 1);
	else
		put(&o, t->path + plen, t->pathlen - plen);
	if (t->query && strip_auth_param) {
		put_stripped_query(&o, t->query, t->querylen);
	} else if (t->query) {
		put(&o, "?", 1);
		put(&o, t->query, t->querylen);
	}
	if (o.full || o.len > INT_MAX) {
		buf[0] = '\0';
		return -1;
	}
	buf[o.len] = '\0';
	return (int)o.len;
}
