/* Minimal JSON output helpers: escaping into capped buffers. */
#ifndef ZTP_JSON_H
#define ZTP_JSON_H

#include <stddef.h>

/*
 * Appends the JSON string literal for src (with quotes) to dst at *len.
 * Never writes past cap; returns -1 (and leaves dst NUL-terminated) if it
 * did not fit, else 0.
 */
int json_append_string(char *dst, size_t cap, size_t *len, const char *src);
/* Appends raw text (no escaping); same contract. */
int json_append_raw(char *dst, size_t cap, size_t *len, const char *src);

#endif
