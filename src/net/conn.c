/* Connection I/O: one read per readiness into the loop buffer, handler
 * dispatch with tail keeping, out-queue of refcounted frames flushed by writev
 * before the loop sleeps, and asynchronous, lingering close. */
#include "net/conn.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/pool.h"
#include "net/tls.h"
#include "obs/metrics.h"

/* iovecs per writev: enough to batch many small frames in one syscall. */
#define IOV_BATCH 64
/* Input a handler left unconsumed beyond this is a handler bug or an abuse:
 * handlers consume everything they can, so the tail only holds partial
 * pipelined requests. */
#define MAX_TAIL (1024u * 1024u)
/* Bytes a closing connection reads and discards before giving up on a
 * graceful close. */
#define MAX_LINGER_BYTES (256u * 1024u)
/* Bytes read into the tail per readiness when one exists. */
#define TAIL_READ 65536u

static _Atomic uint64_t next_conn_id = 1;

static void on_io(wsh_loop_t *loop, wsh_io_t *io, uint32_t events);
static bool flush_pending(wsh_loop_t *loop, void *data);
static bool flush(wsh_conn_t *c);

_Static_assert((WSH_CONN_OUT_INLINE & (WSH_CONN_OUT_INLINE - 1)) == 0, "queue capacities must be powers of two");

/* The i-th queued frame (0 = head). */
static inline struct wsh_conn_out *out_at(wsh_conn_t *c, uint32_t i)
{
    struct wsh_conn_out *q = c->out_cap == WSH_CONN_OUT_INLINE ? c->out.inl : c->out.ring;
    return &q[(c->out_head + i) & (c->out_cap - 1)]; /* capacities are powers of two */
}

static void free_ring(wsh_conn_t *c)
{
    if (c->out_cap > WSH_CONN_OUT_INLINE)
        free(c->out.ring);
    c->out.ring = NULL;
    c->out_cap = c->out_head = 0;
}

wsh_net_t *wsh_net_new(wsh_loop_t *loop, const wsh_net_limits_t *lim, void *data)
{
    wsh_net_t *net = wsh_xcalloc(1, sizeof *net);
    net->loop = loop;
    net->lim = *lim;
    net->data = data;
    wsh_pool_init(&net->conn_pool, sizeof(wsh_conn_t));
    wsh_loop_add_before_sleep(loop, flush_pending, net);
    return net;
}

void wsh_net_free(wsh_net_t *net)
{
    free(net->slots);
    free(net->pend[0].v);
    free(net->pend[1].v);
    wsh_pool_dispose(&net->conn_pool);
    wsh_loop_defer_cancel(net->loop, &net->defer);
    free(net->jobs);
    free(net);
}

/* ---- slots ------------------------------------------------------------ */

static uint32_t slot_take(wsh_net_t *net, wsh_conn_t *c)
{
    uint32_t s;
    if (net->slot_free) {
        s = net->slot_free - 1;
        net->slot_free = (uint32_t)(net->slots[s] >> 1);
    } else {
        if (net->slot_cnt > WSH_CONN_SLOT_MAX) {
            /* Unreachable: the connection cap (config.c) is far below. */
            wsh_log_error(0, "more than %u connections on one loop", WSH_CONN_SLOT_MAX + 1);
            abort();
        }
        if (net->slot_cnt == net->slot_cap) {
            net->slot_cap = net->slot_cap ? net->slot_cap * 2 : 256;
            net->slots = wsh_xrealloc(net->slots, net->slot_cap * sizeof *net->slots);
        }
        s = net->slot_cnt++;
    }
    net->slots[s] = (uintptr_t)c;
    return s;
}

static void slot_release(wsh_net_t *net, uint32_t s)
{
    net->slots[s] = ((uintptr_t)net->slot_free << 1) | 1u;
    net->slot_free = s + 1;
}

void wsh_net_foreach(wsh_net_t *net, void (*fn)(wsh_conn_t *c))
{
    /* Bounded by the count at the start: a connection opened by fn is not
     * visited; one closed by fn just leaves a free slot behind. */
    uint32_t n = net->slot_cnt;
    for (uint32_t s = 0; s < n; s++)
        if (!(net->slots[s] & 1u))
            fn((wsh_conn_t *)net->slots[s]);
}

wsh_conn_t *wsh_conn_new(wsh_net_t *net, int fd, const struct sockaddr_storage *peer,
                         const wsh_conn_handler_t *h, void *proto)
{
    wsh_conn_t *c = wsh_pool_alloc(&net->conn_pool);
    c->net = net;
    uint64_t serial = atomic_fetch_add(&next_conn_id, 1);
    c->id = serial << WSH_CONN_SLOT_BITS | slot_take(net, c);
    c->h = h;
    c->proto = proto;
    if (peer && peer->ss_family == AF_INET)
        memcpy(&c->peer.in, peer, sizeof c->peer.in);
    else if (peer && peer->ss_family == AF_INET6)
        memcpy(&c->peer.in6, peer, sizeof c->peer.in6);
    net->conn_cnt++;
    WSH_METRIC_INC(conns_open);
    WSH_METRIC_INC(conns_total);
    wsh_timer_init(&c->timer, NULL);
    wsh_io_init(&c->io, fd, on_io);
    if (wsh_io_start(net->loop, &c->io, WSH_IO_READ) < 0) {
        wsh_log_error(c->id, "cannot watch fd %d", fd);
        wsh_conn_close(c);
    }
    return c;
}

void wsh_conn_peer(const wsh_conn_t *c, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out, &c->peer, sizeof c->peer);
}

void wsh_conn_set_handler(wsh_conn_t *c, const wsh_conn_handler_t *h, void *proto)
{
    c->h = h;
    c->proto = proto;
}

static void shutdown_one(wsh_conn_t *c)
{
    if (!wsh_conn_is_open(c))
        return;
    if (c->h->on_shutdown)
        c->h->on_shutdown(c);
    else
        wsh_conn_close(c);
}

void wsh_net_shutdown(wsh_net_t *net) { wsh_net_foreach(net, shutdown_one); }

/* ---- output ---------------------------------------------------------- */

static void mark_pending(wsh_conn_t *c)
{
    if (c->is_write_armed || c->is_pending)
        return;
    /* Answers go out before broadcasts: the connection whose input is being
     * handled (a publisher awaiting `published`) is flushed ahead of the
     * subscribers its message fanned out to, so it can send its next
     * requests while the fan-out is still being written, and the next
     * iteration finds a fuller batch to share one writev per subscriber. */
    wsh_net_t *net = c->net;
    int q = c == net->reading ? 0 : 1;
    if (net->pend[q].cnt == net->pend[q].cap) {
        net->pend[q].cap = net->pend[q].cap ? net->pend[q].cap * 2 : 64;
        net->pend[q].v = wsh_xrealloc(net->pend[q].v, net->pend[q].cap * sizeof *net->pend[q].v);
    }
    net->pend[q].v[net->pend[q].cnt++] = (uint32_t)(c->id & WSH_CONN_SLOT_MAX);
    c->is_pending = true;
}

static void enqueue(wsh_conn_t *c, wsh_msg_t *m)
{
    if (c->out_cnt == c->out_cap) {
        if (c->out_cap == 0) {
            c->out_cap = WSH_CONN_OUT_INLINE;
            c->out_head = 0;
        } else {
            uint32_t cap = c->out_cap * 2; /* stays a power of two: indexes are masked, not divided */
            struct wsh_conn_out *ring = wsh_xmalloc(cap * sizeof *ring);
            /* Unroll the queue into the new array so head is at 0. */
            for (uint32_t i = 0; i < c->out_cnt; i++)
                ring[i] = *out_at(c, i);
            if (c->out_cap > WSH_CONN_OUT_INLINE)
                free(c->out.ring);
            c->out.ring = ring;
            c->out_cap = cap;
            c->out_head = 0;
        }
    }
    c->out_cnt++;
    out_at(c, c->out_cnt - 1)->msg = wsh_msg_ref(m);
    c->out_bytes += m->len;
    mark_pending(c);
}

int wsh_conn_send(wsh_conn_t *c, wsh_msg_t *m)
{
    if (c->is_closed || c->is_closing)
        return 0;
    if (c->out_bytes + m->len > c->net->lim.max_queue) {
        /* Output queued this iteration has not been offered to the socket
         * yet: a burst is not a slow consumer. Only a peer whose socket is
         * already full (write armed) or stays full after a flush is. */
        if (!c->is_write_armed)
            flush(c);
        if (c->is_closed || c->is_closing)
            return 0;
        if (c->out_bytes + m->len > c->net->lim.max_queue)
            return WSH_ESLOW;
    }
    enqueue(c, m);
    return 0;
}

void wsh_conn_send_force(wsh_conn_t *c, wsh_msg_t *m)
{
    if (c->is_closed || c->is_shut_wr)
        return;
    enqueue(c, m);
}

int wsh_conn_send_copy(wsh_conn_t *c, const void *data, size_t len)
{
    wsh_msg_t *m = wsh_msg_new_copy(data, len);
    int rc = wsh_conn_send(c, m);
    wsh_msg_unref(m);
    return rc;
}

static void drop_queue_from(wsh_conn_t *c, uint32_t keep)
{
    while (c->out_cnt > keep) {
        wsh_msg_t *m = out_at(c, c->out_cnt - 1)->msg;
        c->out_bytes -= m->len - (c->out_cnt == 1 ? c->out_off : 0);
        wsh_msg_unref(m);
        c->out_cnt--;
    }
    if (c->out_cnt == 0) {
        c->out_off = 0;
        c->out_bytes = 0;
    }
}

void wsh_conn_discard_queue(wsh_conn_t *c)
{
    /* Keep a frame that is half on the wire: cutting it would corrupt the stream. */
    drop_queue_from(c, c->out_off ? 1 : 0);
}

static void set_events(wsh_conn_t *c, bool want_write)
{
    if (c->is_write_armed == want_write)
        return;
    c->is_write_armed = want_write;
    wsh_io_modify(c->net->loop, &c->io, WSH_IO_READ | (want_write ? WSH_IO_WRITE : 0));
}

static void finish_flush(wsh_conn_t *c);

/* Writes queued frames, at most write_per_iter bytes. Returns true if output
 * remains that could be written now (the cap was hit). */
static bool flush(wsh_conn_t *c)
{
    size_t budget = c->net->lim.write_per_iter;
    while (c->out_cnt && budget) {
        struct iovec iov[IOV_BATCH];
        int n = 0;
        size_t want = 0;
        for (uint32_t i = 0; i < c->out_cnt && n < IOV_BATCH && want < budget; i++) {
            wsh_msg_t *m = out_at(c, i)->msg;
            size_t off = i == 0 ? c->out_off : 0;
            iov[n].iov_base = m->data + off;
            iov[n].iov_len = m->len - off;
            want += iov[n].iov_len;
            n++;
        }
        ssize_t w = c->tls ? wsh_tls_writev(c, iov, n) : writev(c->io.fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                set_events(c, true);
                return false;
            }
            /* EPIPE, ECONNRESET: the peer is gone; nothing more can be delivered. */
            wsh_log_debug(c->id, "write failed: %s", strerror(errno));
            wsh_conn_close(c);
            return false;
        }
        WSH_METRIC_ADD(bytes_out, w);
        c->out_bytes -= (size_t)w;
        budget = (size_t)w >= budget ? 0 : budget - (size_t)w;
        size_t left = (size_t)w;
        uint64_t now_ns = 0;
        while (left) {
            wsh_msg_t *m = out_at(c, 0)->msg;
            size_t rest = m->len - c->out_off;
            if (left < rest) {
                c->out_off += (uint32_t)left;
                break;
            }
            left -= rest;
            if (m->pub_ns && !now_ns) {
                /* Sampled: one observation per writev (its oldest publish),
                 * one clock read, so the histogram costs nothing per message
                 * on the fan-out path. */
                now_ns = wsh_clock_wall_ns();
                wsh_metrics_observe_latency_ns(now_ns > m->pub_ns ? now_ns - m->pub_ns : 0);
            }
            wsh_msg_unref(m);
            c->out_head = (c->out_head + 1) & (c->out_cap - 1);
            c->out_cnt--;
            c->out_off = 0;
        }
        if ((size_t)w < want) {
            /* A short write means the socket buffer is full. */
            set_events(c, true);
            return false;
        }
    }
    if (c->out_cnt == 0) {
        if (c->tls) {
            /* TLS may still hold a record or handshake bytes the socket
             * did not take: the queue is empty, the stream is not. */
            int rc = wsh_tls_flush(c);
            if (rc == -EAGAIN) {
                set_events(c, true);
                return false;
            }
            if (rc < 0) {
                wsh_conn_close(c);
                return false;
            }
        }
        set_events(c, false);
        /* The ring stays while the connection is busy (re-making it on every
         * burst cost several mallocs per subscriber per iteration); an idle
         * connection gives it back through wsh_conn_trim. */
        c->out_head = 0;
        if (c->is_closing) {
            finish_flush(c);
            if (c->is_peer_eof)
                wsh_conn_close(c);
        }
        return false;
    }
    return true;
}

static bool flush_pending(wsh_loop_t *loop, void *data)
{
    (void)loop;
    wsh_net_t *net = data;
    /* Only what was queued before this call: a connection that still has
     * output after its budget is queued again, behind the bound, for the
     * next iteration. */
    uint32_t bound[2] = {net->pend[0].cnt, net->pend[1].cnt};
    for (int q = 0; q < 2; q++) {
        uint32_t n = bound[q];
        for (uint32_t i = 0; i < n; i++) {
            uintptr_t e = net->slots[net->pend[q].v[i]];
            if (e & 1u)
                continue; /* closed, slot free */
            wsh_conn_t *c = (wsh_conn_t *)e;
            if (!c->is_pending)
                continue; /* closed, slot reused; or already flushed from an older entry */
            c->is_pending = false;
            if (flush(c) && !c->is_closed)
                mark_pending(c);
        }
        if (n) { /* (v is NULL until the first entry) */
            net->pend[q].cnt -= n;
            memmove(net->pend[q].v, net->pend[q].v + n, net->pend[q].cnt * sizeof *net->pend[q].v);
        }
    }
    return net->pend[0].cnt + net->pend[1].cnt > 0;
}

/* ---- input ----------------------------------------------------------- */

/* Presents data to the handler while it makes progress; returns the number
 * of bytes left unconsumed (0 when the connection closed). */
static size_t dispatch(wsh_conn_t *c, uint8_t *data, size_t len)
{
    wsh_conn_t *outer = c->net->reading;
    c->net->reading = c;
    while (len && !c->is_closed && !c->is_closing) {
        const wsh_conn_handler_t *h = c->h;
        size_t used = h->on_data(c, data, len);
        if (c->is_closed || c->is_closing)
            break;
        if (used > len)
            used = len;
        data += used;
        len -= used;
        if (used == 0 && h == c->h)
            break;
    }
    c->net->reading = outer;
    return (c->is_closed || c->is_closing) ? 0 : len;
}

/* The tail lives behind a pointer, allocated only while input is pending:
 * most connections never have one, and those that do hold it briefly. */
static size_t tail_len(const wsh_conn_t *c)
{
    return c->tail ? c->tail->len : 0;
}

static void tail_drop(wsh_conn_t *c)
{
    if (c->tail) {
        wsh_buf_dispose(c->tail);
        free(c->tail);
        c->tail = NULL;
    }
}

static wsh_buf_t *tail_get(wsh_conn_t *c)
{
    if (!c->tail) {
        c->tail = wsh_xmalloc(sizeof *c->tail);
        wsh_buf_init(c->tail);
    }
    return c->tail;
}

/* Presents the kept tail to the handler and keeps what it leaves. */
static void dispatch_tail(wsh_conn_t *c)
{
    size_t left = dispatch(c, c->tail->data, c->tail->len);
    if (c->is_closed || c->is_closing) {
        tail_drop(c);
        return;
    }
    wsh_buf_consume(c->tail, c->tail->len - left);
    if (c->tail->len == 0)
        tail_drop(c);
}

static void on_eof(wsh_conn_t *c)
{
    if (c->h->on_eof)
        c->h->on_eof(c);
    else
        /* A half-close is not an abort: the peer may still read what we
         * have queued for it (an HTTP client that shut down its side after
         * the request still wants the answer). */
        wsh_conn_close_after_flush(c);
}

static void linger_read(wsh_conn_t *c)
{
    size_t cap;
    uint8_t *buf = wsh_loop_read_buf(c->net->loop, &cap);
    ssize_t n;
    do {
        n = read(c->io.fd, buf, cap);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n > 0) {
        /* Drained and discarded, but only so much: a peer that keeps
         * flooding a closing connection is cut off instead of being read
         * for the whole linger time. */
        c->linger_bytes = (uint32_t)(c->linger_bytes + (size_t)n); /* < 2^24: closed past 256 KiB */
        if (c->linger_bytes > MAX_LINGER_BYTES)
            wsh_conn_close(c);
        return;
    }
    if (n == 0 && c->out_cnt > 0) {
        /* The peer finished sending but our output is not all out yet: stop
         * reading (EOF would keep reporting readable) and keep flushing;
         * flush() closes once the queue is empty. */
        c->is_peer_eof = true;
        c->is_write_armed = true;
        wsh_io_modify(c->net->loop, &c->io, WSH_IO_WRITE);
        return;
    }
    wsh_conn_close(c);
}

static void do_read(wsh_conn_t *c)
{
    if (c->is_closing) {
        linger_read(c);
        return;
    }
    uint8_t *buf;
    size_t cap;
    bool into_tail = tail_len(c) > 0;
    if (into_tail) {
        if (wsh_buf_reserve(c->tail, TAIL_READ) < 0) {
            wsh_conn_close(c);
            return;
        }
        buf = c->tail->data + c->tail->len;
        cap = TAIL_READ;
    } else {
        buf = wsh_loop_read_buf(c->net->loop, &cap);
    }
    ssize_t n;
    do {
        n = c->tls ? wsh_tls_read(c, buf, cap) : read(c->io.fd, buf, cap);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        wsh_log_debug(c->id, "read failed: %s", strerror(errno));
        on_eof(c);
        return;
    }
    if (n == 0) {
        on_eof(c);
        return;
    }
    WSH_METRIC_ADD(bytes_in, n);
    if (into_tail) {
        c->tail->len += (size_t)n;
        dispatch_tail(c);
        if (c->is_closed || c->is_closing)
            return;
    } else {
        size_t left = dispatch(c, buf, (size_t)n);
        if (left && wsh_buf_append(tail_get(c), buf + (size_t)n - left, left) < 0) {
            wsh_conn_close(c);
            return;
        }
    }
    if (tail_len(c) > MAX_TAIL) {
        wsh_log_warn(c->id, "unconsumed input over %u bytes, closing", MAX_TAIL);
        wsh_conn_close(c);
    }
}

static void free_conn(wsh_conn_t *c);

/* Connections with a deferred job, run after this loop iteration by one
 * net-wide defer (a wsh_defer_t per connection would cost every idle
 * connection 32 bytes): a closed one is freed, an open one gets its kept
 * tail presented again. Jobs queued while the batch runs join it. */
static void run_jobs(wsh_defer_t *d)
{
    wsh_net_t *net = d->data;
    for (size_t i = 0; i < net->job_cnt; i++) {
        wsh_conn_t *c = net->jobs[i];
        c->is_job_queued = false;
        if (c->is_closed)
            free_conn(c);
        else if (!c->is_closing && tail_len(c) > 0)
            dispatch_tail(c);
    }
    net->job_cnt = 0;
}

static void queue_job(wsh_conn_t *c)
{
    wsh_net_t *net = c->net;
    if (c->is_job_queued)
        return;
    if (net->job_cnt == net->job_cap) {
        net->job_cap = net->job_cap ? net->job_cap * 2 : 64;
        net->jobs = wsh_xrealloc(net->jobs, net->job_cap * sizeof *net->jobs);
    }
    net->jobs[net->job_cnt++] = c;
    c->is_job_queued = true;
    wsh_loop_defer(net->loop, &net->defer, run_jobs, net);
}

void wsh_conn_resume_input(wsh_conn_t *c)
{
    if (!c->is_closed)
        queue_job(c);
}

static void on_io(wsh_loop_t *loop, wsh_io_t *io, uint32_t events)
{
    (void)loop;
    wsh_conn_t *c = WSH_CONTAINER_OF(io, wsh_conn_t, io);
    if (c->is_closed)
        return;
    if (events & WSH_IO_WRITE) {
        if (flush(c) && !c->is_closed)
            mark_pending(c);
        if (c->is_closed)
            return;
    }
    if (events & (WSH_IO_READ | WSH_IO_ERROR))
        do_read(c);
}

/* ---- close ----------------------------------------------------------- */

static void free_conn(wsh_conn_t *c)
{
    if (c->h && c->h->on_free)
        c->h->on_free(c);
    tail_drop(c);
    free_ring(c);
    wsh_tls_free(c->tls);
    wsh_pool_free(&c->net->conn_pool, c);
}

void wsh_conn_close(wsh_conn_t *c)
{
    if (c->is_closed)
        return;
    c->is_closed = true;
    wsh_io_stop(c->net->loop, &c->io);
    close(c->io.fd);
    wsh_loop_timer_stop(c->net->loop, &c->timer);
    c->is_pending = false;
    slot_release(c->net, (uint32_t)(c->id & WSH_CONN_SLOT_MAX));
    c->net->conn_cnt--;
    WSH_METRIC_DEC(conns_open);
    if (c->net->on_conn_close)
        c->net->on_conn_close(c);
    drop_queue_from(c, 0);
    /* Freed after this iteration (a queued resume becomes the free). */
    queue_job(c);
}

static void on_linger_timeout(wsh_timer_t *t)
{
    wsh_conn_close(wsh_conn_of_timer(t));
}

/* The last frame is out: half-close so the peer sees EOF, then drain its
 * bytes until it closes too or the linger timer fires. */
static void finish_flush(wsh_conn_t *c)
{
    if (c->is_shut_wr)
        return;
    if (c->tls && wsh_tls_finish(c) == -EAGAIN) {
        /* close_notify goes before the TCP half-close; flush() calls
         * back here once the socket is writable. */
        set_events(c, true);
        return;
    }
    c->is_shut_wr = true;
    shutdown(c->io.fd, SHUT_WR);
}

void wsh_conn_close_after_flush(wsh_conn_t *c)
{
    if (c->is_closed || c->is_closing)
        return;
    c->is_closing = true;
    /* One deadline covers both the flush and the drain: a peer that stops
     * reading cannot hold the connection open. */
    wsh_conn_timer_start(c, c->net->lim.linger_ms, on_linger_timeout);
    if (c->out_cnt == 0)
        finish_flush(c);
    else
        mark_pending(c);
}

void wsh_conn_want_flush(wsh_conn_t *c)
{
    if (!c->is_closed)
        mark_pending(c);
}

void wsh_conn_trim(wsh_conn_t *c)
{
    if (c->out_cnt == 0)
        free_ring(c);
}

void wsh_conn_timer_start(wsh_conn_t *c, uint64_t ms, wsh_timer_cb cb)
{
    c->timer.cb = cb;
    wsh_loop_timer_start(c->net->loop, &c->timer, ms);
}

void wsh_conn_timer_stop(wsh_conn_t *c)
{
    wsh_loop_timer_stop(c->net->loop, &c->timer);
}
