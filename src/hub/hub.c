/* Creation and release of a loop's hub state. */
#include "hub/hub.h"

#include <stdlib.h>

#include "core/alloc.h"

wsh_hub_t *wsh_hub_new(wsh_loop_t *loop, const wsh_hub_opts_t *opts, wsh_history_t *history)
{
    wsh_hub_t *hub = wsh_xcalloc(1, sizeof *hub);
    hub->loop = loop;
    hub->opts = opts;
    hub->history = history;
    wsh_hmap_init(&hub->channels);
    wsh_hmap_init(&hub->subs);
    return hub;
}

void wsh_hub_free(wsh_hub_t *hub)
{
    wsh_hmap_dispose(&hub->channels);
    wsh_hmap_dispose(&hub->subs);
    free(hub);
}
