/* Unit tests for src/hub/fanout.c: the `message` frame built once, byte for
 * byte (header for payloads under 126, up to 65535 and from 65536 bytes, ids,
 * data untouched); a built message freed exactly when its last holder lets
 * go; offsets assigned even without subscribers; and, on a real loop with
 * socketpairs, one frame queued by reference to every subscriber, written
 * identically to each, while an over-cap subscriber is closed with 4008 and
 * the others still get it. Not parsing (proto.c, api.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/msg.h"
#include "hub/channel.h"
#include "hub/client.h"
#include "hub/fanout.h"
#include "hub/hub.h"
#include "loop/loop.h"
#include "net/conn.h"
#include "obs/metrics.h"
#include "store/history.h"
#include "ws/wsconn.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WITH_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define WITH_ASAN 1
#endif
#ifdef WITH_ASAN
/* From sanitizer/allocator_interface.h, which not every compiler ships. */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#define DEADLINE_MS 20000

/* Bytes currently allocated by this process, as the allocator sees them
 * (glibc: heap chunks in use plus mmapped chunks, since large blocks may be
 * either). */
static size_t live_bytes(void)
{
#ifdef WITH_ASAN
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#endif
}

/* False under an allocator whose totals do not move (valgrind replaces
 * malloc and leaves mallinfo2 at zero); the reference counts and the memory
 * checker still guard the test then. */
static bool live_bytes_work(void)
{
    size_t before = live_bytes();
    void *volatile p = malloc(1u << 20);
    memset(p, 1, 1u << 20);
    bool ok = live_bytes() >= before + (1u << 20);
    free(p);
    return ok;
}

/* The frame the contract describes, encoded independently of fanout.c:
 * RFC 6455 §5.2 header (FIN, text, unmasked, minimal length) then the JSON. */
static void expected_frame(wsh_buf_t *out, const char *channel, uint64_t offset, uint64_t ts, const char *id,
                           const char *data, size_t data_len)
{
    wsh_buf_t p;
    wsh_buf_init(&p);
    assert_int_equal(wsh_buf_appendf(&p, "{\"type\":\"message\",\"channel\":\"%s\",\"offset\":%llu,\"ts\":%llu", channel,
                                     (unsigned long long)offset, (unsigned long long)ts),
                     0);
    if (id)
        assert_int_equal(wsh_buf_appendf(&p, ",\"id\":%s", id), 0);
    assert_int_equal(wsh_buf_append(&p, ",\"data\":", 8), 0);
    assert_int_equal(wsh_buf_append(&p, data, data_len), 0);
    assert_int_equal(wsh_buf_append(&p, "}", 1), 0);
    uint8_t h[10];
    size_t hl;
    h[0] = 0x81;
    if (p.len < 126) {
        h[1] = (uint8_t)p.len;
        hl = 2;
    } else if (p.len < 65536) {
        h[1] = 126;
        h[2] = (uint8_t)(p.len >> 8);
        h[3] = (uint8_t)p.len;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)((uint64_t)p.len >> (56 - 8 * i));
        hl = 10;
    }
    wsh_buf_init(out);
    assert_int_equal(wsh_buf_append(out, h, hl), 0);
    assert_int_equal(wsh_buf_append(out, p.data, p.len), 0);
    wsh_buf_dispose(&p);
}

static wsh_publish_t pub(const char *channel, const char *id, const char *data, size_t data_len)
{
    wsh_publish_t p = {
        .channel = channel,
        .channel_len = strlen(channel),
        .id = id,
        .id_len = id ? strlen(id) : 0,
        .data = data,
        .data_len = data_len,
    };
    return p;
}

static void assert_build_matches(const char *channel, uint64_t offset, uint64_t ts, const char *id, const char *data,
                                 size_t data_len)
{
    wsh_publish_t p = pub(channel, id, data, data_len);
    wsh_msg_t *m = wsh_fanout_build(&p, offset, ts);
    assert_non_null(m);
    assert_int_equal(m->refcnt, 1);
    wsh_buf_t want;
    expected_frame(&want, channel, offset, ts, id, data, data_len);
    assert_int_equal(m->len, want.len);
    assert_memory_equal(m->data, want.data, want.len);
    wsh_buf_dispose(&want);
    wsh_msg_unref(m);
}

/* Payload size of a frame for channel "c", offset 1, ts 2, no id, and data
 * of data_len bytes. */
static size_t payload_len_for(size_t data_len)
{
    return strlen("{\"type\":\"message\",\"channel\":\"c\",\"offset\":1,\"ts\":2,\"data\":}") + data_len;
}

/* A JSON string whose encoding is exactly len bytes (len >= 2). */
static char *json_string_of_len(size_t len)
{
    char *s = malloc(len + 1);
    s[0] = '"';
    memset(s + 1, 'x', len - 2);
    s[len - 1] = '"';
    s[len] = '\0';
    return s;
}

/* --- wsh_fanout_build --------------------------------------------------------- */

static void test_fanout_build_small_frame_is_byte_exact(void **state)
{
    (void)state;
    const char *data = "{\"a\":1}";
    wsh_publish_t p = pub("news", NULL, data, strlen(data));
    wsh_msg_t *m = wsh_fanout_build(&p, 7, 1700000000123ull);
    static const char json[] = "{\"type\":\"message\",\"channel\":\"news\",\"offset\":7,\"ts\":1700000000123,"
                               "\"data\":{\"a\":1}}";
    assert_int_equal(m->len, 2 + sizeof json - 1);
    assert_int_equal(m->data[0], 0x81); /* FIN + text, RSV clear */
    assert_int_equal(m->data[1], sizeof json - 1); /* unmasked, 7-bit length */
    assert_memory_equal(m->data + 2, json, sizeof json - 1);
    assert_int_equal(m->pub_ns, 0); /* only publish stamps it */
    wsh_msg_unref(m);
}

static void test_fanout_build_copies_data_byte_for_byte(void **state)
{
    (void)state;
    const char *cases[] = {
        "{ \"b\" : [1, 2 ,3] ,\"a\":\"\\u00e9\\ud83d\\ude00\" }",
        "12345678901234567890.5e-3",
        "[[[[]]],{},[{\"z\":null,\"a\":true}]]",
        "\"caf\xc3\xa9 \\\"quoted\\\" \\/ \\n\"",
        "-0",
        "null",
        "\t\n [ 1 ] \r\n",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_build_matches("a/b:c@d.e-f_g", i + 1, 1000 + i, NULL, cases[i], strlen(cases[i]));
}

static void test_fanout_build_includes_the_id_raw_before_data(void **state)
{
    (void)state;
    assert_build_matches("news", 3, 4, "\"req-1\"", "true", 4);
    assert_build_matches("news", 3, 4, "42", "true", 4);
    assert_build_matches("news", 3, 4, "\"\\u0041\\\"x\"", "[]", 2); /* escapes kept as sent */
    const char *data = "{}";
    wsh_publish_t p = pub("n", "9", data, 2);
    wsh_msg_t *m = wsh_fanout_build(&p, 1, 2);
    static const char json[] = "{\"type\":\"message\",\"channel\":\"n\",\"offset\":1,\"ts\":2,\"id\":9,\"data\":{}}";
    assert_int_equal(m->len, 2 + sizeof json - 1);
    assert_memory_equal(m->data + 2, json, sizeof json - 1);
    wsh_msg_unref(m);
}

static void test_fanout_build_prints_the_largest_offsets_and_timestamps(void **state)
{
    (void)state;
    assert_build_matches("c", UINT64_MAX, UINT64_MAX, "\"id\"", "0", 1);
    assert_build_matches("c", 0, 0, NULL, "0", 1);
}

static void test_fanout_build_uses_7bit_length_up_to_125(void **state)
{
    (void)state;
    size_t base = payload_len_for(0);
    char *s = json_string_of_len(125 - base);
    wsh_publish_t p = pub("c", NULL, s, strlen(s));
    wsh_msg_t *m = wsh_fanout_build(&p, 1, 2);
    assert_int_equal(m->len, 2 + 125);
    assert_int_equal(m->data[1], 125);
    wsh_msg_unref(m);
    assert_build_matches("c", 1, 2, NULL, s, strlen(s));
    free(s);
}

static void test_fanout_build_uses_16bit_length_from_126_to_65535(void **state)
{
    (void)state;
    size_t base = payload_len_for(0);
    size_t sizes[] = {126, 127, 1000, 65535};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *s = json_string_of_len(sizes[i] - base);
        wsh_publish_t p = pub("c", NULL, s, strlen(s));
        wsh_msg_t *m = wsh_fanout_build(&p, 1, 2);
        assert_int_equal(m->len, 4 + sizes[i]);
        assert_int_equal(m->data[0], 0x81);
        assert_int_equal(m->data[1], 126);
        assert_int_equal(((size_t)m->data[2] << 8) | m->data[3], sizes[i]);
        assert_int_equal(m->data[4], '{');
        assert_int_equal(m->data[m->len - 1], '}');
        wsh_msg_unref(m);
        assert_build_matches("c", 1, 2, NULL, s, strlen(s));
        free(s);
    }
}

static void test_fanout_build_uses_64bit_length_from_65536(void **state)
{
    (void)state;
    size_t base = payload_len_for(0);
    size_t sizes[] = {65536, 65537, 1u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *s = json_string_of_len(sizes[i] - base);
        wsh_publish_t p = pub("c", NULL, s, strlen(s));
        wsh_msg_t *m = wsh_fanout_build(&p, 1, 2);
        assert_int_equal(m->len, 10 + sizes[i]);
        assert_int_equal(m->data[0], 0x81);
        assert_int_equal(m->data[1], 127);
        uint64_t n = 0;
        for (int k = 0; k < 8; k++)
            n = (n << 8) | m->data[2 + k];
        assert_int_equal(n, sizes[i]);
        assert_int_equal(m->data[2] & 0x80, 0); /* RFC 6455 §5.2: MSB of a 64-bit length is 0 */
        wsh_msg_unref(m);
        assert_build_matches("c", 1, 2, NULL, s, strlen(s));
        free(s);
    }
}

static void test_fanout_build_returns_null_when_allocation_fails(void **state)
{
    (void)state;
    /* The size is the peer's, so the allocation may fail without aborting. */
    wsh_publish_t p = pub("c", NULL, "1", 1);
    wsh_alloc_fail_nth(1);
    assert_null(wsh_fanout_build(&p, 1, 2));
    wsh_alloc_fail_nth(0);
}

/* --- reference counting --------------------------------------------------------- */

static void test_fanout_message_is_freed_exactly_when_the_last_holder_unrefs(void **state)
{
    (void)state;
    enum { HOLDERS = 5 };
    char *big = json_string_of_len(256 * 1024); /* large enough to see in the allocator's totals */
    wsh_publish_t p = pub("c", NULL, big, strlen(big));
    bool counted = live_bytes_work();
    size_t before = live_bytes();
    wsh_msg_t *m = wsh_fanout_build(&p, 1, 2);
    if (counted)
        assert_true(live_bytes() >= before + 256 * 1024);
    /* Each subscriber's out-queue takes a reference; the builder drops its own. */
    wsh_msg_t *holders[HOLDERS];
    for (int i = 0; i < HOLDERS; i++)
        holders[i] = wsh_msg_ref(m);
    assert_int_equal(m->refcnt, HOLDERS + 1);
    wsh_msg_unref(m);
    for (int i = 0; i < HOLDERS; i++) {
        assert_int_equal(holders[i]->refcnt, HOLDERS - i);
        /* Still whole for the holders that remain (ASan would report a read
         * of freed memory here). */
        assert_int_equal(holders[i]->data[holders[i]->len - 1], '}');
        if (counted)
            assert_true(live_bytes() >= before + 256 * 1024);
        wsh_msg_unref(holders[i]);
    }
    /* The last unref gave the memory back. */
    if (counted)
        assert_true(live_bytes() < before + 256 * 1024);
    free(big);
}

/* --- wsh_fanout_publish without sockets --------------------------------------- */

typedef struct hubfx {
    wsh_hub_opts_t opts;
    wsh_history_t *history;
    wsh_hub_t *hub;
} hubfx_t;

static void hubfx_init(hubfx_t *f, wsh_loop_t *loop)
{
    memset(&f->opts, 0, sizeof f->opts); /* options added later default to off */
    f->opts.heartbeat_s = 25;
    f->opts.max_subscriptions = 1024;
    f->history = wsh_history_new(false);
    f->hub = wsh_hub_new(loop, &f->opts, f->history);
}

static void hubfx_dispose(hubfx_t *f)
{
    assert_int_equal(f->hub->channels.cnt, 0);
    wsh_hub_free(f->hub);
    wsh_history_free(f->history);
}

static void test_fanout_publish_without_subscribers_still_assigns_offsets(void **state)
{
    (void)state;
    hubfx_t f;
    hubfx_init(&f, NULL);
    uint64_t published0 = atomic_load(&wsh_metrics_tls->published);
    uint64_t delivered0 = atomic_load(&wsh_metrics_tls->delivered);
    wsh_publish_t p = pub("empty", NULL, "1", 1);
    uint64_t t0 = wsh_clock_wall_ms();
    for (uint64_t i = 1; i <= 3; i++) {
        wsh_published_t out;
        memset(&out, 0xff, sizeof out);
        assert_int_equal(wsh_fanout_publish(f.hub, &p, &out), 0);
        assert_int_equal(out.offset, i);
        assert_int_equal(out.delivered, 0);
        assert_true(out.ts >= t0 && out.ts <= wsh_clock_wall_ms());
    }
    wsh_publish_t q = pub("other", NULL, "2", 1);
    wsh_published_t out;
    assert_int_equal(wsh_fanout_publish(f.hub, &q, &out), 0);
    assert_int_equal(out.offset, 1); /* per channel */
    wsh_history_chan_t *hc = wsh_history_find(f.history, "empty", 5);
    assert_non_null(hc);
    assert_int_equal(hc->last_offset, 3);
    assert_null(wsh_channel_find(f.hub, "empty", 5)); /* publishing creates no channel */
    assert_int_equal(atomic_load(&wsh_metrics_tls->published), published0 + 4);
    assert_int_equal(atomic_load(&wsh_metrics_tls->delivered), delivered0);
    hubfx_dispose(&f);
}

/* --- delivery on a real loop ------------------------------------------------------ */

typedef struct sub {
    wsh_client_t *cl;  /* a pointer: wsh_client_t ends in a flexible id */
    wsh_conn_t *conn;
    int peer;          /* the subscriber's end of the socketpair */
    wsh_buf_t got;     /* bytes read from peer */
    bool is_eof;
    bool is_gone;      /* the hub side ran on_close */
} sub_t;

typedef struct netfx {
    wsh_loop_t *loop;
    wsh_net_t *net;
    hubfx_t h;
    wsh_ws_opts_t ws_opts;
} netfx_t;

/* Writes zeros into fd until the kernel refuses more (EAGAIN), so the next
 * writev on it is short: how a consumer that stopped reading looks to the
 * hub. Returns the bytes written, which the reader must skip. */
static size_t fill_socket(int fd)
{
    static const uint8_t zeros[4096];
    size_t total = 0;
    for (;;) {
        ssize_t n = write(fd, zeros, sizeof zeros);
        if (n > 0) {
            total += (size_t)n;
            continue;
        }
        assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
        return total;
    }
}

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

/* Mirrors hub/client.c: a client that goes drops its subscriptions. */
static void app_on_close(wsh_ws_t *ws)
{
    sub_t *s = ws->app_data;
    wsh_channel_unsubscribe_all(s->cl->hub, s->cl);
    free(s->cl);
    s->cl = NULL;
    s->is_gone = true;
}

static const wsh_ws_app_t test_app = {.on_message = app_on_message, .on_close = app_on_close};

static void netfx_init(netfx_t *f, size_t max_queue)
{
    f->loop = wsh_loop_new();
    wsh_net_limits_t lim = {max_queue, 1u << 20, 200};
    f->net = wsh_net_new(f->loop, &lim, NULL);
    hubfx_init(&f->h, f->loop);
    memset(&f->ws_opts, 0, sizeof f->ws_opts);
    f->ws_opts.lim.max_message = 1u << 20;
    f->ws_opts.heartbeat_ms = 0;
    f->ws_opts.close_timeout_ms = 1000;
}

static void sub_open(netfx_t *f, sub_t *s, const char *channel)
{
    memset(s, 0, sizeof *s);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    s->peer = sv[1];
    s->conn = wsh_conn_new(f->net, sv[0], NULL, &null_handler, NULL);
    s->cl = calloc(1, sizeof *s->cl + 1);
    assert_non_null(s->cl);
    s->cl->hub = f->h.hub;
    s->cl->ws = wsh_ws_start(s->conn, &f->ws_opts, &test_app, s);
    assert_int_equal(wsh_channel_subscribe(f->h.hub, s->cl, channel, strlen(channel)), 0);
}

/* Reads what the peer has without blocking. */
static void sub_read(sub_t *s)
{
    uint8_t buf[65536];
    for (;;) {
        ssize_t n = read(s->peer, buf, sizeof buf);
        if (n > 0) {
            assert_int_equal(wsh_buf_append(&s->got, buf, (size_t)n), 0);
            continue;
        }
        if (n == 0)
            s->is_eof = true;
        else
            assert_true(errno == EAGAIN || errno == EINTR);
        return;
    }
}

/* Runs the loop until every sub has at least want[i] bytes (or EOF). */
static void run_until_received(netfx_t *f, sub_t *subs, size_t cnt, const size_t *want)
{
    uint64_t dl = wsh_clock_mono_ms() + DEADLINE_MS;
    for (;;) {
        bool done = true;
        for (size_t i = 0; i < cnt; i++) {
            sub_read(&subs[i]);
            if (subs[i].got.len < want[i] && !subs[i].is_eof)
                done = false;
        }
        if (done)
            return;
        if (wsh_clock_mono_ms() > dl)
            fail_msg("timed out waiting for the subscribers' bytes");
        wsh_loop_run_once(f->loop, 10);
    }
}

/* Closes every subscriber's end; the hub side sees EOF and frees. */
static void netfx_finish(netfx_t *f, sub_t *subs, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++) {
        close(subs[i].peer);
        wsh_buf_dispose(&subs[i].got);
    }
    uint64_t dl = wsh_clock_mono_ms() + DEADLINE_MS;
    while (f->net->conn_cnt > 0) {
        if (wsh_clock_mono_ms() > dl)
            fail_msg("connections still open");
        wsh_loop_run_once(f->loop, 10);
    }
    wsh_loop_run_once(f->loop, 0);
    for (size_t i = 0; i < cnt; i++)
        assert_true(subs[i].is_gone);
    assert_int_equal(wsh_loop_live_count(f->loop), 0);
    hubfx_dispose(&f->h);
    wsh_net_free(f->net);
    wsh_loop_free(f->loop);
}

/* The msg at the head of a connection's out-queue. */
static wsh_msg_t *queued_head(const wsh_conn_t *c)
{
    assert_true(c->out_cnt > 0);
    return wsh_conn_queued(c, 0);
}

static void test_fanout_publish_queues_one_shared_frame_to_every_subscriber(void **state)
{
    (void)state;
    enum { N = 8 };
    netfx_t f;
    netfx_init(&f, 1u << 20);
    sub_t subs[N + 1];
    for (int i = 0; i < N; i++)
        sub_open(&f, &subs[i], "news");
    sub_open(&f, &subs[N], "sports"); /* must not get news */
    uint64_t delivered0 = atomic_load(&wsh_metrics_tls->delivered);

    const char *data = "{ \"headline\" : \"caf\xc3\xa9\", \"n\": [1 ,2] }";
    wsh_publish_t p = pub("news", "\"r1\"", data, strlen(data));
    wsh_published_t out;
    uint64_t ns0 = wsh_clock_wall_ns();
    assert_int_equal(wsh_fanout_publish(f.h.hub, &p, &out), 0);
    assert_int_equal(out.offset, 1);
    assert_int_equal(out.delivered, N);
    assert_int_equal(atomic_load(&wsh_metrics_tls->delivered), delivered0 + N);

    /* Encoded once: every out-queue holds the same msg, whose references
     * are exactly the queues' (the publisher dropped its own). */
    wsh_msg_t *m = queued_head(subs[0].conn);
    for (int i = 0; i < N; i++) {
        assert_int_equal(subs[i].conn->out_cnt, 1);
        assert_ptr_equal(queued_head(subs[i].conn), m);
    }
    assert_int_equal(subs[N].conn->out_cnt, 0);
    assert_int_equal(m->refcnt, N);
    assert_true(m->pub_ns >= ns0); /* stamped for the latency histogram */

    wsh_buf_t want;
    expected_frame(&want, "news", 1, out.ts, "\"r1\"", data, strlen(data));
    assert_int_equal(m->len, want.len);
    size_t wants[N + 1];
    for (int i = 0; i < N; i++)
        wants[i] = want.len;
    wants[N] = 0;
    run_until_received(&f, subs, N + 1, wants);
    for (int i = 0; i < N; i++) {
        assert_int_equal(subs[i].got.len, want.len);
        assert_memory_equal(subs[i].got.data, want.data, want.len);
        assert_int_equal(subs[i].conn->out_cnt, 0); /* flushed: references released */
    }
    sub_read(&subs[N]);
    assert_int_equal(subs[N].got.len, 0);
    wsh_buf_dispose(&want);
    netfx_finish(&f, subs, N + 1);
}

static void test_fanout_publish_delivers_in_offset_order(void **state)
{
    (void)state;
    enum { N = 3, MSGS = 50 };
    netfx_t f;
    netfx_init(&f, 1u << 20);
    sub_t subs[N];
    for (int i = 0; i < N; i++)
        sub_open(&f, &subs[i], "seq");
    wsh_buf_t all;
    wsh_buf_init(&all);
    for (int k = 1; k <= MSGS; k++) {
        char data[16];
        int n = snprintf(data, sizeof data, "%d", k);
        wsh_publish_t p = pub("seq", NULL, data, (size_t)n);
        wsh_published_t out;
        assert_int_equal(wsh_fanout_publish(f.h.hub, &p, &out), 0);
        assert_int_equal(out.offset, (uint64_t)k);
        wsh_buf_t one;
        expected_frame(&one, "seq", (uint64_t)k, out.ts, NULL, data, (size_t)n);
        assert_int_equal(wsh_buf_append(&all, one.data, one.len), 0);
        wsh_buf_dispose(&one);
    }
    size_t wants[N] = {all.len, all.len, all.len};
    run_until_received(&f, subs, N, wants);
    for (int i = 0; i < N; i++) {
        assert_int_equal(subs[i].got.len, all.len);
        assert_memory_equal(subs[i].got.data, all.data, all.len);
    }
    wsh_buf_dispose(&all);
    netfx_finish(&f, subs, N);
}

static void test_fanout_over_cap_subscriber_is_closed_4008_and_others_still_receive(void **state)
{
    (void)state;
    enum { N = 4, SLOW = 1 };
    netfx_t f;
    netfx_init(&f, 4096);
    sub_t subs[N];
    for (int i = 0; i < N; i++)
        sub_open(&f, &subs[i], "feed");
    /* The slow one stopped reading: its socket is full and 4000 more bytes
     * wait in its queue. */
    size_t junk = fill_socket(subs[SLOW].conn->io.fd);
    static uint8_t filler[4000];
    assert_int_equal(wsh_conn_send_copy(subs[SLOW].conn, filler, sizeof filler), 0);
    uint64_t slow0 = atomic_load(&wsh_metrics_tls->slow_closes);

    char *data = json_string_of_len(300);
    wsh_publish_t p = pub("feed", NULL, data, strlen(data));
    wsh_published_t out;
    assert_int_equal(wsh_fanout_publish(f.h.hub, &p, &out), 0);
    assert_int_equal(out.delivered, N - 1);
    assert_int_equal(atomic_load(&wsh_metrics_tls->slow_closes), slow0 + 1);

    wsh_buf_t want;
    expected_frame(&want, "feed", 1, out.ts, NULL, data, strlen(data));
    size_t wants[N];
    for (int i = 0; i < N; i++)
        wants[i] = i == SLOW ? SIZE_MAX : want.len; /* the slow one: until EOF */
    run_until_received(&f, subs, N, wants);
    for (int i = 0; i < N; i++) {
        if (i == SLOW)
            continue;
        assert_int_equal(subs[i].got.len, want.len);
        assert_memory_equal(subs[i].got.data, want.data, want.len);
    }
    /* The slow one gets no message (its queue was discarded), only the close
     * frame with 4008 (RFC 6455 §5.5.1: code in network byte order). */
    assert_true(subs[SLOW].is_eof);
    assert_true(subs[SLOW].got.len >= junk + 4);
    const uint8_t *g = subs[SLOW].got.data + junk;
    assert_int_equal(g[0], 0x88);
    assert_int_equal(((unsigned)g[2] << 8) | g[3], 4008);
    assert_int_equal(subs[SLOW].got.len, junk + 2 + (size_t)(g[1] & 0x7f));
    /* Its subscription went with it; the others stay subscribed. */
    uint64_t dl = wsh_clock_mono_ms() + DEADLINE_MS;
    while (!subs[SLOW].is_gone) {
        if (wsh_clock_mono_ms() > dl)
            fail_msg("slow subscriber never freed");
        wsh_loop_run_once(f.loop, 10);
    }
    assert_int_equal(wsh_channel_find(f.h.hub, "feed", 4)->sub_cnt, N - 1);

    /* A second publish reaches the remaining ones. */
    wsh_published_t out2;
    assert_int_equal(wsh_fanout_publish(f.h.hub, &p, &out2), 0);
    assert_int_equal(out2.offset, 2);
    assert_int_equal(out2.delivered, N - 1);
    wsh_buf_t want2;
    expected_frame(&want2, "feed", 2, out2.ts, NULL, data, strlen(data));
    for (int i = 0; i < N; i++)
        wants[i] = i == SLOW ? 0 : want.len + want2.len;
    run_until_received(&f, subs, N, wants);
    for (int i = 0; i < N; i++) {
        if (i == SLOW)
            continue;
        assert_int_equal(subs[i].got.len, want.len + want2.len);
        assert_memory_equal(subs[i].got.data + want.len, want2.data, want2.len);
    }
    wsh_buf_dispose(&want2);

    free(data);
    wsh_buf_dispose(&want);
    netfx_finish(&f, subs, N);
}

int main(void)
{
    /* Like the server (server.c): a write to a peer that has gone must fail
     * with EPIPE, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    wsh_metrics_register();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fanout_build_small_frame_is_byte_exact),
        cmocka_unit_test(test_fanout_build_copies_data_byte_for_byte),
        cmocka_unit_test(test_fanout_build_includes_the_id_raw_before_data),
        cmocka_unit_test(test_fanout_build_prints_the_largest_offsets_and_timestamps),
        cmocka_unit_test(test_fanout_build_uses_7bit_length_up_to_125),
        cmocka_unit_test(test_fanout_build_uses_16bit_length_from_126_to_65535),
        cmocka_unit_test(test_fanout_build_uses_64bit_length_from_65536),
        cmocka_unit_test(test_fanout_build_returns_null_when_allocation_fails),
        cmocka_unit_test(test_fanout_message_is_freed_exactly_when_the_last_holder_unrefs),
        cmocka_unit_test(test_fanout_publish_without_subscribers_still_assigns_offsets),
        cmocka_unit_test(test_fanout_publish_queues_one_shared_frame_to_every_subscriber),
        cmocka_unit_test(test_fanout_publish_delivers_in_offset_order),
        cmocka_unit_test(test_fanout_over_cap_subscriber_is_closed_4008_and_others_still_receive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
