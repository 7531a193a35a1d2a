#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "runtime.h"

static void runtime_free(struct runtime *rt)
{
	runtime_unwatch(rt);
	if (rt->tokens != NULL) {
		for (size_t i = 0; i < rt->cfg->ntokens; i++)
			if (rt->token_used[i])
				token_fini(&rt->tokens[i]);
	}
	free(rt->tokens);
	free(rt->token_used);
	free(rt->route_token);
	free(rt->watches);
	free(rt->route_ports);
	for (size_t r = 0; rt->route_stats != NULL && r < rt->cfg->nroutes; r++)
		metrics_route_unref(rt->route_stats[r]);
	free(rt->route_stats);
	cfg_free(rt->cfg);
	free(rt);
}

/* Re-reads a route's port file; a file that is gone or garbled keeps the last port. */
static void read_port(struct runtime_port *rp)
{
	unsigned port = 0;
	enum zt_err err;

	if (rp->route->port_file == NULL)
		return;
	err = cfg_read_port(rp->route->port_file, &port);
	if (err == ZT_ERR_INVALID)
		log_warn("route %s: %s does not hold a port number; still using port %u",
		         rp->route->prefix, rp->route->port_file, rp->port);
	if (err != ZT_OK || port == rp->port)
		return;
	if (rp->port != 0)
		log_info("route %s: the upstream moved to port %u (%s)", rp->route->prefix, port,
		         rp->route->port_file);
	rp->port = port;
}

static void runtime_port_changed(void *arg)
{
	read_port(arg);
}

enum zt_err runtime_new(struct config *cfg, struct runtime **out)
{
	struct runtime *rt;
	size_t n = cfg->ntokens;

	*out = NULL;
	if ((rt = calloc(1, sizeof(*rt))) == NULL) {
		cfg_free(cfg);
		return ZT_ERR_NOMEM;
	}
	rt->cfg = cfg;
	rt->refs = 1;
	rt->tokens = calloc(n ? n : 1, sizeof(*rt->tokens));
	rt->token_used = calloc(n ? n : 1, sizeof(*rt->token_used));
	rt->watches = calloc(n ? n : 1, sizeof(*rt->watches));
	rt->route_token = calloc(cfg->nroutes ? cfg->nroutes : 1, sizeof(*rt->route_token));
	rt->route_stats = calloc(cfg->nroutes ? cfg->nroutes : 1, sizeof(*rt->route_stats));
	rt->route_ports = calloc(cfg->nroutes ? cfg->nroutes : 1, sizeof(*rt->route_ports));
	if (!rt->tokens || !rt->token_used || !rt->watches || !rt->route_token ||
	    !rt->route_stats || !rt->route_ports) {
		runtime_free(rt);
		return ZT_ERR_NOMEM;
	}
	for (size_t r = 0; r < cfg->nroutes; r++) {
		if ((rt->route_stats[r] = metrics_route_ref(cfg->routes[r].prefix)) == NULL) {
			runtime_free(rt);
			return ZT_ERR_NOMEM;
		}
	}
	for (size_t r = 0; r < cfg->nroutes; r++) {
		rt->route_ports[r].route = &cfg->routes[r];
		read_port(&rt->route_ports[r]);
	}
	for (size_t r = 0; r < cfg->nroutes; r++) {
		const struct cfg_token *ct = cfg_find_token(cfg, cfg->routes[r].token);

		/* config.c refuses routes naming unknown tokens */
		rt->route_token[r] = (size_t)(ct - cfg->tokens);
	}
	for (size_t r = 0; r < cfg->nroutes; r++) {
		size_t i = rt->route_token[r];
		enum zt_err err;

		if (rt->token_used[i])
			continue;
		if ((err = token_init(&rt->tokens[i], &cfg->tokens[i])) != ZT_OK) {
			runtime_free(rt);
			return err;
		}
		rt->token_used[i] = true;
	}
	*out = rt;
	return ZT_OK;
}

struct runtime *runtime_ref(struct runtime *rt)
{
	rt->refs++;
	return rt;
}

void runtime_unref(struct runtime *rt)
{
	if (rt != NULL && --rt->refs == 0)
		runtime_free(rt);
}

bool runtime_token_refresh(struct token *t)
{
	bool changed = token_refresh(t);

	metrics_token_read(t);
	return changed;
}

static void (*token_state_hook)(void);

void runtime_on_token_state(void (*fn)(void))
{
	token_state_hook = fn;
}

static void runtime_token_changed(void *arg)
{
	struct token *t = arg;
	enum token_state before = t->state;
	char src[320];

	token_describe_source(t->cfg, src, sizeof(src));
	if (runtime_token_refresh(t))
		log_info("token '%s' changed (%s)", t->cfg->name, src);
	else if (t->state != before && t->state != TOKEN_OK)
		log_warn("token '%s' (%s): %s; keeping the last good value%s", t->cfg->name, src,
		         t->reason, token_usable(t) ? "" : " (none yet)");
	else if (t->state != before)
		log_info("token '%s' (%s) is readable again", t->cfg->name, src);
	if (t->state != before && token_state_hook != NULL)
		token_state_hook();
}

enum zt_err runtime_watch(struct runtime *rt, struct watch *w)
{
	rt->watch = w;
	for (size_t i = 0; i < rt->cfg->ntokens; i++) {
		struct token *t = &rt->tokens[i];
		enum zt_err err;

		if (!rt->token_used[i] || t->path == NULL || !t->cfg->watch ||
		    t->cfg->kind == TOKEN_SRC_VALUE)
			continue;
		err = watch_add(w, t->path, runtime_token_changed, t, &rt->watches[i]);
		if (err != ZT_OK) {
			runtime_unwatch(rt);
			return err;
		}
		/* A change between the first read and the watch would go unseen. */
		runtime_token_changed(t);
	}
	for (size_t r = 0; r < rt->cfg->nroutes; r++) {
		struct runtime_port *rp = &rt->route_ports[r];
		enum zt_err err;

		if (rp->route->port_file == NULL)
			continue;
		if ((err = watch_add(w, rp->route->port_file, runtime_port_changed, rp,
		                     &rp->watch)) != ZT_OK) {
			runtime_unwatch(rt);
			return err;
		}
		read_port(rp);
	}
	return ZT_OK;
}

void runtime_unwatch(struct runtime *rt)
{
	if (rt->watch == NULL)
		return;
	for (size_t i = 0; i < rt->cfg->ntokens; i++) {
		if (rt->watches[i] != NULL)
			watch_remove(rt->watch, rt->watches[i]);
		rt->watches[i] = NULL;
	}
	for (size_t r = 0; r < rt->cfg->nroutes; r++) {
		if (rt->route_ports[r].watch != NULL)
			watch_remove(rt->watch, rt->route_ports[r].watch);
		rt->route_ports[r].watch = NULL;
	}
	rt->watch = NULL;
}

void runtime_log_tokens(const struct runtime *rt)
{
	for (size_t i = 0; i < rt->cfg->ntokens; i++) {
		const struct token *t = &rt->tokens[i];
		char src[320];

		if (!rt->token_used[i])
			continue;
		token_describe_source(t->cfg, src, sizeof(src));
		if (t->state == TOKEN_OK)
			log_info("token '%s': loaded (%s)", t->cfg->name, src);
		else
			log_warn("token '%s' (%s): %s: %s", t->cfg->name, src,
			         token_state_name(t->state), t->reason);
	}
}
