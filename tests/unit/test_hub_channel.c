/* Unit tests for src/hub/channel.c, the channel registry: name validation,
 * subscribe (idempotent, capped per connection), unsubscribe, channels freed
 * when their last subscriber leaves, unsubscribe_all, and the dense
 * subscription array kept consistent by swap-remove under a random workload
 * checked against a model. Clients are built by hand: no sockets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "hub/channel.h"
#include "hub/client.h"
#include "hub/hub.h"
#include "obs/metrics.h"

typedef struct fixture {
    wsh_hub_opts_t opts;
    wsh_history_t *history;
    wsh_hub_t *hub;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    f->opts.heartbeat_s = 25;
    f->opts.max_subscriptions = 1024;
    f->history = wsh_history_new(false);
    f->hub = wsh_hub_new(NULL, &f->opts, f->history);
    *state = f;
    return 0;
}

/* Subscriptions in the registry: the sum over its channels. */
static size_t sub_total(const wsh_hub_t *hub)
{
    size_t total = 0, pos = 0;
    for (wsh_hnode_t *n = wsh_hmap_iter(&hub->channels, &pos, NULL); n; n = wsh_hmap_iter(&hub->channels, &pos, n))
        total += WSH_CONTAINER_OF(n, wsh_channel_t, node)->sub_cnt;
    return total;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    /* Every test leaves the registry empty, as wsh_hub_free requires. */
    assert_int_equal(f->hub->channels.cnt, 0);
    assert_int_equal(sub_total(f->hub), 0);
    wsh_hub_free(f->hub);
    wsh_history_free(f->history);
    free(f);
    return 0;
}

static void client_init(wsh_client_t *cl, wsh_hub_t *hub, const char *id)
{
    /* The registry never reads the id (the struct has no room for one here). */
    (void)id;
    memset(cl, 0, sizeof *cl);
    cl->hub = hub;
}


static int sub(fixture_t *f, wsh_client_t *cl, const char *name)
{
    return wsh_channel_subscribe(f->hub, cl, name, strlen(name));
}

static int unsub(fixture_t *f, wsh_client_t *cl, const char *name)
{
    return wsh_channel_unsubscribe(f->hub, cl, name, strlen(name));
}

static wsh_channel_t *find(fixture_t *f, const char *name)
{
    return wsh_channel_find(f->hub, name, strlen(name));
}

/* Length of a client's subscription list (wsh_sub_t.client_next). */
static size_t list_len(const wsh_sub_t *head)
{
    size_t n = 0;
    for (const wsh_sub_t *p = head; p; p = p->client_next)
        n++;
    return n;
}

/* The channel's array is dense and each entry knows its slot and channel. */
static void assert_channel_consistent(const wsh_channel_t *ch)
{
    assert_true(ch->sub_cnt > 0);
    assert_true(ch->sub_cnt <= ch->sub_cap);
    for (uint32_t i = 0; i < ch->sub_cnt; i++) {
        assert_non_null(ch->subs[i]);
        assert_int_equal(ch->subs[i]->idx, i);
        assert_ptr_equal(ch->subs[i]->ch, ch);
    }
}

static bool channel_has(const wsh_channel_t *ch, const wsh_client_t *cl)
{
    for (uint32_t i = 0; i < ch->sub_cnt; i++)
        if (ch->subs[i]->client == cl)
            return true;
    return false;
}

static uint64_t gauge(wsh_counter_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* --- names ------------------------------------------------------------------ */

static void test_channel_name_accepts_the_protocol_alphabet(void **state)
{
    (void)state;
    const char *ok[] = {"a", "Z", "0", "news", "chat/room-1", "user:42@site.example", "a_b.c:d@e/f-g", "-", "/", "..",
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:@/-"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!wsh_channel_name_is_valid(ok[i], strlen(ok[i])))
            fail_msg("%s refused", ok[i]);
    char longest[255];
    memset(longest, 'x', sizeof longest);
    assert_true(wsh_channel_name_is_valid(longest, 255));
}

static void test_channel_name_refuses_empty_too_long_and_foreign_bytes(void **state)
{
    (void)state;
    assert_false(wsh_channel_name_is_valid("", 0));
    char too_long[256];
    memset(too_long, 'x', sizeof too_long);
    assert_false(wsh_channel_name_is_valid(too_long, 256));
    const char *bad[] = {"a b", "a,b", "a#b", "a%2F", "a?b", "a&b", "a\"b", "a\\b", "a+b", "a*b", "a~b", "é", "a\tb",
                         "a\nb", "a=b", "a;b", "(a)", "[a]", "{a}", "a!b", "a$b", "a'b", "a|b", "a<b", "a>b", "a^b",
                         "a`b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (wsh_channel_name_is_valid(bad[i], strlen(bad[i])))
            fail_msg("%s accepted", bad[i]);
    /* Every byte outside the alphabet, alone and inside a valid name. */
    for (int c = 0; c < 256; c++) {
        bool in = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                  c == ':' || c == '@' || c == '/' || c == '-';
        char s[3] = {'a', (char)c, 'b'};
        if (wsh_channel_name_is_valid(s, 3) != in)
            fail_msg("byte 0x%02x: valid=%d", c, !in);
    }
}

/* --- subscribe / unsubscribe ------------------------------------------------- */

static void test_channel_first_subscribe_creates_the_channel(void **state)
{
    fixture_t *f = *state;
    wsh_client_t a;
    client_init(&a, f->hub, "a");
    uint64_t subs0 = gauge(&wsh_metrics_tls->subscriptions), chans0 = gauge(&wsh_metrics_tls->channels);
    assert_null(find(f, "news"));
    assert_int_equal(sub(f, &a, "news"), 0);
    wsh_channel_t *ch = find(f, "news");
    assert_non_null(ch);
    assert_int_equal(ch->name_len, 4);
    assert_string_equal(ch->name, "news");
    assert_int_equal(ch->sub_cnt, 1);
    assert_ptr_equal(ch->subs[0]->client, &a);
    assert_int_equal(a.sub_cnt, 1);
    assert_int_equal(list_len(a.subs), 1);
    assert_int_equal(f->hub->channels.cnt, 1);
    assert_int_equal(sub_total(f->hub), 1);
    assert_int_equal(gauge(&wsh_metrics_tls->subscriptions), subs0 + 1);
    assert_int_equal(gauge(&wsh_metrics_tls->channels), chans0 + 1);
    assert_int_equal(unsub(f, &a, "news"), 0);
    assert_int_equal(gauge(&wsh_metrics_tls->subscriptions), subs0);
    assert_int_equal(gauge(&wsh_metrics_tls->channels), chans0);
}

static void test_channel_double_subscribe_is_idempotent_and_returns_1(void **state)
{
    fixture_t *f = *state;
    wsh_client_t a;
    client_init(&a, f->hub, "a");
    assert_int_equal(sub(f, &a, "news"), 0);
    uint64_t subs0 = gauge(&wsh_metrics_tls->subscriptions);
    assert_int_equal(sub(f, &a, "news"), 1);
    assert_int_equal(sub(f, &a, "news"), 1);
    assert_int_equal(find(f, "news")->sub_cnt, 1);
    assert_int_equal(a.sub_cnt, 1);
    assert_int_equal(list_len(a.subs), 1);
    assert_int_equal(sub_total(f->hub), 1);
    assert_int_equal(gauge(&wsh_metrics_tls->subscriptions), subs0);
    /* One unsubscribe undoes it. */
    assert_int_equal(unsub(f, &a, "news"), 0);
    assert_null(find(f, "news"));
    assert_int_equal(a.sub_cnt, 0);
}

static void test_channel_many_clients_share_one_channel(void **state)
{
    fixture_t *f = *state;
    wsh_client_t a, b, c;
    client_init(&a, f->hub, "a");
    client_init(&b, f->hub, "b");
    client_init(&c, f->hub, "c");
    assert_int_equal(sub(f, &a, "news"), 0);
    assert_int_equal(sub(f, &b, "news"), 0);
    assert_int_equal(sub(f, &c, "news"), 0);
    assert_int_equal(sub(f, &b, "sports"), 0);
    wsh_channel_t *news = find(f, "news");
    assert_int_equal(news->sub_cnt, 3);
    assert_channel_consistent(news);
    assert_true(channel_has(news, &a) && channel_has(news, &b) && channel_has(news, &c));
    assert_int_equal(find(f, "sports")->sub_cnt, 1);
    assert_int_equal(f->hub->channels.cnt, 2);
    assert_int_equal(sub_total(f->hub), 4);
    /* Removing the first entry moves the last into its slot. */
    assert_int_equal(unsub(f, &a, "news"), 0);
    assert_ptr_equal(find(f, "news"), news); /* still there: others subscribe */
    assert_int_equal(news->sub_cnt, 2);
    assert_channel_consistent(news);
    assert_false(channel_has(news, &a));
    assert_true(channel_has(news, &b) && channel_has(news, &c));
    wsh_channel_unsubscribe_all(f->hub, &b);
    wsh_channel_unsubscribe_all(f->hub, &c);
}

static void test_channel_names_are_distinct_by_exact_bytes(void **state)
{
    fixture_t *f = *state;
    wsh_client_t a;
    client_init(&a, f->hub, "a");
    assert_int_equal(sub(f, &a, "news"), 0);
    assert_int_equal(sub(f, &a, "News"), 0);
    assert_int_equal(sub(f, &a, "news/"), 0);
    assert_int_equal(sub(f, &a, "new"), 0);
    assert_int_equal(f->hub->channels.cnt, 4);
    assert_int_equal(a.sub_cnt, 4);
    assert_int_equal(unsub(f, &a, "News"), 0);
    assert_non_null(find(f, "news"));
    assert_null(find(f, "News"));
    wsh_channel_unsubscribe_all(f->hub, &a);
}

static void test_channel_unsubscribe_when_not_subscribed_is_enotfound(void **state)
{
    fixture_t *f = *state;
    wsh_client_t a, b;
    client_init(&a, f->hub, "a");
    client_init(&b, f->hub, "b");
    /* A channel nobody has. */
    assert_int_equal(unsub(f, &a, "nowhere"), WSH_ENOTFOUND);
    assert_null(find(f, "nowhere"));
    /* A channel someone else has: theirs is untouched. */
    assert_int_equal(sub(f, &b, "news"), 0);
    assert_int_equal(unsub(f, &a, "news"), WSH_ENOTFOUND);
    assert_int_equal(find(f, "news")->sub_cnt, 1);
    assert_int_equal(b.sub_cnt, 1);
    assert_int_equal(a.sub_cnt, 0);
    /* Twice: the second is not subscribed any more. */
    assert_int_equal(unsub(f, &b, "news"), 0);
    assert_int_equal(unsub(f, &b, "news"), WSH_ENOTFOUND);
}

static void test_channel_is_freed_when_the_last_subscriber_leaves(void **state)
{
    fixture_t *f = *state;
    wsh_client_t a, b;
    client_init(&a, f->hub, "a");
    client_init(&b, f->hub, "b");
    sub(f, &a, "news");
    sub(f, &b, "news");
    assert_int_equal(unsub(f, &a, "news"), 0);
    assert_non_null(find(f, "news"));
    assert_int_equal(unsub(f, &b, "news"), 0);
    assert_null(find(f, "news"));
    assert_int_equal(f->hub->channels.cnt, 0);
    assert_int_equal(sub_total(f->hub), 0);
    /* A new subscriber makes a fresh channel. */
    assert_int_equal(sub(f, &a, "news"), 0);
    assert_int_equal(find(f, "news")->sub_cnt, 1);
    assert_int_equal(unsub(f, &a, "news"), 0);
}

static void test_channel_subscription_cap_refuses_with_epolicy(void **state)
{
    fixture_t *f = *state;
    f->opts.max_subscriptions = 3;
    wsh_client_t a, b;
    client_init(&a, f->hub, "a");
    client_init(&b, f->hub, "b");
    assert_int_equal(sub(f, &a, "c1"), 0);
    assert_int_equal(sub(f, &a, "c2"), 0);
    assert_int_equal(sub(f, &a, "c3"), 0);
    assert_int_equal(sub(f, &a, "c4"), WSH_EPOLICY);
    assert_null(find(f, "c4")); /* a refused subscribe leaves no empty channel */
    assert_int_equal(a.sub_cnt, 3);
    /* The cap is per connection: another client subscribes freely. */
    assert_int_equal(sub(f, &b, "c4"), 0);
    assert_int_equal(sub(f, &a, "c4"), WSH_EPOLICY);
    assert_int_equal(find(f, "c4")->sub_cnt, 1);
    /* Re-subscribing to a held channel at the cap is still idempotent. */
    assert_int_equal(sub(f, &a, "c2"), 1);
    /* Leaving one makes room for one. */
    assert_int_equal(unsub(f, &a, "c1"), 0);
    assert_int_equal(sub(f, &a, "c4"), 0);
    assert_int_equal(sub(f, &a, "c5"), WSH_EPOLICY);
    wsh_channel_unsubscribe_all(f->hub, &a);
    wsh_channel_unsubscribe_all(f->hub, &b);
    f->opts.max_subscriptions = 1024;
}

static void test_channel_unsubscribe_all_drops_every_subscription_of_one_client(void **state)
{
    fixture_t *f = *state;
    wsh_client_t a, b;
    client_init(&a, f->hub, "a");
    client_init(&b, f->hub, "b");
    char name[16];
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "ch%d", i);
        assert_int_equal(sub(f, &a, name), 0);
        if (i % 5 == 0)
            assert_int_equal(sub(f, &b, name), 0);
    }
    assert_int_equal(f->hub->channels.cnt, 50);
    uint64_t subs0 = gauge(&wsh_metrics_tls->subscriptions);
    wsh_channel_unsubscribe_all(f->hub, &a);
    assert_int_equal(a.sub_cnt, 0);
    assert_null(a.subs);
    assert_int_equal(gauge(&wsh_metrics_tls->subscriptions), subs0 - 50);
    /* Channels b still holds survive, the rest are gone. */
    assert_int_equal(f->hub->channels.cnt, 10);
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "ch%d", i);
        wsh_channel_t *ch = find(f, name);
        if (i % 5 == 0) {
            assert_non_null(ch);
            assert_int_equal(ch->sub_cnt, 1);
            assert_ptr_equal(ch->subs[0]->client, &b);
        } else {
            assert_null(ch);
        }
    }
    /* On a client with nothing it does nothing. */
    wsh_channel_unsubscribe_all(f->hub, &a);
    wsh_channel_unsubscribe_all(f->hub, &b);
    assert_int_equal(f->hub->channels.cnt, 0);
}

static void test_channel_array_shrinks_after_a_crowd_leaves_and_stays_dense(void **state)
{
    fixture_t *f = *state;
    enum { N = 1000 };
    wsh_client_t *cl = calloc(N, sizeof *cl);
    for (int i = 0; i < N; i++) {
        client_init(&cl[i], f->hub, "c");
        assert_int_equal(sub(f, &cl[i], "crowd"), 0);
    }
    wsh_channel_t *ch = find(f, "crowd");
    assert_int_equal(ch->sub_cnt, N);
    uint32_t big = ch->sub_cap;
    assert_true(big >= N);
    assert_channel_consistent(ch);
    /* Everyone but every 100th leaves, from the front. */
    for (int i = 0; i < N; i++) {
        if (i % 100 == 0)
            continue;
        assert_int_equal(unsub(f, &cl[i], "crowd"), 0);
    }
    assert_ptr_equal(find(f, "crowd"), ch);
    assert_int_equal(ch->sub_cnt, 10);
    assert_true(ch->sub_cap < big);
    assert_channel_consistent(ch);
    for (int i = 0; i < N; i += 100)
        assert_true(channel_has(ch, &cl[i]));
    for (int i = 0; i < N; i += 100)
        wsh_channel_unsubscribe_all(f->hub, &cl[i]);
    free(cl);
}

/* Random subscribe/unsubscribe/leave of many clients over a few channels,
 * checked against a boolean model after every step. */
static void test_channel_swap_remove_keeps_registry_consistent_under_random_churn(void **state)
{
    fixture_t *f = *state;
    enum { CLIENTS = 300, CHANS = 24, STEPS = 30000 };
    wsh_client_t *cl = calloc(CLIENTS, sizeof *cl);
    static bool model[CLIENTS][CHANS];
    memset(model, 0, sizeof model);
    char names[CHANS][16];
    for (int c = 0; c < CHANS; c++)
        snprintf(names[c], sizeof names[c], "room/%d", c);
    for (int i = 0; i < CLIENTS; i++)
        client_init(&cl[i], f->hub, "c");
    unsigned seed = 12345;
    uint64_t subs0 = gauge(&wsh_metrics_tls->subscriptions);
    for (int step = 0; step < STEPS; step++) {
        seed = seed * 1103515245u + 12345u;
        int i = (int)((seed >> 8) % CLIENTS);
        int c = (int)((seed >> 20) % CHANS);
        int op = (int)((seed >> 4) % 16);
        if (op == 0) {
            wsh_channel_unsubscribe_all(f->hub, &cl[i]);
            memset(model[i], 0, sizeof model[i]);
        } else if (op < 9) {
            int rc = sub(f, &cl[i], names[c]);
            assert_int_equal(rc, model[i][c] ? 1 : 0);
            model[i][c] = true;
        } else {
            int rc = unsub(f, &cl[i], names[c]);
            assert_int_equal(rc, model[i][c] ? 0 : WSH_ENOTFOUND);
            model[i][c] = false;
        }
        /* The touched channel, always. */
        wsh_channel_t *ch = find(f, names[c]);
        int want = 0;
        for (int k = 0; k < CLIENTS; k++)
            want += model[k][c];
        if (want == 0) {
            assert_null(ch);
        } else {
            assert_non_null(ch);
            assert_int_equal(ch->sub_cnt, want);
            assert_channel_consistent(ch);
            assert_int_equal(channel_has(ch, &cl[i]), model[i][c]);
        }
        /* Everything, now and then. */
        if (step % 500 == 0 || step == STEPS - 1) {
            size_t total = 0, live = 0;
            for (int k = 0; k < CLIENTS; k++) {
                size_t n = 0;
                for (int j = 0; j < CHANS; j++)
                    n += model[k][j];
                assert_int_equal(cl[k].sub_cnt, n);
                assert_int_equal(list_len(cl[k].subs), n);
                total += n;
            }
            for (int j = 0; j < CHANS; j++) {
                wsh_channel_t *x = find(f, names[j]);
                size_t n = 0;
                for (int k = 0; k < CLIENTS; k++)
                    n += model[k][j];
                if (!n) {
                    assert_null(x);
                    continue;
                }
                live++;
                assert_int_equal(x->sub_cnt, n);
                assert_channel_consistent(x);
                for (int k = 0; k < CLIENTS; k++)
                    assert_int_equal(channel_has(x, &cl[k]), model[k][j]);
            }
            assert_int_equal(sub_total(f->hub), total);
            assert_int_equal(f->hub->channels.cnt, live);
            assert_int_equal(gauge(&wsh_metrics_tls->subscriptions), subs0 + total);
        }
    }
    for (int i = 0; i < CLIENTS; i++)
        wsh_channel_unsubscribe_all(f->hub, &cl[i]);
    assert_int_equal(gauge(&wsh_metrics_tls->subscriptions), subs0);
    free(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_channel_name_accepts_the_protocol_alphabet),
        cmocka_unit_test(test_channel_name_refuses_empty_too_long_and_foreign_bytes),
        cmocka_unit_test_setup_teardown(test_channel_first_subscribe_creates_the_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_double_subscribe_is_idempotent_and_returns_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_many_clients_share_one_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_names_are_distinct_by_exact_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_unsubscribe_when_not_subscribed_is_enotfound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_is_freed_when_the_last_subscriber_leaves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_subscription_cap_refuses_with_epolicy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_unsubscribe_all_drops_every_subscription_of_one_client, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_channel_array_shrinks_after_a_crowd_leaves_and_stays_dense, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_channel_swap_remove_keeps_registry_consistent_under_random_churn, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
