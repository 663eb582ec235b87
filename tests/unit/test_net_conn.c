/* Unit tests for src/net/conn.c on a real loop with socketpairs and loopback
 * TCP: read dispatch with tail keeping and handler switches, the out-queue
 * (before-sleep writev flush, EPOLLOUT re-arming, max_queue, send_force,
 * discard_queue), the graceful and immediate closes, net shutdown and the
 * per-connection timer. Every test ends with nothing live on the loop and no
 * connection left. Not for HTTP or WebSocket on top of it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/msg.h"
#include "loop/loop.h"
#include "net/conn.h"
#include "net/sock.h"
#include "tcp_pair.h"

/* Deadlines for things that should happen at once; sanitizers and valgrind
 * slow everything down, so they are generous. Nothing waits on a guess. */
#define DEADLINE_MS 20000

#define RUN_UNTIL(loop, cond)                                                        \
    do {                                                                             \
        uint64_t dl_ = wsh_clock_mono_ms() + DEADLINE_MS;                            \
        while (!(cond)) {                                                            \
            uint64_t now_ = wsh_clock_mono_ms();                                     \
            if (now_ >= dl_)                                                         \
                fail_msg("timed out waiting for %s", #cond);                         \
            wsh_loop_run_once((loop), (int)(dl_ - now_ < 100 ? dl_ - now_ : 100));   \
        }                                                                            \
    } while (0)

/* ---- fixture ---- */

typedef struct fx {
    wsh_loop_t *loop;
    wsh_net_t *net;
} fx_t;

static void fx_init(fx_t *f, size_t max_queue, size_t write_per_iter, uint64_t linger_ms)
{
    f->loop = wsh_loop_new();
    wsh_net_limits_t lim = {max_queue, write_per_iter, linger_ms};
    f->net = wsh_net_new(f->loop, &lim, NULL);
    assert_non_null(f->net);
}

/* Every connection must be closed by now; one more iteration frees them. */
static void fx_finish(fx_t *f)
{
    wsh_loop_run_once(f->loop, 0);
    assert_int_equal(f->net->conn_cnt, 0);
    for (uint32_t i = 0; i < f->net->slot_cnt; i++)
        assert_true(f->net->slots[i] & 1u); /* every slot free */
    assert_int_equal(f->net->pend[0].cnt + f->net->pend[1].cnt, 0);
    assert_int_equal(wsh_loop_live_count(f->loop), 0);
    wsh_net_free(f->net);
    wsh_loop_free(f->loop);
}

/* Writes zeros into fd until the kernel refuses more (EAGAIN), so the next
 * writev on it is short: how a consumer that stopped reading looks to the
 * hub. Returns the bytes written, which the reader must skip. */
static size_t fill_socket(int fd)
{
    static const uint8_t zeros[4096];
    size_t total = 0;
    for (;;) {
        ssize_t n = write(fd, zeros, sizeof zeros);
        if (n > 0) {
            total += (size_t)n;
            continue;
        }
        assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
        return total;
    }
}

static void make_unix_pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

/* A loopback TCP connection: *srv is the accepted side, *cli the client. */
static void set_sndbuf(int fd, int bytes)
{
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes), 0);
}

static void set_rcvbuf(int fd, int bytes)
{
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes), 0);
}

static void write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t deadline = wsh_clock_mono_ms() + DEADLINE_MS;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EAGAIN && wsh_clock_mono_ms() < deadline)
            continue;
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

/* Reads what is there without blocking; returns bytes read, 0 at EOF, -EAGAIN. */
static ssize_t read_now(int fd, void *buf, size_t cap)
{
    ssize_t n = read(fd, buf, cap);
    return n < 0 ? -errno : n;
}

/* ---- the test's peer: a loop watcher collecting what the connection sends ---- */

typedef struct peer {
    wsh_io_t io;
    wsh_buf_t got;
    bool is_eof;
    size_t per_call; /* bytes read per readiness; 0 = until EAGAIN */
} peer_t;

static void on_peer_io(wsh_loop_t *loop, wsh_io_t *io, uint32_t events)
{
    (void)events;
    peer_t *p = WSH_CONTAINER_OF(io, peer_t, io);
    uint8_t buf[65536];
    size_t budget = p->per_call ? p->per_call : SIZE_MAX;
    while (budget) {
        size_t want = budget < sizeof buf ? budget : sizeof buf;
        ssize_t n = read(io->fd, buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            p->is_eof = true;
            wsh_io_stop(loop, io);
            return;
        }
        assert_int_equal(wsh_buf_append(&p->got, buf, (size_t)n), 0);
        budget -= (size_t)n;
    }
}

static void peer_start(fx_t *f, peer_t *p, int fd)
{
    memset(p, 0, sizeof *p);
    wsh_io_init(&p->io, fd, on_peer_io);
    assert_int_equal(wsh_io_start(f->loop, &p->io, WSH_IO_READ), 0);
}

static void peer_stop(fx_t *f, peer_t *p)
{
    wsh_io_stop(f->loop, &p->io);
    wsh_buf_dispose(&p->got);
}

/* ---- the test's protocol handler ---- */

enum { EAT_ALL, EAT_LINES, EAT_ONE, EAT_NONE, EAT_SWITCH, EAT_CLOSE, EAT_CLOSE_AFTER_FLUSH };

#define MAX_SEEN 64

typedef struct probe {
    int mode;
    wsh_buf_t got;       /* consumed bytes, in order */
    int data_calls, eof_calls, shutdown_calls, free_calls;
    size_t seen_len[MAX_SEEN]; /* length presented on each call */
    char seen[MAX_SEEN][64];   /* first bytes presented on each call */
    struct probe *next_probe;  /* EAT_SWITCH: the state for the next handler */
    const wsh_conn_handler_t *next_h;
    bool eof_closes_after_flush; /* on_eof: queue `reply` and close_after_flush */
    wsh_msg_t *reply;
    bool data_intact_after_close; /* EAT_CLOSE_AFTER_FLUSH: bytes still readable */
} probe_t;

static size_t on_data(wsh_conn_t *c, uint8_t *data, size_t len)
{
    probe_t *p = c->proto;
    if (p->data_calls < MAX_SEEN) {
        p->seen_len[p->data_calls] = len;
        size_t n = len < 63 ? len : 63;
        memcpy(p->seen[p->data_calls], data, n);
        p->seen[p->data_calls][n] = '\0';
    }
    p->data_calls++;
    size_t used = 0;
    switch (p->mode) {
    case EAT_ALL: used = len; break;
    case EAT_ONE: used = 1; break;
    case EAT_NONE: used = 0; break;
    case EAT_LINES:
        for (size_t i = len; i > 0; i--)
            if (data[i - 1] == '\n') {
                used = i;
                break;
            }
        break;
    case EAT_SWITCH: {
        uint8_t *nl = memchr(data, '\n', len);
        used = nl ? (size_t)(nl - data) + 1 : 0;
        if (nl)
            wsh_conn_set_handler(c, p->next_h, p->next_probe);
        break;
    }
    case EAT_CLOSE:
        wsh_conn_close(c);
        return len;
    case EAT_CLOSE_AFTER_FLUSH: {
        /* A handler that answers and closes, then looks at its input again. */
        char copy[64];
        size_t n = len < sizeof copy ? len : sizeof copy;
        memcpy(copy, data, n);
        wsh_conn_close_after_flush(c);
        /* Without ASan a dangling `data` could still read right: churn the
         * allocator so freed input memory gets reused and overwritten. */
        void *churn[4];
        for (int i = 0; i < 4; i++) {
            churn[i] = malloc(131072 >> i);
            assert_non_null(churn[i]);
            memset(churn[i], 0xee, 131072 >> i);
        }
        p->data_intact_after_close = memcmp(copy, data, n) == 0;
        for (int i = 0; i < 4; i++)
            free(churn[i]);
        return len;
    }
    }
    assert_int_equal(wsh_buf_append(&p->got, data, used), 0);
    return used;
}

static void on_eof(wsh_conn_t *c)
{
    probe_t *p = c->proto;
    p->eof_calls++;
    if (p->eof_closes_after_flush) {
        wsh_conn_send_force(c, p->reply);
        wsh_conn_close_after_flush(c);
    } else {
        wsh_conn_close(c);
    }
}

static void on_shutdown(wsh_conn_t *c)
{
    probe_t *p = c->proto;
    p->shutdown_calls++;
}

static void on_free(wsh_conn_t *c)
{
    probe_t *p = c->proto;
    p->free_calls++;
}

static const wsh_conn_handler_t full_handler = {on_data, on_eof, on_shutdown, on_free};
/* No on_eof / on_shutdown: the connection closes itself. */
static const wsh_conn_handler_t bare_handler = {on_data, NULL, NULL, on_free};

static void probe_init(probe_t *p, int mode)
{
    memset(p, 0, sizeof *p);
    p->mode = mode;
}

static void probe_dispose(probe_t *p)
{
    wsh_buf_dispose(&p->got);
}

/* A msg of len bytes whose content depends on seed and position. */
static wsh_msg_t *pattern_msg(size_t len, unsigned seed)
{
    wsh_msg_t *m = wsh_msg_new(len);
    for (size_t i = 0; i < len; i++)
        m->data[i] = (uint8_t)(i * 131u + (i >> 9) + seed * 7u);
    return m;
}

/* ---- input ---- */

static void test_conn_delivers_read_bytes_to_the_handler(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1 << 20, 1 << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    assert_true(wsh_conn_is_open(c));
    assert_int_equal(f.net->conn_cnt, 1);
    write_all(sv[1], "hello", 5);
    RUN_UNTIL(f.loop, p.got.len == 5);
    assert_memory_equal(p.got.data, "hello", 5);
    assert_int_equal(p.data_calls, 1);
    assert_null(c->tail);
    wsh_conn_close(c);
    close(sv[1]);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_conn_keeps_unconsumed_tail_and_presents_it_with_the_next_read(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1 << 20, 1 << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    probe_t p;
    probe_init(&p, EAT_LINES);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    write_all(sv[1], "ab", 2);
    RUN_UNTIL(f.loop, p.data_calls == 1);
    assert_int_equal(p.got.len, 0);
    assert_non_null(c->tail);
    assert_int_equal(c->tail->len, 2);
    write_all(sv[1], "c\nd", 3);
    RUN_UNTIL(f.loop, p.got.len == 4);
    /* The tail, then the new bytes; the unconsumed rest is offered again at
     * once (no progress then: it stays as the tail). */
    assert_int_equal(p.data_calls, 3);
    assert_string_equal(p.seen[1], "abc\nd");
    assert_string_equal(p.seen[2], "d");
    assert_non_null(c->tail);
    assert_int_equal(c->tail->len, 1);
    write_all(sv[1], "e\n", 2);
    RUN_UNTIL(f.loop, p.got.len == 7);
    assert_int_equal(p.data_calls, 4);
    assert_string_equal(p.seen[3], "de\n");
    assert_null(c->tail); /* an empty tail holds no memory */
    assert_int_equal(p.got.len, 7);
    assert_memory_equal(p.got.data, "abc\nde\n", 7);
    wsh_conn_close(c);
    close(sv[1]);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_conn_presents_the_rest_again_while_the_handler_makes_progress(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1 << 20, 1 << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    probe_t p;
    probe_init(&p, EAT_ONE);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    write_all(sv[1], "abcdef", 6);
    RUN_UNTIL(f.loop, p.got.len == 6);
    /* One read, six calls, each with what is left. */
    assert_int_equal(p.data_calls, 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(p.seen_len[i], (size_t)(6 - i));
        assert_string_equal(p.seen[i], &"abcdef"[i]);
    }
    assert_memory_equal(p.got.data, "abcdef", 6);
    assert_null(c->tail);
    wsh_conn_close(c);
    close(sv[1]);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_conn_handler_switch_mid_buffer_gets_the_remainder(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1 << 20, 1 << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    probe_t first, second;
    probe_init(&first, EAT_SWITCH);
    probe_init(&second, EAT_ALL);
    first.next_h = &full_handler;
    first.next_probe = &second;
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &first);
    write_all(sv[1], "UPGRADE\nframes", 14);
    RUN_UNTIL(f.loop, second.got.len == 6);
    assert_int_equal(first.data_calls, 1);
    assert_int_equal(second.data_calls, 1);
    assert_memory_equal(second.got.data, "frames", 6);
    assert_ptr_equal(c->proto, &second);
    wsh_conn_close(c);
    RUN_UNTIL(f.loop, second.free_calls == 1);
    assert_int_equal(first.free_calls, 0); /* the replaced handler's on_free is not called */
    close(sv[1]);
    probe_dispose(&first);
    probe_dispose(&second);
    fx_finish(&f);
}

static size_t on_data_switch_without_consuming(wsh_conn_t *c, uint8_t *data, size_t len)
{
    (void)data;
    (void)len;
    probe_t *p = c->proto;
    p->data_calls++;
    wsh_conn_set_handler(c, p->next_h, p->next_probe);
    return 0;
}

static void test_conn_handler_switch_without_consuming_presents_everything_to_the_new_one(void **state)
{
    (void)state;
    static const wsh_conn_handler_t switcher = {on_data_switch_without_consuming, NULL, NULL, on_free};
    fx_t f;
    fx_init(&f, 1 << 20, 1 << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    probe_t first, second;
    probe_init(&first, EAT_NONE);
    probe_init(&second, EAT_ALL);
    first.next_h = &full_handler;
    first.next_probe = &second;
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &switcher, &first);
    write_all(sv[1], "all of it", 9);
    RUN_UNTIL(f.loop, second.got.len == 9);
    assert_int_equal(first.data_calls, 1);
    assert_memory_equal(second.got.data, "all of it", 9);
    wsh_conn_close(c);
    close(sv[1]);
    probe_dispose(&first);
    probe_dispose(&second);
    fx_finish(&f);
}

static void test_conn_closes_when_unconsumed_tail_exceeds_1MiB(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1 << 20, 1 << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    probe_t p;
    probe_init(&p, EAT_NONE);
    wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    uint8_t chunk[16384];
    memset(chunk, 'x', sizeof chunk);
    size_t sent = 0;
    uint64_t deadline = wsh_clock_mono_ms() + DEADLINE_MS;
    while (p.free_calls == 0) {
        assert_true(wsh_clock_mono_ms() < deadline);
        ssize_t n = write(sv[1], chunk, sizeof chunk);
        if (n > 0)
            sent += (size_t)n;
        else
            assert_true(errno == EAGAIN || errno == EPIPE || errno == ECONNRESET);
        wsh_loop_run_once(f.loop, 0);
    }
    assert_true(sent > 1024u * 1024u);
    assert_int_equal(p.got.len, 0);
    close(sv[1]);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_conn_handler_closing_in_on_data_gets_no_more_input(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1 << 20, 1 << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    probe_t p;
    probe_init(&p, EAT_CLOSE);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    write_all(sv[1], "abc", 3);
    RUN_UNTIL(f.loop, p.free_calls == 1);
    assert_int_equal(p.data_calls, 1);
    (void)c;
    char buf[4];
    assert_int_equal(read_now(sv[1], buf, sizeof buf), 0); /* the peer sees EOF */
    close(sv[1]);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_conn_input_stays_valid_in_on_data_after_close_after_flush(void **state)
{
    (void)state;
    /* "data is writable and valid only during the call": a handler that
     * closes gracefully and then still reads its input (an HTTP error reply
     * built from the request, say) must not read freed memory. The second
     * read lands in the tail, which close_after_flush must not free under
     * the handler. */
    fx_t f;
    fx_init(&f, 1 << 20, 1 << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    probe_t p;
    probe_init(&p, EAT_NONE);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    write_all(sv[1], "partial request ", 16);
    RUN_UNTIL(f.loop, p.data_calls == 1);
    assert_non_null(c->tail);
    assert_int_equal(c->tail->len, 16);
    p.mode = EAT_CLOSE_AFTER_FLUSH;
    write_all(sv[1], "rest\n", 5);
    RUN_UNTIL(f.loop, p.data_calls == 2);
    assert_string_equal(p.seen[1], "partial request rest\n");
    assert_true(p.data_intact_after_close);
    close(sv[1]);
    RUN_UNTIL(f.loop, p.free_calls == 1);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_conn_eof_calls_on_eof_once(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1 << 20, 1 << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    write_all(sv[1], "last", 4);
    close(sv[1]);
    RUN_UNTIL(f.loop, p.free_calls == 1);
    assert_int_equal(p.eof_calls, 1);
    assert_memory_equal(p.got.data, "last", 4); /* bytes before the EOF were delivered */
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_conn_eof_without_on_eof_closes(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1 << 20, 1 << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_new(f.net, sv[0], NULL, &bare_handler, &p);
    shutdown(sv[1], SHUT_WR);
    RUN_UNTIL(f.loop, p.free_calls == 1);
    assert_int_equal(p.eof_calls, 0);
    close(sv[1]);
    probe_dispose(&p);
    fx_finish(&f);
}

/* ---- output ---- */

/* An idle connection's occasional replies sit in the inline slots (no
 * allocation); a third frame before the flush moves them into a ring, in
 * order, and the bytes still go out in queue order. */
static void test_conn_queues_two_frames_inline_and_grows_to_a_ring_in_order(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1 << 20, 1 << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    assert_int_equal(wsh_conn_send_copy(c, "a", 1), 0);
    assert_int_equal(wsh_conn_send_copy(c, "b", 1), 0);
    assert_int_equal(c->out_cap, WSH_CONN_OUT_INLINE);
    assert_memory_equal(wsh_conn_queued(c, 0)->data, "a", 1);
    assert_memory_equal(wsh_conn_queued(c, 1)->data, "b", 1);
    char buf[64];
    wsh_loop_run_once(f.loop, 0);
    assert_int_equal(read_now(sv[1], buf, sizeof buf), 2);
    assert_memory_equal(buf, "ab", 2);
    assert_int_equal(c->out_cap, WSH_CONN_OUT_INLINE); /* nothing was allocated */
    /* The inline slots wrap around like a ring. */
    assert_int_equal(wsh_conn_send_copy(c, "c", 1), 0);
    wsh_loop_run_once(f.loop, 0);
    assert_int_equal(read_now(sv[1], buf, sizeof buf), 1);
    assert_int_equal(wsh_conn_send_copy(c, "d", 1), 0);
    assert_int_equal(wsh_conn_send_copy(c, "e", 1), 0);
    assert_int_equal(wsh_conn_send_copy(c, "f", 1), 0);
    assert_int_equal(c->out_cap, 2 * WSH_CONN_OUT_INLINE);
    assert_int_equal(c->out_cnt, 3);
    assert_memory_equal(wsh_conn_queued(c, 0)->data, "d", 1);
    assert_memory_equal(wsh_conn_queued(c, 2)->data, "f", 1);
    wsh_loop_run_once(f.loop, 0);
    assert_int_equal(read_now(sv[1], buf, sizeof buf), 3);
    assert_memory_equal(buf, "def", 3);
    wsh_conn_close(c);
    close(sv[1]);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_conn_writes_nothing_until_the_loop_flushes_before_sleep(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1 << 20, 1 << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    assert_int_equal(wsh_conn_send_copy(c, "one,", 4), 0);
    assert_int_equal(wsh_conn_send_copy(c, "two,", 4), 0);
    assert_int_equal(wsh_conn_send_copy(c, "three", 5), 0);
    assert_int_equal(c->out_cnt, 3);
    assert_int_equal(c->out_bytes, 13);
    char buf[64];
    assert_int_equal(read_now(sv[1], buf, sizeof buf), -EAGAIN);
    wsh_loop_run_once(f.loop, 0);
    assert_int_equal(read_now(sv[1], buf, sizeof buf), 13);
    assert_memory_equal(buf, "one,two,three", 13);
    assert_int_equal(c->out_cnt, 0);
    assert_int_equal(c->out_bytes, 0);
    assert_int_equal(c->out_cap, 4); /* a busy connection keeps its ring between bursts */
    assert_non_null(c->out.ring);
    wsh_conn_trim(c);
    assert_int_equal(c->out_cap, 0); /* ...and gives it back when trimmed while idle */
    assert_null(c->out.ring);
    assert_false(c->is_write_armed);
    wsh_conn_close(c);
    close(sv[1]);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_conn_flushes_many_frames_in_order_in_one_iteration(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1 << 20, 1 << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    /* More frames than one writev batch (64 iovecs). */
    char want[1000];
    size_t len = 0;
    for (int i = 0; i < 150; i++) {
        char frame[8];
        int n = snprintf(frame, sizeof frame, "%d;", i);
        assert_int_equal(wsh_conn_send_copy(c, frame, (size_t)n), 0);
        memcpy(want + len, frame, (size_t)n);
        len += (size_t)n;
    }
    wsh_loop_run_once(f.loop, 0);
    char buf[2000];
    assert_int_equal(read_now(sv[1], buf, sizeof buf), (ssize_t)len);
    assert_memory_equal(buf, want, len);
    wsh_conn_close(c);
    close(sv[1]);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_conn_send_holds_its_own_reference_until_written(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1 << 20, 1 << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    wsh_msg_t *m = wsh_msg_new_copy("shared", 6);
    assert_int_equal(wsh_conn_send(c, m), 0);
    assert_int_equal(m->refcnt, 2);
    wsh_loop_run_once(f.loop, 0);
    assert_int_equal(m->refcnt, 1);
    /* A frame whose creator let go first is still sent whole. */
    assert_int_equal(wsh_conn_send(c, m), 0);
    wsh_msg_unref(m);
    wsh_loop_run_once(f.loop, 0);
    char buf[16];
    assert_int_equal(read_now(sv[1], buf, sizeof buf), 12);
    assert_memory_equal(buf, "sharedshared", 12);
    wsh_conn_close(c);
    close(sv[1]);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_conn_send_past_max_queue_is_eslow_without_queueing(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1000, 1 << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    size_t junk = fill_socket(sv[0]);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    wsh_msg_t *a = pattern_msg(600, 1), *b = pattern_msg(401, 2), *b2 = pattern_msg(400, 3);
    assert_int_equal(wsh_conn_send(c, a), 0);
    /* Over the cap: the connection flushes first, finds the socket full,
     * and only then refuses. */
    assert_int_equal(wsh_conn_send(c, b), WSH_ESLOW);
    assert_true(c->is_write_armed);
    assert_int_equal(b->refcnt, 1); /* not queued, no reference kept */
    assert_int_equal(c->out_cnt, 1);
    assert_int_equal(c->out_bytes, 600);
    assert_int_equal(wsh_conn_send(c, b2), 0); /* exactly at the cap is fine */
    assert_int_equal(c->out_bytes, 1000);
    assert_int_equal(wsh_conn_send_copy(c, "x", 1), WSH_ESLOW);
    assert_int_equal(c->out_bytes, 1000);
    uint8_t buf[4096];
    while (junk) {
        ssize_t n = read_now(sv[1], buf, junk < sizeof buf ? junk : sizeof buf);
        assert_true(n > 0);
        junk -= (size_t)n;
    }
    wsh_loop_run_once(f.loop, 0);
    assert_int_equal(read_now(sv[1], buf, sizeof buf), 1000);
    assert_memory_equal(buf, a->data, 600);
    assert_memory_equal(buf + 600, b2->data, 400);
    /* Room again once flushed. */
    assert_int_equal(wsh_conn_send(c, b), 0);
    wsh_loop_run_once(f.loop, 0);
    assert_int_equal(read_now(sv[1], buf, sizeof buf), 401);
    wsh_msg_unref(a);
    wsh_msg_unref(b);
    wsh_msg_unref(b2);
    wsh_conn_close(c);
    close(sv[1]);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_conn_send_over_cap_flushes_a_burst_to_a_reading_peer(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1000, 1 << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    wsh_msg_t *a = pattern_msg(600, 1), *b = pattern_msg(600, 2);
    /* 1,200 bytes queued in one iteration exceed the 1,000-byte cap, but the
     * socket takes them: a burst is not a slow consumer. */
    assert_int_equal(wsh_conn_send(c, a), 0);
    assert_int_equal(wsh_conn_send(c, b), 0);
    wsh_loop_run_once(f.loop, 0);
    uint8_t buf[2048];
    assert_int_equal(read_now(sv[1], buf, sizeof buf), 1200);
    assert_memory_equal(buf, a->data, 600);
    assert_memory_equal(buf + 600, b->data, 600);
    wsh_msg_unref(a);
    wsh_msg_unref(b);
    wsh_conn_close(c);
    close(sv[1]);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_conn_send_force_ignores_the_cap(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1024, 1 << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    size_t junk = fill_socket(sv[0]);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    wsh_msg_t *big = pattern_msg(1024, 4), *close_frame = wsh_msg_new_copy("\x88\x02\x0f\xa8", 4);
    assert_int_equal(wsh_conn_send(c, big), 0);
    assert_int_equal(wsh_conn_send(c, close_frame), WSH_ESLOW);
    wsh_conn_send_force(c, close_frame);
    assert_int_equal(c->out_cnt, 2);
    assert_int_equal(c->out_bytes, 1028);
    uint8_t buf[4096];
    while (junk) {
        ssize_t n = read_now(sv[1], buf, junk < sizeof buf ? junk : sizeof buf);
        assert_true(n > 0);
        junk -= (size_t)n;
    }
    wsh_loop_run_once(f.loop, 0);
    assert_int_equal(read_now(sv[1], buf, sizeof buf), 1028);
    assert_memory_equal(buf, big->data, 1024);
    assert_memory_equal(buf + 1024, "\x88\x02\x0f\xa8", 4);
    wsh_msg_unref(big);
    wsh_msg_unref(close_frame);
    wsh_conn_close(c);
    close(sv[1]);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_conn_drains_4MiB_through_a_small_sndbuf_rearming_epollout(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 8u << 20, 1u << 20, 1000);
    int srv, cli;
    make_tcp_pair(&srv, &cli);
    set_sndbuf(srv, 32768);
    set_rcvbuf(cli, 65536);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, srv, NULL, &full_handler, &p);
    const size_t total = 4u << 20;
    wsh_msg_t *m = pattern_msg(total, 9);
    assert_int_equal(wsh_conn_send(c, m), 0);
    /* Nobody reads yet: the first flush is short and arms EPOLLOUT. */
    wsh_loop_run_once(f.loop, 0);
    assert_true(c->is_write_armed);
    assert_int_equal(c->out_cnt, 1);
    assert_true(c->out_off > 0 && c->out_off < total);
    assert_int_equal(c->out_bytes, total - c->out_off);
    assert_false(c->is_pending); /* EPOLLOUT drives it now */
    peer_t peer;
    peer_start(&f, &peer, cli);
    RUN_UNTIL(f.loop, peer.got.len == total);
    assert_memory_equal(peer.got.data, m->data, total);
    RUN_UNTIL(f.loop, !c->is_write_armed);
    assert_int_equal(c->out_cnt, 0);
    assert_int_equal(c->out_bytes, 0);
    assert_int_equal(c->out_off, 0);
    wsh_conn_trim(c);
    assert_int_equal(c->out_cap, 0);
    assert_int_equal(m->refcnt, 1);
    wsh_msg_unref(m);
    wsh_conn_close(c);
    RUN_UNTIL(f.loop, peer.is_eof);
    assert_int_equal(peer.got.len, total); /* nothing extra */
    peer_stop(&f, &peer);
    close(cli);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_conn_keeps_frame_order_while_the_ring_wraps_and_grows(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 64u << 20, 1u << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    set_sndbuf(sv[0], 4096);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    peer_t peer;
    peer_start(&f, &peer, sv[1]);
    peer.per_call = 1500; /* a slow reader keeps the queue partly full */
    wsh_buf_t want = {0};
    for (unsigned i = 0; i < 300; i++) {
        wsh_msg_t *m = pattern_msg(1 + (i * 37u) % 3000u, i);
        assert_int_equal(wsh_conn_send(c, m), 0);
        assert_int_equal(wsh_buf_append(&want, m->data, m->len), 0);
        wsh_msg_unref(m);
        if (i % 7 == 6)
            wsh_loop_run_once(f.loop, 0);
    }
    peer.per_call = 0;
    RUN_UNTIL(f.loop, peer.got.len == want.len);
    assert_memory_equal(peer.got.data, want.data, want.len);
    RUN_UNTIL(f.loop, c->out_cnt == 0 && !c->is_write_armed);
    wsh_buf_dispose(&want);
    wsh_conn_close(c);
    peer_stop(&f, &peer);
    close(sv[1]);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_conn_write_per_iter_spreads_output_over_iterations(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1u << 20, 1000, 1000);
    int sv[2];
    make_unix_pair(sv);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    wsh_buf_t want = {0};
    for (unsigned i = 0; i < 10; i++) {
        wsh_msg_t *m = pattern_msg(500, i);
        assert_int_equal(wsh_conn_send(c, m), 0);
        assert_int_equal(wsh_buf_append(&want, m->data, m->len), 0);
        wsh_msg_unref(m);
    }
    wsh_loop_run_once(f.loop, 0);
    uint8_t buf[8192];
    ssize_t first = read_now(sv[1], buf, sizeof buf);
    assert_true(first > 0 && first < 5000); /* not all in one go */
    assert_true(c->out_cnt > 0);
    size_t got = (size_t)first;
    uint64_t deadline = wsh_clock_mono_ms() + DEADLINE_MS;
    while (got < 5000) {
        assert_true(wsh_clock_mono_ms() < deadline);
        wsh_loop_run_once(f.loop, 0);
        ssize_t n = read_now(sv[1], buf + got, sizeof buf - got);
        if (n > 0)
            got += (size_t)n;
    }
    assert_int_equal(got, 5000);
    assert_memory_equal(buf, want.data, 5000);
    wsh_buf_dispose(&want);
    wsh_conn_close(c);
    close(sv[1]);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_conn_discard_queue_keeps_a_half_written_head(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 8u << 20, 1u << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    set_sndbuf(sv[0], 4096);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    wsh_msg_t *a = pattern_msg(256u << 10, 1), *b = pattern_msg(100, 2), *cc = pattern_msg(100, 3);
    assert_int_equal(wsh_conn_send(c, a), 0);
    assert_int_equal(wsh_conn_send(c, b), 0);
    assert_int_equal(wsh_conn_send(c, cc), 0);
    wsh_loop_run_once(f.loop, 0);
    assert_int_equal(c->out_cnt, 3);
    uint32_t off = c->out_off;
    assert_true(off > 0 && off < a->len); /* the head is on the wire, partly */
    wsh_conn_discard_queue(c);
    assert_int_equal(c->out_cnt, 1);
    assert_int_equal(c->out_off, off);
    assert_int_equal(c->out_bytes, a->len - off);
    assert_int_equal(b->refcnt, 1);
    assert_int_equal(cc->refcnt, 1);
    assert_int_equal(a->refcnt, 2);
    wsh_conn_send_force(c, b); /* e.g. the close frame */
    peer_t peer;
    peer_start(&f, &peer, sv[1]);
    RUN_UNTIL(f.loop, peer.got.len == a->len + b->len);
    assert_memory_equal(peer.got.data, a->data, a->len);
    assert_memory_equal(peer.got.data + a->len, b->data, b->len);
    RUN_UNTIL(f.loop, c->out_cnt == 0);
    wsh_msg_unref(a);
    wsh_msg_unref(b);
    wsh_msg_unref(cc);
    wsh_conn_close(c);
    peer_stop(&f, &peer);
    close(sv[1]);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_conn_discard_queue_drops_everything_not_started(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1u << 20, 1u << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    assert_int_equal(wsh_conn_send_copy(c, "dropped-1", 9), 0);
    assert_int_equal(wsh_conn_send_copy(c, "dropped-2", 9), 0);
    wsh_conn_discard_queue(c);
    assert_int_equal(c->out_cnt, 0);
    assert_int_equal(c->out_bytes, 0);
    assert_int_equal(c->out_off, 0);
    assert_int_equal(wsh_conn_send_copy(c, "kept", 4), 0);
    wsh_loop_run_once(f.loop, 0);
    char buf[64];
    assert_int_equal(read_now(sv[1], buf, sizeof buf), 4);
    assert_memory_equal(buf, "kept", 4);
    wsh_conn_discard_queue(c); /* on an empty queue: harmless */
    wsh_conn_close(c);
    close(sv[1]);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_conn_write_to_a_vanished_peer_closes_the_connection(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1u << 20, 1u << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &bare_handler, &p);
    close(sv[1]);
    assert_int_equal(wsh_conn_send_copy(c, "into the void", 13), 0);
    RUN_UNTIL(f.loop, p.free_calls == 1);
    probe_dispose(&p);
    fx_finish(&f);
}

/* ---- close ---- */

static void test_conn_close_is_idempotent_and_frees_on_the_next_iteration(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1u << 20, 1u << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    assert_int_equal(wsh_conn_send_copy(c, "never sent", 10), 0);
    wsh_conn_close(c);
    assert_false(wsh_conn_is_open(c));
    assert_int_equal(p.free_calls, 0); /* not freed while the caller may hold it */
    assert_int_equal(f.net->conn_cnt, 0);
    wsh_conn_close(c);
    assert_int_equal(wsh_conn_send_copy(c, "ignored", 7), 0); /* sends to a closed conn are dropped */
    wsh_conn_close(c);
    wsh_loop_run_once(f.loop, 0);
    assert_int_equal(p.free_calls, 1);
    char buf[16];
    assert_int_equal(read_now(sv[1], buf, sizeof buf), 0); /* EOF, and the queue was dropped */
    close(sv[1]);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_close_after_flush_delivers_queue_then_eof_and_closes_when_peer_closes(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1u << 20, 1u << 20, 60000); /* the linger timer must not be what closes it */
    int sv[2];
    make_unix_pair(sv);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    assert_int_equal(wsh_conn_send_copy(c, "last ", 5), 0);
    assert_int_equal(wsh_conn_send_copy(c, "words", 5), 0);
    wsh_conn_close_after_flush(c);
    assert_false(wsh_conn_is_open(c));
    assert_true(c->is_closing);
    wsh_conn_close_after_flush(c); /* idempotent */
    assert_int_equal(wsh_conn_send_copy(c, "too late", 8), 0);
    assert_int_equal(c->out_cnt, 2);
    peer_t peer;
    peer_start(&f, &peer, sv[1]);
    RUN_UNTIL(f.loop, peer.is_eof);
    assert_int_equal(peer.got.len, 10);
    assert_memory_equal(peer.got.data, "last words", 10);
    assert_true(c->is_shut_wr);
    /* Input after the close request is drained, not delivered. */
    write_all(sv[1], "ignored", 7);
    wsh_loop_run_once(f.loop, 0);
    wsh_loop_run_once(f.loop, 0);
    assert_int_equal(p.data_calls, 0);
    assert_int_equal(p.free_calls, 0); /* still lingering for the peer */
    uint64_t t0 = wsh_clock_mono_ms();
    peer_stop(&f, &peer);
    close(sv[1]);
    RUN_UNTIL(f.loop, p.free_calls == 1);
    assert_true(wsh_clock_mono_ms() - t0 < 30000);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_close_after_flush_closes_after_linger_when_peer_stays(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1u << 20, 1u << 20, 100);
    int sv[2];
    make_unix_pair(sv);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    assert_int_equal(wsh_conn_send_copy(c, "bye", 3), 0);
    wsh_loop_update_time(f.loop);
    uint64_t t0 = wsh_clock_mono_ms();
    wsh_conn_close_after_flush(c);
    peer_t peer;
    peer_start(&f, &peer, sv[1]);
    RUN_UNTIL(f.loop, p.free_calls == 1);
    uint64_t waited = wsh_clock_mono_ms() - t0;
    assert_true(waited >= 95);
    assert_true(peer.is_eof);
    assert_int_equal(peer.got.len, 3);
    assert_memory_equal(peer.got.data, "bye", 3);
    peer_stop(&f, &peer);
    close(sv[1]);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_close_after_flush_with_empty_queue_shuts_down_at_once(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1u << 20, 1u << 20, 60000);
    int sv[2];
    make_unix_pair(sv);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    wsh_conn_close_after_flush(c);
    assert_true(c->is_shut_wr);
    char buf[8];
    assert_int_equal(read_now(sv[1], buf, sizeof buf), 0);
    close(sv[1]);
    RUN_UNTIL(f.loop, p.free_calls == 1);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_close_after_flush_drains_a_large_queue_through_a_small_sndbuf(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 8u << 20, 1u << 20, 60000);
    int srv, cli;
    make_tcp_pair(&srv, &cli);
    set_sndbuf(srv, 32768);
    set_rcvbuf(cli, 65536);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, srv, NULL, &full_handler, &p);
    wsh_msg_t *m = pattern_msg(1u << 20, 5);
    assert_int_equal(wsh_conn_send(c, m), 0);
    wsh_conn_close_after_flush(c);
    wsh_loop_run_once(f.loop, 0);
    assert_false(c->is_shut_wr); /* not before the last byte is out */
    peer_t peer;
    peer_start(&f, &peer, cli);
    RUN_UNTIL(f.loop, peer.is_eof);
    assert_int_equal(peer.got.len, m->len);
    assert_memory_equal(peer.got.data, m->data, m->len);
    peer_stop(&f, &peer);
    close(cli);
    RUN_UNTIL(f.loop, p.free_calls == 1);
    wsh_msg_unref(m);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_close_after_flush_delivers_everything_to_a_half_closed_peer(void **state)
{
    (void)state;
    /* A client that sends its request and then shuts down its write side
     * (curl --http1.0, nc -N) still reads the whole answer: its FIN must not
     * make us drop what is queued. */
    fx_t f;
    fx_init(&f, 8u << 20, 1u << 20, 60000);
    int srv, cli;
    make_tcp_pair(&srv, &cli);
    set_sndbuf(srv, 32768);
    set_rcvbuf(cli, 65536);
    probe_t p;
    probe_init(&p, EAT_ALL);
    p.eof_closes_after_flush = true;
    p.reply = pattern_msg(1u << 20, 6);
    wsh_conn_new(f.net, srv, NULL, &full_handler, &p);
    write_all(cli, "GET / HTTP/1.0\r\n\r\n", 18);
    assert_int_equal(shutdown(cli, SHUT_WR), 0);
    RUN_UNTIL(f.loop, p.eof_calls == 1);
    wsh_loop_run_once(f.loop, 0); /* our FIN-side reads happen before the peer drains */
    wsh_loop_run_once(f.loop, 0);
    peer_t peer;
    peer_start(&f, &peer, cli);
    RUN_UNTIL(f.loop, peer.is_eof);
    assert_int_equal(peer.got.len, p.reply->len);
    assert_memory_equal(peer.got.data, p.reply->data, p.reply->len);
    peer_stop(&f, &peer);
    close(cli);
    RUN_UNTIL(f.loop, p.free_calls == 1);
    wsh_msg_unref(p.reply);
    probe_dispose(&p);
    fx_finish(&f);
}

/* ---- net shutdown, timers, odd fds ---- */

static void test_net_shutdown_calls_on_shutdown_or_closes(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1u << 20, 1u << 20, 60000);
    int a[2], b[2], d[2];
    make_unix_pair(a);
    make_unix_pair(b);
    make_unix_pair(d);
    probe_t pa, pb, pd;
    probe_init(&pa, EAT_ALL);
    probe_init(&pb, EAT_ALL);
    probe_init(&pd, EAT_ALL);
    wsh_conn_t *ca = wsh_conn_new(f.net, a[0], NULL, &full_handler, &pa);
    wsh_conn_new(f.net, b[0], NULL, &bare_handler, &pb);
    wsh_conn_t *cd = wsh_conn_new(f.net, d[0], NULL, &full_handler, &pd);
    wsh_conn_close_after_flush(cd); /* already finishing: left alone */
    wsh_net_shutdown(f.net);
    assert_int_equal(pa.shutdown_calls, 1);
    assert_int_equal(pb.shutdown_calls, 0);
    assert_int_equal(pd.shutdown_calls, 0);
    assert_true(wsh_conn_is_open(ca));
    wsh_loop_run_once(f.loop, 0);
    assert_int_equal(pb.free_calls, 1); /* no on_shutdown: closed now */
    assert_int_equal(pa.free_calls, 0);
    assert_int_equal(f.net->conn_cnt, 2);
    wsh_conn_close(ca);
    wsh_conn_close(cd);
    close(a[1]);
    close(b[1]);
    close(d[1]);
    RUN_UNTIL(f.loop, pa.free_calls == 1 && pd.free_calls == 1);
    probe_dispose(&pa);
    probe_dispose(&pb);
    probe_dispose(&pd);
    fx_finish(&f);
}

static int timer_fired;
static wsh_conn_t *timer_conn;

static void on_conn_timer(wsh_timer_t *t)
{
    timer_fired++;
    timer_conn = wsh_conn_of_timer(t);
}

static void test_conn_timer_fires_with_the_connection_and_close_stops_it(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1u << 20, 1u << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], NULL, &full_handler, &p);
    timer_fired = 0;
    timer_conn = NULL;
    wsh_conn_timer_start(c, 5, on_conn_timer);
    RUN_UNTIL(f.loop, timer_fired == 1);
    assert_ptr_equal(timer_conn, c);
    wsh_conn_timer_start(c, 5, on_conn_timer);
    wsh_conn_timer_stop(c);
    wsh_conn_timer_start(c, 60000, on_conn_timer);
    wsh_conn_close(c); /* an armed timer must not outlive the connection */
    wsh_loop_run_once(f.loop, 0);
    assert_int_equal(timer_fired, 1);
    close(sv[1]);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_conn_new_on_an_unwatchable_fd_closes_and_frees_later(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1u << 20, 1u << 20, 1000);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* epoll refuses regular files and /dev/null */
    assert_true(fd >= 0);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, fd, NULL, &full_handler, &p);
    assert_non_null(c);
    assert_false(wsh_conn_is_open(c));
    assert_int_equal(p.free_calls, 0);
    wsh_loop_run_once(f.loop, 0);
    assert_int_equal(p.free_calls, 1);
    assert_int_equal(fcntl(fd, F_GETFD), -1); /* the fd was the connection's to close */
    probe_dispose(&p);
    fx_finish(&f);
}

/* wsh_net_find goes through the slot table: a closed connection is gone at
 * once, and a new connection that reuses its slot does not answer to the
 * old id (a late receipt must not reach a stranger). */
static void test_conn_find_by_id_survives_slot_reuse(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1u << 20, 1u << 20, 1000);
    probe_t p;
    probe_init(&p, EAT_ALL);
    int a[2], b[2];
    make_unix_pair(a);
    make_unix_pair(b);
    wsh_conn_t *c1 = wsh_conn_new(f.net, a[0], NULL, &full_handler, &p);
    wsh_conn_t *c2 = wsh_conn_new(f.net, a[1], NULL, &full_handler, &p);
    assert_ptr_equal(wsh_net_find(f.net, c1->id), c1);
    assert_ptr_equal(wsh_net_find(f.net, c2->id), c2);
    assert_null(wsh_net_find(f.net, c2->id + 1)); /* a slot never used */
    uint64_t old = c1->id;
    wsh_conn_close(c1);
    assert_null(wsh_net_find(f.net, old));
    wsh_conn_t *c3 = wsh_conn_new(f.net, b[0], NULL, &full_handler, &p);
    assert_int_equal(c3->id & WSH_CONN_SLOT_MAX, old & WSH_CONN_SLOT_MAX); /* the freed slot, reused */
    assert_true(c3->id != old);
    assert_null(wsh_net_find(f.net, old));
    assert_ptr_equal(wsh_net_find(f.net, c3->id), c3);
    assert_int_equal(f.net->conn_cnt, 2);
    wsh_conn_close(c2);
    wsh_conn_close(c3);
    close(b[1]);
    wsh_loop_run_once(f.loop, 0);
    assert_int_equal(p.free_calls, 3);
    probe_dispose(&p);
    fx_finish(&f);
}

static void test_conn_records_the_peer_address(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 1u << 20, 1u << 20, 1000);
    int sv[2];
    make_unix_pair(sv);
    struct sockaddr_storage peer;
    memset(&peer, 0, sizeof peer);
    struct sockaddr_in *in = (struct sockaddr_in *)&peer;
    in->sin_family = AF_INET;
    in->sin_port = htons(4242);
    in->sin_addr.s_addr = htonl(0x7f000001);
    probe_t p;
    probe_init(&p, EAT_ALL);
    wsh_conn_t *c = wsh_conn_new(f.net, sv[0], &peer, &full_handler, &p);
    char text[64];
    struct sockaddr_storage ss;
    wsh_conn_peer(c, &ss);
    wsh_sock_format(&ss, text, sizeof text);
    assert_string_equal(text, "127.0.0.1:4242");
    wsh_conn_t *c2 = wsh_conn_new(f.net, sv[1], NULL, &full_handler, &p);
    assert_int_equal(c2->peer.sa.sa_family, 0);
    assert_true(c2->id != c->id);
    wsh_conn_close(c);
    wsh_conn_close(c2);
    wsh_loop_run_once(f.loop, 0);
    assert_int_equal(p.free_calls, 2);
    probe_dispose(&p);
    fx_finish(&f);
}

int main(void)
{
    /* Like the server (server.c), the tests ignore SIGPIPE: a write to a
     * vanished peer must come back as EPIPE. */
    signal(SIGPIPE, SIG_IGN);
    /* The closes these tests provoke are logged; the assertions say enough. */
    wsh_log_set_level(WSH_LOG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conn_delivers_read_bytes_to_the_handler),
        cmocka_unit_test(test_conn_keeps_unconsumed_tail_and_presents_it_with_the_next_read),
        cmocka_unit_test(test_conn_presents_the_rest_again_while_the_handler_makes_progress),
        cmocka_unit_test(test_conn_handler_switch_mid_buffer_gets_the_remainder),
        cmocka_unit_test(test_conn_handler_switch_without_consuming_presents_everything_to_the_new_one),
        cmocka_unit_test(test_conn_closes_when_unconsumed_tail_exceeds_1MiB),
        cmocka_unit_test(test_conn_handler_closing_in_on_data_gets_no_more_input),
        cmocka_unit_test(test_conn_input_stays_valid_in_on_data_after_close_after_flush),
        cmocka_unit_test(test_conn_eof_calls_on_eof_once),
        cmocka_unit_test(test_conn_eof_without_on_eof_closes),
        cmocka_unit_test(test_conn_queues_two_frames_inline_and_grows_to_a_ring_in_order),
        cmocka_unit_test(test_conn_writes_nothing_until_the_loop_flushes_before_sleep),
        cmocka_unit_test(test_conn_flushes_many_frames_in_order_in_one_iteration),
        cmocka_unit_test(test_conn_send_holds_its_own_reference_until_written),
        cmocka_unit_test(test_conn_send_past_max_queue_is_eslow_without_queueing),
        cmocka_unit_test(test_conn_send_over_cap_flushes_a_burst_to_a_reading_peer),
        cmocka_unit_test(test_conn_send_force_ignores_the_cap),
        cmocka_unit_test(test_conn_drains_4MiB_through_a_small_sndbuf_rearming_epollout),
        cmocka_unit_test(test_conn_keeps_frame_order_while_the_ring_wraps_and_grows),
        cmocka_unit_test(test_conn_write_per_iter_spreads_output_over_iterations),
        cmocka_unit_test(test_conn_discard_queue_keeps_a_half_written_head),
        cmocka_unit_test(test_conn_discard_queue_drops_everything_not_started),
        cmocka_unit_test(test_conn_write_to_a_vanished_peer_closes_the_connection),
        cmocka_unit_test(test_conn_close_is_idempotent_and_frees_on_the_next_iteration),
        cmocka_unit_test(test_close_after_flush_delivers_queue_then_eof_and_closes_when_peer_closes),
        cmocka_unit_test(test_close_after_flush_closes_after_linger_when_peer_stays),
        cmocka_unit_test(test_close_after_flush_with_empty_queue_shuts_down_at_once),
        cmocka_unit_test(test_close_after_flush_drains_a_large_queue_through_a_small_sndbuf),
        cmocka_unit_test(test_close_after_flush_delivers_everything_to_a_half_closed_peer),
        cmocka_unit_test(test_net_shutdown_calls_on_shutdown_or_closes),
        cmocka_unit_test(test_conn_timer_fires_with_the_connection_and_close_stops_it),
        cmocka_unit_test(test_conn_new_on_an_unwatchable_fd_closes_and_frees_later),
        cmocka_unit_test(test_conn_records_the_peer_address),
        cmocka_unit_test(test_conn_find_by_id_survives_slot_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
