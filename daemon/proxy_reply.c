/*
 * What the client gets: a JSON error (or a status page) from the proxy
 * itself, or the upstream's status, filtered headers and streamed body.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "headers.h"
#include "json.h"
#include "log.h"
#include "proxy_impl.h"

#define ERROR_BODY_MAX 2048
/* libmicrohttpd's buffer for one read of a streamed response. */
#define MHD_BLOCK 16384

struct jbody {
	char buf[ERROR_BODY_MAX];
	size_t len;
	int err;
};

static void jbody_field(struct jbody *j, const char *key, const char *value)
{
	if (value == NULL)
		return;
	j->err |= json_append_raw(j->buf, sizeof(j->buf), &j->len, j->len > 1 ? "," : "");
	j->err |= json_append_string(j->buf, sizeof(j->buf), &j->len, key);
	j->err |= json_append_raw(j->buf, sizeof(j->buf), &j->len, ":");
	j->err |= json_append_string(j->buf, sizeof(j->buf), &j->len, value);
}

/*
 * Decides the error response for req. The body names the route; extra is a
 * NULL-terminated list of key, value pairs.
 */
void req_fail(struct req *req, unsigned status, const char *code, const char *message,
              const char *const *extra)
{
	struct jbody j = {.len = 0};

	if (req->err_status != 0)
		return;
	j.err |= json_append_raw(j.buf, sizeof(j.buf), &j.len, "{");
	jbody_field(&j, "error", code);
	if (req->route != NULL)
		jbody_field(&j, "route", req->route->prefix);
	for (; extra != NULL && extra[0] != NULL; extra += 2)
		jbody_field(&j, extra[0], extra[1]);
	jbody_field(&j, "message", message);
	j.err |= json_append_raw(j.buf, sizeof(j.buf), &j.len, "}\n");
	if (j.err)
		snprintf(j.buf, sizeof(j.buf), "{\"error\":\"%s\"}\n", code);
	/* Belt and braces: no error body may carry a token, whatever went in. */
	log_redact(j.buf, sizeof(j.buf));
	req->err_status = status;
	req->err_body = strdup(j.buf);
}

enum MHD_Result req_queue_error(struct req *req)
{
	const char *body = req->err_body ? req->err_body : "{\"error\":\"internal\"}\n";
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        req->err_type ? req->err_type : "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (req->err_status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
		                        req->err_allow[0] ? req->err_allow : "GET, HEAD");
	if (req->app->stopping)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(req->conn, req->err_status, resp);
	MHD_destroy_response(resp);
	req->queued = true;
	req->sent_status = req->err_status;
	req->bytes_out = req->mmethod == MM_HEAD ? 0 : strlen(body);
	return ret;
}

static const char *resp_header(const struct req *req, const char *name)
{
	const char *p = req->rhdr.data, *end = p + req->rhdr.wpos;

	while (p != NULL && p < end) {
		const char *value = p + strlen(p) + 1;

		if (strcasecmp(p, name) == 0)
			return value;
		p = value + strlen(value) + 1;
	}
	return NULL;
}

static ssize_t on_client_read(void *arg, uint64_t pos, char *buf, size_t max)
{
	struct req *req = arg;
	struct pbuf *b = &req->resp;
	size_t n;

	(void)pos;
	if (b->wpos == b->rpos)
		upstream_recv_more(req); /* may deliver data right now */
	n = b->wpos - b->rpos;
	if (n > 0) {
		if (n > max)
			n = max;
		memcpy(buf, b->data + b->rpos, n);
		b->rpos += n;
		if (b->rpos == b->wpos)
			b->rpos = b->wpos = 0;
		req->bytes_out += n;
		return (ssize_t)n;
	}
	if (req->done)
		return req->result == UP_OK ? MHD_CONTENT_READER_END_OF_STREAM
		                            : MHD_CONTENT_READER_END_WITH_ERROR;
	req_suspend(req);
	return 0;
}

enum MHD_Result req_queue_upstream(struct req *req)
{
	const char *cl = resp_header(req, "Content-Length");
	const char *connection = resp_header(req, "Connection");
	const char *p = req->rhdr.data, *end = p + req->rhdr.wpos;
	struct MHD_Response *resp;
	uint64_t size = MHD_SIZE_UNKNOWN;
	int64_t len;
	enum MHD_Result ret;

	if (req->done && req->result == UP_OK && !req->is_head) {
		/*
		 * The whole body is here already (a small answer, usually): as one
		 * buffer it leaves in the same write as the head.
		 */
		size_t n = req->resp.wpos - req->resp.rpos;

		resp = MHD_create_response_from_buffer(n, req->resp.data + req->resp.rpos,
		                                       MHD_RESPMEM_MUST_COPY);
		req->bytes_out = n;
	} else {
		if (proxy_parse_content_length(cl, &len))
			size = (uint64_t)len;
		resp =
		    MHD_create_response_from_callback(size, MHD_BLOCK, on_client_read, req, NULL);
	}
	if (resp == NULL)
		return MHD_NO;
	while (p != NULL && p < end) {
		const char *value = p + strlen(p) + 1;

		if (hdr_forward_response(p, strlen(p), connection) &&
		    MHD_add_response_header(resp, p, value) != MHD_YES)
			log_debug("route %s: response header '%s' not forwarded",
			          req->route->prefix, p);
		p = value + strlen(value) + 1;
	}
	if (req->app->stopping)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(req->conn, (unsigned)req->status, resp);
	MHD_destroy_response(resp);
	req->queued = true;
	req->sent_status = (unsigned)req->status;
	return ret;
}
