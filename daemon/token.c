/*
 * Token sources. Every read yields a state (and a reason and hint naming the
 * source, never its content); only a valid read replaces the value, so a
 * source that goes missing or holds garbage keeps the last good token usable.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compat.h"
#include "log.h"
#include "os.h"
#include "rfile.h"
#include "token.h"

/* Room for a token with generous whitespace around it; anything longer is refused unread. */
#define READ_MAX (TOKEN_MAX + 64)

static bool is_trimmed(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
	       c == '\0';
}

enum zt_err token_parse(const char *buf, size_t len, size_t *start, size_t *tlen)
{
	size_t b = 0, e = len;

	while (b < e && is_trimmed((unsigned char)buf[b]))
		b++;
	while (e > b && is_trimmed((unsigned char)buf[e - 1]))
		e--;
	if (b == e)
		return ZT_ERR_INVALID;
	if (e - b > TOKEN_MAX)
		return ZT_ERR_TOOBIG;
	for (size_t i = b; i < e; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c < 0x21 || c > 0x7e)
			return ZT_ERR_INVALID;
	}
	*start = b;
	*tlen = e - b;
	return ZT_OK;
}

const char *token_state_name(enum token_state state)
{
	switch (state) {
	case TOKEN_OK:
		return "ok";
	case TOKEN_MISSING:
		return "missing";
	case TOKEN_UNREADABLE:
		return "unreadable";
	case TOKEN_INVALID:
		return "invalid";
	}
	return "unknown";
}

void token_describe_source(const struct cfg_token *cfg, char *buf, size_t cap)
{
	switch (cfg->kind) {
	case TOKEN_SRC_FILE:
		snprintf(buf, cap, "file %s", cfg->arg);
		return;
	case TOKEN_SRC_ENV:
		snprintf(buf, cap, "env %s", cfg->arg);
		return;
	case TOKEN_SRC_CREDENTIAL:
		snprintf(buf, cap, "credential %s", cfg->arg);
		return;
	case TOKEN_SRC_VALUE:
		snprintf(buf, cap, "inline value");
		return;
	}
	snprintf(buf, cap, "unknown source");
}

const char *token_hint(const struct token *t)
{
	return t->hint[0] != '\0' ? t->hint : NULL;
}

/* The source as reasons name it: a path, "$VAR" or "the inline value". */
static void source_name(const struct token *t, char *buf, size_t cap)
{
	if (t->path != NULL)
		snprintf(buf, cap, "%s", t->path);
	else if (t->cfg->kind == TOKEN_SRC_ENV)
		snprintf(buf, cap, "$%s", t->cfg->arg);
	else if (t->cfg->kind == TOKEN_SRC_CREDENTIAL)
		snprintf(buf, cap, "credential %s", t->cfg->arg);
	else
		snprintf(buf, cap, "the inline value");
}

/* ZeroTier One writes these itself on its first start, so a missing one means it has not run. */
static bool written_by_zerotier(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash != NULL ? slash + 1 : path;

	return strcmp(base, "authtoken.secret") == 0 || strcmp(base, "metricstoken.secret") == 0;
}

const char *token_file_insecure(const char *path, unsigned long owner, unsigned mode, char *why,
                                size_t whycap, char *fix, size_t fixcap)
{
	char who[160];
	unsigned long me = os_euid();

	os_user_name(owner, who, sizeof(who));
	if (mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, whycap, "%s can be written by group or others (owner %s, mode %04o)",
		         path, who, mode & 07777);
		snprintf(fix, fixcap, "run 'chmod go-w %s'", path);
		return why;
	}
	if (owner != 0 && owner != me) {
		snprintf(why, whycap,
		         "%s belongs to %s, neither root nor the user the proxy runs as (uid %lu) "
		         "(mode %04o)",
		         path, who, me, mode & 07777);
		snprintf(fix, fixcap, "run 'chown root %s' (or chown it to the proxy's user)",
		         path);
		return why;
	}
	return NULL;
}

static void set_hint(struct token *t)
{
	const struct cfg_token *cfg = t->cfg;
	char *h = t->hint;
	size_t cap = sizeof(t->hint);

	h[0] = '\0';
	if (t->state == TOKEN_UNREADABLE && t->fix[0] != '\0') {
		snprintf(h, cap, "%s", t->fix);
		return;
	}
	switch (t->state) {
	case TOKEN_OK:
		return;
	case TOKEN_MISSING:
		if (cfg->kind == TOKEN_SRC_ENV)
			snprintf(h, cap, "set %s in the service's environment", cfg->arg);
		else if (cfg->kind == TOKEN_SRC_CREDENTIAL)
			snprintf(h, cap,
			         "add LoadCredential=%s:/path/to/token to the [Service] section of "
			         "the unit",
			         cfg->arg);
		else if (t->path != NULL && written_by_zerotier(t->path))
			snprintf(
			    h, cap,
			    "is ZeroTier One installed and started? it creates %s on first start; "
			    "or set ZEROTIER_HOME",
			    t->path);
		else if (t->path != NULL)
			snprintf(h, cap,
			         "create %s holding the token, or point the token at another file",
			         t->path);
		return;
	case TOKEN_UNREADABLE:
		if (t->path == NULL || cfg->kind != TOKEN_SRC_FILE)
			return;
		if (t->sys_errno == EACCES || t->sys_errno == EPERM)
			snprintf(
			    h, cap,
			    "run the proxy as root or as the owner of %s (for ZeroTier One: the "
			    "zerotier-one user), or grant it read access",
			    t->path);
		else if (t->sys_errno == 0)
			snprintf(h, cap, "%s must be a regular file holding the token", t->path);
		return;
	case TOKEN_INVALID:
		if (cfg->kind == TOKEN_SRC_ENV)
			snprintf(h, cap,
			         "$%s must hold the token alone (printable ASCII, no spaces)",
			         cfg->arg);
		else if (cfg->kind == TOKEN_SRC_VALUE)
			snprintf(h, cap,
			         "the inline value must be the token alone (printable ASCII, no "
			         "spaces)");
		else
			snprintf(h, cap,
			         "the file must hold the token alone (printable ASCII, no spaces)");
		return;
	}
}

ZT_PRINTF(4, 5)
static void set_state(struct token *t, enum token_state state, int sys_errno, const char *fmt, ...)
{
	va_list ap;

	t->state = state;
	t->sys_errno = sys_errno;
	va_start(ap, fmt);
	vsnprintf(t->reason, sizeof(t->reason), fmt, ap);
	va_end(ap);
}

static void set_errno_state(struct token *t, int err)
{
	enum token_state state = err == ENOENT || err == ENOTDIR ? TOKEN_MISSING : TOKEN_UNREADABLE;

	set_state(t, state, err, "cannot read %s: %s", t->path, strerror(err));
}

/*
 * Reads t->path into buf (capacity READ_MAX) the careful way (rfile.h: a
 * FIFO or a device planted at the path is refused at once); symlinks are
 * followed because secret stores (Kubernetes, systemd) swap them. The file
 * itself (not the link) must pass token_file_insecure().
 */
static bool read_file(struct token *t, char *buf, size_t *len)
{
	char why[320];
	struct stat st;
	enum zt_err rc;
	int fd, err;

	if ((rc = rfile_open(t->path, &fd, &st)) == ZT_ERR_INVALID) {
		set_state(t, TOKEN_UNREADABLE, 0, "cannot read %s: not a regular file: %s", t->path,
		          rfile_kind(&st));
		return false;
	}
	if (rc != ZT_OK) {
		set_errno_state(t, errno);
		return false;
	}
	/* Without permission bits (Windows) the directory's ACL is what protects the file. */
	if (compat_file_mode(&st) >= 0 &&
	    token_file_insecure(t->path, st.st_uid, (unsigned)st.st_mode, why, sizeof(why), t->fix,
	                        sizeof(t->fix))) {
		close(fd);
		set_state(t, TOKEN_UNREADABLE, 0, "refusing %s", why);
		return false;
	}
	rc = rfile_read(fd, buf, READ_MAX, len);
	err = errno;
	close(fd);
	if (rc == ZT_ERR_TOOBIG) {
		explicit_bzero(buf, READ_MAX);
		set_state(t, TOKEN_INVALID, 0, "%s is longer than %d bytes", t->path, TOKEN_MAX);
		return false;
	}
	if (rc != ZT_OK) {
		set_errno_state(t, err);
		return false;
	}
	return true;
}

/* Points *src at the source's raw content, or sets the state and returns false. */
static bool read_source(struct token *t, char *buf, const char **src, size_t *len)
{
	const char *v;

	switch (t->cfg->kind) {
	case TOKEN_SRC_FILE:
	case TOKEN_SRC_CREDENTIAL:
		if (t->path == NULL) {
			set_state(t, TOKEN_MISSING, 0,
			          "$CREDENTIALS_DIRECTORY is not set (not started by systemd with "
			          "LoadCredential=)");
			return false;
		}
		*src = buf;
		return read_file(t, buf, len);
	case TOKEN_SRC_ENV:
		v = getenv(t->cfg->arg);
		if (v == NULL) {
			set_state(t, TOKEN_MISSING, 0, "$%s is not set", t->cfg->arg);
			return false;
		}
		*src = v;
		*len = strlen(v);
		return true;
	case TOKEN_SRC_VALUE:
		*src = t->cfg->arg;
		*len = strlen(t->cfg->arg);
		return true;
	}
	set_state(t, TOKEN_MISSING, 0, "unknown token source");
	return false;
}

/* Tells an empty source from one with stray bytes, for the reason; never quotes them. */
static bool only_blank(const char *src, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_trimmed((unsigned char)src[i]))
			return false;
	return true;
}

/*
 * Replaces the value with [src, src + len) if it differs. The new value is
 * registered for redaction before the old one is unregistered and wiped, so
 * there is no moment when a held value is unknown to the log.
 */
static enum zt_err store(struct token *t, const char *src, size_t len, bool *changed)
{
	char *v;

	if (t->value != NULL && t->len == len && memcmp(t->value, src, len) == 0)
		return ZT_OK;
	v = malloc(len + 1);
	if (v == NULL)
		return ZT_ERR_NOMEM;
	memcpy(v, src, len);
	v[len] = '\0';
	log_secret_add(v, len);
	if (t->value != NULL) {
		log_secret_remove(t->value);
		explicit_bzero(t->value, t->len);
		free(t->value);
	}
	t->value = v;
	t->len = len;
	t->changed = time(NULL);
	t->generation++;
	*changed = true;
	return ZT_OK;
}

static enum zt_err load(struct token *t, bool *changed)
{
	char buf[READ_MAX + 1];
	char name[160];
	const char *src = NULL;
	size_t len = 0, start, tlen;
	enum zt_err err = ZT_OK;

	*changed = false;
	t->fix[0] = '\0';
	if (!read_source(t, buf, &src, &len))
		goto out;
	source_name(t, name, sizeof(name));
	switch (token_parse(src, len, &start, &tlen)) {
	case ZT_OK:
		err = store(t, src + start, tlen, changed);
		if (err == ZT_OK) {
			t->state = TOKEN_OK;
			t->sys_errno = 0;
			t->reason[0] = '\0';
		} else {
			set_state(t, TOKEN_UNREADABLE, ENOMEM, "cannot load %s: out of memory",
			          name);
		}
		break;
	case ZT_ERR_TOOBIG:
		set_state(t, TOKEN_INVALID, 0, "%s is longer than %d bytes", name, TOKEN_MAX);
		break;
	default:
		if (only_blank(src, len))
			set_state(t, TOKEN_INVALID, 0, "%s is empty", name);
		else
			set_state(
			    t, TOKEN_INVALID, 0,
			    "%s holds more than a token (spaces or non-printable bytes inside)",
			    name);
		break;
	}
out:
	explicit_bzero(buf, sizeof(buf));
	set_hint(t);
	return err;
}

enum zt_err token_init(struct token *t, const struct cfg_token *cfg)
{
	const char *dir;
	enum zt_err err;
	bool changed;
	size_t n;

	memset(t, 0, sizeof(*t));
	t->cfg = cfg;
	if (cfg->kind == TOKEN_SRC_FILE) {
		t->path = strdup(cfg->arg);
		if (t->path == NULL)
			return ZT_ERR_NOMEM;
	} else if (cfg->kind == TOKEN_SRC_CREDENTIAL) {
		dir = getenv("CREDENTIALS_DIRECTORY");
		if (dir != NULL && dir[0] != '\0') {
			n = strlen(dir) + 1 + strlen(cfg->arg) + 1;
			if ((t->path = malloc(n)) == NULL)
				return ZT_ERR_NOMEM;
			snprintf(t->path, n, "%s/%s", dir, cfg->arg);
		}
	}
	err = load(t, &changed);
	if (err != ZT_OK)
		token_fini(t);
	return err;
}

bool token_refresh(struct token *t)
{
	bool changed;

	/* Out of memory is already a state (unreadable) and the old value stays. */
	(void)load(t, &changed);
	return changed;
}

void token_fini(struct token *t)
{
	if (t->value != NULL) {
		log_secret_remove(t->value);
		explicit_bzero(t->value, t->len);
		free(t->value);
	}
	free(t->path);
	t->value = NULL;
	t->path = NULL;
	t->len = 0;
}
