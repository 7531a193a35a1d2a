/*
 * zt-token-proxy: start-up and shutdown order, and the command line.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "harden.h"
#include "log.h"
#include "loop.h"
#include "runtime.h"
#include "server.h"
#include "service.h"
#include "signals.h"
#include "status.h"
#include "upstream.h"
#include "ztp_build.h"

/* sysexits(3) values, spelled out so the meaning stays next to the number. */
#define EXIT_USAGE  64
#define EXIT_OSERR  71
#define EXIT_CONFIG 78

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: zt-token-proxy [--config FILE]\n"
	        "       zt-token-proxy --check-config [--config FILE]\n"
	        "       zt-token-proxy --print-config [--config FILE]\n"
	        "       zt-token-proxy status [--url URL] [--json]\n"
	        "%s"
	        "       zt-token-proxy --version | --help\n"
	        "\n"
	        "Serves ZeroTier's APIs on localhost with the right token injected.\n"
	        "\n"
	        "  -c, --config FILE   configuration file (default: $ZT_TOKEN_PROXY_CONFIG,\n"
	        "                      else the embedded defaults)\n"
	        "      --check-config  check the configuration and the token sources, then exit\n"
	        "      --print-config  print the effective configuration (no token values)\n"
	        "  -V, --version       print the version\n"
	        "  -h, --help          print this help\n"
	        "\n"
	        "%s"
	        "Exit status: 0 ok, 64 usage, 71 cannot listen, 78 configuration.\n",
	        service_usage(), service_control_help());
}

static void report_stderr(void *arg, bool is_error, const char *line)
{
	(void)arg;
	(void)is_error;
	fprintf(stderr, "%s\n", line);
}

static void report_log(void *arg, bool is_error, const char *line)
{
	(void)arg;
	log_msg(is_error ? LOG_ERROR : LOG_WARN, "%s", line);
}

/* Where to point a person at for a token: its definition, else the first route using it. */
static void token_location(const struct config *cfg, const struct cfg_token *ct, char *buf,
                           size_t cap)
{
	int line = ct->line, col = ct->col;

	for (size_t r = 0; line == 0 && r < cfg->nroutes; r++)
		if (strcmp(cfg->routes[r].token, ct->name) == 0) {
			line = cfg->routes[r].line;
			col = cfg->routes[r].col;
		}
	if (cfg->path == NULL)
		snprintf(buf, cap, "(embedded defaults)");
	else if (line > 0)
		snprintf(buf, cap, "%s:%d:%d", cfg->path, line, col);
	else
		snprintf(buf, cap, "%s", cfg->path);
}

static int check_config(const char *path)
{
	struct config *cfg;
	struct runtime *rt;

	if (cfg_load(path, report_stderr, NULL, &cfg) != ZT_OK)
		return EXIT_CONFIG;
	if (runtime_new(cfg, &rt) != ZT_OK) {
		fprintf(stderr, "zt-token-proxy: out of memory\n");
		return EXIT_OSERR;
	}
	/* An unavailable token is a run-time condition (503), not a configuration error. */
	for (size_t i = 0; i < rt->cfg->ntokens; i++) {
		const struct token *t = &rt->tokens[i];
		char where[512], src[320];

		if (!rt->token_used[i] || t->state == TOKEN_OK)
			continue;
		token_location(rt->cfg, t->cfg, where, sizeof(where));
		token_describe_source(t->cfg, src, sizeof(src));
		fprintf(stderr, "%s: warning: token '%s' (%s) is %s: %s\n", where, t->cfg->name,
		        src, token_state_name(t->state), t->reason);
	}
	runtime_unref(rt);
	printf("configuration OK\n");
	return 0;
}

static int print_config(const char *path)
{
	struct config *cfg;

	if (cfg_load(path, report_stderr, NULL, &cfg) != ZT_OK)
		return EXIT_CONFIG;
	cfg_print(cfg, stdout);
	cfg_free(cfg);
	return 0;
}

static void log_routes(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct cfg_route *r = &cfg->routes[i];

		log_info("route %s -> %s (token '%s', auth %s)", r->prefix, r->upstream, r->token,
		         cfg_auth_name(r->auth));
	}
}

/* The status page reads the listeners through these (status.c sits below server.c). */
static const struct status_server status_view = {server_connections, server_listener_at};

static int serve(const char *path)
{
	struct app app = {.config_path = path};
	struct config *cfg;
	enum zt_err err;
	int status = EXIT_OSERR;

	service_init();
	log_info("zt-token-proxy %s starting (%s%s)", ZTP_VERSION, path ? "config " : "",
	         path ? path : "embedded defaults");
	/* Before any token is read: a core dump would hold them. */
	if (harden_process() != ZT_OK)
		log_errno(LOG_WARN, "cannot disable core dumps");
	if (sig_init() != ZT_OK) {
		log_errno(LOG_ERROR, "cannot set up signal handling");
		return EXIT_OSERR;
	}
	if (cfg_load(path, report_log, NULL, &cfg) != ZT_OK)
		return EXIT_CONFIG;
	log_set_level(cfg->log_level);
	if (runtime_new(cfg, &app.rt) != ZT_OK) {
		log_error("out of memory");
		return EXIT_OSERR;
	}
	status_started(app.rt, &status_view);
	if (upstream_open(&app) != ZT_OK) {
		log_error("cannot set up the upstream clients");
		goto out;
	}
	if (watch_open(&app.watch) != ZT_OK) {
		log_errno(LOG_ERROR, "cannot start the %s file watcher", watch_backend());
		goto out;
	}
	runtime_on_token_state(service_changed);
	if (runtime_watch(app.rt, app.watch) != ZT_OK)
		log_warn("cannot watch token files; changes are seen on the next 401 or reload");
	runtime_log_tokens(app.rt);
	log_routes(app.rt->cfg);
	if ((err = server_apply(&app, app.rt->cfg)) != ZT_OK) {
		if (err == ZT_ERR_CONFIG) /* a passed socket the configuration does not permit */
			status = EXIT_CONFIG;
		goto out;
	}
	log_info("ready: %zu routes on %zu listeners; watching token files with %s",
	         app.rt->cfg->nroutes, server_listeners(&app), watch_backend());
	service_report(&app, SERVICE_READY, NULL);
	status = loop_run(&app);
	log_info("stopped");
out:
	server_close_all(&app);
	if (app.rt != NULL)
		runtime_unref(app.rt);
	if (app.watch != NULL)
		watch_close(app.watch);
	upstream_close(&app);
	status_fini();
	return status;
}

int main(int argc, char **argv)
{
	enum { OPT_CHECK = 256, OPT_PRINT };
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", no_argument, NULL, OPT_CHECK},
	    {"print-config", no_argument, NULL, OPT_PRINT},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	int mode = 0, c;

	if ((c = service_command(argc, argv, serve)) >= 0)
		return c;
	if (argc > 1 && strcmp(argv[1], "status") == 0)
		return status_cli(argc - 1, argv + 1);
	while ((c = getopt_long(argc, argv, "c:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case OPT_CHECK:
		case OPT_PRINT:
			if (mode != 0 && mode != c) {
				fprintf(stderr, "zt-token-proxy: --check-config and --print-config "
				                "exclude each other\n");
				return EXIT_USAGE;
			}
			mode = c;
			break;
		case 'V':
			printf("zt-token-proxy %s\n", ZTP_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "zt-token-proxy: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (path == NULL && (path = getenv("ZT_TOKEN_PROXY_CONFIG")) != NULL && *path == '\0')
		path = NULL;
	if (mode == OPT_CHECK)
		return check_config(path);
	if (mode == OPT_PRINT)
		return print_config(path);
	return serve(path);
}
