/*
 * File watching by polling stat(): the portable fallback, and the reference
 * the event-driven backends are compared against.
 *
 * Every POLL_MS each path is sampled with stat() (through symlinks, so a
 * swapped link or "..data" directory shows as another inode) and lstat() (so
 * a link replaced by an identical-looking one still shows). A changed sample
 * is reported once the next one agrees with it, so a file being written is
 * not read half-way; a path that never settles is reported after
 * SETTLE_POLLS anyway. A missing directory is just another "does not exist"
 * sample.
 *
 * Blind spot: a same-size rewrite of the same inode within the file system's
 * timestamp granularity (a few ms) of the previous sample looks unchanged.
 *
 * Callbacks may call watch_remove() and watch_add(), but not watch_process()
 * or watch_close().
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "compat.h"
#include "watch.h"

#define POLL_MS 50
/* One second of constant change: report it rather than wait forever. */
#define SETTLE_POLLS 20

struct sample {
	int err; /* stat() errno, or 0 */
	dev_t dev;
	ino_t ino;
	off_t size;
	mode_t mode;
	struct timespec mtim, ctim;
	bool link; /* lstat() saw a symlink: its own inode and time count too */
	ino_t link_ino;
	struct timespec link_mtim;
};

struct watch_entry {
	struct watch_entry *next;
	char *path;
	watch_cb cb;
	void *arg;
	struct sample seen;      /* as last reported (or as added) */
	struct sample candidate; /* differs from seen; reported once it holds */
	int settling;            /* polls since the change began, 0: none */
	bool removed;            /* freed when watch_process() returns */
};

struct watch {
	struct watch_entry *entries;
	struct timespec due; /* CLOCK_MONOTONIC time of the next poll */
	bool busy;           /* inside watch_process(): removed entries must stay allocated */
};

const char *watch_backend(void)
{
	return "poll";
}

static void now(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

static void schedule(struct watch *w)
{
	now(&w->due);
	w->due.tv_nsec += POLL_MS * 1000000L;
	if (w->due.tv_nsec >= 1000000000L) {
		w->due.tv_sec++;
		w->due.tv_nsec -= 1000000000L;
	}
}

enum zt_err watch_open(struct watch **out)
{
	struct watch *w = calloc(1, sizeof(*w));

	*out = w;
	if (w == NULL)
		return ZT_ERR_NOMEM;
	schedule(w);
	return ZT_OK;
}

int watch_fd(const struct watch *w)
{
	(void)w;
	return -1;
}

int watch_timeout_ms(const struct watch *w)
{
	struct timespec t;
	long long ns;

	if (w->entries == NULL)
		return -1;
	now(&t);
	ns = (long long)(w->due.tv_sec - t.tv_sec) * 1000000000LL + (w->due.tv_nsec - t.tv_nsec);
	if (ns <= 0)
		return 0;
	/* Rounded up: waking a little early would only spin until the poll is due. */
	return (int)((ns + 999999) / 1000000);
}

static void take_sample(const char *path, struct sample *s)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	if (stat(path, &st) != 0) {
		s->err = errno;
	} else {
		s->dev = st.st_dev;
		s->ino = st.st_ino;
		s->size = st.st_size;
		s->mode = st.st_mode;
		s->mtim = compat_mtime(&st);
		s->ctim = compat_ctime(&st);
	}
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
		s->link = true;
		s->link_ino = st.st_ino;
		s->link_mtim = compat_mtime(&st);
	}
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static bool same(const struct sample *a, const struct sample *b)
{
	return a->err == b->err && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mode == b->mode && same_time(&a->mtim, &b->mtim) &&
	       same_time(&a->ctim, &b->ctim) && a->link == b->link && a->link_ino == b->link_ino &&
	       same_time(&a->link_mtim, &b->link_mtim);
}

static void poll_entry(struct watch_entry *e)
{
	struct sample s;

	take_sample(e->path, &s);
	if (e->settling == 0) {
		if (!same(&s, &e->seen)) {
			e->candidate = s;
			e->settling = 1;
		}
		return;
	}
	if (same(&s, &e->candidate) || e->settling >= SETTLE_POLLS) {
		e->seen = s;
		e->settling = 0;
		e->cb(e->arg);
		return;
	}
	e->candidate = s;
	e->settling++;
}

void watch_process(struct watch *w)
{
	struct watch_entry *e, **pp;

	if (watch_timeout_ms(w) != 0)
		return;
	w->busy = true;
	for (e = w->entries; e != NULL; e = e->next)
		if (!e->removed)
			poll_entry(e);
	w->busy = false;
	for (pp = &w->entries; (e = *pp) != NULL;) {
		if (e->removed) {
			*pp = e->next;
			free(e->path);
			free(e);
		} else {
			pp = &e->next;
		}
	}
	schedule(w);
}

enum zt_err watch_add(struct watch *w, const char *path, watch_cb cb, void *arg,
                      struct watch_entry **out)
{
	struct watch_entry *e = calloc(1, sizeof(*e));

	*out = NULL;
	if (e == NULL)
		return ZT_ERR_NOMEM;
	e->path = strdup(path);
	if (e->path == NULL) {
		free(e);
		return ZT_ERR_NOMEM;
	}
	e->cb = cb;
	e->arg = arg;
	take_sample(path, &e->seen);
	if (w->entries == NULL)
		schedule(w);
	e->next = w->entries;
	w->entries = e;
	*out = e;
	return ZT_OK;
}

void watch_remove(struct watch *w, struct watch_entry *e)
{
	struct watch_entry **pp;

	e->removed = true;
	if (w->busy)
		return;
	for (pp = &w->entries; *pp != e; pp = &(*pp)->next)
		;
	*pp = e->next;
	free(e->path);
	free(e);
}

void watch_close(struct watch *w)
{
	struct watch_entry *e, *next;

	if (w == NULL)
		return;
	for (e = w->entries; e != NULL; e = next) {
		next = e->next;
		free(e->path);
		free(e);
	}
	free(w);
}
