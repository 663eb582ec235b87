/* Unit tests for src/obs/metrics.c: the Prometheus text exposition names
 * every metric with HELP and TYPE, sums the blocks of all registered threads,
 * counts closes by code (unknown codes as "other") and renders the latency
 * histogram with cumulative, inclusive buckets. Metrics are process-global,
 * so each test compares scrapes before and after. Not for where the server
 * counts (integration tests). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "obs/metrics.h"

/* A scrape as a NUL-terminated string; free() it. */
static char *scrape(void)
{
    wsh_buf_t b;
    wsh_buf_init(&b);
    assert_int_equal(wsh_metrics_render(&b), 0);
    assert_int_equal(wsh_buf_append(&b, "", 1), 0);
    return (char *)b.data;
}

/* The value of the sample line that starts with series (name plus labels). */
static double value_of(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; *line; line = strchr(line, '\n') + 1) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        if (!strchr(line, '\n'))
            break;
    }
    fail_msg("no sample %s in:\n%s", series, text);
    return -1;
}

static uint64_t counter_of(const char *text, const char *series)
{
    return (uint64_t)value_of(text, series);
}

static const char *const simple_names[][2] = {
    {"wshub_connections", "gauge"},
    {"wshub_connections_total", "counter"},
    {"wshub_clients", "gauge"},
    {"wshub_clients_total", "counter"},
    {"wshub_subscriptions", "gauge"},
    {"wshub_channels", "gauge"},
    {"wshub_messages_published_total", "counter"},
    {"wshub_messages_delivered_total", "counter"},
    {"wshub_bytes_received_total", "counter"},
    {"wshub_bytes_sent_total", "counter"},
    {"wshub_slow_consumer_closes_total", "counter"},
    {"wshub_http_requests_total", "counter"},
    {"wshub_http_errors_total", "counter"},
    {"wshub_dead_letters_total", "counter"},
    {"wshub_presence_entries", "gauge"},
    {"wshub_presence_refused_total", "counter"},
    {"wshub_deflate_in_bytes_total", "counter"},
    {"wshub_deflate_out_bytes_total", "counter"},
    {"wshub_inflate_in_bytes_total", "counter"},
    {"wshub_inflate_out_bytes_total", "counter"},
};

static void test_metrics_render_names_every_metric_with_help_and_type(void **state)
{
    (void)state;
    char *t = scrape();
    char want[256];
    for (size_t i = 0; i < sizeof simple_names / sizeof simple_names[0]; i++) {
        snprintf(want, sizeof want, "# HELP %s ", simple_names[i][0]);
        if (!strstr(t, want))
            fail_msg("missing %s", want);
        snprintf(want, sizeof want, "# TYPE %s %s\n", simple_names[i][0], simple_names[i][1]);
        if (!strstr(t, want))
            fail_msg("missing %s", want);
        value_of(t, simple_names[i][0]);
    }
    assert_non_null(strstr(t, "# TYPE wshub_ws_closes_total counter\n"));
    assert_non_null(strstr(t, "# TYPE wshub_publish_write_latency_seconds histogram\n"));
    value_of(t, "wshub_ws_closes_total{code=\"4008\"}");
    value_of(t, "wshub_ws_closes_total{code=\"other\"}");
    value_of(t, "wshub_publish_write_latency_seconds_bucket{le=\"+Inf\"}");
    value_of(t, "wshub_publish_write_latency_seconds_sum");
    value_of(t, "wshub_publish_write_latency_seconds_count");
    free(t);
}

/* Exposition format 0.0.4: every line is a comment or `series value`, and
 * the text ends with a newline. */
static void test_metrics_render_is_well_formed_text(void **state)
{
    (void)state;
    char *t = scrape();
    size_t len = strlen(t);
    assert_true(len > 0);
    assert_int_equal(t[len - 1], '\n');
    int samples = 0;
    for (char *line = t; *line; line = strchr(line, '\n') + 1) {
        char *end = strchr(line, '\n');
        assert_non_null(end);
        if (line[0] == '#') {
            assert_true(strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0);
            continue;
        }
        assert_true(strncmp(line, "wshub_", 6) == 0);
        char *sp = memchr(line, ' ', (size_t)(end - line));
        assert_non_null(sp);
        char *num_end;
        strtod(sp + 1, &num_end);
        assert_ptr_equal(num_end, end); /* exactly one number after the series */
        samples++;
    }
    /* 20 simple metrics (with dead letters, the two of presence and the
     * four deflate byte counters), 14 close codes, 16 buckets, sum and
     * count. */
    assert_int_equal(samples, 20 + 14 + 16 + 2);
    free(t);
}

static void test_metrics_counters_move_by_what_was_added(void **state)
{
    (void)state;
    char *before = scrape();
    WSH_METRIC_ADD(published, 3);
    WSH_METRIC_ADD(delivered, 30);
    WSH_METRIC_INC(subscriptions);
    WSH_METRIC_INC(subscriptions);
    WSH_METRIC_DEC(subscriptions);
    WSH_METRIC_INC(slow_closes);
    char *after = scrape();
    assert_int_equal(counter_of(after, "wshub_messages_published_total"),
                     counter_of(before, "wshub_messages_published_total") + 3);
    assert_int_equal(counter_of(after, "wshub_messages_delivered_total"),
                     counter_of(before, "wshub_messages_delivered_total") + 30);
    assert_int_equal(counter_of(after, "wshub_subscriptions"), counter_of(before, "wshub_subscriptions") + 1);
    assert_int_equal(counter_of(after, "wshub_slow_consumer_closes_total"),
                     counter_of(before, "wshub_slow_consumer_closes_total") + 1);
    assert_int_equal(counter_of(after, "wshub_channels"), counter_of(before, "wshub_channels"));
    WSH_METRIC_DEC(subscriptions);
    free(before);
    free(after);
}

/* Runs on its own thread (no cmocka asserts here: they cannot unwind across
 * threads); reports whether registering made its block current. */
static void *other_thread(void *arg)
{
    bool *is_current = arg;
    wsh_metrics_t *m = wsh_metrics_register();
    *is_current = wsh_metrics_tls == m;
    WSH_METRIC_ADD(published, 5);
    WSH_METRIC_INC(clients_open);
    wsh_metrics_count_close(1001);
    return NULL;
}

static void test_metrics_render_sums_every_registered_thread(void **state)
{
    (void)state;
    char *before = scrape();
    WSH_METRIC_ADD(published, 2);
    pthread_t th;
    bool is_current = false;
    assert_int_equal(pthread_create(&th, NULL, other_thread, &is_current), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(is_current);
    char *after = scrape();
    assert_int_equal(counter_of(after, "wshub_messages_published_total"),
                     counter_of(before, "wshub_messages_published_total") + 7);
    assert_int_equal(counter_of(after, "wshub_clients"), counter_of(before, "wshub_clients") + 1);
    assert_int_equal(counter_of(after, "wshub_ws_closes_total{code=\"1001\"}"),
                     counter_of(before, "wshub_ws_closes_total{code=\"1001\"}") + 1);
    free(before);
    free(after);
}

static void test_metrics_count_close_by_code_with_unknown_codes_as_other(void **state)
{
    (void)state;
    static const unsigned known[] = {1000, 1001, 1002, 1003, 1006, 1007, 1008, 1009, 1011, 1013, 4001, 4008, 4029};
    char *before = scrape();
    wsh_metrics_count_close(4008);
    wsh_metrics_count_close(4008);
    wsh_metrics_count_close(1000);
    wsh_metrics_count_close(1234);
    wsh_metrics_count_close(4999);
    wsh_metrics_count_close(0);
    char *after = scrape();
    char series[64];
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        snprintf(series, sizeof series, "wshub_ws_closes_total{code=\"%u\"}", known[i]);
        uint64_t want = known[i] == 4008 ? 2 : known[i] == 1000 ? 1 : 0;
        assert_int_equal(counter_of(after, series), counter_of(before, series) + want);
    }
    assert_int_equal(counter_of(after, "wshub_ws_closes_total{code=\"other\"}"),
                     counter_of(before, "wshub_ws_closes_total{code=\"other\"}") + 3);
    /* Codes not in the table get no series of their own. */
    assert_null(strstr(after, "code=\"1234\""));
    free(before);
    free(after);
}

typedef struct bucket {
    double le;
    uint64_t cnt;
} bucket_t;

/* The histogram's buckets in text order. Returns how many. */
static size_t buckets_of(const char *text, bucket_t *out, size_t cap)
{
    static const char prefix[] = "wshub_publish_write_latency_seconds_bucket{le=\"";
    size_t n = 0;
    for (const char *p = strstr(text, prefix); p; p = strstr(p + 1, prefix)) {
        assert_true(n < cap);
        const char *le = p + sizeof prefix - 1;
        out[n].le = strncmp(le, "+Inf", 4) == 0 ? INFINITY : strtod(le, NULL);
        const char *sp = strstr(le, "} ");
        assert_non_null(sp);
        out[n].cnt = strtoull(sp + 2, NULL, 10);
        n++;
    }
    return n;
}

/* The count in the bucket with upper bound le (seconds). */
static uint64_t bucket_at(const bucket_t *b, size_t n, double le)
{
    for (size_t i = 0; i < n; i++)
        if (isinf(le) ? isinf(b[i].le) : fabs(b[i].le - le) < le * 1e-9)
            return b[i].cnt;
    fail_msg("no bucket le=%g", le);
    return 0;
}

static void test_metrics_latency_histogram_buckets_are_cumulative_and_inclusive(void **state)
{
    (void)state;
    char *t0 = scrape();
    bucket_t b0[32], b1[32];
    size_t n0 = buckets_of(t0, b0, 32);
    assert_int_equal(n0, WSH_METRICS_LAT_BUCKETS + 1);
    double sum0 = value_of(t0, "wshub_publish_write_latency_seconds_sum");
    uint64_t cnt0 = counter_of(t0, "wshub_publish_write_latency_seconds_count");

    wsh_metrics_observe_latency_ns(10 * 1000ull);      /* 10 us */
    wsh_metrics_observe_latency_ns(50 * 1000ull);      /* exactly 50 us: le is inclusive */
    wsh_metrics_observe_latency_ns(60 * 1000ull);      /* 60 us */
    wsh_metrics_observe_latency_ns(2 * 1000 * 1000ull); /* 2 ms */
    wsh_metrics_observe_latency_ns(10ull * 1000 * 1000 * 1000); /* 10 s: past every bound */

    char *t1 = scrape();
    size_t n1 = buckets_of(t1, b1, 32);
    assert_int_equal(n1, n0);
    /* Bounds ascend, end with +Inf, and counts never decrease. */
    for (size_t i = 1; i < n1; i++) {
        assert_true(b1[i].le > b1[i - 1].le);
        assert_true(b1[i].cnt >= b1[i - 1].cnt);
    }
    assert_true(isinf(b1[n1 - 1].le));
    uint64_t d;
    d = bucket_at(b1, n1, 50e-6) - bucket_at(b0, n0, 50e-6);
    assert_int_equal(d, 2);
    d = bucket_at(b1, n1, 100e-6) - bucket_at(b0, n0, 100e-6);
    assert_int_equal(d, 3);
    d = bucket_at(b1, n1, 1e-3) - bucket_at(b0, n0, 1e-3);
    assert_int_equal(d, 3);
    d = bucket_at(b1, n1, 2.5e-3) - bucket_at(b0, n0, 2.5e-3);
    assert_int_equal(d, 4);
    d = bucket_at(b1, n1, 5.0) - bucket_at(b0, n0, 5.0);
    assert_int_equal(d, 4);
    d = bucket_at(b1, n1, INFINITY) - bucket_at(b0, n0, INFINITY);
    assert_int_equal(d, 5);
    /* +Inf equals _count. */
    uint64_t cnt1 = counter_of(t1, "wshub_publish_write_latency_seconds_count");
    assert_int_equal(cnt1 - cnt0, 5);
    assert_int_equal(bucket_at(b1, n1, INFINITY), cnt1);
    double sum1 = value_of(t1, "wshub_publish_write_latency_seconds_sum");
    assert_true(fabs((sum1 - sum0) - (10e-6 + 50e-6 + 60e-6 + 2e-3 + 10.0)) < 1e-5);
    free(t0);
    free(t1);
}

int main(void)
{
    wsh_metrics_register();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_render_names_every_metric_with_help_and_type),
        cmocka_unit_test(test_metrics_render_is_well_formed_text),
        cmocka_unit_test(test_metrics_counters_move_by_what_was_added),
        cmocka_unit_test(test_metrics_render_sums_every_registered_thread),
        cmocka_unit_test(test_metrics_count_close_by_code_with_unknown_codes_as_other),
        cmocka_unit_test(test_metrics_latency_histogram_buckets_are_cumulative_and_inclusive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
