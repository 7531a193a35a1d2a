/*
 * The event handling of the kqueue watcher, kept free of kqueue so that it
 * runs, and is unit-tested, where kqueue does not exist. watch_kqueue.c only
 * opens descriptors, registers them and passes their events on.
 *
 * kqueue reports events on open vnodes, never on names: a directory says "an
 * entry changed", not which one. So a path is watched through one descriptor
 * on each directory whose entries decide what the path leads to (its own
 * directory, the directory of every symlink met while resolving it, or the
 * deepest existing ancestor while a directory on the way does not exist
 * yet), plus one on the file itself for its content. An event on a directory
 * re-resolves the path and reports it if it now leads to another file (or
 * none, or one it can open now); writes to the file are reported once they
 * pause, as kqueue on macOS does not say when the writer closes the file.
 * The file deleted, revoked or renamed is reported at once.
 */
#ifndef ZTP_WATCH_VNODE_H
#define ZTP_WATCH_VNODE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "watch.h"

/* What happened to a vnode: EVFILT_VNODE's NOTE_* flags, which watch_kqueue.c maps onto these. */
enum {
	VNODE_DELETE = 1u << 0, /* unlinked (also when renamed over), or directory removed */
	VNODE_WRITE = 1u << 1,  /* file written; a directory's entries added, removed, renamed */
	VNODE_EXTEND = 1u << 2, /* file grew; on FreeBSD also a directory entry renamed in */
	VNODE_ATTRIB = 1u << 3, /* mode, owner or times changed; a truncation on macOS */
	VNODE_LINK = 1u << 4,   /* link count changed: hard link, subdirectory made or removed */
	VNODE_RENAME = 1u << 5, /* this vnode was renamed */
	VNODE_REVOKE = 1u << 6, /* access revoked, or its file system unmounted */
	VNODE_CLOSE_WRITE = 1u << 7, /* a writer closed it (FreeBSD and NetBSD only) */
};

struct vnode_id {
	dev_t dev;
	ino_t ino;
};

/* How the core opens and closes the descriptors it watches. */
struct vnode_ops {
	/*
	 * Opens path for events, following symlinks (a directory when dir),
	 * and registers it. Returns a handle >= 0 and the vnode's identity, or
	 * -1 with errno set.
	 */
	int (*open)(void *ctx, const char *path, bool dir, struct vnode_id *id);
	/* Stops watching handle; events still queued for it are dropped. */
	void (*close)(void *ctx, int handle);
	void *ctx;
};

struct vnode_set; /* opaque: every entry of one watcher */

/* ops is copied. Free with vnode_set_free(), which closes every handle. */
ZT_WUR enum zt_err vnode_set_new(const struct vnode_ops *ops, struct vnode_set **out);
void vnode_set_free(struct vnode_set *s);

/* watch_add() and watch_remove() (see watch.h); now_ms is CLOCK_MONOTONIC in ms. */
ZT_WUR enum zt_err vnode_add(struct vnode_set *s, const char *path, watch_cb cb, void *arg,
                             int64_t now_ms, struct watch_entry **out);
void vnode_remove(struct vnode_set *s, struct watch_entry *e);

/* Records what happened to handle's vnode; acted on by the next vnode_run(). */
void vnode_event(struct vnode_set *s, int handle, unsigned flags, int64_t now_ms);
/*
 * Re-resolves the paths the events call for and calls the callbacks that are
 * due, each at most once. Callbacks follow watch.h's rules.
 */
void vnode_run(struct vnode_set *s, int64_t now_ms);
/* Milliseconds until vnode_run() has something to do: 0 now, -1 nothing pending. */
int vnode_timeout_ms(const struct vnode_set *s, int64_t now_ms);

#endif
