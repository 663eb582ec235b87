/* Unit tests for src/loop/timer.c: ordering, FIFO ties, moves, disarm during
 * a run, no spinning on 0-delay re-arms, and the heap invariant under random
 * operations. Not for the loop's use of timers (test_loop_loop.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "loop/timer.h"
#include "tags.h"

/* Records the order in which callbacks ran: each timer's tag is its id. */
static int fired[4096];
static size_t fired_cnt;

static void reset_fired(void) { fired_cnt = 0; }

static void on_record(wsh_timer_t *t)
{
    assert_true(fired_cnt < sizeof(fired) / sizeof(fired[0]));
    assert_false(wsh_timer_is_armed(t)); /* disarmed before its callback */
    fired[fired_cnt++] = (int)(intptr_t)data_of(t);
}

/* Checks every heap slot points back at itself and no parent fires after its
 * children: the invariant the O(log n) operations rely on. */
static void assert_heap_ok(const wsh_timer_heap_t *h)
{
    assert_int_equal(h->batch_cnt, 0);
    assert_true(h->cnt <= h->cap);
    for (size_t i = 0; i < h->cnt; i++) {
        const wsh_timer_t *t = h->items[i];
        assert_int_equal(t->heap_idx, i + 1);
        if (i > 0) {
            const wsh_timer_t *p = h->items[(i - 1) / 2];
            assert_true(p->due_ms < t->due_ms || (p->due_ms == t->due_ms && wsh_timer_seq_before(p->seq, t->seq)));
        }
    }
}

static void test_timer_fires_in_deadline_order(void **state)
{
    (void)state;
    static const uint64_t due[] = {30, 10, 20, 50, 40, 5, 25};
    wsh_timer_heap_t h;
    wsh_timer_t t[7];
    wsh_timer_heap_init(&h);
    reset_fired();
    for (int i = 0; i < 7; i++) {
        wsh_timer_init(&t[i], on_record);
        tag(&t[i], (void *)(intptr_t)due[i]);
        wsh_timer_heap_arm(&h, &t[i], due[i]);
    }
    assert_heap_ok(&h);
    assert_int_equal(wsh_timer_heap_next_due(&h), 5);
    assert_int_equal(wsh_timer_heap_run(&h, 100), 7);
    static const int want[] = {5, 10, 20, 25, 30, 40, 50};
    assert_int_equal(fired_cnt, 7);
    assert_memory_equal(fired, want, sizeof(want));
    assert_int_equal(wsh_timer_heap_armed_cnt(&h), 0);
    wsh_timer_heap_dispose(&h);
}

static void test_timer_run_fires_only_due_timers(void **state)
{
    (void)state;
    wsh_timer_heap_t h;
    wsh_timer_t a, b, c;
    wsh_timer_heap_init(&h);
    reset_fired();
    wsh_timer_init(&a, on_record);
    tag(&a, (void *)1);
    wsh_timer_init(&b, on_record);
    tag(&b, (void *)2);
    wsh_timer_init(&c, on_record);
    tag(&c, (void *)3);
    wsh_timer_heap_arm(&h, &a, 10);
    wsh_timer_heap_arm(&h, &b, 15);
    wsh_timer_heap_arm(&h, &c, 16);
    assert_int_equal(wsh_timer_heap_run(&h, 9), 0);
    assert_int_equal(wsh_timer_heap_run(&h, 15), 2); /* "at or before now" */
    assert_int_equal(fired_cnt, 2);
    assert_false(wsh_timer_is_armed(&a));
    assert_true(wsh_timer_is_armed(&c));
    assert_int_equal(wsh_timer_heap_next_due(&h), 16);
    wsh_timer_heap_disarm(&h, &c);
    assert_int_equal(wsh_timer_heap_next_due(&h), UINT64_MAX);
    wsh_timer_heap_dispose(&h);
}

static void test_timer_equal_deadlines_fire_in_arming_order(void **state)
{
    (void)state;
    enum { N = 50 };
    wsh_timer_heap_t h;
    wsh_timer_t t[N];
    wsh_timer_heap_init(&h);
    reset_fired();
    /* Arm in a scrambled index order; FIFO means fired order == arming order. */
    int order[N];
    for (int i = 0; i < N; i++)
        order[i] = (i * 17) % N;
    for (int i = 0; i < N; i++) {
        wsh_timer_init(&t[order[i]], on_record);
        tag(&t[order[i]], (void *)(intptr_t)order[i]);
        wsh_timer_heap_arm(&h, &t[order[i]], 7);
    }
    assert_heap_ok(&h);
    assert_int_equal(wsh_timer_heap_run(&h, 7), N);
    assert_memory_equal(fired, order, sizeof(order));
    wsh_timer_heap_dispose(&h);
}

/* seq is 32 bits: arming order must still decide ties when it wraps. */
static void test_timer_equal_deadlines_stay_fifo_across_seq_wraparound(void **state)
{
    (void)state;
    enum { N = 8 };
    wsh_timer_heap_t h;
    wsh_timer_t t[N];
    wsh_timer_heap_init(&h);
    h.next_seq = UINT32_MAX - 3; /* the 5th arming wraps to 0 */
    reset_fired();
    int order[N];
    for (int i = 0; i < N; i++) {
        order[i] = N - 1 - i;
        wsh_timer_init(&t[order[i]], on_record);
        tag(&t[order[i]], (void *)(intptr_t)order[i]);
        wsh_timer_heap_arm(&h, &t[order[i]], 7);
    }
    assert_true(t[order[N - 1]].seq < t[order[0]].seq); /* it did wrap */
    assert_heap_ok(&h);
    assert_int_equal(wsh_timer_heap_run(&h, 7), N);
    assert_memory_equal(fired, order, sizeof(order));
    wsh_timer_heap_dispose(&h);
}

static void test_timer_rearm_goes_behind_equal_deadlines(void **state)
{
    (void)state;
    wsh_timer_heap_t h;
    wsh_timer_t a, b, c;
    wsh_timer_heap_init(&h);
    reset_fired();
    wsh_timer_init(&a, on_record);
    tag(&a, (void *)1);
    wsh_timer_init(&b, on_record);
    tag(&b, (void *)2);
    wsh_timer_init(&c, on_record);
    tag(&c, (void *)3);
    wsh_timer_heap_arm(&h, &a, 5);
    wsh_timer_heap_arm(&h, &b, 5);
    wsh_timer_heap_arm(&h, &c, 5);
    wsh_timer_heap_arm(&h, &a, 5); /* a re-arm is a new arming: a now fires last */
    assert_int_equal(wsh_timer_heap_armed_cnt(&h), 3);
    assert_int_equal(wsh_timer_heap_run(&h, 5), 3);
    static const int want[] = {2, 3, 1};
    assert_memory_equal(fired, want, sizeof(want));
    wsh_timer_heap_dispose(&h);
}

static void test_timer_rearm_moves_later_and_earlier(void **state)
{
    (void)state;
    wsh_timer_heap_t h;
    wsh_timer_t a, b;
    wsh_timer_heap_init(&h);
    reset_fired();
    wsh_timer_init(&a, on_record);
    tag(&a, (void *)1);
    wsh_timer_init(&b, on_record);
    tag(&b, (void *)2);
    wsh_timer_heap_arm(&h, &a, 10);
    wsh_timer_heap_arm(&h, &b, 20);
    wsh_timer_heap_arm(&h, &a, 100); /* later */
    assert_heap_ok(&h);
    assert_int_equal(wsh_timer_heap_armed_cnt(&h), 2);
    assert_int_equal(wsh_timer_heap_next_due(&h), 20);
    assert_int_equal(wsh_timer_heap_run(&h, 50), 1);
    assert_int_equal(fired[0], 2);
    wsh_timer_heap_arm(&h, &a, 30); /* earlier */
    assert_int_equal(wsh_timer_heap_next_due(&h), 30);
    assert_int_equal(wsh_timer_heap_run(&h, 50), 1);
    assert_int_equal(fired[1], 1);
    assert_int_equal(wsh_timer_heap_armed_cnt(&h), 0);
    wsh_timer_heap_dispose(&h);
}

static void test_timer_disarm_unarmed_is_harmless(void **state)
{
    (void)state;
    wsh_timer_heap_t h;
    wsh_timer_t a, b;
    wsh_timer_heap_init(&h);
    wsh_timer_init(&a, on_record);
    tag(&a, NULL);
    wsh_timer_init(&b, on_record);
    tag(&b, NULL);
    wsh_timer_heap_disarm(&h, &a);
    wsh_timer_heap_arm(&h, &b, 1);
    wsh_timer_heap_disarm(&h, &b);
    wsh_timer_heap_disarm(&h, &b);
    assert_false(wsh_timer_is_armed(&b));
    assert_int_equal(h.cnt, 0);
    wsh_timer_heap_dispose(&h);
}

static void test_timer_dispose_forgets_armed_timers(void **state)
{
    (void)state;
    wsh_timer_heap_t h;
    wsh_timer_t a;
    wsh_timer_heap_init(&h);
    reset_fired();
    wsh_timer_init(&a, on_record);
    tag(&a, NULL);
    wsh_timer_heap_arm(&h, &a, 1);
    wsh_timer_heap_dispose(&h);
    assert_int_equal(fired_cnt, 0);
    assert_false(wsh_timer_is_armed(&a));
    wsh_timer_heap_disarm(&h, &a); /* must not touch the freed array */
}

/* ---- callbacks that act on the heap during a run ---- */

static wsh_timer_heap_t *g_heap;
static wsh_timer_t *g_other;
static uint64_t g_now;

static void on_disarm_other(wsh_timer_t *t)
{
    on_record(t);
    wsh_timer_heap_disarm(g_heap, g_other);
}

static void test_timer_disarm_inside_callback_stops_a_due_timer(void **state)
{
    (void)state;
    wsh_timer_heap_t h;
    wsh_timer_t a, b, c;
    wsh_timer_heap_init(&h);
    reset_fired();
    g_heap = &h;
    g_other = &b;
    wsh_timer_init(&a, on_disarm_other);
    tag(&a, (void *)1);
    wsh_timer_init(&b, on_record);
    tag(&b, (void *)2);
    wsh_timer_init(&c, on_record);
    tag(&c, (void *)3);
    wsh_timer_heap_arm(&h, &a, 1);
    wsh_timer_heap_arm(&h, &b, 2); /* due in the same run, behind a */
    wsh_timer_heap_arm(&h, &c, 3);
    assert_int_equal(wsh_timer_heap_run(&h, 10), 2);
    static const int want[] = {1, 3};
    assert_memory_equal(fired, want, sizeof(want));
    assert_false(wsh_timer_is_armed(&b));
    assert_int_equal(wsh_timer_heap_armed_cnt(&h), 0);
    wsh_timer_heap_dispose(&h);
}

static void on_disarm_self_then_other(wsh_timer_t *t)
{
    on_record(t);
    wsh_timer_heap_disarm(g_heap, t); /* already disarmed: harmless */
    wsh_timer_heap_disarm(g_heap, g_other);
}

static void test_timer_disarm_of_later_timer_not_yet_due_inside_callback(void **state)
{
    (void)state;
    wsh_timer_heap_t h;
    wsh_timer_t a, b;
    wsh_timer_heap_init(&h);
    reset_fired();
    g_heap = &h;
    g_other = &b;
    wsh_timer_init(&a, on_disarm_self_then_other);
    tag(&a, (void *)1);
    wsh_timer_init(&b, on_record);
    tag(&b, (void *)2);
    wsh_timer_heap_arm(&h, &a, 1);
    wsh_timer_heap_arm(&h, &b, 100);
    assert_int_equal(wsh_timer_heap_run(&h, 10), 1);
    assert_int_equal(wsh_timer_heap_armed_cnt(&h), 0);
    assert_int_equal(wsh_timer_heap_run(&h, 1000), 0);
    wsh_timer_heap_dispose(&h);
}

static void on_rearm_self_now(wsh_timer_t *t)
{
    on_record(t);
    wsh_timer_heap_arm(g_heap, t, g_now);
}

static void test_timer_self_rearm_at_zero_delay_fires_once_per_run(void **state)
{
    (void)state;
    wsh_timer_heap_t h;
    wsh_timer_t a;
    wsh_timer_heap_init(&h);
    reset_fired();
    g_heap = &h;
    g_now = 50;
    wsh_timer_init(&a, on_rearm_self_now);
    tag(&a, (void *)1);
    wsh_timer_heap_arm(&h, &a, 50);
    assert_int_equal(wsh_timer_heap_run(&h, 50), 1);
    assert_true(wsh_timer_is_armed(&a));
    assert_int_equal(wsh_timer_heap_run(&h, 50), 1);
    assert_int_equal(fired_cnt, 2);
    wsh_timer_heap_disarm(&h, &a);
    wsh_timer_heap_dispose(&h);
}

static void on_arm_other_in_past(wsh_timer_t *t)
{
    on_record(t);
    wsh_timer_heap_arm(g_heap, g_other, 6); /* earlier than b below, and <= now */
}

static void test_timer_armed_for_past_in_callback_waits_but_due_timers_still_fire(void **state)
{
    (void)state;
    wsh_timer_heap_t h;
    wsh_timer_t a, b, c;
    wsh_timer_heap_init(&h);
    reset_fired();
    g_heap = &h;
    g_other = &c;
    wsh_timer_init(&a, on_arm_other_in_past);
    tag(&a, (void *)1);
    wsh_timer_init(&b, on_record);
    tag(&b, (void *)2);
    wsh_timer_init(&c, on_record);
    tag(&c, (void *)3);
    wsh_timer_heap_arm(&h, &a, 5);
    wsh_timer_heap_arm(&h, &b, 10);
    /* b was due when the run started, so it fires now even though c, armed
     * by a for 6, would sort before it; c waits for the next run. */
    assert_int_equal(wsh_timer_heap_run(&h, 10), 2);
    static const int want[] = {1, 2};
    assert_memory_equal(fired, want, sizeof(want));
    assert_true(wsh_timer_is_armed(&c));
    assert_int_equal(wsh_timer_heap_next_due(&h), 6);
    assert_int_equal(wsh_timer_heap_run(&h, 10), 1);
    assert_int_equal(fired[2], 3);
    wsh_timer_heap_dispose(&h);
}

static void on_move_other_later(wsh_timer_t *t)
{
    on_record(t);
    assert_true(wsh_timer_is_armed(g_other)); /* still armed while waiting in the batch */
    wsh_timer_heap_arm(g_heap, g_other, 500);
}

static void test_timer_rearm_of_due_timer_inside_callback_moves_it(void **state)
{
    (void)state;
    wsh_timer_heap_t h;
    wsh_timer_t a, b;
    wsh_timer_heap_init(&h);
    reset_fired();
    g_heap = &h;
    g_other = &b;
    wsh_timer_init(&a, on_move_other_later);
    tag(&a, (void *)1);
    wsh_timer_init(&b, on_record);
    tag(&b, (void *)2);
    wsh_timer_heap_arm(&h, &a, 1);
    wsh_timer_heap_arm(&h, &b, 2);
    assert_int_equal(wsh_timer_heap_run(&h, 10), 1);
    assert_true(wsh_timer_is_armed(&b));
    assert_int_equal(wsh_timer_heap_next_due(&h), 500);
    assert_heap_ok(&h);
    assert_int_equal(wsh_timer_heap_run(&h, 500), 1);
    assert_int_equal(fired[1], 2);
    wsh_timer_heap_dispose(&h);
}

static wsh_timer_t g_many[300];

static void on_arm_many(wsh_timer_t *t)
{
    on_record(t);
    for (int i = 0; i < 300; i++) {
        wsh_timer_init(&g_many[i], on_record);
        tag(&g_many[i], (void *)(intptr_t)(1000 + i));
        wsh_timer_heap_arm(g_heap, &g_many[i], (uint64_t)(i % 7));
    }
}

static void test_timer_heap_grows_during_run_without_losing_due_timers(void **state)
{
    (void)state;
    enum { N = 12 };
    wsh_timer_heap_t h;
    wsh_timer_t t[N];
    wsh_timer_heap_init(&h);
    reset_fired();
    g_heap = &h;
    /* N timers due; the first one arms 300 more, which forces the array to
     * grow (and the batch to move) while the other N-1 wait in the batch. */
    wsh_timer_init(&t[0], on_arm_many);
    tag(&t[0], (void *)0);
    wsh_timer_heap_arm(&h, &t[0], 1);
    for (int i = 1; i < N; i++) {
        wsh_timer_init(&t[i], on_record);
        tag(&t[i], (void *)(intptr_t)i);
        wsh_timer_heap_arm(&h, &t[i], 2);
    }
    size_t cap_before = h.cap;
    assert_int_equal(wsh_timer_heap_run(&h, 2), N);
    assert_true(h.cap > cap_before);
    for (int i = 0; i < N; i++)
        assert_int_equal(fired[i], i);
    assert_heap_ok(&h);
    assert_int_equal(wsh_timer_heap_armed_cnt(&h), 300);
    reset_fired();
    assert_int_equal(wsh_timer_heap_run(&h, 10), 300);
    /* Deadline order, FIFO within a deadline. */
    for (size_t i = 1; i < fired_cnt; i++) {
        int p = fired[i - 1] - 1000, c = fired[i] - 1000;
        assert_true(p % 7 < c % 7 || (p % 7 == c % 7 && p < c));
    }
    wsh_timer_heap_dispose(&h);
}

/* ---- randomised model check ---- */

enum { POOL = 256 };
static wsh_timer_t pool[POOL];
static bool model_armed[POOL];

static void on_model_fire(wsh_timer_t *t)
{
    int id = (int)(intptr_t)data_of(t);
    assert_true(model_armed[id]);
    model_armed[id] = false;
    on_record(t);
}

static void test_timer_random_arm_disarm_keeps_heap_invariant(void **state)
{
    (void)state;
    wsh_timer_heap_t h;
    wsh_timer_heap_init(&h);
    memset(model_armed, 0, sizeof(model_armed));
    for (int i = 0; i < POOL; i++) {
        wsh_timer_init(&pool[i], on_model_fire);
        tag(&pool[i], (void *)(intptr_t)i);
    }
    unsigned seed = 12345;
    uint64_t now = 0;
    for (int op = 0; op < 10000; op++) {
        int id = rand_r(&seed) % POOL;
        int kind = rand_r(&seed) % 10;
        if (kind < 6) {
            wsh_timer_heap_arm(&h, &pool[id], now + (uint64_t)(rand_r(&seed) % 64));
            model_armed[id] = true;
        } else if (kind < 9) {
            wsh_timer_heap_disarm(&h, &pool[id]);
            model_armed[id] = false;
        } else {
            now += (uint64_t)(rand_r(&seed) % 16);
            /* Expected: exactly the armed timers due by now, in (due, seq) order. */
            size_t want = 0;
            for (int i = 0; i < POOL; i++)
                if (model_armed[i] && pool[i].due_ms <= now)
                    want++;
            reset_fired();
            assert_int_equal(wsh_timer_heap_run(&h, now), want);
            for (size_t i = 1; i < fired_cnt; i++) {
                const wsh_timer_t *p = &pool[fired[i - 1]], *c = &pool[fired[i]];
                assert_true(p->due_ms < c->due_ms || (p->due_ms == c->due_ms && wsh_timer_seq_before(p->seq, c->seq)));
            }
        }
        assert_heap_ok(&h);
        size_t armed = 0;
        for (int i = 0; i < POOL; i++) {
            assert_int_equal(wsh_timer_is_armed(&pool[i]), model_armed[i]);
            armed += model_armed[i];
        }
        assert_int_equal(wsh_timer_heap_armed_cnt(&h), armed);
        uint64_t min = UINT64_MAX;
        for (int i = 0; i < POOL; i++)
            if (model_armed[i] && pool[i].due_ms < min)
                min = pool[i].due_ms;
        assert_int_equal(wsh_timer_heap_next_due(&h), min);
    }
    wsh_timer_heap_dispose(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_fires_in_deadline_order),
        cmocka_unit_test(test_timer_run_fires_only_due_timers),
        cmocka_unit_test(test_timer_equal_deadlines_fire_in_arming_order),
        cmocka_unit_test(test_timer_equal_deadlines_stay_fifo_across_seq_wraparound),
        cmocka_unit_test(test_timer_rearm_goes_behind_equal_deadlines),
        cmocka_unit_test(test_timer_rearm_moves_later_and_earlier),
        cmocka_unit_test(test_timer_disarm_unarmed_is_harmless),
        cmocka_unit_test(test_timer_dispose_forgets_armed_timers),
        cmocka_unit_test(test_timer_disarm_inside_callback_stops_a_due_timer),
        cmocka_unit_test(test_timer_disarm_of_later_timer_not_yet_due_inside_callback),
        cmocka_unit_test(test_timer_self_rearm_at_zero_delay_fires_once_per_run),
        cmocka_unit_test(test_timer_armed_for_past_in_callback_waits_but_due_timers_still_fire),
        cmocka_unit_test(test_timer_rearm_of_due_timer_inside_callback_moves_it),
        cmocka_unit_test(test_timer_heap_grows_during_run_without_losing_due_timers),
        cmocka_unit_test(test_timer_random_arm_disarm_keeps_heap_invariant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
