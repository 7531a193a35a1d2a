/*
 * Listeners: one libmicrohttpd daemon per configured address, on a socket
 * we bind ourselves (so that later a socket can also come from a service
 * manager). A reload binds new addresses before old ones stop accepting.
 * Each connection's socket context is its struct client (client.h), which
 * tells the request path (proxy.h) who calls and how to set its deadlines.
 */
#ifndef ZTP_SERVER_H
#define ZTP_SERVER_H

#include "net.h"

#include "app.h"
#include "config.h"
#include "err.h"
#include "sock.h"
#include "status.h"

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

/* The i-th listener, retiring ones too, for the status page; false past the last. */
bool server_listener_at(const struct app *app, size_t i, struct status_listener *out);

#endif
