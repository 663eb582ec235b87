/* A TCP connection on a loop: reads into the loop's shared buffer and hands
 * bytes to the current protocol handler; queues refcounted frames and flushes
 * them with writev before the loop sleeps; enforces the out-queue cap; closes
 * asynchronously. It knows nothing of HTTP or WebSocket. */
#ifndef WSH_NET_CONN_H
#define WSH_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/list.h"
#include "core/msg.h"
#include "core/pool.h"
#include "loop/loop.h"

typedef struct wsh_conn wsh_conn_t;
typedef struct wsh_net wsh_net_t;

/* The protocol on top of a connection (HTTP, then WebSocket after the upgrade).
 * Callbacks run on the loop thread, never inside the call that caused them. */
typedef struct wsh_conn_handler {
    /* Bytes arrived; data is writable and valid only during the call. Returns
     * how many were consumed. The connection presents the rest again at once
     * (the handler may have switched in the meantime, e.g. after an upgrade)
     * while progress is made, and keeps what is left as the tail for the next
     * read. A handler that closes the connection returns any value. */
    size_t (*on_data)(wsh_conn_t *c, uint8_t *data, size_t len);
    /* The peer finished sending (EOF) or the socket failed. NULL: flush what
     * is queued, then close (wsh_conn_close_after_flush). */
    void (*on_eof)(wsh_conn_t *c);
    /* The server is draining: finish gracefully (WebSocket: close 1001 and
     * wait for the peer's close; HTTP: close when idle). NULL: close now. */
    void (*on_shutdown)(wsh_conn_t *c);
    /* The connection is being freed (after wsh_conn_close, in a later loop
     * phase): release the handler's state. */
    void (*on_free)(wsh_conn_t *c);
} wsh_conn_handler_t;

/* Limits shared by every connection of one wsh_net_t. */
typedef struct wsh_net_limits {
    size_t max_queue;          /* unsent bytes per connection before WSH_ESLOW */
    size_t write_per_iter;     /* bytes written to one connection per loop iteration */
    uint64_t linger_ms;        /* how long a closing connection drains the peer's bytes */
} wsh_net_limits_t;

/* Per-loop network context: created by the server for each loop; owns the list
 * of live connections and the pending-flush list, and registers the
 * before-sleep flush hook. `data` is the server's (handlers reach it via
 * wsh_conn_net(c)->data). Freed with wsh_net_free once no connection is live. */
struct wsh_net {
    wsh_loop_t *loop;
    wsh_net_limits_t lim;
    /* Open connections by slot. A connection's slot is the low bits of its
     * id, so wsh_net_find is one load, and walking the table visits every
     * open connection: this replaced a list link, a hash node and a bucket
     * per connection (40 bytes each). A free slot holds the next free one
     * as ((index + 1) << 1) | 1; pointers are even. */
    uintptr_t *slots;
    uint32_t slot_cnt;         /* slots ever used (the rest are untouched) */
    uint32_t slot_cap;
    uint32_t slot_free;        /* first free slot below slot_cnt, plus 1; 0 = none */
    /* Slots of connections with queued output to flush before the loop
     * sleeps: [0] answers (the connection whose input was being handled),
     * [1] broadcasts. A closed connection's entry is skipped (its slot is
     * free or belongs to a connection that is not wsh_conn_t.is_pending). */
    struct {
        uint32_t *v;
        uint32_t cnt, cap;
    } pend[2];
    wsh_conn_t *reading;       /* the connection whose input is being handled, else NULL */
    wsh_pool_t conn_pool;      /* wsh_conn_t storage: no malloc header per connection */
    wsh_defer_t defer;         /* runs jobs after the iteration */
    wsh_conn_t **jobs;         /* connections to free or resume, in order */
    size_t job_cnt, job_cap;
    size_t conn_cnt;
    void *data;
    /* Called once per connection as wsh_conn_close runs (the fd is closed,
     * the peer address still readable): the owner's per-address counts. */
    void (*on_conn_close)(wsh_conn_t *c);
};

/* Bits of a connection id holding its slot (the rest is a process-wide
 * serial, so ids are never reused). Slots per loop are bounded by the
 * connection cap, at most 10,000,000 (config.c) < 2^24. */
#define WSH_CONN_SLOT_BITS 24
#define WSH_CONN_SLOT_MAX ((1u << WSH_CONN_SLOT_BITS) - 1)
_Static_assert(WSH_CONN_SLOT_BITS == WSH_LOG_CONN_SERIAL_SHIFT, "log lines show the serial above the slot");

/* Frames a connection queues without allocating a ring. */
#define WSH_CONN_OUT_INLINE 2

/* One queued frame (a reference held until it is written). */
struct wsh_conn_out {
    wsh_msg_t *msg;
};

/* A connection. Created by wsh_conn_new, freed by the loop after wsh_conn_close
 * (deferred, so it is never freed while on the stack). */
struct wsh_conn {
    wsh_io_t io;
    wsh_net_t *net;
    uint64_t id;                 /* unique per process: serial << WSH_CONN_SLOT_BITS | slot */
    const wsh_conn_handler_t *h;
    void *proto;                 /* the handler's state */
    struct wsh_tls *tls;         /* TLS state (net/tls.c); NULL for plaintext */
    wsh_timer_t timer;           /* one timer for the handler's deadlines */
    /* Queued frames (out_cap is 0 or a power of two, so positions are
     * masked: a division per frame showed in the fan-out profile).
     * out_cap 0 = none, WSH_CONN_OUT_INLINE = the inline
     * slots (the 101 answer plus `welcome`, or an idle connection's
     * occasional reply, need no allocation), more = `ring`. */
    union {
        struct wsh_conn_out *ring;
        struct wsh_conn_out inl[WSH_CONN_OUT_INLINE];
    } out;
    uint32_t out_head, out_cnt, out_cap;
    uint32_t out_off;            /* bytes of the head frame already written */
    size_t out_bytes;            /* unsent bytes in the queue */
    wsh_buf_t *tail;             /* unconsumed input kept between reads; NULL when none */
    union {                      /* the peer's address, compact (not a 128-byte sockaddr_storage) */
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } peer;
    /* One 32-bit word: every idle connection pays for each byte of this
     * struct. The linger count stops at MAX_LINGER_BYTES plus one read, far
     * below 2^24. */
    uint32_t linger_bytes : 24;  /* input discarded while closing */
    uint32_t is_closed : 1;      /* wsh_conn_close ran; waiting to be freed */
    uint32_t is_closing : 1;     /* flushing then lingering before close */
    uint32_t is_write_armed : 1; /* EPOLLOUT armed after a partial write */
    uint32_t is_shut_wr : 1;
    uint32_t is_peer_eof : 1;    /* EOF seen while closing with output left */
    uint32_t is_job_queued : 1;  /* in net->jobs (resume or free after this iteration) */
    uint32_t is_pending : 1;     /* in net->pend, waiting for the before-sleep flush */
};

wsh_net_t *wsh_net_new(wsh_loop_t *loop, const wsh_net_limits_t *lim, void *data);
/* Frees the context; every connection must already be closed and freed
 * (run the loop once after closing them). */
void wsh_net_free(wsh_net_t *net);

/* Takes ownership of fd and starts reading with handler h (proto is its state).
 * Aborts on OOM (our allocation). */
wsh_conn_t *wsh_conn_new(wsh_net_t *net, int fd, const struct sockaddr_storage *peer,
                         const wsh_conn_handler_t *h, void *proto);

/* Replaces the protocol handler (the old one's on_free is NOT called: the
 * caller has already released or handed over its state). */
void wsh_conn_set_handler(wsh_conn_t *c, const wsh_conn_handler_t *h, void *proto);

/* Queues a reference to m (the caller keeps its own). Returns 0, or WSH_ESLOW
 * without queueing when it would take the unsent bytes past max_queue: the
 * caller decides how to close. Nothing is written before the loop sleeps.
 * On a closing or closed connection the frame is dropped and 0 returned.
 * Writes use writev, so the process must ignore SIGPIPE (server.c does). */
int wsh_conn_send(wsh_conn_t *c, wsh_msg_t *m);
/* Queues m regardless of the cap (close frames, final error responses). */
void wsh_conn_send_force(wsh_conn_t *c, wsh_msg_t *m);
/* Copies data into a new msg and queues it (cap applies); 0 or WSH_ESLOW. */
int wsh_conn_send_copy(wsh_conn_t *c, const void *data, size_t len);
/* Drops every queued frame not yet started, so a close frame can follow a
 * partially written one without corrupting the stream. */
void wsh_conn_discard_queue(wsh_conn_t *c);

/* Closes now: stops watching, closes the fd, drops the queue and frees the
 * connection after this loop iteration (on_free runs then). Idempotent. */
void wsh_conn_close(wsh_conn_t *c);
/* Graceful close: stops delivering input, flushes what is queued, shuts down
 * the write side, discards the peer's bytes until EOF or linger_ms, then
 * closes. Lets the peer read our last frame before any RST. */
void wsh_conn_close_after_flush(wsh_conn_t *c);

/* The open connection with this id, or NULL (closed, or never existed). */
static inline wsh_conn_t *wsh_net_find(const wsh_net_t *net, uint64_t id)
{
    uint32_t slot = (uint32_t)(id & WSH_CONN_SLOT_MAX);
    if (slot >= net->slot_cnt || (net->slots[slot] & 1u))
        return NULL;
    wsh_conn_t *c = (wsh_conn_t *)net->slots[slot];
    return c->id == id ? c : NULL;
}

/* Calls fn on every open connection (fn may close any of them). */
void wsh_net_foreach(wsh_net_t *net, void (*fn)(wsh_conn_t *c));

/* A handler that returned without consuming (it waits for something, e.g.
 * a durable commit) calls this when it can go on: the bytes kept as the
 * tail are presented again after this loop iteration. */
void wsh_conn_resume_input(wsh_conn_t *c);

/* Asks for a flush before the loop sleeps even with nothing queued: the TLS
 * layer (net/tls.c) has handshake bytes the socket did not take. */
void wsh_conn_want_flush(wsh_conn_t *c);

/* Asks every open connection of net to finish (handler's on_shutdown). */
void wsh_net_shutdown(wsh_net_t *net);

/* Frees the out-queue ring if nothing is queued: called periodically (the
 * heartbeat) so an idle connection holds no write-side memory while a busy
 * one keeps its ring between bursts. */
void wsh_conn_trim(wsh_conn_t *c);

/* Arms the connection's timer to call cb after ms (re-arms if armed). */
void wsh_conn_timer_start(wsh_conn_t *c, uint64_t ms, wsh_timer_cb cb);
void wsh_conn_timer_stop(wsh_conn_t *c);

/* Copies the peer's address out (family 0 when unknown). */
void wsh_conn_peer(const wsh_conn_t *c, struct sockaddr_storage *out);

/* The i-th queued frame, 0 being the next to write (i < out_cnt). */
static inline wsh_msg_t *wsh_conn_queued(const wsh_conn_t *c, uint32_t i)
{
    const struct wsh_conn_out *q = c->out_cap == WSH_CONN_OUT_INLINE ? c->out.inl : c->out.ring;
    return q[(c->out_head + i) & (c->out_cap - 1)].msg;
}

/* The connection whose timer fired (callbacks of wsh_conn_timer_start). */
static inline wsh_conn_t *wsh_conn_of_timer(wsh_timer_t *t) { return WSH_CONTAINER_OF(t, wsh_conn_t, timer); }

static inline wsh_loop_t *wsh_conn_loop(const wsh_conn_t *c) { return c->net->loop; }
static inline bool wsh_conn_is_open(const wsh_conn_t *c) { return !c->is_closed && !c->is_closing; }

#endif
