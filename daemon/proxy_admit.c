/*
 * A route's upstream connection policy: at most connections.max upstream
 * requests at once, the rest waiting in one queue in arrival order (at most
 * connections.queue of them, each for at most connections.queue_timeout).
 * Waiting here rather than in the upstream's listen backlog matters for
 * ZeroTier One, whose backlog of 5 overflows into SYN retransmits of 1 s.
 *
 * The counts live in the route's process-wide entry (metrics.h), so that
 * requests of a configuration replaced by a reload still count against the
 * same cap; each request is measured against its own route's settings.
 */
#include <inttypes.h>
#include <stdio.h>

#include "log.h"
#include "now.h"
#include "proxy.h"
#include "proxy_impl.h"
#include "upstream.h"

/* Takes a slot and starts the upstream transfer; false when it could not be set up. */
static bool req_go(struct req *req)
{
	req->holds_slot = true;
	req->stats->up_active++;
	if (upstream_start(req))
		return true;
	log_error("route %s: cannot set up the upstream request", req->route->prefix);
	req_fail(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
	         "cannot set up the upstream request", NULL);
	req_release(req);
	return false;
}

static bool has_room(const struct req *req)
{
	return req->route->conn_max == 0 || req->stats->up_active < req->route->conn_max;
}

static void unqueue(struct req *req)
{
	struct app *app = req->app;

	if (req->wprev != NULL)
		req->wprev->wnext = req->wnext;
	else
		app->waitq = req->wnext;
	if (req->wnext != NULL)
		req->wnext->wprev = req->wprev;
	else
		app->waitq_tail = req->wprev;
	req->wnext = req->wprev = NULL;
	req->waiting = false;
	req->stats->queued--;
}

void req_admit(struct req *req)
{
	struct app *app = req->app;
	char limit[16];
	const char *extra[] = {"queue", limit, NULL};

	if (has_room(req)) {
		(void)req_go(req);
		return;
	}
	if (req->stats->queued >= req->route->conn_queue) {
		req->stats->queue_refused++;
		snprintf(limit, sizeof(limit), "%u", req->route->conn_queue);
		log_warn("route %s: %" PRIu64 " upstream requests in progress and %" PRIu64
		         " waiting; refused one",
		         req->route->prefix, req->stats->up_active, req->stats->queued);
		req_fail(req, MHD_HTTP_SERVICE_UNAVAILABLE, "queue_full",
		         "too many requests are waiting for the upstream; try again later", extra);
		return;
	}
	req->waiting = true;
	req->wait_deadline_ms = now_ms() + req->route->conn_queue_ms;
	req->wprev = app->waitq_tail;
	if (app->waitq_tail != NULL)
		app->waitq_tail->wnext = req;
	else
		app->waitq = req;
	app->waitq_tail = req;
	req->stats->queued++;
}

/* Starts the oldest waiters of route entry mr while it has room. */
static void admit_waiters(struct app *app, struct metrics_route *mr)
{
	struct req *w = app->waitq, *next;

	for (; w != NULL; w = next) {
		next = w->wnext;
		if (w->stats != mr)
			continue;
		if (!has_room(w))
			return;
		/* Its hang-up may not have been polled yet: it must not take the slot. */
		if (req_client_gone(w)) {
			req_hang_up(w);
			next = app->waitq;
			continue;
		}
		unqueue(w);
		metrics_queue_wait(mr, now_us() - w->start_us);
		(void)req_go(w);
		req_wake(w);       /* with its upstream answer or error, in due course */
		next = app->waitq; /* req_go may have released and re-entered */
	}
}

void req_release(struct req *req)
{
	if (req->waiting) {
		unqueue(req);
		return;
	}
	if (!req->holds_slot)
		return;
	req->holds_slot = false;
	req->stats->up_active--;
	admit_waiters(req->app, req->stats);
}

int proxy_queue_timeout_ms(const struct app *app)
{
	uint64_t now = now_ms(), first = UINT64_MAX;

	/* Routes differ in queue_timeout, so the oldest waiter is not always the first due. */
	for (const struct req *w = app->waitq; w != NULL; w = w->wnext)
		if (w->wait_deadline_ms < first)
			first = w->wait_deadline_ms;
	if (first == UINT64_MAX)
		return -1;
	return first <= now ? 0 : first - now > INT32_MAX ? INT32_MAX : (int)(first - now);
}

void proxy_queue_expire(struct app *app)
{
	uint64_t now = now_ms();
	struct req *w = app->waitq, *next;
	char waited[32];
	const char *extra[] = {"waited", waited, NULL};

	for (; w != NULL; w = next) {
		next = w->wnext;
		if (w->wait_deadline_ms > now)
			continue;
		unqueue(w);
		w->stats->queue_expired++;
		metrics_queue_wait(w->stats, now_us() - w->start_us);
		snprintf(waited, sizeof(waited), "%ums", w->route->conn_queue_ms);
		log_warn("route %s: a request waited %u ms for an upstream connection in vain",
		         w->route->prefix, w->route->conn_queue_ms);
		req_fail(w, MHD_HTTP_GATEWAY_TIMEOUT, "queue_timeout",
		         "no upstream connection became free in time", extra);
		req_wake(w);
	}
}
