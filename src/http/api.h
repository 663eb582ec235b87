/* The hub's HTTP API (PROTOCOL.md): publish to one or several channels and
 * inspect channels. The HTTP face of the hub, so unlike the rest of http/ it
 * sits above hub/; server.c registers its routes. */
#ifndef WSH_HTTP_API_H
#define WSH_HTTP_API_H

#include "http/router.h"
#include "hub/hub.h"

/* Registers /api/publish, /api/channels and /api/channels/ on r, answering
 * from hub. 0 or -ENOSPC. */
int wsh_api_register(wsh_router_t *r, wsh_hub_t *hub);

#endif
