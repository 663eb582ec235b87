/* Splits ws://, wss://, http:// and https:// URLs into what a connection
 * needs (TLS or not, host, port, path with query); not a general URI parser:
 * no user info, no fragments, no percent-decoding. */
#ifndef WSH_CLIENT_URL_H
#define WSH_CLIENT_URL_H

#include <stdbool.h>

#define WSH_URL_HOST_MAX 256
#define WSH_URL_PATH_MAX 2048

/* Caller-owned value; no dispose. host holds an IPv6 literal without its brackets. */
typedef struct wsh_url {
    bool is_tls;                  /* wss or https */
    bool is_ws;                   /* ws or wss (else http or https) */
    char host[WSH_URL_HOST_MAX];
    char port[6];                 /* decimal, default 80 or 443 */
    char path[WSH_URL_PATH_MAX];  /* starts with '/', includes any query; "/" when absent */
} wsh_url_t;

/* Parses s (scheme matched case-insensitively). Returns 0, or WSHUB_EURL for
 * another scheme, an empty or over-long host, a port that is not 1..65535, a
 * '#', user info, or control characters or spaces anywhere. */
int wsh_url_parse(const char *s, wsh_url_t *u);

/* Writes the http(s) base ("http://host:port") that matches the ws(s) URL u,
 * for the HTTP API next to the WebSocket endpoint. out must hold 300 bytes. */
void wsh_url_http_base(const wsh_url_t *u, char *out, unsigned cap);

#endif
