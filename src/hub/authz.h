/* Who may do what on /ws: a connection's token identity, its auth deadline
 * and expiry, the `auth` command, and the per-operation permission checks
 * against namespaces and grants (docs/security.md). Not token cryptography
 * (auth/jwt.c) and not the transports of tokens (routes.c, proto.c). */
#ifndef WSH_HUB_AUTHZ_H
#define WSH_HUB_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/authcfg.h"
#include "auth/jwt.h"
#include "hub/client.h"
#include "loop/timer.h"

/* Largest message a connection may send before it has authenticated, when
 * it must authenticate: the largest token (4 KiB) plus the `auth` envelope
 * and an id, and too little to cost memory. */
#define WSH_AUTHZ_PREAUTH_MAX (WSH_JWT_MAX_LEN + 512)

/* A connection's authentication state, behind wsh_client_t.authz. Created
 * by wsh_authz_start (only when tokens are configured and the connection
 * holds a token or must send one) or by a successful `auth`; freed by
 * wsh_authz_release when the client goes. */
typedef struct wsh_authz {
    wsh_timer_t timer;     /* the auth deadline until authenticated, then exp + grace */
    wsh_identity_t *id;    /* NULL until authenticated; owned */
    wsh_client_t *cl;
} wsh_authz_t;

/* Verifies a token presented on the opening handshake (or anywhere) against
 * ac at the current time. 0 and *out (caller owns it), or WSH_EUNAUTH with a
 * static *why; with no key configured every token is refused. */
int wsh_authz_verify(const wsh_auth_config_t *ac, const char *token, size_t len, wsh_identity_t **out,
                      const char **why);

/* Called once after wsh_client_attach (welcome is already queued). Takes id
 * (may be NULL). With an identity, arms the expiry; without one, when the
 * connection cannot do anything anonymously, arms the auth deadline (close
 * 4001) and caps incoming messages at WSH_AUTHZ_PREAUTH_MAX. */
void wsh_authz_start(wsh_client_t *cl, wsh_identity_t *id);

/* Handles {"type":"auth","token":...}: token is the raw JSON string token
 * (with quotes) or NULL when missing; req_id is the request's raw JSON id.
 * Answers `authed` {user, exp} and re-checks the subscriptions (those no
 * longer allowed are dropped with `unsubscribed` reason "forbidden"), or
 * `error` `unauthorized` and close 4001. Always returns 0. */
int wsh_authz_handle_auth(wsh_client_t *cl, const char *token, size_t len, const char *req_id, size_t id_len);

/* Permission for one operation on one channel, decided now: subscribe (and
 * history reads) and publish. */
bool wsh_authz_may_subscribe(const wsh_client_t *cl, const char *name, size_t len);
bool wsh_authz_may_publish(const wsh_client_t *cl, const char *name, size_t len);

/* The `message` of a `forbidden` error for cl on channel name: says whether
 * a token would help or the namespace refuses client publishing. */
const char *wsh_authz_denied_why(const wsh_client_t *cl, const char *name, size_t len, bool is_publish);

/* Stops the timer and frees the state (on client close). */
void wsh_authz_release(wsh_client_t *cl);

#endif
