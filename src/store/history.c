/* Offset assignment and per-channel epoch records, in memory. */
#include "store/history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/list.h"

wsh_history_t *wsh_history_new(bool is_shared)
{
    wsh_history_t *h = wsh_xcalloc(1, sizeof *h);
    wsh_hmap_init(&h->chans);
    h->is_shared = is_shared;
    pthread_mutex_init(&h->lock, NULL);
    /* Without durable storage every restart loses history, so each process
     * lifetime is a new epoch: a client resuming with the old epoch learns
     * that its gap cannot be filled (PROTOCOL.md "Delivery model"). */
    uint64_t r;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = wsh_clock_wall_ms() ^ ((uint64_t)(uintptr_t)h << 16);
    snprintf(h->epoch, sizeof h->epoch, "%016llx", (unsigned long long)r);
    return h;
}

void wsh_history_free(wsh_history_t *h)
{
    if (!h)
        return;
    size_t pos = 0;
    wsh_hnode_t *n = wsh_hmap_iter(&h->chans, &pos, NULL);
    while (n) {
        wsh_hnode_t *next = wsh_hmap_iter(&h->chans, &pos, n);
        free(WSH_CONTAINER_OF(n, wsh_history_chan_t, node));
        n = next;
    }
    wsh_hmap_dispose(&h->chans);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

wsh_history_chan_t *wsh_history_find(const wsh_history_t *h, const char *name, size_t len)
{
    uint64_t hash = wsh_hash_bytes(name, len);
    for (wsh_hnode_t *n = wsh_hmap_find(&h->chans, hash); n; n = wsh_hmap_next_same(n)) {
        wsh_history_chan_t *c = WSH_CONTAINER_OF(n, wsh_history_chan_t, node);
        if (c->name_len == len && memcmp(c->name, name, len) == 0)
            return c;
    }
    return NULL;
}

wsh_history_chan_t *wsh_history_get(wsh_history_t *h, const char *name, size_t len)
{
    wsh_history_chan_t *c = wsh_history_find(h, name, len);
    if (!c) {
        c = wsh_xcalloc(1, sizeof *c + len + 1);
        memcpy(c->name, name, len);
        c->name_len = (uint16_t)len;
        memcpy(c->epoch, h->epoch, sizeof c->epoch);
        wsh_hmap_insert(&h->chans, &c->node, wsh_hash_bytes(name, len));
    }
    return c;
}

void wsh_history_release(wsh_history_t *h, wsh_history_chan_t *c)
{
    /* A published channel keeps its record so its offsets never restart; a
     * channel only ever subscribed to leaves nothing behind, so subscribing
     * to made-up names cannot grow the store. */
    if (c->subscribers == 0 && c->last_offset == 0) {
        wsh_hmap_remove(&h->chans, &c->node);
        free(c);
    }
}

wsh_history_chan_t *wsh_history_append(wsh_history_t *h, const char *name, size_t len, uint64_t ts)
{
    wsh_history_chan_t *c = wsh_history_get(h, name, len);
    c->last_offset++;
    c->last_ts = ts;
    return c;
}
