/* HTTP publish and channel inspection endpoints. */
#include "http/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "http/response.h"
#include "hub/bus.h"
#include "hub/channel.h"
#include "http/httpconn.h"
#include "hub/fanout.h"
#include "hub/pending.h"
#include "hub/presence.h"
#include "hub/receipts.h"
#include "hub/replay.h"
#include "ws/utf8.h"

/* Channels one POST /api/publish may name. */
#define MAX_PUBLISH_CHANNELS 64
/* Tokens for the POST /api/publish envelope: the root and its fields. */
#define ENVELOPE_TOKENS 33
#define MAX_DEPTH 64

static void reply_error(wsh_http_x_t *x, int status, const char *code, const char *message)
{
    wsh_http_respond_error(x->conn, status, code, message, NULL, x->keep_alive);
}

/* RFC 6750 §3: a request without credentials gets the challenge and no
 * error code; one with a wrong key is refused outright (403), so a client
 * can tell "send a key" from "this key is not valid". */
static void refuse_key(wsh_conn_t *c, int status, bool keep_alive)
{
    if (status == 401)
        wsh_http_respond_error(c, 401, "unauthorized", "this endpoint needs Authorization: Bearer <api key>",
                               "WWW-Authenticate: Bearer realm=\"wshub\"\r\n", keep_alive);
    else
        wsh_http_respond_error(c, 403, "forbidden", "the API key is not valid", NULL, keep_alive);
}

bool wsh_api_check_key(wsh_http_x_t *x, const wsh_access_t *a)
{
    int status = wsh_access_check_key(a, x->req);
    if (status == 0)
        return true;
    refuse_key(x->conn, status, x->keep_alive);
    return false;
}

bool wsh_api_head_gate(wsh_conn_t *c, const wsh_http_req_t *req, const void *ud)
{
    static const char prefix[] = "/api/";
    const wsh_access_t *a = ud;
    if (req->path.len < sizeof prefix - 1 || memcmp(req->path.ptr, prefix, sizeof prefix - 1) != 0)
        return true;
    int status = wsh_access_check_key(a, req);
    if (status == 0)
        return true;
    /* The body is not read, so the connection cannot go on: it closes. */
    refuse_key(c, status, false);
    return false;
}

/* The gate for every route of this file. */
static bool authorized(wsh_http_x_t *x)
{
    const wsh_hub_t *hub = x->data;
    return wsh_api_check_key(x, hub->opts->access);
}

static void reply_json(wsh_http_x_t *x, int status, wsh_buf_t *b, int rc)
{
    if (rc)
        reply_error(x, 500, "internal_error", "out of memory");
    else
        wsh_http_respond(x->conn, status, "application/json", NULL, b->data, b->len, x->keep_alive, x->is_head);
    wsh_buf_dispose(b);
}

/* Validates the body as one JSON value (UTF-8 first: RFC 8259 §8.1); on
 * failure answers 400 and returns false. toks/cap/depth as wsh_json_parse. */
static bool check_json(wsh_http_x_t *x, wsh_json_tok_t *toks, size_t cap, unsigned depth, int *ntok)
{
    const wsh_buf_t *body = &x->req->body;
    if (body->len == 0) {
        reply_error(x, 400, "bad_request", "the body must be a JSON value");
        return false;
    }
    if (!wsh_utf8_is_valid(body->data, body->len)) {
        reply_error(x, 400, "bad_request", "the body is not valid UTF-8");
        return false;
    }
    size_t err_pos = 0;
    int n = wsh_json_parse((const char *)body->data, body->len, toks, cap, depth, MAX_DEPTH, &err_pos);
    if (n == WSH_ETOOBIG) {
        reply_error(x, 400, "bad_request", "JSON nests too deep or has too many fields");
        return false;
    }
    if (n < 0) {
        char msg[64];
        snprintf(msg, sizeof msg, "invalid JSON at byte %zu", err_pos);
        reply_error(x, 400, "bad_request", msg);
        return false;
    }
    *ntok = n;
    return true;
}

/* Splits "/api/channels/<name>[/<action>]" into the decoded name and the
 * action ("" when none). The action is taken from the raw last segment, so a
 * channel whose name ends in "/publish" is reached by encoding that slash
 * (%2F). Returns the name length or answers 400/404 and returns -1. */
static long parse_channel_path(wsh_http_x_t *x, char name[WSH_CHANNEL_NAME_MAX + 1], const char **action)
{
    static const char prefix[] = "/api/channels/";
    static const char *const actions[] = {"publish", "history", "presence", "dead-letters"};
    const char *p = x->req->path.ptr + sizeof prefix - 1;
    size_t len = x->req->path.len - (sizeof prefix - 1);
    *action = "";
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        size_t alen = strlen(actions[i]);
        if (len > alen + 1 && p[len - alen - 1] == '/' && memcmp(p + len - alen, actions[i], alen) == 0) {
            *action = actions[i];
            len -= alen + 1;
            break;
        }
    }
    long n = wsh_http_pct_decode(p, len, name, WSH_CHANNEL_NAME_MAX + 1);
    if (n < 0 || !wsh_channel_name_is_valid(name, (size_t)n)) {
        reply_error(x, 400, "bad_channel", "channel names are 1-255 bytes of A-Z a-z 0-9 _ . : @ / -");
        return -1;
    }
    return n;
}

static int append_published(wsh_buf_t *b, const char *name, size_t len, const wsh_published_t *res)
{
    return wsh_buf_appendf(b, "{\"channel\":\"%.*s\",\"offset\":%llu%s}", (int)len, name,
                           (unsigned long long)res->offset, res->is_duplicate ? ",\"duplicate\":true" : "");
}

/* The Idempotency-Key header, if any: false after answering 400. */
static bool idem_header(wsh_http_x_t *x, wsh_publish_t *p)
{
    const wsh_http_header_t *h = wsh_http_req_header(x->req, "Idempotency-Key");
    if (!h)
        return true;
    if (h->value.len == 0 || h->value.len > WSH_IDEM_KEY_MAX) {
        reply_error(x, 400, "bad_request", "Idempotency-Key must be 1 to 256 bytes");
        return false;
    }
    p->idem_key = h->value.ptr;
    p->idem_len = h->value.len;
    return true;
}

/* Reads an unsigned query parameter; returns 1 present, 0 absent, -1 after
 * answering 400. */
static int query_u64(wsh_http_x_t *x, const char *key, uint64_t *out)
{
    char v[32];
    long n = wsh_http_req_query(x->req, key, v, sizeof v);
    if (n == -1)
        return 0;
    char *end;
    if (n <= 0 || v[0] < '0' || v[0] > '9' || (*out = strtoull(v, &end, 10), *end != '\0')) {
        char msg[80];
        snprintf(msg, sizeof msg, "%s must be a non-negative integer", key);
        reply_error(x, 400, "bad_request", msg);
        return -1;
    }
    return 1;
}

/* With a journal, publishes answer after their commit: returns the answer
 * the records will hold (NULL without a journal). */
static wsh_pending_t *start_publish(wsh_http_x_t *x)
{
    wsh_hub_t *hub = x->data;
    return hub->journal ? wsh_pending_new(hub, x->conn->id, true, NULL, 0) : NULL;
}

/* Sends the answer now, or hands it to pend and parks the connection until
 * every record of the request is committed. */
static void finish_publish(wsh_http_x_t *x, wsh_pending_t *pend, wsh_buf_t *b, int rc, int err)
{
    if (!pend) {
        if (err == WSH_EOVERLOAD)
            reply_error(x, 503, "limit_exceeded", "the hub holds max-channels channels; this one is new");
        else if (err)
            reply_error(x, 413, "too_large", "message too large to deliver");
        else
            reply_json(x, 200, b, rc);
        wsh_buf_dispose(b);
        return;
    }
    pend->body = *b;
    pend->err = err ? err : rc ? WSH_EINTERNAL : 0;
    wsh_httpconn_wait(x);
    wsh_pending_release(x->data, pend);
}

static void publish_body(wsh_http_x_t *x, const char *name, size_t len)
{
    wsh_hub_t *hub = x->data;
    wsh_json_tok_t tok;
    int ntok;
    if (!check_json(x, &tok, 1, 0, &ntok))
        return;
    wsh_publish_t p = {
        .channel = name,
        .channel_len = len,
        .data = (const char *)x->req->body.data + tok.start,
        .data_len = tok.end - tok.start,
    };
    if (!idem_header(x, &p))
        return;
    /* ?receipts=N&timeout=MS: answer once N subscribers acked, or at the
     * timeout, with the clients that did (instead of at the publish). */
    uint64_t want = 0, timeout = WSH_RECEIPT_TIMEOUT_MS;
    if (query_u64(x, "receipts", &want) < 0 || query_u64(x, "timeout", &timeout) < 0)
        return;
    if (want && (timeout == 0 || timeout > WSH_RECEIPT_TIMEOUT_MAX_MS || want > UINT32_MAX)) {
        reply_error(x, 400, "bad_request", "timeout must be 1 to 300000 ms");
        return;
    }
    wsh_receipt_req_t rreq = {hub->bus_idx, x->conn->id, true, (uint32_t)want, timeout, NULL, 0};
    if (want)
        p.receipts = &rreq;
    else
        p.pending = start_publish(x);
    wsh_published_t res;
    int err = wsh_fanout_publish(hub, &p, &res);
    if (want && !err && !res.is_duplicate) {
        wsh_httpconn_wait(x);
        return;
    }
    wsh_buf_t b;
    wsh_buf_init(&b);
    int rc = err ? 0 : append_published(&b, name, len, &res);
    finish_publish(x, p.pending, &b, rc, err);
}

/* GET /api/channels/{channel}/dead-letters */
static void channel_dead_letters(wsh_http_x_t *x, const char *name, size_t len)
{
    wsh_hub_t *hub = x->data;
    wsh_buf_t b;
    wsh_buf_init(&b);
    wsh_history_lock(hub->history);
    wsh_history_chan_t *hc = wsh_history_find(hub->history, name, len);
    int rc = hc ? wsh_buf_append(&b, "{", 1) : 0;
    rc = rc || !hc ? rc : wsh_receipts_dead_json(hub->receipts, hc, &b);
    wsh_history_unlock(hub->history);
    if (!hc) {
        wsh_buf_dispose(&b);
        reply_error(x, 404, "not_found", "no such channel");
        return;
    }
    rc = rc ? rc : wsh_buf_append(&b, "}", 1);
    reply_json(x, 200, &b, rc);
}

static void channel_info(wsh_http_x_t *x, const char *name, size_t len)
{
    wsh_hub_t *hub = x->data;
    wsh_buf_t b;
    wsh_buf_init(&b);
    wsh_history_lock(hub->history);
    wsh_history_chan_t *hc = wsh_history_find(hub->history, name, len);
    int rc = hc ? wsh_buf_appendf(&b, "{\"name\":\"%.*s\",\"subscribers\":%u,\"offset\":%llu,\"epoch\":\"%s\"}",
                                  (int)len, name, hc->subscribers, (unsigned long long)hc->committed_offset, hc->epoch)
                : 0;
    wsh_history_unlock(hub->history);
    if (!hc) {
        wsh_buf_dispose(&b);
        reply_error(x, 404, "not_found", "no such channel");
        return;
    }
    reply_json(x, 200, &b, rc);
}

/* GET /api/channels/{channel}/presence: who is listed (docs/presence.md).
 * The API key is the credential here, as for history. */
static void channel_presence(wsh_http_x_t *x, const char *name, size_t len)
{
    wsh_hub_t *hub = x->data;
    if (!wsh_presence_is_on(hub, name, len)) {
        reply_error(x, 404, "presence_disabled", "presence is not enabled in this channel's namespace");
        return;
    }
    size_t max = hub->opts->presence_reply_max ? hub->opts->presence_reply_max : WSH_PRESENCE_REPLY_MAX;
    wsh_buf_t b;
    wsh_buf_init(&b);
    int rc = wsh_buf_appendf(&b, "{\"channel\":\"%.*s\",", (int)len, name);
    if (!rc) {
        wsh_history_lock(hub->history);
        rc = wsh_presence_list_json(wsh_history_find(hub->history, name, len), max, &b);
        wsh_history_unlock(hub->history);
    }
    rc = rc ? rc : wsh_buf_append(&b, "}", 1);
    reply_json(x, 200, &b, rc);
}

/* GET /api/channels/{channel}/history?since=N&limit=M */
static void channel_history(wsh_http_x_t *x, const char *name, size_t len)
{
    wsh_hub_t *hub = x->data;
    uint64_t since = 0, limit = 100;
    if (query_u64(x, "since", &since) < 0 || query_u64(x, "limit", &limit) < 0)
        return;
    if (limit > 1000)
        limit = 1000;
    wsh_buf_t b;
    wsh_buf_init(&b);
    int rc = wsh_buf_append(&b, "{", 1);
    rc = rc ? rc : wsh_replay_history_json(hub, name, len, since, (uint32_t)limit, &b);
    if (rc == WSH_ENOTFOUND) {
        wsh_buf_dispose(&b);
        reply_error(x, 404, "not_found", "no such channel");
        return;
    }
    rc = rc ? rc : wsh_buf_append(&b, "}", 1);
    reply_json(x, 200, &b, rc);
}

static void route_channel(wsh_http_x_t *x)
{
    if (!authorized(x))
        return;
    wsh_bus_catch_up(x->data);
    char name[WSH_CHANNEL_NAME_MAX + 1];
    const char *action;
    long n = parse_channel_path(x, name, &action);
    if (n < 0)
        return;
    bool is_get = x->req->method == HTTP_GET || x->req->method == HTTP_HEAD;
    if (strcmp(action, "publish") == 0) {
        if (x->req->method != HTTP_POST) {
            wsh_http_respond_error(x->conn, 405, "method_not_allowed", "use POST", "Allow: POST\r\n", x->keep_alive);
            return;
        }
        publish_body(x, name, (size_t)n);
    } else if (action[0] == '\0') {
        if (!is_get) {
            wsh_http_respond_error(x->conn, 405, "method_not_allowed", "use GET", "Allow: GET, HEAD\r\n",
                                   x->keep_alive);
            return;
        }
        channel_info(x, name, (size_t)n);
    } else if (strcmp(action, "dead-letters") == 0) {
        if (!is_get) {
            wsh_http_respond_error(x->conn, 405, "method_not_allowed", "use GET", "Allow: GET, HEAD\r\n",
                                   x->keep_alive);
            return;
        }
        channel_dead_letters(x, name, (size_t)n);
    } else if (strcmp(action, "history") == 0) {
        if (!is_get) {
            wsh_http_respond_error(x->conn, 405, "method_not_allowed", "use GET", "Allow: GET, HEAD\r\n",
                                   x->keep_alive);
            return;
        }
        channel_history(x, name, (size_t)n);
    } else if (strcmp(action, "presence") == 0) {
        if (!is_get) {
            wsh_http_respond_error(x->conn, 405, "method_not_allowed", "use GET", "Allow: GET, HEAD\r\n",
                                   x->keep_alive);
            return;
        }
        channel_presence(x, name, (size_t)n);
    } else {
        reply_error(x, 404, "not_found", "no such endpoint");
    }
}

static void route_channels(wsh_http_x_t *x)
{
    if (!authorized(x))
        return;
    wsh_hub_t *hub = x->data;
    wsh_buf_t b;
    wsh_buf_init(&b);
    int rc = wsh_buf_append(&b, "{\"channels\":[", 13);
    const char *sep = "";
    /* The history holds every channel with subscribers on any worker or
     * with messages, so one walk answers for the whole process. */
    wsh_history_lock(hub->history);
    size_t pos = 0;
    for (wsh_hnode_t *n = wsh_hmap_iter(&hub->history->chans, &pos, NULL); n && !rc;
         n = wsh_hmap_iter(&hub->history->chans, &pos, n)) {
        wsh_history_chan_t *hc = WSH_CONTAINER_OF(n, wsh_history_chan_t, node);
        rc = wsh_buf_appendf(&b, "%s{\"name\":\"%s\",\"subscribers\":%u,\"offset\":%llu}", sep, hc->name,
                             hc->subscribers, (unsigned long long)hc->committed_offset);
        sep = ",";
    }
    wsh_history_unlock(hub->history);
    rc = rc ? rc : wsh_buf_append(&b, "]}", 2);
    reply_json(x, 200, &b, rc);
}

/* POST /api/publish: {"channel": C, "data": D} or {"channels": [C...], "data": D}. */
static void route_publish(wsh_http_x_t *x)
{
    if (!authorized(x))
        return;
    wsh_bus_catch_up(x->data);
    wsh_hub_t *hub = x->data;
    wsh_json_tok_t toks[ENVELOPE_TOKENS];
    int ntok;
    /* Only the envelope's own fields are recorded: data of any shape is
     * validated without using tokens. */
    if (!check_json(x, toks, ENVELOPE_TOKENS, 1, &ntok))
        return;
    const char *s = (const char *)x->req->body.data;
    if (toks[0].type != WSH_JSON_OBJECT) {
        reply_error(x, 400, "bad_request", "the body must be a JSON object");
        return;
    }
    int d = wsh_json_obj_get(s, toks, 0, "data");
    int one = wsh_json_obj_get(s, toks, 0, "channel");
    int many = wsh_json_obj_get(s, toks, 0, "channels");
    if (d < 0 || (one < 0) == (many < 0)) {
        reply_error(x, 400, "bad_request", "give \"data\" and exactly one of \"channel\" or \"channels\"");
        return;
    }
    /* Collect and validate every name before publishing any, so a bad name
     * fails the whole request instead of publishing part of it. */
    char names[MAX_PUBLISH_CHANNELS][WSH_CHANNEL_NAME_MAX + 1];
    size_t lens[MAX_PUBLISH_CHANNELS];
    size_t cnt = 0;
    if (one >= 0) {
        if (toks[one].type != WSH_JSON_STRING) {
            reply_error(x, 400, "bad_request", "\"channel\" must be a string");
            return;
        }
    } else if (toks[many].type != WSH_JSON_ARRAY || toks[many].size == 0 || toks[many].size > MAX_PUBLISH_CHANNELS) {
        reply_error(x, 400, "bad_request", "\"channels\" must be an array of 1 to 64 channel names");
        return;
    }
    /* The names of "channels" are tokenized on their own, from the array's span. */
    wsh_json_tok_t list[MAX_PUBLISH_CHANNELS + 1];
    const char *ls = s;
    const wsh_json_tok_t *names_tok = one >= 0 ? &toks[one] : NULL;
    size_t total = 1;
    if (many >= 0) {
        ls = s + toks[many].start;
        if (wsh_json_parse(ls, toks[many].end - toks[many].start, list, MAX_PUBLISH_CHANNELS + 1, 1, 2, NULL) < 0) {
            reply_error(x, 400, "bad_request", "\"channels\" must be an array of channel names");
            return;
        }
        names_tok = &list[1];
        total = toks[many].size;
    }
    for (size_t i = 0; i < total; i++) {
        const wsh_json_tok_t *t = &names_tok[i];
        if (t->type != WSH_JSON_STRING) {
            reply_error(x, 400, "bad_request", "channel names must be strings");
            return;
        }
        long n = wsh_json_str_decode(ls, t, names[cnt], WSH_CHANNEL_NAME_MAX + 1);
        if (n < 0 || !wsh_channel_name_is_valid(names[cnt], (size_t)n)) {
            reply_error(x, 400, "bad_channel", "channel names are 1-255 bytes of A-Z a-z 0-9 _ . : @ / -");
            return;
        }
        lens[cnt++] = (size_t)n;
    }
    wsh_publish_t idem = {0};
    if (!idem_header(x, &idem))
        return;
    wsh_buf_t b;
    wsh_buf_init(&b);
    wsh_pending_t *pend = start_publish(x);
    int rc = many >= 0 ? wsh_buf_append(&b, "{\"results\":[", 12) : 0;
    int err = 0;
    for (size_t i = 0; i < cnt && !rc && !err; i++) {
        wsh_publish_t p = {
            .channel = names[i],
            .channel_len = lens[i],
            .data = s + toks[d].start,
            .data_len = toks[d].end - toks[d].start,
            .pending = pend,
            .idem_key = idem.idem_key,
            .idem_len = idem.idem_len,
        };
        wsh_published_t res;
        err = wsh_fanout_publish(hub, &p, &res);
        rc = err ? 0 : (i ? wsh_buf_append(&b, ",", 1) : 0);
        rc = rc || err ? rc : append_published(&b, names[i], lens[i], &res);
    }
    if (many >= 0 && !rc && !err)
        rc = wsh_buf_append(&b, "]}", 2);
    finish_publish(x, pend, &b, rc, err);
}

int wsh_api_register(wsh_router_t *r, wsh_hub_t *hub)
{
    int rc = wsh_router_add(r, "/api/publish", false, WSH_M_POST, route_publish, hub);
    rc = rc ? rc : wsh_router_add(r, "/api/channels", false, WSH_M_GET, route_channels, hub);
    rc = rc ? rc : wsh_router_add(r, "/api/channels/", true, WSH_M_GET | WSH_M_POST, route_channel, hub);
    return rc;
}
