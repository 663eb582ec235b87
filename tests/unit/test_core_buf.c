/* Unit tests for src/core/buf.c: lazy allocation, geometric growth, failed
 * growth leaving the buffer intact (fault injection), appendf and consume.
 * Not for the allocator itself. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"

static void test_buf_init_holds_no_memory(void **state)
{
    (void)state;
    wsh_buf_t b;
    memset(&b, 0x5a, sizeof b);
    wsh_buf_init(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    wsh_buf_dispose(&b); /* disposing an empty buffer is harmless */
    assert_null(b.data);
}

static void test_buf_append_zero_bytes_allocates_nothing(void **state)
{
    (void)state;
    wsh_buf_t b = {0};
    assert_int_equal(wsh_buf_append(&b, NULL, 0), 0);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void test_buf_append_copies_and_grows_geometrically(void **state)
{
    (void)state;
    wsh_buf_t b = {0};
    assert_int_equal(wsh_buf_append(&b, "abc", 3), 0);
    assert_non_null(b.data);
    assert_int_equal(b.len, 3);
    assert_int_equal(b.cap, 256); /* first allocation */
    assert_memory_equal(b.data, "abc", 3);
    uint8_t chunk[100];
    for (int i = 0; i < 100; i++)
        chunk[i] = (uint8_t)i;
    size_t caps_seen = 0, last_cap = b.cap;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(wsh_buf_append(&b, chunk, sizeof chunk), 0);
        if (b.cap != last_cap) {
            assert_int_equal(b.cap, last_cap * 2);
            last_cap = b.cap;
            caps_seen++;
        }
        assert_true(b.len <= b.cap);
    }
    assert_int_equal(b.len, 3 + 100 * 100);
    assert_true(caps_seen <= 6); /* 256 -> 16384: a handful of reallocs, not one per append */
    for (int i = 0; i < 100; i++)
        assert_memory_equal(b.data + 3 + (size_t)i * 100, chunk, 100);
    wsh_buf_dispose(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

static void test_buf_reserve_makes_room_without_changing_len(void **state)
{
    (void)state;
    wsh_buf_t b = {0};
    assert_int_equal(wsh_buf_reserve(&b, 1000), 0);
    assert_int_equal(b.len, 0);
    assert_true(b.cap >= 1000);
    uint8_t *p = b.data;
    size_t cap = b.cap;
    /* Room already there: no reallocation. */
    assert_int_equal(wsh_buf_reserve(&b, cap), 0);
    assert_ptr_equal(b.data, p);
    assert_int_equal(b.cap, cap);
    wsh_buf_dispose(&b);
}

static void test_buf_reserve_refuses_sizes_that_would_overflow(void **state)
{
    (void)state;
    wsh_buf_t b = {0};
    assert_int_equal(wsh_buf_append(&b, "x", 1), 0);
    assert_int_equal(wsh_buf_reserve(&b, SIZE_MAX), WSH_ENOMEM);
    assert_int_equal(wsh_buf_reserve(&b, SIZE_MAX / 2), WSH_ENOMEM);
    assert_int_equal(wsh_buf_append(&b, "y", SIZE_MAX - 1), WSH_ENOMEM);
    assert_int_equal(b.len, 1);
    assert_int_equal(b.data[0], 'x');
    wsh_buf_dispose(&b);
}

static void test_buf_failed_first_allocation_leaves_buffer_empty(void **state)
{
    (void)state;
    wsh_buf_t b = {0};
    wsh_alloc_fail_nth(1);
    assert_int_equal(wsh_buf_append(&b, "abc", 3), WSH_ENOMEM);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(wsh_buf_append(&b, "abc", 3), 0); /* the fault fired once */
    wsh_buf_dispose(&b);
}

static void test_buf_failed_growth_leaves_contents_unchanged(void **state)
{
    (void)state;
    wsh_buf_t b = {0};
    char big[300];
    memset(big, 'q', sizeof big);
    assert_int_equal(wsh_buf_append(&b, "hello", 5), 0);
    uint8_t *p = b.data;
    size_t cap = b.cap;
    wsh_alloc_fail_nth(1);
    assert_int_equal(wsh_buf_append(&b, big, sizeof big), WSH_ENOMEM);
    assert_ptr_equal(b.data, p);
    assert_int_equal(b.cap, cap);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "hello", 5);
    wsh_alloc_fail_nth(1);
    assert_int_equal(wsh_buf_appendf(&b, "%300s", "x"), WSH_ENOMEM);
    assert_int_equal(b.len, 5);
    wsh_alloc_fail_nth(0);
    wsh_buf_dispose(&b);
}

static void test_buf_appendf_formats_without_counting_the_nul(void **state)
{
    (void)state;
    wsh_buf_t b = {0};
    assert_int_equal(wsh_buf_appendf(&b, "%s=%d", "a", 42), 0);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "a=42", 4);
    assert_int_equal(wsh_buf_appendf(&b, ";%llu", (unsigned long long)UINT64_MAX), 0);
    assert_int_equal(b.len, 4 + 21);
    assert_memory_equal(b.data, "a=42;18446744073709551615", 25);
    assert_int_equal(wsh_buf_appendf(&b, "%s", ""), 0);
    assert_int_equal(b.len, 25);
    wsh_buf_dispose(&b);
}

static void test_buf_appendf_grows_when_output_exceeds_room(void **state)
{
    (void)state;
    wsh_buf_t b = {0};
    char fill[250];
    memset(fill, 'f', sizeof fill);
    assert_int_equal(wsh_buf_append(&b, fill, sizeof fill), 0);
    assert_int_equal(b.cap, 256);
    /* 6 bytes + the NUL do not fit in the 6 left: it must grow, not truncate. */
    assert_int_equal(wsh_buf_appendf(&b, "%06d", 123456), 0);
    assert_int_equal(b.len, 256);
    assert_memory_equal(b.data + 250, "123456", 6);
    assert_int_equal(wsh_buf_appendf(&b, "%1000d", 7), 0);
    assert_int_equal(b.len, 1256);
    assert_int_equal(b.data[1255], '7');
    assert_int_equal(b.data[256], ' ');
    wsh_buf_dispose(&b);
}

static void test_buf_consume_drops_prefix_and_keeps_rest(void **state)
{
    (void)state;
    wsh_buf_t b = {0};
    assert_int_equal(wsh_buf_append(&b, "0123456789", 10), 0);
    wsh_buf_consume(&b, 3);
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.data, "3456789", 7);
    wsh_buf_consume(&b, 0);
    assert_int_equal(b.len, 7);
    wsh_buf_consume(&b, 7);
    assert_int_equal(b.len, 0);
    assert_non_null(b.data); /* storage is kept for reuse */
    assert_int_equal(wsh_buf_append(&b, "ab", 2), 0);
    wsh_buf_consume(&b, 100); /* more than held: empties */
    assert_int_equal(b.len, 0);
    wsh_buf_dispose(&b);
    wsh_buf_consume(&b, 1); /* on an empty, unallocated buffer */
    assert_int_equal(b.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_init_holds_no_memory),
        cmocka_unit_test(test_buf_append_zero_bytes_allocates_nothing),
        cmocka_unit_test(test_buf_append_copies_and_grows_geometrically),
        cmocka_unit_test(test_buf_reserve_makes_room_without_changing_len),
        cmocka_unit_test(test_buf_reserve_refuses_sizes_that_would_overflow),
        cmocka_unit_test(test_buf_failed_first_allocation_leaves_buffer_empty),
        cmocka_unit_test(test_buf_failed_growth_leaves_contents_unchanged),
        cmocka_unit_test(test_buf_appendf_formats_without_counting_the_nul),
        cmocka_unit_test(test_buf_appendf_grows_when_output_exceeds_room),
        cmocka_unit_test(test_buf_consume_drops_prefix_and_keeps_rest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
