/* Channel registry: name → channel, (client, channel) → subscription. */
#include "hub/channel.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/pool.h"
#include "hub/client.h"
#include "hub/presence.h"
#include "obs/metrics.h"

bool wsh_channel_name_is_valid(const char *name, size_t len)
{
    if (len == 0 || len > WSH_CHANNEL_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '.' || c == ':' || c == '@' || c == '/' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

wsh_channel_t *wsh_channel_find(const wsh_hub_t *hub, const char *name, size_t len)
{
    uint64_t hash = wsh_hash_bytes(name, len);
    for (wsh_hnode_t *n = wsh_hmap_find(&hub->channels, hash); n; n = wsh_hmap_next_same(n)) {
        wsh_channel_t *ch = WSH_CONTAINER_OF(n, wsh_channel_t, node);
        if (ch->name_len == len && memcmp(ch->name, name, len) == 0)
            return ch;
    }
    return NULL;
}

/* (client, channel) → subscription by walking the shorter side: the
 * client's list (at most max-subscriptions) or the channel's dense array.
 * No hash table: its node and bucket would cost every subscription ~30
 * bytes, and idle-connection memory is what this registry is judged on. */
static wsh_sub_t *find_sub(const wsh_hub_t *hub, const wsh_client_t *cl, const wsh_channel_t *ch)
{
    (void)hub;
    if (cl->sub_cnt < ch->sub_cnt) {
        for (wsh_sub_t *s = cl->subs; s; s = s->client_next)
            if (s->ch == ch)
                return s;
        return NULL;
    }
    for (uint32_t i = 0; i < ch->sub_cnt; i++)
        if (ch->subs[i]->client == cl)
            return ch->subs[i];
    return NULL;
}

int wsh_channel_subscribe_locked(wsh_hub_t *hub, wsh_client_t *cl, const char *name, size_t len)
{
    wsh_channel_t *ch = wsh_channel_find(hub, name, len);
    if (ch && find_sub(hub, cl, ch))
        return 1;
    if (cl->sub_cnt >= hub->opts->max_subscriptions)
        return WSH_EPOLICY;
    /* Subscribing to a name nobody uses creates a record too (until the
     * last subscriber leaves), so the channel cap applies here as well. */
    if (!ch && hub->opts->max_channels && hub->history->chans.cnt >= hub->opts->max_channels &&
        !wsh_history_find(hub->history, name, len))
        return WSH_EOVERLOAD;
    if (!ch) {
        ch = wsh_xcalloc(1, sizeof *ch + len + 1);
        memcpy(ch->name, name, len);
        ch->name_len = (uint16_t)len;
        ch->hc = wsh_history_get(hub->history, name, len);
        wsh_hmap_insert(&hub->channels, &ch->node, wsh_hash_bytes(name, len));
    }
    /* The gauge counts channels process-wide, so it moves with the shared
     * record, not with each worker's local channel. */
    if (ch->hc->subscribers++ == 0)
        WSH_METRIC_INC(channels);
    if (ch->sub_cnt == ch->sub_cap) {
        ch->sub_cap = ch->sub_cap ? ch->sub_cap * 2 : 4;
        ch->subs = wsh_xrealloc(ch->subs, ch->sub_cap * sizeof *ch->subs);
    }
    wsh_sub_t *s = wsh_pool_alloc(&hub->sub_pool);
    s->client = cl;
    s->ch = ch;
    s->idx = ch->sub_cnt;
    ch->subs[ch->sub_cnt++] = s;
    wsh_sub_t **at = &cl->subs;
    while (*at)
        at = &(*at)->client_next;
    *at = s;
    cl->sub_cnt++;
    WSH_METRIC_INC(subscriptions);
    /* Listed and announced under the lock that registered the
     * subscription, so every worker sees joins and leaves in the order the
     * registry changed. */
    if (hub->presence)
        wsh_presence_subscribed(hub, cl, ch);
    return 0;
}

int wsh_channel_subscribe(wsh_hub_t *hub, wsh_client_t *cl, const char *name, size_t len)
{
    wsh_history_lock(hub->history);
    int rc = wsh_channel_subscribe_locked(hub, cl, name, len);
    wsh_history_unlock(hub->history);
    wsh_presence_wake(hub);
    return rc;
}

static void drop_sub(wsh_hub_t *hub, wsh_sub_t *s)
{
    wsh_channel_t *ch = s->ch;
    /* Swap-remove keeps the array dense for fan-out; delivery order among
     * subscribers is not part of the contract, only order per subscriber. */
    wsh_sub_t *last = ch->subs[--ch->sub_cnt];
    ch->subs[s->idx] = last;
    last->idx = s->idx;
    wsh_sub_t **at = &s->client->subs;
    while (*at != s)
        at = &(*at)->client_next;
    *at = s->client_next;
    s->client->sub_cnt--;
    WSH_METRIC_DEC(subscriptions);
    wsh_client_t *cl = s->client;
    wsh_pool_free(&hub->sub_pool, s);
    wsh_history_lock(hub->history);
    /* Before the record can go: its list holds cl's entry. */
    if (hub->presence)
        wsh_presence_unsubscribed(hub, cl, ch);
    if (--ch->hc->subscribers == 0)
        WSH_METRIC_DEC(channels);
    if (ch->sub_cnt == 0)
        wsh_history_release(hub->history, ch->hc);
    wsh_history_unlock(hub->history);
    wsh_presence_wake(hub);
    if (ch->sub_cnt == 0) {
        wsh_hmap_remove(&hub->channels, &ch->node);
        free(ch->subs);
        free(ch);
    } else if (ch->sub_cap > 16 && ch->sub_cnt < ch->sub_cap / 4) {
        /* Give memory back after a crowd leaves, keeping O(1) amortised. */
        ch->sub_cap /= 2;
        ch->subs = wsh_xrealloc(ch->subs, ch->sub_cap * sizeof *ch->subs);
    }
}

wsh_sub_t *wsh_channel_find_sub(const wsh_hub_t *hub, const wsh_client_t *cl, const char *name, size_t len)
{
    wsh_channel_t *ch = wsh_channel_find(hub, name, len);
    return ch ? find_sub(hub, cl, ch) : NULL;
}

int wsh_channel_unsubscribe(wsh_hub_t *hub, wsh_client_t *cl, const char *name, size_t len)
{
    wsh_channel_t *ch = wsh_channel_find(hub, name, len);
    wsh_sub_t *s = ch ? find_sub(hub, cl, ch) : NULL;
    if (!s)
        return WSH_ENOTFOUND;
    drop_sub(hub, s);
    return 0;
}

void wsh_channel_unsubscribe_all(wsh_hub_t *hub, wsh_client_t *cl)
{
    while (cl->subs)
        drop_sub(hub, cl->subs);
}
