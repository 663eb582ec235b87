/* Timer min-heap keyed by deadline (ms); used by the loop, knows nothing of fds.
 * Not thread-safe: one heap per loop. */
#ifndef WSH_LOOP_TIMER_H
#define WSH_LOOP_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wsh_timer;
typedef void (*wsh_timer_cb)(struct wsh_timer *t);

/* Caller-owned (usually embedded in a connection). Zero-initialise or call
 * wsh_timer_init before first use. While armed, the heap points to it: stop it
 * before freeing the memory. */
typedef struct wsh_timer {
    uint64_t due_ms;   /* monotonic deadline */
    /* 32 bits each: every connection embeds a timer. seq wraps, and is
     * compared by signed difference (wsh_timer_seq_before), which is exact
     * while timers sharing a deadline were armed fewer than 2^31 armings
     * apart. heap_idx bounds the heap to 2^31 timers. */
    uint32_t seq;      /* insertion order: equal deadlines fire FIFO */
    uint32_t heap_idx; /* 0 when not armed; otherwise position in the heap + 1
                        * (or a tagged slot while wsh_timer_heap_run holds it) */
    wsh_timer_cb cb;
    /* No data pointer: the callback finds its owner with WSH_CONTAINER_OF
     * (every connection embeds a timer; 8 bytes each). */
} wsh_timer_t;

/* Caller-owned heap; wsh_timer_heap_init/_dispose. The array grows by doubling.
 * items[0..cnt) is the heap; while wsh_timer_heap_run runs, the timers it has
 * taken off the heap to fire sit at items[cap - batch_cnt .. cap) (internal). */
typedef struct wsh_timer_heap {
    wsh_timer_t **items;
    size_t cnt;
    size_t cap;
    uint32_t next_seq;
    size_t batch_cnt;
} wsh_timer_heap_t;

void wsh_timer_init(wsh_timer_t *t, wsh_timer_cb cb);
static inline bool wsh_timer_is_armed(const wsh_timer_t *t) { return t->heap_idx != 0; }
/* Whether a was armed before b (wrap-safe). */
static inline bool wsh_timer_seq_before(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }

void wsh_timer_heap_init(wsh_timer_heap_t *h);
/* Frees the array; armed timers are simply forgotten (not called). */
void wsh_timer_heap_dispose(wsh_timer_heap_t *h);
/* Arms t for due_ms, re-arming (moving) it if it was armed. O(log n). */
void wsh_timer_heap_arm(wsh_timer_heap_t *h, wsh_timer_t *t, uint64_t due_ms);
/* Disarms t if armed; harmless otherwise. O(log n). */
void wsh_timer_heap_disarm(wsh_timer_heap_t *h, wsh_timer_t *t);
/* Number of armed timers (tests use it to prove nothing is left live). */
size_t wsh_timer_heap_armed_cnt(const wsh_timer_heap_t *h);
/* Earliest deadline, or UINT64_MAX when empty. */
uint64_t wsh_timer_heap_next_due(const wsh_timer_heap_t *h);
/* Disarms and calls, in deadline order, every timer due at or before now_ms.
 * A callback may arm or disarm any timer (including itself); timers armed by
 * a callback for a time <= now_ms fire in a later call, not this one, so a
 * callback that re-arms itself with 0 delay cannot spin forever. A timer
 * disarmed by an earlier callback of the same call does not fire. Not
 * reentrant: a callback must not call wsh_timer_heap_run on the same heap.
 * Returns the number of callbacks run. */
size_t wsh_timer_heap_run(wsh_timer_heap_t *h, uint64_t now_ms);

#endif
