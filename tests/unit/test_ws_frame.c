/* Unit tests for src/ws/frame.c: the RFC 6455 §5 parser (every vector whole,
 * byte by byte and at every split point), unmasking, the encoders and the
 * close-code table; not message assembly (test_ws_session.c). */
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
#include "core/msg.h"
#include "ws/frame.h"
#include "ws/utf8.h"

/* The masking key of the RFC 6455 §5.7 examples. */
static const uint8_t KEY[4] = {0x37, 0xfa, 0x21, 0x3d};

#define B0(fin, rsv, op) ((uint8_t)(((fin) ? 0x80 : 0) | ((rsv) << 4) | (op)))

/* Encodes a frame as a client would send it. form is 0 for the minimal length
 * encoding, or 7, 16 or 64 to force one; declared is the length written in
 * the header and payload/plen the bytes that follow (masked with KEY when
 * masked), so headers can lie or arrive without their payload. */
static size_t mk_frame(uint8_t *out, uint8_t b0, bool masked, int form, uint64_t declared,
                       const uint8_t *payload, size_t plen)
{
    size_t o = 0;
    uint8_t mbit = masked ? 0x80 : 0;
    out[o++] = b0;
    if (form == 0)
        form = declared < 126 ? 7 : declared <= 0xFFFF ? 16 : 64;
    if (form == 7) {
        out[o++] = (uint8_t)(mbit | declared);
    } else if (form == 16) {
        out[o++] = mbit | 126;
        out[o++] = (uint8_t)(declared >> 8);
        out[o++] = (uint8_t)declared;
    } else {
        out[o++] = mbit | 127;
        for (int k = 0; k < 8; k++)
            out[o++] = (uint8_t)(declared >> (56 - 8 * k));
    }
    if (masked) {
        memcpy(out + o, KEY, 4);
        o += 4;
    }
    for (size_t i = 0; i < plen; i++)
        out[o + i] = (uint8_t)(payload[i] ^ (masked ? KEY[i & 3] : 0));
    return o + plen;
}

/* ---- A recording driver for the parser ---------------------------------- */

typedef struct cfg {
    uint64_t max_payload;
    bool require_mask;
    uint8_t allowed_rsv;
} cfg_t;

static const cfg_t SERVER = {1u << 20, true, 0};

#define MAX_FRAMES 16

typedef struct trace {
    size_t nframes;
    struct {
        bool fin;
        uint8_t rsv, opcode;
        uint64_t len;
        uint64_t got; /* payload bytes reported */
        bool ended;
    } f[MAX_FRAMES];
    uint8_t *payload; /* every frame's payload, concatenated */
    size_t plen, pcap;
    long err;
    size_t calls;
} trace_t;

static void trace_init(trace_t *t)
{
    memset(t, 0, sizeof(*t));
}

static void trace_dispose(trace_t *t)
{
    free(t->payload);
    trace_init(t);
}

static void trace_append(trace_t *t, const uint8_t *d, size_t n)
{
    if (t->plen + n > t->pcap) {
        t->pcap = (t->plen + n) * 2;
        t->payload = realloc(t->payload, t->pcap);
        assert_non_null(t->payload);
    }
    memcpy(t->payload + t->plen, d, n);
    t->plen += n;
}

/* Feeds `in` to a fresh parser in the chunks that the cut offsets (ascending)
 * delimit. Each chunk is copied into its own exact-size allocation, so a read
 * past a chunk is caught by ASan/valgrind. Asserts the consume contract on
 * every call. Stops at the first error (recorded in t->err). */
static void run_chunks(const cfg_t *c, const uint8_t *in, size_t n, const size_t *cuts,
                       size_t ncuts, trace_t *t)
{
    wsh_frame_parser_t p;
    wsh_frame_parser_init(&p, c->max_payload);
    p.require_mask = c->require_mask;
    p.allowed_rsv = c->allowed_rsv;
    trace_init(t);
    size_t start = 0;
    for (size_t ci = 0; ci <= ncuts; ci++) {
        size_t end = ci < ncuts ? cuts[ci] : n;
        size_t clen = end - start;
        uint8_t *buf = malloc(clen ? clen : 1);
        assert_non_null(buf);
        if (clen)
            memcpy(buf, in + start, clen);
        size_t off = 0;
        for (;;) {
            wsh_frame_ev_t ev;
            memset(&ev, 0xA5, sizeof(ev));
            long r = wsh_frame_consume(&p, buf + off, clen - off, &ev);
            t->calls++;
            assert_true(t->calls < 10 * n + 100); /* no livelock */
            if (r < 0) {
                t->err = r;
                free(buf);
                return;
            }
            assert_true((size_t)r <= clen - off);
            off += (size_t)r;
            if (ev.type == WSH_FRAME_EV_NONE) {
                assert_int_equal(off, clen); /* NONE only once everything is eaten */
                break;
            }
            if (ev.type == WSH_FRAME_EV_HEADER) {
                assert_true(t->nframes < MAX_FRAMES);
                t->f[t->nframes].fin = ev.fin;
                t->f[t->nframes].rsv = ev.rsv;
                t->f[t->nframes].opcode = ev.opcode;
                t->f[t->nframes].len = ev.payload_len;
                t->f[t->nframes].got = 0;
                t->f[t->nframes].ended = false;
                t->nframes++;
                assert_false(wsh_frame_parser_is_idle(&p));
            } else if (ev.type == WSH_FRAME_EV_PAYLOAD) {
                assert_true(t->nframes > 0);
                assert_true(ev.len > 0);
                assert_int_equal((size_t)r, ev.len);
                assert_ptr_equal(ev.data, buf + off - ev.len);
                t->f[t->nframes - 1].got += ev.len;
                assert_true(t->f[t->nframes - 1].got <= t->f[t->nframes - 1].len);
                trace_append(t, ev.data, ev.len);
            } else {
                assert_int_equal(ev.type, WSH_FRAME_EV_END);
                assert_int_equal(r, 0);
                assert_true(t->nframes > 0);
                assert_false(t->f[t->nframes - 1].ended);
                assert_int_equal(t->f[t->nframes - 1].got, t->f[t->nframes - 1].len);
                t->f[t->nframes - 1].ended = true;
                assert_true(wsh_frame_parser_is_idle(&p));
            }
        }
        free(buf);
        start = end;
    }
}

static void assert_same_trace(const trace_t *a, const trace_t *b)
{
    assert_int_equal(a->err, b->err);
    assert_int_equal(a->nframes, b->nframes);
    for (size_t i = 0; i < a->nframes; i++) {
        assert_int_equal(a->f[i].fin, b->f[i].fin);
        assert_int_equal(a->f[i].rsv, b->f[i].rsv);
        assert_int_equal(a->f[i].opcode, b->f[i].opcode);
        assert_int_equal(a->f[i].len, b->f[i].len);
        assert_int_equal(a->f[i].got, b->f[i].got);
        assert_int_equal(a->f[i].ended, b->f[i].ended);
    }
    assert_int_equal(a->plen, b->plen);
    /* memcmp, not assert_memory_equal: this runs for every split of 64 KiB. */
    assert_true(a->plen == 0 || memcmp(a->payload, b->payload, a->plen) == 0);
}

/* Runs the vector whole, byte by byte, at every split point and (when short)
 * at every pair of split points; all must agree. Leaves the whole run in *t. */
static void run_all_splits(const cfg_t *c, const uint8_t *in, size_t n, trace_t *t)
{
    trace_t o;
    run_chunks(c, in, n, NULL, 0, t);

    size_t *cuts = malloc((n ? n : 1) * sizeof(size_t));
    assert_non_null(cuts);
    for (size_t i = 1; i < n; i++)
        cuts[i - 1] = i;
    run_chunks(c, in, n, cuts, n ? n - 1 : 0, &o);
    assert_same_trace(t, &o);
    trace_dispose(&o);
    free(cuts);

    /* Under valgrind (WSH_SLOW_TOOL) long vectors are split at ~256 evenly
     * spaced points instead of every one; the sanitizer pass does all. */
    size_t step = (getenv("WSH_SLOW_TOOL") && n > 1024) ? n / 256 : 1;
    for (size_t k = 0; k <= n; k += step) {
        size_t cut[1] = {k};
        run_chunks(c, in, n, cut, 1, &o);
        assert_same_trace(t, &o);
        trace_dispose(&o);
    }
    /* Pairs of splits are O(n^2) runs: skipped under valgrind (WSH_SLOW_TOOL), which
     * the sanitizer pass already covers at full depth. */
    if (n <= 48 && !getenv("WSH_SLOW_TOOL")) {
        for (size_t a = 1; a < n; a++) {
            for (size_t b = a; b < n; b++) {
                size_t cut[2] = {a, b};
                run_chunks(c, in, n, cut, 2, &o);
                assert_same_trace(t, &o);
                trace_dispose(&o);
            }
        }
    }
}

/* Parses a vector every way and expects one error and no frame reported. */
static void expect_error(const cfg_t *c, const uint8_t *in, size_t n, long err)
{
    trace_t t;
    run_all_splits(c, in, n, &t);
    assert_int_equal(t.err, err);
    assert_int_equal(t.nframes, 0);
    trace_dispose(&t);
}

/* ---- RFC 6455 §5.7 examples --------------------------------------------- */

static void test_frame_rfc6455_5_7_masked_hello(void **state)
{
    (void)state;
    /* "A single-frame masked text message". */
    const uint8_t v[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    trace_t t;
    run_all_splits(&SERVER, v, sizeof(v), &t);
    assert_int_equal(t.err, 0);
    assert_int_equal(t.nframes, 1);
    assert_true(t.f[0].fin);
    assert_int_equal(t.f[0].opcode, WSH_OP_TEXT);
    assert_int_equal(t.f[0].rsv, 0);
    assert_int_equal(t.f[0].len, 5);
    assert_true(t.f[0].ended);
    assert_int_equal(t.plen, 5);
    assert_memory_equal(t.payload, "Hello", 5);
    trace_dispose(&t);
}

static void test_frame_rfc6455_5_7_unmasked_hello_rejected_by_server(void **state)
{
    (void)state;
    const uint8_t v[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    expect_error(&SERVER, v, sizeof(v), WSH_EPROTO);
}

static void test_frame_rfc6455_5_7_unmasked_hello_accepted_by_client(void **state)
{
    (void)state;
    const cfg_t client = {1u << 20, false, 0};
    const uint8_t v[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    trace_t t;
    run_all_splits(&client, v, sizeof(v), &t);
    assert_int_equal(t.err, 0);
    assert_int_equal(t.nframes, 1);
    assert_int_equal(t.plen, 5);
    assert_memory_equal(t.payload, "Hello", 5);
    trace_dispose(&t);
}

static void test_frame_rfc6455_5_7_fragmented_hello(void **state)
{
    (void)state;
    /* "A fragmented unmasked text message", masked as a client sends it. */
    uint8_t v[64];
    size_t n = mk_frame(v, B0(0, 0, WSH_OP_TEXT), true, 0, 3, (const uint8_t *)"Hel", 3);
    n += mk_frame(v + n, B0(1, 0, WSH_OP_CONT), true, 0, 2, (const uint8_t *)"lo", 2);
    trace_t t;
    run_all_splits(&SERVER, v, n, &t);
    assert_int_equal(t.err, 0);
    assert_int_equal(t.nframes, 2);
    assert_false(t.f[0].fin);
    assert_int_equal(t.f[0].opcode, WSH_OP_TEXT);
    assert_int_equal(t.f[0].len, 3);
    assert_true(t.f[1].fin);
    assert_int_equal(t.f[1].opcode, WSH_OP_CONT);
    assert_int_equal(t.f[1].len, 2);
    assert_int_equal(t.plen, 5);
    assert_memory_equal(t.payload, "Hello", 5);
    trace_dispose(&t);
}

static void test_frame_rfc6455_5_7_ping_and_masked_pong(void **state)
{
    (void)state;
    uint8_t v[64];
    size_t n = mk_frame(v, B0(1, 0, WSH_OP_PING), true, 0, 5, (const uint8_t *)"Hello", 5);
    /* The RFC's masked pong, byte for byte. */
    const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    memcpy(v + n, pong, sizeof(pong));
    n += sizeof(pong);
    trace_t t;
    run_all_splits(&SERVER, v, n, &t);
    assert_int_equal(t.err, 0);
    assert_int_equal(t.nframes, 2);
    assert_int_equal(t.f[0].opcode, WSH_OP_PING);
    assert_int_equal(t.f[1].opcode, WSH_OP_PONG);
    assert_int_equal(t.plen, 10);
    assert_memory_equal(t.payload, "HelloHello", 10);
    trace_dispose(&t);
}

static void check_binary_of_len(size_t len, int form)
{
    uint8_t *payload = malloc(len ? len : 1);
    uint8_t *v = malloc(len + WSH_FRAME_MAX_HEADER);
    assert_non_null(payload);
    assert_non_null(v);
    for (size_t i = 0; i < len; i++)
        payload[i] = (uint8_t)(i * 131u + 7u);
    size_t n = mk_frame(v, B0(1, 0, WSH_OP_BINARY), true, form, len, payload, len);
    trace_t t;
    run_all_splits(&SERVER, v, n, &t);
    assert_int_equal(t.err, 0);
    assert_int_equal(t.nframes, 1);
    assert_int_equal(t.f[0].opcode, WSH_OP_BINARY);
    assert_int_equal(t.f[0].len, len);
    assert_true(t.f[0].ended);
    assert_int_equal(t.plen, len);
    if (len)
        assert_memory_equal(t.payload, payload, len);
    trace_dispose(&t);
    free(payload);
    free(v);
}

static void test_frame_rfc6455_5_7_256_byte_binary_uses_len16(void **state)
{
    (void)state;
    check_binary_of_len(256, 0);
}

static void test_frame_rfc6455_5_7_64k_binary_uses_len64(void **state)
{
    (void)state;
    check_binary_of_len(65536, 0);
}

/* ---- Header rules -------------------------------------------------------- */

static void test_frame_rejects_unmasked_client_frame(void **state)
{
    (void)state;
    uint8_t v[32];
    const uint8_t ops[] = {WSH_OP_TEXT, WSH_OP_BINARY, WSH_OP_CONT, WSH_OP_PING, WSH_OP_CLOSE};
    for (size_t i = 0; i < sizeof(ops); i++) {
        size_t n = mk_frame(v, B0(1, 0, ops[i]), false, 0, 2, (const uint8_t *)"ab", 2);
        expect_error(&SERVER, v, n, WSH_EPROTO);
        /* Fails on the first two bytes, before the rest arrives. */
        expect_error(&SERVER, v, 2, WSH_EPROTO);
    }
}

static void test_frame_rejects_rsv_bits_not_negotiated(void **state)
{
    (void)state;
    uint8_t v[32];
    for (uint8_t rsv = 1; rsv < 8; rsv++) {
        size_t n = mk_frame(v, B0(1, rsv, WSH_OP_TEXT), true, 0, 1, (const uint8_t *)"x", 1);
        expect_error(&SERVER, v, n, WSH_EPROTO);
        expect_error(&SERVER, v, 2, WSH_EPROTO);
    }
}

static void test_frame_accepts_only_negotiated_rsv_bits(void **state)
{
    (void)state;
    const cfg_t deflate = {1u << 20, true, 0x4};
    uint8_t v[32];
    size_t n = mk_frame(v, B0(1, 4, WSH_OP_TEXT), true, 0, 1, (const uint8_t *)"x", 1);
    trace_t t;
    run_all_splits(&deflate, v, n, &t);
    assert_int_equal(t.err, 0);
    assert_int_equal(t.nframes, 1);
    assert_int_equal(t.f[0].rsv, 4);
    trace_dispose(&t);
    for (uint8_t rsv = 1; rsv < 8; rsv++) {
        if (rsv == 4)
            continue;
        n = mk_frame(v, B0(1, rsv, WSH_OP_TEXT), true, 0, 1, (const uint8_t *)"x", 1);
        expect_error(&deflate, v, n, WSH_EPROTO);
    }
}

static void test_frame_rejects_reserved_opcodes(void **state)
{
    (void)state;
    uint8_t v[32];
    const uint8_t reserved[] = {0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF};
    for (size_t i = 0; i < sizeof(reserved); i++) {
        size_t n = mk_frame(v, B0(1, 0, reserved[i]), true, 0, 0, NULL, 0);
        expect_error(&SERVER, v, n, WSH_EPROTO);
        n = mk_frame(v, B0(0, 0, reserved[i]), true, 0, 3, (const uint8_t *)"abc", 3);
        expect_error(&SERVER, v, n, WSH_EPROTO);
    }
}

static void test_frame_rejects_fragmented_control(void **state)
{
    (void)state;
    uint8_t v[32];
    const uint8_t ops[] = {WSH_OP_CLOSE, WSH_OP_PING, WSH_OP_PONG};
    for (size_t i = 0; i < sizeof(ops); i++) {
        size_t n = mk_frame(v, B0(0, 0, ops[i]), true, 0, 2, (const uint8_t *)"hi", 2);
        expect_error(&SERVER, v, n, WSH_EPROTO);
    }
}

static void test_frame_rejects_control_payload_over_125(void **state)
{
    (void)state;
    uint8_t payload[200];
    memset(payload, 'p', sizeof(payload));
    uint8_t *v = malloc(300);
    assert_non_null(v);
    const uint8_t ops[] = {WSH_OP_CLOSE, WSH_OP_PING, WSH_OP_PONG};
    for (size_t i = 0; i < sizeof(ops); i++) {
        size_t n = mk_frame(v, B0(1, 0, ops[i]), true, 16, 126, payload, 126);
        expect_error(&SERVER, v, n, WSH_EPROTO);
        /* Decided on the 7-bit length alone, before the extended length. */
        expect_error(&SERVER, v, 2, WSH_EPROTO);
        n = mk_frame(v, B0(1, 0, ops[i]), true, 64, 126, payload, 126);
        expect_error(&SERVER, v, n, WSH_EPROTO);
        /* Even a non-minimal encoding of a short length is refused. */
        n = mk_frame(v, B0(1, 0, ops[i]), true, 16, 5, payload, 5);
        expect_error(&SERVER, v, n, WSH_EPROTO);
    }
    free(v);
}

static void test_frame_accepts_control_payload_of_125(void **state)
{
    (void)state;
    uint8_t payload[125];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)i;
    uint8_t v[200];
    size_t n = mk_frame(v, B0(1, 0, WSH_OP_PING), true, 0, 125, payload, 125);
    /* A tiny data cap does not apply to control frames (§5.5 bounds them). */
    const cfg_t tiny = {10, true, 0};
    trace_t t;
    run_all_splits(&tiny, v, n, &t);
    assert_int_equal(t.err, 0);
    assert_int_equal(t.nframes, 1);
    assert_int_equal(t.f[0].len, 125);
    assert_memory_equal(t.payload, payload, 125);
    trace_dispose(&t);
}

static void test_frame_rejects_len64_with_msb_set(void **state)
{
    (void)state;
    uint8_t v[32];
    const cfg_t unlimited = {UINT64_MAX, true, 0};
    const uint64_t lens[] = {1ull << 63, (1ull << 63) + 1, UINT64_MAX};
    for (size_t i = 0; i < 3; i++) {
        size_t n = mk_frame(v, B0(1, 0, WSH_OP_BINARY), true, 64, lens[i], NULL, 0);
        expect_error(&unlimited, v, n, WSH_EPROTO);
        expect_error(&SERVER, v, n, WSH_EPROTO);
    }
}

static void test_frame_rejects_nonminimal_len16(void **state)
{
    (void)state;
    uint8_t payload[125] = {0};
    uint8_t v[200];
    const uint64_t lens[] = {0, 1, 125};
    for (size_t i = 0; i < 3; i++) {
        size_t n = mk_frame(v, B0(1, 0, WSH_OP_BINARY), true, 16, lens[i], payload, lens[i]);
        expect_error(&SERVER, v, n, WSH_EPROTO);
    }
}

static void test_frame_rejects_nonminimal_len64(void **state)
{
    (void)state;
    static uint8_t payload[65535];
    uint8_t *v = malloc(sizeof(payload) + WSH_FRAME_MAX_HEADER);
    assert_non_null(v);
    const uint64_t lens[] = {0, 125, 126, 65535};
    for (size_t i = 0; i < 4; i++) {
        size_t n = mk_frame(v, B0(1, 0, WSH_OP_BINARY), true, 64, lens[i], payload, 0);
        /* The header alone suffices: no payload is needed to refuse it. */
        expect_error(&SERVER, v, n, WSH_EPROTO);
    }
    free(v);
}

static void test_frame_accepts_boundary_lengths(void **state)
{
    (void)state;
    /* 65536, the first 64-bit length, is the §5.7 64 KiB example above. */
    const size_t lens[] = {0, 1, 125, 126, 127, 65535};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
        check_binary_of_len(lens[i], 0);
}

static void test_frame_rejects_declared_len_over_max_before_payload(void **state)
{
    (void)state;
    uint8_t v[32];
    const cfg_t cap = {1000, true, 0};
    /* Only the header is supplied: the refusal must not wait for payload. */
    size_t n = mk_frame(v, B0(1, 0, WSH_OP_BINARY), true, 0, 1001, NULL, 0);
    expect_error(&cap, v, n, WSH_ETOOBIG);
    n = mk_frame(v, B0(0, 0, WSH_OP_TEXT), true, 0, 70000, NULL, 0);
    expect_error(&cap, v, n, WSH_ETOOBIG);
    const cfg_t small = {100, true, 0};
    n = mk_frame(v, B0(1, 0, WSH_OP_CONT), true, 0, 101, NULL, 0);
    expect_error(&small, v, n, WSH_ETOOBIG);
    /* A 7-bit length over the cap fails on the first two bytes. */
    expect_error(&small, v, 2, WSH_ETOOBIG);
}

static void test_frame_accepts_declared_len_equal_to_max(void **state)
{
    (void)state;
    uint8_t payload[1000];
    memset(payload, 'z', sizeof(payload));
    uint8_t v[1100];
    const cfg_t cap = {1000, true, 0};
    size_t n = mk_frame(v, B0(1, 0, WSH_OP_BINARY), true, 0, 1000, payload, 1000);
    trace_t t;
    run_chunks(&cap, v, n, NULL, 0, &t);
    assert_int_equal(t.err, 0);
    assert_int_equal(t.plen, 1000);
    trace_dispose(&t);
}

static void test_frame_zero_length_frame_reports_header_then_end(void **state)
{
    (void)state;
    uint8_t v[16];
    size_t n = mk_frame(v, B0(1, 0, WSH_OP_TEXT), true, 0, 0, NULL, 0);
    assert_int_equal(n, 6);
    wsh_frame_parser_t p;
    wsh_frame_parser_init(&p, 100);
    wsh_frame_ev_t ev;
    assert_int_equal(wsh_frame_consume(&p, v, n, &ev), 6);
    assert_int_equal(ev.type, WSH_FRAME_EV_HEADER);
    assert_int_equal(ev.payload_len, 0);
    assert_int_equal(wsh_frame_consume(&p, v + 6, 0, &ev), 0);
    assert_int_equal(ev.type, WSH_FRAME_EV_END);
    assert_int_equal(wsh_frame_consume(&p, v + 6, 0, &ev), 0);
    assert_int_equal(ev.type, WSH_FRAME_EV_NONE);
    assert_true(wsh_frame_parser_is_idle(&p));
}

static void test_frame_reports_end_after_last_payload_without_more_input(void **state)
{
    (void)state;
    uint8_t v[16];
    size_t n = mk_frame(v, B0(1, 0, WSH_OP_BINARY), true, 0, 3, (const uint8_t *)"abc", 3);
    wsh_frame_parser_t p;
    wsh_frame_parser_init(&p, 100);
    wsh_frame_ev_t ev;
    long r = wsh_frame_consume(&p, v, n, &ev);
    assert_int_equal(r, 6);
    assert_int_equal(ev.type, WSH_FRAME_EV_HEADER);
    r = wsh_frame_consume(&p, v + 6, n - 6, &ev);
    assert_int_equal(r, 3);
    assert_int_equal(ev.type, WSH_FRAME_EV_PAYLOAD);
    assert_memory_equal(ev.data, "abc", 3);
    /* No input left, yet the end of the frame is reported now. */
    r = wsh_frame_consume(&p, v + n, 0, &ev);
    assert_int_equal(r, 0);
    assert_int_equal(ev.type, WSH_FRAME_EV_END);
    assert_true(ev.fin);
}

static void test_frame_payload_chunks_stop_at_frame_end(void **state)
{
    (void)state;
    uint8_t v[64];
    size_t n = mk_frame(v, B0(1, 0, WSH_OP_BINARY), true, 0, 4, (const uint8_t *)"abcd", 4);
    n += mk_frame(v + n, B0(1, 0, WSH_OP_TEXT), true, 0, 2, (const uint8_t *)"ef", 2);
    n += mk_frame(v + n, B0(1, 0, WSH_OP_PING), true, 0, 0, NULL, 0);
    trace_t t;
    run_all_splits(&SERVER, v, n, &t);
    assert_int_equal(t.err, 0);
    assert_int_equal(t.nframes, 3);
    assert_int_equal(t.f[0].got, 4);
    assert_int_equal(t.f[1].got, 2);
    assert_int_equal(t.f[2].got, 0);
    assert_true(t.f[2].ended);
    assert_memory_equal(t.payload, "abcdef", 6);
    trace_dispose(&t);
}

static void test_frame_parser_is_idle_only_between_frames(void **state)
{
    (void)state;
    uint8_t v[16];
    size_t n = mk_frame(v, B0(1, 0, WSH_OP_BINARY), true, 0, 2, (const uint8_t *)"ab", 2);
    wsh_frame_parser_t p;
    wsh_frame_parser_init(&p, 100);
    wsh_frame_ev_t ev;
    assert_true(wsh_frame_parser_is_idle(&p));
    assert_int_equal(wsh_frame_consume(&p, v, 1, &ev), 1); /* partial header */
    assert_int_equal(ev.type, WSH_FRAME_EV_NONE);
    assert_false(wsh_frame_parser_is_idle(&p));
    assert_int_equal(wsh_frame_consume(&p, v + 1, 5, &ev), 5);
    assert_int_equal(ev.type, WSH_FRAME_EV_HEADER);
    assert_false(wsh_frame_parser_is_idle(&p));
    assert_int_equal(wsh_frame_consume(&p, v + 6, 1, &ev), 1); /* partial payload */
    assert_false(wsh_frame_parser_is_idle(&p));
    assert_int_equal(wsh_frame_consume(&p, v + 7, 1, &ev), 1);
    assert_int_equal(ev.type, WSH_FRAME_EV_PAYLOAD);
    assert_false(wsh_frame_parser_is_idle(&p)); /* end not yet reported */
    assert_int_equal(wsh_frame_consume(&p, v + 8, 0, &ev), 0);
    assert_int_equal(ev.type, WSH_FRAME_EV_END);
    assert_true(wsh_frame_parser_is_idle(&p));
    (void)n;
}

static void test_frame_error_is_sticky(void **state)
{
    (void)state;
    uint8_t bad[] = {0x83, 0x80, 1, 2, 3, 4}; /* reserved opcode 3 */
    uint8_t good[16];
    size_t n = mk_frame(good, B0(1, 0, WSH_OP_TEXT), true, 0, 1, (const uint8_t *)"x", 1);
    wsh_frame_parser_t p;
    wsh_frame_parser_init(&p, 100);
    wsh_frame_ev_t ev;
    assert_int_equal(wsh_frame_consume(&p, bad, sizeof(bad), &ev), WSH_EPROTO);
    assert_int_equal(wsh_frame_consume(&p, good, n, &ev), WSH_EPROTO);
    assert_int_equal(wsh_frame_consume(&p, good, 0, &ev), WSH_EPROTO);
}

static void test_frame_consume_of_nothing_needs_more(void **state)
{
    (void)state;
    wsh_frame_parser_t p;
    wsh_frame_parser_init(&p, 100);
    wsh_frame_ev_t ev;
    uint8_t dummy[1];
    assert_int_equal(wsh_frame_consume(&p, dummy, 0, &ev), 0);
    assert_int_equal(ev.type, WSH_FRAME_EV_NONE);
    assert_true(wsh_frame_parser_is_idle(&p));
}

/* ---- Unmasking ----------------------------------------------------------- */

static void unmask_reference(uint8_t *d, size_t n, const uint8_t mask[4], unsigned rot)
{
    for (size_t i = 0; i < n; i++)
        d[i] ^= mask[(rot + i) & 3];
}

static void test_frame_unmask_matches_bytewise_for_every_rotation_length_and_alignment(void **state)
{
    (void)state;
    const uint8_t mask[4] = {0x01, 0x82, 0x43, 0xF4};
    uint8_t src[160], a[168], b[168];
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)(i * 37u + 11u);
    for (unsigned rot = 0; rot < 4; rot++) {
        for (size_t align = 0; align < 8; align++) {
            for (size_t len = 0; len <= sizeof(src); len++) {
                memcpy(a + align, src, len);
                memcpy(b + align, src, len);
                uint8_t pos = (uint8_t)rot;
                wsh_frame_unmask(a + align, len, mask, &pos);
                unmask_reference(b + align, len, mask, rot);
                if (len)
                    assert_memory_equal(a + align, b + align, len);
                assert_int_equal(pos, (rot + len) & 3);
            }
        }
    }
}

static void test_frame_unmask_in_pieces_equals_whole(void **state)
{
    (void)state;
    uint8_t src[300], whole[300], pieces[300];
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)(i ^ 0x5A);
    memcpy(whole, src, sizeof(src));
    uint8_t pos = 0;
    wsh_frame_unmask(whole, sizeof(whole), KEY, &pos);
    for (size_t step = 1; step <= 41; step++) {
        memcpy(pieces, src, sizeof(src));
        pos = 0;
        for (size_t off = 0; off < sizeof(src); off += step) {
            size_t n = sizeof(src) - off < step ? sizeof(src) - off : step;
            wsh_frame_unmask(pieces + off, n, KEY, &pos);
        }
        assert_memory_equal(pieces, whole, sizeof(src));
    }
}

/* ---- Encoders ------------------------------------------------------------ */

static void test_frame_header_encode_uses_minimal_lengths(void **state)
{
    (void)state;
    uint8_t h[WSH_FRAME_MAX_SERVER_HEADER];
    assert_int_equal(wsh_frame_header_encode(h, WSH_OP_TEXT, true, 0, 0), 2);
    assert_int_equal(h[0], 0x81);
    assert_int_equal(h[1], 0x00);
    assert_int_equal(wsh_frame_header_encode(h, WSH_OP_TEXT, true, 0, 125), 2);
    assert_int_equal(h[1], 125);
    assert_int_equal(wsh_frame_header_encode(h, WSH_OP_BINARY, true, 0, 126), 4);
    assert_int_equal(h[0], 0x82);
    assert_int_equal(h[1], 126);
    assert_int_equal(h[2], 0x00);
    assert_int_equal(h[3], 126);
    assert_int_equal(wsh_frame_header_encode(h, WSH_OP_BINARY, true, 0, 65535), 4);
    assert_int_equal(h[2], 0xFF);
    assert_int_equal(h[3], 0xFF);
    assert_int_equal(wsh_frame_header_encode(h, WSH_OP_BINARY, true, 0, 65536), 10);
    assert_int_equal(h[1], 127);
    const uint8_t len64[8] = {0, 0, 0, 0, 0, 1, 0, 0};
    assert_memory_equal(h + 2, len64, 8);
    assert_int_equal(wsh_frame_header_encode(h, WSH_OP_BINARY, true, 0, 0x0102030405060708ull), 10);
    const uint8_t big[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal(h + 2, big, 8);
}

static void test_frame_header_encode_sets_fin_rsv_and_opcode(void **state)
{
    (void)state;
    uint8_t h[WSH_FRAME_MAX_SERVER_HEADER];
    wsh_frame_header_encode(h, WSH_OP_CONT, false, 0, 1);
    assert_int_equal(h[0], 0x00);
    wsh_frame_header_encode(h, WSH_OP_TEXT, true, 4, 1);
    assert_int_equal(h[0], 0xC1);
    wsh_frame_header_encode(h, WSH_OP_PONG, true, 0, 1);
    assert_int_equal(h[0], 0x8A);
    assert_int_equal(h[1] & 0x80, 0); /* servers never mask (§5.1) */
}

/* Parses a server frame the way a client would and checks its one frame. */
static void parse_server_frame(const uint8_t *frame, size_t n, uint8_t opcode, const void *payload,
                               size_t plen)
{
    const cfg_t client = {UINT64_MAX >> 1, false, 0};
    trace_t t;
    run_chunks(&client, frame, n, NULL, 0, &t);
    assert_int_equal(t.err, 0);
    assert_int_equal(t.nframes, 1);
    assert_true(t.f[0].fin);
    assert_int_equal(t.f[0].opcode, opcode);
    assert_int_equal(t.plen, plen);
    if (plen)
        assert_memory_equal(t.payload, payload, plen);
    trace_dispose(&t);
}

static void test_frame_build_round_trips_through_a_client_parser(void **state)
{
    (void)state;
    const size_t lens[] = {0, 5, 125, 126, 65535, 65536, 70000};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        uint8_t *payload = malloc(lens[i] + 1);
        assert_non_null(payload);
        for (size_t k = 0; k < lens[i]; k++)
            payload[k] = (uint8_t)(k * 7u);
        wsh_msg_t *m = wsh_frame_build(WSH_OP_BINARY, payload, lens[i]);
        assert_non_null(m);
        assert_int_equal(m->refcnt, 1);
        size_t hlen = lens[i] < 126 ? 2 : lens[i] < 65536 ? 4 : 10;
        assert_int_equal(m->len, hlen + lens[i]);
        parse_server_frame(m->data, m->len, WSH_OP_BINARY, payload, lens[i]);
        wsh_msg_unref(m);

        m = wsh_frame_try_build(WSH_OP_TEXT, payload, lens[i]);
        assert_non_null(m);
        parse_server_frame(m->data, m->len, WSH_OP_TEXT, payload, lens[i]);
        wsh_msg_unref(m);
        free(payload);
    }
}

static void test_frame_build_accepts_null_empty_payload(void **state)
{
    (void)state;
    wsh_msg_t *m = wsh_frame_build(WSH_OP_PING, NULL, 0);
    assert_int_equal(m->len, 2);
    assert_int_equal(m->data[0], 0x89);
    assert_int_equal(m->data[1], 0x00);
    wsh_msg_unref(m);
}

static void test_frame_try_build_returns_null_when_allocation_fails(void **state)
{
    (void)state;
    wsh_alloc_fail_nth(1);
    wsh_msg_t *m = wsh_frame_try_build(WSH_OP_TEXT, "hello", 5);
    wsh_alloc_fail_nth(0);
    assert_null(m);
    m = wsh_frame_try_build(WSH_OP_TEXT, "hello", 5);
    assert_non_null(m);
    wsh_msg_unref(m);
}

static void test_frame_build_close_with_code_zero_is_empty(void **state)
{
    (void)state;
    wsh_msg_t *m = wsh_frame_build_close(0, "ignored");
    assert_int_equal(m->len, 2);
    assert_int_equal(m->data[0], 0x88);
    assert_int_equal(m->data[1], 0x00);
    wsh_msg_unref(m);
}

static void test_frame_build_close_carries_code_and_reason(void **state)
{
    (void)state;
    wsh_msg_t *m = wsh_frame_build_close(1000, "bye");
    const uint8_t want[] = {0x88, 0x05, 0x03, 0xE8, 'b', 'y', 'e'};
    assert_int_equal(m->len, sizeof(want));
    assert_memory_equal(m->data, want, sizeof(want));
    wsh_msg_unref(m);
    m = wsh_frame_build_close(4008, NULL);
    const uint8_t want2[] = {0x88, 0x02, 0x0F, 0xA8};
    assert_int_equal(m->len, sizeof(want2));
    assert_memory_equal(m->data, want2, sizeof(want2));
    wsh_msg_unref(m);
}

/* Builds a close frame for reason and returns the reason length it kept. */
static size_t close_reason_kept(const char *reason)
{
    wsh_msg_t *m = wsh_frame_build_close(1001, reason);
    assert_true(m->len <= 2 + WSH_FRAME_MAX_CONTROL);
    assert_int_equal(m->data[1], m->len - 2); /* 7-bit length form */
    size_t kept = m->len - 4u;
    assert_memory_equal(m->data + 4, reason, kept);
    assert_true(wsh_utf8_is_valid(m->data + 4, kept));
    parse_server_frame(m->data, m->len, WSH_OP_CLOSE, m->data + 2, m->len - 2u);
    wsh_msg_unref(m);
    return kept;
}

static void test_frame_build_close_truncates_reason_at_utf8_boundary(void **state)
{
    (void)state;
    char r[300];
    memset(r, 'a', 123);
    r[123] = '\0';
    assert_int_equal(close_reason_kept(r), 123); /* exactly fits */
    memset(r, 'a', 200);
    r[200] = '\0';
    assert_int_equal(close_reason_kept(r), 123);
    /* 122 ASCII + U+00E9 (C3 A9): the cut at 123 would split it. */
    memset(r, 'a', 122);
    memcpy(r + 122, "\xC3\xA9", 3);
    assert_int_equal(close_reason_kept(r), 122);
    /* 121 ASCII + U+20AC (E2 82 AC): 123 splits after its second byte. */
    memset(r, 'a', 121);
    memcpy(r + 121, "\xE2\x82\xAC", 4);
    assert_int_equal(close_reason_kept(r), 121);
    /* 120 ASCII + U+1F600 (F0 9F 98 80): 123 splits after its third byte. */
    memset(r, 'a', 120);
    memcpy(r + 120, "\xF0\x9F\x98\x80", 5);
    assert_int_equal(close_reason_kept(r), 120);
    /* 119 ASCII + U+1F600 ends exactly at 123. */
    memset(r, 'a', 119);
    memcpy(r + 119, "\xF0\x9F\x98\x80" "bb", 7);
    assert_int_equal(close_reason_kept(r), 123);
    /* All multi-byte: 62 x U+00E9 is 124 bytes, keep 61 characters. */
    for (int i = 0; i < 62; i++)
        memcpy(r + 2 * i, "\xC3\xA9", 2);
    r[124] = '\0';
    assert_int_equal(close_reason_kept(r), 122);
}

static bool close_code_reference(unsigned c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1011) || (c >= 3000 && c <= 4999);
}

static void test_frame_close_code_validity(void **state)
{
    (void)state;
    /* Autobahn 7.7.x (valid) and 7.9.x (invalid), plus reserved neighbours. */
    const uint16_t valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999};
    const uint16_t invalid[] = {0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
        assert_true(wsh_frame_close_code_is_valid(valid[i]));
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        assert_false(wsh_frame_close_code_is_valid(invalid[i]));
    for (unsigned c = 0; c <= 0xFFFF; c++)
        assert_int_equal(wsh_frame_close_code_is_valid((uint16_t)c), close_code_reference(c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_rfc6455_5_7_masked_hello),
        cmocka_unit_test(test_frame_rfc6455_5_7_unmasked_hello_rejected_by_server),
        cmocka_unit_test(test_frame_rfc6455_5_7_unmasked_hello_accepted_by_client),
        cmocka_unit_test(test_frame_rfc6455_5_7_fragmented_hello),
        cmocka_unit_test(test_frame_rfc6455_5_7_ping_and_masked_pong),
        cmocka_unit_test(test_frame_rfc6455_5_7_256_byte_binary_uses_len16),
        cmocka_unit_test(test_frame_rfc6455_5_7_64k_binary_uses_len64),
        cmocka_unit_test(test_frame_rejects_unmasked_client_frame),
        cmocka_unit_test(test_frame_rejects_rsv_bits_not_negotiated),
        cmocka_unit_test(test_frame_accepts_only_negotiated_rsv_bits),
        cmocka_unit_test(test_frame_rejects_reserved_opcodes),
        cmocka_unit_test(test_frame_rejects_fragmented_control),
        cmocka_unit_test(test_frame_rejects_control_payload_over_125),
        cmocka_unit_test(test_frame_accepts_control_payload_of_125),
        cmocka_unit_test(test_frame_rejects_len64_with_msb_set),
        cmocka_unit_test(test_frame_rejects_nonminimal_len16),
        cmocka_unit_test(test_frame_rejects_nonminimal_len64),
        cmocka_unit_test(test_frame_accepts_boundary_lengths),
        cmocka_unit_test(test_frame_rejects_declared_len_over_max_before_payload),
        cmocka_unit_test(test_frame_accepts_declared_len_equal_to_max),
        cmocka_unit_test(test_frame_zero_length_frame_reports_header_then_end),
        cmocka_unit_test(test_frame_reports_end_after_last_payload_without_more_input),
        cmocka_unit_test(test_frame_payload_chunks_stop_at_frame_end),
        cmocka_unit_test(test_frame_parser_is_idle_only_between_frames),
        cmocka_unit_test(test_frame_error_is_sticky),
        cmocka_unit_test(test_frame_consume_of_nothing_needs_more),
        cmocka_unit_test(test_frame_unmask_matches_bytewise_for_every_rotation_length_and_alignment),
        cmocka_unit_test(test_frame_unmask_in_pieces_equals_whole),
        cmocka_unit_test(test_frame_header_encode_uses_minimal_lengths),
        cmocka_unit_test(test_frame_header_encode_sets_fin_rsv_and_opcode),
        cmocka_unit_test(test_frame_build_round_trips_through_a_client_parser),
        cmocka_unit_test(test_frame_build_accepts_null_empty_payload),
        cmocka_unit_test(test_frame_try_build_returns_null_when_allocation_fails),
        cmocka_unit_test(test_frame_build_close_with_code_zero_is_empty),
        cmocka_unit_test(test_frame_build_close_carries_code_and_reason),
        cmocka_unit_test(test_frame_build_close_truncates_reason_at_utf8_boundary),
        cmocka_unit_test(test_frame_close_code_validity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
