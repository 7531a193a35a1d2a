/*
 * The h1 backend's idle keep-alive connections: which may serve the next
 * request to the same upstream, and when each must be closed. Pure: it
 * holds opaque connection pointers and never touches a socket.
 */
#ifndef ZTP_H1_POOL_H
#define ZTP_H1_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Connections to what: route entry, address and port, as text. */
#define H1_KEY_MAX 320

struct h1_idle {
	void *conn;
	char key[H1_KEY_MAX];
	uint64_t deadline_ms; /* monotonic; closed after it */
};

/* A zeroed struct is an empty pool; at most max idle connections (0: none). */
struct h1_pool {
	struct h1_idle *v; /* oldest first */
	size_t n, cap, max;
};

/* Keeps conn until deadline_ms; false (conn not kept) when full or out of memory. */
ZT_WUR bool h1_pool_put(struct h1_pool *p, void *conn, const char *key, uint64_t deadline_ms);
/* The most recently idle connection for key that is still young at now, or NULL. */
void *h1_pool_take(struct h1_pool *p, const char *key, uint64_t now_ms);
/* Forgets conn (it closed while idle); false when it was not there. */
bool h1_pool_remove(struct h1_pool *p, const void *conn);
/* One connection whose deadline passed at now, taken out of the pool, or NULL. */
void *h1_pool_expired(struct h1_pool *p, uint64_t now_ms);
/* The earliest deadline; UINT64_MAX when the pool is empty. */
uint64_t h1_pool_next_deadline(const struct h1_pool *p);
/* Frees the pool's memory (not the connections). */
void h1_pool_free(struct h1_pool *p);

#endif
