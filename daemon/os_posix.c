#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "os.h"
#include "ztp_build.h"

uint64_t os_monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t os_monotonic_ms(void)
{
	return os_monotonic_us() / 1000;
}

unsigned long os_pid(void)
{
	return (unsigned long)getpid();
}

unsigned long os_euid(void)
{
	return (unsigned long)geteuid();
}

void os_user_name(unsigned long uid, char *buf, size_t cap)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];

	if (getpwuid_r((uid_t)uid, &pw, tmp, sizeof(tmp), &res) == 0 && res != NULL)
		snprintf(buf, cap, "%s (uid %lu)", res->pw_name, uid);
	else
		snprintf(buf, cap, "uid %lu", uid);
}

enum zt_err os_lookup_id(const char *name, bool group, unsigned long *id)
{
	char buf[4096];
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	int rc;

	if (group)
		rc = getgrnam_r(name, &gr, buf, sizeof(buf), &grp);
	else
		rc = getpwnam_r(name, &pw, buf, sizeof(buf), &pwp);
	if (rc != 0) {
		errno = rc;
		return ZT_ERR_IO;
	}
	if (pwp == NULL && grp == NULL)
		return ZT_ERR_NOENT;
	*id = group ? (unsigned long)grp->gr_gid : (unsigned long)pwp->pw_uid;
	return ZT_OK;
}

bool os_path_is_absolute(const char *path)
{
	return path[0] == '/';
}

const char *os_zerotier_home(void)
{
	return ZTP_DEFAULT_ZT_HOME;
}
