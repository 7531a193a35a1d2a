/*
 * The configuration parser on arbitrary YAML, as from a private and from a
 * world-readable file. Whatever it accepts must keep the promises of
 * config.h, and cfg_print must never show an inline token value.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void report(void *arg, bool is_error, const char *line)
{
	(void)arg;
	(void)is_error;
	/* A report is one line of text, whatever the input held. */
	for (const char *p = line; *p; p++) {
		if ((unsigned char)*p < 0x20)
			abort();
	}
}

static void check_routes(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct cfg_route *r = &cfg->routes[i];
		size_t plen = strlen(r->prefix), ulen = strlen(r->upstream);

		if (r->prefix[0] != '/' || (plen > 1 && r->prefix[plen - 1] == '/'))
			abort();
		if (i > 0 && plen > strlen(cfg->routes[i - 1].prefix))
			abort();
		if (strncmp(r->upstream, r->tls ? "https://" : "http://", r->tls ? 8 : 7) != 0 ||
		    r->upstream[ulen - 1] == '/')
			abort();
		if (!r->token || !cfg_find_token(cfg, r->token) || !cfg_auth_name(r->auth))
			abort();
	}
}

/*
 * An inline value that occurs once in the input, and is long enough not to
 * turn up by chance, must not occur in the printed configuration.
 */
static void check_print(const struct config *cfg, const char *text, size_t len)
{
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);

	if (!f)
		return;
	cfg_print(cfg, f);
	fclose(f);
	for (size_t i = 0; i < cfg->ntokens; i++) {
		const char *v = cfg->tokens[i].arg, *first;
		size_t vlen = strlen(v);

		if (cfg->tokens[i].kind != TOKEN_SRC_VALUE || vlen < 12)
			continue;
		first = memmem(text, len, v, vlen);
		if (first && !memmem(first + 1, len - (size_t)(first + 1 - text), v, vlen) &&
		    memmem(out, outlen, v, vlen))
			abort();
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL;

	for (int private = 1; private >= 0; private --) {
		if (cfg_parse("fuzz.yaml", (const char *)data, size, private, report, NULL, &cfg) !=
		    ZT_OK)
			continue;
		if (!cfg)
			abort();
		check_routes(cfg);
		for (size_t i = 0; i < cfg->ntokens; i++) {
			if (!private && cfg->tokens[i].kind == TOKEN_SRC_VALUE)
				abort();
			if (!cfg_token_kind_name(cfg->tokens[i].kind))
				abort();
		}
		check_print(cfg, (const char *)data, size);
		cfg_free(cfg);
		cfg = NULL;
	}
	return 0;
}
