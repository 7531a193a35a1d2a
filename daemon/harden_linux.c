#include <sys/prctl.h>
#include <sys/resource.h>

#include "harden.h"

enum zt_err harden_process(void)
{
	const struct rlimit none = {0, 0};

	/* Not dumpable also keeps same-user processes from ptrace and /proc/PID/mem. */
	if (setrlimit(RLIMIT_CORE, &none) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return ZT_ERR_IO;
	return ZT_OK;
}
