/*
 * One HTTP/1.1 response read off an upstream connection, every byte parsed
 * by llhttp: the head (1xx heads skipped, 101 refused), then the body by
 * its framing (Content-Length, chunked, or up to the connection's close),
 * none for HEAD, 204 and 304. The caller feeds bytes as they arrive, split
 * anywhere; the parse does not depend on where (tests/fuzz/fuzz_h1.c).
 */
#ifndef ZTP_H1_RESP_H
#define ZTP_H1_RESP_H

#include <stdbool.h>
#include <stddef.h>

#include <llhttp.h>

#include "pbuf.h"

/* What the response hands its reader; arg is h1_resp_init's. */
struct h1_resp_cb {
	/* A head begins (an interim 1xx one too): forget the headers of the last. */
	void (*begin)(void *arg);
	/* One header, value without surrounding blanks; false refuses the response. */
	bool (*header)(void *arg, const char *name, size_t namelen, const char *value,
	               size_t valuelen);
	/* The final head is complete; its status. */
	void (*head_end)(void *arg, int status);
	/* Body bytes, de-chunked. */
	void (*body)(void *arg, const char *data, size_t len);
};

enum h1_resp_state {
	H1R_MORE,  /* all bytes used; the response goes on */
	H1R_DONE,  /* the final response is complete */
	H1R_ERROR, /* not HTTP/1.x as we take it: h1_resp_error() says why */
};

struct h1_resp {
	llhttp_t parser;
	const struct h1_resp_cb *cb;
	void *arg;
	bool head_request;
	bool done;
	int status;          /* of the final response; 0 before its head */
	struct pbuf hline;   /* the header being parsed: name, then value */
	size_t hname_len;    /* name bytes at the front of hline */
	const char *refusal; /* why a callback refused the response */
};

/* Ready for the response to a request; head_request: it was HEAD. Owns nothing yet. */
void h1_resp_init(struct h1_resp *r, bool head_request, const struct h1_resp_cb *cb, void *arg);
/*
 * Parses n more bytes. H1R_DONE sets *used to the bytes that belonged to
 * the response (fewer than n: the server sent more than one response).
 */
enum h1_resp_state h1_resp_feed(struct h1_resp *r, const char *data, size_t n, size_t *used);
/* The connection closed: H1R_DONE when that ends a close-delimited body. */
enum h1_resp_state h1_resp_eof(struct h1_resp *r);
/* After H1R_DONE: whether the server keeps the connection open. */
bool h1_resp_keep_alive(const struct h1_resp *r);
const char *h1_resp_error(const struct h1_resp *r);
/* Frees what it holds; init makes it usable again. */
void h1_resp_free(struct h1_resp *r);

#endif
