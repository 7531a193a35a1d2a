/*
 * libcurl's upstream transfers, driven by the event loop. libcurl says which
 * sockets it wants watched and when it next needs the time (its socket and
 * timer callbacks); the loop polls those sockets together with everything
 * else and hands back what is ready. Telling libcurl exactly which socket is
 * ready (curl_multi_socket_action) spares it the poll() of every running
 * transfer's socket that each curl_multi_perform() call makes.
 */
#ifndef ZTP_XFER_H
#define ZTP_XFER_H

#include <stdbool.h>
#include <stddef.h>

#include "app.h"
#include "err.h"
#include "net.h"
#include "sock.h"

/*
 * Creates app->multi (with its callbacks), app->share (TLS sessions and DNS
 * answers outlive any one request) and app->xfers. xfer_close() frees all
 * three, and is safe after a failed xfer_open().
 */
ZT_WUR enum zt_err xfer_open(struct app *app);
void xfer_close(struct app *app);

/*
 * An easy handle for one transfer: a spare one, reset, or a new one. NULL
 * when out of memory. xfer_easy_give() takes it back once it is out of the
 * multi handle; a reset handle keeps its buffers, which saves allocating
 * them on every request.
 */
CURL *xfer_easy_take(struct app *app);
void xfer_easy_give(struct app *app, CURL *easy);

/*
 * Calls push for every socket libcurl waits on (events POLLIN / POLLOUT) and
 * lowers *timeout_ms to libcurl's next deadline. Returns false when push did.
 */
bool xfer_wait_fds(struct app *app, sock_push_fn push, void *arg, int *timeout_ms);

/*
 * Lets libcurl act on the sockets of ready[0..n) that poll() found ready,
 * then on its timer if that is due (as it is right after a transfer was
 * added or unpaused), and hands every finished transfer to the proxy.
 * ready may be NULL when n is 0.
 */
void xfer_run(struct app *app, const struct pollfd *ready, size_t n);

#endif
