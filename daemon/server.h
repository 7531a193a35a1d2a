/*
 * Listeners: one libmicrohttpd daemon per configured address, on a socket
 * we bind ourselves (so that later a socket can also come from a service
 * manager). A reload binds new addresses before old ones stop accepting.
 */
#ifndef ZTP_SERVER_H
#define ZTP_SERVER_H

#include "app.h"
#include "config.h"
#include "err.h"

/*
 * Makes app's listeners match cfg->listen: keeps those already open, opens
 * the new ones and retires the rest (they finish what they serve). If any
 * new address cannot be bound, nothing changes and the error is logged.
 */
ZT_WUR enum zt_err server_apply(struct app *app, const struct config *cfg);

/* Stops every listener from accepting; open connections go on. */
void server_quiesce(struct app *app);

/* Closes retiring listeners that have no connections left or whose deadline passed. */
void server_reap(struct app *app, uint64_t now_ms);

/* Closes every listener and its connections. */
void server_close_all(struct app *app);

/* Open connections over every listener. */
unsigned server_connections(const struct app *app);

#endif
