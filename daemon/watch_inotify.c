/*
 * File watching with inotify (Linux).
 *
 * inotify watches inodes, not names, so a path is watched through the names
 * that lead to it: its own name in its directory, the name of every symlink
 * met while resolving it (in the symlink's directory), and the final
 * target's name in the target's directory. An event naming one of them, or a
 * watched directory going away, re-resolves the path. This covers symlink
 * swaps of the file, of a directory on the way, and Kubernetes' "..data"
 * rename. A directory that does not exist yet is stood in for by its deepest
 * existing ancestor, watched for the next name down.
 *
 * Every directory is watched with the same mask: inotify_add_watch() on an
 * inode already watched returns the same descriptor and replaces its mask,
 * so entries sharing a directory must not ask for different events. A
 * descriptor is removed only when no live entry uses it any more.
 *
 * Callbacks may call watch_remove() and watch_add(), but not watch_process()
 * or watch_close().
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "watch.h"
#include "watch_link.h"

/*
 * No IN_MODIFY: a rewritten file is reported when its writer closes it, so it
 * is not read half-written. An empty file seen at IN_CREATE is harmless: the
 * token module refuses empty content and keeps the last good value.
 */
#define DIR_EVENTS                                                                                 \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB |        \
	 IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
/* The watched directory itself is gone or elsewhere: its descriptor no longer means the path. */
#define GONE_EVENTS (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT)

/* Names watched per entry; a deeper symlink maze is watched only in part. */
#define NAMES_MAX 12
/* Symlinks followed per entry; also stops loops. */
#define LINKS_MAX 16
/* Reads per watch_process(), so that a flood of events cannot starve the loop. */
#define READS_MAX 16

struct watched_name {
	int wd;      /* -1 once the kernel dropped it (IN_IGNORED) */
	bool report; /* false: an ancestor waiting for the next directory down */
	char name[NAME_MAX + 1];
};

struct watch_entry {
	struct watch_entry *next;
	char *path;
	watch_cb cb;
	void *arg;
	struct watched_name names[NAMES_MAX];
	size_t nnames;
	bool rearm;   /* re-resolve the path after this batch of events */
	bool pending; /* call cb before watch_process() returns */
	bool removed; /* freed when watch_process() returns */
};

struct watch {
	int fd;
	struct watch_entry *entries;
	bool busy; /* inside watch_process(): removed entries must stay allocated */
};

const char *watch_backend(void)
{
	return "inotify";
}

enum zt_err watch_open(struct watch **out)
{
	struct watch *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (w == NULL)
		return ZT_ERR_NOMEM;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		int err = errno;

		free(w);
		errno = err;
		return err == ENOMEM ? ZT_ERR_NOMEM : ZT_ERR_IO;
	}
	*out = w;
	return ZT_OK;
}

int watch_fd(const struct watch *w)
{
	return w->fd;
}

int watch_timeout_ms(const struct watch *w)
{
	(void)w;
	return -1;
}

static bool wd_in_use(const struct watch *w, int wd)
{
	for (const struct watch_entry *e = w->entries; e != NULL; e = e->next) {
		if (e->removed)
			continue;
		for (size_t i = 0; i < e->nnames; i++)
			if (e->names[i].wd == wd)
				return true;
	}
	return false;
}

static void release_wd(struct watch *w, int wd)
{
	if (wd >= 0 && !wd_in_use(w, wd))
		inotify_rm_watch(w->fd, wd);
}

static void add_name(struct watch_entry *e, int wd, const char *name, bool report)
{
	struct watched_name *n;

	for (size_t i = 0; i < e->nnames; i++) {
		n = &e->names[i];
		if (n->wd == wd && strcmp(n->name, name) == 0) {
			n->report |= report;
			return;
		}
	}
	if (e->nnames == NAMES_MAX || strlen(name) > NAME_MAX)
		return;
	n = &e->names[e->nnames++];
	n->wd = wd;
	n->report = report;
	snprintf(n->name, sizeof(n->name), "%s", name);
}

/* Splits path into its directory ("." or "/" at the top) and last name. */
static bool split_path(const char *path, char *dir, char *base)
{
	size_t len = strlen(path);
	const char *slash;

	while (len > 1 && path[len - 1] == '/')
		len--;
	if (len == 0 || len >= PATH_MAX)
		return false;
	slash = memrchr(path, '/', len);
	if (slash == NULL) {
		if (len > NAME_MAX)
			return false;
		strcpy(dir, ".");
		memcpy(base, path, len);
		base[len] = '\0';
		return true;
	}
	if ((size_t)(path + len - slash - 1) > NAME_MAX || slash + 1 == path + len)
		return false;
	memcpy(base, slash + 1, (size_t)(path + len - slash - 1));
	base[path + len - slash - 1] = '\0';
	len = slash == path ? 1 : (size_t)(slash - path);
	memcpy(dir, path, len);
	dir[len] = '\0';
	return true;
}

/* These mean "not there (yet)": wait in an ancestor. Others (ENOSPC: watch limit) are reported. */
static bool absent(int err)
{
	return err == ENOENT || err == ENOTDIR || err == EACCES || err == ELOOP;
}

/*
 * Watches dir for base, or else the deepest existing ancestor for the next
 * name down. dir is used as scratch.
 */
static void watch_dir(struct watch *w, struct watch_entry *e, char *dir, const char *base)
{
	char child[NAME_MAX + 1];
	int wd = inotify_add_watch(w->fd, dir, DIR_EVENTS);

	if (wd >= 0) {
		add_name(e, wd, base, true);
		return;
	}
	while (absent(errno) && strcmp(dir, "/") != 0 && strcmp(dir, ".") != 0) {
		char *slash = strrchr(dir, '/');
		const char *last = slash != NULL ? slash + 1 : dir;
		size_t len = strlen(last);

		if (len > NAME_MAX) {
			errno = ENAMETOOLONG;
			break;
		}
		memcpy(child, last, len + 1);
		if (slash == NULL)
			strcpy(dir, ".");
		else if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (child[0] == '\0')
			continue; /* "a//b" */
		wd = inotify_add_watch(w->fd, dir, DIR_EVENTS);
		if (wd >= 0) {
			add_name(e, wd, child, false);
			return;
		}
	}
	log_errno(LOG_WARN, "cannot watch the directories leading to %s", e->path);
}

static void arm_path(struct watch *w, struct watch_entry *e, const char *path, int *budget);

/* Watches what the symlink at path (in directory dir) points to. */
static void follow_link(struct watch *w, struct watch_entry *e, const char *path, const char *dir,
                        int *budget)
{
	char link[PATH_MAX];

	if (watch_link_target(path, dir, link, sizeof(link)))
		arm_path(w, e, link, budget);
}

/*
 * Watches the names leading to path; *budget counts the symlinks still to
 * follow. The symlinks met on the way are watched in their own directories,
 * since swapping one changes what path means without touching path's
 * directory.
 */
static void arm_path(struct watch *w, struct watch_entry *e, const char *path, int *budget)
{
	char dir[PATH_MAX], base[NAME_MAX + 1];
	struct stat st;
	size_t dlen;

	if (!split_path(path, dir, base))
		return;
	dlen = strlen(dir);
	for (size_t i = 1; i <= dlen && *budget > 0; i++) {
		if (dir[i] != '/' && dir[i] != '\0')
			continue;
		dir[i] = '\0';
		if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode)) {
			(*budget)--;
			arm_path(w, e, dir, budget);
		}
		dir[i] = i < dlen ? '/' : '\0';
	}
	if (*budget > 0 && lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
		(*budget)--;
		follow_link(w, e, path, dir, budget);
	}
	watch_dir(w, e, dir, base);
}

static bool has_name(const struct watched_name *names, size_t n, const struct watched_name *x)
{
	for (size_t i = 0; i < n; i++)
		if (names[i].wd == x->wd && names[i].report == x->report &&
		    strcmp(names[i].name, x->name) == 0)
			return true;
	return false;
}

/*
 * Re-resolves e's path. New watches are added before old ones are released,
 * so a directory still in use keeps its descriptor (and its queued events).
 * A place newly watched may already hold the file (it appeared before the
 * watch did): then the entry is reported.
 */
static void rearm(struct watch *w, struct watch_entry *e)
{
	struct watched_name old[NAMES_MAX];
	size_t nold = e->nnames;
	int budget = LINKS_MAX;
	struct stat st;

	memcpy(old, e->names, nold * sizeof(old[0]));
	e->nnames = 0;
	e->rearm = false;
	arm_path(w, e, e->path, &budget);
	for (size_t i = 0; i < nold; i++)
		release_wd(w, old[i].wd);
	for (size_t i = 0; i < e->nnames; i++)
		if (e->names[i].report && !has_name(old, nold, &e->names[i]) &&
		    stat(e->path, &st) == 0)
			e->pending = true;
}

static void match(struct watch *w, const struct inotify_event *ev)
{
	const char *name = ev->len > 0 ? ev->name : "";

	for (struct watch_entry *e = w->entries; e != NULL; e = e->next) {
		if (e->removed)
			continue;
		if (ev->mask & IN_Q_OVERFLOW) {
			e->rearm = e->pending = true;
			continue;
		}
		for (size_t i = 0; i < e->nnames; i++) {
			struct watched_name *n = &e->names[i];

			if (n->wd != ev->wd)
				continue;
			if (ev->mask & GONE_EVENTS) {
				e->rearm = e->pending = true;
				/* The kernel already dropped it: never pass it to inotify_rm_watch(). */
				if (ev->mask & IN_IGNORED)
					n->wd = -1;
			} else if (strcmp(name, n->name) == 0) {
				e->rearm = true;
				e->pending |= n->report;
			}
		}
	}
}

static void free_entry(struct watch_entry *e)
{
	free(e->path);
	free(e);
}

void watch_process(struct watch *w)
{
	/* Capped, and room for at least one event with the longest name. */
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct watch_entry *e, **pp;

	w->busy = true;
	for (int reads = 0; reads < READS_MAX; reads++) {
		ssize_t n = read(w->fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN)
				log_errno(LOG_WARN, "cannot read file change events");
			break;
		}
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)(void *)p;

			match(w, ev);
			p += sizeof(*ev) + ev->len;
		}
		for (e = w->entries; e != NULL; e = e->next)
			if (e->rearm && !e->removed)
				rearm(w, e);
	}
	for (e = w->entries; e != NULL; e = e->next) {
		if (e->pending && !e->removed) {
			e->pending = false;
			e->cb(e->arg);
		}
	}
	w->busy = false;
	for (pp = &w->entries; (e = *pp) != NULL;) {
		if (e->removed) {
			*pp = e->next;
			free_entry(e);
		} else {
			pp = &e->next;
		}
	}
}

enum zt_err watch_add(struct watch *w, const char *path, watch_cb cb, void *arg,
                      struct watch_entry **out)
{
	struct watch_entry *e;
	char dir[PATH_MAX], base[NAME_MAX + 1];

	*out = NULL;
	if (!split_path(path, dir, base))
		return strlen(path) >= PATH_MAX ? ZT_ERR_TOOBIG : ZT_ERR_INVALID;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return ZT_ERR_NOMEM;
	e->path = strdup(path);
	if (e->path == NULL) {
		free(e);
		return ZT_ERR_NOMEM;
	}
	e->cb = cb;
	e->arg = arg;
	e->next = w->entries;
	w->entries = e;
	rearm(w, e);
	/* The caller reads the file after adding it; only later changes are news. */
	e->pending = false;
	*out = e;
	return ZT_OK;
}

void watch_remove(struct watch *w, struct watch_entry *e)
{
	struct watch_entry **pp;

	e->removed = true;
	for (size_t i = 0; i < e->nnames; i++)
		release_wd(w, e->names[i].wd);
	e->nnames = 0;
	if (w->busy)
		return;
	for (pp = &w->entries; *pp != e; pp = &(*pp)->next)
		;
	*pp = e->next;
	free_entry(e);
}

void watch_close(struct watch *w)
{
	struct watch_entry *e, *next;

	if (w == NULL)
		return;
	for (e = w->entries; e != NULL; e = next) {
		next = e->next;
		free_entry(e);
	}
	close(w->fd);
	free(w);
}
