/* Namespace rule syntax and longest-prefix lookup. */
#include "auth/ns.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth/grants.h"

static int parse_flag(const char *f, size_t len, wsh_ns_duration_fn parse_duration, wsh_ns_t *ns,
                      const char **why)
{
    char buf[64];
    if (len >= sizeof buf) {
        *why = "unknown namespace flag";
        return -1;
    }
    memcpy(buf, f, len);
    buf[len] = '\0';
    if (strcmp(buf, "anon-sub") == 0) {
        ns->flags |= WSH_NS_ANON_SUB;
    } else if (strcmp(buf, "anon-pub") == 0) {
        ns->flags |= WSH_NS_ANON_PUB | WSH_NS_PUBLISH;
    } else if (strcmp(buf, "publish") == 0) {
        ns->flags |= WSH_NS_PUBLISH;
    } else if (strcmp(buf, "presence") == 0) {
        ns->flags |= WSH_NS_PRESENCE;
    } else if (strncmp(buf, "history=", 8) == 0) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(buf + 8, &end, 10);
        if (!isdigit((unsigned char)buf[8]) || *end || errno || v > 1000000) {
            *why = "invalid namespace history (want history=0..1000000)";
            return -1;
        }
        ns->history = (uint32_t)v;
        ns->flags |= WSH_NS_HAS_HISTORY;
    } else if (strncmp(buf, "ttl=", 4) == 0) {
        if (parse_duration(buf + 4, &ns->ttl_ms) < 0) {
            *why = "invalid namespace ttl (want ttl=DURATION)";
            return -1;
        }
        ns->flags |= WSH_NS_HAS_TTL;
    } else {
        *why = "unknown namespace flag (want anon-sub, anon-pub, publish, presence, history=N, ttl=DURATION)";
        return -1;
    }
    return 0;
}

int wsh_ns_parse(const char *spec, wsh_ns_duration_fn parse_duration, wsh_ns_t *out, const char **why)
{
    memset(out, 0, sizeof *out);
    const char *colon = strrchr(spec, ':');
    if (!colon) {
        *why = "invalid namespace (want PREFIX:FLAGS, e.g. chat.:anon-sub,publish)";
        return -1;
    }
    size_t plen = (size_t)(colon - spec);
    if (plen == 1 && spec[0] == '*') {
        out->is_default = true;
    } else if (plen == 0 || plen > WSH_NS_PREFIX_MAX || memchr(spec, '*', plen) ||
               !wsh_grant_pattern_is_valid(spec, plen)) {
        *why = "invalid namespace prefix (want * or 1-255 channel-name characters)";
        return -1;
    } else {
        memcpy(out->prefix, spec, plen);
        out->prefix_len = (uint16_t)plen;
    }
    const char *f = colon + 1;
    while (*f) {
        const char *comma = strchr(f, ',');
        size_t n = comma ? (size_t)(comma - f) : strlen(f);
        if (n == 0 || parse_flag(f, n, parse_duration, out, why) < 0) {
            if (n == 0)
                *why = "empty namespace flag";
            return -1;
        }
        f += n + (comma ? 1 : 0);
        if (comma && *f == '\0') {
            *why = "empty namespace flag";
            return -1;
        }
    }
    return 0;
}

const wsh_ns_t *wsh_ns_find(const wsh_ns_t *rules, size_t cnt, const char *name, size_t len)
{
    const wsh_ns_t *best = NULL;
    for (size_t i = 0; i < cnt; i++) {
        const wsh_ns_t *r = &rules[i];
        if (r->is_default) {
            if (!best)
                best = r;
            continue;
        }
        if (r->prefix_len <= len && memcmp(name, r->prefix, r->prefix_len) == 0 &&
            (!best || best->is_default || r->prefix_len > best->prefix_len))
            best = r;
    }
    return best;
}
