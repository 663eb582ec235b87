/* Unit tests for the bench's measurements: the log-linear latency histogram
 * (bench_stats.c), the /proc parsers for server RSS and CPU (bench_proc.c),
 * and how a delivery's send stamp is written and found again
 * (wsh_bench_build_payload / wsh_bench_find_t in bench_client.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_client.h"
#include "bench/bench_proc.h"
#include "bench/bench_stats.h"
#include "core/err.h"

#define US 1000ull
#define MS 1000000ull
#define S 1000000000ull

static wsh_bench_hist_t *new_hist(void)
{
    wsh_bench_hist_t *h = malloc(sizeof *h);
    assert_non_null(h);
    wsh_bench_hist_init(h);
    return h;
}

/* ---- histogram buckets ---- */

static void test_hist_values_below_256ns_have_their_own_bucket(void **state)
{
    (void)state;
    for (uint64_t v = 0; v < 256; v++) {
        uint32_t i = wsh_bench_hist_index(v);
        assert_int_equal(i, v);
        assert_int_equal(wsh_bench_hist_bucket_low(i), v);
        assert_int_equal(wsh_bench_hist_bucket_high(i), v);
    }
}

static void test_hist_buckets_tile_the_range_without_gaps(void **state)
{
    (void)state;
    assert_int_equal(wsh_bench_hist_bucket_low(0), 0);
    for (uint32_t i = 0; i + 1 < WSH_BENCH_HIST_BUCKETS; i++) {
        assert_int_equal(wsh_bench_hist_bucket_low(i + 1), wsh_bench_hist_bucket_high(i) + 1);
        assert_int_equal(wsh_bench_hist_index(wsh_bench_hist_bucket_low(i)), i);
        assert_int_equal(wsh_bench_hist_index(wsh_bench_hist_bucket_high(i)), i);
    }
    assert_int_equal(wsh_bench_hist_bucket_high(WSH_BENCH_HIST_BUCKETS - 1), WSH_BENCH_HIST_HIGHEST);
    assert_int_equal(wsh_bench_hist_index(WSH_BENCH_HIST_HIGHEST), WSH_BENCH_HIST_BUCKETS - 1);
}

static void test_hist_bucket_width_is_under_one_percent_of_its_values(void **state)
{
    (void)state;
    for (uint32_t i = WSH_BENCH_HIST_LINEAR; i < WSH_BENCH_HIST_BUCKETS; i++) {
        uint64_t low = wsh_bench_hist_bucket_low(i), high = wsh_bench_hist_bucket_high(i);
        /* Any value reported for this bucket (its high end) overstates the
         * smallest value in it by less than 1/128. */
        assert_true((double)(high - low) / (double)low < 1.0 / 128.0);
    }
}

static void test_hist_covers_one_microsecond_to_sixty_seconds(void **state)
{
    (void)state;
    const uint64_t vals[] = {1 * US, 17 * US, 250 * US, 3 * MS, 999 * MS, 60 * S};
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
        uint32_t i = wsh_bench_hist_index(vals[k]);
        assert_true(i < WSH_BENCH_HIST_BUCKETS - 1 || vals[k] == 60 * S);
        assert_true(wsh_bench_hist_bucket_low(i) <= vals[k]);
        assert_true(wsh_bench_hist_bucket_high(i) >= vals[k]);
    }
}

/* ---- recording and quantiles ---- */

static void test_hist_empty_reports_zero(void **state)
{
    (void)state;
    wsh_bench_hist_t *h = new_hist();
    assert_int_equal(h->cnt, 0);
    assert_int_equal(wsh_bench_hist_percentile(h, 0.5), 0);
    assert_int_equal(wsh_bench_hist_percentile(h, 1.0), 0);
    assert_true(wsh_bench_hist_mean(h) == 0.0);
    free(h);
}

static void test_hist_single_sample_is_every_percentile(void **state)
{
    (void)state;
    wsh_bench_hist_t *h = new_hist();
    wsh_bench_hist_record(h, 123456);
    const double qs[] = {0.0, 0.5, 0.9, 0.99, 0.999, 1.0};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
        assert_int_equal(wsh_bench_hist_percentile(h, qs[i]), 123456);
    assert_int_equal(h->min, 123456);
    assert_int_equal(h->max, 123456);
    free(h);
}

static void test_hist_percentiles_of_uniform_1_to_10000_us_are_within_one_percent(void **state)
{
    (void)state;
    wsh_bench_hist_t *h = new_hist();
    for (uint64_t v = 1; v <= 10000; v++)
        wsh_bench_hist_record(h, v * US);
    assert_int_equal(h->cnt, 10000);
    const struct { double q; uint64_t want; } cases[] = {
        {0.50, 5000 * US}, {0.90, 9000 * US}, {0.99, 9900 * US}, {0.999, 9990 * US},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t got = wsh_bench_hist_percentile(h, cases[i].q);
        assert_true(got >= cases[i].want);
        assert_true((double)got <= (double)cases[i].want * 1.01);
    }
    assert_int_equal(wsh_bench_hist_percentile(h, 1.0), 10000 * US);
    assert_true(wsh_bench_hist_mean(h) > 5000.4 * US && wsh_bench_hist_mean(h) < 5000.6 * US);
    free(h);
}

static void test_hist_percentiles_are_ordered_and_bounded_by_max(void **state)
{
    (void)state;
    wsh_bench_hist_t *h = new_hist();
    /* A long-tailed mix: mostly tens of microseconds, a few milliseconds,
     * one outlier of seconds. */
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t v = 20 * US + x % (40 * US);
        if (i % 1000 == 0)
            v = 2 * MS + x % (8 * MS);
        wsh_bench_hist_record(h, v);
    }
    wsh_bench_hist_record(h, 3 * S + 7);
    uint64_t p50 = wsh_bench_hist_percentile(h, 0.5), p90 = wsh_bench_hist_percentile(h, 0.9),
             p99 = wsh_bench_hist_percentile(h, 0.99), p999 = wsh_bench_hist_percentile(h, 0.999),
             max = wsh_bench_hist_percentile(h, 1.0);
    assert_true(h->min <= p50);
    assert_true(p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= max);
    assert_int_equal(max, 3 * S + 7);
    assert_int_equal(h->max, 3 * S + 7);
    assert_true(p50 >= 20 * US && p50 <= 61 * US);
    assert_true(p999 >= 2 * MS); /* the 1-in-1000 slow ones are the tail */
    free(h);
}

static void test_hist_percentile_rank_rounds_up_like_hdrhistogram(void **state)
{
    (void)state;
    wsh_bench_hist_t *h = new_hist();
    wsh_bench_hist_record(h, 100);
    wsh_bench_hist_record(h, 200);
    /* ceil(0.5 * 2) = rank 1: the smaller sample; anything above is rank 2. */
    assert_int_equal(wsh_bench_hist_percentile(h, 0.5), 100);
    assert_int_equal(wsh_bench_hist_percentile(h, 0.51), 200);
    assert_int_equal(wsh_bench_hist_percentile(h, 0.0), 100);
    free(h);
}

static void test_hist_clamps_values_above_the_range_and_keeps_the_true_max(void **state)
{
    (void)state;
    wsh_bench_hist_t *h = new_hist();
    wsh_bench_hist_record(h, 10 * US);
    wsh_bench_hist_record(h, 500 * S);
    assert_int_equal(h->clamped, 1);
    assert_int_equal(h->buckets[WSH_BENCH_HIST_BUCKETS - 1], 1);
    assert_int_equal(h->max, 500 * S);
    assert_int_equal(wsh_bench_hist_percentile(h, 1.0), 500 * S);
    /* The clamped sample's bucket tops out at the range, below its value. */
    assert_int_equal(wsh_bench_hist_percentile(h, 0.99), WSH_BENCH_HIST_HIGHEST);
    free(h);
}

static void test_hist_merge_equals_recording_into_one(void **state)
{
    (void)state;
    wsh_bench_hist_t *a = new_hist(), *b = new_hist(), *all = new_hist();
    for (uint64_t v = 1; v < 5000; v++) {
        wsh_bench_hist_t *half = v % 2 ? a : b;
        wsh_bench_hist_record(half, v * 997);
        wsh_bench_hist_record(all, v * 997);
    }
    wsh_bench_hist_merge(a, b);
    assert_int_equal(a->cnt, all->cnt);
    assert_int_equal(a->min, all->min);
    assert_int_equal(a->max, all->max);
    assert_int_equal(a->sum, all->sum);
    assert_memory_equal(a->buckets, all->buckets, sizeof a->buckets);
    wsh_bench_hist_t *empty = new_hist();
    wsh_bench_hist_merge(a, empty); /* merging nothing changes nothing */
    assert_int_equal(a->min, all->min);
    free(a);
    free(b);
    free(all);
    free(empty);
}

static void test_hist_init_empties_a_used_histogram(void **state)
{
    (void)state;
    wsh_bench_hist_t *h = new_hist();
    for (uint64_t v = 0; v < 1000; v++)
        wsh_bench_hist_record(h, v * 1013);
    wsh_bench_hist_init(h);
    assert_int_equal(h->cnt, 0);
    assert_int_equal(h->max, 0);
    for (uint32_t i = 0; i < WSH_BENCH_HIST_BUCKETS; i++)
        assert_int_equal(h->buckets[i], 0);
    wsh_bench_hist_record(h, 42);
    assert_int_equal(h->min, 42);
    free(h);
}

/* ---- /proc parsers ---- */

static const char status_text[] = "Name:\twshub\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t   20000 kB\n"
                                  "VmRSS:\t    7040 kB\nRssAnon:\t    1000 kB\nThreads:\t1\n";

static void test_proc_reads_vmrss_in_bytes(void **state)
{
    (void)state;
    uint64_t rss = 0;
    assert_int_equal(wsh_bench_proc_parse_rss(status_text, strlen(status_text), &rss), 0);
    assert_int_equal(rss, 7040ull * 1024);
}

static void test_proc_rss_without_vmrss_line_is_an_error(void **state)
{
    (void)state;
    /* Kernel threads have no VmRSS; RssAnon must not be mistaken for it. */
    static const char kthread[] = "Name:\tkthreadd\nState:\tS (sleeping)\nRssAnon:\t0 kB\n";
    uint64_t rss = 99;
    assert_int_equal(wsh_bench_proc_parse_rss(kthread, strlen(kthread), &rss), WSH_EBADREQ);
    assert_int_equal(rss, 99);
    static const char bad[] = "VmRSS:\t  lots kB\n";
    assert_int_equal(wsh_bench_proc_parse_rss(bad, strlen(bad), &rss), WSH_EBADREQ);
    static const char no_unit[] = "VmRSS:\t  12\n";
    assert_int_equal(wsh_bench_proc_parse_rss(no_unit, strlen(no_unit), &rss), WSH_EBADREQ);
}

static void test_proc_cpu_is_utime_plus_stime(void **state)
{
    (void)state;
    /* Fields: pid (comm) state ppid pgrp session tty tpgid flags minflt
     * cminflt majflt cmajflt utime stime ... */
    static const char stat[] = "4242 (wshub) R 1 4242 4242 0 -1 4194560 350 0 0 0 1234 567 0 0 20 0 1 0 99 1 2\n";
    uint64_t ticks = 0;
    assert_int_equal(wsh_bench_proc_parse_cpu_ticks(stat, strlen(stat), &ticks), 0);
    assert_int_equal(ticks, 1234 + 567);
}

static void test_proc_cpu_counts_fields_after_the_last_parenthesis(void **state)
{
    (void)state;
    /* A command name may hold spaces and ')' itself. */
    static const char stat[] = "77 (we ird) R (x)) S 1 77 77 0 -1 0 1 2 3 4 10 20 0 0 20 0 1 0 99 1 2\n";
    uint64_t ticks = 0;
    assert_int_equal(wsh_bench_proc_parse_cpu_ticks(stat, strlen(stat), &ticks), 0);
    assert_int_equal(ticks, 30);
}

static void test_proc_cpu_rejects_truncated_or_garbled_stat(void **state)
{
    (void)state;
    uint64_t ticks = 5;
    static const char short_stat[] = "4242 (wshub) R 1 4242 4242 0 -1 4194560 350 0 0 0 1234";
    assert_int_equal(wsh_bench_proc_parse_cpu_ticks(short_stat, strlen(short_stat), &ticks), WSH_EBADREQ);
    static const char no_paren[] = "4242 wshub R 1 2 3";
    assert_int_equal(wsh_bench_proc_parse_cpu_ticks(no_paren, strlen(no_paren), &ticks), WSH_EBADREQ);
    static const char letters[] = "1 (a) R 1 1 1 0 -1 0 1 2 3 4 x y 0\n";
    assert_int_equal(wsh_bench_proc_parse_cpu_ticks(letters, strlen(letters), &ticks), WSH_EBADREQ);
    assert_int_equal(ticks, 5);
}

static void test_proc_reads_this_process(void **state)
{
    (void)state;
    uint64_t rss = 0;
    assert_int_equal(wsh_bench_proc_rss(getpid(), &rss), 0);
    assert_true(rss > 64 * 1024);
    double cpu = -1;
    assert_int_equal(wsh_bench_proc_cpu_s(getpid(), &cpu), 0);
    assert_true(cpu >= 0.0);
    assert_true(wsh_bench_proc_self_maxrss() >= rss / 2);
}

static void test_proc_missing_process_is_enoent(void **state)
{
    (void)state;
    uint64_t rss;
    double cpu;
    /* Above the largest pid_max Linux allows (2^22), so it cannot exist. */
    pid_t none = (pid_t)(1 << 30);
    assert_int_equal(wsh_bench_proc_rss(none, &rss), -ENOENT);
    assert_int_equal(wsh_bench_proc_cpu_s(none, &cpu), -ENOENT);
}

/* ---- the send stamp in each payload ---- */

static void test_payload_is_exactly_the_requested_size(void **state)
{
    (void)state;
    uint8_t buf[256];
    for (size_t len = 40; len <= 200; len += 7) {
        memset(buf, 0, sizeof buf);
        size_t n = wsh_bench_build_payload(buf, len, 123456789012345ull);
        assert_int_equal(n, len);
        assert_memory_equal(buf, "{\"t\":123456789012345,\"p\":\"x", 27);
        assert_memory_equal(buf + len - 2, "\"}", 2);
        assert_int_equal(buf[len], 0); /* nothing written past it */
        uint64_t t = 0;
        assert_int_equal(wsh_bench_find_t(buf, n, &t), 0);
        assert_int_equal(t, 123456789012345ull);
    }
}

static void test_payload_too_small_for_the_stamp_grows_to_fit(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = wsh_bench_build_payload(buf, 32, UINT64_MAX);
    /* 13 bytes of syntax + 20 digits, no padding. */
    assert_int_equal(n, 33);
    assert_memory_equal(buf, "{\"t\":18446744073709551615,\"p\":\"\"}", 33);
}

static void test_find_t_reads_the_stamp_inside_a_wshub_message(void **state)
{
    (void)state;
    static const char msg[] = "{\"type\":\"message\",\"channel\":\"bench.3\",\"offset\":17,\"ts\":1700000000000,"
                              "\"data\":{\"t\":987654321,\"p\":\"xxxx\"}}";
    uint64_t t = 0;
    assert_int_equal(wsh_bench_find_t((const uint8_t *)msg, strlen(msg), &t), 0);
    assert_int_equal(t, 987654321);
}

static void test_find_t_reads_a_raw_nchan_body(void **state)
{
    (void)state;
    static const char body[] = "{\"t\":5550001,\"p\":\"xx\"}";
    uint64_t t = 0;
    assert_int_equal(wsh_bench_find_t((const uint8_t *)body, strlen(body), &t), 0);
    assert_int_equal(t, 5550001);
}

static void test_find_t_refuses_a_cut_or_missing_stamp(void **state)
{
    (void)state;
    uint64_t t = 7;
    /* The prefix ends inside the number: reading it would give a wrong time. */
    static const char cut[] = "{\"type\":\"message\",\"data\":{\"t\":98765";
    assert_int_equal(wsh_bench_find_t((const uint8_t *)cut, strlen(cut), &t), -1);
    /* "ts" of the envelope is not "t". */
    static const char none[] = "{\"type\":\"message\",\"ts\":12,\"data\":{\"x\":1}}";
    assert_int_equal(wsh_bench_find_t((const uint8_t *)none, strlen(none), &t), -1);
    static const char empty[] = "{\"t\":,\"p\":\"\"}";
    assert_int_equal(wsh_bench_find_t((const uint8_t *)empty, strlen(empty), &t), -1);
    static const char huge[] = "{\"t\":123456789012345678901,\"p\":\"\"}";
    assert_int_equal(wsh_bench_find_t((const uint8_t *)huge, strlen(huge), &t), -1);
    assert_int_equal(t, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_values_below_256ns_have_their_own_bucket),
        cmocka_unit_test(test_hist_buckets_tile_the_range_without_gaps),
        cmocka_unit_test(test_hist_bucket_width_is_under_one_percent_of_its_values),
        cmocka_unit_test(test_hist_covers_one_microsecond_to_sixty_seconds),
        cmocka_unit_test(test_hist_empty_reports_zero),
        cmocka_unit_test(test_hist_single_sample_is_every_percentile),
        cmocka_unit_test(test_hist_percentiles_of_uniform_1_to_10000_us_are_within_one_percent),
        cmocka_unit_test(test_hist_percentiles_are_ordered_and_bounded_by_max),
        cmocka_unit_test(test_hist_percentile_rank_rounds_up_like_hdrhistogram),
        cmocka_unit_test(test_hist_clamps_values_above_the_range_and_keeps_the_true_max),
        cmocka_unit_test(test_hist_merge_equals_recording_into_one),
        cmocka_unit_test(test_hist_init_empties_a_used_histogram),
        cmocka_unit_test(test_proc_reads_vmrss_in_bytes),
        cmocka_unit_test(test_proc_rss_without_vmrss_line_is_an_error),
        cmocka_unit_test(test_proc_cpu_is_utime_plus_stime),
        cmocka_unit_test(test_proc_cpu_counts_fields_after_the_last_parenthesis),
        cmocka_unit_test(test_proc_cpu_rejects_truncated_or_garbled_stat),
        cmocka_unit_test(test_proc_reads_this_process),
        cmocka_unit_test(test_proc_missing_process_is_enoent),
        cmocka_unit_test(test_payload_is_exactly_the_requested_size),
        cmocka_unit_test(test_payload_too_small_for_the_stamp_grows_to_fit),
        cmocka_unit_test(test_find_t_reads_the_stamp_inside_a_wshub_message),
        cmocka_unit_test(test_find_t_reads_a_raw_nchan_body),
        cmocka_unit_test(test_find_t_refuses_a_cut_or_missing_stamp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
