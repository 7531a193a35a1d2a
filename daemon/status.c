#include "status.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "metrics.h"
#include "os.h"
#include "sha256.h"
#include "ztp_build.h"

/* Largest body built; the metrics of 1024 routes fit with room to spare. */
#define BODY_MAX (16u * 1024 * 1024)
/* Reload problems kept for the status page; the log has them all. */
#define RELOAD_LINES_MAX 32
/* One cell of the text table. */
#define CELL_MAX 96

#define JSON_TYPE "application/json"
#define TEXT_TYPE "text/plain; charset=utf-8"

static struct {
	const struct status_server *server;
	time_t started;
	uint64_t started_ms;
	time_t config_loaded; /* when the configuration in use was installed */
	struct {
		time_t at; /* 0: no reload yet */
		bool ok;
		char *reason;
		char *lines[RELOAD_LINES_MAX];
		bool is_error[RELOAD_LINES_MAX];
		size_t nlines, dropped;
	} reload;
} st;

static void note_tokens(const struct runtime *rt)
{
	for (size_t i = 0; i < rt->cfg->ntokens; i++)
		if (rt->token_used[i])
			metrics_token_read(&rt->tokens[i]);
}

void status_started(const struct runtime *rt, const struct status_server *server)
{
	st.server = server;
	st.started = st.config_loaded = time(NULL);
	st.started_ms = os_monotonic_ms();
	note_tokens(rt);
}

static void reload_clear(void)
{
	for (size_t i = 0; i < st.reload.nlines; i++)
		free(st.reload.lines[i]);
	free(st.reload.reason);
	st.reload.reason = NULL;
	st.reload.nlines = st.reload.dropped = 0;
}

void status_fini(void)
{
	reload_clear();
	metrics_reset();
}

void status_reload_begin(void)
{
	reload_clear();
}

void status_reload_problem(bool is_error, const char *line)
{
	char buf[1024], *copy;

	/* As the log line: the status page shows it to any local caller. */
	snprintf(buf, sizeof(buf), "%s", line);
	log_redact(buf, sizeof(buf));
	if (st.reload.nlines == RELOAD_LINES_MAX || (copy = strdup(buf)) == NULL) {
		st.reload.dropped++;
		return;
	}
	st.reload.is_error[st.reload.nlines] = is_error;
	st.reload.lines[st.reload.nlines++] = copy;
}

static bool token_in_use(void *arg, const char *name)
{
	const struct runtime *rt = arg;

	for (size_t i = 0; i < rt->cfg->ntokens; i++)
		if (rt->token_used[i] && strcmp(rt->cfg->tokens[i].name, name) == 0)
			return true;
	return false;
}

void status_reload_end(const struct runtime *rt, const char *reason)
{
	st.reload.at = time(NULL);
	st.reload.ok = rt != NULL;
	st.reload.reason = reason ? strdup(reason) : NULL;
	metrics_config_reload(rt != NULL);
	if (rt == NULL)
		return;
	st.config_loaded = st.reload.at;
	note_tokens(rt);
	metrics_token_prune(token_in_use, (void *)rt);
}

bool status_is_reserved(const struct config *cfg, const char *path, size_t pathlen)
{
	size_t plen = strlen(cfg->status_prefix);

	return pathlen >= plen && memcmp(path, cfg->status_prefix, plen) == 0 &&
	       (pathlen == plen || path[plen] == '/');
}

/* ---- small formatters ---- */

static void iso_time(time_t t, char *buf, size_t cap, bool for_json)
{
	struct tm tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL)
		snprintf(buf, cap, for_json ? "null" : "-");
	else
		strftime(buf, cap, for_json ? "\"%Y-%m-%dT%H:%M:%SZ\"" : "%Y-%m-%d %H:%M:%SZ", &tm);
}

static void json_key(struct sbuf *b, bool *first, const char *key)
{
	if (!*first)
		sbuf_put(b, ",");
	*first = false;
	sbuf_json_string(b, key);
	sbuf_put(b, ":");
}

static void json_str(struct sbuf *b, bool *first, const char *key, const char *value)
{
	json_key(b, first, key);
	sbuf_json_string(b, value);
}

static void json_time(struct sbuf *b, bool *first, const char *key, time_t t)
{
	char buf[48];

	iso_time(t, buf, sizeof(buf), true);
	json_key(b, first, key);
	sbuf_put(b, buf);
}

static void json_u64(struct sbuf *b, bool *first, const char *key, uint64_t v)
{
	json_key(b, first, key);
	sbuf_printf(b, "%" PRIu64, v);
}

static void json_bool(struct sbuf *b, bool *first, const char *key, bool v)
{
	json_key(b, first, key);
	sbuf_put(b, v ? "true" : "false");
}

/* "3d04h", "2h03m", "5m12s", "42s". */
static void duration_text(uint64_t s, char *buf, size_t cap)
{
	if (s >= 86400)
		snprintf(buf, cap, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, cap, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, cap, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else
		snprintf(buf, cap, "%" PRIu64 "s", s);
}

static uint64_t route_requests(const struct metrics_route *mr)
{
	uint64_t n = 0;

	for (int i = 0; i < MM_COUNT; i++)
		for (int c = 0; c < METRICS_CLASSES; c++)
			n += mr->requests[i][c];
	return n;
}

/* ---- health ---- */

/*
 * Whether every route's token is usable. Tokens without a value are re-read
 * first, as a request would: a file with watching off may have appeared.
 */
static bool healthy(struct runtime *rt)
{
	bool ok = true;

	for (size_t r = 0; r < rt->cfg->nroutes; r++) {
		struct token *t = runtime_route_token(rt, &rt->cfg->routes[r]);

		if (!token_usable(t))
			(void)runtime_token_refresh(t);
		ok &= token_usable(t);
	}
	return ok;
}

/* Appends the JSON array of the routes whose token is unusable (after healthy()). */
static void write_problems(struct runtime *rt, struct sbuf *b)
{
	size_t n = 0;

	sbuf_put(b, "[");
	for (size_t r = 0; r < rt->cfg->nroutes; r++) {
		const struct token *t = runtime_route_token(rt, &rt->cfg->routes[r]);
		bool first = true;
		char src[320];

		if (token_usable(t))
			continue;
		token_describe_source(t->cfg, src, sizeof(src));
		sbuf_put(b, n++ ? ",{" : "{");
		json_str(b, &first, "route", rt->cfg->routes[r].prefix);
		json_str(b, &first, "token", t->cfg->name);
		json_str(b, &first, "source", src);
		json_str(b, &first, "state", token_state_name(t->state));
		json_str(b, &first, "reason", t->reason);
		json_str(b, &first, "hint", token_hint(t));
		sbuf_put(b, "}");
	}
	sbuf_put(b, "]");
}

static unsigned serve_health(struct app *app, bool live, struct sbuf *b)
{
	if (live) {
		sbuf_put(b, "{\"status\":\"alive\"}\n");
		return MHD_HTTP_OK;
	}
	if (healthy(app->rt)) {
		sbuf_put(b, "{\"status\":\"ok\"}\n");
		return MHD_HTTP_OK;
	}
	sbuf_put(b, "{\"status\":\"unhealthy\",\"problems\":");
	write_problems(app->rt, b);
	sbuf_put(b, "}\n");
	return MHD_HTTP_SERVICE_UNAVAILABLE;
}

/* ---- status as JSON ---- */

static void write_listeners(const struct app *app, struct sbuf *b)
{
	struct status_listener l;

	sbuf_put(b, "[");
	for (size_t n = 0; st.server->listener_at(app, n, &l); n++) {
		bool first = true;

		sbuf_put(b, n ? ",{" : "{");
		json_str(b, &first, "address", l.text);
		json_str(b, &first, "bound", l.bound);
		json_bool(b, &first, "status_only", l.status_only);
		json_bool(b, &first, "retiring", l.retiring);
		sbuf_put(b, "}");
	}
	sbuf_put(b, "]");
}

static void write_last_401(const struct metrics_route *mr, struct sbuf *b)
{
	bool first = true;

	if (mr == NULL || mr->last_401 == 0) {
		sbuf_put(b, "null");
		return;
	}
	sbuf_put(b, "{");
	json_time(b, &first, "time", mr->last_401);
	json_bool(b, &first, "replayed", mr->last_401_replayed);
	json_str(b, &first, "token_fingerprint", mr->last_401_fp[0] ? mr->last_401_fp : NULL);
	sbuf_put(b, "}");
}

/* A list of strings; an empty list (no restriction) is null. */
static void json_strs(struct sbuf *b, bool *first, const char *key, const struct cfg_strs *l)
{
	json_key(b, first, key);
	if (l->n == 0) {
		sbuf_put(b, "null");
		return;
	}
	for (size_t i = 0; i < l->n; i++) {
		sbuf_put(b, i ? "," : "[");
		sbuf_json_string(b, l->v[i]);
	}
	sbuf_put(b, "]");
}

static void json_ids(struct sbuf *b, bool *first, const char *key, const struct acc_ids *l)
{
	json_key(b, first, key);
	if (l->n == 0) {
		sbuf_put(b, "null");
		return;
	}
	for (size_t i = 0; i < l->n; i++)
		sbuf_printf(b, "%s%u", i ? "," : "[", l->v[i]);
	sbuf_put(b, "]");
}

/* The route's access rules (access.h); null lists allow everything. */
static void write_policy(const struct cfg_route *cr, struct sbuf *b)
{
	bool first = true;

	sbuf_put(b, "{");
	json_bool(b, &first, "read_only", cr->read_only);
	json_strs(b, &first, "methods", &cr->methods);
	json_strs(b, &first, "allow_paths", &cr->allow_paths);
	json_strs(b, &first, "deny_paths", &cr->deny_paths);
	json_ids(b, &first, "allow_uids", &cr->allow_uids);
	json_ids(b, &first, "allow_gids", &cr->allow_gids);
	json_u64(b, &first, "max_body", cr->max_body);
	sbuf_put(b, "}");
}

/* The route's upstream connection policy: its settings, then how it stands now. */
static void write_connections(const struct runtime *rt, size_t r, struct sbuf *b)
{
	const struct cfg_route *cr = &rt->cfg->routes[r];
	const struct metrics_route *mr = rt->route_stats[r];
	bool first = true;

	sbuf_put(b, "{");
	json_u64(b, &first, "max", cr->conn_max);
	json_u64(b, &first, "queue", cr->conn_queue);
	json_u64(b, &first, "queue_timeout_ms", cr->conn_queue_ms);
	json_u64(b, &first, "keepalive_ms", cr->conn_keepalive_ms);
	json_u64(b, &first, "open", mr->up_open);
	json_u64(b, &first, "in_progress", mr->up_active);
	json_u64(b, &first, "queued", mr->queued);
	json_u64(b, &first, "refused_full", mr->queue_refused);
	json_u64(b, &first, "refused_timeout", mr->queue_expired);
	sbuf_put(b, "}");
}

static void write_routes(const struct runtime *rt, struct sbuf *b)
{
	sbuf_put(b, "[");
	for (size_t r = 0; r < rt->cfg->nroutes; r++) {
		const struct cfg_route *cr = &rt->cfg->routes[r];
		const struct metrics_route *mr = rt->route_stats[r];
		bool first = true;

		sbuf_put(b, r ? ",{" : "{");
		json_str(b, &first, "prefix", cr->prefix);
		json_str(b, &first, "upstream", cr->upstream);
		json_str(b, &first, "token", cr->token);
		json_str(b, &first, "auth", cfg_auth_name(cr->auth));
		if (cr->port_file != NULL) {
			json_str(b, &first, "port_file", cr->port_file);
			json_u64(b, &first, "port", rt->route_ports[r].port);
		}
		json_key(b, &first, "policy");
		write_policy(cr, b);
		json_key(b, &first, "connections");
		write_connections(rt, r, b);
		json_u64(b, &first, "requests", route_requests(mr));
		json_u64(b, &first, "upstream_401", mr->upstream_401);
		json_u64(b, &first, "replays", mr->replays);
		json_key(b, &first, "last_401");
		write_last_401(mr, b);
		sbuf_put(b, "}");
	}
	sbuf_put(b, "]");
}

static void write_tokens(const struct runtime *rt, struct sbuf *b)
{
	size_t n = 0;

	sbuf_put(b, "[");
	for (size_t i = 0; i < rt->cfg->ntokens; i++) {
		const struct token *t = &rt->tokens[i];
		const struct metrics_token *mt;
		char src[320], fp[SHA256_FP_LEN];
		bool first = true;

		if (!rt->token_used[i])
			continue;
		mt = metrics_token_find(t->cfg->name);
		token_describe_source(t->cfg, src, sizeof(src));
		if (t->value != NULL)
			sha256_fingerprint(t->value, t->len, fp);
		sbuf_put(b, n++ ? ",{" : "{");
		json_str(b, &first, "name", t->cfg->name);
		json_str(b, &first, "source", src);
		json_str(b, &first, "state", token_state_name(t->state));
		json_bool(b, &first, "usable", token_usable(t));
		json_str(b, &first, "fingerprint", t->value ? fp : NULL);
		/* The registry's time survives reloads that re-read the same value. */
		json_time(b, &first, "changed", mt && mt->changed ? mt->changed : t->changed);
		json_str(b, &first, "error", t->state != TOKEN_OK ? t->reason : NULL);
		json_str(b, &first, "hint", token_hint(t));
		json_key(b, &first, "last_error");
		if (mt == NULL || mt->last_error_at == 0) {
			sbuf_put(b, "null");
		} else {
			bool f2 = true;

			sbuf_put(b, "{");
			json_time(b, &f2, "time", mt->last_error_at);
			json_str(b, &f2, "message", mt->last_error);
			sbuf_put(b, "}");
		}
		json_u64(b, &first, "reloads", mt ? mt->reloads : 0);
		json_u64(b, &first, "read_failures", mt ? mt->failures : 0);
		sbuf_put(b, "}");
	}
	sbuf_put(b, "]");
}

static void write_reload(struct sbuf *b)
{
	bool first = true;

	if (st.reload.at == 0) {
		sbuf_put(b, "null");
		return;
	}
	sbuf_put(b, "{");
	json_time(b, &first, "time", st.reload.at);
	json_str(b, &first, "result", st.reload.ok ? "success" : "failure");
	json_str(b, &first, "reason", st.reload.reason);
	for (int errors = 1; errors >= 0; errors--) {
		size_t n = 0;

		json_key(b, &first, errors ? "errors" : "warnings");
		sbuf_put(b, "[");
		for (size_t i = 0; i < st.reload.nlines; i++) {
			if (st.reload.is_error[i] != (bool)errors)
				continue;
			sbuf_put(b, n++ ? "," : "");
			sbuf_json_string(b, st.reload.lines[i]);
		}
		sbuf_put(b, "]");
	}
	json_u64(b, &first, "not_shown", st.reload.dropped);
	sbuf_put(b, "}");
}

static void serve_status_json(struct app *app, bool ok, struct sbuf *b)
{
	struct runtime *rt = app->rt;
	bool first = true;

	sbuf_put(b, "{");
	json_str(b, &first, "version", ZTP_VERSION);
	json_u64(b, &first, "pid", (uint64_t)os_pid());
	json_time(b, &first, "started", st.started);
	json_u64(b, &first, "uptime_seconds", (os_monotonic_ms() - st.started_ms) / 1000);
	json_bool(b, &first, "healthy", ok);
	json_key(b, &first, "problems");
	write_problems(rt, b);
	json_str(b, &first, "config", rt->cfg->path);
	json_time(b, &first, "config_loaded", st.config_loaded);
	json_key(b, &first, "last_reload");
	write_reload(b);
	json_str(b, &first, "status_prefix", rt->cfg->status_prefix);
	json_bool(b, &first, "access_log", rt->cfg->access_log);
	json_u64(b, &first, "connections", st.server->connections(app));
	json_u64(b, &first, "requests_in_progress", app->nreqs);
	json_key(b, &first, "listeners");
	write_listeners(app, b);
	json_key(b, &first, "routes");
	write_routes(rt, b);
	json_key(b, &first, "tokens");
	write_tokens(rt, b);
	sbuf_put(b, "}\n");
}

/* ---- status as a table ---- */

enum { COL_ROUTE, COL_UPSTREAM, COL_TOKEN, COL_STATE, COL_FP, COL_CHANGED, COL_401, NCOLS };

static const char *const col_titles[NCOLS] = {
    "ROUTE", "UPSTREAM", "TOKEN", "STATE", "FINGERPRINT", "CHANGED", "LAST 401",
};

static void route_cells(struct runtime *rt, size_t r, char cells[NCOLS][CELL_MAX])
{
	const struct cfg_route *cr = &rt->cfg->routes[r];
	const struct token *t = runtime_route_token(rt, cr);
	const struct metrics_token *mt = metrics_token_find(t->cfg->name);
	const struct metrics_route *mr = rt->route_stats[r];
	char when[48];

	snprintf(cells[COL_ROUTE], CELL_MAX, "%s", cr->prefix);
	snprintf(cells[COL_UPSTREAM], CELL_MAX, "%s", cr->upstream);
	snprintf(cells[COL_TOKEN], CELL_MAX, "%s (%s)", t->cfg->name, cfg_auth_name(cr->auth));
	snprintf(cells[COL_STATE], CELL_MAX, "%s%s", token_state_name(t->state),
	         t->state != TOKEN_OK && token_usable(t) ? " (old value kept)" : "");
	if (t->value != NULL)
		sha256_fingerprint(t->value, t->len, cells[COL_FP]);
	else
		snprintf(cells[COL_FP], CELL_MAX, "-");
	iso_time(mt && mt->changed ? mt->changed : t->changed, cells[COL_CHANGED], CELL_MAX, false);
	iso_time(mr->last_401, when, sizeof(when), false);
	snprintf(cells[COL_401], CELL_MAX, "%s%s", when,
	         mr->last_401 && mr->last_401_replayed ? " (replayed)" : "");
}

static void table_row(struct sbuf *b, char cells[NCOLS][CELL_MAX], const size_t *width)
{
	for (int c = 0; c + 1 < NCOLS; c++)
		sbuf_printf(b, "%-*s  ", (int)width[c], cells[c]);
	sbuf_printf(b, "%s\n", cells[NCOLS - 1]);
}

static void serve_status_text(struct app *app, bool ok, struct sbuf *b)
{
	struct runtime *rt = app->rt;
	struct status_listener l;
	char cells[NCOLS][CELL_MAX], up[32], when[48];
	size_t width[NCOLS], nproblems = 0;

	duration_text((os_monotonic_ms() - st.started_ms) / 1000, up, sizeof(up));
	sbuf_printf(b, "zt-token-proxy %s (pid %d): %s, up %s\n", ZTP_VERSION, (int)os_pid(),
	            ok ? "healthy" : "UNHEALTHY", up);
	iso_time(st.config_loaded, when, sizeof(when), false);
	sbuf_printf(b, "configuration: %s, loaded %s\n",
	            rt->cfg->path ? rt->cfg->path : "embedded defaults", when);
	iso_time(st.reload.at, when, sizeof(when), false);
	if (st.reload.at == 0)
		sbuf_put(b, "last reload: none\n");
	else if (st.reload.ok)
		sbuf_printf(b, "last reload: %s, succeeded\n", when);
	else
		sbuf_printf(b, "last reload: %s, FAILED (%s); the previous configuration serves\n",
		            when, st.reload.reason ? st.reload.reason : "see the log");
	for (size_t i = 0; i < st.reload.nlines && !st.reload.ok; i++)
		sbuf_printf(b, "  %s\n", st.reload.lines[i]);
	sbuf_put(b, "listening:");
	for (size_t i = 0; st.server->listener_at(app, i, &l); i++)
		sbuf_printf(b, " %s%s%s", l.bound, l.status_only ? " (status only)" : "",
		            l.retiring ? " (closing)" : "");
	sbuf_put(b, "\n\n");

	for (int c = 0; c < NCOLS; c++) {
		snprintf(cells[c], CELL_MAX, "%s", col_titles[c]);
		width[c] = strlen(cells[c]);
	}
	for (size_t r = 0; r < rt->cfg->nroutes; r++) {
		route_cells(rt, r, cells);
		for (int c = 0; c < NCOLS; c++)
			if (strlen(cells[c]) > width[c])
				width[c] = strlen(cells[c]);
	}
	for (int c = 0; c < NCOLS; c++)
		snprintf(cells[c], CELL_MAX, "%s", col_titles[c]);
	table_row(b, cells, width);
	for (size_t r = 0; r < rt->cfg->nroutes; r++) {
		route_cells(rt, r, cells);
		table_row(b, cells, width);
	}
	for (size_t r = 0; r < rt->cfg->nroutes; r++) {
		const struct token *t = runtime_route_token(rt, &rt->cfg->routes[r]);
		const char *hint = token_hint(t);
		char src[320];

		if (token_usable(t))
			continue;
		token_describe_source(t->cfg, src, sizeof(src));
		sbuf_printf(b, "%s  %s: token '%s' (%s) is %s: %s\n",
		            nproblems++ ? "" : "\nproblems:\n", rt->cfg->routes[r].prefix,
		            t->cfg->name, src, token_state_name(t->state), t->reason);
		if (hint != NULL)
			sbuf_printf(b, "    fix: %s\n", hint);
	}
}

/* ---- dispatch ---- */

/* Whether the query has a parameter name (with or without "=value"); *value gets it. */
static bool query_param(const struct target *tgt, const char *name, const char **value,
                        size_t *vlen)
{
	const char *p = tgt->query, *end = p ? p + tgt->querylen : NULL;
	size_t nlen = strlen(name);

	while (p != NULL && p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		size_t klen = (size_t)((eq ? eq : stop) - p);

		if (klen == nlen && memcmp(p, name, nlen) == 0) {
			*value = eq ? eq + 1 : stop;
			*vlen = (size_t)(stop - *value);
			return true;
		}
		p = amp ? amp + 1 : NULL;
	}
	return false;
}

static void json_error(struct sbuf *b, const char *code, const char *message)
{
	bool first = true;

	sbuf_put(b, "{");
	json_str(b, &first, "error", code);
	json_str(b, &first, "message", message);
	sbuf_put(b, "}\n");
}

void status_serve(struct app *app, const char *method, const struct target *tgt,
                  struct status_reply *out)
{
	const char *prefix = app->rt->cfg->status_prefix, *v;
	const char *sub = tgt->path + strlen(prefix);
	size_t sublen = tgt->pathlen - strlen(prefix), vlen;
	char msg[256];
	struct sbuf b;

	sbuf_init(&b, BODY_MAX);
	out->type = JSON_TYPE;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		out->status = MHD_HTTP_METHOD_NOT_ALLOWED;
		json_error(&b, "method_not_allowed", "the status paths answer GET and HEAD only");
	} else if (sublen == 7 && memcmp(sub, "/status", 7) == 0) {
		bool ok = healthy(app->rt);

		out->status = ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
		if (query_param(tgt, "format", &v, &vlen) && vlen == 4 &&
		    memcmp(v, "text", 4) == 0) {
			out->type = TEXT_TYPE;
			serve_status_text(app, ok, &b);
		} else {
			serve_status_json(app, ok, &b);
		}
	} else if (sublen == 7 && memcmp(sub, "/health", 7) == 0) {
		out->status = serve_health(app, query_param(tgt, "live", &v, &vlen), &b);
	} else if (sublen == 8 && memcmp(sub, "/metrics", 8) == 0) {
		struct metrics_gauges g = {
		    .version = ZTP_VERSION,
		    .curl_version = curl_version_info(CURLVERSION_NOW)->version,
		    .mhd_version = MHD_get_version(),
		    .start_time = st.started,
		    .connections = st.server->connections(app),
		    .requests = app->nreqs,
		};

		out->status = MHD_HTTP_OK;
		out->type = STATUS_METRICS_TYPE;
		metrics_write(&b, &g);
	} else {
		out->status = MHD_HTTP_NOT_FOUND;
		snprintf(msg, sizeof(msg), "%s/ has status, health and metrics", prefix);
		json_error(&b, "not_found", msg);
	}
	out->body = sbuf_take(&b, &out->len);
	if (out->body == NULL) {
		out->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		out->type = JSON_TYPE;
	}
}
