#include <stdlib.h>
#include <string.h>

#include "pbuf.h"

void pbuf_free(struct pbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Moves unread data to the front; afterwards there is cap - wpos room. */
void pbuf_compact(struct pbuf *b)
{
	if (b->rpos == 0)
		return;
	memmove(b->data, b->data + b->rpos, b->wpos - b->rpos);
	b->wpos -= b->rpos;
	b->rpos = 0;
}

/* Makes room for want more bytes without growing past max. */
bool pbuf_reserve(struct pbuf *b, size_t want, size_t max)
{
	size_t need = b->wpos + want, cap;
	char *p;

	if (need <= b->cap)
		return true;
	if (need > max)
		return false;
	cap = b->cap ? b->cap : 4096;
	while (cap < need)
		cap *= 2;
	if (cap > max)
		cap = max;
	if ((p = realloc(b->data, cap)) == NULL)
		return false;
	b->data = p;
	b->cap = cap;
	return true;
}

bool pbuf_append(struct pbuf *b, const void *data, size_t len, size_t max)
{
	if (len == 0)
		return true; /* an empty buffer has no data to memcpy to */
	if (!pbuf_reserve(b, len, max))
		return false;
	memcpy(b->data + b->wpos, data, len);
	b->wpos += len;
	return true;
}
