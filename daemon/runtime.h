/*
 * A runtime is one loaded configuration with its tokens: what a request
 * uses from start to end. Reload builds a new runtime and swaps it in; the
 * old one is freed when the last request holding a reference finishes.
 */
#ifndef ZTP_RUNTIME_H
#define ZTP_RUNTIME_H

#include <stdbool.h>

#include "config.h"
#include "err.h"
#include "token.h"
#include "watch.h"

struct metrics_route;

struct runtime {
	struct config *cfg;           /* owned */
	struct token *tokens;         /* owned; parallel to cfg->tokens */
	bool *token_used;             /* referenced by a route (others are never read) */
	size_t *route_token;          /* index into tokens for each cfg->routes[i] */
	struct watch_entry **watches; /* parallel to tokens; NULL where not watched */
	struct watch *watch;          /* borrowed while watching, else NULL */
	/* Parallel to cfg->routes: each route's counters (metrics.h), a reference held. */
	struct metrics_route **route_stats;
	/* Parallel to cfg->routes: the port read from each route's port_file. */
	struct runtime_port *route_ports;
	unsigned refs;
};

/* A route's port_file, followed like a token file. */
struct runtime_port {
	const struct cfg_route *route;
	unsigned port; /* the last port read; 0: none yet, the upstream URL's applies */
	struct watch_entry *watch;
};

/*
 * Takes ownership of cfg (also on failure) and reads every token a route
 * uses. Returns with one reference held by the caller.
 */
ZT_WUR enum zt_err runtime_new(struct config *cfg, struct runtime **out);
struct runtime *runtime_ref(struct runtime *rt);
/* Drops a reference; the last one stops watching and frees everything. */
void runtime_unref(struct runtime *rt);

/*
 * fn is called when a watched token's state changes: main.c registers the
 * service manager's status line (service.h), which shows each token's state.
 */
void runtime_on_token_state(void (*fn)(void));

/* Starts watching the runtime's file tokens with w (borrowed until unwatch). */
ZT_WUR enum zt_err runtime_watch(struct runtime *rt, struct watch *w);
void runtime_unwatch(struct runtime *rt);

static inline struct token *runtime_route_token(struct runtime *rt, const struct cfg_route *route)
{
	return &rt->tokens[rt->route_token[route - rt->cfg->routes]];
}

/* The port the route's upstream listens on now, or 0 for the one in its URL. */
static inline unsigned runtime_route_port(const struct runtime *rt, const struct cfg_route *route)
{
	return rt->route_ports[route - rt->cfg->routes].port;
}

/* token_refresh() that also counts the read for the status page and metrics. */
bool runtime_token_refresh(struct token *t);

/* Logs each used token's state: info when usable, warn with the reason otherwise. */
void runtime_log_tokens(const struct runtime *rt);

#endif
