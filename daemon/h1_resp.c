#include <string.h>

#include "h1_resp.h"
#include "headers.h"

static struct h1_resp *resp_of(llhttp_t *p)
{
	return p->data;
}

static int on_message_begin(llhttp_t *p)
{
	struct h1_resp *r = resp_of(p);

	r->hline.wpos = r->hname_len = 0;
	r->cb->begin(r->arg);
	return 0;
}

/* Name and value bytes, each possibly in pieces: collected in hline. */
static int on_header_bytes(llhttp_t *p, const char *at, size_t len)
{
	struct h1_resp *r = resp_of(p);

	if (!pbuf_append(&r->hline, at, len, HDR_LINE_MAX)) {
		r->refusal = "a response header line is too long";
		return -1;
	}
	return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
	struct h1_resp *r = resp_of(p);

	r->hname_len = r->hline.wpos;
	return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
	struct h1_resp *r = resp_of(p);
	/* An empty name and value leave hline without memory. */
	const char *name = r->hline.data ? r->hline.data : "";
	const char *v = r->hline.data ? name + r->hname_len : "";
	size_t vlen = r->hline.wpos - r->hname_len;

	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (!r->cb->header(r->arg, name, r->hname_len, v, vlen)) {
		r->refusal = "the response headers are too large";
		return -1;
	}
	r->hline.wpos = r->hname_len = 0;
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	struct h1_resp *r = resp_of(p);

	if (p->status_code == 101) {
		r->refusal = "the upstream switched protocols (101), which the proxy does not do";
		return -1;
	}
	if (p->status_code < 200)
		return 0; /* an interim response: the real one follows */
	r->status = p->status_code;
	r->cb->head_end(r->arg, r->status);
	/* A HEAD response announces a body it does not send; 204 and 304 llhttp knows. */
	return r->head_request ? 1 : 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct h1_resp *r = resp_of(p);

	r->cb->body(r->arg, at, len);
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct h1_resp *r = resp_of(p);

	if (r->status == 0)
		return 0; /* the end of an interim response */
	r->done = true;
	return HPE_PAUSED; /* nothing after it belongs to this response */
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_header_field = on_header_bytes,
    .on_header_value = on_header_bytes,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void h1_resp_init(struct h1_resp *r, bool head_request, const struct h1_resp_cb *cb, void *arg)
{
	struct pbuf keep = r->hline;

	memset(r, 0, sizeof(*r));
	r->hline = keep; /* its memory serves the next response too */
	r->hline.rpos = r->hline.wpos = 0;
	llhttp_init(&r->parser, HTTP_RESPONSE, &settings);
	r->parser.data = r;
	r->head_request = head_request;
	r->cb = cb;
	r->arg = arg;
}

enum h1_resp_state h1_resp_feed(struct h1_resp *r, const char *data, size_t n, size_t *used)
{
	llhttp_errno_t e;

	*used = 0;
	if (r->done)
		return H1R_DONE;
	e = llhttp_execute(&r->parser, data, n);
	if (e == HPE_OK) {
		*used = n;
		return H1R_MORE;
	}
	if (e == HPE_PAUSED && r->done) {
		*used = (size_t)(llhttp_get_error_pos(&r->parser) - data);
		return H1R_DONE;
	}
	return H1R_ERROR;
}

enum h1_resp_state h1_resp_eof(struct h1_resp *r)
{
	if (r->done)
		return H1R_DONE;
	if (llhttp_get_errno(&r->parser) != HPE_OK)
		return H1R_ERROR;
	/* Calls on_message_complete when the close ends the body. */
	(void)llhttp_finish(&r->parser);
	return r->done ? H1R_DONE : H1R_ERROR;
}

bool h1_resp_keep_alive(const struct h1_resp *r)
{
	return r->done && llhttp_should_keep_alive(&r->parser) != 0;
}

const char *h1_resp_error(const struct h1_resp *r)
{
	if (r->refusal != NULL)
		return r->refusal;
	if (llhttp_get_errno(&r->parser) == HPE_OK || llhttp_get_errno(&r->parser) == HPE_PAUSED)
		return "the connection closed before the response ended";
	return llhttp_get_error_reason(&r->parser);
}

void h1_resp_free(struct h1_resp *r)
{
	pbuf_free(&r->hline);
}
