/* A publish answer that waits for the durable commit: the `published` frame
 * (WebSocket) or the HTTP response, sent by the connection's own worker once
 * every journal record of the request is committed. Not the journal. */
#ifndef WSH_HUB_PENDING_H
#define WSH_HUB_PENDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "hub/hub.h"

/* Created by the publisher (on the connection's worker); each journal record
 * of the request holds a reference, and so does the publisher until it has
 * filled `body`. Every hold and release happens on that worker's thread
 * (commit notices travel through its inbox), so the count is plain. */
typedef struct wsh_pending {
    uint32_t refs;
    size_t worker;       /* the bus slot of the connection's worker */
    uint64_t conn_id;
    bool is_http;
    int err;             /* set when a record's commit failed */
    int status;          /* HTTP status of the success answer */
    wsh_buf_t body;      /* the success answer (JSON), filled by the publisher */
    size_t id_len;
    char id[];           /* raw JSON of the WebSocket request id, for an error frame */
} wsh_pending_t;

wsh_pending_t *wsh_pending_new(wsh_hub_t *hub, uint64_t conn_id, bool is_http, const char *id, size_t id_len);
static inline void wsh_pending_hold(wsh_pending_t *p) { p->refs++; }
/* Drops a reference; the last one sends the answer (or the commit error) to
 * the connection if it is still open, then frees p. */
void wsh_pending_release(wsh_hub_t *hub, wsh_pending_t *p);

#endif
