/* Presence registry, its frames, and the hub's subscribe/unsubscribe hooks. */
#include "hub/presence.h"

#include <stdlib.h>
#include <string.h>

#include "auth/authcfg.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "hub/authz.h"
#include "hub/bus.h"
#include "hub/channel.h"
#include "hub/client.h"
#include "hub/fanout.h"
#include "http/json_escape.h"
#include "obs/metrics.h"
#include "ws/frame.h"

wsh_presence_t *wsh_presence_new(uint32_t max_per_chan, uint64_t max_total)
{
    wsh_presence_t *p = wsh_xcalloc(1, sizeof *p);
    wsh_hmap_init(&p->by_conn);
    p->max_per_chan = max_per_chan ? max_per_chan : 1;
    p->max_total = max_total ? max_total : 1;
    return p;
}

static uint64_t key_hash(const wsh_history_chan_t *hc, uint64_t conn_id)
{
    return wsh_hash_u64(conn_id ^ wsh_hash_u64((uint64_t)(uintptr_t)hc));
}

/* Takes e out of its channel's list (swap-remove) and the map, and frees it
 * and, with the last entry, the list. */
static void unlink_entry(wsh_presence_t *p, wsh_presence_entry_t *e)
{
    wsh_presence_chan_t *pc = e->hc->presence;
    wsh_presence_entry_t *last = pc->entries[--pc->cnt];
    pc->entries[e->idx] = last;
    last->idx = e->idx;
    wsh_hmap_remove(&p->by_conn, &e->node);
    p->total--;
    if (pc->cnt == 0) {
        free(pc->entries);
        free(pc);
        e->hc->presence = NULL;
    } else if (pc->cap > 16 && pc->cnt < pc->cap / 4) {
        /* Give memory back after a crowd leaves, keeping O(1) amortised. */
        pc->cap /= 2;
        pc->entries = wsh_xrealloc(pc->entries, pc->cap * sizeof *pc->entries);
    }
    free(e);
}

void wsh_presence_free(wsh_presence_t *p)
{
    if (!p)
        return;
    size_t pos = 0;
    wsh_hnode_t *n = wsh_hmap_iter(&p->by_conn, &pos, NULL);
    while (n) {
        wsh_hnode_t *next = wsh_hmap_iter(&p->by_conn, &pos, n);
        unlink_entry(p, WSH_CONTAINER_OF(n, wsh_presence_entry_t, node));
        n = next;
    }
    wsh_hmap_dispose(&p->by_conn);
    free(p);
}

const wsh_presence_entry_t *wsh_presence_find(const wsh_presence_t *p, const wsh_history_chan_t *hc,
                                              uint64_t conn_id)
{
    if (!hc->presence)
        return NULL;
    for (wsh_hnode_t *n = wsh_hmap_find(&p->by_conn, key_hash(hc, conn_id)); n; n = wsh_hmap_next_same(n)) {
        wsh_presence_entry_t *e = WSH_CONTAINER_OF(n, wsh_presence_entry_t, node);
        if (e->hc == hc && e->conn_id == conn_id)
            return e;
    }
    return NULL;
}

int wsh_presence_add(wsh_presence_t *p, wsh_history_chan_t *hc, uint64_t conn_id, const char *client,
                     size_t client_len, const char *user, size_t user_len, const wsh_presence_entry_t **out)
{
    if (out)
        *out = NULL;
    if (wsh_presence_find(p, hc, conn_id))
        return 1;
    if (wsh_presence_count(hc) >= p->max_per_chan || p->total >= p->max_total) {
        p->refused++;
        return WSH_EOVERLOAD;
    }
    /* The members are built once here, so listing and announcing copy bytes. */
    static const char client_key[] = "\"client\":\"";
    static const char user_key[] = "\",\"user\":\"";
    size_t user_esc = user ? wsh_json_escape_len(user, user_len) : 0;
    size_t len = sizeof client_key - 1 + client_len + 1 + (user ? sizeof user_key - 1 + user_esc : 0);
    /* A client id is at most 64 bytes and a token's sub at most 256 (6
     * bytes each once escaped), so the length fits 16 bits. */
    wsh_presence_entry_t *e = wsh_xmalloc(sizeof *e + len + 1);
    char *w = e->json;
    memcpy(w, client_key, sizeof client_key - 1);
    w += sizeof client_key - 1;
    memcpy(w, client, client_len);
    w += client_len;
    if (user) {
        memcpy(w, user_key, sizeof user_key - 1);
        w += sizeof user_key - 1;
        w += wsh_json_escape(w, user_esc + 1, user, user_len);
    }
    *w++ = '"';
    *w = '\0';
    e->json_len = (uint16_t)len;
    e->hc = hc;
    e->conn_id = conn_id;
    wsh_presence_chan_t *pc = hc->presence;
    if (!pc)
        pc = hc->presence = wsh_xcalloc(1, sizeof *pc);
    if (pc->cnt == pc->cap) {
        pc->cap = pc->cap ? pc->cap * 2 : 4;
        pc->entries = wsh_xrealloc(pc->entries, pc->cap * sizeof *pc->entries);
    }
    e->idx = pc->cnt;
    pc->entries[pc->cnt++] = e;
    wsh_hmap_insert(&p->by_conn, &e->node, key_hash(hc, conn_id));
    p->total++;
    if (out)
        *out = e;
    return 0;
}

int wsh_presence_remove(wsh_presence_t *p, wsh_history_chan_t *hc, uint64_t conn_id, wsh_msg_t **leave)
{
    if (leave)
        *leave = NULL;
    wsh_presence_entry_t *e = (wsh_presence_entry_t *)wsh_presence_find(p, hc, conn_id);
    if (!e)
        return WSH_ENOTFOUND;
    if (leave)
        *leave = wsh_presence_event("leave", hc, e);
    unlink_entry(p, e);
    return 0;
}

int wsh_presence_list_json(const wsh_history_chan_t *hc, size_t max_len, wsh_buf_t *out)
{
    const wsh_presence_chan_t *pc = hc ? hc->presence : NULL;
    uint32_t cnt = pc ? pc->cnt : 0;
    /* How many fit, first: "truncated" comes before the list. Each entry
     * costs its members, the braces and a comma. */
    uint32_t fit = 0;
    size_t used = 2;
    while (fit < cnt && used + pc->entries[fit]->json_len + 3 <= max_len)
        used += pc->entries[fit++]->json_len + 3;
    int rc = wsh_buf_appendf(out, "\"count\":%u,\"truncated\":%s,\"clients\":[", cnt, fit < cnt ? "true" : "false");
    rc = rc ? rc : wsh_buf_reserve(out, used);
    for (uint32_t i = 0; i < fit && !rc; i++) {
        const wsh_presence_entry_t *e = pc->entries[i];
        rc = wsh_buf_append(out, i ? ",{" : "{", i ? 2 : 1);
        rc = rc ? rc : wsh_buf_append(out, e->json, e->json_len);
        rc = rc ? rc : wsh_buf_append(out, "}", 1);
    }
    return rc ? rc : wsh_buf_append(out, "]", 1);
}

wsh_msg_t *wsh_presence_event(const char *type, const wsh_history_chan_t *hc, const wsh_presence_entry_t *e)
{
    static const char head[] = "{\"type\":\"";
    static const char chan_key[] = "\",\"channel\":\"";
    size_t type_len = strlen(type);
    size_t payload = sizeof head - 1 + type_len + sizeof chan_key - 1 + hc->name_len + 2 + e->json_len + 1;
    uint8_t hdr[WSH_FRAME_MAX_SERVER_HEADER];
    size_t hdr_len = wsh_frame_header_encode(hdr, WSH_OP_TEXT, true, 0, payload);
    /* Our own bounded size (names ≤ 255, members ≤ 2 KiB): abort on OOM. */
    wsh_msg_t *m = wsh_msg_new(hdr_len + payload);
    uint8_t *w = m->data;
#define PUT(p, n) (memcpy(w, (p), (n)), w += (n))
    PUT(hdr, hdr_len);
    PUT(head, sizeof head - 1);
    PUT(type, type_len);
    PUT(chan_key, sizeof chan_key - 1);
    PUT(hc->name, hc->name_len);
    PUT("\",", 2);
    PUT(e->json, e->json_len);
    *w = '}';
#undef PUT
    m->pub_ns = 0;
    return m;
}

/* --- the hub's side ----------------------------------------------------- */

bool wsh_presence_is_on(const wsh_hub_t *hub, const char *name, size_t len)
{
    const wsh_auth_config_t *ac = hub->opts->auth;
    return hub->presence && ac && (wsh_authcfg_ns_for(ac, name, len)->flags & WSH_NS_PRESENCE);
}

/* Sends frame m (the caller's reference is taken) to the channel's other
 * subscribers: through every worker's inbox when there is a bus, else
 * straight to this hub's local subscribers. */
static void announce(wsh_hub_t *hub, wsh_channel_t *ch, wsh_msg_t *m, uint64_t conn_id)
{
    if (hub->bus) {
        hub->wake_pending |= wsh_bus_post_event(hub->bus, hub->bus_idx, m, conn_id);
        return;
    }
    wsh_fanout_deliver_event(ch, m, conn_id);
    wsh_msg_unref(m);
}

void wsh_presence_subscribed(wsh_hub_t *hub, wsh_client_t *cl, wsh_channel_t *ch)
{
    if (!wsh_presence_is_on(hub, ch->name, ch->name_len))
        return;
    const char *user = cl->authz && cl->authz->id ? cl->authz->id->user : NULL;
    uint64_t conn_id = cl->ws->conn->id;
    const wsh_presence_entry_t *e;
    int rc = wsh_presence_add(hub->presence, ch->hc, conn_id, cl->id, strlen(cl->id), user, user ? strlen(user) : 0,
                              &e);
    if (rc == WSH_EOVERLOAD) {
        /* The subscription stands; only the listing is refused
         * (docs/presence.md, "Limits"). */
        WSH_METRIC_INC(presence_refused);
        wsh_log_debug(conn_id, "presence full channel=%s: subscribed, not listed", ch->name);
    }
    if (rc != 0)
        return;
    WSH_METRIC_INC(presence_entries);
    announce(hub, ch, wsh_presence_event("join", ch->hc, e), conn_id);
}

void wsh_presence_unsubscribed(wsh_hub_t *hub, wsh_client_t *cl, wsh_channel_t *ch)
{
    /* Only channels with someone listed have a list: no namespace lookup
     * on the way out of every other channel. */
    if (!hub->presence || !ch->hc->presence)
        return;
    uint64_t conn_id = cl->ws->conn->id;
    wsh_msg_t *leave;
    if (wsh_presence_remove(hub->presence, ch->hc, conn_id, &leave) != 0)
        return;
    WSH_METRIC_DEC(presence_entries);
    announce(hub, ch, leave, conn_id);
}

void wsh_presence_wake(wsh_hub_t *hub)
{
    uint64_t mask = hub->wake_pending;
    hub->wake_pending = 0;
    if (mask && hub->bus)
        wsh_bus_wake(hub->bus, mask);
}
