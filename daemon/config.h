/*
 * Configuration: YAML file (or the embedded defaults) -> struct config.
 *
 * Keys are described once in tables in config.c that drive parsing,
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
#include <sys/socket.h>

#include "err.h"
#include "log.h"

enum auth_style {
	AUTH_TOKEN,      /* Authorization: token <T>   (Central v1) */
	AUTH_BEARER,     /* Authorization: Bearer <T>  (New Central v2) */
	AUTH_X_ZT1_AUTH, /* X-ZT1-Auth: <T>            (local service) */
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

struct cfg_route {
	char *prefix;   /* starts with '/', no trailing '/' unless it is "/" */
	char *upstream; /* "http(s)://host[:port][/base]" without trailing '/' */
	bool tls;       /* upstream is https */
	char *token;    /* name of a cfg_token in the same config */
	enum auth_style auth;
	char *ca_file; /* NULL: the system's CA store */
	int line, col;
};

struct cfg_listen {
	char *text; /* as written, e.g. "[::1]:9994" */
	struct sockaddr_storage addr;
	socklen_t addrlen;
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

const struct cfg_token *cfg_find_token(const struct config *cfg, const char *name);
const char *cfg_auth_name(enum auth_style auth);
const char *cfg_token_kind_name(enum token_kind kind);

/* The ZeroTier One home: $ZEROTIER_HOME, else the platform default. */
const char *cfg_zerotier_home(void);

#endif
