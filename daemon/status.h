/*
 * The reserved paths under the status prefix (default /_proxy), answered
 * by the daemon itself and never forwarded:
 *
 *   PREFIX/status         JSON (or ?format=text, a table for a person); 503 when unhealthy
 *   PREFIX/health         200 when every route's token is usable, else 503 with the reasons
 *   PREFIX/health?live    200 while the process runs
 *   PREFIX/metrics        Prometheus text exposition (metrics.h)
 *
 * Also keeps what they report that no other module holds: when the process
 * started and how the last reload went.
 */
#ifndef ZTP_STATUS_H
#define ZTP_STATUS_H

#include <stdbool.h>
#include <stddef.h>

#include "app.h"
#include "route.h"

/* Content-Type of the metrics exposition. */
#define STATUS_METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* What the status page shows of a listener. */
struct status_listener {
	const char *text;  /* address as configured */
	const char *bound; /* address actually bound */
	bool status_only;  /* serves only the status paths */
	bool retiring;     /* closing once its connections end */
};

/* How the status page reads the listeners, which server.c owns (main.c passes its functions). */
struct status_server {
	/* Open connections over every listener. */
	unsigned (*connections)(const struct app *app);
	/* The i-th listener, retiring ones too; false past the last. */
	bool (*listener_at)(const struct app *app, size_t i, struct status_listener *out);
};

/*
 * Records the start time, the first read of rt's tokens, and how to read
 * the listeners (server, borrowed for good); once, before serving.
 */
void status_started(const struct runtime *rt, const struct status_server *server);
/* Frees what status and metrics hold; at the end of the process. */
void status_fini(void);

/* Whether path (pathlen bytes, already checked) is the status prefix or below it. */
bool status_is_reserved(const struct config *cfg, const char *path, size_t pathlen);

struct status_reply {
	unsigned status;
	const char *type; /* Content-Type; static */
	char *body;       /* owned by the caller; NULL when out of memory */
	size_t len;
};

/* Answers a request for a reserved path (status_is_reserved was true). */
void status_serve(struct app *app, const char *method, const struct target *tgt,
                  struct status_reply *out);

/*
 * Reload bookkeeping: begin, then every problem cfg_load reports, then
 * end with the outcome. On success rt is the runtime now serving, else
 * NULL and reason says why the previous configuration stays.
 */
void status_reload_begin(void);
void status_reload_problem(bool is_error, const char *line);
void status_reload_end(const struct runtime *rt, const char *reason);

/*
 * `zt-token-proxy status [--url URL] [--json]` (status_cli.c): fetches the
 * status page and prints it. argv[0] is "status". Returns the exit status.
 */
int status_cli(int argc, char **argv);

#endif
