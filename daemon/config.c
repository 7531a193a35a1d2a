/*
 * Configuration: YAML -> struct config.
 *
 * libyaml's document API gives every node a mark, so each problem can be
 * reported as FILE:LINE:COL. Problems are collected, sorted by position and
 * handed to the caller's report callback at the end, so that a user sees
 * them in file order even though some (an unknown token name in a route)
 * can only be found after the whole file has been read.
 *
 * Keys are described once in tables (config_keys.c) of value types
 * (config_values.c); the same tables drive parsing, defaults and cfg_print
 * (config_print.c). This file walks the document with them, collects the
 * problems and fills in the embedded defaults.
 */
#include "config_impl.h"

#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "h1_frame.h"
#include "os.h"
#include "rfile.h"
#include "ztp_build.h"

#define CFG_FILE_MAX (1024 * 1024)
#define MAX_REPORTS  200
#define MAX_DEPTH    32
/* Values (scalars, lists, mappings) with aliases expanded, and anchors, per file. */
#define CFG_MAX_NODES   100000
#define CFG_MAX_ANCHORS 1024
#define ZT_PORT         9993

struct msg {
	int line, col; /* 0 for a message about the whole file */
	size_t seq;
	bool is_error;
	char *text;
};

/* ---- Messages ---------------------------------------------------------- */

/* Length of the run of letters and digits at s if it looks like a token, else 0. */
static size_t token_run(const char *s)
{
	size_t n = 0;
	bool digit = false, lower = false;

	for (; cfg_is_digit(s[n]) || cfg_is_alpha(s[n]); n++) {
		digit = digit || cfg_is_digit(s[n]);
		lower = lower || (s[n] >= 'a' && s[n] <= 'z');
	}
	return n >= TOKEN_LOOKALIKE_MIN && digit && lower ? n : 0;
}

bool cfg_looks_like_token(const char *s)
{
	size_t n = token_run(s);

	return n > 0 && s[n] == '\0';
}

/*
 * Every configuration value a message quotes passes here, so here is where
 * a token pasted into the wrong key (env:, file:, a path) is hidden, as
 * are the values of the tokens loaded now (log.h's registry).
 */
const char *cfg_quote(struct qbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	static const char hidden[] = TOKEN_LOOKALIKE;
	size_t o = 0, i, run;

	for (i = 0; s[i] != '\0' && i < QUOTE_MAX; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((i == 0 || !(cfg_is_alpha(s[i - 1]) || cfg_is_digit(s[i - 1]))) &&
		    (run = token_run(s + i)) > 0) {
			memcpy(b->s + o, hidden, sizeof(hidden) - 1);
			o += sizeof(hidden) - 1;
			i += run - 1;
		} else if (ch >= 0x20 && ch < 0x7f) {
			b->s[o++] = (char)ch;
		} else {
			b->s[o++] = '\\';
			b->s[o++] = 'x';
			b->s[o++] = hex[ch >> 4];
			b->s[o++] = hex[ch & 15];
		}
	}
	if (s[i] != '\0') {
		memcpy(b->s + o, "...", 3);
		o += 3;
	}
	b->s[o] = '\0';
	log_redact(b->s, sizeof(b->s));
	return b->s;
}

const char *cfg_node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "string";
	case YAML_SEQUENCE_NODE:
		return "list";
	case YAML_MAPPING_NODE:
		return "mapping";
	default:
		return "empty node";
	}
}

static void add_msg(struct ctx *c, int line, int col, bool is_error, const char *text)
{
	struct msg *m;

	if (is_error)
		c->nerrors++;
	if (c->nmsgs == MAX_REPORTS) {
		c->dropped++;
		return;
	}
	if (c->msgs == NULL) {
		c->msgs = calloc(MAX_REPORTS, sizeof(*c->msgs));
		if (c->msgs == NULL) {
			c->nomem = true;
			return;
		}
	}
	m = &c->msgs[c->nmsgs];
	m->text = strdup(text);
	if (m->text == NULL) {
		c->nomem = true;
		return;
	}
	m->line = line;
	m->col = col;
	m->seq = c->seq++;
	m->is_error = is_error;
	c->nmsgs++;
}

static void vreport(struct ctx *c, const yaml_mark_t *m, bool is_error, const char *fmt, va_list ap)
    ZT_PRINTF(4, 0);

static void vreport(struct ctx *c, const yaml_mark_t *m, bool is_error, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	const char *w = is_error ? "" : "warning: ";
	int ln = m ? (int)m->line + 1 : 0, col = m ? (int)m->column + 1 : 0, o;

	if (m)
		o = snprintf(line, sizeof(line), "%s:%d:%d: %s", c->name, ln, col, w);
	else
		o = snprintf(line, sizeof(line), "%s: %s", c->name, w);
	if (o >= 0 && (size_t)o < sizeof(line))
		vsnprintf(line + o, sizeof(line) - (size_t)o, fmt, ap);
	add_msg(c, ln, col, is_error, line);
}

void cfg_err(struct ctx *c, const yaml_mark_t *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(c, m, true, fmt, ap);
	va_end(ap);
}

void cfg_warn(struct ctx *c, const yaml_mark_t *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(c, m, false, fmt, ap);
	va_end(ap);
}

static int msg_cmp(const void *a, const void *b)
{
	const struct msg *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void flush_msgs(struct ctx *c)
{
	char line[LOG_LINE_MAX];

	if (c->nmsgs > 0)
		qsort(c->msgs, c->nmsgs, sizeof(*c->msgs), msg_cmp);
	for (size_t i = 0; i < c->nmsgs; i++) {
		if (c->report)
			c->report(c->arg, c->msgs[i].is_error, c->msgs[i].text);
		free(c->msgs[i].text);
	}
	if (c->dropped > 0 && c->report) {
		snprintf(line, sizeof(line), "%s: %zu more problems not shown", c->name,
		         c->dropped);
		c->report(c->arg, c->nerrors > 0, line);
	}
	free(c->msgs);
	c->msgs = NULL;
	c->nmsgs = 0;
}

char *cfg_dup(struct ctx *c, const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (p == NULL) {
		c->nomem = true;
		return NULL;
	}
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* Grows *arr (elements of size sz) so that it holds at least n + 1. */
bool cfg_grow(struct ctx *c, void **arr, size_t *cap, size_t n, size_t sz)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return true;
	ncap = *cap ? *cap * 2 : 4;
	p = realloc(*arr, ncap * sz);
	if (p == NULL) {
		c->nomem = true;
		return false;
	}
	memset((char *)p + *cap * sz, 0, (ncap - *cap) * sz);
	*arr = p;
	*cap = ncap;
	return true;
}

/* ---- Small helpers ----------------------------------------------------- */

/* Parses leading decimal digits; false on overflow or when there are none. */
bool cfg_parse_u64(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;

	if (!cfg_is_digit(*s))
		return false;
	for (; cfg_is_digit(*s); s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*sp = s;
	*out = v;
	return true;
}

bool cfg_valid_token_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (; *s; s++)
		if (!cfg_is_alpha(*s) && !cfg_is_digit(*s) && *s != '_' && *s != '.' && *s != '-')
			return false;
	return true;
}

/* Optimal string alignment distance, for "did you mean" hints. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d[NAME_MAX_LEN + 1][NAME_MAX_LEN + 1];

	if (la > NAME_MAX_LEN || lb > NAME_MAX_LEN)
		return SIZE_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned char)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned char)j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			unsigned v = d[i - 1][j - 1] + (unsigned)(a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1u < v)
				v = d[i - 1][j] + 1u;
			if (d[i][j - 1] + 1u < v)
				v = d[i][j - 1] + 1u;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1u < v)
				v = d[i - 2][j - 2] + 1u;
			d[i][j] = (unsigned char)v;
		}
	}
	return d[la][lb];
}

/* The candidate closest to name, if close enough to be a likely typo. */
static const char *suggest(const char *name, size_t n, const char *(*cand)(const void *, size_t),
                           const void *arg)
{
	size_t best = strlen(name) >= 6 ? 3 : 2;
	const char *found = NULL;

	for (size_t i = 0; i < n; i++) {
		const char *s = cand(arg, i);
		size_t d = s ? edit_distance(name, s) : SIZE_MAX;
		if (d < best) {
			best = d;
			found = s;
		}
	}
	return found;
}

/* Appends "a, b or c" built from n names to buf. */
static void join_names(char *buf, size_t cap, size_t n, const char *(*name)(const void *, size_t),
                       const void *arg)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o < cap; i++) {
		const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
		int w = snprintf(buf + o, cap - o, "%s%s", sep, name(arg, i));
		if (w < 0)
			break;
		o += (size_t)w;
	}
}

static const char *str_at(const void *arg, size_t i)
{
	return ((const char *const *)arg)[i];
}

static const char *key_name_at(const void *arg, size_t i)
{
	return ((const struct key *)arg)[i].name;
}

static const char *enum_name_at(const void *arg, size_t i)
{
	return ((const struct key *)arg)->enum_name((int)i);
}

void cfg_enum_names(const struct key *k, char *buf, size_t cap)
{
	join_names(buf, cap, (size_t)k->max, enum_name_at, k);
}

/* ---- Nodes ------------------------------------------------------------- */

const yaml_node_t *cfg_doc_node(struct ctx *c, int id)
{
	return yaml_document_get_node(c->doc, id);
}

bool cfg_is_null(const yaml_node_t *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
	const char *s = (const char *)n->data.scalar.value;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (strcmp(s, nulls[i]) == 0)
			return true;
	return false;
}

/* The scalar's text, or NULL (reported) when it holds a NUL byte. */
const char *cfg_scalar_text(struct ctx *c, const yaml_node_t *n, const char *what)
{
	const char *s = (const char *)n->data.scalar.value;

	if (strlen(s) != n->data.scalar.length) {
		cfg_err(c, &n->start_mark, "%s contains a NUL character", what);
		return NULL;
	}
	return s;
}

struct keyref {
	const char *s;
	size_t len, idx;
	const yaml_mark_t *mark;
};

static int keyref_cmp(const void *a, const void *b)
{
	const struct keyref *x = a, *y = b;
	int r;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	r = memcmp(x->s, y->s, x->len);
	if (r != 0)
		return r;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Reports every repeated key of a mapping (sorting keeps huge mappings cheap). */
void cfg_check_dup_keys(struct ctx *c, const yaml_node_t *map)
{
	const yaml_node_pair_t *p0 = map->data.mapping.pairs.start;
	size_t n = (size_t)(map->data.mapping.pairs.top - p0), m = 0, first = 0;
	struct keyref *refs;
	struct qbuf qb;

	if (n < 2)
		return;
	refs = calloc(n, sizeof(*refs));
	if (refs == NULL) {
		c->nomem = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *k = cfg_doc_node(c, p0[i].key);
		if (k == NULL || k->type != YAML_SCALAR_NODE)
			continue;
		refs[m].s = (const char *)k->data.scalar.value;
		refs[m].len = k->data.scalar.length;
		refs[m].idx = i;
		refs[m].mark = &k->start_mark;
		m++;
	}
	if (m > 1)
		qsort(refs, m, sizeof(*refs), keyref_cmp);
	for (size_t i = 1; i < m; i++) {
		if (refs[i].len != refs[first].len ||
		    memcmp(refs[i].s, refs[first].s, refs[i].len)) {
			first = i;
			continue;
		}
		cfg_err(c, refs[i].mark, "duplicate key '%s' (first at %zu:%zu)",
		        cfg_quote(&qb, refs[i].s), refs[first].mark->line + 1,
		        refs[first].mark->column + 1);
	}
	free(refs);
}

const struct key *cfg_table_find(const struct table *t, const char *name)
{
	for (size_t i = 0; i < t->nkeys; i++)
		if (strcmp(t->keys[i].name, name) == 0)
			return &t->keys[i];
	return NULL;
}

static void unknown_key(struct ctx *c, const struct table *t, const char *label, const char *name,
                        const yaml_mark_t *m)
{
	char names[256];
	struct qbuf qb;
	const char *best;

	if (c->nmsgs == MAX_REPORTS) { /* the message would be dropped anyway */
		cfg_err(c, m, "unknown key");
		return;
	}
	best = suggest(name, t->nkeys, key_name_at, t->keys);
	if (best) {
		cfg_err(c, m, "unknown key '%s' in %s; did you mean '%s'?", cfg_quote(&qb, name),
		        label, best);
		return;
	}
	join_names(names, sizeof(names), t->nkeys, key_name_at, t->keys);
	cfg_err(c, m, "unknown key '%s' in %s (expected %s)", cfg_quote(&qb, name), label, names);
}

void cfg_scalar_node(struct ctx *c, const struct key *k, const yaml_node_t *n, void *obj)
{
	char what[128];
	const char *s;

	if (k->enum_name)
		cfg_enum_names(k, what, sizeof(what));
	else
		snprintf(what, sizeof(what), "%s", k->type->what);
	if (n->type != YAML_SCALAR_NODE) {
		cfg_err(c, &n->start_mark, "'%s' must be %s, not a %s", k->name, what,
		        cfg_node_kind(n));
		return;
	}
	if (cfg_is_null(n)) {
		cfg_err(c, &n->start_mark, "'%s' has no value; it must be %s", k->name, what);
		return;
	}
	snprintf(what, sizeof(what), "'%s'", k->name);
	s = cfg_scalar_text(c, n, what);
	if (s)
		k->type->text(c, k, s, &n->start_mark, obj);
}

/*
 * Walks a mapping (or an empty value) with table t, storing into obj.
 * label names the mapping in messages; at is where "missing key" errors go.
 */
void cfg_walk_map(struct ctx *c, const yaml_node_t *map, const struct table *t, void *obj,
                  const char *label, const yaml_mark_t *at)
{
	const yaml_node_t *seen[MAX_TABLE_KEYS] = {0};
	const struct key *oneof = NULL;
	const char *oneofs[MAX_TABLE_KEYS];
	char names[256];
	size_t noneof = 0;

	if (map->type == YAML_MAPPING_NODE) {
		cfg_check_dup_keys(c, map);
		for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
		     p < map->data.mapping.pairs.top; p++) {
			const yaml_node_t *kn = cfg_doc_node(c, p->key),
			                  *vn = cfg_doc_node(c, p->value);
			const struct key *k;
			const char *name;
			size_t i;

			if (kn == NULL || vn == NULL)
				continue;
			if (kn->type != YAML_SCALAR_NODE) {
				cfg_err(c, &kn->start_mark, "a key in %s is a %s, not a name",
				        label, cfg_node_kind(kn));
				continue;
			}
			name = cfg_scalar_text(c, kn, "a key");
			if (name == NULL)
				continue;
			k = cfg_table_find(t, name);
			if (k == NULL) {
				unknown_key(c, t, label, name, &kn->start_mark);
				continue;
			}
			i = (size_t)(k - t->keys);
			if (seen[i]) /* reported by cfg_check_dup_keys */
				continue;
			seen[i] = kn;
			if (k->flags & KF_ONE_OF) {
				if (oneof) {
					cfg_err(c, &kn->start_mark,
					        "%s has both '%s' and '%s'; use only one", label,
					        oneof->name, k->name);
					continue;
				}
				oneof = k;
			}
			if (k->type->node)
				k->type->node(c, k, vn, obj);
			else
				cfg_scalar_node(c, k, vn, obj);
		}
	} else if (!cfg_is_null(map)) {
		cfg_err(c, &map->start_mark, "%s must be a mapping, not a %s", label,
		        cfg_node_kind(map));
		return;
	}
	for (size_t i = 0; i < t->nkeys; i++) {
		const struct key *k = &t->keys[i];
		if ((k->flags & KF_REQUIRED) && !seen[i]) {
			if (k->enum_name) {
				cfg_enum_names(k, names, sizeof(names));
				cfg_err(c, at, "%s has no '%s' (%s)", label, k->name, names);
			} else {
				cfg_err(c, at, "%s has no '%s'", label, k->name);
			}
		}
		if (k->flags & KF_ONE_OF)
			oneofs[noneof++] = k->name;
	}
	if (noneof > 0 && oneof == NULL) {
		join_names(names, sizeof(names), noneof, str_at, oneofs);
		cfg_err(c, at, "%s needs one of %s", label, names);
	}
	if (t->finish)
		t->finish(c, obj, seen);
}

void cfg_apply_defaults(struct ctx *c, const struct table *t, void *obj)
{
	for (size_t i = 0; i < t->nkeys; i++) {
		const struct key *k = &t->keys[i];
		if (k->sub)
			cfg_apply_defaults(c, k->sub, obj);
		else if (k->def && k->type->text)
			k->type->text(c, k, k->def, NULL, obj);
	}
}

/* ---- Built-in defaults ------------------------------------------------- */

static const struct builtin_token {
	const char *name;
	enum token_kind kind;
	const char *arg; /* a file name in the ZeroTier home, or a variable */
	const char *help;
} builtin_tokens[] = {
    {"local", TOKEN_SRC_FILE, "authtoken.secret", "ZeroTier One's local service API token"},
    {"central", TOKEN_SRC_ENV, "ZEROTIER_CENTRAL_TOKEN", "ZeroTier Central API (v1) token"},
    {"central-v2", TOKEN_SRC_ENV, "ZEROTIER_CENTRAL_V2_TOKEN", "New ZeroTier Central (v2) token"},
};

static const struct default_route {
	const char *prefix;
	const char *upstream; /* NULL: the local service at the port it advertises */
	const char *token;
	enum auth_style auth;
} default_routes[] = {
    {"/", NULL, "local", AUTH_X_ZT1_AUTH},
    {"/central", "https://api.zerotier.com", "central", AUTH_TOKEN},
    {"/central-v2", "https://central.zerotier.com", "central-v2", AUTH_BEARER},
};

static const char *const default_listen[] = {"127.0.0.1:9994", "[::1]:9994"};

const char *cfg_builtin_token_help(const char *name)
{
	for (size_t i = 0; i < sizeof(builtin_tokens) / sizeof(builtin_tokens[0]); i++)
		if (strcmp(name, builtin_tokens[i].name) == 0)
			return builtin_tokens[i].help;
	return NULL;
}

static char *home_file(struct ctx *c, const char *name)
{
	const char *home = cfg_zerotier_home();
	size_t hl = strlen(home), nl = strlen(name);
	bool slash = hl > 0 && (home[hl - 1] == '/' || home[hl - 1] == ZTP_PATH_SEP[0]);
	char *p = malloc(hl + nl + 2);

	if (p == NULL) {
		c->nomem = true;
		return NULL;
	}
	snprintf(p, hl + nl + 2, "%s%s%s", home, slash ? "" : ZTP_PATH_SEP, name);
	return p;
}

enum zt_err cfg_read_port(const char *path, unsigned *port)
{
	char buf[32];
	const char *p = buf;
	struct stat st;
	uint64_t v = 0;
	size_t n = 0;
	enum zt_err rc;
	int fd;

	if ((rc = rfile_open(path, &fd, &st)) != ZT_OK)
		return rc == ZT_ERR_IO && errno == ENOENT ? ZT_ERR_NOENT : rc;
	rc = rfile_read(fd, buf, sizeof(buf) - 1, &n);
	close(fd);
	if (rc == ZT_ERR_IO)
		return rc;
	buf[n] = '\0';
	p += strspn(p, " \t\r\n");
	if (rc != ZT_OK || !cfg_parse_u64(&p, &v) || strspn(p, " \t\r\n") != strlen(p) || v < 1 ||
	    v > 65535 || n != strlen(buf))
		return ZT_ERR_INVALID;
	*port = (unsigned)v;
	return ZT_OK;
}

/* The port ZeroTier One says it listens on, or its default. */
static unsigned zt_port(struct ctx *c)
{
	char *path = home_file(c, "zerotier-one.port"), line[LOG_LINE_MAX];
	unsigned port = ZT_PORT;

	if (path == NULL)
		return ZT_PORT;
	if (cfg_read_port(path, &port) == ZT_ERR_INVALID) {
		snprintf(line, sizeof(line),
		         "%s: warning: not a port number from 1 to 65535; using %d", path, ZT_PORT);
		add_msg(c, 0, 0, false, line);
	}
	free(path);
	return port;
}

static void add_builtin_tokens(struct ctx *c)
{
	struct config *cfg = c->cfg;

	for (size_t i = 0; i < sizeof(builtin_tokens) / sizeof(builtin_tokens[0]); i++) {
		const struct builtin_token *b = &builtin_tokens[i];
		struct cfg_token *t;

		if (cfg_find_token(cfg, b->name))
			continue;
		if (!cfg_grow(c, (void **)&cfg->tokens, &c->cap_tokens, cfg->ntokens,
		              sizeof(*cfg->tokens)))
			return;
		t = &cfg->tokens[cfg->ntokens++];
		t->name = cfg_dup(c, b->name, strlen(b->name));
		t->kind = b->kind;
		t->arg = b->kind == TOKEN_SRC_FILE ? home_file(c, b->arg)
		                                   : cfg_dup(c, b->arg, strlen(b->arg));
		t->watch = b->kind == TOKEN_SRC_FILE;
		t->builtin = true;
	}
}

static void add_default_routes(struct ctx *c)
{
	char local[64];

	snprintf(local, sizeof(local), "http://127.0.0.1:%u", zt_port(c));
	for (size_t i = 0; i < sizeof(default_routes) / sizeof(default_routes[0]); i++) {
		const struct default_route *d = &default_routes[i];
		const char *up = d->upstream ? d->upstream : local;
		struct cfg_route *r = cfg_new_route(c);

		if (r == NULL)
			return;
		r->prefix = cfg_dup(c, d->prefix, strlen(d->prefix));
		r->upstream = cfg_dup(c, up, strlen(up));
		r->tls = strncmp(up, "https://", 8) == 0;
		r->token = cfg_dup(c, d->token, strlen(d->token));
		r->auth = d->auth;
		/* ZeroTier One may come back on another port: follow the file it writes. */
		if (d->upstream == NULL)
			r->port_file = home_file(c, "zerotier-one.port");
	}
}

bool cfg_route_is_zt_local(const struct cfg_route *r)
{
	return r->auth == AUTH_X_ZT1_AUTH && !r->tls;
}

/*
 * ZeroTier One's server (cpp-httplib on its defaults: max(8, cores - 1)
 * workers, each held by an open connection, TCP_NODELAY off) wants at most
 * half its workers from us. A reused connection costs ~43 ms a request
 * (Nagle on the server against delayed ACK on the client) unless the client
 * acknowledges at once: the h1 client sets TCP_QUICKACK after each read.
 * Measured here through the proxy against tests/standin (cpp-httplib 0.11,
 * same defaults), one keep-alive client, 300 sequential GET /status:
 *   h1, keepalive 4s + TCP_QUICKACK   p50 0.25 ms  p99 11.7 ms
 *   h1, keepalive 0 (fresh each time) p50 0.38 ms  p99  6.4 ms
 *   curl, keepalive 4s (no QUICKACK)  p50 42.8 ms  p99 48.4 ms
 * and 32 clients (wrk -c32, 5 s): keep-alive 7,783 requests/s p50 3.1 ms,
 * fresh 6,560 requests/s p50 4.0 ms. So keep-alive with QUICKACK wins where
 * both are there (h1 on a system with TCP_QUICKACK); its idle limit, 2 s,
 * stays under the server's own 5 s, and an idle connection holds one of
 * the server's workers for no longer than that. Elsewhere (libcurl, or no
 * TCP_QUICKACK): a new connection per request, none left idle.
 */
static void fill_route_policy(struct cfg_route *r)
{
	bool zt = cfg_route_is_zt_local(r);

	if (r->client == CLIENT_UNSET)
		r->client = cfg_route_h1_can(r) ? CLIENT_H1 : CLIENT_CURL;
	if (r->conn_max == CFG_UNSET)
		r->conn_max = zt ? 4 : 0;
	if (r->conn_queue == CFG_UNSET)
		r->conn_queue = 128;
	if (r->conn_queue_ms == CFG_UNSET)
		r->conn_queue_ms = 10000;
	if (r->conn_keepalive_ms == CFG_UNSET)
		r->conn_keepalive_ms = !zt                                               ? 60000
		                       : r->client == CLIENT_H1 && ZTP_HAVE_TCP_QUICKACK ? 2000
		                                                                         : 0;
}

bool cfg_route_h1_can(const struct cfg_route *r)
{
	struct h1_url u;

	return !r->tls && r->upstream != NULL && h1_url_split(r->upstream, &u) &&
	       h1_host_direct(u.host);
}

static const char *token_name_at(const void *arg, size_t i)
{
	return ((const struct cfg_token *)arg)[i].name;
}

static void check_route_tokens(struct ctx *c)
{
	struct config *cfg = c->cfg;
	struct qbuf qb;

	for (size_t i = 0; i < c->nparsed_routes; i++) {
		const char *name = cfg->routes[i].token, *best;

		if (name == NULL || cfg_find_token(cfg, name))
			continue;
		best = suggest(name, cfg->ntokens, token_name_at, cfg->tokens);
		if (best)
			cfg_err(c, &c->token_marks[i], "unknown token '%s'; did you mean '%s'?",
			        cfg_quote(&qb, name), best);
		else
			cfg_err(
			    c, &c->token_marks[i],
			    "unknown token '%s'; define it under tokens:", cfg_quote(&qb, name));
	}
}

/* A route at or below the status prefix could never be reached. */
static void check_status_prefix(struct ctx *c)
{
	const struct config *cfg = c->cfg;
	const char *sp = cfg->status_prefix;
	size_t n = sp ? strlen(sp) : 0;
	struct qbuf qb;

	for (size_t i = 0; n > 0 && i < cfg->nroutes; i++) {
		const struct cfg_route *r = &cfg->routes[i];
		yaml_mark_t m = {.line = (size_t)(r->line - 1), .column = (size_t)(r->col - 1)};

		if (r->prefix == NULL || strncmp(r->prefix, sp, n) != 0 ||
		    (r->prefix[n] != '\0' && r->prefix[n] != '/'))
			continue;
		cfg_err(
		    c, r->line > 0 ? &m : NULL,
		    "route prefix '%s' is inside the status prefix '%s', which the proxy answers "
		    "itself; change status.prefix or the route",
		    cfg_quote(&qb, r->prefix), sp);
	}
}

/* Stable, longest prefix first, so the first match is the longest. */
static void sort_routes(struct config *cfg)
{
	for (size_t i = 1; i < cfg->nroutes; i++) {
		struct cfg_route r = cfg->routes[i];
		size_t len = strlen(r.prefix), j = i;

		for (; j > 0 && strlen(cfg->routes[j - 1].prefix) < len; j--)
			cfg->routes[j] = cfg->routes[j - 1];
		cfg->routes[j] = r;
	}
}

/* Fills in what the file left out; an empty listen or routes means "not given". */
static void finish(struct ctx *c)
{
	add_builtin_tokens(c);
	if (cfg_count_listen(c->cfg, false) == 0)
		for (size_t i = 0; i < sizeof(default_listen) / sizeof(default_listen[0]); i++)
			cfg_add_listen(c, default_listen[i], NULL, false);
	if (c->cfg->nroutes == 0)
		add_default_routes(c);
	check_route_tokens(c);
	check_status_prefix(c);
	for (size_t i = 0; i < c->cfg->nroutes; i++) {
		if (c->cfg->routes[i].max_body == UINT64_MAX)
			c->cfg->routes[i].max_body = c->cfg->max_body;
		fill_route_policy(&c->cfg->routes[i]);
	}
	if (c->nerrors == 0 && !c->nomem)
		sort_routes(c->cfg);
}

/* ---- Loading ----------------------------------------------------------- */

/* libyaml gives reader errors as a byte offset only. */
static yaml_mark_t offset_mark(const char *text, size_t len, size_t off)
{
	yaml_mark_t m = {0};

	for (size_t i = 0; i < off && i < len; i++) {
		if (text[i] == '\n') {
			m.line++;
			m.column = 0;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
			m.column++;
		}
	}
	return m;
}

static void syntax_error(struct ctx *c, const yaml_parser_t *p, const char *text, size_t len)
{
	yaml_mark_t m = p->problem_mark;
	char extra[160] = "";

	if (p->error == YAML_MEMORY_ERROR) {
		c->nomem = true;
		return;
	}
	if (p->error == YAML_READER_ERROR) {
		m = offset_mark(text, len, p->problem_offset);
		if (p->problem_value != -1)
			snprintf(extra, sizeof(extra), " (0x%02x)", (unsigned)p->problem_value);
	} else if (p->context) {
		snprintf(extra, sizeof(extra), " (%s at %zu:%zu)", p->context,
		         p->context_mark.line + 1, p->context_mark.column + 1);
	}
	cfg_err(c, &m, "%s%s", p->problem ? p->problem : "YAML syntax error", extra);
}

/* An inline token passes through libyaml's buffers and nodes: wipe them all. */
static void wipe_document(yaml_document_t *doc)
{
	for (yaml_node_t *n = doc->nodes.start; n < doc->nodes.top; n++)
		if (n->type == YAML_SCALAR_NODE)
			explicit_bzero(n->data.scalar.value, n->data.scalar.length);
	yaml_document_delete(doc);
}

static void wipe_parser(yaml_parser_t *p)
{
	if (p->buffer.start)
		explicit_bzero(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
	if (p->raw_buffer.start)
		explicit_bzero(p->raw_buffer.start,
		               (size_t)(p->raw_buffer.end - p->raw_buffer.start));
	yaml_parser_delete(p);
}

static void wipe_event(yaml_event_t *ev)
{
	if (ev->type == YAML_SCALAR_EVENT)
		explicit_bzero(ev->data.scalar.value, ev->data.scalar.length);
	yaml_event_delete(ev);
}

/*
 * What the walk will see once aliases are expanded: every alias costs the
 * size of the node it names, as the walk visits that node again.
 */
struct shape {
	int depth;
	uint64_t nodes; /* scalars, lists and mappings so far, aliases expanded */
	size_t nanchors;
	struct {
		char *name;
		uint64_t size; /* expanded; 0 while the node is still open */
	} anchors[CFG_MAX_ANCHORS];
	uint64_t open_start[MAX_DEPTH + 2]; /* nodes when each open collection began */
	size_t open_anchor[MAX_DEPTH + 2];  /* its anchor's index, or CFG_MAX_ANCHORS */
};

static bool shape_anchor(struct ctx *c, struct shape *sh, const yaml_char_t *anchor,
                         const yaml_mark_t *m, size_t *idx)
{
	*idx = CFG_MAX_ANCHORS;
	if (anchor == NULL)
		return true;
	if (sh->nanchors == CFG_MAX_ANCHORS) {
		cfg_err(c, m, "more than %d anchors (&name)", CFG_MAX_ANCHORS);
		return false;
	}
	if ((sh->anchors[sh->nanchors].name = strdup((const char *)anchor)) == NULL) {
		c->nomem = true;
		return false;
	}
	sh->anchors[sh->nanchors].size = 0;
	*idx = sh->nanchors++;
	return true;
}

static void shape_alias(struct shape *sh, const yaml_event_t *ev)
{
	/* The last anchor of that name counts, as in libyaml; an unknown one is its error. */
	for (size_t i = sh->nanchors; i-- > 0;) {
		if (strcmp(sh->anchors[i].name, (const char *)ev->data.alias.anchor) == 0) {
			sh->nodes += sh->anchors[i].size;
			return;
		}
	}
}

/* One event of the first pass; false stops it (the error is reported). */
static bool shape_event(struct ctx *c, struct shape *sh, const yaml_event_t *ev)
{
	const yaml_char_t *anchor = NULL;
	size_t idx;

	switch (ev->type) {
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		anchor = ev->type == YAML_SEQUENCE_START_EVENT ? ev->data.sequence_start.anchor
		                                               : ev->data.mapping_start.anchor;
		if (++sh->depth > MAX_DEPTH) {
			cfg_err(c, &ev->start_mark, "lists and mappings nested more than %d deep",
			        MAX_DEPTH);
			return false;
		}
		if (!shape_anchor(c, sh, anchor, &ev->start_mark, &idx))
			return false;
		sh->open_start[sh->depth] = sh->nodes++;
		sh->open_anchor[sh->depth] = idx;
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (sh->depth > 0 && sh->open_anchor[sh->depth] < CFG_MAX_ANCHORS)
			sh->anchors[sh->open_anchor[sh->depth]].size =
			    sh->nodes - sh->open_start[sh->depth];
		sh->depth--;
		break;
	case YAML_SCALAR_EVENT:
		if (!shape_anchor(c, sh, ev->data.scalar.anchor, &ev->start_mark, &idx))
			return false;
		if (idx < CFG_MAX_ANCHORS)
			sh->anchors[idx].size = 1;
		sh->nodes++;
		break;
	case YAML_ALIAS_EVENT:
		shape_alias(sh, ev);
		break;
	default:
		break;
	}
	if (sh->nodes > CFG_MAX_NODES) {
		cfg_err(
		    c, &ev->start_mark,
		    "the configuration is too large: more than %d values%s (a configuration needs "
		    "far fewer)",
		    CFG_MAX_NODES,
		    ev->type == YAML_ALIAS_EVENT ? " once aliases are expanded" : "");
		return false;
	}
	return true;
}

/*
 * A first pass over the events, before the document is built and walked:
 * libyaml's scanner takes time quadratic in the nesting depth (a 1 MiB file
 * of '[' takes many minutes), and aliases multiply the work of the walk (a
 * 62 KB file of 20 aliases to a 20,000-entry list took a minute and 468 MB),
 * so both are bounded here, at sizes no configuration needs.
 */
static bool check_shape(struct ctx *c, const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	struct shape *sh;
	bool ok = true, done = false;

	if ((sh = calloc(1, sizeof(*sh))) == NULL || !yaml_parser_initialize(&parser)) {
		free(sh);
		c->nomem = true;
		return false;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			syntax_error(c, &parser, text, len);
			ok = false;
			break;
		}
		if (!shape_event(c, sh, &ev))
			ok = false;
		done = !ok || ev.type == YAML_STREAM_END_EVENT;
		wipe_event(&ev);
	}
	wipe_parser(&parser);
	for (size_t i = 0; i < sh->nanchors; i++)
		free(sh->anchors[i].name);
	free(sh);
	return ok;
}

static void load_document(struct ctx *c, const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	const yaml_node_t *root;

	if (!check_shape(c, text, len))
		return;
	if (!yaml_parser_initialize(&parser)) {
		c->nomem = true;
		return;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax_error(c, &parser, text, len);
		wipe_parser(&parser);
		return;
	}
	c->doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root && root->type == YAML_MAPPING_NODE)
		cfg_walk_map(c, root, &cfg_top_table, c->cfg, cfg_top_table.what,
		             &root->start_mark);
	else if (root && !cfg_is_null(root))
		cfg_err(
		    c, &root->start_mark,
		    "the configuration must be a mapping with keys such as listen:, tokens: and "
		    "routes:, not a %s",
		    cfg_node_kind(root));
	if (root) {
		if (!yaml_parser_load(&parser, &extra)) {
			syntax_error(c, &parser, text, len);
		} else {
			root = yaml_document_get_root_node(&extra);
			if (root)
				cfg_err(c, &root->start_mark,
				        "a second YAML document; the file must hold only one");
			wipe_document(&extra);
		}
	}
	c->doc = NULL;
	wipe_document(&doc);
	wipe_parser(&parser);
}

static enum zt_err parse(const char *path, const char *name, const char *text, size_t len,
                         bool file_private, int mode, long owner, cfg_report_fn report, void *arg,
                         struct config **out)
{
	struct ctx c = {
	    .name = name ? name : "(config)",
	    .file_private = file_private,
	    .mode = mode,
	    .owner = owner,
	    .report = report,
	    .arg = arg,
	};
	enum zt_err rc = ZT_OK;

	*out = NULL;
	c.cfg = calloc(1, sizeof(*c.cfg));
	if (c.cfg == NULL)
		return ZT_ERR_NOMEM;
	if (path)
		c.cfg->path = cfg_dup(&c, path, strlen(path));
	cfg_apply_defaults(&c, &cfg_top_table, c.cfg);
	if (text)
		load_document(&c, text, len);
	if (!c.nomem)
		finish(&c);
	flush_msgs(&c);
	free(c.token_marks);
	if (c.nomem)
		rc = ZT_ERR_NOMEM;
	else if (c.nerrors > 0)
		rc = ZT_ERR_CONFIG;
	if (rc != ZT_OK)
		cfg_free(c.cfg);
	else
		*out = c.cfg;
	return rc;
}

enum zt_err cfg_parse(const char *name, const char *text, size_t len, bool file_private,
                      cfg_report_fn report, void *arg, struct config **out)
{
	return parse(name, name, text ? text : "", text ? len : 0, file_private, -1, -1, report,
	             arg, out);
}

static void file_problem(cfg_report_fn report, void *arg, const char *path, const char *what,
                         const char *why)
{
	char line[LOG_LINE_MAX];

	snprintf(line, sizeof(line), "%s: %s%s%s", path, what, why ? ": " : "", why ? why : "");
	if (report)
		report(arg, true, line);
}

enum zt_err cfg_load(const char *path, cfg_report_fn report, void *arg, struct config **out)
{
	struct stat st;
	size_t len = 0;
	enum zt_err rc;
	char *buf;
	int fd;

	*out = NULL;
	if (path == NULL)
		return parse(NULL, "(defaults)", NULL, 0, true, -1, -1, report, arg, out);
	if ((rc = rfile_open(path, &fd, &st)) != ZT_OK) {
		if (rc == ZT_ERR_INVALID)
			file_problem(report, arg, path, "not a regular file", rfile_kind(&st));
		else
			file_problem(report, arg, path, "cannot open", strerror(errno));
		return ZT_ERR_CONFIG;
	}
	/* One allocation up front: growing with realloc would leave copies of secrets. */
	buf = malloc(CFG_FILE_MAX);
	if (buf == NULL) {
		close(fd);
		return ZT_ERR_NOMEM;
	}
	rc = rfile_read(fd, buf, CFG_FILE_MAX, &len);
	close(fd);
	if (rc == ZT_ERR_IO) {
		file_problem(report, arg, path, "cannot read", strerror(errno));
		rc = ZT_ERR_CONFIG;
	} else if (rc == ZT_ERR_TOOBIG) {
		file_problem(report, arg, path, "file is larger than 1 MiB", NULL);
		rc = ZT_ERR_CONFIG;
	} else {
		int mode = compat_file_mode(&st);

		rc = parse(path, path, buf, len, mode >= 0 && (mode & (S_IRGRP | S_IROTH)) == 0,
		           mode, mode >= 0 ? (long)st.st_uid : -1, report, arg, out);
	}
	explicit_bzero(buf, len);
	free(buf);
	return rc;
}

void cfg_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	for (size_t i = 0; i < cfg->nlisten; i++)
		cfg_listen_clear(&cfg->listen[i]);
	free(cfg->listen);
	for (size_t i = 0; i < cfg->ntokens; i++) {
		struct cfg_token *t = &cfg->tokens[i];
		if (t->arg && t->kind == TOKEN_SRC_VALUE)
			explicit_bzero(t->arg, strlen(t->arg));
		free(t->arg);
		free(t->name);
	}
	free(cfg->tokens);
	for (size_t i = 0; i < cfg->nroutes; i++) {
		struct cfg_route *r = &cfg->routes[i];
		free(r->prefix);
		free(r->upstream);
		free(r->token);
		free(r->ca_file);
		free(r->port_file);
		cfg_free_strs(&r->methods);
		cfg_free_strs(&r->allow_paths);
		cfg_free_strs(&r->deny_paths);
		free(r->allow_uids.v);
		free(r->allow_gids.v);
	}
	free(cfg->routes);
	free(cfg->allow_from.v);
	cfg_free_strs(&cfg->allowed_hosts);
	cfg_free_strs(&cfg->allowed_origins);
	free(cfg->status_prefix);
	free(cfg);
}

const struct cfg_token *cfg_find_token(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->ntokens; i++)
		if (cfg->tokens[i].name && strcmp(cfg->tokens[i].name, name) == 0)
			return &cfg->tokens[i];
	return NULL;
}

const char *cfg_auth_name(enum auth_style auth)
{
	static const char *const names[] = {
	    [AUTH_TOKEN] = "token",
	    [AUTH_BEARER] = "bearer",
	    [AUTH_X_ZT1_AUTH] = "x-zt1-auth",
	};

	return (unsigned)auth < sizeof(names) / sizeof(names[0]) ? names[auth] : "unknown";
}

const char *cfg_client_name(enum route_client client)
{
	return client == CLIENT_H1 ? "h1" : client == CLIENT_CURL ? "curl" : "unknown";
}

const char *cfg_token_kind_name(enum token_kind kind)
{
	static const char *const names[] = {
	    [TOKEN_SRC_FILE] = "file",
	    [TOKEN_SRC_ENV] = "env",
	    [TOKEN_SRC_CREDENTIAL] = "credential",
	    [TOKEN_SRC_VALUE] = "value",
	};

	return (unsigned)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "unknown";
}

const char *cfg_zerotier_home(void)
{
	const char *home = getenv("ZEROTIER_HOME");

	return home && *home ? home : os_zerotier_home();
}
