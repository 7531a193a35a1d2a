/*
 * The bridge between a client request (libmicrohttpd) and its upstream
 * transfer (libcurl): routing, token injection, header filtering, streaming
 * with back-pressure in both directions, the 401 replay, and JSON errors.
 */
#ifndef ZTP_PROXY_H
#define ZTP_PROXY_H

#include <microhttpd.h>

#include "app.h"

/* libmicrohttpd callbacks; their closure is the struct app. */
void *proxy_uri_log(void *cls, const char *uri, struct MHD_Connection *conn);
enum MHD_Result proxy_access(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload_data,
                             size_t *upload_data_size, void **req_cls);
void proxy_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                     enum MHD_RequestTerminationCode toe);

/* Hands a finished libcurl transfer (from curl_multi_info_read) to its request. */
void proxy_transfer_done(struct app *app, CURL *easy, CURLcode result);

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

#endif
