/* UTF-8 validation shared by the log and JSON writers. */
#ifndef ZTP_UTF8_H
#define ZTP_UTF8_H

#include <stddef.h>

/*
 * Length of the well-formed UTF-8 sequence of two to four bytes at s (n bytes
 * left), or 0 if there is none: ASCII, overlong forms, surrogates and code
 * points past U+10FFFF all give 0 (RFC 3629).
 */
size_t utf8_seq_len(const unsigned char *s, size_t n);

#endif
