/*
 * Inside the Windows service backend: the names the Service Control Manager
 * and the Event Log know the daemon by, install and uninstall (install.c),
 * and the UTF-8 / UTF-16 conversions both files need at the Win32 boundary.
 */
#ifndef ZTP_SVC_H
#define ZTP_SVC_H

#include <stdbool.h>
#include <stddef.h>
#include <wchar.h>

#define SVC_NAME         L"zt-token-proxy"
#define SVC_DISPLAY_NAME L"ZeroTier token proxy"
#define SVC_DESCRIPTION                                                                            \
	L"Serves ZeroTier's local and Central APIs on localhost with the right token injected."
/* The one message of messages.mc: it shows its first string as it is. */
#define SVC_EVENT_MSG_ID 1
/* Where Event Viewer finds the message table for our events. */
#define SVC_EVENTLOG_KEY L"SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\" SVC_NAME

/*
 * Longest path handled, in UTF-16 units with the NUL. Longer than MAX_PATH,
 * for long-path-aware systems; a path over it is refused with a message.
 */
#define SVC_PATH_MAX 4096

/* Exit statuses of the commands, next to the daemon's own (sysexits(3)). */
#define SVC_EXIT_FAIL  1  /* nothing changed; the message says what to do */
#define SVC_EXIT_USAGE 64 /* bad command line */
#define SVC_EXIT_OSERR 71 /* an unexpected system error */

/*
 * "install [--config FILE]": registers the service to start at boot as
 * LocalSystem, running this executable with "--service [--config FILE]",
 * and the Event Log source. config_path (UTF-8, or NULL for the embedded
 * defaults) must name a readable file; the service gets its absolute path.
 * Prints what it did on stdout, problems on stderr; returns the exit status.
 */
int svc_install(const char *config_path);

/* "uninstall": stops the service if it runs, removes it and the Event Log source. */
int svc_uninstall(void);

/*
 * "reload": asks the running service to reload its configuration and
 * tokens, as "sc control zt-token-proxy paramchange" does.
 */
int svc_reload(void);

/* UTF-8 s into out (cap units). False, with out empty, when it does not fit or is not UTF-8. */
bool svc_widen(const char *s, wchar_t *out, size_t cap);

/* UTF-16 s into out (cap bytes), always terminated; a cut never splits a character. */
void svc_narrow(const wchar_t *s, char *out, size_t cap);

/* "zt-token-proxy: <what>: <system message for err> (error <err>)" on stderr. */
void svc_print_error(const char *what, unsigned long err);

#endif
