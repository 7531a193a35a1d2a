/*
 * Token sources: reading, validating and holding the current value.
 *
 * A token keeps its last good value when its source later becomes missing,
 * empty or invalid: a deleted authtoken.secret does not stop the service
 * from accepting the old token until the service restarts.
 */
#ifndef ZTP_TOKEN_H
#define ZTP_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "err.h"

/* Longest token accepted; longer content is invalid. */
#define TOKEN_MAX 4096

enum token_state {
	TOKEN_OK,
	TOKEN_MISSING,    /* file absent, variable unset, no $CREDENTIALS_DIRECTORY */
	TOKEN_UNREADABLE, /* the file exists but cannot be read */
	TOKEN_INVALID,    /* empty, too long or non-printable content */
};

struct token {
	const struct cfg_token *cfg; /* borrowed; lives as long as its config */
	char *path;                  /* resolved file, or NULL for env and value */
	char *value;                 /* last good value, or NULL; owned, wiped on change */
	size_t len;
	enum token_state state; /* state of the source at the last read */
	int sys_errno;          /* errno of the last failed read, or 0 */
	char reason[384];       /* why state is not OK; never holds the value */
	time_t changed;         /* when value last changed (0: never loaded) */
	unsigned generation;    /* bumped whenever value changes */
	char hint[256];         /* token_hint()'s text, set with state; never the value */
	char fix[256];          /* the file was refused as not private: how to fix it */
};

/*
 * Initialises t for source cfg and reads it once. Only allocation failure is
 * an error; an unavailable source is a state (see t->state and t->reason).
 */
ZT_WUR enum zt_err token_init(struct token *t, const struct cfg_token *cfg);

/* Re-reads the source. Returns true when the usable value changed. */
bool token_refresh(struct token *t);

/* True when a value is available to inject. */
static inline bool token_usable(const struct token *t)
{
	return t->value != NULL;
}

/* Wipes the value and frees what t owns. */
void token_fini(struct token *t);

/*
 * Pure: finds the token in raw file content. Surrounding whitespace and NUL
 * bytes are trimmed. Returns ZT_OK with [*start, *start + *len) the token,
 * or ZT_ERR_INVALID (empty, or a byte outside 0x21..0x7e inside) or
 * ZT_ERR_TOOBIG (longer than TOKEN_MAX).
 */
ZT_WUR enum zt_err token_parse(const char *buf, size_t len, size_t *start, size_t *tlen);

/*
 * OpenBSD relayd's check_file_secrecy(): a file that holds a secret must not
 * be writable by group or others, nor belong to another unprivileged user
 * (anyone but root and the user the proxy runs as), or someone else could
 * choose the token. Returns NULL when the file passes; else why, holding
 * what is wrong with the file (naming it, its owner and mode), and fix
 * holds the command that fixes it.
 */
const char *token_file_insecure(const char *path, unsigned long owner, unsigned mode, char *why,
                                size_t whycap, char *fix, size_t fixcap);

const char *token_state_name(enum token_state state);
/* "file /var/lib/...", "env ZEROTIER_CENTRAL_TOKEN", "credential central", "inline value" */
void token_describe_source(const struct cfg_token *cfg, char *buf, size_t cap);
/*
 * A one-line fix for the common cause of the current state, or NULL. The text
 * lives in t->hint: valid until the next token_refresh() or token_fini().
 */
const char *token_hint(const struct token *t);

#endif
