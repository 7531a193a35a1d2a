/*
 * A growable text buffer with a hard cap, for bodies built on the loop
 * thread (status, metrics). Errors are sticky: after an allocation failure
 * or hitting the cap every append is a no-op and sbuf_failed() says so, so
 * callers check once at the end.
 */
#ifndef ZTP_SBUF_H
#define ZTP_SBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct sbuf {
	char *data; /* NUL-terminated when not NULL; owned */
	size_t len, cap, max;
	bool failed;
};

/* An empty buffer that will never hold more than max bytes (NUL included). */
void sbuf_init(struct sbuf *b, size_t max);
void sbuf_free(struct sbuf *b);
bool sbuf_failed(const struct sbuf *b);

void sbuf_put(struct sbuf *b, const char *s);
void sbuf_putn(struct sbuf *b, const char *s, size_t n);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) ZT_PRINTF(2, 3);
/* s as a JSON string literal (json.h's escaping), or null when s is NULL. */
void sbuf_json_string(struct sbuf *b, const char *s);

/*
 * Hands the text over (the caller frees it) and leaves b empty. Returns NULL
 * when the buffer failed; *len, if not NULL, gets the length.
 */
char *sbuf_take(struct sbuf *b, size_t *len);

#endif
