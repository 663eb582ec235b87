/* Server wiring: config → loop → listeners → routes → hub; signals and drain. */
#include "server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "http/api.h"
#include "http/httpconn.h"
#include "http/response.h"
#include "http/upgrade.h"
#include "hub/client.h"
#include "hub/proto.h"
#include "hub/hub.h"
#include "loop/loop.h"
#include "net/conn.h"
#include "net/sock.h"
#include "obs/metrics.h"
#include "store/history.h"
#include "ws/echo.h"
#include "ws/wsconn.h"

/* Accepts per readiness: bounded so a connection storm cannot starve the
 * connections already open. */
#define ACCEPT_BATCH 64

typedef struct listener {
    wsh_io_t io;
    char addr[80];
} listener_t;

typedef struct server {
    const wsh_config_t *cfg;
    wsh_loop_t *loop;
    wsh_net_t *net;
    wsh_hub_t *hub;
    wsh_history_t *history;
    wsh_router_t router;
    wsh_httpconn_opts_t http_opts;
    wsh_ws_opts_t ws_opts;
    wsh_hub_opts_t hub_opts;
    listener_t listeners[WSH_CONFIG_MAX_LISTEN];
    size_t listener_cnt;
    uint64_t started_ms;
    bool is_draining;
    int exit_code;
    wsh_timer_t drain_timer;
} server_t;

/* ---- routes ---------------------------------------------------------- */

static void route_health(wsh_http_x_t *x)
{
    server_t *srv = x->data;
    char body[256];
    int n = snprintf(body, sizeof body,
                     "{\"status\":\"%s\",\"version\":\"" WSH_VERSION "\",\"uptime_s\":%llu,\"connections\":%zu}",
                     srv->is_draining ? "draining" : "ok",
                     (unsigned long long)((wsh_clock_mono_ms() - srv->started_ms) / 1000), srv->net->conn_cnt);
    /* Readiness: 503 while draining, so a load balancer stops sending. */
    wsh_http_respond(x->conn, srv->is_draining ? 503 : 200, "application/json", "Cache-Control: no-store\r\n",
                     body, (size_t)n, x->keep_alive, x->is_head);
}

/* Checks the opening handshake and answers it; returns false after sending
 * the error response. */
static bool accept_upgrade(wsh_http_x_t *x)
{
    char accept[WSH_UPGRADE_ACCEPT_LEN];
    const char *why = "bad handshake";
    int rc = wsh_upgrade_check(x->req, accept, &why);
    if (rc < 0) {
        int status = wsh_err_http_status(rc);
        /* RFC 6455 §4.4: a version we do not speak is answered with the one we do. */
        const char *hdr = rc == WSH_EVERSION ? "Sec-WebSocket-Version: 13\r\n" : NULL;
        wsh_log_info(x->conn->id, "handshake refused %d: %s", status, why);
        wsh_http_respond_error(x->conn, status, wsh_err_name(rc), why, hdr, x->keep_alive);
        return false;
    }
    wsh_http_respond_upgrade(x->conn, accept);
    return true;
}

static void route_ws(wsh_http_x_t *x)
{
    server_t *srv = x->data;
    if (!accept_upgrade(x))
        return;
    const wsh_http_header_t *h = wsh_http_req_header(x->req, "X-Client-Id");
    wsh_client_t *cl = wsh_client_attach(srv->hub, x->conn, &srv->ws_opts, h ? h->value.ptr : NULL,
                                         h ? h->value.len : 0);
    /* ?channels=a,b subscribes on connect; the list is bounded by the
     * request head cap, so a buffer of that size always fits it. */
    char *list = wsh_xmalloc(srv->cfg->max_head + 1);
    long n = wsh_http_req_query(x->req, "channels", list, srv->cfg->max_head + 1);
    if (n > 0)
        wsh_client_subscribe_list(cl, list, (size_t)n);
    else if (n == -2)
        wsh_proto_send_error(cl, "bad_request", "malformed channels= query", NULL, 0);
    free(list);
}

static void route_metrics(wsh_http_x_t *x)
{
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

static void route_echo(wsh_http_x_t *x)
{
    server_t *srv = x->data;
    if (!accept_upgrade(x))
        return;
    wsh_log_debug(x->conn->id, "echo connection");
    wsh_ws_start(x->conn, &srv->ws_opts, &wsh_echo_app, NULL);
}

/* ---- listeners ------------------------------------------------------- */

static void on_accept(wsh_loop_t *loop, wsh_io_t *io, uint32_t events)
{
    (void)loop;
    (void)events;
    server_t *srv = io->data;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage peer;
        int fd = wsh_sock_accept(io->fd, &peer);
        if (fd == -EAGAIN)
            return;
        if (fd < 0) {
            /* EMFILE/ENFILE: out of descriptors. Log and let the next
             * readiness retry rather than spin on the same error. */
            wsh_log_warn(0, "accept failed: %s", strerror(-fd));
            return;
        }
        wsh_conn_t *c = wsh_httpconn_accept(srv->net, fd, &peer, &srv->http_opts);
        if (wsh_log_get_level() <= WSH_LOG_DEBUG) {
            char addr[80];
            wsh_sock_format(&peer, addr, sizeof addr);
            wsh_log_debug(c->id, "accepted from %s", addr);
        }
    }
}

static int open_listeners(server_t *srv)
{
    for (size_t i = 0; i < srv->cfg->listen_cnt; i++) {
        struct sockaddr_storage bound;
        int fd = wsh_sock_listen(&srv->cfg->listen[i], 1024, false, &bound);
        if (fd < 0) {
            fprintf(stderr, "wshub: --listen: cannot listen on %s:%u: %s\n", srv->cfg->listen[i].host,
                    srv->cfg->listen[i].port, strerror(-fd));
            return -1;
        }
        listener_t *l = &srv->listeners[srv->listener_cnt++];
        wsh_sock_format(&bound, l->addr, sizeof l->addr);
        wsh_io_init(&l->io, fd, on_accept, srv);
        wsh_io_start(srv->loop, &l->io, WSH_IO_READ);
        wsh_log_info(0, "listening addr=%s", l->addr);
    }
    return 0;
}

static void close_listeners(server_t *srv)
{
    for (size_t i = 0; i < srv->listener_cnt; i++) {
        wsh_io_stop(srv->loop, &srv->listeners[i].io);
        close(srv->listeners[i].io.fd);
    }
    srv->listener_cnt = 0;
}

/* ---- shutdown -------------------------------------------------------- */

static void on_drain_timeout(wsh_timer_t *t)
{
    server_t *srv = t->data;
    wsh_log_warn(0, "drain timeout: %zu connections still open, closing them", srv->net->conn_cnt);
    wsh_loop_stop(srv->loop);
}

/* Ends the loop once the drain has nothing left to wait for. */
static bool check_drained(wsh_loop_t *loop, void *data)
{
    server_t *srv = data;
    if (srv->is_draining && srv->net->conn_cnt == 0)
        wsh_loop_stop(loop);
    return false;
}

static void on_signal(wsh_loop_t *loop, int signo, void *data)
{
    (void)loop;
    server_t *srv = data;
    if (srv->is_draining) {
        /* A second signal: the operator does not want to wait. */
        wsh_log_warn(0, "signal %d during drain, exiting now", signo);
        _exit(1);
    }
    wsh_log_info(0, "signal %d: draining %zu connections (timeout %llums)", signo, srv->net->conn_cnt,
                 (unsigned long long)srv->cfg->drain_timeout_ms);
    srv->is_draining = true;
    close_listeners(srv);
    wsh_net_shutdown(srv->net);
    wsh_timer_init(&srv->drain_timer, on_drain_timeout, srv);
    wsh_loop_timer_start(srv->loop, &srv->drain_timer, srv->cfg->drain_timeout_ms);
}

/* ---- assembly -------------------------------------------------------- */

static int prepare_data_dir(const char *dir)
{
    if (!dir)
        return 0;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "wshub: --data-dir: cannot create \"%s\": %s\n", dir, strerror(errno));
        return -1;
    }
    if (access(dir, W_OK | X_OK) < 0) {
        fprintf(stderr, "wshub: --data-dir: \"%s\" is not a writable directory: %s\n", dir, strerror(errno));
        return -1;
    }
    return 0;
}

static void setup_routes(server_t *srv)
{
    wsh_router_add(&srv->router, "/health", false, WSH_M_GET, route_health, srv);
    wsh_router_add(&srv->router, "/metrics", false, WSH_M_GET, route_metrics, srv);
    wsh_router_add(&srv->router, "/ws", false, WSH_M_GET, route_ws, srv);
    wsh_api_register(&srv->router, srv->hub);
    if (srv->cfg->echo)
        wsh_router_add(&srv->router, "/echo", false, WSH_M_GET, route_echo, srv);
}

static void setup_options(server_t *srv)
{
    const wsh_config_t *cfg = srv->cfg;
    srv->http_opts.lim.max_head = cfg->max_head;
    srv->http_opts.lim.max_headers = cfg->max_headers;
    srv->http_opts.lim.max_body = cfg->max_body;
    srv->http_opts.request_timeout_ms = cfg->request_timeout_ms;
    srv->http_opts.router = &srv->router;
    srv->ws_opts.lim.max_message = cfg->max_message;
    srv->ws_opts.lim.max_fragments = (uint32_t)cfg->max_fragments;
    srv->ws_opts.heartbeat_ms = cfg->heartbeat_ms;
    srv->ws_opts.close_timeout_ms = cfg->close_timeout_ms;
    srv->hub_opts.heartbeat_s = (uint32_t)((cfg->heartbeat_ms + 999) / 1000);
    srv->hub_opts.max_subscriptions = (uint32_t)cfg->max_subscriptions;
}

int wsh_server_run(const wsh_config_t *cfg)
{
    server_t srv = {0};
    srv.cfg = cfg;
    srv.started_ms = wsh_clock_mono_ms();
    wsh_log_set_level(cfg->log_level);
    if (prepare_data_dir(cfg->data_dir) < 0)
        return 2;
    /* A peer that resets while we write must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    wsh_metrics_register();
    setup_options(&srv);
    srv.loop = wsh_loop_new();
    wsh_net_limits_t lim = {
        .max_queue = cfg->max_queue,
        .write_per_iter = 1u << 20,
        .linger_ms = 2000,
    };
    srv.net = wsh_net_new(srv.loop, &lim, &srv);
    srv.history = wsh_history_new();
    srv.hub = wsh_hub_new(srv.loop, &srv.hub_opts, srv.history);
    setup_routes(&srv);
    wsh_loop_signal_start(srv.loop, SIGTERM, on_signal, &srv);
    wsh_loop_signal_start(srv.loop, SIGINT, on_signal, &srv);
    wsh_loop_add_before_sleep(srv.loop, check_drained, &srv);
    if (open_listeners(&srv) < 0) {
        close_listeners(&srv);
        srv.exit_code = 2;
    } else {
        wsh_log_info(0, "wshub " WSH_VERSION " ready");
        wsh_loop_run(srv.loop);
        srv.exit_code = 0;
    }
    close_listeners(&srv);
    /* Whatever the drain left open is closed now; one more iteration runs
     * the deferred frees. */
    wsh_list_t *pos, *tmp;
    WSH_LIST_FOREACH_SAFE(pos, tmp, &srv.net->conns) {
        wsh_conn_close(WSH_CONTAINER_OF(pos, wsh_conn_t, link));
    }
    wsh_loop_timer_stop(srv.loop, &srv.drain_timer);
    wsh_loop_run_once(srv.loop, 0);
    wsh_hub_free(srv.hub);
    wsh_history_free(srv.history);
    wsh_net_free(srv.net);
    wsh_loop_free(srv.loop);
    wsh_log_info(0, "stopped");
    return srv.exit_code;
}
