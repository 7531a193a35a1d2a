/*
 * Configuration keys: one table per section (the top level, timeouts,
 * limits, status, a token, a route, a unix listen socket) naming each key,
 * its value type, where it is stored, its range, default and help text;
 * the checks particular to some keys; and what is checked once a whole
 * mapping has been read (the tables' finish functions).
 */
#include "config_impl.h"

#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "os.h"
#include "token.h"
#include "ztp_build.h"

#define MAX_TOKENS   1024
#define MAX_ROUTES   1024
#define PATH_MAX_LEN 4096
#define DAY_MS       (24u * 3600u * 1000u)
#define GIB          (1024ull * 1024 * 1024)

/* ---- Checks ------------------------------------------------------------ */

static bool check_abs_path(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m)
{
	struct qbuf qb;

	if (!os_path_is_absolute(s)) {
		cfg_err(c, m, "%s '%s' must be an absolute path", k->name, cfg_quote(&qb, s));
		return false;
	}
	if (strlen(s) > PATH_MAX_LEN || cfg_has_control(s)) {
		cfg_err(c, m, "%s '%s' is too long or contains a control character", k->name,
		        cfg_quote(&qb, s));
		return false;
	}
	return true;
}

static bool check_ca_file(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m)
{
	struct stat st;
	struct qbuf qb;
	int fd;

	if (!check_abs_path(c, k, s, m))
		return false;
	/* stat first: opening a FIFO or a device could block or have side effects. */
	if (stat(s, &st) != 0) {
		cfg_err(c, m, "%s '%s': %s", k->name, cfg_quote(&qb, s), strerror(errno));
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		cfg_err(c, m, "%s '%s' is not a regular file", k->name, cfg_quote(&qb, s));
		return false;
	}
	fd = open(s, O_RDONLY | O_BINARY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		cfg_err(c, m, "%s '%s': %s", k->name, cfg_quote(&qb, s), strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

/*
 * A token pasted where its name goes (env:, credential:) would be a valid
 * name, and the proxy names its sources in logs, on the status page and
 * in 503 bodies.
 */
static bool check_not_a_value(struct ctx *c, const struct key *k, const char *s,
                              const yaml_mark_t *m)
{
	if (!cfg_looks_like_token(s))
		return true;
	cfg_err(c, m,
	        "%s %s: this is where the name of the token's %s goes, not the token; put the "
	        "value there and name it here",
	        k->name, TOKEN_LOOKALIKE, strcmp(k->name, "env") == 0 ? "variable" : "file");
	return false;
}

static bool check_env_name(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m)
{
	struct qbuf qb;
	size_t n = strlen(s);
	bool ok = n > 0 && n <= 255 && !cfg_is_digit(s[0]);

	for (size_t i = 0; ok && i < n; i++)
		ok = cfg_is_alpha(s[i]) || cfg_is_digit(s[i]) || s[i] == '_';
	if (ok && !check_not_a_value(c, k, s, m))
		return false;
	if (!ok)
		cfg_err(c, m, "%s '%s' is not a variable name (letters, digits and '_')", k->name,
		        cfg_quote(&qb, s));
	return ok;
}

static bool check_credential(struct ctx *c, const struct key *k, const char *s,
                             const yaml_mark_t *m)
{
	struct qbuf qb;
	size_t n = strlen(s);

	if (n == 0 || n > 255 || strchr(s, '/') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 ||
	    cfg_has_control(s)) {
		cfg_err(c, m, "%s '%s' must be a file name in $CREDENTIALS_DIRECTORY, without '/'",
		        k->name, cfg_quote(&qb, s));
		return false;
	}
	return check_not_a_value(c, k, s, m);
}

/* Never puts s in a message: it is a secret. */
static bool check_inline_value(struct ctx *c, const struct key *k, const char *s,
                               const yaml_mark_t *m)
{
	size_t n = strlen(s);
	bool ok = true, printable = n >= 1 && n <= TOKEN_MAX;
	char mode[32] = "", why[512], fix[512];

	(void)k;
	for (size_t i = 0; printable && i < n; i++)
		printable = cfg_is_graph(s[i]);
	if (strcmp(s, HIDDEN_VALUE) == 0) {
		cfg_err(
		    c, m,
		    "value is the placeholder that --print-config shows; put the token itself here "
		    "or use file:, env: or credential:");
		return false;
	}
	if (!c->file_private && !ZTP_HAVE_FILE_MODES) {
		cfg_err(c, m,
		        "inline token value in a file whose privacy cannot be checked on this "
		        "platform; use file:, env: or credential: instead");
		ok = false;
	} else if (!c->file_private) {
		if (c->mode >= 0)
			snprintf(mode, sizeof(mode), " (mode %04o)", (unsigned)c->mode);
		cfg_err(
		    c, m,
		    "inline token value in a file %s%s; run 'chmod 600 %s' or use file:, env: or "
		    "credential: instead",
		    c->mode >= 0 ? "that group or others can read" : "readable by group or others",
		    mode, c->name);
		ok = false;
	}
	if (c->mode >= 0 && c->owner >= 0 &&
	    token_file_insecure(c->name, (unsigned long)c->owner, (unsigned)c->mode, why,
	                        sizeof(why), fix, sizeof(fix))) {
		cfg_err(c, m, "inline token value in a file that is not safe: %s; %s", why, fix);
		ok = false;
	}
	if (!printable) {
		cfg_err(
		    c, m,
		    "inline token value must be 1 to %d printable ASCII characters without spaces",
		    TOKEN_MAX);
		ok = false;
	}
	return ok;
}

/* ---- Key tables -------------------------------------------------------- */

enum { UK_UNIX, UK_MODE, UK_OWNER, UK_GROUP, UK_ALLOW_UIDS, UK_ALLOW_GIDS, UK_COUNT };

static void unix_finish(struct ctx *c, void *obj, const yaml_node_t *const *seen);

static const struct key unix_keys[] = {
    [UK_UNIX] = {"unix", &cfg_type_unix, .flags = KF_REQUIRED},
    [UK_MODE] = {"mode", &cfg_type_mode, offsetof(struct cfg_listen, mode),
                 .help = "socket file mode"},
    [UK_OWNER] = {"owner", &cfg_type_owner, offsetof(struct cfg_listen, owner), .kind = 0},
    [UK_GROUP] = {"group", &cfg_type_owner, offsetof(struct cfg_listen, group), .kind = 1},
    [UK_ALLOW_UIDS] = {"allow_uids", &cfg_type_ids, offsetof(struct cfg_listen, allow_uids),
                       .kind = 0, .flags = KF_NONEMPTY},
    [UK_ALLOW_GIDS] = {"allow_gids", &cfg_type_ids, offsetof(struct cfg_listen, allow_gids),
                       .kind = 1, .flags = KF_NONEMPTY},
};

const struct table cfg_unix_table = {"listen socket", unix_keys, UK_COUNT, unix_finish};

static const char *level_name(int v)
{
	return log_level_name((enum log_level)v);
}

static const char *auth_name(int v)
{
	return cfg_auth_name((enum auth_style)v);
}

static const char *client_name(int v)
{
	return cfg_client_name((enum route_client)v);
}

enum { TK_FILE, TK_ENV, TK_CREDENTIAL, TK_VALUE, TK_WATCH, TK_COUNT };

static void token_finish(struct ctx *c, void *obj, const yaml_node_t *const *seen);

static const struct key token_keys[] = {
    [TK_FILE] = {"file", &cfg_type_source, .kind = TOKEN_SRC_FILE, .check = check_abs_path,
                 .flags = KF_ONE_OF, .help = "absolute path of a file that holds the token"},
    [TK_ENV] = {"env", &cfg_type_source, .kind = TOKEN_SRC_ENV, .check = check_env_name,
                .flags = KF_ONE_OF, .help = "environment variable that holds the token"},
    [TK_CREDENTIAL] = {"credential", &cfg_type_source, .kind = TOKEN_SRC_CREDENTIAL,
                       .check = check_credential, .flags = KF_ONE_OF,
                       .help = "file name in $CREDENTIALS_DIRECTORY (systemd LoadCredential=)"},
    [TK_VALUE] = {"value", &cfg_type_source, .kind = TOKEN_SRC_VALUE, .check = check_inline_value,
                  .flags = KF_ONE_OF,
                  .help = "the token itself; only in a file that group and others cannot read"},
    [TK_WATCH] = {"watch", &cfg_type_watch, offsetof(struct cfg_token, watch), .def = "true",
                  .help = "re-read a file or credential when it changes"},
};

const struct table cfg_token_table = {"token", token_keys, TK_COUNT, token_finish};

enum {
	RK_PREFIX,
	RK_UPSTREAM,
	RK_TOKEN,
	RK_AUTH,
	RK_CA_FILE,
	RK_METHODS,
	RK_READ_ONLY,
	RK_ALLOW_PATHS,
	RK_DENY_PATHS,
	RK_ALLOW_UIDS,
	RK_ALLOW_GIDS,
	RK_MAX_BODY,
	RK_CONNECTIONS,
	RK_PORT_FILE,
	RK_CLIENT,
	RK_COUNT
};

static void route_finish(struct ctx *c, void *obj, const yaml_node_t *const *seen);

/* No help lines: inside a route they would repeat for every route --print-config shows. */
static const struct key connection_keys[] = {
    {"max", &cfg_type_count, offsetof(struct cfg_route, conn_max), .max = 65535},
    {"queue", &cfg_type_count, offsetof(struct cfg_route, conn_queue), .max = 65535},
    {"queue_timeout", &cfg_type_duration, offsetof(struct cfg_route, conn_queue_ms), .min = 1,
     .max = DAY_MS},
    {"keepalive", &cfg_type_duration, offsetof(struct cfg_route, conn_keepalive_ms), .max = DAY_MS},
};

static const struct table connection_table = {
    "connections", connection_keys, sizeof(connection_keys) / sizeof(connection_keys[0]), NULL};

static const struct key route_keys[] = {
    [RK_PREFIX] = {"prefix", &cfg_type_prefix, offsetof(struct cfg_route, prefix),
                   .flags = KF_REQUIRED, .help = "request paths under this prefix use the route"},
    [RK_UPSTREAM] = {"upstream", &cfg_type_upstream, offsetof(struct cfg_route, upstream),
                     .flags = KF_REQUIRED, .help = "where requests go, the prefix replaced"},
    [RK_TOKEN] = {"token", &cfg_type_token_ref, offsetof(struct cfg_route, token),
                  .flags = KF_REQUIRED, .help = "name of the token to inject"},
    [RK_AUTH] = {"auth", &cfg_type_enum, offsetof(struct cfg_route, auth),
                 .max = AUTH_X_ZT1_AUTH + 1, .enum_name = auth_name, .flags = KF_REQUIRED,
                 .help = "how the token is sent: token, bearer or x-zt1-auth"},
    [RK_CA_FILE] = {"ca_file", &cfg_type_path, offsetof(struct cfg_route, ca_file),
                    .check = check_ca_file, .help = "CA bundle for an https upstream"},
    [RK_METHODS] = {"methods", &cfg_type_methods, offsetof(struct cfg_route, methods),
                    .flags = KF_NONEMPTY},
    [RK_READ_ONLY] = {"read_only", &cfg_type_flag, offsetof(struct cfg_route, read_only),
                      .help = "GET and HEAD only"},
    [RK_ALLOW_PATHS] = {"allow_paths", &cfg_type_globs, offsetof(struct cfg_route, allow_paths),
                        .flags = KF_NONEMPTY},
    [RK_DENY_PATHS] = {"deny_paths", &cfg_type_globs, offsetof(struct cfg_route, deny_paths),
                       .flags = KF_NONEMPTY},
    [RK_ALLOW_UIDS] = {"allow_uids", &cfg_type_ids, offsetof(struct cfg_route, allow_uids),
                       .kind = 0, .flags = KF_NONEMPTY},
    [RK_ALLOW_GIDS] = {"allow_gids", &cfg_type_ids, offsetof(struct cfg_route, allow_gids),
                       .kind = 1, .flags = KF_NONEMPTY},
    [RK_MAX_BODY] = {"max_body", &cfg_type_size, offsetof(struct cfg_route, max_body), .max = GIB},
    [RK_CONNECTIONS] = {"connections", &cfg_type_section, .sub = &connection_table},
    [RK_PORT_FILE] = {"port_file", &cfg_type_path, offsetof(struct cfg_route, port_file),
                      .check = check_abs_path,
                      .help = "file holding the upstream's port, followed as it changes"},
    [RK_CLIENT] = {"client", &cfg_type_enum, offsetof(struct cfg_route, client),
                   .max = CLIENT_H1 + 1, .enum_name = client_name,
                   .help = "HTTP client for the upstream: h1 or curl"},
};

const struct table cfg_route_table = {"route", route_keys, RK_COUNT, route_finish};

static const struct key timeout_keys[] = {
    {"client_idle", &cfg_type_duration, offsetof(struct config, client_idle_ms), .min = 1000,
     .max = DAY_MS, .def = "60s", .help = "close a client connection idle this long; at least 1s"},
    {"upstream_connect", &cfg_type_duration, offsetof(struct config, upstream_connect_ms), .min = 1,
     .max = DAY_MS, .def = "10s", .help = "give up connecting to an upstream after this long"},
    {"upstream", &cfg_type_duration, offsetof(struct config, upstream_ms), .min = 0, .max = DAY_MS,
     .def = "300s", .help = "longest time one upstream exchange may take; 0 = no limit"},
    {"shutdown", &cfg_type_duration, offsetof(struct config, shutdown_ms), .min = 0, .max = DAY_MS,
     .def = "10s", .help = "on stop, how long requests in progress may take to finish"},
    {"client_header", &cfg_type_duration, offsetof(struct config, client_header_ms), .min = 1000,
     .max = DAY_MS, .def = "10s",
     .help = "a request's line and headers must arrive within this time; at least 1s"},
    {"client_body", &cfg_type_duration, offsetof(struct config, client_body_ms), .min = 1000,
     .max = DAY_MS, .def = "60s",
     .help = "a request's body must arrive within this time of its headers; at least 1s"},
};

static const struct table timeout_table = {"timeouts", timeout_keys,
                                           sizeof(timeout_keys) / sizeof(timeout_keys[0]), NULL};

static const struct key limit_keys[] = {
    {"max_connections", &cfg_type_count, offsetof(struct config, max_connections), .min = 1,
     .max = 65535, .def = "1024", .help = "most client connections at once, 1 to 65535"},
    {"replay_body", &cfg_type_size, offsetof(struct config, replay_body), .min = 0, .max = GIB,
     .def = "64KiB",
     .help = "request bodies kept to replay a request once after a 401; at most 1GiB"},
    {"max_header_size", &cfg_type_size, offsetof(struct config, max_header_size), .min = 1024,
     .max = 1024 * 1024, .def = "16KiB",
     .help = "largest request line and headers (431 beyond), 1KiB to 1MiB"},
    {"max_headers", &cfg_type_count, offsetof(struct config, max_headers), .min = 8, .max = 1000,
     .def = "100", .help = "most header lines in a request (431 beyond), 8 to 1000"},
    {"max_body", &cfg_type_size, offsetof(struct config, max_body), .min = 0, .max = GIB,
     .def = "16MiB",
     .help = "largest request body (413 beyond) on routes without their own max_body"},
};

static const struct table limit_table = {"limits", limit_keys,
                                         sizeof(limit_keys) / sizeof(limit_keys[0]), NULL};

enum { SK_PREFIX, SK_LISTEN, SK_COUNT };

static void status_finish(struct ctx *c, void *obj, const yaml_node_t *const *seen);

static const struct key status_keys[] = {
    [SK_PREFIX] = {"prefix", &cfg_type_prefix, offsetof(struct config, status_prefix),
                   .def = "/_proxy",
                   .help = "PREFIX/status, PREFIX/health and PREFIX/metrics are answered by the "
                           "proxy itself and never forwarded"},
    [SK_LISTEN] = {"listen", &cfg_type_status_listen, .kind = 1,
                   .help = "more addresses that serve only the status paths, e.g. for a "
                           "metrics scraper"},
};

static const struct table status_table = {"status", status_keys, SK_COUNT, status_finish};

static void node_tokens(struct ctx *c, const struct key *k, const yaml_node_t *n, void *obj);
static void node_routes(struct ctx *c, const struct key *k, const yaml_node_t *n, void *obj);

static const struct key_type t_tokens = {"a mapping of token names", .node = node_tokens,
                                         .print = cfg_print_tokens, .items = &cfg_token_table,
                                         .item_path = ".<name>"};
static const struct key_type t_routes = {"a list of routes", .node = node_routes,
                                         .print = cfg_print_routes, .items = &cfg_route_table,
                                         .item_path = "[]"};

static const struct key top_keys[] = {
    {"log_level", &cfg_type_enum, offsetof(struct config, log_level), .max = LOG_DEBUG + 1,
     .enum_name = level_name, .def = "info", .help = "how much to log: error, warn, info or debug"},
    {"listen", &cfg_type_listen,
     .help = "addresses to listen on: \"IPv4:PORT\" or \"[IPv6]:PORT\"; port 0 picks a free "
             "port"},
    {"timeouts", &cfg_type_section, .sub = &timeout_table},
    {"limits", &cfg_type_section, .sub = &limit_table},
    {"tokens", &t_tokens,
     .help = "where each token comes from: exactly one of file, env, credential or value"},
    {"routes", &t_routes,
     .help = "request path prefix -> upstream and token; the longest matching prefix wins"},
    {"status", &cfg_type_section, .sub = &status_table},
    {"access_log", &cfg_type_bool, offsetof(struct config, access_log), .def = "true",
     .help = "log one info line per request (route, method, path without query, status, "
             "bytes, duration)"},
    {"allow_remote", &cfg_type_bool, offsetof(struct config, allow_remote), .def = "false",
     .help = "allow listen addresses that are not loopback ones; needs allow_from"},
    {"allow_from", &cfg_type_cidrs, offsetof(struct config, allow_from),
     .help = "when set, TCP clients must come from one of these networks, loopback included"},
    {"allowed_hosts", &cfg_type_hosts, offsetof(struct config, allowed_hosts),
     .help = "Host header names served besides localhost, 127.0.0.1 and [::1]"},
    {"allowed_origins", &cfg_type_origins, offsetof(struct config, allowed_origins),
     .help = "web page origins whose requests are served; by default none"},
};

static void top_finish(struct ctx *c, void *obj, const yaml_node_t *const *seen);

const struct table cfg_top_table = {"the configuration", top_keys,
                                    sizeof(top_keys) / sizeof(top_keys[0]), top_finish};

_Static_assert(TK_COUNT <= MAX_TABLE_KEYS && RK_COUNT <= MAX_TABLE_KEYS &&
                   sizeof(top_keys) / sizeof(top_keys[0]) <= MAX_TABLE_KEYS,
               "cfg_walk_map's seen[] is big enough");

/* ---- After a mapping was read ------------------------------------------ */

static void token_finish(struct ctx *c, void *obj, const yaml_node_t *const *seen)
{
	struct cfg_token *t = obj;

	if (cfg_watch_present(NULL, t) || t->arg == NULL)
		return;
	if (seen[TK_WATCH])
		cfg_warn(c, &seen[TK_WATCH]->start_mark, "'watch' has no effect for %s tokens",
		         cfg_token_kind_name(t->kind));
	/* Only file and credential sources can be watched. */
	t->watch = false;
}

static void status_finish(struct ctx *c, void *obj, const yaml_node_t *const *seen)
{
	const struct config *cfg = obj;

	if (seen[SK_PREFIX] && cfg->status_prefix && strcmp(cfg->status_prefix, "/") == 0)
		cfg_err(c, &seen[SK_PREFIX]->start_mark,
		        "status prefix '/' would hide every route; use a path such as /_proxy");
}

static void route_finish(struct ctx *c, void *obj, const yaml_node_t *const *seen)
{
	struct cfg_route *r = obj, *routes = c->cfg->routes;
	struct qbuf qb;

	for (struct cfg_route *o = routes; r->prefix && o < r; o++) {
		if (o->prefix && strcmp(o->prefix, r->prefix) == 0) {
			cfg_err(c, &seen[RK_PREFIX]->start_mark,
			        "duplicate route prefix '%s' (first at %d:%d)",
			        cfg_quote(&qb, r->prefix), o->line, o->col);
			break;
		}
	}
	if (r->ca_file && r->upstream && !r->tls)
		cfg_warn(c, &seen[RK_CA_FILE]->start_mark,
		         "ca_file has no effect for an http:// upstream");
	if (seen[RK_CLIENT] && r->client == CLIENT_H1 && r->upstream && !cfg_route_h1_can(r))
		cfg_err(c, &seen[RK_CLIENT]->start_mark,
		        "client: h1 speaks plain http to an IP address or localhost only; "
		        "use client: curl for this upstream");
	if (seen[RK_READ_ONLY] && r->read_only && r->methods.n > 0)
		cfg_err(
		    c, &seen[RK_READ_ONLY]->start_mark,
		    "route has both read_only and methods; read_only means methods: [GET, HEAD]");
}

static void unix_finish(struct ctx *c, void *obj, const yaml_node_t *const *seen)
{
	const struct cfg_listen *l = obj;

	if (seen[UK_MODE] && (l->mode & 0002) && l->allow_uids.n == 0 && l->allow_gids.n == 0)
		cfg_warn(
		    c, &seen[UK_MODE]->start_mark,
		    "mode %04o lets every local user connect to the socket and use your tokens; "
		    "use 0660 with a group, or allow_uids / allow_gids",
		    l->mode);
}

static const yaml_mark_t *seen_mark(const yaml_node_t *const *seen, const char *name)
{
	const yaml_node_t *n = seen[cfg_table_find(&cfg_top_table, name) - top_keys];

	return n ? &n->start_mark : NULL;
}

/* Who may connect: needs the whole file, since allow_remote may follow listen. */
static void top_finish(struct ctx *c, void *obj, const yaml_node_t *const *seen)
{
	const struct config *cfg = obj;
	bool remote = false, unix_listener = false;
	struct qbuf qb;

	for (size_t i = 0; i < cfg->nlisten; i++) {
		const struct cfg_listen *l = &cfg->listen[i];
		yaml_mark_t m = cfg_listen_mark(l);

		unix_listener = unix_listener || l->addr.ss_family == AF_UNIX;
		if (l->status_only || !cfg_listen_is_tcp(l) ||
		    acc_addr_is_loopback((const struct sockaddr *)&l->addr))
			continue;
		remote = true;
		if (!cfg->allow_remote)
			cfg_err(
			    c, &m,
			    "listen address '%s' is not a loopback address: whoever can reach it "
			    "can use your tokens; to allow it deliberately, set allow_remote: true "
			    "and list the networks that may connect in allow_from",
			    cfg_quote(&qb, l->text));
	}
	if (cfg->allow_remote && cfg->allow_from.n == 0)
		cfg_err(c, seen_mark(seen, "allow_remote"),
		        "allow_remote needs allow_from, the networks that may connect (e.g. "
		        "[\"10.147.17.0/24\", \"127.0.0.1/32\"])");
	else if (cfg->allow_remote && !remote)
		cfg_warn(c, seen_mark(seen, "allow_remote"),
		         "allow_remote has no effect: every listen address is a loopback address");
	for (size_t i = 0; i < cfg->nroutes && !unix_listener; i++) {
		const struct cfg_route *r = &cfg->routes[i];
		yaml_mark_t m = {.line = (size_t)(r->line - 1), .column = (size_t)(r->col - 1)};

		if (r->allow_uids.n > 0 || r->allow_gids.n > 0)
			cfg_warn(
			    c, &m,
			    "route '%s' has allow_uids or allow_gids but no listen address is a "
			    "unix socket: callers are only known there, so it refuses every "
			    "request",
			    cfg_quote(&qb, r->prefix ? r->prefix : ""));
	}
}

/* ---- Tokens and routes ------------------------------------------------- */

static void node_tokens(struct ctx *c, const struct key *k, const yaml_node_t *n, void *obj)
{
	struct config *cfg = obj;
	char label[NAME_MAX_LEN * 4 + 32];
	struct qbuf qb;

	if (cfg_is_null(n))
		return;
	if (n->type != YAML_MAPPING_NODE) {
		cfg_err(c, &n->start_mark, "'%s' must be a mapping of names to sources, not a %s",
		        k->name, cfg_node_kind(n));
		return;
	}
	cfg_check_dup_keys(c, n);
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *kn = cfg_doc_node(c, p->key), *vn = cfg_doc_node(c, p->value);
		struct cfg_token *t;
		const char *name;

		if (kn == NULL || vn == NULL)
			continue;
		if (kn->type != YAML_SCALAR_NODE) {
			cfg_err(c, &kn->start_mark, "a token name must be a string, not a %s",
			        cfg_node_kind(kn));
			continue;
		}
		name = cfg_scalar_text(c, kn, "a token name");
		if (name == NULL || cfg_find_token(cfg, name)) /* duplicates: cfg_check_dup_keys */
			continue;
		if (!cfg_valid_token_name(name))
			cfg_err(c, &kn->start_mark,
			        "token name '%s' is not valid (1 to 64 of A-Z a-z 0-9 _ . -)",
			        cfg_quote(&qb, name));
		if (cfg->ntokens == MAX_TOKENS) {
			cfg_err(c, &kn->start_mark, "too many tokens (at most %d)", MAX_TOKENS);
			return;
		}
		if (!cfg_grow(c, (void **)&cfg->tokens, &c->cap_tokens, cfg->ntokens,
		              sizeof(*cfg->tokens)))
			return;
		t = &cfg->tokens[cfg->ntokens];
		t->name = cfg_dup(c, name, strlen(name));
		if (t->name == NULL)
			return;
		cfg->ntokens++;
		t->line = (int)kn->start_mark.line + 1;
		t->col = (int)kn->start_mark.column + 1;
		cfg_apply_defaults(c, &cfg_token_table, t);
		snprintf(label, sizeof(label), "token '%s'", cfg_quote(&qb, name));
		cfg_walk_map(c, vn, &cfg_token_table, t, label, &kn->start_mark);
	}
}

struct cfg_route *cfg_new_route(struct ctx *c)
{
	struct config *cfg = c->cfg;
	size_t cap = c->cap_routes;
	struct cfg_route *r;

	if (!cfg_grow(c, (void **)&cfg->routes, &c->cap_routes, cfg->nroutes, sizeof(*cfg->routes)))
		return NULL;
	/* token_marks is parallel to routes and grows with it. */
	if (!cfg_grow(c, (void **)&c->token_marks, &cap, cfg->nroutes, sizeof(*c->token_marks)))
		return NULL;
	r = &cfg->routes[cfg->nroutes++];
	/* Not set: filled in by the load's finish (limits.max_body, the route's kind). */
	r->max_body = UINT64_MAX;
	r->conn_max = r->conn_queue = r->conn_queue_ms = r->conn_keepalive_ms = CFG_UNSET;
	r->client = CLIENT_UNSET;
	return r;
}

static void node_routes(struct ctx *c, const struct key *k, const yaml_node_t *n, void *obj)
{
	struct config *cfg = obj;

	if (n->type != YAML_SEQUENCE_NODE ||
	    n->data.sequence.items.start == n->data.sequence.items.top) {
		cfg_err(c, &n->start_mark,
		        "'%s' must be a list of routes; remove it to use the default routes",
		        k->name);
		return;
	}
	for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
	     i++) {
		const yaml_node_t *item = cfg_doc_node(c, *i);
		struct cfg_route *r;

		if (item == NULL)
			continue;
		if (cfg->nroutes == MAX_ROUTES) {
			cfg_err(c, &item->start_mark, "too many routes (at most %d)", MAX_ROUTES);
			return;
		}
		if (item->type != YAML_MAPPING_NODE) {
			cfg_err(
			    c, &item->start_mark,
			    "a route must be a mapping with prefix, upstream, token and auth, not "
			    "a %s",
			    cfg_is_null(item) ? "empty value" : cfg_node_kind(item));
			continue;
		}
		r = cfg_new_route(c);
		if (r == NULL)
			return;
		c->nparsed_routes = cfg->nroutes;
		r->line = (int)item->start_mark.line + 1;
		r->col = (int)item->start_mark.column + 1;
		cfg_walk_map(c, item, &cfg_route_table, r, "route", &item->start_mark);
	}
}

/* ---- Every key, for the documentation test ------------------------------ */

#define KEY_PATH_MAX    256
#define ITEM_TABLES_MAX 8

struct each_key {
	void (*fn)(void *arg, const char *path);
	void *arg;
	const struct table *seen[ITEM_TABLES_MAX]; /* item tables already listed */
	size_t nseen;
};

static bool item_table_seen(struct each_key *e, const struct table *t)
{
	for (size_t i = 0; i < e->nseen; i++)
		if (e->seen[i] == t)
			return true;
	if (e->nseen < ITEM_TABLES_MAX)
		e->seen[e->nseen++] = t;
	return false;
}

/* Appends s to the path of len bytes; the keys' names are short, so it always fits. */
static size_t path_put(char *path, size_t len, const char *s)
{
	size_t n = strlen(s);

	if (n >= KEY_PATH_MAX - len)
		n = KEY_PATH_MAX - len - 1;
	memcpy(path + len, s, n);
	path[len + n] = '\0';
	return len + n;
}

/* path holds the path of the mapping whose keys t describes (len bytes, 0 at the top). */
static void each_key_in(struct each_key *e, const struct table *t, char *path, size_t len)
{
	for (size_t i = 0; i < t->nkeys; i++) {
		const struct key *k = &t->keys[i];
		const struct key_type *ty = k->type;
		size_t n = path_put(path, path_put(path, len, len > 0 ? "." : ""), k->name);

		e->fn(e->arg, path);
		if (k->sub)
			each_key_in(e, k->sub, path, n);
		if (ty->items && !item_table_seen(e, ty->items))
			each_key_in(e, ty->items, path, path_put(path, n, ty->item_path));
	}
}

void cfg_each_key(void (*fn)(void *arg, const char *path), void *arg)
{
	struct each_key e = {.fn = fn, .arg = arg};
	char path[KEY_PATH_MAX] = "";

	each_key_in(&e, &cfg_top_table, path, 0);
}
