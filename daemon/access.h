/*
 * Access policy: who may use the tokens and for what. Pure decisions over
 * facts about one request (addresses, header values, method, path, the
 * caller's uid and groups) and the configured lists; no I/O. gate.c feeds
 * it from libmicrohttpd, config.c uses its parsers to check the lists.
 */
#ifndef ZTP_ACCESS_H
#define ZTP_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "compat.h"
#include "net.h"

/* Supplementary groups looked at per caller; more are ignored. */
#define ACC_GROUPS_MAX 64
/* Longest glob pattern (allow_paths / deny_paths). */
#define ACC_GLOB_MAX 1024

/* An IPv4 or IPv6 network such as 10.0.0.0/8 or fd00::/8. */
struct acc_cidr {
	int family; /* AF_INET or AF_INET6 */
	unsigned bits;
	unsigned char addr[16]; /* 4 bytes used for AF_INET; host bits are zero */
};

/* Numeric user or group ids (names are resolved when the config loads). */
struct acc_ids {
	unsigned *v;
	size_t n; /* 0: no list, anyone */
};

/* The process at the other end of a unix socket. */
struct acc_peer {
	uid_t uid;
	gid_t gid;
	gid_t groups[ACC_GROUPS_MAX];
	size_t ngroups;
};

/*
 * Parses "10.0.0.0/8", "fd00::/8", or a bare address (a single host).
 * Refuses host bits set below the mask ("10.1.2.3/8"): such an entry is
 * usually a typo for a narrower network. Returns NULL or what is wrong.
 */
const char *acc_cidr_parse(const char *s, struct acc_cidr *out);
/* "10.0.0.0/8", "fd00::/8". */
void acc_cidr_format(const struct acc_cidr *c, char *buf, size_t cap);
/* Whether sa is in one of the n networks; an IPv4-mapped IPv6 address also matches IPv4 networks. */
bool acc_cidr_match(const struct acc_cidr *list, size_t n, const struct sockaddr *sa);
/* 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
bool acc_addr_is_loopback(const struct sockaddr *sa);

/*
 * The Host header (len bytes, not NUL-terminated): "localhost", "127.0.0.1"
 * or "[::1]", with or without ":PORT", or one of the n configured names.
 * A configured name without a port matches any port; with a port, only
 * that one. Names compare ignoring ASCII case.
 */
bool acc_host_allowed(const char *host, size_t len, char *const *names, size_t n);

/* What a request says about the web page that made it (NULL: header absent). */
struct acc_browser {
	const char *origin;
	const char *referer;
	const char *sec_fetch_site;
	bool preflight; /* OPTIONS with Access-Control-Request-Method */
};

enum acc_browser_verdict {
	ACC_BROWSER_OK = 0,
	ACC_BROWSER_PREFLIGHT,  /* a CORS preflight: never answered */
	ACC_BROWSER_ORIGIN,     /* Origin not in allowed_origins */
	ACC_BROWSER_REFERER,    /* Referer's origin not in allowed_origins */
	ACC_BROWSER_FETCH_SITE, /* Sec-Fetch-Site other than "none", no allowed Origin/Referer */
};

/*
 * Requests made by web pages are refused unless the page's origin is one of
 * the n allowed origins ("http://localhost:3000", compared ignoring ASCII
 * case). A request carrying none of the three headers (curl, scripts) or
 * only "Sec-Fetch-Site: none" (typed into the address bar) passes.
 */
enum acc_browser_verdict acc_check_browser(const struct acc_browser *b, char *const *origins,
                                           size_t n);
const char *acc_browser_message(enum acc_browser_verdict v);

/*
 * Checks an origin written in the configuration: "scheme://host[:port]"
 * with no path, user, query or trailing slash. Returns NULL or what is wrong.
 */
const char *acc_origin_check(const char *s);

/* Whether method is one of the n methods (exact, case-sensitive); n == 0 allows all. */
bool acc_method_allowed(const char *method, char *const *methods, size_t n);

/*
 * Glob match of the whole of s (len bytes) against pat: '*' matches any
 * run of bytes, '/' included (so a trailing '*' covers everything below),
 * '?' exactly one byte; every other byte matches itself. With nocase,
 * ASCII letters match either case.
 */
bool acc_glob_match(const char *pat, const char *s, size_t len, bool nocase);
/*
 * Checks a configured pattern: starts with '/', printable ASCII without
 * '#' or backslash, valid percent-escapes, at most ACC_GLOB_MAX bytes. Returns
 * NULL or what is wrong.
 */
const char *acc_glob_check(const char *pat);

enum acc_path_verdict {
	ACC_PATH_OK = 0,
	ACC_PATH_DENIED,      /* matches a deny_paths pattern */
	ACC_PATH_NOT_ALLOWED, /* allow_paths is set and none matches */
};

/*
 * A normalised path against a route's lists. deny_paths match ignoring
 * ASCII case and allow_paths match exactly, so that a path's case can
 * neither slip past a deny nor widen an allow.
 */
enum acc_path_verdict acc_check_path(const char *path, size_t len, char *const *allow,
                                     size_t nallow, char *const *deny, size_t ndeny);

/*
 * Whether a caller may pass: allowed when neither list is set, else when
 * its uid is in uids or its primary or a supplementary group is in gids.
 * peer is NULL when the caller is unknown (not on a unix socket): allowed
 * only when neither list is set.
 */
bool acc_caller_allowed(const struct acc_ids *uids, const struct acc_ids *gids,
                        const struct acc_peer *peer);

#endif
