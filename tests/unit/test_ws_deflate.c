/* Unit tests for src/ws/deflate.c: Sec-WebSocket-Extensions offer parsing
 * and negotiation (RFC 7692 §7.1), inflate under a cap (bombs, corrupt data,
 * the RFC's §7.2.3 examples), compression and its round trip at every window
 * size, and the per-message variant kept on a frame; not the session's RSV
 * rules (test_ws_session.c). The .c is included so that its peer-sized
 * allocations can be watched: the largest one must stay within the cap. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "core/alloc.h"
#include "core/err.h"

/* Every buffer deflate.c sizes from peer input goes through these. */
#include "../support/deflate_tracked.h"

/* ---- negotiation ---- */

/* Runs wsh_pmd_negotiate over the given field values (NULL-terminated). */
static int nego(wsh_pmd_agreed_t *a, ...)
{
    wsh_pmd_field_t f[8];
    size_t n = 0;
    va_list ap;
    va_start(ap, a);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL && n < 8)
        f[n++] = (wsh_pmd_field_t){s, strlen(s)};
    va_end(ap);
    memset(a, 0x5A, sizeof *a);
    return wsh_pmd_negotiate(f, n, a);
}

#define BASE_RESPONSE "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

static void accepts(const char *offer, unsigned bits, const char *response)
{
    wsh_pmd_agreed_t a;
    int rc = nego(&a, offer, (const char *)NULL);
    if (rc != 1)
        fail_msg("offer <%s>: rc %d, want accepted", offer, rc);
    if (a.server_bits != bits)
        fail_msg("offer <%s>: bits %u, want %u", offer, a.server_bits, bits);
    assert_string_equal(a.response, response);
}

static void declines(const char *offer)
{
    wsh_pmd_agreed_t a;
    int rc = nego(&a, offer, (const char *)NULL);
    if (rc != 0)
        fail_msg("offer <%s>: rc %d, want declined (0)", offer, rc);
}

static void malformed(const char *offer)
{
    wsh_pmd_agreed_t a;
    int rc = nego(&a, offer, (const char *)NULL);
    if (rc != WSH_EBADREQ)
        fail_msg("offer <%s>: rc %d, want WSH_EBADREQ", offer, rc);
}

static void test_deflate_accepts_plain_and_parameterised_offers(void **state)
{
    (void)state;
    accepts("permessage-deflate", 15, BASE_RESPONSE);
    /* What python websockets and browsers send. */
    accepts("permessage-deflate; client_max_window_bits", 15, BASE_RESPONSE);
    accepts("permessage-deflate; client_max_window_bits=10", 15, BASE_RESPONSE);
    accepts("permessage-deflate; server_no_context_takeover", 15, BASE_RESPONSE);
    accepts("permessage-deflate; client_no_context_takeover", 15, BASE_RESPONSE);
    accepts("permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=15; client_max_window_bits=15",
            15, BASE_RESPONSE "; server_max_window_bits=15");
    accepts("permessage-deflate; server_max_window_bits=10", 10, BASE_RESPONSE "; server_max_window_bits=10");
    accepts("permessage-deflate; server_max_window_bits=8", 8, BASE_RESPONSE "; server_max_window_bits=8");
    accepts("permessage-deflate; server_max_window_bits=9", 9, BASE_RESPONSE "; server_max_window_bits=9");
}

static void test_deflate_accepts_quoted_values_whitespace_and_case(void **state)
{
    (void)state;
    accepts("permessage-deflate; server_max_window_bits=\"12\"", 12, BASE_RESPONSE "; server_max_window_bits=12");
    accepts("permessage-deflate; server_max_window_bits=\"1\\1\"", 11, BASE_RESPONSE "; server_max_window_bits=11");
    accepts("permessage-deflate; client_max_window_bits=\"9\"", 15, BASE_RESPONSE);
    accepts("  permessage-deflate \t;\tserver_max_window_bits = 13 ; client_max_window_bits  ", 13,
            BASE_RESPONSE "; server_max_window_bits=13");
    accepts("PerMessage-Deflate; Server_Max_Window_Bits=14", 14, BASE_RESPONSE "; server_max_window_bits=14");
    /* RFC 9110 §5.6.1: empty list elements are ignored. */
    accepts(", ,permessage-deflate,, ", 15, BASE_RESPONSE);
}

static void test_deflate_declines_unknown_duplicate_or_invalid_parameters(void **state)
{
    (void)state;
    declines("permessage-deflate; foo");
    declines("permessage-deflate; foo=1");
    declines("permessage-deflate; server_no_context_takeover; server_no_context_takeover");
    declines("permessage-deflate; client_max_window_bits; client_max_window_bits=10");
    declines("permessage-deflate; server_max_window_bits=10; server_max_window_bits=10");
    declines("permessage-deflate; server_no_context_takeover=1");
    declines("permessage-deflate; client_no_context_takeover=\"\"");
    declines("permessage-deflate; server_max_window_bits");   /* the value is mandatory */
    declines("permessage-deflate; server_max_window_bits=7");
    declines("permessage-deflate; server_max_window_bits=16");
    declines("permessage-deflate; server_max_window_bits=08"); /* leading zero */
    declines("permessage-deflate; server_max_window_bits=0");
    declines("permessage-deflate; server_max_window_bits=abc");
    declines("permessage-deflate; server_max_window_bits=\"\"");
    declines("permessage-deflate; server_max_window_bits=\"1 0\"");
    declines("permessage-deflate; server_max_window_bits=99999999999999999999");
    declines("permessage-deflate; client_max_window_bits=16");
    declines("permessage-deflate; client_max_window_bits=1x");
    /* Other extensions are not ours. */
    declines("x-webkit-deflate-frame");
    declines("deflate-frame; no_context_takeover");
    declines("permessage-bzip2");
    declines("");
    declines("   ");
}

static void test_deflate_first_acceptable_offer_wins_across_fields(void **state)
{
    (void)state;
    wsh_pmd_agreed_t a;
    assert_int_equal(nego(&a, "permessage-deflate; foo, permessage-deflate; server_max_window_bits=11",
                          (const char *)NULL),
                     1);
    assert_int_equal(a.server_bits, 11);
    assert_int_equal(nego(&a, "permessage-deflate; server_max_window_bits=9, permessage-deflate", (const char *)NULL),
                     1);
    assert_int_equal(a.server_bits, 9);
    /* Several fields form one list (RFC 9110 §5.3). */
    assert_int_equal(nego(&a, "x-foo; bar=1", "permessage-deflate; server_max_window_bits=10", (const char *)NULL), 1);
    assert_int_equal(a.server_bits, 10);
    assert_int_equal(nego(&a, "permessage-deflate; server_max_window_bits=12", "permessage-deflate",
                          (const char *)NULL),
                     1);
    assert_int_equal(a.server_bits, 12);
    assert_int_equal(nego(&a, "permessage-deflate; x", "permessage-deflate; y", (const char *)NULL), 0);
    assert_int_equal(nego(&a, (const char *)NULL), 0);
}

static void test_deflate_refuses_malformed_extension_lists(void **state)
{
    (void)state;
    malformed("permessage-deflate;");
    malformed("permessage-deflate; ");
    malformed("; server_no_context_takeover");
    malformed("permessage-deflate x");
    malformed("permessage-deflate; =1");
    malformed("permessage-deflate; a=");
    malformed("permessage-deflate; a=\"unclosed");
    malformed("permessage-deflate; a=\"ends in backslash\\");
    malformed("permessage-deflate; a=\"ctl\x01\"");
    malformed("permessage-deflate; a==1");
    malformed("permessage-deflate; a=1 2");
    malformed("perm(essage");
    malformed("permessage-deflate, @");
    /* A malformed later element refuses the whole header, even after an
     * acceptable offer. */
    malformed("permessage-deflate, x-foo; =");
    wsh_pmd_agreed_t a;
    assert_int_equal(nego(&a, "permessage-deflate", "x;", (const char *)NULL), WSH_EBADREQ);
}

/* websocket-extensions CVE-2020-7662 shape: an unclosed quoted string full
 * of escapes must fail in one pass. */
static void test_deflate_long_unclosed_quoted_escapes_fail_linearly(void **state)
{
    (void)state;
    size_t n = 200000;
    char *s = malloc(n + 64);
    strcpy(s, "permessage-deflate; a=\"");
    size_t off = strlen(s);
    for (size_t i = 0; i < n; i += 2) {
        s[off + i] = '\\';
        s[off + i + 1] = 'c';
    }
    s[off + n] = '\0';
    malformed(s);
    free(s);
}

/* ---- inflate ---- */

/* Raw-deflates in with zlib directly (the way clients do), ending with a
 * sync flush whose 00 00 ff ff is stripped, or with Z_FINISH (a final block). */
static uint8_t *client_deflate(const void *in, size_t len, int bits, bool final, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, len) + 16;
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, final ? Z_FINISH : Z_SYNC_FLUSH);
    assert_int_equal(rc, final ? Z_STREAM_END : Z_OK);
    size_t n = cap - z.avail_out;
    deflateEnd(&z);
    if (!final) {
        assert_true(n >= 4);
        assert_memory_equal(out + n - 4, "\x00\x00\xff\xff", 4);
        n -= 4;
    }
    *out_len = n;
    return out;
}

static void expect_inflate(const uint8_t *in, size_t len, uint64_t cap, const void *want, size_t want_len)
{
    uint8_t *out = NULL;
    size_t out_len = 0;
    assert_int_equal(wsh_pmd_inflate(in, len, cap, &out, &out_len), 0);
    assert_non_null(out);
    assert_int_equal(out_len, want_len);
    if (want_len)
        assert_memory_equal(out, want, want_len);
    free(out);
}

/* RFC 7692 §7.2.3: the "Hello" examples. */
static void test_deflate_inflates_the_rfc_7692_examples(void **state)
{
    (void)state;
    /* §7.2.3.1: a message compressed in one frame. */
    static const uint8_t hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    expect_inflate(hello, sizeof hello, 1024, "Hello", 5);
    /* §7.2.3.3: a DEFLATE block with no compression. */
    static const uint8_t stored[] = {0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00};
    expect_inflate(stored, sizeof stored, 1024, "Hello", 5);
    /* §7.2.3.4: a block with BFINAL set. */
    static const uint8_t final[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    expect_inflate(final, sizeof final, 1024, "Hello", 5);
    /* §7.2.3.6: an empty message is a single 0x00 byte. */
    static const uint8_t empty[] = {0x00};
    expect_inflate(empty, sizeof empty, 1024, "", 0);
    expect_inflate(empty, sizeof empty, 0, "", 0);
    /* And the 0-byte payload (an empty block's tail alone). */
    expect_inflate(empty, 0, 16, "", 0);
    /* §7.2.3.2: the same stream, sent as two frames, is one payload. */
    expect_inflate(hello, sizeof hello, 5, "Hello", 5);
}

static void test_deflate_inflate_refuses_one_byte_over_the_cap(void **state)
{
    (void)state;
    static const uint8_t hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    uint8_t *out = (uint8_t *)"untouched";
    size_t out_len = 77;
    assert_int_equal(wsh_pmd_inflate(hello, sizeof hello, 4, &out, &out_len), WSH_ETOOBIG);
    assert_int_equal(out_len, 77);
    assert_int_equal(wsh_pmd_inflate(hello, sizeof hello, 0, &out, &out_len), WSH_ETOOBIG);
}

/* Catalogue B33: 16 MiB of zeros squeezed into ~16 KiB, under a 64 KiB cap.
 * It fails with ETOOBIG and no buffer ever exceeds the cap. */
static void test_deflate_bomb_fails_without_allocating_past_the_cap(void **state)
{
    (void)state;
    size_t big = 16u << 20;
    uint8_t *zeros = calloc(1, big);
    size_t clen;
    uint8_t *bomb = client_deflate(zeros, big, 15, false, &clen);
    free(zeros);
    assert_true(clen < 64 * 1024);
    uint64_t caps[] = {64 * 1024, 1000, 1, 1u << 20};
    assert_non_null(get_inflater()); /* made once per thread, not counted */
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        g_max_alloc = 0;
        uint8_t *out = NULL;
        size_t out_len = 0;
        assert_int_equal(wsh_pmd_inflate(bomb, clen, caps[i], &out, &out_len), WSH_ETOOBIG);
        if (g_max_alloc > caps[i])
            fail_msg("cap %llu: allocated %zu", (unsigned long long)caps[i], g_max_alloc);
    }
    free(bomb);
}

static void test_deflate_inflate_exactly_at_the_cap_succeeds(void **state)
{
    (void)state;
    size_t n = 100000;
    char *text = malloc(n);
    for (size_t i = 0; i < n; i++)
        text[i] = (char)('a' + (i * 7 + i / 13) % 26);
    size_t clen;
    uint8_t *c = client_deflate(text, n, 15, false, &clen);
    g_max_alloc = 0;
    expect_inflate(c, clen, n, text, n);
    assert_true(g_max_alloc <= n);
    uint8_t *out;
    size_t out_len;
    assert_int_equal(wsh_pmd_inflate(c, clen, n - 1, &out, &out_len), WSH_ETOOBIG);
    free(c);
    /* A final block (Z_FINISH), which some senders use, reads the same. */
    c = client_deflate(text, n, 15, true, &clen);
    expect_inflate(c, clen, n, text, n);
    free(c);
    free(text);
}

static void test_deflate_corrupt_data_is_invalid_payload(void **state)
{
    (void)state;
    uint8_t *out;
    size_t out_len;
    /* BTYPE 11 is reserved (RFC 1951 §3.2.3). */
    static const uint8_t reserved[] = {0x07, 0x00};
    assert_int_equal(wsh_pmd_inflate(reserved, sizeof reserved, 1024, &out, &out_len), WSH_EPAYLOAD);
    /* A stored block whose NLEN is not the complement of LEN. */
    static const uint8_t bad_len[] = {0x00, 0x05, 0x00, 0x00, 0x00, 'H', 'e', 'l', 'l', 'o'};
    assert_int_equal(wsh_pmd_inflate(bad_len, sizeof bad_len, 1024, &out, &out_len), WSH_EPAYLOAD);
    static const uint8_t ff[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(wsh_pmd_inflate(ff, sizeof ff, 1024, &out, &out_len), WSH_EPAYLOAD);
    /* The inflater is usable again afterwards. */
    static const uint8_t hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    expect_inflate(hello, sizeof hello, 1024, "Hello", 5);
}

/* Each message starts from a fresh inflater (client_no_context_takeover):
 * a message referring back into the previous one is corrupt. */
static void test_deflate_each_message_starts_without_context(void **state)
{
    (void)state;
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    const char *msg = "the same sentence, twice over: the same sentence";
    uint8_t a[256], b[256];
    z.next_in = (Bytef *)(uintptr_t)msg;
    z.avail_in = (uInt)strlen(msg);
    z.next_out = a;
    z.avail_out = sizeof a;
    assert_int_equal(deflate(&z, Z_SYNC_FLUSH), Z_OK);
    size_t alen = sizeof a - z.avail_out - 4;
    z.next_in = (Bytef *)(uintptr_t)msg;
    z.avail_in = (uInt)strlen(msg);
    z.next_out = b;
    z.avail_out = sizeof b;
    assert_int_equal(deflate(&z, Z_SYNC_FLUSH), Z_OK);
    size_t blen = sizeof b - z.avail_out - 4;
    deflateEnd(&z);
    expect_inflate(a, alen, 1024, msg, strlen(msg));
    uint8_t *out;
    size_t out_len;
    /* b was compressed with a's context (context takeover) */
    assert_int_equal(wsh_pmd_inflate(b, blen, 1024, &out, &out_len), WSH_EPAYLOAD);
}

static void test_deflate_inflate_out_of_memory_is_enomem(void **state)
{
    (void)state;
    static const uint8_t hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    uint8_t *out;
    size_t out_len;
    /* The thread's inflater exists already (earlier tests): the first
     * peer-sized allocation is the output buffer. */
    expect_inflate(hello, sizeof hello, 1024, "Hello", 5);
    wsh_alloc_fail_nth(1);
    assert_int_equal(wsh_pmd_inflate(hello, sizeof hello, 1024, &out, &out_len), WSH_ENOMEM);
    wsh_alloc_fail_nth(0);
}

/* ---- deflate ---- */

static char *sample_text(size_t n)
{
    char *t = malloc(n + 1);
    static const char words[] = "{\"type\":\"message\",\"channel\":\"news\",\"data\":{\"score\":[1,2,3]}} ";
    for (size_t i = 0; i < n; i++)
        t[i] = words[(i + i / 97) % (sizeof words - 1)];
    t[n] = '\0';
    return t;
}

/* Frame header fields of an unmasked server frame; the payload offset. */
static size_t parse_server_frame(const wsh_msg_t *m, uint8_t *b0, uint64_t *plen)
{
    *b0 = m->data[0];
    uint8_t l7 = m->data[1] & 0x7f;
    assert_int_equal(m->data[1] & 0x80, 0);
    if (l7 < 126) {
        *plen = l7;
        return 2;
    }
    if (l7 == 126) {
        *plen = (uint64_t)m->data[2] << 8 | m->data[3];
        return 4;
    }
    uint64_t n = 0;
    for (int k = 0; k < 8; k++)
        n = n << 8 | m->data[2 + k];
    *plen = n;
    return 10;
}

static void test_deflate_round_trip_at_every_window_and_size(void **state)
{
    (void)state;
    size_t sizes[] = {130, 1000, 70000, 300000};
    for (uint8_t bits = WSH_PMD_MIN_BITS; bits <= WSH_PMD_MAX_BITS; bits++) {
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            char *t = sample_text(sizes[k]);
            wsh_msg_t *m = wsh_pmd_compress(WSH_OP_TEXT, (const uint8_t *)t, sizes[k], bits);
            assert_non_null(m);
            uint8_t b0;
            uint64_t plen;
            size_t h = parse_server_frame(m, &b0, &plen);
            assert_int_equal(b0, 0xC1); /* FIN, RSV1, text */
            assert_int_equal(h + plen, m->len);
            assert_true(plen < sizes[k]);
            /* Checked with a plain zlib inflater limited to the agreed
             * window, as a client that asked for it would be. */
            z_stream z;
            memset(&z, 0, sizeof z);
            assert_int_equal(inflateInit2(&z, -(bits < 9 ? 9 : bits)), Z_OK);
            uint8_t *buf = malloc(sizes[k] + 1);
            uint8_t tail[4] = {0, 0, 0xff, 0xff};
            z.next_in = m->data + h;
            z.avail_in = (uInt)plen;
            z.next_out = buf;
            z.avail_out = (uInt)sizes[k] + 1;
            int rc = inflate(&z, Z_SYNC_FLUSH);
            assert_true(rc == Z_OK || rc == Z_BUF_ERROR);
            z.next_in = tail;
            z.avail_in = 4;
            rc = inflate(&z, Z_SYNC_FLUSH);
            assert_true(rc == Z_OK || rc == Z_BUF_ERROR);
            assert_int_equal(z.total_out, sizes[k]);
            assert_memory_equal(buf, t, sizes[k]);
            inflateEnd(&z);
            free(buf);
            /* And with our own inflater. */
            expect_inflate(m->data + h, (size_t)plen, sizes[k], t, sizes[k]);
            wsh_msg_unref(m);
            free(t);
        }
    }
}

/* Inflates a raw stream (tail appended) with a zlib inflater of the given
 * window, one output byte per call so that every back-reference must come
 * from the inflater's own window (a single large output buffer would let
 * zlib reach further back than the window); true when it decodes to want. */
static bool inflates_with_window(const uint8_t *in, size_t len, int bits, const void *want, size_t want_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(inflateInit2(&z, -bits), Z_OK);
    uint8_t *buf = malloc(want_len + 1);
    uint8_t tail[4] = {0, 0, 0xff, 0xff};
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    bool tail_fed = false, ok = true;
    size_t out = 0;
    for (;;) {
        if (z.avail_in == 0 && !tail_fed) {
            z.next_in = tail;
            z.avail_in = 4;
            tail_fed = true;
        }
        if (out > want_len) {
            ok = false;
            break;
        }
        z.next_out = buf + out;
        z.avail_out = 1;
        int rc = inflate(&z, Z_SYNC_FLUSH);
        out = z.total_out;
        if (rc == Z_STREAM_END)
            break;
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            ok = false;
            break;
        }
        if (tail_fed && z.avail_in == 0 && z.avail_out == 1)
            break;
    }
    ok = ok && out == want_len && memcmp(buf, want, want_len) == 0;
    inflateEnd(&z);
    free(buf);
    return ok;
}

/* bits 8 is served by zlib's 9-bit window, which never matches further
 * back than 512 - 262 = 250 bytes, so a peer with a 256-byte window decodes
 * it; a 10-bit stream, which does reach further, shows the oracle fails. */
static void test_deflate_window_8_output_decodes_with_a_256_byte_window(void **state)
{
    (void)state;
    /* 300 pseudo-random letters, twice: the repeat is 300 bytes back. */
    size_t n = 600;
    char t[600];
    uint32_t x = 7;
    for (size_t i = 0; i < 300; i++) {
        x = x * 1103515245u + 12345u;
        t[i] = t[i + 300] = (char)('a' + (x >> 16) % 26);
    }
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, -10, 8, Z_DEFAULT_STRATEGY), Z_OK);
    uint8_t ten[1024];
    z.next_in = (Bytef *)t;
    z.avail_in = (uInt)n;
    z.next_out = ten;
    z.avail_out = sizeof ten;
    assert_int_equal(deflate(&z, Z_SYNC_FLUSH), Z_OK);
    size_t ten_len = sizeof ten - z.avail_out - 4;
    deflateEnd(&z);
    assert_true(inflates_with_window(ten, ten_len, 10, t, n));
    assert_false(inflates_with_window(ten, ten_len, 8, t, n));
    /* Ours at 8 decodes with 8, for this text and for typical JSON. */
    wsh_msg_t *m8 = wsh_pmd_compress(WSH_OP_TEXT, (const uint8_t *)t, n, 8);
    assert_non_null(m8);
    uint8_t b0;
    uint64_t plen;
    size_t h = parse_server_frame(m8, &b0, &plen);
    assert_true(inflates_with_window(m8->data + h, (size_t)plen, 8, t, n));
    wsh_msg_unref(m8);
    char *j = sample_text(20000);
    m8 = wsh_pmd_compress(WSH_OP_TEXT, (const uint8_t *)j, 20000, 8);
    assert_non_null(m8);
    h = parse_server_frame(m8, &b0, &plen);
    assert_true(inflates_with_window(m8->data + h, (size_t)plen, 8, j, 20000));
    wsh_msg_unref(m8);
    free(j);
}

static void test_deflate_incompressible_payload_is_not_compressed(void **state)
{
    (void)state;
    uint8_t rnd[2000];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof rnd; i++) {
        x = x * 1103515245u + 12345u;
        rnd[i] = (uint8_t)(x >> 16);
    }
    assert_null(wsh_pmd_compress(WSH_OP_BINARY, rnd, sizeof rnd, 15));
}

/* A frame as the hub builds one (ws/frame.c). */
static wsh_msg_t *plain_frame(uint8_t opcode, const void *p, size_t len)
{
    return wsh_frame_build(opcode, p, len);
}

static void test_deflate_frame_for_compresses_once_and_shares_the_variant(void **state)
{
    (void)state;
    char *t = sample_text(5000);
    wsh_msg_t *f = plain_frame(WSH_OP_TEXT, t, 5000);
    f->pub_ns = 42;
    wsh_msg_t *v = wsh_pmd_frame_for(f, 15, 128);
    assert_ptr_not_equal(v, f);
    assert_int_equal(v->data[0], 0xC1);
    assert_int_equal(v->alt_tag, 15);
    assert_int_equal(v->pub_ns, 42);
    assert_ptr_equal(f->alt, v);
    /* The next subscriber gets the same variant: nothing is compressed twice. */
    assert_ptr_equal(wsh_pmd_frame_for(f, 15, 128), v);
    /* Another window gets its own, chained. */
    wsh_msg_t *v10 = wsh_pmd_frame_for(f, 10, 128);
    assert_ptr_not_equal(v10, v);
    assert_int_equal(v10->alt_tag, 10);
    assert_ptr_equal(wsh_pmd_frame_for(f, 10, 128), v10);
    assert_ptr_equal(wsh_pmd_frame_for(f, 15, 128), v);
    /* A queue's reference keeps a variant alive after the frame goes. */
    wsh_msg_ref(v);
    wsh_msg_unref(f);
    assert_int_equal(v->refcnt, 1);
    uint8_t b0;
    uint64_t plen;
    size_t h = parse_server_frame(v, &b0, &plen);
    expect_inflate(v->data + h, (size_t)plen, 5000, t, 5000);
    wsh_msg_unref(v);
    free(t);
}

static void test_deflate_frame_for_leaves_small_control_and_batched_frames(void **state)
{
    (void)state;
    char *t = sample_text(1000);
    /* Under the threshold: plain, RSV1 clear, nothing made. */
    wsh_msg_t *f = plain_frame(WSH_OP_TEXT, t, 127);
    assert_ptr_equal(wsh_pmd_frame_for(f, 15, 128), f);
    assert_null(f->alt);
    wsh_msg_unref(f);
    /* At the threshold: compressed. */
    f = plain_frame(WSH_OP_TEXT, t, 128);
    assert_ptr_not_equal(wsh_pmd_frame_for(f, 15, 128), f);
    wsh_msg_unref(f);
    /* Threshold 0 compresses anything that gets smaller. */
    f = plain_frame(WSH_OP_BINARY, t, 1000);
    wsh_msg_t *v = wsh_pmd_frame_for(f, 15, 0);
    assert_int_equal(v->data[0], 0xC2);
    wsh_msg_unref(f);
    /* Control frames never (RFC 7692 §6.1). */
    f = plain_frame(WSH_OP_PING, t, 125);
    assert_ptr_equal(wsh_pmd_frame_for(f, 15, 0), f);
    wsh_msg_unref(f);
    f = wsh_frame_build_close(1000, "a reason that is long enough to be worth compressing, if it were data");
    assert_ptr_equal(wsh_pmd_frame_for(f, 15, 0), f);
    wsh_msg_unref(f);
    /* Two frames in one msg are sent as they are. */
    wsh_msg_t *a = plain_frame(WSH_OP_TEXT, t, 500);
    wsh_msg_t *two = wsh_msg_new(a->len * 2);
    memcpy(two->data, a->data, a->len);
    memcpy(two->data + a->len, a->data, a->len);
    assert_ptr_equal(wsh_pmd_frame_for(two, 15, 0), two);
    wsh_msg_unref(two);
    wsh_msg_unref(a);
    free(t);
}

static void test_deflate_frame_for_remembers_incompressible_frames(void **state)
{
    (void)state;
    uint8_t rnd[3000];
    uint32_t x = 99;
    for (size_t i = 0; i < sizeof rnd; i++) {
        x = x * 1103515245u + 12345u;
        rnd[i] = (uint8_t)(x >> 16);
    }
    wsh_msg_t *f = plain_frame(WSH_OP_BINARY, rnd, sizeof rnd);
    uint64_t before = WSH_METRICS_TOTAL(deflate_in_bytes);
    assert_ptr_equal(wsh_pmd_frame_for(f, 15, 128), f);
    assert_non_null(f->alt);
    assert_int_equal(f->alt->len, 0);
    assert_ptr_equal(wsh_pmd_frame_for(f, 15, 128), f);
    /* Not compressed a second time: the marker answered. */
    assert_ptr_equal(f->alt->alt, NULL);
    assert_int_equal(WSH_METRICS_TOTAL(deflate_in_bytes), before);
    wsh_msg_unref(f);
}

static int teardown(void **state)
{
    (void)state;
    wsh_pmd_thread_dispose();
    return 0;
}

int main(void)
{
    wsh_metrics_register();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deflate_accepts_plain_and_parameterised_offers),
        cmocka_unit_test(test_deflate_accepts_quoted_values_whitespace_and_case),
        cmocka_unit_test(test_deflate_declines_unknown_duplicate_or_invalid_parameters),
        cmocka_unit_test(test_deflate_first_acceptable_offer_wins_across_fields),
        cmocka_unit_test(test_deflate_refuses_malformed_extension_lists),
        cmocka_unit_test(test_deflate_long_unclosed_quoted_escapes_fail_linearly),
        cmocka_unit_test(test_deflate_inflates_the_rfc_7692_examples),
        cmocka_unit_test(test_deflate_inflate_refuses_one_byte_over_the_cap),
        cmocka_unit_test(test_deflate_bomb_fails_without_allocating_past_the_cap),
        cmocka_unit_test(test_deflate_inflate_exactly_at_the_cap_succeeds),
        cmocka_unit_test(test_deflate_corrupt_data_is_invalid_payload),
        cmocka_unit_test(test_deflate_each_message_starts_without_context),
        cmocka_unit_test(test_deflate_inflate_out_of_memory_is_enomem),
        cmocka_unit_test(test_deflate_round_trip_at_every_window_and_size),
        cmocka_unit_test(test_deflate_window_8_output_decodes_with_a_256_byte_window),
        cmocka_unit_test(test_deflate_incompressible_payload_is_not_compressed),
        cmocka_unit_test(test_deflate_frame_for_compresses_once_and_shares_the_variant),
        cmocka_unit_test(test_deflate_frame_for_leaves_small_control_and_batched_frames),
        cmocka_unit_test(test_deflate_frame_for_remembers_incompressible_frames),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
