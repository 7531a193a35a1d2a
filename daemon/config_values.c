/*
 * Configuration value types: for each kind of value (durations, sizes,
 * counts, booleans, names, lists of methods, paths, hosts, origins,
 * networks and user or group ids, listen addresses, route prefixes and
 * upstream URLs), how a key's text is checked and stored, and how it is
 * printed back. The key tables in config_keys.c point at these types.
 */
#include "config_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "os.h"
#include "route.h"
#include "sbuf.h"
#include "ztp_build.h"

#define PREFIX_MAX          1024
#define UPSTREAM_MAX        512
#define LISTEN_MAX_LEN      128
#define MAX_LIST            256
#define MAX_LISTEN          64
#define UNIX_PATH_MAX_LEN   90
#define DEFAULT_SOCKET_MODE 0600u

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
	cfg_enum_names(k, names, sizeof(names));
	cfg_err(c, m, "unknown %s '%s'; use %s", k->name, cfg_quote(&qb, s), names);
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
	if (!cfg_is_digit(*p))
		return "is not a number";
	if (!cfg_parse_u64(&p, &v))
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

/* parse_with_unit that reports a bad value, with how to write a good one. */
static bool parse_value(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                        const struct unit *units, size_t nunits, const char *how, uint64_t *out)
{
	const char *e = parse_with_unit(s, units, nunits, out);
	struct qbuf qb;

	if (e)
		cfg_err(c, m, "%s '%s' %s; %s", k->name, cfg_quote(&qb, s), e, how);
	return e == NULL;
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

	if (!parse_value(c, k, s, m, duration_units,
	                 sizeof(duration_units) / sizeof(duration_units[0]),
	                 "use e.g. 500ms, 10s, 2m, 1h (a plain number is seconds)", &v))
		return;
	if (v > k->max) {
		cfg_err(c, m, "%s '%s' is longer than 24h", k->name, cfg_quote(&qb, s));
		return;
	}
	if (v < k->min) {
		cfg_err(c, m, "%s '%s' is shorter than %s", k->name, cfg_quote(&qb, s),
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

	if (!parse_value(c, k, s, m, size_units, sizeof(size_units) / sizeof(size_units[0]),
	                 "use bytes, or a number with B, KiB, MiB, GiB (or K, M, G)", &v))
		return;
	if (v > k->max || v < k->min) {
		cfg_err(c, m, "%s '%s' is %s than %s", k->name, cfg_quote(&qb, s),
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

	if (!cfg_parse_u64(&p, &v) || *p != '\0' || v < k->min || v > k->max) {
		cfg_err(c, m, "%s '%s' must be a whole number from %llu to %llu", k->name,
		        cfg_quote(&qb, s), (unsigned long long)k->min, (unsigned long long)k->max);
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
	cfg_err(c, m, "%s '%s' must be true or false", k->name, cfg_quote(&qb, s));
}

bool cfg_watch_present(const struct key *k, const void *obj)
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
	cfg_put_quoted(out, *CFIELD(obj, k, char *));
}

static void store_string(struct ctx *c, const struct key *k, const char *s, size_t len, void *obj)
{
	char **p = FIELD(obj, k, char *);

	free(*p);
	*p = cfg_dup(c, s, len);
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
		cfg_err(c, m, "'%s' has more than %d entries", k->name, MAX_LIST);
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
	char *d = cfg_dup(c, s, len);

	if (d != NULL && !list_append(c, k, m, FIELD(obj, k, struct cfg_strs), sizeof(d), &d))
		free(d);
}

void cfg_free_strs(struct cfg_strs *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* A list of scalars, or one scalar for a list of one; each item goes to the type's text(). */
static void node_list(struct ctx *c, const struct key *k, const yaml_node_t *n, void *obj)
{
	if (cfg_is_null(n))
		return;
	if (n->type == YAML_SCALAR_NODE) {
		cfg_scalar_node(c, k, n, obj);
		return;
	}
	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_err(c, &n->start_mark, "'%s' must be %s, not a %s", k->name, k->type->what,
		        cfg_node_kind(n));
		return;
	}
	if (n->data.sequence.items.start == n->data.sequence.items.top &&
	    (k->flags & KF_NONEMPTY)) {
		cfg_err(
		    c, &n->start_mark,
		    "'%s' is an empty list, which would refuse everything; remove the key to allow "
		    "all",
		    k->name);
		return;
	}
	/* One error for a list over its limit, not one (and a user lookup) per entry. */
	if (n->data.sequence.items.top - n->data.sequence.items.start > MAX_LIST) {
		cfg_err(c, &n->start_mark, "'%s' has more than %d entries", k->name, MAX_LIST);
		return;
	}
	for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
	     i++) {
		const yaml_node_t *item = cfg_doc_node(c, *i);

		if (item != NULL && item->type != YAML_SCALAR_NODE)
			cfg_err(c, &item->start_mark, "an entry of '%s' must be a string, not a %s",
			        k->name, cfg_node_kind(item));
		else if (item != NULL)
			cfg_scalar_node(c, k, item, obj);
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
		if (!cfg_is_alpha(s[i]) && !cfg_is_digit(s[i]) && !strchr(tchar, s[i])) {
			cfg_err(c, m, "method '%s' is not an HTTP method name", cfg_quote(&qb, s));
			return;
		}
		upper = upper && !(s[i] >= 'a' && s[i] <= 'z');
	}
	if (n == 0 || n > 15) {
		cfg_err(c, m, "method '%s' must be 1 to 15 characters", cfg_quote(&qb, s));
		return;
	}
	if (!upper) {
		cfg_err(c, m,
		        "method '%s' must be written in upper case: methods are case-sensitive",
		        cfg_quote(&qb, s));
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
		cfg_err(c, m, "%s pattern '%s' %s", k->name, cfg_quote(&qb, s), bad);
		return;
	}
	append_str(c, k, m, obj, buf, route_normalize(s, strlen(s), buf));
}

static const char *check_authority(const char *a, size_t len);

/* Appends s to a list of strings, unless bad says what is wrong with it. */
static void append_checked(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                           void *obj, const char *what, const char *bad)
{
	struct qbuf qb;

	if (bad)
		cfg_err(c, m, "%s '%s' %s", what, cfg_quote(&qb, s), bad);
	else
		append_str(c, k, m, obj, s, strlen(s));
}

static void text_host(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                      void *obj)
{
	append_checked(c, k, s, m, obj, "allowed host",
	               strpbrk(s, "/@") ? "must be a host name or address, with an optional :PORT"
	                                : check_authority(s, strlen(s)));
}

static void text_origin(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                        void *obj)
{
	append_checked(c, k, s, m, obj, "allowed origin", acc_origin_check(s));
}

static void text_cidr(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                      void *obj)
{
	struct acc_cidr cidr;
	const char *bad = acc_cidr_parse(s, &cidr);
	struct qbuf qb;

	if (bad)
		cfg_err(c, m, "%s network '%s' %s (write e.g. 10.0.0.0/8 or fd00::/8)", k->name,
		        cfg_quote(&qb, s), bad);
	else
		(void)list_append(c, k, m, FIELD(obj, k, struct cfg_cidrs), sizeof(cidr), &cidr);
}

/* A user (k->kind 0) or group (1) given by name or number; -1 when unknown (reported). */
static long resolve_id(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m)
{
	const char *p = s, *what = k->kind ? "group" : "user";
	struct qbuf qb;
	unsigned long id;
	enum zt_err err;
	uint64_t v;

	if (cfg_parse_u64(&p, &v) && *p == '\0') {
		if (v < UINT32_MAX)
			return (long)v;
		cfg_err(c, m, "%s id '%s' is out of range", what, cfg_quote(&qb, s));
		return -1;
	}
	err = os_lookup_id(s, k->kind != 0, &id);
	if (err == ZT_OK && id < UINT32_MAX)
		return (long)id;
	if (err == ZT_ERR_UNSUPPORTED)
		cfg_err(c, m, "%s names are not supported on this platform; give a number", what);
	else
		cfg_err(c, m, "unknown %s '%s'%s%s", what, cfg_quote(&qb, s),
		        err == ZT_ERR_IO ? ": " : "", err == ZT_ERR_IO ? strerror(errno) : "");
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
static void put_ids(struct sbuf *b, const struct acc_ids *ids)
{
	for (size_t i = 0; i < ids->n; i++)
		sbuf_printf(b, "%s%u%s", i == 0 ? "[" : ", ", ids->v[i],
		            i + 1 == ids->n ? "]" : "");
}

static void print_list(const struct key *k, const void *obj, FILE *out, int indent)
{
	const struct cfg_strs *l = CFIELD(obj, k, struct cfg_strs);
	char buf[INET6_ADDRSTRLEN + 8];

	fprintf(out, "%*s%s: ", indent, "", k->name);
	if (k->type == &cfg_type_ids && l->n > 0) {
		struct sbuf b;

		sbuf_init(&b, SIZE_MAX);
		put_ids(&b, CFIELD(obj, k, struct acc_ids));
		fprintf(out, "%s\n", sbuf_failed(&b) ? "[]" : b.data);
		sbuf_free(&b);
		return;
	}
	fputc('[', out);
	for (size_t i = 0; i < l->n; i++) {
		if (i > 0)
			fputs(", ", out);
		if (k->type == &cfg_type_cidrs) {
			acc_cidr_format(&CFIELD(obj, k, struct cfg_cidrs)->v[i], buf, sizeof(buf));
			cfg_put_quoted(out, buf);
		} else {
			cfg_put_quoted(out, l->v[i]);
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
		cfg_err(c, m, "%s '%s' must be octal permission bits such as \"0660\"", k->name,
		        cfg_quote(&qb, s));
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

/* Token sources: file, env, credential, value. */
static void text_source(struct ctx *c, const struct key *k, const char *s, const yaml_mark_t *m,
                        void *obj)
{
	struct cfg_token *t = obj;

	if (!k->check(c, k, s, m))
		return;
	t->kind = (enum token_kind)k->kind;
	t->arg = cfg_dup(c, s, strlen(s));
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
		cfg_put_quoted(out, t->arg);
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

	if (!cfg_valid_token_name(s)) {
		cfg_err(c, m, "token '%s' is not a valid name (1 to 64 of A-Z a-z 0-9 _ . -)",
		        cfg_quote(&qb, s));
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
		if (!cfg_is_graph(s[i]) || s[i] == '\\')
			bad = "must not contain spaces, control, backslash or non-ASCII characters";
	/* Segments start after each '/' and end at the next '/' or the end. */
	for (const char *seg = s; !bad && seg; seg = strchr(seg + 1, '/')) {
		size_t len = strcspn(seg + 1, "/");
		if ((len == 1 && seg[1] == '.') || (len == 2 && seg[1] == '.' && seg[2] == '.'))
			bad = "must not contain a '.' or '..' segment";
	}
	if (bad) {
		cfg_err(c, m, "prefix '%s' %s", cfg_quote(&qb, s), bad);
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
			if (!cfg_is_alpha(ch) && !cfg_is_digit(ch) && ch != '.' && ch != '-' &&
			    ch != '_')
				return "has a character that is not allowed in a host name";
			numeric = numeric && (cfg_is_digit(ch) || ch == '.');
		}
		if (numeric && inet_pton(AF_INET, buf, &a4) != 1)
			return "has a bad IPv4 address";
	}
	if (port) {
		uint64_t v;
		const char *p = port;
		if (!cfg_parse_u64(&p, &v) || *p != '\0' || v < 1 || v > 65535 || p - port > 5)
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
		if (!cfg_is_graph(s[i]))
			bad = "must not contain spaces, control or non-ASCII characters";
	if (!bad && strpbrk(s, "?#"))
		bad = "must not have a query or fragment";
	alen = rest ? strcspn(rest, "/") : 0;
	if (!bad && memchr(rest, '@', alen))
		bad = "must not contain user:password@ (tokens come from tokens:)";
	if (!bad)
		bad = check_authority(rest, alen);
	if (bad) {
		cfg_err(c, m, "upstream '%s' %s", cfg_quote(&qb, s), bad);
		return;
	}
	end = n;
	while (end > (size_t)(rest - s) + alen && s[end - 1] == '/')
		end--;
	u = cfg_dup(c, s, end);
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
		cfg_warn(
		    c, m,
		    "upstream '%s' is plain http to another machine: the token crosses the network "
		    "unencrypted; use https://",
		    cfg_quote(&qb, u));
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

bool cfg_listen_is_tcp(const struct cfg_listen *l)
{
	return l->addr.ss_family == AF_INET || l->addr.ss_family == AF_INET6;
}

yaml_mark_t cfg_listen_mark(const struct cfg_listen *l)
{
	return (yaml_mark_t){.line = (size_t)(l->line - 1), .column = (size_t)(l->col - 1)};
}

/* The next listen slot, cleared; it counts only once listen_commit() takes it. */
static struct cfg_listen *listen_slot(struct ctx *c, const yaml_mark_t *m)
{
	struct config *cfg = c->cfg;

	if (cfg->nlisten == MAX_LISTEN) {
		cfg_err(c, m, "too many listen addresses (at most %d)", MAX_LISTEN);
		return NULL;
	}
	if (!cfg_grow(c, (void **)&cfg->listen, &c->cap_listen, cfg->nlisten, sizeof(*cfg->listen)))
		return NULL;
	memset(&cfg->listen[cfg->nlisten], 0, sizeof(*cfg->listen));
	return &cfg->listen[cfg->nlisten];
}

void cfg_listen_clear(struct cfg_listen *l)
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
			cfg_err(c, m, "listen address '%s' is listed twice", cfg_quote(&qb, s));
			cfg_listen_clear(l);
			return;
		}
	}
	if ((l->text = cfg_dup(c, text, strlen(text))) == NULL) {
		cfg_listen_clear(l);
		return;
	}
	l->status_only = status_only;
	if (m != NULL) {
		l->line = (int)m->line + 1;
		l->col = (int)m->column + 1;
	}
	cfg->nlisten++;
	/* Other addresses need allow_remote: see top_finish. Status listeners hold no tokens. */
	if (status_only && cfg_listen_is_tcp(l) &&
	    !acc_addr_is_loopback((const struct sockaddr *)&l->addr))
		cfg_warn(
		    c, m,
		    "listen address '%s' is not a loopback address: whoever can reach it can read "
		    "the status and metrics",
		    cfg_quote(&qb, s));
}

/* Fills l's address with a unix socket path; false (reported) when the path is unusable. */
static bool set_unix_path(struct ctx *c, struct cfg_listen *l, const char *path,
                          const yaml_mark_t *m)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)(void *)&l->addr;
	size_t n = strlen(path);
	struct qbuf qb;

	if (!ZTP_HAVE_UNIX_LISTEN) {
		cfg_err(c, m,
		        "unix socket '%s': this platform has no unix socket listeners; listen on a "
		        "loopback address such as 127.0.0.1:9994",
		        cfg_quote(&qb, path));
		return false;
	}
	if (path[0] != '/' || n > UNIX_PATH_MAX_LEN || cfg_has_control(path) ||
	    (n > 1 && path[n - 1] == '/')) {
		cfg_err(
		    c, m,
		    "unix socket '%s' must be an absolute file path of at most %d bytes without "
		    "control characters",
		    cfg_quote(&qb, path), UNIX_PATH_MAX_LEN);
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

void cfg_add_listen(struct ctx *c, const char *s, const yaml_mark_t *m, bool status_only)
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
		if (!cfg_parse_u64(&p, &pv) || *p != '\0' || pv > 65535 || p - port > 5)
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
		cfg_err(c, m, "listen address '%s' %s", cfg_quote(&qb, s), bad);
		return;
	}
	memcpy(&l->addr, res->ai_addr, res->ai_addrlen);
	l->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	listen_commit(c, l, s, s, m, status_only);
}

/*
 * A unix socket with options. Its text is the canonical flow mapping of
 * what was set, so that a reload changing any option replaces the socket
 * (server.c keys listeners by text).
 */
static void add_unix_map(struct ctx *c, const yaml_node_t *n, bool status_only)
{
	struct cfg_listen *l = listen_slot(c, &n->start_mark);
	const char *path;
	struct sbuf b;
	char *text;

	if (l == NULL)
		return;
	l->mode = DEFAULT_SOCKET_MODE;
	l->owner = l->group = -1;
	cfg_walk_map(c, n, &cfg_unix_table, l, "listen socket", &n->start_mark);
	if (l->addr.ss_family != AF_UNIX) {
		cfg_listen_clear(l);
		return;
	}
	path = unix_path(l);
	sbuf_init(&b, SIZE_MAX);
	if (l->mode == DEFAULT_SOCKET_MODE && l->owner < 0 && l->group < 0 &&
	    l->allow_uids.n == 0 && l->allow_gids.n == 0) {
		sbuf_printf(&b, "unix:%s", path);
	} else {
		sbuf_put(&b, "{unix: ");
		cfg_quote_into(&b, path);
		sbuf_printf(&b, ", mode: \"%04o\"", l->mode);
		if (l->owner >= 0)
			sbuf_printf(&b, ", owner: %ld", l->owner);
		if (l->group >= 0)
			sbuf_printf(&b, ", group: %ld", l->group);
		if (l->allow_uids.n > 0)
			sbuf_put(&b, ", allow_uids: ");
		put_ids(&b, &l->allow_uids);
		if (l->allow_gids.n > 0)
			sbuf_put(&b, ", allow_gids: ");
		put_ids(&b, &l->allow_gids);
		sbuf_put(&b, "}");
	}
	if ((text = sbuf_take(&b, NULL)) == NULL) {
		c->nomem = true;
		cfg_listen_clear(l);
	} else {
		listen_commit(c, l, path, text, &n->start_mark, status_only);
	}
	free(text);
}

size_t cfg_count_listen(const struct config *cfg, bool status_only)
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
	if (n->type == YAML_SCALAR_NODE && !cfg_is_null(n)) {
		s = cfg_scalar_text(c, n, "listen address");
		if (s)
			cfg_add_listen(c, s, &n->start_mark, k->kind != 0);
		return;
	}
	if (n->type != YAML_SEQUENCE_NODE ||
	    n->data.sequence.items.start == n->data.sequence.items.top) {
		cfg_err(
		    c, &n->start_mark,
		    "'%s' must be a list of addresses such as \"127.0.0.1:9994\"; remove it to use "
		    "the defaults",
		    k->name);
		return;
	}
	/* One error for a list over its limit, not one (and a user lookup) per entry. */
	if (n->data.sequence.items.top - n->data.sequence.items.start > MAX_LIST) {
		cfg_err(c, &n->start_mark, "'%s' has more than %d entries", k->name, MAX_LIST);
		return;
	}
	for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
	     i++) {
		const yaml_node_t *item = cfg_doc_node(c, *i);
		if (item == NULL)
			continue;
		if (item->type == YAML_MAPPING_NODE) {
			add_unix_map(c, item, k->kind != 0);
			continue;
		}
		if (item->type != YAML_SCALAR_NODE || cfg_is_null(item)) {
			cfg_err(
			    c, &item->start_mark,
			    "a listen address must be a string or a unix socket mapping, not a %s",
			    cfg_is_null(item) ? "empty value" : cfg_node_kind(item));
			continue;
		}
		s = cfg_scalar_text(c, item, "listen address");
		if (s)
			cfg_add_listen(c, s, &item->start_mark, k->kind != 0);
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
			cfg_put_quoted(out, cfg->listen[i].text);
		fputc('\n', out);
	}
}

/* ---- Sections ---------------------------------------------------------- */

static void node_section(struct ctx *c, const struct key *k, const yaml_node_t *n, void *obj)
{
	cfg_walk_map(c, n, k->sub, obj, k->name, &n->start_mark);
}

static void print_section(const struct key *k, const void *obj, FILE *out, int indent)
{
	fprintf(out, "%*s%s:\n", indent, "", k->name);
	cfg_print_map(k->sub, obj, out, indent + 2, true, NULL);
}

/* ---- The types, for the key tables ------------------------------------- */

const struct key_type cfg_type_enum = {"a name", .text = text_enum, .value = value_enum};
const struct key_type cfg_type_duration = {"a duration such as 10s", .text = text_duration,
                                           .value = value_duration};
const struct key_type cfg_type_size = {"a size such as 64KiB", .text = text_size,
                                       .value = value_size};
const struct key_type cfg_type_count = {"a whole number", .text = text_count, .value = value_count};
const struct key_type cfg_type_watch = {"true or false", .text = text_bool,
                                        .present = cfg_watch_present, .value = value_bool};
const struct key_type cfg_type_source = {"a string", .text = text_source, .present = source_present,
                                         .value = value_source};
const struct key_type cfg_type_path = {"an absolute path", .text = text_path,
                                       .present = string_present, .value = value_string};
const struct key_type cfg_type_prefix = {"a path such as /central", .text = text_prefix,
                                         .present = string_present, .value = value_string};
const struct key_type cfg_type_upstream = {"an http:// or https:// URL", .text = text_upstream,
                                           .present = string_present, .value = value_string};
const struct key_type cfg_type_token_ref = {"a token name", .text = text_token_ref,
                                            .present = string_present, .value = value_string};
const struct key_type cfg_type_listen = {"a list of addresses", .node = node_listen,
                                         .print = print_listen, .items = &cfg_unix_table,
                                         .item_path = "[]"};

/* status.listen is printed only when set (key kind 1: the status-only list). */
static bool status_listen_present(const struct key *k, const void *obj)
{
	(void)k;
	return cfg_count_listen(obj, true) > 0;
}

const struct key_type cfg_type_status_listen = {
    "a list of addresses", .node = node_listen,      .present = status_listen_present,
    .print = print_listen, .items = &cfg_unix_table, .item_path = "[]"};
const struct key_type cfg_type_bool = {"true or false", .text = text_bool, .value = value_bool};
const struct key_type cfg_type_section = {"a mapping", .node = node_section,
                                          .print = print_section};

static bool flag_present(const struct key *k, const void *obj)
{
	return *CFIELD(obj, k, bool);
}

const struct key_type cfg_type_flag = {"true or false", .text = text_bool, .present = flag_present,
                                       .value = value_bool};
/* The list types differ only in what an entry is and how it is checked. */
#define LIST_TYPE(what_, text_)                                                                    \
	{                                                                                          \
		.what = what_, .node = node_list, .text = text_, .present = list_present,          \
		.print = print_list                                                                \
	}

const struct key_type cfg_type_methods =
    LIST_TYPE("a list of HTTP methods such as [GET, HEAD]", text_method);
const struct key_type cfg_type_globs =
    LIST_TYPE("a list of path patterns such as [\"/central/api/*\"]", text_glob);
const struct key_type cfg_type_hosts = LIST_TYPE("a list of host names", text_host);
const struct key_type cfg_type_origins =
    LIST_TYPE("a list of origins such as [\"http://localhost:3000\"]", text_origin);
const struct key_type cfg_type_cidrs =
    LIST_TYPE("a list of networks such as [\"10.0.0.0/8\"]", text_cidr);
const struct key_type cfg_type_ids = LIST_TYPE("a list of user or group names or numbers", text_id);
/* Unix socket options are printed as part of the listen entry's text (add_unix_map). */
const struct key_type cfg_type_unix = {"an absolute path", .text = text_unix_path};
const struct key_type cfg_type_mode = {"octal permission bits such as \"0660\"", .text = text_mode};
const struct key_type cfg_type_owner = {"a user or group name or number", .text = text_owner};
