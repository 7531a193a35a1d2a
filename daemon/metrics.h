/*
 * Counters for /_proxy/metrics and /_proxy/status, and their Prometheus
 * text exposition.
 *
 * The counters are process-wide, like the log: they outlive configuration
 * reloads, keyed by route prefix and token name, so a route that survives a
 * reload keeps counting where it was. Everything runs on the loop thread;
 * counters are plain integers and updating them never allocates.
 */
#ifndef ZTP_METRICS_H
#define ZTP_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "sbuf.h"
#include "sha256.h"
#include "token.h"

enum metrics_method {
	MM_GET,
	MM_HEAD,
	MM_POST,
	MM_PUT,
	MM_DELETE,
	MM_PATCH,
	MM_OPTIONS,
	MM_OTHER,
	MM_COUNT,
};

/* Status classes: no response sent, then 1xx to 5xx. */
#define METRICS_CLASSES 6
/* Upstream latency buckets, the last one +Inf. */
#define METRICS_BUCKETS 14

/* Pseudo-route labels for requests that no configured route served. */
#define METRICS_UNROUTED "none"
#define METRICS_STATUS   "status"

/* A histogram of durations. */
struct metrics_hist {
	uint64_t bucket[METRICS_BUCKETS]; /* per bucket, not cumulative */
	uint64_t sum_us;
};

struct metrics_route {
	struct metrics_route *next;
	char *prefix; /* the label; owned */
	unsigned refs;
	uint64_t requests[MM_COUNT][METRICS_CLASSES];
	uint64_t bytes_in, bytes_out;
	struct metrics_hist latency;
	uint64_t upstream_401, replays;
	/*
	 * The upstream connection policy (proxy_admit.c). These live here, not in
	 * a runtime, because they must count across a reload: requests of the old
	 * configuration still hold upstream connections.
	 */
	uint64_t up_active;     /* upstream requests in progress */
	uint64_t up_open;       /* upstream connections open */
	uint64_t queued;        /* requests waiting for an upstream slot */
	uint64_t queue_refused; /* turned away: the queue was full (503) */
	uint64_t queue_expired; /* waited queue_timeout in vain (504) */
	struct metrics_hist queue_wait;
	/* The last upstream 401: when (0: never), whether it was replayed, with which token. */
	time_t last_401;
	bool last_401_replayed;
	char last_401_fp[SHA256_FP_LEN];
};

struct metrics_token {
	struct metrics_token *next;
	char *name;        /* owned */
	uint64_t reloads;  /* the value changed after it was first loaded */
	uint64_t failures; /* a read found the source missing, unreadable or invalid */
	bool usable;
	char fp[SHA256_FP_LEN]; /* fingerprint of the value, "" before the first */
	time_t changed;         /* when fp last changed */
	char last_error[sizeof(((struct token *)0)->reason)]; /* last failed read's reason */
	time_t last_error_at;
};

/* The entry for prefix with a reference taken, created when new; NULL: out of memory. */
struct metrics_route *metrics_route_ref(const char *prefix);
void metrics_route_unref(struct metrics_route *mr);
/* Entries for METRICS_UNROUTED and METRICS_STATUS; they live as long as the process. */
struct metrics_route *metrics_unrouted(void);
struct metrics_route *metrics_status(void);

/* GET -> MM_GET ...; anything unlisted is MM_OTHER. */
enum metrics_method metrics_method(const char *method);

/* One finished request; status 0 when no response was sent. */
void metrics_request(struct metrics_route *mr, enum metrics_method method, unsigned status,
                     uint64_t bytes_in, uint64_t bytes_out);
/* One upstream exchange that got a response head after us microseconds. */
void metrics_upstream_latency(struct metrics_route *mr, uint64_t us);
/* A request waited us microseconds in its route's queue before it was sent. */
void metrics_queue_wait(struct metrics_route *mr, uint64_t us);
/* The upstream answered 401 to t's value (fingerprinted, never kept). */
void metrics_upstream_401(struct metrics_route *mr, const struct token *t);
/* ...and the request is replayed once with the changed value. */
void metrics_upstream_replay(struct metrics_route *mr);

/* Records a read of t's source (after token_init or token_refresh); creates the entry. */
void metrics_token_read(const struct token *t);
/* The entry for name, or NULL. */
const struct metrics_token *metrics_token_find(const char *name);
/* Drops token entries keep() says are gone from the configuration. */
void metrics_token_prune(bool (*keep)(void *arg, const char *name), void *arg);

void metrics_config_reload(bool ok);

/* Values read at exposition time. */
struct metrics_gauges {
	const char *version, *curl_version, *mhd_version;
	time_t start_time;
	unsigned connections; /* open client connections */
	unsigned requests;    /* requests in progress */
};

/* Appends the whole exposition (text format 0.0.4). */
void metrics_write(struct sbuf *b, const struct metrics_gauges *g);

/* Frees every entry and zeroes every counter (tests, and the end of the process). */
void metrics_reset(void);

#endif
