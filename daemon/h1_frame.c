#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "h1_frame.h"
#include "net.h"

bool h1_url_split(const char *url, struct h1_url *out)
{
	const char *p, *host, *hend, *end;
	size_t hlen;

	memset(out, 0, sizeof(*out));
	if (strncasecmp(url, "http://", 7) != 0)
		return false;
	p = host = out->authority = url + 7;
	end = p + strcspn(p, "/?#");
	out->authority_len = (size_t)(end - p);
	out->target = end;
	if (memchr(p, '@', (size_t)(end - p)) != NULL)
		return false;
	if (*p == '[') {
		host = p + 1;
		if ((hend = memchr(host, ']', (size_t)(end - host))) == NULL)
			return false;
		p = hend + 1;
	} else {
		hend = memchr(p, ':', (size_t)(end - p));
		p = hend ? hend : end;
	}
	hlen = (size_t)(hend ? hend - host : end - host);
	if (hlen == 0 || hlen >= sizeof(out->host))
		return false;
	memcpy(out->host, host, hlen);
	out->port = 80;
	if (p < end) {
		unsigned v = 0;

		if (*p++ != ':' || p == end)
			return false;
		for (; p < end; p++) {
			if (*p < '0' || *p > '9' || (v = v * 10 + (unsigned)(*p - '0')) > 65535)
				return false;
		}
		if (v == 0)
			return false;
		out->port = (uint16_t)v;
		out->has_port = true;
	}
	return true;
}

bool h1_host_direct(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	return strcasecmp(host, "localhost") == 0 || inet_pton(AF_INET, host, &a4) == 1 ||
	       inet_pton(AF_INET6, host, &a6) == 1;
}

enum h1_body h1_body_framing(bool has_body, int64_t len)
{
	if (!has_body)
		return H1_BODY_NONE;
	return len >= 0 ? H1_BODY_LENGTH : H1_BODY_CHUNKED;
}

size_t h1_chunk_head(size_t n, char *buf)
{
	int k = snprintf(buf, 20, "%zx\r\n", n);

	return k > 0 ? (size_t)k : 0;
}

bool h1_reusable(uint32_t keepalive_ms, bool server_keeps, bool request_sent, bool aborted)
{
	return keepalive_ms > 0 && server_keeps && request_sent && !aborted;
}

bool h1_retry_stale(bool was_pooled, bool got_response_bytes, bool body_whole, bool retried)
{
	return was_pooled && !got_response_bytes && body_whole && !retried;
}
