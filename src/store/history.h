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

/* An epoch is 16 lowercase hex characters (64 random bits). */
#define WSH_EPOCH_LEN 16

/* One channel's record. Created by wsh_history_get/append; a record that was
 * never published to is freed by wsh_history_release once no subscriber
 * holds it, while a published one lives as long as the store, so offsets
 * never restart. Fields change only under the store's lock. */
typedef struct wsh_history_chan {
    wsh_hnode_t node;
    uint64_t last_offset;
    uint64_t last_ts;
    uint32_t subscribers;   /* across all workers */
    char epoch[WSH_EPOCH_LEN + 1];
    uint16_t name_len;
    char name[];
} wsh_history_chan_t;

/* Created by the server, one per process; freed at exit. */
typedef struct wsh_history {
    wsh_hmap_t chans;
    char epoch[WSH_EPOCH_LEN + 1]; /* epoch of every channel created by this process */
    bool is_shared;                /* more than one worker: lock for real */
    pthread_mutex_t lock;
} wsh_history_t;

/* is_shared: several threads use the store, so wsh_history_lock takes a
 * mutex; with one worker it costs nothing. */
wsh_history_t *wsh_history_new(bool is_shared);
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

/* Assigns the next offset of channel name (creating its record first) and
 * records ts. Returns the record; its last_offset is the new message's offset
 * (1 for the first message ever). */
wsh_history_chan_t *wsh_history_append(wsh_history_t *h, const char *name, size_t len, uint64_t ts);

#endif
