/* ws(s)/http(s) URL splitting for the client library and the CLI (see url.h). */
#include "url.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "wshub.h"

static int parse_scheme(const char *s, wsh_url_t *u, const char **rest)
{
    static const struct { const char *name; bool tls, ws; } schemes[] = {
        {"ws://", false, true}, {"wss://", true, true}, {"http://", false, false}, {"https://", true, false},
    };
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t n = strlen(schemes[i].name);
        if (strncasecmp(s, schemes[i].name, n) == 0) {
            u->is_tls = schemes[i].tls;
            u->is_ws = schemes[i].ws;
            *rest = s + n;
            return 0;
        }
    }
    return WSHUB_EURL;
}

int wsh_url_parse(const char *s, wsh_url_t *u)
{
    if (!s || !u)
        return WSHUB_EURL;
    memset(u, 0, sizeof *u);
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '#')
            return WSHUB_EURL;
    const char *p;
    if (parse_scheme(s, u, &p) != 0)
        return WSHUB_EURL;
    const char *auth_end = p + strcspn(p, "/?");
    if (memchr(p, '@', (size_t)(auth_end - p)))
        return WSHUB_EURL;
    const char *host = p, *host_end, *port = NULL;
    if (*p == '[') {
        /* RFC 3986 §3.2.2: an IPv6 literal sits in brackets so its colons are not the port's. */
        host = p + 1;
        host_end = memchr(host, ']', (size_t)(auth_end - host));
        if (!host_end)
            return WSHUB_EURL;
        if (host_end + 1 < auth_end) {
            if (host_end[1] != ':')
                return WSHUB_EURL;
            port = host_end + 2;
        }
    } else {
        host_end = memchr(p, ':', (size_t)(auth_end - p));
        if (host_end)
            port = host_end + 1;
        else
            host_end = auth_end;
    }
    size_t host_len = (size_t)(host_end - host);
    if (host_len == 0 || host_len >= sizeof u->host)
        return WSHUB_EURL;
    memcpy(u->host, host, host_len);
    if (port) {
        size_t port_len = (size_t)(auth_end - port);
        unsigned long v = 0;
        if (port_len == 0 || port_len > 5)
            return WSHUB_EURL;
        for (size_t i = 0; i < port_len; i++) {
            if (port[i] < '0' || port[i] > '9')
                return WSHUB_EURL;
            v = v * 10 + (unsigned long)(port[i] - '0');
        }
        if (v == 0 || v > 65535)
            return WSHUB_EURL;
        snprintf(u->port, sizeof u->port, "%lu", v);
    } else {
        strcpy(u->port, u->is_tls ? "443" : "80");
    }
    const char *path = auth_end;
    if (*path == '\0')
        path = "/";
    size_t path_len = strlen(path);
    if (path_len + 2 >= sizeof u->path)
        return WSHUB_EURL;
    /* "ws://h?x" has a query but no path: the request target still starts with '/'. */
    if (*path == '?')
        snprintf(u->path, sizeof u->path, "/%s", path);
    else
        memcpy(u->path, path, path_len + 1);
    return 0;
}

void wsh_url_http_base(const wsh_url_t *u, char *out, unsigned cap)
{
    bool v6 = strchr(u->host, ':') != NULL;
    snprintf(out, cap, "%s://%s%s%s:%s", u->is_tls ? "https" : "http", v6 ? "[" : "", u->host, v6 ? "]" : "",
             u->port);
}
