/* A worker's lifecycle: set-up, listening, accept, drain, teardown. */
#include "worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/history.h"
#include "hub/bus.h"
#include "hub/pending.h"
#include "hub/receipts.h"
#include "http/api.h"
#include "http/response.h"
#include "net/iplimit.h"
#include "net/sock.h"
#include "net/tls.h"
#include "obs/metrics.h"
#include "routes.h"
#include "ws/deflate.h"

/* Accepts per readiness: bounded so a connection storm cannot starve the
 * connections already open. */
#define ACCEPT_BATCH 64

/* Longest accept pause after running out of descriptors. */
#define ACCEPT_PAUSE_MAX_MS 1000
/* How often idle per-address entries are forgotten. */
#define IPLIMIT_SWEEP_MS 5000

static void set_accepting(wsh_worker_t *w, bool on)
{
    for (size_t i = 0; i < w->listener_cnt; i++) {
        if (on)
            wsh_io_start(w->loop, &w->listeners[i].io, WSH_IO_READ);
        else
            wsh_io_stop(w->loop, &w->listeners[i].io);
    }
}

/* The per-address table is the server's, shared: worker 0 alone sweeps it. */
static bool sweeps_iplimit(const wsh_worker_t *w)
{
    return w->iplimit && w->idx == 0;
}

static void on_accept_timer(wsh_timer_t *t)
{
    wsh_worker_t *w = WSH_CONTAINER_OF(t, wsh_worker_t, accept_timer);
    if (sweeps_iplimit(w))
        wsh_iplimit_sweep(w->iplimit, wsh_loop_now(w->loop));
    if (w->is_accept_paused && !w->is_draining) {
        /* Try again; the next pause is longer only if accept fails again
         * before one succeeds. */
        w->is_accept_paused = false;
        set_accepting(w, true);
    }
    if (sweeps_iplimit(w))
        wsh_loop_timer_start(w->loop, &w->accept_timer, IPLIMIT_SWEEP_MS);
}

/* Out of descriptors (or kernel memory): the listening socket stays
 * readable, so a level-triggered loop would call accept again at once,
 * forever (the libuv EMFILE spin). Stop watching it for a while instead;
 * connections already open keep working. */
static void pause_accepting(wsh_worker_t *w, int err)
{
    uint32_t ms = w->accept_pause_ms ? w->accept_pause_ms * 2 : 50;
    if (ms > ACCEPT_PAUSE_MAX_MS)
        ms = ACCEPT_PAUSE_MAX_MS;
    w->accept_pause_ms = ms;
    w->is_accept_paused = true;
    wsh_log_warn(0, "accept failed: %s; pausing accepts for %ums (%zu connections open)", strerror(err), ms,
                 w->net->conn_cnt);
    set_accepting(w, false);
    wsh_loop_timer_start(w->loop, &w->accept_timer, ms);
}

static void on_conn_close(wsh_conn_t *c)
{
    wsh_worker_t *w = c->net->data;
    wsh_iplimit_close(w->iplimit, &c->peer.sa, wsh_loop_now(w->loop));
}

/* Refuses c, just accepted, with status before reading its request: the
 * answer tells a well-behaved client why, and the socket is closed. */
static void refuse_conn(wsh_conn_t *c, int status, const char *code, const char *msg)
{
    wsh_log_info(c->id, "connection refused %d: %s", status, msg);
    wsh_http_respond_error(c, status, code, msg, "Retry-After: 1\r\n", false);
    wsh_conn_close_after_flush(c);
}

/* After a connection storm (many handshakes, each with a few KiB of HTTP
 * state freed at the upgrade), the heap keeps those freed pages resident.
 * Once accepts have been quiet for TRIM_QUIET_MS, malloc_trim gives them
 * back: RSS then reflects the connections held, not the storm's peak. */
#define TRIM_AFTER_ACCEPTS 256
#define TRIM_QUIET_MS 1000

static void on_trim(wsh_timer_t *t)
{
    wsh_worker_t *w = WSH_CONTAINER_OF(t, wsh_worker_t, trim_timer);
    w->accepted_since_trim = 0;
    malloc_trim(0);
}

static void on_accept(wsh_loop_t *loop, wsh_io_t *io, uint32_t events)
{
    (void)events;
    const wsh_listener_t *l = WSH_CONTAINER_OF(io, wsh_listener_t, io);
    wsh_worker_t *w = l->w;
    if (w->accepted_since_trim >= TRIM_AFTER_ACCEPTS)
        wsh_loop_timer_start(loop, &w->trim_timer, TRIM_QUIET_MS);
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage peer;
        int fd = wsh_sock_accept(io->fd, &peer);
        if (fd == -EAGAIN)
            return;
        if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
            pause_accepting(w, -fd);
            return;
        }
        if (fd < 0) {
            /* ECONNABORTED and friends concern one peer, not us. */
            wsh_log_debug(0, "accept failed: %s", strerror(-fd));
            continue;
        }
        if (w->accept_pause_ms) {
            w->accept_pause_ms = 0;
            wsh_log_info(0, "accepting again (%zu connections open)", w->net->conn_cnt);
        }
        bool is_full = w->net->conn_cnt >= w->max_conns;
        bool ip_ok = wsh_iplimit_open(w->iplimit, (const struct sockaddr *)&peer);
        wsh_conn_t *c = wsh_httpconn_accept(w->net, fd, &peer, &w->http_opts);
        if (is_full && !c->is_closed)
            refuse_conn(c, 503, "overloaded", "the server has too many connections");
        else if (!ip_ok && !c->is_closed)
            refuse_conn(c, 429, "rate_limited", "too many connections from your address");
        /* A refused connection gets its answer in plaintext (a TLS client
         * sees a failed handshake): no handshake is spent on it. */
        if (l->is_tls && wsh_conn_is_open(c))
            wsh_tls_attach(c, w->srv->tls);
        w->accepted_since_trim++;
        if (wsh_log_get_level() <= WSH_LOG_DEBUG) {
            char addr[80];
            wsh_sock_format(&peer, addr, sizeof addr);
            wsh_log_debug(c->id, "accepted from %s on worker %zu", addr, w->idx);
        }
    }
}

/* Wake-ups carry two things: publishes from other workers, and a drain. */
static void on_wake(wsh_loop_t *loop, void *data)
{
    (void)loop;
    wsh_worker_t *w = data;
    if (w->hub->bus)
        wsh_bus_drain(w->hub);
    if (atomic_load(&w->drain_requested) && !w->is_draining)
        wsh_worker_drain(w);
}

/* Ends the loop once the drain has nothing left to wait for. */
static bool check_drained(wsh_loop_t *loop, void *data)
{
    wsh_worker_t *w = data;
    if (!w->is_draining || w->net->conn_cnt != 0)
        return false;
    /* Worker 0 owns the signals: it keeps its loop (and so a second
     * SIGTERM's escape hatch) alive until every other worker has finished. */
    if (w->idx == 0 && atomic_load(&w->srv->workers_done) < w->srv->worker_cnt - 1)
        return false;
    wsh_loop_stop(loop);
    return false;
}

/* Age-based retention must also empty channels nobody publishes to any
 * more; appends only trim the channel they touch. */
#define SWEEP_MS 10000

static void on_sweep(wsh_timer_t *t)
{
    wsh_worker_t *w = WSH_CONTAINER_OF(t, wsh_worker_t, sweep_timer);
    wsh_history_t *h = w->srv->history;
    wsh_history_lock(h);
    wsh_history_sweep(h, wsh_clock_wall_ms());
    wsh_history_unlock(h);
    wsh_loop_timer_start(w->loop, &w->sweep_timer, SWEEP_MS);
}

/* Receipt deadlines are checked at this granularity. */
#define RECEIPT_TICK_MS 100

static void on_receipt_tick(wsh_timer_t *t)
{
    wsh_worker_t *w = WSH_CONTAINER_OF(t, wsh_worker_t, receipt_timer);
    wsh_history_t *h = w->srv->history;
    wsh_pending_t **answers;
    wsh_history_lock(h);
    size_t n = wsh_receipts_expire(w->srv->receipts, w->hub, wsh_clock_mono_ms(), &answers);
    wsh_history_unlock(h);
    for (size_t i = 0; i < n; i++)
        wsh_bus_answer(w->hub, answers[i]);
    free(answers);
    wsh_loop_timer_start(w->loop, &w->receipt_timer, RECEIPT_TICK_MS);
}

/* Descriptors kept back from connections for the journal, logs, the
 * loop's own fds and the accept that finds us full (catalogue B37). */
#define FD_RESERVE 128

/* This worker's share of the connection cap: max-conns, but never more
 * than the descriptor limit leaves after the reserve. */
static size_t conn_share(const wsh_config_t *cfg, size_t workers)
{
    uint64_t cap = cfg->max_conns;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        uint64_t fds = rl.rlim_cur;
        uint64_t reserve = fds / 4 < FD_RESERVE ? fds / 4 : FD_RESERVE;
        if (fds - reserve < cap)
            cap = fds - reserve;
    }
    uint64_t share = (cap + workers - 1) / workers;
    return share ? (size_t)share : 1;
}

void wsh_worker_init(wsh_worker_t *w, wsh_server_t *srv, size_t idx)
{
    const wsh_config_t *cfg = srv->cfg;
    memset(w, 0, sizeof *w);
    w->srv = srv;
    w->idx = idx;
    w->loop = wsh_loop_new();
    wsh_net_limits_t lim = {
        .max_queue = cfg->max_queue,
        .write_per_iter = 1u << 20,
        .linger_ms = 2000,
    };
    w->net = wsh_net_new(w->loop, &lim, w);
    w->max_conns = conn_share(cfg, srv->worker_cnt);
    w->iplimit = srv->iplimit;
    w->net->on_conn_close = on_conn_close;
    wsh_timer_init(&w->accept_timer, on_accept_timer);
    if (sweeps_iplimit(w))
        wsh_loop_timer_start(w->loop, &w->accept_timer, IPLIMIT_SWEEP_MS);
    w->hub = wsh_hub_new(w->loop, &srv->hub_opts, srv->history);
    w->hub->net = w->net;
    w->hub->receipts = srv->receipts;
    w->hub->presence = srv->presence;
    w->http_opts.lim.max_head = cfg->max_head;
    w->http_opts.lim.max_headers = cfg->max_headers;
    w->http_opts.lim.max_body = cfg->max_body;
    w->http_opts.request_timeout_ms = cfg->request_timeout_ms;
    w->http_opts.router = &w->router;
    if (srv->hub_opts.access) {
        /* API keys are checked on the head, before a body is read. */
        w->http_opts.head_gate = wsh_api_head_gate;
        w->http_opts.head_gate_ud = srv->hub_opts.access;
    }
    wsh_routes_register(w);
    wsh_loop_set_wake_cb(w->loop, on_wake, w);
    wsh_loop_add_before_sleep(w->loop, check_drained, w);
    wsh_timer_init(&w->drain_timer, NULL);
    wsh_timer_init(&w->sweep_timer, on_sweep);
    wsh_timer_init(&w->trim_timer, on_trim);
    if (idx == 0 && cfg->history_ttl_ms)
        wsh_loop_timer_start(w->loop, &w->sweep_timer, SWEEP_MS);
    wsh_timer_init(&w->receipt_timer, on_receipt_tick);
    if (idx == 0)
        wsh_loop_timer_start(w->loop, &w->receipt_timer, RECEIPT_TICK_MS);
}

int wsh_worker_listen(wsh_worker_t *w)
{
    wsh_server_t *srv = w->srv;
    const wsh_config_t *cfg = srv->cfg;
    /* Plain addresses first, then TLS ones: srv->bound follows this order. */
    for (size_t i = 0; i < cfg->listen_cnt + cfg->tls_listen_cnt; i++) {
        bool is_tls = i >= cfg->listen_cnt;
        wsh_hostport_t hp = is_tls ? cfg->tls_listen[i - cfg->listen_cnt] : cfg->listen[i];
        /* Port 0 means "any free port" only once: later workers join the
         * port worker 0 got, so SO_REUSEPORT shares one address. */
        if (w->idx > 0) {
            const struct sockaddr_storage *b = &srv->bound[i];
            hp.port = ntohs(b->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)b)->sin6_port
                                                     : ((const struct sockaddr_in *)b)->sin_port);
        }
        struct sockaddr_storage bound;
        int fd = wsh_sock_listen(&hp, 1024, srv->worker_cnt > 1, &bound);
        if (fd < 0) {
            fprintf(stderr, "wshub: %s: cannot listen on %s:%u: %s\n", is_tls ? "--tls-listen" : "--listen", hp.host,
                    hp.port, strerror(-fd));
            return -1;
        }
        if (w->idx == 0)
            srv->bound[i] = bound;
        wsh_listener_t *l = &w->listeners[w->listener_cnt++];
        wsh_sock_format(&bound, l->addr, sizeof l->addr);
        l->is_tls = is_tls;
        l->w = w;
        wsh_io_init(&l->io, fd, on_accept);
        wsh_io_start(w->loop, &l->io, WSH_IO_READ);
        if (w->idx == 0)
            wsh_log_info(0, "listening addr=%s%s", l->addr, is_tls ? " tls" : "");
    }
    return 0;
}

static void close_listeners(wsh_worker_t *w)
{
    for (size_t i = 0; i < w->listener_cnt; i++) {
        wsh_io_stop(w->loop, &w->listeners[i].io);
        close(w->listeners[i].io.fd);
    }
    w->listener_cnt = 0;
}

static void on_drain_timeout(wsh_timer_t *t)
{
    wsh_worker_t *w = WSH_CONTAINER_OF(t, wsh_worker_t, drain_timer);
    wsh_log_warn(0, "worker %zu drain timeout: %zu connections still open, closing them", w->idx,
                 w->net->conn_cnt);
    wsh_loop_stop(w->loop);
}

void wsh_worker_drain(wsh_worker_t *w)
{
    if (w->is_draining)
        return;
    w->is_draining = true;
    close_listeners(w);
    wsh_net_shutdown(w->net);
    w->drain_timer.cb = on_drain_timeout;
    wsh_loop_timer_start(w->loop, &w->drain_timer, w->srv->cfg->drain_timeout_ms);
}

void wsh_worker_request_drain(wsh_worker_t *w)
{
    atomic_store(&w->drain_requested, true);
    wsh_loop_wake(w->loop);
}

void *wsh_worker_run(void *arg)
{
    wsh_worker_t *w = arg;
    wsh_metrics_register();
    wsh_loop_run(w->loop);
    /* The thread's permessage-deflate streams end with it. */
    wsh_pmd_thread_dispose();
    atomic_fetch_add(&w->srv->workers_done, 1);
    wsh_loop_wake(w->srv->workers[0].loop);
    return NULL;
}

void wsh_worker_dispose(wsh_worker_t *w)
{
    close_listeners(w);
    /* Whatever the drain left open is closed now; one more iteration runs
     * the deferred frees (and with them the clients' unsubscribes). */
    wsh_net_foreach(w->net, wsh_conn_close);
    wsh_loop_timer_stop(w->loop, &w->drain_timer);
    wsh_loop_timer_stop(w->loop, &w->sweep_timer);
    wsh_loop_timer_stop(w->loop, &w->trim_timer);
    wsh_loop_timer_stop(w->loop, &w->receipt_timer);
    wsh_loop_timer_stop(w->loop, &w->accept_timer);
    wsh_loop_run_once(w->loop, 0);
    wsh_hub_free(w->hub);
    wsh_net_free(w->net);
    wsh_loop_free(w->loop);
}
