/*
 * A stand-in for the BSD <sys/event.h>, used only to compile (never to link
 * or run) daemon/watch_kqueue.c where kqueue does not exist, so that the file
 * stays warning-free under this tree's flags. Names and types follow the
 * macOS header; like macOS, it has no NOTE_CLOSE_WRITE.
 */
#ifndef ZTP_SHIM_SYS_EVENT_H
#define ZTP_SHIM_SYS_EVENT_H

#include <stdint.h>
#include <time.h>

struct kevent {
	uintptr_t ident;
	int16_t filter;
	uint16_t flags;
	uint32_t fflags;
	intptr_t data;
	void *udata;
};

#define EVFILT_VNODE (-4)

#define EV_ADD   0x0001
#define EV_CLEAR 0x0020

#define NOTE_DELETE 0x00000001
#define NOTE_WRITE  0x00000002
#define NOTE_EXTEND 0x00000004
#define NOTE_ATTRIB 0x00000008
#define NOTE_LINK   0x00000010
#define NOTE_RENAME 0x00000020
#define NOTE_REVOKE 0x00000040

#define EV_SET(kevp, a, b, c, d, e, f)                                                             \
	do {                                                                                       \
		struct kevent *kevent_p_ = (kevp);                                                 \
		kevent_p_->ident = (a);                                                            \
		kevent_p_->filter = (b);                                                           \
		kevent_p_->flags = (c);                                                            \
		kevent_p_->fflags = (d);                                                           \
		kevent_p_->data = (e);                                                             \
		kevent_p_->udata = (f);                                                            \
	} while (0)

int kqueue(void);
int kevent(int kq, const struct kevent *changelist, int nchanges, struct kevent *eventlist,
           int nevents, const struct timespec *timeout);

#endif
