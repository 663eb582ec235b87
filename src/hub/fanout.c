/* Encode-once fan-out of published messages. */
#include "hub/fanout.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/fmt.h"
#include "hub/bus.h"
#include "hub/client.h"
#include "hub/pending.h"
#include "hub/receipts.h"
#include "store/journal.h"
#include "obs/metrics.h"
#include "ws/frame.h"
#include "ws/wsconn.h"

/* Appends src to *dst and advances it. */
static inline void put(uint8_t **dst, const void *src, size_t len)
{
    memcpy(*dst, src, len);
    *dst += len;
}

/* The digits of `ts`, kept per thread: ts is in milliseconds, so at full
 * load hundreds of publishes in a row share it, and formatting its 13 digits
 * was the larger part of building a frame. */
static _Thread_local struct {
    uint64_t ts;
    size_t len;  /* 0 until the first use */
    char digits[20];
} ts_cache;

wsh_msg_t *wsh_fanout_build(const wsh_publish_t *p, uint64_t offset, uint64_t ts)
{
    /* The numbers are formatted first so the payload length, and with it the
     * frame header's length, is known before the one allocation. */
    char off[20];
    size_t off_len = wsh_fmt_u64(off, offset);
    if (ts_cache.len == 0 || ts_cache.ts != ts) {
        ts_cache.len = wsh_fmt_u64(ts_cache.digits, ts);
        ts_cache.ts = ts;
    }
    static const char head[] = "{\"type\":\"message\",\"channel\":\"";
    static const char off_key[] = "\",\"offset\":";
    static const char ts_key[] = ",\"ts\":";
    static const char id_key[] = ",\"id\":";
    static const char receipts_key[] = ",\"receipts\":true";
    static const char data_key[] = ",\"data\":";
    size_t payload = sizeof head - 1 + p->channel_len + sizeof off_key - 1 + off_len + sizeof ts_key - 1 +
                     ts_cache.len + (p->id ? sizeof id_key - 1 + p->id_len : 0) +
                     (p->receipts ? sizeof receipts_key - 1 : 0) + sizeof data_key - 1 + p->data_len + 1;
    uint8_t hdr[WSH_FRAME_MAX_SERVER_HEADER];
    size_t hdr_len = wsh_frame_header_encode(hdr, WSH_OP_TEXT, true, 0, payload);
    wsh_msg_t *m = wsh_msg_try_new(hdr_len + payload);
    if (!m)
        return NULL;
    uint8_t *w = m->data;
    put(&w, hdr, hdr_len);
    put(&w, head, sizeof head - 1);
    put(&w, p->channel, p->channel_len);
    put(&w, off_key, sizeof off_key - 1);
    put(&w, off, off_len);
    put(&w, ts_key, sizeof ts_key - 1);
    put(&w, ts_cache.digits, ts_cache.len);
    if (p->id) {
        put(&w, id_key, sizeof id_key - 1);
        put(&w, p->id, p->id_len);
    }
    if (p->receipts)
        put(&w, receipts_key, sizeof receipts_key - 1);
    put(&w, data_key, sizeof data_key - 1);
    put(&w, p->data, p->data_len);
    *w = '}';
    return m;
}

size_t wsh_fanout_deliver(wsh_channel_t *ch, wsh_msg_t *msg, uint64_t offset)
{
    size_t n = 0;
    /* A send that overflows a queue closes that connection asynchronously;
     * the subscription array is only changed when the close completes, after
     * this loop, so iterating it here is safe. */
    for (uint32_t i = 0; i < ch->sub_cnt; i++) {
        wsh_sub_t *s = ch->subs[i];
        /* A subscriber that just recovered already got this offset from
         * history (docs/delivery.md, "the seam"). */
        if (offset <= s->skip_through)
            continue;
        wsh_ws_t *ws = s->client->ws;
        /* A subscriber already closing stays in the array until its close
         * completes; it is not sent to and not counted. */
        if (ws->session.is_close_sent || !wsh_conn_is_open(ws->conn))
            continue;
        if (wsh_ws_send(ws, msg) == 0)
            n++;
    }
    WSH_METRIC_ADD(delivered, n);
    return n;
}

size_t wsh_fanout_deliver_event(wsh_channel_t *ch, wsh_msg_t *msg, uint64_t skip_conn)
{
    size_t n = 0;
    for (uint32_t i = 0; i < ch->sub_cnt; i++) {
        wsh_ws_t *ws = ch->subs[i]->client->ws;
        if (ws->conn->id == skip_conn || ws->session.is_close_sent || !wsh_conn_is_open(ws->conn))
            continue;
        if (wsh_ws_send(ws, msg) == 0)
            n++;
    }
    return n;
}

size_t wsh_fanout_deliver_event_named(wsh_hub_t *hub, wsh_msg_t *msg, uint64_t skip_conn)
{
    /* The frame is ours (hub/presence.c builds it): an unmasked text frame
     * whose JSON starts {"type":"join","channel":"NAME", and channel names
     * need no escapes, so the name is the bytes up to the next quote. */
    static const char key[] = "\"channel\":\"";
    uint8_t l7 = msg->data[1] & 0x7f;
    size_t hdr = l7 < 126 ? 2 : l7 == 126 ? 4 : 10;
    const char *p = (const char *)msg->data + hdr;
    size_t len = msg->len - hdr;
    const char *k = memmem(p, len < 64 ? len : 64, key, sizeof key - 1);
    if (!k)
        return 0;
    const char *name = k + sizeof key - 1;
    const char *end = memchr(name, '"', len - (size_t)(name - p));
    if (!end)
        return 0;
    wsh_channel_t *ch = wsh_channel_find(hub, name, (size_t)(end - name));
    return ch ? wsh_fanout_deliver_event(ch, msg, skip_conn) : 0;
}

/* After numbering (history lock held): the idempotency key and the receipt
 * wait of the message hc->last_offset. */
static void remember(wsh_hub_t *hub, wsh_history_chan_t *hc, const wsh_publish_t *p, uint64_t ts)
{
    if (p->idem_key)
        wsh_history_idem_add(hub->history, hc, p->idem_key, p->idem_len, hc->last_offset, ts);
    if (p->receipts && hub->receipts)
        wsh_receipts_open(hub->receipts, hc, hc->last_offset, ts, hc->subscribers, p->receipts, wsh_clock_mono_ms());
}

int wsh_fanout_publish(wsh_hub_t *hub, const wsh_publish_t *p, wsh_published_t *out)
{
    /* One clock read per publish: the wall clock gives `ts` and the
     * latency stamp (a clock step only skews that metric). */
    uint64_t now_ns = wsh_clock_wall_ns();
    uint64_t ts = now_ns / 1000000u;
    wsh_history_t *h = hub->history;
    out->is_pending = false;
    out->is_duplicate = false;
    wsh_history_lock(h);
    wsh_history_chan_t *hc = wsh_history_find(h, p->channel, p->channel_len);
    /* A published channel's record stays for good (its offsets never
     * restart), so new names are what the channel cap bounds (B52). */
    if (!hc && hub->opts->max_channels && h->chans.cnt >= hub->opts->max_channels) {
        wsh_history_unlock(h);
        return WSH_EOVERLOAD;
    }
    if (!hc)
        hc = wsh_history_get(h, p->channel, p->channel_len);
    uint64_t prev = p->idem_key ? wsh_history_idem_find(h, hc, p->idem_key, p->idem_len, ts) : 0;
    if (prev) {
        /* Seen within the window: answer with the original offset and
         * deliver nothing. With a journal the answer still waits behind the
         * original's commit (an empty record keeps the order). */
        out->offset = prev;
        out->ts = ts;
        out->delivered = 0;
        out->is_duplicate = true;
        if (hub->journal) {
            if (p->pending)
                wsh_pending_hold(p->pending);
            wsh_journal_rec_t rec = {hc, prev, ts, NULL, p->pending, NULL, 0};
            wsh_journal_append(hub->journal, &rec);
            out->is_pending = true;
        }
        wsh_history_unlock(h);
        return 0;
    }
    if (hub->journal) {
        wsh_msg_t *jm = wsh_fanout_build(p, hc->last_offset + 1, ts);
        if (!jm) {
            wsh_history_release(h, hc);
            wsh_history_unlock(h);
            return WSH_ETOOBIG;
        }
        jm->pub_ns = now_ns;
        hc->last_offset++;
        hc->last_ts = ts;
        if (p->pending)
            wsh_pending_hold(p->pending);
        /* Queued under the lock that numbered it: the journal commits in
         * offset order, and its thread then owns the frame. */
        remember(hub, hc, p, ts);
        wsh_journal_rec_t rec = {hc, hc->last_offset, ts, jm, p->pending, p->idem_key, p->idem_len};
        wsh_journal_append(hub->journal, &rec);
        out->offset = hc->last_offset;
        wsh_history_unlock(h);
        out->ts = ts;
        out->delivered = 0;
        out->is_pending = true;
        WSH_METRIC_INC(published);
        return 0;
    }
    /* With one worker the frame is built only if someone here listens; with
     * several, another worker may have subscribers, so it is always built. */
    wsh_channel_t *ch = hub->bus ? NULL : wsh_channel_find(hub, p->channel, p->channel_len);
    wsh_msg_t *m = NULL;
    if (hub->bus || ch || hc->lim->max_count) {
        /* Built with the offset about to be assigned, before assigning it: a
         * frame that cannot be built must not leave a gap in the offsets. */
        m = wsh_fanout_build(p, hc->last_offset + 1, ts);
        if (!m) {
            wsh_history_release(h, hc);
            wsh_history_unlock(h);
            return WSH_ETOOBIG;
        }
        m->pub_ns = now_ns;
    }
    hc->last_offset++;
    hc->last_ts = ts;
    wsh_history_commit(h, hc, m, hc->last_offset, ts);
    remember(hub, hc, p, ts);
    out->offset = hc->last_offset;
    out->ts = ts;
    out->delivered = 0;
    /* Posting under the same lock that numbered the message is what keeps
     * every worker's inbox in offset order. */
    uint64_t wake = hub->bus ? wsh_bus_post(hub->bus, hub->bus_idx, m, hc, out->offset) : 0;
    wsh_history_unlock(h);
    WSH_METRIC_INC(published);
    if (hub->bus) {
        wsh_bus_wake(hub->bus, wake);
        /* Our own copy goes through our inbox too, after anything other
         * workers numbered before it. */
        out->delivered = wsh_bus_drain(hub);
    } else if (m) {
        if (ch)
            out->delivered = wsh_fanout_deliver(ch, m, out->offset);
        wsh_msg_unref(m);
    }
    return 0;
}
