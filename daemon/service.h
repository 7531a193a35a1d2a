/*
 * Service-manager glue: tells the supervisor how the daemon is doing, pings
 * its watchdog, and hands over the listening sockets it opened for us.
 *
 * One backend per platform implements the first half of this header
 * (service_systemd.c speaks systemd's notify protocol and socket activation
 * without libsystemd; service_none.c, for platforms without such a manager,
 * does nothing) and meson picks it. service.c, common to every backend,
 * builds the status line from the daemon's state.
 */
#ifndef ZTP_SERVICE_H
#define ZTP_SERVICE_H

#include <stddef.h>

/* Longest status line sent; longer ones are cut and end in "...". */
#define SERVICE_STATUS_MAX 1024

enum service_state {
	SERVICE_READY,       /* start-up or a reload finished (also a failed one): serving */
	SERVICE_RELOADING,   /* a reload started */
	SERVICE_STOPPING,    /* shutdown started */
	SERVICE_STATUS_LINE, /* only the status line changed */
};

/* --- Backend (service_<platform>.c) --- */

/*
 * The service manager's own commands, tried before the daemon's command
 * line. Windows has "install [--config FILE]", "uninstall", and "--service
 * [--config FILE]", which the Service Control Manager runs and which calls
 * serve(config_path) as the service. Returns the exit status, or -1 when
 * argv is none of them (always, on the other platforms).
 */
int service_command(int argc, char **argv, int (*serve)(const char *config_path));

/* For --help: usage lines of those commands ("" if none), and how to reload and stop. */
const char *service_usage(void);
const char *service_control_help(void);

/*
 * Reads what the service manager passed in the environment and removes it,
 * so that nothing the daemon starts inherits it. Call before anything else
 * is opened; a second call starts over (passed sockets not taken stay
 * open). Problems are logged; the daemon then runs without them.
 */
void service_init(void);

/*
 * Tells the service manager the state and, when status is not NULL, a
 * one-line status (control characters are replaced; never put a secret in
 * it). Does nothing when no service manager listens.
 */
void service_notify(enum service_state state, const char *status);

/*
 * Sends a watchdog ping when one is due (every half of the interval the
 * service manager asked for). Returns the milliseconds until the next one is
 * due, or -1 when no watchdog is wanted. Call on every turn of the loop.
 */
int service_watchdog(void);

/* Number of listening sockets the service manager passed (0: bind our own). */
size_t service_socket_count(void);

/*
 * The i-th passed socket (i < service_socket_count()): a listening stream
 * socket, close-on-exec. The caller owns it from now on. *name is its name
 * from LISTEN_FDNAMES (or "" when unnamed), valid for the process lifetime.
 */
int service_socket(size_t i, const char **name);

/* --- Common (service.c) --- */

struct app;

/*
 * Sends state with a status line built from app: what it serves and each
 * token's state, e.g. "3 routes on 2 listeners; local ok; central: $X is not
 * set". note, when not NULL, leads the line.
 */
void service_report(const struct app *app, enum service_state state, const char *note);

/* Something the status line shows changed; the next service_tick() sends it. */
void service_changed(void);

/*
 * Once per turn of the event loop: sends a pending status line and a due
 * watchdog ping. Returns the milliseconds until the next ping, or -1.
 */
int service_tick(const struct app *app);

#endif
