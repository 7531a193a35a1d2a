#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "utf8.h"

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
		k = s[i] >= 0x80 ? utf8_seq_len(s + i, n - i) : 1;
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
