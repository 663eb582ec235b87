/* HTTP/1.1 request parser over llhttp, sans-I/O: collects one request at a time
 * (head into a capped buffer, body into a capped buffer), pausing after each so
 * pipelined requests are answered in order. Not routing, not responses. */
#ifndef WSH_HTTP_HTTP_H
#define WSH_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "core/buf.h"

#define WSH_HTTP_DEFAULT_MAX_HEAD (16u * 1024u)
#define WSH_HTTP_DEFAULT_MAX_HEADERS 64u
#define WSH_HTTP_DEFAULT_MAX_BODY (64u * 1024u)
#define WSH_HTTP_MAX_HEADERS 128u   /* size of wsh_http_req_t.headers; max_headers is clamped to it */

/* A field left 0 takes its WSH_HTTP_DEFAULT_* value. */
typedef struct wsh_http_limits {
    size_t max_head;     /* request line + headers bytes; over it WSH_EHEADTOOBIG (431) */
    size_t max_headers;  /* header count; over it WSH_EHEADTOOBIG (431); at most 128 */
    size_t max_body;     /* body bytes (Content-Length or chunked total); over it WSH_ETOOBIG (413) */
} wsh_http_limits_t;

/* Spans point into the parser's head buffer; valid until wsh_http_parser_next
 * (or dispose). They are not NUL-terminated. */
typedef struct wsh_http_span {
    const char *ptr;
    size_t len;
} wsh_http_span_t;

typedef struct wsh_http_header {
    wsh_http_span_t name;
    wsh_http_span_t value;  /* leading/trailing whitespace trimmed */
} wsh_http_header_t;

/* A complete request, owned by the parser. */
typedef struct wsh_http_req {
    uint8_t method;          /* llhttp_method_t (HTTP_GET, HTTP_POST, ...) */
    uint8_t http_major, http_minor;
    bool keep_alive;         /* llhttp_should_keep_alive */
    bool upgrade;            /* has Connection: upgrade + Upgrade header (llhttp's flag) */
    wsh_http_span_t url;     /* request target as sent (path + query) */
    wsh_http_span_t path;    /* url up to '?' (or '#') */
    wsh_http_span_t query;   /* after '?', without it, up to a '#'; len 0 when absent */
    wsh_http_header_t headers[WSH_HTTP_MAX_HEADERS];  /* in arrival order; trailers are not kept */
    size_t header_cnt;
    wsh_buf_t body;          /* whole body (Content-Length or de-chunked); len 0 when none */
} wsh_http_req_t;

/* Caller-owned; init/dispose. Holds llhttp state, the head buffer (allocated on
 * the first byte, freed by dispose) and the request. Fields are private to
 * http.c. The struct holds no pointer to itself, so it may be moved between
 * calls (llhttp runs on a static settings table; callbacks find the parser by
 * container_of).
 *
 * The head buffer holds url, then each header name and value, back to back, so
 * while a request is streaming in only lengths are recorded in req; the span
 * pointers are filled in when the request completes (the buffer may be
 * realloc'ed while it grows, so earlier pointers would dangle). */
typedef struct wsh_http_parser {
    llhttp_t llhttp;
    llhttp_settings_t settings; /* copy of the static table, for inspection only */
    wsh_http_limits_t lim;   /* effective limits (defaults applied) */
    wsh_buf_t head;          /* url + header names/values, copied as they stream in */
    wsh_http_req_t req;
    int err;                 /* first error hit (WSH_E*), 0 if none; sticky */
    bool is_complete;        /* a whole request is ready in req */
    bool has_started;        /* at least one byte of the current request seen */
    uint8_t hstate;          /* callback bookkeeping for header spans */
    size_t mark;             /* offset in head where the current span started */
    size_t head_seen;        /* raw bytes of the current head fed to llhttp */
    size_t body_seen;        /* raw bytes of the current body fed to llhttp (framing included) */
    bool is_head_done;       /* headers of the current request are complete */
    bool wants_continue;     /* the head asked for "100 Continue" before its body */
    bool has_spans;          /* req's span pointers are filled in (the head will not move) */
    bool is_closed;          /* a request without keep-alive was completed: ignore the rest */
} wsh_http_parser_t;

/* lim may be NULL (all defaults). Allocates nothing. */
void wsh_http_parser_init(wsh_http_parser_t *p, const wsh_http_limits_t *lim);
/* Frees the head and body buffers; the parser needs init before reuse. */
void wsh_http_parser_dispose(wsh_http_parser_t *p);

/* Feeds bytes. Returns the number consumed (>= 0) and sets *req when a whole
 * request is ready (the parser then consumes nothing more until
 * wsh_http_parser_next); bytes after it (the next pipelined request, or
 * WebSocket frames after an upgrade request) are left unconsumed for the
 * caller. *req is set to NULL when no request is ready; feeding again while a
 * request is ready returns 0 and the same *req. Errors are negative and sticky
 * (every later feed returns the same error; the caller answers and closes):
 * WSH_EHEADTOOBIG (431: head or header count over its cap), WSH_ETOOBIG (413:
 * body over max_body, or the body as transmitted, with chunk framing,
 * extensions and trailers, over max_body + max_head), WSH_ENOMEM (413, a
 * peer-sized buffer could not grow), WSH_EBADREQ (400, malformed: every llhttp error, a
 * header name that is not a token, a control byte in a header value or the
 * target, an HTTP version other than 1.0/1.1, an HTTP/1.1 request without
 * Host, more than one Host). WSH_EVERSION is not used here.
 * After a request whose keep_alive is false has been reported and
 * wsh_http_parser_next called, later bytes are consumed and ignored (RFC 9112
 * §9.6: no further requests are processed on that connection). */
long wsh_http_parser_feed(wsh_http_parser_t *p, const uint8_t *data, size_t len, wsh_http_req_t **req);

/* Releases the current request and readies the parser for the next one on the
 * same connection (a rejected upgrade request is followed by plain HTTP, RFC
 * 9110 §7.8). A no-op unless a request is ready and no error occurred. */
void wsh_http_parser_next(wsh_http_parser_t *p);

/* The request whose head is complete and whose body is not, with method,
 * target and headers filled in (req.body holds whatever body bytes came in
 * the same input as the head); NULL at any other time. Lets the connection
 * refuse a request on its head alone (a missing API key) instead of waiting
 * for a body it would throw away. */
wsh_http_req_t *wsh_http_parser_head(wsh_http_parser_t *p);

/* True if some bytes of an unfinished request have been seen (for 408 vs silent close). */
bool wsh_http_parser_is_mid_request(const wsh_http_parser_t *p);

/* Case-insensitive header lookup; the first match or NULL. */
const wsh_http_header_t *wsh_http_req_header(const wsh_http_req_t *req, const char *name);
/* True if a comma-separated header value contains token (case-insensitive,
 * whitespace around tokens ignored), e.g. Connection: keep-alive, Upgrade. */
bool wsh_http_header_has_token(const wsh_http_span_t *value, const char *token);
/* Finds query parameter name in req->query and percent-decodes it into out
 * (NUL-terminated, at most out_cap-1 bytes). Returns the decoded length, -1 if
 * absent, -2 if malformed or too long. */
long wsh_http_req_query(const wsh_http_req_t *req, const char *name, char *out, size_t out_cap);

/* Percent-decodes a path segment s[0..n) ('+' stays '+') into out,
 * NUL-terminated. Returns the decoded length, or -1 for a bad escape, a
 * decoded NUL, or output that does not fit out_cap-1 bytes. */
long wsh_http_pct_decode(const char *s, size_t n, char *out, size_t out_cap);

#endif
