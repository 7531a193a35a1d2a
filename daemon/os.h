/*
 * The process and user facts that differ between POSIX systems and
 * Windows: os_posix.c and os_win32.c, and meson picks one.
 */
#ifndef ZTP_OS_H
#define ZTP_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Microseconds and milliseconds on a clock that never goes back. */
uint64_t os_monotonic_us(void);
uint64_t os_monotonic_ms(void);

unsigned long os_pid(void);

/* The effective user id (Windows has none: 0, and no file has an owner uid there). */
unsigned long os_euid(void);

/* "alice (uid 1000)", or "uid 1000" for a uid without a name. */
void os_user_name(unsigned long uid, char *buf, size_t cap);

/*
 * The id of the user (or group) called name: ZT_ERR_NOENT when there is
 * none, ZT_ERR_UNSUPPORTED without users and groups (Windows), ZT_ERR_IO
 * with errno set when the lookup failed.
 */
ZT_WUR enum zt_err os_lookup_id(const char *name, bool group, unsigned long *id);

/*
 * Whether path does not depend on the working directory: "/..." on POSIX;
 * "C:\...", "C:/...", "\\server\share\..." or one rooted on the current
 * drive ("\..." or "/...") on Windows.
 */
bool os_path_is_absolute(const char *path);

/*
 * Where ZeroTier One keeps its files when $ZEROTIER_HOME is not set
 * (Windows: under %ProgramData%). Returns a static string.
 */
const char *os_zerotier_home(void);

#endif
