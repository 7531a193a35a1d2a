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

/*
 * open() flags: Windows has no O_CLOEXEC (O_NOINHERIT says the same),
 * O_NOCTTY or O_NONBLOCK, and needs O_BINARY so that reads are not
 * translated; POSIX has no O_BINARY.
 */
#ifndef O_BINARY
#define O_BINARY 0
#endif
#if !defined(O_CLOEXEC) && defined(O_NOINHERIT)
#define O_CLOEXEC O_NOINHERIT
#endif
#ifndef O_NOCTTY
#define O_NOCTTY 0
#endif
#ifndef O_NONBLOCK
#define O_NONBLOCK 0
#endif

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

/*
 * Modification and status-change times: macOS spells them st_mtimespec and
 * st_ctimespec; Windows has whole seconds only.
 */
static inline struct timespec compat_mtime(const struct stat *st)
{
#if ZTP_HAVE_ST_MTIM
	return st->st_mtim;
#elif ZTP_HAVE_ST_MTIMESPEC
	return st->st_mtimespec;
#else
	return (struct timespec){.tv_sec = st->st_mtime};
#endif
}

static inline struct timespec compat_ctime(const struct stat *st)
{
#if ZTP_HAVE_ST_MTIM
	return st->st_ctim;
#elif ZTP_HAVE_ST_MTIMESPEC
	return st->st_ctimespec;
#else
	return (struct timespec){.tv_sec = st->st_ctime};
#endif
}

/* The time of day for log lines: mingw-w64's C runtime has no timespec_get(). */
#if !ZTP_HAVE_TIMESPEC_GET
#include <sys/time.h>
#define TIME_UTC 1
static inline int timespec_get(struct timespec *ts, int base)
{
	struct timeval tv;

	if (base != TIME_UTC || gettimeofday(&tv, NULL) != 0)
		return 0;
	ts->tv_sec = tv.tv_sec;
	ts->tv_nsec = (long)tv.tv_usec * 1000;
	return base;
}
#endif

/*
 * A file's permission bits, or -1 where none mean anything: on Windows ACLs
 * decide, and stat() makes the bits up from the read-only attribute.
 */
static inline int compat_file_mode(const struct stat *st)
{
#if ZTP_HAVE_FILE_MODES
	return (int)(st->st_mode & 07777);
#else
	(void)st;
	return -1;
#endif
}

/* Windows has no user and group ids; access.h's peer ids are only ever compared. */
#if !ZTP_HAVE_UID_T
typedef unsigned uid_t;
typedef unsigned gid_t;
#endif

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
