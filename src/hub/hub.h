/* The hub of one loop: the channel registry, the subscriptions and the
 * options every client of that loop shares. Not sockets. */
#ifndef WSH_HUB_HUB_H
#define WSH_HUB_HUB_H

#include <stdint.h>

#include "core/hmap.h"
#include "core/pool.h"
#include "loop/loop.h"
#include "store/history.h"

/* Read-only options shared by every hub (from the config). */
typedef struct wsh_hub_opts {
    uint32_t heartbeat_s;       /* announced in welcome */
    uint32_t max_subscriptions; /* per connection */
    const struct wsh_auth_config *auth; /* tokens and namespaces (auth/authcfg.h); NULL: all open */
    const struct wsh_access *access; /* API keys and origins (http/access.h); NULL: all open */
    uint32_t msg_rate, msg_burst;    /* messages per second per connection; rate 0 = no limit */
    uint64_t max_channels;           /* channel records in the process (publish or subscribe) */
    size_t presence_reply_max;       /* bytes of a `presence` answer's list (0: WSH_PRESENCE_REPLY_MAX) */
} wsh_hub_opts_t;

/* One per loop; created and freed by the server. */
typedef struct wsh_hub {
    wsh_loop_t *loop;
    const wsh_hub_opts_t *opts;
    wsh_history_t *history;  /* offsets and epochs (shared, owned by the server) */
    wsh_hmap_t channels;     /* wsh_channel_t by name: channels with subscribers */
    wsh_pool_t sub_pool;     /* wsh_sub_t records (one per subscription: no malloc header each) */
    wsh_pool_t client_pool;  /* WebSocket + client blocks of connections with generated ids */
    struct wsh_bus *bus;     /* cross-worker delivery; NULL with one worker and no journal */
    struct wsh_journal *journal; /* durable store (--data-dir), or NULL */
    struct wsh_receipts *receipts; /* shared receipt bookkeeping (under the history lock) */
    struct wsh_presence *presence; /* shared presence registry (under the history lock), or NULL */
    uint64_t wake_pending;   /* workers to wake once the history lock is released (presence events) */
    struct wsh_net *net;     /* this worker's connections, to find a publisher again */
    size_t bus_idx;          /* this hub's slot in bus */
    uint64_t clients;        /* connected clients on this loop */
} wsh_hub_t;

wsh_hub_t *wsh_hub_new(wsh_loop_t *loop, const wsh_hub_opts_t *opts, wsh_history_t *history);
/* Frees the hub; every client must be gone (so every channel is). */
void wsh_hub_free(wsh_hub_t *hub);

#endif
