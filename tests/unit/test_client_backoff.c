/* Unit tests for client/backoff.c: reconnect delays stay within
 * [0, min(cap, initial * 2^n)] and are jittered; not timers (the client
 * state machine is tested against a real hub in test_client_lib.py). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "backoff.h"

static void test_backoff_bound_doubles_from_initial_up_to_the_cap(void **state)
{
    (void)state;
    assert_int_equal(wsh_backoff_bound(500, 30000, 0), 500);
    assert_int_equal(wsh_backoff_bound(500, 30000, 1), 1000);
    assert_int_equal(wsh_backoff_bound(500, 30000, 5), 16000);
    assert_int_equal(wsh_backoff_bound(500, 30000, 6), 30000);
    /* Huge attempt counts neither overflow nor wrap below the cap. */
    assert_int_equal(wsh_backoff_bound(500, 30000, 1000000), 30000);
    assert_int_equal(wsh_backoff_bound(4000000000u, 4294967295u, 70), 4294967295u);
}

static void test_backoff_delays_stay_within_their_bounds(void **state)
{
    (void)state;
    uint64_t rng = 42;
    for (unsigned attempt = 0; attempt < 40; attempt++) {
        unsigned bound = 500;
        for (unsigned i = 0; i < attempt && bound < 30000; i++)
            bound *= 2;
        if (bound > 30000)
            bound = 30000;
        for (int draw = 0; draw < 500; draw++) {
            unsigned d = wsh_backoff_delay(500, 30000, attempt, &rng);
            assert_true(d <= bound);
        }
    }
}

/* Full jitter: the draws spread over the whole range, not a few values or one end. */
static void test_backoff_delays_are_jittered_over_the_whole_range(void **state)
{
    (void)state;
    uint64_t rng = 7;
    enum { DRAWS = 2000 };
    static unsigned seen[DRAWS];
    size_t distinct = 0;
    unsigned lo = ~0u, hi = 0;
    for (int i = 0; i < DRAWS; i++) {
        unsigned d = wsh_backoff_delay(500, 30000, 3, &rng); /* bound 4000 */
        bool dup = false;
        for (size_t k = 0; k < distinct && !dup; k++)
            dup = seen[k] == d;
        if (!dup)
            seen[distinct++] = d;
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    assert_true(distinct > 1000);  /* 2000 draws from 4001 values: mostly distinct */
    assert_true(lo < 400);         /* the low tenth is reached... */
    assert_true(hi > 3600);        /* ...and so is the high tenth */
}

static void test_backoff_same_seed_same_delays_other_seed_other_delays(void **state)
{
    (void)state;
    uint64_t a = 99, b = 99, c = 100;
    bool differs = false;
    for (int i = 0; i < 50; i++) {
        unsigned da = wsh_backoff_delay(500, 30000, 4, &a);
        assert_int_equal(da, wsh_backoff_delay(500, 30000, 4, &b));
        differs = differs || da != wsh_backoff_delay(500, 30000, 4, &c);
    }
    assert_true(differs);
}

static void test_backoff_zero_bound_gives_zero(void **state)
{
    (void)state;
    uint64_t rng = 1;
    assert_int_equal(wsh_backoff_delay(0, 0, 3, &rng), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_bound_doubles_from_initial_up_to_the_cap),
        cmocka_unit_test(test_backoff_delays_stay_within_their_bounds),
        cmocka_unit_test(test_backoff_delays_are_jittered_over_the_whole_range),
        cmocka_unit_test(test_backoff_same_seed_same_delays_other_seed_other_delays),
        cmocka_unit_test(test_backoff_zero_bound_gives_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
