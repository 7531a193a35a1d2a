/*
 * Stop and reload requests become readable bytes on a descriptor the event
 * loop already waits on: whoever asks only records, the loop acts, and no
 * request is lost between a check and a wait. On POSIX systems they are
 * signals on a pipe (signals.c); on Windows, console control events and the
 * service control handler on a loopback socket pair (signals_win32.c).
 */
#ifndef ZTP_SIGNALS_H
#define ZTP_SIGNALS_H

#include "err.h"

enum sig_event {
	SIG_EV_RELOAD = 1 << 0, /* SIGHUP */
	SIG_EV_STOP = 1 << 1,   /* SIGTERM, SIGINT */
};

/* Installs the handlers (and ignores SIGPIPE where there is one). */
ZT_WUR enum zt_err sig_init(void);
/* Descriptor (a socket on Windows) that becomes readable when an event arrived. */
int sig_fd(void);
/*
 * Records events as if the matching signal had arrived. Safe in a signal
 * handler and from any thread; a no-op before sig_init().
 */
void sig_post(unsigned events);
/* Drains the pipe and returns the enum sig_event bits seen since the last call. */
unsigned sig_take(void);

#endif
