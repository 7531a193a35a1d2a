/*
 * Internals of the configuration module, shared by its files only: only
 * config*.c include this header, and it is not installed. The public
 * interface is config.h.
 *
 *   config.c         loading, the YAML document walk, problem reports,
 *                    the embedded defaults, cfg_free and lookups
 *   config_values.c  the value types: parse, store and print one key's value
 *   config_keys.c    the key tables of each section, their checks and defaults
 *   config_print.c   YAML output: cfg_print
 */
#ifndef ZTP_CONFIG_IMPL_H
#define ZTP_CONFIG_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include <stdint.h>
#include <stdio.h>
#include <yaml.h>

#include "config.h"

#define MAX_TABLE_KEYS      16
#define NAME_MAX_LEN        64
#define QUOTE_MAX           64
#define HIDDEN_VALUE        "(inline, hidden)"
#define TOKEN_LOOKALIKE_MIN 20
#define TOKEN_LOOKALIKE     "(hidden: looks like a token value)"

/* Key flags. */
#define KF_REQUIRED 1u /* missing key: error */
#define KF_ONE_OF   2u /* exactly one of the keys with this flag must be present */
#define KF_NONEMPTY 4u /* lists: an empty list is an error (it would refuse everything) */

struct msg;

/* One parse: what it reports and what it builds. */
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
	/*
	 * Lists or mappings of items that are mappings themselves: the keys of one
	 * item, and how an item reads in a key's path ("[]" in a list, ".<name>" in
	 * a mapping of names). Only cfg_each_key reads these.
	 */
	const struct table *items;
	const char *item_path;
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

/* ---- config.c: messages and memory ------------------------------------- */

/* Quotes untrusted text for a message: printable ASCII only, capped. */
struct qbuf {
	char s[QUOTE_MAX * 4 + 8];
};

/*
 * s made printable for a message, at most QUOTE_MAX bytes of it, with
 * registered secrets redacted and a token lookalike (cfg_looks_like_token)
 * replaced whole by TOKEN_LOOKALIKE.
 */
const char *cfg_quote(struct qbuf *b, const char *s);

/*
 * Whether s looks like a token value rather than a name or a path: at
 * least TOKEN_LOOKALIKE_MIN letters and digits only, with a digit and a
 * lower-case letter (ZeroTier One's 24 of [a-z0-9], Central's 32).
 * Shorter network ids (16 hex digits) are not taken for one.
 */
bool cfg_looks_like_token(const char *s);

/* Record a problem at m (NULL: the whole file); reported in file order at the end. */
void cfg_err(struct ctx *c, const yaml_mark_t *m, const char *fmt, ...) ZT_PRINTF(3, 4);
void cfg_warn(struct ctx *c, const yaml_mark_t *m, const char *fmt, ...) ZT_PRINTF(3, 4);

/* Copies of s and grown arrays; on failure they set c->nomem. */
char *cfg_dup(struct ctx *c, const char *s, size_t len);
bool cfg_grow(struct ctx *c, void **arr, size_t *cap, size_t n, size_t sz);

/* ---- config.c: small helpers ------------------------------------------- */

static inline bool cfg_is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static inline bool cfg_is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static inline bool cfg_is_graph(char ch)
{
	return (unsigned char)ch >= 0x21 && (unsigned char)ch <= 0x7e;
}

static inline bool cfg_has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

bool cfg_parse_u64(const char **sp, uint64_t *out);
bool cfg_valid_token_name(const char *s);
/* "a, b or c": the names of an enum key's values. */
void cfg_enum_names(const struct key *k, char *buf, size_t cap);

/* ---- config.c: the YAML document walk ---------------------------------- */

const yaml_node_t *cfg_doc_node(struct ctx *c, int id);
const char *cfg_node_kind(const yaml_node_t *n);
bool cfg_is_null(const yaml_node_t *n);
const char *cfg_scalar_text(struct ctx *c, const yaml_node_t *n, const char *what);
void cfg_check_dup_keys(struct ctx *c, const yaml_node_t *map);
const struct key *cfg_table_find(const struct table *t, const char *name);
void cfg_scalar_node(struct ctx *c, const struct key *k, const yaml_node_t *n, void *obj);
void cfg_walk_map(struct ctx *c, const yaml_node_t *map, const struct table *t, void *obj,
                  const char *label, const yaml_mark_t *at);
void cfg_apply_defaults(struct ctx *c, const struct table *t, void *obj);

/* The help line of a built-in token, or NULL. */
const char *cfg_builtin_token_help(const char *name);

/* ---- config_values.c: value types -------------------------------------- */

extern const struct key_type cfg_type_enum, cfg_type_duration, cfg_type_size, cfg_type_count,
    cfg_type_bool, cfg_type_flag, cfg_type_watch, cfg_type_source, cfg_type_path, cfg_type_prefix,
    cfg_type_upstream, cfg_type_token_ref, cfg_type_listen, cfg_type_status_listen,
    cfg_type_section, cfg_type_methods, cfg_type_globs, cfg_type_hosts, cfg_type_origins,
    cfg_type_cidrs, cfg_type_ids, cfg_type_unix, cfg_type_mode, cfg_type_owner;

/* Whether a token's source can be watched, so that "watch" applies. */
bool cfg_watch_present(const struct key *k, const void *obj);
void cfg_free_strs(struct cfg_strs *l);

/* Listen addresses; m is NULL for the defaults. */
void cfg_add_listen(struct ctx *c, const char *s, const yaml_mark_t *m, bool status_only);
size_t cfg_count_listen(const struct config *cfg, bool status_only);
bool cfg_listen_is_tcp(const struct cfg_listen *l);
yaml_mark_t cfg_listen_mark(const struct cfg_listen *l);
void cfg_listen_clear(struct cfg_listen *l);

/* ---- config_keys.c: key tables ----------------------------------------- */

extern const struct table cfg_top_table, cfg_token_table, cfg_route_table, cfg_unix_table;

/* A new route, its max_body not set yet; NULL when out of memory. */
struct cfg_route *cfg_new_route(struct ctx *c);

/* ---- config_print.c: YAML output --------------------------------------- */

/* Writes s as a double-quoted YAML scalar that libyaml reads back unchanged. */
void cfg_put_quoted(FILE *out, const char *s);
struct sbuf;
/* The same, appended to b. */
void cfg_quote_into(struct sbuf *b, const char *s);
/* Prints the keys of t for obj; lead, if set, replaces the indent of the first line. */
void cfg_print_map(const struct table *t, const void *obj, FILE *out, int indent, bool help,
                   const char *lead);
void cfg_print_tokens(const struct key *k, const void *obj, FILE *out, int indent);
void cfg_print_routes(const struct key *k, const void *obj, FILE *out, int indent);

#endif
