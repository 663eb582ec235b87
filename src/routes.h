/* The server's own HTTP routes: /health, /metrics, the /ws and /echo
 * upgrades; the hub API routes come from http/api.c. */
#ifndef WSH_ROUTES_H
#define WSH_ROUTES_H

#include "worker.h"

/* Registers every route on w's router. */
void wsh_routes_register(wsh_worker_t *w);

#endif
