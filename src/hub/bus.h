/* Cross-worker delivery: with several workers, each publish is numbered under
 * the history lock and appended, in that same critical section, to every
 * worker's inbox (its own included); each worker drains its inbox in order
 * and fans out to its own subscribers. So every worker sees each channel's
 * messages in offset order, exactly once. Not used with one worker. */
#ifndef WSH_HUB_BUS_H
#define WSH_HUB_BUS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/msg.h"
#include "hub/hub.h"
#include "store/history.h"

struct wsh_pending;
struct wsh_journal_rec;

/* Three kinds: a message (msg, hc, offset > 0), a commit notice (msg NULL,
 * reply), and a presence event (msg, hc NULL, offset 0): a `join` or
 * `leave` frame that carries its channel's name itself (the channel's record
 * may be gone by the time a worker drains it), delivered to that channel's
 * local subscribers except the connection it is about. */
typedef struct wsh_bus_entry {
    wsh_msg_t *msg;               /* the worker's own copy of the frame; NULL for a commit notice */
    union {
        struct wsh_pending *reply; /* commit notice: drop one reference of this answer */
        uint64_t skip_conn;        /* presence event: the connection it is about (not sent to it) */
    };
    wsh_history_chan_t *hc;       /* the channel (published records are never freed); NULL for an event */
    uint64_t offset;              /* 0 for an event: events take no offset and are not stored */
} wsh_bus_entry_t;

/* One worker's inbox: written by any worker under its lock, drained by its owner. */
typedef struct wsh_inbox {
    pthread_mutex_t lock;
    _Atomic bool has_items;       /* readable without the lock, for a cheap check */
    wsh_bus_entry_t *items;
    size_t cnt, cap;
} wsh_inbox_t;

/* Created by the server for N workers; each hub is attached before any
 * worker runs. Freed after every worker stopped. */
typedef struct wsh_bus {
    wsh_history_t *history;
    size_t hub_cnt;
    wsh_hub_t **hubs;
    wsh_inbox_t *inboxes;
    /* Set by the server once every worker's loop has stopped: presence
     * events from the last connections closed at teardown are dropped
     * (nobody is left to receive them, and the loops to wake are going). */
    bool is_closed;
} wsh_bus_t;

wsh_bus_t *wsh_bus_new(size_t hub_cnt, wsh_history_t *history);
/* Drops any undelivered entries and frees the bus. */
void wsh_bus_free(wsh_bus_t *bus);
/* Puts hub in slot idx and points the hub at the bus. */
void wsh_bus_attach(wsh_bus_t *bus, size_t idx, wsh_hub_t *hub);

/* Appends msg for channel hc to every inbox: the publisher's own inbox takes
 * msg's reference, the others a copy each (from = SIZE_MAX: all copies, the
 * caller keeps its reference). Call with the history lock held,
 * right after assigning the offset. Returns a bitmask of the workers whose
 * inbox went from empty to non-empty (they need a wake-up). */
uint64_t wsh_bus_post(wsh_bus_t *bus, size_t from, wsh_msg_t *msg, wsh_history_chan_t *hc, uint64_t offset);

/* Appends presence event msg (a `join`/`leave` frame naming its channel)
 * to every inbox: from's inbox takes msg's reference, the others a copy each.
 * Call with the history lock held, right where the registry changed, so the
 * events of a channel keep their order with each other and with its
 * messages in every inbox. Returns the wake-up bitmask, the poster's own
 * worker included (its loop must drain too). With the bus closed, drops msg
 * and returns 0. */
uint64_t wsh_bus_post_event(wsh_bus_t *bus, size_t from, wsh_msg_t *msg, uint64_t skip_conn);

/* The journal's commit callback (ud is the bus): retains and delivers each
 * committed message to every worker, in order, and routes each record's
 * commit notice to the worker that owns the publisher's connection. Runs on
 * the journal thread. */
void wsh_bus_on_commit(void *ud, struct wsh_journal_rec *recs, size_t cnt, int err);

/* Hands answer p (refs 1) to the worker that owns its connection, which
 * sends it; with no bus (one worker) it is sent right away. Call without the
 * history lock held. */
void wsh_bus_answer(wsh_hub_t *from, struct wsh_pending *p);

/* Wakes the loops in mask (without the lock held). */
void wsh_bus_wake(wsh_bus_t *bus, uint64_t mask);

/* Delivers what hub's inbox holds, if anything, before hub acts on a
 * client's command: a publish acknowledged to anyone was already posted to
 * every inbox, so a command that arrives after the acknowledgement sees the
 * message first, whichever worker it lands on. */
static inline void wsh_bus_catch_up(wsh_hub_t *hub);

/* Delivers everything in hub's inbox, in order, to hub's subscribers.
 * Returns the number of subscriber deliveries. Runs on hub's thread only. */
size_t wsh_bus_drain(wsh_hub_t *hub);

static inline void wsh_bus_catch_up(wsh_hub_t *hub)
{
    if (hub->bus && atomic_load_explicit(&hub->bus->inboxes[hub->bus_idx].has_items, memory_order_acquire))
        wsh_bus_drain(hub);
}

#endif
