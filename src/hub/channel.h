/* The channel registry of one hub: channels by name, each with an array of
 * its subscriptions for fan-out; subscribe and unsubscribe in O(1)
 * amortised; a channel is freed when its last subscriber leaves. Offsets are
 * not here (store/history.c assigns them). */
#ifndef WSH_HUB_CHANNEL_H
#define WSH_HUB_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/hmap.h"
#include "core/list.h"
#include "hub/hub.h"

#define WSH_CHANNEL_NAME_MAX 255

struct wsh_client;
struct wsh_channel;

/* One client's subscription to one channel. Allocated by subscribe, freed by
 * unsubscribe (or when the client goes). */
typedef struct wsh_sub {
    struct wsh_client *client;
    struct wsh_channel *ch;
    uint64_t skip_through;     /* offsets up to this were sent at subscribe time (snapshot or replay) */
    /* The client's next subscription, in subscribe order: singly linked
     * (a client holds few, and unlinking walks them) because every idle
     * subscriber pays for each pointer here. */
    struct wsh_sub *client_next;
    uint32_t idx;              /* position in ch->subs */
} wsh_sub_t;

/* A channel with at least one subscriber. Created by the first subscribe,
 * freed by the last unsubscribe. */
typedef struct wsh_channel {
    wsh_hnode_t node;          /* in hub->channels, keyed by name */
    struct wsh_history_chan *hc; /* the process-wide record (offsets, total subscribers) */
    wsh_sub_t **subs;          /* dense array: fan-out walks it */
    uint32_t sub_cnt, sub_cap;
    uint16_t name_len;
    char name[];               /* NUL-terminated */
} wsh_channel_t;

/* PROTOCOL: 1-255 bytes of [A-Za-z0-9_.:@/-]. */
bool wsh_channel_name_is_valid(const char *name, size_t len);

/* The channel named name, or NULL when nobody on this hub subscribes to it. */
wsh_channel_t *wsh_channel_find(const wsh_hub_t *hub, const char *name, size_t len);

/* Subscribes cl to name (valid name required). Returns 0 for a new
 * subscription, 1 when cl already was subscribed (idempotent), or
 * WSH_EPOLICY when cl already holds max_subscriptions, WSH_EOVERLOAD when the
 * name is new and the process already holds opts->max_channels channels. */
int wsh_channel_subscribe(wsh_hub_t *hub, struct wsh_client *cl, const char *name, size_t len);

/* The same with the history lock already held by the caller (recovery
 * registers the subscription and snapshots the channel atomically). */
int wsh_channel_subscribe_locked(wsh_hub_t *hub, struct wsh_client *cl, const char *name, size_t len);

/* cl's subscription to name, or NULL. */
wsh_sub_t *wsh_channel_find_sub(const wsh_hub_t *hub, const struct wsh_client *cl, const char *name, size_t len);

/* Unsubscribes cl from name: 0, or WSH_ENOTFOUND when it was not subscribed. */
int wsh_channel_unsubscribe(wsh_hub_t *hub, struct wsh_client *cl, const char *name, size_t len);

/* Drops every subscription of cl (the client is going away). */
void wsh_channel_unsubscribe_all(wsh_hub_t *hub, struct wsh_client *cl);

#endif
