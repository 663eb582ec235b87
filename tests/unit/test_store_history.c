/* Unit tests for src/store/history.c, the one place offsets are assigned:
 * offsets start at 1 and grow by one per message on each channel
 * independently, records are found by exact name, epochs are 16 lowercase hex
 * characters chosen per process. Not for delivery (test_hub_fanout.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/msg.h"
#include "store/history.h"

static void assert_epoch_format(const char *e)
{
    assert_int_equal(strlen(e), WSH_EPOCH_LEN);
    for (size_t i = 0; i < WSH_EPOCH_LEN; i++) {
        char c = e[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            fail_msg("epoch %s: byte %zu is not lowercase hex", e, i);
    }
}

static void test_history_epoch_is_16_lowercase_hex(void **state)
{
    (void)state;
    wsh_history_t *h = wsh_history_new(false);
    assert_epoch_format(h->epoch);
    wsh_history_free(h);
}

static void test_history_each_instance_draws_a_new_epoch(void **state)
{
    (void)state;
    /* 64 random bits: equal epochs by chance are out of the question. */
    wsh_history_t *a = wsh_history_new(false);
    wsh_history_t *b = wsh_history_new(false);
    assert_string_not_equal(a->epoch, b->epoch);
    wsh_history_free(a);
    wsh_history_free(b);
}

static void test_history_find_returns_null_for_a_channel_never_published(void **state)
{
    (void)state;
    wsh_history_t *h = wsh_history_new(false);
    assert_null(wsh_history_find(h, "news", 4));
    wsh_history_append(h, "news", 4, 1);
    assert_null(wsh_history_find(h, "sports", 6));
    wsh_history_free(h);
}

static void test_history_first_offset_is_1_and_each_append_adds_one(void **state)
{
    (void)state;
    wsh_history_t *h = wsh_history_new(false);
    wsh_history_chan_t *c = wsh_history_append(h, "news", 4, 1000);
    assert_non_null(c);
    assert_int_equal(c->last_offset, 1);
    assert_int_equal(c->last_ts, 1000);
    for (uint64_t i = 2; i <= 100; i++) {
        wsh_history_chan_t *again = wsh_history_append(h, "news", 4, 1000 + i);
        assert_ptr_equal(again, c); /* one record per channel */
        assert_int_equal(again->last_offset, i);
        assert_int_equal(again->last_ts, 1000 + i);
    }
    assert_ptr_equal(wsh_history_find(h, "news", 4), c);
    assert_int_equal(c->name_len, 4);
    assert_string_equal(c->name, "news"); /* NUL-terminated copy */
    wsh_history_free(h);
}

static void test_history_channels_count_offsets_independently(void **state)
{
    (void)state;
    wsh_history_t *h = wsh_history_new(false);
    assert_int_equal(wsh_history_append(h, "a", 1, 1)->last_offset, 1);
    assert_int_equal(wsh_history_append(h, "b", 1, 2)->last_offset, 1);
    assert_int_equal(wsh_history_append(h, "a", 1, 3)->last_offset, 2);
    assert_int_equal(wsh_history_append(h, "a", 1, 4)->last_offset, 3);
    assert_int_equal(wsh_history_append(h, "c", 1, 5)->last_offset, 1);
    assert_int_equal(wsh_history_append(h, "b", 1, 6)->last_offset, 2);
    assert_int_equal(wsh_history_find(h, "a", 1)->last_offset, 3);
    assert_int_equal(wsh_history_find(h, "b", 1)->last_offset, 2);
    assert_int_equal(wsh_history_find(h, "c", 1)->last_offset, 1);
    assert_int_equal(wsh_history_find(h, "a", 1)->last_ts, 4);
    wsh_history_free(h);
}

static void test_history_names_match_by_exact_bytes_and_length(void **state)
{
    (void)state;
    wsh_history_t *h = wsh_history_new(false);
    wsh_history_append(h, "ab", 2, 1);
    /* A prefix, an extension and a different case are other channels. */
    assert_null(wsh_history_find(h, "a", 1));
    assert_null(wsh_history_find(h, "abc", 3));
    assert_null(wsh_history_find(h, "AB", 2));
    /* Only len bytes of the name count. */
    assert_non_null(wsh_history_find(h, "abc", 2));
    assert_int_equal(wsh_history_append(h, "abX", 2, 2)->last_offset, 2);
    assert_int_equal(wsh_history_append(h, "a", 1, 3)->last_offset, 1);
    assert_int_equal(wsh_history_append(h, "abc", 3, 4)->last_offset, 1);
    assert_int_equal(wsh_history_find(h, "ab", 2)->last_offset, 2);
    wsh_history_free(h);
}

static void test_history_channel_records_carry_the_process_epoch(void **state)
{
    (void)state;
    wsh_history_t *h = wsh_history_new(false);
    wsh_history_chan_t *a = wsh_history_append(h, "a", 1, 1);
    wsh_history_chan_t *b = wsh_history_append(h, "b/c:d@e.f-g_h", 13, 1);
    assert_epoch_format(a->epoch);
    assert_string_equal(a->epoch, h->epoch);
    assert_string_equal(b->epoch, h->epoch);
    wsh_history_free(h);
}

static void test_history_longest_names_are_kept_whole(void **state)
{
    (void)state;
    char name[256];
    memset(name, 'x', 255);
    name[255] = '\0';
    wsh_history_t *h = wsh_history_new(false);
    wsh_history_chan_t *c = wsh_history_append(h, name, 255, 1);
    assert_int_equal(c->name_len, 255);
    assert_memory_equal(c->name, name, 256);
    name[254] = 'y'; /* differs only in the last byte */
    assert_null(wsh_history_find(h, name, 255));
    wsh_history_free(h);
}

static void test_history_many_channels_keep_their_records_through_growth(void **state)
{
    (void)state;
    enum { N = 5000 };
    wsh_history_t *h = wsh_history_new(false);
    wsh_history_chan_t **recs = calloc(N, sizeof *recs);
    char name[32];
    for (int i = 0; i < N; i++) {
        int len = snprintf(name, sizeof name, "chan-%d", i);
        recs[i] = wsh_history_append(h, name, (size_t)len, (uint64_t)i);
        for (int k = 0; k < i % 3; k++)
            wsh_history_append(h, name, (size_t)len, (uint64_t)i);
    }
    for (int i = 0; i < N; i++) {
        int len = snprintf(name, sizeof name, "chan-%d", i);
        wsh_history_chan_t *c = wsh_history_find(h, name, (size_t)len);
        assert_ptr_equal(c, recs[i]); /* records never move */
        assert_int_equal(c->last_offset, 1 + i % 3);
    }
    free(recs);
    wsh_history_free(h); /* every record freed: LeakSanitizer checks */
}

/* With a journal, offsets are numbered at publish and committed later, in
 * batches: commit records each message under its own offset (not the
 * channel's latest number), snapshots follow commits, and a hole left by a
 * failed commit does not shift the replay position. */
static void test_history_commit_keeps_each_offset_and_trails_numbering(void **state)
{
    (void)state;
    wsh_history_t *h = wsh_history_new(false);
    wsh_history_limits_t keep = {100, 0};
    wsh_history_set_limits(h, &keep);
    wsh_history_chan_t *c = wsh_history_get(h, "j", 1);
    for (int i = 0; i < 5; i++)
        c->last_offset++; /* five numbered, none committed */
    uint64_t offs[] = {1, 2, 4}; /* 3 failed to commit */
    for (size_t i = 0; i < 3; i++) {
        wsh_msg_t *m = wsh_msg_new_copy("x", 1);
        wsh_history_commit(h, c, m, offs[i], 100 + i);
        wsh_msg_unref(m);
    }
    assert_int_equal(c->last_offset, 5);
    assert_int_equal(c->committed_offset, 4);
    assert_int_equal(c->ring_cnt, 3);
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(wsh_history_at(c, i)->offset, offs[i]);
    assert_int_equal(wsh_history_first_after(c, 0), 0);
    assert_int_equal(wsh_history_first_after(c, 1), 1);
    assert_int_equal(wsh_history_first_after(c, 2), 2); /* next is 4, across the hole */
    assert_int_equal(wsh_history_first_after(c, 3), 2);
    assert_int_equal(wsh_history_first_after(c, 4), 3);
    assert_true(wsh_history_covers(c, 4));
    assert_false(wsh_history_covers(c, 5)); /* numbered, not committed: nobody saw it */
    wsh_history_free(h);
}

static void test_history_free_accepts_null(void **state)
{
    (void)state;
    wsh_history_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_history_epoch_is_16_lowercase_hex),
        cmocka_unit_test(test_history_each_instance_draws_a_new_epoch),
        cmocka_unit_test(test_history_find_returns_null_for_a_channel_never_published),
        cmocka_unit_test(test_history_first_offset_is_1_and_each_append_adds_one),
        cmocka_unit_test(test_history_channels_count_offsets_independently),
        cmocka_unit_test(test_history_names_match_by_exact_bytes_and_length),
        cmocka_unit_test(test_history_channel_records_carry_the_process_epoch),
        cmocka_unit_test(test_history_longest_names_are_kept_whole),
        cmocka_unit_test(test_history_many_channels_keep_their_records_through_growth),
        cmocka_unit_test(test_history_commit_keeps_each_offset_and_trails_numbering),
        cmocka_unit_test(test_history_free_accepts_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
