/* WebSocket connection lifecycle on top of wsh_conn_t and wsh_session_t. */
#include "ws/wsconn.h"

#include <stdlib.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "obs/metrics.h"
#include "ws/deflate.h"
#include "ws/utf8.h"

static size_t on_data(wsh_conn_t *c, uint8_t *data, size_t len);
static void on_shutdown(wsh_conn_t *c);
static void on_free(wsh_conn_t *c);

static const wsh_conn_handler_t ws_handler = {
    .on_data = on_data,
    .on_eof = NULL,
    .on_shutdown = on_shutdown,
    .on_free = on_free,
};

static int s_on_message(void *ud, uint8_t opcode, uint8_t *data, size_t len);
static void s_on_control(void *ud, uint8_t opcode, const uint8_t *payload, size_t len);
static void s_on_close(void *ud, uint16_t code, const uint8_t *reason, size_t reason_len);

static const wsh_session_cb_t session_cb = {
    .on_message = s_on_message,
    .on_control = s_on_control,
    .on_close = s_on_close,
};

static void on_heartbeat(wsh_timer_t *t);

/* The first ping comes after a delay spread over [interval/2, interval] by
 * the connection's id, later ones every interval: connections accepted in
 * one burst (a reconnect storm, a deploy) would otherwise all be pinged in
 * the same loop iteration, every interval, stalling delivery for everyone
 * while thousands of pings are written. A hash of the id, not a random
 * source: cheap and enough to spread. */
static uint64_t first_heartbeat_ms(const wsh_conn_t *c, uint64_t interval_ms)
{
    uint64_t x = c->id + 0x9E3779B97F4A7C15ull; /* splitmix64 finaliser */
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    x ^= x >> 31;
    return interval_ms - x % (interval_ms / 2 + 1);
}

static wsh_ws_t *start(wsh_conn_t *c, const wsh_ws_opts_t *opts, const wsh_ws_app_t *app, wsh_ws_t *ws,
                       void *app_data)
{
    ws->conn = c;
    ws->opts = opts;
    ws->app = app;
    ws->app_data = app_data;
    ws->last_recv_ms = wsh_loop_now(wsh_conn_loop(c));
    wsh_session_init(&ws->session, &opts->lim);
    wsh_conn_set_handler(c, &ws_handler, ws);
    if (opts->heartbeat_ms)
        wsh_conn_timer_start(c, first_heartbeat_ms(c, opts->heartbeat_ms), on_heartbeat);
    else
        wsh_conn_timer_stop(c);
    return ws;
}

wsh_ws_t *wsh_ws_start(wsh_conn_t *c, const wsh_ws_opts_t *opts, const wsh_ws_app_t *app, void *app_data)
{
    return start(c, opts, app, wsh_xcalloc(1, sizeof(wsh_ws_t)), app_data);
}

wsh_ws_t *wsh_ws_start_in(wsh_conn_t *c, const wsh_ws_opts_t *opts, const wsh_ws_app_t *app, void *mem)
{
    wsh_ws_t *ws = mem;
    return start(c, opts, app, ws, ws + 1);
}

void wsh_ws_enable_deflate(wsh_ws_t *ws, uint8_t server_bits)
{
    ws->pmd_bits = server_bits;
    ws->session.fp.allowed_rsv = WSH_PMD_RSV;
}

int wsh_ws_send(wsh_ws_t *ws, wsh_msg_t *frame)
{
    if (ws->session.is_close_sent)
        return 0;
    /* The one test the plain path pays for deflate. */
    if (ws->pmd_bits)
        frame = wsh_pmd_frame_for(frame, ws->pmd_bits, ws->opts->pmd_threshold);
    int rc = wsh_conn_send(ws->conn, frame);
    if (rc == WSH_ESLOW)
        wsh_ws_fail(ws, WSH_ESLOW, "send buffer over its limit");
    return rc;
}

int wsh_ws_send_text(wsh_ws_t *ws, const void *data, size_t len)
{
    wsh_msg_t *m = wsh_frame_build(WSH_OP_TEXT, data, len);
    int rc = wsh_ws_send(ws, m);
    wsh_msg_unref(m);
    return rc;
}

static void send_close(wsh_ws_t *ws, uint16_t code, const char *reason)
{
    wsh_metrics_count_close(code);
    wsh_msg_t *m = wsh_frame_build_close(code, reason);
    wsh_conn_send_force(ws->conn, m);
    wsh_msg_unref(m);
    wsh_session_mark_close_sent(&ws->session);
}

static void on_close_timeout(wsh_timer_t *t)
{
    wsh_conn_t *c = wsh_conn_of_timer(t);
    wsh_log_debug(c->id, "no close frame from peer in time, closing");
    wsh_conn_close(c);
}

void wsh_ws_close(wsh_ws_t *ws, uint16_t code, const char *reason)
{
    if (ws->session.is_close_sent || !wsh_conn_is_open(ws->conn))
        return;
    wsh_log_debug(ws->conn->id, "ws closing code=%u", code);
    send_close(ws, code, reason);
    wsh_conn_timer_start(ws->conn, ws->opts->close_timeout_ms, on_close_timeout);
}

void wsh_ws_fail(wsh_ws_t *ws, int err, const char *reason)
{
    wsh_conn_t *c = ws->conn;
    if (!wsh_conn_is_open(c))
        return;
    uint16_t code = wsh_err_close_code(err);
    if (err == WSH_ESLOW)
        wsh_log_warn(c->id, "slow consumer: %zu bytes unsent, closing code=%u", c->out_bytes, code);
    else
        wsh_log_info(c->id, "ws failed: %s, closing code=%u", reason, code);
    if (err == WSH_ESLOW) {
        WSH_METRIC_INC(slow_closes);
        wsh_conn_discard_queue(c);
    }
    if (!ws->session.is_close_sent)
        send_close(ws, code, reason);
    wsh_conn_close_after_flush(c);
}

static void on_heartbeat(wsh_timer_t *t)
{
    wsh_conn_t *c = wsh_conn_of_timer(t);
    wsh_ws_t *ws = c->proto;
    uint64_t now = wsh_loop_now(wsh_conn_loop(c));
    if (now - ws->last_recv_ms >= 2 * ws->opts->heartbeat_ms) {
        wsh_ws_fail(ws, WSH_ETIMEOUT, "heartbeat timeout");
        return;
    }
    wsh_conn_trim(c);
    static const uint8_t ping[2] = {0x89, 0x00};
    wsh_msg_t *m = wsh_msg_new_copy(ping, sizeof ping);
    wsh_ws_send(ws, m);
    wsh_msg_unref(m);
    if (wsh_conn_is_open(c))
        wsh_conn_timer_start(c, ws->opts->heartbeat_ms, on_heartbeat);
}

static size_t on_data(wsh_conn_t *c, uint8_t *data, size_t len)
{
    wsh_ws_t *ws = c->proto;
    ws->last_recv_ms = wsh_loop_now(wsh_conn_loop(c));
    int rc = wsh_session_feed(&ws->session, &session_cb, ws, data, len);
    if (rc < 0) {
        const char *why = rc == WSH_EUTF8        ? "invalid UTF-8"
                          : rc == WSH_ETOOBIG    ? "message too big"
                          : rc == WSH_ENOMEM     ? "message too big"
                          : rc == WSH_EUNSUPPORTED ? "binary messages are not supported here"
                          : rc == WSH_EPOLICY    ? "too many fragments"
                          : rc == WSH_EPAYLOAD   ? "invalid compressed data"
                                                 : "protocol error";
        wsh_ws_fail(ws, rc, why);
    }
    return len;
}

/* A message whose first frame had RSV1 (RFC 7692 §6): inflated under the
 * connection's current message cap (the limit applies to what the
 * application gets, catalogue B33), then validated as text would have been
 * on arrival (RFC 6455 §8.1). */
static int on_compressed(wsh_ws_t *ws, uint8_t opcode, const uint8_t *data, size_t len)
{
    uint8_t *plain;
    size_t plain_len;
    int rc = wsh_pmd_inflate(data, len, wsh_session_max_message(&ws->session), &plain, &plain_len);
    if (rc < 0)
        return rc;
    if (opcode == WSH_OP_TEXT && !wsh_utf8_is_valid(plain, plain_len))
        rc = WSH_EUTF8;
    else
        rc = ws->app->on_message(ws, opcode, plain, plain_len);
    free(plain);
    return rc;
}

static int s_on_message(void *ud, uint8_t opcode, uint8_t *data, size_t len)
{
    wsh_ws_t *ws = ud;
    if (ws->session.msg_rsv & WSH_PMD_RSV)
        return on_compressed(ws, opcode, data, len);
    return ws->app->on_message(ws, opcode, data, len);
}

static void s_on_control(void *ud, uint8_t opcode, const uint8_t *payload, size_t len)
{
    wsh_ws_t *ws = ud;
    /* Every ping costs a pong in the out-queue; a peer that pings faster
     * than the limit is flooding (catalogue B32, CVE-2021-3690 shape). */
    if (ws->opts->ctrl_rate && !wsh_bucket_take(&ws->ctrl_bucket, ws->opts->ctrl_rate, ws->opts->ctrl_burst,
                                                wsh_loop_now(wsh_conn_loop(ws->conn)))) {
        wsh_ws_fail(ws, WSH_EPOLICY, "ping flood");
        return;
    }
    wsh_msg_t *m = wsh_frame_build(opcode, payload, len);
    wsh_ws_send(ws, m);
    wsh_msg_unref(m);
}

static void s_on_close(void *ud, uint16_t code, const uint8_t *reason, size_t reason_len)
{
    wsh_ws_t *ws = ud;
    (void)reason;
    (void)reason_len;
    wsh_log_debug(ws->conn->id, "ws close received code=%u", code);
    /* RFC 6455 §5.5.1: answer with a close frame echoing the status code; as
     * the server we then close the TCP connection first (§7.1.1). */
    if (!ws->session.is_close_sent)
        send_close(ws, code, "");
    wsh_conn_close_after_flush(ws->conn);
}

static void on_shutdown(wsh_conn_t *c)
{
    wsh_ws_close(c->proto, 1001, "server shutting down");
}

static void on_free(wsh_conn_t *c)
{
    wsh_ws_t *ws = c->proto;
    if (ws->app->on_close)
        ws->app->on_close(ws);
    wsh_session_dispose(&ws->session);
    if (ws->app->release)
        ws->app->release(ws);
    else
        free(ws);
}
