/* The event loop (Redis ae.c in spirit): one level-triggered epoll set per
 * thread driving fd watchers, timers, signals via signalfd, a cross-thread
 * wake via eventfd, deferred callbacks and before-sleep hooks. Not for
 * protocol logic, and it never reads or writes a watcher's fd itself. */
#include "loop/loop.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

#define MAX_EVENTS 256          /* per epoll_wait; the rest stay ready (level-triggered) */
#define MAX_HOOKS 8
#define MAX_SIGNALS 8
#define READ_BUF_LEN (256u * 1024u)
#define DEFER_ROUNDS 16         /* per iteration; leftovers run next iteration */
#define FREE_DEFER_ROUNDS 1024  /* at wsh_loop_free, where there is no next iteration */
#define IO_EVENT_MASK (WSH_IO_READ | WSH_IO_WRITE)

struct hook {
    wsh_before_sleep_cb cb;
    void *data;
};

struct sig_handler {
    int signo;
    wsh_signal_cb cb;
    void *data;
};

/* Created by wsh_loop_new, freed by wsh_loop_free on the thread that runs it. */
struct wsh_loop {
    int epfd;
    bool is_stopping;
    bool is_iterating;
    bool has_hook_work; /* a before-sleep hook reported pending work */
    uint64_t now_ms;

    /* Started watchers by fd (Redis keeps its file events the same way). It
     * answers "is this watcher still started?" without a field in wsh_io_t
     * and catches a second watcher on the same fd. */
    size_t io_cnt;       /* started watchers, internal ones included */
    size_t internal_cnt; /* of which the loop's own (signalfd, eventfd) */

    wsh_timer_heap_t timers;
    wsh_list_t defers;

    struct hook hooks[MAX_HOOKS];
    size_t hook_cnt;

    int sigfd; /* -1 until the first wsh_loop_signal_start */
    wsh_io_t sig_io;
    sigset_t sigmask;
    struct sig_handler sigs[MAX_SIGNALS];
    size_t sig_cnt;

    int wakefd; /* eventfd, created with the loop so wsh_loop_wake never races a lazy init */
    wsh_io_t wake_io;
    wsh_loop_wake_cb wake_cb;
    void *wake_data;

    uint8_t *read_buf;
    struct epoll_event events[MAX_EVENTS];
};

static _Noreturn void die(const char *what, int err)
{
    wsh_log_error(0, "loop: %s: %s", what, strerror(err));
    abort();
}

/* ---- fd watchers ---- */

/* The watcher's own flag, not a table by fd: a per-fd table cost 8 bytes
 * per connection. A second watcher on a registered fd is refused by epoll
 * itself (EEXIST). */
static bool is_started(const wsh_loop_t *loop, const wsh_io_t *io)
{
    (void)loop;
    return io->is_started;
}

static int ctl(wsh_loop_t *loop, wsh_io_t *io, int op, uint32_t events)
{
    struct epoll_event ev = {0};
    ev.events = ((events & WSH_IO_READ) ? EPOLLIN : 0u) | ((events & WSH_IO_WRITE) ? EPOLLOUT : 0u);
    ev.data.ptr = io;
    return epoll_ctl(loop->epfd, op, io->fd, &ev) < 0 ? -errno : 0;
}

void wsh_io_init(wsh_io_t *io, int fd, wsh_io_cb cb)
{
    io->fd = fd;
    io->events = 0;
    io->is_started = false;
    io->cb = cb;
}

int wsh_io_start(wsh_loop_t *loop, wsh_io_t *io, uint32_t events)
{
    if (io->fd < 0)
        return -EBADF;
    if (is_started(loop, io))
        return wsh_io_modify(loop, io, events);
    events &= IO_EVENT_MASK;
    if (events) {
        int rc = ctl(loop, io, EPOLL_CTL_ADD, events);
        if (rc < 0)
            return rc;
    }
    io->is_started = true;
    io->events = (uint16_t)events;
    loop->io_cnt++;
    return 0;
}

int wsh_io_modify(wsh_loop_t *loop, wsh_io_t *io, uint32_t events)
{
    if (!is_started(loop, io))
        return -ENOENT;
    events &= IO_EVENT_MASK;
    if (events == io->events)
        return 0; /* callers may re-assert their interest without a syscall */
    /* A quiet watcher leaves the epoll set rather than staying with an empty
     * mask: epoll always reports EPOLLHUP/EPOLLERR, so a quiet watcher on a
     * hung-up fd would make every level-triggered wait return at once. */
    int op = io->events == 0 ? EPOLL_CTL_ADD : events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    int rc = ctl(loop, io, op, events);
    if (rc < 0)
        return rc;
    io->events = (uint16_t)events;
    return 0;
}

void wsh_io_stop(wsh_loop_t *loop, wsh_io_t *io)
{
    if (!is_started(loop, io)) {
        io->events = 0;
        return;
    }
    if (io->events) {
        int rc = ctl(loop, io, EPOLL_CTL_DEL, 0);
        /* EBADF/ENOENT: the fd was closed before the stop and epoll already
         * dropped it. Anything else is a bug worth a line in the log. */
        if (rc < 0 && rc != -EBADF && rc != -ENOENT)
            wsh_log_warn(0, "loop: epoll_ctl(DEL, fd %d): %s", io->fd, strerror(-rc));
    }
    io->is_started = false;
    io->events = 0;
    loop->io_cnt--;
}

static void start_internal(wsh_loop_t *loop, wsh_io_t *io, int fd, wsh_io_cb cb)
{
    wsh_io_init(io, fd, cb);
    int rc = wsh_io_start(loop, io, WSH_IO_READ);
    if (rc < 0)
        die("registering an internal fd", -rc);
    loop->internal_cnt++;
}

static void stop_internal(wsh_loop_t *loop, wsh_io_t *io)
{
    if (is_started(loop, io)) {
        wsh_io_stop(loop, io);
        loop->internal_cnt--;
    }
}

/* Translates one epoll result into WSH_IO_* bits and calls the owner.
 *
 * Stale events: a callback earlier in the same batch may have stopped or
 * quieted this watcher. Its memory is still valid, because the rule in loop.h
 * is that a stopped watcher's memory is freed only from a deferred callback
 * (which runs after the batch) or outside the loop; so it is enough to check
 * that the watcher is still started and still wants something. */
static void dispatch_one(wsh_loop_t *loop, const struct epoll_event *ev)
{
    wsh_io_t *io = ev->data.ptr;
    if (!is_started(loop, io) || io->events == 0)
        return;
    uint32_t bits = 0;
    if (ev->events & EPOLLIN)
        bits |= WSH_IO_READ;
    if (ev->events & EPOLLOUT)
        bits |= WSH_IO_WRITE;
    bits &= io->events; /* interest may have narrowed earlier in the batch */
    /* Hang-up and error come with READ, so the owner's read path meets EOF or
     * the socket error and closes; otherwise level-triggered epoll would keep
     * reporting the condition forever. */
    if (ev->events & (EPOLLHUP | EPOLLERR))
        bits |= WSH_IO_ERROR | WSH_IO_READ;
    if (bits)
        io->cb(loop, io, bits);
}

/* ---- signals and wake ---- */

static void on_signal_ready(wsh_loop_t *loop, wsh_io_t *io, uint32_t events)
{
    (void)events;
    struct signalfd_siginfo si[8];
    for (;;) {
        ssize_t n = read(io->fd, si, sizeof(si));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* EAGAIN: drained */
        size_t cnt = (size_t)n / sizeof(si[0]);
        for (size_t i = 0; i < cnt; i++) {
            for (size_t k = 0; k < loop->sig_cnt; k++) {
                if (loop->sigs[k].signo == (int)si[i].ssi_signo) {
                    loop->sigs[k].cb(loop, loop->sigs[k].signo, loop->sigs[k].data);
                    break;
                }
            }
        }
        if ((size_t)n < sizeof(si))
            return;
    }
}

int wsh_loop_signal_start(wsh_loop_t *loop, int signo, wsh_signal_cb cb, void *data)
{
    if (signo <= 0 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP || !cb)
        return -EINVAL;
    for (size_t k = 0; k < loop->sig_cnt; k++) {
        if (loop->sigs[k].signo == signo) {
            loop->sigs[k].cb = cb;
            loop->sigs[k].data = data;
            return 0;
        }
    }
    if (loop->sig_cnt == MAX_SIGNALS)
        return -ENOSPC;

    /* Block first, so the signal can only ever be consumed through the fd. */
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signo);
    int rc = pthread_sigmask(SIG_BLOCK, &one, NULL);
    if (rc != 0)
        return -rc;

    /* One signalfd per loop: the first call creates it, later calls replace
     * its mask in place (signalfd(2) with an existing fd). */
    sigset_t mask = loop->sigmask;
    sigaddset(&mask, signo);
    int fd = signalfd(loop->sigfd, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (loop->sigfd < 0) {
        loop->sigfd = fd;
        start_internal(loop, &loop->sig_io, fd, on_signal_ready);
    }
    loop->sigmask = mask;
    loop->sigs[loop->sig_cnt++] = (struct sig_handler){signo, cb, data};
    return 0;
}

static void on_wake(wsh_loop_t *loop, wsh_io_t *io, uint32_t events)
{
    (void)events;
    uint64_t cnt;
    ssize_t n;
    do /* reading resets the eventfd counter, so several wakes coalesce */
        n = read(io->fd, &cnt, sizeof(cnt));
    while (n < 0 && errno == EINTR);
    if (loop->wake_cb)
        loop->wake_cb(loop, loop->wake_data);
}

int wsh_loop_wake(wsh_loop_t *loop)
{
    uint64_t one = 1;
    for (;;) {
        ssize_t n = write(loop->wakefd, &one, sizeof(one));
        if (n == (ssize_t)sizeof(one))
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0; /* the counter is saturated: a wake is already pending */
        return n < 0 ? -errno : -EIO;
    }
}

void wsh_loop_set_wake_cb(wsh_loop_t *loop, wsh_loop_wake_cb cb, void *data)
{
    loop->wake_cb = cb;
    loop->wake_data = data;
}

/* ---- deferred callbacks and hooks ---- */

/* A zeroed wsh_defer_t (next == NULL) reads as not queued, as does one that
 * ran or was cancelled (self-linked). */
static bool is_queued(const wsh_defer_t *d)
{
    return d->link.next != NULL && d->link.next != &d->link;
}

void wsh_loop_defer(wsh_loop_t *loop, wsh_defer_t *d, wsh_defer_cb cb, void *data)
{
    if (is_queued(d))
        return;
    d->cb = cb;
    d->data = data;
    wsh_list_insert_tail(&loop->defers, &d->link);
}

void wsh_loop_defer_cancel(wsh_loop_t *loop, wsh_defer_t *d)
{
    (void)loop;
    if (is_queued(d))
        wsh_list_remove(&d->link);
}

/* Runs queued defers. Each round takes the whole queue, so a defer queued by
 * a defer runs in the next round; the bound keeps a defer that always
 * re-queues itself from spinning here (what is left runs next iteration,
 * which then polls without sleeping). */
static void run_defers(wsh_loop_t *loop, int rounds)
{
    for (int r = 0; r < rounds && !wsh_list_is_empty(&loop->defers); r++) {
        wsh_list_t batch;
        batch.next = loop->defers.next;
        batch.prev = loop->defers.prev;
        batch.next->prev = &batch;
        batch.prev->next = &batch;
        wsh_list_init(&loop->defers);
        /* Cancelling a member of the batch unlinks it from `batch`, which is
         * an ordinary list head, so that needs no special case. */
        while (!wsh_list_is_empty(&batch)) {
            wsh_defer_t *d = WSH_CONTAINER_OF(batch.next, wsh_defer_t, link);
            wsh_list_remove(&d->link); /* before the call, so d may re-queue itself */
            d->cb(d);
        }
    }
}

static void run_hooks(wsh_loop_t *loop)
{
    bool pending = false;
    for (size_t i = 0; i < loop->hook_cnt; i++)
        if (loop->hooks[i].cb(loop, loop->hooks[i].data))
            pending = true;
    loop->has_hook_work = pending;
}

int wsh_loop_add_before_sleep(wsh_loop_t *loop, wsh_before_sleep_cb cb, void *data)
{
    if (loop->hook_cnt == MAX_HOOKS)
        return -ENOSPC;
    loop->hooks[loop->hook_cnt++] = (struct hook){cb, data};
    return 0;
}

/* ---- the iteration ---- */

static int compute_timeout(const wsh_loop_t *loop, int requested)
{
    if (loop->has_hook_work || !wsh_list_is_empty(&loop->defers))
        return 0;
    uint64_t due = wsh_timer_heap_next_due(&loop->timers);
    if (due == UINT64_MAX)
        return requested;
    uint64_t delta = due > loop->now_ms ? due - loop->now_ms : 0;
    if (delta > INT_MAX)
        delta = INT_MAX;
    if (requested >= 0 && (uint64_t)requested < delta)
        return requested;
    return (int)delta;
}

static int wait_events(wsh_loop_t *loop, int timeout_ms)
{
    uint64_t deadline = timeout_ms > 0 ? wsh_clock_mono_ms() + (uint64_t)timeout_ms : 0;
    for (;;) {
        int n = epoll_wait(loop->epfd, loop->events, MAX_EVENTS, timeout_ms);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            die("epoll_wait", errno); /* EBADF/EFAULT/EINVAL: a bug, not a load condition */
        if (timeout_ms > 0) {
            /* Retry with what is left, so repeated interruptions cannot stretch the wait. */
            uint64_t now = wsh_clock_mono_ms();
            timeout_ms = now >= deadline ? 0 : (int)(deadline - now);
        }
    }
}

/* One iteration. Before-sleep hooks run at its end, so wsh_loop_run_once
 * returns with the iteration's batched writes flushed; with hooks_first they
 * also run before the wait, so work queued from outside any loop callback
 * (set-up code, a test between two run_once calls) is flushed before the
 * loop sleeps instead of after. */
static void iterate(wsh_loop_t *loop, int timeout_ms, bool hooks_first)
{
    assert(!loop->is_iterating && "the loop is not reentrant");
    loop->is_iterating = true;
    if (hooks_first)
        run_hooks(loop);
    wsh_loop_update_time(loop);
    int n = wait_events(loop, compute_timeout(loop, timeout_ms));
    wsh_loop_update_time(loop); /* so timers due during the wait fire now */
    for (int i = 0; i < n; i++)
        dispatch_one(loop, &loop->events[i]);
    wsh_timer_heap_run(&loop->timers, loop->now_ms);
    run_defers(loop, DEFER_ROUNDS);
    run_hooks(loop);
    loop->is_iterating = false;
}

int wsh_loop_run(wsh_loop_t *loop)
{
    loop->is_stopping = false;
    bool is_first = true;
    while (!loop->is_stopping) {
        iterate(loop, -1, is_first);
        is_first = false;
    }
    return 0;
}

void wsh_loop_stop(wsh_loop_t *loop) { loop->is_stopping = true; }

void wsh_loop_run_once(wsh_loop_t *loop, int timeout_ms) { iterate(loop, timeout_ms, true); }

uint64_t wsh_loop_now(const wsh_loop_t *loop) { return loop->now_ms; }

void wsh_loop_update_time(wsh_loop_t *loop) { loop->now_ms = wsh_clock_mono_ms(); }

/* ---- timers ---- */

void wsh_loop_timer_start(wsh_loop_t *loop, wsh_timer_t *t, uint64_t delay_ms)
{
    uint64_t due = delay_ms > UINT64_MAX - loop->now_ms ? UINT64_MAX : loop->now_ms + delay_ms;
    wsh_timer_heap_arm(&loop->timers, t, due);
}

void wsh_loop_timer_stop(wsh_loop_t *loop, wsh_timer_t *t) { wsh_timer_heap_disarm(&loop->timers, t); }

/* ---- lifecycle ---- */

wsh_loop_t *wsh_loop_new(void)
{
    wsh_loop_t *loop = wsh_xcalloc(1, sizeof(*loop));
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0)
        die("epoll_create1", errno);
    loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->wakefd < 0)
        die("eventfd", errno);
    loop->sigfd = -1;
    sigemptyset(&loop->sigmask);
    wsh_timer_heap_init(&loop->timers);
    wsh_list_init(&loop->defers);
    loop->read_buf = wsh_xmalloc(READ_BUF_LEN);
    wsh_loop_update_time(loop);
    start_internal(loop, &loop->wake_io, loop->wakefd, on_wake);
    return loop;
}

void wsh_loop_free(wsh_loop_t *loop)
{
    if (!loop)
        return;
    assert(!loop->is_iterating && "wsh_loop_free from inside a callback");
    run_defers(loop, FREE_DEFER_ROUNDS);
    if (!wsh_list_is_empty(&loop->defers)) {
        wsh_log_warn(0, "loop: freeing with deferred callbacks that keep re-queueing; dropped");
        wsh_list_t *pos, *tmp;
        WSH_LIST_FOREACH_SAFE(pos, tmp, &loop->defers)
            wsh_list_remove(pos);
    }
    size_t live = wsh_loop_live_count(loop);
    if (live)
        wsh_log_debug(0, "loop: freeing with %zu watchers/timers still live", live);
    stop_internal(loop, &loop->wake_io);
    stop_internal(loop, &loop->sig_io);
    close(loop->wakefd);
    if (loop->sigfd >= 0)
        close(loop->sigfd); /* the signals stay blocked: unblocking could deliver a pending one */
    close(loop->epfd);
    wsh_timer_heap_dispose(&loop->timers);
    free(loop->read_buf);
    free(loop);
}

uint8_t *wsh_loop_read_buf(wsh_loop_t *loop, size_t *cap)
{
    if (cap)
        *cap = READ_BUF_LEN;
    return loop->read_buf;
}

size_t wsh_loop_live_count(const wsh_loop_t *loop)
{
    size_t n = loop->io_cnt - loop->internal_cnt + wsh_timer_heap_armed_cnt(&loop->timers);
    for (const wsh_list_t *p = loop->defers.next; p != &loop->defers; p = p->next)
        n++;
    return n;
}
