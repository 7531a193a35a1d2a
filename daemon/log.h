/*
 * Logging: one line per message on stderr, with a level on each line.
 *
 * Every message passes through one choke point that replaces any registered
 * secret with "[REDACTED]", so no call site can leak a token by mistake.
 */
#ifndef ZTP_LOG_H
#define ZTP_LOG_H

#include <stddef.h>

#include "err.h"

enum log_level {
	LOG_ERROR = 0,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

/* Longest line written; longer messages are cut and end in "...". */
#define LOG_LINE_MAX 2048

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
const char *log_level_name(enum log_level level);
/* Returns 0 and sets *out for "error", "warn", "info" or "debug"; -1 otherwise. */
int log_level_parse(const char *name, enum log_level *out);

void log_msg(enum log_level level, const char *fmt, ...) ZT_PRINTF(2, 3);
/* As log_msg, with ": " and strerror(errno) appended. */
void log_errno(enum log_level level, const char *fmt, ...) ZT_PRINTF(2, 3);

/*
 * Sends lines to sink instead of stderr (the Windows Event Log, when running
 * as a service). sink gets the message redacted and made one line, without
 * the time and level prefix. NULL: back to stderr.
 */
typedef void (*log_sink_fn)(enum log_level level, const char *msg);
void log_set_sink(log_sink_fn sink);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/*
 * Secrets to redact. The log keeps the pointer, not a copy: the caller
 * must call log_secret_remove() before it wipes or frees the memory.
 * Secrets shorter than 4 bytes are ignored (they would redact ordinary text).
 */
void log_secret_add(const char *secret, size_t len);
void log_secret_remove(const char *secret);

/* Replaces every registered secret in buf (NUL-terminated, capacity cap). Pure
 * apart from reading the registry; exposed for tests and for error bodies. */
void log_redact(char *buf, size_t cap);

#endif
