#include <string.h>

#include "check.h"
#include "headers.h"

static bool req(const char *name, const char *connection)
{
	return hdr_forward_request(name, strlen(name), connection);
}

static bool resp(const char *name, const char *connection)
{
	return hdr_forward_response(name, strlen(name), connection);
}

static const struct {
	const char *name;
	bool request, response;
} table[] = {
    {"Connection", false, false},
    {"Keep-Alive", false, false},
    {"Proxy-Connection", false, false},
    {"TE", false, false},
    {"Trailer", false, false},
    {"Transfer-Encoding", false, false},
    {"Upgrade", false, false},
    {"Proxy-Authorization", false, true},
    {"Proxy-Authenticate", true, false},
    {"Authorization", false, true},
    {"X-ZT1-Auth", false, true},
    {"Host", false, true},
    {"Content-Length", false, false},
    {"Expect", false, true},

    {"Content-Type", true, true},
    {"Accept", true, true},
    {"User-Agent", true, true},
    {"Cookie", true, true},
    {"Set-Cookie", true, true},
    {"X-Ratelimit-Remaining", true, true},
    {"WWW-Authenticate", true, true},
    {"Date", true, true},
    {"Location", true, true},
    {"Authorization2", true, true},
    {"X-ZT1-Auth-", true, true},
    {"Hos", true, true},
    {"Hostx", true, true},
    {"T", true, true},
    {"!#$%&'*+-.^_`|~09azAZ", true, true},
};

static void test_tables(void)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		bool rq = req(table[i].name, NULL), rs = resp(table[i].name, NULL);

		if (rq != table[i].request || rs != table[i].response) {
			printf("# table entry %zu: request %d response %d\n", i, rq, rs);
			CHECK(rq == table[i].request);
			CHECK(rs == table[i].response);
		}
	}
}

static void test_case_insensitive(void)
{
	CHECK(!req("authorization", NULL));
	CHECK(!req("AUTHORIZATION", NULL));
	CHECK(!req("x-zt1-auth", NULL));
	CHECK(!req("X-Zt1-AUTH", NULL));
	CHECK(!req("hOsT", NULL));
	CHECK(!req("transfer-encoding", NULL));
	CHECK(!resp("content-length", NULL));
	CHECK(!resp("PROXY-AUTHENTICATE", NULL));
	CHECK(!resp("te", NULL));
	CHECK(req("content-type", NULL));
}

/* Issue 15: servers that map headers to variables read '_' as '-'. */
static void test_underscore_is_a_dash(void)
{
	CHECK(!req("X_ZT1_Auth", NULL));
	CHECK(!req("x_zt1-auth", NULL));
	CHECK(!req("Transfer_Encoding", NULL));
	CHECK(!req("Content_Length", NULL));
	CHECK(!req("Proxy_Authorization", NULL));
	CHECK(!req("X_Foo", "x-foo"));
	CHECK(hdr_name_is("Sec_Fetch_Site", 14, "Sec-Fetch-Site"));
	CHECK(!hdr_name_is("Sec-Fetch-Sit", 13, "Sec-Fetch-Site"));
	CHECK(req("X_Other", NULL));
}

/* Issue 15: a bare CR, LF or NUL in a value, and codings other than chunked. */
static void test_values_and_codings(void)
{
	CHECK(hdr_value_ok("a b\tc", 5));
	CHECK(hdr_value_ok("caf\xc3\xa9", 5));
	CHECK(hdr_value_ok("", 0));
	CHECK(!hdr_value_ok("X\rTransfer-Encoding: chunked", 29));
	CHECK(!hdr_value_ok("a\nb", 3));
	CHECK(!hdr_value_ok("a\0b", 3));
	CHECK(!hdr_value_ok("a\x01", 2));
	CHECK(!hdr_value_ok("a\x7f", 2));
	CHECK(hdr_transfer_coding_ok("chunked", 7));
	CHECK(hdr_transfer_coding_ok(" Chunked\t", 9));
	static const char *bad[] = {"chunked, identity", "identity", "gzip",        "chunked\x01",
	                            "cow, chunked",      "chunk",    "\"chunked\"", "gzip, chunked",
	                            "chunked,",          "",         "chunked;q=1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!hdr_transfer_coding_ok(bad[i], strlen(bad[i])));
	CHECK(hdr_name_ok("X-A", 3));
	CHECK(!hdr_name_ok("X A", 3));
}

static void test_cors_grants(void)
{
	static const char *const grants[] = {
	    "Access-Control-Allow-Origin",          "access-control-allow-credentials",
	    "ACCESS-CONTROL-ALLOW-METHODS",         "Access-Control-Allow-Headers",
	    "Access-Control-Expose-Headers",        "Access-Control-Max-Age",
	    "Access-Control-Allow-Private-Network", "Access-Control-",
	};

	for (size_t i = 0; i < sizeof(grants) / sizeof(grants[0]); i++) {
		CHECK(!resp(grants[i], NULL));
		CHECK(req(grants[i], NULL)); /* a client sending them harms nobody */
	}
	CHECK(resp("Access-Control", NULL));
	CHECK(resp("Access-Controlx", NULL));
	CHECK(resp("X-Access-Control-Allow-Origin", NULL));
	/* namelen counts: a cut-off name that no longer starts "Access-Control-" passes. */
	CHECK(hdr_forward_response("Access-Control-Allow-Origin", 10, NULL));
	CHECK(!hdr_forward_response("Access-Control-Allow-Origin", 15, NULL));
}

static void test_namelen(void)
{
	/* namelen bytes only: a prefix of a forwarded name can be a dropped one. */
	CHECK(!hdr_forward_request("Hostname", 4, NULL));
	CHECK(hdr_forward_request("Hostname", 8, NULL));
	CHECK(!hdr_forward_request("Authorization: x", 13, NULL));
	CHECK(!hdr_forward_request("", 0, NULL));
	CHECK(!hdr_forward_response("", 0, NULL));
}

static void test_invalid_names(void)
{
	static const char *bad[] = {
	    "Content Type", "X-A:", "X-A ", " X-A", "X(A)",  "X/A",   "X\"A",
	    "X@A",          "X=A",  "X[A]", "X{A}", "X;A",   "X,A",   "X?A",
	    "X\\A",         "X\tA", "X\rA", "X\nA", "X\x7f", "X\x80", "caf\xc3\xa9",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (req(bad[i], NULL) || resp(bad[i], NULL)) {
			printf("# invalid name \"%s\" forwarded\n", bad[i]);
			CHECK(!req(bad[i], NULL));
			CHECK(!resp(bad[i], NULL));
		}
	}
	CHECK(!hdr_forward_request("X\0A", 3, NULL));
	CHECK(!hdr_forward_response("X\0A", 3, NULL));
}

static void test_connection_listed(void)
{
	const char *conn = "keep-alive, X-Foo ,\tx-bar\t,, , Content-Type";

	CHECK(!req("X-Foo", conn));
	CHECK(!req("x-foo", conn));
	CHECK(!req("X-Bar", conn));
	CHECK(!req("Content-Type", conn));
	CHECK(!resp("X-Foo", conn));
	CHECK(!resp("X-BAR", conn));
	CHECK(!resp("content-type", conn));
	CHECK(req("X-Fo", conn));
	CHECK(req("X-Foo-2", conn));
	CHECK(req("Accept", conn));
	CHECK(resp("Date", conn));

	CHECK(!req("X-A", "X-A"));
	CHECK(!req("X-A", "close,X-A"));
	CHECK(!req("X-A", " X-A "));
	CHECK(req("X-A", "X-AB"));
	CHECK(req("X-A", "X-B"));
	CHECK(req("X-A", ""));
	CHECK(req("X-A", ","));
	CHECK(req("X-A", "close"));
	/* Only the token before whitespace is a name. */
	CHECK(req("X-B", "X-A X-B"));
	CHECK(!req("X-A", "X-A X-B"));
	/* Listing a name never lets a credential through. */
	CHECK(!req("Authorization", "X-A"));
	/* A known name that one direction keeps is still dropped when listed. */
	CHECK(!resp("Host", "Host"));
	CHECK(!resp("Expect", "close, expect"));
	CHECK(!req("Proxy-Authenticate", "Proxy-Authenticate"));
	CHECK(resp("Host", "Connection"));
}

static void test_format_auth(void)
{
	char buf[64];

	CHECK(hdr_format_auth(AUTH_X_ZT1_AUTH, "abc123", 6, buf, sizeof(buf)) == 18);
	CHECK_STR(buf, "X-ZT1-Auth: abc123");
	CHECK(hdr_format_auth(AUTH_TOKEN, "abc123", 6, buf, sizeof(buf)) == 27);
	CHECK_STR(buf, "Authorization: token abc123");
	CHECK(hdr_format_auth(AUTH_BEARER, "abc123", 6, buf, sizeof(buf)) == 28);
	CHECK_STR(buf, "Authorization: Bearer abc123");
	/* toklen counts, not a NUL. */
	CHECK(hdr_format_auth(AUTH_X_ZT1_AUTH, "abc123", 3, buf, sizeof(buf)) == 15);
	CHECK_STR(buf, "X-ZT1-Auth: abc");
}

static void test_format_auth_refuses(void)
{
	static const char *bad[] = {"ab\rcd", "ab\ncd", "abcd\r\nX-Evil: 1",
	                            "\n",     "ab\x01", "ab\x7f"};
	char buf[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int a = AUTH_TOKEN; a <= AUTH_X_ZT1_AUTH; a++) {
			memset(buf, 'z', sizeof(buf));
			CHECK(hdr_format_auth((enum auth_style)a, bad[i], strlen(bad[i]), buf,
			                      sizeof(buf)) == -1);
			CHECK(buf[0] == '\0');
		}
	}
	CHECK(hdr_format_auth(AUTH_TOKEN, "ab\0cd", 5, buf, sizeof(buf)) == -1);
	CHECK(hdr_format_auth(AUTH_TOKEN, "", 0, buf, sizeof(buf)) == -1);
	CHECK(hdr_format_auth((enum auth_style)99, "abcd", 4, buf, sizeof(buf)) == -1);
}

static void test_format_auth_capacity(void)
{
	char buf[32];

	/* "X-ZT1-Auth: abcd" is 16 bytes and needs 17 with the NUL. */
	memset(buf, 'z', sizeof(buf));
	CHECK(hdr_format_auth(AUTH_X_ZT1_AUTH, "abcd", 4, buf, 17) == 16);
	CHECK_STR(buf, "X-ZT1-Auth: abcd");
	for (size_t cap = 0; cap < 17; cap++) {
		memset(buf, 'z', sizeof(buf));
		CHECK(hdr_format_auth(AUTH_X_ZT1_AUTH, "abcd", 4, buf, cap) == -1);
		CHECK(cap == 0 || buf[0] == '\0');
		/* The token never lands in a buffer too small for it. */
		CHECK(memchr(buf, 'a', sizeof(buf)) == NULL);
	}
}

static void test_format_auth_line_max(void)
{
	static char tok[HDR_LINE_MAX], buf[2 * HDR_LINE_MAX];
	size_t fits = HDR_LINE_MAX - strlen("X-ZT1-Auth: ");

	memset(tok, 'a', sizeof(tok));
	CHECK(hdr_format_auth(AUTH_X_ZT1_AUTH, tok, fits, buf, sizeof(buf)) == HDR_LINE_MAX);
	CHECK(hdr_format_auth(AUTH_X_ZT1_AUTH, tok, fits + 1, buf, sizeof(buf)) == -1);
}

int main(void)
{
	RUN(test_tables);
	RUN(test_case_insensitive);
	RUN(test_underscore_is_a_dash);
	RUN(test_values_and_codings);
	RUN(test_cors_grants);
	RUN(test_namelen);
	RUN(test_invalid_names);
	RUN(test_connection_listed);
	RUN(test_format_auth);
	RUN(test_format_auth_refuses);
	RUN(test_format_auth_capacity);
	RUN(test_format_auth_line_max);
	return CHECK_DONE();
}
