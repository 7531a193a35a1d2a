#include <sys/resource.h>

#include "harden.h"

enum zt_err harden_process(void)
{
	const struct rlimit none = {0, 0};

	return setrlimit(RLIMIT_CORE, &none) == 0 ? ZT_OK : ZT_ERR_IO;
}
