/* Route callbacks that compose http/, ws/ and hub/ (which do not know each other). */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "http/access.h"
#include "http/api.h"
#include "http/response.h"
#include "http/static.h"
#include "http/upgrade.h"
#include "hub/authz.h"
#include "hub/client.h"
#include "hub/proto.h"
#include "net/iplimit.h"
#include "obs/metrics.h"
#include "ws/deflate.h"
#include "ws/echo.h"

/* --protect-metrics: /health and /metrics want an API key too. Returns
 * false after answering 401/403. */
static bool status_allowed(wsh_http_x_t *x, const wsh_worker_t *w)
{
    const wsh_access_t *a = w->srv->hub_opts.access;
    if (!a || !a->protect_metrics)
        return true;
    return wsh_api_check_key(x, a);
}

static void route_health(wsh_http_x_t *x)
{
    wsh_worker_t *w = x->data;
    if (!status_allowed(x, w))
        return;
    wsh_server_t *srv = w->srv;
    bool draining = atomic_load(&srv->is_draining);
    char body[256];
    int n = snprintf(body, sizeof body,
                     "{\"status\":\"%s\",\"version\":\"" WSH_VERSION "\",\"uptime_s\":%llu,\"connections\":%llu,"
                     "\"workers\":%zu}",
                     draining ? "draining" : "ok",
                     (unsigned long long)((wsh_clock_mono_ms() - srv->started_ms) / 1000),
                     (unsigned long long)WSH_METRICS_TOTAL(conns_open), srv->worker_cnt);
    /* Readiness: 503 while draining, so a load balancer stops sending. */
    wsh_http_respond(x->conn, draining ? 503 : 200, "application/json", "Cache-Control: no-store\r\n", body,
                     (size_t)n, x->keep_alive, x->is_head);
}

static void route_metrics(wsh_http_x_t *x)
{
    if (!status_allowed(x, x->data))
        return;
    wsh_buf_t b;
    wsh_buf_init(&b);
    if (wsh_metrics_render(&b) < 0) {
        wsh_http_respond_error(x->conn, 500, "internal_error", "out of memory", NULL, x->keep_alive);
    } else {
        wsh_http_respond(x->conn, 200, "text/plain; version=0.0.4; charset=utf-8", "Cache-Control: no-store\r\n",
                         b.data, b.len, x->keep_alive, x->is_head);
    }
    wsh_buf_dispose(&b);
}

/* With permessage-deflate on, reads the request's Sec-WebSocket-Extensions
 * fields (RFC 7692 §7.1): 1 and *agreed when an offer is accepted, 0 to
 * decline (also when the option is off: the header is then not read at
 * all), or WSH_EBADREQ for a field that does not parse. */
static int negotiate_deflate(const wsh_http_x_t *x, const wsh_worker_t *w, wsh_pmd_agreed_t *agreed)
{
    if (!w->srv->ws_opts.pmd_enabled)
        return 0;
    /* One slot per header the request can hold. */
    wsh_pmd_field_t fields[WSH_HTTP_MAX_HEADERS];
    size_t cnt = 0;
    for (size_t i = 0; i < x->req->header_cnt && cnt < sizeof fields / sizeof fields[0]; i++) {
        const wsh_http_header_t *h = &x->req->headers[i];
        if (h->name.len == 24 && strncasecmp(h->name.ptr, "Sec-WebSocket-Extensions", 24) == 0)
            fields[cnt++] = (wsh_pmd_field_t){h->value.ptr, h->value.len};
    }
    return cnt ? wsh_pmd_negotiate(fields, cnt, agreed) : 0;
}

/* Checks the opening handshake and answers it; returns false after sending
 * the error response. *pmd_bits is set to the agreed deflate window, or 0
 * when permessage-deflate was not agreed. */
static bool accept_upgrade(wsh_http_x_t *x, uint8_t *pmd_bits)
{
    char accept[WSH_UPGRADE_ACCEPT_LEN];
    const char *why = "bad handshake";
    wsh_pmd_agreed_t agreed;
    *pmd_bits = 0;
    int rc = wsh_upgrade_check(x->req, accept, &why);
    int pmd = rc < 0 ? 0 : negotiate_deflate(x, x->data, &agreed);
    if (pmd < 0) {
        rc = pmd;
        why = "malformed Sec-WebSocket-Extensions";
    }
    if (rc < 0) {
        int status = wsh_err_http_status(rc);
        /* RFC 6455 §4.4: a version we do not speak is answered with the one we do. */
        const char *hdr = rc == WSH_EVERSION ? "Sec-WebSocket-Version: 13\r\n" : NULL;
        wsh_log_info(x->conn->id, "handshake refused %d: %s", status, why);
        wsh_http_respond_error(x->conn, status, wsh_err_name(rc), why, hdr, x->keep_alive);
        return false;
    }
    wsh_http_respond_upgrade(x->conn, accept, pmd ? agreed.response : NULL);
    if (pmd)
        *pmd_bits = agreed.server_bits;
    return true;
}

/* A token on the handshake (`Authorization: Bearer` first, else ?token=)
 * must be good: a bad one is answered 401 before the upgrade. Without one the
 * upgrade goes ahead and hub/authz.c decides what the connection may do.
 * Returns false after answering. */
static bool check_token(wsh_http_x_t *x, wsh_worker_t *w, wsh_identity_t **out)
{
    char q[WSH_JWT_MAX_LEN + 2];
    const char *tok = NULL;
    size_t len = 0;
    const char *why = "malformed token= query";
    const wsh_http_header_t *h = wsh_http_req_header(x->req, "Authorization");
    if (h && h->value.len > 7 && strncasecmp(h->value.ptr, "Bearer ", 7) == 0) {
        tok = h->value.ptr + 7;
        len = h->value.len - 7;
        while (len && *tok == ' ')
            tok++, len--;
    } else {
        long n = wsh_http_req_query(x->req, "token", q, sizeof q);
        if (n >= 0) {
            tok = q;
            len = (size_t)n;
        } else if (n == -2) {
            tok = NULL;
            goto refuse;
        }
    }
    if (!tok || wsh_authz_verify(&w->srv->cfg->auth, tok, len, out, &why) == 0)
        return true;
refuse:
    wsh_log_info(x->conn->id, "handshake refused 401: %s", why);
    wsh_http_respond_error(x->conn, 401, "unauthorized", why, "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n",
                           x->keep_alive);
    return false;
}

/* Admission before any other work on a handshake (token checks cost a
 * signature verification): the per-address handshake rate (429 with
 * Retry-After) and the Origin allow-list (403, catalogue B46). The
 * connection is closed after either refusal (catalogue B9). Returns false
 * after answering. */
static bool admit_handshake(wsh_http_x_t *x, wsh_worker_t *w)
{
    uint32_t wait_s = wsh_iplimit_handshake(w->iplimit, &x->conn->peer.sa, wsh_loop_now(w->loop));
    if (wait_s) {
        char hdr[48];
        snprintf(hdr, sizeof hdr, "Retry-After: %u\r\n", wait_s);
        wsh_log_info(x->conn->id, "handshake refused 429: handshake rate");
        wsh_http_respond_error(x->conn, 429, "rate_limited", "too many handshakes from your address", hdr, false);
        wsh_conn_close_after_flush(x->conn);
        return false;
    }
    const char *why;
    if (!wsh_access_origin_allowed(w->srv->hub_opts.access, x->req, &why)) {
        wsh_log_info(x->conn->id, "handshake refused 403: %s", why);
        wsh_http_respond_error(x->conn, 403, "forbidden", why, NULL, false);
        wsh_conn_close_after_flush(x->conn);
        return false;
    }
    return true;
}

static void route_ws(wsh_http_x_t *x)
{
    wsh_worker_t *w = x->data;
    if (!admit_handshake(x, w))
        return;
    wsh_identity_t *who = NULL;
    if (!check_token(x, w, &who))
        return;
    uint8_t pmd_bits;
    if (!accept_upgrade(x, &pmd_bits)) {
        free(who);
        return;
    }
    const wsh_http_header_t *h = wsh_http_req_header(x->req, "X-Client-Id");
    wsh_client_t *cl = wsh_client_attach(w->hub, x->conn, &w->srv->ws_opts, h ? h->value.ptr : NULL,
                                         h ? h->value.len : 0);
    /* No frame of the client's has been read yet: its bytes reach the new
     * handler after this route returns. */
    if (pmd_bits)
        wsh_ws_enable_deflate(cl->ws, pmd_bits);
    wsh_authz_start(cl, who);
    /* ?channels=a,b subscribes on connect; the list is bounded by the
     * request head cap, so a buffer of that size always fits it. */
    size_t cap = w->srv->cfg->max_head + 1;
    char *list = wsh_xmalloc(cap);
    long n = wsh_http_req_query(x->req, "channels", list, cap);
    if (n > 0)
        wsh_client_subscribe_list(cl, list, (size_t)n);
    else if (n == -2)
        wsh_proto_send_error(cl, "bad_request", "malformed channels= query", NULL, 0);
    free(list);
}

static void route_echo(wsh_http_x_t *x)
{
    wsh_worker_t *w = x->data;
    uint8_t pmd_bits;
    if (!admit_handshake(x, w) || !accept_upgrade(x, &pmd_bits))
        return;
    wsh_log_debug(x->conn->id, "echo connection");
    wsh_ws_t *ws = wsh_ws_start(x->conn, &w->srv->ws_opts, &wsh_echo_app, NULL);
    if (pmd_bits)
        wsh_ws_enable_deflate(ws, pmd_bits);
}

void wsh_routes_register(wsh_worker_t *w)
{
    wsh_router_add(&w->router, "/health", false, WSH_M_GET, route_health, w);
    wsh_router_add(&w->router, "/metrics", false, WSH_M_GET, route_metrics, w);
    wsh_router_add(&w->router, "/ws", false, WSH_M_GET, route_ws, w);
    if (w->srv->cfg->echo)
        wsh_router_add(&w->router, "/echo", false, WSH_M_GET, route_echo, w);
    wsh_api_register(&w->router, w->hub);
    wsh_static_register(&w->router);
}
