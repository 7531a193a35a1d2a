/*
 * The h1 backend's response side (daemon/h1_resp.c, on llhttp), fed a
 * byte stream twice: whole, then split at points the input chooses. What
 * its reader sees (heads, headers, body bytes, the end state, the bytes
 * used) must be the same both ways, and nothing may crash or leak.
 *
 * Input: byte 0 flags (bit 0: the request was HEAD; bit 1: the
 * connection closes after the stream), byte 1 a split seed, then the
 * stream.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h1_resp.h"

/* A trace of the callbacks, compared between the two runs. */
struct trace {
	char buf[16384];
	size_t len;
	int head_ends;
};

static void put(struct trace *t, const void *data, size_t n)
{
	if (n > sizeof(t->buf) - t->len)
		n = sizeof(t->buf) - t->len;
	memcpy(t->buf + t->len, data, n);
	t->len += n;
}

static void on_begin(void *arg)
{
	put(arg, "B", 1);
}

static bool on_header(void *arg, const char *name, size_t namelen, const char *value,
                      size_t valuelen)
{
	put(arg, "H", 1);
	put(arg, name, namelen);
	put(arg, ":", 1);
	put(arg, value, valuelen);
	return true;
}

static void on_head_end(void *arg, int status)
{
	struct trace *t = arg;

	if (status < 200 || status > 999)
		abort(); /* interim heads must never reach the reader */
	t->head_ends++;
	put(t, "E", 1);
	put(t, &status, sizeof(status));
}

static void on_body(void *arg, const char *data, size_t len)
{
	put(arg, data, len); /* body bytes: split or not, the same run of bytes */
}

static const struct h1_resp_cb cb = {on_begin, on_header, on_head_end, on_body};

static enum h1_resp_state run(const uint8_t *data, size_t n, bool head, bool eof, uint8_t seed,
                              struct trace *t, size_t *used_total)
{
	struct h1_resp r = {0};
	enum h1_resp_state st = H1R_MORE;
	size_t at = 0;
	unsigned x = seed;

	h1_resp_init(&r, head, &cb, t);
	*used_total = 0;
	while (at < n && st == H1R_MORE) {
		size_t piece = n - at, used;

		if (seed != 0) {
			x = x * 1103515245u + 12345u;
			piece = 1 + (x >> 16) % (piece < 64 ? piece : 64);
		}
		st = h1_resp_feed(&r, (const char *)data + at, piece, &used);
		if (used > piece)
			abort();
		*used_total += used;
		at += piece;
	}
	if (st == H1R_MORE && eof)
		st = h1_resp_eof(&r);
	if (st == H1R_ERROR && h1_resp_error(&r) == NULL)
		abort();
	if (st == H1R_DONE && t->head_ends != 1)
		abort(); /* a complete response had exactly one final head */
	if (st == H1R_DONE)
		(void)h1_resp_keep_alive(&r);
	h1_resp_free(&r);
	return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct trace whole, split;
	enum h1_resp_state a, b;
	size_t used_a, used_b;

	if (size < 2)
		return 0;
	memset(&whole, 0, sizeof(whole));
	memset(&split, 0, sizeof(split));
	a = run(data + 2, size - 2, data[0] & 1, data[0] & 2, 0, &whole, &used_a);
	b = run(data + 2, size - 2, data[0] & 1, data[0] & 2, data[1] | 1, &split, &used_b);
	/* An error may be found at a different byte, but never only one way. */
	if (a != b || whole.head_ends != split.head_ends)
		abort();
	if (a == H1R_DONE && used_a != used_b)
		abort();
	if (a != H1R_ERROR &&
	    (whole.len != split.len || memcmp(whole.buf, split.buf, whole.len) != 0))
		abort();
	return 0;
}
