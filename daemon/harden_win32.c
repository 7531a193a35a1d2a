/*
 * Windows has no core files, but Windows Error Reporting can send or keep a
 * dump of a crashed process, and the tokens live in its heap: reports leave
 * the heap out, and no crash dialog waits for a click on a service.
 */
#include <windows.h>

#include "harden.h"

/* kernel32's; mingw-w64's <werapi.h> does not compile on its own. */
#define WER_FAULT_REPORTING_FLAG_NOHEAP 1
HRESULT WINAPI WerSetFlags(DWORD flags);

enum zt_err harden_process(void)
{
	SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX);
	return SUCCEEDED(WerSetFlags(WER_FAULT_REPORTING_FLAG_NOHEAP)) ? ZT_OK : ZT_ERR_IO;
}
