/*
 * File watching with kqueue's EVFILT_VNODE (macOS, FreeBSD, OpenBSD, NetBSD,
 * DragonFly).
 *
 * This file only makes the system calls: it opens the descriptors that
 * watch_vnode.c asks for, registers them and hands their events over. What to
 * watch, when to look again and when to report is decided there, where it is
 * unit-tested on Linux with the event sequences the macOS kernel produces.
 *
 * Callbacks may call watch_remove() and watch_add(), but not watch_process()
 * or watch_close().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/event.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "log.h"
#include "watch.h"
#include "watch_vnode.h"

/* Events per kevent() call, and calls per watch_process(), so that a flood cannot starve the loop. */
#define EVENTS_MAX 64
#define READS_MAX  16

static const struct {
	unsigned note, vnode;
} notes[] = {
    {NOTE_DELETE, VNODE_DELETE}, {NOTE_WRITE, VNODE_WRITE},
    {NOTE_EXTEND, VNODE_EXTEND}, {NOTE_ATTRIB, VNODE_ATTRIB},
    {NOTE_LINK, VNODE_LINK},     {NOTE_RENAME, VNODE_RENAME},
    {NOTE_REVOKE, VNODE_REVOKE}, {NOTE_CLOSE_WRITE, VNODE_CLOSE_WRITE},
};

struct watch {
	int kq;
	struct vnode_set *set;
};

const char *watch_backend(void)
{
	return "kqueue";
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned to_vnode(unsigned fflags)
{
	unsigned flags = 0;

	for (size_t i = 0; i < sizeof(notes) / sizeof(notes[0]); i++)
		if (fflags & notes[i].note)
			flags |= notes[i].vnode;
	return flags;
}

static int kq_open(void *ctx, const char *path, bool dir, struct vnode_id *id)
{
	struct watch *w = ctx;
	unsigned fflags = 0;
	struct kevent kev;
	struct stat st;
	int fd, err;

	/* O_NONBLOCK: a FIFO at the path must not block the loop (the token reader does the same). */
	fd = open(path, O_EVTONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (dir ? O_DIRECTORY : 0));
	if (fd < 0)
		return -1;
	for (size_t i = 0; i < sizeof(notes) / sizeof(notes[0]); i++)
		fflags |= notes[i].note;
	EV_SET(&kev, fd, EVFILT_VNODE, EV_ADD | EV_CLEAR, fflags, 0, 0);
	if (fstat(fd, &st) == 0 && kevent(w->kq, &kev, 1, NULL, 0, NULL) == 0) {
		id->dev = st.st_dev;
		id->ino = st.st_ino;
		return fd;
	}
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

static void kq_close(void *ctx, int handle)
{
	(void)ctx;
	close(handle); /* also removes its kevent and any event still queued for it */
}

enum zt_err watch_open(struct watch **out)
{
	struct watch *w = calloc(1, sizeof(*w));
	struct vnode_ops ops = {.open = kq_open, .close = kq_close};
	enum zt_err err;

	*out = NULL;
	if (w == NULL)
		return ZT_ERR_NOMEM;
	w->kq = kqueue();
	if (w->kq < 0) {
		int e = errno;

		free(w);
		errno = e;
		return e == ENOMEM ? ZT_ERR_NOMEM : ZT_ERR_IO;
	}
	/* A kqueue is not inherited across fork(); this only keeps exec() tidy. */
	(void)fcntl(w->kq, F_SETFD, FD_CLOEXEC);
	ops.ctx = w;
	err = vnode_set_new(&ops, &w->set);
	if (err != ZT_OK) {
		close(w->kq);
		free(w);
		return err;
	}
	*out = w;
	return ZT_OK;
}

int watch_fd(const struct watch *w)
{
	return w->kq;
}

int watch_timeout_ms(const struct watch *w)
{
	return vnode_timeout_ms(w->set, now_ms());
}

void watch_process(struct watch *w)
{
	const struct timespec zero = {0, 0};
	struct kevent evs[EVENTS_MAX];
	int64_t now = now_ms();

	for (int reads = 0; reads < READS_MAX; reads++) {
		int n = kevent(w->kq, NULL, 0, evs, EVENTS_MAX, &zero);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_errno(LOG_WARN, "cannot read file change events");
			break;
		}
		for (int i = 0; i < n; i++)
			if (evs[i].filter == EVFILT_VNODE)
				vnode_event(w->set, (int)evs[i].ident, to_vnode(evs[i].fflags),
				            now);
		if (n < EVENTS_MAX)
			break;
	}
	vnode_run(w->set, now);
}

enum zt_err watch_add(struct watch *w, const char *path, watch_cb cb, void *arg,
                      struct watch_entry **out)
{
	return vnode_add(w->set, path, cb, arg, now_ms(), out);
}

void watch_remove(struct watch *w, struct watch_entry *e)
{
	vnode_remove(w->set, e);
}

void watch_close(struct watch *w)
{
	if (w == NULL)
		return;
	vnode_set_free(w->set);
	close(w->kq);
	free(w);
}
