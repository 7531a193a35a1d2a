/*
 * Windows: no user or group ids (files are guarded by ACLs, and
 * compat_file_mode() says there are no permission bits to check), and
 * ZeroTier One's home under %ProgramData%.
 */
#include <stdio.h>

#include <windows.h>

#include <knownfolders.h>
#include <shlobj.h>

#include "os.h"
#include "ztp_build.h"

uint64_t os_monotonic_us(void)
{
	static LARGE_INTEGER freq;
	LARGE_INTEGER now;

	/* Both calls always succeed on Windows XP and later. */
	if (freq.QuadPart == 0)
		QueryPerformanceFrequency(&freq);
	QueryPerformanceCounter(&now);
	return (uint64_t)(now.QuadPart / freq.QuadPart) * 1000000 +
	       (uint64_t)(now.QuadPart % freq.QuadPart) * 1000000 / (uint64_t)freq.QuadPart;
}

uint64_t os_monotonic_ms(void)
{
	return os_monotonic_us() / 1000;
}

unsigned long os_pid(void)
{
	return (unsigned long)GetCurrentProcessId();
}

unsigned long os_euid(void)
{
	return 0;
}

void os_user_name(unsigned long uid, char *buf, size_t cap)
{
	snprintf(buf, cap, "uid %lu", uid);
}

enum zt_err os_lookup_id(const char *name, bool group, unsigned long *id)
{
	(void)name;
	(void)group;
	(void)id;
	return ZT_ERR_UNSUPPORTED;
}

static bool is_sep(char c)
{
	return c == '\\' || c == '/';
}

bool os_path_is_absolute(const char *path)
{
	bool drive = ((path[0] >= 'A' && path[0] <= 'Z') || (path[0] >= 'a' && path[0] <= 'z')) &&
	             path[1] == ':';

	return is_sep(path[0]) || (drive && is_sep(path[2]));
}

/*
 * The ProgramData folder is C:\ProgramData unless Windows was set up
 * otherwise. Asked of the shell, not the environment: a service's
 * environment is not a user's, and may not have %ProgramData% at all.
 */
const char *os_zerotier_home(void)
{
	static char home[4 * MAX_PATH];
	wchar_t *pd = NULL;
	char dir[3 * MAX_PATH];
	int n = 0;

	if (home[0] != '\0')
		return home;
	if (SHGetKnownFolderPath(&FOLDERID_ProgramData, KF_FLAG_DEFAULT, NULL, &pd) == S_OK)
		n = WideCharToMultiByte(CP_UTF8, 0, pd, -1, dir, sizeof(dir), NULL, NULL);
	CoTaskMemFree(pd);
	if (n <= 0 || snprintf(home, sizeof(home), "%s\\ZeroTier\\One", dir) >= (int)sizeof(home))
		snprintf(home, sizeof(home), "%s", ZTP_DEFAULT_ZT_HOME);
	return home;
}
