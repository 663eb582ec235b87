/* Unit tests for src/net/iplimit.c: the per-address connection cap, the
 * handshake bucket with its Retry-After, IPv4-mapped addresses counting as
 * IPv4, forgetting idle addresses, and one table used by several threads
 * (the workers share it). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "net/iplimit.h"

static struct sockaddr_in v4(const char *ip)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static struct sockaddr_in6 v6(const char *ip)
{
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    inet_pton(AF_INET6, ip, &a.sin6_addr);
    return a;
}

static void test_nothing_to_enforce_is_null_and_allows_all(void **state)
{
    (void)state;
    wsh_iplimit_opts_t o = {0, 0, 0};
    wsh_iplimit_t *l = wsh_iplimit_new(&o);
    assert_null(l);
    struct sockaddr_in a = v4("10.0.0.1");
    assert_true(wsh_iplimit_open(l, (struct sockaddr *)&a));
    assert_int_equal(wsh_iplimit_handshake(l, (struct sockaddr *)&a, 0), 0);
    wsh_iplimit_close(l, (struct sockaddr *)&a, 0);
    wsh_iplimit_free(l);
}

static void test_connection_cap_per_address(void **state)
{
    (void)state;
    wsh_iplimit_opts_t o = {2, 0, 0};
    wsh_iplimit_t *l = wsh_iplimit_new(&o);
    struct sockaddr_in a = v4("10.0.0.1"), b = v4("10.0.0.2");
    struct sockaddr_in6 mapped = v6("::ffff:10.0.0.1");
    assert_true(wsh_iplimit_open(l, (struct sockaddr *)&a));
    assert_true(wsh_iplimit_open(l, (struct sockaddr *)&mapped));
    assert_false(wsh_iplimit_open(l, (struct sockaddr *)&a)); /* third from the same address */
    assert_true(wsh_iplimit_open(l, (struct sockaddr *)&b));
    assert_int_equal(wsh_iplimit_count(l), 2);
    wsh_iplimit_close(l, (struct sockaddr *)&a, 0);
    wsh_iplimit_close(l, (struct sockaddr *)&a, 0);
    assert_true(wsh_iplimit_open(l, (struct sockaddr *)&a));
    wsh_iplimit_close(l, (struct sockaddr *)&a, 0);
    wsh_iplimit_close(l, (struct sockaddr *)&a, 0);
    wsh_iplimit_close(l, (struct sockaddr *)&b, 0);
    assert_int_equal(wsh_iplimit_count(l), 0); /* forgotten as soon as idle */
    wsh_iplimit_close(l, (struct sockaddr *)&b, 0); /* unknown: ignored */
    wsh_iplimit_free(l);
}

static void test_handshake_rate_answers_retry_after(void **state)
{
    (void)state;
    wsh_iplimit_opts_t o = {0, 2, 0}; /* burst defaults to 4 */
    wsh_iplimit_t *l = wsh_iplimit_new(&o);
    struct sockaddr_in6 a = v6("2001:db8::1");
    uint64_t t = 5000;
    for (int i = 0; i < 4; i++)
        assert_int_equal(wsh_iplimit_handshake(l, (struct sockaddr *)&a, t), 0);
    assert_int_equal(wsh_iplimit_handshake(l, (struct sockaddr *)&a, t), 1);
    assert_int_equal(wsh_iplimit_handshake(l, (struct sockaddr *)&a, t + 500), 0);
    /* Not idle until the bucket is full again; the sweep forgets it then. */
    wsh_iplimit_sweep(l, t + 500);
    assert_int_equal(wsh_iplimit_count(l), 1);
    wsh_iplimit_sweep(l, t + 5000);
    assert_int_equal(wsh_iplimit_count(l), 0);
    wsh_iplimit_free(l);
}

#define HAMMER_ROUNDS 20000

typedef struct {
    wsh_iplimit_t *l;
    int thread;
    unsigned refused;
} hammer_t;

/* Opens and closes connections from a few addresses as fast as it can, the
 * way workers accepting on their own sockets do. */
static void *hammer(void *arg)
{
    hammer_t *h = arg;
    char ip[32];
    for (int i = 0; i < HAMMER_ROUNDS; i++) {
        snprintf(ip, sizeof ip, "10.0.%d.%d", h->thread, i % 7);
        struct sockaddr_in a = v4(ip);
        struct sockaddr_in shared = v4("10.9.9.9");
        if (!wsh_iplimit_open(h->l, (struct sockaddr *)&shared))
            h->refused++;
        wsh_iplimit_open(h->l, (struct sockaddr *)&a);
        wsh_iplimit_handshake(h->l, (struct sockaddr *)&a, 1000);
        wsh_iplimit_close(h->l, (struct sockaddr *)&a, 1000);
        wsh_iplimit_close(h->l, (struct sockaddr *)&shared, 1000);
        if (i % 1000 == 0)
            wsh_iplimit_sweep(h->l, 1000);
    }
    return NULL;
}

static void test_threads_share_one_table(void **state)
{
    (void)state;
    /* Each thread holds at most one connection of the shared address at a
     * time, so with a cap of 2 none is ever refused; lost updates would show
     * as refusals, as a count that never returns to zero, or as a corrupt
     * table (ASan, valgrind). */
    wsh_iplimit_opts_t o = {2, 1000000, 0};
    wsh_iplimit_t *l = wsh_iplimit_new(&o);
    hammer_t h[2] = {{l, 0, 0}, {l, 1, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &h[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(h[0].refused + h[1].refused, 0);
    /* Every connection closed: once the buckets are full again, nothing is left. */
    wsh_iplimit_sweep(l, 1000000);
    assert_int_equal(wsh_iplimit_count(l), 0);
    /* And the shared address's budget is whole again. */
    struct sockaddr_in shared = v4("10.9.9.9");
    assert_true(wsh_iplimit_open(l, (struct sockaddr *)&shared));
    assert_true(wsh_iplimit_open(l, (struct sockaddr *)&shared));
    assert_false(wsh_iplimit_open(l, (struct sockaddr *)&shared));
    for (int i = 0; i < 3; i++)
        wsh_iplimit_close(l, (struct sockaddr *)&shared, 1000000);
    wsh_iplimit_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_to_enforce_is_null_and_allows_all),
        cmocka_unit_test(test_connection_cap_per_address),
        cmocka_unit_test(test_handshake_rate_answers_retry_after),
        cmocka_unit_test(test_threads_share_one_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
