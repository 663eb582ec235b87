/* Client lifecycle on /ws: id, welcome, and handing frames to the protocol. */
#include "hub/client.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "hub/authz.h"
#include "hub/channel.h"
#include "hub/proto.h"
#include "hub/replay.h"
#include "obs/metrics.h"
#include "ws/frame.h"

static int on_message(wsh_ws_t *ws, uint8_t opcode, uint8_t *data, size_t len);
static void on_close(wsh_ws_t *ws);
static void release(wsh_ws_t *ws);

static const wsh_ws_app_t client_app = {
    .on_message = on_message,
    .on_close = on_close,
    .release = release,
};

bool wsh_client_id_is_valid(const char *s, size_t len)
{
    if (len == 0 || len > WSH_CLIENT_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '.' || c == ':' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* 96 random bits as 16 base64url characters: unguessable (2^96), so an id
 * can later serve as a resume handle without being a secret anyone can
 * predict, and short, since every connection stores its id. */
static void random_id(char out[WSH_CLIENT_ID_MAX + 1])
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t r[12];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        /* getrandom only fails before the pool is seeded or on a broken
         * kernel; fall back to a weaker but unique source. */
        uint64_t t = (uint64_t)(uintptr_t)out ^ (uint64_t)rand();
        memcpy(r, &t, sizeof t);
        memcpy(r + 4, &t, sizeof t);
    }
    uint32_t acc = 0;
    int bits = 0, o = 0;
    for (size_t i = 0; i < sizeof r; i++) {
        acc = (acc << 8) | r[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = alphabet[(acc >> bits) & 63];
        }
    }
    if (bits)
        out[o++] = alphabet[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

wsh_client_t *wsh_client_attach(wsh_hub_t *hub, wsh_conn_t *c, const wsh_ws_opts_t *ws_opts, const char *id,
                                size_t id_len)
{
    char gen[WSH_CLIENT_ID_MAX + 1];
    if (!id || !wsh_client_id_is_valid(id, id_len)) {
        random_id(gen);
        id = gen;
        id_len = strlen(gen);
    }
    /* The WebSocket and the client share one block: from the hub's pool
     * when the id is a generated one (every block the same size), else
     * from malloc. */
    size_t need = WSH_CLIENT_BLOCK(id_len);
    bool pooled = need <= hub->client_pool.obj_size;
    wsh_ws_t *ws = wsh_ws_start_in(c, ws_opts, &client_app,
                                   pooled ? wsh_pool_alloc(&hub->client_pool) : wsh_xcalloc(1, need));
    wsh_client_t *cl = ws->app_data;
    cl->is_pooled = pooled;
    cl->ws = ws;
    cl->hub = hub;
    memcpy(cl->id, id, id_len);
    hub->clients++;
    WSH_METRIC_INC(clients_open);
    WSH_METRIC_INC(clients_total);
    wsh_log_info(c->id, "client connected id=%s", cl->id);
    char welcome[192];
    int n = snprintf(welcome, sizeof welcome,
                     "{\"type\":\"welcome\",\"client\":\"%s\",\"version\":\"" WSH_VERSION "\",\"heartbeat\":%u}",
                     cl->id, hub->opts->heartbeat_s);
    wsh_client_send_json(cl, welcome, (size_t)n);
    return cl;
}

void wsh_client_subscribe_list(wsh_client_t *cl, const char *list, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && list[i] != ',')
            continue;
        const char *name = list + start;
        size_t n = i - start;
        start = i + 1;
        if (n == 0)
            continue;
        if (!wsh_channel_name_is_valid(name, n)) {
            wsh_proto_send_error(cl, "bad_channel", "channel names are 1-255 bytes of A-Z a-z 0-9 _ . : @ / -",
                                 NULL, 0);
            continue;
        }
        if (!wsh_authz_may_subscribe(cl, name, n)) {
            char msg[WSH_CHANNEL_NAME_MAX + 96];
            snprintf(msg, sizeof msg, "%s: %.*s", wsh_authz_denied_why(cl, name, n, false), (int)n, name);
            wsh_proto_send_error(cl, "forbidden", msg, NULL, 0);
            continue;
        }
        wsh_resume_t none = {0};
        int rc = wsh_replay_subscribe(cl, name, n, &none, NULL, 0);
        if (rc == WSH_EOVERLOAD) {
            wsh_proto_send_error(cl, "limit_exceeded", "the hub holds max-channels channels", NULL, 0);
            continue;
        }
        if (rc == WSH_EPOLICY) {
            wsh_proto_send_error(cl, "limit_exceeded", "too many subscriptions", NULL, 0);
            return;
        }
    }
}

int wsh_client_send_json(wsh_client_t *cl, const char *json, size_t len)
{
    return wsh_ws_send_text(cl->ws, json, len);
}

/* A sustained breach: this many strikes with no 10 s pause between them. */
#define RATE_STRIKES_MAX 3
#define RATE_STRIKE_FORGET_S 10

/* The message-rate gate (catalogue B41): false when the message is refused.
 * A refused message is not parsed, so its answer is an `error`
 * `rate_limited` without the request's id; the third second with refusals
 * (without a 10 s pause) closes the connection with 4029. */
static bool allow_message(wsh_client_t *cl)
{
    const wsh_hub_opts_t *o = cl->hub->opts;
    uint64_t now = wsh_loop_now(cl->hub->loop);
    if (wsh_bucket_take(&cl->msg_bucket, o->msg_rate, o->msg_burst, now))
        return true;
    uint8_t s = (uint8_t)(now / 1000);
    uint8_t since = (uint8_t)(s - cl->rate_strike_s);
    if (cl->rate_strikes == 0 || since != 0) {
        if (since >= RATE_STRIKE_FORGET_S)
            cl->rate_strikes = 0;
        cl->rate_strikes++;
        cl->rate_strike_s = s;
        if (cl->rate_strikes >= RATE_STRIKES_MAX) {
            wsh_ws_fail(cl->ws, WSH_ERATE, "message rate limit exceeded");
            return false;
        }
    }
    char msg[96];
    snprintf(msg, sizeof msg, "more than %u messages per second (burst %u); this one was dropped", o->msg_rate,
             o->msg_burst);
    wsh_proto_send_error(cl, "rate_limited", msg, NULL, 0);
    return false;
}

static int on_message(wsh_ws_t *ws, uint8_t opcode, uint8_t *data, size_t len)
{
    wsh_client_t *cl = ws->app_data;
    /* The hub's protocol is JSON text (PROTOCOL.md); RFC 6455 §7.4.1: 1003
     * is the code for data of a type the endpoint cannot accept. */
    if (opcode != WSH_OP_TEXT)
        return WSH_EUNSUPPORTED;
    if (cl->hub->opts->msg_rate && !allow_message(cl))
        return 0;
    return wsh_proto_handle(cl, (const char *)data, len);
}

static void on_close(wsh_ws_t *ws)
{
    wsh_client_t *cl = ws->app_data;
    wsh_channel_unsubscribe_all(cl->hub, cl);
    wsh_authz_release(cl);
    cl->hub->clients--;
    WSH_METRIC_DEC(clients_open);
    wsh_log_info(ws->conn->id, "client disconnected id=%s", cl->id);
    /* cl is part of ws's block: release() frees both, after this returns. */
}

static void release(wsh_ws_t *ws)
{
    wsh_client_t *cl = ws->app_data;
    if (cl->is_pooled)
        wsh_pool_free(&cl->hub->client_pool, ws);
    else
        free(ws);
}
