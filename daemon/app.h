/*
 * The daemon's state, shared by the event loop, the listeners and the
 * proxy. One struct app per process; everything runs on one thread.
 */
#ifndef ZTP_APP_H
#define ZTP_APP_H

#include <stdbool.h>

#include "runtime.h"
#include "watch.h"

struct listener;
struct req;
struct up_curl;
struct up_h1;

/* Resumed connections written without a wait per loop turn; more wait for POLLOUT. */
#define APP_WOKEN_MAX 64

struct app {
	const char *config_path; /* NULL: embedded defaults */
	struct runtime *rt;      /* current; requests hold their own references */
	/* The upstream backends' state (upstream.h): each owns its own. */
	struct up_curl *curl;
	struct up_h1 *h1;
	struct watch *watch;
	struct listener *listeners; /* server.c's */
	struct req *reqs;           /* every live request, for shutdown */
	/* Requests waiting for an upstream slot, oldest first (proxy_admit.c). */
	struct req *waitq, *waitq_tail;
	unsigned nreqs;
	bool stopping;
	bool mhd_pending; /* a connection was resumed: run the listeners before waiting */
	/*
	 * The sockets of connections resumed since the listeners last ran: with
	 * nothing written since their last answer they can take the next one at
	 * once, so select mode writes it without first waiting for POLLOUT.
	 */
	int woken_fds[APP_WOKEN_MAX];
	size_t nwoken;
};

#endif
