/*
 * Configuration: YAML -> struct config.
 *
 * libyaml's document API gives every node a mark, so each problem can be
 * reported as FILE:LINE:COL. Problems are collected, sorted by position and
 * handed to the caller's report callback at the end, so that a user sees
 * them in file order even though some (an unknown token name in a route)
 * can only be found after the whole file has been read.
 *
 * Keys are described once in the tables below (key_type + key + table);
 * the same tables drive parsing, defaults and cfg_print.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <yaml.h>

#include "route.h"
#include "token.h"
#include "ztp_build.h"

#define CFG_FILE_MAX   (1024 * 1024)
#define MAX_TOKENS     1024
#define MAX_ROUTES     1024
#define MAX_LISTEN     64
#define MAX_REPORTS    200
#define MAX_TABLE_KEYS 16
#define MAX_DEPTH      32
#define NAME_MAX_LEN   64
#define PREFIX_MAX     1024
#define UPSTREAM_MAX   512
#define PATH_MAX_LEN   4096
#define LISTEN_MAX_LEN 128
#define QUOTE_MAX      64
#define DAY_MS         (24u * 3600u * 1000u)
#define GIB            (1024ull * 1024 * 1024)
#define ZT_PORT        9993
#define HIDDEN_VALUE   "(inline, hidden)"
#define MAX_LIST       256
/* Room below sizeof(sun_path) for the ".PID.new" name a socket is bound at first. */
#define UNIX_PATH_MAX_LEN   90
#define DEFAULT_SOCKET_MODE 0600u

/* Key flags. */
#define KF_REQUIRED 1u /* missing key: error */
#define KF_ONE_OF   2u /* exactly one of the keys with this flag must be present */
#define KF_NONEMPTY 4u /* lists: an empty list is an error (it would refuse everything) */

struct msg {
	int line, col; /* 0 for a message about the whole file */
	size_t seq;
	bool is_error;
	char *text;
};

struct ctx {
	const char *name; /* for messages */
	bool file_private;
	int mode;   /* permission bits of the file, -1 when not known */
	long owner; /* uid owning the file, -1 when not known */
	cfg_report_fn report;
	void *arg;
	yaml_document_t *doc;
	struct config *cfg;
	yaml_mark_t *token_marks; /* per parsed route: where its token name is */
	size_t nparsed_routes;
	size_t cap_routes, cap_tokens, cap_listen;
	struct msg *msgs;
	size_t nmsgs, dropped, seq;
	size_t nerrors;
	bool nomem;
};

struct key;
struct table;

struct key_type {
	const char *what; /* "a duration", for "must be ..." messages */
	/* Scalar types: parse and store s (NUL-terminated); m is NULL for defaults. */
	void (*text)(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
	             void *obj);
	/* Scalar types: whether the key is printed for obj (NULL: always), and its value. */
	bool (*present)(const struct key *k, const void *obj);
	void (*value)(const struct key *k, const void *obj, FILE *out);
	/* Structured types: the whole node, and the whole "key: ..." output. */
	void (*node)(struct ctx *c, const struct key *k, const yaml_node_t *n, void *obj);
	void (*print)(const struct key *k, const void *obj, FILE *out, int indent);
};

struct key {
	const char *name;
	const struct key_type *type;
	size_t off;
	uint64_t min, max;             /* numbers: range; enums: max is the count */
	const char *(*enum_name)(int); /* enums */
	int kind;                      /* token sources: enum token_kind */
	/* Extra validation for strings; reports and returns false when s is bad. */
	bool (*check)(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m);
	unsigned flags;
	const char *def; /* default, written as in the file */
	const struct table *sub;
	const char *help;
};

struct table {
	const char *what;
	const struct key *keys;
	size_t nkeys;
	/* Called after a mapping was walked; seen[i] is the key node of keys[i] or NULL. */
	void (*finish)(struct ctx *c, void *obj, const yaml_node_t *const *seen);
};

/* ---- Messages ---------------------------------------------------------- */

/* Quotes untrusted text for a message: printable ASCII only, capped. */
struct qbuf {
	char s[QUOTE_MAX * 4 + 8];
};

static const char *q(struct qbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	for (i = 0; s[i] != '\0' && i < QUOTE_MAX; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch < 0x7f) {
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
	return b->s;
}

static const char *node_kind(const yaml_node_t *n)
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
    __attribute__((format(printf, 4, 0)));
static void err(struct ctx *c, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn(struct ctx *c, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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

static void err(struct ctx *c, const yaml_mark_t *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(c, m, true, fmt, ap);
	va_end(ap);
}

static void warn(struct ctx *c, const yaml_mark_t *m, const char *fmt, ...)
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

static char *dup_str(struct ctx *c, const char *s, size_t len)
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
static bool grow(struct ctx *c, void **arr, size_t *cap, size_t n, size_t sz)
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

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_graph(char ch)
{
	return (unsigned char)ch >= 0x21 && (unsigned char)ch <= 0x7e;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* Parses leading decimal digits; false on overflow or when there are none. */
static bool parse_u64(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;

	if (!is_digit(*s))
		return false;
	for (; is_digit(*s); s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*sp = s;
	*out = v;
	return true;
}

static bool valid_token_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (; *s; s++)
		if (!is_alpha(*s) && !is_digit(*s) && *s != '_' && *s != '.' && *s != '-')
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

static void enum_names(const struct key *k, char *buf, size_t cap)
{
	join_names(buf, cap, (size_t)k->max, enum_name_at, k);
}

/* ---- Nodes ------------------------------------------------------------- */

static const yaml_node_t *doc_node(struct ctx *c, int id)
{
	return yaml_document_get_node(c->doc, id);
}

static bool is_null(const yaml_node_t *n)
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
static const char *scalar_text(struct ctx *c, const yaml_node_t *n, const char *what)
{
	const char *s = (const char *)n->data.scalar.value;

	if (strlen(s) != n->data.scalar.length) {
		err(c, &n->start_mark, "%s contains a NUL character", what);
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
static void check_dup_keys(struct ctx *c, const yaml_node_t *map)
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
		const yaml_node_t *k = doc_node(c, p0[i].key);
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
		err(c, refs[i].mark, "duplicate key '%s' (first at %zu:%zu)", q(&qb, refs[i].s),
		    refs[first].mark->line + 1, refs[first].mark->column + 1);
	}
	free(refs);
}

static const struct key *table_find(const struct table *t, const char *name)
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
		err(c, m, "unknown key");
		return;
	}
	best = suggest(name, t->nkeys, key_name_at, t->keys);
	if (best) {
		err(c, m, "unknown key '%s' in %s; did you mean '%s'?", q(&qb, name), label, best);
		return;
	}
	join_names(names, sizeof(names), t->nkeys, key_name_at, t->keys);
	err(c, m, "unknown key '%s' in %s (expected %s)", q(&qb, name), label, names);
}

static void scalar_node(struct ctx *c, const struct key *k, const yaml_node_t *n, void *obj)
{
	char what[128];
	const char *s;

	if (k->enum_name)
		enum_names(k, what, sizeof(what));
	else
		snprintf(what, sizeof(what), "%s", k->type->what);
	if (n->type != YAML_SCALAR_NODE) {
		err(c, &n->start_mark, "'%s' must be %s, not a %s", k->name, what, node_kind(n));
		return;
	}
	if (is_null(n)) {
		err(c, &n->start_mark, "'%s' has no value; it must be %s", k->name, what);
		return;
	}
	snprintf(what, sizeof(what), "'%s'", k->name);
	s = scalar_text(c, n, what);
	if (s)
		k->type->text(c, k, s, &n->start_mark, obj);
}

/*
 * Walks a mapping (or an empty value) with table t, storing into obj.
 * label names the mapping in messages; at is where "missing key" errors go.
 */
static void walk_map(struct ctx *c, const yaml_node_t *map, const struct table *t, void *obj,
                     const char *label, const yaml_mark_t *at)
{
	const yaml_node_t *seen[MAX_TABLE_KEYS] = {0};
	const struct key *oneof = NULL;
	const char *oneofs[MAX_TABLE_KEYS];
	char names[256];
	size_t noneof = 0;

	if (map->type == YAML_MAPPING_NODE) {
		check_dup_keys(c, map);
		for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
		     p < map->data.mapping.pairs.top; p++) {
			const yaml_node_t *kn = doc_node(c, p->key), *vn = doc_node(c, p->value);
			const struct key *k;
			const char *name;
			size_t i;

			if (kn == NULL || vn == NULL)
				continue;
			if (kn->type != YAML_SCALAR_NODE) {
				err(c, &kn->start_mark, "a key in %s is a %s, not a name", label,
				    node_kind(kn));
				continue;
			}
			name = scalar_text(c, kn, "a key");
			if (name == NULL)
				continue;
			k = table_find(t, name);
			if (k == NULL) {
				unknown_key(c, t, label, name, &kn->start_mark);
				continue;
			}
			i = (size_t)(k - t->keys);
			if (seen[i]) /* reported by check_dup_keys */
				continue;
			seen[i] = kn;
			if (k->flags & KF_ONE_OF) {
				if (oneof) {
					err(c, &kn->start_mark,
					    "%s has both '%s' and '%s'; use only one", label,
					    oneof->name, k->name);
					continue;
				}
				oneof = k;
			}
			if (k->type->node)
				k->type->node(c, k, vn, obj);
			else
				scalar_node(c, k, vn, obj);
		}
	} else if (!is_null(map)) {
		err(c, &map->start_mark, "%s must be a mapping, not a %s", label, node_kind(map));
		return;
	}
	for (size_t i = 0; i < t->nkeys; i++) {
		const struct key *k = &t->keys[i];
		if ((k->flags & KF_REQUIRED) && !seen[i]) {
			if (k->enum_name) {
				enum_names(k, names, sizeof(names));
				err(c, at, "%s has no '%s' (%s)", label, k->name, names);
			} else {
				err(c, at, "%s has no '%s'", label, k->name);
			}
		}
		if (k->flags & KF_ONE_OF)
			oneofs[noneof++] = k->name;
	}
	if (noneof > 0 && oneof == NULL) {
		join_names(names, sizeof(names), noneof, str_at, oneofs);
		err(c, at, "%s needs one of %s", label, names);
	}
	if (t->finish)
		t->finish(c, obj, seen);
}

static void apply_defaults(struct ctx *c, const struct table *t, void *obj)
{
	for (size_t i = 0; i < t->nkeys; i++) {
		const struct key *k = &t->keys[i];
		if (k->sub)
			apply_defaults(c, k->sub, obj);
		else if (k->def && k->type->text)
			k->type->text(c, k, k->def, NULL, obj);
	}
}

/* ---- YAML output ------------------------------------------------------- */

/* Length of a valid UTF-8 sequence at s with its code point, or 0. */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
	size_t n;
	uint32_t v, min;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2, v = s[0] & 0x1f, min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3, v = s[0] & 0x0f, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4, v = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

/* What libyaml's reader accepts outside ASCII. */
static bool yaml_printable(uint32_t cp)
{
	return cp == 0x85 || (cp >= 0xa0 && cp <= 0xd7ff) ||
	       (cp >= 0xe000 && cp <= 0xfffd && cp != 0xfeff) || (cp >= 0x10000 && cp <= 0x10ffff);
}

/* Writes s as a double-quoted YAML scalar that libyaml reads back unchanged. */
static void put_quoted(FILE *out, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', out);
	while (*s) {
		uint32_t cp;
		size_t n;

		if (*s == '"' || *s == '\\') {
			fprintf(out, "\\%c", *s++);
		} else if (*s >= 0x20 && *s < 0x7f) {
			fputc(*s++, out);
		} else if (*s < 0x80) {
			fprintf(out, "\\x%02x", *s++);
		} else if ((n = utf8_decode(s, &cp)) == 0) {
			/* Not UTF-8 (only possible from the environment): keep it readable. */
			fprintf(out, "\\x%02x", *s++);
		} else {
			if (yaml_printable(cp))
				fwrite(s, 1, n, out);
			else if (cp <= 0xffff)
				fprintf(out, "\\u%04x", (unsigned)cp);
			else
				fprintf(out, "\\U%08x", (unsigned)cp);
			s += n;
		}
	}
	fputc('"', out);
}

/* A comment line: anything but printable ASCII becomes '?', so YAML stays valid. */
static void put_comment(FILE *out, const char *text)
{
	fputs("# ", out);
	for (const char *p = text; *p; p++)
		fputc(is_graph(*p) || *p == ' ' ? *p : '?', out);
	fputc('\n', out);
}

/* Prints the scalar keys of t for obj; lead, if set, replaces the indent of the first line. */
static void print_map(const struct table *t, const void *obj, FILE *out, int indent, bool help,
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

/* ---- Scalar types ------------------------------------------------------ */

#define FIELD(obj, k, type)  ((type *)(void *)((char *)(obj) + (k)->off))
#define CFIELD(obj, k, type) ((const type *)(const void *)((const char *)(obj) + (k)->off))

_Static_assert(sizeof(enum log_level) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum auth_style) == sizeof(int), "enums are stored as int");

static void text_enum(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                      void *obj)
{
	char names[128];
	struct qbuf qb;

	for (int i = 0; i < (int)k->max; i++) {
		if (strcmp(s, k->enum_name(i)) == 0) {
			*FIELD(obj, k, int) = i;
			return;
		}
	}
	enum_names(k, names, sizeof(names));
	err(c, m, "unknown %s '%s'; use %s", k->name, q(&qb, s), names);
}

static void value_enum(const struct key *k, const void *obj, FILE *out)
{
	fputs(k->enum_name(*CFIELD(obj, k, int)), out);
}

struct unit {
	const char *name;
	uint64_t mult;
};

static const struct unit duration_units[] = {
    {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
};

static const struct unit size_units[] = {
    {"", 1},         {"B", 1},          {"K", 1024},     {"KiB", 1024},
    {"M", 1u << 20}, {"MiB", 1u << 20}, {"G", 1u << 30}, {"GiB", 1u << 30},
};

/*
 * Parses "NUMBER[ ]UNIT" against units; returns NULL and sets *out, or an
 * error message. The range check against k is the caller's.
 */
static const char *parse_with_unit(const char *s, const struct unit *units, size_t nunits,
                                   uint64_t *out)
{
	const char *p = s;
	uint64_t v;

	if (*p == '-')
		return "is negative";
	if (!is_digit(*p))
		return "is not a number";
	if (!parse_u64(&p, &v))
		return "is too large";
	if (*p == ' ')
		p++;
	for (size_t i = 0; i < nunits; i++) {
		if (strcmp(p, units[i].name) != 0)
			continue;
		if (v > UINT64_MAX / units[i].mult)
			return "is too large";
		*out = v * units[i].mult;
		return NULL;
	}
	return *p == '.' || *p == ',' ? "must be a whole number" : "has an unknown unit";
}

static const char *fmt_duration(uint64_t ms, char *buf, size_t cap)
{
	if (ms % 1000 == 0)
		snprintf(buf, cap, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, cap, "%llums", (unsigned long long)ms);
	return buf;
}

static void text_duration(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                          void *obj)
{
	uint64_t v = 0;
	struct qbuf qb;
	char min[32];
	const char *e = parse_with_unit(s, duration_units,
	                                sizeof(duration_units) / sizeof(duration_units[0]), &v);

	if (e) {
		err(c, m, "%s '%s' %s; use e.g. 500ms, 10s, 2m, 1h (a plain number is seconds)",
		    k->name, q(&qb, s), e);
		return;
	}
	if (v > k->max) {
		err(c, m, "%s '%s' is longer than 24h", k->name, q(&qb, s));
		return;
	}
	if (v < k->min) {
		err(c, m, "%s '%s' is shorter than %s", k->name, q(&qb, s),
		    fmt_duration(k->min, min, sizeof(min)));
		return;
	}
	*FIELD(obj, k, uint32_t) = (uint32_t)v;
}

static void value_duration(const struct key *k, const void *obj, FILE *out)
{
	char buf[32];

	fputs(fmt_duration(*CFIELD(obj, k, uint32_t), buf, sizeof(buf)), out);
}

/* "64KiB": the largest unit that divides v. */
static const char *fmt_size(uint64_t v, char *buf, size_t cap)
{
	static const char *const names[] = {"", "KiB", "MiB", "GiB"};
	size_t u = 0;

	while (u + 1 < sizeof(names) / sizeof(names[0]) && v != 0 && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	snprintf(buf, cap, "%llu%s", (unsigned long long)v, names[u]);
	return buf;
}

static void text_size(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                      void *obj)
{
	uint64_t v = 0;
	struct qbuf qb;
	char lim[32];
	const char *e =
	    parse_with_unit(s, size_units, sizeof(size_units) / sizeof(size_units[0]), &v);

	if (e) {
		err(c, m, "%s '%s' %s; use bytes, or a number with B, KiB, MiB, GiB (or K, M, G)",
		    k->name, q(&qb, s), e);
		return;
	}
	if (v > k->max || v < k->min) {
		err(c, m, "%s '%s' is %s than %s", k->name, q(&qb, s),
		    v > k->max ? "larger" : "smaller",
		    fmt_size(v > k->max ? k->max : k->min, lim, sizeof(lim)));
		return;
	}
	*FIELD(obj, k, uint64_t) = v;
}

static void value_size(const struct key *k, const void *obj, FILE *out)
{
	char buf[32];

	fputs(fmt_size(*CFIELD(obj, k, uint64_t), buf, sizeof(buf)), out);
}

static void text_count(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                       void *obj)
{
	const char *p = s;
	uint64_t v;
	struct qbuf qb;

	if (!parse_u64(&p, &v) || *p != '\0' || v < k->min || v > k->max) {
		err(c, m, "%s '%s' must be a whole number from %llu to %llu", k->name, q(&qb, s),
		    (unsigned long long)k->min, (unsigned long long)k->max);
		return;
	}
	*FIELD(obj, k, uint32_t) = (uint32_t)v;
}

static void value_count(const struct key *k, const void *obj, FILE *out)
{
	fprintf(out, "%u", *CFIELD(obj, k, uint32_t));
}

static void text_bool(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                      void *obj)
{
	static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no",
	                                                                       "off"};
	struct qbuf qb;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
			*FIELD(obj, k, bool) = strcasecmp(s, yes[i]) == 0;
			return;
		}
	}
	err(c, m, "%s '%s' must be true or false", k->name, q(&qb, s));
}

static bool watch_present(const struct key *k, const void *obj)
{
	const struct cfg_token *t = obj;

	(void)k;
	return t->kind == TOKEN_SRC_FILE || t->kind == TOKEN_SRC_CREDENTIAL;
}

static void value_bool(const struct key *k, const void *obj, FILE *out)
{
	fputs(*CFIELD(obj, k, bool) ? "true" : "false", out);
}

static bool string_present(const struct key *k, const void *obj)
{
	return *CFIELD(obj, k, char *) != NULL;
}

static void value_string(const struct key *k, const void *obj, FILE *out)
{
	put_quoted(out, *CFIELD(obj, k, char *));
}

static void store_string(struct ctx *c, const struct key *k, const char *s, size_t len, void *obj)
{
	char **p = FIELD(obj, k, char *);

	free(*p);
	*p = dup_str(c, s, len);
}

/* ---- Lists ------------------------------------------------------------- */

/*
 * struct cfg_strs, struct cfg_cidrs and struct acc_ids are all { items, n },
 * so presence and length are read the same way for each.
 */
_Static_assert(offsetof(struct cfg_strs, n) == offsetof(struct cfg_cidrs, n) &&
                   offsetof(struct cfg_strs, n) == offsetof(struct acc_ids, n),
               "lists share one layout");

static bool list_append(struct ctx *c, const struct key *k, const yaml_mark_t *m, void *list,
                        size_t sz, const void *item)
{
	struct cfg_strs *l = list; /* only v and n are used: see the assertion above */
	void *p;

	if (l->n >= MAX_LIST) {
		err(c, m, "'%s' has more than %d entries", k->name, MAX_LIST);
		return false;
	}
	if ((p = realloc(l->v, (l->n + 1) * sz)) == NULL) {
		c->nomem = true;
		return false;
	}
	memcpy((char *)p + l->n * sz, item, sz);
	l->v = p;
	l->n++;
	return true;
}

static void append_str(struct ctx *c, const struct key *k, const yaml_mark_t *m, void *obj,
                       const char *s, size_t len)
{
	char *d = dup_str(c, s, len);

	if (d != NULL && !list_append(c, k, m, FIELD(obj, k, struct cfg_strs), sizeof(d), &d))
		free(d);
}

static void free_strs(struct cfg_strs *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* A list of scalars, or one scalar for a list of one; each item goes to the type's text(). */
static void node_list(struct ctx *c, const struct key *k, const yaml_node_t *n, void *obj)
{
	if (is_null(n))
		return;
	if (n->type == YAML_SCALAR_NODE) {
		scalar_node(c, k, n, obj);
		return;
	}
	if (n->type != YAML_SEQUENCE_NODE) {
		err(c, &n->start_mark, "'%s' must be %s, not a %s", k->name, k->type->what,
		    node_kind(n));
		return;
	}
	if (n->data.sequence.items.start == n->data.sequence.items.top &&
	    (k->flags & KF_NONEMPTY)) {
		err(c, &n->start_mark,
		    "'%s' is an empty list, which would refuse everything; remove the key to allow "
		    "all",
		    k->name);
		return;
	}
	for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
	     i++) {
		const yaml_node_t *item = doc_node(c, *i);

		if (item != NULL && item->type != YAML_SCALAR_NODE)
			err(c, &item->start_mark, "an entry of '%s' must be a string, not a %s",
			    k->name, node_kind(item));
		else if (item != NULL)
			scalar_node(c, k, item, obj);
	}
}

/* Route lists are printed when set; top-level ones always, "[]" when empty. */
static bool list_present(const struct key *k, const void *obj)
{
	return CFIELD(obj, k, struct cfg_strs)->n > 0 || !(k->flags & KF_NONEMPTY);
}

static void text_method(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                        void *obj)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";
	size_t n = strlen(s);
	bool upper = true;
	struct qbuf qb;

	for (size_t i = 0; i < n; i++) {
		if (!is_alpha(s[i]) && !is_digit(s[i]) && !strchr(tchar, s[i])) {
			err(c, m, "method '%s' is not an HTTP method name", q(&qb, s));
			return;
		}
		upper = upper && !(s[i] >= 'a' && s[i] <= 'z');
	}
	if (n == 0 || n > 15) {
		err(c, m, "method '%s' must be 1 to 15 characters", q(&qb, s));
		return;
	}
	if (!upper) {
		err(c, m, "method '%s' must be written in upper case: methods are case-sensitive",
		    q(&qb, s));
		return;
	}
	append_str(c, k, m, obj, s, n);
}

/* Patterns are stored normalised, as request paths are before they are matched. */
static void text_glob(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                      void *obj)
{
	const char *bad = acc_glob_check(s);
	char buf[ACC_GLOB_MAX];
	struct qbuf qb;

	if (bad) {
		err(c, m, "%s pattern '%s' %s", k->name, q(&qb, s), bad);
		return;
	}
	append_str(c, k, m, obj, buf, route_normalize(s, strlen(s), buf));
}

static const char *check_authority(const char *a, size_t len);

static void text_host(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                      void *obj)
{
	const char *bad = strpbrk(s, "/@") ? "must be a host name or address, with an optional "
	                                     ":PORT"
	                                   : check_authority(s, strlen(s));
	struct qbuf qb;

	if (bad)
		err(c, m, "allowed host '%s' %s", q(&qb, s), bad);
	else
		append_str(c, k, m, obj, s, strlen(s));
}

static void text_origin(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                        void *obj)
{
	const char *bad = acc_origin_check(s);
	struct qbuf qb;

	if (bad)
		err(c, m, "allowed origin '%s' %s", q(&qb, s), bad);
	else
		append_str(c, k, m, obj, s, strlen(s));
}

static void text_cidr(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                      void *obj)
{
	struct acc_cidr cidr;
	const char *bad = acc_cidr_parse(s, &cidr);
	struct qbuf qb;

	if (bad)
		err(c, m, "%s network '%s' %s (write e.g. 10.0.0.0/8 or fd00::/8)", k->name,
		    q(&qb, s), bad);
	else
		(void)list_append(c, k, m, FIELD(obj, k, struct cfg_cidrs), sizeof(cidr), &cidr);
}

/* A user (k->kind 0) or group (1) given by name or number; -1 when unknown (reported). */
static long resolve_id(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m)
{
	const char *p = s, *what = k->kind ? "group" : "user";
	char buf[4096];
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	struct qbuf qb;
	uint64_t v;
	int rc;

	if (parse_u64(&p, &v) && *p == '\0') {
		if (v < UINT32_MAX)
			return (long)v;
		err(c, m, "%s id '%s' is out of range", what, q(&qb, s));
		return -1;
	}
	if (k->kind)
		rc = getgrnam_r(s, &gr, buf, sizeof(buf), &grp);
	else
		rc = getpwnam_r(s, &pw, buf, sizeof(buf), &pwp);
	if (rc == 0 && (pwp != NULL || grp != NULL))
		return k->kind ? (long)grp->gr_gid : (long)pwp->pw_uid;
	err(c, m, "unknown %s '%s'%s%s", what, q(&qb, s), rc ? ": " : "", rc ? strerror(rc) : "");
	return -1;
}

static void text_id(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                    void *obj)
{
	long id = resolve_id(c, k, s, m);
	unsigned v = (unsigned)id;

	if (id >= 0)
		(void)list_append(c, k, m, FIELD(obj, k, struct acc_ids), sizeof(v), &v);
}

/* "[0, 1000]", nothing for an empty list. */
static void put_ids(FILE *out, const struct acc_ids *ids)
{
	for (size_t i = 0; i < ids->n; i++)
		fprintf(out, "%s%u%s", i == 0 ? "[" : ", ", ids->v[i], i + 1 == ids->n ? "]" : "");
}

static const struct key_type t_cidrs, t_ids;

static void print_list(const struct key *k, const void *obj, FILE *out, int indent)
{
	const struct cfg_strs *l = CFIELD(obj, k, struct cfg_strs);
	char buf[INET6_ADDRSTRLEN + 8];

	fprintf(out, "%*s%s: ", indent, "", k->name);
	if (k->type == &t_ids && l->n > 0) {
		put_ids(out, CFIELD(obj, k, struct acc_ids));
		fputc('\n', out);
		return;
	}
	fputc('[', out);
	for (size_t i = 0; i < l->n; i++) {
		if (i > 0)
			fputs(", ", out);
		if (k->type == &t_cidrs) {
			acc_cidr_format(&CFIELD(obj, k, struct cfg_cidrs)->v[i], buf, sizeof(buf));
			put_quoted(out, buf);
		} else {
			put_quoted(out, l->v[i]);
		}
	}
	fputs("]\n", out);
}

static bool set_unix_path(struct ctx *c, struct cfg_listen *l, const char *path,
                          const yaml_mark_t *m);

static void text_unix_path(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                           void *obj)
{
	(void)k;
	(void)set_unix_path(c, obj, s, m);
}

static void text_mode(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                      void *obj)
{
	unsigned v = 0;
	size_t n = strlen(s);
	struct qbuf qb;

	for (size_t i = 0; i < n && v <= 07777; i++)
		v = s[i] >= '0' && s[i] <= '7' ? v * 8 + (unsigned)(s[i] - '0') : 010000;
	if (n == 0 || n > 4 || v > 0777) {
		err(c, m, "%s '%s' must be octal permission bits such as \"0660\"", k->name,
		    q(&qb, s));
		return;
	}
	*FIELD(obj, k, unsigned) = v;
}

static void text_owner(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                       void *obj)
{
	long id = resolve_id(c, k, s, m);

	if (id >= 0)
		*FIELD(obj, k, long) = id;
}

/* Checks ---------------------------------------------------------------- */

static bool check_abs_path(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m)
{
	struct qbuf qb;

	if (s[0] != '/') {
		err(c, m, "%s '%s' must be an absolute path", k->name, q(&qb, s));
		return false;
	}
	if (strlen(s) > PATH_MAX_LEN || has_control(s)) {
		err(c, m, "%s '%s' is too long or contains a control character", k->name,
		    q(&qb, s));
		return false;
	}
	return true;
}

static bool check_ca_file(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m)
{
	struct stat st;
	struct qbuf qb;
	int fd;

	if (!check_abs_path(c, k, s, m))
		return false;
	/* stat first: opening a FIFO or a device could block or have side effects. */
	if (stat(s, &st) != 0) {
		err(c, m, "%s '%s': %s", k->name, q(&qb, s), strerror(errno));
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		err(c, m, "%s '%s' is not a regular file", k->name, q(&qb, s));
		return false;
	}
	fd = open(s, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		err(c, m, "%s '%s': %s", k->name, q(&qb, s), strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

static bool check_env_name(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m)
{
	struct qbuf qb;
	size_t n = strlen(s);
	bool ok = n > 0 && n <= 255 && !is_digit(s[0]);

	for (size_t i = 0; ok && i < n; i++)
		ok = is_alpha(s[i]) || is_digit(s[i]) || s[i] == '_';
	if (!ok)
		err(c, m, "%s '%s' is not a variable name (letters, digits and '_')", k->name,
		    q(&qb, s));
	return ok;
}

static bool check_credential(struct ctx *c, const struct key *k, const char *s,
                             const yaml_mark_t *m)
{
	struct qbuf qb;
	size_t n = strlen(s);

	if (n == 0 || n > 255 || strchr(s, '/') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 ||
	    has_control(s)) {
		err(c, m, "%s '%s' must be a file name in $CREDENTIALS_DIRECTORY, without '/'",
		    k->name, q(&qb, s));
		return false;
	}
	return true;
}

/* Never puts s in a message: it is a secret. */
static bool check_inline_value(struct ctx *c, const struct key *k, const char *s,
                               const yaml_mark_t *m)
{
	size_t n = strlen(s);
	bool ok = true, printable = n >= 1 && n <= TOKEN_MAX;
	char mode[32] = "", why[512], fix[512];

	(void)k;
	for (size_t i = 0; printable && i < n; i++)
		printable = is_graph(s[i]);
	if (strcmp(s, HIDDEN_VALUE) == 0) {
		err(c, m,
		    "value is the placeholder that --print-config shows; put the token itself here "
		    "or use file:, env: or credential:");
		return false;
	}
	if (!c->file_private) {
		if (c->mode >= 0)
			snprintf(mode, sizeof(mode), " (mode %04o)", (unsigned)c->mode);
		err(c, m,
		    "inline token value in a file %s%s; run 'chmod 600 %s' or use file:, env: or "
		    "credential: instead",
		    c->mode >= 0 ? "that group or others can read" : "readable by group or others",
		    mode, c->name);
		ok = false;
	}
	if (c->mode >= 0 && c->owner >= 0 &&
	    token_file_insecure(c->name, (uid_t)c->owner, (unsigned)c->mode, why, sizeof(why), fix,
	                        sizeof(fix))) {
		err(c, m, "inline token value in a file that is not safe: %s; %s", why, fix);
		ok = false;
	}
	if (!printable) {
		err(c, m,
		    "inline token value must be 1 to %d printable ASCII characters without spaces",
		    TOKEN_MAX);
		ok = false;
	}
	return ok;
}

/* Token sources: file, env, credential, value. */
static void text_source(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                        void *obj)
{
	struct cfg_token *t = obj;

	if (!k->check(c, k, s, m))
		return;
	t->kind = (enum token_kind)k->kind;
	t->arg = dup_str(c, s, strlen(s));
}

static bool source_present(const struct key *k, const void *obj)
{
	const struct cfg_token *t = obj;

	return t->arg != NULL && (int)t->kind == k->kind;
}

static void value_source(const struct key *k, const void *obj, FILE *out)
{
	const struct cfg_token *t = obj;

	if (k->kind == TOKEN_SRC_VALUE)
		fputs("\"" HIDDEN_VALUE
		      "\" # inline token from the configuration file, never shown",
		      out);
	else
		put_quoted(out, t->arg);
}

static void text_path(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                      void *obj)
{
	if (k->check(c, k, s, m))
		store_string(c, k, s, strlen(s), obj);
}

static void text_token_ref(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                           void *obj)
{
	struct cfg_route *r = obj;
	struct qbuf qb;

	if (!valid_token_name(s)) {
		err(c, m, "token '%s' is not a valid name (1 to 64 of A-Z a-z 0-9 _ . -)",
		    q(&qb, s));
		return;
	}
	store_string(c, k, s, strlen(s), obj);
	c->token_marks[r - c->cfg->routes] = *m;
}

static void text_prefix(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                        void *obj)
{
	size_t n = strlen(s);
	struct qbuf qb;
	const char *bad = NULL;

	if (s[0] != '/')
		bad = "must start with '/'";
	else if (n > PREFIX_MAX)
		bad = "is too long";
	else if (strpbrk(s, "?#%"))
		bad = "must not contain '?', '#' or '%'";
	else if (strstr(s, "//"))
		bad = "must not contain '//'";
	for (size_t i = 0; !bad && i < n; i++)
		if (!is_graph(s[i]) || s[i] == '\\')
			bad = "must not contain spaces, control, backslash or non-ASCII characters";
	/* Segments start after each '/' and end at the next '/' or the end. */
	for (const char *seg = s; !bad && seg; seg = strchr(seg + 1, '/')) {
		size_t len = strcspn(seg + 1, "/");
		if ((len == 1 && seg[1] == '.') || (len == 2 && seg[1] == '.' && seg[2] == '.'))
			bad = "must not contain a '.' or '..' segment";
	}
	if (bad) {
		err(c, m, "prefix '%s' %s", q(&qb, s), bad);
		return;
	}
	store_string(c, k, s, n > 1 && s[n - 1] == '/' ? n - 1 : n, obj);
}

static bool host_is_loopback(const char *host, size_t len)
{
	char buf[64];
	struct in_addr a4;
	struct in6_addr a6;

	if (len >= sizeof(buf))
		return false;
	memcpy(buf, host, len);
	buf[len] = '\0';
	if (strcasecmp(buf, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, buf, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (len > 2 && buf[0] == '[') {
		buf[len - 1] = '\0';
		return inet_pton(AF_INET6, buf + 1, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
	}
	return false;
}

/* Checks host[:port] of an upstream; returns NULL or what is wrong. */
static const char *check_authority(const char *a, size_t len)
{
	char buf[256];
	const char *port = NULL;
	size_t hlen;
	bool numeric = true;

	if (len == 0)
		return "has no host";
	if (len >= sizeof(buf))
		return "has a host that is too long";
	memcpy(buf, a, len);
	buf[len] = '\0';
	if (buf[0] == '[') {
		struct in6_addr a6;
		char *rb = strchr(buf, ']');
		if (rb == NULL)
			return "has a '[' without ']'";
		*rb = '\0';
		if (inet_pton(AF_INET6, buf + 1, &a6) != 1)
			return "has a bad IPv6 address";
		if (rb[1] != '\0' && rb[1] != ':')
			return "has text after ']'";
		port = rb[1] ? rb + 2 : NULL;
	} else {
		char *colon = strchr(buf, ':');
		struct in_addr a4;
		if (colon) {
			*colon = '\0';
			port = colon + 1;
		}
		hlen = strlen(buf);
		if (hlen == 0)
			return "has no host";
		if (hlen > 253)
			return "has a host that is too long";
		for (size_t i = 0; i < hlen; i++) {
			char ch = buf[i];
			if (!is_alpha(ch) && !is_digit(ch) && ch != '.' && ch != '-' && ch != '_')
				return "has a character that is not allowed in a host name";
			numeric = numeric && (is_digit(ch) || ch == '.');
		}
		if (numeric && inet_pton(AF_INET, buf, &a4) != 1)
			return "has a bad IPv4 address";
	}
	if (port) {
		uint64_t v;
		const char *p = port;
		if (!parse_u64(&p, &v) || *p != '\0' || v < 1 || v > 65535 || p - port > 5)
			return "has a port that is not 1 to 65535";
	}
	return NULL;
}

static void text_upstream(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                          void *obj)
{
	static const char *const schemes[] = {"http://", "https://"};
	struct cfg_route *r = obj;
	struct qbuf qb;
	const char *bad = NULL, *rest = NULL;
	size_t n = strlen(s), alen, hlen, end;
	char *u;

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		if (strncasecmp(s, schemes[i], strlen(schemes[i])) == 0) {
			rest = s + strlen(schemes[i]);
			r->tls = i == 1;
		}
	}
	if (rest == NULL)
		bad = "must start with http:// or https://";
	else if (n > UPSTREAM_MAX)
		bad = "is too long";
	for (size_t i = 0; !bad && i < n; i++)
		if (!is_graph(s[i]))
			bad = "must not contain spaces, control or non-ASCII characters";
	if (!bad && strpbrk(s, "?#"))
		bad = "must not have a query or fragment";
	alen = rest ? strcspn(rest, "/") : 0;
	if (!bad && memchr(rest, '@', alen))
		bad = "must not contain user:password@ (tokens come from tokens:)";
	if (!bad)
		bad = check_authority(rest, alen);
	if (bad) {
		err(c, m, "upstream '%s' %s", q(&qb, s), bad);
		return;
	}
	end = n;
	while (end > (size_t)(rest - s) + alen && s[end - 1] == '/')
		end--;
	u = dup_str(c, s, end);
	if (u == NULL)
		return;
	/* Lower-case the scheme so that printing and comparing are simple. */
	for (char *p = u; p < u + (rest - s); p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	free(*FIELD(obj, k, char *));
	*FIELD(obj, k, char *) = u;
	hlen = rest[0] == '[' ? strcspn(rest, "]") + 1 : strcspn(rest, ":/");
	if (!r->tls && !host_is_loopback(rest, hlen))
		warn(
		    c, m,
		    "upstream '%s' is plain http to another machine: the token crosses the network "
		    "unencrypted; use https://",
		    q(&qb, u));
}

/* ---- Listen ------------------------------------------------------------ */

static uint16_t addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)ss)->sin_port;
	if (ss->ss_family == AF_INET6)
		return ((const struct sockaddr_in6 *)(const void *)ss)->sin6_port;
	return 1; /* a unix socket: never a "pick any" address */
}

static bool is_tcp(const struct cfg_listen *l)
{
	return l->addr.ss_family == AF_INET || l->addr.ss_family == AF_INET6;
}

static yaml_mark_t listen_mark(const struct cfg_listen *l)
{
	return (yaml_mark_t){.line = (size_t)(l->line - 1), .column = (size_t)(l->col - 1)};
}

/* The next listen slot, cleared; it counts only once listen_commit() takes it. */
static struct cfg_listen *listen_slot(struct ctx *c, const yaml_mark_t *m)
{
	struct config *cfg = c->cfg;

	if (cfg->nlisten == MAX_LISTEN) {
		err(c, m, "too many listen addresses (at most %d)", MAX_LISTEN);
		return NULL;
	}
	if (!grow(c, (void **)&cfg->listen, &c->cap_listen, cfg->nlisten, sizeof(*cfg->listen)))
		return NULL;
	memset(&cfg->listen[cfg->nlisten], 0, sizeof(*cfg->listen));
	return &cfg->listen[cfg->nlisten];
}

static void listen_clear(struct cfg_listen *l)
{
	free(l->text);
	free(l->allow_uids.v);
	free(l->allow_gids.v);
	memset(l, 0, sizeof(*l));
}

/* Counts in the slot filled from s (what the file says), unless its address is a repeat. */
static void listen_commit(struct ctx *c, struct cfg_listen *l, const char *s, const char *text,
                          const yaml_mark_t *m, bool status_only)
{
	struct config *cfg = c->cfg;
	struct qbuf qb;

	for (size_t i = 0; i < cfg->nlisten; i++) {
		if (addr_port(&l->addr) != 0 && cfg->listen[i].addrlen == l->addrlen &&
		    memcmp(&cfg->listen[i].addr, &l->addr, l->addrlen) == 0) {
			err(c, m, "listen address '%s' is listed twice", q(&qb, s));
			listen_clear(l);
			return;
		}
	}
	if ((l->text = dup_str(c, text, strlen(text))) == NULL) {
		listen_clear(l);
		return;
	}
	l->status_only = status_only;
	if (m != NULL) {
		l->line = (int)m->line + 1;
		l->col = (int)m->column + 1;
	}
	cfg->nlisten++;
	/* Other addresses need allow_remote: see top_finish. Status listeners hold no tokens. */
	if (status_only && is_tcp(l) && !acc_addr_is_loopback((const struct sockaddr *)&l->addr))
		warn(c, m,
		     "listen address '%s' is not a loopback address: whoever can reach it can read "
		     "the status and metrics",
		     q(&qb, s));
}

/* Fills l's address with a unix socket path; false (reported) when the path is unusable. */
static bool set_unix_path(struct ctx *c, struct cfg_listen *l, const char *path,
                          const yaml_mark_t *m)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)(void *)&l->addr;
	size_t n = strlen(path);
	struct qbuf qb;

	if (path[0] != '/' || n > UNIX_PATH_MAX_LEN || has_control(path) ||
	    (n > 1 && path[n - 1] == '/')) {
		err(c, m,
		    "unix socket '%s' must be an absolute file path of at most %d bytes without "
		    "control characters",
		    q(&qb, path), UNIX_PATH_MAX_LEN);
		return false;
	}
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, n + 1);
	l->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return true;
}

static const char *unix_path(const struct cfg_listen *l)
{
	return ((const struct sockaddr_un *)(const void *)&l->addr)->sun_path;
}

/* Splits "HOST:PORT" / "[HOST]:PORT" into host and port; NULL or what is wrong. */
static const char *split_listen(char *buf, char **host, char **port, bool *v6)
{
	char *colon;

	*v6 = buf[0] == '[';
	if (*v6) {
		char *rb = strchr(buf, ']');
		if (rb == NULL)
			return "has a '[' without ']'";
		*rb = '\0';
		*host = buf + 1;
		if (rb[1] != ':')
			return "has no :PORT (e.g. [::1]:9994)";
		*port = rb + 2;
	} else {
		colon = strrchr(buf, ':');
		if (colon == NULL)
			return "has no :PORT (e.g. 127.0.0.1:9994)";
		*colon = '\0';
		if (strchr(buf, ':'))
			return "needs brackets around an IPv6 address (e.g. [::1]:9994)";
		*host = buf;
		*port = colon + 1;
	}
	return NULL;
}

static void add_listen(struct ctx *c, const char *s, const yaml_mark_t *m, bool status_only)
{
	struct addrinfo hints = {0}, *res = NULL;
	struct cfg_listen *l;
	char buf[LISTEN_MAX_LEN + 1], *host = NULL, *port = NULL, *scope;
	unsigned char bin[sizeof(struct in6_addr)];
	const char *bad = NULL, *p;
	struct qbuf qb;
	uint64_t pv;
	bool v6;

	if ((l = listen_slot(c, m)) == NULL)
		return;
	if (strncmp(s, "unix:", 5) == 0) {
		l->mode = DEFAULT_SOCKET_MODE;
		l->owner = l->group = -1;
		if (set_unix_path(c, l, s + 5, m))
			listen_commit(c, l, s, s, m, status_only);
		return;
	}
	if (strlen(s) > LISTEN_MAX_LEN)
		bad = "is too long";
	if (!bad) {
		strcpy(buf, s);
		bad = split_listen(buf, &host, &port, &v6);
	}
	if (!bad) {
		p = port;
		if (!parse_u64(&p, &pv) || *p != '\0' || pv > 65535 || p - port > 5)
			bad = "has a port that is not 0 to 65535";
	}
	if (!bad) {
		/* inet_pton is strict where getaddrinfo accepts "127.1" or "0x7f.1". */
		scope = v6 ? strchr(host, '%') : NULL;
		if (scope)
			*scope = '\0';
		if (inet_pton(v6 ? AF_INET6 : AF_INET, host, bin) != 1)
			bad = v6 ? "has a bad IPv6 address"
			         : "must use a numeric IPv4 address or a bracketed IPv6 address";
		if (scope)
			*scope = '%';
	}
	if (!bad) {
		hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
		hints.ai_family = v6 ? AF_INET6 : AF_INET;
		hints.ai_socktype = SOCK_STREAM;
		if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL ||
		    res->ai_addrlen > sizeof(l->addr))
			bad = "is not a usable address";
	}
	if (bad) {
		if (res)
			freeaddrinfo(res);
		err(c, m, "listen address '%s' %s", q(&qb, s), bad);
		return;
	}
	memcpy(&l->addr, res->ai_addr, res->ai_addrlen);
	l->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	listen_commit(c, l, s, s, m, status_only);
}

static const struct table unix_table;

/*
 * A unix socket with options. Its text is the canonical flow mapping of
 * what was set, so that a reload changing any option replaces the socket
 * (server.c keys listeners by text).
 */
static void add_unix_map(struct ctx *c, const yaml_node_t *n, bool status_only)
{
	struct cfg_listen *l = listen_slot(c, &n->start_mark);
	const char *path;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (l == NULL)
		return;
	l->mode = DEFAULT_SOCKET_MODE;
	l->owner = l->group = -1;
	walk_map(c, n, &unix_table, l, "listen socket", &n->start_mark);
	if (l->addr.ss_family != AF_UNIX || (f = open_memstream(&text, &len)) == NULL) {
		c->nomem = c->nomem || l->addr.ss_family == AF_UNIX;
		listen_clear(l);
		return;
	}
	path = unix_path(l);
	if (l->mode == DEFAULT_SOCKET_MODE && l->owner < 0 && l->group < 0 &&
	    l->allow_uids.n == 0 && l->allow_gids.n == 0) {
		fprintf(f, "unix:%s", path);
	} else {
		fputs("{unix: ", f);
		put_quoted(f, path);
		fprintf(f, ", mode: \"%04o\"", l->mode);
		if (l->owner >= 0)
			fprintf(f, ", owner: %ld", l->owner);
		if (l->group >= 0)
			fprintf(f, ", group: %ld", l->group);
		if (l->allow_uids.n > 0)
			fputs(", allow_uids: ", f);
		put_ids(f, &l->allow_uids);
		if (l->allow_gids.n > 0)
			fputs(", allow_gids: ", f);
		put_ids(f, &l->allow_gids);
		fputc('}', f);
	}
	if (fclose(f) != 0 || text == NULL) {
		c->nomem = true;
		listen_clear(l);
	} else {
		listen_commit(c, l, path, text, &n->start_mark, status_only);
	}
	free(text);
}

static size_t count_listen(const struct config *cfg, bool status_only)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->nlisten; i++)
		n += cfg->listen[i].status_only == status_only;
	return n;
}

static void node_listen(struct ctx *c, const struct key *k, const yaml_node_t *n, void *obj)
{
	const char *s;

	(void)obj;
	if (n->type == YAML_SCALAR_NODE && !is_null(n)) {
		s = scalar_text(c, n, "listen address");
		if (s)
			add_listen(c, s, &n->start_mark, k->kind != 0);
		return;
	}
	if (n->type != YAML_SEQUENCE_NODE ||
	    n->data.sequence.items.start == n->data.sequence.items.top) {
		err(c, &n->start_mark,
		    "'%s' must be a list of addresses such as \"127.0.0.1:9994\"; remove it to use "
		    "the defaults",
		    k->name);
		return;
	}
	for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
	     i++) {
		const yaml_node_t *item = doc_node(c, *i);
		if (item == NULL)
			continue;
		if (item->type == YAML_MAPPING_NODE) {
			add_unix_map(c, item, k->kind != 0);
			continue;
		}
		if (item->type != YAML_SCALAR_NODE || is_null(item)) {
			err(c, &item->start_mark,
			    "a listen address must be a string or a unix socket mapping, not a %s",
			    is_null(item) ? "empty value" : node_kind(item));
			continue;
		}
		s = scalar_text(c, item, "listen address");
		if (s)
			add_listen(c, s, &item->start_mark, k->kind != 0);
	}
}

static void print_listen(const struct key *k, const void *obj, FILE *out, int indent)
{
	const struct config *cfg = obj;

	fprintf(out, "%*s%s:\n", indent, "", k->name);
	for (size_t i = 0; i < cfg->nlisten; i++) {
		if (cfg->listen[i].status_only != (k->kind != 0))
			continue;
		fprintf(out, "%*s  - ", indent, "");
		if (cfg->listen[i].text[0] == '{') /* already YAML: see add_unix_map */
			fputs(cfg->listen[i].text, out);
		else
			put_quoted(out, cfg->listen[i].text);
		fputc('\n', out);
	}
}

/* ---- Sections, tokens, routes ------------------------------------------ */

static void node_section(struct ctx *c, const struct key *k, const yaml_node_t *n, void *obj)
{
	walk_map(c, n, k->sub, obj, k->name, &n->start_mark);
}

static void print_section(const struct key *k, const void *obj, FILE *out, int indent)
{
	fprintf(out, "%*s%s:\n", indent, "", k->name);
	print_map(k->sub, obj, out, indent + 2, true, NULL);
}

static const struct key_type t_enum = {"a name", .text = text_enum, .value = value_enum};
static const struct key_type t_duration = {"a duration such as 10s", .text = text_duration,
                                           .value = value_duration};
static const struct key_type t_size = {"a size such as 64KiB", .text = text_size,
                                       .value = value_size};
static const struct key_type t_count = {"a whole number", .text = text_count, .value = value_count};
static const struct key_type t_watch = {"true or false", .text = text_bool,
                                        .present = watch_present, .value = value_bool};
static const struct key_type t_source = {"a string", .text = text_source, .present = source_present,
                                         .value = value_source};
static const struct key_type t_path = {"an absolute path", .text = text_path,
                                       .present = string_present, .value = value_string};
static const struct key_type t_prefix = {"a path such as /central", .text = text_prefix,
                                         .present = string_present, .value = value_string};
static const struct key_type t_upstream = {"an http:// or https:// URL", .text = text_upstream,
                                           .present = string_present, .value = value_string};
static const struct key_type t_token_ref = {"a token name", .text = text_token_ref,
                                            .present = string_present, .value = value_string};
static const struct key_type t_listen = {"a list of addresses", .node = node_listen,
                                         .print = print_listen};

/* status.listen is printed only when set (key kind 1: the status-only list). */
static bool status_listen_present(const struct key *k, const void *obj)
{
	(void)k;
	return count_listen(obj, true) > 0;
}

static const struct key_type t_status_listen = {"a list of addresses", .node = node_listen,
                                                .present = status_listen_present,
                                                .print = print_listen};
static const struct key_type t_bool = {"true or false", .text = text_bool, .value = value_bool};
static const struct key_type t_section = {"a mapping", .node = node_section,
                                          .print = print_section};

static bool flag_present(const struct key *k, const void *obj)
{
	return *CFIELD(obj, k, bool);
}

static const struct key_type t_flag = {"true or false", .text = text_bool, .present = flag_present,
                                       .value = value_bool};
static const struct key_type t_methods = {"a list of HTTP methods such as [GET, HEAD]",
                                          .node = node_list, .text = text_method,
                                          .present = list_present, .print = print_list};
static const struct key_type t_globs = {"a list of path patterns such as [\"/central/api/*\"]",
                                        .node = node_list, .text = text_glob,
                                        .present = list_present, .print = print_list};
static const struct key_type t_hosts = {"a list of host names", .node = node_list,
                                        .text = text_host, .present = list_present,
                                        .print = print_list};
static const struct key_type t_origins = {"a list of origins such as [\"http://localhost:3000\"]",
                                          .node = node_list, .text = text_origin,
                                          .present = list_present, .print = print_list};
static const struct key_type t_cidrs = {"a list of networks such as [\"10.0.0.0/8\"]",
                                        .node = node_list, .text = text_cidr,
                                        .present = list_present, .print = print_list};
static const struct key_type t_ids = {"a list of user or group names or numbers", .node = node_list,
                                      .text = text_id, .present = list_present,
                                      .print = print_list};
/* Unix socket options are printed as part of the listen entry's text (add_unix_map). */
static const struct key_type t_unix = {"an absolute path", .text = text_unix_path};
static const struct key_type t_mode = {"octal permission bits such as \"0660\"", .text = text_mode};
static const struct key_type t_owner = {"a user or group name or number", .text = text_owner};

enum { UK_UNIX, UK_MODE, UK_OWNER, UK_GROUP, UK_ALLOW_UIDS, UK_ALLOW_GIDS, UK_COUNT };

static void unix_finish(struct ctx *c, void *obj, const yaml_node_t *const *seen);

static const struct key unix_keys[] = {
    [UK_UNIX] = {"unix", &t_unix, .flags = KF_REQUIRED},
    [UK_MODE] = {"mode", &t_mode, offsetof(struct cfg_listen, mode), .help = "socket file mode"},
    [UK_OWNER] = {"owner", &t_owner, offsetof(struct cfg_listen, owner), .kind = 0},
    [UK_GROUP] = {"group", &t_owner, offsetof(struct cfg_listen, group), .kind = 1},
    [UK_ALLOW_UIDS] = {"allow_uids", &t_ids, offsetof(struct cfg_listen, allow_uids), .kind = 0,
                       .flags = KF_NONEMPTY},
    [UK_ALLOW_GIDS] = {"allow_gids", &t_ids, offsetof(struct cfg_listen, allow_gids), .kind = 1,
                       .flags = KF_NONEMPTY},
};

static const struct table unix_table = {"listen socket", unix_keys, UK_COUNT, unix_finish};

static const char *level_name(int v)
{
	return log_level_name((enum log_level)v);
}

static const char *auth_name(int v)
{
	return cfg_auth_name((enum auth_style)v);
}

enum { TK_FILE, TK_ENV, TK_CREDENTIAL, TK_VALUE, TK_WATCH, TK_COUNT };

static void token_finish(struct ctx *c, void *obj, const yaml_node_t *const *seen);

static const struct key token_keys[] = {
    [TK_FILE] = {"file", &t_source, .kind = TOKEN_SRC_FILE, .check = check_abs_path,
                 .flags = KF_ONE_OF, .help = "absolute path of a file that holds the token"},
    [TK_ENV] = {"env", &t_source, .kind = TOKEN_SRC_ENV, .check = check_env_name,
                .flags = KF_ONE_OF, .help = "environment variable that holds the token"},
    [TK_CREDENTIAL] = {"credential", &t_source, .kind = TOKEN_SRC_CREDENTIAL,
                       .check = check_credential, .flags = KF_ONE_OF,
                       .help = "file name in $CREDENTIALS_DIRECTORY (systemd LoadCredential=)"},
    [TK_VALUE] = {"value", &t_source, .kind = TOKEN_SRC_VALUE, .check = check_inline_value,
                  .flags = KF_ONE_OF,
                  .help = "the token itself; only in a file that group and others cannot read"},
    [TK_WATCH] = {"watch", &t_watch, offsetof(struct cfg_token, watch), .def = "true",
                  .help = "re-read a file or credential when it changes"},
};

static const struct table token_table = {"token", token_keys, TK_COUNT, token_finish};

enum {
	RK_PREFIX,
	RK_UPSTREAM,
	RK_TOKEN,
	RK_AUTH,
	RK_CA_FILE,
	RK_METHODS,
	RK_READ_ONLY,
	RK_ALLOW_PATHS,
	RK_DENY_PATHS,
	RK_ALLOW_UIDS,
	RK_ALLOW_GIDS,
	RK_MAX_BODY,
	RK_COUNT
};

static void route_finish(struct ctx *c, void *obj, const yaml_node_t *const *seen);

static const struct key route_keys[] = {
    [RK_PREFIX] = {"prefix", &t_prefix, offsetof(struct cfg_route, prefix), .flags = KF_REQUIRED,
                   .help = "request paths under this prefix use the route"},
    [RK_UPSTREAM] = {"upstream", &t_upstream, offsetof(struct cfg_route, upstream),
                     .flags = KF_REQUIRED, .help = "where requests go, the prefix replaced"},
    [RK_TOKEN] = {"token", &t_token_ref, offsetof(struct cfg_route, token), .flags = KF_REQUIRED,
                  .help = "name of the token to inject"},
    [RK_AUTH] = {"auth", &t_enum, offsetof(struct cfg_route, auth), .max = AUTH_X_ZT1_AUTH + 1,
                 .enum_name = auth_name, .flags = KF_REQUIRED,
                 .help = "how the token is sent: token, bearer or x-zt1-auth"},
    [RK_CA_FILE] = {"ca_file", &t_path, offsetof(struct cfg_route, ca_file), .check = check_ca_file,
                    .help = "CA bundle for an https upstream"},
    [RK_METHODS] = {"methods", &t_methods, offsetof(struct cfg_route, methods),
                    .flags = KF_NONEMPTY},
    [RK_READ_ONLY] = {"read_only", &t_flag, offsetof(struct cfg_route, read_only),
                      .help = "GET and HEAD only"},
    [RK_ALLOW_PATHS] = {"allow_paths", &t_globs, offsetof(struct cfg_route, allow_paths),
                        .flags = KF_NONEMPTY},
    [RK_DENY_PATHS] = {"deny_paths", &t_globs, offsetof(struct cfg_route, deny_paths),
                       .flags = KF_NONEMPTY},
    [RK_ALLOW_UIDS] = {"allow_uids", &t_ids, offsetof(struct cfg_route, allow_uids), .kind = 0,
                       .flags = KF_NONEMPTY},
    [RK_ALLOW_GIDS] = {"allow_gids", &t_ids, offsetof(struct cfg_route, allow_gids), .kind = 1,
                       .flags = KF_NONEMPTY},
    [RK_MAX_BODY] = {"max_body", &t_size, offsetof(struct cfg_route, max_body), .max = GIB},
};

static const struct table route_table = {"route", route_keys, RK_COUNT, route_finish};

static const struct key timeout_keys[] = {
    {"client_idle", &t_duration, offsetof(struct config, client_idle_ms), .min = 1000,
     .max = DAY_MS, .def = "60s", .help = "close a client connection idle this long; at least 1s"},
    {"upstream_connect", &t_duration, offsetof(struct config, upstream_connect_ms), .min = 1,
     .max = DAY_MS, .def = "10s", .help = "give up connecting to an upstream after this long"},
    {"upstream", &t_duration, offsetof(struct config, upstream_ms), .min = 0, .max = DAY_MS,
     .def = "300s", .help = "longest time one upstream exchange may take; 0 = no limit"},
    {"shutdown", &t_duration, offsetof(struct config, shutdown_ms), .min = 0, .max = DAY_MS,
     .def = "10s", .help = "on stop, how long requests in progress may take to finish"},
    {"client_header", &t_duration, offsetof(struct config, client_header_ms), .min = 1000,
     .max = DAY_MS, .def = "10s",
     .help = "a request's line and headers must arrive within this time; at least 1s"},
    {"client_body", &t_duration, offsetof(struct config, client_body_ms), .min = 1000,
     .max = DAY_MS, .def = "60s",
     .help = "a request's body must arrive within this time of its headers; at least 1s"},
};

static const struct table timeout_table = {"timeouts", timeout_keys,
                                           sizeof(timeout_keys) / sizeof(timeout_keys[0]), NULL};

static const struct key limit_keys[] = {
    {"max_connections", &t_count, offsetof(struct config, max_connections), .min = 1, .max = 65535,
     .def = "1024", .help = "most client connections at once, 1 to 65535"},
    {"replay_body", &t_size, offsetof(struct config, replay_body), .min = 0, .max = GIB,
     .def = "64KiB",
     .help = "request bodies kept to replay a request once after a 401; at most 1GiB"},
    {"max_header_size", &t_size, offsetof(struct config, max_header_size), .min = 1024,
     .max = 1024 * 1024, .def = "16KiB",
     .help = "largest request line and headers (431 beyond), 1KiB to 1MiB"},
    {"max_body", &t_size, offsetof(struct config, max_body), .min = 0, .max = GIB, .def = "16MiB",
     .help = "largest request body (413 beyond) on routes without their own max_body"},
};

static const struct table limit_table = {"limits", limit_keys,
                                         sizeof(limit_keys) / sizeof(limit_keys[0]), NULL};

enum { SK_PREFIX, SK_LISTEN, SK_COUNT };

static void status_finish(struct ctx *c, void *obj, const yaml_node_t *const *seen);

static const struct key status_keys[] = {
    [SK_PREFIX] = {"prefix", &t_prefix, offsetof(struct config, status_prefix), .def = "/_proxy",
                   .help = "PREFIX/status, PREFIX/health and PREFIX/metrics are answered by the "
                           "proxy itself and never forwarded"},
    [SK_LISTEN] = {"listen", &t_status_listen, .kind = 1,
                   .help = "more addresses that serve only the status paths, e.g. for a "
                           "metrics scraper"},
};

static const struct table status_table = {"status", status_keys, SK_COUNT, status_finish};

static void node_tokens(struct ctx *c, const struct key *k, const yaml_node_t *n, void *obj);
static void node_routes(struct ctx *c, const struct key *k, const yaml_node_t *n, void *obj);
static void print_tokens(const struct key *k, const void *obj, FILE *out, int indent);
static void print_routes(const struct key *k, const void *obj, FILE *out, int indent);

static const struct key_type t_tokens = {"a mapping of token names", .node = node_tokens,
                                         .print = print_tokens};
static const struct key_type t_routes = {"a list of routes", .node = node_routes,
                                         .print = print_routes};

static const struct key top_keys[] = {
    {"log_level", &t_enum, offsetof(struct config, log_level), .max = LOG_DEBUG + 1,
     .enum_name = level_name, .def = "info", .help = "how much to log: error, warn, info or debug"},
    {"listen", &t_listen,
     .help = "addresses to listen on: \"IPv4:PORT\" or \"[IPv6]:PORT\"; port 0 picks a free "
             "port"},
    {"timeouts", &t_section, .sub = &timeout_table},
    {"limits", &t_section, .sub = &limit_table},
    {"tokens", &t_tokens,
     .help = "where each token comes from: exactly one of file, env, credential or value"},
    {"routes", &t_routes,
     .help = "request path prefix -> upstream and token; the longest matching prefix wins"},
    {"status", &t_section, .sub = &status_table},
    {"access_log", &t_bool, offsetof(struct config, access_log), .def = "true",
     .help = "log one info line per request (route, method, path without query, status, "
             "bytes, duration)"},
    {"allow_remote", &t_bool, offsetof(struct config, allow_remote), .def = "false",
     .help = "allow listen addresses that are not loopback ones; needs allow_from"},
    {"allow_from", &t_cidrs, offsetof(struct config, allow_from),
     .help = "when set, TCP clients must come from one of these networks, loopback included"},
    {"allowed_hosts", &t_hosts, offsetof(struct config, allowed_hosts),
     .help = "Host header names served besides localhost, 127.0.0.1 and [::1]"},
    {"allowed_origins", &t_origins, offsetof(struct config, allowed_origins),
     .help = "web page origins whose requests are served; by default none"},
};

static void top_finish(struct ctx *c, void *obj, const yaml_node_t *const *seen);

static const struct table top_table = {"the configuration", top_keys,
                                       sizeof(top_keys) / sizeof(top_keys[0]), top_finish};

_Static_assert(TK_COUNT <= MAX_TABLE_KEYS && RK_COUNT <= MAX_TABLE_KEYS &&
                   sizeof(top_keys) / sizeof(top_keys[0]) <= MAX_TABLE_KEYS,
               "walk_map's seen[] is big enough");

static void token_finish(struct ctx *c, void *obj, const yaml_node_t *const *seen)
{
	struct cfg_token *t = obj;

	if (watch_present(NULL, t) || t->arg == NULL)
		return;
	if (seen[TK_WATCH])
		warn(c, &seen[TK_WATCH]->start_mark, "'watch' has no effect for %s tokens",
		     cfg_token_kind_name(t->kind));
	/* Only file and credential sources can be watched. */
	t->watch = false;
}

static void status_finish(struct ctx *c, void *obj, const yaml_node_t *const *seen)
{
	const struct config *cfg = obj;

	if (seen[SK_PREFIX] && cfg->status_prefix && strcmp(cfg->status_prefix, "/") == 0)
		err(c, &seen[SK_PREFIX]->start_mark,
		    "status prefix '/' would hide every route; use a path such as /_proxy");
}

static void route_finish(struct ctx *c, void *obj, const yaml_node_t *const *seen)
{
	struct cfg_route *r = obj, *routes = c->cfg->routes;
	struct qbuf qb;

	for (struct cfg_route *o = routes; r->prefix && o < r; o++) {
		if (o->prefix && strcmp(o->prefix, r->prefix) == 0) {
			err(c, &seen[RK_PREFIX]->start_mark,
			    "duplicate route prefix '%s' (first at %d:%d)", q(&qb, r->prefix),
			    o->line, o->col);
			break;
		}
	}
	if (r->ca_file && r->upstream && !r->tls)
		warn(c, &seen[RK_CA_FILE]->start_mark,
		     "ca_file has no effect for an http:// upstream");
	if (seen[RK_READ_ONLY] && r->read_only && r->methods.n > 0)
		err(c, &seen[RK_READ_ONLY]->start_mark,
		    "route has both read_only and methods; read_only means methods: [GET, HEAD]");
}

static void unix_finish(struct ctx *c, void *obj, const yaml_node_t *const *seen)
{
	const struct cfg_listen *l = obj;

	if (seen[UK_MODE] && (l->mode & 0002) && l->allow_uids.n == 0 && l->allow_gids.n == 0)
		warn(c, &seen[UK_MODE]->start_mark,
		     "mode %04o lets every local user connect to the socket and use your tokens; "
		     "use 0660 with a group, or allow_uids / allow_gids",
		     l->mode);
}

static const yaml_mark_t *seen_mark(const yaml_node_t *const *seen, const char *name)
{
	const yaml_node_t *n = seen[table_find(&top_table, name) - top_keys];

	return n ? &n->start_mark : NULL;
}

/* Who may connect: needs the whole file, since allow_remote may follow listen. */
static void top_finish(struct ctx *c, void *obj, const yaml_node_t *const *seen)
{
	const struct config *cfg = obj;
	bool remote = false, unix_listener = false;
	struct qbuf qb;

	for (size_t i = 0; i < cfg->nlisten; i++) {
		const struct cfg_listen *l = &cfg->listen[i];
		yaml_mark_t m = listen_mark(l);

		unix_listener = unix_listener || l->addr.ss_family == AF_UNIX;
		if (l->status_only || !is_tcp(l) ||
		    acc_addr_is_loopback((const struct sockaddr *)&l->addr))
			continue;
		remote = true;
		if (!cfg->allow_remote)
			err(c, &m,
			    "listen address '%s' is not a loopback address: whoever can reach it "
			    "can use your tokens; to allow it deliberately, set allow_remote: true "
			    "and list the networks that may connect in allow_from",
			    q(&qb, l->text));
	}
	if (cfg->allow_remote && cfg->allow_from.n == 0)
		err(c, seen_mark(seen, "allow_remote"),
		    "allow_remote needs allow_from, the networks that may connect (e.g. "
		    "[\"10.147.17.0/24\", \"127.0.0.1/32\"])");
	else if (cfg->allow_remote && !remote)
		warn(c, seen_mark(seen, "allow_remote"),
		     "allow_remote has no effect: every listen address is a loopback address");
	for (size_t i = 0; i < cfg->nroutes && !unix_listener; i++) {
		const struct cfg_route *r = &cfg->routes[i];
		yaml_mark_t m = {.line = (size_t)(r->line - 1), .column = (size_t)(r->col - 1)};

		if (r->allow_uids.n > 0 || r->allow_gids.n > 0)
			warn(c, &m,
			     "route '%s' has allow_uids or allow_gids but no listen address is a "
			     "unix socket: callers are only known there, so it refuses every "
			     "request",
			     q(&qb, r->prefix ? r->prefix : ""));
	}
}

static void node_tokens(struct ctx *c, const struct key *k, const yaml_node_t *n, void *obj)
{
	struct config *cfg = obj;
	char label[NAME_MAX_LEN * 4 + 32];
	struct qbuf qb;

	if (is_null(n))
		return;
	if (n->type != YAML_MAPPING_NODE) {
		err(c, &n->start_mark, "'%s' must be a mapping of names to sources, not a %s",
		    k->name, node_kind(n));
		return;
	}
	check_dup_keys(c, n);
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *kn = doc_node(c, p->key), *vn = doc_node(c, p->value);
		struct cfg_token *t;
		const char *name;

		if (kn == NULL || vn == NULL)
			continue;
		if (kn->type != YAML_SCALAR_NODE) {
			err(c, &kn->start_mark, "a token name must be a string, not a %s",
			    node_kind(kn));
			continue;
		}
		name = scalar_text(c, kn, "a token name");
		if (name == NULL || cfg_find_token(cfg, name)) /* duplicates: check_dup_keys */
			continue;
		if (!valid_token_name(name))
			err(c, &kn->start_mark,
			    "token name '%s' is not valid (1 to 64 of A-Z a-z 0-9 _ . -)",
			    q(&qb, name));
		if (cfg->ntokens == MAX_TOKENS) {
			err(c, &kn->start_mark, "too many tokens (at most %d)", MAX_TOKENS);
			return;
		}
		if (!grow(c, (void **)&cfg->tokens, &c->cap_tokens, cfg->ntokens,
		          sizeof(*cfg->tokens)))
			return;
		t = &cfg->tokens[cfg->ntokens];
		t->name = dup_str(c, name, strlen(name));
		if (t->name == NULL)
			return;
		cfg->ntokens++;
		t->line = (int)kn->start_mark.line + 1;
		t->col = (int)kn->start_mark.column + 1;
		apply_defaults(c, &token_table, t);
		snprintf(label, sizeof(label), "token '%s'", q(&qb, name));
		walk_map(c, vn, &token_table, t, label, &kn->start_mark);
	}
}

static struct cfg_route *new_route(struct ctx *c)
{
	struct config *cfg = c->cfg;
	size_t cap = c->cap_routes;

	if (!grow(c, (void **)&cfg->routes, &c->cap_routes, cfg->nroutes, sizeof(*cfg->routes)))
		return NULL;
	/* token_marks is parallel to routes and grows with it. */
	if (!grow(c, (void **)&c->token_marks, &cap, cfg->nroutes, sizeof(*c->token_marks)))
		return NULL;
	cfg->routes[cfg->nroutes].max_body = UINT64_MAX; /* not set: limits.max_body (finish) */
	return &cfg->routes[cfg->nroutes++];
}

static void node_routes(struct ctx *c, const struct key *k, const yaml_node_t *n, void *obj)
{
	struct config *cfg = obj;

	if (n->type != YAML_SEQUENCE_NODE ||
	    n->data.sequence.items.start == n->data.sequence.items.top) {
		err(c, &n->start_mark,
		    "'%s' must be a list of routes; remove it to use the default routes", k->name);
		return;
	}
	for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
	     i++) {
		const yaml_node_t *item = doc_node(c, *i);
		struct cfg_route *r;

		if (item == NULL)
			continue;
		if (cfg->nroutes == MAX_ROUTES) {
			err(c, &item->start_mark, "too many routes (at most %d)", MAX_ROUTES);
			return;
		}
		if (item->type != YAML_MAPPING_NODE) {
			err(c, &item->start_mark,
			    "a route must be a mapping with prefix, upstream, token and auth, not "
			    "a %s",
			    is_null(item) ? "empty value" : node_kind(item));
			continue;
		}
		r = new_route(c);
		if (r == NULL)
			return;
		c->nparsed_routes = cfg->nroutes;
		r->line = (int)item->start_mark.line + 1;
		r->col = (int)item->start_mark.column + 1;
		walk_map(c, item, &route_table, r, "route", &item->start_mark);
	}
}

static void put_name(FILE *out, const char *name)
{
	if (valid_token_name(name) && (is_alpha(name[0]) || is_digit(name[0]) || name[0] == '_'))
		fputs(name, out);
	else
		put_quoted(out, name);
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

static char *home_file(struct ctx *c, const char *name)
{
	const char *home = cfg_zerotier_home();
	size_t hl = strlen(home), nl = strlen(name);
	bool slash = hl > 0 && home[hl - 1] == '/';
	char *p = malloc(hl + nl + 2);

	if (p == NULL) {
		c->nomem = true;
		return NULL;
	}
	snprintf(p, hl + nl + 2, "%s%s%s", home, slash ? "" : "/", name);
	return p;
}

/* The port ZeroTier One says it listens on, or its default. */
static unsigned zt_port(struct ctx *c)
{
	char *path = home_file(c, "zerotier-one.port"), buf[32], line[LOG_LINE_MAX];
	const char *p = buf;
	struct stat st;
	uint64_t v = 0;
	ssize_t n = -1;
	int fd;

	if (path == NULL)
		return ZT_PORT;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd >= 0) {
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
			n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if (n < 0) {
		free(path);
		return ZT_PORT;
	}
	buf[n] = '\0';
	p += strspn(p, " \t\r\n");
	if (parse_u64(&p, &v) && strspn(p, " \t\r\n") == strlen(p) && v >= 1 && v <= 65535 &&
	    (size_t)n == strlen(buf)) {
		free(path);
		return (unsigned)v;
	}
	snprintf(line, sizeof(line), "%s: warning: not a port number from 1 to 65535; using %d",
	         path, ZT_PORT);
	add_msg(c, 0, 0, false, line);
	free(path);
	return ZT_PORT;
}

static void add_builtin_tokens(struct ctx *c)
{
	struct config *cfg = c->cfg;

	for (size_t i = 0; i < sizeof(builtin_tokens) / sizeof(builtin_tokens[0]); i++) {
		const struct builtin_token *b = &builtin_tokens[i];
		struct cfg_token *t;

		if (cfg_find_token(cfg, b->name))
			continue;
		if (!grow(c, (void **)&cfg->tokens, &c->cap_tokens, cfg->ntokens,
		          sizeof(*cfg->tokens)))
			return;
		t = &cfg->tokens[cfg->ntokens++];
		t->name = dup_str(c, b->name, strlen(b->name));
		t->kind = b->kind;
		t->arg = b->kind == TOKEN_SRC_FILE ? home_file(c, b->arg)
		                                   : dup_str(c, b->arg, strlen(b->arg));
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
		struct cfg_route *r = new_route(c);

		if (r == NULL)
			return;
		r->prefix = dup_str(c, d->prefix, strlen(d->prefix));
		r->upstream = dup_str(c, up, strlen(up));
		r->tls = strncmp(up, "https://", 8) == 0;
		r->token = dup_str(c, d->token, strlen(d->token));
		r->auth = d->auth;
	}
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
			err(c, &c->token_marks[i], "unknown token '%s'; did you mean '%s'?",
			    q(&qb, name), best);
		else
			err(c, &c->token_marks[i],
			    "unknown token '%s'; define it under tokens:", q(&qb, name));
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
		err(c, r->line > 0 ? &m : NULL,
		    "route prefix '%s' is inside the status prefix '%s', which the proxy answers "
		    "itself; change status.prefix or the route",
		    q(&qb, r->prefix), sp);
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
	if (count_listen(c->cfg, false) == 0)
		for (size_t i = 0; i < sizeof(default_listen) / sizeof(default_listen[0]); i++)
			add_listen(c, default_listen[i], NULL, false);
	if (c->cfg->nroutes == 0)
		add_default_routes(c);
	check_route_tokens(c);
	check_status_prefix(c);
	for (size_t i = 0; i < c->cfg->nroutes; i++)
		if (c->cfg->routes[i].max_body == UINT64_MAX)
			c->cfg->routes[i].max_body = c->cfg->max_body;
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
	err(c, &m, "%s%s", p->problem ? p->problem : "YAML syntax error", extra);
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
 * libyaml's scanner takes time quadratic in the nesting depth (a 1 MiB file
 * of '[' takes many minutes), so a first pass over the events stops at a
 * depth no configuration needs, before the document is built.
 */
static bool check_depth(struct ctx *c, const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	bool ok = true, done = false;
	int depth = 0;

	if (!yaml_parser_initialize(&parser)) {
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
		switch (ev.type) {
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > MAX_DEPTH) {
				err(c, &ev.start_mark,
				    "lists and mappings nested more than %d deep", MAX_DEPTH);
				ok = false;
				done = true;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		wipe_event(&ev);
	}
	wipe_parser(&parser);
	return ok;
}

static void load_document(struct ctx *c, const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	const yaml_node_t *root;

	if (!check_depth(c, text, len))
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
		walk_map(c, root, &top_table, c->cfg, top_table.what, &root->start_mark);
	else if (root && !is_null(root))
		err(c, &root->start_mark,
		    "the configuration must be a mapping with keys such as listen:, tokens: and "
		    "routes:, not a %s",
		    node_kind(root));
	if (root) {
		if (!yaml_parser_load(&parser, &extra)) {
			syntax_error(c, &parser, text, len);
		} else {
			root = yaml_document_get_root_node(&extra);
			if (root)
				err(c, &root->start_mark,
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
		c.cfg->path = dup_str(&c, path, strlen(path));
	apply_defaults(&c, &top_table, c.cfg);
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
	ssize_t n = 0;
	enum zt_err rc;
	char *buf;
	int fd;

	*out = NULL;
	if (path == NULL)
		return parse(NULL, "(defaults)", NULL, 0, true, -1, -1, report, arg, out);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		file_problem(report, arg, path, "cannot open", strerror(errno));
		return ZT_ERR_CONFIG;
	}
	if (fstat(fd, &st) != 0) {
		file_problem(report, arg, path, "cannot stat", strerror(errno));
		close(fd);
		return ZT_ERR_CONFIG;
	}
	/* One allocation up front: growing with realloc would leave copies of secrets. */
	buf = malloc(CFG_FILE_MAX + 1);
	if (buf == NULL) {
		close(fd);
		return ZT_ERR_NOMEM;
	}
	while (len <= CFG_FILE_MAX) {
		n = read(fd, buf + len, CFG_FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (n < 0) {
		file_problem(report, arg, path, "cannot read", strerror(errno));
		rc = ZT_ERR_CONFIG;
	} else if (len > CFG_FILE_MAX) {
		file_problem(report, arg, path, "file is larger than 1 MiB", NULL);
		rc = ZT_ERR_CONFIG;
	} else {
		rc = parse(path, path, buf, len, (st.st_mode & (S_IRGRP | S_IROTH)) == 0,
		           (int)(st.st_mode & 07777), (long)st.st_uid, report, arg, out);
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
		listen_clear(&cfg->listen[i]);
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
		free_strs(&r->methods);
		free_strs(&r->allow_paths);
		free_strs(&r->deny_paths);
		free(r->allow_uids.v);
		free(r->allow_gids.v);
	}
	free(cfg->routes);
	free(cfg->allow_from.v);
	free_strs(&cfg->allowed_hosts);
	free_strs(&cfg->allowed_origins);
	free(cfg->status_prefix);
	free(cfg);
}

/* ---- Output and lookups ------------------------------------------------ */

static void print_tokens(const struct key *k, const void *obj, FILE *out, int indent)
{
	const struct config *cfg = obj;

	fprintf(out, "%*s%s:\n", indent, "", k->name);
	for (size_t i = 0; i < cfg->ntokens; i++) {
		const struct cfg_token *t = &cfg->tokens[i];
		for (size_t b = 0;
		     t->builtin && b < sizeof(builtin_tokens) / sizeof(*builtin_tokens); b++)
			if (strcmp(t->name, builtin_tokens[b].name) == 0)
				fprintf(out, "%*s# built-in: %s\n", indent + 2, "",
				        builtin_tokens[b].help);
		fprintf(out, "%*s", indent + 2, "");
		put_name(out, t->name);
		fputs(":\n", out);
		print_map(&token_table, t, out, indent + 4, false, NULL);
	}
}

static void print_routes(const struct key *k, const void *obj, FILE *out, int indent)
{
	const struct config *cfg = obj;
	char lead[32];

	fprintf(out, "%*s%s:\n", indent, "", k->name);
	snprintf(lead, sizeof(lead), "%*s- ", indent + 2, "");
	for (size_t i = 0; i < cfg->nroutes; i++) {
		if (cfg->routes[i].line == 0)
			fprintf(out, "%*s# default route\n", indent + 2, "");
		print_map(&route_table, &cfg->routes[i], out, indent + 4, false, lead);
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
	print_map(&top_table, cfg, out, 0, true, NULL);
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

	return home && *home ? home : ZTP_DEFAULT_ZT_HOME;
}
