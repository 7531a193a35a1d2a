#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "json.h"
#include "log.h"

/* Everything logged goes to a temporary file standing in for stderr. */
static int saved_stderr = -1;
static FILE *capture;
static char out[4 * LOG_LINE_MAX];

static void capture_start(void)
{
	capture = tmpfile();
	saved_stderr = dup(STDERR_FILENO);
	dup2(fileno(capture), STDERR_FILENO);
}

/* Stops capturing; out holds what was written, NUL-terminated. */
static size_t capture_end(void)
{
	size_t n;

	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	rewind(capture);
	n = fread(out, 1, sizeof(out) - 1, capture);
	out[n] = '\0';
	fclose(capture);
	return n;
}

/* The message part of a single captured line, without the prefix and "\n". */
static const char *message(void)
{
	static char msg[sizeof(out)];
	const char *p = strstr(out, ": ");
	size_t n;

	if (!p)
		return "(no prefix)";
	n = strlen(p + 2);
	if (n == 0 || p[2 + n - 1] != '\n' || memchr(p + 2, '\n', n - 1))
		return "(not one line)";
	memcpy(msg, p + 2, n - 1);
	msg[n - 1] = '\0';
	return msg;
}

static void test_levels(void)
{
	enum log_level l = LOG_ERROR;

	CHECK(log_get_level() == LOG_INFO);
	CHECK(log_level_parse("error", &l) == 0 && l == LOG_ERROR);
	CHECK(log_level_parse("warn", &l) == 0 && l == LOG_WARN);
	CHECK(log_level_parse("info", &l) == 0 && l == LOG_INFO);
	CHECK(log_level_parse("debug", &l) == 0 && l == LOG_DEBUG);
	l = LOG_WARN;
	CHECK(log_level_parse("INFO", &l) == -1);
	CHECK(log_level_parse("warning", &l) == -1);
	CHECK(log_level_parse("", &l) == -1);
	CHECK(log_level_parse("info ", &l) == -1);
	CHECK(l == LOG_WARN);
	CHECK_STR(log_level_name(LOG_ERROR), "error");
	CHECK_STR(log_level_name(LOG_WARN), "warn");
	CHECK_STR(log_level_name(LOG_INFO), "info");
	CHECK_STR(log_level_name(LOG_DEBUG), "debug");
}

static bool is_timestamp(const char *s)
{
	/* 2026-11-28T21:33:00.123Z */
	const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";

	for (size_t i = 0; shape[i]; i++) {
		if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
			return false;
	}
	return true;
}

static void test_line_format(void)
{
	size_t n;

	unsetenv("JOURNAL_STREAM");
	capture_start();
	log_info("hello %d", 42);
	n = capture_end();
	CHECK(n == 24 + strlen(" info: hello 42\n"));
	CHECK(is_timestamp(out));
	CHECK_STR(out + 24, " info: hello 42\n");

	capture_start();
	log_error("e");
	log_warn("w");
	capture_end();
	CHECK(is_timestamp(out) && strncmp(out + 24, " error: e\n", 10) == 0);
	CHECK(is_timestamp(out + 34) && strcmp(out + 58, " warn: w\n") == 0);
}

static void test_level_filter(void)
{
	capture_start();
	log_debug("not shown");
	log_set_level(LOG_DEBUG);
	log_debug("shown");
	log_set_level(LOG_ERROR);
	log_warn("not shown");
	log_info("not shown");
	log_errno(LOG_WARN, "not shown");
	log_error("also shown");
	log_set_level(LOG_INFO);
	capture_end();
	CHECK(strstr(out, "not shown") == NULL);
	CHECK(strstr(out, " debug: shown\n") != NULL);
	CHECK(strstr(out, " error: also shown\n") != NULL);
}

static void test_errno(void)
{
	capture_start();
	errno = ENOENT;
	log_errno(LOG_ERROR, "cannot open %s", "/x");
	CHECK(errno == ENOENT);
	errno = EACCES;
	log_info("plain");
	CHECK(errno == EACCES);
	capture_end();
	CHECK(strstr(out, " error: cannot open /x: No such file or directory\n") != NULL);
	CHECK(strstr(out, " info: plain\n") != NULL);
}

static void test_control_bytes(void)
{
	capture_start();
	log_info("a\nb\rc\td\x1b[31me\x7f"
	         "f");
	capture_end();
	CHECK_STR(message(), "a?b?c?d?[31me?f");

	/* Valid UTF-8 passes; a stray or truncated sequence does not. */
	capture_start();
	log_info("caf\xc3\xa9 \xe2\x82\xac \xff \xc3 \xed\xa0\x80 \xc0\xaf \xf0\x9f\x98\x80");
	capture_end();
	CHECK_STR(message(), "caf\xc3\xa9 \xe2\x82\xac ? ? ??? ?? \xf0\x9f\x98\x80");
}

static void test_long_message(void)
{
	static char big[3 * LOG_LINE_MAX];
	size_t n;

	memset(big, 'x', sizeof(big) - 1);
	capture_start();
	log_info("%s", big);
	n = capture_end();
	CHECK(n == LOG_LINE_MAX);
	CHECK(n > 4 && strcmp(out + n - 4, "...\n") == 0);
	CHECK(strcmp(message() + strlen(message()) - 4, "x...") == 0);

	/* Exactly as long as fits: no ellipsis. */
	capture_start();
	log_info("%.*s", (int)(LOG_LINE_MAX - 24 - strlen(" info: ") - 1), big);
	n = capture_end();
	CHECK(n == LOG_LINE_MAX);
	CHECK(strcmp(out + n - 3, "xx\n") == 0);

	/* One byte more: cut. */
	capture_start();
	log_info("%.*s", (int)(LOG_LINE_MAX - 24 - strlen(" info: ")), big);
	n = capture_end();
	CHECK(n == LOG_LINE_MAX);
	CHECK(strcmp(out + n - 4, "...\n") == 0);
}

static void test_long_message_utf8(void)
{
	static char big[2 * LOG_LINE_MAX];
	const char *m;
	size_t n;

	for (size_t off = 0; off < 3; off++) {
		memset(big, 0, sizeof(big));
		memset(big, 'a', off);
		for (size_t i = off; i + 3 < sizeof(big); i += 3)
			memcpy(big + i, "\xe2\x82\xac", 3);
		capture_start();
		log_info("%s", big);
		capture_end();
		m = message();
		n = strlen(m);
		CHECK(n > 6 && strcmp(m + n - 6, "\xe2\x82\xac...") == 0);
	}
}

static void test_redact_in_log(void)
{
	static const char secret[] = "s3cr3t-t0k3n-value";

	log_secret_add(secret, strlen(secret));
	capture_start();
	log_info("token is %s, again:%s!", secret, secret);
	log_errno(LOG_WARN, "%.*s", 9, secret);
	capture_end();
	log_secret_remove(secret);
	CHECK(strstr(out, "s3cr3t-t0k") == NULL);
	CHECK(strstr(out, " info: token is [REDACTED], again:[REDACTED]!\n") != NULL);
	/* A partial secret is not the secret: this one is printed. */
	CHECK(strstr(out, " warn: s3cr3t-t0: ") != NULL);

	capture_start();
	log_info("token is %s", secret);
	capture_end();
	CHECK(strstr(out, "token is s3cr3t-t0k3n-value\n") != NULL);
}

/*
 * A message cut by formatting must not end in the first bytes of a secret,
 * whatever the secret's length and wherever the cut falls.
 */
static void test_redact_at_cut(void)
{
	static char pad[LOG_LINE_MAX], secret[101];
	const char *m;
	size_t n, k;
	bool clean = true;

	memset(pad, 'x', sizeof(pad) - 1);
	for (size_t len = 8; len < sizeof(secret); len += 92) {
		memset(secret, 0, sizeof(secret));
		memcpy(secret, "SECRET", 6);
		for (size_t i = 6; i < len; i++)
			secret[i] = "0123456789abcdef"[i % 16];
		log_secret_add(secret, len);
		for (size_t p = LOG_LINE_MAX - 2 * len; p < LOG_LINE_MAX; p++) {
			capture_start();
			log_info("%.*s%s", (int)p, pad, secret);
			capture_end();
			m = message();
			n = strlen(m);
			if (n >= 3 && strcmp(m + n - 3, "...") == 0)
				n -= 3;
			/* What is left: x's, then maybe the start of the marker. */
			k = strspn(m, "x");
			if (k == 0 || strchr(m, 'S') || strncmp(m + k, "[REDACTED]", n - k) != 0) {
				printf("# secret %zu, pad %zu: ...%s\n", len, p,
				       m + (n > 40 ? n - 40 : 0));
				clean = false;
			}
		}
		log_secret_remove(secret);
	}
	CHECK(clean);
}

static const char *redact(const char *in, size_t cap)
{
	static char buf[257];
	size_t end = strlen(in) + 1 > cap ? strlen(in) + 1 : cap;

	memset(buf, 'z', sizeof(buf));
	strcpy(buf, in);
	log_redact(buf, cap);
	if (buf[end] != 'z')
		return "(overflow)";
	if (strnlen(buf, cap) >= cap)
		return "(not terminated)";
	return buf;
}

static void test_redact(void)
{
	static const char a[] = "abcdefgh", b[] = "ghijklmn", s4[] = "wxyz", s3[] = "qrs";
	static const char aa[] = "aaaa";

	log_secret_add(a, strlen(a));
	log_secret_add(s4, strlen(s4));
	log_secret_add(s3, strlen(s3));
	CHECK_STR(redact("abcdefgh", 256), "[REDACTED]");
	CHECK_STR(redact("abcdefgh tail", 256), "[REDACTED] tail");
	CHECK_STR(redact("head abcdefgh", 256), "head [REDACTED]");
	CHECK_STR(redact("1abcdefgh2abcdefgh3", 256), "1[REDACTED]2[REDACTED]3");
	CHECK_STR(redact("abcdefgabcdefgh", 256), "abcdefg[REDACTED]");
	CHECK_STR(redact("ABCDEFGH", 256), "ABCDEFGH");
	CHECK_STR(redact("wxyz", 256), "[REDACTED]");
	CHECK_STR(redact("qrs", 256), "qrs");
	CHECK_STR(redact("", 256), "");

	/* Two secrets sharing bytes are one run: no part of either is left. */
	log_secret_add(b, strlen(b));
	CHECK_STR(redact("<abcdefghijklmn>", 256), "<[REDACTED]>");
	CHECK_STR(redact("<ghijklmnabcdefgh>", 256), "<[REDACTED][REDACTED]>");
	log_secret_remove(b);
	CHECK_STR(redact("<ghijklmn>", 256), "<ghijklmn>");

	/* Overlapping occurrences of one secret. */
	log_secret_add(aa, strlen(aa));
	CHECK_STR(redact("aaaaaa", 256), "[REDACTED]");
	CHECK_STR(redact("baaaaab", 256), "b[REDACTED]b");
	CHECK_STR(redact("aaa", 256), "aaa");
	log_secret_remove(aa);

	/* Re-adding the same pointer changes its length, not the count. */
	log_secret_add(a, 4);
	CHECK_STR(redact("abcdXXXX", 256), "[REDACTED]XXXX");
	log_secret_add(a, strlen(a));
	CHECK_STR(redact("abcdXXXX", 256), "abcdXXXX");

	log_secret_remove(a);
	log_secret_remove(s4);
	log_secret_remove(s3);
	log_secret_remove(s3);
	CHECK_STR(redact("abcdefgh wxyz", 256), "abcdefgh wxyz");
}

static void test_redact_capacity(void)
{
	static const char s[] = "abcd";

	log_secret_add(s, strlen(s));
	/* "x [REDACTED] y" is 14 bytes. */
	CHECK_STR(redact("x abcd y", 15), "x [REDACTED] y");
	CHECK_STR(redact("x abcd y", 14), "x [REDACTED] ");
	CHECK_STR(redact("x abcd y", 13), "x [REDACTED]");
	/* The marker does not fit: the line stops before the secret. */
	CHECK_STR(redact("x abcd y", 12), "x ");
	CHECK_STR(redact("x abcd y", 9), "x ");
	CHECK_STR(redact("abcd", 5), "");
	CHECK_STR(redact("abcd", 1), "");
	/* A buffer without room for the expansion never keeps part of the secret. */
	for (size_t cap = 1; cap <= 16; cap++) {
		const char *r = redact("abcdabcdabcd", cap);

		CHECK(strstr(r, "ab") == NULL && strlen(r) < cap);
	}
	log_secret_remove(s);
}

static void test_redact_large(void)
{
	static const char s[] = "0123456789abcdef0123";
	static char buf[5 * LOG_LINE_MAX];
	size_t n = 0, want = 0;

	log_secret_add(s, strlen(s));
	while (n + strlen(s) + 2 < sizeof(buf)) {
		memcpy(buf + n, s, strlen(s));
		n += strlen(s);
		buf[n++] = '.';
		want += strlen("[REDACTED].");
	}
	buf[n] = '\0';
	log_redact(buf, sizeof(buf));
	log_secret_remove(s);
	CHECK(strlen(buf) == want);
	CHECK(strstr(buf, "0123") == NULL);
	CHECK(strncmp(buf, "[REDACTED].[REDACTED].", 22) == 0);
}

/* A configuration may hold many tokens, and a reload briefly holds two sets. */
static void test_many_secrets_all_redacted(void)
{
	static char secrets[300][8];
	char buf[64];

	for (int i = 0; i < 300; i++) {
		snprintf(secrets[i], sizeof(secrets[i]), "sec%04d", i);
		log_secret_add(secrets[i], 7);
	}
	for (int i = 0; i < 300; i += 37) {
		snprintf(buf, sizeof(buf), "a %.7s b", secrets[i]);
		log_redact(buf, sizeof(buf));
		CHECK_STR(buf, "a [REDACTED] b");
	}
	for (int i = 0; i < 300; i++)
		log_secret_remove(secrets[i]);
	snprintf(buf, sizeof(buf), "a %.7s b", secrets[299]);
	log_redact(buf, sizeof(buf));
	CHECK_STR(buf, "a sec0299 b");
}

static void test_journal_stream(void)
{
	char env[64];
	struct stat st;

	capture_start();
	fstat(STDERR_FILENO, &st);
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	log_error("e");
	log_warn("w");
	log_info("i");
	log_set_level(LOG_DEBUG);
	log_debug("d");
	log_set_level(LOG_INFO);
	/* Another stream: stderr is not the journal's. */
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", env, 1);
	log_info("x");
	setenv("JOURNAL_STREAM", "garbage", 1);
	log_info("y");
	unsetenv("JOURNAL_STREAM");
	capture_end();
	CHECK(strncmp(out, "<3>error: e\n<4>warn: w\n<6>info: i\n<7>debug: d\n", 46) == 0);
	CHECK(is_timestamp(out + 46) && strncmp(out + 70, " info: x\n", 9) == 0);
	CHECK(is_timestamp(out + 79) && strcmp(out + 103, " info: y\n") == 0);
}

/* json.c has no test binary of its own: its escaping is tested here. */
static const char *json(const char *src)
{
	static char buf[256];
	size_t len = 0;

	if (json_append_string(buf, sizeof(buf), &len, src) != 0)
		return "(-1)";
	if (len != strlen(buf))
		return "(wrong length)";
	return buf;
}

static void test_json_escape(void)
{
	CHECK_STR(json(""), "\"\"");
	CHECK_STR(json("plain text 123 ~"), "\"plain text 123 ~\"");
	CHECK_STR(json("a\"b\\c/d"), "\"a\\\"b\\\\c/d\"");
	CHECK_STR(json("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
	CHECK_STR(json("\x01\x1f\x7f"), "\"\\u0001\\u001f\x7f\"");
	CHECK_STR(json("<a href='x'>&"), "\"\\u003ca href='x'\\u003e\\u0026\"");
}

static void test_json_utf8(void)
{
	CHECK_STR(json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"),
	          "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"");
	CHECK_STR(json("\xff"), "\"\\ufffd\"");
	CHECK_STR(json("a\x80z"), "\"a\\ufffdz\"");
	/* Overlong, surrogate, past U+10FFFF, truncated at the end. */
	CHECK_STR(json("\xc0\xaf"), "\"\\ufffd\\ufffd\"");
	CHECK_STR(json("\xe0\x80\xaf"), "\"\\ufffd\\ufffd\\ufffd\"");
	CHECK_STR(json("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
	CHECK_STR(json("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	CHECK_STR(json("\xe2\x82"), "\"\\ufffd\\ufffd\"");
	CHECK_STR(json("\xe2\x82x"), "\"\\ufffd\\ufffdx\"");
}

static void test_json_capacity(void)
{
	char buf[32];
	size_t len;

	/* {"k":"a\n"} is 11 bytes. */
	for (size_t cap = 0; cap <= 13; cap++) {
		int rc;

		memset(buf, 'z', sizeof(buf));
		len = 0;
		rc = json_append_raw(buf, cap, &len, "{\"k\":");
		if (rc == 0)
			rc = json_append_string(buf, cap, &len, "a\n");
		if (rc == 0)
			rc = json_append_raw(buf, cap, &len, "}");
		CHECK(buf[cap] == 'z');
		if (cap >= 12) {
			CHECK(rc == 0 && len == 11);
			CHECK_STR(buf, "{\"k\":\"a\\n\"}");
		} else {
			CHECK(rc == -1);
			CHECK(cap == 0 || (len < cap && buf[len] == '\0'));
		}
	}
	/* A failed append leaves what was there before. */
	len = 0;
	CHECK(json_append_raw(buf, 8, &len, "[1,") == 0);
	CHECK(json_append_string(buf, 8, &len, "long") == -1);
	CHECK(len == 3);
	CHECK_STR(buf, "[1,");
	CHECK(json_append_raw(buf, 8, &len, "2345") == 0);
	CHECK(json_append_raw(buf, 8, &len, "6") == -1);
	CHECK(len == 7);
	CHECK_STR(buf, "[1,2345");
	len = 8;
	CHECK(json_append_raw(buf, 8, &len, "") == -1);
	CHECK(json_append_string(buf, 8, &len, "") == -1);
}

int main(void)
{
	RUN(test_levels);
	RUN(test_line_format);
	RUN(test_level_filter);
	RUN(test_errno);
	RUN(test_control_bytes);
	RUN(test_long_message);
	RUN(test_long_message_utf8);
	RUN(test_redact_in_log);
	RUN(test_redact_at_cut);
	RUN(test_redact);
	RUN(test_redact_capacity);
	RUN(test_redact_large);
	RUN(test_many_secrets_all_redacted);
	RUN(test_journal_stream);
	RUN(test_json_escape);
	RUN(test_json_utf8);
	RUN(test_json_capacity);
	return CHECK_DONE();
}
