/* libwshub's presence (docs/presence.md): `presence` requests, which wait
 * (bounded) while offline, are asked again after a reconnect and are
 * answered ECLOSED on close, and the `join`/`leave` frames handed to the
 * application. Not the subscriptions themselves (client_subs.c). */
#include "client_int.h"

#include <stdlib.h>
#include <string.h>

static int send_preq(wshub_client_t *c, preq_t *q)
{
    wsh_buf_t b = {0};
    int rc = wsh_sf_presence(&b, q->id, q->channel);
    if (rc == 0)
        rc = wsh_cl_send_text(c, &b);
    wsh_buf_dispose(&b);
    if (rc == 0)
        q->is_sent = true;
    return rc;
}

/* Removes and returns the request with id (NULL if none). */
static preq_t *take_preq(wshub_client_t *c, uint64_t id)
{
    for (preq_t **pp = &c->preqs; *pp; pp = &(*pp)->next) {
        preq_t *q = *pp;
        if (q->id != id)
            continue;
        *pp = q->next;
        if (c->preqs_tail == &q->next)
            c->preqs_tail = pp;
        c->preq_cnt--;
        return q;
    }
    return NULL;
}

int wshub_presence(wshub_client_t *c, const char *channel, wshub_presence_cb cb, void *arg, uint64_t *request_id)
{
    if (!c || !channel || !cb || !wsh_sf_channel_ok(channel))
        return WSHUB_EINVAL;
    if (c->state == WSHUB_STATE_CLOSED || c->close_requested)
        return WSHUB_ECLOSED;
    if (c->preq_cnt >= c->o.max_queue)
        return WSHUB_EQUEUEFULL;
    size_t n = strlen(channel) + 1;
    preq_t *q = malloc(sizeof *q + n);
    if (!q)
        return WSHUB_ENOMEM;
    memcpy(q->channel, channel, n);
    q->next = NULL;
    q->id = c->next_preq_id++;
    q->is_sent = false;
    q->cb = cb;
    q->arg = arg;
    *c->preqs_tail = q;
    c->preqs_tail = &q->next;
    c->preq_cnt++;
    if (request_id)
        *request_id = q->id;
    /* A failed send (out of memory) leaves it unsent: the next connection
     * asks again, as for a request lost with its link. */
    if (wsh_cl_is_open(c))
        send_preq(c, q);
    return 0;
}

int wshub_set_presence_event_cb(wshub_client_t *c, wshub_presence_event_cb cb)
{
    if (!c)
        return WSHUB_EINVAL;
    c->on_presence_event = cb;
    return 0;
}

void wsh_cl_presence_send_all(wshub_client_t *c)
{
    for (preq_t *q = c->preqs; q; q = q->next)
        if (!q->is_sent)
            send_preq(c, q);
}

void wsh_cl_on_presence(wshub_client_t *c, const wsh_sf_t *f, const char *raw, size_t len)
{
    if (f->id_kind != 'w')
        return;
    preq_t *q = take_preq(c, f->id_num);
    if (!q)
        return;
    wshub_presence_entry_t *e = NULL;
    size_t cnt = 0;
    int rc = wsh_sf_presence_entries(raw, len, &e, &cnt);
    wshub_presence_result_t r = {.request_id = q->id, .channel = q->channel, .err = rc};
    if (rc == 0) {
        r.entries = e;
        r.entry_cnt = cnt;
        /* count is the hub's full number; never report fewer than listed. */
        r.count = f->count > cnt ? f->count : cnt;
        r.is_truncated = f->truncated;
    }
    q->cb(c, &r, q->arg);
    free(e);
    free(q);
}

void wsh_cl_on_presence_event(wshub_client_t *c, const wsh_sf_t *f, const char *raw, size_t len)
{
    /* An event in flight when the application unsubscribed is not its business any more. */
    if (!c->on_presence_event || !wsh_cl_is_subscribed(c, f->channel))
        return;
    wshub_presence_entry_t *e = NULL;
    size_t cnt = 0;
    /* A malformed event (no client id) cannot be applied to anyone's list: dropped. */
    if (wsh_sf_presence_entries(raw, len, &e, &cnt) != 0 || cnt != 1) {
        free(e);
        return;
    }
    c->on_presence_event(c, f->type == WSH_SF_JOIN ? WSHUB_PRESENCE_JOIN : WSHUB_PRESENCE_LEAVE, f->channel, e,
                         c->o.user);
    free(e);
}

void wsh_cl_presence_on_error(wshub_client_t *c, const wsh_sf_t *f)
{
    preq_t *q = take_preq(c, f->id_num);
    if (!q)
        return;
    wshub_presence_result_t r = {.request_id = q->id, .channel = q->channel, .err = WSHUB_EHUB, .code = f->code,
                                 .message = f->message};
    q->cb(c, &r, q->arg);
    free(q);
}

void wsh_cl_presence_reset(wshub_client_t *c)
{
    for (preq_t *q = c->preqs; q; q = q->next)
        q->is_sent = false;
}

void wsh_cl_presence_fail_all(wshub_client_t *c)
{
    /* Unlink first, so a callback that asks again gets ECLOSED, not a corrupt list. */
    preq_t *q = c->preqs;
    c->preqs = NULL;
    c->preqs_tail = &c->preqs;
    c->preq_cnt = 0;
    while (q) {
        preq_t *next = q->next;
        wshub_presence_result_t r = {.request_id = q->id, .channel = q->channel, .err = WSHUB_ECLOSED};
        q->cb(c, &r, q->arg);
        free(q);
        q = next;
    }
}

void wsh_cl_presence_free(wshub_client_t *c)
{
    while (c->preqs) {
        preq_t *q = c->preqs;
        c->preqs = q->next;
        free(q);
    }
}
