/*
 * Request targets: route_check_target, then route_match and route_upstream_url
 * on whatever it accepts, with the properties the proxy relies on checked
 * against small independent reimplementations.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cfg_route routes[] = {
    {.prefix = "/central/v2", .upstream = "https://central.zerotier.com/api/v2", .tls = true},
    {.prefix = "/central", .upstream = "https://api.zerotier.com", .tls = true},
    {.prefix = "/a/b", .upstream = "http://127.0.0.1:8080/base"},
    {.prefix = "/a", .upstream = "http://127.0.0.1:8081"},
    {.prefix = "/", .upstream = "http://127.0.0.1:9993"},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static int hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * Decodes the path and checks that no segment means "." or ".." upstream,
 * is empty (but the last) or holds a ';'.
 */
static void check_segments(const char *p, size_t len)
{
	char seg[ROUTE_TARGET_MAX];
	size_t n = 0;

	for (size_t i = 1; i <= len; i++) {
		if (i == len || p[i] == '/') {
			if ((n == 1 && seg[0] == '.') ||
			    (n == 2 && seg[0] == '.' && seg[1] == '.') || (n == 0 && i < len) ||
			    memchr(seg, ';', n) != NULL)
				abort();
			n = 0;
			continue;
		}
		if (p[i] == '%') {
			if (i + 2 >= len)
				abort();
			seg[n] = (char)(hex(p[i + 1]) * 16 + hex(p[i + 2]));
			if (seg[n] == '/' || seg[n] == '\\' || seg[n] == '\0')
				abort();
			i += 2;
		} else {
			seg[n] = p[i];
		}
		n++;
	}
}

static void check_bytes(const char *p, size_t len, bool path)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x21 || c > 0x7e || c == '#' || (path && c == '\\'))
			abort();
		if (c == '%' && (i + 2 >= len || hex(p[i + 1]) < 0 || hex(p[i + 2]) < 0))
			abort();
	}
}

static bool matches(const struct cfg_route *r, const char *path, size_t len)
{
	size_t n = strlen(r->prefix);

	if (strcmp(r->prefix, "/") == 0)
		return true;
	return n <= len && memcmp(path, r->prefix, n) == 0 && (n == len || path[n] == '/');
}

static void check_no_auth(const char *q)
{
	const char *p = q;

	while (p && *p) {
		if (strncmp(p, "auth", 4) == 0 && (p[4] == '\0' || p[4] == '&' || p[4] == '='))
			abort();
		p = strchr(p, '&');
		p = p ? p + 1 : NULL;
	}
}

static void check_url(const struct cfg_route *r, const struct target *t, bool strip)
{
	static char buf[ROUTE_URL_MAX];
	const char *q;
	char *exact;
	int n;

	n = route_upstream_url(r, t, strip, buf, sizeof(buf));
	if (n < 0 || (size_t)n != strlen(buf) ||
	    strncmp(buf, r->upstream, strlen(r->upstream)) != 0)
		abort();
	if (buf[strlen(r->upstream)] != '/')
		abort();
	q = strchr(buf, '?');
	if (strip && q)
		check_no_auth(q + 1);
	if (!strip && (q != NULL) != (t->query != NULL))
		abort();
	/* Exact allocations, so that a write past cap is caught. */
	exact = malloc((size_t)n + 1);
	if (route_upstream_url(r, t, strip, exact, (size_t)n + 1) != n || strcmp(exact, buf) != 0)
		abort();
	if (route_upstream_url(r, t, strip, exact, (size_t)n) != -1 || exact[0] != '\0')
		abort();
	free(exact);
}

/*
 * What the proxy does next: route and check policies on the normalised path,
 * forward the prefix normalised and the rest as written. Normalising is
 * idempotent, keeps every target check passing, and the forwarded path
 * normalises to the same thing as the raw one.
 */
static void check_normalized(const struct target *t)
{
	static char norm[ROUTE_TARGET_MAX], again[ROUTE_TARGET_MAX], fwd[ROUTE_TARGET_MAX],
	    fnorm[ROUTE_TARGET_MAX];
	size_t n = route_normalize(t->path, t->pathlen, norm), fn;
	const struct cfg_route *m;
	struct target nt, ft = *t;

	if (n > t->pathlen || route_check_target(norm, n, &nt) != TARGET_OK || nt.pathlen != n)
		abort();
	check_segments(norm, n);
	if (route_normalize(norm, n, again) != n || memcmp(norm, again, n) != 0)
		abort();
	m = route_match(routes, NROUTES, norm, n);
	if (!m || !matches(m, norm, n))
		abort();
	fn = route_forward_path(m, t->path, t->pathlen, fwd);
	if (fn > t->pathlen || !matches(m, fwd, fn) || route_match(routes, NROUTES, fwd, fn) != m ||
	    route_normalize(fwd, fn, fnorm) != n || memcmp(fnorm, norm, n) != 0)
		abort();
	ft.path = fwd;
	ft.pathlen = fn;
	check_url(m, &ft, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *raw = (const char *)data;
	const struct cfg_route *m;
	enum target_err err;
	struct target t;

	err = route_check_target(raw, size, &t);
	if (route_target_error(err) == NULL)
		abort();
	if (err != TARGET_OK)
		return 0;

	if (t.path != raw || t.pathlen == 0 || raw[0] != '/' || (t.pathlen > 1 && raw[1] == '/'))
		abort();
	if (t.query ? t.query != raw + t.pathlen + 1 || t.pathlen + 1 + t.querylen != size
	            : t.pathlen != size)
		abort();
	if (memchr(raw, '?', t.pathlen))
		abort();
	check_bytes(t.path, t.pathlen, true);
	if (t.query)
		check_bytes(t.query, t.querylen, false);
	check_segments(t.path, t.pathlen);

	m = route_match(routes, NROUTES, t.path, t.pathlen);
	if (!m || !matches(m, t.path, t.pathlen))
		abort();
	for (size_t i = 0; i < NROUTES; i++) {
		if (matches(&routes[i], t.path, t.pathlen) &&
		    strlen(routes[i].prefix) > strlen(m->prefix))
			abort();
	}
	/* Without the catch-all route, some paths match nothing. */
	m = route_match(routes, NROUTES - 1, t.path, t.pathlen);
	if (m && !matches(m, t.path, t.pathlen))
		abort();

	m = route_match(routes, NROUTES, t.path, t.pathlen);
	check_url(m, &t, false);
	check_url(m, &t, true);
	check_normalized(&t);
	return 0;
}
