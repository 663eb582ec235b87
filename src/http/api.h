/* The hub's HTTP API (PROTOCOL.md): publish to one or several channels and
 * inspect channels. The HTTP face of the hub, so unlike the rest of http/ it
 * sits above hub/; server.c registers its routes. */
#ifndef WSH_HTTP_API_H
#define WSH_HTTP_API_H

#include "http/access.h"
#include "http/router.h"
#include "hub/hub.h"

/* Registers /api/publish, /api/channels and /api/channels/ on r, answering
 * from hub. 0 or -ENOSPC. */
int wsh_api_register(wsh_router_t *r, wsh_hub_t *hub);

/* The API-key gate (docs/security.md): true when a is NULL, has no keys, or
 * x carries one of them as `Authorization: Bearer KEY`. Otherwise answers
 * 401 (no well-formed credential, with WWW-Authenticate) or 403 (a key that
 * matches none) and returns false. The key itself is never logged. */
bool wsh_api_check_key(wsh_http_x_t *x, const wsh_access_t *a);

/* The same gate on a request's head, without waiting for its body (a
 * wsh_httpconn_opts_t head_gate; ud is the wsh_access_t): a request under
 * /api/ without a valid key is answered 401/403 with Connection: close, so
 * an unauthenticated client cannot make the hub buffer a body up to
 * max-body. True lets the body be read. */
bool wsh_api_head_gate(wsh_conn_t *c, const wsh_http_req_t *req, const void *ud);

#endif
