/*
 * The access policy's parsers and matchers (access.h) on arbitrary input:
 * the input is split at newlines into a pattern, a path, a Host value, an
 * Origin, a Referer, a Sec-Fetch-Site value and a network, and properties
 * the gate relies on are checked against each other.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NFIELDS 7

static char *fields[NFIELDS];

/* Splits a copy of the input at '\n'; missing fields are empty. */
static void split(const uint8_t *data, size_t size, char *copy)
{
	char *p = copy;

	memcpy(copy, data, size);
	copy[size] = '\0';
	for (size_t i = 0; i < NFIELDS; i++) {
		char *nl = p ? strchr(p, '\n') : NULL;

		fields[i] = p ? p : copy + size;
		if (nl != NULL)
			*nl = '\0';
		p = nl ? nl + 1 : NULL;
	}
}

static void check_glob(const char *pat, const char *s)
{
	size_t len = strlen(s);
	bool exact = acc_glob_match(pat, s, len, false), nocase = acc_glob_match(pat, s, len, true);
	char *allow[] = {(char *)pat}, *deny[] = {(char *)pat};

	/* Ignoring case can only match more. */
	if (exact && !nocase)
		abort();
	/* A pattern without wildcards matches only itself. */
	if (!strpbrk(pat, "*?") && exact != (strcmp(pat, s) == 0))
		abort();
	/* "*" matches everything; a pattern always matches itself when it has no '?'. */
	if (!acc_glob_match("*", s, len, false) ||
	    (!strchr(pat, '?') && !acc_glob_match(pat, pat, strlen(pat), false)))
		abort();
	if ((acc_check_path(s, len, allow, 1, NULL, 0) == ACC_PATH_OK) != exact ||
	    (acc_check_path(s, len, NULL, 0, deny, 1) == ACC_PATH_DENIED) != nocase)
		abort();
	(void)acc_glob_check(pat);
}

/* Whether s is "" or ":" and 1 to 5 digits. */
static bool port_suffix(const char *s)
{
	size_t n = strlen(s);

	return n == 0 || (s[0] == ':' && n >= 2 && n <= 6 && strspn(s + 1, "0123456789") == n - 1);
}

static void check_host(const char *host)
{
	static const char *const loopback[] = {"localhost", "127.0.0.1", "[::1]"};
	size_t len = strlen(host);
	char *names[] = {(char *)host};
	bool builtin = acc_host_allowed(host, len, NULL, 0), named = false;

	/* Configured names only add. */
	if (builtin && !acc_host_allowed(host, len, names, 1))
		abort();
	/* Without configuration, only a loopback name with an optional port passes. */
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(loopback[i]);

		named = named || (strncasecmp(host, loopback[i], n) == 0 && port_suffix(host + n));
	}
	if (builtin && !named)
		abort();
}

static void check_browser(const char *origin, const char *referer, const char *site)
{
	struct acc_browser b = {.origin = *origin ? origin : NULL,
	                        .referer = *referer ? referer : NULL,
	                        .sec_fetch_site = *site ? site : NULL};
	char *origins[] = {(char *)origin};
	enum acc_browser_verdict none = acc_check_browser(&b, NULL, 0);

	/* With no allowed origin, any page header refuses, except Sec-Fetch-Site: none. */
	if ((none == ACC_BROWSER_OK) !=
	    (b.origin == NULL && b.referer == NULL &&
	     (b.sec_fetch_site == NULL || strcasecmp(b.sec_fetch_site, "none") == 0)))
		abort();
	/* Allowing the request's own origin never refuses what was allowed without it. */
	if (none == ACC_BROWSER_OK && acc_check_browser(&b, origins, 1) != ACC_BROWSER_OK)
		abort();
	if (acc_browser_message(none) == NULL)
		abort();
	(void)acc_origin_check(origin);
}

static void check_cidr(const char *text)
{
	struct acc_cidr c, again;
	char buf[64];
	struct sockaddr_storage ss = {0};

	if (acc_cidr_parse(text, &c) != NULL)
		return;
	acc_cidr_format(&c, buf, sizeof(buf));
	if (acc_cidr_parse(buf, &again) != NULL || memcmp(&c, &again, sizeof(c)) != 0)
		abort();
	/* The network's own address is in it. */
	if (c.family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		memcpy(&a->sin_addr, c.addr, 4);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		memcpy(&a->sin6_addr, c.addr, 16);
	}
	if (!acc_cidr_match(&c, 1, (struct sockaddr *)&ss))
		abort();
	(void)acc_addr_is_loopback((struct sockaddr *)&ss);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy;

	if (size > 16384)
		return 0;
	copy = malloc(size + 1);
	split(data, size, copy);
	if (strlen(fields[0]) <= ACC_GLOB_MAX)
		check_glob(fields[0], fields[1]);
	check_host(fields[2]);
	check_browser(fields[3], fields[4], fields[5]);
	check_cidr(fields[6]);
	free(copy);
	return 0;
}
