/* The one wait: listeners, upstream transfers, signals and the file watcher. */
#ifndef ZTP_LOOP_H
#define ZTP_LOOP_H

#include "app.h"

/*
 * Serves until SIGTERM or SIGINT and a graceful stop; SIGHUP reloads.
 * Returns the process exit status.
 */
int loop_run(struct app *app);

/* Re-reads the configuration and tokens; keeps the current state on any error. */
void loop_reload(struct app *app);

#endif
