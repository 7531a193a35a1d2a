/*
 * Stop and reload requests on Windows. Ctrl-C, Ctrl-Break and the end of
 * the console session stop; the service control handler posts its own with
 * sig_post(). Both run on threads of their own, and the event loop can only
 * wait on sockets here: the requested events are or-ed into a word, and a
 * datagram on a loopback socket pair wakes the loop. The pair is connected
 * both ways, so nothing but our own end can send to it.
 */
#include <string.h>

#include "net.h"
#include "signals.h"

static SOCKET wake_rd = INVALID_SOCKET, wake_wr = INVALID_SOCKET;
static volatile LONG pending;

void sig_post(unsigned events)
{
	char byte = 1;

	InterlockedOr(&pending, (LONG)events);
	/* A full socket buffer already holds a wake-up: dropping is fine. */
	if (wake_wr != INVALID_SOCKET)
		(void)send(wake_wr, &byte, 1, 0);
}

static BOOL WINAPI console_event(DWORD type)
{
	switch (type) {
	case CTRL_C_EVENT:
	case CTRL_BREAK_EVENT:
	case CTRL_CLOSE_EVENT:
	case CTRL_SHUTDOWN_EVENT:
		sig_post(SIG_EV_STOP);
		return TRUE;
	default:
		return FALSE;
	}
}

static SOCKET loopback_udp(struct sockaddr_in *addr)
{
	int len = sizeof(*addr);
	u_long on = 1;
	SOCKET s =
	    WSASocketW(AF_INET, SOCK_DGRAM, IPPROTO_UDP, NULL, 0, WSA_FLAG_NO_HANDLE_INHERIT);

	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s != INVALID_SOCKET && (bind(s, (struct sockaddr *)addr, sizeof(*addr)) != 0 ||
	                            getsockname(s, (struct sockaddr *)addr, &len) != 0 ||
	                            ioctlsocket(s, FIONBIO, &on) != 0)) {
		closesocket(s);
		s = INVALID_SOCKET;
	}
	return s;
}

enum zt_err sig_init(void)
{
	struct sockaddr_in rd_addr, wr_addr;
	WSADATA wsa;
	SOCKET rd, wr;

	if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0)
		return ZT_ERR_IO;
	rd = loopback_udp(&rd_addr);
	wr = loopback_udp(&wr_addr);
	if (rd == INVALID_SOCKET || wr == INVALID_SOCKET ||
	    connect(rd, (struct sockaddr *)&wr_addr, sizeof(wr_addr)) != 0 ||
	    connect(wr, (struct sockaddr *)&rd_addr, sizeof(rd_addr)) != 0) {
		if (rd != INVALID_SOCKET)
			closesocket(rd);
		if (wr != INVALID_SOCKET)
			closesocket(wr);
		return ZT_ERR_IO;
	}
	wake_rd = rd;
	wake_wr = wr;
	/* Fails only without a console, where there is no Ctrl-C to catch. */
	(void)SetConsoleCtrlHandler(console_event, TRUE);
	return ZT_OK;
}

int sig_fd(void)
{
	return (int)wake_rd;
}

unsigned sig_take(void)
{
	char buf[64];

	while (recv(wake_rd, buf, sizeof(buf), 0) > 0)
		;
	return (unsigned)InterlockedExchange(&pending, 0);
}
