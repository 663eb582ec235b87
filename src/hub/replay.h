/* Recovery and history reads (docs/delivery.md): subscribing with `since`,
 * `since_ts` or `history`, and paging through retained messages. The seam
 * between replayed and live messages is closed here: the subscription is
 * registered and the channel snapshotted under the history lock, replayed
 * offsets are sent before anything live, and the fan-out skips offsets the
 * subscriber already has. Not offset assignment (store/history.c). */
#ifndef WSH_HUB_REPLAY_H
#define WSH_HUB_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "hub/client.h"

/* What a subscribe asked for. */
typedef struct wsh_resume {
    bool has_since;
    uint64_t since;          /* last offset the client saw */
    bool has_since_ts;
    uint64_t since_ts;       /* or the last time it saw something (ms) */
    const char *epoch;       /* the epoch the client saw (NULL: not given) */
    size_t epoch_len;
    uint64_t history;        /* without since: send the last N messages first */
} wsh_resume_t;

/* Subscribes cl to channel and answers: `subscribed` (offset = the channel's
 * last offset at subscribe time, epoch, recovered), then every replayed
 * message in offset order. recovered is true when `since`/`since_ts` was
 * given, the epoch matches (or was not given) and every message after it is
 * still retained. id is the raw JSON request id or NULL. Returns 0 or
 * WSH_EPOLICY (subscription cap; nothing sent). */
int wsh_replay_subscribe(wsh_client_t *cl, const char *channel, size_t len, const wsh_resume_t *r, const char *id,
                         size_t id_len);

/* Appends `"channel":C,"epoch":E,"offset":LAST,"complete":B,"messages":[...]`
 * for up to limit retained messages after since (oldest first); complete
 * says whether every message after since is still retained. Returns 0,
 * WSH_ENOTFOUND for an unknown channel, or WSH_ENOMEM. */
int wsh_replay_history_json(wsh_hub_t *hub, const char *channel, size_t len, uint64_t since, uint32_t limit,
                            wsh_buf_t *out);

#endif
