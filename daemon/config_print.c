/*
 * --print-config: the effective configuration as YAML that reads back
 * the same, with each key's help text, driven by the key tables. Token
 * values are never printed.
 */
#include "config_impl.h"

#include <string.h>

#include "sbuf.h"
#include "utf8.h"

/* ---- YAML output ------------------------------------------------------- */

/* The code point of a sequence of n bytes that utf8_seq_len() accepted. */
static uint32_t utf8_code_point(const unsigned char *s, size_t n)
{
	uint32_t v = s[0] & (0x7fu >> n);

	for (size_t i = 1; i < n; i++)
		v = v << 6 | (s[i] & 0x3f);
	return v;
}

/* What libyaml's reader accepts outside ASCII. */
static bool yaml_printable(uint32_t cp)
{
	return cp == 0x85 || (cp >= 0xa0 && cp <= 0xd7ff) ||
	       (cp >= 0xe000 && cp <= 0xfffd && cp != 0xfeff) || (cp >= 0x10000 && cp <= 0x10ffff);
}

/* Appends s as a double-quoted YAML scalar that libyaml reads back unchanged. */
void cfg_quote_into(struct sbuf *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)str, *end = s + strlen(str);

	sbuf_put(b, "\"");
	while (*s) {
		uint32_t cp;
		size_t n;

		if (*s == '"' || *s == '\\') {
			sbuf_printf(b, "\\%c", *s++);
		} else if (*s >= 0x20 && *s < 0x7f) {
			sbuf_putn(b, (const char *)s++, 1);
		} else if (*s < 0x80) {
			sbuf_printf(b, "\\x%02x", *s++);
		} else if ((n = utf8_seq_len(s, (size_t)(end - s))) == 0) {
			/* Not UTF-8 (only possible from the environment): keep it readable. */
			sbuf_printf(b, "\\x%02x", *s++);
		} else {
			cp = utf8_code_point(s, n);
			if (yaml_printable(cp))
				sbuf_putn(b, (const char *)s, n);
			else if (cp <= 0xffff)
				sbuf_printf(b, "\\u%04x", (unsigned)cp);
			else
				sbuf_printf(b, "\\U%08x", (unsigned)cp);
			s += n;
		}
	}
	sbuf_put(b, "\"");
}

void cfg_put_quoted(FILE *out, const char *str)
{
	struct sbuf b;

	sbuf_init(&b, SIZE_MAX);
	cfg_quote_into(&b, str);
	fputs(sbuf_failed(&b) ? "\"\"" : b.data, out);
	sbuf_free(&b);
}

/* A comment line: anything but printable ASCII becomes '?', so YAML stays valid. */
static void put_comment(FILE *out, const char *text)
{
	fputs("# ", out);
	for (const char *p = text; *p; p++)
		fputc(cfg_is_graph(*p) || *p == ' ' ? *p : '?', out);
	fputc('\n', out);
}

/* Prints the scalar keys of t for obj; lead, if set, replaces the indent of the first line. */
void cfg_print_map(const struct table *t, const void *obj, FILE *out, int indent, bool help,
                   const char *lead)
{
	for (size_t i = 0; i < t->nkeys; i++) {
		const struct key *k = &t->keys[i];
		if (k->type->present && !k->type->present(k, obj))
			continue;
		if (indent == 0 && i > 0)
			fputc('\n', out);
		if (help && k->help) {
			fprintf(out, "%*s# %s", indent, "", k->help);
			if (k->def)
				fprintf(out, " (default %s)", k->def);
			fputc('\n', out);
		}
		if (k->type->print) {
			k->type->print(k, obj, out, indent);
			continue;
		}
		if (lead) {
			fputs(lead, out);
			lead = NULL;
		} else {
			fprintf(out, "%*s", indent, "");
		}
		fprintf(out, "%s: ", k->name);
		k->type->value(k, obj, out);
		fputc('\n', out);
	}
}

/* ---- Tokens, routes and the whole configuration ------------------------ */

/* A token name as a mapping key: plain when YAML reads it back unchanged. */
static void put_name(FILE *out, const char *name)
{
	if (cfg_valid_token_name(name) &&
	    (cfg_is_alpha(name[0]) || cfg_is_digit(name[0]) || name[0] == '_'))
		fputs(name, out);
	else
		cfg_put_quoted(out, name);
}

void cfg_print_tokens(const struct key *k, const void *obj, FILE *out, int indent)
{
	const struct config *cfg = obj;

	fprintf(out, "%*s%s:\n", indent, "", k->name);
	for (size_t i = 0; i < cfg->ntokens; i++) {
		const struct cfg_token *t = &cfg->tokens[i];
		const char *help = t->builtin ? cfg_builtin_token_help(t->name) : NULL;

		if (help)
			fprintf(out, "%*s# built-in: %s\n", indent + 2, "", help);
		fprintf(out, "%*s", indent + 2, "");
		put_name(out, t->name);
		fputs(":\n", out);
		cfg_print_map(&cfg_token_table, t, out, indent + 4, false, NULL);
	}
}

void cfg_print_routes(const struct key *k, const void *obj, FILE *out, int indent)
{
	const struct config *cfg = obj;
	char lead[32];

	fprintf(out, "%*s%s:\n", indent, "", k->name);
	snprintf(lead, sizeof(lead), "%*s- ", indent + 2, "");
	for (size_t i = 0; i < cfg->nroutes; i++) {
		if (cfg->routes[i].line == 0)
			fprintf(out, "%*s# default route\n", indent + 2, "");
		cfg_print_map(&cfg_route_table, &cfg->routes[i], out, indent + 4, false, lead);
	}
}

void cfg_print(const struct config *cfg, FILE *out)
{
	char head[LOG_LINE_MAX];

	if (cfg->path)
		snprintf(head, sizeof(head),
		         "zt-token-proxy configuration from %s, defaults filled in.", cfg->path);
	else
		snprintf(head, sizeof(head), "zt-token-proxy built-in default configuration.");
	put_comment(out, head);
	put_comment(out, "Token values are never shown.");
	fputc('\n', out);
	cfg_print_map(&cfg_top_table, cfg, out, 0, true, NULL);
}
