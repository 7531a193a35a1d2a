/*
 * Access policy decisions. Everything here is a pure function of its
 * arguments, so each defence can be unit-tested and fuzzed on its own.
 */
#include <stdio.h>
#include <string.h>

#include "access.h"

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static bool ieq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	return true;
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* ---- Networks ---------------------------------------------------------- */

const char *acc_cidr_parse(const char *s, struct acc_cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max, bits = 0;

	memset(out, 0, sizeof(*out));
	if (alen == 0 || alen >= sizeof(buf))
		return "is not an IPv4 or IPv6 address";
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	out->family = memchr(buf, ':', alen) ? AF_INET6 : AF_INET;
	if (inet_pton(out->family, buf, out->addr) != 1)
		return "is not an IPv4 or IPv6 address";
	max = out->family == AF_INET ? 32 : 128;
	if (slash == NULL) {
		out->bits = max;
		return NULL;
	}
	for (const char *p = slash + 1; *p; p++) {
		if (!is_digit(*p) || p - slash > 3)
			return out->family == AF_INET ? "has a prefix length that is not 0 to 32"
			                              : "has a prefix length that is not 0 to 128";
		bits = bits * 10 + (unsigned)(*p - '0');
	}
	if (slash[1] == '\0' || bits > max)
		return out->family == AF_INET ? "has a prefix length that is not 0 to 32"
		                              : "has a prefix length that is not 0 to 128";
	out->bits = bits;
	for (unsigned b = bits; b < max; b++)
		if (out->addr[b / 8] & (0x80u >> (b % 8)))
			return "has address bits set after the prefix length";
	return NULL;
}

void acc_cidr_format(const struct acc_cidr *c, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(c->family, c->addr, a, sizeof(a));
	snprintf(buf, cap, "%s/%u", a, c->bits);
}

static bool prefix_eq(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned full = bits / 8, rem = bits % 8;
	unsigned char mask = (unsigned char)(0xffu << (8 - rem));

	if (memcmp(a, b, full) != 0)
		return false;
	return rem == 0 || ((a[full] ^ b[full]) & mask) == 0;
}

bool acc_cidr_match(const struct acc_cidr *list, size_t n, const struct sockaddr *sa)
{
	const unsigned char *v4 = NULL, *v6 = NULL;

	if (sa->sa_family == AF_INET) {
		v4 = (const unsigned char *)&((const struct sockaddr_in *)(const void *)sa)
		         ->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		v6 = a->s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			v4 = a->s6_addr + 12;
	}
	for (size_t i = 0; i < n; i++) {
		if (list[i].family == AF_INET && v4 && prefix_eq(list[i].addr, v4, list[i].bits))
			return true;
		if (list[i].family == AF_INET6 && v6 && prefix_eq(list[i].addr, v6, list[i].bits))
			return true;
	}
	return false;
}

bool acc_addr_is_loopback(const struct sockaddr *sa)
{
	static const struct acc_cidr loopback[] = {
	    {AF_INET, 8, {127}},
	    {AF_INET6, 128, {[15] = 1}},
	};

	return acc_cidr_match(loopback, sizeof(loopback) / sizeof(loopback[0]), sa);
}

/* ---- Host ---------------------------------------------------------------- */

/* Length of the host part of "host[:port]" / "[v6][:port]", or 0 when malformed. */
static size_t host_part(const char *s, size_t len)
{
	const char *end;
	size_t hlen, plen;
	unsigned port = 0;

	if (len == 0)
		return 0;
	if (s[0] == '[') {
		end = memchr(s, ']', len);
		if (end == NULL)
			return 0;
		hlen = (size_t)(end - s) + 1;
	} else {
		end = memchr(s, ':', len);
		hlen = end ? (size_t)(end - s) : len;
	}
	if (hlen == 0 || hlen == len)
		return hlen;
	plen = len - hlen - 1;
	if (s[hlen] != ':' || plen == 0 || plen > 5)
		return 0;
	for (size_t i = hlen + 1; i < len; i++) {
		if (!is_digit(s[i]))
			return 0;
		port = port * 10 + (unsigned)(s[i] - '0');
	}
	return port >= 1 && port <= 65535 ? hlen : 0;
}

bool acc_host_allowed(const char *host, size_t len, char *const *names, size_t n)
{
	static const char *const loopback[] = {"localhost", "127.0.0.1", "[::1]"};
	size_t hlen = host_part(host, len);

	if (hlen == 0)
		return false;
	for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++)
		if (ieq(host, hlen, loopback[i], strlen(loopback[i])))
			return true;
	for (size_t i = 0; i < n; i++) {
		size_t nlen = strlen(names[i]);
		bool has_port = host_part(names[i], nlen) < nlen;

		if (ieq(host, has_port ? len : hlen, names[i], nlen))
			return true;
	}
	return false;
}

/* ---- Browsers ------------------------------------------------------------ */

static bool origin_listed(const char *o, size_t len, char *const *origins, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ieq(o, len, origins[i], strlen(origins[i])))
			return true;
	return false;
}

/* Length of "scheme://authority" at the start of a URL, or 0 if it has none or a user part. */
static size_t url_origin_len(const char *url)
{
	const char *p = url, *sep = strstr(url, "://");
	size_t alen;

	if (sep == NULL || sep == url)
		return 0;
	for (; p < sep; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || is_digit(*p) ||
		      *p == '+' || *p == '-' || *p == '.'))
			return 0;
	alen = strcspn(sep + 3, "/?#");
	if (alen == 0 || memchr(sep + 3, '@', alen))
		return 0;
	return (size_t)(sep + 3 - url) + alen;
}

const char *acc_origin_check(const char *s)
{
	size_t olen = url_origin_len(s);

	if (olen == 0)
		return "is not an origin such as http://localhost:3000";
	if (s[olen] != '\0')
		return "must be scheme://host[:port] alone, without a path or trailing '/'";
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return "must not contain spaces, control or non-ASCII characters";
	return NULL;
}

enum acc_browser_verdict acc_check_browser(const struct acc_browser *b, char *const *origins,
                                           size_t n)
{
	bool vouched = false;
	size_t olen;

	if (b->preflight)
		return ACC_BROWSER_PREFLIGHT;
	if (b->origin != NULL) {
		if (!origin_listed(b->origin, strlen(b->origin), origins, n))
			return ACC_BROWSER_ORIGIN;
		vouched = true;
	}
	if (b->referer != NULL) {
		olen = url_origin_len(b->referer);
		if (olen == 0 || !origin_listed(b->referer, olen, origins, n))
			return ACC_BROWSER_REFERER;
		vouched = true;
	}
	/* A page on another port of 127.0.0.1 is "same-site": only "none" is no page at all. */
	if (b->sec_fetch_site != NULL &&
	    !ieq(b->sec_fetch_site, strlen(b->sec_fetch_site), "none", 4) && !vouched)
		return ACC_BROWSER_FETCH_SITE;
	return ACC_BROWSER_OK;
}

const char *acc_browser_message(enum acc_browser_verdict v)
{
	switch (v) {
	case ACC_BROWSER_OK:
		return "allowed";
	case ACC_BROWSER_PREFLIGHT:
		return "CORS preflight requests are refused: the proxy serves no web page";
	case ACC_BROWSER_ORIGIN:
		return "request from a web page (Origin header) whose origin is not in "
		       "allowed_origins";
	case ACC_BROWSER_REFERER:
		return "request from a web page (Referer header) whose origin is not in "
		       "allowed_origins";
	case ACC_BROWSER_FETCH_SITE:
		return "request made by a web page (Sec-Fetch-Site header)";
	}
	return "refused";
}

/* ---- Methods and paths ----------------------------------------------------- */

bool acc_method_allowed(const char *method, char *const *methods, size_t n)
{
	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (strcmp(method, methods[i]) == 0)
			return true;
	return false;
}

static bool byte_eq(unsigned char p, unsigned char c, bool nocase)
{
	return p == c || (nocase && lower(p) == lower(c));
}

/*
 * The classic backtracking matcher: on a mismatch, the last '*' takes one
 * more byte. Each '*' only ever moves forward, so the work is at most
 * len times the pattern's length.
 */
bool acc_glob_match(const char *pat, const char *s, size_t len, bool nocase)
{
	const char *p = pat, *star = NULL;
	size_t i = 0, star_i = 0;

	while (i < len) {
		if (*p == '*') {
			star = p++;
			star_i = i;
		} else if (*p != '\0' &&
		           (*p == '?' || byte_eq((unsigned char)*p, (unsigned char)s[i], nocase))) {
			p++;
			i++;
		} else if (star != NULL) {
			p = star + 1;
			i = ++star_i;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

const char *acc_glob_check(const char *pat)
{
	size_t n = strlen(pat);

	if (pat[0] != '/')
		return "must start with '/'";
	if (n > ACC_GLOB_MAX)
		return "is too long";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)pat[i];

		if (c <= 0x20 || c >= 0x7f || c == '#' || c == '\\')
			return "must not contain spaces, control, '#', backslash or non-ASCII "
			       "characters";
		if (c == '%' && (i + 2 >= n || !is_hex(pat[i + 1]) || !is_hex(pat[i + 2])))
			return "has a '%' that is not followed by two hex digits";
	}
	return NULL;
}

enum acc_path_verdict acc_check_path(const char *path, size_t len, char *const *allow,
                                     size_t nallow, char *const *deny, size_t ndeny)
{
	for (size_t i = 0; i < ndeny; i++)
		if (acc_glob_match(deny[i], path, len, true))
			return ACC_PATH_DENIED;
	if (nallow == 0)
		return ACC_PATH_OK;
	for (size_t i = 0; i < nallow; i++)
		if (acc_glob_match(allow[i], path, len, false))
			return ACC_PATH_OK;
	return ACC_PATH_NOT_ALLOWED;
}

/* ---- Callers ------------------------------------------------------------- */

static bool id_listed(const struct acc_ids *ids, unsigned id)
{
	for (size_t i = 0; ids != NULL && i < ids->n; i++)
		if (ids->v[i] == id)
			return true;
	return false;
}

bool acc_caller_allowed(const struct acc_ids *uids, const struct acc_ids *gids,
                        const struct acc_peer *peer)
{
	if ((uids == NULL || uids->n == 0) && (gids == NULL || gids->n == 0))
		return true;
	if (peer == NULL)
		return false;
	if (id_listed(uids, peer->uid) || id_listed(gids, peer->gid))
		return true;
	for (size_t i = 0; i < peer->ngroups && i < ACC_GROUPS_MAX; i++)
		if (id_listed(gids, peer->groups[i]))
			return true;
	return false;
}
