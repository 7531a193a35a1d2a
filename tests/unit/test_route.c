#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "route.h"

static enum target_err check(const char *raw)
{
	struct target t;

	return route_check_target(raw, strlen(raw), &t);
}

static void test_target_classes(void)
{
	static const struct {
		const char *raw;
		enum target_err want;
	} cases[] = {
	    {"/", TARGET_OK},
	    {"/status", TARGET_OK},
	    {"/central/api/v1/network?x=1", TARGET_OK},
	    {"/a//b", TARGET_EMPTY_SEGMENT},
	    {"/a/b//", TARGET_EMPTY_SEGMENT},
	    {"/central/api/v1//network", TARGET_EMPTY_SEGMENT},
	    {"/a;/b", TARGET_PATH_PARAM},
	    {"/a;x=1", TARGET_PATH_PARAM},
	    {"/a%3bx", TARGET_PATH_PARAM},
	    {"/a%3B", TARGET_PATH_PARAM},
	    {"/a?x=1;y=2", TARGET_OK},
	    {"/a/", TARGET_OK},
	    {"/a/.b", TARGET_OK},
	    {"/a/b.", TARGET_OK},
	    {"/a/...", TARGET_OK},
	    {"/a/..b", TARGET_OK},
	    {"/a/%2e%2e%2e", TARGET_OK},
	    {"/a/%41%7e", TARGET_OK},
	    {"/a/b:c@d!$&'()*+,=-_~", TARGET_OK},
	    {"/a?", TARGET_OK},
	    {"/a?b=/c?d", TARGET_OK},
	    {"/a?x=..", TARGET_OK},
	    {"/a?x=%2f%5C", TARGET_OK},
	    {"/?auth=1", TARGET_OK},

	    {"", TARGET_NOT_ORIGIN_FORM},
	    {"*", TARGET_NOT_ORIGIN_FORM},
	    {"http://x/", TARGET_NOT_ORIGIN_FORM},
	    {"host:443", TARGET_NOT_ORIGIN_FORM},
	    {"a/b", TARGET_NOT_ORIGIN_FORM},
	    {"//x", TARGET_NOT_ORIGIN_FORM},
	    {"//", TARGET_NOT_ORIGIN_FORM},
	    {"?x", TARGET_NOT_ORIGIN_FORM},

	    {"/.", TARGET_DOT_SEGMENT},
	    {"/..", TARGET_DOT_SEGMENT},
	    {"/./a", TARGET_DOT_SEGMENT},
	    {"/a/../b", TARGET_DOT_SEGMENT},
	    {"/a/..", TARGET_DOT_SEGMENT},
	    {"/a/.", TARGET_DOT_SEGMENT},
	    {"/a/./", TARGET_DOT_SEGMENT},
	    {"/a/..?x", TARGET_DOT_SEGMENT},
	    {"/a/%2e%2e/b", TARGET_DOT_SEGMENT},
	    {"/a/%2E%2E/b", TARGET_DOT_SEGMENT},
	    {"/a/%2e/b", TARGET_DOT_SEGMENT},
	    {"/a/%2E./b", TARGET_DOT_SEGMENT},
	    {"/a/.%2e/b", TARGET_DOT_SEGMENT},
	    {"/a/.%2E", TARGET_DOT_SEGMENT},
	    {"/central/%2e%2e", TARGET_DOT_SEGMENT},

	    {"/a%2fb", TARGET_ENCODED_SLASH},
	    {"/a%2Fb", TARGET_ENCODED_SLASH},
	    {"/a%5cb", TARGET_ENCODED_SLASH},
	    {"/a%5Cb", TARGET_ENCODED_SLASH},
	    {"/%2e%2e%2f", TARGET_ENCODED_SLASH},

	    {"/a%00", TARGET_ENCODED_NUL},
	    {"/a?b=%00", TARGET_ENCODED_NUL},

	    {"/a%", TARGET_BAD_ESCAPE},
	    {"/a%2", TARGET_BAD_ESCAPE},
	    {"/a%2g", TARGET_BAD_ESCAPE},
	    {"/a%g2", TARGET_BAD_ESCAPE},
	    {"/a%%41", TARGET_BAD_ESCAPE},
	    {"/a%2?x", TARGET_BAD_ESCAPE},
	    {"/a?b=%", TARGET_BAD_ESCAPE},
	    {"/a?b=%zz", TARGET_BAD_ESCAPE},

	    {"/a b", TARGET_BAD_CHAR},
	    {"/a#b", TARGET_BAD_CHAR},
	    {"/a\\b", TARGET_BAD_CHAR},
	    {"/\\..", TARGET_BAD_CHAR},
	    {"/a\tb", TARGET_BAD_CHAR},
	    {"/a\rb", TARGET_BAD_CHAR},
	    {"/a\nb", TARGET_BAD_CHAR},
	    {"/a\x7f", TARGET_BAD_CHAR},
	    {"/a\x80", TARGET_BAD_CHAR},
	    {"/caf\xc3\xa9", TARGET_BAD_CHAR},
	    {"/a?b c", TARGET_BAD_CHAR},
	    {"/a?b#c", TARGET_BAD_CHAR},
	    {"/a?b\x01", TARGET_BAD_CHAR},
	    {"/a?\xff", TARGET_BAD_CHAR},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum target_err got = check(cases[i].raw);

		if (got != cases[i].want) {
			printf("# \"%s\": got %d (%s), want %d\n", cases[i].raw, got,
			       route_target_error(got), cases[i].want);
			CHECK(got == cases[i].want);
		}
	}
}

static void test_target_nul_byte(void)
{
	struct target t;

	CHECK(route_check_target("/a\0b", 4, &t) == TARGET_BAD_CHAR);
	CHECK(route_check_target("/a?\0", 4, &t) == TARGET_BAD_CHAR);
	/* Only len bytes count: what follows is not part of the target. */
	CHECK(route_check_target("/a#", 2, &t) == TARGET_OK);
}

static void test_target_length(void)
{
	char *raw = malloc(ROUTE_TARGET_MAX + 2);
	struct target t;

	memset(raw, 'a', ROUTE_TARGET_MAX + 1);
	raw[0] = '/';
	CHECK(route_check_target(raw, ROUTE_TARGET_MAX, &t) == TARGET_OK);
	CHECK(t.pathlen == ROUTE_TARGET_MAX);
	CHECK(route_check_target(raw, ROUTE_TARGET_MAX + 1, &t) == TARGET_TOO_LONG);
	free(raw);
}

static void test_target_split(void)
{
	struct target t;
	const char *raw = "/central/api?auth=1&x=2";

	CHECK(route_check_target(raw, strlen(raw), &t) == TARGET_OK);
	CHECK(t.path == raw && t.pathlen == 12);
	CHECK(t.query == raw + 13 && t.querylen == 10);

	raw = "/a";
	CHECK(route_check_target(raw, 2, &t) == TARGET_OK);
	CHECK(t.pathlen == 2 && t.query == NULL && t.querylen == 0);

	raw = "/a?";
	CHECK(route_check_target(raw, 3, &t) == TARGET_OK);
	CHECK(t.pathlen == 2 && t.query == raw + 3 && t.querylen == 0);

	raw = "/a?b?c";
	CHECK(route_check_target(raw, 6, &t) == TARGET_OK);
	CHECK(t.pathlen == 2 && t.querylen == 3);
}

static void test_target_messages(void)
{
	CHECK_STR(route_target_error(TARGET_NOT_ORIGIN_FORM),
	          "request target is not in origin-form");
	CHECK_STR(route_target_error(TARGET_DOT_SEGMENT), "request target has a dot-segment");
	CHECK_STR(route_target_error(TARGET_TOO_LONG), "request target is too long");
	for (int e = TARGET_OK; e <= TARGET_TOO_LONG; e++) {
		const char *m = route_target_error((enum target_err)e);

		CHECK(m != NULL && strncmp(m, "request target ", 15) == 0);
		for (int f = TARGET_OK; f < e; f++)
			CHECK(strcmp(m, route_target_error((enum target_err)f)) != 0);
	}
}

static struct cfg_route routes[] = {
    {.prefix = "/central/v2", .upstream = "https://central.zerotier.com/api/v2"},
    {.prefix = "/central", .upstream = "https://api.zerotier.com"},
    {.prefix = "/a/b", .upstream = "http://127.0.0.1:8080/base"},
    {.prefix = "/a", .upstream = "http://127.0.0.1:8081"},
    {.prefix = "/", .upstream = "http://127.0.0.1:9993"},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static const char *match(const struct cfg_route *r, size_t n, const char *path)
{
	const struct cfg_route *m = route_match(r, n, path, strlen(path));

	return m ? m->prefix : "(none)";
}

static void test_match(void)
{
	CHECK_STR(match(routes, NROUTES, "/central"), "/central");
	CHECK_STR(match(routes, NROUTES, "/central/"), "/central");
	CHECK_STR(match(routes, NROUTES, "/central/api/v1"), "/central");
	CHECK_STR(match(routes, NROUTES, "/centralx"), "/");
	CHECK_STR(match(routes, NROUTES, "/centra"), "/");
	CHECK_STR(match(routes, NROUTES, "/Central"), "/");
	CHECK_STR(match(routes, NROUTES, "/central/v2"), "/central/v2");
	CHECK_STR(match(routes, NROUTES, "/central/v2/network"), "/central/v2");
	CHECK_STR(match(routes, NROUTES, "/central/v20"), "/central");
	CHECK_STR(match(routes, NROUTES, "/central/v"), "/central");
	CHECK_STR(match(routes, NROUTES, "/a/b"), "/a/b");
	CHECK_STR(match(routes, NROUTES, "/a/bc"), "/a");
	CHECK_STR(match(routes, NROUTES, "/a//b"), "/a");
	CHECK_STR(match(routes, NROUTES, "/ab"), "/");
	CHECK_STR(match(routes, NROUTES, "/"), "/");
	CHECK_STR(match(routes, NROUTES, "/status"), "/");
	/* The path is pathlen bytes, not up to a NUL. */
	CHECK(route_match(routes, NROUTES, "/centralx", 8) == &routes[1]);
}

static void test_match_without_root(void)
{
	/* routes + 1 ... +3: "/central", "/a/b", "/a" only. */
	CHECK_STR(match(routes + 1, 3, "/status"), "(none)");
	CHECK_STR(match(routes + 1, 3, "/"), "(none)");
	CHECK_STR(match(routes + 1, 3, "/centralx"), "(none)");
	CHECK_STR(match(routes + 1, 3, "/a/b/c"), "/a/b");
	CHECK(route_match(routes, 0, "/", 1) == NULL);
}

static void test_match_unsorted(void)
{
	struct cfg_route r[] = {
	    {.prefix = "/", .upstream = "http://x"},
	    {.prefix = "/a", .upstream = "http://y"},
	    {.prefix = "/a/b", .upstream = "http://z"},
	};

	CHECK_STR(match(r, 3, "/a/b/c"), "/a/b");
	CHECK_STR(match(r, 3, "/a/c"), "/a");
	CHECK_STR(match(r, 3, "/b"), "/");
}

static const char *url(const struct cfg_route *r, const char *raw, bool strip)
{
	static char buf[ROUTE_URL_MAX];
	struct target t;
	int n;

	if (route_check_target(raw, strlen(raw), &t) != TARGET_OK)
		return "(bad target)";
	n = route_upstream_url(r, &t, strip, buf, sizeof(buf));
	if (n < 0)
		return "(-1)";
	if ((size_t)n != strlen(buf))
		return "(wrong length)";
	return buf;
}

static void test_upstream_url(void)
{
	const struct cfg_route *central = &routes[1], *base = &routes[2], *root = &routes[4];

	CHECK_STR(url(central, "/central/api/v1/network?x=1", false),
	          "https://api.zerotier.com/api/v1/network?x=1");
	CHECK_STR(url(central, "/central", false), "https://api.zerotier.com/");
	CHECK_STR(url(central, "/central/", false), "https://api.zerotier.com/");
	CHECK_STR(url(central, "/central?x", false), "https://api.zerotier.com/?x");
	CHECK_STR(url(central, "/central/a//b", false), "(bad target)");
	CHECK_STR(url(central, "/central/a%20b", false), "https://api.zerotier.com/a%20b");
	CHECK_STR(url(base, "/a/b/c/d", false), "http://127.0.0.1:8080/base/c/d");
	CHECK_STR(url(base, "/a/b", false), "http://127.0.0.1:8080/base/");
	CHECK_STR(url(root, "/", false), "http://127.0.0.1:9993/");
	CHECK_STR(url(root, "/status", false), "http://127.0.0.1:9993/status");
	CHECK_STR(url(root, "/network/abc?x=1&y", false),
	          "http://127.0.0.1:9993/network/abc?x=1&y");
	CHECK_STR(url(root, "/a?", false), "http://127.0.0.1:9993/a?");
	/* A route that does not match the path is refused. */
	CHECK_STR(url(central, "/centralx", false), "(-1)");
	CHECK_STR(url(central, "/status", false), "(-1)");
}

static void test_strip_auth(void)
{
	const struct cfg_route *root = &routes[4];

	CHECK_STR(url(root, "/s?auth=a&x=1&auth&y=2", true), "http://127.0.0.1:9993/s?x=1&y=2");
	CHECK_STR(url(root, "/s?auth=1", true), "http://127.0.0.1:9993/s");
	CHECK_STR(url(root, "/s?auth", true), "http://127.0.0.1:9993/s");
	CHECK_STR(url(root, "/s?auth=", true), "http://127.0.0.1:9993/s");
	CHECK_STR(url(root, "/s?auth=1&auth=2", true), "http://127.0.0.1:9993/s");
	CHECK_STR(url(root, "/s?", true), "http://127.0.0.1:9993/s");
	CHECK_STR(url(root, "/s?x=1&auth=2", true), "http://127.0.0.1:9993/s?x=1");
	CHECK_STR(url(root, "/s?x=auth&authx=1&xauth=2&Auth=3&auth%3d=4", true),
	          "http://127.0.0.1:9993/s?x=auth&authx=1&xauth=2&auth%3d=4");
	/* Issue 15: the name in any case or encoding, as an array, after a ';'. */
	CHECK_STR(url(root, "/s?AUTH=1&%61uth=2&auth[]=3&auth%5B0%5D=4&a=1;auth=5;b=2", true),
	          "http://127.0.0.1:9993/s?a=1;b=2");
	CHECK_STR(url(root, "/s?auth=1;x=2&AuTh", true), "http://127.0.0.1:9993/s?x=2");
	CHECK_STR(url(root, "/s?au%74h=1&%2561uth=2", true), "http://127.0.0.1:9993/s?%2561uth=2");
	CHECK_STR(url(root, "/s?a==b&auth==c", true), "http://127.0.0.1:9993/s?a==b");
	/* Empty parameters go with the auth ones. */
	CHECK_STR(url(root, "/s?&&x=1&&auth=2&&", true), "http://127.0.0.1:9993/s?x=1");
	CHECK_STR(url(root, "/s?&", true), "http://127.0.0.1:9993/s");
	/* Without stripping, the query is passed as received. */
	CHECK_STR(url(root, "/s?auth=a&&x", false), "http://127.0.0.1:9993/s?auth=a&&x");
}

static void test_upstream_url_capacity(void)
{
	const char *want = "https://api.zerotier.com/api?x=1";
	const char *raw = "/central/api?x=1&auth=2";
	size_t need = strlen(want) + 1;
	struct target t;
	char buf[64];

	CHECK(route_check_target(raw, strlen(raw), &t) == TARGET_OK);
	CHECK(route_upstream_url(&routes[1], &t, true, buf, need) == (int)need - 1);
	CHECK_STR(buf, want);
	for (size_t cap = 1; cap < need; cap++) {
		memset(buf, 'z', sizeof(buf));
		CHECK(route_upstream_url(&routes[1], &t, true, buf, cap) == -1);
		CHECK(buf[0] == '\0');
		CHECK(buf[cap] == 'z');
	}
	CHECK(route_upstream_url(&routes[1], &t, true, buf, 0) == -1);
}

static void test_upstream_url_longest(void)
{
	char *raw = malloc(ROUTE_TARGET_MAX + 1);
	char *buf = malloc(ROUTE_URL_MAX);
	struct target t;
	int n;

	memset(raw, 'q', ROUTE_TARGET_MAX);
	memcpy(raw, "/central/x?", 11);
	CHECK(route_check_target(raw, ROUTE_TARGET_MAX, &t) == TARGET_OK);
	n = route_upstream_url(&routes[1], &t, false, buf, ROUTE_URL_MAX);
	CHECK(n ==
	      (int)(strlen("https://api.zerotier.com") + ROUTE_TARGET_MAX - strlen("/central")));
	free(raw);
	free(buf);
}

/* route_normalize into a NUL-terminated string, for comparisons. */
static const char *norm(const char *path, char *buf)
{
	buf[route_normalize(path, strlen(path), buf)] = '\0';
	return buf;
}

static void test_normalize(void)
{
	char buf[256];

	CHECK_STR(norm("/status", buf), "/status");
	CHECK_STR(norm("/%63entral/x", buf), "/central/x");
	CHECK_STR(norm("/%43ENTRAL", buf), "/CENTRAL"); /* decoded, not case-folded */
	CHECK_STR(norm("/%41%5a%61%7a%30%39%2d%2e%5f%7e", buf), "/AZaz09-._~");
	CHECK_STR(norm("/a%2fb%3a%20c", buf), "/a%2Fb%3A%20c"); /* reserved: kept, hex upper */
	CHECK_STR(norm("/%e2%82%ac", buf), "/%E2%82%AC");
	CHECK_STR(norm("/a%252e", buf), "/a%252e"); /* one decoding only */
	CHECK_STR(norm("/", buf), "/");
	/* A normalised "/%63entral" is the route /central, as route_match sees it. */
	CHECK_STR(match(routes, NROUTES, norm("/%63entral/api", buf)), "/central");
	CHECK_STR(match(routes, NROUTES, norm("/c%65ntral/v%32/x", buf)), "/central/v2");
}

/* route_forward_path: the prefix normalised, the rest as the client wrote it. */
static void test_forward_path(void)
{
	static const struct {
		int route;
		const char *raw, *want;
	} cases[] = {
	    {1, "/%63entral/api/%7Euser", "/central/api/%7Euser"},
	    {1, "/central/a%20b", "/central/a%20b"},
	    {1, "/centr%61l", "/central"},
	    {0, "/central/v%32/x%2fy", "/central/v2/x%2fy"},
	    {4, "/%73tatus", "/%73tatus"},
	    {4, "/", "/"},
	};
	char buf[256];
	size_t n;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = route_forward_path(&routes[cases[i].route], cases[i].raw, strlen(cases[i].raw),
		                       buf);
		buf[n] = '\0';
		CHECK_STR(buf, cases[i].want);
	}
}

int main(void)
{
	RUN(test_target_classes);
	RUN(test_target_nul_byte);
	RUN(test_target_length);
	RUN(test_target_split);
	RUN(test_target_messages);
	RUN(test_match);
	RUN(test_match_without_root);
	RUN(test_match_unsorted);
	RUN(test_upstream_url);
	RUN(test_strip_auth);
	RUN(test_upstream_url_capacity);
	RUN(test_upstream_url_longest);
	RUN(test_normalize);
	RUN(test_forward_path);
	return CHECK_DONE();
}
