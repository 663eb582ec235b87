/* Unit tests for src/loop/loop.c: fd readiness, stop/modify, hang-up, defers,
 * before-sleep hooks, timers through the loop, signalfd and cross-thread wake.
 * Every test ends with nothing live. Not for the heap itself (test_loop_timer.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/clock.h"
#include "loop/loop.h"
#include "tags.h"

/* Generous: these are deadlines for things that should happen at once, and
 * sanitizers or valgrind slow everything down. */
#define DEADLINE_MS 10000

static void finish(wsh_loop_t *loop)
{
    assert_int_equal(wsh_loop_live_count(loop), 0);
    wsh_loop_free(loop);
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    assert_true(fl >= 0);
    assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

static void make_socketpair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static void make_pipe(int p[2])
{
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    set_nonblock(p[0]);
    set_nonblock(p[1]);
}

/* Runs iterations until *counter reaches target or the deadline passes. */
static bool run_until(wsh_loop_t *loop, const int *counter, int target)
{
    uint64_t deadline = wsh_clock_mono_ms() + DEADLINE_MS;
    while (*counter < target) {
        uint64_t now = wsh_clock_mono_ms();
        if (now >= deadline)
            return false;
        wsh_loop_run_once(loop, (int)(deadline - now));
    }
    return true;
}

/* ---- fd watchers ---- */

struct io_probe {
    int calls;
    uint32_t last;
    uint32_t all;
};

static void on_io_probe(wsh_loop_t *loop, wsh_io_t *io, uint32_t events)
{
    (void)loop;
    struct io_probe *p = data_of(io);
    p->calls++;
    p->last = events;
    p->all |= events;
}

/* Reads what is there so a level-triggered READ does not repeat. */
static void on_io_drain(wsh_loop_t *loop, wsh_io_t *io, uint32_t events)
{
    char buf[64];
    on_io_probe(loop, io, events);
    while (read(io->fd, buf, sizeof(buf)) > 0) {
    }
}

static void test_loop_io_reports_read_readiness(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    int sv[2];
    make_socketpair(sv);
    struct io_probe p = {0};
    wsh_io_t io;
    wsh_io_init(&io, sv[0], on_io_drain);
    tag(&io, &p);
    assert_int_equal(wsh_io_start(loop, &io, WSH_IO_READ), 0);
    assert_int_equal(io.events, WSH_IO_READ);
    assert_int_equal(wsh_loop_live_count(loop), 1);

    wsh_loop_run_once(loop, 0);
    assert_int_equal(p.calls, 0); /* nothing to read yet */

    assert_int_equal(write(sv[1], "x", 1), 1);
    assert_true(run_until(loop, &p.calls, 1));
    assert_int_equal(p.last, WSH_IO_READ);
    wsh_loop_run_once(loop, 0);
    assert_int_equal(p.calls, 1); /* drained: level-triggered READ is quiet again */

    wsh_io_stop(loop, &io);
    assert_int_equal(io.events, 0);
    close(sv[0]);
    close(sv[1]);
    finish(loop);
}

static void test_loop_io_level_triggered_repeats_until_read(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    int sv[2];
    make_socketpair(sv);
    struct io_probe p = {0};
    wsh_io_t io;
    wsh_io_init(&io, sv[0], on_io_probe);
    tag(&io, &p); /* does not read */
    assert_int_equal(wsh_io_start(loop, &io, WSH_IO_READ), 0);
    assert_int_equal(write(sv[1], "x", 1), 1);
    assert_true(run_until(loop, &p.calls, 1));
    wsh_loop_run_once(loop, 0);
    assert_int_equal(p.calls, 2);
    wsh_io_stop(loop, &io);
    close(sv[0]);
    close(sv[1]);
    finish(loop);
}

static void test_loop_io_stopped_watcher_gets_no_events(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    int sv[2];
    make_socketpair(sv);
    struct io_probe p = {0};
    wsh_io_t io;
    wsh_io_init(&io, sv[0], on_io_probe);
    tag(&io, &p);
    assert_int_equal(wsh_io_start(loop, &io, WSH_IO_READ | WSH_IO_WRITE), 0);
    wsh_io_stop(loop, &io);
    wsh_io_stop(loop, &io); /* twice is harmless */
    assert_int_equal(wsh_loop_live_count(loop), 0);
    assert_int_equal(write(sv[1], "x", 1), 1);
    wsh_loop_run_once(loop, 0);
    wsh_loop_run_once(loop, 0);
    assert_int_equal(p.calls, 0);
    assert_int_equal(wsh_io_modify(loop, &io, WSH_IO_READ), -ENOENT);
    close(sv[0]);
    close(sv[1]);
    finish(loop);
}

static void test_loop_io_modify_to_write_reports_writable(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    int sv[2];
    make_socketpair(sv);
    struct io_probe p = {0};
    wsh_io_t io;
    wsh_io_init(&io, sv[0], on_io_probe);
    tag(&io, &p);
    assert_int_equal(wsh_io_start(loop, &io, WSH_IO_READ), 0);
    wsh_loop_run_once(loop, 0);
    assert_int_equal(p.calls, 0); /* writable, but WRITE is not watched */
    assert_int_equal(wsh_io_modify(loop, &io, WSH_IO_WRITE), 0);
    assert_int_equal(io.events, WSH_IO_WRITE);
    assert_true(run_until(loop, &p.calls, 1));
    assert_int_equal(p.last, WSH_IO_WRITE);

    /* Readable data must not be reported while only WRITE is watched. */
    assert_int_equal(write(sv[1], "x", 1), 1);
    p.all = 0;
    wsh_loop_run_once(loop, 0);
    assert_int_equal(p.all, WSH_IO_WRITE);

    /* Back to READ (starting a started watcher is a modify). */
    assert_int_equal(wsh_io_start(loop, &io, WSH_IO_READ), 0);
    p.all = 0;
    wsh_loop_run_once(loop, 0);
    assert_int_equal(p.all, WSH_IO_READ);
    assert_int_equal(wsh_loop_live_count(loop), 1);

    wsh_io_stop(loop, &io);
    close(sv[0]);
    close(sv[1]);
    finish(loop);
}

static void test_loop_io_modify_to_zero_keeps_started_but_quiet(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    int sv[2];
    make_socketpair(sv);
    struct io_probe p = {0};
    wsh_io_t io;
    wsh_io_init(&io, sv[0], on_io_probe);
    tag(&io, &p);
    assert_int_equal(wsh_io_start(loop, &io, WSH_IO_READ | WSH_IO_WRITE), 0);
    assert_int_equal(wsh_io_modify(loop, &io, 0), 0);
    assert_int_equal(wsh_loop_live_count(loop), 1); /* still started */
    assert_int_equal(write(sv[1], "x", 1), 1);
    /* Even a hang-up, which epoll reports regardless of interest, stays quiet. */
    close(sv[1]);
    wsh_loop_run_once(loop, 0);
    assert_int_equal(p.calls, 0);
    assert_int_equal(wsh_io_modify(loop, &io, WSH_IO_READ), 0);
    assert_true(run_until(loop, &p.calls, 1));
    assert_true(p.last & WSH_IO_READ);
    wsh_io_stop(loop, &io);
    close(sv[0]);
    finish(loop);
}

static void test_loop_io_second_watcher_on_same_fd_is_rejected(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    int sv[2];
    make_socketpair(sv);
    struct io_probe p = {0};
    wsh_io_t a, b, bad;
    wsh_io_init(&a, sv[0], on_io_probe);
    tag(&a, &p);
    wsh_io_init(&b, sv[0], on_io_probe);
    tag(&b, &p);
    wsh_io_init(&bad, -1, on_io_probe);
    tag(&bad, &p);
    assert_int_equal(wsh_io_start(loop, &a, WSH_IO_READ), 0);
    assert_int_equal(wsh_io_start(loop, &b, WSH_IO_READ), -EEXIST);
    assert_int_equal(wsh_io_start(loop, &bad, WSH_IO_READ), -EBADF);
    assert_int_equal(wsh_loop_live_count(loop), 1);
    wsh_io_stop(loop, &b); /* not started: must not unregister a */
    assert_int_equal(wsh_loop_live_count(loop), 1);
    wsh_io_stop(loop, &a);
    close(sv[0]);
    close(sv[1]);
    finish(loop);
}

static void test_loop_io_start_failure_leaves_watcher_stopped(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    int p[2];
    make_pipe(p);
    close(p[1]);
    int fd = p[0];
    close(fd); /* a closed fd: epoll_ctl(ADD) fails with EBADF */
    struct io_probe pr = {0};
    wsh_io_t io;
    wsh_io_init(&io, fd, on_io_probe);
    tag(&io, &pr);
    assert_int_equal(wsh_io_start(loop, &io, WSH_IO_READ), -EBADF);
    assert_int_equal(io.events, 0);
    finish(loop);
}

static void test_loop_io_reports_error_with_read_on_peer_hangup(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    int p[2];
    make_pipe(p);
    struct io_probe pr = {0};
    wsh_io_t io;
    wsh_io_init(&io, p[0], on_io_probe);
    tag(&io, &pr);
    assert_int_equal(wsh_io_start(loop, &io, WSH_IO_READ), 0);
    close(p[1]); /* the writer hangs up: EPOLLHUP on the read end */
    assert_true(run_until(loop, &pr.calls, 1));
    assert_int_equal(pr.last, WSH_IO_ERROR | WSH_IO_READ);
    char c;
    assert_int_equal(read(p[0], &c, 1), 0); /* the owner learns EOF by reading */
    wsh_io_stop(loop, &io);
    close(p[0]);
    finish(loop);
}

static void test_loop_io_reports_error_with_read_to_writer_when_reader_closes(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    int p[2];
    make_pipe(p);
    /* Fill the pipe so the writer is waiting for WRITE, then close the reader:
     * EPOLLERR on the write end. ERROR comes with READ even though only WRITE
     * is watched. */
    char buf[4096] = {0};
    while (write(p[1], buf, sizeof(buf)) > 0) {
    }
    struct io_probe pr = {0};
    wsh_io_t io;
    wsh_io_init(&io, p[1], on_io_probe);
    tag(&io, &pr);
    assert_int_equal(wsh_io_start(loop, &io, WSH_IO_WRITE), 0);
    wsh_loop_run_once(loop, 0);
    assert_int_equal(pr.calls, 0);
    close(p[0]);
    assert_true(run_until(loop, &pr.calls, 1));
    assert_true(pr.last & WSH_IO_ERROR);
    assert_true(pr.last & WSH_IO_READ);
    wsh_io_stop(loop, &io);
    close(p[1]);
    finish(loop);
}

/* Two watchers ready in the same batch; whichever runs first stops the
 * other, which must then not be called even though its event is pending. */
static wsh_io_t g_pair[2];
static int g_pair_calls;

static void on_stop_other(wsh_loop_t *loop, wsh_io_t *io, uint32_t events)
{
    (void)events;
    g_pair_calls++;
    wsh_io_stop(loop, io == &g_pair[0] ? &g_pair[1] : &g_pair[0]);
}

static void test_loop_io_watcher_stopped_earlier_in_batch_is_not_dispatched(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    int sv[2];
    make_socketpair(sv);
    g_pair_calls = 0;
    wsh_io_init(&g_pair[0], sv[0], on_stop_other);
    tag(&g_pair[0], NULL);
    wsh_io_init(&g_pair[1], sv[1], on_stop_other);
    tag(&g_pair[1], NULL);
    /* Both ends are writable at once, so one epoll_wait returns both. */
    assert_int_equal(wsh_io_start(loop, &g_pair[0], WSH_IO_WRITE), 0);
    assert_int_equal(wsh_io_start(loop, &g_pair[1], WSH_IO_WRITE), 0);
    assert_true(run_until(loop, &g_pair_calls, 1));
    assert_int_equal(g_pair_calls, 1);
    assert_int_equal(wsh_loop_live_count(loop), 1);
    wsh_io_stop(loop, &g_pair[0]);
    wsh_io_stop(loop, &g_pair[1]);
    close(sv[0]);
    close(sv[1]);
    finish(loop);
}

static void test_loop_io_hungup_watcher_stopped_earlier_in_batch_is_not_dispatched(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    int a[2], b[2];
    make_pipe(a);
    make_pipe(b);
    g_pair_calls = 0;
    wsh_io_init(&g_pair[0], a[0], on_stop_other);
    tag(&g_pair[0], NULL);
    wsh_io_init(&g_pair[1], b[0], on_stop_other);
    tag(&g_pair[1], NULL);
    assert_int_equal(wsh_io_start(loop, &g_pair[0], WSH_IO_READ), 0);
    assert_int_equal(wsh_io_start(loop, &g_pair[1], WSH_IO_READ), 0);
    /* Hang-ups are reported whatever the interest, so only the "still
     * started?" check keeps the stopped one from being called. */
    close(a[1]);
    close(b[1]);
    assert_true(run_until(loop, &g_pair_calls, 1));
    assert_int_equal(g_pair_calls, 1);
    wsh_io_stop(loop, &g_pair[0]);
    wsh_io_stop(loop, &g_pair[1]);
    close(a[0]);
    close(b[0]);
    finish(loop);
}

/* Each callback narrows the other watcher to READ: whichever runs second in
 * the batch must not be told about WRITE any more. */
static uint32_t g_narrow_seen[2];
static int g_narrow_calls;

static void on_narrow_other(wsh_loop_t *loop, wsh_io_t *io, uint32_t events)
{
    int self = io == &g_pair[0] ? 0 : 1;
    g_narrow_seen[self] = events;
    g_narrow_calls++;
    assert_int_equal(wsh_io_modify(loop, &g_pair[1 - self], WSH_IO_READ), 0);
}

static void test_loop_io_interest_narrowed_earlier_in_batch_is_respected(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    int sv[2];
    make_socketpair(sv);
    assert_int_equal(write(sv[0], "x", 1), 1);
    assert_int_equal(write(sv[1], "y", 1), 1);
    g_narrow_calls = 0;
    memset(g_narrow_seen, 0, sizeof(g_narrow_seen));
    wsh_io_init(&g_pair[0], sv[0], on_narrow_other);
    tag(&g_pair[0], NULL);
    wsh_io_init(&g_pair[1], sv[1], on_narrow_other);
    tag(&g_pair[1], NULL);
    assert_int_equal(wsh_io_start(loop, &g_pair[0], WSH_IO_READ | WSH_IO_WRITE), 0);
    assert_int_equal(wsh_io_start(loop, &g_pair[1], WSH_IO_READ | WSH_IO_WRITE), 0);
    wsh_loop_run_once(loop, 0); /* both ends are readable and writable: one batch */
    assert_int_equal(g_narrow_calls, 2);
    uint32_t both = WSH_IO_READ | WSH_IO_WRITE;
    assert_true((g_narrow_seen[0] == both && g_narrow_seen[1] == WSH_IO_READ) ||
                (g_narrow_seen[1] == both && g_narrow_seen[0] == WSH_IO_READ));
    wsh_io_stop(loop, &g_pair[0]);
    wsh_io_stop(loop, &g_pair[1]);
    close(sv[0]);
    close(sv[1]);
    finish(loop);
}

/* ---- deferred callbacks ---- */

static char g_trace[64];
static size_t g_trace_len;

static void trace(char c)
{
    assert_true(g_trace_len + 1 < sizeof(g_trace));
    g_trace[g_trace_len++] = c;
    g_trace[g_trace_len] = '\0';
}

static void reset_trace(void)
{
    g_trace_len = 0;
    g_trace[0] = '\0';
}

static void on_defer_trace(wsh_defer_t *d) { trace(*(const char *)d->data); }

static wsh_defer_t g_defer;
static int g_io_calls;

static void on_io_defers(wsh_loop_t *loop, wsh_io_t *io, uint32_t events)
{
    (void)events;
    char buf[16];
    while (read(io->fd, buf, sizeof(buf)) > 0) {
    }
    g_io_calls++;
    trace('i');
    wsh_loop_defer(loop, &g_defer, on_defer_trace, "d");
    wsh_loop_defer(loop, &g_defer, on_defer_trace, "X"); /* already queued: no-op */
}

static void test_loop_defer_runs_once_after_events(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    int sv[2];
    make_socketpair(sv);
    reset_trace();
    g_io_calls = 0;
    memset(&g_defer, 0, sizeof(g_defer));
    wsh_io_t io;
    wsh_io_init(&io, sv[0], on_io_defers);
    tag(&io, NULL);
    assert_int_equal(wsh_io_start(loop, &io, WSH_IO_READ), 0);
    assert_int_equal(write(sv[1], "x", 1), 1);
    assert_true(run_until(loop, &g_io_calls, 1));
    assert_string_equal(g_trace, "id");
    wsh_loop_run_once(loop, 0);
    assert_string_equal(g_trace, "id"); /* ran once */
    wsh_io_stop(loop, &io);
    close(sv[0]);
    close(sv[1]);
    finish(loop);
}

static wsh_loop_t *g_loop;
static wsh_defer_t g_chain[3];

static void on_defer_chain(wsh_defer_t *d)
{
    int i = (int)(d - g_chain);
    trace((char)('a' + i));
    if (i + 1 < 3)
        wsh_loop_defer(g_loop, &g_chain[i + 1], on_defer_chain, NULL);
}

static void test_loop_defer_queued_from_defer_runs_in_same_iteration(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    g_loop = loop;
    reset_trace();
    memset(g_chain, 0, sizeof(g_chain));
    wsh_loop_defer(loop, &g_chain[0], on_defer_chain, NULL);
    assert_int_equal(wsh_loop_live_count(loop), 1);
    /* A queued defer makes the wait non-blocking, so -1 returns at once. */
    wsh_loop_run_once(loop, -1);
    assert_string_equal(g_trace, "abc");
    finish(loop);
}

static int g_requeue_cnt;

static void on_defer_requeue_forever(wsh_defer_t *d)
{
    g_requeue_cnt++;
    wsh_loop_defer(g_loop, d, on_defer_requeue_forever, NULL);
}

static void test_loop_defer_requeueing_itself_forever_does_not_spin(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    g_loop = loop;
    g_requeue_cnt = 0;
    wsh_defer_t d = {0};
    wsh_loop_defer(loop, &d, on_defer_requeue_forever, NULL);
    wsh_loop_run_once(loop, -1);
    int first = g_requeue_cnt;
    assert_true(first > 1);     /* it re-ran within the iteration ... */
    assert_true(first < 1000);  /* ... but a bounded number of times */
    wsh_loop_run_once(loop, -1); /* still queued: next iteration polls, runs it again */
    assert_true(g_requeue_cnt > first);
    wsh_loop_defer_cancel(loop, &d);
    wsh_loop_defer_cancel(loop, &d); /* twice is harmless */
    int before = g_requeue_cnt;
    wsh_loop_run_once(loop, 0);
    assert_int_equal(g_requeue_cnt, before);
    finish(loop);
}

static wsh_defer_t g_cancel_victim;

static void on_defer_cancel_other(wsh_defer_t *d)
{
    trace(*(const char *)d->data);
    wsh_loop_defer_cancel(g_loop, &g_cancel_victim);
}

static void test_loop_defer_cancelled_by_earlier_defer_does_not_run(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    g_loop = loop;
    reset_trace();
    wsh_defer_t first = {0};
    memset(&g_cancel_victim, 0, sizeof(g_cancel_victim));
    wsh_loop_defer(loop, &first, on_defer_cancel_other, "a");
    wsh_loop_defer(loop, &g_cancel_victim, on_defer_trace, "v");
    assert_int_equal(wsh_loop_live_count(loop), 2);
    wsh_loop_run_once(loop, 0);
    assert_string_equal(g_trace, "a");
    finish(loop);
}

static void test_loop_free_runs_pending_defers(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    reset_trace();
    wsh_defer_t d = {0};
    wsh_loop_defer(loop, &d, on_defer_trace, "f");
    assert_int_equal(wsh_loop_live_count(loop), 1);
    wsh_loop_free(loop);
    assert_string_equal(g_trace, "f");
}

/* ---- before-sleep hooks ---- */

static bool on_hook_a(wsh_loop_t *loop, void *data)
{
    (void)loop;
    (void)data;
    trace('A');
    return false;
}

static bool on_hook_b(wsh_loop_t *loop, void *data)
{
    (void)loop;
    (void)data;
    trace('B');
    return false;
}

static void on_timer_trace(wsh_timer_t *t) { trace(*(const char *)data_of(t)); }

static void test_loop_hooks_run_in_order_after_timers_and_defers(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    reset_trace();
    assert_int_equal(wsh_loop_add_before_sleep(loop, on_hook_a, NULL), 0);
    assert_int_equal(wsh_loop_add_before_sleep(loop, on_hook_b, NULL), 0);
    wsh_timer_t t;
    wsh_timer_init(&t, on_timer_trace);
    tag(&t, "t");
    wsh_loop_timer_start(loop, &t, 0);
    wsh_defer_t d = {0};
    wsh_loop_defer(loop, &d, on_defer_trace, "d");
    /* run_once: hooks before the wait (catch-up for work queued outside the
     * loop), then timers, defers, and the hooks again at the iteration's end. */
    wsh_loop_run_once(loop, 0);
    assert_string_equal(g_trace, "ABtdAB");
    wsh_loop_run_once(loop, 0);
    assert_string_equal(g_trace, "ABtdABABAB");
    finish(loop);
}

static void test_loop_hooks_are_capped_at_eight(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    for (int i = 0; i < 8; i++)
        assert_int_equal(wsh_loop_add_before_sleep(loop, on_hook_a, NULL), 0);
    assert_int_equal(wsh_loop_add_before_sleep(loop, on_hook_a, NULL), -ENOSPC);
    finish(loop);
}

static int g_hook_calls;
static bool g_safety_fired;

static bool on_hook_pending_until_five(wsh_loop_t *loop, void *data)
{
    (void)data;
    if (++g_hook_calls == 5)
        wsh_loop_stop(loop);
    return g_hook_calls < 5;
}

static void on_safety_timer(wsh_timer_t *t)
{
    g_safety_fired = true;
    wsh_loop_stop(data_of(t));
}

static void test_loop_pending_hook_makes_next_wait_nonblocking(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    g_hook_calls = 0;
    g_safety_fired = false;
    assert_int_equal(wsh_loop_add_before_sleep(loop, on_hook_pending_until_five, NULL), 0);
    /* Nothing else can wake the loop: without the hook's "pending" it would
     * block until the safety timer. */
    wsh_timer_t safety;
    wsh_timer_init(&safety, on_safety_timer);
    tag(&safety, loop);
    wsh_loop_timer_start(loop, &safety, DEADLINE_MS);
    assert_int_equal(wsh_loop_run(loop), 0);
    assert_false(g_safety_fired);
    assert_int_equal(g_hook_calls, 5);
    wsh_loop_timer_stop(loop, &safety);
    finish(loop);
}

/* ---- timers through the loop ---- */

static void test_loop_timers_fire_in_deadline_order_then_fifo(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    reset_trace();
    wsh_timer_t t[4];
    wsh_timer_init(&t[0], on_timer_trace);
    tag(&t[0], "c");
    wsh_timer_init(&t[1], on_timer_trace);
    tag(&t[1], "a");
    wsh_timer_init(&t[2], on_timer_trace);
    tag(&t[2], "b");
    wsh_timer_init(&t[3], on_timer_trace);
    tag(&t[3], "d");
    uint64_t start = wsh_loop_now(loop);
    wsh_loop_timer_start(loop, &t[0], 30);
    wsh_loop_timer_start(loop, &t[1], 5);
    wsh_loop_timer_start(loop, &t[2], 5);
    wsh_loop_timer_start(loop, &t[3], 60);
    wsh_loop_timer_stop(loop, &t[3]);
    assert_int_equal(wsh_loop_live_count(loop), 3);
    int fired_len = 0;
    uint64_t deadline = wsh_clock_mono_ms() + DEADLINE_MS;
    while (g_trace_len < 3 && wsh_clock_mono_ms() < deadline) {
        wsh_loop_run_once(loop, -1); /* the next timer bounds the wait */
        fired_len = (int)g_trace_len;
    }
    assert_int_equal(fired_len, 3);
    assert_string_equal(g_trace, "abc");
    assert_true(wsh_loop_now(loop) >= start + 30); /* none fired early */
    finish(loop);
}

static void test_loop_timer_fires_in_the_iteration_whose_wait_it_bounds(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    reset_trace();
    wsh_timer_t t;
    wsh_timer_init(&t, on_timer_trace);
    tag(&t, "t");
    wsh_loop_timer_start(loop, &t, 20);
    uint64_t due = t.due_ms;
    /* The wait ends when the timer is due and the clock is read again after
     * it, so one iteration is enough. */
    wsh_loop_run_once(loop, -1);
    assert_string_equal(g_trace, "t");
    assert_true(wsh_loop_now(loop) >= due);
    finish(loop);
}

static int g_self_rearm_cnt;

static void on_timer_rearm_self(wsh_timer_t *t)
{
    g_self_rearm_cnt++;
    wsh_loop_timer_start(data_of(t), t, 0);
}

static void test_loop_timer_rearming_itself_at_zero_fires_once_per_iteration(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    g_self_rearm_cnt = 0;
    wsh_timer_t t;
    wsh_timer_init(&t, on_timer_rearm_self);
    tag(&t, loop);
    wsh_loop_timer_start(loop, &t, 0);
    wsh_loop_run_once(loop, -1);
    assert_int_equal(g_self_rearm_cnt, 1);
    wsh_loop_run_once(loop, -1); /* due now, so the wait does not block */
    assert_int_equal(g_self_rearm_cnt, 2);
    assert_int_equal(wsh_loop_live_count(loop), 1);
    wsh_loop_timer_stop(loop, &t);
    finish(loop);
}

static void on_timer_stop_loop(wsh_timer_t *t)
{
    trace('s');
    wsh_loop_stop(data_of(t));
}

static void test_loop_run_returns_after_stop_from_callback(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    reset_trace();
    wsh_timer_t t;
    wsh_timer_init(&t, on_timer_stop_loop);
    tag(&t, loop);
    wsh_loop_timer_start(loop, &t, 1);
    assert_int_equal(wsh_loop_run(loop), 0);
    assert_string_equal(g_trace, "s");
    finish(loop);
}

static void test_loop_now_is_cached_until_update(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    uint64_t a = wsh_loop_now(loop);
    uint64_t m = wsh_clock_mono_ms();
    assert_true(a <= m);
    /* Spin on the clock (not a sleep) until it ticks, then check the cache
     * only moves when asked. */
    while (wsh_clock_mono_ms() == m) {
    }
    assert_int_equal(wsh_loop_now(loop), a);
    wsh_loop_update_time(loop);
    assert_true(wsh_loop_now(loop) > a);
    finish(loop);
}

/* ---- signals ---- */

static int g_sig_usr1, g_sig_usr2;

static void on_signal(wsh_loop_t *loop, int signo, void *data)
{
    (void)loop;
    assert_ptr_equal(data, &g_sig_usr1);
    if (signo == SIGUSR1)
        g_sig_usr1++;
    else if (signo == SIGUSR2)
        g_sig_usr2++;
}

static void test_loop_signal_is_delivered_through_signalfd(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    g_sig_usr1 = g_sig_usr2 = 0;
    assert_int_equal(wsh_loop_signal_start(loop, SIGUSR1, on_signal, &g_sig_usr1), 0);
    assert_int_equal(wsh_loop_signal_start(loop, SIGUSR2, on_signal, &g_sig_usr1), 0);
    assert_int_equal(wsh_loop_signal_start(loop, SIGKILL, on_signal, NULL), -EINVAL);
    sigset_t cur;
    assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
    assert_true(sigismember(&cur, SIGUSR1));
    /* Blocked, so raise() leaves it pending for the signalfd instead of
     * killing the process. */
    assert_int_equal(raise(SIGUSR1), 0);
    assert_true(run_until(loop, &g_sig_usr1, 1));
    assert_int_equal(g_sig_usr2, 0);
    assert_int_equal(raise(SIGUSR2), 0);
    assert_true(run_until(loop, &g_sig_usr2, 1));
    assert_int_equal(g_sig_usr1, 1);
    assert_int_equal(wsh_loop_live_count(loop), 0); /* the signalfd watcher is the loop's own */
    finish(loop);
}

static void test_loop_signals_are_capped_at_eight(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    int sigs[] = {SIGUSR1, SIGUSR2, SIGHUP, SIGWINCH, SIGRTMIN, SIGRTMIN + 1, SIGRTMIN + 2,
                  SIGRTMIN + 3, SIGRTMIN + 4};
    for (int i = 0; i < 8; i++)
        assert_int_equal(wsh_loop_signal_start(loop, sigs[i], on_signal, &g_sig_usr1), 0);
    assert_int_equal(wsh_loop_signal_start(loop, sigs[8], on_signal, &g_sig_usr1), -ENOSPC);
    /* Re-starting a registered signal replaces its callback; no new slot needed. */
    assert_int_equal(wsh_loop_signal_start(loop, SIGUSR1, on_signal, &g_sig_usr1), 0);
    finish(loop);
}

/* ---- wake ---- */

static int g_wake_calls;

static void on_wake(wsh_loop_t *loop, void *data)
{
    (void)loop;
    assert_ptr_equal(data, &g_wake_calls);
    g_wake_calls++;
}

struct waker {
    wsh_loop_t *loop;
    pid_t loop_tid;
    bool saw_blocked;
    int rc;
};

/* True once the loop thread sits in epoll_wait (or epoll_pwait), read from
 * /proc so the test proves a *blocked* wait is woken, without sleeping. */
static bool is_blocked_in_epoll(pid_t tid)
{
    char path[64], line[64];
    snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool yes = false;
    if (fgets(line, sizeof(line), f)) {
        long nr = strtol(line, NULL, 10);
        yes = false
#ifdef SYS_epoll_wait
              || nr == SYS_epoll_wait
#endif
              || nr == SYS_epoll_pwait
#ifdef SYS_epoll_pwait2
              || nr == SYS_epoll_pwait2
#endif
            ;
    }
    fclose(f);
    return yes;
}

static void *waker_main(void *arg)
{
    struct waker *w = arg;
    uint64_t deadline = wsh_clock_mono_ms() + DEADLINE_MS;
    while (wsh_clock_mono_ms() < deadline) {
        if (is_blocked_in_epoll(w->loop_tid)) {
            w->saw_blocked = true;
            break;
        }
        sched_yield();
    }
    w->rc = wsh_loop_wake(w->loop);
    return NULL;
}

static void test_loop_wake_from_another_thread_unblocks_an_infinite_wait(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    g_wake_calls = 0;
    wsh_loop_set_wake_cb(loop, on_wake, &g_wake_calls);
    struct waker w = {.loop = loop, .loop_tid = (pid_t)syscall(SYS_gettid), .rc = -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, waker_main, &w), 0);
    wsh_loop_run_once(loop, -1); /* nothing live: only the wake can end this */
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(w.rc, 0);
    assert_int_equal(g_wake_calls, 1);
    if (!w.saw_blocked)
        print_message("note: could not observe the blocked epoll_wait via /proc\n");
    finish(loop);
}

static void test_loop_wakes_before_the_loop_runs_coalesce(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    g_wake_calls = 0;
    wsh_loop_set_wake_cb(loop, on_wake, &g_wake_calls);
    for (int i = 0; i < 3; i++)
        assert_int_equal(wsh_loop_wake(loop), 0);
    wsh_loop_run_once(loop, -1);
    assert_int_equal(g_wake_calls, 1);
    wsh_loop_run_once(loop, 0);
    assert_int_equal(g_wake_calls, 1); /* the eventfd was reset */
    wsh_loop_set_wake_cb(loop, NULL, NULL);
    assert_int_equal(wsh_loop_wake(loop), 0);
    wsh_loop_run_once(loop, -1); /* still wakes without a callback */
    assert_int_equal(g_wake_calls, 1);
    finish(loop);
}

/* ---- misc ---- */

static void test_loop_read_buf_is_one_256k_buffer_per_loop(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    size_t cap = 0;
    uint8_t *a = wsh_loop_read_buf(loop, &cap);
    assert_int_equal(cap, 256 * 1024);
    assert_ptr_equal(wsh_loop_read_buf(loop, NULL), a);
    memset(a, 0xab, cap); /* all of it is ours (ASan checks the bounds) */
    finish(loop);
}

static void test_loop_live_count_counts_watchers_timers_and_defers(void **state)
{
    (void)state;
    wsh_loop_t *loop = wsh_loop_new();
    int sv[2];
    make_socketpair(sv);
    struct io_probe p = {0};
    wsh_io_t io;
    wsh_timer_t t;
    wsh_defer_t d = {0};
    assert_int_equal(wsh_loop_live_count(loop), 0);
    wsh_io_init(&io, sv[0], on_io_probe);
    tag(&io, &p);
    assert_int_equal(wsh_io_start(loop, &io, WSH_IO_READ), 0);
    wsh_timer_init(&t, on_timer_trace);
    tag(&t, "t");
    wsh_loop_timer_start(loop, &t, 100000);
    wsh_loop_defer(loop, &d, on_defer_trace, "d");
    assert_int_equal(wsh_loop_live_count(loop), 3);
    wsh_loop_defer_cancel(loop, &d);
    wsh_loop_timer_stop(loop, &t);
    wsh_io_stop(loop, &io);
    close(sv[0]);
    close(sv[1]);
    finish(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_io_reports_read_readiness),
        cmocka_unit_test(test_loop_io_level_triggered_repeats_until_read),
        cmocka_unit_test(test_loop_io_stopped_watcher_gets_no_events),
        cmocka_unit_test(test_loop_io_modify_to_write_reports_writable),
        cmocka_unit_test(test_loop_io_modify_to_zero_keeps_started_but_quiet),
        cmocka_unit_test(test_loop_io_second_watcher_on_same_fd_is_rejected),
        cmocka_unit_test(test_loop_io_start_failure_leaves_watcher_stopped),
        cmocka_unit_test(test_loop_io_reports_error_with_read_on_peer_hangup),
        cmocka_unit_test(test_loop_io_reports_error_with_read_to_writer_when_reader_closes),
        cmocka_unit_test(test_loop_io_watcher_stopped_earlier_in_batch_is_not_dispatched),
        cmocka_unit_test(test_loop_io_hungup_watcher_stopped_earlier_in_batch_is_not_dispatched),
        cmocka_unit_test(test_loop_io_interest_narrowed_earlier_in_batch_is_respected),
        cmocka_unit_test(test_loop_defer_runs_once_after_events),
        cmocka_unit_test(test_loop_defer_queued_from_defer_runs_in_same_iteration),
        cmocka_unit_test(test_loop_defer_requeueing_itself_forever_does_not_spin),
        cmocka_unit_test(test_loop_defer_cancelled_by_earlier_defer_does_not_run),
        cmocka_unit_test(test_loop_free_runs_pending_defers),
        cmocka_unit_test(test_loop_hooks_run_in_order_after_timers_and_defers),
        cmocka_unit_test(test_loop_hooks_are_capped_at_eight),
        cmocka_unit_test(test_loop_pending_hook_makes_next_wait_nonblocking),
        cmocka_unit_test(test_loop_timers_fire_in_deadline_order_then_fifo),
        cmocka_unit_test(test_loop_timer_fires_in_the_iteration_whose_wait_it_bounds),
        cmocka_unit_test(test_loop_timer_rearming_itself_at_zero_fires_once_per_iteration),
        cmocka_unit_test(test_loop_run_returns_after_stop_from_callback),
        cmocka_unit_test(test_loop_now_is_cached_until_update),
        cmocka_unit_test(test_loop_signal_is_delivered_through_signalfd),
        cmocka_unit_test(test_loop_signals_are_capped_at_eight),
        cmocka_unit_test(test_loop_wake_from_another_thread_unblocks_an_infinite_wait),
        cmocka_unit_test(test_loop_wakes_before_the_loop_runs_coalesce),
        cmocka_unit_test(test_loop_read_buf_is_one_256k_buffer_per_loop),
        cmocka_unit_test(test_loop_live_count_counts_watchers_timers_and_defers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
