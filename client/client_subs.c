/* libwshub's subscriptions: subscribe and unsubscribe, resume after a
 * reconnect (since + epoch), exactly-once in-order delivery by offset, and
 * the repair of holes from history (docs/clients.md "Resume"). */
#include "client_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void report_lost(wshub_client_t *c, sub_t *s, uint64_t since, uint64_t offset);
static sub_t *find_sub_by_sid(wshub_client_t *c, uint64_t sid);

static sub_t *find_sub(wshub_client_t *c, const char *channel)
{
    for (sub_t *s = c->subs; s; s = s->next)
        if (strcmp(s->channel, channel) == 0)
            return s;
    return NULL;
}

bool wsh_cl_is_subscribed(const wshub_client_t *c, const char *channel)
{
    for (const sub_t *s = c->subs; s; s = s->next)
        if (strcmp(s->channel, channel) == 0)
            return true;
    return false;
}

static void remove_sub(wshub_client_t *c, sub_t *gone)
{
    for (sub_t **pp = &c->subs; *pp; pp = &(*pp)->next) {
        if (*pp == gone) {
            *pp = gone->next;
            wsh_buf_dispose(&gone->held);
            free(gone);
            return;
        }
    }
}

int wsh_cl_send_subscribe(wshub_client_t *c, sub_t *s)
{
    wsh_buf_t b = {0};
    s->sent_since = s->has_pos;
    int rc = wsh_sf_subscribe(&b, s->sid, s->channel, s->has_pos, s->last, s->epoch, s->history);
    if (rc == 0)
        rc = wsh_cl_send_text(c, &b);
    wsh_buf_dispose(&b);
    return rc;
}

int wshub_subscribe(wshub_client_t *c, const char *channel, const wshub_sub_options_t *so)
{
    static const wshub_sub_options_t from_now;
    if (!so)
        so = &from_now;
    if (!c || !channel || !wsh_sf_channel_ok(channel) || (so->epoch && strlen(so->epoch) >= 40))
        return WSHUB_EINVAL;
    if (c->state == WSHUB_STATE_CLOSED || c->close_requested)
        return WSHUB_ECLOSED;
    if (find_sub(c, channel))
        return 0; /* already subscribed: the hub treats a repeat as harmless, so do we */
    size_t n = strlen(channel) + 1;
    sub_t *s = calloc(1, sizeof *s + n);
    if (!s)
        return WSHUB_ENOMEM;
    memcpy(s->channel, channel, n);
    s->sid = c->next_sub_id++;
    s->last = so->since;
    s->has_pos = so->has_since;
    s->history = so->has_since ? 0 : so->history;
    if (so->epoch)
        snprintf(s->epoch, sizeof s->epoch, "%s", so->epoch);
    s->next = c->subs;
    c->subs = s;
    if (wsh_cl_is_open(c) && wsh_cl_send_subscribe(c, s) != 0) {
        remove_sub(c, s);
        return WSHUB_ENOMEM;
    }
    return 0;
}

int wshub_unsubscribe(wshub_client_t *c, const char *channel)
{
    if (!c || !channel)
        return WSHUB_EINVAL;
    sub_t *s = find_sub(c, channel);
    if (!s)
        return WSHUB_EINVAL;
    remove_sub(c, s);
    if (wsh_cl_is_open(c)) {
        wsh_buf_t b = {0};
        int rc = wsh_sf_unsubscribe(&b, channel);
        if (rc == 0)
            rc = wsh_cl_send_text(c, &b);
        wsh_buf_dispose(&b);
        return rc;
    }
    return 0;
}

void wsh_cl_on_subscribed(wshub_client_t *c, const wsh_sf_t *f)
{
    sub_t *s = find_sub(c, f->channel);
    if (!s)
        return;
    bool resumed = s->sent_since;
    uint64_t since = s->last;
    snprintf(s->epoch, sizeof s->epoch, "%s", f->epoch);
    if (resumed && f->recovered)
        return; /* the replay follows; dedup by offset keeps it exactly-once */
    /* From here, resume from the hub's current offset; a history request
     * replays up to `history` messages at or below it, so start below them. */
    /* A history request replays up to `history` retained messages at or
     * below the offset, maybe fewer: start from the first that comes. */
    s->last = f->offset;
    s->has_pos = resumed || !s->history;
    s->history = 0;
    if (resumed)
        report_lost(c, s, since, f->offset);
}

static sub_t *find_sub_by_sid(wshub_client_t *c, uint64_t sid)
{
    for (sub_t *s = c->subs; s; s = s->next)
        if (s->sid == sid)
            return s;
    return NULL;
}

static void report_lost(wshub_client_t *c, sub_t *s, uint64_t since, uint64_t offset)
{
    if (!c->o.on_lost)
        return;
    /* Copies: the callback may unsubscribe, which frees s. */
    char channel[256], epoch[40];
    snprintf(channel, sizeof channel, "%s", s->channel);
    snprintf(epoch, sizeof epoch, "%s", s->epoch);
    c->o.on_lost(c, channel, since, offset, epoch, c->o.user);
}

/* Asks the hub for the messages after s->last (a gap repair). 0 or an error. */
static int request_repair(wshub_client_t *c, sub_t *s)
{
    wsh_buf_t b = {0};
    int rc = wsh_sf_history(&b, s->sid, s->channel, s->last, 1000);
    if (rc == 0)
        rc = wsh_cl_send_text(c, &b);
    wsh_buf_dispose(&b);
    if (rc == 0)
        s->is_repairing = true;
    return rc;
}

/* Keeps a message back until the repair ends. A hub that never answers the
 * repair cannot make us grow without bound: past max_message held bytes
 * (or out of memory) the link is dropped, and the next connection resumes
 * from `last` with since + epoch instead. */
static void hold(wshub_client_t *c, sub_t *s, const char *raw, size_t len)
{
    uint32_t n = (uint32_t)len;
    if (s->held.len + 4 + len > c->o.max_message || wsh_buf_reserve(&s->held, 4 + len) != 0) {
        c->is_broken = true;
        return;
    }
    wsh_buf_append(&s->held, &n, 4);
    wsh_buf_append(&s->held, raw, len);
}

/* One message for a subscription. Exactly once, in order: anything at or
 * below the last delivered offset was seen already (a replay overlapping a
 * live delivery). A message past a hole (offset > last + 1) is held while
 * the hole is fetched with a `history` request, unless allow_gap (the repair
 * is over): then on_lost reports the hole and delivery goes on. */
void wsh_cl_on_message(wshub_client_t *c, const wsh_sf_t *f, const char *raw, size_t len, bool allow_gap)
{
    sub_t *s = find_sub(c, f->channel);
    if (!s || !f->data)
        return;
    if (s->has_pos && f->offset <= s->last)
        return;
    if (s->is_repairing) {
        hold(c, s, raw, len);
        return;
    }
    if (s->has_pos && f->offset > s->last + 1) {
        if (!allow_gap && request_repair(c, s) == 0) {
            hold(c, s, raw, len);
            return;
        }
        report_lost(c, s, s->last, f->offset - 1);
        if (!(s = find_sub(c, f->channel)))
            return;
    }
    s->last = f->offset;
    s->has_pos = true;
    if (!c->o.on_message)
        return;
    char epoch[40];
    snprintf(epoch, sizeof epoch, "%s", s->epoch);
    wshub_message_t m = {.channel = f->channel, .offset = f->offset, .ts = f->ts, .epoch = epoch,
                         .data = f->data, .data_len = f->data_len, .wants_receipt = f->receipts};
    c->o.on_message(c, &m, c->o.user);
}

static void on_repaired_message(void *user, const wsh_sf_t *m)
{
    wsh_cl_on_message(user, m, NULL, 0, true);
}

/* The answer to a gap repair: deliver what it holds, then what was held.
 * raw is NULL when the hub answered the request with an error. */
void wsh_cl_on_history(wshub_client_t *c, const wsh_sf_t *f, const char *raw, size_t len)
{
    sub_t *s = f->id_kind == 'h' ? find_sub_by_sid(c, f->id_num) : NULL;
    if (!s || !s->is_repairing)
        return;
    char channel[256];
    snprintf(channel, sizeof channel, "%s", s->channel);
    uint64_t before = s->last;
    s->is_repairing = false;
    wsh_buf_t held = s->held; /* detached: callbacks below may free s */
    wsh_buf_init(&s->held);
    if (raw)
        wsh_sf_each_history_message(raw, len, on_repaired_message, c);
    s = find_sub(c, channel);
    /* Without progress the hole cannot be filled (already dropped by
     * retention): report it instead of asking again forever. */
    bool allow_gap = !s || s->last == before;
    for (size_t off = 0; off + 4 <= held.len;) {
        uint32_t n;
        memcpy(&n, held.data + off, 4);
        off += 4;
        wsh_sf_t m;
        if (off + n <= held.len && wsh_sf_parse((const char *)held.data + off, n, &m) == 0)
            wsh_cl_on_message(c, &m, (const char *)held.data + off, n, allow_gap);
        off += n;
    }
    wsh_buf_dispose(&held);
}

void wsh_cl_subs_on_error(wshub_client_t *c, const wsh_sf_t *f)
{
    if (f->id_kind == 'h') {
        /* The repair's history request failed: end the repair, report the hole. */
        wsh_cl_on_history(c, f, NULL, 0);
        return;
    }
    sub_t *s = find_sub_by_sid(c, f->id_num);
    if (!s)
        return;
    char channel[256];
    snprintf(channel, sizeof channel, "%s", s->channel);
    remove_sub(c, s);
    if (c->o.on_sub_error)
        c->o.on_sub_error(c, channel, f->code, f->message, c->o.user);
}

void wsh_cl_subs_reset(wshub_client_t *c)
{
    /* The next connection resumes from `last`, which covers any repair. */
    for (sub_t *s = c->subs; s; s = s->next) {
        s->is_repairing = false;
        wsh_buf_dispose(&s->held);
    }
}

void wsh_cl_subs_free(wshub_client_t *c)
{
    while (c->subs) {
        sub_t *s = c->subs;
        c->subs = s->next;
        wsh_buf_dispose(&s->held);
        free(s);
    }
}
