/* Token sources on real files, variables and credential directories. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "log.h"
#include "token.h"

static char tmp[64];

static void path_in_tmp(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", tmp, name);
}

static void write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, data, len) == (ssize_t)len);
	close(fd);
}

static void write_str(const char *path, const char *s)
{
	write_file(path, s, strlen(s));
}

static struct cfg_token make_cfg(enum token_kind kind, char *arg)
{
	struct cfg_token c = {.name = "test", .kind = kind, .arg = arg, .watch = true};

	return c;
}

/* Reasons and hints name sources; they must never quote a token. */
static bool leaks(const struct token *t, const char *secret)
{
	const char *h = token_hint(t);

	return strstr(t->reason, secret) != NULL || (h != NULL && strstr(h, secret) != NULL);
}

static bool redacted(const char *secret)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "token=%s;", secret);
	log_redact(buf, sizeof(buf));
	return strstr(buf, secret) == NULL && strstr(buf, "[REDACTED]") != NULL;
}

struct parse_case {
	const char *in;
	size_t len;
	enum zt_err want;
	size_t start, tlen;
};

#define P(s, w, st, l)                                                                             \
	{                                                                                          \
		s, sizeof(s) - 1, w, st, l                                                         \
	}

static void test_parse(void)
{
	static const struct parse_case cases[] = {
	    P("abc", ZT_OK, 0, 3),
	    P("  abc  ", ZT_OK, 2, 3),
	    P("abc\n", ZT_OK, 0, 3),
	    P("abc\r\n", ZT_OK, 0, 3),
	    P("\t\v\fabc\r\n\n", ZT_OK, 3, 3),
	    P("abc\0\0", ZT_OK, 0, 3),
	    P("\0abc\0\n", ZT_OK, 1, 3),
	    P("a!~z", ZT_OK, 0, 4),
	    P("ab c", ZT_ERR_INVALID, 0, 0),
	    P("ab\tc", ZT_ERR_INVALID, 0, 0),
	    P("ab\x01"
	      "c",
	      ZT_ERR_INVALID, 0, 0),
	    P("ab\x7f"
	      "c",
	      ZT_ERR_INVALID, 0, 0),
	    P("ab\xc3\xa9"
	      "c",
	      ZT_ERR_INVALID, 0, 0),
	    P("ab\0c", ZT_ERR_INVALID, 0, 0),
	    P("", ZT_ERR_INVALID, 0, 0),
	    P(" \r\n\0\t", ZT_ERR_INVALID, 0, 0),
	};
	char big[TOKEN_MAX + 3];
	size_t start, tlen;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct parse_case *c = &cases[i];
		enum zt_err err;

		start = tlen = 99;
		err = token_parse(c->in, c->len, &start, &tlen);
		if (err != c->want)
			printf("# case %zu: got %s\n", i, zt_strerror(err));
		CHECK(err == c->want);
		if (c->want == ZT_OK)
			CHECK(start == c->start && tlen == c->tlen);
	}

	memset(big, 'x', sizeof(big));
	big[0] = '\n';
	big[TOKEN_MAX + 1] = '\n';
	CHECK(token_parse(big, TOKEN_MAX + 2, &start, &tlen) == ZT_OK);
	CHECK(start == 1 && tlen == TOKEN_MAX);
	CHECK(token_parse(big + 1, TOKEN_MAX, &start, &tlen) == ZT_OK);
	CHECK(start == 0 && tlen == TOKEN_MAX);
	CHECK(token_parse(big + 1, TOKEN_MAX + 1, &start, &tlen) == ZT_OK);
	CHECK(token_parse(big + 2, TOKEN_MAX + 1, &start, &tlen) == ZT_ERR_TOOBIG);
}

static void test_names(void)
{
	struct cfg_token c;
	char buf[128];

	CHECK_STR(token_state_name(TOKEN_OK), "ok");
	CHECK_STR(token_state_name(TOKEN_MISSING), "missing");
	CHECK_STR(token_state_name(TOKEN_UNREADABLE), "unreadable");
	CHECK_STR(token_state_name(TOKEN_INVALID), "invalid");

	c = make_cfg(TOKEN_SRC_FILE, "/var/lib/zerotier-one/authtoken.secret");
	token_describe_source(&c, buf, sizeof(buf));
	CHECK_STR(buf, "file /var/lib/zerotier-one/authtoken.secret");
	c = make_cfg(TOKEN_SRC_ENV, "ZEROTIER_CENTRAL_TOKEN");
	token_describe_source(&c, buf, sizeof(buf));
	CHECK_STR(buf, "env ZEROTIER_CENTRAL_TOKEN");
	c = make_cfg(TOKEN_SRC_CREDENTIAL, "central");
	token_describe_source(&c, buf, sizeof(buf));
	CHECK_STR(buf, "credential central");
	c = make_cfg(TOKEN_SRC_VALUE, "s3cr3tvalue");
	token_describe_source(&c, buf, sizeof(buf));
	CHECK_STR(buf, "inline value");
	token_describe_source(&c, buf, 5);
	CHECK_STR(buf, "inli");
}

static void test_file_lifecycle(void)
{
	char path[128];
	struct cfg_token c;
	struct token t;
	time_t first;

	path_in_tmp(path, sizeof(path), "life.token");
	write_str(path, "firstTokenValue1\n");
	c = make_cfg(TOKEN_SRC_FILE, path);
	CHECK(token_init(&t, &c) == ZT_OK);
	CHECK(t.state == TOKEN_OK);
	CHECK(token_usable(&t));
	CHECK_STR(t.value, "firstTokenValue1");
	CHECK(t.len == 16);
	CHECK_STR(t.path, path);
	CHECK_STR(t.reason, "");
	CHECK(token_hint(&t) == NULL);
	CHECK(t.changed != 0);
	first = t.changed;
	CHECK(redacted("firstTokenValue1"));

	/* Same content, other whitespace: nothing changed. */
	write_str(path, "  firstTokenValue1\r\n");
	CHECK(!token_refresh(&t));
	CHECK(t.state == TOKEN_OK);
	CHECK(t.changed == first);

	/* Empty (as seen at IN_CREATE) and blank: invalid, last value kept. */
	write_str(path, "");
	CHECK(!token_refresh(&t));
	CHECK(t.state == TOKEN_INVALID);
	CHECK(strstr(t.reason, "is empty") != NULL);
	CHECK(strstr(t.reason, path) != NULL);
	CHECK_STR(token_hint(&t),
	          "the file must hold the token alone (printable ASCII, no spaces)");
	CHECK_STR(t.value, "firstTokenValue1");
	write_str(path, " \n\n");
	CHECK(!token_refresh(&t));
	CHECK(t.state == TOKEN_INVALID);
	CHECK_STR(t.value, "firstTokenValue1");

	/* Content with a space: invalid, and the reason does not quote it. */
	write_str(path, "secondHalf visibleSecret\n");
	CHECK(!token_refresh(&t));
	CHECK(t.state == TOKEN_INVALID);
	CHECK(!leaks(&t, "visibleSecret"));
	CHECK(!leaks(&t, "secondHalf"));
	CHECK_STR(t.value, "firstTokenValue1");

	/* Back to the same value: state recovers, value did not change. */
	write_str(path, "firstTokenValue1");
	CHECK(!token_refresh(&t));
	CHECK(t.state == TOKEN_OK);
	CHECK_STR(t.reason, "");

	/* Deleted: missing, last value kept. */
	CHECK(unlink(path) == 0);
	CHECK(!token_refresh(&t));
	CHECK(t.state == TOKEN_MISSING);
	CHECK(t.sys_errno == ENOENT);
	CHECK(strstr(t.reason, path) != NULL);
	CHECK(token_usable(&t));
	CHECK_STR(t.value, "firstTokenValue1");
	CHECK(!leaks(&t, "firstTokenValue1"));

	/* Rewritten: new value, old one no longer registered for redaction. */
	write_str(path, "secondTokenValue2\n");
	CHECK(token_refresh(&t));
	CHECK(t.state == TOKEN_OK);
	CHECK_STR(t.value, "secondTokenValue2");
	CHECK(t.len == 17);
	CHECK(t.changed >= first);
	CHECK(redacted("secondTokenValue2"));
	CHECK(!redacted("firstTokenValue1"));
	CHECK(!token_refresh(&t));

	token_fini(&t);
	CHECK(t.value == NULL);
	CHECK(!redacted("secondTokenValue2"));
	unlink(path);
}

static void test_file_missing(void)
{
	char path[160], dir[128];
	struct cfg_token c;
	struct token t;
	const char *h;

	path_in_tmp(path, sizeof(path), "authtoken.secret");
	c = make_cfg(TOKEN_SRC_FILE, path);
	CHECK(token_init(&t, &c) == ZT_OK);
	CHECK(t.state == TOKEN_MISSING);
	CHECK(!token_usable(&t));
	CHECK(t.changed == 0);
	CHECK(strstr(t.reason, "cannot read ") == t.reason);
	CHECK(strstr(t.reason, path) != NULL);
	h = token_hint(&t);
	CHECK(h != NULL && strstr(h, "is ZeroTier One installed and started?") == h);
	CHECK(h != NULL && strstr(h, path) != NULL && strstr(h, "ZEROTIER_HOME") != NULL);

	/* Appears later. */
	write_str(path, "lateToken");
	CHECK(token_refresh(&t));
	CHECK(t.state == TOKEN_OK);
	CHECK_STR(t.value, "lateToken");
	CHECK(token_hint(&t) == NULL);
	token_fini(&t);
	unlink(path);

	/* A file that ZeroTier One does not write gets a plain hint. */
	path_in_tmp(path, sizeof(path), "central.token");
	c = make_cfg(TOKEN_SRC_FILE, path);
	CHECK(token_init(&t, &c) == ZT_OK);
	CHECK(t.state == TOKEN_MISSING);
	h = token_hint(&t);
	CHECK(h != NULL && strstr(h, "ZeroTier") == NULL && strstr(h, path) != NULL);
	token_fini(&t);

	/* A component that is a file: ENOTDIR, still missing. */
	path_in_tmp(dir, sizeof(dir), "plain");
	write_str(dir, "x");
	snprintf(path, sizeof(path), "%s/token", dir);
	c = make_cfg(TOKEN_SRC_FILE, path);
	CHECK(token_init(&t, &c) == ZT_OK);
	CHECK(t.state == TOKEN_MISSING);
	CHECK(t.sys_errno == ENOTDIR);
	token_fini(&t);
	unlink(dir);
}

static void test_file_not_regular(void)
{
	char path[128];
	struct cfg_token c;
	struct token t;
	const char *h;

	path_in_tmp(path, sizeof(path), "adir");
	CHECK(mkdir(path, 0700) == 0);
	c = make_cfg(TOKEN_SRC_FILE, path);
	CHECK(token_init(&t, &c) == ZT_OK);
	CHECK(t.state == TOKEN_UNREADABLE);
	CHECK(!token_usable(&t));
	CHECK(strstr(t.reason, "not a regular file") != NULL);
	CHECK(strstr(t.reason, path) != NULL);
	h = token_hint(&t);
	CHECK(h != NULL && strstr(h, path) != NULL);
	token_fini(&t);
	rmdir(path);

	/* A FIFO must not block open() or read(). */
	path_in_tmp(path, sizeof(path), "fifo");
	CHECK(mkfifo(path, 0600) == 0);
	c = make_cfg(TOKEN_SRC_FILE, path);
	CHECK(token_init(&t, &c) == ZT_OK);
	CHECK(t.state == TOKEN_UNREADABLE);
	token_fini(&t);
	unlink(path);
}

static void test_file_sizes(void)
{
	char path[128], buf[TOKEN_MAX + 200];
	struct cfg_token c;
	struct token t;

	path_in_tmp(path, sizeof(path), "big.token");
	c = make_cfg(TOKEN_SRC_FILE, path);

	memset(buf, 'k', TOKEN_MAX);
	memset(buf + TOKEN_MAX, '\n', 64);
	write_file(path, buf, TOKEN_MAX + 64);
	CHECK(token_init(&t, &c) == ZT_OK);
	CHECK(t.state == TOKEN_OK);
	CHECK(t.len == TOKEN_MAX);

	/* Over the read cap, even if it were mostly whitespace. */
	memset(buf, 'j', 10);
	memset(buf + 10, '\n', TOKEN_MAX + 55);
	write_file(path, buf, TOKEN_MAX + 65);
	CHECK(!token_refresh(&t));
	CHECK(t.state == TOKEN_INVALID);
	CHECK(strstr(t.reason, "longer than 4096 bytes") != NULL);
	CHECK(t.len == TOKEN_MAX);

	/* A token of TOKEN_MAX + 1 bytes within the read cap. */
	memset(buf, 'm', TOKEN_MAX + 1);
	write_file(path, buf, TOKEN_MAX + 1);
	CHECK(!token_refresh(&t));
	CHECK(t.state == TOKEN_INVALID);
	CHECK(strstr(t.reason, "longer than 4096 bytes") != NULL);
	CHECK(t.value[0] == 'k');
	token_fini(&t);
	unlink(path);
}

/* Permission denied; as root, in a child that drops to nobody first. */
static void test_file_unreadable(void)
{
	char path[128];
	struct cfg_token c;
	struct token t;
	int status = -1;
	pid_t pid;

	path_in_tmp(path, sizeof(path), "private.token");
	write_str(path, "privateToken99");
	CHECK(chmod(path, 0) == 0);
	c = make_cfg(TOKEN_SRC_FILE, path);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		bool ok;
		const char *h;

		if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(2);
		if (token_init(&t, &c) != ZT_OK)
			_exit(3);
		h = token_hint(&t);
		ok = t.state == TOKEN_UNREADABLE && t.sys_errno == EACCES && !token_usable(&t) &&
		     strstr(t.reason, path) != NULL &&
		     strstr(t.reason, "Permission denied") != NULL && h != NULL &&
		     strstr(h, "run the proxy as root or as the owner of ") == h &&
		     strstr(h, path) != NULL && strstr(h, "zerotier-one user") != NULL &&
		     !leaks(&t, "privateToken99");
		token_fini(&t);
		_exit(ok ? 0 : 1);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	unlink(path);
}

static void test_env(void)
{
	struct cfg_token c = make_cfg(TOKEN_SRC_ENV, "ZTP_TEST_TOKEN");
	struct token t;

	unsetenv("ZTP_TEST_TOKEN");
	CHECK(token_init(&t, &c) == ZT_OK);
	CHECK(t.state == TOKEN_MISSING);
	CHECK(t.path == NULL);
	CHECK_STR(t.reason, "$ZTP_TEST_TOKEN is not set");
	CHECK_STR(token_hint(&t), "set ZTP_TEST_TOKEN in the service's environment");

	setenv("ZTP_TEST_TOKEN", "envValueOne\n", 1);
	CHECK(token_refresh(&t));
	CHECK(t.state == TOKEN_OK);
	CHECK_STR(t.value, "envValueOne");
	CHECK(redacted("envValueOne"));

	/* Read at every refresh, not cached. */
	setenv("ZTP_TEST_TOKEN", "envValueTwo", 1);
	CHECK(token_refresh(&t));
	CHECK_STR(t.value, "envValueTwo");
	CHECK(!token_refresh(&t));

	setenv("ZTP_TEST_TOKEN", "env Value", 1);
	CHECK(!token_refresh(&t));
	CHECK(t.state == TOKEN_INVALID);
	CHECK(strstr(t.reason, "$ZTP_TEST_TOKEN") != NULL);
	CHECK(!leaks(&t, "Value"));
	CHECK(token_hint(&t) != NULL && strstr(token_hint(&t), "ZTP_TEST_TOKEN") != NULL);
	CHECK_STR(t.value, "envValueTwo");

	setenv("ZTP_TEST_TOKEN", "", 1);
	CHECK(!token_refresh(&t));
	CHECK(t.state == TOKEN_INVALID);
	CHECK_STR(t.reason, "$ZTP_TEST_TOKEN is empty");

	unsetenv("ZTP_TEST_TOKEN");
	CHECK(!token_refresh(&t));
	CHECK(t.state == TOKEN_MISSING);
	CHECK_STR(t.value, "envValueTwo");
	CHECK(!leaks(&t, "envValueTwo"));
	token_fini(&t);
}

static void test_credential(void)
{
	char dir[128], path[160];
	struct cfg_token c = make_cfg(TOKEN_SRC_CREDENTIAL, "central");
	struct token t;
	const char *h;

	unsetenv("CREDENTIALS_DIRECTORY");
	CHECK(token_init(&t, &c) == ZT_OK);
	CHECK(t.state == TOKEN_MISSING);
	CHECK(t.path == NULL);
	CHECK_STR(t.reason, "$CREDENTIALS_DIRECTORY is not set (not started by systemd with "
	                    "LoadCredential=)");
	h = token_hint(&t);
	CHECK(h != NULL && strstr(h, "LoadCredential=central:") != NULL);
	CHECK(!token_refresh(&t));
	CHECK(t.state == TOKEN_MISSING);
	token_fini(&t);

	path_in_tmp(dir, sizeof(dir), "creds");
	CHECK(mkdir(dir, 0700) == 0);
	snprintf(path, sizeof(path), "%s/central", dir);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	CHECK(token_init(&t, &c) == ZT_OK);
	CHECK(t.state == TOKEN_MISSING);
	CHECK_STR(t.path, path);
	CHECK(strstr(t.reason, path) != NULL);
	token_fini(&t);

	write_str(path, "credValue7\n");
	CHECK(token_init(&t, &c) == ZT_OK);
	CHECK(t.state == TOKEN_OK);
	CHECK_STR(t.value, "credValue7");
	CHECK(redacted("credValue7"));
	token_fini(&t);
	unsetenv("CREDENTIALS_DIRECTORY");
	unlink(path);
	rmdir(dir);
}

static void test_inline(void)
{
	struct cfg_token c = make_cfg(TOKEN_SRC_VALUE, " inlineValue5\n");
	struct token t;

	CHECK(token_init(&t, &c) == ZT_OK);
	CHECK(t.state == TOKEN_OK);
	CHECK(t.path == NULL);
	CHECK_STR(t.value, "inlineValue5");
	CHECK(redacted("inlineValue5"));
	CHECK(!token_refresh(&t));
	token_fini(&t);

	c = make_cfg(TOKEN_SRC_VALUE, "inline Value6");
	CHECK(token_init(&t, &c) == ZT_OK);
	CHECK(t.state == TOKEN_INVALID);
	CHECK(!token_usable(&t));
	CHECK(!leaks(&t, "Value6"));
	CHECK(strstr(t.reason, "the inline value") != NULL);
	token_fini(&t);
}

/* Kubernetes and systemd swap symlinks: a read follows them. */
static void test_symlink(void)
{
	char a[128], b[128], link[128];
	struct cfg_token c;
	struct token t;

	path_in_tmp(a, sizeof(a), "v1.token");
	path_in_tmp(b, sizeof(b), "v2.token");
	path_in_tmp(link, sizeof(link), "link.token");
	write_str(a, "linkedValue1");
	write_str(b, "linkedValue2");
	CHECK(symlink("v1.token", link) == 0);
	c = make_cfg(TOKEN_SRC_FILE, link);
	CHECK(token_init(&t, &c) == ZT_OK);
	CHECK_STR(t.value, "linkedValue1");
	CHECK(unlink(link) == 0);
	CHECK(symlink("v2.token", link) == 0);
	CHECK(token_refresh(&t));
	CHECK_STR(t.value, "linkedValue2");
	/* Dangling: missing, value kept. */
	CHECK(unlink(b) == 0);
	CHECK(!token_refresh(&t));
	CHECK(t.state == TOKEN_MISSING);
	CHECK_STR(t.value, "linkedValue2");
	token_fini(&t);
	unlink(link);
	unlink(a);
}

int main(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/ztp-token-XXXXXX");
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	/* The permission test's child (nobody) must reach its file. */
	chmod(tmp, 0755);
	RUN(test_parse);
	RUN(test_names);
	RUN(test_file_lifecycle);
	RUN(test_file_missing);
	RUN(test_file_not_regular);
	RUN(test_file_sizes);
	RUN(test_file_unreadable);
	RUN(test_env);
	RUN(test_credential);
	RUN(test_inline);
	RUN(test_symlink);
	rmdir(tmp);
	return CHECK_DONE();
}
