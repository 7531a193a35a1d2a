/* The h1 backend's pure decisions: URL split, framing, reuse, retry, and the idle pool. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "h1_frame.h"
#include "h1_pool.h"

static void test_url_split(void)
{
	struct h1_url u;

	CHECK(h1_url_split("http://127.0.0.1:9993/status?x=1", &u));
	CHECK_STR(u.host, "127.0.0.1");
	CHECK(u.port == 9993 && u.has_port);
	CHECK_STR(u.target, "/status?x=1");
	CHECK(u.authority_len == strlen("127.0.0.1:9993"));

	CHECK(h1_url_split("http://[::1]:8080/a", &u));
	CHECK_STR(u.host, "::1");
	CHECK(u.port == 8080);
	CHECK_STR(u.target, "/a");

	CHECK(h1_url_split("http://localhost", &u));
	CHECK_STR(u.host, "localhost");
	CHECK(u.port == 80 && !u.has_port);
	CHECK_STR(u.target, "");

	CHECK(h1_url_split("HTTP://10.0.0.1?q", &u));
	CHECK_STR(u.target, "?q");
}

static void test_url_split_refuses(void)
{
	struct h1_url u;

	CHECK(!h1_url_split("https://127.0.0.1/", &u));
	CHECK(!h1_url_split("http://user@127.0.0.1/", &u));
	CHECK(!h1_url_split("http://127.0.0.1:0/", &u));
	CHECK(!h1_url_split("http://127.0.0.1:65536/", &u));
	CHECK(!h1_url_split("http://127.0.0.1:/", &u));
	CHECK(!h1_url_split("http://127.0.0.1:8x/", &u));
	CHECK(!h1_url_split("http://[::1/", &u));
	CHECK(!h1_url_split("http:///x", &u));
}

static void test_host_direct(void)
{
	CHECK(h1_host_direct("127.0.0.1"));
	CHECK(h1_host_direct("::1"));
	CHECK(h1_host_direct("fe80::1"));
	CHECK(h1_host_direct("localhost"));
	CHECK(h1_host_direct("LOCALHOST"));
	CHECK(!h1_host_direct("example.com"));
	CHECK(!h1_host_direct("my.zerotier.com"));
	CHECK(!h1_host_direct("127.0.0.1.nip.io"));
	CHECK(!h1_host_direct(""));
}

static void test_body_framing(void)
{
	CHECK(h1_body_framing(false, -1) == H1_BODY_NONE);
	CHECK(h1_body_framing(false, 10) == H1_BODY_NONE);
	CHECK(h1_body_framing(true, 0) == H1_BODY_LENGTH);
	CHECK(h1_body_framing(true, 12345) == H1_BODY_LENGTH);
	CHECK(h1_body_framing(true, -1) == H1_BODY_CHUNKED);
}

static void test_chunk_head(void)
{
	char buf[20];

	CHECK(h1_chunk_head(1, buf) == 3 && memcmp(buf, "1\r\n", 3) == 0);
	CHECK(h1_chunk_head(16384, buf) == 6 && memcmp(buf, "4000\r\n", 6) == 0);
	CHECK(h1_chunk_head(255, buf) == 4 && memcmp(buf, "ff\r\n", 4) == 0);
}

static void test_reuse_and_retry(void)
{
	CHECK(h1_reusable(60000, true, true, false));
	CHECK(!h1_reusable(0, true, true, false));      /* keepalive 0: Connection: close */
	CHECK(!h1_reusable(60000, false, true, false)); /* the server closes it */
	CHECK(!h1_reusable(60000, true, false, false)); /* answered before the body went out */
	CHECK(!h1_reusable(60000, true, true, true));   /* cancelled */

	CHECK(h1_retry_stale(true, false, true, false));
	CHECK(!h1_retry_stale(false, false, true, false)); /* a fresh connection failed: real */
	CHECK(!h1_retry_stale(true, true, true, false));   /* the response had begun */
	CHECK(!h1_retry_stale(true, false, false, false)); /* the body is no longer whole */
	CHECK(!h1_retry_stale(true, false, true, true));   /* once only */
}

static void test_pool(void)
{
	struct h1_pool p = {.max = 3};
	int a, b, c, d;

	CHECK(h1_pool_next_deadline(&p) == UINT64_MAX);
	CHECK(h1_pool_take(&p, "k", 0) == NULL);
	CHECK(h1_pool_put(&p, &a, "k", 100));
	CHECK(h1_pool_put(&p, &b, "k", 200));
	CHECK(h1_pool_put(&p, &c, "other", 50));
	CHECK(!h1_pool_put(&p, &d, "k", 300)); /* full */
	CHECK(h1_pool_next_deadline(&p) == 50);
	/* The newest for the key first; never another key's. */
	CHECK(h1_pool_take(&p, "k", 10) == &b);
	CHECK(h1_pool_take(&p, "k", 10) == &a);
	CHECK(h1_pool_take(&p, "k", 10) == NULL);
	CHECK(h1_pool_take(&p, "other", 10) == &c);
	CHECK(p.n == 0);
	h1_pool_free(&p);
}

static void test_pool_expiry(void)
{
	struct h1_pool p = {.max = 8};
	int a, b, c;

	CHECK(h1_pool_put(&p, &a, "k", 100));
	CHECK(h1_pool_put(&p, &b, "k", 300));
	CHECK(h1_pool_put(&p, &c, "k", 200));
	/* Past its deadline a connection is never handed out, only expired. */
	CHECK(h1_pool_take(&p, "k", 200) == &b); /* c (newest) is due at 200 */
	CHECK(h1_pool_expired(&p, 99) == NULL);
	CHECK(h1_pool_expired(&p, 100) == &a);
	CHECK(h1_pool_expired(&p, 100) == NULL);
	CHECK(h1_pool_remove(&p, &c));
	CHECK(!h1_pool_remove(&p, &c));
	CHECK(p.n == 0);
	h1_pool_free(&p);
}

static void test_pool_key_cap(void)
{
	struct h1_pool p = {.max = 8};
	char key[H1_KEY_MAX + 1];
	int a;

	memset(key, 'x', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	CHECK(!h1_pool_put(&p, &a, key, 1));
	key[H1_KEY_MAX - 1] = '\0';
	CHECK(h1_pool_put(&p, &a, key, 1));
	struct h1_pool none = {.max = 0};
	CHECK(!h1_pool_put(&none, &a, "k", 1)); /* max 0: nothing kept */
	h1_pool_free(&p);
}

int main(void)
{
	RUN(test_url_split);
	RUN(test_url_split_refuses);
	RUN(test_host_direct);
	RUN(test_body_framing);
	RUN(test_chunk_head);
	RUN(test_reuse_and_retry);
	RUN(test_pool);
	RUN(test_pool_expiry);
	RUN(test_pool_key_cap);
	return CHECK_DONE();
}
