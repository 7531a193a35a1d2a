#include <stdint.h>
#include <stdlib.h>

#include "log.h"
#include "os.h"
#include "proxy.h"
#include "xfer.h"

/* Idle easy handles kept for the next requests; beyond that they are freed. */
#define SPARE_MAX 32

/* A socket libcurl asked to be watched, and for what (POLLIN / POLLOUT). */
struct xfer_sock {
	curl_socket_t fd;
	short events;
};

/*
 * The sockets in no particular order. libcurl keeps each one's slot number
 * plus one as its socketp (curl_multi_assign), so that updates are O(1).
 */
struct xfers {
	CURLM *multi;
	struct xfer_sock *v;
	size_t n, cap;
	int64_t due_ms; /* monotonic time libcurl wants its timer run at; -1: never */
	CURL *spare[SPARE_MAX];
	size_t nspare;
};

static void *slot_tag(size_t i)
{
	return (void *)(uintptr_t)(i + 1);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct xfers *x = userp;
	size_t tag = (size_t)(uintptr_t)socketp;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (tag != 0 && tag <= x->n) {
			x->v[tag - 1] = x->v[--x->n];
			if (tag - 1 < x->n)
				curl_multi_assign(x->multi, x->v[tag - 1].fd, slot_tag(tag - 1));
		}
		return 0;
	}
	if (tag == 0) {
		if (x->n == x->cap) {
			size_t cap = x->cap ? x->cap * 2 : 16;
			struct xfer_sock *v = realloc(x->v, cap * sizeof(*v));

			if (v == NULL) {
				log_error("out of memory watching an upstream socket");
				return -1; /* libcurl fails the transfers using it */
			}
			x->v = v;
			x->cap = cap;
		}
		tag = ++x->n;
		x->v[tag - 1].fd = fd;
		curl_multi_assign(x->multi, fd, slot_tag(tag - 1));
	}
	x->v[tag - 1].events =
	    (short)(((what & CURL_POLL_IN) ? POLLIN : 0) | ((what & CURL_POLL_OUT) ? POLLOUT : 0));
	return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct xfers *x = userp;

	(void)multi;
	x->due_ms = timeout_ms < 0 ? -1 : (int64_t)os_monotonic_ms() + timeout_ms;
	return 0;
}

enum zt_err xfer_open(struct app *app)
{
	struct xfers *x;
	bool ok = true;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return ZT_ERR_IO;
	if ((x = app->xfers = calloc(1, sizeof(*x))) == NULL ||
	    (x->multi = app->multi = curl_multi_init()) == NULL ||
	    (app->share = curl_share_init()) == NULL)
		return ZT_ERR_NOMEM;
	x->due_ms = -1;
	ok &= curl_multi_setopt(x->multi, CURLMOPT_SOCKETFUNCTION, on_socket) == CURLM_OK;
	ok &= curl_multi_setopt(x->multi, CURLMOPT_SOCKETDATA, x) == CURLM_OK;
	ok &= curl_multi_setopt(x->multi, CURLMOPT_TIMERFUNCTION, on_timer) == CURLM_OK;
	ok &= curl_multi_setopt(x->multi, CURLMOPT_TIMERDATA, x) == CURLM_OK;
	ok &= curl_share_setopt(app->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) ==
	      CURLSHE_OK;
	ok &= curl_share_setopt(app->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) == CURLSHE_OK;
	return ok ? ZT_OK : ZT_ERR_NOMEM;
}

CURL *xfer_easy_take(struct app *app)
{
	struct xfers *x = app->xfers;

	return x->nspare > 0 ? x->spare[--x->nspare] : curl_easy_init();
}

void xfer_easy_give(struct app *app, CURL *easy)
{
	struct xfers *x = app->xfers;

	if (x->nspare == SPARE_MAX) {
		curl_easy_cleanup(easy);
		return;
	}
	curl_easy_reset(easy); /* no option of the last request survives */
	x->spare[x->nspare++] = easy;
}

void xfer_close(struct app *app)
{
	if (app->xfers != NULL)
		while (app->xfers->nspare > 0)
			curl_easy_cleanup(app->xfers->spare[--app->xfers->nspare]);
	if (app->multi != NULL)
		curl_multi_cleanup(app->multi);
	if (app->share != NULL)
		curl_share_cleanup(app->share);
	if (app->xfers != NULL)
		free(app->xfers->v);
	free(app->xfers);
	app->multi = NULL;
	app->share = NULL;
	app->xfers = NULL;
	curl_global_cleanup();
}

bool xfer_wait_fds(struct app *app, sock_push_fn push, void *arg, int *timeout_ms)
{
	struct xfers *x = app->xfers;

	for (size_t i = 0; i < x->n; i++)
		if (!push(arg, (int)x->v[i].fd, x->v[i].events))
			return false;
	if (x->due_ms >= 0) {
		int64_t left = x->due_ms - (int64_t)os_monotonic_ms();
		int ms = left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;

		if (*timeout_ms < 0 || ms < *timeout_ms)
			*timeout_ms = ms;
	}
	return true;
}

void xfer_run(struct app *app, const struct pollfd *ready, size_t n)
{
	struct xfers *x = app->xfers;
	CURLMsg *msg;
	int running, queued;

	/* ready is the loop's copy: the callbacks may reorder x->v meanwhile. */
	for (size_t i = 0; i < n; i++) {
		int bits = 0;

		if ((ready[i].revents & (POLLIN | POLLHUP)) != 0)
			bits |= CURL_CSELECT_IN;
		if ((ready[i].revents & POLLOUT) != 0)
			bits |= CURL_CSELECT_OUT;
		if ((ready[i].revents & (POLLERR | POLLNVAL)) != 0)
			bits |= CURL_CSELECT_ERR;
		if (bits != 0)
			curl_multi_socket_action(x->multi, (curl_socket_t)ready[i].fd, bits,
			                         &running);
	}
	if (x->due_ms >= 0 && (int64_t)os_monotonic_ms() >= x->due_ms) {
		x->due_ms = -1; /* the timer callback sets the next one */
		curl_multi_socket_action(x->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	while ((msg = curl_multi_info_read(x->multi, &queued)) != NULL)
		if (msg->msg == CURLMSG_DONE)
			proxy_transfer_done(app, msg->easy_handle, msg->data.result);
}
