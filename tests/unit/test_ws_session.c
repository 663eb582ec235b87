/* Unit tests for src/ws/session.c: message assembly, in-place delivery,
 * limits, UTF-8 fail-fast, pings, close frames and cleanup after errors, each
 * vector fed whole, byte by byte and at every split point; not the frame
 * parser's own rules (test_ws_frame.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "ws/session.h"

/* The session's message buffer, allocated only while a message is assembled. */
#define MSG_DATA(s) ((s).msg ? (s).msg->data : NULL)
#define MSG_LEN(s) ((s).msg ? (s).msg->len : 0)

static const uint8_t KEY[4] = {0x37, 0xfa, 0x21, 0x3d};

#define B0(fin, rsv, op) ((uint8_t)(((fin) ? 0x80 : 0) | ((rsv) << 4) | (op)))

/* Appends a masked client frame with the minimal length encoding. */
static size_t put_frame(uint8_t *out, uint8_t b0, const void *payload, size_t plen)
{
    const uint8_t *p = payload;
    size_t o = 0;
    out[o++] = b0;
    if (plen < 126) {
        out[o++] = (uint8_t)(0x80 | plen);
    } else if (plen <= 0xFFFF) {
        out[o++] = 0x80 | 126;
        out[o++] = (uint8_t)(plen >> 8);
        out[o++] = (uint8_t)plen;
    } else {
        out[o++] = 0x80 | 127;
        for (int k = 0; k < 8; k++)
            out[o++] = (uint8_t)((uint64_t)plen >> (56 - 8 * k));
    }
    memcpy(out + o, KEY, 4);
    o += 4;
    for (size_t i = 0; i < plen; i++)
        out[o + i] = (uint8_t)(p[i] ^ KEY[i & 3]);
    return o + plen;
}

/* Header only, declaring len bytes that are not supplied. */
static size_t put_header(uint8_t *out, uint8_t b0, uint64_t len)
{
    size_t o = 0;
    out[o++] = b0;
    if (len < 126) {
        out[o++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xFFFF) {
        out[o++] = 0x80 | 126;
        out[o++] = (uint8_t)(len >> 8);
        out[o++] = (uint8_t)len;
    } else {
        out[o++] = 0x80 | 127;
        for (int k = 0; k < 8; k++)
            out[o++] = (uint8_t)(len >> (56 - 8 * k));
    }
    memcpy(out + o, KEY, 4);
    return o + 4;
}

/* A growable byte string for building vectors. */
typedef struct vbuf {
    uint8_t *d;
    size_t n, cap;
} vbuf_t;

static uint8_t *vb_room(vbuf_t *v, size_t extra)
{
    if (v->n + extra > v->cap) {
        v->cap = (v->n + extra) * 2 + 64;
        v->d = realloc(v->d, v->cap);
        assert_non_null(v->d);
    }
    return v->d + v->n;
}

static void vb_frame(vbuf_t *v, uint8_t b0, const void *payload, size_t plen)
{
    v->n += put_frame(vb_room(v, plen + 14), b0, payload, plen);
}

static void vb_header(vbuf_t *v, uint8_t b0, uint64_t len)
{
    v->n += put_header(vb_room(v, 14), b0, len);
}

static void vb_raw(vbuf_t *v, const void *d, size_t n)
{
    memcpy(vb_room(v, n), d, n);
    v->n += n;
}

static void vb_free(vbuf_t *v)
{
    free(v->d);
    memset(v, 0, sizeof(*v));
}

/* ---- A recording owner ---------------------------------------------------- */

typedef struct rec {
    char log[256]; /* one letter per callback: M message, P pong, C close */
    size_t nlog;
    int nmsg;
    uint8_t last_op;
    uint8_t *last; /* copy of the last message */
    size_t last_len;
    bool last_was_in_input; /* the last message pointed into the fed chunk */
    uint64_t digest;        /* FNV-1a over every message (op, len, bytes) */
    uint8_t pong[125];
    size_t pong_len;
    int npong;
    uint16_t close_code;
    uint8_t reason[125];
    size_t reason_len;
    int nclose;
    int msg_rc; /* what on_message returns */
    const uint8_t *in_lo, *in_hi;
    wsh_session_t *s;
    uint8_t msg_rsv_seen;
} rec_t;

static void log_ev(rec_t *r, char c)
{
    if (r->nlog + 1 < sizeof(r->log))
        r->log[r->nlog++] = c;
}

/* A word-at-a-time multiplicative hash: the 64 KiB vector is digested once
 * per split point, so a byte-wise hash would dominate the run time. */
static uint64_t fnv(uint64_t h, const void *d, size_t n)
{
    const uint8_t *p = d;
    size_t i = 0;
    for (; n - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
    }
    for (; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static int on_message(void *ud, uint8_t opcode, uint8_t *data, size_t len)
{
    rec_t *r = ud;
    assert_non_null(data);
    log_ev(r, 'M');
    r->nmsg++;
    r->last_op = opcode;
    free(r->last);
    r->last = malloc(len ? len : 1);
    assert_non_null(r->last);
    if (len)
        memcpy(r->last, data, len);
    r->last_len = len;
    r->last_was_in_input = data >= r->in_lo && data + len <= r->in_hi;
    r->digest = fnv(r->digest, &opcode, 1);
    r->digest = fnv(r->digest, &len, sizeof(len));
    r->digest = fnv(r->digest, data, len);
    if (r->s)
        r->msg_rsv_seen = r->s->msg_rsv;
    return r->msg_rc;
}

static void on_control(void *ud, uint8_t opcode, const uint8_t *payload, size_t len)
{
    rec_t *r = ud;
    assert_int_equal(opcode, WSH_OP_PONG);
    assert_true(len <= 125);
    log_ev(r, 'P');
    r->npong++;
    memcpy(r->pong, payload, len);
    r->pong_len = len;
}

static void on_close(void *ud, uint16_t code, const uint8_t *reason, size_t reason_len)
{
    rec_t *r = ud;
    log_ev(r, 'C');
    r->nclose++;
    r->close_code = code;
    assert_true(reason_len <= 123);
    memcpy(r->reason, reason, reason_len);
    r->reason_len = reason_len;
}

static const wsh_session_cb_t CB = {on_message, on_control, on_close};

static void rec_free(rec_t *r)
{
    free(r->last);
    r->last = NULL;
}

/* Feeds in[0..n) in the chunks that the ascending cuts delimit, each copied
 * into its own exact-size allocation (so reading past a chunk, or keeping a
 * pointer into it, is caught by ASan/valgrind). Returns the first error, or
 * 0. close_sent_at, if not SIZE_MAX, marks our close as sent before the
 * chunk that starts at or after that offset. */

/* The session keeps no callbacks (they are passed on every feed); these
 * tests have one session at a time and keep its callbacks here. */
static const wsh_session_cb_t *g_cb;
static void *g_ud;

static void session_init(wsh_session_t *s, const wsh_session_limits_t *lim, const wsh_session_cb_t *cb, void *ud)
{
    wsh_session_init(s, lim);
    g_cb = cb;
    g_ud = ud;
}

static int session_feed(wsh_session_t *s, uint8_t *data, size_t len) { return wsh_session_feed(s, g_cb, g_ud, data, len); }

static int feed_chunks(wsh_session_t *s, rec_t *r, const uint8_t *in, size_t n, const size_t *cuts,
                       size_t ncuts, size_t close_sent_at)
{
    size_t start = 0;
    for (size_t ci = 0; ci <= ncuts; ci++) {
        size_t end = ci < ncuts ? cuts[ci] : n;
        size_t clen = end - start;
        uint8_t *buf = malloc(clen ? clen : 1);
        assert_non_null(buf);
        if (clen)
            memcpy(buf, in + start, clen);
        r->in_lo = buf;
        r->in_hi = buf + clen;
        if (start >= close_sent_at && !s->is_close_sent)
            wsh_session_mark_close_sent(s);
        int rc = session_feed(s, buf, clen);
        free(buf);
        if (rc)
            return rc;
        start = end;
    }
    return 0;
}

typedef struct outcome {
    int rc;
    rec_t r;
    bool msg_buffer_freed; /* s->msg holds no memory at the end */
} outcome_t;

static const wsh_session_limits_t LIM = {1u << 20, 0};

static void run_once(const wsh_session_limits_t *lim, const uint8_t *in, size_t n, const size_t *cuts,
                     size_t ncuts, size_t close_sent_at, outcome_t *o)
{
    wsh_session_t s;
    memset(o, 0, sizeof(*o));
    session_init(&s, lim, &CB, &o->r);
    o->r.s = &s;
    o->rc = feed_chunks(&s, &o->r, in, n, cuts, ncuts, close_sent_at);
    o->r.s = NULL;
    /* Between messages, or after any error, no buffer may be held. */
    o->msg_buffer_freed = MSG_DATA(s) == NULL;
    wsh_session_dispose(&s);
}

static void assert_same_outcome(const outcome_t *a, const outcome_t *b)
{
    assert_int_equal(a->rc, b->rc);
    assert_int_equal(a->r.nlog, b->r.nlog);
    assert_memory_equal(a->r.log, b->r.log, a->r.nlog);
    assert_int_equal(a->r.digest, b->r.digest);
    assert_int_equal(a->r.pong_len, b->r.pong_len);
    assert_memory_equal(a->r.pong, b->r.pong, a->r.pong_len);
    assert_int_equal(a->r.close_code, b->r.close_code);
    assert_int_equal(a->r.reason_len, b->r.reason_len);
    assert_memory_equal(a->r.reason, b->r.reason, a->r.reason_len);
}

/* Runs a vector whole, byte by byte, at every split point and (when short)
 * at every pair of split points; all outcomes must agree. Leaves the whole
 * run in *o (caller frees with rec_free(&o->r)). */
static void run_all_splits_cs(const wsh_session_limits_t *lim, const uint8_t *in, size_t n,
                              size_t close_sent_at, outcome_t *o)
{
    outcome_t x;
    run_once(lim, in, n, NULL, 0, close_sent_at, o);

    size_t *cuts = malloc((n ? n : 1) * sizeof(size_t));
    assert_non_null(cuts);
    for (size_t i = 1; i < n; i++)
        cuts[i - 1] = i;
    run_once(lim, in, n, cuts, n ? n - 1 : 0, close_sent_at, &x);
    assert_same_outcome(o, &x);
    rec_free(&x.r);
    free(cuts);

    /* Under valgrind (WSH_SLOW_TOOL) long vectors are split at ~256 evenly
     * spaced points instead of every one; the sanitizer pass does all. */
    size_t step = (getenv("WSH_SLOW_TOOL") && n > 1024) ? n / 256 : 1;
    for (size_t k = 0; k <= n; k += step) {
        size_t cut[1] = {k};
        run_once(lim, in, n, cut, 1, close_sent_at, &x);
        assert_same_outcome(o, &x);
        rec_free(&x.r);
    }
    /* Pairs of splits are O(n^2) runs: skipped under valgrind (WSH_SLOW_TOOL), which
     * the sanitizer pass already covers at full depth. */
    if (n <= 48 && !getenv("WSH_SLOW_TOOL")) {
        for (size_t a = 1; a < n; a++) {
            for (size_t b = a; b < n; b++) {
                size_t cut[2] = {a, b};
                run_once(lim, in, n, cut, 2, close_sent_at, &x);
                assert_same_outcome(o, &x);
                rec_free(&x.r);
            }
        }
    }
}

static void run_all_splits(const wsh_session_limits_t *lim, const uint8_t *in, size_t n, outcome_t *o)
{
    run_all_splits_cs(lim, in, n, SIZE_MAX, o);
}

/* ---- RFC 6455 §5.7 examples and delivery --------------------------------- */

static void test_session_rfc6455_masked_hello_is_delivered_in_place_without_allocating(void **state)
{
    (void)state;
    uint8_t v[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    rec_t r = {0};
    wsh_session_t s;
    session_init(&s, &LIM, &CB, &r);
    r.in_lo = v;
    r.in_hi = v + sizeof(v);
    /* Any wsh_try_* allocation would fail and surface as WSH_ENOMEM. */
    wsh_alloc_fail_nth(1);
    int rc = session_feed(&s, v, sizeof(v));
    wsh_alloc_fail_nth(0);
    assert_int_equal(rc, 0);
    assert_int_equal(r.nmsg, 1);
    assert_int_equal(r.last_op, WSH_OP_TEXT);
    assert_int_equal(r.last_len, 5);
    assert_memory_equal(r.last, "Hello", 5);
    assert_true(r.last_was_in_input);
    assert_null(MSG_DATA(s));
    wsh_session_dispose(&s);
    rec_free(&r);
}

static void test_session_header_split_from_payload_still_delivers_in_place(void **state)
{
    (void)state;
    uint8_t v[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    rec_t r = {0};
    wsh_session_t s;
    session_init(&s, &LIM, &CB, &r);
    assert_int_equal(session_feed(&s, v, 4), 0);
    r.in_lo = v + 4;
    r.in_hi = v + sizeof(v);
    wsh_alloc_fail_nth(1);
    int rc = session_feed(&s, v + 4, sizeof(v) - 4);
    wsh_alloc_fail_nth(0);
    assert_int_equal(rc, 0);
    assert_int_equal(r.nmsg, 1);
    assert_true(r.last_was_in_input);
    wsh_session_dispose(&s);
    rec_free(&r);
}

static void test_session_unfragmented_message_split_across_feeds_is_copied_then_freed(void **state)
{
    (void)state;
    uint8_t v[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    rec_t r = {0};
    wsh_session_t s;
    session_init(&s, &LIM, &CB, &r);
    assert_int_equal(session_feed(&s, v, 8), 0);
    assert_int_equal(r.nmsg, 0);
    assert_non_null(MSG_DATA(s)); /* the partial payload is held */
    assert_int_equal(session_feed(&s, v + 8, 3), 0);
    assert_int_equal(r.nmsg, 1);
    assert_memory_equal(r.last, "Hello", 5);
    assert_false(r.last_was_in_input);
    assert_null(MSG_DATA(s));
    wsh_session_dispose(&s);
    rec_free(&r);
}

static void test_session_rfc6455_vectors_at_every_split(void **state)
{
    (void)state;
    vbuf_t v = {0};
    /* Masked "Hello", fragmented "Hel"+"lo", ping "Hello", masked pong,
     * 256-byte and 64 KiB binary messages (§5.7), all in one stream. */
    vb_frame(&v, B0(1, 0, WSH_OP_TEXT), "Hello", 5);
    vb_frame(&v, B0(0, 0, WSH_OP_TEXT), "Hel", 3);
    vb_frame(&v, B0(1, 0, WSH_OP_CONT), "lo", 2);
    vb_frame(&v, B0(1, 0, WSH_OP_PING), "Hello", 5);
    vb_frame(&v, B0(1, 0, WSH_OP_PONG), "Hello", 5);
    uint8_t *big = malloc(65536);
    assert_non_null(big);
    for (size_t i = 0; i < 65536; i++)
        big[i] = (uint8_t)(i * 13u);
    vb_frame(&v, B0(1, 0, WSH_OP_BINARY), big, 256);
    vb_frame(&v, B0(1, 0, WSH_OP_BINARY), big, 65536);
    outcome_t o;
    run_all_splits(&LIM, v.d, v.n, &o);
    assert_int_equal(o.rc, 0);
    assert_string_equal(o.r.log, "MMPMM");
    assert_int_equal(o.r.npong, 1);
    assert_int_equal(o.r.pong_len, 5);
    assert_memory_equal(o.r.pong, "Hello", 5);
    assert_int_equal(o.r.last_op, WSH_OP_BINARY);
    assert_int_equal(o.r.last_len, 65536);
    assert_memory_equal(o.r.last, big, 65536);
    assert_true(o.msg_buffer_freed);
    rec_free(&o.r);
    free(big);
    vb_free(&v);
}

static void test_session_assembles_fragmented_message(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(0, 0, WSH_OP_BINARY), "ab", 2);
    vb_frame(&v, B0(0, 0, WSH_OP_CONT), "", 0);
    vb_frame(&v, B0(0, 0, WSH_OP_CONT), "cde", 3);
    vb_frame(&v, B0(1, 0, WSH_OP_CONT), "f", 1);
    outcome_t o;
    run_all_splits(&LIM, v.d, v.n, &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.r.nmsg, 1);
    assert_int_equal(o.r.last_op, WSH_OP_BINARY);
    assert_int_equal(o.r.last_len, 6);
    assert_memory_equal(o.r.last, "abcdef", 6);
    assert_false(o.r.last_was_in_input);
    assert_true(o.msg_buffer_freed);
    rec_free(&o.r);
    vb_free(&v);
}

static void test_session_empty_messages_are_delivered_with_a_valid_pointer(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(1, 0, WSH_OP_TEXT), "", 0);
    vb_frame(&v, B0(0, 0, WSH_OP_BINARY), "", 0);
    vb_frame(&v, B0(1, 0, WSH_OP_CONT), "", 0);
    outcome_t o;
    run_all_splits(&LIM, v.d, v.n, &o); /* on_message asserts data != NULL */
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.r.nmsg, 2);
    assert_int_equal(o.r.last_op, WSH_OP_BINARY);
    assert_int_equal(o.r.last_len, 0);
    rec_free(&o.r);
    vb_free(&v);
}

/* ---- Control frames ------------------------------------------------------ */

static void test_session_answers_ping_between_fragments(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(0, 0, WSH_OP_TEXT), "Hel", 3);
    vb_frame(&v, B0(1, 0, WSH_OP_PING), "are you there", 13);
    vb_frame(&v, B0(1, 0, WSH_OP_PONG), "ignored", 7);
    vb_frame(&v, B0(1, 0, WSH_OP_CONT), "lo", 2);
    outcome_t o;
    run_all_splits(&LIM, v.d, v.n, &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.r.nlog, 2);
    assert_memory_equal(o.r.log, "PM", 2); /* pong requested before the message ends */
    assert_int_equal(o.r.pong_len, 13);
    assert_memory_equal(o.r.pong, "are you there", 13);
    assert_memory_equal(o.r.last, "Hello", 5);
    rec_free(&o.r);
    vb_free(&v);
}

static void test_session_collects_125_byte_ping_payload_across_splits(void **state)
{
    (void)state;
    uint8_t payload[125];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(255 - i);
    vbuf_t v = {0};
    vb_frame(&v, B0(1, 0, WSH_OP_PING), payload, 125);
    vb_frame(&v, B0(1, 0, WSH_OP_PING), "", 0);
    outcome_t o;
    run_all_splits(&LIM, v.d, v.n, &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.r.npong, 2);
    assert_int_equal(o.r.pong_len, 0); /* the last pong echoes the empty ping */
    rec_free(&o.r);
    /* The first ping alone echoes all 125 bytes. */
    run_all_splits(&LIM, v.d, put_frame(v.d, B0(1, 0, WSH_OP_PING), payload, 125), &o);
    assert_int_equal(o.r.npong, 1);
    assert_int_equal(o.r.pong_len, 125);
    assert_memory_equal(o.r.pong, payload, 125);
    rec_free(&o.r);
    vb_free(&v);
}

static void test_session_ignores_pong(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(1, 0, WSH_OP_PONG), "unsolicited", 11);
    outcome_t o;
    run_all_splits(&LIM, v.d, v.n, &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.r.nlog, 0);
    rec_free(&o.r);
    vb_free(&v);
}

static void test_session_control_frames_are_not_limited_by_a_small_message_cap(void **state)
{
    (void)state;
    const wsh_session_limits_t tiny = {4, 0};
    uint8_t payload[100];
    memset(payload, 'q', sizeof(payload));
    vbuf_t v = {0};
    vb_frame(&v, B0(1, 0, WSH_OP_PING), payload, 100);
    outcome_t o;
    run_all_splits(&tiny, v.d, v.n, &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.r.pong_len, 100);
    rec_free(&o.r);
    vb_free(&v);
}

/* ---- Fragmentation rules ------------------------------------------------- */

static void test_session_rejects_continuation_without_start(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(1, 0, WSH_OP_CONT), "x", 1);
    outcome_t o;
    run_all_splits(&LIM, v.d, v.n, &o);
    assert_int_equal(o.rc, WSH_EPROTO);
    assert_int_equal(o.r.nlog, 0);
    rec_free(&o.r);
    /* Also after a complete message. */
    v.n = 0;
    vb_frame(&v, B0(1, 0, WSH_OP_TEXT), "a", 1);
    vb_frame(&v, B0(0, 0, WSH_OP_CONT), "b", 1);
    run_all_splits(&LIM, v.d, v.n, &o);
    assert_int_equal(o.rc, WSH_EPROTO);
    assert_int_equal(o.r.nmsg, 1);
    rec_free(&o.r);
    vb_free(&v);
}

static void test_session_rejects_data_frame_inside_fragmented_message(void **state)
{
    (void)state;
    const uint8_t second[] = {WSH_OP_TEXT, WSH_OP_BINARY};
    for (int fin = 0; fin <= 1; fin++) {
        for (size_t i = 0; i < 2; i++) {
            vbuf_t v = {0};
            vb_frame(&v, B0(0, 0, WSH_OP_TEXT), "frag", 4);
            vb_frame(&v, B0(fin, 0, second[i]), "new", 3);
            outcome_t o;
            run_all_splits(&LIM, v.d, v.n, &o);
            assert_int_equal(o.rc, WSH_EPROTO);
            assert_int_equal(o.r.nmsg, 0);
            assert_true(o.msg_buffer_freed);
            rec_free(&o.r);
            vb_free(&v);
        }
    }
}

static void test_session_rejects_fragments_over_cap_with_policy_error(void **state)
{
    (void)state;
    const wsh_session_limits_t lim = {1u << 20, 3};
    vbuf_t v = {0};
    vb_frame(&v, B0(0, 0, WSH_OP_TEXT), "a", 1);
    vb_frame(&v, B0(0, 0, WSH_OP_CONT), "b", 1);
    vb_frame(&v, B0(1, 0, WSH_OP_CONT), "c", 1);
    outcome_t o;
    run_all_splits(&lim, v.d, v.n, &o); /* exactly three frames: fine */
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.r.nmsg, 1);
    assert_memory_equal(o.r.last, "abc", 3);
    rec_free(&o.r);

    v.n = 0;
    vb_frame(&v, B0(0, 0, WSH_OP_TEXT), "a", 1);
    vb_frame(&v, B0(0, 0, WSH_OP_CONT), "b", 1);
    vb_frame(&v, B0(0, 0, WSH_OP_CONT), "c", 1);
    vb_frame(&v, B0(1, 0, WSH_OP_CONT), "d", 1);
    run_all_splits(&lim, v.d, v.n, &o);
    assert_int_equal(o.rc, WSH_EPOLICY);
    assert_int_equal(o.r.nmsg, 0);
    assert_true(o.msg_buffer_freed);
    rec_free(&o.r);
    vb_free(&v);
}

static void test_session_accepts_65536_fragments_under_1mib_cap(void **state)
{
    (void)state;
    const wsh_session_limits_t lim = {1u << 20, 0};
    vbuf_t v = {0};
    uint8_t chunk[16];
    for (uint32_t i = 0; i < 65536; i++) {
        for (size_t k = 0; k < sizeof(chunk); k++)
            chunk[k] = (uint8_t)(i + k);
        vb_frame(&v, B0(i == 65535, 0, i == 0 ? WSH_OP_BINARY : WSH_OP_CONT), chunk, sizeof(chunk));
    }
    outcome_t o;
    /* Whole, and in 4093-byte reads (a prime, so cuts land everywhere). */
    run_once(&lim, v.d, v.n, NULL, 0, SIZE_MAX, &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.r.nmsg, 1);
    assert_int_equal(o.r.last_len, 1u << 20);
    for (uint32_t i = 0; i < 65536; i += 4099)
        assert_int_equal(o.r.last[i * 16 + 5], (uint8_t)(i + 5));
    assert_true(o.msg_buffer_freed);
    outcome_t x;
    size_t ncuts = v.n / 4093;
    size_t *cuts = malloc(ncuts * sizeof(size_t));
    assert_non_null(cuts);
    for (size_t i = 0; i < ncuts; i++)
        cuts[i] = (i + 1) * 4093;
    run_once(&lim, v.d, v.n, cuts, ncuts, SIZE_MAX, &x);
    assert_same_outcome(&o, &x);
    rec_free(&x.r);
    free(cuts);
    rec_free(&o.r);
    vb_free(&v);
}

static void test_session_rejects_65537th_byte_over_1mib_cap(void **state)
{
    (void)state;
    const wsh_session_limits_t lim = {1u << 20, 0};
    vbuf_t v = {0};
    uint8_t chunk[16] = {0};
    for (uint32_t i = 0; i < 65536; i++)
        vb_frame(&v, B0(0, 0, i == 0 ? WSH_OP_BINARY : WSH_OP_CONT), chunk, sizeof(chunk));
    /* Header only: the cap is judged on the declared length. */
    vb_header(&v, B0(1, 0, WSH_OP_CONT), 1);
    outcome_t o;
    run_once(&lim, v.d, v.n, NULL, 0, SIZE_MAX, &o);
    assert_int_equal(o.rc, WSH_ETOOBIG);
    assert_int_equal(o.r.nmsg, 0);
    assert_true(o.msg_buffer_freed);
    rec_free(&o.r);
    vb_free(&v);
}

/* ---- Message size cap ---------------------------------------------------- */

static void test_session_rejects_single_frame_over_max_before_payload(void **state)
{
    (void)state;
    const wsh_session_limits_t lim = {100, 0};
    vbuf_t v = {0};
    vb_header(&v, B0(1, 0, WSH_OP_BINARY), 101);
    outcome_t o;
    run_all_splits(&lim, v.d, v.n, &o);
    assert_int_equal(o.rc, WSH_ETOOBIG);
    rec_free(&o.r);
    v.n = 0;
    vb_header(&v, B0(0, 0, WSH_OP_TEXT), 1ull << 40);
    run_all_splits(&lim, v.d, v.n, &o);
    assert_int_equal(o.rc, WSH_ETOOBIG);
    rec_free(&o.r);
    vb_free(&v);
}

static void test_session_rejects_fragment_that_would_exceed_max_before_buffering(void **state)
{
    (void)state;
    const wsh_session_limits_t lim = {100, 0};
    uint8_t sixty[60];
    memset(sixty, 's', sizeof(sixty));
    vbuf_t v = {0};
    vb_frame(&v, B0(0, 0, WSH_OP_BINARY), sixty, 60);
    vb_header(&v, B0(1, 0, WSH_OP_CONT), 41); /* 60 + 41 > 100, no payload sent */
    outcome_t o;
    run_all_splits(&lim, v.d, v.n, &o);
    assert_int_equal(o.rc, WSH_ETOOBIG);
    assert_int_equal(o.r.nmsg, 0);
    assert_true(o.msg_buffer_freed);
    rec_free(&o.r);
    vb_free(&v);
}

static void test_session_accepts_message_of_exactly_max(void **state)
{
    (void)state;
    const wsh_session_limits_t lim = {100, 0};
    uint8_t p[100];
    memset(p, 'm', sizeof(p));
    vbuf_t v = {0};
    vb_frame(&v, B0(1, 0, WSH_OP_BINARY), p, 100);
    vb_frame(&v, B0(0, 0, WSH_OP_BINARY), p, 60);
    vb_frame(&v, B0(1, 0, WSH_OP_CONT), p, 40);
    outcome_t o;
    run_all_splits(&lim, v.d, v.n, &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.r.nmsg, 2);
    assert_int_equal(o.r.last_len, 100);
    rec_free(&o.r);
    vb_free(&v);
}

static void test_session_reserves_declared_frame_length_up_front(void **state)
{
    (void)state;
    const wsh_session_limits_t lim = {1u << 20, 0};
    rec_t r = {0};
    wsh_session_t s;
    session_init(&s, &lim, &CB, &r);
    uint8_t hdr[16];
    size_t n = put_header(hdr, B0(0, 0, WSH_OP_BINARY), 5000);
    assert_int_equal(session_feed(&s, hdr, n), 0);
    assert_non_null(MSG_DATA(s));
    assert_non_null(s.msg);
    assert_true(s.msg->cap >= 5000);
    assert_int_equal(MSG_LEN(s), 0);
    /* Payload chunks then append without further allocation. */
    uint8_t *payload = malloc(5000 + 14);
    uint8_t *full = malloc(5000 + 14);
    assert_non_null(payload);
    assert_non_null(full);
    memset(payload, 'r', 5000);
    size_t fn = put_frame(full, B0(0, 0, WSH_OP_BINARY), payload, 5000);
    uint8_t *before = MSG_DATA(s);
    wsh_alloc_fail_nth(1);
    int rc = 0;
    for (size_t off = n; off < fn && rc == 0; off += 700)
        rc = session_feed(&s, full + off, fn - off < 700 ? fn - off : 700);
    wsh_alloc_fail_nth(0);
    assert_int_equal(rc, 0);
    assert_ptr_equal(MSG_DATA(s), before);
    assert_int_equal(MSG_LEN(s), 5000);
    /* A continuation's header reserves its declared length as well. */
    n = put_header(hdr, B0(1, 0, WSH_OP_CONT), 20000);
    assert_int_equal(session_feed(&s, hdr, n), 0);
    assert_true(s.msg->cap >= 25000);
    assert_int_equal(MSG_LEN(s), 5000);
    wsh_session_dispose(&s);
    assert_null(MSG_DATA(s));
    free(payload);
    free(full);
    rec_free(&r);
}

static void test_session_zero_max_message_allows_only_empty_messages(void **state)
{
    (void)state;
    const wsh_session_limits_t lim = {0, 0};
    vbuf_t v = {0};
    vb_frame(&v, B0(1, 0, WSH_OP_TEXT), "", 0);
    vb_frame(&v, B0(1, 0, WSH_OP_TEXT), "x", 1);
    outcome_t o;
    run_all_splits(&lim, v.d, v.n, &o);
    assert_int_equal(o.rc, WSH_ETOOBIG);
    assert_int_equal(o.r.nmsg, 1);
    rec_free(&o.r);
    vb_free(&v);
}

/* ---- UTF-8 --------------------------------------------------------------- */

#define KOSME "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"

/* Autobahn 6.4.1-6.4.4: the text turns invalid in the middle. Feeding up to
 * and including the first bad byte must fail then, before the rest arrives. */
static void check_fail_fast(const vbuf_t *v, size_t bad_at)
{
    for (size_t cut = 0; cut <= v->n; cut++) {
        rec_t r = {0};
        wsh_session_t s;
        session_init(&s, &LIM, &CB, &r);
        uint8_t *a = malloc(v->n);
        assert_non_null(a);
        memcpy(a, v->d, v->n);
        int rc1 = session_feed(&s, a, cut);
        if (cut > bad_at) {
            assert_int_equal(rc1, WSH_EUTF8); /* failed within this feed */
        } else {
            assert_int_equal(rc1, 0);
            assert_int_equal(session_feed(&s, a + cut, v->n - cut), WSH_EUTF8);
        }
        assert_int_equal(r.nmsg, 0);
        assert_null(MSG_DATA(s));
        wsh_session_dispose(&s);
        free(a);
        rec_free(&r);
    }
}

static void test_session_utf8_fails_fast_autobahn_6_4_1_three_frames(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(0, 0, WSH_OP_TEXT), KOSME, 11);
    size_t second = v.n + 6; /* start of the second frame's payload */
    vb_frame(&v, B0(0, 0, WSH_OP_CONT), "\xf4\x90\x80\x80", 4);
    vb_frame(&v, B0(1, 0, WSH_OP_CONT), "edited", 6);
    check_fail_fast(&v, second + 1); /* 0x90 */
    vb_free(&v);
}

static void test_session_utf8_fails_fast_autobahn_6_4_2_split_code_point(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(0, 0, WSH_OP_TEXT), KOSME "\xf4", 12);
    size_t second = v.n + 6;
    vb_frame(&v, B0(0, 0, WSH_OP_CONT), "\x90", 1);
    vb_frame(&v, B0(1, 0, WSH_OP_CONT), "\x80\x80" "edited", 8);
    check_fail_fast(&v, second);
    vb_free(&v);
}

static void test_session_utf8_fails_fast_autobahn_6_4_3_one_frame_in_chops(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(1, 0, WSH_OP_TEXT), KOSME "\xf4\x90\x80\x80" "edited", 21);
    check_fail_fast(&v, 6 + 11 + 1);
    vb_free(&v);
}

static void test_session_utf8_fails_fast_on_surrogate_in_one_frame(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(1, 0, WSH_OP_TEXT), "edited\xed\xa0\x80" "more", 13);
    check_fail_fast(&v, 6 + 6 + 1); /* 0xA0 */
    vb_free(&v);
}

static void test_session_rejects_text_ending_mid_sequence(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(1, 0, WSH_OP_TEXT), "abc\xe2\x82", 5);
    outcome_t o;
    run_all_splits(&LIM, v.d, v.n, &o);
    assert_int_equal(o.rc, WSH_EUTF8);
    assert_int_equal(o.r.nmsg, 0);
    rec_free(&o.r);
    v.n = 0;
    vb_frame(&v, B0(0, 0, WSH_OP_TEXT), "abc", 3);
    vb_frame(&v, B0(1, 0, WSH_OP_CONT), "\xf0\x9f\x98", 3);
    run_all_splits(&LIM, v.d, v.n, &o);
    assert_int_equal(o.rc, WSH_EUTF8);
    rec_free(&o.r);
    vb_free(&v);
}

static void test_session_validates_text_across_fragment_boundaries(void **state)
{
    (void)state;
    /* U+1F600 split over three fragments with a ping in between. */
    vbuf_t v = {0};
    vb_frame(&v, B0(0, 0, WSH_OP_TEXT), "a\xf0", 2);
    vb_frame(&v, B0(0, 0, WSH_OP_CONT), "\x9f\x98", 2);
    vb_frame(&v, B0(1, 0, WSH_OP_PING), "", 0);
    vb_frame(&v, B0(1, 0, WSH_OP_CONT), "\x80z", 2);
    outcome_t o;
    run_all_splits(&LIM, v.d, v.n, &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.r.nmsg, 1);
    assert_int_equal(o.r.last_len, 6);
    assert_memory_equal(o.r.last, "a\xf0\x9f\x98\x80z", 6);
    rec_free(&o.r);
    vb_free(&v);
}

static void test_session_does_not_validate_binary_as_utf8(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(1, 0, WSH_OP_BINARY), "\xff\xfe\xc0", 3);
    outcome_t o;
    run_all_splits(&LIM, v.d, v.n, &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.r.nmsg, 1);
    rec_free(&o.r);
    vb_free(&v);
}

/* ---- Extensions (RSV) ---------------------------------------------------- */

static void test_session_compressed_text_is_not_validated_and_reports_rsv1(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(0, 4, WSH_OP_TEXT), "\xff\x00", 2);
    vb_frame(&v, B0(1, 0, WSH_OP_CONT), "\xfe", 1);
    rec_t r = {0};
    wsh_session_t s;
    session_init(&s, &LIM, &CB, &r);
    s.fp.allowed_rsv = 0x4;
    r.s = &s;
    assert_int_equal(feed_chunks(&s, &r, v.d, v.n, NULL, 0, SIZE_MAX), 0);
    assert_int_equal(r.nmsg, 1);
    assert_int_equal(r.msg_rsv_seen, 0x4);
    assert_int_equal(s.msg_rsv, 0); /* reset once delivered */
    wsh_session_dispose(&s);
    rec_free(&r);
    vb_free(&v);
}

static void test_session_rejects_rsv_on_continuation_and_control_frames(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(0, 4, WSH_OP_TEXT), "a", 1);
    vb_frame(&v, B0(1, 4, WSH_OP_CONT), "b", 1);
    vbuf_t w = {0};
    vb_frame(&w, B0(1, 4, WSH_OP_PING), "p", 1);
    const vbuf_t *vs[2] = {&v, &w};
    for (size_t i = 0; i < 2; i++) {
        rec_t r = {0};
        wsh_session_t s;
        session_init(&s, &LIM, &CB, &r);
        s.fp.allowed_rsv = 0x4;
        assert_int_equal(feed_chunks(&s, &r, vs[i]->d, vs[i]->n, NULL, 0, SIZE_MAX), WSH_EPROTO);
        assert_int_equal(r.nlog, 0);
        assert_null(MSG_DATA(s));
        wsh_session_dispose(&s);
        rec_free(&r);
    }
    vb_free(&v);
    vb_free(&w);
}

/* ---- Close frames -------------------------------------------------------- */

static void test_session_close_without_body_reports_code_zero(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(1, 0, WSH_OP_CLOSE), "", 0);
    outcome_t o;
    run_all_splits(&LIM, v.d, v.n, &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.r.nclose, 1);
    assert_int_equal(o.r.close_code, 0);
    assert_int_equal(o.r.reason_len, 0);
    rec_free(&o.r);
    vb_free(&v);
}

static void test_session_close_with_code_and_reason(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(1, 0, WSH_OP_CLOSE), "\x03\xe8" "bye \xce\xba", 8);
    outcome_t o;
    run_all_splits(&LIM, v.d, v.n, &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.r.nclose, 1);
    assert_int_equal(o.r.close_code, 1000);
    assert_int_equal(o.r.reason_len, 6);
    assert_memory_equal(o.r.reason, "bye \xce\xba", 6);
    rec_free(&o.r);
    vb_free(&v);
}

static void test_session_rejects_close_payload_of_one_byte(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(1, 0, WSH_OP_CLOSE), "\x03", 1);
    outcome_t o;
    run_all_splits(&LIM, v.d, v.n, &o);
    assert_int_equal(o.rc, WSH_EPROTO);
    assert_int_equal(o.r.nclose, 0);
    rec_free(&o.r);
    vb_free(&v);
}

static void test_session_close_codes_autobahn_7_7_and_7_9(void **state)
{
    (void)state;
    const uint16_t valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999};
    const uint16_t invalid[] = {0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]) + sizeof(invalid) / sizeof(invalid[0]); i++) {
        bool ok = i < sizeof(valid) / sizeof(valid[0]);
        uint16_t code = ok ? valid[i] : invalid[i - sizeof(valid) / sizeof(valid[0])];
        uint8_t body[2] = {(uint8_t)(code >> 8), (uint8_t)code};
        vbuf_t v = {0};
        vb_frame(&v, B0(1, 0, WSH_OP_CLOSE), body, 2);
        outcome_t o;
        run_all_splits(&LIM, v.d, v.n, &o);
        if (ok) {
            assert_int_equal(o.rc, 0);
            assert_int_equal(o.r.nclose, 1);
            assert_int_equal(o.r.close_code, code);
        } else {
            assert_int_equal(o.rc, WSH_EPROTO);
            assert_int_equal(o.r.nclose, 0);
        }
        rec_free(&o.r);
        vb_free(&v);
    }
}

static void test_session_rejects_close_reason_that_is_not_utf8(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(1, 0, WSH_OP_CLOSE), "\x03\xe8" "ok\xed\xa0\x80", 7);
    outcome_t o;
    run_all_splits(&LIM, v.d, v.n, &o);
    assert_int_equal(o.rc, WSH_EUTF8);
    assert_int_equal(o.r.nclose, 0);
    rec_free(&o.r);
    /* Truncated sequence at the end of the reason. */
    v.n = 0;
    vb_frame(&v, B0(1, 0, WSH_OP_CLOSE), "\x03\xe8" "ok\xce", 5);
    run_all_splits(&LIM, v.d, v.n, &o);
    assert_int_equal(o.rc, WSH_EUTF8);
    rec_free(&o.r);
    vb_free(&v);
}

static void test_session_ignores_everything_after_close(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(1, 0, WSH_OP_CLOSE), "\x03\xe8", 2);
    vb_frame(&v, B0(1, 0, WSH_OP_TEXT), "after", 5);
    vb_frame(&v, B0(1, 0, WSH_OP_PING), "p", 1);
    vb_raw(&v, "\x83\x00garbage that is not a frame", 30);
    outcome_t o;
    run_all_splits(&LIM, v.d, v.n, &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.r.nlog, 1);
    assert_int_equal(o.r.log[0], 'C');
    rec_free(&o.r);
    vb_free(&v);
}

static void test_session_close_between_fragments_abandons_the_message(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(0, 0, WSH_OP_BINARY), "part", 4);
    vb_frame(&v, B0(1, 0, WSH_OP_CLOSE), "\x03\xe9", 2);
    vb_frame(&v, B0(1, 0, WSH_OP_CONT), "rest", 4);
    outcome_t o;
    run_all_splits(&LIM, v.d, v.n, &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.r.nmsg, 0);
    assert_int_equal(o.r.nclose, 1);
    assert_int_equal(o.r.close_code, 1001);
    assert_true(o.msg_buffer_freed);
    rec_free(&o.r);
    vb_free(&v);
}

static void test_session_after_close_sent_drops_messages_and_pings_but_reports_close(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(1, 0, WSH_OP_TEXT), "dropped", 7);
    vb_frame(&v, B0(0, 0, WSH_OP_BINARY), "dro", 3);
    vb_frame(&v, B0(1, 0, WSH_OP_PING), "unanswered", 10);
    vb_frame(&v, B0(1, 0, WSH_OP_CONT), "pped", 4);
    vb_frame(&v, B0(1, 0, WSH_OP_CLOSE), "\x03\xe8", 2);
    outcome_t o;
    run_all_splits_cs(&LIM, v.d, v.n, 0, &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.r.nlog, 1);
    assert_int_equal(o.r.log[0], 'C');
    assert_int_equal(o.r.close_code, 1000);
    assert_true(o.msg_buffer_freed);
    rec_free(&o.r);
    vb_free(&v);
}

static void test_session_after_close_sent_still_validates_text(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(1, 0, WSH_OP_TEXT), "bad \xc0", 5);
    outcome_t o;
    run_all_splits_cs(&LIM, v.d, v.n, 0, &o);
    assert_int_equal(o.rc, WSH_EUTF8);
    rec_free(&o.r);
    v.n = 0;
    vb_header(&v, B0(1, 0, WSH_OP_BINARY), 2u << 20);
    run_all_splits_cs(&LIM, v.d, v.n, 0, &o);
    assert_int_equal(o.rc, WSH_ETOOBIG);
    rec_free(&o.r);
    vb_free(&v);
}

/* ---- Errors and cleanup -------------------------------------------------- */

static void test_session_returns_on_message_error(void **state)
{
    (void)state;
    vbuf_t v = {0};
    vb_frame(&v, B0(1, 0, WSH_OP_BINARY), "one", 3);
    vb_frame(&v, B0(1, 0, WSH_OP_BINARY), "two", 3);
    /* Both the in-place and the assembled paths. */
    vb_frame(&v, B0(0, 0, WSH_OP_BINARY), "th", 2);
    vb_frame(&v, B0(1, 0, WSH_OP_CONT), "ree", 3);
    for (size_t skip = 0; skip < 3; skip++) {
        static const size_t starts[3] = {0, 9, 18};
        rec_t r = {0};
        r.msg_rc = WSH_EUNSUPPORTED;
        wsh_session_t s;
        session_init(&s, &LIM, &CB, &r);
        int rc = feed_chunks(&s, &r, v.d + starts[skip], v.n - starts[skip], NULL, 0, SIZE_MAX);
        assert_int_equal(rc, WSH_EUNSUPPORTED);
        assert_int_equal(r.nmsg, 1); /* stopped at the first message */
        assert_null(MSG_DATA(s));
        wsh_session_dispose(&s);
        rec_free(&r);
    }
    vb_free(&v);
}

static void test_session_framing_errors_propagate(void **state)
{
    (void)state;
    const uint8_t unmasked[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
    const uint8_t reserved_op[] = {0x83, 0x80, 0, 0, 0, 0};
    const uint8_t rsv2[] = {0xA1, 0x80, 0, 0, 0, 0};
    const uint8_t frag_ping[] = {0x09, 0x80, 0, 0, 0, 0};
    const uint8_t long_ping[] = {0x89, 0xFE, 0x00, 0x7E};
    const struct {
        const uint8_t *d;
        size_t n;
    } cases[] = {{unmasked, sizeof(unmasked)},
                 {reserved_op, sizeof(reserved_op)},
                 {rsv2, sizeof(rsv2)},
                 {frag_ping, sizeof(frag_ping)},
                 {long_ping, sizeof(long_ping)}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        outcome_t o;
        run_all_splits(&LIM, cases[i].d, cases[i].n, &o);
        assert_int_equal(o.rc, WSH_EPROTO);
        rec_free(&o.r);
    }
}

static void test_session_fragment_buffer_allocation_failure_is_enomem_without_leak(void **state)
{
    (void)state;
    /* Fail each wsh_try_* allocation in turn (the first fragment's reserve,
     * then growth for later ones) until the message gets through. */
    vbuf_t v = {0};
    uint8_t big[3000];
    memset(big, 'g', sizeof(big));
    vb_frame(&v, B0(0, 0, WSH_OP_BINARY), big, 100);
    vb_frame(&v, B0(0, 0, WSH_OP_CONT), big, 1000);
    vb_frame(&v, B0(1, 0, WSH_OP_CONT), big, 3000);
    int failures = 0;
    for (unsigned long nth = 1; nth < 20; nth++) {
        rec_t r = {0};
        wsh_session_t s;
        session_init(&s, &LIM, &CB, &r);
        wsh_alloc_fail_nth(nth);
        int rc = feed_chunks(&s, &r, v.d, v.n, NULL, 0, SIZE_MAX);
        wsh_alloc_fail_nth(0);
        assert_null(MSG_DATA(s));
        wsh_session_dispose(&s);
        rec_free(&r);
        if (rc == 0) {
            assert_int_equal(r.nmsg, 1);
            break;
        }
        assert_int_equal(rc, WSH_ENOMEM);
        assert_int_equal(r.nmsg, 0);
        failures++;
    }
    assert_true(failures >= 2); /* at least the reserve and one growth */
    /* A split, unfragmented message takes the buffered path too. */
    v.n = 0;
    vb_frame(&v, B0(1, 0, WSH_OP_TEXT), big, 500);
    rec_t r = {0};
    wsh_session_t s;
    session_init(&s, &LIM, &CB, &r);
    size_t cut[1] = {100};
    wsh_alloc_fail_nth(1);
    int rc = feed_chunks(&s, &r, v.d, v.n, cut, 1, SIZE_MAX);
    wsh_alloc_fail_nth(0);
    assert_int_equal(rc, WSH_ENOMEM);
    wsh_session_dispose(&s);
    rec_free(&r);
    vb_free(&v);
}

static void test_session_frees_partial_message_after_any_error(void **state)
{
    (void)state;
    /* A partial fragmented message is held, then each kind of error hits. */
    const struct {
        uint8_t b0;
        const char *payload;
        size_t len;
        int err;
    } tail[] = {
        {B0(1, 0, WSH_OP_TEXT), "x", 1, WSH_EPROTO},
        {B0(1, 0, WSH_OP_CONT), "\xc0", 1, WSH_EUTF8},
        {B0(1, 0, WSH_OP_CLOSE), "\x03", 1, WSH_EPROTO},
        {B0(1, 0, 0x3), "", 0, WSH_EPROTO},
    };
    for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++) {
        vbuf_t v = {0};
        vb_frame(&v, B0(0, 0, WSH_OP_TEXT), "held", 4);
        vb_frame(&v, tail[i].b0, tail[i].payload, tail[i].len);
        outcome_t o;
        run_all_splits(&LIM, v.d, v.n, &o);
        assert_int_equal(o.rc, tail[i].err);
        assert_true(o.msg_buffer_freed);
        rec_free(&o.r);
        vb_free(&v);
    }
}

static void test_session_error_is_sticky(void **state)
{
    (void)state;
    /* An error in the middle of a frame's payload (invalid UTF-8) must not
     * let the rest of the stream be parsed and delivered afterwards. */
    vbuf_t v = {0};
    vb_frame(&v, B0(1, 0, WSH_OP_TEXT), "\xc0 and then \x81\x80 more", 18);
    vbuf_t w = {0};
    vb_frame(&w, B0(1, 0, WSH_OP_TEXT), "fine", 4);
    rec_t r = {0};
    wsh_session_t s;
    session_init(&s, &LIM, &CB, &r);
    assert_int_equal(session_feed(&s, v.d, 8), WSH_EUTF8);
    assert_int_equal(session_feed(&s, v.d + 8, v.n - 8), WSH_EUTF8);
    assert_int_equal(session_feed(&s, w.d, w.n), WSH_EUTF8);
    assert_int_equal(r.nlog, 0);
    assert_null(MSG_DATA(s));
    wsh_session_dispose(&s);
    rec_free(&r);
    vb_free(&v);
    vb_free(&w);
}

static void test_session_idle_session_holds_no_heap(void **state)
{
    (void)state;
    rec_t r = {0};
    wsh_session_t s;
    session_init(&s, &LIM, &CB, &r);
    assert_null(MSG_DATA(s));
    uint8_t v[32];
    size_t n = put_frame(v, B0(0, 0, WSH_OP_TEXT), "ab", 2);
    n += put_frame(v + n, B0(1, 0, WSH_OP_CONT), "c", 1);
    assert_int_equal(session_feed(&s, v, n), 0);
    assert_int_equal(r.nmsg, 1);
    assert_null(MSG_DATA(s)); /* freed when the message completed */
    assert_int_equal(s.msg_op, 0);
    assert_true(wsh_frame_parser_is_idle(&s.fp));
    wsh_session_dispose(&s);
    rec_free(&r);
}

static void test_session_null_callbacks_are_allowed(void **state)
{
    (void)state;
    static const wsh_session_cb_t none = {NULL, NULL, NULL};
    vbuf_t v = {0};
    vb_frame(&v, B0(1, 0, WSH_OP_TEXT), "t", 1);
    vb_frame(&v, B0(1, 0, WSH_OP_PING), "p", 1);
    vb_frame(&v, B0(1, 0, WSH_OP_CLOSE), "", 0);
    wsh_session_t s;
    session_init(&s, &LIM, &none, NULL);
    assert_int_equal(session_feed(&s, v.d, v.n), 0);
    assert_true(s.is_closed_recv);
    wsh_session_dispose(&s);
    vb_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_rfc6455_masked_hello_is_delivered_in_place_without_allocating),
        cmocka_unit_test(test_session_header_split_from_payload_still_delivers_in_place),
        cmocka_unit_test(test_session_unfragmented_message_split_across_feeds_is_copied_then_freed),
        cmocka_unit_test(test_session_rfc6455_vectors_at_every_split),
        cmocka_unit_test(test_session_assembles_fragmented_message),
        cmocka_unit_test(test_session_empty_messages_are_delivered_with_a_valid_pointer),
        cmocka_unit_test(test_session_answers_ping_between_fragments),
        cmocka_unit_test(test_session_collects_125_byte_ping_payload_across_splits),
        cmocka_unit_test(test_session_ignores_pong),
        cmocka_unit_test(test_session_control_frames_are_not_limited_by_a_small_message_cap),
        cmocka_unit_test(test_session_rejects_continuation_without_start),
        cmocka_unit_test(test_session_rejects_data_frame_inside_fragmented_message),
        cmocka_unit_test(test_session_rejects_fragments_over_cap_with_policy_error),
        cmocka_unit_test(test_session_accepts_65536_fragments_under_1mib_cap),
        cmocka_unit_test(test_session_rejects_65537th_byte_over_1mib_cap),
        cmocka_unit_test(test_session_rejects_single_frame_over_max_before_payload),
        cmocka_unit_test(test_session_rejects_fragment_that_would_exceed_max_before_buffering),
        cmocka_unit_test(test_session_accepts_message_of_exactly_max),
        cmocka_unit_test(test_session_reserves_declared_frame_length_up_front),
        cmocka_unit_test(test_session_zero_max_message_allows_only_empty_messages),
        cmocka_unit_test(test_session_utf8_fails_fast_autobahn_6_4_1_three_frames),
        cmocka_unit_test(test_session_utf8_fails_fast_autobahn_6_4_2_split_code_point),
        cmocka_unit_test(test_session_utf8_fails_fast_autobahn_6_4_3_one_frame_in_chops),
        cmocka_unit_test(test_session_utf8_fails_fast_on_surrogate_in_one_frame),
        cmocka_unit_test(test_session_rejects_text_ending_mid_sequence),
        cmocka_unit_test(test_session_validates_text_across_fragment_boundaries),
        cmocka_unit_test(test_session_does_not_validate_binary_as_utf8),
        cmocka_unit_test(test_session_compressed_text_is_not_validated_and_reports_rsv1),
        cmocka_unit_test(test_session_rejects_rsv_on_continuation_and_control_frames),
        cmocka_unit_test(test_session_close_without_body_reports_code_zero),
        cmocka_unit_test(test_session_close_with_code_and_reason),
        cmocka_unit_test(test_session_rejects_close_payload_of_one_byte),
        cmocka_unit_test(test_session_close_codes_autobahn_7_7_and_7_9),
        cmocka_unit_test(test_session_rejects_close_reason_that_is_not_utf8),
        cmocka_unit_test(test_session_ignores_everything_after_close),
        cmocka_unit_test(test_session_close_between_fragments_abandons_the_message),
        cmocka_unit_test(test_session_after_close_sent_drops_messages_and_pings_but_reports_close),
        cmocka_unit_test(test_session_after_close_sent_still_validates_text),
        cmocka_unit_test(test_session_returns_on_message_error),
        cmocka_unit_test(test_session_framing_errors_propagate),
        cmocka_unit_test(test_session_fragment_buffer_allocation_failure_is_enomem_without_leak),
        cmocka_unit_test(test_session_frees_partial_message_after_any_error),
        cmocka_unit_test(test_session_error_is_sticky),
        cmocka_unit_test(test_session_idle_session_holds_no_heap),
        cmocka_unit_test(test_session_null_callbacks_are_allowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
