#include <stdlib.h>
#include <string.h>

#include "h1_pool.h"

static void drop(struct h1_pool *p, size_t i)
{
	memmove(p->v + i, p->v + i + 1, (p->n - i - 1) * sizeof(*p->v));
	p->n--;
}

bool h1_pool_put(struct h1_pool *p, void *conn, const char *key, uint64_t deadline_ms)
{
	size_t klen = strlen(key);

	if (p->n >= p->max || klen >= H1_KEY_MAX)
		return false;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		struct h1_idle *v = realloc(p->v, cap * sizeof(*v));

		if (v == NULL)
			return false;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n].conn = conn;
	memcpy(p->v[p->n].key, key, klen + 1);
	p->v[p->n].deadline_ms = deadline_ms;
	p->n++;
	return true;
}

void *h1_pool_take(struct h1_pool *p, const char *key, uint64_t now_ms)
{
	/* The newest first: the one least likely to have been closed by the server. */
	for (size_t i = p->n; i-- > 0;) {
		void *conn = p->v[i].conn;

		if (p->v[i].deadline_ms <= now_ms || strcmp(p->v[i].key, key) != 0)
			continue;
		drop(p, i);
		return conn;
	}
	return NULL;
}

bool h1_pool_remove(struct h1_pool *p, const void *conn)
{
	for (size_t i = 0; i < p->n; i++) {
		if (p->v[i].conn == conn) {
			drop(p, i);
			return true;
		}
	}
	return false;
}

void *h1_pool_expired(struct h1_pool *p, uint64_t now_ms)
{
	for (size_t i = 0; i < p->n; i++) {
		void *conn = p->v[i].conn;

		if (p->v[i].deadline_ms > now_ms)
			continue;
		drop(p, i);
		return conn;
	}
	return NULL;
}

uint64_t h1_pool_next_deadline(const struct h1_pool *p)
{
	uint64_t first = UINT64_MAX;

	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].deadline_ms < first)
			first = p->v[i].deadline_ms;
	return first;
}

void h1_pool_free(struct h1_pool *p)
{
	free(p->v);
	memset(p, 0, sizeof(*p));
}
