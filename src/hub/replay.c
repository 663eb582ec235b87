/* Replay of retained messages for recovery and history reads. */
#include "hub/replay.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "hub/channel.h"
#include "hub/presence.h"
#include "hub/proto.h"
#include "store/history.h"
#include "ws/wsconn.h"

/* The JSON payload of a stored `message` frame (server frames are unmasked). */
static const uint8_t *frame_payload(const wsh_msg_t *m, size_t *len)
{
    uint8_t l7 = m->data[1] & 0x7f;
    size_t hdr = l7 < 126 ? 2 : l7 == 126 ? 4 : 10;
    *len = m->len - hdr;
    return m->data + hdr;
}

/* The first retained index to replay for r, and whether the gap is filled. */
static uint32_t plan(const wsh_history_chan_t *hc, const wsh_resume_t *r, bool *recovered)
{
    *recovered = false;
    if (r->has_since || r->has_since_ts) {
        bool epoch_ok = !r->epoch || (r->epoch_len == WSH_EPOCH_LEN && memcmp(r->epoch, hc->epoch, WSH_EPOCH_LEN) == 0);
        if (!epoch_ok)
            return hc->ring_cnt;
        if (r->has_since) {
            if (!wsh_history_covers(hc, r->since))
                return hc->ring_cnt;
            *recovered = true;
            return wsh_history_first_after(hc, r->since);
        }
        /* By time: recoverable when nothing newer than since_ts was evicted. */
        if (hc->evicted_offset && hc->evicted_ts > r->since_ts)
            return hc->ring_cnt;
        *recovered = true;
        uint32_t i = 0;
        while (i < hc->ring_cnt && wsh_history_at(hc, i)->ts <= r->since_ts)
            i++;
        return i;
    }
    if (r->history)
        return r->history >= hc->ring_cnt ? 0 : hc->ring_cnt - (uint32_t)r->history;
    return hc->ring_cnt;
}

int wsh_replay_subscribe(wsh_client_t *cl, const char *channel, size_t len, const wsh_resume_t *r, const char *id,
                         size_t id_len)
{
    wsh_hub_t *hub = cl->hub;
    wsh_history_t *h = hub->history;
    wsh_history_lock(h);
    int rc = wsh_channel_subscribe_locked(hub, cl, channel, len);
    if (rc < 0) {
        wsh_history_unlock(h);
        return rc;
    }
    wsh_sub_t *sub = wsh_channel_find_sub(hub, cl, channel, len);
    wsh_history_chan_t *hc = sub->ch->hc;
    bool recovered;
    uint32_t first = plan(hc, r, &recovered);
    /* What subscribers have been (or are being) sent: with a journal, a
     * publish numbered but not yet committed is delivered live after the
     * commit, so the snapshot must not include it. */
    uint64_t snapshot = hc->committed_offset;
    /* A fresh subscription starts after the snapshot; an existing one keeps
     * its place unless this call replays (then the replay covers up to the
     * snapshot and the fan-out must not repeat it). */
    if (rc == 0 || first < hc->ring_cnt)
        sub->skip_through = snapshot;
    uint32_t cnt = hc->ring_cnt - first;
    wsh_msg_t **frames = cnt ? wsh_xmalloc(cnt * sizeof *frames) : NULL;
    for (uint32_t i = 0; i < cnt; i++)
        frames[i] = wsh_history_frame_for_caller(h, wsh_history_at(hc, first + i));
    char epoch[WSH_EPOCH_LEN + 1];
    memcpy(epoch, hc->epoch, sizeof epoch);
    wsh_history_unlock(h);
    wsh_presence_wake(hub);

    wsh_buf_t b;
    wsh_buf_init(&b);
    int brc = wsh_buf_appendf(&b, "{\"type\":\"subscribed\"");
    if (!brc && id) {
        brc = wsh_buf_append(&b, ",\"id\":", 6);
        brc = brc ? brc : wsh_buf_append(&b, id, id_len);
    }
    brc = brc ? brc : wsh_buf_appendf(&b, ",\"channel\":\"%.*s\",\"offset\":%llu,\"epoch\":\"%s\",\"recovered\":%s}",
                                      (int)len, channel, (unsigned long long)snapshot, epoch,
                                      recovered ? "true" : "false");
    if (!brc)
        wsh_client_send_json(cl, (const char *)b.data, b.len);
    wsh_buf_dispose(&b);
    for (uint32_t i = 0; i < cnt; i++) {
        wsh_ws_send(cl->ws, frames[i]);
        wsh_msg_unref(frames[i]);
    }
    free(frames);
    return 0;
}

int wsh_replay_history_json(wsh_hub_t *hub, const char *channel, size_t len, uint64_t since, uint32_t limit,
                            wsh_buf_t *out)
{
    wsh_history_t *h = hub->history;
    wsh_history_lock(h);
    wsh_history_chan_t *hc = wsh_history_find(h, channel, len);
    if (!hc) {
        wsh_history_unlock(h);
        return WSH_ENOTFOUND;
    }
    int rc = wsh_buf_appendf(out, "\"channel\":\"%.*s\",\"epoch\":\"%s\",\"offset\":%llu,\"complete\":%s,\"messages\":[",
                             (int)len, channel, hc->epoch, (unsigned long long)hc->committed_offset,
                             wsh_history_covers(hc, since) ? "true" : "false");
    uint32_t first = wsh_history_first_after(hc, since);
    for (uint32_t i = first; i < hc->ring_cnt && i - first < limit && !rc; i++) {
        size_t plen;
        const uint8_t *payload = frame_payload(wsh_history_at(hc, i)->frame, &plen);
        rc = (i > first) ? wsh_buf_append(out, ",", 1) : 0;
        rc = rc ? rc : wsh_buf_append(out, payload, plen);
    }
    wsh_history_unlock(h);
    return rc ? rc : wsh_buf_append(out, "]", 1);
}
