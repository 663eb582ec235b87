/* Publishing: assign the offset, encode the `message` frame exactly once into
 * a refcounted buffer, and queue a reference to it on every subscriber of the
 * channel. No per-subscriber copy or allocation. Not parsing (proto.c,
 * http/api.c) and not sockets (the out-queues flush before the loop sleeps). */
#ifndef WSH_HUB_FANOUT_H
#define WSH_HUB_FANOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"
#include "hub/channel.h"
#include "hub/hub.h"

/* One publish, as validated by its parser. All spans stay the caller's. */
typedef struct wsh_publish {
    const char *channel;   /* valid channel name */
    size_t channel_len;
    const char *id;        /* raw JSON of the publisher's id, or NULL */
    size_t id_len;
    const char *data;      /* raw JSON value, already validated */
    size_t data_len;
    struct wsh_pending *pending; /* with a journal: the answer to send after the commit (held per record) */
    const struct wsh_receipt_req *receipts; /* publisher wants receipts (acks), or NULL */
    const char *idem_key;  /* idempotency key (WS field or Idempotency-Key header), or NULL */
    size_t idem_len;       /* at most WSH_IDEM_KEY_MAX */
} wsh_publish_t;

/* The result a publisher is told. */
typedef struct wsh_published {
    uint64_t offset;
    uint64_t ts;
    size_t delivered;      /* subscribers the frame was queued to */
    bool is_pending;       /* durable: delivery and answer follow the commit */
    bool is_duplicate;     /* the idempotency key was seen: offset is the original's, nothing delivered */
} wsh_published_t;

/* Builds the WebSocket text frame
 * {"type":"message","channel":C,"offset":N,"ts":T[,"id":ID][,"receipts":true],"data":DATA}
 * with data and id copied byte for byte. Returns NULL only when the size does
 * not fit a frame we can allocate (the caller answers too_large). */
wsh_msg_t *wsh_fanout_build(const wsh_publish_t *p, uint64_t offset, uint64_t ts);

/* Queues msg (the message `offset` of ch) on every subscriber of ch that has
 * not already received that offset through recovery; returns how many took
 * it. A subscriber whose queue is full is closed with 4008 by the transport
 * and the others are unaffected. */
size_t wsh_fanout_deliver(wsh_channel_t *ch, wsh_msg_t *msg, uint64_t offset);

/* Queues presence event msg (a `join`/`leave` frame) on every subscriber of
 * ch except the connection skip_conn (the one the event is about); returns
 * how many took it. Same rules as wsh_fanout_deliver, without offsets. */
size_t wsh_fanout_deliver_event(wsh_channel_t *ch, wsh_msg_t *msg, uint64_t skip_conn);

/* The same for an event from the bus: the channel is the one the frame
 * names ({"type":T,"channel":C,...}), looked up in hub; 0 when nobody on hub
 * subscribes to it. */
size_t wsh_fanout_deliver_event_named(wsh_hub_t *hub, wsh_msg_t *msg, uint64_t skip_conn);

/* Assigns the next offset of p->channel and builds the frame once. Without a
 * journal it is delivered at once (to every worker through the bus when
 * there are several). With a journal it is queued for the group commit
 * (out->is_pending): delivery, retention and the answer (p->pending) follow
 * the commit. 0, WSH_ETOOBIG when the frame cannot be built, or WSH_EOVERLOAD
 * when the channel is new and opts->max_channels (non-zero) are held. */
int wsh_fanout_publish(wsh_hub_t *hub, const wsh_publish_t *p, wsh_published_t *out);

#endif
