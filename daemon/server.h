/*
 * Listeners: one libmicrohttpd daemon per configured address, on a socket
 * we bind ourselves (so that later a socket can also come from a service
 * manager). A reload binds new addresses before old ones stop accepting.
 */
#ifndef ZTP_SERVER_H
#define ZTP_SERVER_H

#include "net.h"

#include "access.h"
#include "app.h"
#include "config.h"
#include "err.h"
#include "sock.h"

struct MHD_Connection;

/*
 * One client connection (libmicrohttpd's socket context), from accept to
 * close. Its deadline drops a client that is too slow to send a request
 * (timeouts.client_header, client_body) while others are served.
 */
struct client {
	struct client *next, *prev;
	struct listener *listener;
	struct MHD_Connection *conn;
	int fd;
	bool peer_known; /* on a unix socket: who is calling */
	struct acc_peer peer;
	char addr[192]; /* "127.0.0.1:54321" or "uid 1000 on unix:/x", for logs */
	/* TCP: the address it connected to, as a Host header writes it ("10.1.2.3", "[::1]"). */
	char local[INET6_ADDRSTRLEN + 2];
	uint64_t deadline_ms;    /* monotonic; 0: none */
	const char *waiting_for; /* what the deadline waits for, for the log */
	uint64_t idle_since_ms;  /* keep-alive, between requests: since when; 0: busy */
	bool evicted;            /* closed to admit a new caller, not gone yet */
};

/*
 * About how many bytes of response head still fit in the connection's
 * libmicrohttpd pool beside the request's head (0 when unknown): a longer
 * one would make libmicrohttpd close the connection without a status.
 * The gate refuses a request that leaves less than SERVER_ROOM_MIN, so that
 * no request is sent upstream whose answer could not be passed on.
 */
#define SERVER_ROOM_MIN 4096
size_t server_response_room(struct MHD_Connection *conn);

/* The client behind a live connection. */
struct client *server_client(struct MHD_Connection *conn);

/*
 * Gives the client ms milliseconds from now to send what (e.g. "the request
 * body"), or with ms == 0 takes its deadline away.
 */
void server_client_deadline(struct client *c, const char *what, uint32_t ms);

/*
 * The client has finished a request and may send another within ms: it is
 * idle, and at the connection limit the longest-idle client is closed to
 * admit a new caller.
 */
void server_client_idle(struct client *c, uint32_t ms);

/*
 * Makes app's listeners match cfg->listen: keeps those already open, opens
 * the new ones and retires the rest (they finish what they serve). If any
 * new address cannot be bound, nothing changes and the error is logged.
 * When the service manager passed sockets (service.h), they are served
 * instead of cfg->listen, from the first call to the last.
 */
ZT_WUR enum zt_err server_apply(struct app *app, const struct config *cfg);

/* Stops every listener from accepting; open connections go on. */
void server_quiesce(struct app *app);

/* Closes retiring listeners that have no connections left or whose deadline passed. */
void server_reap(struct app *app, uint64_t now_ms);

/* Closes every listener and its connections. */
void server_close_all(struct app *app);

/*
 * What the event loop waits on for the listeners: push(arg, fd, events) is
 * called for each descriptor (events are POLLIN / POLLOUT), and
 * *timeout_ms is lowered to libmicrohttpd's next deadline. Returns false
 * when push failed.
 */
bool server_wait_fds(struct app *app, sock_push_fn push, void *arg, int *timeout_ms);
/*
 * Lets the listeners handle what is ready, without waiting: ready[0..n) are
 * the descriptors server_wait_fds() pushed, with poll()'s revents. A
 * listener runs when one of its descriptors is ready, when its timeout is
 * due, or always when all is true (a connection was resumed); ready may
 * then be NULL with n 0.
 */
void server_run(struct app *app, const struct pollfd *ready, size_t n, bool all);

/* "127.0.0.1:9994", "[::1]:9994" or "unix:/path", for logs. */
void server_format_addr(const struct sockaddr *sa, char *buf, size_t cap);

/* Open connections over every listener. */
unsigned server_connections(const struct app *app);

/* Listeners accepting connections (not retiring). */
size_t server_listeners(const struct app *app);

#endif
