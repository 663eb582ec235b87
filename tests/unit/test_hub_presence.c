/* Unit tests for src/hub/presence.c: the registry (add, remove, list, one
 * entry per channel and connection, the per-channel and process caps, a
 * random workload against a model, entries left at free), the JSON it
 * writes (escaped users, truncation that keeps count), the join/leave
 * frames; and, on a real loop with socketpairs, the hub's side: joins and
 * leaves reach the channel's other subscribers but not the connection they
 * are about, a disconnect unlists, channels outside presence namespaces stay
 * silent, and the bus carries events from one hub to another. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/authcfg.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "core/msg.h"
#include "hub/authz.h"
#include "hub/bus.h"
#include "hub/channel.h"
#include "hub/client.h"
#include "hub/fanout.h"
#include "hub/hub.h"
#include "hub/presence.h"
#include "loop/loop.h"
#include "net/conn.h"
#include "obs/metrics.h"
#include "store/history.h"
#include "ws/wsconn.h"

#define DEADLINE_MS 5000

/* --- helpers ------------------------------------------------------------------ */

static wsh_history_chan_t *chan(wsh_history_t *h, const char *name)
{
    return wsh_history_get(h, name, strlen(name));
}

static int add(wsh_presence_t *p, wsh_history_chan_t *hc, uint64_t conn, const char *client, const char *user)
{
    return wsh_presence_add(p, hc, conn, client, strlen(client), user, user ? strlen(user) : 0, NULL);
}

/* The list as JSON text: {"count":..,"truncated":..,"clients":[...]}. */
static char *list(const wsh_history_chan_t *hc, size_t max)
{
    wsh_buf_t b;
    wsh_buf_init(&b);
    assert_int_equal(wsh_buf_append(&b, "{", 1), 0);
    assert_int_equal(wsh_presence_list_json(hc, max, &b), 0);
    assert_int_equal(wsh_buf_append(&b, "}", 1), 0);
    assert_int_equal(wsh_buf_append(&b, "", 1), 0);
    return (char *)b.data;
}

/* Asserts s is one valid JSON value (RFC 8259, the hub's strict parser). */
static void assert_json(const char *s)
{
    wsh_json_tok_t toks[4];
    size_t err = 0;
    int n = wsh_json_parse(s, strlen(s), toks, 4, 0, 64, &err);
    if (n < 0)
        fail_msg("invalid JSON at %zu: %s", err, s);
}

static uint64_t gauge(wsh_counter_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* --- the registry ------------------------------------------------------------- */

static void test_presence_add_list_remove(void **state)
{
    (void)state;
    wsh_history_t *h = wsh_history_new(false);
    wsh_presence_t *p = wsh_presence_new(10, 100);
    wsh_history_chan_t *hc = chan(h, "room.a");
    assert_null(hc->presence);
    char *s = list(hc, 1 << 20);
    assert_string_equal(s, "{\"count\":0,\"truncated\":false,\"clients\":[]}");
    free(s);
    assert_int_equal(add(p, hc, 1, "c1", "alice"), 0);
    assert_int_equal(add(p, hc, 2, "c2", NULL), 0);
    assert_non_null(hc->presence);
    assert_int_equal(wsh_presence_count(hc), 2);
    assert_int_equal(p->total, 2);
    s = list(hc, 1 << 20);
    assert_string_equal(s, "{\"count\":2,\"truncated\":false,\"clients\":[{\"client\":\"c1\",\"user\":\"alice\"},"
                           "{\"client\":\"c2\"}]}");
    assert_json(s);
    free(s);
    /* One entry per (channel, connection): a second add is a no-op. */
    assert_int_equal(add(p, hc, 1, "c1", "alice"), 1);
    assert_int_equal(wsh_presence_count(hc), 2);
    /* The same client id on another connection is another entry (ids from
     * X-Client-Id need not be unique). */
    assert_int_equal(add(p, hc, 3, "c1", NULL), 0);
    assert_int_equal(wsh_presence_count(hc), 3);
    const wsh_presence_entry_t *e = wsh_presence_find(p, hc, 3);
    assert_non_null(e);
    assert_int_equal(e->conn_id, 3);
    assert_null(wsh_presence_find(p, hc, 4));

    wsh_msg_t *leave = NULL;
    assert_int_equal(wsh_presence_remove(p, hc, 1, &leave), 0);
    assert_non_null(leave);
    /* An unmasked text frame (payload under 126 bytes: 2-byte header). */
    assert_int_equal(leave->data[0], 0x81);
    assert_int_equal(leave->data[1], leave->len - 2);
    assert_memory_equal(leave->data + 2, "{\"type\":\"leave\",\"channel\":\"room.a\",\"client\":\"c1\",\"user\":\"alice\"}",
                        leave->len - 2);
    wsh_msg_unref(leave);
    assert_int_equal(wsh_presence_remove(p, hc, 1, &leave), WSH_ENOTFOUND);
    assert_null(leave);
    assert_int_equal(wsh_presence_remove(p, hc, 2, NULL), 0);
    assert_int_equal(wsh_presence_remove(p, hc, 3, NULL), 0);
    /* The last entry takes the list with it. */
    assert_null(hc->presence);
    assert_int_equal(p->total, 0);
    assert_int_equal(p->by_conn.cnt, 0);
    wsh_presence_free(p);
    wsh_history_free(h);
}

static void test_presence_channels_are_separate(void **state)
{
    (void)state;
    wsh_history_t *h = wsh_history_new(false);
    wsh_presence_t *p = wsh_presence_new(10, 100);
    wsh_history_chan_t *a = chan(h, "room.a"), *b = chan(h, "room.b");
    assert_int_equal(add(p, a, 1, "x", NULL), 0);
    assert_int_equal(add(p, b, 1, "x", NULL), 0);
    assert_int_equal(wsh_presence_count(a), 1);
    assert_int_equal(wsh_presence_count(b), 1);
    assert_int_equal(wsh_presence_remove(p, a, 1, NULL), 0);
    assert_null(a->presence);
    assert_non_null(wsh_presence_find(p, b, 1));
    assert_int_equal(wsh_presence_remove(p, b, 1, NULL), 0);
    wsh_presence_free(p);
    wsh_history_free(h);
}

static void test_presence_channel_cap_refuses_then_frees_a_place(void **state)
{
    (void)state;
    wsh_history_t *h = wsh_history_new(false);
    wsh_presence_t *p = wsh_presence_new(3, 100);
    wsh_history_chan_t *hc = chan(h, "room.full");
    for (uint64_t i = 1; i <= 3; i++)
        assert_int_equal(add(p, hc, i, "c", NULL), 0);
    assert_int_equal(add(p, hc, 4, "c", NULL), WSH_EOVERLOAD);
    assert_int_equal(p->refused, 1);
    assert_null(wsh_presence_find(p, hc, 4));
    assert_int_equal(wsh_presence_count(hc), 3);
    /* Another channel is not affected by this one's cap. */
    wsh_history_chan_t *other = chan(h, "room.other");
    assert_int_equal(add(p, other, 4, "c", NULL), 0);
    assert_int_equal(wsh_presence_remove(p, hc, 2, NULL), 0);
    assert_int_equal(add(p, hc, 4, "c", NULL), 0);
    assert_int_equal(wsh_presence_count(hc), 3);
    wsh_presence_free(p); /* entries left: freed, lists detached */
    assert_null(hc->presence);
    assert_null(other->presence);
    wsh_history_free(h);
}

static void test_presence_total_cap_spans_channels(void **state)
{
    (void)state;
    wsh_history_t *h = wsh_history_new(false);
    wsh_presence_t *p = wsh_presence_new(10, 4);
    char name[32];
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "room.%d", i);
        assert_int_equal(add(p, chan(h, name), 7, "c", NULL), 0);
    }
    assert_int_equal(add(p, chan(h, "room.9"), 7, "c", NULL), WSH_EOVERLOAD);
    assert_int_equal(p->total, 4);
    assert_int_equal(wsh_presence_remove(p, chan(h, "room.0"), 7, NULL), 0);
    assert_int_equal(add(p, chan(h, "room.9"), 7, "c", NULL), 0);
    wsh_presence_free(p);
    wsh_history_free(h);
}

static void test_presence_user_is_escaped_into_valid_json(void **state)
{
    (void)state;
    wsh_history_t *h = wsh_history_new(false);
    wsh_presence_t *p = wsh_presence_new(10, 100);
    wsh_history_chan_t *hc = chan(h, "room.esc");
    /* Quote, backslash, a control character, valid UTF-8 and a stray byte. */
    const char user[] = "a\"b\\c\x01 caf\xc3\xa9 \xff";
    assert_int_equal(wsh_presence_add(p, hc, 1, "c1", 2, user, sizeof user - 1, NULL), 0);
    char *s = list(hc, 1 << 20);
    assert_json(s);
    assert_non_null(strstr(s, "\"user\":\"a\\\"b\\\\c\\u0001 caf\xc3\xa9 \\ufffd\""));
    free(s);
    wsh_msg_t *m = wsh_presence_event("join", hc, wsh_presence_find(p, hc, 1));
    char *payload = strndup((const char *)m->data + 2, m->len - 2);
    assert_json(payload);
    const char *pre = "{\"type\":\"join\",\"channel\":\"room.esc\",\"client\":\"c1\",\"user\":";
    assert_true(strncmp(payload, pre, strlen(pre)) == 0);
    free(payload);
    wsh_msg_unref(m);
    wsh_presence_free(p);
    wsh_history_free(h);
}

static void test_presence_list_is_truncated_within_max_and_keeps_count(void **state)
{
    (void)state;
    wsh_history_t *h = wsh_history_new(false);
    wsh_presence_t *p = wsh_presence_new(1000, 10000);
    wsh_history_chan_t *hc = chan(h, "room.big");
    char id[32];
    for (uint64_t i = 0; i < 500; i++) {
        snprintf(id, sizeof id, "client-%03llu", (unsigned long long)i);
        assert_int_equal(add(p, hc, i + 1, id, "u"), 0);
    }
    char *whole = list(hc, 1 << 20);
    assert_json(whole);
    assert_non_null(strstr(whole, "\"count\":500,\"truncated\":false"));
    size_t whole_len = strlen(whole);
    free(whole);
    for (size_t max = 0; max < 2000; max += 97) {
        char *s = list(hc, max);
        assert_json(s);
        assert_non_null(strstr(s, "\"count\":500,\"truncated\":true"));
        /* The list itself stays within max (the envelope is extra). */
        const char *l = strstr(s, "\"clients\":") + 10;
        assert_true(strlen(l) - 1 <= (max < 2 ? 2 : max));
        free(s);
    }
    /* Exactly enough room: not truncated. */
    char *s = list(hc, whole_len);
    assert_non_null(strstr(s, "\"truncated\":false"));
    free(s);
    wsh_presence_free(p);
    wsh_history_free(h);
}

/* Random adds and removes over a few channels against a model: each list
 * stays dense with every entry at its index, and nothing leaks at the end
 * (ASan and valgrind check that). */
static void test_presence_random_workload_matches_a_model(void **state)
{
    (void)state;
    enum { CHANS = 4, CONNS = 64, STEPS = 20000, CAP = 40 };
    wsh_history_t *h = wsh_history_new(false);
    wsh_presence_t *p = wsh_presence_new(CAP, 100000);
    wsh_history_chan_t *hcs[CHANS];
    char name[16];
    for (int c = 0; c < CHANS; c++) {
        snprintf(name, sizeof name, "room.%d", c);
        hcs[c] = chan(h, name);
    }
    bool model[CHANS][CONNS] = {{false}};
    uint32_t cnt[CHANS] = {0};
    srand(7);
    for (int step = 0; step < STEPS; step++) {
        int c = rand() % CHANS, k = rand() % CONNS;
        if (rand() % 2) {
            int rc = add(p, hcs[c], (uint64_t)k + 1, "id", k % 3 ? "user" : NULL);
            if (model[c][k]) {
                assert_int_equal(rc, 1);
            } else if (cnt[c] >= CAP) {
                assert_int_equal(rc, WSH_EOVERLOAD);
            } else {
                assert_int_equal(rc, 0);
                model[c][k] = true;
                cnt[c]++;
            }
        } else {
            int rc = wsh_presence_remove(p, hcs[c], (uint64_t)k + 1, NULL);
            assert_int_equal(rc, model[c][k] ? 0 : WSH_ENOTFOUND);
            if (model[c][k]) {
                model[c][k] = false;
                cnt[c]--;
            }
        }
        if (step % 500 == 0 || step == STEPS - 1) {
            uint64_t total = 0;
            for (int cc = 0; cc < CHANS; cc++) {
                const wsh_presence_chan_t *pc = hcs[cc]->presence;
                assert_int_equal(wsh_presence_count(hcs[cc]), cnt[cc]);
                total += cnt[cc];
                if (!pc) {
                    assert_int_equal(cnt[cc], 0);
                    continue;
                }
                assert_true(pc->cnt <= pc->cap);
                for (uint32_t i = 0; i < pc->cnt; i++) {
                    assert_int_equal(pc->entries[i]->idx, i);
                    assert_ptr_equal(pc->entries[i]->hc, hcs[cc]);
                    assert_true(model[cc][pc->entries[i]->conn_id - 1]);
                }
            }
            assert_int_equal(p->total, total);
            assert_int_equal(p->by_conn.cnt, total);
        }
    }
    wsh_presence_free(p);
    for (int c = 0; c < CHANS; c++)
        assert_null(hcs[c]->presence);
    wsh_history_free(h);
}

/* --- the hub's side on a real loop ------------------------------------------- */

typedef struct peer {
    wsh_client_t *cl;
    wsh_conn_t *conn;
    int fd;            /* the client's end of the socketpair */
    wsh_buf_t got;     /* bytes read from fd, not yet parsed */
    bool is_gone;
} peer_t;

typedef struct fx {
    wsh_loop_t *loop;
    wsh_net_t *net;
    wsh_auth_config_t auth;
    wsh_hub_opts_t opts;
    wsh_history_t *history;
    wsh_presence_t *presence;
    wsh_hub_t *hub;
    wsh_ws_opts_t ws_opts;
} fx_t;

static size_t null_on_data(wsh_conn_t *c, uint8_t *data, size_t len)
{
    (void)c;
    (void)data;
    return len;
}

static const wsh_conn_handler_t null_handler = {.on_data = null_on_data};

static int app_on_message(wsh_ws_t *ws, uint8_t opcode, uint8_t *data, size_t len)
{
    (void)ws;
    (void)opcode;
    (void)data;
    (void)len;
    return 0;
}

/* Mirrors hub/client.c: a client that goes drops its subscriptions (and
 * with them its presence entries), then its identity. */
static void app_on_close(wsh_ws_t *ws)
{
    peer_t *pr = ws->app_data;
    wsh_channel_unsubscribe_all(pr->cl->hub, pr->cl);
    if (pr->cl->authz) {
        free(pr->cl->authz->id);
        free(pr->cl->authz);
    }
    free(pr->cl);
    pr->cl = NULL;
    pr->is_gone = true;
}

static const wsh_ws_app_t test_app = {.on_message = app_on_message, .on_close = app_on_close};

static void fx_init(fx_t *f, wsh_loop_t *loop, wsh_history_t *h)
{
    memset(f, 0, sizeof *f);
    f->loop = loop ? loop : wsh_loop_new();
    wsh_net_limits_t lim = {1u << 20, 1u << 20, 200};
    f->net = wsh_net_new(f->loop, &lim, NULL);
    wsh_authcfg_init(&f->auth);
    const char *why = NULL;
    assert_int_equal(wsh_ns_parse("room.:anon-sub,presence", NULL, &f->auth.ns[0], &why), 0);
    assert_int_equal(wsh_ns_parse("plain.:anon-sub", NULL, &f->auth.ns[1], &why), 0);
    f->auth.ns_cnt = 2;
    f->opts.heartbeat_s = 25;
    f->opts.max_subscriptions = 1024;
    f->opts.auth = &f->auth;
    f->history = h ? h : wsh_history_new(false);
    f->hub = wsh_hub_new(f->loop, &f->opts, f->history);
    f->ws_opts.lim.max_message = 1u << 20;
    f->ws_opts.close_timeout_ms = 1000;
}

static void peer_open(fx_t *f, peer_t *pr, const char *id, const char *user)
{
    memset(pr, 0, sizeof *pr);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    pr->fd = sv[1];
    pr->conn = wsh_conn_new(f->net, sv[0], NULL, &null_handler, NULL);
    pr->cl = calloc(1, sizeof *pr->cl + strlen(id) + 1);
    assert_non_null(pr->cl);
    strcpy(pr->cl->id, id);
    pr->cl->hub = f->hub;
    pr->cl->ws = wsh_ws_start(pr->conn, &f->ws_opts, &test_app, pr);
    if (user) {
        wsh_identity_t *ident = calloc(1, sizeof *ident + strlen(user) + 1);
        ident->user = (char *)(ident + 1);
        strcpy(ident->user, user);
        pr->cl->authz = calloc(1, sizeof *pr->cl->authz);
        pr->cl->authz->id = ident;
        pr->cl->authz->cl = pr->cl;
    }
}

static int sub(fx_t *f, peer_t *pr, const char *channel)
{
    return wsh_channel_subscribe(f->hub, pr->cl, channel, strlen(channel));
}

/* Runs the loop a little and moves what each peer's socket holds into got. */
static void pump(wsh_loop_t *loop, peer_t *peers, size_t cnt)
{
    for (int round = 0; round < 3; round++) {
        wsh_loop_run_once(loop, 1);
        for (size_t i = 0; i < cnt; i++) {
            uint8_t buf[65536];
            ssize_t n;
            while ((n = read(peers[i].fd, buf, sizeof buf)) > 0)
                assert_int_equal(wsh_buf_append(&peers[i].got, buf, (size_t)n), 0);
        }
    }
}

/* Takes the next whole text frame's payload from pr (NULL when none). The
 * hub sends frames under 126 bytes here. Caller frees. */
static char *next_frame(peer_t *pr)
{
    if (pr->got.len < 2)
        return NULL;
    size_t n = pr->got.data[1] & 0x7f;
    assert_true(n < 126);
    assert_int_equal(pr->got.data[0], 0x81);
    if (pr->got.len < 2 + n)
        return NULL;
    char *s = strndup((const char *)pr->got.data + 2, n);
    wsh_buf_consume(&pr->got, 2 + n);
    return s;
}

/* Waits (bounded) for pr's next frame and asserts it equals want. */
static void expect_frame(wsh_loop_t *loop, peer_t *peers, size_t cnt, peer_t *pr, const char *want)
{
    uint64_t dl = wsh_clock_mono_ms() + DEADLINE_MS;
    char *s;
    while (!(s = next_frame(pr))) {
        if (wsh_clock_mono_ms() > dl)
            fail_msg("no frame, wanted %s", want);
        pump(loop, peers, cnt);
    }
    assert_string_equal(s, want);
    free(s);
}

/* After a few loop rounds, pr has received nothing more. */
static void expect_nothing(wsh_loop_t *loop, peer_t *peers, size_t cnt, peer_t *pr)
{
    pump(loop, peers, cnt);
    char *s = next_frame(pr);
    if (s)
        fail_msg("unexpected frame %s", s);
}

static void fx_close_peers(fx_t *f, peer_t *peers, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++) {
        if (peers[i].fd >= 0)
            close(peers[i].fd);
        peers[i].fd = -1;
    }
    uint64_t dl = wsh_clock_mono_ms() + DEADLINE_MS;
    while (f->net->conn_cnt > 0) {
        if (wsh_clock_mono_ms() > dl)
            fail_msg("connections still open");
        wsh_loop_run_once(f->loop, 10);
    }
    wsh_loop_run_once(f->loop, 0);
    for (size_t i = 0; i < cnt; i++) {
        assert_true(peers[i].is_gone);
        wsh_buf_dispose(&peers[i].got);
    }
}

static void fx_dispose(fx_t *f, bool free_shared)
{
    assert_int_equal(f->hub->channels.cnt, 0);
    assert_int_equal(wsh_loop_live_count(f->loop), 0);
    wsh_hub_free(f->hub);
    wsh_net_free(f->net);
    wsh_loop_free(f->loop);
    if (free_shared) {
        wsh_presence_free(f->presence);
        wsh_history_free(f->history);
    }
    wsh_authcfg_dispose(&f->auth);
}

static void test_hub_join_and_leave_reach_others_not_self(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, NULL, NULL);
    f.presence = f.hub->presence = wsh_presence_new(100, 1000);
    uint64_t entries0 = gauge(&wsh_metrics_tls->presence_entries);
    peer_t pr[3];
    peer_open(&f, &pr[0], "alpha", "alice");
    peer_open(&f, &pr[1], "beta", NULL);
    peer_open(&f, &pr[2], "gamma", "carol");
    assert_int_equal(sub(&f, &pr[0], "room.1"), 0);
    expect_nothing(f.loop, pr, 3, &pr[0]); /* no join about oneself */
    assert_int_equal(sub(&f, &pr[1], "room.1"), 0);
    expect_frame(f.loop, pr, 3, &pr[0], "{\"type\":\"join\",\"channel\":\"room.1\",\"client\":\"beta\"}");
    expect_nothing(f.loop, pr, 3, &pr[1]);
    assert_int_equal(sub(&f, &pr[2], "room.1"), 0);
    const char *join_c = "{\"type\":\"join\",\"channel\":\"room.1\",\"client\":\"gamma\",\"user\":\"carol\"}";
    expect_frame(f.loop, pr, 3, &pr[0], join_c);
    expect_frame(f.loop, pr, 3, &pr[1], join_c);
    expect_nothing(f.loop, pr, 3, &pr[2]);
    assert_int_equal(gauge(&wsh_metrics_tls->presence_entries), entries0 + 3);
    /* Subscribing again is harmless and announces nothing. */
    assert_int_equal(sub(&f, &pr[1], "room.1"), 1);
    expect_nothing(f.loop, pr, 3, &pr[0]);
    wsh_history_chan_t *hc = wsh_history_find(f.history, "room.1", 6);
    assert_int_equal(wsh_presence_count(hc), 3);

    /* Unsubscribe: a leave to the others. */
    assert_int_equal(wsh_channel_unsubscribe(f.hub, pr[1].cl, "room.1", 6), 0);
    const char *leave_b = "{\"type\":\"leave\",\"channel\":\"room.1\",\"client\":\"beta\"}";
    expect_frame(f.loop, pr, 3, &pr[0], leave_b);
    expect_frame(f.loop, pr, 3, &pr[2], leave_b);
    expect_nothing(f.loop, pr, 3, &pr[1]);
    assert_int_equal(wsh_presence_count(hc), 2);

    /* Disconnect: the hub side closes and unlists; the other one hears it. */
    close(pr[2].fd);
    pr[2].fd = -1;
    uint64_t dl = wsh_clock_mono_ms() + DEADLINE_MS;
    while (!pr[2].is_gone) {
        assert_true(wsh_clock_mono_ms() < dl);
        pump(f.loop, pr, 2);
    }
    expect_frame(f.loop, pr, 2, &pr[0],
                 "{\"type\":\"leave\",\"channel\":\"room.1\",\"client\":\"gamma\",\"user\":\"carol\"}");
    assert_int_equal(wsh_presence_count(hc), 1);
    assert_int_equal(gauge(&wsh_metrics_tls->presence_entries), entries0 + 1);
    fx_close_peers(&f, pr, 3);
    assert_int_equal(gauge(&wsh_metrics_tls->presence_entries), entries0);
    assert_int_equal(f.presence->total, 0);
    fx_dispose(&f, true);
}

static void test_hub_channel_without_presence_flag_is_silent(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, NULL, NULL);
    f.presence = f.hub->presence = wsh_presence_new(100, 1000);
    peer_t pr[2];
    peer_open(&f, &pr[0], "a", NULL);
    peer_open(&f, &pr[1], "b", NULL);
    assert_int_equal(sub(&f, &pr[0], "plain.x"), 0);
    assert_int_equal(sub(&f, &pr[1], "plain.x"), 0);
    /* "other" matches no namespace: the built-in open default, no presence. */
    assert_int_equal(sub(&f, &pr[0], "other"), 0);
    assert_int_equal(sub(&f, &pr[1], "other"), 0);
    expect_nothing(f.loop, pr, 2, &pr[0]);
    assert_false(wsh_presence_is_on(f.hub, "plain.x", 7));
    assert_false(wsh_presence_is_on(f.hub, "other", 5));
    assert_true(wsh_presence_is_on(f.hub, "room.x", 6));
    assert_int_equal(f.presence->total, 0);
    assert_int_equal(wsh_channel_unsubscribe(f.hub, pr[1].cl, "plain.x", 7), 0);
    expect_nothing(f.loop, pr, 2, &pr[0]);
    fx_close_peers(&f, pr, 2);
    fx_dispose(&f, true);
}

static void test_hub_without_registry_has_no_presence(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, NULL, NULL);
    peer_t pr[2];
    peer_open(&f, &pr[0], "a", NULL);
    peer_open(&f, &pr[1], "b", NULL);
    assert_false(wsh_presence_is_on(f.hub, "room.x", 6));
    assert_int_equal(sub(&f, &pr[0], "room.x"), 0);
    assert_int_equal(sub(&f, &pr[1], "room.x"), 0);
    expect_nothing(f.loop, pr, 2, &pr[0]);
    fx_close_peers(&f, pr, 2);
    fx_dispose(&f, true);
}

static void test_hub_full_list_subscribes_without_listing_or_announcing(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, NULL, NULL);
    f.presence = f.hub->presence = wsh_presence_new(1, 1000);
    uint64_t refused0 = gauge(&wsh_metrics_tls->presence_refused);
    peer_t pr[2];
    peer_open(&f, &pr[0], "a", NULL);
    peer_open(&f, &pr[1], "b", NULL);
    assert_int_equal(sub(&f, &pr[0], "room.x"), 0);
    assert_int_equal(sub(&f, &pr[1], "room.x"), 0); /* subscribed all the same */
    assert_non_null(wsh_channel_find_sub(f.hub, pr[1].cl, "room.x", 6));
    assert_int_equal(gauge(&wsh_metrics_tls->presence_refused), refused0 + 1);
    expect_nothing(f.loop, pr, 2, &pr[0]);
    /* Unlisted: its unsubscribe announces nothing either. */
    assert_int_equal(wsh_channel_unsubscribe(f.hub, pr[1].cl, "room.x", 6), 0);
    expect_nothing(f.loop, pr, 2, &pr[0]);
    fx_close_peers(&f, pr, 2);
    fx_dispose(&f, true);
}

/* Two hubs on two loops joined by a bus, driven from one thread: what
 * --workers 2 does, without threads. */
static void test_bus_carries_join_and_leave_to_the_other_hub(void **state)
{
    (void)state;
    wsh_history_t *h = wsh_history_new(true);
    wsh_presence_t *presence = wsh_presence_new(100, 1000);
    fx_t f0, f1;
    fx_init(&f0, NULL, h);
    fx_init(&f1, NULL, h);
    f0.hub->presence = f1.hub->presence = presence;
    wsh_bus_t *bus = wsh_bus_new(2, h);
    wsh_bus_attach(bus, 0, f0.hub);
    wsh_bus_attach(bus, 1, f1.hub);
    peer_t a[1], b[1];
    peer_open(&f0, &a[0], "on-0", NULL);
    peer_open(&f1, &b[0], "on-1", "bob");
    assert_int_equal(sub(&f0, &a[0], "room.x"), 0);
    /* a's own join went through the bus too, and was skipped for it. */
    wsh_bus_drain(f0.hub);
    wsh_bus_drain(f1.hub);
    expect_nothing(f0.loop, a, 1, &a[0]);
    assert_int_equal(sub(&f1, &b[0], "room.x"), 0);
    wsh_bus_drain(f0.hub);
    expect_frame(f0.loop, a, 1, &a[0], "{\"type\":\"join\",\"channel\":\"room.x\",\"client\":\"on-1\",\"user\":\"bob\"}");
    wsh_bus_drain(f1.hub);
    expect_nothing(f1.loop, b, 1, &b[0]);
    /* Both are listed in the one shared registry. */
    assert_int_equal(wsh_presence_count(wsh_history_find(h, "room.x", 6)), 2);
    assert_int_equal(wsh_channel_unsubscribe(f0.hub, a[0].cl, "room.x", 6), 0);
    wsh_bus_drain(f1.hub);
    expect_frame(f1.loop, b, 1, &b[0], "{\"type\":\"leave\",\"channel\":\"room.x\",\"client\":\"on-0\"}");
    wsh_bus_drain(f0.hub);
    expect_nothing(f0.loop, a, 1, &a[0]);
    fx_close_peers(&f1, b, 1);
    /* The last subscriber left: the record and its list are gone. */
    assert_null(wsh_history_find(h, "room.x", 6));
    wsh_bus_drain(f0.hub);
    wsh_bus_drain(f1.hub);
    fx_close_peers(&f0, a, 1);
    /* A closed bus drops events instead of waking loops. */
    bus->is_closed = true;
    wsh_msg_t *m = wsh_msg_new_copy("x", 1);
    assert_int_equal(wsh_bus_post_event(bus, 0, m, 1), 0);
    fx_dispose(&f0, false);
    fx_dispose(&f1, false);
    wsh_bus_free(bus);
    assert_int_equal(presence->total, 0);
    wsh_presence_free(presence);
    wsh_history_free(h);
}

int main(void)
{
    wsh_metrics_register();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presence_add_list_remove),
        cmocka_unit_test(test_presence_channels_are_separate),
        cmocka_unit_test(test_presence_channel_cap_refuses_then_frees_a_place),
        cmocka_unit_test(test_presence_total_cap_spans_channels),
        cmocka_unit_test(test_presence_user_is_escaped_into_valid_json),
        cmocka_unit_test(test_presence_list_is_truncated_within_max_and_keeps_count),
        cmocka_unit_test(test_presence_random_workload_matches_a_model),
        cmocka_unit_test(test_hub_join_and_leave_reach_others_not_self),
        cmocka_unit_test(test_hub_channel_without_presence_flag_is_silent),
        cmocka_unit_test(test_hub_without_registry_has_no_presence),
        cmocka_unit_test(test_hub_full_list_subscribes_without_listing_or_announcing),
        cmocka_unit_test(test_bus_carries_join_and_leave_to_the_other_hub),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
