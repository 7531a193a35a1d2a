/*
 * The daemon's state, shared by the event loop, the listeners and the
 * proxy. One struct app per process; everything runs on one thread.
 */
#ifndef ZTP_APP_H
#define ZTP_APP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "access.h"
#include "runtime.h"
#include "watch.h"

struct MHD_Daemon;
struct req;
struct server_conn;
struct up_curl;
struct up_h1;

struct listener {
	struct listener *next;
	char *text;      /* address as configured */
	char bound[128]; /* address actually bound, for logs */
	struct MHD_Daemon *mhd;
	int epoll_fd;         /* MHD's, to wait on */
	bool retiring;        /* accepts nothing new; closed once idle or at its deadline */
	bool status_only;     /* serves only the status paths (status.listen) */
	size_t pool_size;     /* libmicrohttpd's memory per connection (server.c) */
	unsigned max_conns;   /* its connection limit (limits.max_connections when opened) */
	bool watch_listen;    /* at the limit: the listening socket is the first fd waited on */
	uint64_t deadline_ms; /* monotonic, when retiring */
	/* The last wait (server.c): how many descriptors it had, when its timeout is due. */
	size_t wait_n;
	uint64_t due_ms;
	/* Access (server.c): callers on a unix socket, and the socket file we made. */
	bool is_unix;
	struct acc_ids allow_uids, allow_gids; /* copies of the configured lists */
	char *path;                            /* socket file to remove on close, or NULL */
	dev_t dev;                             /* ... and its identity, to remove only ours */
	ino_t ino;
	struct server_conn *clients; /* open connections (server.c) */
};

struct app {
	const char *config_path; /* NULL: embedded defaults */
	struct runtime *rt;      /* current; requests hold their own references */
	/* The upstream backends' state (upstream.h): each owns its own. */
	struct up_curl *curl;
	struct up_h1 *h1;
	struct watch *watch;
	struct listener *listeners;
	struct req *reqs; /* every live request, for shutdown */
	/* Requests waiting for an upstream slot, oldest first (proxy_admit.c). */
	struct req *waitq, *waitq_tail;
	unsigned nreqs;
	bool stopping;
	bool mhd_pending; /* a connection was resumed: run the listeners before waiting */
};

#endif
