/* The event loop: epoll fd watchers, timers, signals via signalfd, before-sleep
 * hooks and deferred callbacks. One loop per thread; nothing here is thread-safe
 * except wsh_loop_wake. Not for protocol logic. */
#ifndef WSH_LOOP_LOOP_H
#define WSH_LOOP_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/list.h"
#include "loop/timer.h"

typedef struct wsh_loop wsh_loop_t;

/* Event bits for wsh_io_t. */
#define WSH_IO_READ 0x1u
#define WSH_IO_WRITE 0x2u
/* Reported only: the peer hung up or the fd has an error (EPOLLHUP/EPOLLERR).
 * Always comes together with WSH_IO_READ (even if only WRITE is watched), so
 * the owner's read path meets EOF or the socket error; the callback must then
 * stop the watcher or the level-triggered condition is reported again. */
#define WSH_IO_ERROR 0x4u

struct wsh_io;
/* Called with the ready bits (WSH_IO_*), a subset of the watched ones plus
 * ERROR|READ on hang-up. May start, stop or modify any watcher. Readiness can
 * be stale (another callback in the same batch read the fd), so fds must be
 * non-blocking and EAGAIN treated as "not now". */
typedef void (*wsh_io_cb)(wsh_loop_t *loop, struct wsh_io *io, uint32_t events);

/* Caller-owned fd watcher. The fd stays the caller's to close, after
 * wsh_io_stop. The callback finds its owner with WSH_CONTAINER_OF (the
 * watcher is embedded in it). Watchers are level-triggered
 * (docs/architecture.md says why).
 * Memory rule: events for one epoll_wait batch are dispatched after the wait,
 * so a watcher stopped inside a callback may still have an event pending in
 * the same batch. The loop skips it (it checks the watcher is still started),
 * but that check reads the watcher: free a stopped watcher's memory only from
 * a deferred callback (wsh_loop_defer) or outside the loop, never directly in
 * an I/O, signal or wake callback (those run while the batch is dispatched). */
typedef struct wsh_io {
    int fd;
    uint16_t events; /* WSH_IO_READ | WSH_IO_WRITE currently watched; 0 = stopped
                      * or started but quiet (wsh_io_modify(..., 0)) */
    bool is_started; /* registered with a loop (the loop reads it; callers don't set it) */
    wsh_io_cb cb;
    /* No data pointer: every connection embeds a watcher, so owners reach
     * their state with WSH_CONTAINER_OF (8 bytes per connection). */
} wsh_io_t;

/* Caller-owned deferred callback: runs once, after the current iteration's
 * events and timers, before the before-sleep hooks. Used to free connections
 * that may still be on the stack. Zero-initialise it before first use; it is
 * unlinked before cb runs, so cb may queue it again (it then runs in a later
 * round of the same iteration, or the next iteration: the loop bounds rounds). */
struct wsh_defer;
typedef void (*wsh_defer_cb)(struct wsh_defer *d);
typedef struct wsh_defer {
    wsh_list_t link;
    wsh_defer_cb cb;
    void *data;
} wsh_defer_t;

/* Before-sleep hook: runs every iteration just before epoll_wait (batched
 * writes flush here). Returns true if it left work pending, in which case the
 * loop polls without sleeping. Concretely it runs at the end of each
 * iteration (after defers), and also before the wait of wsh_loop_run's first
 * iteration and of every wsh_loop_run_once, so work queued outside a loop
 * callback is flushed before sleeping: hooks must be cheap when idle. */
typedef bool (*wsh_before_sleep_cb)(wsh_loop_t *loop, void *data);

/* Signal callback: runs in loop context (signalfd), never in a signal handler. */
typedef void (*wsh_signal_cb)(wsh_loop_t *loop, int signo, void *data);

/* Creates a loop (epoll fd, wake eventfd, 256 KiB read buffer; signalfd not
 * yet, empty timer heap). Aborts on failure to create the epoll fd or the
 * eventfd. Free with wsh_loop_free after wsh_loop_run returns. */
wsh_loop_t *wsh_loop_new(void);
/* Frees the loop. Watchers still started are not closed: callers stop theirs first.
 * Pending deferred callbacks are run first, so memory they free is not leaked. */
void wsh_loop_free(wsh_loop_t *loop);

/* Runs until wsh_loop_stop is called from a callback during the run (a stop
 * before the run is forgotten, as in Redis aeMain); returns 0. */
int wsh_loop_run(wsh_loop_t *loop);
/* Makes wsh_loop_run return after the current iteration. */
void wsh_loop_stop(wsh_loop_t *loop);
/* Runs one iteration: wait at most timeout_ms (-1 = until an event or timer),
 * dispatch, run due timers, defers and hooks. The wait is 0 if defers are
 * queued or a hook reported pending work. For tests and for embedding. */
void wsh_loop_run_once(wsh_loop_t *loop, int timeout_ms);

/* Monotonic ms, cached (cheap): refreshed just before and just after each
 * iteration's wait, so callbacks see the time the wait ended. */
uint64_t wsh_loop_now(const wsh_loop_t *loop);
/* Refreshes the cached time now. */
void wsh_loop_update_time(wsh_loop_t *loop);

/* fd watchers. Start registers fd with the given events (starting a started
 * watcher is a modify; -EEXIST if another started watcher has the same fd);
 * modify changes them (0 keeps it started but quiet; -ENOENT if not started;
 * same events: no syscall); stop unregisters and is harmless on a stopped
 * watcher. 0 or -errno. */
void wsh_io_init(wsh_io_t *io, int fd, wsh_io_cb cb);
int wsh_io_start(wsh_loop_t *loop, wsh_io_t *io, uint32_t events);
int wsh_io_modify(wsh_loop_t *loop, wsh_io_t *io, uint32_t events);
void wsh_io_stop(wsh_loop_t *loop, wsh_io_t *io);

/* Timers (see timer.h for the struct). delay_ms is from wsh_loop_now. Starting
 * an armed timer moves it. Callbacks run after the iteration's I/O events; a
 * timer started from a callback for <= now fires in the next iteration. */
void wsh_loop_timer_start(wsh_loop_t *loop, wsh_timer_t *t, uint64_t delay_ms);
void wsh_loop_timer_stop(wsh_loop_t *loop, wsh_timer_t *t);

/* Queues d to run after this iteration's events. Deferring an already queued d
 * does nothing. */
void wsh_loop_defer(wsh_loop_t *loop, wsh_defer_t *d, wsh_defer_cb cb, void *data);
/* Removes d from the queue if queued. */
void wsh_loop_defer_cancel(wsh_loop_t *loop, wsh_defer_t *d);

/* Registers a before-sleep hook (at most 8); hooks run in registration order. 0 or -ENOSPC. */
int wsh_loop_add_before_sleep(wsh_loop_t *loop, wsh_before_sleep_cb cb, void *data);

/* Blocks signo for this thread and delivers it through signalfd to cb. Call
 * before creating other threads so they inherit the mask. 0 or -errno
 * (-ENOSPC past 8 signals per loop, -EINVAL for SIGKILL/SIGSTOP). Starting a
 * signal again replaces its cb. The loop keeps one signalfd for all its
 * signals (its watcher is not counted by wsh_loop_live_count); the signals
 * stay blocked after wsh_loop_free. */
int wsh_loop_signal_start(wsh_loop_t *loop, int signo, wsh_signal_cb cb, void *data);

/* Wakes the loop from any thread: if it is blocked in epoll_wait it returns,
 * and the wake callback (if set) runs in loop context. Several wakes before
 * the loop gets to them coalesce into one callback, so the callback must
 * drain everything that was published before each wake (e.g. a locked
 * queue). The only thread-safe call here; the loop must outlive callers.
 * 0 or -errno. */
int wsh_loop_wake(wsh_loop_t *loop);
typedef void (*wsh_loop_wake_cb)(wsh_loop_t *loop, void *data);
/* Sets (or clears, with NULL) the wake callback. Loop thread only, before
 * other threads start calling wsh_loop_wake. */
void wsh_loop_set_wake_cb(wsh_loop_t *loop, wsh_loop_wake_cb cb, void *data);

/* The loop's shared read buffer (one per loop, DESIGN.md): valid until the
 * next read by anyone on this loop. */
uint8_t *wsh_loop_read_buf(wsh_loop_t *loop, size_t *cap);

/* Number of started fd watchers, armed timers and queued defers: tests assert
 * this is zero after teardown ("loop closes with nothing live"). */
size_t wsh_loop_live_count(const wsh_loop_t *loop);

#endif
