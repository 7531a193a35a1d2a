/*
 * systemd: the notify protocol and socket activation, spoken directly so that
 * the daemon never needs libsystemd. Both are small and stable interfaces
 * (sd_notify(3), sd_listen_fds(3)):
 *
 *   $NOTIFY_SOCKET   an AF_UNIX datagram socket ("@name" is abstract) that
 *                    takes newline-separated KEY=VALUE assignments
 *   $WATCHDOG_USEC   send WATCHDOG=1 more often than this (for $WATCHDOG_PID)
 *   $LISTEN_FDS      that many sockets from fd 3 on, for $LISTEN_PID,
 *   $LISTEN_FDNAMES  named by a colon-separated list
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "service.h"

#define LISTEN_FDS_START 3
/* More sockets than any sensible .socket unit; the rest are left alone. */
#define SERVICE_MAX_SOCKETS 64
/* systemd reads one datagram of up to PIPE_BUF bytes. */
#define NOTIFY_MSG_MAX 4096
/* systemd's own limit on a file descriptor name. */
#define FDNAME_MAX 255

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_addrlen;

static uint64_t watchdog_every_ms; /* half of $WATCHDOG_USEC; 0: no watchdog */
static uint64_t watchdog_next_ms;

static struct passed {
	int fd;
	char name[FDNAME_MAX + 1];
} sockets[SERVICE_MAX_SOCKETS];
static size_t nsockets;

static uint64_t monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * Copies variable name into buf and removes it from the environment.
 * Returns false when it is unset, or too long for buf (logged).
 */
static bool take_env(const char *name, char *buf, size_t cap)
{
	const char *v = getenv(name);
	bool fits = v != NULL && strlen(v) < cap;

	if (v != NULL && !fits)
		log_warn("$%s is longer than %zu bytes; ignored", name, cap - 1);
	if (fits)
		memcpy(buf, v, strlen(v) + 1);
	unsetenv(name);
	return fits;
}

/* A decimal number with nothing around it. */
static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

static bool is_our_pid(const char *s)
{
	uint64_t pid;

	return parse_u64(s, &pid) && pid == (uint64_t)getpid();
}

static void init_notify(void)
{
	char path[sizeof(notify_addr.sun_path) + 1];
	size_t len;

	if (!take_env("NOTIFY_SOCKET", path, sizeof(path)))
		return;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len < 2 || len > sizeof(notify_addr.sun_path)) {
		log_warn("$NOTIFY_SOCKET '%s' is not an AF_UNIX socket path; not notifying the "
		         "service manager",
		         path);
		return;
	}
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, len);
	if (path[0] == '@')
		notify_addr.sun_path[0] = '\0'; /* abstract namespace: no terminating NUL */
	notify_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (notify_fd == -1)
		log_errno(LOG_WARN, "cannot notify the service manager at %s", path);
}

static void init_watchdog(void)
{
	char usec[32], pid[32];
	bool has_pid = take_env("WATCHDOG_PID", pid, sizeof(pid));
	uint64_t v;

	if (!take_env("WATCHDOG_USEC", usec, sizeof(usec)))
		return;
	if (has_pid && !is_our_pid(pid))
		return; /* meant for another process */
	if (!parse_u64(usec, &v) || v == 0) {
		log_warn("$WATCHDOG_USEC '%s' is not a positive number; no watchdog pings", usec);
		return;
	}
	watchdog_every_ms = v / 2000 ? v / 2000 : 1;
}

/* sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1): what libmicrohttpd can accept on. */
static bool is_listening_stream(int fd)
{
	int type = 0, listening = 0;
	socklen_t l1 = sizeof(type), l2 = sizeof(listening);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l1) == 0 && type == SOCK_STREAM &&
	       getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l2) == 0 && listening;
}

static void init_sockets(void)
{
	char pid[32], count[32], names[4096] = "";
	bool has_pid = take_env("LISTEN_PID", pid, sizeof(pid));
	bool has_count = take_env("LISTEN_FDS", count, sizeof(count));
	char *next = names, *name;
	uint64_t n;

	take_env("LISTEN_FDNAMES", names, sizeof(names)); /* names only label the logs */
	if (!has_pid || !has_count)
		return;
	if (!is_our_pid(pid)) {
		log_info("ignoring $LISTEN_FDS: the sockets are for process %s", pid);
		return;
	}
	if (!parse_u64(count, &n)) {
		log_warn("$LISTEN_FDS '%s' is not a number; ignoring passed sockets", count);
		return;
	}
	if (n > SERVICE_MAX_SOCKETS) {
		log_warn("%" PRIu64 " sockets passed; using the first %d", n, SERVICE_MAX_SOCKETS);
		n = SERVICE_MAX_SOCKETS;
	}
	for (int fd = LISTEN_FDS_START; fd < LISTEN_FDS_START + (int)n; fd++) {
		name = strsep(&next, ":");
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
			log_errno(LOG_WARN, "passed socket %d", fd);
			continue;
		}
		if (!is_listening_stream(fd)) {
			log_warn("ignoring passed fd %d ('%s'): not a listening stream socket", fd,
			         name ? name : "");
			close(fd);
			continue;
		}
		sockets[nsockets].fd = fd;
		snprintf(sockets[nsockets].name, sizeof(sockets[nsockets].name), "%s",
		         name ? name : "");
		nsockets++;
	}
}

void service_init(void)
{
	/* Starting over keeps a second call (tests) from mixing old and new state. */
	if (notify_fd != -1)
		close(notify_fd);
	notify_fd = -1;
	watchdog_every_ms = 0;
	watchdog_next_ms = 0;
	nsockets = 0;
	init_notify();
	init_watchdog();
	init_sockets();
}

/* One line: a newline in the status would start another assignment. */
static void append_status(char *msg, size_t cap, size_t *len, const char *status)
{
	int n = snprintf(msg + *len, cap - *len, "STATUS=%.*s", SERVICE_STATUS_MAX, status);
	size_t end = *len + (n < 0 ? 0 : (size_t)n);

	if (end >= cap)
		end = cap - 1;
	for (size_t i = *len; i < end; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	*len = end;
}

static void send_msg(const char *msg, size_t len)
{
	static bool warned;

	if (sendto(notify_fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT,
	           (const struct sockaddr *)&notify_addr, notify_addrlen) == -1 &&
	    !warned) {
		warned = true;
		log_errno(LOG_WARN, "cannot notify the service manager");
	}
}

void service_notify(enum service_state state, const char *status)
{
	char msg[NOTIFY_MSG_MAX];
	size_t len = 0;
	int n = 0;

	if (notify_fd == -1)
		return;
	switch (state) {
	case SERVICE_READY:
		n = snprintf(msg, sizeof(msg), "READY=1\n");
		break;
	case SERVICE_RELOADING:
		/* systemd 253 pairs the reload with this clock reading. */
		n = snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\n",
		             monotonic_usec());
		break;
	case SERVICE_STOPPING:
		n = snprintf(msg, sizeof(msg), "STOPPING=1\n");
		break;
	case SERVICE_STATUS_LINE:
		break;
	}
	len = n > 0 ? (size_t)n : 0;
	if (status != NULL)
		append_status(msg, sizeof(msg), &len, status);
	if (len > 0)
		send_msg(msg, len);
}

int service_watchdog(void)
{
	static const char ping[] = "WATCHDOG=1";
	uint64_t now;

	if (watchdog_every_ms == 0 || notify_fd == -1)
		return -1;
	now = monotonic_usec() / 1000;
	if (now >= watchdog_next_ms) {
		send_msg(ping, sizeof(ping) - 1);
		watchdog_next_ms = now + watchdog_every_ms;
	}
	return watchdog_next_ms - now > INT32_MAX ? INT32_MAX : (int)(watchdog_next_ms - now);
}

size_t service_socket_count(void)
{
	return nsockets;
}

int service_socket(size_t i, const char **name)
{
	*name = sockets[i].name;
	return sockets[i].fd;
}
