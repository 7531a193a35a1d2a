#include "sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Widest JSON escape of one input byte: "\u00XX" or "\ufffd". */
#define JSON_ESC_MAX 6

void sbuf_init(struct sbuf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void sbuf_free(struct sbuf *b)
{
	free(b->data);
	sbuf_init(b, b->max);
}

bool sbuf_failed(const struct sbuf *b)
{
	return b->failed;
}

/* Makes room for want more bytes and a NUL. */
static bool reserve(struct sbuf *b, size_t want)
{
	size_t need, cap;
	char *p;

	if (b->failed)
		return false;
	if (want >= b->max || b->len + want >= b->max) {
		b->failed = true;
		return false;
	}
	need = b->len + want + 1;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 1024;
	while (cap < need)
		cap *= 2;
	if (cap > b->max)
		cap = b->max;
	if ((p = realloc(b->data, cap)) == NULL) {
		b->failed = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

void sbuf_putn(struct sbuf *b, const char *s, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void sbuf_put(struct sbuf *b, const char *s)
{
	sbuf_putn(b, s, strlen(s));
}

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if (!reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void sbuf_json_string(struct sbuf *b, const char *s)
{
	size_t n;

	if (s == NULL) {
		sbuf_put(b, "null");
		return;
	}
	n = strlen(s);
	if (n > (b->max - 3) / JSON_ESC_MAX) {
		b->failed = true;
		return;
	}
	if (reserve(b, n * JSON_ESC_MAX + 2) &&
	    json_append_string(b->data, b->cap, &b->len, s) != 0)
		b->failed = true;
}

char *sbuf_take(struct sbuf *b, size_t *len)
{
	char *p = b->data;
	size_t n = b->len;

	if (b->failed) {
		free(p);
		p = NULL;
		n = 0;
	} else if (p == NULL) {
		p = strdup(""); /* an empty buffer never allocated */
	}
	sbuf_init(b, b->max);
	if (len != NULL)
		*len = p ? n : 0;
	return p;
}
