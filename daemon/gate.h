/*
 * The request gate: applies access.h's policy to a libmicrohttpd request
 * before anything reaches an upstream, and logs each refusal. The checks
 * run in two steps around routing (proxy.c req_start).
 */
#ifndef ZTP_GATE_H
#define ZTP_GATE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "err.h"

struct MHD_Connection;
struct client;

/* Why a request is refused: proxy.c turns it into a JSON error. */
struct gate_refusal {
	unsigned status;   /* HTTP status */
	const char *code;  /* the body's "error" */
	char message[256]; /* the body's "message"; names no token */
	char allow[160];   /* the Allow header of a 405, else "" */
};

/*
 * Before routing: the size of the request head (431), the caller on a
 * unix socket against its listener's allow_uids / allow_gids (403), the
 * Host header (403; unix sockets are exempt), and headers that mark a
 * request made by a web page (403). c is the connection's record
 * (client.h), NULL when server.c has none (503).
 */
ZT_WUR bool gate_request(struct MHD_Connection *conn, const struct client *c,
                         const struct config *cfg, const char *method, struct gate_refusal *out);

/*
 * About how many bytes of response head still fit in the connection's
 * libmicrohttpd pool beside the request's head (0 when unknown): a longer
 * one would make libmicrohttpd close the connection without a status.
 * gate_request() refuses a request that leaves less than GATE_ROOM_MIN, so
 * that no request goes upstream whose answer could not be passed on.
 */
#define GATE_ROOM_MIN 4096
size_t gate_response_room(struct MHD_Connection *conn, const struct client *c);

/*
 * After routing: the route's allow_uids / allow_gids (403), methods and
 * read_only (405), allow_paths / deny_paths on the normalised path (403),
 * and a declared Content-Length over the route's max_body (413).
 */
ZT_WUR bool gate_route(struct MHD_Connection *conn, const struct client *c,
                       const struct cfg_route *route, const char *method, const char *path,
                       size_t len, struct gate_refusal *out);

#endif
