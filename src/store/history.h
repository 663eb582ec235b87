/* Per-channel offsets and epochs: the one place offsets are assigned
 * (docs/delivery.md), and the process-wide directory of channels. Holds, per
 * channel that has subscribers on any worker or was ever published to, its
 * last offset, last timestamp, epoch and total subscriber count. Shared by
 * every worker behind one lock; message retention and the SQLite journal come
 * with the delivery work and extend this record. */
#ifndef WSH_STORE_HISTORY_H
#define WSH_STORE_HISTORY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/hmap.h"
#include "core/list.h"
#include "core/msg.h"

/* An epoch is 16 lowercase hex characters (64 random bits). */
#define WSH_EPOCH_LEN 16

/* One retained message: its `message` frame, exactly as sent to
 * subscribers, so a replay re-sends the same bytes. */
typedef struct wsh_history_entry {
    uint64_t offset;
    uint64_t ts;
    wsh_msg_t *frame;   /* owned by the store (a reference or a private copy) */
} wsh_history_entry_t;

/* Retention applied to every channel (per-prefix rules come later). */
typedef struct wsh_history_limits {
    uint32_t max_count;   /* messages kept per channel; 0 = keep none */
    uint64_t max_age_ms;  /* messages older than this are dropped; 0 = no age limit */
} wsh_history_limits_t;

/* Retention for channels whose names start with prefix (longest prefix wins). */
#define WSH_HISTORY_RULES_MAX 32
typedef struct wsh_history_rule {
    char prefix[256];
    size_t prefix_len;
    wsh_history_limits_t lim;
} wsh_history_rule_t;

/* One channel's record. Created by wsh_history_get/append; a record that was
 * never published to is freed by wsh_history_release once no subscriber
 * holds it, while a published one lives as long as the store, so offsets
 * never restart. Fields change only under the store's lock. */
typedef struct wsh_history_chan {
    wsh_hnode_t node;
    uint64_t last_offset;      /* the last offset assigned (numbered) */
    /* The last offset released to subscribers: retained, delivered and
     * replayable. With a journal it trails last_offset by the publishes
     * numbered but not yet committed; without one it equals it. Snapshots
     * (`subscribed` offsets, recovery, history answers) use this one. */
    uint64_t committed_offset;
    uint64_t last_ts;
    uint32_t subscribers;   /* across all workers */
    const wsh_history_limits_t *lim; /* this channel's retention (a rule's or the default) */
    wsh_history_entry_t *ring; /* retained messages, oldest at ring_head */
    uint32_t ring_cap, ring_head, ring_cnt;
    uint64_t evicted_offset; /* highest offset no longer retained (0: nothing lost yet) */
    uint64_t evicted_ts;     /* its timestamp */
    /* Who is subscribed, on presence channels (hub/presence.c): NULL while
     * nobody is listed, so it is always NULL once subscribers is 0. The
     * store never looks inside; the hub frees it with its last entry. */
    struct wsh_presence_chan *presence;
    char epoch[WSH_EPOCH_LEN + 1];
    uint16_t name_len;
    char name[];
} wsh_history_chan_t;

/* A remembered idempotency key: (channel, key) → the offset it got. */
typedef struct wsh_history_idem {
    wsh_hnode_t node;          /* in h->idem, keyed by (channel record, key) */
    wsh_list_t fifo;           /* in h->idem_fifo, oldest first, for expiry */
    uint64_t expires_ms;       /* wall time after which the key is forgotten */
    wsh_history_chan_t *hc;
    uint64_t offset;
    uint16_t key_len;
    char key[];
} wsh_history_idem_t;

/* Created by the server, one per process; freed at exit. */
typedef struct wsh_history {
    wsh_hmap_t chans;
    wsh_hmap_t idem;               /* idempotency keys inside their window */
    wsh_list_t idem_fifo;
    uint64_t idem_window_ms;       /* default 5 minutes */
    char epoch[WSH_EPOCH_LEN + 1]; /* epoch of every channel created by this process */
    bool is_shared;                /* more than one worker: lock for real */
    wsh_history_limits_t lim;      /* default retention */
    wsh_history_rule_t rules[WSH_HISTORY_RULES_MAX];
    size_t rule_cnt;
    pthread_mutex_t lock;
} wsh_history_t;

/* is_shared: several threads use the store, so wsh_history_lock takes a
 * mutex; with one worker it costs nothing. */
wsh_history_t *wsh_history_new(bool is_shared);
/* Sets the default retention (default: keep nothing). */
void wsh_history_set_limits(wsh_history_t *h, const wsh_history_limits_t *lim);
/* Adds a retention rule for names starting with prefix; call before any
 * channel exists. 0 or -1 when the table is full or the prefix too long. */
int wsh_history_add_rule(wsh_history_t *h, const char *prefix, const wsh_history_limits_t *lim);
/* The retention for a channel name. */
const wsh_history_limits_t *wsh_history_limits_for(const wsh_history_t *h, const char *name, size_t len);
/* The longest age any channel keeps (0 when some channel keeps forever). */
uint64_t wsh_history_max_age_ms(const wsh_history_t *h);
void wsh_history_free(wsh_history_t *h);

/* Every other call requires the lock held (or a single-threaded store). */
static inline void wsh_history_lock(wsh_history_t *h)
{
    if (h->is_shared)
        pthread_mutex_lock(&h->lock);
}
static inline void wsh_history_unlock(wsh_history_t *h)
{
    if (h->is_shared)
        pthread_mutex_unlock(&h->lock);
}

/* The channel's record, or NULL if it has none. */
wsh_history_chan_t *wsh_history_find(const wsh_history_t *h, const char *name, size_t len);
/* The channel's record, created at offset 0 when missing. */
wsh_history_chan_t *wsh_history_get(wsh_history_t *h, const char *name, size_t len);
/* Frees c if it has no subscribers and was never published to. */
void wsh_history_release(wsh_history_t *h, wsh_history_chan_t *c);

/* Releases the message at offset (committed, in offset order): retains
 * frame (NULL: none was built, nobody listens and nothing is kept) at ts,
 * trims c to the limits, and advances c->committed_offset. The store takes
 * its own reference, or a private copy when shared between threads. With a
 * journal this runs at commit, when later offsets may already be numbered,
 * which is why the offset is passed, not read from last_offset. */
void wsh_history_commit(wsh_history_t *h, wsh_history_chan_t *c, wsh_msg_t *frame, uint64_t offset, uint64_t ts);

/* Drops c's messages past the count or age limit (now_ms is wall time). */
void wsh_history_trim(wsh_history_t *h, wsh_history_chan_t *c, uint64_t now_ms);

/* Trims every channel; returns how many messages were dropped. For a
 * periodic sweep so idle channels do not keep expired messages. */
size_t wsh_history_sweep(wsh_history_t *h, uint64_t now_ms);

/* True if every message after `since` is still retained (nothing after it
 * was evicted and since is not ahead of the channel). */
bool wsh_history_covers(const wsh_history_chan_t *c, uint64_t since);

/* Index in c's ring of the first message with offset > since (ring_cnt if none). */
uint32_t wsh_history_first_after(const wsh_history_chan_t *c, uint64_t since);

/* The i-th retained message, oldest first (i < ring_cnt). */
static inline const wsh_history_entry_t *wsh_history_at(const wsh_history_chan_t *c, uint32_t i)
{
    return &c->ring[(c->ring_head + i) % c->ring_cap];
}

/* A frame for the caller's thread holding the same bytes as e->frame: a new
 * reference when the store is not shared, else a copy. */
wsh_msg_t *wsh_history_frame_for_caller(const wsh_history_t *h, const wsh_history_entry_t *e);

/* Longest accepted idempotency key, in bytes. */
#define WSH_IDEM_KEY_MAX 256

/* The offset a publish with key on c got within the window, or 0. Forgets
 * expired keys first. */
uint64_t wsh_history_idem_find(wsh_history_t *h, const wsh_history_chan_t *c, const char *key, size_t len,
                               uint64_t now_ms);
/* Remembers that key on c got offset, until now_ms + the window. */
void wsh_history_idem_add(wsh_history_t *h, wsh_history_chan_t *c, const char *key, size_t len, uint64_t offset,
                          uint64_t now_ms);

/* Assigns the next offset of channel name (creating its record first) and
 * records ts. Returns the record; its last_offset is the new message's offset
 * (1 for the first message ever). */
wsh_history_chan_t *wsh_history_append(wsh_history_t *h, const char *name, size_t len, uint64_t ts);

#endif
