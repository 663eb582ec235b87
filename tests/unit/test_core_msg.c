/* Unit tests for src/core/msg.c: creation, copies, reference counting, the
 * alt variant freed with its msg, and the failing try_new paths. Leaks and
 * double frees are caught by ASan/LeakSanitizer and valgrind. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/alloc.h"
#include "core/msg.h"

static void test_msg_new_starts_with_one_reference(void **state)
{
    (void)state;
    wsh_msg_t *m = wsh_msg_new(100);
    assert_non_null(m);
    assert_int_equal(m->refcnt, 1);
    assert_int_equal(m->len, 100);
    assert_null(m->alt);
    assert_int_equal(m->pub_ns, 0); /* not a publish until the hub says so */
    memset(m->data, 0xab, 100); /* all 100 bytes are ours to write */
    wsh_msg_unref(m);
}

static void test_msg_new_copy_holds_a_copy(void **state)
{
    (void)state;
    char src[] = "hello, world";
    wsh_msg_t *m = wsh_msg_new_copy(src, sizeof src - 1);
    src[0] = 'X';
    assert_int_equal(m->len, sizeof src - 1);
    assert_memory_equal(m->data, "hello, world", sizeof src - 1);
    wsh_msg_unref(m);
}

static void test_msg_new_copy_of_empty_payload(void **state)
{
    (void)state;
    wsh_msg_t *m = wsh_msg_new_copy("", 0);
    assert_int_equal(m->len, 0);
    wsh_msg_unref(m);
    m = wsh_msg_new(0);
    assert_non_null(m);
    assert_int_equal(m->len, 0);
    wsh_msg_unref(m);
}

static void test_msg_ref_and_unref_count_holders(void **state)
{
    (void)state;
    wsh_msg_t *m = wsh_msg_new_copy("x", 1);
    assert_ptr_equal(wsh_msg_ref(m), m);
    assert_ptr_equal(wsh_msg_ref(m), m);
    assert_int_equal(m->refcnt, 3);
    wsh_msg_unref(m);
    assert_int_equal(m->refcnt, 2);
    wsh_msg_unref(m);
    assert_int_equal(m->refcnt, 1);
    assert_memory_equal(m->data, "x", 1); /* still alive */
    wsh_msg_unref(m);                     /* freed: LeakSanitizer would see it otherwise */
}

static void test_msg_alt_is_released_with_its_msg(void **state)
{
    (void)state;
    wsh_msg_t *m = wsh_msg_new_copy("plain", 5);
    m->alt = wsh_msg_new_copy("deflated", 8);
    wsh_msg_t *alt = wsh_msg_ref(m->alt); /* a holder of the alt alone */
    wsh_msg_unref(m);                     /* drops m and its reference to alt */
    assert_int_equal(alt->refcnt, 1);
    assert_memory_equal(alt->data, "deflated", 8);
    wsh_msg_unref(alt);

    /* With no other holder, the alt goes with the msg. */
    m = wsh_msg_new_copy("a", 1);
    m->alt = wsh_msg_new_copy("b", 1);
    wsh_msg_ref(m);
    wsh_msg_unref(m);
    assert_int_equal(m->alt->refcnt, 1);
    wsh_msg_unref(m);
}

static void test_msg_try_new_refuses_lengths_over_uint32(void **state)
{
    (void)state;
    if (sizeof(size_t) <= 4)
        skip();
    assert_null(wsh_msg_try_new((size_t)UINT32_MAX + 1));
}

static void test_msg_try_new_returns_null_when_allocation_fails(void **state)
{
    (void)state;
    wsh_alloc_fail_nth(1);
    assert_null(wsh_msg_try_new(10));
    wsh_msg_t *m = wsh_msg_try_new(10); /* the fault fired once */
    assert_non_null(m);
    assert_int_equal(m->refcnt, 1);
    assert_int_equal(m->len, 10);
    assert_null(m->alt);
    wsh_msg_unref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_new_starts_with_one_reference),
        cmocka_unit_test(test_msg_new_copy_holds_a_copy),
        cmocka_unit_test(test_msg_new_copy_of_empty_payload),
        cmocka_unit_test(test_msg_ref_and_unref_count_holders),
        cmocka_unit_test(test_msg_alt_is_released_with_its_msg),
        cmocka_unit_test(test_msg_try_new_refuses_lengths_over_uint32),
        cmocka_unit_test(test_msg_try_new_returns_null_when_allocation_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
