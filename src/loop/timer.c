/* Timer min-heap ordered by (deadline, arming order); knows nothing of fds or
 * of the loop that drives it. */
#include "loop/timer.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* heap_idx of a timer that wsh_timer_heap_run has taken off the heap and is
 * about to fire: this bit plus its slot in the batch. Any nonzero heap_idx
 * reads as armed, so wsh_timer_is_armed stays true until the callback runs. */
#define BATCH_TAG (((uint32_t)-1 >> 1) + 1)
#define HEAP_MIN_CAP 16

static bool fires_before(const wsh_timer_t *a, const wsh_timer_t *b)
{
    /* seq breaks ties so equal deadlines fire in arming order (FIFO). */
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && wsh_timer_seq_before(a->seq, b->seq));
}

static void place(wsh_timer_heap_t *h, size_t i, wsh_timer_t *t)
{
    h->items[i] = t;
    t->heap_idx = (uint32_t)(i + 1);
}

static void sift_up(wsh_timer_heap_t *h, size_t i)
{
    wsh_timer_t *t = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!fires_before(t, h->items[parent]))
            break;
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void sift_down(wsh_timer_heap_t *h, size_t i)
{
    wsh_timer_t *t = h->items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->cnt)
            break;
        if (child + 1 < h->cnt && fires_before(h->items[child + 1], h->items[child]))
            child++;
        if (!fires_before(h->items[child], t))
            break;
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, t);
}

/* Restores the heap property at i after its key changed either way. */
static void sift(wsh_timer_heap_t *h, size_t i)
{
    if (i > 0 && fires_before(h->items[i], h->items[(i - 1) / 2]))
        sift_up(h, i);
    else
        sift_down(h, i);
}

static wsh_timer_t **batch_slot(wsh_timer_heap_t *h, size_t j)
{
    return &h->items[h->cap - 1 - j];
}

/* Doubles the array. The batch lives at the top end, counted down from cap,
 * so it moves as a block and the slots recorded in heap_idx stay valid. */
static void grow(wsh_timer_heap_t *h)
{
    size_t old_cap = h->cap;
    size_t new_cap = old_cap ? old_cap * 2 : HEAP_MIN_CAP;
    h->items = wsh_xrealloc(h->items, new_cap * sizeof(*h->items));
    if (h->batch_cnt)
        memmove(h->items + new_cap - h->batch_cnt, h->items + old_cap - h->batch_cnt,
                h->batch_cnt * sizeof(*h->items));
    h->cap = new_cap;
}

static void remove_at(wsh_timer_heap_t *h, size_t i)
{
    wsh_timer_t *last = h->items[--h->cnt];
    h->items[i]->heap_idx = 0;
    if (i != h->cnt) {
        place(h, i, last);
        sift(h, i);
    }
}

void wsh_timer_init(wsh_timer_t *t, wsh_timer_cb cb)
{
    memset(t, 0, sizeof(*t));
    t->cb = cb;
}

void wsh_timer_heap_init(wsh_timer_heap_t *h) { memset(h, 0, sizeof(*h)); }

void wsh_timer_heap_dispose(wsh_timer_heap_t *h)
{
    /* Forget armed timers but leave them reading as disarmed, so a later
     * wsh_timer_heap_disarm on one of them cannot touch the freed array. */
    for (size_t i = 0; i < h->cnt; i++)
        h->items[i]->heap_idx = 0;
    for (size_t j = 0; j < h->batch_cnt; j++)
        if (*batch_slot(h, j))
            (*batch_slot(h, j))->heap_idx = 0;
    free(h->items);
    memset(h, 0, sizeof(*h));
}

void wsh_timer_heap_arm(wsh_timer_heap_t *h, wsh_timer_t *t, uint64_t due_ms)
{
    assert(t->cb != NULL);
    if (t->heap_idx != 0 && !(t->heap_idx & BATCH_TAG)) {
        /* Already on the heap: change the key in place. A re-arm counts as a
         * new arming for FIFO purposes, hence the fresh seq. */
        t->due_ms = due_ms;
        t->seq = h->next_seq++;
        sift(h, t->heap_idx - 1);
        return;
    }
    wsh_timer_heap_disarm(h, t); /* out of the batch, if it was there */
    if (h->cnt + h->batch_cnt == h->cap)
        grow(h);
    t->due_ms = due_ms;
    t->seq = h->next_seq++;
    place(h, h->cnt++, t);
    sift_up(h, h->cnt - 1);
}

void wsh_timer_heap_disarm(wsh_timer_heap_t *h, wsh_timer_t *t)
{
    if (t->heap_idx == 0)
        return;
    if (t->heap_idx & BATCH_TAG) {
        /* Leave a hole rather than compacting, so the batch keeps its order. */
        size_t j = t->heap_idx & ~BATCH_TAG;
        assert(j < h->batch_cnt && *batch_slot(h, j) == t);
        *batch_slot(h, j) = NULL;
        t->heap_idx = 0;
        return;
    }
    assert(t->heap_idx <= h->cnt && h->items[t->heap_idx - 1] == t);
    remove_at(h, t->heap_idx - 1);
}

size_t wsh_timer_heap_armed_cnt(const wsh_timer_heap_t *h)
{
    size_t n = h->cnt;
    for (size_t j = 0; j < h->batch_cnt; j++)
        if (h->items[h->cap - 1 - j])
            n++;
    return n;
}

uint64_t wsh_timer_heap_next_due(const wsh_timer_heap_t *h)
{
    return h->cnt ? h->items[0]->due_ms : UINT64_MAX;
}

size_t wsh_timer_heap_run(wsh_timer_heap_t *h, uint64_t now_ms)
{
    assert(h->batch_cnt == 0 && "wsh_timer_heap_run is not reentrant");
    /* Two phases (as libuv does since 1.45): first take every timer that is
     * due now off the heap, in deadline order, then call them. Anything a
     * callback arms goes onto the heap and so waits for the next call, which
     * is what stops a 0-delay self-re-arm from spinning, while every timer
     * that was due when we started still fires in this call. Popping one
     * frees one heap slot, so the batch always fits in the array. */
    while (h->cnt && h->items[0]->due_ms <= now_ms) {
        wsh_timer_t *t = h->items[0];
        remove_at(h, 0);
        *batch_slot(h, h->batch_cnt) = t;
        t->heap_idx = BATCH_TAG | (uint32_t)h->batch_cnt;
        h->batch_cnt++;
    }
    size_t ran = 0;
    for (size_t j = 0; j < h->batch_cnt; j++) {
        /* Re-read the slot each time: callbacks may grow the array or
         * disarm later members of the batch. */
        wsh_timer_t *t = *batch_slot(h, j);
        if (!t)
            continue;
        *batch_slot(h, j) = NULL;
        t->heap_idx = 0;
        ran++;
        t->cb(t);
    }
    h->batch_cnt = 0;
    return ran;
}
