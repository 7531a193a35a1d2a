/*
 * Configuration: YAML file (or the embedded defaults) -> struct config.
 *
 * Keys are described once in tables in config_keys.c that drive parsing,
 * validation and --print-config. Every problem is reported, not just the
 * first, as "FILE:LINE:COL: message" (LINE and COL start at 1).
 *
 * A struct config is immutable once loaded; the daemon swaps whole configs
 * on reload.
 */
#ifndef ZTP_CONFIG_H
#define ZTP_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "net.h"

#include "access.h"
#include "err.h"
#include "log.h"

enum auth_style {
	AUTH_TOKEN,      /* Authorization: token <T>   (Central v1) */
	AUTH_BEARER,     /* Authorization: Bearer <T>  (New Central v2) */
	AUTH_X_ZT1_AUTH, /* X-ZT1-Auth: <T>            (local service) */
};

/* Which HTTP client talks to a route's upstream (upstream.h). */
enum route_client {
	CLIENT_CURL, /* libcurl: https, host names */
	CLIENT_H1,   /* ours, on llhttp: plain http to an IP literal or localhost */
	CLIENT_UNSET,
};

enum token_kind {
	TOKEN_SRC_FILE,       /* arg: path */
	TOKEN_SRC_ENV,        /* arg: variable name */
	TOKEN_SRC_CREDENTIAL, /* arg: name of a file in $CREDENTIALS_DIRECTORY */
	TOKEN_SRC_VALUE,      /* arg: the token itself (config file must be private) */
};

struct cfg_token {
	char *name;
	enum token_kind kind;
	char *arg;
	bool watch;   /* file and credential: watch for changes (key "watch", default true) */
	bool builtin; /* one of the embedded defaults, not from the file */
	int line, col;
};

/* A list of strings from the file; n == 0 when the key is not set. */
struct cfg_strs {
	char **v;
	size_t n;
};

struct cfg_cidrs {
	struct acc_cidr *v;
	size_t n;
};

struct cfg_route {
	char *prefix;   /* starts with '/', no trailing '/' unless it is "/" */
	char *upstream; /* "http(s)://host[:port][/base]" without trailing '/' */
	bool tls;       /* upstream is https */
	char *token;    /* name of a cfg_token in the same config */
	enum auth_style auth;
	char *ca_file; /* NULL: the system's CA store */
	int line, col;

	/* What the route allows (see access.h); empty lists allow everything. */
	struct cfg_strs methods;     /* exact method names */
	bool read_only;              /* GET and HEAD only */
	struct cfg_strs allow_paths; /* glob patterns, normalised like request paths */
	struct cfg_strs deny_paths;
	struct acc_ids allow_uids, allow_gids; /* callers on unix sockets */
	uint64_t max_body;                     /* request body bytes; limits.max_body if not set */

	/*
	 * Upstream connections (key "connections"). When the file leaves them
	 * out, cfg_route_policy_defaults() fills them in for the route's kind.
	 */
	uint32_t conn_max;          /* upstream requests at once; 0: no cap */
	uint32_t conn_queue;        /* requests that may wait for one, in arrival order */
	uint32_t conn_queue_ms;     /* longest wait in that queue */
	uint32_t conn_keepalive_ms; /* idle time a connection is kept for reuse; 0: never */
	char *port_file; /* the upstream's port is read from this file and followed; or NULL */
	enum route_client client; /* key "client"; by default h1 where it can reach the upstream */
};

struct cfg_listen {
	/*
	 * As written, e.g. "[::1]:9994" or "unix:/run/x.sock"; a unix socket with
	 * options is a canonical flow mapping ("{unix: ..., mode: ...}"), so a
	 * reload that changes any option replaces the socket.
	 */
	char *text;
	struct sockaddr_storage addr; /* AF_UNIX: the socket's path */
	socklen_t addrlen;
	int line, col; /* 0 for the defaults */
	/* Unix sockets only. */
	unsigned mode;     /* permission bits of the socket file, default 0600 */
	long owner, group; /* -1: as created */
	struct acc_ids allow_uids, allow_gids; /* callers allowed; empty: anyone who can connect */
	bool status_only; /* from status.listen: serves the status paths only */
};

struct config {
	char *path; /* NULL when running on the embedded defaults */
	enum log_level log_level;

	struct cfg_listen *listen;
	size_t nlisten;
	struct cfg_token *tokens;
	size_t ntokens;
	struct cfg_route *routes; /* sorted: longest prefix first */
	size_t nroutes;

	uint32_t client_idle_ms;      /* timeouts.client_idle, default 60s */
	uint32_t upstream_connect_ms; /* timeouts.upstream_connect, default 10s */
	uint32_t upstream_ms;         /* timeouts.upstream, default 300s; 0 = none */
	uint32_t shutdown_ms;         /* timeouts.shutdown, default 10s */
	uint32_t max_connections;     /* limits.max_connections, default 1024 */
	uint64_t replay_body;         /* limits.replay_body, default 64 KiB */
	uint32_t client_header_ms;    /* timeouts.client_header, default 10s */
	uint32_t client_body_ms;      /* timeouts.client_body, default 60s */
	uint64_t max_header_size;     /* limits.max_header_size, default 16 KiB */
	uint32_t max_headers;         /* limits.max_headers, default 100 */
	uint64_t max_body;            /* limits.max_body, default 16 MiB */

	/* Who may connect, and from which web pages (see access.h). */
	bool allow_remote;             /* non-loopback listen addresses are allowed */
	struct cfg_cidrs allow_from;   /* when set, TCP peers must be in one of these */
	struct cfg_strs allowed_hosts; /* Host names besides localhost, 127.0.0.1, [::1] */
	struct cfg_strs allowed_origins;
	char *status_prefix; /* status.prefix, default "/_proxy" */
	bool access_log;     /* access_log: one info line per request, default true */
};

/*
 * Called once per problem with a complete line such as
 * "/etc/x.yaml:3:5: unknown key 'listne'". is_error is false for warnings.
 */
typedef void (*cfg_report_fn)(void *arg, bool is_error, const char *line);

/*
 * Loads the file at path, or the embedded defaults when path is NULL.
 * On success *out is a new config the caller frees with cfg_free().
 * On ZT_ERR_CONFIG every problem has been passed to report; *out is NULL.
 */
ZT_WUR enum zt_err cfg_load(const char *path, cfg_report_fn report, void *arg, struct config **out);

/*
 * Parses YAML text held in memory; name is used in messages. file_private
 * says whether the text's file is unreadable by group and others (inline
 * token values are refused otherwise). Used by cfg_load, tests and fuzzing.
 */
ZT_WUR enum zt_err cfg_parse(const char *name, const char *text, size_t len, bool file_private,
                             cfg_report_fn report, void *arg, struct config **out);

void cfg_free(struct config *cfg);

/* Writes the effective configuration as YAML; never prints a token value. */
void cfg_print(const struct config *cfg, FILE *out);

/* Not set in the file: the defaults below are filled in at load. */
#define CFG_UNSET UINT32_MAX

/*
 * Whether a route's upstream is served like ZeroTier One's local API (plain
 * HTTP, X-ZT1-Auth), which gets its own connection defaults (config.c).
 */
bool cfg_route_is_zt_local(const struct cfg_route *r);
/* Whether the h1 client can reach the route's upstream: plain http to an IP literal or localhost. */
bool cfg_route_h1_can(const struct cfg_route *r);

const struct cfg_token *cfg_find_token(const struct config *cfg, const char *name);
const char *cfg_auth_name(enum auth_style auth);
const char *cfg_client_name(enum route_client client);
const char *cfg_token_kind_name(enum token_kind kind);

/*
 * Reads a port file such as ZeroTier One's zerotier-one.port the careful
 * way (rfile.h): a regular file holding a number from 1 to 65535, blanks
 * around it allowed. ZT_ERR_NOENT or ZT_ERR_IO when it cannot be read,
 * ZT_ERR_INVALID when it is not a regular file or holds anything else;
 * *port is set only on ZT_OK.
 */
ZT_WUR enum zt_err cfg_read_port(const char *path, unsigned *port);

/* The ZeroTier One home: $ZEROTIER_HOME, else the platform default. */
const char *cfg_zerotier_home(void);

/*
 * Calls fn with the full path of every key the parser accepts, in table
 * order: "log_level", "timeouts", "timeouts.client_idle", "listen[].unix",
 * "tokens.<name>.file", "routes[].prefix", ... The keys of an item that
 * several keys share (a unix socket's, also under status.listen) are listed
 * under the first only. For the test that every key is documented.
 */
void cfg_each_key(void (*fn)(void *arg, const char *path), void *arg);

#endif
