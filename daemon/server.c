#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"
#include "proxy.h"
#include "server.h"

#define LISTEN_BACKLOG 511

static void server_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t len;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	while (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	log_debug("http: %s", line);
}

static void format_addr(const struct sockaddr *sa, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, cap, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, cap, "%s:%u", host, ntohs(s4->sin_port));
	}
}

static int bind_socket(const struct cfg_listen *cl, char *bound, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	int fd, one = 1, saved;

	fd = socket(cl->addr.ss_family, SOCK_STREAM, 0);
	if (fd == -1)
		return -1;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 || fcntl(fd, F_SETFL, O_NONBLOCK) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    (cl->addr.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    bind(fd, (const struct sockaddr *)&cl->addr, cl->addrlen) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	format_addr((struct sockaddr *)&ss, bound, cap);
	return fd;
}

static enum zt_err listener_open(struct app *app, const struct config *cfg,
                                 const struct cfg_listen *cl, struct listener **out)
{
	struct listener *l;
	const union MHD_DaemonInfo *info;
	unsigned idle_s = cfg->client_idle_ms ? (cfg->client_idle_ms + 999) / 1000 : 0;
	int fd;

	if ((l = calloc(1, sizeof(*l))) == NULL || (l->text = strdup(cl->text)) == NULL) {
		free(l);
		return ZT_ERR_NOMEM;
	}
	if ((fd = bind_socket(cl, l->bound, sizeof(l->bound))) == -1) {
		log_errno(LOG_ERROR, "cannot listen on %s", cl->text);
		free(l->text);
		free(l);
		return ZT_ERR_IO;
	}
	l->mhd = MHD_start_daemon(
	    MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	    proxy_access, app, MHD_OPTION_EXTERNAL_LOGGER, server_mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_URI_LOG_CALLBACK, proxy_uri_log, app,
	    MHD_OPTION_NOTIFY_COMPLETED, proxy_completed, app, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, idle_s,
	    MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, MHD_OPTION_END);
	if (l->mhd == NULL ||
	    (info = MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_EPOLL_FD)) == NULL) {
		log_error("cannot start the HTTP server on %s", cl->text);
		if (l->mhd != NULL)
			MHD_stop_daemon(l->mhd);
		close(fd);
		free(l->text);
		free(l);
		return ZT_ERR_IO;
	}
	l->epoll_fd = info->epoll_fd;
	log_info("listening on %s", l->bound);
	*out = l;
	return ZT_OK;
}

static void listener_retire(struct listener *l, uint64_t deadline_ms)
{
	MHD_socket fd;

	if (l->retiring)
		return;
	l->retiring = true;
	l->deadline_ms = deadline_ms;
	if ((fd = MHD_quiesce_daemon(l->mhd)) != MHD_INVALID_SOCKET)
		close(fd);
	log_info("stopped listening on %s", l->bound);
}

static void listener_close(struct listener *l)
{
	MHD_stop_daemon(l->mhd);
	free(l->text);
	free(l);
}

static unsigned listener_connections(const struct listener *l)
{
	const union MHD_DaemonInfo *info =
	    MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return info ? info->num_connections : 0;
}

static struct listener *find_active(struct app *app, const char *text)
{
	for (struct listener *l = app->listeners; l != NULL; l = l->next)
		if (!l->retiring && strcmp(l->text, text) == 0)
			return l;
	return NULL;
}

static bool in_config(const struct config *cfg, const char *text)
{
	for (size_t i = 0; i < cfg->nlisten; i++)
		if (strcmp(cfg->listen[i].text, text) == 0)
			return true;
	return false;
}

enum zt_err server_apply(struct app *app, const struct config *cfg)
{
	struct listener *opened = NULL, *l, *next;
	enum zt_err err = ZT_OK;
	uint64_t deadline = app_now_ms() + cfg->shutdown_ms;

	for (size_t i = 0; i < cfg->nlisten && err == ZT_OK; i++) {
		if (find_active(app, cfg->listen[i].text) != NULL)
			continue;
		if ((err = listener_open(app, cfg, &cfg->listen[i], &l)) == ZT_OK) {
			l->next = opened;
			opened = l;
		}
	}
	if (err != ZT_OK) {
		for (l = opened; l != NULL; l = next) {
			next = l->next;
			listener_close(l);
		}
		return err;
	}
	/* Old listeners stop accepting only now that their successors are bound. */
	for (l = app->listeners; l != NULL; l = l->next)
		if (!l->retiring && !in_config(cfg, l->text))
			listener_retire(l, deadline);
	for (l = opened; l != NULL; l = next) {
		next = l->next;
		l->next = app->listeners;
		app->listeners = l;
	}
	return ZT_OK;
}

void server_quiesce(struct app *app)
{
	uint64_t deadline = app_now_ms() + app->rt->cfg->shutdown_ms;

	for (struct listener *l = app->listeners; l != NULL; l = l->next)
		listener_retire(l, deadline);
}

void server_reap(struct app *app, uint64_t now_ms)
{
	struct listener **pp = &app->listeners, *l;

	while ((l = *pp) != NULL) {
		if (l->retiring && !app->stopping &&
		    (listener_connections(l) == 0 || now_ms >= l->deadline_ms)) {
			proxy_abort(app, l->mhd);
			*pp = l->next;
			listener_close(l);
			continue;
		}
		pp = &l->next;
	}
}

void server_close_all(struct app *app)
{
	struct listener *l, *next;

	proxy_abort(app, NULL);
	for (l = app->listeners; l != NULL; l = next) {
		next = l->next;
		listener_close(l);
	}
	app->listeners = NULL;
}

unsigned server_connections(const struct app *app)
{
	unsigned n = 0;

	for (const struct listener *l = app->listeners; l != NULL; l = l->next)
		n += listener_connections(l);
	return n;
}
