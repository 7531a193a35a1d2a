/*
 * Every key the configuration parser accepts is documented, in both places:
 *
 *   man/zt-token-proxy.yaml.5  an item ".It Cm PATH" with the key's full path:
 *                              timeouts.client_idle, listen[].mode,
 *                              tokens.<name>.file, routes[].prefix
 *   config/REFERENCE.md        a "## " heading that names the top-level key in
 *                              backquotes; a key below it is a "| `KEY` |" table
 *                              row in that heading's section
 *
 * The key list is the parser's own (cfg_each_key walks its tables), so a key
 * added to a table without documentation fails here, naming the key and the
 * file. Usage: test_config_docs [MAN5 REFERENCE] (default: the source tree's).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"

#define DOC_MAX     (1024 * 1024)
#define KEYS_MAX    256
#define KEY_MAX_LEN 256

static const char *man5_path = ZTP_SOURCE_ROOT "/man/zt-token-proxy.yaml.5";
static const char *reference_path = ZTP_SOURCE_ROOT "/config/REFERENCE.md";

static char keys[KEYS_MAX][KEY_MAX_LEN];
static size_t nkeys;

static void collect_key(void *arg, const char *path)
{
	(void)arg;
	if (nkeys < KEYS_MAX)
		snprintf(keys[nkeys++], sizeof(keys[0]), "%s", path);
}

static bool have_key(const char *path)
{
	for (size_t i = 0; i < nkeys; i++)
		if (strcmp(keys[i], path) == 0)
			return true;
	return false;
}

/* The whole file, NUL-terminated; NULL (said why) when it cannot be read. Caller frees. */
static char *read_doc(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(DOC_MAX + 1);
	size_t n = 0;

	if (f == NULL || buf == NULL) {
		printf("# %s: cannot read it\n", path);
		if (f)
			fclose(f);
		free(buf);
		return NULL;
	}
	n = fread(buf, 1, DOC_MAX, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* The start of the line after the one at line, or NULL at the end. */
static const char *next_line(const char *line)
{
	const char *nl = strchr(line, '\n');

	return nl ? nl + 1 : NULL;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A line ".It Cm PATH", alone or followed by the value's description. */
static bool man_documents(const char *doc, const char *path)
{
	size_t n = strlen(path);

	for (const char *l = doc; l; l = next_line(l))
		if (starts_with(l, ".It Cm ") && strncmp(l + 7, path, n) == 0 &&
		    (l[7 + n] == ' ' || l[7 + n] == '\n' || l[7 + n] == '\0'))
			return true;
	return false;
}

/* Whether the line at l, up to its end, contains s. */
static bool line_has(const char *l, const char *s)
{
	const char *end = strchr(l, '\n'), *hit = strstr(l, s);

	return hit && (end == NULL || hit < end);
}

/* The key's path as the markdown names it: "routes[].prefix" -> "routes", "prefix". */
static size_t path_parts(const char *path, char parts[][KEY_MAX_LEN], size_t cap)
{
	char copy[KEY_MAX_LEN];
	size_t n = 0;

	snprintf(copy, sizeof(copy), "%s", path);
	for (char *save, *p = strtok_r(copy, ".", &save); p && n < cap;
	     p = strtok_r(NULL, ".", &save)) {
		size_t len = strlen(p);

		if (strcmp(p, "<name>") == 0)
			continue;
		if (len >= 2 && strcmp(p + len - 2, "[]") == 0)
			p[len - 2] = '\0';
		snprintf(parts[n++], KEY_MAX_LEN, "%s", p);
	}
	return n;
}

/* In a "## " section naming parts[0], a "| `part` |" row for each further part. */
static bool reference_documents(const char *doc, const char *path)
{
	char parts[4][KEY_MAX_LEN], want[KEY_MAX_LEN + 8];
	size_t nparts = path_parts(path, parts, 4);

	snprintf(want, sizeof(want), "`%s`", parts[0]);
	for (const char *h = doc; h; h = next_line(h)) {
		size_t found = 1;

		if (!starts_with(h, "## ") || !line_has(h, want))
			continue;
		for (size_t i = 1; i < nparts; i++) {
			char row[KEY_MAX_LEN + 8];

			snprintf(row, sizeof(row), "| `%s` |", parts[i]);
			for (const char *l = next_line(h); l && !starts_with(l, "## ");
			     l = next_line(l))
				if (starts_with(l, row)) {
					found++;
					break;
				}
		}
		if (found == nparts)
			return true;
	}
	return false;
}

static void key_list_is_the_parsers(void)
{
	static const char *const expected[] = {
	    "log_level",
	    "timeouts",
	    "timeouts.upstream_connect",
	    "limits.max_body",
	    "listen",
	    "listen[].unix",
	    "listen[].mode",
	    "tokens.<name>.file",
	    "tokens.<name>.watch",
	    "routes[].prefix",
	    "routes[].max_body",
	    "status.prefix",
	    "status.listen",
	    "access_log",
	    "allowed_origins",
	};

	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
		if (!have_key(expected[i])) {
			printf("# cfg_each_key did not list '%s'\n", expected[i]);
			CHECK(0);
		}
	/* A unix socket's keys are listed once, under listen. */
	CHECK(!have_key("status.listen[].unix"));
	CHECK(nkeys > 40 && nkeys < KEYS_MAX);
}

/* The checks can fail: a key missing, or in another key's section, is not documented. */
static void checks_tell_missing_keys(void)
{
	static const char man[] = ".Bl -tag\n"
	                          ".It Cm timeouts.client_idle Ar duration\n"
	                          "Close it.\n"
	                          ".It Cm routes[].prefix\n"
	                          ".El\n"
	                          "See timeouts.upstream in the text.\n";
	static const char md[] = "# Reference\n"
	                         "## `timeouts`\n"
	                         "| `client_idle` | `60s` |\n"
	                         "## `status`\n"
	                         "| `prefix` | path |\n"
	                         "## `allow_remote` and `allow_from`\n"
	                         "| `allow_remote` | bool |\n";

	CHECK(man_documents(man, "timeouts.client_idle"));
	CHECK(man_documents(man, "routes[].prefix"));
	CHECK(!man_documents(man, "timeouts.upstream"));
	CHECK(!man_documents(man, "timeouts.client"));
	CHECK(!man_documents(man, "routes"));
	CHECK(reference_documents(md, "timeouts"));
	CHECK(reference_documents(md, "timeouts.client_idle"));
	CHECK(reference_documents(md, "status.prefix"));
	CHECK(reference_documents(md, "allow_from"));
	CHECK(!reference_documents(md, "timeouts.upstream"));
	CHECK(!reference_documents(md, "routes[].prefix"));
	CHECK(!reference_documents(md, "routes"));
	CHECK(!reference_documents(md, "limits"));
}

static void man_page_documents_every_key(void)
{
	char *doc = read_doc(man5_path);

	CHECK(doc != NULL);
	for (size_t i = 0; doc && i < nkeys; i++)
		if (!man_documents(doc, keys[i])) {
			printf("# %s: key '%s' is not documented (no line '.It Cm %s')\n",
			       man5_path, keys[i], keys[i]);
			CHECK(0);
		}
	free(doc);
}

static void reference_documents_every_key(void)
{
	char *doc = read_doc(reference_path);

	CHECK(doc != NULL);
	for (size_t i = 0; doc && i < nkeys; i++)
		if (!reference_documents(doc, keys[i])) {
			char parts[4][KEY_MAX_LEN];
			size_t n = path_parts(keys[i], parts, 4);

			if (n == 1)
				printf("# %s: key '%s' is not documented (no '## ' heading naming "
				       "`%s`)\n",
				       reference_path, keys[i], parts[0]);
			else
				printf(
				    "# %s: key '%s' is not documented (no '| `%s` |' row under a "
				    "'## ' heading naming `%s`)\n",
				    reference_path, keys[i], parts[n - 1], parts[0]);
			CHECK(0);
		}
	free(doc);
}

int main(int argc, char **argv)
{
	if (argc == 3) {
		man5_path = argv[1];
		reference_path = argv[2];
	} else if (argc != 1) {
		fprintf(stderr, "usage: %s [MAN5 REFERENCE]\n", argv[0]);
		return 64;
	}
	cfg_each_key(collect_key, NULL);
	RUN(key_list_is_the_parsers);
	RUN(checks_tell_missing_keys);
	RUN(man_page_documents_every_key);
	RUN(reference_documents_every_key);
	return CHECK_DONE();
}
