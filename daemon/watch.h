/*
 * File watching: tells the caller that a path may have changed, so that it
 * re-reads it. Backends live in their own files (watch_inotify.c on Linux,
 * watch_kqueue.c on macOS and the BSDs, watch_win32.c (ReadDirectoryChangesW)
 * on Windows, watch_poll.c everywhere) and meson picks one. A callback may be
 * spurious: the caller compares what it reads.
 *
 * Covered: in-place rewrite (reported once the writer closes the file; on
 * Windows once the writes pause), delete + create, rename over the file,
 * symlink swaps (the file is a symlink, or its directory's entries are
 * swapped as Kubernetes does; not on Windows), and a directory that does not
 * exist yet.
 */
#ifndef ZTP_WATCH_H
#define ZTP_WATCH_H

#include "err.h"

struct watch;       /* opaque: one per event loop */
struct watch_entry; /* opaque: one per watched path */

typedef void (*watch_cb)(void *arg);

/* Creates a watcher; free with watch_close(). */
ZT_WUR enum zt_err watch_open(struct watch **out);
/* Removes every entry and frees the watcher. */
void watch_close(struct watch *w);

/* A descriptor to poll for reading, or -1 if the backend only uses timeouts. */
int watch_fd(const struct watch *w);
/* Milliseconds until watch_process() should be called anyway, or -1 for never. */
int watch_timeout_ms(const struct watch *w);
/*
 * Handles pending events and due polls; calls the callbacks. A callback may
 * call watch_add() and watch_remove() (its own entry included), never
 * watch_process() or watch_close(). Several events for one entry in one call
 * give one callback.
 */
void watch_process(struct watch *w);

/*
 * Watches path; cb(arg) is called after it may have changed. The path is
 * copied. *out is owned by w until watch_remove() or watch_close().
 */
ZT_WUR enum zt_err watch_add(struct watch *w, const char *path, watch_cb cb, void *arg,
                             struct watch_entry **out);
void watch_remove(struct watch *w, struct watch_entry *e);

/* Name of the backend, for logs: "inotify", "poll", ... */
const char *watch_backend(void);

#endif
