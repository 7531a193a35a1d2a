#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "client.h"
#include "log.h"
#include "now.h"
#include "peercred.h"
#include "proxy.h"
#include "server.h"
#include "service.h"
#include "sock.h"
#include "ztp_build.h"

/* One libmicrohttpd daemon on one address. */
struct listener {
	struct listener *next;
	char *text;      /* address as configured */
	char bound[128]; /* address actually bound, for logs */
	struct MHD_Daemon *mhd;
	int epoll_fd;         /* MHD's, to wait on */
	bool retiring;        /* accepts nothing new; closed once idle or at its deadline */
	bool status_only;     /* serves only the status paths (status.listen) */
	size_t pool_size;     /* libmicrohttpd's memory per connection */
	unsigned max_conns;   /* its connection limit (limits.max_connections when opened) */
	bool watch_listen;    /* at the limit: the listening socket is the first fd waited on */
	uint64_t deadline_ms; /* monotonic, when retiring */
	/* The last wait: how many descriptors it had, when its timeout is due. */
	size_t wait_n;
	uint64_t due_ms;
	/* Access: callers on a unix socket, and the socket file we made. */
	bool is_unix;
	struct acc_ids allow_uids, allow_gids; /* copies of the configured lists */
	struct sock_file file;                 /* the socket file we made (sock.h) */
	struct server_conn *clients;           /* open connections */
};

/*
 * One client connection (libmicrohttpd's socket context), from accept to
 * close. Its deadline drops a client that is too slow to send a request
 * (timeouts.client_header, client_body) while others are served.
 */
struct server_conn {
	/* First, so that the socket context is both: what the request path sees. */
	struct client pub;
	struct server_conn *next, *prev;
	struct listener *listener;
	struct MHD_Connection *conn;
	int fd;
	uint64_t deadline_ms;    /* monotonic; 0: none */
	const char *waiting_for; /* what the deadline waits for, for the log */
	uint64_t idle_since_ms;  /* keep-alive, between requests: since when; 0: busy */
	bool evicted;            /* closed to admit a new caller, not gone yet */
};

/* External polling: the one event loop runs every listener. */
static const unsigned mhd_flags =
    (ZTP_MHD_EPOLL ? MHD_USE_EPOLL : 0) | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;

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

void server_format_addr(const struct sockaddr *sa, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_UNIX) {
		/* A client's address is unnamed: say which socket it came in on instead. */
		const struct sockaddr_un *su = (const struct sockaddr_un *)(const void *)sa;

		snprintf(buf, cap, "unix:%.*s", (int)sizeof(su->sun_path), su->sun_path);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, cap, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, cap, "%s:%u", host, ntohs(s4->sin_port));
	}
}

static bool copy_ids(struct acc_ids *dst, const struct acc_ids *src)
{
	dst->n = 0;
	if (src->n == 0)
		return true;
	if ((dst->v = malloc(src->n * sizeof(*src->v))) == NULL)
		return false;
	memcpy(dst->v, src->v, src->n * sizeof(*src->v));
	dst->n = src->n;
	return true;
}

static void listener_free(struct listener *l)
{
	sock_unix_remove(&l->file);
	free(l->allow_uids.v);
	free(l->allow_gids.v);
	free(l->text);
	free(l);
}

/* Enforces allow_from on every TCP connection, with the configuration of the moment. */
static enum MHD_Result server_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	const struct app *app = cls;
	const struct cfg_cidrs *from = &app->rt->cfg->allow_from;
	char text[INET6_ADDRSTRLEN + 16];

	(void)addrlen;
	if ((addr->sa_family != AF_INET && addr->sa_family != AF_INET6) || from->n == 0 ||
	    acc_cidr_match(from->v, from->n, addr))
		return MHD_YES;
	server_format_addr(addr, text, sizeof(text));
	log_warn("refused a connection from %s: not in allow_from", text);
	return MHD_NO;
}

static struct listener *find_listener(struct app *app, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_DAEMON);

	for (struct listener *l = app->listeners; ci != NULL && l != NULL; l = l->next)
		if (l->mhd == ci->daemon)
			return l;
	return NULL;
}

/* The address a TCP client connected to, as a Host header writes it ("10.1.2.3", "[fd00::1]"). */
static void local_address(int fd, char *buf, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "";

	buf[0] = '\0';
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET6 &&
	    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host)))
		snprintf(buf, cap, "[%s]", host);
	else if (ss.ss_family == AF_INET &&
	         inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host)))
		snprintf(buf, cap, "%s", host);
}

static void client_deadline(struct client *pub, const char *what, uint32_t ms)
{
	struct server_conn *c = (struct server_conn *)(void *)pub;

	c->waiting_for = what;
	c->deadline_ms = ms > 0 ? now_ms() + ms : 0;
	c->idle_since_ms = 0;
}

static void client_idle(struct client *pub, uint32_t ms)
{
	struct server_conn *c = (struct server_conn *)(void *)pub;

	client_deadline(pub, "the next request", ms);
	c->idle_since_ms = now_ms();
}

static const struct client_ops client_ops = {client_deadline, client_idle};

static void client_start(struct app *app, struct MHD_Connection *conn, void **socket_context)
{
	struct listener *l = find_listener(app, conn);
	const union MHD_ConnectionInfo *fd =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	const union MHD_ConnectionInfo *addr =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct server_conn *c;
	struct client *pub;

	if (l == NULL || fd == NULL || (c = calloc(1, sizeof(*c))) == NULL)
		return; /* the gate refuses its requests (no socket context) */
	pub = &c->pub;
	pub->ops = &client_ops;
	pub->bound = l->bound;
	pub->is_unix = l->is_unix;
	pub->status_only = l->status_only;
	pub->allow_uids = &l->allow_uids;
	pub->allow_gids = &l->allow_gids;
	pub->pool_size = l->pool_size;
	c->listener = l;
	c->conn = conn;
	c->fd = fd->connect_fd;
	if (l->is_unix) {
		pub->peer_known = peercred_get(c->fd, &pub->peer) == ZT_OK;
		if (pub->peer_known)
			snprintf(pub->addr, sizeof(pub->addr), "uid %u on %s",
			         (unsigned)pub->peer.uid, l->bound);
		else
			log_errno(LOG_WARN, "cannot tell who connected to %s", l->bound);
	}
	if (!pub->peer_known && addr != NULL)
		server_format_addr(addr->client_addr, pub->addr, sizeof(pub->addr));
	if (!l->is_unix)
		local_address(c->fd, pub->local, sizeof(pub->local));
	c->next = l->clients;
	if (l->clients != NULL)
		l->clients->prev = c;
	l->clients = c;
	client_deadline(pub, "the request headers", app->rt->cfg->client_header_ms);
	*socket_context = pub;
}

static void server_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	struct server_conn *c = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		client_start(cls, conn, socket_context);
		return;
	}
	proxy_closed(cls, conn);
	if (c == NULL)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->listener->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);
	*socket_context = NULL;
}

/*
 * At the connection limit libmicrohttpd stops accepting, so idle keep-alive
 * connections (tools that pool them) would keep new callers out until they
 * time out. The longest-idle one is closed instead, one at a time, while
 * someone waits to connect. Returns it, or NULL when every client is busy.
 */
static struct server_conn *longest_idle(const struct listener *l)
{
	struct server_conn *best = NULL;

	for (struct server_conn *c = l->clients; c != NULL; c = c->next) {
		if (c->evicted)
			return NULL; /* one is on its way out already */
		if (c->idle_since_ms != 0 &&
		    (best == NULL || c->idle_since_ms < best->idle_since_ms))
			best = c;
	}
	return best;
}

static void evict_idle(struct listener *l)
{
	struct server_conn *c = longest_idle(l);

	if (c == NULL)
		return;
	log_info("closed the idle connection from %s to admit a new caller: %s is at "
	         "limits.max_connections (%u)",
	         c->pub.addr[0] ? c->pub.addr : l->bound, l->bound, l->max_conns);
	c->evicted = true;
	c->deadline_ms = 0;
	sock_shutdown(c->fd);
}

/*
 * Drops clients past their deadline. shutdown() makes libmicrohttpd see the
 * connection end on its next run; a request waiting on its upstream is
 * woken first so that its connection is looked at at all.
 */
static void drop_slow_clients(struct app *app, uint64_t now_ms)
{
	for (struct listener *l = app->listeners; l != NULL; l = l->next) {
		for (struct server_conn *c = l->clients; c != NULL; c = c->next) {
			if (c->deadline_ms == 0 || now_ms < c->deadline_ms)
				continue;
			log_warn("dropped the connection from %s: %s did not arrive in time",
			         c->pub.addr[0] ? c->pub.addr : l->bound, c->waiting_for);
			c->deadline_ms = 0;
			proxy_drop(app, c->conn);
			sock_shutdown(c->fd);
		}
	}
}

/*
 * libmicrohttpd 0.9.7x keeps a request's head in one memory pool per
 * connection, and beside it a record of CLIENT_MHD_RECORD bytes per header line,
 * cookie and query parameter; when the pool runs out it answers 431 itself,
 * with a short HTML body. The pool holds limits.max_header_size of head,
 * a record for each of limits.max_headers lines, and 8 KiB for the response
 * head, so the gate sees, and answers with JSON, every head within both
 * limits and any a little over them. It is no bigger, and not sized for
 * the worst case (a record for every 3-byte "a:\n" line of a full head,
 * 22 times max_header_size): libmicrohttpd zeroes the whole pool after
 * every request, so each byte of it is resident for every keep-alive
 * connection and is written once per request.
 */
static size_t mhd_memory_limit(const struct config *cfg)
{
	return (size_t)cfg->max_header_size + (size_t)cfg->max_headers * CLIENT_MHD_RECORD +
	       8 * 1024;
}

/*
 * The rule config_keys.c applies to 'listen', for every socket however it
 * was obtained: a socket the service manager passed (ListenStream=9994
 * binds every interface) serves remote callers only when the
 * configuration says so.
 */
static bool listener_permitted(const struct config *cfg, const struct cfg_listen *cl)
{
	char addr[sizeof(((struct listener *)0)->bound)];

	if (cl->addr.ss_family == AF_UNIX || cl->status_only ||
	    acc_addr_is_loopback((const struct sockaddr *)&cl->addr) ||
	    (cfg->allow_remote && cfg->allow_from.n > 0))
		return true;
	server_format_addr((const struct sockaddr *)&cl->addr, addr, sizeof(addr));
	log_error("%s (%s) is not a loopback address: anyone who can reach it could use your "
	          "tokens; to allow it deliberately, set allow_remote: true and list the networks "
	          "that may connect in allow_from (or make the socket unit listen on "
	          "127.0.0.1:PORT)",
	          cl->text, addr);
	return false;
}

/* A listener's socket file: a reload that changes a unix socket's options replaces it. */
static bool socket_file_ours(void *arg, dev_t dev, ino_t ino)
{
	const struct app *app = arg;

	for (const struct listener *l = app->listeners; l != NULL; l = l->next)
		if (l->file.path != NULL && l->file.dev == dev && l->file.ino == ino)
			return true;
	return false;
}

/* fd: a listening socket to serve on (cl->addr is its address), or -1 to bind cl's address. */
static enum zt_err listener_open(struct app *app, const struct config *cfg,
                                 const struct cfg_listen *cl, int fd, struct listener **out)
{
	struct listener *l;
	struct sockaddr_storage bound;
	const union MHD_DaemonInfo *info = NULL;
	unsigned idle_s = cfg->client_idle_ms ? (cfg->client_idle_ms + 999) / 1000 : 0;

	if ((l = calloc(1, sizeof(*l))) == NULL || (l->text = strdup(cl->text)) == NULL ||
	    !copy_ids(&l->allow_uids, &cl->allow_uids) ||
	    !copy_ids(&l->allow_gids, &cl->allow_gids)) {
		if (l != NULL)
			listener_free(l);
		return ZT_ERR_NOMEM;
	}
	l->is_unix = cl->addr.ss_family == AF_UNIX;
	if (!listener_permitted(cfg, cl)) {
		if (fd != -1)
			sock_close(fd);
		listener_free(l);
		return ZT_ERR_CONFIG;
	}
	if (fd != -1)
		server_format_addr((const struct sockaddr *)&cl->addr, l->bound, sizeof(l->bound));
	else if (l->is_unix)
		fd = sock_listen_unix(cl, socket_file_ours, app, &l->file, l->bound,
		                      sizeof(l->bound));
	else if ((fd = sock_listen_tcp(cl, &bound)) != -1)
		server_format_addr((const struct sockaddr *)&bound, l->bound, sizeof(l->bound));
	if (fd == -1) {
		log_error("cannot listen on %s: %s", cl->text, sock_strerror(errno));
		listener_free(l);
		return ZT_ERR_IO;
	}
	l->mhd = MHD_start_daemon(
	    mhd_flags, 0, server_accept, app, proxy_access, app, MHD_OPTION_EXTERNAL_LOGGER,
	    server_mhd_log, NULL, MHD_OPTION_NOTIFY_CONNECTION, server_notify, app,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, mhd_memory_limit(cfg), MHD_OPTION_LISTEN_SOCKET,
	    (MHD_socket)fd, MHD_OPTION_URI_LOG_CALLBACK, proxy_uri_log, app,
	    MHD_OPTION_NOTIFY_COMPLETED, proxy_completed, app, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, idle_s,
	    MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, MHD_OPTION_END);
	if (l->mhd == NULL || (ZTP_MHD_EPOLL && (info = MHD_get_daemon_info(
	                                             l->mhd, MHD_DAEMON_INFO_EPOLL_FD)) == NULL)) {
		log_error("cannot start the HTTP server on %s", cl->text);
		if (l->mhd != NULL)
			MHD_stop_daemon(l->mhd);
		sock_close(fd);
		listener_free(l);
		return ZT_ERR_IO;
	}
	l->epoll_fd = ZTP_MHD_EPOLL ? info->epoll_fd : -1;
	l->pool_size = mhd_memory_limit(cfg);
	l->max_conns = (unsigned)cfg->max_connections;
	l->status_only = cl->status_only;
	/* Not "listening on": that names the addresses that serve the routes. */
	if (l->status_only)
		log_info("serving the status paths only on %s", l->bound);
	else
		log_info("listening on %s", l->bound);
	if (!l->is_unix && !l->status_only &&
	    !acc_addr_is_loopback((const struct sockaddr *)&cl->addr))
		log_warn("%s is not a loopback address (allow_remote): clients in allow_from can "
		         "use your tokens through it",
		         l->bound);
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
		sock_close((int)fd);
	sock_unix_remove(&l->file);
	log_info("stopped listening on %s", l->bound);
}

static void listener_close(struct listener *l)
{
	MHD_stop_daemon(l->mhd);
	listener_free(l);
}

static unsigned listener_connections(const struct listener *l)
{
	const union MHD_DaemonInfo *info =
	    MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return info ? info->num_connections : 0;
}

static struct listener *find_active(struct app *app, const struct cfg_listen *cl)
{
	for (struct listener *l = app->listeners; l != NULL; l = l->next)
		if (!l->retiring && l->status_only == cl->status_only &&
		    strcmp(l->text, cl->text) == 0)
			return l;
	return NULL;
}

static bool in_config(const struct config *cfg, const struct listener *l)
{
	for (size_t i = 0; i < cfg->nlisten; i++)
		if (cfg->listen[i].status_only == l->status_only &&
		    strcmp(cfg->listen[i].text, l->text) == 0)
			return true;
	return false;
}

/*
 * Socket activation: serve on every socket the service manager passed, in
 * place of cfg->listen. The service manager owns the addresses, so reloads
 * keep these listeners as they are.
 */
static enum zt_err server_adopt(struct app *app, const struct config *cfg)
{
	size_t n = service_socket_count();
	struct listener *l;
	enum zt_err err;

	log_info("serving on %zu socket%s passed by the service manager; the configured "
	         "'listen' addresses are not used",
	         n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		char text[300];
		const char *name;
		int fd = service_socket(i, &name);
		struct cfg_listen cl = {.text = text, .addrlen = sizeof(cl.addr)};

		snprintf(text, sizeof(text), "passed socket %d%s%s", fd, *name ? " " : "", name);
		if (getsockname(fd, (struct sockaddr *)&cl.addr, &cl.addrlen) == -1 ||
		    !sock_make_nonblocking(fd)) {
			log_errno(LOG_ERROR, "cannot use %s", text);
			return ZT_ERR_IO;
		}
		if ((err = listener_open(app, cfg, &cl, fd, &l)) != ZT_OK)
			return err; /* the caller exits, closing what is open */
		l->next = app->listeners;
		app->listeners = l;
	}
	return ZT_OK;
}

/* A reload keeps the passed sockets: the new configuration must still permit them. */
static enum zt_err check_adopted(struct app *app, const struct config *cfg)
{
	for (const struct listener *l = app->listeners; l != NULL; l = l->next) {
		struct cfg_listen cl = {.text = l->text, .addrlen = sizeof(cl.addr)};
		const union MHD_DaemonInfo *info =
		    MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_LISTEN_FD);

		if (l->retiring || info == NULL ||
		    getsockname((int)info->listen_fd, (struct sockaddr *)&cl.addr, &cl.addrlen) ==
		        -1)
			continue;
		if (!listener_permitted(cfg, &cl))
			return ZT_ERR_CONFIG;
	}
	return ZT_OK;
}

enum zt_err server_apply(struct app *app, const struct config *cfg)
{
	struct listener *opened = NULL, *l, *next;
	enum zt_err err = ZT_OK;
	uint64_t deadline = now_ms() + cfg->shutdown_ms;

	if (service_socket_count() > 0)
		return app->listeners != NULL ? check_adopted(app, cfg) : server_adopt(app, cfg);

	for (size_t i = 0; i < cfg->nlisten && err == ZT_OK; i++) {
		if (find_active(app, &cfg->listen[i]) != NULL)
			continue;
		if ((err = listener_open(app, cfg, &cfg->listen[i], -1, &l)) == ZT_OK) {
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
		if (!l->retiring && !in_config(cfg, l))
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
	uint64_t deadline = now_ms() + app->rt->cfg->shutdown_ms;

	for (struct listener *l = app->listeners; l != NULL; l = l->next)
		listener_retire(l, deadline);
}

void server_reap(struct app *app, uint64_t now_ms)
{
	struct listener **pp = &app->listeners, *l;

	drop_slow_clients(app, now_ms);
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

size_t server_listeners(const struct app *app)
{
	size_t n = 0;

	for (const struct listener *l = app->listeners; l != NULL; l = l->next)
		n += !l->retiring;
	return n;
}

bool server_listener_at(const struct app *app, size_t i, struct status_listener *out)
{
	const struct listener *l = app->listeners;

	for (; l != NULL && i > 0; l = l->next)
		i--;
	if (l == NULL)
		return false;
	out->text = l->text;
	out->bound = l->bound;
	out->status_only = l->status_only;
	out->retiring = l->retiring;
	return true;
}

unsigned server_connections(const struct app *app)
{
	unsigned n = 0;

	for (const struct listener *l = app->listeners; l != NULL; l = l->next)
		n += listener_connections(l);
	return n;
}

/* Select mode: every descriptor of libmicrohttpd's fd sets. */
static bool push_fdset(struct MHD_Daemon *mhd, sock_push_fn push, void *arg)
{
	fd_set rs, ws, es;
	MHD_socket max = MHD_INVALID_SOCKET;

	FD_ZERO(&rs);
	FD_ZERO(&ws);
	FD_ZERO(&es);
	if (MHD_get_fdset(mhd, &rs, &ws, &es, &max) != MHD_YES)
		return true; /* nothing to wait on for now */
	return sock_fdset_push(&rs, &ws, (int)max, push, arg);
}

/* Longest time a listener goes without a run of libmicrohttpd's, while idle. */
#define LISTENER_RUN_MS 1000

/* Counts what one listener pushes, so that server_run() finds its descriptors again. */
struct push_count {
	sock_push_fn push;
	void *arg;
	size_t n;
};

static bool push_counted(void *arg, int fd, short events)
{
	struct push_count *pc = arg;

	pc->n++;
	return pc->push(pc->arg, fd, events);
}

bool server_wait_fds(struct app *app, sock_push_fn push, void *arg, int *timeout_ms)
{
	uint64_t now = now_ms();
	MHD_UNSIGNED_LONG_LONG ms;

	for (struct listener *l = app->listeners; l != NULL; l = l->next) {
		struct push_count pc = {push, arg, 0};
		const union MHD_DaemonInfo *lfd = NULL;

		/* Only with an idle client to close: a ready socket nobody accepts would spin. */
		l->watch_listen =
		    !l->retiring && listener_connections(l) >= l->max_conns &&
		    longest_idle(l) != NULL &&
		    (lfd = MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_LISTEN_FD)) != NULL &&
		    lfd->listen_fd != MHD_INVALID_SOCKET;
		if (l->watch_listen && !push_counted(&pc, (int)lfd->listen_fd, POLLIN))
			return false;
		if (l->epoll_fd >= 0 ? !push_counted(&pc, l->epoll_fd, POLLIN)
		                     : !push_fdset(l->mhd, push_counted, &pc))
			return false;
		l->wait_n = pc.n;
		/*
		 * Some of libmicrohttpd's work waits for its next run without a
		 * timeout to say so: a daemon at its connection limit, for one, puts
		 * its listening socket back into epoll only then.
		 */
		if (MHD_get_timeout(l->mhd, &ms) != MHD_YES || ms > LISTENER_RUN_MS)
			ms = LISTENER_RUN_MS;
		l->due_ms = now + ms;
		if (*timeout_ms < 0 || ms < (unsigned)*timeout_ms)
			*timeout_ms = (int)ms;
	}
	return true;
}

/* Whether a client closed by evict_idle() is still open. */
static bool evicting(const struct listener *l)
{
	for (const struct server_conn *c = l->clients; c != NULL; c = c->next)
		if (c->evicted)
			return true;
	return false;
}

/*
 * Select mode: libmicrohttpd's descriptors that poll() found ready, as the
 * fd sets it wants. At its limit it still watches its listening socket and
 * answers a new caller by closing it at once: while an idle client is being
 * closed to make room (or may be), the caller is left waiting instead.
 *
 * A resumed connection (writable) takes three runs to answer: one calls the
 * handler, which queues the response, one writes it, one moves on to the
 * next request. Its socket is taken as writable for the last two instead of
 * waiting for POLLOUT: two system calls fewer per proxied request. A socket
 * that cannot take the bytes after all answers EAGAIN, and the next wait
 * covers it.
 */
static void run_ready(struct listener *l, const struct pollfd *fds, size_t n, const int *writable,
                      size_t nwritable)
{
	const union MHD_DaemonInfo *lfd = MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_LISTEN_FD);
	bool hold = l->watch_listen || evicting(l);
	fd_set rs, ws, es;

	FD_ZERO(&rs);
	FD_ZERO(&ws);
	FD_ZERO(&es);
	for (size_t i = 0; i < n; i++) {
		if (hold && lfd != NULL && (MHD_socket)fds[i].fd == lfd->listen_fd)
			continue;
		if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0)
			FD_SET((MHD_socket)fds[i].fd, &rs);
		if ((fds[i].revents & POLLOUT) != 0)
			FD_SET((MHD_socket)fds[i].fd, &ws);
	}
	MHD_run_from_select(l->mhd, &rs, &ws, &es);
	for (int run = 0; nwritable > 0 && run < 2; run++) {
		FD_ZERO(&rs);
		FD_ZERO(&ws);
		for (size_t i = 0; i < nwritable; i++)
			FD_SET((MHD_socket)writable[i], &ws);
		MHD_run_from_select(l->mhd, &rs, &ws, &es);
	}
}

void server_run(struct app *app, const struct pollfd *ready, size_t n, bool all)
{
	uint64_t now = now_ms();

	for (struct listener *l = app->listeners; l != NULL; l = l->next) {
		size_t mine = l->wait_n < n ? l->wait_n : n, skip;
		bool io = false;

		for (size_t i = 0; i < mine; i++)
			io |= ready[i].revents != 0;
		if (l->watch_listen && mine > 0 && (ready[0].revents & POLLIN) != 0)
			evict_idle(l);
		/* libmicrohttpd at its limit would accept and close what waits on it. */
		skip = l->watch_listen && mine > 0;
		/* Running an idle daemon costs a system call (epoll_wait or select) for nothing. */
		if (io || all || now >= l->due_ms) {
			if (l->epoll_fd >= 0)
				MHD_run(l->mhd);
			else
				run_ready(l, ready + skip, mine - skip, app->woken_fds,
				          app->nwoken);
		}
		ready += mine;
		n -= mine;
	}
}
