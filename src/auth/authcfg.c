/* Authentication options: parsing, defaults, namespace lookup. */
#include "auth/authcfg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const wsh_ns_t ns_open = {.is_default = true, .flags = WSH_NS_ANON_SUB | WSH_NS_ANON_PUB | WSH_NS_PUBLISH};
static const wsh_ns_t ns_closed = {.is_default = true, .flags = WSH_NS_PUBLISH};

void wsh_authcfg_init(wsh_auth_config_t *ac)
{
    memset(ac, 0, sizeof *ac);
    ac->leeway_ms = 60000;
    ac->auth_timeout_ms = 10000;
    ac->grace_ms = 30000;
}

void wsh_authcfg_dispose(wsh_auth_config_t *ac)
{
    wsh_jwt_keyset_dispose(&ac->keys);
    free(ac->audience);
    free(ac->issuer);
    ac->audience = ac->issuer = NULL;
}

static int bad(const char *where, const char *what, const char *shown)
{
    fprintf(stderr, "wshub: %s: %s \"%s\"\n", where, what, shown);
    return -1;
}

int wsh_authcfg_apply(wsh_auth_config_t *ac, const char *name, const char *value, const char *where,
                      wsh_ns_duration_fn parse_duration)
{
    const char *why = NULL;
    if (strcmp(name, "token-secret") == 0) {
        /* "kid=KID:SECRET" names the key; anything else is the secret. */
        char kid[WSH_JWT_ID_MAX + 1] = "";
        const char *secret = value;
        if (strncmp(value, "kid=", 4) == 0) {
            const char *colon = strchr(value + 4, ':');
            size_t klen = colon ? (size_t)(colon - value - 4) : 0;
            if (!colon || klen == 0 || klen > WSH_JWT_ID_MAX)
                return bad(where, "invalid token secret (want SECRET or kid=KID:SECRET)", "(hidden)");
            memcpy(kid, value + 4, klen);
            kid[klen] = '\0';
            secret = colon + 1;
        }
        if (wsh_jwt_keyset_add_secret(&ac->keys, kid, (const uint8_t *)secret, strlen(secret), &why) < 0)
            return bad(where, why, "(hidden)");
        return 0;
    }
    if (strcmp(name, "token-key") == 0) {
        if (wsh_jwt_keyset_add_pem_file(&ac->keys, value, false, &why) < 0)
            return bad(where, why, value);
        return 0;
    }
    if (strcmp(name, "namespace") == 0) {
        wsh_ns_t ns;
        if (wsh_ns_parse(value, parse_duration, &ns, &why) < 0)
            return bad(where, why, value);
        /* A later layer (flags over file) redefines a prefix it repeats. */
        for (size_t i = 0; i < ac->ns_cnt; i++) {
            if (ac->ns[i].is_default == ns.is_default && ac->ns[i].prefix_len == ns.prefix_len &&
                memcmp(ac->ns[i].prefix, ns.prefix, ns.prefix_len) == 0) {
                ac->ns[i] = ns;
                return 0;
            }
        }
        if (ac->ns_cnt == WSH_AUTH_MAX_NS)
            return bad(where, "too many namespaces, at most 32", value);
        ac->ns[ac->ns_cnt++] = ns;
        return 0;
    }
    return bad(where, "not an authentication option", name);
}

const wsh_ns_t *wsh_authcfg_ns_for(const wsh_auth_config_t *ac, const char *name, size_t len)
{
    const wsh_ns_t *ns = wsh_ns_find(ac->ns, ac->ns_cnt, name, len);
    if (ns)
        return ns;
    return wsh_authcfg_is_enabled(ac) ? &ns_closed : &ns_open;
}

bool wsh_authcfg_has_anonymous(const wsh_auth_config_t *ac)
{
    bool has_default = false;
    for (size_t i = 0; i < ac->ns_cnt; i++) {
        if (ac->ns[i].flags & (WSH_NS_ANON_SUB | WSH_NS_ANON_PUB))
            return true;
        has_default |= ac->ns[i].is_default;
    }
    return !has_default && !wsh_authcfg_is_enabled(ac);
}
