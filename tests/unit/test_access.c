#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "access.h"
#include "check.h"

static void fail(const char *what, const char *s)
{
	printf("# %s '%s'\n", what, s);
	check_failed_in_test = 1;
}

/* An address to match, from text: "1.2.3.4" or "::1". */
static struct sockaddr_storage addr(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		CHECK(inet_pton(AF_INET6, text, &a->sin6_addr) == 1);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		CHECK(inet_pton(AF_INET, text, &a->sin_addr) == 1);
	}
	return ss;
}

static bool in_net(const char *net, const char *text)
{
	struct acc_cidr c;
	struct sockaddr_storage ss = addr(text);

	CHECK(acc_cidr_parse(net, &c) == NULL);
	return acc_cidr_match(&c, 1, (const struct sockaddr *)&ss);
}

static void test_cidr_parse(void)
{
	static const char *const good[][2] = {
	    {"10.0.0.0/8", "10.0.0.0/8"},
	    {"127.0.0.1", "127.0.0.1/32"},
	    {"0.0.0.0/0", "0.0.0.0/0"},
	    {"192.168.1.128/25", "192.168.1.128/25"},
	    {"::1", "::1/128"},
	    {"fd00::/8", "fd00::/8"},
	    {"::/0", "::/0"},
	    {"2001:db8::/32", "2001:db8::/32"},
	};
	static const char *const bad[] = {
	    "",
	    "/8",
	    "10.0.0.0/",
	    "10.0.0.0/33",
	    "10.0.0.0/-1",
	    "10.0.0.0/+8",
	    "10.1.2.3/8",
	    "10.0.0.0/0800",
	    "10.0.0",
	    "127.1",
	    "::1/129",
	    "fd00::1/8",
	    "[::1]",
	    "localhost",
	    "10.0.0.0/8 ",
	    "10.0.0.0 /8",
	    "1.2.3.4/32x",
	};
	struct acc_cidr c;
	char buf[64];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK(acc_cidr_parse(good[i][0], &c) == NULL);
		acc_cidr_format(&c, buf, sizeof(buf));
		CHECK_STR(buf, good[i][1]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (acc_cidr_parse(bad[i], &c) == NULL)
			fail("accepted", bad[i]);
	}
	CHECK(strstr(acc_cidr_parse("10.1.2.3/8", &c), "bits set"));
}

static void test_cidr_match(void)
{
	struct acc_cidr list[2];
	struct sockaddr_storage ss;
	struct sockaddr_un su = {.sun_family = AF_UNIX};

	CHECK(in_net("10.0.0.0/8", "10.255.1.2"));
	CHECK(!in_net("10.0.0.0/8", "11.0.0.1"));
	CHECK(in_net("192.168.1.128/25", "192.168.1.200"));
	CHECK(!in_net("192.168.1.128/25", "192.168.1.127"));
	CHECK(in_net("127.0.0.1/32", "127.0.0.1"));
	CHECK(!in_net("127.0.0.1/32", "127.0.0.2"));
	CHECK(in_net("0.0.0.0/0", "8.8.8.8"));
	CHECK(!in_net("0.0.0.0/0", "::1"));
	CHECK(in_net("::/0", "::1"));
	CHECK(in_net("fd00::/8", "fd12:3456::1"));
	CHECK(!in_net("fd00::/8", "fe80::1"));
	CHECK(in_net("2001:db8::/33", "2001:db8:7fff::1"));
	CHECK(!in_net("2001:db8::/33", "2001:db8:8000::1"));
	/* An IPv4 client on a dual-stack socket shows up v4-mapped. */
	CHECK(in_net("10.0.0.0/8", "::ffff:10.1.2.3"));
	CHECK(!in_net("10.0.0.0/8", "::ffff:11.1.2.3"));
	CHECK(!in_net("::ffff:0:0/96", "10.1.2.3")); /* v6 networks never match plain v4 */
	CHECK(acc_cidr_parse("10.0.0.0/8", &list[0]) == NULL);
	CHECK(acc_cidr_parse("::1", &list[1]) == NULL);
	ss = addr("::1");
	CHECK(acc_cidr_match(list, 2, (const struct sockaddr *)&ss));
	ss = addr("10.9.9.9");
	CHECK(acc_cidr_match(list, 2, (const struct sockaddr *)&ss));
	CHECK(!acc_cidr_match(list, 0, (const struct sockaddr *)&ss));
	CHECK(!acc_cidr_match(list, 2, (const struct sockaddr *)&su));
}

static void test_loopback(void)
{
	static const char *const yes[] = {"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"};
	static const char *const no[] = {
	    "128.0.0.1", "0.0.0.0", "::", "::2", "::ffff:10.0.0.1", "fe80::1"};
	struct sockaddr_storage ss;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		ss = addr(yes[i]);
		if (!acc_addr_is_loopback((const struct sockaddr *)&ss))
			fail("not loopback:", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		ss = addr(no[i]);
		if (acc_addr_is_loopback((const struct sockaddr *)&ss))
			fail("loopback:", no[i]);
	}
}

static bool host_ok(const char *host, char *const *names, size_t n)
{
	return acc_host_allowed(host, strlen(host), names, n);
}

static void test_host(void)
{
	static char *names[] = {"proxy.lan", "Box.Example:8080", "10.1.2.3"};
	static const char *const yes[] = {
	    "localhost",    "localhost:9994", "LOCALHOST:1", "127.0.0.1",
	    "127.0.0.1:80", "[::1]",          "[::1]:9994",  "localhost:65535",
	};
	static const char *const no[] = {
	    "",
	    "evil.test",
	    "evil.test:9994",
	    "127.0.0.2",
	    "127.0.0.1.",
	    "localhost.",
	    "localhost:",
	    "localhost:0",
	    "localhost:65536",
	    "localhost:123456",
	    "[::1]x",
	    "[::1",
	    "::1",
	    "[::2]:1",
	    "localhost:9994x",
	    "localhost:-1",
	    "localhost:+1",
	    "127.0.0.1:80:80",
	    "[::1]:",
	    "localhost ",
	    "xlocalhost",
	    "localhost@evil",
	    "0x7f000001",
	    "2130706433",
	    "127.1",
	};
	static const char *const configured[] = {"proxy.lan", "PROXY.LAN:1234", "box.example:8080",
	                                         "10.1.2.3:1"};
	static const char *const unconfigured[] = {"box.example", "box.example:8081", "proxy.lan.",
	                                           "a.proxy.lan", "10.1.2.4"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!host_ok(yes[i], NULL, 0))
			fail("refused", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (host_ok(no[i], names, 3))
			fail("allowed", no[i]);
	for (size_t i = 0; i < sizeof(configured) / sizeof(configured[0]); i++)
		if (!host_ok(configured[i], names, 3) || host_ok(configured[i], NULL, 0))
			fail("configured", configured[i]);
	for (size_t i = 0; i < sizeof(unconfigured) / sizeof(unconfigured[0]); i++)
		if (host_ok(unconfigured[i], names, 3))
			fail("allowed", unconfigured[i]);
	/* The header's length counts, not a NUL: "localhost" followed by junk. */
	CHECK(!acc_host_allowed("localhost\0evil", 14, NULL, 0));
	CHECK(acc_host_allowed("localhostXYZ", 9, NULL, 0));
}

static enum acc_browser_verdict browser(const char *origin, const char *referer, const char *site,
                                        char *const *origins, size_t n)
{
	struct acc_browser b = {.origin = origin, .referer = referer, .sec_fetch_site = site};

	return acc_check_browser(&b, origins, n);
}

static void test_browser(void)
{
	static char *origins[] = {"http://localhost:3000", "https://ui.example"};
	struct acc_browser pre = {.preflight = true, .origin = "http://localhost:3000"};

	/* Tools: no browser headers at all, or a URL typed into the address bar. */
	CHECK(browser(NULL, NULL, NULL, NULL, 0) == ACC_BROWSER_OK);
	CHECK(browser(NULL, NULL, "none", NULL, 0) == ACC_BROWSER_OK);
	CHECK(browser(NULL, NULL, "None", NULL, 0) == ACC_BROWSER_OK);
	/* Pages: any Origin, any Referer, any other Sec-Fetch-Site. */
	CHECK(browser("http://evil.test", NULL, NULL, NULL, 0) == ACC_BROWSER_ORIGIN);
	CHECK(browser("null", NULL, NULL, NULL, 0) == ACC_BROWSER_ORIGIN);
	CHECK(browser("", NULL, NULL, NULL, 0) == ACC_BROWSER_ORIGIN);
	CHECK(browser("http://127.0.0.1:8080", NULL, "same-site", NULL, 0) == ACC_BROWSER_ORIGIN);
	CHECK(browser(NULL, "http://127.0.0.1:8080/page", "same-site", NULL, 0) ==
	      ACC_BROWSER_REFERER);
	CHECK(browser(NULL, "http://127.0.0.1:8080/", NULL, NULL, 0) == ACC_BROWSER_REFERER);
	CHECK(browser(NULL, "garbage", NULL, NULL, 0) == ACC_BROWSER_REFERER);
	CHECK(browser(NULL, NULL, "same-site", NULL, 0) == ACC_BROWSER_FETCH_SITE);
	CHECK(browser(NULL, NULL, "same-origin", NULL, 0) == ACC_BROWSER_FETCH_SITE);
	CHECK(browser(NULL, NULL, "cross-site", NULL, 0) == ACC_BROWSER_FETCH_SITE);
	CHECK(browser(NULL, NULL, "", NULL, 0) == ACC_BROWSER_FETCH_SITE);
	/* Allowed origins vouch for their pages' requests, and only theirs. */
	CHECK(browser("http://localhost:3000", NULL, "same-site", origins, 2) == ACC_BROWSER_OK);
	CHECK(browser("HTTP://LOCALHOST:3000", NULL, NULL, origins, 2) == ACC_BROWSER_OK);
	CHECK(browser(NULL, "https://ui.example/a/b?c#d", "cross-site", origins, 2) ==
	      ACC_BROWSER_OK);
	CHECK(browser(NULL, "https://ui.example", NULL, origins, 2) == ACC_BROWSER_OK);
	CHECK(browser("http://localhost:3000", "http://evil.test/", "same-site", origins, 2) ==
	      ACC_BROWSER_REFERER);
	CHECK(browser("http://localhost:30001", NULL, NULL, origins, 2) == ACC_BROWSER_ORIGIN);
	CHECK(browser("http://localhost:3000/", NULL, NULL, origins, 2) == ACC_BROWSER_ORIGIN);
	CHECK(browser(NULL, "https://ui.example.evil.test/", NULL, origins, 2) ==
	      ACC_BROWSER_REFERER);
	CHECK(browser(NULL, "https://user@ui.example/", NULL, origins, 2) == ACC_BROWSER_REFERER);
	/* Preflights never pass, even from an allowed origin. */
	CHECK(acc_check_browser(&pre, origins, 2) == ACC_BROWSER_PREFLIGHT);
	CHECK(strstr(acc_browser_message(ACC_BROWSER_FETCH_SITE), "web page"));
}

static void test_origin_check(void)
{
	static const char *const good[] = {"http://localhost:3000", "https://ui.example",
	                                   "http://[::1]:8080", "chrome-extension://abcdef"};
	static const char *const bad[] = {
	    "localhost:3000", "http://",    "http://x/", "http://x/path", "http://u@x", "://x",
	    "http://x?y",     "http://x#y", "ht tp://x", "http://x\x01",  "*",          "null"};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (acc_origin_check(good[i]) != NULL)
			fail("refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (acc_origin_check(bad[i]) == NULL)
			fail("accepted", bad[i]);
}

static void test_methods(void)
{
	static char *methods[] = {"GET", "POST"};

	CHECK(acc_method_allowed("DELETE", NULL, 0));
	CHECK(acc_method_allowed("GET", methods, 2));
	CHECK(acc_method_allowed("POST", methods, 2));
	CHECK(!acc_method_allowed("get", methods, 2));
	CHECK(!acc_method_allowed("HEAD", methods, 2));
	CHECK(!acc_method_allowed("GETX", methods, 2));
	CHECK(!acc_method_allowed("", methods, 2));
}

static bool glob(const char *pat, const char *s)
{
	return acc_glob_match(pat, s, strlen(s), false);
}

static void test_glob(void)
{
	/* '*' crosses '/', so the "one network" pattern covers its members too. */
	CHECK(glob("/central/api/v1/network/8056c2e21c000001*",
	           "/central/api/v1/network/8056c2e21c000001"));
	CHECK(glob("/central/api/v1/network/8056c2e21c000001*",
	           "/central/api/v1/network/8056c2e21c000001/member/abc"));
	CHECK(!glob("/central/api/v1/network/8056c2e21c000001*",
	            "/central/api/v1/network/8056c2e21c000002"));
	CHECK(!glob("/central/api/v1/network/8056c2e21c000001*", "/central/api/v1/network"));
	CHECK(glob("/a/*/c", "/a/b/c"));
	CHECK(glob("/a/*/c", "/a/b/x/c"));
	CHECK(glob("/a/*/c", "/a//c"));
	CHECK(!glob("/a/*/c", "/a/c"));
	CHECK(!glob("/a/*/c", "/a/b/cd"));
	CHECK(glob("/a?c", "/abc"));
	CHECK(glob("/a?c", "/a/c"));
	CHECK(!glob("/a?c", "/ac"));
	CHECK(glob("*", ""));
	CHECK(glob("*", "/anything/at/all"));
	CHECK(glob("/**", "/x"));
	CHECK(glob("/status", "/status"));
	CHECK(!glob("/status", "/status/"));
	CHECK(!glob("/status", "/statu"));
	CHECK(!glob("/status", "/Status"));
	CHECK(acc_glob_match("/status", "/STATUS", 7, true));
	CHECK(glob("*a*b*c", "xxaxxbxxcxxc"));
	CHECK(!glob("*a*b*c", "xxaxxbxxcxxd"));
	CHECK(glob("/x*", "/x"));
	CHECK(!glob("", "/"));
	/* Only len bytes count. */
	CHECK(!acc_glob_match("/ab", "/abc", 2, false));
	CHECK(acc_glob_match("/a", "/abc", 2, false));
}

static void test_glob_worst_case(void)
{
	static char s[8193];
	static char pat[ACC_GLOB_MAX + 1];

	/* Many stars against a long near-miss must stay cheap (len x pattern). */
	memset(s, 'a', sizeof(s) - 1);
	for (size_t i = 0; i < ACC_GLOB_MAX - 1; i += 2) {
		pat[i] = '*';
		pat[i + 1] = 'a';
	}
	pat[ACC_GLOB_MAX - 2] = 'b';
	CHECK(!acc_glob_match(pat, s, sizeof(s) - 1, false));
}

static void test_glob_check(void)
{
	static const char *const good[] = {"/",      "/a/*", "/a?b",
	                                   "/a%2Fb", "/%7e", "/a:b@c!$&'()+,;="};
	static const char *const bad[] = {"",    "a/*",  "*",     "/a b",      "/a#b", "/a\\b",
	                                  "/a%", "/a%2", "/a%zz", "/\xc3\xa9", "/a\tb"};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (acc_glob_check(good[i]) != NULL)
			fail("refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (acc_glob_check(bad[i]) == NULL)
			fail("accepted", bad[i]);
}

static enum acc_path_verdict path(const char *p, char *const *allow, size_t na, char *const *deny,
                                  size_t nd)
{
	return acc_check_path(p, strlen(p), allow, na, deny, nd);
}

static void test_paths(void)
{
	static char *allow[] = {"/central/api/v1/network/8056c2e21c000001*",
	                        "/central/api/v1/status"};
	static char *deny[] = {"/central/api/v1/network/*/member/*", "/admin*"};

	CHECK(path("/anything", NULL, 0, NULL, 0) == ACC_PATH_OK);
	CHECK(path("/central/api/v1/status", allow, 2, NULL, 0) == ACC_PATH_OK);
	CHECK(path("/central/api/v1/network/8056c2e21c000001", allow, 2, NULL, 0) == ACC_PATH_OK);
	CHECK(path("/central/api/v1/network", allow, 2, NULL, 0) == ACC_PATH_NOT_ALLOWED);
	CHECK(path("/central/api/v1/network/8056C2E21C000001", allow, 2, NULL, 0) ==
	      ACC_PATH_NOT_ALLOWED); /* allow is exact: case cannot widen it */
	CHECK(path("/central/api/v1/network/8056c2e21c000001/member/x", allow, 2, deny, 2) ==
	      ACC_PATH_DENIED); /* deny wins over allow */
	CHECK(path("/central/api/v1/NETWORK/x/MEMBER/y", NULL, 0, deny, 2) ==
	      ACC_PATH_DENIED); /* deny ignores case: case cannot slip past it */
	CHECK(path("/ADMIN/x", NULL, 0, deny, 2) == ACC_PATH_DENIED);
	CHECK(path("/adm", NULL, 0, deny, 2) == ACC_PATH_OK);
}

static void test_callers(void)
{
	unsigned u[] = {0, 1000}, g[] = {50};
	struct acc_ids uids = {u, 2}, gids = {g, 1}, none = {NULL, 0};
	struct acc_peer root = {.uid = 0, .gid = 0}, alice = {.uid = 1000, .gid = 1000},
	                bob = {.uid = 1001, .gid = 1001}, carol = {.uid = 1002, .gid = 50},
	                dave = {.uid = 1003, .gid = 1003, .groups = {10, 50}, .ngroups = 2};

	CHECK(acc_caller_allowed(&none, &none, NULL));
	CHECK(acc_caller_allowed(NULL, NULL, &bob));
	CHECK(acc_caller_allowed(&uids, &none, &root));
	CHECK(acc_caller_allowed(&uids, &none, &alice));
	CHECK(!acc_caller_allowed(&uids, &none, &bob));
	CHECK(!acc_caller_allowed(&uids, &none, NULL)); /* unknown callers never pass a list */
	CHECK(!acc_caller_allowed(&none, &gids, NULL));
	CHECK(acc_caller_allowed(&none, &gids, &carol));
	CHECK(acc_caller_allowed(&none, &gids, &dave)); /* supplementary group */
	CHECK(!acc_caller_allowed(&none, &gids, &alice));
	CHECK(acc_caller_allowed(&uids, &gids, &carol)); /* either list lets a caller in */
	CHECK(!acc_caller_allowed(&uids, &gids, &bob));
}

int main(void)
{
	RUN(test_cidr_parse);
	RUN(test_cidr_match);
	RUN(test_loopback);
	RUN(test_host);
	RUN(test_browser);
	RUN(test_origin_check);
	RUN(test_methods);
	RUN(test_glob);
	RUN(test_glob_worst_case);
	RUN(test_glob_check);
	RUN(test_paths);
	RUN(test_callers);
	return CHECK_DONE();
}
