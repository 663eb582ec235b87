/* Presence (docs/presence.md): who is subscribed to each channel of a
 * namespace with the `presence` flag. A process-wide registry of
 * (channel, connection) entries shared by every worker under the history
 * lock, hung off each channel's history record; the `join`/`leave` frames
 * that announce its changes; the JSON list that `presence` answers with.
 * Not delivery (bus.c and fanout.c carry the frames) and not the permission
 * checks (authz.c). */
#ifndef WSH_HUB_PRESENCE_H
#define WSH_HUB_PRESENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/hmap.h"
#include "core/msg.h"
#include "hub/hub.h"
#include "store/history.h"

struct wsh_client;
struct wsh_channel;

/* Defaults of max-presence (entries per channel) and max-presence-total
 * (entries in the process). */
#define WSH_PRESENCE_CHAN_MAX 10000
#define WSH_PRESENCE_TOTAL_MAX 1000000
/* Largest `clients` list one answer carries, in bytes (the WebSocket answer
 * is further bounded by half of max-queue); past it the list is cut and the
 * answer says "truncated":true. */
#define WSH_PRESENCE_REPLY_MAX (1u << 20)

/* One listed connection on one channel. Created by wsh_presence_add, freed by
 * wsh_presence_remove (or wsh_presence_free); lives under the history lock. */
typedef struct wsh_presence_entry {
    wsh_hnode_t node;            /* in the registry's map, keyed by (channel record, connection id) */
    wsh_history_chan_t *hc;
    uint64_t conn_id;            /* the connection's id: unique in the process, never reused */
    uint32_t idx;                /* position in hc->presence->entries */
    uint16_t json_len;
    /* The members of this client's object, ready to copy:
     * "client":"ID" or "client":"ID","user":"USER" (USER JSON-escaped). */
    char json[];
} wsh_presence_entry_t;

/* One channel's list: hc->presence. Created with its first entry, freed
 * with its last. */
typedef struct wsh_presence_chan {
    wsh_presence_entry_t **entries; /* dense: swap-remove keeps it so */
    uint32_t cnt, cap;
} wsh_presence_chan_t;

/* One per process, created by the server (or a test) and shared by every
 * hub; every call below needs the history lock held (or a single-threaded
 * store). */
typedef struct wsh_presence {
    wsh_hmap_t by_conn;          /* every entry, keyed by (hc, conn_id) */
    uint64_t total;              /* entries in the process */
    uint64_t refused;            /* adds refused by a cap since the start */
    uint32_t max_per_chan;
    uint64_t max_total;
} wsh_presence_t;

/* A registry with the two caps (each at least 1). */
wsh_presence_t *wsh_presence_new(uint32_t max_per_chan, uint64_t max_total);
/* Frees p and every entry still listed (detaching the lists from their
 * channel records, so call it before wsh_history_free). NULL is a no-op. */
void wsh_presence_free(wsh_presence_t *p);

/* Lists connection conn_id on hc as client (1-64 id characters, no escapes
 * needed) with user (the token's `sub`, escaped here; NULL when anonymous).
 * Returns 0 and *out (may be NULL) the entry, 1 when already listed, or
 * WSH_EOVERLOAD when hc holds max_per_chan entries or the process
 * max_total (nothing listed: the subscription stands without an entry). */
int wsh_presence_add(wsh_presence_t *p, wsh_history_chan_t *hc, uint64_t conn_id, const char *client,
                     size_t client_len, const char *user, size_t user_len, const wsh_presence_entry_t **out);

/* The entry of conn_id on hc, or NULL. */
const wsh_presence_entry_t *wsh_presence_find(const wsh_presence_t *p, const wsh_history_chan_t *hc,
                                              uint64_t conn_id);

/* Unlists conn_id from hc. With leave non-NULL, *leave is the `leave` frame
 * for it (refcount 1, the caller's). Returns 0, or WSH_ENOTFOUND when it was
 * not listed (then *leave is NULL). Frees hc->presence with its last entry. */
int wsh_presence_remove(wsh_presence_t *p, wsh_history_chan_t *hc, uint64_t conn_id, wsh_msg_t **leave);

/* Entries listed on hc. */
static inline uint32_t wsh_presence_count(const wsh_history_chan_t *hc)
{
    return hc && hc->presence ? hc->presence->cnt : 0;
}

/* Appends "count":N,"truncated":B,"clients":[{...},...] for hc (NULL: an
 * empty list): every entry while the list stays within max_len bytes, then
 * truncated is true and count still says how many are listed. 0 or
 * WSH_ENOMEM. */
int wsh_presence_list_json(const wsh_history_chan_t *hc, size_t max_len, wsh_buf_t *out);

/* The WebSocket text frame {"type":TYPE,"channel":C,<e's members>} where
 * type is "join" or "leave"; refcount 1. */
wsh_msg_t *wsh_presence_event(const char *type, const wsh_history_chan_t *hc, const wsh_presence_entry_t *e);

/* --- the hub's side (hub->presence set, namespaces from hub->opts->auth) --- */

/* True when channel name is in a namespace with the `presence` flag and the
 * hub keeps a registry. */
bool wsh_presence_is_on(const wsh_hub_t *hub, const char *name, size_t len);

/* After cl's new subscription to ch (history lock held): lists cl when the
 * channel has presence and announces `join` to the channel's other
 * subscribers on every worker (through the bus: the wake-ups are added to
 * hub->wake_pending for wsh_presence_wake after the unlock; with one worker
 * the frame is delivered here). A full list leaves cl unlisted and silent. */
void wsh_presence_subscribed(wsh_hub_t *hub, struct wsh_client *cl, struct wsh_channel *ch);

/* Before cl's subscription to ch is dropped or right after (history lock
 * held, ch still allocated): unlists cl and announces `leave` the same
 * way, unless cl was not listed. */
void wsh_presence_unsubscribed(wsh_hub_t *hub, struct wsh_client *cl, struct wsh_channel *ch);

/* Wakes the workers whose inbox got presence frames while the lock was held
 * (call after releasing it). */
void wsh_presence_wake(wsh_hub_t *hub);

#endif
