/* Composition root: config → shared pieces → workers; signals and the drain. */
#include "server.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "http/access.h"
#include "http/upgrade.h"
#include "hub/bus.h"
#include "hub/presence.h"
#include "hub/receipts.h"
#include "net/iplimit.h"
#include "net/tls.h"
#include "obs/metrics.h"
#include "store/history.h"
#include "store/journal.h"
#include "ws/deflate.h"
#include "worker.h"

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

/* Worker 0 runs on the main thread and owns the signals (signalfd). */
static void on_signal(wsh_loop_t *loop, int signo, void *data)
{
    (void)loop;
    wsh_server_t *srv = data;
    if (atomic_load(&srv->is_draining)) {
        /* A second signal: the operator does not want to wait. */
        wsh_log_warn(0, "signal %d during drain, exiting now", signo);
        _exit(1);
    }
    atomic_store(&srv->is_draining, true);
    wsh_log_info(0, "signal %d: draining %llu connections (timeout %llums)", signo,
                 (unsigned long long)WSH_METRICS_TOTAL(conns_open), (unsigned long long)srv->cfg->drain_timeout_ms);
    for (size_t i = 1; i < srv->worker_cnt; i++)
        wsh_worker_request_drain(&srv->workers[i]);
    wsh_worker_drain(&srv->workers[0]);
}

/* SIGHUP: reload what can be reloaded without a restart (the TLS
 * certificate); a bad new file keeps the current one. Worker 0's thread. */
static void on_reload(wsh_loop_t *loop, int signo, void *data)
{
    (void)loop;
    (void)signo;
    wsh_server_t *srv = data;
    if (!srv->tls) {
        wsh_log_info(0, "SIGHUP: nothing to reload");
        return;
    }
    char err[512];
    if (wsh_tls_ctx_reload(srv->tls, err, sizeof err) < 0)
        wsh_log_error(0, "tls: reload failed, keeping the current certificate: %s", err);
    else
        wsh_log_info(0, "tls: certificate reloaded generation=%u", wsh_tls_ctx_generation(srv->tls));
}

/* --workers 0 means one per CPU this process may run on (so `taskset -c 0`
 * gives one worker). */
static size_t worker_count(const wsh_config_t *cfg)
{
    if (cfg->workers)
        return cfg->workers;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (size_t)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (size_t)n : 1;
}

int wsh_server_run(const wsh_config_t *cfg)
{
    wsh_server_t srv = {0};
    srv.cfg = cfg;
    srv.started_ms = wsh_clock_mono_ms();
    wsh_log_set_level(cfg->log_level);
    if (prepare_data_dir(cfg->data_dir) < 0)
        return 2;
    if (cfg->tls_listen_cnt) {
        /* A certificate that does not load stops the hub before it listens. */
        char err[512];
        srv.tls = wsh_tls_ctx_new(cfg->tls_cert, cfg->tls_key, err, sizeof err);
        if (!srv.tls) {
            fprintf(stderr, "wshub: tls: %s\n", err);
            return 2;
        }
    }
    /* A peer that resets while we write must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    srv.ws_opts.lim.max_message = cfg->max_message;
    srv.ws_opts.lim.max_fragments = (uint32_t)cfg->max_fragments;
    srv.ws_opts.heartbeat_ms = cfg->heartbeat_ms;
    srv.ws_opts.close_timeout_ms = cfg->close_timeout_ms;
    srv.hub_opts.heartbeat_s = (uint32_t)((cfg->heartbeat_ms + 999) / 1000);
    srv.hub_opts.max_subscriptions = (uint32_t)cfg->max_subscriptions;
    srv.hub_opts.auth = &cfg->auth;
    srv.hub_opts.msg_rate = (uint32_t)cfg->msg_rate;
    srv.hub_opts.msg_burst = (uint32_t)(cfg->msg_burst ? cfg->msg_burst : 2 * cfg->msg_rate);
    srv.hub_opts.max_channels = cfg->max_channels;
    srv.ws_opts.ctrl_rate = (uint32_t)cfg->control_rate;
    srv.ws_opts.ctrl_burst = (uint32_t)(cfg->control_burst ? cfg->control_burst : 2 * cfg->control_rate);
    srv.ws_opts.pmd_enabled = cfg->permessage_deflate;
    srv.ws_opts.pmd_threshold = (uint32_t)cfg->deflate_threshold;
    srv.worker_cnt = worker_count(cfg);
    /* The journal's thread shares the history with the workers, and hands
     * committed messages to them through the bus, even with one worker. */
    bool shared = srv.worker_cnt > 1 || cfg->data_dir;
    srv.history = wsh_history_new(shared);
    wsh_history_limits_t hl = {(uint32_t)cfg->history_size, cfg->history_ttl_ms};
    wsh_history_set_limits(srv.history, &hl);
    for (size_t i = 0; i < cfg->history_rule_cnt; i++) {
        const wsh_config_history_rule_t *r = &cfg->history_rules[i];
        wsh_history_limits_t rl = {(uint32_t)r->size, r->has_ttl ? r->ttl_ms : cfg->history_ttl_ms};
        wsh_history_add_rule(srv.history, r->prefix, &rl);
    }
    /* Namespaces with history=/ttl= become retention rules after the
     * history-prefix ones, so an explicit rule for the same prefix wins. */
    for (size_t i = 0; i < cfg->auth.ns_cnt; i++) {
        const wsh_ns_t *ns = &cfg->auth.ns[i];
        if (!(ns->flags & (WSH_NS_HAS_HISTORY | WSH_NS_HAS_TTL)))
            continue;
        wsh_history_limits_t rl = {ns->flags & WSH_NS_HAS_HISTORY ? ns->history : (uint32_t)cfg->history_size,
                                   ns->flags & WSH_NS_HAS_TTL ? ns->ttl_ms : cfg->history_ttl_ms};
        if (ns->is_default)
            wsh_history_set_limits(srv.history, &rl);
        else
            wsh_history_add_rule(srv.history, ns->prefix, &rl);
    }
    srv.history->idem_window_ms = cfg->idem_window_ms;
    if (cfg->data_dir) {
        char err[512];
        srv.journal = wsh_journal_open(cfg->data_dir, srv.history, err, sizeof err);
        if (!srv.journal) {
            fprintf(stderr, "wshub: --data-dir: %s\n", err);
            wsh_history_free(srv.history);
            wsh_tls_ctx_free(srv.tls);
            return 2;
        }
    }
    srv.bus = shared ? wsh_bus_new(srv.worker_cnt, srv.history) : NULL;
    srv.receipts = wsh_receipts_new();
    wsh_iplimit_opts_t ipo = {(uint32_t)cfg->max_conns_per_ip, (uint32_t)cfg->handshake_rate,
                              (uint32_t)cfg->handshake_burst};
    srv.iplimit = wsh_iplimit_new(&ipo);
    /* The registry exists only where some namespace has presence: without
     * one, subscribes skip presence at the first branch. */
    bool has_presence = false;
    for (size_t i = 0; i < cfg->auth.ns_cnt; i++)
        has_presence |= (cfg->auth.ns[i].flags & WSH_NS_PRESENCE) != 0;
    srv.presence = has_presence ? wsh_presence_new((uint32_t)cfg->max_presence, cfg->max_presence_total) : NULL;
    /* A `presence` answer must never be what pushes its reader past
     * max-queue (close 4008): its list gets at most half of it. */
    srv.hub_opts.presence_reply_max = WSH_PRESENCE_REPLY_MAX;
    if (cfg->max_queue / 2 < srv.hub_opts.presence_reply_max)
        srv.hub_opts.presence_reply_max = (size_t)(cfg->max_queue / 2);
    /* API keys and origins (the config has validated every origin). It
     * lives on this frame, which outlasts every worker. */
    wsh_access_t access;
    char access_err[320];
    wsh_access_init(&access, cfg->api_keys.items, cfg->api_keys.cnt, cfg->allowed_origins.items,
                    cfg->allowed_origins.cnt, cfg->protect_metrics, access_err, sizeof access_err);
    srv.hub_opts.access = &access;
    srv.workers = wsh_xcalloc(srv.worker_cnt, sizeof *srv.workers);
    wsh_metrics_register();
    wsh_upgrade_init();
    for (size_t i = 0; i < srv.worker_cnt; i++) {
        wsh_worker_init(&srv.workers[i], &srv, i);
        if (srv.bus)
            wsh_bus_attach(srv.bus, i, srv.workers[i].hub);
        srv.workers[i].hub->journal = srv.journal;
    }
    /* Signals are blocked before any thread starts, so only worker 0's
     * signalfd ever receives them. */
    wsh_loop_signal_start(srv.workers[0].loop, SIGTERM, on_signal, &srv);
    wsh_loop_signal_start(srv.workers[0].loop, SIGINT, on_signal, &srv);
    wsh_loop_signal_start(srv.workers[0].loop, SIGHUP, on_reload, &srv);
    int exit_code = 0;
    if (srv.journal && wsh_journal_start(srv.journal, wsh_bus_on_commit, srv.bus) < 0) {
        fprintf(stderr, "wshub: --data-dir: cannot start the journal thread\n");
        exit_code = 2;
    }
    size_t listening = 0;
    while (exit_code == 0 && listening < srv.worker_cnt && wsh_worker_listen(&srv.workers[listening]) == 0)
        listening++;
    if (exit_code || listening < srv.worker_cnt) {
        exit_code = 2;
    } else {
        wsh_log_info(0, "wshub " WSH_VERSION " ready workers=%zu", srv.worker_cnt);
        size_t started = 1;
        for (; started < srv.worker_cnt; started++)
            if (pthread_create(&srv.workers[started].thread, NULL, wsh_worker_run, &srv.workers[started]) != 0)
                break;
        if (started < srv.worker_cnt) {
            wsh_log_error(0, "cannot start worker threads");
            exit_code = 1;
            atomic_store(&srv.is_draining, true);
            for (size_t i = 1; i < started; i++)
                wsh_worker_request_drain(&srv.workers[i]);
        } else {
            wsh_loop_run(srv.workers[0].loop);
        }
        for (size_t i = 1; i < started; i++) {
            wsh_worker_request_drain(&srv.workers[i]);
            pthread_join(srv.workers[i].thread, NULL);
        }
    }
    /* Commit what is queued, then let each worker take its last notices
     * (answers to publishers still connected) before tearing down. */
    wsh_journal_close(srv.journal);
    for (size_t i = 0; srv.bus && i < srv.worker_cnt; i++)
        wsh_bus_drain(srv.workers[i].hub);
    /* Connections a drain timeout left open are closed by the disposes
     * below; their leaves must not wake loops already freed. */
    if (srv.bus)
        srv.bus->is_closed = true;
    for (size_t i = 0; i < srv.worker_cnt; i++)
        wsh_worker_dispose(&srv.workers[i]);
    free(srv.workers);
    wsh_bus_free(srv.bus);
    wsh_receipts_free(srv.receipts);
    wsh_presence_free(srv.presence);
    wsh_iplimit_free(srv.iplimit);
    wsh_history_free(srv.history);
    wsh_tls_ctx_free(srv.tls);
    wsh_access_dispose(&access);
    wsh_pmd_thread_dispose();
    wsh_log_info(0, "stopped");
    return exit_code;
}
