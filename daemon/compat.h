/*
 * Portability shims, so that no other file needs an #ifdef for the platform
 * it runs on. Each one names what is missing where and stands in for it
 * there only; meson's checks (ztp_build.h) decide, not platform names.
 */
#ifndef ZTP_COMPAT_H
#define ZTP_COMPAT_H

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ztp_build.h"

#if !ZTP_HAVE_EXPLICIT_BZERO
/*
 * macOS and NetBSD: a memset called through a volatile pointer, which the
 * compiler cannot prove dead and remove, as it may a memset before free().
 */
static inline void explicit_bzero(void *p, size_t n)
{
	static void *(*const volatile set)(void *, int, size_t) = memset;

	set(p, 0, n);
}
#endif

/* Modification and status-change times: macOS spells them st_mtimespec and st_ctimespec. */
static inline struct timespec compat_mtime(const struct stat *st)
{
#if ZTP_HAVE_ST_MTIM
	return st->st_mtim;
#else
	return st->st_mtimespec;
#endif
}

static inline struct timespec compat_ctime(const struct stat *st)
{
#if ZTP_HAVE_ST_MTIM
	return st->st_ctim;
#else
	return st->st_ctimespec;
#endif
}

/*
 * kqueue (watch_kqueue.c, which includes this after <sys/event.h>): macOS
 * opens watch-only descriptors with O_EVTONLY, so that they do not keep a
 * volume from being unmounted; FreeBSD and NetBSD also report a writer
 * closing a file, elsewhere the writes are debounced instead.
 */
#ifndef O_EVTONLY
#define O_EVTONLY O_RDONLY
#endif
#if defined(EVFILT_VNODE) && !defined(NOTE_CLOSE_WRITE)
#define NOTE_CLOSE_WRITE 0
#endif

#endif
