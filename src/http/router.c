/* Route lookup by path and method; linear over a handful of routes. */
#include "http/router.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int wsh_router_add(wsh_router_t *r, const char *path, bool is_prefix, unsigned methods, wsh_route_cb cb,
                   void *data)
{
    if (r->cnt == WSH_ROUTER_MAX)
        return -ENOSPC;
    if (methods & WSH_M_GET)
        methods |= WSH_M_HEAD;
    r->routes[r->cnt++] = (wsh_route_t){path, is_prefix, methods, cb, data};
    return 0;
}

static unsigned method_bit(uint8_t method)
{
    switch (method) {
    case HTTP_GET: return WSH_M_GET;
    case HTTP_HEAD: return WSH_M_HEAD;
    case HTTP_POST: return WSH_M_POST;
    case HTTP_PUT: return WSH_M_PUT;
    case HTTP_DELETE: return WSH_M_DELETE;
    case HTTP_OPTIONS: return WSH_M_OPTIONS;
    default: return 0;
    }
}

static bool path_matches(const wsh_route_t *rt, const wsh_http_span_t *path)
{
    size_t n = strlen(rt->path);
    if (rt->is_prefix)
        return path->len >= n && memcmp(path->ptr, rt->path, n) == 0;
    return path->len == n && memcmp(path->ptr, rt->path, n) == 0;
}

static void format_allow(unsigned methods, char *out, size_t out_len)
{
    static const struct { unsigned bit; const char *name; } names[] = {
        {WSH_M_GET, "GET"}, {WSH_M_HEAD, "HEAD"}, {WSH_M_POST, "POST"},
        {WSH_M_PUT, "PUT"}, {WSH_M_DELETE, "DELETE"}, {WSH_M_OPTIONS, "OPTIONS"},
    };
    size_t n = (size_t)snprintf(out, out_len, "Allow: ");
    const char *sep = "";
    for (size_t i = 0; i < sizeof names / sizeof names[0] && n < out_len; i++) {
        if (methods & names[i].bit) {
            n += (size_t)snprintf(out + n, out_len - n, "%s%s", sep, names[i].name);
            sep = ", ";
        }
    }
    if (n < out_len)
        snprintf(out + n, out_len - n, "\r\n");
}

const wsh_route_t *wsh_router_match(const wsh_router_t *r, const wsh_http_req_t *req, int *status, char *allow,
                                    size_t allow_len)
{
    unsigned bit = method_bit(req->method);
    unsigned allowed = 0;
    bool found = false;
    /* Two passes so an exact path beats any prefix that also matches. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < r->cnt; i++) {
            const wsh_route_t *rt = &r->routes[i];
            if (rt->is_prefix != (pass == 1) || !path_matches(rt, &req->path))
                continue;
            if (rt->methods & bit)
                return rt;
            found = true;
            allowed |= rt->methods;
        }
        if (found)
            break;
    }
    *status = found ? 405 : 404;
    if (found)
        format_allow(allowed, allow, allow_len);
    else if (allow_len)
        allow[0] = '\0';
    return NULL;
}
