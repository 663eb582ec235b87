/* Command parsing and dispatch for /ws frames. */
#include "hub/proto.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fmt.h"
#include "core/json.h"
#include "http/json_escape.h"
#include "hub/authz.h"
#include "hub/bus.h"
#include "hub/channel.h"
#include "hub/fanout.h"
#include "hub/pending.h"
#include "hub/presence.h"
#include "hub/receipts.h"
#include "hub/replay.h"

/* Tokens recorded per command: the root object and its direct members. */
#define CMD_TOKENS 64
/* Nesting allowed inside a command (data included); deeper is refused, so a
 * hostile frame cannot exhaust the stack. */
#define CMD_MAX_DEPTH 64
/* A request id longer than this is not an id but an abuse. */
#define ID_MAX 256

/* The members any command reads. They are found in one pass over the
 * frame's members (find_fields) rather than one wsh_json_obj_get walk per
 * field read: on the publish path those walks cost more than the parse. */
enum {
    F_ID,
    F_TYPE,
    F_CHANNEL,
    F_DATA,
    F_IDEMPOTENCY_KEY,
    F_RECEIPTS,
    F_RECEIPT_TIMEOUT,
    F_SINCE,
    F_SINCE_TS,
    F_HISTORY,
    F_EPOCH,
    F_LIMIT,
    F_OFFSET,
    F_TOKEN,
    F_COUNT
};

/* Each field's key, as error messages name it. */
static const char *const field_names[F_COUNT] = {
    [F_ID] = "id",
    [F_TYPE] = "type",
    [F_CHANNEL] = "channel",
    [F_DATA] = "data",
    [F_IDEMPOTENCY_KEY] = "idempotency_key",
    [F_RECEIPTS] = "receipts",
    [F_RECEIPT_TIMEOUT] = "receipt_timeout",
    [F_SINCE] = "since",
    [F_SINCE_TS] = "since_ts",
    [F_HISTORY] = "history",
    [F_EPOCH] = "epoch",
    [F_LIMIT] = "limit",
    [F_OFFSET] = "offset",
    [F_TOKEN] = "token",
};

/* Longest key in field_names; a longer key is none of them. */
#define FIELD_NAME_MAX 15

/* The field that key k[0..n) names, or -1. The length leaves at most a few
 * candidates, so each member costs one or two comparisons. */
static int field_of(const char *k, size_t n)
{
#define IS(f) (memcmp(k, field_names[f], n) == 0 ? (f) : -1)
    switch (n) {
    case 2: return IS(F_ID);
    case 4: return k[0] == 't' ? IS(F_TYPE) : IS(F_DATA);
    case 5:
        switch (k[0]) {
        case 's': return IS(F_SINCE);
        case 'e': return IS(F_EPOCH);
        case 'l': return IS(F_LIMIT);
        default: return IS(F_TOKEN);
        }
    case 6: return IS(F_OFFSET);
    case 7: return k[0] == 'c' ? IS(F_CHANNEL) : IS(F_HISTORY);
    case 8: return k[0] == 's' ? IS(F_SINCE_TS) : IS(F_RECEIPTS);
    case 15: return k[0] == 'i' ? IS(F_IDEMPOTENCY_KEY) : IS(F_RECEIPT_TIMEOUT);
    default: return -1;
    }
#undef IS
}

typedef struct cmd {
    wsh_client_t *cl;
    const char *s;
    wsh_json_tok_t *toks;
    const char *id;   /* raw JSON of "id", or NULL */
    size_t id_len;
    int f[F_COUNT];   /* value token of each field's first member, or -1 */
} cmd_t;

int wsh_proto_send_error(wsh_client_t *cl, const char *code, const char *message, const char *id, size_t id_len)
{
    wsh_buf_t b;
    wsh_buf_init(&b);
    int rc = wsh_buf_appendf(&b, "{\"type\":\"error\",\"code\":\"%s\",\"message\":\"", code);
    rc = rc ? rc : wsh_json_escape_buf(&b, message, strlen(message));
    rc = rc ? rc : wsh_buf_append(&b, "\"", 1);
    if (!rc && id) {
        rc = wsh_buf_append(&b, ",\"id\":", 6);
        rc = rc ? rc : wsh_buf_append(&b, id, id_len);
    }
    rc = rc ? rc : wsh_buf_append(&b, "}", 1);
    if (!rc)
        rc = wsh_client_send_json(cl, (const char *)b.data, b.len);
    wsh_buf_dispose(&b);
    return rc == WSH_ESLOW ? 0 : rc;
}

static int reply_error(const cmd_t *c, const char *code, const char *message)
{
    return wsh_proto_send_error(c->cl, code, message, c->id, c->id_len);
}

static int handle_ping(const cmd_t *c)
{
    char out[ID_MAX + 96];
    int n = snprintf(out, sizeof out, "{\"type\":\"pong\",%s%.*s%s\"ts\":%llu}", c->id ? "\"id\":" : "",
                     (int)c->id_len, c->id ? c->id : "", c->id ? "," : "",
                     (unsigned long long)wsh_clock_wall_ms());
    wsh_client_send_json(c->cl, out, (size_t)n);
    return 0;
}

/* Sets c->f[] to what wsh_json_obj_get(s, toks, 0, name) gives for each field
 * name: the value token of the first member whose key, once unescaped, is
 * that name (duplicate keys are allowed, and the first one counts). */
static void find_fields(cmd_t *c)
{
    for (int f = 0; f < F_COUNT; f++)
        c->f[f] = -1;
    const wsh_json_tok_t *toks = c->toks;
    uint32_t i = 1;
    for (uint32_t m = 0; m < toks[0].size; m++) {
        const wsh_json_tok_t *kt = &toks[i];
        uint32_t val = i + 1;
        i = toks[val].next;
        const char *k = c->s + kt->start + 1;
        long n = kt->end - kt->start - 2;
        char buf[FIELD_NAME_MAX + 1];
        if (kt->has_escape) {
            /* Compared after unescaping, as obj_get does; a key that does
             * not fit the buffer is longer than every field name. */
            n = wsh_json_str_decode(c->s, kt, buf, sizeof buf);
            if (n < 0)
                continue;
            k = buf;
        }
        int f = field_of(k, (size_t)n);
        if (f >= 0 && c->f[f] < 0)
            c->f[f] = (int)val;
    }
}

/* A JSON number without fraction or exponent (the grammar is already checked). */
static bool is_integer(const char *s, const wsh_json_tok_t *t)
{
    if (t->type != WSH_JSON_NUMBER)
        return false;
    for (uint32_t i = t->start; i < t->end; i++)
        if (s[i] == '.' || s[i] == 'e' || s[i] == 'E')
            return false;
    return true;
}

/* Reads the "channel" field into out (decoded, NUL-terminated). Returns its
 * length, or replies with the error and returns -1. */
static long get_channel(const cmd_t *c, char out[WSH_CHANNEL_NAME_MAX + 1])
{
    int t = c->f[F_CHANNEL];
    if (t < 0)
        return reply_error(c, "bad_request", "missing \"channel\""), -1;
    if (c->toks[t].type != WSH_JSON_STRING)
        return reply_error(c, "bad_request", "\"channel\" must be a string"), -1;
    long n = wsh_json_str_decode(c->s, &c->toks[t], out, WSH_CHANNEL_NAME_MAX + 1);
    if (n < 0 || !wsh_channel_name_is_valid(out, (size_t)n))
        return reply_error(c, "bad_channel", "channel names are 1-255 bytes of A-Z a-z 0-9 _ . : @ / -"), -1;
    return n;
}

/* The request's channel when the client may read it: subscribing, history
 * and presence all need the subscribe permission. -1 after answering
 * bad_request, bad_channel or forbidden. */
static long get_readable_channel(const cmd_t *c, char out[WSH_CHANNEL_NAME_MAX + 1])
{
    long n = get_channel(c, out);
    if (n < 0)
        return -1;
    if (!wsh_authz_may_subscribe(c->cl, out, (size_t)n))
        return reply_error(c, "forbidden", wsh_authz_denied_why(c->cl, out, (size_t)n, false)), -1;
    return n;
}

/* Appends ,"id":<id> when the request had one. */
static int append_id(wsh_buf_t *b, const cmd_t *c)
{
    if (!c->id)
        return 0;
    int rc = wsh_buf_append(b, ",\"id\":", 6);
    return rc ? rc : wsh_buf_append(b, c->id, c->id_len);
}

static int send_buf(const cmd_t *c, wsh_buf_t *b, int rc)
{
    if (!rc)
        wsh_client_send_json(c->cl, (const char *)b->data, b->len);
    wsh_buf_dispose(b);
    return 0;
}

/* Reads an optional unsigned integer field; returns 1 when present, 0 when
 * absent, -1 after replying bad_request. */
static int get_u64_field(const cmd_t *c, int field, uint64_t *out)
{
    int t = c->f[field];
    if (t < 0)
        return 0;
    if (wsh_json_get_u64(c->s, &c->toks[t], out) < 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "\"%s\" must be a non-negative integer", field_names[field]);
        reply_error(c, "bad_request", msg);
        return -1;
    }
    return 1;
}

static int handle_subscribe(const cmd_t *c)
{
    char name[WSH_CHANNEL_NAME_MAX + 1];
    long n = get_readable_channel(c, name);
    if (n < 0)
        return 0;
    wsh_resume_t r = {0};
    int rc;
    if ((rc = get_u64_field(c, F_SINCE, &r.since)) < 0)
        return 0;
    r.has_since = rc;
    if ((rc = get_u64_field(c, F_SINCE_TS, &r.since_ts)) < 0)
        return 0;
    r.has_since_ts = rc;
    if (get_u64_field(c, F_HISTORY, &r.history) < 0)
        return 0;
    int e = c->f[F_EPOCH];
    if (e >= 0) {
        if (c->toks[e].type != WSH_JSON_STRING)
            return reply_error(c, "bad_request", "\"epoch\" must be a string");
        r.epoch = c->s + c->toks[e].start + 1;
        r.epoch_len = c->toks[e].end - c->toks[e].start - 2;
    }
    int src = wsh_replay_subscribe(c->cl, name, (size_t)n, &r, c->id, c->id_len);
    if (src == WSH_EOVERLOAD)
        return reply_error(c, "limit_exceeded", "the hub holds max-channels channels; this one is new");
    if (src == WSH_EPOLICY) {
        char msg[96];
        snprintf(msg, sizeof msg, "a connection may hold at most %u subscriptions",
                 c->cl->hub->opts->max_subscriptions);
        return reply_error(c, "limit_exceeded", msg);
    }
    return 0;
}

static int handle_history(const cmd_t *c)
{
    char name[WSH_CHANNEL_NAME_MAX + 1];
    long n = get_readable_channel(c, name);
    if (n < 0)
        return 0;
    uint64_t since = 0, limit = 100;
    if (get_u64_field(c, F_SINCE, &since) < 0 || get_u64_field(c, F_LIMIT, &limit) < 0)
        return 0;
    if (limit > 1000)
        limit = 1000;
    wsh_buf_t b;
    wsh_buf_init(&b);
    int rc = wsh_buf_appendf(&b, "{\"type\":\"history\"");
    rc = rc ? rc : append_id(&b, c);
    rc = rc ? rc : wsh_buf_append(&b, ",", 1);
    if (!rc) {
        rc = wsh_replay_history_json(c->cl->hub, name, (size_t)n, since, (uint32_t)limit, &b);
        if (rc == WSH_ENOTFOUND) {
            wsh_buf_dispose(&b);
            return reply_error(c, "not_found", "no such channel");
        }
    }
    rc = rc ? rc : wsh_buf_append(&b, "}", 1);
    return send_buf(c, &b, rc);
}

/* {"type":"presence","channel":C}: who is listed on C (docs/presence.md). */
static int handle_presence(const cmd_t *c)
{
    char name[WSH_CHANNEL_NAME_MAX + 1];
    long n = get_readable_channel(c, name);
    if (n < 0)
        return 0;
    wsh_hub_t *hub = c->cl->hub;
    if (!wsh_presence_is_on(hub, name, (size_t)n))
        return reply_error(c, "presence_disabled", "presence is not enabled in this channel's namespace");
    size_t max = hub->opts->presence_reply_max ? hub->opts->presence_reply_max : WSH_PRESENCE_REPLY_MAX;
    wsh_buf_t b;
    wsh_buf_init(&b);
    int rc = wsh_buf_appendf(&b, "{\"type\":\"presence\"");
    rc = rc ? rc : append_id(&b, c);
    rc = rc ? rc : wsh_buf_appendf(&b, ",\"channel\":\"%s\",", name);
    if (!rc) {
        wsh_history_lock(hub->history);
        rc = wsh_presence_list_json(wsh_history_find(hub->history, name, (size_t)n), max, &b);
        wsh_history_unlock(hub->history);
    }
    rc = rc ? rc : wsh_buf_append(&b, "}", 1);
    return send_buf(c, &b, rc);
}

static int handle_unsubscribe(const cmd_t *c)
{
    char name[WSH_CHANNEL_NAME_MAX + 1];
    long n = get_channel(c, name);
    if (n < 0)
        return 0;
    if (wsh_channel_unsubscribe(c->cl->hub, c->cl, name, (size_t)n) == WSH_ENOTFOUND)
        return reply_error(c, "not_subscribed", "not subscribed to this channel");
    wsh_buf_t b;
    wsh_buf_init(&b);
    int rc = wsh_buf_appendf(&b, "{\"type\":\"unsubscribed\"");
    rc = rc ? rc : append_id(&b, c);
    rc = rc ? rc : wsh_buf_appendf(&b, ",\"channel\":\"%s\"}", name);
    return send_buf(c, &b, rc);
}

static int handle_publish(const cmd_t *c)
{
    char name[WSH_CHANNEL_NAME_MAX + 1];
    long n = get_channel(c, name);
    if (n < 0)
        return 0;
    if (!wsh_authz_may_publish(c->cl, name, (size_t)n))
        return reply_error(c, "forbidden", wsh_authz_denied_why(c->cl, name, (size_t)n, true));
    int d = c->f[F_DATA];
    if (d < 0)
        return reply_error(c, "bad_request", "missing \"data\"");
    wsh_publish_t p = {
        .channel = name,
        .channel_len = (size_t)n,
        .id = c->id,
        .id_len = c->id_len,
        .data = c->s + c->toks[d].start,
        .data_len = c->toks[d].end - c->toks[d].start,
    };
    char key[WSH_IDEM_KEY_MAX + 1];
    int k = c->f[F_IDEMPOTENCY_KEY];
    if (k >= 0) {
        long kn = c->toks[k].type == WSH_JSON_STRING ? wsh_json_str_decode(c->s, &c->toks[k], key, sizeof key) : -1;
        if (kn <= 0)
            return reply_error(c, "bad_request", "\"idempotency_key\" must be a string of 1 to 256 bytes");
        p.idem_key = key;
        p.idem_len = (size_t)kn;
    }
    wsh_hub_t *hub = c->cl->hub;
    int rt = c->f[F_RECEIPTS];
    wsh_receipt_req_t rreq = {0};
    if (rt >= 0 && c->toks[rt].type == WSH_JSON_TRUE) {
        uint64_t timeout = WSH_RECEIPT_TIMEOUT_MS;
        if (get_u64_field(c, F_RECEIPT_TIMEOUT, &timeout) < 0)
            return 0;
        if (timeout == 0 || timeout > WSH_RECEIPT_TIMEOUT_MAX_MS)
            return reply_error(c, "bad_request", "\"receipt_timeout\" must be 1 to 300000 ms");
        rreq = (wsh_receipt_req_t){hub->bus_idx, c->cl->ws->conn->id, false, 0, timeout, c->id, c->id_len};
        p.receipts = &rreq;
    } else if (rt >= 0 && c->toks[rt].type != WSH_JSON_FALSE) {
        return reply_error(c, "bad_request", "\"receipts\" must be a boolean");
    }
    /* With a journal the answer waits for the commit (docs/delivery.md). */
    wsh_pending_t *pend = hub->journal ? wsh_pending_new(hub, c->cl->ws->conn->id, false, c->id, c->id_len) : NULL;
    p.pending = pend;
    wsh_published_t res;
    int perr = wsh_fanout_publish(hub, &p, &res);
    if (perr < 0) {
        if (pend)
            wsh_pending_release(hub, (pend->err = perr, pend));
        else if (perr == WSH_EOVERLOAD)
            reply_error(c, "limit_exceeded", "the hub holds max-channels channels; this one is new");
        else
            reply_error(c, "too_large", "message too large to deliver");
        return 0;
    }
    /* Built by hand: this answer is on the path of every publish. */
    char out[64 + ID_MAX + WSH_CHANNEL_NAME_MAX + 40];
    size_t o = 0;
    static const char type_part[] = "{\"type\":\"published\"";
    memcpy(out, type_part, sizeof type_part - 1);
    o += sizeof type_part - 1;
    if (c->id) {
        memcpy(out + o, ",\"id\":", 6);
        o += 6;
        memcpy(out + o, c->id, c->id_len);
        o += c->id_len;
    }
    memcpy(out + o, ",\"channel\":\"", 12);
    o += 12;
    memcpy(out + o, name, (size_t)n);
    o += (size_t)n;
    memcpy(out + o, "\",\"offset\":", 11);
    o += 11;
    o += wsh_fmt_u64(out + o, res.offset);
    if (res.is_duplicate) {
        memcpy(out + o, ",\"duplicate\":true", 17);
        o += 17;
    }
    out[o++] = '}';
    if (!pend) {
        wsh_client_send_json(c->cl, out, o);
        return 0;
    }
    wsh_buf_t b;
    wsh_buf_init(&b);
    int rc = wsh_buf_append(&b, out, o);
    if (pend) {
        pend->body = b;
        if (rc)
            pend->err = WSH_EINTERNAL;
        wsh_pending_release(hub, pend);
        return 0;
    }
    return send_buf(c, &b, rc);
}

/* {"type":"ack","channel":C,"offset":N}: no reply; the publisher gets a
 * receipt if it asked for one. Unknown offsets and repeats are ignored. */
static int handle_ack(const cmd_t *c)
{
    char name[WSH_CHANNEL_NAME_MAX + 1];
    long n = get_channel(c, name);
    if (n < 0)
        return 0;
    uint64_t offset;
    int rc = get_u64_field(c, F_OFFSET, &offset);
    if (rc < 0)
        return 0;
    if (rc == 0)
        return reply_error(c, "bad_request", "missing \"offset\"");
    wsh_hub_t *hub = c->cl->hub;
    wsh_history_lock(hub->history);
    wsh_history_chan_t *hc = wsh_history_find(hub->history, name, (size_t)n);
    wsh_pending_t *answer = hc && hub->receipts ? wsh_receipts_ack(hub->receipts, hub, hc, offset, c->cl->id,
                                                                    strlen(c->cl->id))
                                                : NULL;
    wsh_history_unlock(hub->history);
    if (answer)
        wsh_bus_answer(hub, answer);
    return 0;
}

/* {"type":"auth","token":T}: authenticates or refreshes (hub/authz.c). */
static int handle_auth(const cmd_t *c)
{
    int t = c->f[F_TOKEN];
    const char *tok = t >= 0 && c->toks[t].type == WSH_JSON_STRING ? c->s + c->toks[t].start : NULL;
    size_t len = tok ? c->toks[t].end - c->toks[t].start : 0;
    return wsh_authz_handle_auth(c->cl, tok, len, c->id, c->id_len);
}

typedef struct command {
    const char *type;
    size_t type_len;
    int (*handle)(const cmd_t *c);
} command_t;

#define COMMAND(name, fn) {name, sizeof(name) - 1, fn}

static const command_t commands[] = {
    COMMAND("ping", handle_ping),
    COMMAND("auth", handle_auth),
    COMMAND("subscribe", handle_subscribe),
    COMMAND("unsubscribe", handle_unsubscribe),
    COMMAND("publish", handle_publish),
    COMMAND("history", handle_history),
    COMMAND("ack", handle_ack),
    COMMAND("presence", handle_presence),
};

int wsh_proto_handle(wsh_client_t *cl, const char *s, size_t len)
{
    wsh_bus_catch_up(cl->hub);
    wsh_json_tok_t toks[CMD_TOKENS];
    size_t err_pos = 0;
    int n = wsh_json_parse(s, len, toks, CMD_TOKENS, 1, CMD_MAX_DEPTH, &err_pos);
    cmd_t c = {.cl = cl, .s = s, .toks = toks};
    if (n == WSH_ETOOBIG)
        return wsh_proto_send_error(cl, "bad_request", "frame nests too deep or has too many fields", NULL, 0);
    if (n < 0) {
        char msg[64];
        snprintf(msg, sizeof msg, "invalid JSON at byte %zu", err_pos);
        return wsh_proto_send_error(cl, "bad_request", msg, NULL, 0);
    }
    if (toks[0].type != WSH_JSON_OBJECT)
        return wsh_proto_send_error(cl, "bad_request", "a frame must be a JSON object", NULL, 0);
    /* The root is an object and its members are recorded (record depth 1). */
    find_fields(&c);
    int id = c.f[F_ID];
    if (id >= 0) {
        const wsh_json_tok_t *t = &toks[id];
        bool ok = (t->type == WSH_JSON_STRING || is_integer(s, t)) && t->end - t->start <= ID_MAX;
        if (!ok)
            return wsh_proto_send_error(cl, "bad_request", "id must be a string or an integer", NULL, 0);
        c.id = s + t->start;
        c.id_len = t->end - t->start;
    }
    int type = c.f[F_TYPE];
    if (type < 0 || toks[type].type != WSH_JSON_STRING)
        return reply_error(&c, "bad_request", "missing \"type\"");
    /* Without escapes the raw length must match, which rules out most
     * entries before any comparison. */
    const wsh_json_tok_t *tt = &toks[type];
    size_t raw_len = tt->end - tt->start - 2;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if ((tt->has_escape || commands[i].type_len == raw_len) &&
            wsh_json_str_eq_n(s, tt, commands[i].type, commands[i].type_len))
            return commands[i].handle(&c);
    return reply_error(&c, "unknown_type", "unknown frame type");
}
