#include "metrics.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PFX "zt_token_proxy_"

/* Upper bounds of the latency buckets in microseconds; +Inf follows. */
static const uint64_t bucket_us[METRICS_BUCKETS - 1] = {
    1000,   5000,    10000,   25000,   50000,    100000,   250000,
    500000, 1000000, 2500000, 5000000, 10000000, 30000000,
};

static const char *const method_names[MM_COUNT] = {
    [MM_GET] = "GET",       [MM_HEAD] = "HEAD",   [MM_POST] = "POST",       [MM_PUT] = "PUT",
    [MM_DELETE] = "DELETE", [MM_PATCH] = "PATCH", [MM_OPTIONS] = "OPTIONS", [MM_OTHER] = "OTHER",
};

static const char *const class_names[METRICS_CLASSES] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};

static char unrouted_label[] = METRICS_UNROUTED;
static char status_label[] = METRICS_STATUS;

static struct {
	struct metrics_route *routes, **routes_tail; /* in order of first use */
	struct metrics_route unrouted, status;
	struct metrics_token *tokens, **tokens_tail;
	uint64_t reloads_ok, reloads_failed;
} m = {
    .unrouted = {.prefix = unrouted_label},
    .status = {.prefix = status_label},
};

struct metrics_route *metrics_route_ref(const char *prefix)
{
	struct metrics_route *mr;

	for (mr = m.routes; mr != NULL; mr = mr->next)
		if (strcmp(mr->prefix, prefix) == 0) {
			mr->refs++;
			return mr;
		}
	if ((mr = calloc(1, sizeof(*mr))) == NULL || (mr->prefix = strdup(prefix)) == NULL) {
		free(mr);
		return NULL;
	}
	mr->refs = 1;
	if (m.routes_tail == NULL)
		m.routes_tail = &m.routes;
	*m.routes_tail = mr;
	m.routes_tail = &mr->next;
	return mr;
}

void metrics_route_unref(struct metrics_route *mr)
{
	struct metrics_route **pp;

	if (mr == NULL || --mr->refs > 0)
		return;
	for (pp = &m.routes; *pp != NULL && *pp != mr; pp = &(*pp)->next)
		;
	if (*pp == NULL)
		return; /* the static entries are never on the list */
	*pp = mr->next;
	if (m.routes_tail == &mr->next)
		m.routes_tail = pp;
	free(mr->prefix);
	free(mr);
}

struct metrics_route *metrics_unrouted(void)
{
	return &m.unrouted;
}

struct metrics_route *metrics_status(void)
{
	return &m.status;
}

enum metrics_method metrics_method(const char *method)
{
	for (int i = 0; i < MM_OTHER; i++)
		if (strcmp(method, method_names[i]) == 0)
			return (enum metrics_method)i;
	return MM_OTHER;
}

void metrics_request(struct metrics_route *mr, enum metrics_method method, unsigned status,
                     uint64_t bytes_in, uint64_t bytes_out)
{
	unsigned cls = status >= 100 && status <= 599 ? status / 100 : 0;

	mr->requests[method][cls]++;
	mr->bytes_in += bytes_in;
	mr->bytes_out += bytes_out;
}

static void hist_add(struct metrics_hist *h, uint64_t us)
{
	size_t i = 0;

	while (i < METRICS_BUCKETS - 1 && us > bucket_us[i])
		i++;
	h->bucket[i]++;
	h->sum_us += us;
}

void metrics_upstream_latency(struct metrics_route *mr, uint64_t us)
{
	hist_add(&mr->latency, us);
}

void metrics_queue_wait(struct metrics_route *mr, uint64_t us)
{
	hist_add(&mr->queue_wait, us);
}

void metrics_upstream_401(struct metrics_route *mr, const struct token *t)
{
	mr->upstream_401++;
	mr->last_401 = time(NULL);
	mr->last_401_replayed = false;
	if (t->value != NULL)
		sha256_fingerprint(t->value, t->len, mr->last_401_fp);
	else
		mr->last_401_fp[0] = '\0';
}

void metrics_upstream_replay(struct metrics_route *mr)
{
	mr->replays++;
	mr->last_401_replayed = true;
}

static struct metrics_token *token_entry(const char *name)
{
	for (struct metrics_token *mt = m.tokens; mt != NULL; mt = mt->next)
		if (strcmp(mt->name, name) == 0)
			return mt;
	return NULL;
}

void metrics_token_read(const struct token *t)
{
	struct metrics_token *mt = token_entry(t->cfg->name);
	char fp[SHA256_FP_LEN];

	if (mt == NULL) {
		if ((mt = calloc(1, sizeof(*mt))) == NULL ||
		    (mt->name = strdup(t->cfg->name)) == NULL) {
			free(mt);
			return; /* counting is lost, serving is not */
		}
		if (m.tokens_tail == NULL)
			m.tokens_tail = &m.tokens;
		*m.tokens_tail = mt;
		m.tokens_tail = &mt->next;
	}
	mt->usable = token_usable(t);
	if (t->state != TOKEN_OK) {
		mt->failures++;
		snprintf(mt->last_error, sizeof(mt->last_error), "%s", t->reason);
		mt->last_error_at = time(NULL);
	}
	if (t->value == NULL)
		return;
	sha256_fingerprint(t->value, t->len, fp);
	if (strcmp(fp, mt->fp) == 0)
		return;
	if (mt->fp[0] != '\0')
		mt->reloads++;
	memcpy(mt->fp, fp, sizeof(fp));
	mt->changed = t->changed;
}

const struct metrics_token *metrics_token_find(const char *name)
{
	return token_entry(name);
}

void metrics_token_prune(bool (*keep)(void *arg, const char *name), void *arg)
{
	struct metrics_token **pp = &m.tokens, *mt;

	while ((mt = *pp) != NULL) {
		if (keep(arg, mt->name)) {
			pp = &mt->next;
			continue;
		}
		*pp = mt->next;
		free(mt->name);
		free(mt);
	}
	m.tokens_tail = pp;
}

void metrics_config_reload(bool ok)
{
	if (ok)
		m.reloads_ok++;
	else
		m.reloads_failed++;
}

/* ---- exposition ---- */

static void family(struct sbuf *b, const char *name, const char *type, const char *help)
{
	sbuf_printf(b, "# HELP " PFX "%s %s\n# TYPE " PFX "%s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void label_value(struct sbuf *b, const char *v)
{
	sbuf_put(b, "\"");
	for (const char *p = v; *p; p++) {
		size_t n = strcspn(p, "\\\"\n");

		sbuf_putn(b, p, n);
		p += n;
		if (*p == '\0')
			break;
		sbuf_put(b, *p == '\n' ? "\\n" : *p == '"' ? "\\\"" : "\\\\");
	}
	sbuf_put(b, "\"");
}

/* "name{key="value"" for a sample; the caller closes the labels. */
static void sample_start(struct sbuf *b, const char *name, const char *key, const char *value)
{
	sbuf_printf(b, PFX "%s{%s=", name, key);
	label_value(b, value);
}

static void route_counter(struct sbuf *b, const struct metrics_route *mr, const char *name,
                          uint64_t v)
{
	sample_start(b, name, "route", mr->prefix);
	sbuf_printf(b, "} %" PRIu64 "\n", v);
}

/*
 * Route entries in exposition order: the configured routes, then (with_pseudo)
 * the pseudo-routes, which never talk to an upstream.
 */
static const struct metrics_route *first_route(bool with_pseudo)
{
	return m.routes != NULL ? m.routes : with_pseudo ? &m.unrouted : NULL;
}

static const struct metrics_route *next_route(const struct metrics_route *mr, bool with_pseudo)
{
	if (mr == &m.unrouted)
		return &m.status;
	if (mr == &m.status)
		return NULL;
	if (mr->next != NULL)
		return mr->next;
	return with_pseudo ? &m.unrouted : NULL;
}

static void write_requests(struct sbuf *b)
{
	const struct metrics_route *mr;

	family(
	    b, "requests_total", "counter",
	    "Requests answered, by route, method and status class (none: no response was sent). "
	    "Route \"none\" matched no route; \"status\" is the status, health and metrics paths.");
	for (mr = first_route(true); mr != NULL; mr = next_route(mr, true))
		for (int i = 0; i < MM_COUNT; i++)
			for (int c = 0; c < METRICS_CLASSES; c++) {
				if (mr->requests[i][c] == 0)
					continue;
				sample_start(b, "requests_total", "route", mr->prefix);
				sbuf_printf(b, ",method=\"%s\",status=\"%s\"} %" PRIu64 "\n",
				            method_names[i], class_names[c], mr->requests[i][c]);
			}
	family(b, "request_body_bytes_total", "counter",
	       "Bytes of request bodies received from clients.");
	for (mr = first_route(true); mr != NULL; mr = next_route(mr, true))
		route_counter(b, mr, "request_body_bytes_total", mr->bytes_in);
	family(b, "response_body_bytes_total", "counter",
	       "Bytes of response bodies sent to clients.");
	for (mr = first_route(true); mr != NULL; mr = next_route(mr, true))
		route_counter(b, mr, "response_body_bytes_total", mr->bytes_out);
}

/* One route's samples of the histogram family name (its _bucket, _sum and _count). */
static void route_hist(struct sbuf *b, const struct metrics_route *mr, const char *name,
                       const struct metrics_hist *h)
{
	char sample[96];
	uint64_t cum = 0;

	snprintf(sample, sizeof(sample), "%s_bucket", name);
	for (int i = 0; i < METRICS_BUCKETS; i++) {
		cum += h->bucket[i];
		sample_start(b, sample, "route", mr->prefix);
		if (i < METRICS_BUCKETS - 1)
			sbuf_printf(b, ",le=\"%g\"} %" PRIu64 "\n", (double)bucket_us[i] / 1e6,
			            cum);
		else
			sbuf_printf(b, ",le=\"+Inf\"} %" PRIu64 "\n", cum);
	}
	snprintf(sample, sizeof(sample), "%s_sum", name);
	sample_start(b, sample, "route", mr->prefix);
	sbuf_printf(b, "} %" PRIu64 ".%06" PRIu64 "\n", h->sum_us / 1000000, h->sum_us % 1000000);
	snprintf(sample, sizeof(sample), "%s_count", name);
	route_counter(b, mr, sample, cum);
}

/* Route families with one sample per route: a counter or gauge read from a field. */
static const struct route_family {
	const char *name, *type, *help;
	size_t off; /* of a uint64_t in struct metrics_route */
} route_families[] = {
    {"upstream_connections", "gauge", "Upstream connections open.",
     offsetof(struct metrics_route, up_open)},
    {"upstream_requests_in_progress", "gauge",
     "Upstream requests in progress (capped by the route's connections.max).",
     offsetof(struct metrics_route, up_active)},
    {"upstream_queue_length", "gauge", "Requests waiting for an upstream slot (connections.queue).",
     offsetof(struct metrics_route, queued)},
    {"upstream_unauthorized_total", "counter", "401 answers from the upstream.",
     offsetof(struct metrics_route, upstream_401)},
    {"upstream_401_replays_total", "counter",
     "Requests replayed once with a changed token after a 401.",
     offsetof(struct metrics_route, replays)},
};

static void write_upstream(struct sbuf *b)
{
	const struct metrics_route *mr;

	family(b, "upstream_latency_seconds", "histogram",
	       "Time from starting an upstream request to its response head (every attempt).");
	for (mr = first_route(false); mr != NULL; mr = next_route(mr, false))
		route_hist(b, mr, "upstream_latency_seconds", &mr->latency);
	family(b, "upstream_queue_wait_seconds", "histogram",
	       "Time a request waited in its route's queue before it was sent.");
	for (mr = first_route(false); mr != NULL; mr = next_route(mr, false))
		route_hist(b, mr, "upstream_queue_wait_seconds", &mr->queue_wait);
	family(b, "upstream_queue_refused_total", "counter",
	       "Requests refused by the queue, by reason: full (503) or timeout (504).");
	for (mr = first_route(false); mr != NULL; mr = next_route(mr, false)) {
		sample_start(b, "upstream_queue_refused_total", "route", mr->prefix);
		sbuf_printf(b, ",reason=\"full\"} %" PRIu64 "\n", mr->queue_refused);
		sample_start(b, "upstream_queue_refused_total", "route", mr->prefix);
		sbuf_printf(b, ",reason=\"timeout\"} %" PRIu64 "\n", mr->queue_expired);
	}
	for (size_t i = 0; i < sizeof(route_families) / sizeof(route_families[0]); i++) {
		const struct route_family *f = &route_families[i];

		family(b, f->name, f->type, f->help);
		for (mr = first_route(false); mr != NULL; mr = next_route(mr, false))
			route_counter(b, mr, f->name,
			              *(const uint64_t *)(const void *)((const char *)mr + f->off));
	}
}

static void token_sample(struct sbuf *b, const struct metrics_token *mt, const char *name,
                         uint64_t v)
{
	sample_start(b, name, "token", mt->name);
	sbuf_printf(b, "} %" PRIu64 "\n", v);
}

static void write_tokens(struct sbuf *b)
{
	const struct metrics_token *mt;

	family(b, "token_usable", "gauge", "1 when the token has a value to inject.");
	for (mt = m.tokens; mt != NULL; mt = mt->next)
		token_sample(b, mt, "token_usable", mt->usable);
	family(b, "token_reloads_total", "counter",
	       "Times a token's value changed after its first load.");
	for (mt = m.tokens; mt != NULL; mt = mt->next)
		token_sample(b, mt, "token_reloads_total", mt->reloads);
	family(b, "token_read_failures_total", "counter",
	       "Reads that found a token's source missing, unreadable or invalid.");
	for (mt = m.tokens; mt != NULL; mt = mt->next)
		token_sample(b, mt, "token_read_failures_total", mt->failures);
	family(b, "token_last_change_timestamp_seconds", "gauge",
	       "When a token's value last changed, in seconds since the epoch.");
	for (mt = m.tokens; mt != NULL; mt = mt->next)
		if (mt->changed != 0)
			token_sample(b, mt, "token_last_change_timestamp_seconds",
			             (uint64_t)mt->changed);
}

void metrics_write(struct sbuf *b, const struct metrics_gauges *g)
{
	family(b, "build_info", "gauge",
	       "Version of zt-token-proxy and of the libraries it runs on.");
	sample_start(b, "build_info", "version", g->version);
	sbuf_put(b, ",libcurl=");
	label_value(b, g->curl_version);
	sbuf_put(b, ",libmicrohttpd=");
	label_value(b, g->mhd_version);
	sbuf_put(b, "} 1\n");
	family(b, "start_time_seconds", "gauge",
	       "When the process started, in seconds since the epoch.");
	sbuf_printf(b, PFX "start_time_seconds %lld\n", (long long)g->start_time);
	family(b, "connections", "gauge", "Open client connections.");
	sbuf_printf(b, PFX "connections %u\n", g->connections);
	family(b, "requests_in_progress", "gauge", "Requests being served.");
	sbuf_printf(b, PFX "requests_in_progress %u\n", g->requests);
	write_requests(b);
	write_upstream(b);
	write_tokens(b);
	family(b, "config_reloads_total", "counter", "Configuration reloads (SIGHUP) by result.");
	sbuf_printf(b, PFX "config_reloads_total{result=\"success\"} %" PRIu64 "\n", m.reloads_ok);
	sbuf_printf(b, PFX "config_reloads_total{result=\"failure\"} %" PRIu64 "\n",
	            m.reloads_failed);
}

void metrics_reset(void)
{
	struct metrics_route *mr, *rnext;
	struct metrics_token *mt, *tnext;

	for (mr = m.routes; mr != NULL; mr = rnext) {
		rnext = mr->next;
		free(mr->prefix);
		free(mr);
	}
	for (mt = m.tokens; mt != NULL; mt = tnext) {
		tnext = mt->next;
		free(mt->name);
		free(mt);
	}
	memset(&m, 0, sizeof(m));
	m.unrouted.prefix = unrouted_label;
	m.status.prefix = status_label;
}
