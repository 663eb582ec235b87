/* Who may use what over HTTP: API keys for the HTTP API (Authorization:
 * Bearer, compared in constant time) and the Origin allow-list for browser
 * WebSocket handshakes, with the header tokenizers both need. Pure functions
 * over parsed requests; no I/O, no logging of credentials. */
#ifndef WSH_HTTP_ACCESS_H
#define WSH_HTTP_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

#define WSH_ORIGIN_HOST_MAX 253

/* A serialized origin (RFC 6454 §6.2) "scheme://host[:port]", the port
 * filled in from the scheme when absent. An allow-list entry may be a
 * wildcard, whose host is "*.example.com" (after the "scheme://"): then host
 * holds "example.com" and any host with at least one more label in front
 * matches. */
typedef struct wsh_origin {
    char scheme[8];                      /* "http", "https", "ws" or "wss", lower case */
    char host[WSH_ORIGIN_HOST_MAX + 1];  /* lower case; IPv6 keeps its brackets */
    uint16_t port;
    bool is_wildcard;
} wsh_origin_t;

/* Read-only after init; shared by every worker. */
typedef struct wsh_access {
    uint8_t (*key_digests)[32]; /* SHA-256 of each API key: the keys themselves are not kept */
    size_t key_cnt;
    wsh_origin_t *origins;
    size_t origin_cnt;
    bool protect_metrics;       /* /metrics and /health also need a key */
} wsh_access_t;

/* Builds the access rules. Returns 0, or -1 with err naming the bad origin
 * (keys cannot be invalid, only empty, which the config refuses). */
int wsh_access_init(wsh_access_t *a, char *const *keys, size_t key_cnt, char *const *origins, size_t origin_cnt,
                    bool protect_metrics, char *err, size_t err_len);
void wsh_access_dispose(wsh_access_t *a);

/* Parses an Authorization value "Bearer <token>" (RFC 6750 §2.1: the scheme
 * is case-insensitive, then one or more spaces, then a token68: letters,
 * digits and "-._~+" or a slash, then optional '='). Returns 0 with *tok and
 * *tok_len pointing into v, or -1 for any other shape. */
int wsh_access_parse_bearer(const char *v, size_t len, const char **tok, size_t *tok_len);

/* Parses an origin (allow_wildcard: a "*." label may open the host). 0 or -1.
 * "null", userinfo, paths, empty hosts, bad ports are all -1. */
int wsh_access_parse_origin(const char *s, size_t len, bool allow_wildcard, wsh_origin_t *out);

/* Parses a Host header value "host[:port]" into lower-case host and port
 * (0 when absent). 0 or -1. */
int wsh_access_parse_host(const char *s, size_t len, char host[WSH_ORIGIN_HOST_MAX + 1], uint16_t *port);

/* The API-key verdict for req: 0 when no key is configured or the request
 * carries one of them; 401 when it carries no well-formed Bearer
 * credential; 403 when it carries one that matches no key. Every key is
 * compared (in constant time) whatever matches, so timing tells nothing. */
int wsh_access_check_key(const wsh_access_t *a, const wsh_http_req_t *req);

/* The Origin verdict for a WebSocket handshake: true when allowed. A request
 * without Origin (not a browser) is allowed; so is any origin when no list is
 * configured, and a same-origin page (Origin's host and port equal Host's).
 * Otherwise the origin must match the list; "null", a malformed or repeated
 * Origin is refused. *why names the reason for a refusal. */
bool wsh_access_origin_allowed(const wsh_access_t *a, const wsh_http_req_t *req, const char **why);

/* Matches one parsed origin against a parsed list entry. */
bool wsh_access_origin_matches(const wsh_origin_t *entry, const wsh_origin_t *o);

#endif
