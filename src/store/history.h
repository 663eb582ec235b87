/* Per-channel offsets and epochs: the one place offsets are assigned
 * (docs/delivery.md). Holds, per channel that was ever published to, its last
 * offset, last timestamp and epoch. Message retention and the SQLite journal
 * come with the delivery work; this is the offset authority they extend. */
#ifndef WSH_STORE_HISTORY_H
#define WSH_STORE_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "core/hmap.h"

/* An epoch is 16 lowercase hex characters (64 random bits). */
#define WSH_EPOCH_LEN 16

typedef struct wsh_history_chan {
    wsh_hnode_t node;
    uint64_t last_offset;
    uint64_t last_ts;
    char epoch[WSH_EPOCH_LEN + 1];
    uint16_t name_len;
    char name[];
} wsh_history_chan_t;

/* Created by the server, one per process; freed at exit. */
typedef struct wsh_history {
    wsh_hmap_t chans;
    char epoch[WSH_EPOCH_LEN + 1]; /* epoch of every channel created by this process */
} wsh_history_t;

wsh_history_t *wsh_history_new(void);
void wsh_history_free(wsh_history_t *h);

/* Assigns the next offset of channel name (creating its record at offset 0
 * first) and records ts. Returns the channel record; its last_offset is the
 * new message's offset (1 for the first message ever). */
wsh_history_chan_t *wsh_history_append(wsh_history_t *h, const char *name, size_t len, uint64_t ts);

/* The channel's record, or NULL if it was never published to. */
wsh_history_chan_t *wsh_history_find(const wsh_history_t *h, const char *name, size_t len);

#endif
