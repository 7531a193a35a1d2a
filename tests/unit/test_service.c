/*
 * The systemd backend in-process: the test binds the notify socket and
 * places the "passed" sockets at fd 3 on, as systemd would.
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "service.h"

static char tmpdir[64];

static int bind_notify(const char *name, struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	socklen_t len;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", name);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
	if (name[0] == '@')
		sa->sun_path[0] = '\0';
	if (fd == -1 || bind(fd, (struct sockaddr *)sa, len) == -1)
		return -1;
	return fd;
}

/* The next datagram (waiting up to 1 s), or "" when none came. */
static const char *next_msg(int fd)
{
	static char buf[8192];
	struct timeval tv = {1, 0};
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int pending(int fd)
{
	char c;

	return recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) >= 0;
}

static unsigned long long now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000 + (unsigned long long)ts.tv_nsec / 1000;
}

/* Moves fd to target (which must be free), as a service manager passes it. */
static void place(int fd, int target)
{
	CHECK(fcntl(target, F_GETFD) == -1);
	CHECK(dup2(fd, target) == target);
	close(fd);
}

/* Runs first, while fds 3 and 4 are still free. */
static void test_passed_sockets(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int lst = socket(AF_INET, SOCK_STREAM, 0), udp = socket(AF_INET, SOCK_DGRAM, 0);
	int high_l = fcntl(lst, F_DUPFD, 20), high_u = fcntl(udp, F_DUPFD, 30);
	char pid[32];
	const char *name = NULL;

	close(lst);
	close(udp);
	CHECK(bind(high_l, (struct sockaddr *)&sin, sizeof(sin)) == 0 && listen(high_l, 4) == 0);
	place(high_l, 3);
	place(high_u, 4);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "2", 1);
	setenv("LISTEN_FDNAMES", "web:junk", 1);
	service_init();
	CHECK(service_socket_count() == 1);
	CHECK(service_socket(0, &name) == 3);
	CHECK_STR(name, "web");
	CHECK((fcntl(3, F_GETFD) & FD_CLOEXEC) != 0);
	CHECK(fcntl(4, F_GETFD) == -1); /* not a listening stream socket: closed */
	CHECK(getenv("LISTEN_PID") == NULL && getenv("LISTEN_FDS") == NULL &&
	      getenv("LISTEN_FDNAMES") == NULL);
	close(3);
}

static void test_sockets_for_another_process(void)
{
	setenv("LISTEN_PID", "1", 1);
	setenv("LISTEN_FDS", "1", 1);
	service_init();
	CHECK(service_socket_count() == 0);
	CHECK(getenv("LISTEN_PID") == NULL && getenv("LISTEN_FDS") == NULL);
}

static void test_notify_messages(void)
{
	char path[128];
	struct sockaddr_un sa;
	int fd;
	unsigned long long before, after, usec = 0;
	const char *m;

	snprintf(path, sizeof(path), "%s/notify", tmpdir);
	CHECK((fd = bind_notify(path, &sa)) != -1);
	setenv("NOTIFY_SOCKET", path, 1);
	service_init();
	CHECK(getenv("NOTIFY_SOCKET") == NULL);

	service_notify(SERVICE_READY, "2 routes\nREADY=1");
	CHECK_STR(next_msg(fd), "READY=1\nSTATUS=2 routes?READY=1");
	before = now_usec();
	service_notify(SERVICE_RELOADING, "reloading");
	after = now_usec();
	m = next_msg(fd);
	CHECK(sscanf(m, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading", &usec) == 1);
	CHECK(before <= usec && usec <= after);
	service_notify(SERVICE_STOPPING, NULL);
	CHECK_STR(next_msg(fd), "STOPPING=1\n");
	service_notify(SERVICE_STATUS_LINE, "x");
	CHECK_STR(next_msg(fd), "STATUS=x");
	CHECK(service_watchdog() == -1); /* not asked for */
	CHECK(!pending(fd));
	close(fd);
	unlink(path);
}

static void test_abstract_socket(void)
{
	char name[64];
	struct sockaddr_un sa;
	int fd;

	snprintf(name, sizeof(name), "@ztp-test-service-%d", (int)getpid());
	CHECK((fd = bind_notify(name, &sa)) != -1);
	setenv("NOTIFY_SOCKET", name, 1);
	service_init();
	service_notify(SERVICE_READY, NULL);
	CHECK_STR(next_msg(fd), "READY=1\n");
	close(fd);
}

static void test_unusable_notify_socket(void)
{
	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	service_init();
	CHECK(getenv("NOTIFY_SOCKET") == NULL);
	service_notify(SERVICE_READY, "ignored"); /* nothing to send to, nothing breaks */
}

static void test_watchdog(void)
{
	char path[128], pid[32];
	struct sockaddr_un sa;
	int fd, ms;

	snprintf(path, sizeof(path), "%s/wd", tmpdir);
	CHECK((fd = bind_notify(path, &sa)) != -1);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());

	setenv("NOTIFY_SOCKET", path, 1);
	setenv("WATCHDOG_USEC", "400000", 1);
	setenv("WATCHDOG_PID", pid, 1);
	service_init();
	CHECK(getenv("WATCHDOG_USEC") == NULL && getenv("WATCHDOG_PID") == NULL);
	ms = service_watchdog(); /* the first one is due at once */
	CHECK(ms > 150 && ms <= 200);
	CHECK_STR(next_msg(fd), "WATCHDOG=1");
	ms = service_watchdog(); /* not again before half the interval */
	CHECK(ms > 0 && ms <= 200);
	CHECK(!pending(fd));

	setenv("NOTIFY_SOCKET", path, 1);
	setenv("WATCHDOG_USEC", "400000", 1);
	setenv("WATCHDOG_PID", "1", 1);
	service_init();
	CHECK(service_watchdog() == -1);

	setenv("NOTIFY_SOCKET", path, 1);
	setenv("WATCHDOG_USEC", "1", 1); /* shorter than a millisecond: every millisecond */
	service_init();
	CHECK(service_watchdog() == 1);
	CHECK_STR(next_msg(fd), "WATCHDOG=1");

	setenv("NOTIFY_SOCKET", path, 1);
	setenv("WATCHDOG_USEC", "soon", 1);
	service_init();
	CHECK(service_watchdog() == -1);
	close(fd);
	unlink(path);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ztp-test-service-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	RUN(test_passed_sockets);
	RUN(test_sockets_for_another_process);
	RUN(test_notify_messages);
	RUN(test_abstract_socket);
	RUN(test_unusable_notify_socket);
	RUN(test_watchdog);
	service_init(); /* closes the notify socket */
	rmdir(tmpdir);
	return CHECK_DONE();
}
