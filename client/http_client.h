/* A tiny blocking HTTP/1.1 client for the CLI's calls to the hub's HTTP API
 * (channels, history): one request per connection, answer parsed by llhttp,
 * whole body kept in memory. Not part of libwshub's API. */
#ifndef WSH_CLIENT_HTTP_CLIENT_H
#define WSH_CLIENT_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* One answer; dispose the body with wsh_buf_dispose. */
typedef struct wsh_http_answer {
    int status;
    wsh_buf_t body;   /* NUL-terminated after body.len when non-empty */
} wsh_http_answer_t;

typedef struct wsh_http_call {
    const char *method;     /* "GET" or "POST" */
    const char *url;        /* http:// or https:// base plus path and query */
    const char *token;      /* Authorization: Bearer, or NULL */
    const char *ca_file;    /* for https, or NULL for the system's CAs */
    bool tls_no_verify;
    const char *body;       /* request body (POST), or NULL */
    size_t body_len;
    int timeout_ms;         /* for the whole call */
    size_t max_body;        /* answers larger than this fail with WSHUB_EPROTO */
} wsh_http_call_t;

/* Performs the call. Returns 0 with *a filled (any status), or WSHUB_EURL,
 * WSHUB_ECONNECT, WSHUB_ETLS, WSHUB_ETIMEOUT, WSHUB_EIO, WSHUB_EPROTO (not
 * HTTP, or too large), WSHUB_ENOMEM; *a is then empty. */
int wsh_http_do(const wsh_http_call_t *call, wsh_http_answer_t *a);

#endif
