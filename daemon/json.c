#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

/*
 * Length of the well-formed UTF-8 sequence at s (n bytes left), or 0 if
 * there is none: overlong forms, surrogates and code points past U+10FFFF
 * are ill-formed (RFC 3629).
 */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned min, cp;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		min = 0x80;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		min = 0x800;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		min = 0x10000;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static bool put(char *dst, size_t cap, size_t *len, const char *s, size_t n)
{
	if (n >= cap - *len)
		return false;
	memcpy(dst + *len, s, n);
	*len += n;
	return true;
}

/*
 * The escape for one ASCII byte, or NULL when it goes out as itself. '<', '>'
 * and '&' are escaped too, so that a body sniffed as HTML cannot carry markup.
 */
static const char *escape(unsigned char c, char tmp[7])
{
	switch (c) {
	case '"':
		return "\\\"";
	case '\\':
		return "\\\\";
	case '\b':
		return "\\b";
	case '\f':
		return "\\f";
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	case '<':
	case '>':
	case '&':
		break;
	default:
		if (c >= 0x20)
			return NULL;
	}
	snprintf(tmp, 7, "\\u%04x", c);
	return tmp;
}

int json_append_string(char *dst, size_t cap, size_t *len, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t start = *len, n = strlen(src), k;
	const char *esc;
	char tmp[7];
	bool ok;

	if (start >= cap)
		return -1;
	ok = put(dst, cap, len, "\"", 1);
	for (size_t i = 0; ok && i < n; i += k) {
		k = s[i] >= 0x80 ? utf8_len(s + i, n - i) : 1;
		if (k == 0) {
			k = 1;
			ok = put(dst, cap, len, "\\ufffd", 6);
		} else if (k == 1 && (esc = escape(s[i], tmp)) != NULL) {
			ok = put(dst, cap, len, esc, strlen(esc));
		} else {
			ok = put(dst, cap, len, src + i, k);
		}
	}
	ok = ok && put(dst, cap, len, "\"", 1);
	if (!ok)
		*len = start;
	dst[*len] = '\0';
	return ok ? 0 : -1;
}

int json_append_raw(char *dst, size_t cap, size_t *len, const char *src)
{
	int rc;

	if (*len >= cap)
		return -1;
	rc = put(dst, cap, len, src, strlen(src)) ? 0 : -1;
	dst[*len] = '\0';
	return rc;
}
