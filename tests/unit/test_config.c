/*
 * Unit tests for daemon/config.c: parsing, defaults, every error class with
 * its exact position, printing and re-parsing, and hostile input.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "ztp_build.h"

/* The ZeroTier One route's default keepalive (config.c fill_route_policy). */
#define ZT_KEEPALIVE_MS (ZTP_HAVE_TCP_QUICKACK ? 2000u : 0u)

#define SECRET "s3cr3t-T0KEN-do-not-print"

#define MAX_LINES 256

struct reports {
	char lines[MAX_LINES][512];
	bool is_error[MAX_LINES];
	size_t n, nerrors, nwarnings;
};

static struct reports R;
static char tmpdir[64];

static void collect(void *arg, bool is_error, const char *line)
{
	struct reports *r = arg;

	if (r->n < MAX_LINES) {
		snprintf(r->lines[r->n], sizeof(r->lines[0]), "%s", line);
		r->is_error[r->n] = is_error;
		r->n++;
	}
	if (is_error)
		r->nerrors++;
	else
		r->nwarnings++;
}

static void dump_reports(void)
{
	for (size_t i = 0; i < R.n; i++)
		printf("#   reported: %s\n", R.lines[i]);
}

static enum zt_err parse(const char *text, bool private, struct config **out)
{
	memset(&R, 0, sizeof(R));
	return cfg_parse("t.yaml", text, strlen(text), private, collect, &R, out);
}

/* True when text is accepted; the config is freed. */
static bool accepts(const char *text)
{
	struct config *cfg = NULL;
	enum zt_err rc = parse(text, true, &cfg);

	cfg_free(cfg);
	if (rc != ZT_OK || R.nerrors != 0) {
		dump_reports();
		return false;
	}
	return true;
}

/* True when text fails with exactly one error, and that error is want. */
static bool fails_with_p(const char *text, bool private, const char *want)
{
	struct config *cfg = (struct config *)&cfg;
	enum zt_err rc = parse(text, private, &cfg);

	if (rc == ZT_ERR_CONFIG && cfg == NULL && R.nerrors == 1 && R.n == 1 && R.is_error[0] &&
	    strcmp(R.lines[0], want) == 0)
		return true;
	printf("#   want: %s\n", want);
	dump_reports();
	if (rc == ZT_OK)
		cfg_free(cfg);
	return false;
}

static bool fails_with(const char *text, const char *want)
{
	return fails_with_p(text, false, want);
}

static bool reported(const char *want)
{
	for (size_t i = 0; i < R.n; i++)
		if (strcmp(R.lines[i], want) == 0)
			return true;
	printf("#   not reported: %s\n", want);
	dump_reports();
	return false;
}

static bool any_report_contains(const char *needle)
{
	for (size_t i = 0; i < R.n; i++)
		if (strstr(R.lines[i], needle))
			return true;
	return false;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		printf("# cannot write %s: %s\n", path, strerror(errno));
		exit(99);
	}
	fchmod(fd, mode);
	close(fd);
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* Files of the source tree; meson passes its root so the binary runs from anywhere. */
static void source_file(const char *rel, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%s", ZTP_SOURCE_ROOT, rel);
}

static const struct cfg_route *find_route(const struct config *cfg, const char *prefix)
{
	for (size_t i = 0; i < cfg->nroutes; i++)
		if (strcmp(cfg->routes[i].prefix, prefix) == 0)
			return &cfg->routes[i];
	return NULL;
}

static bool str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static bool strs_eq(const struct cfg_strs *a, const struct cfg_strs *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

static bool ids_eq(const struct acc_ids *a, const struct acc_ids *b)
{
	return a->n == b->n && (a->n == 0 || memcmp(a->v, b->v, a->n * sizeof(*a->v)) == 0);
}

/* The access keys (issue 3) of a and b. */
static bool access_equal(const struct config *a, const struct config *b)
{
	if (a->allow_remote != b->allow_remote || a->allow_from.n != b->allow_from.n ||
	    (a->allow_from.n > 0 && memcmp(a->allow_from.v, b->allow_from.v,
	                                   a->allow_from.n * sizeof(*a->allow_from.v))) ||
	    !strs_eq(&a->allowed_hosts, &b->allowed_hosts) ||
	    !strs_eq(&a->allowed_origins, &b->allowed_origins) ||
	    a->client_header_ms != b->client_header_ms || a->client_body_ms != b->client_body_ms ||
	    a->max_header_size != b->max_header_size || a->max_headers != b->max_headers ||
	    a->max_body != b->max_body)
		return false;
	for (size_t i = 0; i < a->nlisten; i++) {
		const struct cfg_listen *x = &a->listen[i], *y = &b->listen[i];
		if (x->mode != y->mode || x->owner != y->owner || x->group != y->group ||
		    !ids_eq(&x->allow_uids, &y->allow_uids) ||
		    !ids_eq(&x->allow_gids, &y->allow_gids))
			return false;
	}
	for (size_t i = 0; i < a->nroutes; i++) {
		const struct cfg_route *x = &a->routes[i], *y = &b->routes[i];
		if (!strs_eq(&x->methods, &y->methods) || x->read_only != y->read_only ||
		    !strs_eq(&x->allow_paths, &y->allow_paths) ||
		    !strs_eq(&x->deny_paths, &y->deny_paths) ||
		    !ids_eq(&x->allow_uids, &y->allow_uids) ||
		    !ids_eq(&x->allow_gids, &y->allow_gids) || x->max_body != y->max_body)
			return false;
	}
	return true;
}

static bool cfg_equal(const struct config *a, const struct config *b)
{
	if (a->log_level != b->log_level || a->nlisten != b->nlisten || a->ntokens != b->ntokens ||
	    a->nroutes != b->nroutes || a->client_idle_ms != b->client_idle_ms ||
	    a->upstream_connect_ms != b->upstream_connect_ms || a->upstream_ms != b->upstream_ms ||
	    a->shutdown_ms != b->shutdown_ms || a->max_connections != b->max_connections ||
	    a->replay_body != b->replay_body)
		return false;
	for (size_t i = 0; i < a->nlisten; i++)
		if (!str_eq(a->listen[i].text, b->listen[i].text) ||
		    a->listen[i].addrlen != b->listen[i].addrlen ||
		    memcmp(&a->listen[i].addr, &b->listen[i].addr, a->listen[i].addrlen) != 0)
			return false;
	for (size_t i = 0; i < a->ntokens; i++) {
		const struct cfg_token *x = &a->tokens[i], *y = &b->tokens[i];
		if (!str_eq(x->name, y->name) || x->kind != y->kind || !str_eq(x->arg, y->arg) ||
		    x->watch != y->watch)
			return false;
	}
	for (size_t i = 0; i < a->nroutes; i++) {
		const struct cfg_route *x = &a->routes[i], *y = &b->routes[i];
		if (!str_eq(x->prefix, y->prefix) || !str_eq(x->upstream, y->upstream) ||
		    x->tls != y->tls || !str_eq(x->token, y->token) || x->auth != y->auth ||
		    !str_eq(x->ca_file, y->ca_file))
			return false;
	}
	return access_equal(a, b);
}

static char *print_to_string(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	cfg_print(cfg, f);
	fclose(f);
	return buf;
}

/* Prints cfg, parses the output again and compares. */
static bool round_trips(const struct config *cfg)
{
	char *text = print_to_string(cfg);
	struct config *again = NULL;
	bool ok;

	if (text == NULL)
		return false;
	ok = parse(text, true, &again) == ZT_OK && cfg_equal(cfg, again);
	if (!ok) {
		printf("# printed:\n%s", text);
		dump_reports();
	}
	cfg_free(again);
	free(text);
	return ok;
}

static const char issue_example[] = "listen:\n"
                                    "  - 127.0.0.1:9994\n"
                                    "  - \"[::1]:9994\"\n"
                                    "tokens:\n"
                                    "  local:\n"
                                    "    file: /var/lib/zerotier-one/authtoken.secret\n"
                                    "  central:\n"
                                    "    env: ZEROTIER_CENTRAL_TOKEN\n"
                                    "  ci:\n"
                                    "    file: /etc/zt-token-proxy/ci.token\n"
                                    "routes:\n"
                                    "  - prefix: /central/\n"
                                    "    upstream: https://api.zerotier.com/\n"
                                    "    token: central\n"
                                    "    auth: token\n"
                                    "  - prefix: /central-v2/\n"
                                    "    upstream: https://central.zerotier.com/\n"
                                    "    token: central-v2\n"
                                    "    auth: bearer\n"
                                    "  - prefix: /\n"
                                    "    upstream: http://127.0.0.1:9993/\n"
                                    "    token: local\n"
                                    "    auth: x-zt1-auth\n";

static void test_issue_example(void)
{
	struct config *cfg = NULL;
	const struct cfg_token *t;

	CHECK(parse(issue_example, false, &cfg) == ZT_OK);
	CHECK(R.n == 0);
	if (cfg == NULL)
		return;
	CHECK_STR(cfg->path, "t.yaml");
	CHECK(cfg->nlisten == 2);
	CHECK_STR(cfg->listen[0].text, "127.0.0.1:9994");
	CHECK(cfg->listen[0].addr.ss_family == AF_INET);
	CHECK(cfg->listen[1].addr.ss_family == AF_INET6);
	CHECK(cfg->nroutes == 3);
	CHECK_STR(cfg->routes[0].prefix, "/central-v2");
	CHECK_STR(cfg->routes[0].upstream, "https://central.zerotier.com");
	CHECK(cfg->routes[0].auth == AUTH_BEARER);
	CHECK(cfg->routes[0].tls);
	CHECK_STR(cfg->routes[1].prefix, "/central");
	CHECK_STR(cfg->routes[1].upstream, "https://api.zerotier.com");
	CHECK(cfg->routes[1].auth == AUTH_TOKEN);
	CHECK_STR(cfg->routes[2].prefix, "/");
	CHECK_STR(cfg->routes[2].upstream, "http://127.0.0.1:9993");
	CHECK(!cfg->routes[2].tls);
	CHECK(cfg->routes[2].auth == AUTH_X_ZT1_AUTH);
	CHECK(cfg->routes[2].line == 20 && cfg->routes[2].col == 5);
	CHECK(cfg->ntokens == 4);
	t = cfg_find_token(cfg, "ci");
	CHECK(t && t->kind == TOKEN_SRC_FILE && !t->builtin && t->watch);
	CHECK(t && t->line == 9 && t->col == 3);
	t = cfg_find_token(cfg, "local");
	CHECK(t && !t->builtin);
	t = cfg_find_token(cfg, "central-v2");
	CHECK(t && t->builtin && t->kind == TOKEN_SRC_ENV && t->line == 0 && t->col == 0);
	CHECK(t && strcmp(t->arg, "ZEROTIER_CENTRAL_V2_TOKEN") == 0);
	CHECK(round_trips(cfg));
	cfg_free(cfg);
}

/* Removes the "#" of example blocks: a "#KEY:" line and the "#" lines after it. */
static void uncomment_examples(char *text)
{
	char *out = text;
	bool in_block = false;

	for (char *line = text; *line;) {
		char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
		if (line[0] != '#')
			in_block = false;
		else if (line[1] != ' ' && line[1] != '\n' && line[1] != '\0')
			in_block = true;
		if (in_block && line[0] == '#') {
			line++;
			len--;
		}
		memmove(out, line, len);
		out += len;
		line += len;
	}
	*out = '\0';
}

static void test_example_file(void)
{
	char path[512];
	struct config *cfg = NULL;
	char *text;

	source_file("config/zt-token-proxy.yaml", path, sizeof(path));
	memset(&R, 0, sizeof(R));
	CHECK(cfg_load(path, collect, &R, &cfg) == ZT_OK);
	CHECK(R.n == 0);
	dump_reports();
	if (cfg) {
		CHECK(cfg->nroutes == 3); /* the defaults: the example routes are commented out */
		CHECK(cfg->max_connections == 1024 && cfg->replay_body == 65536);
		CHECK(cfg->max_headers == 100);
		CHECK(round_trips(cfg));
	}
	cfg_free(cfg);

	/* Every commented-out example, enabled at once, is valid too. */
	text = read_all(path);
	CHECK(text != NULL);
	if (text == NULL)
		return;
	uncomment_examples(text);
	CHECK(strstr(text, "\nroutes:\n") != NULL && strstr(text, "\ntokens:\n") != NULL);
	cfg = NULL;
	CHECK(parse(text, false, &cfg) == ZT_OK);
	CHECK(R.n == 0);
	dump_reports();
	if (cfg) {
		CHECK(cfg->nroutes == 5);
		CHECK_STR(cfg->routes[0].prefix, "/lab/readonly");
		CHECK(cfg->routes[0].read_only && cfg->routes[0].allow_paths.n == 1);
		CHECK_STR(cfg->routes[1].prefix, "/lab/central");
		CHECK(cfg->allow_from.n == 3 && cfg->allowed_hosts.n == 1);
		CHECK(cfg_find_token(cfg, "ci") &&
		      cfg_find_token(cfg, "ci")->kind == TOKEN_SRC_CREDENTIAL);
	}
	cfg_free(cfg);
	free(text);
}

static void check_defaults(const struct config *cfg, unsigned port)
{
	char up[64], local[256];
	const struct cfg_token *t;

	snprintf(up, sizeof(up), "http://127.0.0.1:%u", port);
	snprintf(local, sizeof(local), "%s/authtoken.secret", tmpdir);
	CHECK(cfg->log_level == LOG_INFO);
	CHECK(cfg->nlisten == 2);
	CHECK_STR(cfg->listen[0].text, "127.0.0.1:9994");
	CHECK_STR(cfg->listen[1].text, "[::1]:9994");
	CHECK(cfg->client_idle_ms == 60000 && cfg->upstream_connect_ms == 10000);
	CHECK(cfg->upstream_ms == 300000 && cfg->shutdown_ms == 10000);
	CHECK(cfg->max_connections == 1024 && cfg->replay_body == 64 * 1024);
	CHECK(cfg->ntokens == 3);
	t = cfg_find_token(cfg, "local");
	CHECK(t && t->builtin && t->kind == TOKEN_SRC_FILE && t->watch);
	CHECK(t && strcmp(t->arg, local) == 0);
	t = cfg_find_token(cfg, "central");
	CHECK(t && t->builtin && t->kind == TOKEN_SRC_ENV && !t->watch);
	CHECK(t && strcmp(t->arg, "ZEROTIER_CENTRAL_TOKEN") == 0);
	CHECK(cfg->nroutes == 3);
	if (cfg->nroutes != 3)
		return;
	CHECK_STR(cfg->routes[0].prefix, "/central-v2");
	CHECK_STR(cfg->routes[0].upstream, "https://central.zerotier.com");
	CHECK_STR(cfg->routes[0].token, "central-v2");
	CHECK(cfg->routes[0].auth == AUTH_BEARER && cfg->routes[0].tls);
	CHECK_STR(cfg->routes[1].prefix, "/central");
	CHECK_STR(cfg->routes[1].upstream, "https://api.zerotier.com");
	CHECK_STR(cfg->routes[1].token, "central");
	CHECK(cfg->routes[1].auth == AUTH_TOKEN);
	CHECK_STR(cfg->routes[2].prefix, "/");
	CHECK_STR(cfg->routes[2].upstream, up);
	CHECK_STR(cfg->routes[2].token, "local");
	CHECK(cfg->routes[2].auth == AUTH_X_ZT1_AUTH && !cfg->routes[2].tls);
	CHECK(cfg->routes[2].line == 0 && cfg->routes[2].ca_file == NULL);
}

static void test_defaults(void)
{
	struct config *cfg = NULL;
	char path[128];

	memset(&R, 0, sizeof(R));
	CHECK(cfg_load(NULL, collect, &R, &cfg) == ZT_OK);
	CHECK(R.n == 0);
	if (cfg) {
		CHECK(cfg->path == NULL);
		check_defaults(cfg, 9993);
		CHECK(round_trips(cfg));
	}
	cfg_free(cfg);

	/* An empty file, a file of comments and "~" are all the defaults. */
	CHECK(parse("", false, &cfg) == ZT_OK && cfg != NULL);
	if (cfg)
		check_defaults(cfg, 9993);
	cfg_free(cfg);
	CHECK(parse("# nothing here\n\n", false, &cfg) == ZT_OK && cfg != NULL);
	cfg_free(cfg);
	CHECK(parse("~\n", false, &cfg) == ZT_OK && cfg != NULL);
	cfg_free(cfg);
	CHECK(parse("timeouts:\nlimits:\ntokens:\n", false, &cfg) == ZT_OK && cfg != NULL);
	if (cfg)
		check_defaults(cfg, 9993);
	cfg_free(cfg);

	snprintf(path, sizeof(path), "%s/empty.yaml", tmpdir);
	write_file(path, "", 0644);
	memset(&R, 0, sizeof(R));
	CHECK(cfg_load(path, collect, &R, &cfg) == ZT_OK && cfg != NULL);
	if (cfg) {
		CHECK_STR(cfg->path, path);
		check_defaults(cfg, 9993);
	}
	cfg_free(cfg);
	unlink(path);
}

static void test_builtin_tokens(void)
{
	struct config *cfg = NULL;
	const struct cfg_token *t;

	/* A token of a built-in name replaces it; the others stay. */
	CHECK(parse("tokens:\n  central:\n    file: /etc/central.token\n    watch: false\n", false,
	            &cfg) == ZT_OK);
	if (cfg == NULL)
		return;
	CHECK(cfg->ntokens == 3);
	t = cfg_find_token(cfg, "central");
	CHECK(t && !t->builtin && t->kind == TOKEN_SRC_FILE && !t->watch);
	CHECK(t && strcmp(t->arg, "/etc/central.token") == 0 && t->line == 2 && t->col == 3);
	CHECK(cfg_find_token(cfg, "local") && cfg_find_token(cfg, "local")->builtin);
	CHECK(cfg_find_token(cfg, "central-v2") && cfg_find_token(cfg, "central-v2")->builtin);
	CHECK(cfg_find_token(cfg, "nope") == NULL);
	cfg_free(cfg);
}

static void test_port_file(void)
{
	static const struct {
		const char *content;
		unsigned port;
		bool warns;
	} cases[] = {
	    {"4567", 4567, false}, {"  4568\n", 4568, false},
	    {"\t1\r\n", 1, false}, {"65535", 65535, false},
	    {"0", 9993, true},     {"65536", 9993, true},
	    {"12ab", 9993, true},  {"", 9993, true},
	    {"-5", 9993, true},    {"99999999999999999999999", 9993, true},
	};
	char path[128], want[256];
	struct config *cfg = NULL;

	snprintf(path, sizeof(path), "%s/zerotier-one.port", tmpdir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_file(path, cases[i].content, 0644);
		memset(&R, 0, sizeof(R));
		CHECK(cfg_load(NULL, collect, &R, &cfg) == ZT_OK);
		if (cfg)
			check_defaults(cfg, cases[i].port);
		cfg_free(cfg);
		CHECK(R.nerrors == 0 && R.nwarnings == (cases[i].warns ? 1u : 0u));
		if (cases[i].warns) {
			snprintf(want, sizeof(want),
			         "%s: warning: not a port number from 1 to 65535; using 9993",
			         path);
			CHECK(reported(want));
		}
	}

	/* A user file without routes gets the same default routes. */
	write_file(path, "7777\n", 0644);
	CHECK(parse("log_level: debug\n", false, &cfg) == ZT_OK);
	if (cfg) {
		CHECK(cfg->log_level == LOG_DEBUG);
		CHECK(find_route(cfg, "/") &&
		      strcmp(find_route(cfg, "/")->upstream, "http://127.0.0.1:7777") == 0);
	}
	cfg_free(cfg);
	/* With routes, the port file plays no part. */
	CHECK(parse("routes:\n  - {prefix: /, upstream: 'http://[::1]:1', token: local, auth: "
	            "x-zt1-auth}\n",
	            false, &cfg) == ZT_OK);
	if (cfg) {
		CHECK(cfg->nroutes == 1);
		CHECK_STR(cfg->routes[0].upstream, "http://[::1]:1");
	}
	cfg_free(cfg);
	unlink(path);
}

/* connections: defaults by the route's kind, explicit values, bad values. */
static void test_connection_policy(void)
{
	struct config *cfg = NULL;
	const struct cfg_route *r;
	char want[256];

	CHECK(cfg_load(NULL, collect, &R, &cfg) == ZT_OK);
	if (cfg && (r = find_route(cfg, "/")) != NULL) {
		/*
		 * ZeroTier One: half its 8 workers at most, its port followed; kept
		 * 2 s by the h1 client where it has TCP_QUICKACK, else not kept.
		 */
		CHECK(r->conn_max == 4 && r->conn_keepalive_ms == ZT_KEEPALIVE_MS);
		CHECK(r->client == CLIENT_H1);
		CHECK(r->conn_queue == 128 && r->conn_queue_ms == 10000);
		snprintf(want, sizeof(want), "%s/zerotier-one.port", tmpdir);
		CHECK(r->port_file && strcmp(r->port_file, want) == 0);
	}
	if (cfg && (r = find_route(cfg, "/central")) != NULL)
		CHECK(r->conn_max == 0 && r->conn_keepalive_ms == 60000 && r->port_file == NULL);
	cfg_free(cfg);

	CHECK(
	    parse(
	        "routes:\n"
	        "- {prefix: /zt, upstream: 'http://127.0.0.1:1', token: local, auth: x-zt1-auth}\n"
	        "- {prefix: /ztcurl, upstream: 'http://127.0.0.1:1', token: local, auth: "
	        "x-zt1-auth,"
	        " client: curl}\n"
	        "- {prefix: /tls, upstream: 'https://127.0.0.1:1', token: local, auth: "
	        "x-zt1-auth}\n"
	        "- prefix: /set\n  upstream: 'http://127.0.0.1:1'\n  token: local\n"
	        "  auth: x-zt1-auth\n  port_file: /run/zt.port\n"
	        "  connections: {max: 0, queue: 3, queue_timeout: 250ms, keepalive: 2s}\n",
	        false, &cfg) == ZT_OK);
	if (cfg) {
		CHECK((r = find_route(cfg, "/zt")) && r->conn_max == 4 &&
		      r->conn_keepalive_ms == ZT_KEEPALIVE_MS && r->port_file == NULL);
		CHECK((r = find_route(cfg, "/ztcurl")) && r->client == CLIENT_CURL &&
		      r->conn_keepalive_ms == 0);
		CHECK((r = find_route(cfg, "/tls")) && r->client == CLIENT_CURL);
		CHECK((r = find_route(cfg, "/tls")) && r->conn_max == 0 &&
		      r->conn_keepalive_ms == 60000);
		CHECK((r = find_route(cfg, "/set")) && r->conn_max == 0 && r->conn_queue == 3 &&
		      r->conn_queue_ms == 250 && r->conn_keepalive_ms == 2000 && r->port_file &&
		      strcmp(r->port_file, "/run/zt.port") == 0);
	}
	cfg_free(cfg);

	CHECK(fails_with("routes:\n- prefix: /\n  upstream: http://127.0.0.1:1\n  token: local\n"
	                 "  auth: token\n  connections: {max: 70000}\n",
	                 "t.yaml:6:22: max '70000' must be a whole number from 0 to 65535"));
	CHECK(fails_with("routes:\n- prefix: /\n  upstream: http://127.0.0.1:1\n  token: local\n"
	                 "  auth: token\n  port_file: zerotier-one.port\n",
	                 "t.yaml:6:14: port_file 'zerotier-one.port' must be an absolute path"));
}

static void test_zerotier_home(void)
{
	CHECK_STR(cfg_zerotier_home(), tmpdir);
	unsetenv("ZEROTIER_HOME");
	CHECK_STR(cfg_zerotier_home(), ZTP_DEFAULT_ZT_HOME);
	setenv("ZEROTIER_HOME", "", 1);
	CHECK_STR(cfg_zerotier_home(), ZTP_DEFAULT_ZT_HOME);
	setenv("ZEROTIER_HOME", "/x/y/", 1);
	{
		struct config *cfg = NULL;
		CHECK(cfg_load(NULL, NULL, NULL, &cfg) == ZT_OK);
		CHECK(cfg &&
		      strcmp(cfg_find_token(cfg, "local")->arg, "/x/y/authtoken.secret") == 0);
		cfg_free(cfg);
	}
	setenv("ZEROTIER_HOME", tmpdir, 1);
}

static void test_unknown_keys(void)
{
	CHECK(fails_with("routes:\n- prefix: /\n  upstream: https://127.0.0.1:1\n  token: local\n"
	                 "  auth: token\n  client: h1\n",
	                 "t.yaml:6:3: client: h1 speaks plain http to an IP address or localhost "
	                 "only; use client: curl for this upstream"));
	CHECK(fails_with("routes:\n- prefix: /\n  upstream: http://127.0.0.1:1\n  token: local\n"
	                 "  auth: token\n  client: nghttp\n",
	                 "t.yaml:6:11: unknown client 'nghttp'; use curl or h1"));
	CHECK(fails_with("log_level: info\nlistne: 127.0.0.1:1\n",
	                 "t.yaml:2:1: unknown key 'listne' in the configuration; did you mean "
	                 "'listen'?"));
	CHECK(fails_with("timeouts:\n  idle: 5s\n",
	                 "t.yaml:2:3: unknown key 'idle' in timeouts (expected client_idle, "
	                 "upstream_connect, upstream, shutdown, client_header or client_body)"));
	CHECK(fails_with("limits:\n    max_conections: 5\n",
	                 "t.yaml:2:5: unknown key 'max_conections' in limits; did you mean "
	                 "'max_connections'?"));
	CHECK(fails_with("tokens:\n  ci:\n    path: /x\n    file: /y\n",
	                 "t.yaml:3:5: unknown key 'path' in token 'ci' (expected file, env, "
	                 "credential, value or watch)"));
	CHECK(
	    fails_with("routes:\n- prefix: /\n  upstream: http://127.0.0.1:1\n  token: local\n"
	               "  auth: token\n  tls: true\n",
	               "t.yaml:6:3: unknown key 'tls' in route (expected prefix, upstream, token, "
	               "auth, ca_file, methods, read_only, allow_paths, deny_paths, allow_uids, "
	               "allow_gids, max_body, connections, port_file or client)"));
	/* Keys are compared whole: a NUL inside a quoted key does not make it a known one. */
	CHECK(
	    fails_with("\"log_level\\0x\": info\n", "t.yaml:1:1: a key contains a NUL character"));
	CHECK(
	    fails_with("[a]: 1\n", "t.yaml:1:1: a key in the configuration is a list, not a name"));
}

static void test_wrong_types(void)
{
	CHECK(fails_with("log_level: [debug]\n", "t.yaml:1:12: 'log_level' must be error, warn, "
	                                         "info or debug, not a list"));
	CHECK(fails_with("log_level:\n", "t.yaml:1:11: 'log_level' has no value; it must be "
	                                 "error, warn, info or debug"));
	CHECK(
	    fails_with("timeouts: 5s\n", "t.yaml:1:11: timeouts must be a mapping, not a string"));
	CHECK(fails_with("timeouts:\n  shutdown: {a: 1}\n",
	                 "t.yaml:2:13: 'shutdown' must be a duration such as 10s, not a mapping"));
	CHECK(fails_with("tokens: [a]\n",
	                 "t.yaml:1:9: 'tokens' must be a mapping of names to sources, not a list"));
	CHECK(fails_with("tokens:\n  ci: /etc/ci.token\n",
	                 "t.yaml:2:7: token 'ci' must be a mapping, not a string"));
	CHECK(fails_with("listen: {a: 1}\n",
	                 "t.yaml:1:9: 'listen' must be a list of addresses such as "
	                 "\"127.0.0.1:9994\"; remove it to use the defaults"));
	CHECK(fails_with("listen: []\n", "t.yaml:1:9: 'listen' must be a list of addresses such as "
	                                 "\"127.0.0.1:9994\"; remove it to use the defaults"));
	CHECK(fails_with("listen:\n  - [1]\n",
	                 "t.yaml:2:5: a listen address must be a string or a unix socket mapping, "
	                 "not a list"));
	CHECK(fails_with("routes:\n", "t.yaml:1:8: 'routes' must be a list of routes; remove it to "
	                              "use the default routes"));
	CHECK(fails_with("routes: {prefix: /}\n", "t.yaml:1:9: 'routes' must be a list of routes; "
	                                          "remove it to use the default routes"));
	CHECK(fails_with("routes:\n  - /central\n",
	                 "t.yaml:2:5: a route must be a mapping with prefix, upstream, token and "
	                 "auth, not a string"));
	CHECK(fails_with("- a\n- b\n", "t.yaml:1:1: the configuration must be a mapping with keys "
	                               "such as listen:, tokens: and routes:, not a list"));
	CHECK(fails_with("tokens:\n  ci:\n    watch: maybe\n    file: /x\n",
	                 "t.yaml:3:12: watch 'maybe' must be true or false"));
}

static void test_bad_values(void)
{
	CHECK(
	    fails_with("log_level: verbose\n",
	               "t.yaml:1:12: unknown log_level 'verbose'; use error, warn, info or debug"));
	CHECK(fails_with("routes:\n  - prefix: /\n    upstream: http://127.0.0.1:1\n"
	                 "    token: local\n    auth: basic\n",
	                 "t.yaml:5:11: unknown auth 'basic'; use token, bearer or x-zt1-auth"));
	CHECK(
	    fails_with("limits:\n  max_connections: 0\n",
	               "t.yaml:2:20: max_connections '0' must be a whole number from 1 to 65535"));
	CHECK(fails_with("limits:\n  max_connections: 65536\n",
	                 "t.yaml:2:20: max_connections '65536' must be a whole number from 1 to "
	                 "65535"));
	CHECK(fails_with(
	    "limits:\n  max_connections: 10k\n",
	    "t.yaml:2:20: max_connections '10k' must be a whole number from 1 to 65535"));
	CHECK(fails_with("limits:\n  max_headers: 7\n",
	                 "t.yaml:2:16: max_headers '7' must be a whole number from 8 to 1000"));
	CHECK(fails_with("limits:\n  max_headers: 1001\n",
	                 "t.yaml:2:16: max_headers '1001' must be a whole number from 8 to 1000"));
	/* Messages never carry raw control bytes. */
	CHECK(
	    fails_with("log_level: \"a\\tb\"\n",
	               "t.yaml:1:12: unknown log_level 'a\\x09b'; use error, warn, info or debug"));
	CHECK(fails_with("log_level: \"in\\0fo\"\n", "t.yaml:1:12: 'log_level' contains a NUL "
	                                             "character"));
}

static void test_missing_required(void)
{
	struct config *cfg = NULL;

	CHECK(fails_with("routes:\n  - prefix: /\n    upstream: http://127.0.0.1:1\n"
	                 "    token: local\n",
	                 "t.yaml:2:5: route has no 'auth' (token, bearer or x-zt1-auth)"));
	CHECK(fails_with("routes:\n  - auth: token\n    upstream: http://127.0.0.1:1\n"
	                 "    token: local\n",
	                 "t.yaml:2:5: route has no 'prefix'"));
	CHECK(fails_with("tokens:\n  ci:\n    watch: true\n",
	                 "t.yaml:2:3: token 'ci' needs one of file, env, credential or value"));
	CHECK(fails_with("tokens:\n  ci:\n",
	                 "t.yaml:2:3: token 'ci' needs one of file, env, credential or value"));
	/* All four missing at once: four errors at the route. */
	CHECK(parse("routes:\n  - {}\n", false, &cfg) == ZT_ERR_CONFIG && cfg == NULL);
	CHECK(R.nerrors == 4 && reported("t.yaml:2:5: route has no 'upstream'") &&
	      reported("t.yaml:2:5: route has no 'token'"));
}

static void test_duplicates(void)
{
	CHECK(fails_with("log_level: info\nlog_level: debug\n",
	                 "t.yaml:2:1: duplicate key 'log_level' (first at 1:1)"));
	CHECK(fails_with("tokens:\n  ci:\n    env: A\n  ci:\n    env: B\n",
	                 "t.yaml:4:3: duplicate key 'ci' (first at 2:3)"));
	CHECK(fails_with("timeouts:\n  shutdown: 1s\n  shutdown: 2s\n",
	                 "t.yaml:3:3: duplicate key 'shutdown' (first at 2:3)"));
	CHECK(fails_with("tokens:\n  ci:\n    env: A\n    env: B\n",
	                 "t.yaml:4:5: duplicate key 'env' (first at 3:5)"));
	CHECK(fails_with(
	    "routes:\n"
	    "  - {prefix: /a/, upstream: 'http://127.0.0.1:1', token: local, auth: token}\n"
	    "  - {prefix: /b, upstream: 'http://127.0.0.1:1', token: local, auth: token}\n"
	    "  - {prefix: /a, upstream: 'http://127.0.0.1:2', token: local, auth: token}\n",
	    "t.yaml:4:6: duplicate route prefix '/a' (first at 2:5)"));
	CHECK(fails_with("listen: ['127.0.0.1:5', '[::1]:5', '127.0.0.1:5']\n",
	                 "t.yaml:1:36: listen address '127.0.0.1:5' is listed twice"));
	/* Port 0 asks for any free port: twice is two listeners. */
	CHECK(accepts("listen: ['127.0.0.1:0', '127.0.0.1:0']\n"));
}

static void test_unknown_token(void)
{
	CHECK(fails_with("routes:\n  - prefix: /\n    upstream: http://127.0.0.1:1\n"
	                 "    token: cetral\n    auth: token\n",
	                 "t.yaml:4:12: unknown token 'cetral'; did you mean 'central'?"));
	CHECK(fails_with("routes:\n  - prefix: /\n    upstream: http://127.0.0.1:1\n"
	                 "    token: nothing-like-it\n    auth: token\n",
	                 "t.yaml:4:12: unknown token 'nothing-like-it'; define it under tokens:"));
	CHECK(fails_with("routes:\n  - prefix: /\n    upstream: http://127.0.0.1:1\n"
	                 "    token: 'a b'\n    auth: token\n",
	                 "t.yaml:4:12: token 'a b' is not a valid name (1 to 64 of A-Z a-z 0-9 _ . "
	                 "-)"));
	/* Tokens defined after the routes that use them are found. */
	CHECK(accepts("routes:\n  - prefix: /\n    upstream: http://127.0.0.1:1\n"
	              "    token: later\n    auth: token\ntokens:\n  later: {env: LATER}\n"));
}

static void test_token_sources(void)
{
	CHECK(fails_with("tokens:\n  ci:\n    file: /a\n    env: B\n",
	                 "t.yaml:4:5: token 'ci' has both 'file' and 'env'; use only one"));
	CHECK(fails_with("tokens:\n  ci:\n    file: etc/ci.token\n",
	                 "t.yaml:3:11: file 'etc/ci.token' must be an absolute path"));
	CHECK(
	    fails_with("tokens:\n  ci:\n    env: 1ABC\n",
	               "t.yaml:3:10: env '1ABC' is not a variable name (letters, digits and '_')"));
	CHECK(
	    fails_with("tokens:\n  ci:\n    env: A-B\n",
	               "t.yaml:3:10: env 'A-B' is not a variable name (letters, digits and '_')"));
	CHECK(fails_with("tokens:\n  ci:\n    credential: a/b\n",
	                 "t.yaml:3:17: credential 'a/b' must be a file name in "
	                 "$CREDENTIALS_DIRECTORY, without '/'"));
	CHECK(fails_with("tokens:\n  ci:\n    credential: ..\n",
	                 "t.yaml:3:17: credential '..' must be a file name in "
	                 "$CREDENTIALS_DIRECTORY, without '/'"));
	/* Issue 15: a token pasted where its source's name goes is neither taken nor echoed. */
	CHECK(
	    fails_with("tokens:\n  t:\n    env: k3y9notarealtoken0123abcd1\n",
	               "t.yaml:3:10: env (hidden: looks like a token value): this is where the "
	               "name of the token's variable goes, not the token; put the value there and "
	               "name it here"));
	CHECK(
	    fails_with("tokens:\n  t:\n    file: k3y9notarealtoken0123abcd1\n",
	               "t.yaml:3:11: file '(hidden: looks like a token value)' must be an absolute "
	               "path"));
	CHECK(
	    fails_with("tokens:\n  'bad name':\n    env: A\n",
	               "t.yaml:2:3: token name 'bad name' is not valid (1 to 64 of A-Z a-z 0-9 _ . "
	               "-)"));
	CHECK(fails_with(
	    "tokens:\n  "
	    "a12345678-a12345678-a12345678-a12345678-a12345678-a12345678-abcde:\n"
	    "    env: A\n",
	    "t.yaml:2:3: token name "
	    "'a12345678-a12345678-a12345678-a12345678-a12345678-a12345678-abcd...' is not "
	    "valid (1 to 64 of A-Z a-z 0-9 _ . -)"));
	CHECK(accepts("tokens:\n  "
	              "a123456789a123456789a123456789a123456789a123456789a123456789abcd:\n"
	              "    env: A\n  a.b_c-D: {credential: x.token}\n"));

	/* watch is only for file and credential: a warning, and it is off. */
	{
		struct config *cfg = NULL;
		CHECK(parse("tokens:\n  ci:\n    watch: true\n    env: CI\n", false, &cfg) ==
		      ZT_OK);
		CHECK(R.nerrors == 0 && R.nwarnings == 1 &&
		      reported("t.yaml:3:5: warning: 'watch' has no effect for env tokens"));
		CHECK(cfg && !cfg_find_token(cfg, "ci")->watch);
		cfg_free(cfg);
		CHECK(parse("tokens:\n  ci:\n    watch: no\n    credential: ci\n", false, &cfg) ==
		      ZT_OK);
		CHECK(R.n == 0 && cfg && !cfg_find_token(cfg, "ci")->watch &&
		      cfg_find_token(cfg, "ci")->kind == TOKEN_SRC_CREDENTIAL);
		cfg_free(cfg);
	}
}

static bool no_report_has_secret(void)
{
	if (!any_report_contains(SECRET) && !any_report_contains("s3cr3t"))
		return true;
	dump_reports();
	return false;
}

static void test_inline_value(void)
{
	static const char text[] = "tokens:\n  ci:\n    value: " SECRET "\n";
	char path[128], want[512];
	struct config *cfg = NULL;
	char *printed;

	CHECK(fails_with(text, "t.yaml:3:12: inline token value in a file readable by group or "
	                       "others; run 'chmod 600 t.yaml' or use file:, env: or credential: "
	                       "instead"));
	CHECK(no_report_has_secret());

	CHECK(parse(text, true, &cfg) == ZT_OK && R.n == 0);
	if (cfg == NULL)
		return;
	CHECK(cfg_find_token(cfg, "ci")->kind == TOKEN_SRC_VALUE);
	CHECK_STR(cfg_find_token(cfg, "ci")->arg, SECRET);
	CHECK(!cfg_find_token(cfg, "ci")->watch);
	printed = print_to_string(cfg);
	CHECK(printed && strstr(printed, SECRET) == NULL);
	CHECK(printed && strstr(printed, "value: \"(inline, hidden)\" #") != NULL);
	cfg_free(cfg);
	/* The placeholder itself is refused with a clear message. */
	CHECK(parse(printed ? printed : "", true, &cfg) == ZT_ERR_CONFIG && R.nerrors == 1);
	CHECK(any_report_contains("value is the placeholder that --print-config shows"));
	free(printed);

	/* Bad inline values: the message never shows them. */
	CHECK(fails_with_p("tokens:\n  ci:\n    value: 's3cr3t with space'\n", true,
	                   "t.yaml:3:12: inline token value must be 1 to 4096 printable ASCII "
	                   "characters without spaces"));
	CHECK(fails_with_p("tokens:\n  ci:\n    value: \"s3cr3t\\x01\"\n", true,
	                   "t.yaml:3:12: inline token value must be 1 to 4096 printable ASCII "
	                   "characters without spaces"));
	CHECK(fails_with_p("tokens:\n  ci:\n    value: ''\n", true,
	                   "t.yaml:3:12: inline token value must be 1 to 4096 printable ASCII "
	                   "characters without spaces"));
	CHECK(no_report_has_secret());

	/* cfg_load takes privacy and mode from the file itself. */
	snprintf(path, sizeof(path), "%s/inline.yaml", tmpdir);
	write_file(path, text, 0644);
	memset(&R, 0, sizeof(R));
	CHECK(cfg_load(path, collect, &R, &cfg) == ZT_ERR_CONFIG && cfg == NULL);
	snprintf(want, sizeof(want),
	         "%s:3:12: inline token value in a file that group or others can read (mode 0644); "
	         "run 'chmod 600 %s' or use file:, env: or credential: instead",
	         path, path);
	CHECK(R.n == 1 && reported(want));
	CHECK(no_report_has_secret());
	chmod(path, 0640);
	memset(&R, 0, sizeof(R));
	CHECK(cfg_load(path, collect, &R, &cfg) == ZT_ERR_CONFIG && any_report_contains("0640"));
	chmod(path, 0600);
	memset(&R, 0, sizeof(R));
	CHECK(cfg_load(path, collect, &R, &cfg) == ZT_OK && R.n == 0);
	CHECK(cfg && strcmp(cfg_find_token(cfg, "ci")->arg, SECRET) == 0);
	cfg_free(cfg);
	unlink(path);
}

static const char full_config[] =
    "log_level: warn\n"
    "listen: ['127.0.0.1:0', '[::1]:0', '127.0.0.2:8080']\n"
    "timeouts: {client_idle: 2m, upstream_connect: 1500ms, upstream: 0, shutdown: 1h}\n"
    "limits: {max_connections: 7, replay_body: 3MiB}\n"
    "tokens:\n"
    "  local: {file: \"/tmp/with space/\\u00e9t\\u00e9 \\\"q\\\" #x\", watch: false}\n"
    "  ci: {credential: ci.token}\n"
    "  env-one: {env: ENV_ONE}\n"
    "  .dot: {env: DOT}\n"
    "  '-dash': {env: DASH}\n"
    "  '123': {env: NUM}\n"
    "routes:\n"
    "  - {prefix: /a, upstream: 'https://a.example:8443/base/', token: ci, auth: bearer}\n"
    "  - {prefix: /bb, upstream: 'http://[::1]:9993', token: local, auth: x-zt1-auth}\n"
    "  - {prefix: /, upstream: 'http://127.0.0.1:9993', token: .dot, auth: token}\n"
    "  - {prefix: /c/d/, upstream: 'https://10.1.2.3', token: '-dash', auth: token}\n"
    "  - {prefix: /x, upstream: 'https://h', token: '123', auth: token, ca_file: %s}\n";

static void test_print_round_trip(void)
{
	char text[sizeof(full_config) + 256], ca[128];
	struct config *cfg = NULL;
	char *printed;

	snprintf(ca, sizeof(ca), "%s/ca.pem", tmpdir);
	write_file(ca, "not really PEM\n", 0644);
	snprintf(text, sizeof(text), full_config, ca);
	CHECK(parse(text, false, &cfg) == ZT_OK && R.n == 0);
	dump_reports();
	if (cfg == NULL)
		return;
	CHECK(cfg->log_level == LOG_WARN && cfg->nlisten == 3);
	CHECK(cfg->client_idle_ms == 120000 && cfg->upstream_connect_ms == 1500);
	CHECK(cfg->upstream_ms == 0 && cfg->shutdown_ms == 3600000);
	CHECK(cfg->max_connections == 7 && cfg->replay_body == 3u << 20);
	CHECK_STR(cfg_find_token(cfg, "local")->arg, "/tmp/with space/\xc3\xa9t\xc3\xa9 \"q\" #x");
	CHECK_STR(cfg->routes[0].prefix, "/c/d");
	CHECK_STR(cfg->routes[0].upstream, "https://10.1.2.3");
	CHECK_STR(find_route(cfg, "/a")->upstream, "https://a.example:8443/base");
	CHECK_STR(find_route(cfg, "/x")->ca_file, ca);
	CHECK(round_trips(cfg));

	printed = print_to_string(cfg);
	CHECK(printed && strstr(printed, "  upstream_connect: 1500ms\n"));
	CHECK(printed && strstr(printed, "  client_idle: 120s\n"));
	CHECK(printed && strstr(printed, "  replay_body: 3MiB\n"));
	CHECK(printed && strstr(printed, "# built-in: ") != NULL);
	CHECK(printed &&
	      strstr(printed, "  - prefix: \"/c/d\"\n    upstream: \"https://10.1.2.3\"\n"));
	free(printed);
	cfg_free(cfg);
	unlink(ca);

	/* A path from the environment with bytes that are not UTF-8 still prints valid YAML. */
	setenv("ZEROTIER_HOME", "/tmp/\xff odd", 1);
	CHECK(cfg_load(NULL, NULL, NULL, &cfg) == ZT_OK);
	printed = cfg ? print_to_string(cfg) : NULL;
	CHECK(printed && strstr(printed, "\"/tmp/\\xff odd/authtoken.secret\""));
	cfg_free(cfg);
	cfg = NULL;
	CHECK(printed && parse(printed, false, &cfg) == ZT_OK);
	free(printed);
	cfg_free(cfg);
	setenv("ZEROTIER_HOME", tmpdir, 1);
}

static void test_route_sorting(void)
{
	static const char *const want[] = {"/ddd/e", "/bb", "/cc", "/a", "/z", "/"};
	struct config *cfg = NULL;

	CHECK(parse("routes:\n"
	            "  - {prefix: /a, upstream: 'https://x', token: local, auth: token}\n"
	            "  - {prefix: /bb, upstream: 'https://x', token: local, auth: token}\n"
	            "  - {prefix: /, upstream: 'https://x', token: local, auth: token}\n"
	            "  - {prefix: /z, upstream: 'https://x', token: local, auth: token}\n"
	            "  - {prefix: /cc, upstream: 'https://x', token: local, auth: token}\n"
	            "  - {prefix: /ddd/e, upstream: 'https://x', token: local, auth: token}\n",
	            false, &cfg) == ZT_OK);
	if (cfg == NULL)
		return;
	CHECK(cfg->nroutes == 6);
	for (size_t i = 0; i < 6 && i < cfg->nroutes; i++)
		CHECK_STR(cfg->routes[i].prefix, want[i]);
	cfg_free(cfg);
}

static void test_prefix_rules(void)
{
	static const char *const bad[][2] = {
	    {"central", "must start with '/'"},
	    {"/a//b", "must not contain '//'"},
	    {"/a/./b", "must not contain a '.' or '..' segment"},
	    {"/a/..", "must not contain a '.' or '..' segment"},
	    {"/.", "must not contain a '.' or '..' segment"},
	    {"/a?b", "must not contain '?', '#' or '%'"},
	    {"'/a#b'", "must not contain '?', '#' or '%'"},
	    {"/a%2f", "must not contain '?', '#' or '%'"},
	    {"'/a b'", "must not contain spaces, control, backslash or non-ASCII characters"},
	    {"'/a\\b'", "must not contain spaces, control, backslash or non-ASCII characters"},
	    {"/\xc3\xa9", "must not contain spaces, control, backslash or non-ASCII characters"},
	};
	char text[256], want[256];
	struct config *cfg = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
		         "routes:\n  - prefix: %s\n    upstream: https://x\n    token: local\n"
		         "    auth: token\n",
		         bad[i][0]);
		CHECK(parse(text, false, &cfg) == ZT_ERR_CONFIG && R.nerrors == 1);
		snprintf(want, sizeof(want), "t.yaml:2:13: prefix '");
		CHECK(strncmp(R.lines[0], want, strlen(want)) == 0);
		CHECK(strstr(R.lines[0], bad[i][1]) != NULL);
		if (R.nerrors != 1 || !strstr(R.lines[0], bad[i][1]))
			dump_reports();
	}
	CHECK(parse("routes:\n  - {prefix: /a.b/..c/.d/, upstream: 'https://x', token: local, "
	            "auth: token}\n",
	            false, &cfg) == ZT_OK);
	CHECK(cfg && strcmp(cfg->routes[0].prefix, "/a.b/..c/.d") == 0);
	cfg_free(cfg);
}

static void test_upstream_rules(void)
{
	static const char *const good[][2] = {
	    {"https://api.zerotier.com/", "https://api.zerotier.com"},
	    {"HTTPS://Example.COM", "https://Example.COM"},
	    {"http://[::1]:9993/base/", "http://[::1]:9993/base"},
	    {"http://127.0.0.1:65535//", "http://127.0.0.1:65535"},
	    {"https://h/a/b%20c/", "https://h/a/b%20c"},
	    {"http://localhost:1", "http://localhost:1"},
	};
	static const char *const bad[][2] = {
	    {"ftp://x", "must start with http:// or https://"},
	    {"api.zerotier.com", "must start with http:// or https://"},
	    {"https://", "has no host"},
	    {"https://:80", "has no host"},
	    {"https://user:pw@x", "must not contain user:password@"},
	    {"https://x/?a=1", "must not have a query or fragment"},
	    {"'https://x/#f'", "must not have a query or fragment"},
	    {"https://x:0", "has a port that is not 1 to 65535"},
	    {"https://x:65536", "has a port that is not 1 to 65535"},
	    {"'https://x:'", "has a port that is not 1 to 65535"},
	    {"https://x:000080", "has a port that is not 1 to 65535"},
	    {"https://[zz]:1", "has a bad IPv6 address"},
	    {"https://[::1", "has a '[' without ']'"},
	    {"https://[::1]x", "has text after ']'"},
	    {"https://999.1.1.1", "has a bad IPv4 address"},
	    {"https://a!b", "has a character that is not allowed in a host name"},
	    {"'https://a b'", "must not contain spaces, control or non-ASCII characters"},
	};
	char text[256];
	struct config *cfg = NULL;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text),
		         "routes:\n  - {prefix: /, upstream: '%s', token: local, auth: token}\n",
		         good[i][0]);
		CHECK(parse(text, false, &cfg) == ZT_OK);
		CHECK(cfg && strcmp(cfg->routes[0].upstream, good[i][1]) == 0);
		CHECK(cfg && cfg->routes[0].tls == (strncmp(good[i][1], "https", 5) == 0));
		if (cfg == NULL || strcmp(cfg->routes[0].upstream, good[i][1]) != 0)
			printf("#   %s -> %s\n", good[i][0],
			       cfg ? cfg->routes[0].upstream : "error");
		cfg_free(cfg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
		         "routes:\n  - prefix: /\n    upstream: %s\n    token: local\n"
		         "    auth: token\n",
		         bad[i][0]);
		CHECK(parse(text, false, &cfg) == ZT_ERR_CONFIG && R.nerrors == 1);
		CHECK(strncmp(R.lines[0], "t.yaml:3:15: upstream '", 23) == 0 &&
		      strstr(R.lines[0], bad[i][1]) != NULL);
		if (R.nerrors != 1 || !strstr(R.lines[0], bad[i][1]))
			dump_reports();
	}
	/* Plain http to another machine works, with a warning. */
	CHECK(parse("routes:\n  - {prefix: /, upstream: 'http://192.0.2.1', token: local, auth: "
	            "token}\n",
	            false, &cfg) == ZT_OK);
	CHECK(R.nerrors == 0 && R.nwarnings == 1 &&
	      strncmp(R.lines[0], "t.yaml:2:27: warning: upstream 'http://192.0.2.1' is plain http",
	              63) == 0);
	cfg_free(cfg);
}

static void test_listen_rules(void)
{
	struct config *cfg = NULL;

	/* A single address without the list. */
	CHECK(parse("listen: 127.0.0.1:0\n", false, &cfg) == ZT_OK && R.n == 0);
	CHECK(cfg && cfg->nlisten == 1 && cfg->listen[0].addr.ss_family == AF_INET);
	cfg_free(cfg);
	CHECK(parse("listen: '[::1]:65535'\n", false, &cfg) == ZT_OK && R.n == 0);
	CHECK(cfg && cfg->nlisten == 1 && cfg->listen[0].addr.ss_family == AF_INET6);
	cfg_free(cfg);
	CHECK(fails_with("listen: localhost:9994\n",
	                 "t.yaml:1:9: listen address 'localhost:9994' must use a numeric IPv4 "
	                 "address or a bracketed IPv6 address"));
	CHECK(fails_with("listen: 127.1:9994\n",
	                 "t.yaml:1:9: listen address '127.1:9994' must use a numeric IPv4 address "
	                 "or a bracketed IPv6 address"));
	CHECK(fails_with("listen: '::1:9994'\n",
	                 "t.yaml:1:9: listen address '::1:9994' needs brackets around an IPv6 "
	                 "address (e.g. [::1]:9994)"));
	CHECK(fails_with("listen: 127.0.0.1\n", "t.yaml:1:9: listen address '127.0.0.1' has no "
	                                        ":PORT (e.g. 127.0.0.1:9994)"));
	CHECK(fails_with("listen: '[::1]'\n",
	                 "t.yaml:1:9: listen address '[::1]' has no :PORT (e.g. [::1]:9994)"));
	CHECK(fails_with("listen: 127.0.0.1:65536\n", "t.yaml:1:9: listen address "
	                                              "'127.0.0.1:65536' has a port that is not 0 "
	                                              "to 65535"));
	CHECK(fails_with("listen: '127.0.0.1:-1'\n", "t.yaml:1:9: listen address '127.0.0.1:-1' "
	                                             "has a port that is not 0 to 65535"));
	CHECK(fails_with("listen: '[1.2.3.4]:1'\n",
	                 "t.yaml:1:9: listen address '[1.2.3.4]:1' has a bad IPv6 address"));
	/* Anything but loopback needs allow_remote and allow_from: see test_allow_remote. */
	CHECK(parse("listen:\n  - 0.0.0.0:9994\n", false, &cfg) == ZT_ERR_CONFIG);
	CHECK(reported("t.yaml:2:5: listen address '0.0.0.0:9994' is not a loopback address: "
	               "whoever can reach it can use your tokens; to allow it deliberately, set "
	               "allow_remote: true and list the networks that may connect in "
	               "allow_from"));
}

static void test_sizes(void)
{
	static const struct {
		const char *text;
		uint64_t want; /* UINT64_MAX: an error containing msg */
		const char *msg;
	} cases[] = {
	    {"0", 0, NULL},
	    {"1", 1, NULL},
	    {"100B", 100, NULL},
	    {"64K", 65536, NULL},
	    {"64KiB", 65536, NULL},
	    {"'2 MiB'", 2 << 20, NULL},
	    {"1G", 1u << 30, NULL},
	    {"1GiB", 1u << 30, NULL},
	    {"1073741824", 1u << 30, NULL},
	    {"1073741825", UINT64_MAX, "is larger than 1GiB"},
	    {"1025MiB", UINT64_MAX, "is larger than 1GiB"},
	    {"18446744073709551615", UINT64_MAX, "is larger than 1GiB"},
	    {"18446744073709551616", UINT64_MAX, "is too large"},
	    {"17179869184G", UINT64_MAX, "is too large"},
	    {"-1", UINT64_MAX, "is negative"},
	    {"10XB", UINT64_MAX, "has an unknown unit"},
	    {"10KB", UINT64_MAX, "has an unknown unit"},
	    {"10 kib", UINT64_MAX, "has an unknown unit"},
	    {"1.5MiB", UINT64_MAX, "must be a whole number"},
	    {"KiB", UINT64_MAX, "is not a number"},
	    {"''", UINT64_MAX, "is not a number"},
	};
	char text[128];
	struct config *cfg = NULL;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum zt_err rc;
		snprintf(text, sizeof(text), "limits:\n  replay_body: %s\n", cases[i].text);
		rc = parse(text, false, &cfg);
		if (cases[i].want != UINT64_MAX) {
			CHECK(rc == ZT_OK && cfg && cfg->replay_body == cases[i].want);
		} else {
			CHECK(rc == ZT_ERR_CONFIG && R.nerrors == 1);
			CHECK(strncmp(R.lines[0], "t.yaml:2:16: replay_body '", 26) == 0 &&
			      strstr(R.lines[0], cases[i].msg));
		}
		if ((rc == ZT_OK) != (cases[i].want != UINT64_MAX) ||
		    (rc != ZT_OK && !strstr(R.lines[0], cases[i].msg)))
			printf("#   case %s\n", cases[i].text), dump_reports();
		cfg_free(cfg);
	}
}

static void test_durations(void)
{
	static const struct {
		const char *key, *text;
		uint32_t want; /* UINT32_MAX: an error containing msg */
		const char *msg;
	} cases[] = {
	    {"shutdown", "0", 0, NULL},
	    {"shutdown", "500ms", 500, NULL},
	    {"shutdown", "10s", 10000, NULL},
	    {"shutdown", "10", 10000, NULL},
	    {"shutdown", "2m", 120000, NULL},
	    {"shutdown", "1h", 3600000, NULL},
	    {"shutdown", "24h", 86400000, NULL},
	    {"shutdown", "86400", 86400000, NULL},
	    {"shutdown", "'3 s'", 3000, NULL},
	    {"upstream", "0", 0, NULL},
	    {"upstream_connect", "1ms", 1, NULL},
	    {"client_idle", "1s", 1000, NULL},
	    {"shutdown", "86401", UINT32_MAX, "is longer than 24h"},
	    {"shutdown", "25h", UINT32_MAX, "is longer than 24h"},
	    {"shutdown", "99999999999999999999s", UINT32_MAX, "is too large"},
	    {"shutdown", "5124095576030432h", UINT32_MAX, "is too large"},
	    {"shutdown", "-5s", UINT32_MAX, "is negative"},
	    {"shutdown", "10d", UINT32_MAX, "has an unknown unit"},
	    {"shutdown", "10S", UINT32_MAX, "has an unknown unit"},
	    {"shutdown", "1.5s", UINT32_MAX, "must be a whole number"},
	    {"shutdown", "s", UINT32_MAX, "is not a number"},
	    {"client_idle", "999ms", UINT32_MAX, "is shorter than 1s"},
	    {"client_idle", "0", UINT32_MAX, "is shorter than 1s"},
	    {"upstream_connect", "0", UINT32_MAX, "is shorter than 1ms"},
	};
	char text[128], pos[64];
	struct config *cfg = NULL;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum zt_err rc;
		snprintf(text, sizeof(text), "timeouts:\n  %s: %s\n", cases[i].key, cases[i].text);
		snprintf(pos, sizeof(pos), "t.yaml:2:%zu: %s '", strlen(cases[i].key) + 5,
		         cases[i].key);
		rc = parse(text, false, &cfg);
		if (cases[i].want != UINT32_MAX) {
			CHECK(rc == ZT_OK && cfg);
			CHECK(cfg && (cfg->shutdown_ms == cases[i].want ||
			              cfg->upstream_ms == cases[i].want ||
			              cfg->upstream_connect_ms == cases[i].want ||
			              cfg->client_idle_ms == cases[i].want));
		} else {
			CHECK(rc == ZT_ERR_CONFIG && R.nerrors == 1);
			CHECK(strncmp(R.lines[0], pos, strlen(pos)) == 0 &&
			      strstr(R.lines[0], cases[i].msg));
		}
		if ((rc == ZT_OK) != (cases[i].want != UINT32_MAX) ||
		    (rc != ZT_OK && !strstr(R.lines[0], cases[i].msg)))
			printf("#   case %s: %s\n", cases[i].key, cases[i].text), dump_reports();
		cfg_free(cfg);
	}
}

static void test_many_errors(void)
{
	struct config *cfg = (struct config *)&cfg;

	/* Problems are reported in file order, even those found at the end. */
	CHECK(parse("routes:\n"                                           /* 1 */
	            "  - prefix: nope\n"                                  /* 2 */
	            "    upstream: https://x\n"                           /* 3 */
	            "    token: missing\n"                                /* 4 */
	            "    auth: token\n"                                   /* 5 */
	            "log_level: loud\n"                                   /* 6 */
	            "listen: [127.0.0.1:1, 'localhost:2', '0.0.0.0:3']\n" /* 7 */
	            "timeouts:\n"                                         /* 8 */
	            "  shutdown: forever\n"                               /* 9 */
	            "  bogus: 1\n"                                        /* 10 */
	            "limits:\n"                                           /* 11 */
	            "  max_connections: 0\n",                             /* 12 */
	            false, &cfg) == ZT_ERR_CONFIG);
	CHECK(cfg == NULL);
	CHECK(R.nerrors == 8 && R.nwarnings == 0 && R.n == 8);
	CHECK(R.n == 8 && strncmp(R.lines[0], "t.yaml:2:13: prefix 'nope'", 26) == 0);
	CHECK(R.n == 8 && strncmp(R.lines[1], "t.yaml:4:12: unknown token 'missing'", 36) == 0);
	CHECK(R.n == 8 && strncmp(R.lines[2], "t.yaml:6:12: unknown log_level 'loud'", 37) == 0);
	CHECK(R.n == 8 &&
	      strncmp(R.lines[3], "t.yaml:7:23: listen address 'localhost:2'", 41) == 0);
	CHECK(R.n == 8 &&
	      strncmp(R.lines[4], "t.yaml:7:38: listen address '0.0.0.0:3' is not a loopback",
	              57) == 0);
	CHECK(R.n == 8 && strncmp(R.lines[5], "t.yaml:9:13: shutdown 'forever'", 31) == 0);
	CHECK(R.n == 8 && strncmp(R.lines[6], "t.yaml:10:3: unknown key 'bogus'", 32) == 0);
	CHECK(R.n == 8 && strncmp(R.lines[7], "t.yaml:12:20: max_connections '0'", 33) == 0);

	/* A flood of problems is capped, and says so. */
	{
		size_t n = 300 * 16 + 1;
		char *big = malloc(n), *p = big;
		for (int i = 0; i < 300; i++)
			p += sprintf(p, "unknown%04d: 1\n", i);
		CHECK(parse(big, false, &cfg) == ZT_ERR_CONFIG && R.nerrors == 201);
		CHECK(R.n == 201 && strstr(R.lines[0], "t.yaml:1:1: unknown key 'unknown0000'"));
		CHECK(R.n == 201 &&
		      strcmp(R.lines[200], "t.yaml: 100 more problems not shown") == 0);
		free(big);
	}
}

static void test_syntax_errors(void)
{
	CHECK(fails_with("listen: [127.0.0.1:1\nlog_level: info\n",
	                 "t.yaml:2:10: did not find expected ',' or ']' (while parsing a flow "
	                 "sequence at 1:9)"));
	CHECK(fails_with("log_level: info\n  bad: indent\n",
	                 "t.yaml:2:6: mapping values are not allowed in this context"));
	CHECK(fails_with("a:\n\tb: 1\n",
	                 "t.yaml:2:1: found character that cannot start any token (while scanning "
	                 "for the next token at 2:1)"));
	CHECK(fails_with("log_level: info\nx: \xff\n",
	                 "t.yaml:2:4: invalid leading UTF-8 octet (0xff)"));
	{
		static const char nul[] = "log_level: info\nx: a\0b\n";
		struct config *cfg = NULL;
		memset(&R, 0, sizeof(R));
		CHECK(cfg_parse("t.yaml", nul, sizeof(nul) - 1, false, collect, &R, &cfg) ==
		      ZT_ERR_CONFIG);
		CHECK(R.n == 1 &&
		      reported("t.yaml:2:5: control characters are not allowed (0x00)"));
	}
	CHECK(fails_with("log_level: info\n---\nlog_level: debug\n",
	                 "t.yaml:3:1: a second YAML document; the file must hold only one"));
	CHECK(fails_with("log_level: *nothing\n", "t.yaml:1:12: found undefined alias"));
}

static void test_load_errors(void)
{
	char path[128], want[256];
	struct config *cfg = (struct config *)&cfg;
	char *big;
	FILE *f;

	snprintf(path, sizeof(path), "%s/does-not-exist.yaml", tmpdir);
	memset(&R, 0, sizeof(R));
	CHECK(cfg_load(path, collect, &R, &cfg) == ZT_ERR_CONFIG && cfg == NULL);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
	CHECK(R.n == 1 && reported(want));

	memset(&R, 0, sizeof(R));
	CHECK(cfg_load(tmpdir, collect, &R, &cfg) == ZT_ERR_CONFIG);
	snprintf(want, sizeof(want), "%s: not a regular file: a directory", tmpdir);
	CHECK(R.n == 1 && reported(want));

	/* Issue 15: a FIFO is refused at once, not waited on. */
	snprintf(path, sizeof(path), "%s/fifo.yaml", tmpdir);
	CHECK(mkfifo(path, 0600) == 0);
	memset(&R, 0, sizeof(R));
	CHECK(cfg_load(path, collect, &R, &cfg) == ZT_ERR_CONFIG);
	snprintf(want, sizeof(want), "%s: not a regular file: a FIFO", path);
	CHECK(R.n == 1 && reported(want));
	unlink(path);

	/* Exactly 1 MiB is accepted; one byte more is not. */
	snprintf(path, sizeof(path), "%s/big.yaml", tmpdir);
	big = malloc(1024 * 1024 + 2);
	memset(big, '#', 1024 * 1024);
	for (size_t i = 63; i < 1024 * 1024; i += 64)
		big[i] = '\n';
	big[1024 * 1024] = '\0';
	f = fopen(path, "w");
	fputs(big, f);
	fclose(f);
	memset(&R, 0, sizeof(R));
	CHECK(cfg_load(path, collect, &R, &cfg) == ZT_OK && R.n == 0);
	cfg_free(cfg);
	f = fopen(path, "a");
	fputc('\n', f);
	fclose(f);
	memset(&R, 0, sizeof(R));
	CHECK(cfg_load(path, collect, &R, &cfg) == ZT_ERR_CONFIG && cfg == NULL);
	snprintf(want, sizeof(want), "%s: file is larger than 1 MiB", path);
	CHECK(R.n == 1 && reported(want));
	free(big);
	unlink(path);
}

static void test_ca_file(void)
{
	char ca[128], text[512], want[512];
	struct config *cfg = NULL;

	snprintf(ca, sizeof(ca), "%s/missing.pem", tmpdir);
	snprintf(
	    text, sizeof(text),
	    "routes:\n  - prefix: /\n    upstream: https://h\n    token: local\n    auth: token\n"
	    "    ca_file: %s\n",
	    ca);
	snprintf(want, sizeof(want), "t.yaml:6:14: ca_file '%s': No such file or directory", ca);
	CHECK(fails_with(text, want));

	snprintf(
	    text, sizeof(text),
	    "routes:\n  - prefix: /\n    upstream: https://h\n    token: local\n    auth: token\n"
	    "    ca_file: %s\n",
	    tmpdir);
	snprintf(want, sizeof(want), "t.yaml:6:14: ca_file '%s' is not a regular file", tmpdir);
	CHECK(fails_with(text, want));

	CHECK(
	    fails_with("routes:\n  - {prefix: /, upstream: 'https://h', token: local, auth: token, "
	               "ca_file: ca.pem}\n",
	               "t.yaml:2:76: ca_file 'ca.pem' must be an absolute path"));

	write_file(ca, "pem\n", 0644);
	snprintf(text, sizeof(text),
	         "routes:\n  - prefix: /\n    upstream: http://127.0.0.1:1\n    token: local\n"
	         "    auth: token\n    ca_file: %s\n",
	         ca);
	CHECK(parse(text, false, &cfg) == ZT_OK && R.nerrors == 0 &&
	      reported("t.yaml:6:5: warning: ca_file has no effect for an http:// upstream"));
	CHECK(cfg && strcmp(cfg->routes[0].ca_file, ca) == 0);
	cfg_free(cfg);
	unlink(ca);
}

/* Hostile input must not crash, hang or leak (run under ASan/UBSan). */
static void test_garbage(void)
{
	static const char *const nasty[] = {
	    "routes: &r [*r]\n",
	    "tokens: &t {x: *t}\n",
	    "&a {timeouts: *a, limits: *a, tokens: *a, routes: [*a]}\n",
	    "listen: &l [*l, *l]\n",
	    "? [a, b]\n: c\n",
	    "!!binary aGVsbG8=\n",
	    "%YAML 1.1\n---\nlog_level: info\n",
	    "\xef\xbb\xbflog_level: info\n",
	    "\xff\xfe\x00\x00",
	    "{{{{{{{{{{{{{{{{",
	    "tokens:\n  ? {a: b}\n  : {env: X}\n",
	    "routes:\n  - {prefix: /, upstream: \"https://x\\0y\", token: local, auth: token}\n",
	    "tokens: {\"a\\0b\": {env: X}}\n",
	    "- - - - - - - - - - - -\n",
	};
	static const char yamlish[] = "abc: -[]{}\n,'\"#&*!|>\\ lt";
	struct config *cfg = NULL;
	char buf[4096];
	uint32_t seed = 12345;
	char *deep;
	size_t n = 100000;

	for (size_t i = 0; i < sizeof(nasty) / sizeof(nasty[0]); i++) {
		enum zt_err rc = parse(nasty[i], false, &cfg);
		CHECK(rc == ZT_OK || rc == ZT_ERR_CONFIG);
		CHECK((rc == ZT_OK) == (cfg != NULL));
		CHECK(rc == ZT_OK || R.nerrors > 0);
		cfg_free(cfg);
	}
	for (int round = 0; round < 200; round++) {
		size_t len = (size_t)(round * 37 % (int)sizeof(buf));
		enum zt_err rc;
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			/* Odd rounds: any byte. Even rounds: YAML punctuation, to get further. */
			buf[i] = round % 2 ? (char)(seed >> 16) : yamlish[(seed >> 16) % 25];
		}
		memset(&R, 0, sizeof(R));
		rc = cfg_parse("t.yaml", buf, len, round % 3 == 0, collect, &R, &cfg);
		CHECK(rc == ZT_OK || rc == ZT_ERR_CONFIG);
		cfg_free(cfg);
	}
	deep = malloc(n + 1);
	memset(deep, '[', n);
	deep[n] = '\0';
	CHECK(parse(deep, false, &cfg) == ZT_ERR_CONFIG);
	free(deep);
}

static void test_names(void)
{
	CHECK_STR(cfg_auth_name(AUTH_TOKEN), "token");
	CHECK_STR(cfg_auth_name(AUTH_BEARER), "bearer");
	CHECK_STR(cfg_auth_name(AUTH_X_ZT1_AUTH), "x-zt1-auth");
	CHECK_STR(cfg_token_kind_name(TOKEN_SRC_FILE), "file");
	CHECK_STR(cfg_token_kind_name(TOKEN_SRC_ENV), "env");
	CHECK_STR(cfg_token_kind_name(TOKEN_SRC_CREDENTIAL), "credential");
	CHECK_STR(cfg_token_kind_name(TOKEN_SRC_VALUE), "value");
	cfg_free(NULL);
}

static const char access_example[] =
    "listen:\n"
    "  - 127.0.0.1:9994\n"
    "  - 0.0.0.0:9995\n"
    "  - unix:/run/ztp/a.sock\n"
    "  - {unix: /run/ztp/b.sock, mode: '660', owner: root, group: 0, allow_uids: [0, root, 7],\n"
    "     allow_gids: 5}\n"
    "allow_remote: yes\n"
    "allow_from: [10.147.17.0/24, '127.0.0.1', 'fd00::/8']\n"
    "allowed_hosts: [proxy.lan, 'box.example:8080']\n"
    "allowed_origins: 'http://localhost:3000'\n"
    "timeouts: {client_header: 2s, client_body: 3m}\n"
    "limits: {max_header_size: 4KiB, max_body: 1MiB}\n"
    "routes:\n"
    "  - prefix: /central\n"
    "    upstream: https://api.zerotier.com\n"
    "    token: central\n"
    "    auth: token\n"
    "    read_only: true\n"
    "    allow_paths: ['/central/api/v1/network/%38056c2e21c000001*', '/a%2fb']\n"
    "    deny_paths: [/central/api/v1/user*]\n"
    "    max_body: 0\n"
    "  - prefix: /\n"
    "    upstream: http://127.0.0.1:9993\n"
    "    token: local\n"
    "    auth: x-zt1-auth\n"
    "    methods: [GET, POST]\n"
    "    allow_uids: [0]\n";

static void test_access_keys(void)
{
	struct config *cfg = NULL;
	const struct cfg_route *r;
	char buf[64];

	CHECK(parse(access_example, false, &cfg) == ZT_OK);
	CHECK(R.n == 0);
	dump_reports();
	if (cfg == NULL)
		return;
	CHECK(cfg->nlisten == 4);
	CHECK_STR(cfg->listen[2].text, "unix:/run/ztp/a.sock");
	CHECK(cfg->listen[2].addr.ss_family == AF_UNIX && cfg->listen[2].mode == 0600);
	CHECK(cfg->listen[2].owner == -1 && cfg->listen[2].group == -1);
	CHECK_STR(cfg->listen[3].text, "{unix: \"/run/ztp/b.sock\", mode: \"0660\", owner: 0, "
	                               "group: 0, allow_uids: [0, 0, 7], allow_gids: [5]}");
	CHECK(cfg->listen[3].mode == 0660 && cfg->listen[3].allow_uids.n == 3);
	CHECK(cfg->allow_remote && cfg->allow_from.n == 3);
	acc_cidr_format(&cfg->allow_from.v[1], buf, sizeof(buf));
	CHECK_STR(buf, "127.0.0.1/32");
	CHECK(cfg->allowed_hosts.n == 2 && cfg->allowed_origins.n == 1);
	CHECK(cfg->client_header_ms == 2000 && cfg->client_body_ms == 180000);
	CHECK(cfg->max_header_size == 4096 && cfg->max_body == 1048576);
	r = find_route(cfg, "/central");
	CHECK(r && r->read_only && r->methods.n == 0 && r->max_body == 0);
	/* Patterns are stored normalised: %38 is '8', %2f stays (upper-cased). */
	CHECK(r && r->allow_paths.n == 2);
	CHECK(r && r->allow_paths.n == 2 &&
	      strcmp(r->allow_paths.v[0], "/central/api/v1/network/8056c2e21c000001*") == 0);
	CHECK(r && r->allow_paths.n == 2 && strcmp(r->allow_paths.v[1], "/a%2Fb") == 0);
	r = find_route(cfg, "/");
	CHECK(r && r->methods.n == 2 && r->allow_uids.n == 1 && r->max_body == 1048576);
	CHECK(round_trips(cfg));
	cfg_free(cfg);

	/* Defaults. */
	CHECK(parse("", true, &cfg) == ZT_OK);
	if (cfg != NULL) {
		CHECK(!cfg->allow_remote && cfg->allow_from.n == 0 && cfg->allowed_hosts.n == 0);
		CHECK(cfg->client_header_ms == 10000 && cfg->client_body_ms == 60000);
		CHECK(cfg->max_header_size == 16384 && cfg->max_body == 16u << 20);
		CHECK(cfg->routes[0].max_body == 16u << 20 && cfg->routes[0].methods.n == 0);
		CHECK(round_trips(cfg));
	}
	cfg_free(cfg);
}

static void test_access_errors(void)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
	    {"allow_remote: true\n",
	     "t.yaml:1:1: allow_remote needs allow_from, the networks that may connect"},
	    {"listen: ['[::]:1']\nallow_from: ['::/0']\n",
	     "t.yaml:1:10: listen address '[::]:1' is not a loopback address"},
	    {"allow_from: [10.1.2.3/8]\n",
	     "t.yaml:1:14: allow_from network '10.1.2.3/8' has address bits set after the prefix "
	     "length"},
	    {"allow_from: [10.0.0.0/33]\n", "has a prefix length that is not 0 to 32"},
	    {"allow_from: [localhost]\n", "is not an IPv4 or IPv6 address"},
	    {"allowed_hosts: ['a/b']\n", "allowed host 'a/b' must be a host name or address"},
	    {"allowed_hosts: ['a b']\n", "allowed host 'a b' has a character that is not allowed"},
	    {"allowed_origins: ['localhost:3000']\n",
	     "allowed origin 'localhost:3000' is not an origin such as http://localhost:3000"},
	    {"allowed_origins: ['http://x/']\n", "must be scheme://host[:port] alone"},
	    {"allowed_origins: {a: 1}\n", "'allowed_origins' must be a list of origins such as"},
	    {"allowed_hosts: [[a]]\n", "an entry of 'allowed_hosts' must be a string, not a list"},
	    {"listen: [unix:relative.sock]\n",
	     "unix socket 'relative.sock' must be an absolute file"},
	    {"listen: "
	     "['unix:/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "aaaaaaaaaaaaaaaaaaaaaaaaa.sock']\n",
	     "must be an absolute file path of at most 90 bytes"},
	    {"listen: [unix:/x.sock, {unix: /x.sock, mode: '0660'}]\n", "is listed twice"},
	    {"listen: [{mode: '0660'}]\n", "t.yaml:1:10: listen socket has no 'unix'"},
	    {"listen: [{unix: /x.sock, mode: '0800'}]\n",
	     "mode '0800' must be octal permission bits such as \"0660\""},
	    {"listen: [{unix: /x.sock, mode: '01777'}]\n", "must be octal permission bits"},
	    {"listen: [{unix: /x.sock, owner: no-such-user-xyz}]\n",
	     "unknown user 'no-such-user-xyz'"},
	    {"listen: [{unix: /x.sock, group: no-such-group-xyz}]\n",
	     "unknown group 'no-such-group-xyz'"},
	    {"listen: [{unix: /x.sock, allow_uids: []}]\n",
	     "'allow_uids' is an empty list, which would refuse everything"},
	    {"listen: [{unix: /x.sock, allow_uid: [0]}]\n",
	     "unknown key 'allow_uid' in listen socket; did you mean 'allow_uids'?"},
	    {"routes: [{prefix: /, upstream: 'http://127.0.0.1:1', token: local, auth: token, "
	     "methods: [get]}]\n",
	     "method 'get' must be written in upper case"},
	    {"routes: [{prefix: /, upstream: 'http://127.0.0.1:1', token: local, auth: token, "
	     "methods: ['G T']}]\n",
	     "method 'G T' is not an HTTP method name"},
	    {"routes: [{prefix: /, upstream: 'http://127.0.0.1:1', token: local, auth: token, "
	     "methods: [GET], read_only: true}]\n",
	     "route has both read_only and methods"},
	    {"routes: [{prefix: /, upstream: 'http://127.0.0.1:1', token: local, auth: token, "
	     "deny_paths: ['x*']}]\n",
	     "deny_paths pattern 'x*' must start with '/'"},
	    {"routes: [{prefix: /, upstream: 'http://127.0.0.1:1', token: local, auth: token, "
	     "allow_paths: ['/a%zz']}]\n",
	     "allow_paths pattern '/a%zz' has a '%' that is not followed by two hex digits"},
	    {"routes: [{prefix: /, upstream: 'http://127.0.0.1:1', token: local, auth: token, "
	     "max_body: 2GiB}]\n",
	     "max_body '2GiB' is larger than 1GiB"},
	    {"limits: {max_header_size: 100}\n", "max_header_size '100' is smaller than 1KiB"},
	    {"timeouts: {client_header: 0}\n", "client_header '0' is shorter than 1s"},
	};
	struct config *cfg = NULL;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse(cases[i].text, true, &cfg) != ZT_ERR_CONFIG ||
		    !any_report_contains(cases[i].want)) {
			printf("# case %zu: want '%s'\n", i, cases[i].want);
			dump_reports();
			CHECK(0);
		}
		cfg_free(cfg);
		cfg = NULL;
	}
	/* Deliberately remote: both keys, and a warning when it changes nothing. */
	CHECK(accepts("listen: ['0.0.0.0:1']\nallow_remote: true\nallow_from: [10.0.0.0/8]\n"));
	CHECK(parse("allow_remote: true\nallow_from: [10.0.0.0/8]\n", true, &cfg) == ZT_OK &&
	      R.nwarnings == 1 && any_report_contains("allow_remote has no effect"));
	cfg_free(cfg);
	CHECK(parse("listen: [{unix: /x.sock, mode: '0666'}]\n", true, &cfg) == ZT_OK &&
	      any_report_contains("t.yaml:1:26: warning: mode 0666 lets every local user connect"));
	cfg_free(cfg);
	CHECK(
	    parse("routes: [{prefix: /, upstream: 'http://127.0.0.1:1', token: local, auth: token, "
	          "allow_uids: [0]}]\n",
	          true, &cfg) == ZT_OK &&
	    any_report_contains("but no listen address is a unix socket"));
	cfg_free(cfg);
}

/* A config file holding an inline token must also be safe from writers (relayd's rule). */
static void test_inline_value_secrecy(void)
{
	static const char text[] = "tokens:\n  ci:\n    value: " SECRET "\n";
	char path[128], want[1024];
	struct config *cfg = NULL;

	snprintf(path, sizeof(path), "%s/secrecy.yaml", tmpdir);
	write_file(path, text, 0620);
	memset(&R, 0, sizeof(R));
	CHECK(cfg_load(path, collect, &R, &cfg) == ZT_ERR_CONFIG);
	snprintf(want, sizeof(want),
	         "%s:3:12: inline token value in a file that is not safe: %s can be written by "
	         "group or others (owner root (uid 0), mode 0620); run 'chmod go-w %s'",
	         path, path, path);
	CHECK(geteuid() != 0 || reported(want));
	chmod(path, 0600);
	CHECK(chown(path, 4321, 0) == 0 || geteuid() != 0);
	memset(&R, 0, sizeof(R));
	CHECK(cfg_load(path, collect, &R, &cfg) == ZT_ERR_CONFIG || geteuid() != 0);
	CHECK(geteuid() != 0 ||
	      any_report_contains("belongs to uid 4321, neither root nor the user"));
	CHECK(no_report_has_secret());
	CHECK(chown(path, geteuid(), 0) == 0 || geteuid() != 0);
	memset(&R, 0, sizeof(R));
	CHECK(cfg_load(path, collect, &R, &cfg) == ZT_OK);
	cfg_free(cfg);
}

int main(void)
{
	char cmd[128];
	int rc;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ztp-test-config-XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 99;
	}
	setenv("ZEROTIER_HOME", tmpdir, 1);

	RUN(test_issue_example);
	RUN(test_example_file);
	RUN(test_defaults);
	RUN(test_builtin_tokens);
	RUN(test_port_file);
	RUN(test_connection_policy);
	RUN(test_zerotier_home);
	RUN(test_unknown_keys);
	RUN(test_wrong_types);
	RUN(test_bad_values);
	RUN(test_missing_required);
	RUN(test_duplicates);
	RUN(test_unknown_token);
	RUN(test_token_sources);
	RUN(test_inline_value);
	RUN(test_print_round_trip);
	RUN(test_route_sorting);
	RUN(test_prefix_rules);
	RUN(test_upstream_rules);
	RUN(test_listen_rules);
	RUN(test_sizes);
	RUN(test_durations);
	RUN(test_many_errors);
	RUN(test_syntax_errors);
	RUN(test_load_errors);
	RUN(test_ca_file);
	RUN(test_garbage);
	RUN(test_names);
	RUN(test_access_keys);
	RUN(test_access_errors);
	RUN(test_inline_value_secrecy);

	rc = CHECK_DONE();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpdir);
	return rc;
}
