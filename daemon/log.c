#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "log.h"
#include "utf8.h"

static const char redacted[] = "[REDACTED]";

static enum log_level current_level = LOG_INFO;
static log_sink_fn sink;

/*
 * Not locked: secrets are added and removed, and lines logged, from the one
 * event-loop thread.
 */
static struct secret {
	const char *p;
	size_t len;
} * secrets;
static size_t nsecrets, secrets_cap;

void log_set_sink(log_sink_fn fn)
{
	sink = fn;
}

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

static const char *const level_names[] = {"error", "warn", "info", "debug"};

const char *log_level_name(enum log_level level)
{
	if ((size_t)level < sizeof(level_names) / sizeof(level_names[0]))
		return level_names[level];
	return "unknown";
}

int log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static void write_all(const char *s, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(STDERR_FILENO, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

void log_secret_add(const char *secret, size_t len)
{
	/* Logging on without redacting a secret would leak it: stop instead. */
	static const char nomem[] =
	    "zt-token-proxy: fatal: out of memory registering a secret to redact from the log\n";

	if (!secret || len < 4)
		return;
	for (size_t i = 0; i < nsecrets; i++) {
		if (secrets[i].p == secret) {
			secrets[i].len = len;
			return;
		}
	}
	if (nsecrets == secrets_cap) {
		size_t cap = secrets_cap ? secrets_cap * 2 : 16;
		struct secret *p = realloc(secrets, cap * sizeof(*p));

		if (p == NULL) {
			write_all(nomem, sizeof(nomem) - 1);
			abort();
		}
		secrets = p;
		secrets_cap = cap;
	}
	secrets[nsecrets].p = secret;
	secrets[nsecrets].len = len;
	nsecrets++;
}

void log_secret_remove(const char *secret)
{
	for (size_t i = 0; i < nsecrets; i++) {
		if (secrets[i].p == secret) {
			secrets[i] = secrets[--nsecrets];
			return;
		}
	}
}

/* End of the longest secret that occurs at s + i, or 0. */
static size_t match_end(const char *s, size_t n, size_t i)
{
	size_t end = 0, len;

	for (size_t k = 0; k < nsecrets; k++) {
		len = secrets[k].len;
		if (len <= n - i && i + len > end && s[i] == secrets[k].p[0] &&
		    memcmp(s + i, secrets[k].p, len) == 0)
			end = i + len;
	}
	return end;
}

/*
 * Copies src to dst (capacity cap > 0), replacing each run of overlapping
 * secrets with one marker. Occurrences are found in the whole of src before
 * anything is cut, so a cut never leaves the start of a secret behind.
 */
static void redact_into(const char *src, size_t n, char *dst, size_t cap)
{
	size_t i = 0, o = 0, end, e;

	while (i < n) {
		end = match_end(src, n, i);
		if (end == 0) {
			if (o + 1 >= cap)
				break;
			dst[o++] = src[i++];
			continue;
		}
		for (size_t j = i + 1; j < end; j++) {
			e = match_end(src, n, j);
			if (e > end)
				end = e;
		}
		if (sizeof(redacted) > cap - o)
			break;
		memcpy(dst + o, redacted, sizeof(redacted) - 1);
		o += sizeof(redacted) - 1;
		i = end;
	}
	dst[o] = '\0';
}

/* Moves a cut point back to the start of a UTF-8 sequence. */
static size_t char_boundary(const char *s, size_t pos)
{
	while (pos > 0 && ((unsigned char)s[pos] & 0xc0) == 0x80)
		pos--;
	return pos;
}

/*
 * Text cut before it reached us may end in the first bytes of a secret that
 * no longer matches whole: drop any tail that begins a secret.
 */
static size_t drop_secret_start(const char *s, size_t len)
{
	size_t cut, k;
	bool again = true;

	while (again) {
		again = false;
		for (size_t i = 0; i < nsecrets; i++) {
			for (k = secrets[i].len - 1 < len ? secrets[i].len - 1 : len; k > 0; k--) {
				if (memcmp(s + len - k, secrets[i].p, k) == 0)
					break;
			}
			if (k > 0) {
				cut = char_boundary(s, len - k);
				again = cut < len;
				len = cut;
			}
		}
	}
	return len;
}

void log_redact(char *buf, size_t cap)
{
	char stackbuf[LOG_LINE_MAX], *tmp = stackbuf;
	size_t n;

	if (cap == 0 || nsecrets == 0)
		return;
	if (cap > sizeof(stackbuf) && !(tmp = malloc(cap))) {
		/* Printing nothing is the only safe answer left. */
		buf[0] = '\0';
		return;
	}
	n = strnlen(buf, cap);
	redact_into(buf, n, tmp, cap);
	/* Without a NUL the text went on past cap, maybe into a secret. */
	if (n == cap)
		tmp[drop_secret_start(tmp, strlen(tmp))] = '\0';
	memcpy(buf, tmp, strlen(tmp) + 1);
	if (tmp != stackbuf)
		free(tmp);
}

/*
 * One message, one line: control bytes would split it or forge another, and
 * journald stores a line with invalid UTF-8 as a blob.
 */
static void sanitize(char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t k;

	for (size_t i = 0; i < n; i += k) {
		k = u[i] >= 0x80 ? utf8_seq_len(u + i, n - i) : 1;
		if (k == 0 || u[i] < 0x20 || u[i] == 0x7f) {
			s[i] = '?';
			k = 1;
		}
	}
}

/* journald adds its own timestamp and reads a "<N>" priority instead. */
static bool stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char extra;

	if (!v || sscanf(v, "%llu:%llu%c", &dev, &ino, &extra) != 2 ||
	    fstat(STDERR_FILENO, &st) != 0)
		return false;
	return dev == (unsigned long long)st.st_dev && ino == (unsigned long long)st.st_ino;
}

static int syslog_priority(enum log_level level)
{
	switch (level) {
	case LOG_ERROR:
		return 3;
	case LOG_WARN:
		return 4;
	case LOG_INFO:
		return 6;
	case LOG_DEBUG:
		return 7;
	}
	return 7;
}

static size_t format_prefix(enum log_level level, char *buf, size_t cap)
{
	const char *name = log_level_name(level);
	struct timespec ts = {0, 0};
	struct tm tm;
	size_t n;
	int rc;

	if (stderr_is_journal()) {
		rc = snprintf(buf, cap, "<%d>%s: ", syslog_priority(level), name);
		return rc > 0 ? (size_t)rc : 0;
	}
	if (timespec_get(&ts, TIME_UTC) == 0 || !gmtime_r(&ts.tv_sec, &tm))
		memset(&tm, 0, sizeof(tm));
	n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	rc = snprintf(buf + n, cap - n, ".%03dZ %s: ", (int)(ts.tv_nsec / 1000000), name);
	return rc > 0 ? n + (size_t)rc : n;
}

ZT_PRINTF(3, 0) static void vlog(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	static const char ellipsis[] = "...";
	char msg[LOG_LINE_MAX], line[LOG_LINE_MAX];
	size_t len, plen, room;
	bool cut;
	int n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		n = snprintf(msg, sizeof(msg), "(log message could not be formatted)");
	cut = (size_t)n >= sizeof(msg);
	len = strlen(msg);
	if (errnum != 0) {
		n = snprintf(msg + len, sizeof(msg) - len, ": %s", strerror(errnum));
		cut = cut || n < 0 || (size_t)n >= sizeof(msg) - len;
		len = strlen(msg);
	}
	sanitize(msg, len);
	log_redact(msg, sizeof(msg));
	len = strlen(msg);
	if (cut)
		len = drop_secret_start(msg, len);
	if (sink != NULL) {
		msg[len] = '\0';
		sink(level, msg);
		return;
	}

	plen = format_prefix(level, line, sizeof(line));
	room = sizeof(line) - plen - 1;
	if (cut || len > room) {
		len = char_boundary(
		    msg, len < room - (sizeof(ellipsis) - 1) ? len : room - (sizeof(ellipsis) - 1));
		memcpy(msg + len, ellipsis, sizeof(ellipsis) - 1);
		len += sizeof(ellipsis) - 1;
	}
	memcpy(line + plen, msg, len);
	line[plen + len] = '\n';
	write_all(line, plen + len + 1);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (level > current_level)
		return;
	va_start(ap, fmt);
	vlog(level, 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

void log_errno(enum log_level level, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (level > current_level)
		return;
	va_start(ap, fmt);
	vlog(level, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}
