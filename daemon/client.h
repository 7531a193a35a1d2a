/*
 * One client connection as the request path sees it (proxy.c, gate.c): who
 * is calling, what its listener allows, and the way back to server.c, which
 * owns the record from accept to close and hands it over as
 * libmicrohttpd's socket context of the connection.
 */
#ifndef ZTP_CLIENT_H
#define ZTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net.h"

#include "access.h"

struct client;

/*
 * libmicrohttpd 0.9.7x's record of each header line, cookie and query
 * parameter, kept in the connection's pool beside the request head.
 */
#define CLIENT_MHD_RECORD 64

/* What server.c does with a connection's deadlines when the request path asks. */
struct client_ops {
	/*
	 * Gives the client ms milliseconds from now to send what (e.g. "the
	 * request body"), or with ms == 0 takes its deadline away.
	 */
	void (*deadline)(struct client *c, const char *what, uint32_t ms);
	/*
	 * The client has finished a request and may send another within ms: it
	 * is idle, and at the connection limit the longest-idle client is closed
	 * to admit a new caller.
	 */
	void (*idle)(struct client *c, uint32_t ms);
};

struct client {
	const struct client_ops *ops;
	bool peer_known; /* on a unix socket: who is calling */
	struct acc_peer peer;
	char addr[192]; /* "127.0.0.1:54321" or "uid 1000 on unix:/x", for logs */
	/* TCP: the address it connected to, as a Host header writes it ("10.1.2.3", "[::1]"). */
	char local[INET6_ADDRSTRLEN + 2];
	/* Its listener's, which outlives the connection. */
	const char *bound; /* the address, for logs */
	bool is_unix;
	bool status_only; /* serves only the status paths (status.listen) */
	const struct acc_ids *allow_uids, *allow_gids;
	size_t pool_size; /* libmicrohttpd's memory per connection */
};

#endif
