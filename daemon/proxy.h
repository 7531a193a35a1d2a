/*
 * The bridge between a client request (libmicrohttpd) and its upstream
 * transfer (libcurl): routing, token injection, header filtering, streaming
 * with back-pressure in both directions, the 401 replay, and JSON errors.
 */
#ifndef ZTP_PROXY_H
#define ZTP_PROXY_H

#include <microhttpd.h>

#include "app.h"
#include "sock.h"

/*
 * libmicrohttpd callbacks; their closure is the struct app, and each
 * connection's socket context is server.c's struct client (client.h).
 */
void *proxy_uri_log(void *cls, const char *uri, struct MHD_Connection *conn);
enum MHD_Result proxy_access(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload_data,
                             size_t *upload_data_size, void **req_cls);
void proxy_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                     enum MHD_RequestTerminationCode toe);

/*
 * The request queues of the routes' upstream connection policies: the time
 * until the oldest waiter times out (-1: none), and the 504 for those that
 * did.
 */
int proxy_queue_timeout_ms(const struct app *app);
void proxy_queue_expire(struct app *app);

/*
 * Clients that hang up while their request waits on the upstream: push()
 * their sockets for the loop's wait, then proxy_hangups() with what poll()
 * returned for them cancels their upstream requests, so that the upstream
 * connection is closed rather than held (ZeroTier One's few workers).
 * Where the system cannot tell a hang-up apart, nothing is pushed.
 */
bool proxy_wait_fds(struct app *app, sock_push_fn push, void *arg);
void proxy_hangups(struct app *app, const struct pollfd *ready, size_t n);

/*
 * Ends the upstream transfers of the requests served by mhd (every request
 * when mhd is NULL) and resumes their connections, which then get an error
 * or a cut-off body. libmicrohttpd refuses to stop a daemon that still has
 * suspended connections, so this comes first.
 */
void proxy_abort(struct app *app, struct MHD_Daemon *mhd);

/*
 * Ends the upstream transfer of the request on conn, if any, and resumes
 * the connection, which server.c is dropping (a client too slow to send).
 */
void proxy_drop(struct app *app, struct MHD_Connection *conn);

/*
 * Frees a request on conn that libmicrohttpd never reported completed, as
 * its connection closes: 0.9.75 drops a request line whose query
 * parameters overflow its memory pool without telling.
 */
void proxy_closed(struct app *app, struct MHD_Connection *conn);

#endif
