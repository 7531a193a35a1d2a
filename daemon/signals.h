/*
 * Signals become readable bytes on a pipe the event loop already waits on:
 * the handlers only record, the loop acts, and no signal is lost between a
 * check and a wait.
 */
#ifndef ZTP_SIGNALS_H
#define ZTP_SIGNALS_H

#include "err.h"

enum sig_event {
	SIG_EV_RELOAD = 1 << 0, /* SIGHUP */
	SIG_EV_STOP = 1 << 1,   /* SIGTERM, SIGINT */
};

/* Installs the handlers and ignores SIGPIPE. */
ZT_WUR enum zt_err sig_init(void);
/* Descriptor that becomes readable when a signal arrived. */
int sig_fd(void);
/* Drains the pipe and returns the enum sig_event bits seen since the last call. */
unsigned sig_take(void);

#endif
