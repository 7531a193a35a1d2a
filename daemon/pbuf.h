/*
 * A capped byte buffer for data passing through (the proxy's request body,
 * response head and response body): written at wpos, read from rpos, never
 * grown past the max its caller gives.
 */
#ifndef ZTP_PBUF_H
#define ZTP_PBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* Data lives in [rpos, wpos); data is owned. A zeroed struct is empty. */
struct pbuf {
	char *data;
	size_t cap, rpos, wpos;
};

/* Frees the data and leaves b empty. Bodies are not secrets: no wipe. */
void pbuf_free(struct pbuf *b);
/* Moves unread data to the front; afterwards there is cap - wpos room. */
void pbuf_compact(struct pbuf *b);
/* Makes room for want more bytes without growing past max. */
ZT_WUR bool pbuf_reserve(struct pbuf *b, size_t want, size_t max);
/* Appends len bytes; false (b unchanged) when that would pass max or memory ran out. */
ZT_WUR bool pbuf_append(struct pbuf *b, const void *data, size_t len, size_t max);

#endif
