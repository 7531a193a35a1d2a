/*
 * Process hardening done once at start-up: no core dumps (a core file would
 * hold the tokens) and, where the platform has it, no ptrace or /proc
 * access by other processes of the same user. harden_linux.c uses
 * prctl(PR_SET_DUMPABLE); harden_posix.c only the core size limit.
 */
#ifndef ZTP_HARDEN_H
#define ZTP_HARDEN_H

#include "err.h"

/* On failure errno says why; the caller logs and goes on (it is defence in depth). */
ZT_WUR enum zt_err harden_process(void);

#endif
