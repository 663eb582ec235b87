/* The authentication part of the configuration: token keys, claim checks,
 * timeouts and namespaces, filled by config.c (options token-secret,
 * token-key, namespace, ...) and read by the hub. Not verification (jwt.c)
 * and not the decisions (hub/access.c). */
#ifndef WSH_AUTH_AUTHCFG_H
#define WSH_AUTH_AUTHCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/jwt.h"
#include "auth/ns.h"

#define WSH_AUTH_MAX_NS 32

/* Embedded in wsh_config_t; wsh_authcfg_init / wsh_authcfg_dispose. Read-only
 * once the server runs, so every worker shares it. */
typedef struct wsh_auth_config {
    wsh_jwt_keyset_t keys;     /* --token-secret and --token-key */
    char *audience;            /* --token-audience, or NULL */
    char *issuer;              /* --token-issuer, or NULL */
    uint64_t leeway_ms;        /* --token-leeway: clock skew on exp/nbf (60s) */
    uint64_t auth_timeout_ms;  /* --auth-timeout: time to send `auth` (10s) */
    uint64_t grace_ms;         /* --token-grace: from exp to close 4001 (30s) */
    wsh_ns_t ns[WSH_AUTH_MAX_NS];
    size_t ns_cnt;
} wsh_auth_config_t;

void wsh_authcfg_init(wsh_auth_config_t *ac);
void wsh_authcfg_dispose(wsh_auth_config_t *ac);

/* Applies one value of a list option: "token-secret" ([kid=KID:]SECRET),
 * "token-key" (a PEM public key file) or "namespace" (PREFIX:FLAGS). On a bad
 * value prints "wshub: WHERE: WHAT "VALUE"" to stderr (a secret is shown as
 * "(hidden)") and returns -1; else 0. parse_duration parses ttl= values. */
int wsh_authcfg_apply(wsh_auth_config_t *ac, const char *name, const char *value, const char *where,
                      wsh_ns_duration_fn parse_duration);

/* True when a token secret or key is configured: connections then need a
 * token unless their namespace allows anonymous access. */
static inline bool wsh_authcfg_is_enabled(const wsh_auth_config_t *ac) { return ac->keys.cnt > 0; }

/* The namespace of a channel: the longest configured prefix, else the
 * configured default ("*"), else the built-in default, which allows
 * everything anonymously when auth is off and, when it is on, allows
 * client publishing to holders of a grant and nothing anonymous. */
const wsh_ns_t *wsh_authcfg_ns_for(const wsh_auth_config_t *ac, const char *name, size_t len);

/* True if some channel may be used without a token (the default namespace
 * or any configured one allows anonymous subscribe or publish): a
 * connection without a token is then kept open without an auth deadline. */
bool wsh_authcfg_has_anonymous(const wsh_auth_config_t *ac);

#endif
