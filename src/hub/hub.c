/* Creation and release of a loop's hub state. */
#include "hub/hub.h"

#include <stdlib.h>

#include "core/alloc.h"
#include "hub/channel.h"
#include "hub/client.h"

wsh_hub_t *wsh_hub_new(wsh_loop_t *loop, const wsh_hub_opts_t *opts, wsh_history_t *history)
{
    wsh_hub_t *hub = wsh_xcalloc(1, sizeof *hub);
    hub->loop = loop;
    hub->opts = opts;
    hub->history = history;
    wsh_hmap_init(&hub->channels);
    wsh_pool_init(&hub->sub_pool, sizeof(wsh_sub_t));
    wsh_pool_init(&hub->client_pool, WSH_CLIENT_BLOCK(WSH_CLIENT_GEN_ID_LEN));
    return hub;
}

void wsh_hub_free(wsh_hub_t *hub)
{
    wsh_hmap_dispose(&hub->channels);
    wsh_pool_dispose(&hub->sub_pool);
    wsh_pool_dispose(&hub->client_pool);
    free(hub);
}
