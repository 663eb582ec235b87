/* One worker: a thread with its own loop, connections, hub and listening
 * sockets (SO_REUSEPORT spreads accepts across workers). server.c creates
 * the workers and tells them when to drain; routes.c answers their requests. */
#ifndef WSH_WORKER_H
#define WSH_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "http/httpconn.h"
#include "http/router.h"
#include "hub/hub.h"
#include "loop/loop.h"
#include "net/conn.h"
#include "ws/wsconn.h"

struct wsh_server;

typedef struct wsh_listener {
    wsh_io_t io;
    struct wsh_worker *w;         /* the worker accepting on it */
    char addr[80];
    bool is_tls;                  /* connections start with a TLS handshake */
} wsh_listener_t;

/* Owned by the server (an array); the thread it runs on owns everything
 * reachable from it except the shared pieces under srv. */
typedef struct wsh_worker {
    struct wsh_server *srv;
    size_t idx;
    pthread_t thread;
    wsh_loop_t *loop;
    wsh_net_t *net;
    wsh_hub_t *hub;
    wsh_router_t router;
    wsh_httpconn_opts_t http_opts;
    wsh_listener_t listeners[WSH_CONFIG_MAX_LISTEN];
    size_t listener_cnt;
    _Atomic bool drain_requested; /* set by the signal owner, read on wake */
    bool is_draining;
    wsh_timer_t drain_timer;
    wsh_timer_t sweep_timer;      /* worker 0: drops expired history */
    wsh_timer_t receipt_timer;    /* worker 0: closes receipts past their deadline */
    /* Admission (docs/security.md "Limits"): this worker's share of the
     * global connection cap, per-address limits, and the accept pause
     * after EMFILE (doubling up to 1 s, so running out of descriptors
     * never spins the loop). */
    size_t max_conns;
    struct wsh_iplimit *iplimit;  /* the server's, shared; NULL when no per-address limit is set */
    wsh_timer_t accept_timer;     /* resumes accepting after a pause; worker 0 also sweeps iplimit with it */
    uint32_t accept_pause_ms;     /* last pause; 0 once an accept succeeds */
    bool is_accept_paused;
    wsh_timer_t trim_timer;       /* returns freed heap pages after a connection storm */
    uint32_t accepted_since_trim;
} wsh_worker_t;

/* The process-wide pieces every worker reads (or locks). */
typedef struct wsh_server {
    const wsh_config_t *cfg;
    wsh_ws_opts_t ws_opts;
    wsh_hub_opts_t hub_opts;
    struct wsh_history *history;
    struct wsh_bus *bus;          /* NULL with one worker and no journal */
    struct wsh_journal *journal;  /* --data-dir, or NULL */
    struct wsh_receipts *receipts;
    struct wsh_presence *presence;  /* who is subscribed on presence channels (hub/presence.h) */
    struct wsh_iplimit *iplimit;    /* per-address limits of every worker (net/iplimit.h); NULL: off */
    struct wsh_tls_ctx *tls;      /* certificate for tls-listen, or NULL */
    wsh_worker_t *workers;
    size_t worker_cnt;
    struct sockaddr_storage bound[WSH_CONFIG_MAX_LISTEN]; /* what worker 0 bound (port 0 resolved) */
    uint64_t started_ms;
    _Atomic bool is_draining;
    _Atomic size_t workers_done;  /* threads (workers 1..) whose loop returned */
} wsh_server_t;

/* Creates w's loop, connections context, hub and routes (on the calling
 * thread; the worker's thread only runs them). */
void wsh_worker_init(wsh_worker_t *w, wsh_server_t *srv, size_t idx);
/* Opens w's listening sockets: worker 0 binds the configured addresses
 * and records them; the others bind the same resolved ports. 0 or -1 after
 * printing one line. */
int wsh_worker_listen(wsh_worker_t *w);
/* Runs w's loop until its drain completes (the thread body). */
void *wsh_worker_run(void *w);
/* Starts w's drain from its own thread: stop accepting, ask every connection
 * to finish, stop when none is left or after the drain timeout. */
void wsh_worker_drain(wsh_worker_t *w);
/* Asks w to drain from any thread. */
void wsh_worker_request_drain(wsh_worker_t *w);
/* Closes what is left and frees w's resources (after its loop returned). */
void wsh_worker_dispose(wsh_worker_t *w);

#endif
