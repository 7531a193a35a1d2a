/*
 * What the service manager is told, whatever the backend: a short status
 * line built from the daemon's state. It names tokens and gives their state
 * and token.c's reason, which never holds a value; it is redacted anyway.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "log.h"
#include "server.h"
#include "service.h"

static bool status_changed;

/* Appends to buf (capacity cap); a full buffer stays full, ending at cap - 1. */
ZT_PRINTF(4, 5) static void append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len = (size_t)n >= cap - *len ? cap - 1 : *len + (size_t)n;
}

static void describe(const struct app *app, const char *note, char *buf, size_t cap)
{
	static const char ellipsis[] = "...";
	const struct runtime *rt = app->rt;
	size_t len = 0, nlisten = server_listeners(app);

	buf[0] = '\0';
	if (note != NULL)
		append(buf, cap, &len, "%s; ", note);
	append(buf, cap, &len, "%zu route%s on %zu listener%s", rt->cfg->nroutes,
	       rt->cfg->nroutes == 1 ? "" : "s", nlisten, nlisten == 1 ? "" : "s");
	for (size_t i = 0; i < rt->cfg->ntokens; i++) {
		const struct token *t = &rt->tokens[i];

		if (!rt->token_used[i])
			continue;
		if (t->state == TOKEN_OK)
			append(buf, cap, &len, "; %s ok", t->cfg->name);
		else
			append(buf, cap, &len, "; %s: %s%s", t->cfg->name, t->reason,
			       token_usable(t) ? " (using the last good value)" : "");
	}
	if (len == cap - 1)
		memcpy(buf + cap - sizeof(ellipsis), ellipsis, sizeof(ellipsis));
	log_redact(buf, cap);
}

void service_report(const struct app *app, enum service_state state, const char *note)
{
	char status[SERVICE_STATUS_MAX + 1];

	describe(app, note, status, sizeof(status));
	service_notify(state, status);
	status_changed = false;
}

void service_changed(void)
{
	status_changed = true;
}

int service_tick(const struct app *app)
{
	if (status_changed && !app->stopping)
		service_report(app, SERVICE_STATUS_LINE, NULL);
	return service_watchdog();
}
