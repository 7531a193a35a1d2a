/* What the file-watcher backends share about following symlinks. */
#ifndef ZTP_WATCH_LINK_H
#define ZTP_WATCH_LINK_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Reads the symlink at path, which lives in directory dir, into out (cap
 * bytes) as a path usable from anywhere: a relative target is taken from
 * the link's directory, not from ours. False when path is no longer a link
 * or the result does not fit.
 */
bool watch_link_target(const char *path, const char *dir, char *out, size_t cap);

#endif
