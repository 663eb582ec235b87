/* Answers GET/HEAD for the embedded web/ files: 200 with the bytes, 304 when
 * the client's copy is current, 404 for a path under a served folder that
 * holds no file. */
#include "http/static.h"

#include <stdio.h>
#include <string.h>

#include "http/response.h"

/* Every page loads only what the hub itself serves (scripts and styles are
 * separate files, never inline), talks only to the hub (HTTP polling and the
 * same-origin WebSocket), and cannot be framed by another site: the control
 * page publishes, so it must not be clickjacked. */
#define CSP "default-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"

/* no-cache means "revalidate every time": with the ETag that costs one 304,
 * and a page never runs stale code after the hub binary is upgraded. The
 * files are public and carry no credentials, so any origin may import
 * client.js (a module script across origins needs CORS). */
#define COMMON_HEADERS                                                                                 \
    "Cache-Control: no-cache\r\n"                                                                      \
    "X-Content-Type-Options: nosniff\r\n"                                                              \
    "Referrer-Policy: no-referrer\r\n"                                                                 \
    "Access-Control-Allow-Origin: *\r\n"                                                               \
    "Content-Security-Policy: " CSP "\r\n"

const wsh_static_asset_t *wsh_static_find(const char *path, size_t len)
{
    for (size_t i = 0; i < wsh_web_asset_cnt; i++) {
        const wsh_static_asset_t *a = &wsh_web_assets[i];
        if (strlen(a->path) == len && memcmp(a->path, path, len) == 0)
            return a;
    }
    return NULL;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

bool wsh_static_etag_matches(const char *value, size_t len, const char *etag)
{
    size_t etag_len = strlen(etag);
    size_t i = 0;
    while (i < len) {
        while (i < len && (is_ows(value[i]) || value[i] == ','))
            i++;
        size_t start = i;
        /* An entity tag is a quoted string, so a comma inside quotes does
         * not end it (RFC 9110 §8.8.3). */
        bool in_quotes = false;
        while (i < len && (in_quotes || value[i] != ',')) {
            if (value[i] == '"')
                in_quotes = !in_quotes;
            i++;
        }
        size_t end = i;
        while (end > start && is_ows(value[end - 1]))
            end--;
        const char *tag = value + start;
        size_t tag_len = end - start;
        if (tag_len == 1 && tag[0] == '*')
            return true;
        if (tag_len >= 2 && tag[0] == 'W' && tag[1] == '/') {
            tag += 2;
            tag_len -= 2;
        }
        if (tag_len == etag_len && memcmp(tag, etag, etag_len) == 0)
            return true;
    }
    return false;
}

static void route_static(wsh_http_x_t *x)
{
    const wsh_static_asset_t *a = wsh_static_find(x->req->path.ptr, x->req->path.len);
    if (!a) {
        wsh_http_respond_error(x->conn, 404, "not_found", "no such file", NULL, x->keep_alive);
        return;
    }
    char headers[768];
    int n = snprintf(headers, sizeof headers, COMMON_HEADERS "ETag: %s\r\n", a->etag);
    if (n < 0 || (size_t)n >= sizeof headers) {
        wsh_http_respond_error(x->conn, 500, "internal_error", "header too long", NULL, x->keep_alive);
        return;
    }
    const wsh_http_header_t *inm = wsh_http_req_header(x->req, "If-None-Match");
    if (inm && wsh_static_etag_matches(inm->value.ptr, inm->value.len, a->etag)) {
        /* RFC 9110 §15.4.5: no content; Content-Length may state the 200's. */
        wsh_http_respond(x->conn, 304, NULL, headers, a->data, a->len, x->keep_alive, true);
        return;
    }
    wsh_http_respond(x->conn, 200, a->ctype, headers, a->data, a->len, x->keep_alive, x->is_head);
}

int wsh_static_register(wsh_router_t *r)
{
    for (size_t i = 0; i < wsh_web_route_cnt; i++) {
        const wsh_static_route_t *rt = &wsh_web_routes[i];
        int rc = wsh_router_add(r, rt->path, rt->is_prefix, WSH_M_GET, route_static, NULL);
        if (rc)
            return rc;
    }
    return 0;
}
