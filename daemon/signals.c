#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "signals.h"

static int sig_pipe[2] = {-1, -1};

void sig_post(unsigned events)
{
	int saved = errno;
	unsigned char ev = (unsigned char)events;

	/* A full pipe already holds an undelivered event: dropping is fine. */
	if (sig_pipe[1] != -1)
		(void)!write(sig_pipe[1], &ev, 1);
	errno = saved;
}

static void sig_handler(int signo)
{
	sig_post(signo == SIGHUP ? SIG_EV_RELOAD : SIG_EV_STOP);
}

enum zt_err sig_init(void)
{
	struct sigaction sa;

	if (pipe(sig_pipe) == -1)
		return ZT_ERR_IO;
	for (int i = 0; i < 2; i++)
		if (fcntl(sig_pipe[i], F_SETFD, FD_CLOEXEC) == -1 ||
		    fcntl(sig_pipe[i], F_SETFL, O_NONBLOCK) == -1)
			return ZT_ERR_IO;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = sig_handler;
	if (sigaction(SIGHUP, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1)
		return ZT_ERR_IO;
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) == -1)
		return ZT_ERR_IO;
	return ZT_OK;
}

int sig_fd(void)
{
	return sig_pipe[0];
}

unsigned sig_take(void)
{
	unsigned char buf[64];
	unsigned events = 0;
	ssize_t n;

	while ((n = read(sig_pipe[0], buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			events |= buf[i];
	return events;
}
