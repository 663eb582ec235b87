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
    wsh_hmap_init(&h->idem);
    wsh_list_init(&h->idem_fifo);
    h->idem_window_ms = 5 * 60 * 1000;
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
        wsh_history_chan_t *c = WSH_CONTAINER_OF(n, wsh_history_chan_t, node);
        for (uint32_t i = 0; i < c->ring_cnt; i++)
            wsh_msg_unref(c->ring[(c->ring_head + i) % c->ring_cap].frame);
        free(c->ring);
        free(c);
        n = next;
    }
    while (!wsh_list_is_empty(&h->idem_fifo)) {
        wsh_history_idem_t *e = WSH_CONTAINER_OF(h->idem_fifo.next, wsh_history_idem_t, fifo);
        wsh_list_remove(&e->fifo);
        free(e);
    }
    wsh_hmap_dispose(&h->idem);
    wsh_hmap_dispose(&h->chans);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

void wsh_history_set_limits(wsh_history_t *h, const wsh_history_limits_t *lim)
{
    h->lim = *lim;
}

int wsh_history_add_rule(wsh_history_t *h, const char *prefix, const wsh_history_limits_t *lim)
{
    size_t n = strlen(prefix);
    if (h->rule_cnt == WSH_HISTORY_RULES_MAX || n >= sizeof h->rules[0].prefix)
        return -1;
    wsh_history_rule_t *r = &h->rules[h->rule_cnt++];
    memcpy(r->prefix, prefix, n + 1);
    r->prefix_len = n;
    r->lim = *lim;
    return 0;
}

const wsh_history_limits_t *wsh_history_limits_for(const wsh_history_t *h, const char *name, size_t len)
{
    const wsh_history_rule_t *best = NULL;
    for (size_t i = 0; i < h->rule_cnt; i++) {
        const wsh_history_rule_t *r = &h->rules[i];
        if (r->prefix_len <= len && memcmp(name, r->prefix, r->prefix_len) == 0 &&
            (!best || r->prefix_len > best->prefix_len))
            best = r;
    }
    return best ? &best->lim : &h->lim;
}

uint64_t wsh_history_max_age_ms(const wsh_history_t *h)
{
    uint64_t m = h->lim.max_age_ms;
    for (size_t i = 0; i < h->rule_cnt && m; i++) {
        uint64_t a = h->rules[i].lim.max_age_ms;
        m = a == 0 ? 0 : (a > m ? a : m);
    }
    return m;
}

static void drop_oldest(wsh_history_chan_t *c)
{
    wsh_history_entry_t *e = &c->ring[c->ring_head];
    c->evicted_offset = e->offset;
    c->evicted_ts = e->ts;
    wsh_msg_unref(e->frame);
    c->ring_head = (c->ring_head + 1) % c->ring_cap;
    c->ring_cnt--;
}

void wsh_history_trim(wsh_history_t *h, wsh_history_chan_t *c, uint64_t now_ms)
{
    (void)h;
    while (c->ring_cnt > c->lim->max_count)
        drop_oldest(c);
    if (c->lim->max_age_ms && now_ms > c->lim->max_age_ms) {
        uint64_t cutoff = now_ms - c->lim->max_age_ms;
        while (c->ring_cnt && c->ring[c->ring_head].ts < cutoff)
            drop_oldest(c);
    }
    if (c->ring_cnt == 0 && c->ring) {
        /* An idle channel gives its ring back. */
        free(c->ring);
        c->ring = NULL;
        c->ring_cap = c->ring_head = 0;
    }
}

void wsh_history_commit(wsh_history_t *h, wsh_history_chan_t *c, wsh_msg_t *frame, uint64_t offset, uint64_t ts)
{
    if (offset > c->committed_offset)
        c->committed_offset = offset;
    if (c->lim->max_count == 0 || !frame) {
        c->evicted_offset = offset;
        c->evicted_ts = ts;
        return;
    }
    if (c->ring_cnt == c->ring_cap) {
        /* Grow geometrically up to max_count, unrolling so head is 0. */
        uint32_t cap = c->ring_cap ? c->ring_cap * 2 : 8;
        if (cap > c->lim->max_count + 1)
            cap = c->lim->max_count + 1;
        if (cap <= c->ring_cnt) {
            drop_oldest(c);
        } else {
            wsh_history_entry_t *r = wsh_xmalloc(cap * sizeof *r);
            for (uint32_t i = 0; i < c->ring_cnt; i++)
                r[i] = c->ring[(c->ring_head + i) % c->ring_cap];
            free(c->ring);
            c->ring = r;
            c->ring_cap = cap;
            c->ring_head = 0;
        }
    }
    wsh_msg_t *own;
    if (h->is_shared) {
        /* Another thread may later replay or evict it: the store's copy has
         * a refcount only ever touched under the store's lock. */
        own = wsh_msg_new_copy(frame->data, frame->len);
    } else {
        own = wsh_msg_ref(frame);
    }
    c->ring[(c->ring_head + c->ring_cnt) % c->ring_cap] = (wsh_history_entry_t){offset, ts, own};
    c->ring_cnt++;
    wsh_history_trim(h, c, ts);
}

size_t wsh_history_sweep(wsh_history_t *h, uint64_t now_ms)
{
    size_t dropped = 0, pos = 0;
    wsh_hnode_t *n = wsh_hmap_iter(&h->chans, &pos, NULL);
    while (n) {
        wsh_hnode_t *next = wsh_hmap_iter(&h->chans, &pos, n);
        wsh_history_chan_t *c = WSH_CONTAINER_OF(n, wsh_history_chan_t, node);
        uint32_t before = c->ring_cnt;
        wsh_history_trim(h, c, now_ms);
        dropped += before - c->ring_cnt;
        n = next;
    }
    return dropped;
}

bool wsh_history_covers(const wsh_history_chan_t *c, uint64_t since)
{
    return since <= c->committed_offset && since >= c->evicted_offset;
}

uint32_t wsh_history_first_after(const wsh_history_chan_t *c, uint64_t since)
{
    /* Binary search: offsets in the ring increase but need not be
     * consecutive (a failed journal commit leaves a hole). */
    uint32_t lo = 0, hi = c->ring_cnt;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->ring[(c->ring_head + mid) % c->ring_cap].offset <= since)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

wsh_msg_t *wsh_history_frame_for_caller(const wsh_history_t *h, const wsh_history_entry_t *e)
{
    if (!h->is_shared)
        return wsh_msg_ref(e->frame);
    return wsh_msg_new_copy(e->frame->data, e->frame->len);
}

static uint64_t idem_hash(const wsh_history_chan_t *c, const char *key, size_t len)
{
    return wsh_hash_bytes(key, len) ^ wsh_hash_u64((uint64_t)(uintptr_t)c);
}

uint64_t wsh_history_idem_find(wsh_history_t *h, const wsh_history_chan_t *c, const char *key, size_t len,
                               uint64_t now_ms)
{
    /* Keys expire in the order they were added, so the oldest are at the head. */
    while (!wsh_list_is_empty(&h->idem_fifo)) {
        wsh_history_idem_t *e = WSH_CONTAINER_OF(h->idem_fifo.next, wsh_history_idem_t, fifo);
        if (e->expires_ms > now_ms)
            break;
        wsh_list_remove(&e->fifo);
        wsh_hmap_remove(&h->idem, &e->node);
        free(e);
    }
    for (wsh_hnode_t *n = wsh_hmap_find(&h->idem, idem_hash(c, key, len)); n; n = wsh_hmap_next_same(n)) {
        wsh_history_idem_t *e = WSH_CONTAINER_OF(n, wsh_history_idem_t, node);
        if (e->hc == c && e->key_len == len && memcmp(e->key, key, len) == 0)
            return e->offset;
    }
    return 0;
}

void wsh_history_idem_add(wsh_history_t *h, wsh_history_chan_t *c, const char *key, size_t len, uint64_t offset,
                          uint64_t now_ms)
{
    wsh_history_idem_t *e = wsh_xmalloc(sizeof *e + len);
    e->expires_ms = now_ms + h->idem_window_ms;
    e->hc = c;
    e->offset = offset;
    e->key_len = (uint16_t)len;
    memcpy(e->key, key, len);
    wsh_hmap_insert(&h->idem, &e->node, idem_hash(c, key, len));
    wsh_list_insert_tail(&h->idem_fifo, &e->fifo);
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
        c->lim = wsh_history_limits_for(h, name, len);
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
        free(c->ring);
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
