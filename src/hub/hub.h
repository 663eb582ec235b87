/* The hub of one loop: the state every client of that loop shares (options
 * now; channels and subscriptions as the hub grows). Not sockets. */
#ifndef WSH_HUB_HUB_H
#define WSH_HUB_HUB_H

#include <stdint.h>

#include "loop/loop.h"

/* Read-only options shared by every hub (from the config). */
typedef struct wsh_hub_opts {
    uint32_t heartbeat_s; /* announced in welcome */
} wsh_hub_opts_t;

/* One per loop; created and freed by the server. */
typedef struct wsh_hub {
    wsh_loop_t *loop;
    const wsh_hub_opts_t *opts;
    uint64_t clients;      /* connected clients on this loop */
    uint64_t clients_total;
} wsh_hub_t;

wsh_hub_t *wsh_hub_new(wsh_loop_t *loop, const wsh_hub_opts_t *opts);
void wsh_hub_free(wsh_hub_t *hub);

#endif
