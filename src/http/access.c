/* API keys and the Origin allow-list. */
#include "http/access.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/alloc.h"

static void sha256(const void *data, size_t len, uint8_t out[32])
{
    unsigned int n = 0;
    /* Fixed-size work on our own data: failing it means a broken OpenSSL,
     * which is fatal like any failed allocation of ours (DESIGN.md). */
    if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) || n != 32) {
        fprintf(stderr, "wshub: SHA-256 unavailable\n");
        abort();
    }
}

int wsh_access_init(wsh_access_t *a, char *const *keys, size_t key_cnt, char *const *origins, size_t origin_cnt,
                    bool protect_metrics, char *err, size_t err_len)
{
    memset(a, 0, sizeof *a);
    a->protect_metrics = protect_metrics;
    if (key_cnt) {
        a->key_digests = wsh_xcalloc(key_cnt, sizeof *a->key_digests);
        for (size_t i = 0; i < key_cnt; i++)
            sha256(keys[i], strlen(keys[i]), a->key_digests[i]);
        a->key_cnt = key_cnt;
    }
    if (origin_cnt) {
        a->origins = wsh_xcalloc(origin_cnt, sizeof *a->origins);
        for (size_t i = 0; i < origin_cnt; i++) {
            if (wsh_access_parse_origin(origins[i], strlen(origins[i]), true, &a->origins[i]) < 0) {
                snprintf(err, err_len, "invalid origin (want scheme://host[:port] or scheme://*.domain) \"%s\"",
                         origins[i]);
                wsh_access_dispose(a);
                return -1;
            }
        }
        a->origin_cnt = origin_cnt;
    }
    return 0;
}

void wsh_access_dispose(wsh_access_t *a)
{
    free(a->key_digests);
    free(a->origins);
    memset(a, 0, sizeof *a);
}

static bool is_token68(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~' || c == '+' || c == '/';
}

int wsh_access_parse_bearer(const char *v, size_t len, const char **tok, size_t *tok_len)
{
    static const char scheme[] = "Bearer";
    size_t n = sizeof scheme - 1;
    if (len <= n || strncasecmp(v, scheme, n) != 0 || v[n] != ' ')
        return -1;
    size_t i = n;
    while (i < len && v[i] == ' ')
        i++;
    size_t start = i;
    while (i < len && is_token68(v[i]))
        i++;
    if (i == start)
        return -1;
    while (i < len && v[i] == '=')
        i++;
    if (i != len)
        return -1;
    *tok = v + start;
    *tok_len = len - start;
    return 0;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static bool is_host_char(char c)
{
    /* reg-name letters, digits, '-', '.', and what an IP literal needs; RFC
     * 3986 allows more (sub-delims, pct-encoded), which no browser sends in
     * an Origin for a host that DNS can resolve. */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/* Parses "host[:port]" in s[0..len): host lower-cased into host, *port 0
 * when absent. IPv6 literals keep their brackets. */
static int parse_authority(const char *s, size_t len, char host[WSH_ORIGIN_HOST_MAX + 1], uint16_t *port)
{
    size_t hlen;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close || close == s + 1)
            return -1;
        hlen = (size_t)(close - s) + 1;
        for (size_t i = 1; i + 1 < hlen; i++) {
            char c = s[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.'))
                return -1;
        }
    } else {
        hlen = 0;
        while (hlen < len && s[hlen] != ':') {
            if (!is_host_char(s[hlen]))
                return -1;
            hlen++;
        }
        if (hlen == 0)
            return -1;
    }
    if (hlen > WSH_ORIGIN_HOST_MAX)
        return -1;
    for (size_t i = 0; i < hlen; i++)
        host[i] = lower(s[i]);
    host[hlen] = '\0';
    *port = 0;
    if (hlen == len)
        return 0;
    if (s[hlen] != ':' || hlen + 1 == len || len - hlen - 1 > 5)
        return -1;
    uint32_t p = 0;
    for (size_t i = hlen + 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        p = p * 10 + (uint32_t)(s[i] - '0');
    }
    if (p == 0 || p > 65535)
        return -1;
    *port = (uint16_t)p;
    return 0;
}

int wsh_access_parse_host(const char *s, size_t len, char host[WSH_ORIGIN_HOST_MAX + 1], uint16_t *port)
{
    return parse_authority(s, len, host, port);
}

static uint16_t default_port(const char *scheme)
{
    return strcmp(scheme, "https") == 0 || strcmp(scheme, "wss") == 0 ? 443 : 80;
}

int wsh_access_parse_origin(const char *s, size_t len, bool allow_wildcard, wsh_origin_t *out)
{
    static const char *const schemes[] = {"http", "https", "ws", "wss"};
    memset(out, 0, sizeof *out);
    const char *sep = NULL;
    for (size_t i = 0; i + 2 < len && i < sizeof out->scheme; i++) {
        if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') {
            sep = s + i;
            break;
        }
    }
    if (!sep)
        return -1;
    size_t slen = (size_t)(sep - s);
    for (size_t i = 0; i < slen; i++)
        out->scheme[i] = lower(s[i]);
    bool known = false;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        known = known || strcmp(out->scheme, schemes[i]) == 0;
    if (!known)
        return -1;
    const char *auth = sep + 3;
    size_t alen = len - slen - 3;
    if (allow_wildcard && alen > 2 && auth[0] == '*' && auth[1] == '.') {
        out->is_wildcard = true;
        auth += 2;
        alen -= 2;
    }
    if (parse_authority(auth, alen, out->host, &out->port) < 0)
        return -1;
    /* A wildcard over an IP literal or a single label ("*.com") would
     * match far more than anyone means. */
    if (out->is_wildcard && (out->host[0] == '[' || !strchr(out->host, '.')))
        return -1;
    if (!out->port)
        out->port = default_port(out->scheme);
    return 0;
}

bool wsh_access_origin_matches(const wsh_origin_t *entry, const wsh_origin_t *o)
{
    if (strcmp(entry->scheme, o->scheme) != 0 || entry->port != o->port)
        return false;
    if (!entry->is_wildcard)
        return strcmp(entry->host, o->host) == 0;
    /* "*.example.com" matches "a.example.com" and "a.b.example.com", never
     * "example.com" itself nor "badexample.com". */
    size_t hl = strlen(o->host), el = strlen(entry->host);
    return hl > el + 1 && o->host[hl - el - 1] == '.' && strcmp(o->host + hl - el, entry->host) == 0;
}

static size_t count_headers(const wsh_http_req_t *req, const char *name)
{
    size_t cnt = 0, n = strlen(name);
    for (size_t i = 0; i < req->header_cnt; i++)
        if (req->headers[i].name.len == n && strncasecmp(req->headers[i].name.ptr, name, n) == 0)
            cnt++;
    return cnt;
}

int wsh_access_check_key(const wsh_access_t *a, const wsh_http_req_t *req)
{
    if (!a || a->key_cnt == 0)
        return 0;
    const wsh_http_header_t *h = wsh_http_req_header(req, "authorization");
    const char *tok;
    size_t tok_len;
    if (!h || count_headers(req, "authorization") != 1 ||
        wsh_access_parse_bearer(h->value.ptr, h->value.len, &tok, &tok_len) < 0)
        return 401;
    /* Comparing digests makes the comparison independent of the key's
     * length and content; CRYPTO_memcmp does not stop at the first
     * difference, and the loop visits every key. */
    uint8_t d[32];
    sha256(tok, tok_len, d);
    int match = 0;
    for (size_t i = 0; i < a->key_cnt; i++)
        match |= CRYPTO_memcmp(d, a->key_digests[i], sizeof d) == 0;
    return match ? 0 : 403;
}

static bool refuse(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return false;
}

bool wsh_access_origin_allowed(const wsh_access_t *a, const wsh_http_req_t *req, const char **why)
{
    if (why)
        *why = NULL;
    size_t cnt = count_headers(req, "origin");
    if (cnt == 0 || !a || a->origin_cnt == 0)
        return true;
    if (cnt > 1)
        return refuse(why, "more than one Origin header");
    const wsh_http_header_t *h = wsh_http_req_header(req, "origin");
    /* RFC 6454 §7.3: "null" is what a sandboxed or file: page sends; it
     * names no one, so it cannot be on an allow-list. */
    if (h->value.len == 4 && memcmp(h->value.ptr, "null", 4) == 0)
        return refuse(why, "Origin null is not allowed");
    wsh_origin_t o;
    if (wsh_access_parse_origin(h->value.ptr, h->value.len, false, &o) < 0)
        return refuse(why, "malformed Origin header");
    /* Same origin: the page came from this hub (its dashboard), whatever
     * the list says. The Host has no scheme, so the Origin's supplies the
     * default port. */
    const wsh_http_header_t *hh = wsh_http_req_header(req, "host");
    char host[WSH_ORIGIN_HOST_MAX + 1];
    uint16_t port;
    if (hh && wsh_access_parse_host(hh->value.ptr, hh->value.len, host, &port) == 0) {
        if (!port)
            port = default_port(o.scheme);
        if (port == o.port && strcmp(host, o.host) == 0)
            return true;
    }
    for (size_t i = 0; i < a->origin_cnt; i++)
        if (wsh_access_origin_matches(&a->origins[i], &o))
            return true;
    return refuse(why, "origin not allowed");
}
