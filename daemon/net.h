/*
 * The socket headers: POSIX's, or Winsock's. Every file that needs socket
 * types includes this instead, so that none of them names a platform.
 */
#ifndef ZTP_NET_H
#define ZTP_NET_H

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>

#include <afunix.h>
#else
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#endif

#endif
