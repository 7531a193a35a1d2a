/*
 * `zt-token-proxy status`: asks a running daemon for its status page and
 * prints it, as a table for a person or as JSON for scripts. The exit
 * status says whether the daemon is healthy, so that `status && ...` and
 * monitoring checks need no parsing.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "sbuf.h"
#include "status.h"

#define DEFAULT_URL "http://127.0.0.1:9994/_proxy/status"
#define TIMEOUT_MS  5000
#define BODY_MAX    (4u * 1024 * 1024)
#define URL_MAX     4096

/* Exit statuses; 64 and 69 as in sysexits(3). */
#define EXIT_HEALTHY     0
#define EXIT_UNHEALTHY   1
#define EXIT_USAGE       64
#define EXIT_UNAVAILABLE 69

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: zt-token-proxy status [--url URL] [--json]\n"
	        "\n"
	        "Prints the status of a running zt-token-proxy: each route, its token's state\n"
	        "and fingerprint, the last upstream 401 and the last reload.\n"
	        "\n"
	        "  -u, --url URL   the status page (default " DEFAULT_URL ")\n"
	        "  -j, --json      print the JSON document instead of a table\n"
	        "  -h, --help      print this help\n"
	        "\n"
	        "Exit status: 0 healthy, 1 unhealthy (a route's token is unusable),\n"
	        "64 usage, 69 the daemon cannot be reached or did not answer as expected.\n");
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sbuf *b = arg;

	sbuf_putn(b, data, size * nmemb);
	return sbuf_failed(b) ? 0 : size * nmemb;
}

/* GETs url into body; returns the HTTP status, or 0 after printing why there is none. */
static long fetch(const char *url, struct sbuf *body)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	long code = 0;
	CURLcode rc;
	CURL *e;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || (e = curl_easy_init()) == NULL) {
		fprintf(stderr, "zt-token-proxy status: cannot initialise libcurl\n");
		return 0;
	}
	/* The status page is local: a proxy from the environment has no business here. */
	if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, body) != CURLE_OK) {
		fprintf(stderr, "zt-token-proxy status: cannot set up the request to %s\n", url);
	} else if ((rc = curl_easy_perform(e)) != CURLE_OK) {
		fprintf(stderr, "zt-token-proxy status: cannot reach %s: %s\n", url,
		        errbuf[0] ? errbuf : curl_easy_strerror(rc));
	} else {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	}
	curl_easy_cleanup(e);
	curl_global_cleanup();
	return code;
}

int status_cli(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *base = DEFAULT_URL;
	char url[URL_MAX];
	bool json = false;
	struct sbuf body;
	long code;
	int c, n;

	while ((c = getopt_long(argc, argv, "u:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			base = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "zt-token-proxy status: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	/* The daemon renders the table itself (?format=text): one place knows the document. */
	n = snprintf(url, sizeof(url), "%s%s", base,
	             json                ? ""
	             : strchr(base, '?') ? "&format=text"
	                                 : "?format=text");
	if (n < 0 || (size_t)n >= sizeof(url)) {
		fprintf(stderr, "zt-token-proxy status: the URL is too long\n");
		return EXIT_USAGE;
	}
	sbuf_init(&body, BODY_MAX);
	code = fetch(url, &body);
	if (code != 200 && code != 503) {
		if (code != 0)
			fprintf(
			    stderr,
			    "zt-token-proxy status: %s answered HTTP %ld, not a status page; is "
			    "it the proxy's address and status prefix?\n",
			    url, code);
		sbuf_free(&body);
		return EXIT_UNAVAILABLE;
	}
	if (body.data != NULL)
		fwrite(body.data, 1, body.len, stdout);
	sbuf_free(&body);
	return code == 200 ? EXIT_HEALTHY : EXIT_UNHEALTHY;
}
