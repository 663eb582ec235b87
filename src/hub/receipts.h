/* Acknowledgements and receipts (PROTOCOL.md `ack`, `receipt`): a publish
 * made with receipts is remembered until its timeout; each subscriber's
 * first `ack` of it produces one `receipt` to the publisher (WebSocket), or
 * counts toward the acks an HTTP publisher waits for. When the timeout
 * passes with fewer acks than subscribers, the message goes to the
 * channel's dead-letter list. Everything here is shared by the workers and
 * guarded by the history lock. */
#ifndef WSH_HUB_RECEIPTS_H
#define WSH_HUB_RECEIPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/hmap.h"
#include "core/list.h"
#include "hub/hub.h"
#include "store/history.h"

/* Default and largest time to wait for acks. */
#define WSH_RECEIPT_TIMEOUT_MS 30000
#define WSH_RECEIPT_TIMEOUT_MAX_MS 300000

/* Dead letters kept per channel (oldest dropped first). */
#define WSH_DEAD_LETTERS_MAX 1000

typedef struct wsh_receipts {
    wsh_hmap_t open;        /* wsh_receipt by (channel record, offset) */
    wsh_list_t by_deadline; /* oldest deadline first (same timeout order is not assumed: sorted insert) */
    wsh_hmap_t dead;        /* per-channel dead-letter lists by channel record */
    uint64_t dead_total;
} wsh_receipts_t;

/* How the publisher wants to hear about acks. */
typedef struct wsh_receipt_req {
    size_t worker;          /* bus slot of the publisher's worker */
    uint64_t conn_id;
    bool is_http;           /* HTTP: one answer when `want` acks arrived or at the deadline */
    uint32_t want;          /* HTTP: acks to wait for */
    uint64_t timeout_ms;
    const char *id;         /* WebSocket: raw JSON of the publish's id, echoed in each receipt */
    size_t id_len;
} wsh_receipt_req_t;

wsh_receipts_t *wsh_receipts_new(void);
void wsh_receipts_free(wsh_receipts_t *r);

/* Remembers message `offset` of hc for acks (history lock held). expected is
 * the channel's subscriber count at publish time. */
void wsh_receipts_open(wsh_receipts_t *r, wsh_history_chan_t *hc, uint64_t offset, uint64_t ts, uint32_t expected,
                       const wsh_receipt_req_t *req, uint64_t now_ms);

/* A subscriber (client id) acked offset of hc. Unknown offsets and repeated
 * acks are ignored. Returns an answer to route to the publisher's worker
 * (wsh_bus_answer), or NULL. History lock held. */
struct wsh_pending *wsh_receipts_ack(wsh_receipts_t *r, wsh_hub_t *hub, wsh_history_chan_t *hc, uint64_t offset,
                                     const char *client, size_t client_len);

/* Closes every receipt past its deadline: dead letters for missing acks,
 * and the HTTP answers still waiting. Appends the answers to send to out
 * (an array the caller frees) and returns their count. History lock held. */
size_t wsh_receipts_expire(wsh_receipts_t *r, wsh_hub_t *hub, uint64_t now_ms, struct wsh_pending ***out);

/* Appends `"channel":C,"dead_letters":[{offset,ts,reason,expected,acked:[...]},...]`. History lock held. */
int wsh_receipts_dead_json(const wsh_receipts_t *r, const wsh_history_chan_t *hc, wsh_buf_t *out);

#endif
