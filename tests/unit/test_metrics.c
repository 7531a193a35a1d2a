/* The counters registry, its Prometheus exposition, and the text buffer under it. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "metrics.h"
#include "sbuf.h"

static const struct metrics_gauges gauges = {
    .version = "1.2.3",
    .curl_version = "7.88.1",
    .mhd_version = "0.9.75",
    .start_time = 1700000000,
    .connections = 3,
    .requests = 2,
};

/* The exposition as a string owned by a static buffer (freed on the next call). */
static const char *exposition(void)
{
	static char *text;
	struct sbuf b;

	free(text);
	sbuf_init(&b, 1 << 20);
	metrics_write(&b, &gauges);
	text = sbuf_take(&b, NULL);
	return text ? text : "(failed)";
}

/* Whether the exposition has this exact line. */
static bool has_line(const char *line)
{
	const char *text = exposition(), *p = text;
	size_t n = strlen(line);

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
		p += n;
	}
	printf("# no line \"%s\"\n", line);
	return false;
}

static void gauges_and_build_info(void)
{
	metrics_reset();
	CHECK(has_line("zt_token_proxy_build_info{version=\"1.2.3\",libcurl=\"7.88.1\","
	               "libmicrohttpd=\"0.9.75\"} 1"));
	CHECK(has_line("# TYPE zt_token_proxy_build_info gauge"));
	CHECK(has_line("zt_token_proxy_start_time_seconds 1700000000"));
	CHECK(has_line("zt_token_proxy_connections 3"));
	CHECK(has_line("zt_token_proxy_requests_in_progress 2"));
	CHECK(has_line("zt_token_proxy_config_reloads_total{result=\"success\"} 0"));
	metrics_config_reload(true);
	metrics_config_reload(false);
	metrics_config_reload(false);
	CHECK(has_line("zt_token_proxy_config_reloads_total{result=\"success\"} 1"));
	CHECK(has_line("zt_token_proxy_config_reloads_total{result=\"failure\"} 2"));
}

static void requests_by_route_method_class(void)
{
	struct metrics_route *r;

	metrics_reset();
	r = metrics_route_ref("/central");
	CHECK(r != NULL);
	metrics_request(r, metrics_method("GET"), 200, 0, 10);
	metrics_request(r, metrics_method("GET"), 204, 0, 0);
	metrics_request(r, metrics_method("POST"), 502, 100, 20);
	metrics_request(r, metrics_method("BREW"), 0, 5, 0);
	metrics_request(metrics_unrouted(), MM_GET, 404, 0, 30);
	metrics_request(metrics_status(), MM_HEAD, 200, 0, 0);
	CHECK(has_line(
	    "zt_token_proxy_requests_total{route=\"/central\",method=\"GET\",status=\"2xx\"} 2"));
	CHECK(has_line(
	    "zt_token_proxy_requests_total{route=\"/central\",method=\"POST\",status=\"5xx\"} 1"));
	CHECK(has_line("zt_token_proxy_requests_total{route=\"/"
	               "central\",method=\"OTHER\",status=\"none\"} 1"));
	CHECK(has_line(
	    "zt_token_proxy_requests_total{route=\"none\",method=\"GET\",status=\"4xx\"} 1"));
	CHECK(has_line(
	    "zt_token_proxy_requests_total{route=\"status\",method=\"HEAD\",status=\"2xx\"} 1"));
	CHECK(has_line("zt_token_proxy_request_body_bytes_total{route=\"/central\"} 105"));
	CHECK(has_line("zt_token_proxy_response_body_bytes_total{route=\"/central\"} 30"));
	CHECK(has_line("zt_token_proxy_response_body_bytes_total{route=\"none\"} 30"));
	/* Combinations never seen are left out rather than listed as zero. */
	CHECK(strstr(exposition(), "method=\"PUT\"") == NULL);
	metrics_route_unref(r);
}

static void counters_survive_a_reload(void)
{
	struct metrics_route *old, *new;

	metrics_reset();
	old = metrics_route_ref("/a");
	metrics_request(old, MM_GET, 200, 0, 0);
	/* A reload: the new runtime takes its reference before the old one lets go. */
	new = metrics_route_ref("/a");
	CHECK(new == old);
	metrics_route_unref(old);
	metrics_request(new, MM_GET, 200, 0, 0);
	CHECK(has_line(
	    "zt_token_proxy_requests_total{route=\"/a\",method=\"GET\",status=\"2xx\"} 2"));
	/* A route no runtime holds is gone; if it comes back it starts from zero. */
	metrics_route_unref(new);
	CHECK(strstr(exposition(), "route=\"/a\"") == NULL);
	new = metrics_route_ref("/a");
	CHECK(has_line("zt_token_proxy_request_body_bytes_total{route=\"/a\"} 0"));
	CHECK(strstr(exposition(), "requests_total{route=\"/a\"") == NULL);
	metrics_route_unref(new);
}

static void latency_histogram(void)
{
	struct metrics_route *r;

	metrics_reset();
	r = metrics_route_ref("/");
	metrics_upstream_latency(r, 800);       /* 0.0008 s: first bucket */
	metrics_upstream_latency(r, 1000);      /* on a bound: that bucket */
	metrics_upstream_latency(r, 70000);     /* 0.07 s */
	metrics_upstream_latency(r, 120000000); /* 120 s: only +Inf */
	CHECK(has_line("# TYPE zt_token_proxy_upstream_latency_seconds histogram"));
	CHECK(
	    has_line("zt_token_proxy_upstream_latency_seconds_bucket{route=\"/\",le=\"0.001\"} 2"));
	CHECK(
	    has_line("zt_token_proxy_upstream_latency_seconds_bucket{route=\"/\",le=\"0.05\"} 2"));
	CHECK(has_line("zt_token_proxy_upstream_latency_seconds_bucket{route=\"/\",le=\"0.1\"} 3"));
	CHECK(has_line("zt_token_proxy_upstream_latency_seconds_bucket{route=\"/\",le=\"30\"} 3"));
	CHECK(
	    has_line("zt_token_proxy_upstream_latency_seconds_bucket{route=\"/\",le=\"+Inf\"} 4"));
	CHECK(has_line("zt_token_proxy_upstream_latency_seconds_sum{route=\"/\"} 120.071800"));
	CHECK(has_line("zt_token_proxy_upstream_latency_seconds_count{route=\"/\"} 4"));
	/* Pseudo-routes never reach an upstream and have no histogram. */
	CHECK(strstr(exposition(), "latency_seconds_count{route=\"none\"}") == NULL);
	metrics_route_unref(r);
}

static void unauthorized_and_replays(void)
{
	struct cfg_token ct = {.name = "local"};
	struct token t = {.cfg = &ct, .value = "abc", .len = 3};
	struct metrics_route *r;

	metrics_reset();
	r = metrics_route_ref("/");
	metrics_upstream_401(r, &t);
	CHECK(r->last_401 != 0 && !r->last_401_replayed);
	CHECK_STR(r->last_401_fp, "ba7816bf");
	metrics_upstream_replay(r);
	CHECK(r->last_401_replayed);
	metrics_upstream_401(r, &t);
	CHECK(!r->last_401_replayed);
	CHECK(has_line("zt_token_proxy_upstream_unauthorized_total{route=\"/\"} 2"));
	CHECK(has_line("zt_token_proxy_upstream_401_replays_total{route=\"/\"} 1"));
	metrics_route_unref(r);
}

static bool keep_none(void *arg, const char *name)
{
	(void)arg;
	(void)name;
	return false;
}

static void token_reads(void)
{
	struct cfg_token ct = {.name = "local"};
	struct token t = {.cfg = &ct, .value = "abc", .len = 3, .changed = 1000};
	const struct metrics_token *mt;

	metrics_reset();
	metrics_token_read(&t);
	mt = metrics_token_find("local");
	CHECK(mt != NULL);
	if (mt == NULL)
		return;
	CHECK_STR(mt->fp, "ba7816bf");
	CHECK(mt->changed == 1000 && mt->reloads == 0 && mt->failures == 0 && mt->usable);
	/* The same value read again (a reload re-reads every token) is no change. */
	t.changed = 2000;
	metrics_token_read(&t);
	CHECK(mt->changed == 1000 && mt->reloads == 0);
	/* A failed read keeps the old value: counted, reason kept, still usable. */
	t.state = TOKEN_MISSING;
	snprintf(t.reason, sizeof(t.reason), "cannot read /x: No such file or directory");
	metrics_token_read(&t);
	CHECK(mt->failures == 1 && mt->usable && mt->last_error_at != 0);
	CHECK_STR(mt->last_error, "cannot read /x: No such file or directory");
	/* A new value. */
	t.state = TOKEN_OK;
	t.value = "abd";
	t.changed = 3000;
	metrics_token_read(&t);
	CHECK(mt->reloads == 1 && mt->changed == 3000 && strcmp(mt->fp, "ba7816bf") != 0);
	CHECK(has_line("zt_token_proxy_token_reloads_total{token=\"local\"} 1"));
	CHECK(has_line("zt_token_proxy_token_read_failures_total{token=\"local\"} 1"));
	CHECK(has_line("zt_token_proxy_token_usable{token=\"local\"} 1"));
	CHECK(has_line("zt_token_proxy_token_last_change_timestamp_seconds{token=\"local\"} 3000"));
	metrics_token_prune(keep_none, NULL);
	CHECK(metrics_token_find("local") == NULL);
	CHECK(strstr(exposition(), "token=\"local\"") == NULL);
}

static void label_escaping(void)
{
	struct metrics_route *r;

	metrics_reset();
	r = metrics_route_ref("/a\"b\\c\nd");
	CHECK(has_line("zt_token_proxy_request_body_bytes_total{route=\"/a\\\"b\\\\c\\nd\"} 0"));
	metrics_route_unref(r);
}

static void sbuf_cap_and_sticky_failure(void)
{
	struct sbuf b;
	size_t len;
	char *s;

	sbuf_init(&b, 16);
	sbuf_put(&b, "0123456789");
	sbuf_printf(&b, "%d", 42);
	CHECK(!sbuf_failed(&b));
	CHECK_STR(b.data, "012345678942");
	sbuf_put(&b, "abcd"); /* 16 bytes and the NUL do not fit in 16 */
	CHECK(sbuf_failed(&b));
	sbuf_put(&b, "x");
	CHECK(sbuf_failed(&b));
	CHECK(sbuf_take(&b, &len) == NULL && len == 0);

	sbuf_init(&b, 64);
	sbuf_json_string(&b, "a\"b\n<");
	sbuf_put(&b, ",");
	sbuf_json_string(&b, NULL);
	s = sbuf_take(&b, &len);
	CHECK_STR(s, "\"a\\\"b\\n\\u003c\",null");
	CHECK(s != NULL && len == strlen(s));
	free(s);

	sbuf_init(&b, 64);
	s = sbuf_take(&b, &len);
	CHECK_STR(s, "");
	free(s);
}

int main(void)
{
	RUN(gauges_and_build_info);
	RUN(requests_by_route_method_class);
	RUN(counters_survive_a_reload);
	RUN(latency_histogram);
	RUN(unauthorized_and_replays);
	RUN(token_reads);
	RUN(label_escaping);
	RUN(sbuf_cap_and_sticky_failure);
	metrics_reset();
	exposition();
	return CHECK_DONE();
}
