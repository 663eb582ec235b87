/* Unit tests for src/core/pool.c: zeroed, distinct, aligned objects; reuse
 * after free; many slabs; dispose releases everything (LSan/valgrind check). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/pool.h"

static void test_pool_objects_are_zeroed_aligned_and_distinct(void **state)
{
    (void)state;
    wsh_pool_t p;
    wsh_pool_init(&p, 44);
    assert_int_equal(p.obj_size, 48);
    enum { N = 6000 }; /* more than one slab */
    static uint8_t *objs[N];
    for (int i = 0; i < N; i++) {
        objs[i] = wsh_pool_alloc(&p);
        assert_int_equal((uintptr_t)objs[i] % 8, 0);
        for (size_t b = 0; b < 44; b++)
            assert_int_equal(objs[i][b], 0);
        memset(objs[i], 0xA5, 44); /* writing all of it must not touch a neighbour */
    }
    assert_int_equal(p.live, N);
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N && j < i + 8; j++)
            assert_true(objs[i] + 48 <= objs[j] || objs[j] + 48 <= objs[i]);
    for (int i = 0; i < N; i++)
        for (size_t b = 0; b < 44; b++)
            assert_int_equal(objs[i][b], 0xA5);
    for (int i = 0; i < N; i++)
        wsh_pool_free(&p, objs[i]);
    assert_int_equal(p.live, 0);
    wsh_pool_dispose(&p);
}

static void test_pool_reuses_freed_objects_zeroed(void **state)
{
    (void)state;
    wsh_pool_t p;
    wsh_pool_init(&p, 24);
    uint8_t *a = wsh_pool_alloc(&p);
    memset(a, 0xFF, 24);
    wsh_pool_free(&p, a);
    uint8_t *b = wsh_pool_alloc(&p);
    assert_ptr_equal(a, b); /* LIFO: the slot just freed comes back first */
    for (size_t i = 0; i < 24; i++)
        assert_int_equal(b[i], 0);
    wsh_pool_free(&p, b);
    wsh_pool_free(&p, NULL); /* ignored */
    wsh_pool_dispose(&p);
}

static void test_pool_dispose_releases_live_objects_too(void **state)
{
    (void)state;
    wsh_pool_t p;
    wsh_pool_init(&p, 8);
    for (int i = 0; i < 40000; i++) /* several slabs */
        assert_non_null(wsh_pool_alloc(&p));
    wsh_pool_dispose(&p); /* LeakSanitizer and valgrind fail the run if a slab leaks */
    assert_null(p.slabs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_objects_are_zeroed_aligned_and_distinct),
        cmocka_unit_test(test_pool_reuses_freed_objects_zeroed),
        cmocka_unit_test(test_pool_dispose_releases_live_objects_too),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
