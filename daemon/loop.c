#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "log.h"
#include "loop.h"
#include "now.h"
#include "proxy.h"
#include "server.h"
#include "service.h"
#include "signals.h"
#include "sock.h"
#include "status.h"
#include "upstream.h"

/* Longest single wait; bounds how late a retiring listener is reaped. */
#define LOOP_MAX_WAIT_MS 1000

static void reload_report(void *arg, bool is_error, const char *line)
{
	(void)arg;
	log_msg(is_error ? LOG_ERROR : LOG_WARN, "%s", line);
	status_reload_problem(is_error, line);
}

static void warn_unappliable(const struct config *old, const struct config *new)
{
	if (old->client_idle_ms != new->client_idle_ms ||
	    old->max_connections != new->max_connections ||
	    old->max_header_size != new->max_header_size || old->max_headers != new->max_headers)
		log_warn(
		    "timeouts.client_idle, limits.max_connections and the memory per "
		    "connection that limits.max_header_size and limits.max_headers set apply to "
		    "listeners opened from now on; restart to apply them to the listeners kept "
		    "open");
}

void loop_reload(struct app *app)
{
	struct config *cfg;
	struct runtime *rt;
	enum zt_err err;

	log_info("reloading configuration from %s",
	         app->config_path ? app->config_path : "the embedded defaults");
	service_notify(SERVICE_RELOADING, "reloading the configuration");
	status_reload_begin();
	err = cfg_load(app->config_path, reload_report, NULL, &cfg);
	if (err == ZT_OK)
		err = runtime_new(cfg, &rt);
	if (err == ZT_OK && (err = server_apply(app, rt->cfg)) != ZT_OK)
		runtime_unref(rt);
	if (err != ZT_OK) {
		log_error("reload failed (%s); still serving the previous configuration",
		          zt_strerror(err));
		status_reload_end(NULL, zt_strerror(err));
		service_report(app, SERVICE_READY,
		               "reload failed, serving the previous configuration");
		return;
	}
	warn_unappliable(app->rt->cfg, rt->cfg);
	runtime_unwatch(app->rt);
	runtime_unref(app->rt); /* requests in flight keep theirs */
	app->rt = rt;
	log_set_level(rt->cfg->log_level);
	if (runtime_watch(rt, app->watch) != ZT_OK)
		log_warn("cannot watch token files; changes are seen on the next 401 or reload");
	runtime_log_tokens(rt);
	status_reload_end(rt, NULL);
	log_info("configuration reloaded: %zu routes, %zu listeners", rt->cfg->nroutes,
	         server_listeners(app));
	service_report(app, SERVICE_READY, NULL);
}

static void begin_stop(struct app *app, uint64_t *deadline)
{
	if (app->stopping)
		return;
	app->stopping = true;
	service_notify(SERVICE_STOPPING, "stopping");
	*deadline = now_ms() + app->rt->cfg->shutdown_ms;
	server_quiesce(app);
	log_info("stopping: %u request%s in flight, waiting up to %u ms", app->nreqs,
	         app->nreqs == 1 ? "" : "s", app->rt->cfg->shutdown_ms);
}

static int min_timeout(int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

/* The descriptors of one wait, grown as listeners and connections come and go. */
struct waitset {
	struct pollfd *fds;
	size_t n, cap;
};

static bool waitset_push(void *arg, int fd, short events)
{
	struct waitset *ws = arg;

	if (ws->n == ws->cap) {
		size_t cap = ws->cap ? ws->cap * 2 : 16;
		struct pollfd *p = realloc(ws->fds, cap * sizeof(*p));

		if (p == NULL)
			return false;
		ws->fds = p;
		ws->cap = cap;
	}
	ws->fds[ws->n++] = (struct pollfd){.fd = fd, .events = events};
	return true;
}

/* Where each party's descriptors start in the wait set; the listeners' come first. */
struct wait_slots {
	size_t sig, watch, hangup, up; /* watch: SIZE_MAX when the watcher has no descriptor */
};

static bool fill_waitset(struct app *app, struct waitset *ws, int *timeout, struct wait_slots *at)
{
	int wfd = watch_fd(app->watch);

	ws->n = 0;
	if (!server_wait_fds(app, waitset_push, ws, timeout))
		return false;
	at->sig = ws->n;
	if (!waitset_push(ws, sig_fd(), POLLIN))
		return false;
	at->watch = wfd >= 0 ? ws->n : SIZE_MAX;
	if (wfd >= 0 && !waitset_push(ws, wfd, POLLIN))
		return false;
	at->hangup = ws->n;
	if (!proxy_wait_fds(app, waitset_push, ws))
		return false;
	at->up = ws->n;
	*timeout = min_timeout(*timeout, proxy_queue_timeout_ms(app));
	return upstream_wait_fds(app, waitset_push, ws, timeout);
}

int loop_run(struct app *app)
{
	struct waitset ws = {NULL, 0, 0};
	uint64_t deadline = 0;

	for (;;) {
		int timeout = LOOP_MAX_WAIT_MS;
		bool resumed = app->mhd_pending;
		struct wait_slots at;
		uint64_t now;

		now_update(); /* the last turn's work may have taken a while */
		if (!fill_waitset(app, &ws, &timeout, &at)) {
			log_error("out of memory in the event loop");
			break;
		}
		timeout = min_timeout(timeout, watch_timeout_ms(app->watch));
		timeout = min_timeout(timeout, service_tick(app));
		if (app->stopping) {
			now = now_ms();
			timeout = min_timeout(timeout, now >= deadline ? 0 : (int)(deadline - now));
		}
		if (resumed)
			timeout = 0;

		/* On EINTR nothing is ready; the signal is seen on its descriptor next time. */
		if (sock_poll(ws.fds, ws.n, timeout) < 0)
			for (size_t i = 0; i < ws.n; i++)
				ws.fds[i].revents = 0;
		now_update();

		app->mhd_pending = false;
		/* Before the listeners run: a descriptor they close may be reused at once. */
		proxy_hangups(app, ws.fds + at.hangup, at.up - at.hangup);
		server_run(app, ws.fds, at.sig, resumed);
		app->nwoken = 0;
		upstream_run(app, ws.fds + at.up, ws.n - at.up);
		proxy_queue_expire(app);
		if (app->mhd_pending) {
			/* Answer what the transfers just made ready without another wait. */
			app->mhd_pending = false;
			server_run(app, NULL, 0, true);
			app->nwoken = 0;
		}
		if (ws.fds[at.sig].revents != 0) {
			unsigned ev = sig_take();

			if ((ev & SIG_EV_STOP) != 0)
				begin_stop(app, &deadline);
			else if ((ev & SIG_EV_RELOAD) != 0 && !app->stopping)
				loop_reload(app);
		}
		if ((at.watch != SIZE_MAX && ws.fds[at.watch].revents != 0) ||
		    watch_timeout_ms(app->watch) == 0)
			watch_process(app->watch);
		now = now_ms();
		server_reap(app, now);
		if (app->stopping) {
			if (app->nreqs == 0)
				break;
			if (now >= deadline) {
				log_warn("stopping: %u request%s still in flight after %u ms; "
				         "cutting them off",
				         app->nreqs, app->nreqs == 1 ? "" : "s",
				         app->rt->cfg->shutdown_ms);
				break;
			}
		}
	}
	free(ws.fds);
	return 0;
}
