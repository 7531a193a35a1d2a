/*
 * What the POSIX service backends (systemd, none) share: the service
 * manager has no commands of ours to run, and signals reload and stop.
 */
#include "service.h"

int service_command(int argc, char **argv, int (*serve)(const char *config_path))
{
	(void)argc;
	(void)argv;
	(void)serve;
	return -1;
}

const char *service_usage(void)
{
	return "";
}

const char *service_control_help(void)
{
	return "Signals: SIGHUP reloads the configuration and tokens; SIGTERM and SIGINT stop\n"
	       "gracefully.\n";
}
