/* Receipt bookkeeping and dead letters, under the history lock. */
#include "hub/receipts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "hub/pending.h"
#include "http/json_escape.h"
#include "obs/metrics.h"

typedef struct receipt {
    wsh_hnode_t node;
    wsh_list_t link;            /* in by_deadline */
    wsh_history_chan_t *hc;
    uint64_t offset, ts, deadline_ms;
    wsh_receipt_req_t req;      /* req.id points into id[] */
    uint32_t expected;
    char **acked;               /* client ids, in ack order */
    uint32_t acked_cnt, acked_cap;
    bool is_answered;           /* HTTP: the waiting publisher got its answer */
    char id[];
} receipt_t;

typedef struct dead {
    uint64_t offset, ts;
    uint32_t expected, acked_cnt;
    char *acked_json;           /* ["c1","c2"] */
} dead_t;

typedef struct dead_list {
    wsh_hnode_t node;
    wsh_history_chan_t *hc;
    dead_t items[WSH_DEAD_LETTERS_MAX];
    uint32_t head, cnt;
} dead_list_t;

static uint64_t key_hash(const wsh_history_chan_t *hc, uint64_t offset)
{
    return wsh_hash_u64((uint64_t)(uintptr_t)hc ^ (offset * 0x9E3779B97F4A7C15ull));
}

wsh_receipts_t *wsh_receipts_new(void)
{
    wsh_receipts_t *r = wsh_xcalloc(1, sizeof *r);
    wsh_hmap_init(&r->open);
    wsh_hmap_init(&r->dead);
    wsh_list_init(&r->by_deadline);
    return r;
}

static void free_receipt(receipt_t *rc)
{
    for (uint32_t i = 0; i < rc->acked_cnt; i++)
        free(rc->acked[i]);
    free(rc->acked);
    free(rc);
}

void wsh_receipts_free(wsh_receipts_t *r)
{
    if (!r)
        return;
    while (!wsh_list_is_empty(&r->by_deadline)) {
        receipt_t *rc = WSH_CONTAINER_OF(r->by_deadline.next, receipt_t, link);
        wsh_list_remove(&rc->link);
        free_receipt(rc);
    }
    size_t pos = 0;
    wsh_hnode_t *n = wsh_hmap_iter(&r->dead, &pos, NULL);
    while (n) {
        wsh_hnode_t *next = wsh_hmap_iter(&r->dead, &pos, n);
        dead_list_t *dl = WSH_CONTAINER_OF(n, dead_list_t, node);
        for (uint32_t i = 0; i < dl->cnt; i++)
            free(dl->items[(dl->head + i) % WSH_DEAD_LETTERS_MAX].acked_json);
        free(dl);
        n = next;
    }
    wsh_hmap_dispose(&r->open);
    wsh_hmap_dispose(&r->dead);
    free(r);
}

void wsh_receipts_open(wsh_receipts_t *r, wsh_history_chan_t *hc, uint64_t offset, uint64_t ts, uint32_t expected,
                       const wsh_receipt_req_t *req, uint64_t now_ms)
{
    receipt_t *rc = wsh_xcalloc(1, sizeof *rc + req->id_len + 1);
    rc->hc = hc;
    rc->offset = offset;
    rc->ts = ts;
    rc->deadline_ms = now_ms + req->timeout_ms;
    rc->req = *req;
    rc->expected = expected;
    if (req->id) {
        memcpy(rc->id, req->id, req->id_len);
        rc->req.id = rc->id;
    }
    wsh_hmap_insert(&r->open, &rc->node, key_hash(hc, offset));
    /* Keep the list sorted by deadline; with one timeout for everyone this
     * is an append. */
    wsh_list_t *pos = r->by_deadline.prev;
    while (pos != &r->by_deadline && WSH_CONTAINER_OF(pos, receipt_t, link)->deadline_ms > rc->deadline_ms)
        pos = pos->prev;
    wsh_list_insert_tail(pos->next, &rc->link);
}

static receipt_t *find(const wsh_receipts_t *r, const wsh_history_chan_t *hc, uint64_t offset)
{
    for (wsh_hnode_t *n = wsh_hmap_find(&r->open, key_hash(hc, offset)); n; n = wsh_hmap_next_same(n)) {
        receipt_t *rc = WSH_CONTAINER_OF(n, receipt_t, node);
        if (rc->hc == hc && rc->offset == offset)
            return rc;
    }
    return NULL;
}

/* ["c1","c2",...] of the clients that acked. */
static int acked_json(const receipt_t *rc, wsh_buf_t *b)
{
    int err = wsh_buf_append(b, "[", 1);
    for (uint32_t i = 0; i < rc->acked_cnt && !err; i++)
        err = wsh_buf_appendf(b, "%s\"%s\"", i ? "," : "", rc->acked[i]);
    return err ? err : wsh_buf_append(b, "]", 1);
}

static wsh_pending_t *http_answer(wsh_hub_t *hub, const receipt_t *rc)
{
    wsh_pending_t *p = wsh_pending_new(hub, rc->req.conn_id, true, NULL, 0);
    p->worker = rc->req.worker;
    int err = wsh_buf_appendf(&p->body, "{\"channel\":\"%s\",\"offset\":%llu,\"acked\":", rc->hc->name,
                              (unsigned long long)rc->offset);
    err = err ? err : acked_json(rc, &p->body);
    err = err ? err : wsh_buf_appendf(&p->body, ",\"complete\":%s}", rc->acked_cnt >= rc->req.want ? "true" : "false");
    p->err = err;
    return p;
}

wsh_pending_t *wsh_receipts_ack(wsh_receipts_t *r, wsh_hub_t *hub, wsh_history_chan_t *hc, uint64_t offset,
                                const char *client, size_t client_len)
{
    receipt_t *rc = find(r, hc, offset);
    if (!rc)
        return NULL;
    for (uint32_t i = 0; i < rc->acked_cnt; i++)
        if (strlen(rc->acked[i]) == client_len && memcmp(rc->acked[i], client, client_len) == 0)
            return NULL; /* one receipt per subscriber, however often it acks */
    if (rc->acked_cnt == rc->acked_cap) {
        rc->acked_cap = rc->acked_cap ? rc->acked_cap * 2 : 4;
        rc->acked = wsh_xrealloc(rc->acked, rc->acked_cap * sizeof *rc->acked);
    }
    char *id = wsh_xmalloc(client_len + 1);
    memcpy(id, client, client_len);
    id[client_len] = '\0';
    rc->acked[rc->acked_cnt++] = id;
    if (rc->req.is_http) {
        if (rc->is_answered || rc->acked_cnt < rc->req.want)
            return NULL;
        rc->is_answered = true;
        return http_answer(hub, rc);
    }
    wsh_pending_t *p = wsh_pending_new(hub, rc->req.conn_id, false, NULL, 0);
    p->worker = rc->req.worker;
    int err = wsh_buf_appendf(&p->body, "{\"type\":\"receipt\"");
    if (!err && rc->req.id) {
        err = wsh_buf_append(&p->body, ",\"id\":", 6);
        err = err ? err : wsh_buf_append(&p->body, rc->req.id, rc->req.id_len);
    }
    err = err ? err : wsh_buf_appendf(&p->body, ",\"channel\":\"%s\",\"offset\":%llu,\"client\":\"%s\"}", hc->name,
                                      (unsigned long long)offset, id);
    p->err = err;
    return p;
}

static void add_dead(wsh_receipts_t *r, const receipt_t *rc)
{
    uint64_t h = wsh_hash_u64((uint64_t)(uintptr_t)rc->hc);
    dead_list_t *dl = NULL;
    for (wsh_hnode_t *n = wsh_hmap_find(&r->dead, h); n && !dl; n = wsh_hmap_next_same(n))
        if (WSH_CONTAINER_OF(n, dead_list_t, node)->hc == rc->hc)
            dl = WSH_CONTAINER_OF(n, dead_list_t, node);
    if (!dl) {
        dl = wsh_xcalloc(1, sizeof *dl);
        dl->hc = rc->hc;
        wsh_hmap_insert(&r->dead, &dl->node, h);
    }
    if (dl->cnt == WSH_DEAD_LETTERS_MAX) {
        free(dl->items[dl->head].acked_json);
        dl->head = (dl->head + 1) % WSH_DEAD_LETTERS_MAX;
        dl->cnt--;
    }
    wsh_buf_t b;
    wsh_buf_init(&b);
    if (acked_json(rc, &b) < 0) {
        wsh_buf_dispose(&b);
        return;
    }
    wsh_buf_append(&b, "", 1); /* NUL */
    dead_t *d = &dl->items[(dl->head + dl->cnt++) % WSH_DEAD_LETTERS_MAX];
    *d = (dead_t){rc->offset, rc->ts, rc->expected, rc->acked_cnt, (char *)b.data};
    r->dead_total++;
    WSH_METRIC_INC(dead_letters);
}

size_t wsh_receipts_expire(wsh_receipts_t *r, wsh_hub_t *hub, uint64_t now_ms, wsh_pending_t ***out)
{
    size_t cnt = 0, cap = 0;
    *out = NULL;
    while (!wsh_list_is_empty(&r->by_deadline)) {
        receipt_t *rc = WSH_CONTAINER_OF(r->by_deadline.next, receipt_t, link);
        if (rc->deadline_ms > now_ms)
            break;
        wsh_list_remove(&rc->link);
        wsh_hmap_remove(&r->open, &rc->node);
        if (rc->acked_cnt < rc->expected)
            add_dead(r, rc);
        if (rc->req.is_http && !rc->is_answered) {
            if (cnt == cap) {
                cap = cap ? cap * 2 : 8;
                *out = wsh_xrealloc(*out, cap * sizeof **out);
            }
            (*out)[cnt++] = http_answer(hub, rc);
        }
        free_receipt(rc);
    }
    return cnt;
}

int wsh_receipts_dead_json(const wsh_receipts_t *r, const wsh_history_chan_t *hc, wsh_buf_t *out)
{
    int err = wsh_buf_appendf(out, "\"channel\":\"%s\",\"dead_letters\":[", hc->name);
    for (wsh_hnode_t *n = wsh_hmap_find(&r->dead, wsh_hash_u64((uint64_t)(uintptr_t)hc)); n && !err;
         n = wsh_hmap_next_same(n)) {
        const dead_list_t *dl = WSH_CONTAINER_OF(n, dead_list_t, node);
        if (dl->hc != hc)
            continue;
        for (uint32_t i = 0; i < dl->cnt && !err; i++) {
            const dead_t *d = &dl->items[(dl->head + i) % WSH_DEAD_LETTERS_MAX];
            err = wsh_buf_appendf(out,
                                  "%s{\"offset\":%llu,\"ts\":%llu,\"reason\":\"ack_timeout\",\"expected\":%u,"
                                  "\"acked\":%s}",
                                  i ? "," : "", (unsigned long long)d->offset, (unsigned long long)d->ts, d->expected,
                                  d->acked_json);
        }
    }
    return err ? err : wsh_buf_append(out, "]", 1);
}
