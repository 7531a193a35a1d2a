/*
 * The daemon's state, shared by the event loop, the listeners and the
 * proxy. One struct app per process; everything runs on one thread.
 */
#ifndef ZTP_APP_H
#define ZTP_APP_H

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>

#include "runtime.h"
#include "watch.h"

struct MHD_Daemon;
struct req;

struct listener {
	struct listener *next;
	char *text;     /* address as configured */
	char bound[80]; /* address actually bound, for logs */
	struct MHD_Daemon *mhd;
	int epoll_fd;         /* MHD's, to wait on */
	bool retiring;        /* accepts nothing new; closed once idle or at its deadline */
	uint64_t deadline_ms; /* monotonic, when retiring */
};

struct app {
	const char *config_path; /* NULL: embedded defaults */
	struct runtime *rt;      /* current; requests hold their own references */
	CURLM *multi;
	CURLSH *share;
	struct watch *watch;
	struct listener *listeners;
	struct req *reqs; /* every live request, for shutdown */
	unsigned nreqs;
	bool stopping;
	bool mhd_pending; /* a connection was resumed: run the listeners before waiting */
};

/* Milliseconds on a monotonic clock. */
uint64_t app_now_ms(void);

#endif
