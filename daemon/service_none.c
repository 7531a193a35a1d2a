/*
 * No service manager to talk to (launchd and plain supervisors only watch
 * the process): the daemon binds its own sockets and reports nothing.
 */
#include "service.h"

void service_init(void)
{
}

void service_notify(enum service_state state, const char *status)
{
	(void)state;
	(void)status;
}

int service_watchdog(void)
{
	return -1;
}

size_t service_socket_count(void)
{
	return 0;
}

int service_socket(size_t i, const char **name)
{
	(void)i;
	*name = "";
	return -1;
}
