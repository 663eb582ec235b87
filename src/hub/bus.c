/* Per-worker inboxes for publishes made on other workers. */
#include "hub/bus.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "hub/channel.h"
#include "core/err.h"
#include "hub/fanout.h"
#include "hub/pending.h"
#include "store/journal.h"
#include "loop/loop.h"

wsh_bus_t *wsh_bus_new(size_t hub_cnt, wsh_history_t *history)
{
    wsh_bus_t *bus = wsh_xcalloc(1, sizeof *bus);
    bus->history = history;
    bus->hub_cnt = hub_cnt;
    bus->hubs = wsh_xcalloc(hub_cnt, sizeof *bus->hubs);
    bus->inboxes = wsh_xcalloc(hub_cnt, sizeof *bus->inboxes);
    for (size_t i = 0; i < hub_cnt; i++)
        pthread_mutex_init(&bus->inboxes[i].lock, NULL);
    return bus;
}

void wsh_bus_free(wsh_bus_t *bus)
{
    if (!bus)
        return;
    for (size_t i = 0; i < bus->hub_cnt; i++) {
        wsh_inbox_t *in = &bus->inboxes[i];
        for (size_t k = 0; k < in->cnt; k++) {
            if (in->items[k].msg)
                wsh_msg_unref(in->items[k].msg);
            else
                wsh_pending_release(bus->hubs[i], in->items[k].reply);
        }
        free(in->items);
        pthread_mutex_destroy(&in->lock);
    }
    free(bus->inboxes);
    free(bus->hubs);
    free(bus);
}

void wsh_bus_attach(wsh_bus_t *bus, size_t idx, wsh_hub_t *hub)
{
    bus->hubs[idx] = hub;
    hub->bus = bus;
    hub->bus_idx = idx;
}

/* Appends e to inbox i; returns the wake bit when the inbox was empty. */
static uint64_t push(wsh_bus_t *bus, size_t i, wsh_bus_entry_t e, bool wake_self, size_t from)
{
    wsh_inbox_t *in = &bus->inboxes[i];
    pthread_mutex_lock(&in->lock);
    if (in->cnt == in->cap) {
        in->cap = in->cap ? in->cap * 2 : 64;
        in->items = wsh_xrealloc(in->items, in->cap * sizeof *in->items);
    }
    in->items[in->cnt++] = e;
    atomic_store_explicit(&in->has_items, true, memory_order_release);
    /* Only the first entry needs a wake-up: the owner drains them all. */
    bool first = in->cnt == 1;
    pthread_mutex_unlock(&in->lock);
    return first && (wake_self || i != from) && i < 64 ? 1ull << i : 0;
}

void wsh_bus_answer(wsh_hub_t *from, wsh_pending_t *p)
{
    if (!from->bus) {
        /* One worker: the connection is ours. */
        wsh_pending_release(from, p);
        return;
    }
    wsh_bus_wake(from->bus, push(from->bus, p->worker, (wsh_bus_entry_t){NULL, {.reply = p}, NULL, 0}, true, SIZE_MAX));
}

void wsh_bus_on_commit(void *ud, struct wsh_journal_rec *recs, size_t cnt, int err)
{
    wsh_bus_t *bus = ud;
    uint64_t wake = 0;
    wsh_history_lock(bus->history);
    for (size_t k = 0; k < cnt; k++) {
        wsh_journal_rec_t *r = &recs[k];
        if (!err && r->frame) {
            /* Only now is the message durable: kept for recovery and
             * delivered, in commit (= offset) order. */
            wsh_history_commit(bus->history, r->hc, r->frame, r->offset, r->ts);
            wake |= wsh_bus_post(bus, SIZE_MAX, r->frame, r->hc, r->offset);
        }
        if (r->tag) {
            wsh_pending_t *p = r->tag;
            if (err)
                p->err = WSH_EINTERNAL;
            wake |= push(bus, p->worker, (wsh_bus_entry_t){NULL, {.reply = p}, NULL, 0}, true, SIZE_MAX);
        }
    }
    wsh_history_unlock(bus->history);
    wsh_bus_wake(bus, wake);
}

uint64_t wsh_bus_post(wsh_bus_t *bus, size_t from, wsh_msg_t *msg, wsh_history_chan_t *hc, uint64_t offset)
{
    uint64_t wake = 0;
    for (size_t i = 0; i < bus->hub_cnt; i++) {
        wsh_msg_t *m = msg;
        if (i != from) {
            /* Each worker gets its own copy: refcounts stay single-threaded
             * and no cache line is shared on the per-subscriber path. */
            m = wsh_msg_new_copy(msg->data, msg->len);
            m->pub_ns = msg->pub_ns;
        }
        wake |= push(bus, i, (wsh_bus_entry_t){m, {.reply = NULL}, hc, offset}, from == SIZE_MAX, from);
    }
    return wake;
}

uint64_t wsh_bus_post_event(wsh_bus_t *bus, size_t from, wsh_msg_t *msg, uint64_t skip_conn)
{
    if (bus->is_closed) {
        wsh_msg_unref(msg);
        return 0;
    }
    uint64_t wake = 0;
    for (size_t i = 0; i < bus->hub_cnt; i++) {
        /* As for messages: one copy per other worker, refcounts stay
         * single-threaded. */
        wsh_msg_t *m = i == from ? msg : wsh_msg_new_copy(msg->data, msg->len);
        wake |= push(bus, i, (wsh_bus_entry_t){m, {.skip_conn = skip_conn}, NULL, 0}, true, from);
    }
    if (from >= bus->hub_cnt)
        wsh_msg_unref(msg);
    return wake;
}

void wsh_bus_wake(wsh_bus_t *bus, uint64_t mask)
{
    for (size_t i = 0; i < bus->hub_cnt && mask; i++) {
        if (mask & (1ull << i)) {
            wsh_loop_wake(bus->hubs[i]->loop);
            mask &= ~(1ull << i);
        }
    }
}

size_t wsh_bus_drain(wsh_hub_t *hub)
{
    wsh_inbox_t *in = &hub->bus->inboxes[hub->bus_idx];
    size_t delivered = 0;
    for (;;) {
        /* Swap the batch out so publishers never wait on our fan-out. */
        pthread_mutex_lock(&in->lock);
        wsh_bus_entry_t *items = in->items;
        size_t cnt = in->cnt;
        in->items = NULL;
        in->cnt = in->cap = 0;
        atomic_store_explicit(&in->has_items, false, memory_order_relaxed);
        pthread_mutex_unlock(&in->lock);
        if (cnt == 0)
            return delivered;
        for (size_t k = 0; k < cnt; k++) {
            if (!items[k].msg) {
                wsh_pending_release(hub, items[k].reply);
                continue;
            }
            wsh_history_chan_t *hc = items[k].hc;
            if (!hc) {
                /* Not counted: delivered counts message frames. */
                wsh_fanout_deliver_event_named(hub, items[k].msg, items[k].skip_conn);
                wsh_msg_unref(items[k].msg);
                continue;
            }
            wsh_channel_t *ch = wsh_channel_find(hub, hc->name, hc->name_len);
            if (ch)
                delivered += wsh_fanout_deliver(ch, items[k].msg, items[k].offset);
            wsh_msg_unref(items[k].msg);
        }
        free(items);
    }
}
