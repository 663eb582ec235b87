/* Unit tests for src/ws/utf8.c: the Autobahn|Testsuite 6.x vectors (Markus
 * Kuhn's UTF-8 stress test) with their fail-fast positions, every code point,
 * and exhaustive comparison with a simple reference; not frame handling. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ws/utf8.h"

/* Expected outcome of validating a whole vector. */
#define OK (-1L)  /* complete and valid */
#define INC (-2L) /* valid so far, but ends inside a sequence */

/* A reference validator written as directly as possible from RFC 3629 §4's
 * table of well-formed byte sequences, to check the DFA against. Returns the
 * index of the first byte that cannot continue a valid sequence, or OK/INC. */
static long ref_check(const uint8_t *d, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = d[i];
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (b < 0x80) {
            i++;
            continue;
        } else if (b >= 0xC2 && b <= 0xDF) {
            need = 1;
        } else if (b == 0xE0) {
            need = 2, lo = 0xA0;
        } else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
            need = 2;
        } else if (b == 0xED) {
            need = 2, hi = 0x9F;
        } else if (b == 0xF0) {
            need = 3, lo = 0x90;
        } else if (b >= 0xF1 && b <= 0xF3) {
            need = 3;
        } else if (b == 0xF4) {
            need = 3, hi = 0x8F;
        } else {
            return (long)i;
        }
        for (size_t k = 1; k <= need; k++) {
            if (i + k >= n)
                return INC;
            uint8_t c = d[i + k];
            uint8_t l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
            if (c < l || c > h)
                return (long)(i + k);
        }
        i += need + 1;
    }
    return OK;
}

/* Runs the validator over d in the chunks given by one cut (cut == n: whole)
 * and returns the outcome in the OK/INC/index encoding. */
static long dfa_check_split(const uint8_t *d, size_t n, size_t cut)
{
    uint32_t st = WSH_UTF8_ACCEPT;
    size_t r = wsh_utf8_validate(&st, d, cut);
    if (r < cut) {
        assert_int_equal(st, WSH_UTF8_REJECT);
        return (long)r;
    }
    assert_int_not_equal(st, WSH_UTF8_REJECT);
    r = wsh_utf8_validate(&st, d + cut, n - cut);
    if (r < n - cut) {
        assert_int_equal(st, WSH_UTF8_REJECT);
        return (long)(cut + r);
    }
    assert_int_not_equal(st, WSH_UTF8_REJECT);
    return st == WSH_UTF8_ACCEPT ? OK : INC;
}

static long dfa_check_bytewise(const uint8_t *d, size_t n)
{
    uint32_t st = WSH_UTF8_ACCEPT;
    for (size_t i = 0; i < n; i++) {
        size_t r = wsh_utf8_validate(&st, d + i, 1);
        if (r == 0)
            return (long)i;
    }
    return st == WSH_UTF8_ACCEPT ? OK : INC;
}

/* The outcome must be the same whole, at every split point and byte by byte,
 * and equal both the expectation and the reference. */
static void check_vector(const uint8_t *d, size_t n, long expect)
{
    assert_int_equal(ref_check(d, n), expect);
    for (size_t cut = 0; cut <= n; cut++)
        assert_int_equal(dfa_check_split(d, n, cut), expect);
    assert_int_equal(dfa_check_bytewise(d, n), expect);
    assert_int_equal(wsh_utf8_is_valid(d, n), expect == OK);
    /* The same bytes behind a long ASCII run exercise the fast path. */
    uint8_t *pre = malloc(n + 37);
    assert_non_null(pre);
    memset(pre, 'a', 37);
    memcpy(pre + 37, d, n);
    long shifted = expect >= 0 ? expect + 37 : expect;
    assert_int_equal(dfa_check_split(pre, n + 37, n + 37), shifted);
    assert_int_equal(dfa_check_split(pre, n + 37, 37), shifted);
    free(pre);
}

typedef struct vec {
    const char *name;
    const char *bytes;
    size_t len;
    long expect;
} vec_t;

#define V(name, lit, expect) {name, lit, sizeof(lit) - 1, expect}

/* Autobahn|Testsuite case group 6 (case6_x_x.py, from Markus Kuhn's
 * UTF-8-test.txt). expect is the index of the first byte that cannot
 * continue a valid sequence: where a fail-fast endpoint must fail. */
static const vec_t AUTOBAHN_6[] = {
    /* 6.5 Some valid UTF-8 sequences */
    V("6.5.1 U+0024", "hello\x24world", OK),
    V("6.5.2 U+00A2", "hello\xC2\xA2world", OK),
    V("6.5.3 U+20AC", "hello\xE2\x82\xACworld", OK),
    V("6.5.4 U+24B62", "hello\xF0\xA4\xAD\xA2world", OK),
    V("6.5.5 kosme", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", OK),
    /* 6.7 First possible sequence of a certain length */
    V("6.7.1", "\x00", OK),
    V("6.7.2", "\xc2\x80", OK),
    V("6.7.3", "\xe0\xa0\x80", OK),
    V("6.7.4", "\xf0\x90\x80\x80", OK),
    /* 6.8 First possible sequence length 5/6 (invalid code points) */
    V("6.8.1", "\xf8\x88\x80\x80\x80", 0),
    V("6.8.2", "\xfc\x84\x80\x80\x80\x80", 0),
    /* 6.9 Last possible sequence of a certain length */
    V("6.9.1", "\x7f", OK),
    V("6.9.2", "\xdf\xbf", OK),
    V("6.9.3", "\xef\xbf\xbf", OK),
    V("6.9.4", "\xf4\x8f\xbf\xbf", OK),
    /* 6.10 Last possible sequence length 4/5/6 (invalid code points) */
    V("6.10.1", "\xf7\xbf\xbf\xbf", 0),
    V("6.10.2", "\xfb\xbf\xbf\xbf\xbf", 0),
    V("6.10.3", "\xfd\xbf\xbf\xbf\xbf\xbf", 0),
    /* 6.11 Other boundary conditions */
    V("6.11.1 U+D7FF", "\xed\x9f\xbf", OK),
    V("6.11.2 U+E000", "\xee\x80\x80", OK),
    V("6.11.3 U+FFFD", "\xef\xbf\xbd", OK),
    V("6.11.4 U+10FFFF", "\xf4\x8f\xbf\xbf", OK),
    V("6.11.5 U+110000", "\xf4\x90\x80\x80", 1),
    /* 6.12 Unexpected continuation bytes (6.12.8, 80..BE, is generated) */
    V("6.12.1", "\x80", 0),
    V("6.12.2", "\xbf", 0),
    V("6.12.3", "\x80\xbf", 0),
    V("6.12.4", "\x80\xbf\x80", 0),
    V("6.12.5", "\x80\xbf\x80\xbf", 0),
    V("6.12.6", "\x80\xbf\x80\xbf\x80", 0),
    V("6.12.7", "\x80\xbf\x80\xbf\x80\xbf", 0),
    /* 6.14 Sequences with last continuation byte missing */
    V("6.14.1", "\xc0", 0),
    V("6.14.2", "\xe0\x80", 1),
    V("6.14.3", "\xf0\x80\x80", 1),
    V("6.14.4", "\xf8\x80\x80\x80", 0),
    V("6.14.5", "\xfc\x80\x80\x80\x80", 0),
    V("6.14.6", "\xdf", INC),
    V("6.14.7", "\xef\xbf", INC),
    V("6.14.8", "\xf7\xbf\xbf", 0),
    V("6.14.9", "\xfb\xbf\xbf\xbf", 0),
    V("6.14.10", "\xfd\xbf\xbf\xbf\xbf", 0),
    /* 6.15 Concatenation of incomplete sequences */
    V("6.15.1", "\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80\xfc\x80\x80\x80\x80"
                "\xdf\xef\xbf\xf7\xbf\xbf\xfb\xbf\xbf\xbf\xfd\xbf\xbf\xbf\xbf", 0),
    /* 6.16 Impossible bytes */
    V("6.16.1", "\xfe", 0),
    V("6.16.2", "\xff", 0),
    V("6.16.3", "\xfe\xfe\xff\xff", 0),
    /* 6.17 Examples of an overlong ASCII character */
    V("6.17.1", "\xc0\xaf", 0),
    V("6.17.2", "\xe0\x80\xaf", 1),
    V("6.17.3", "\xf0\x80\x80\xaf", 1),
    V("6.17.4", "\xf8\x80\x80\x80\xaf", 0),
    V("6.17.5", "\xfc\x80\x80\x80\x80\xaf", 0),
    /* 6.18 Maximum overlong sequences */
    V("6.18.1", "\xc1\xbf", 0),
    V("6.18.2", "\xe0\x9f\xbf", 1),
    V("6.18.3", "\xf0\x8f\xbf\xbf", 1),
    V("6.18.4", "\xf8\x87\xbf\xbf\xbf", 0),
    V("6.18.5", "\xfc\x83\xbf\xbf\xbf\xbf", 0),
    /* 6.19 Overlong representation of the NUL character */
    V("6.19.1", "\xc0\x80", 0),
    V("6.19.2", "\xe0\x80\x80", 1),
    V("6.19.3", "\xf0\x80\x80\x80", 1),
    V("6.19.4", "\xf8\x80\x80\x80\x80", 0),
    V("6.19.5", "\xfc\x80\x80\x80\x80\x80", 0),
    /* 6.20 Single UTF-16 surrogates */
    V("6.20.1 U+D800", "\xed\xa0\x80", 1),
    V("6.20.2 U+DB7F", "\xed\xad\xbf", 1),
    V("6.20.3 U+DB80", "\xed\xae\x80", 1),
    V("6.20.4 U+DBFF", "\xed\xaf\xbf", 1),
    V("6.20.5 U+DC00", "\xed\xb0\x80", 1),
    V("6.20.6 U+DF80", "\xed\xbe\x80", 1),
    V("6.20.7 U+DFFF", "\xed\xbf\xbf", 1),
    /* 6.21 Paired UTF-16 surrogates */
    V("6.21.1", "\xed\xa0\x80\xed\xb0\x80", 1),
    V("6.21.2", "\xed\xa0\x80\xed\xbf\xbf", 1),
    V("6.21.3", "\xed\xad\xbf\xed\xb0\x80", 1),
    V("6.21.4", "\xed\xad\xbf\xed\xbf\xbf", 1),
    V("6.21.5", "\xed\xae\x80\xed\xb0\x80", 1),
    V("6.21.6", "\xed\xae\x80\xed\xbf\xbf", 1),
    V("6.21.7", "\xed\xaf\xbf\xed\xb0\x80", 1),
    V("6.21.8", "\xed\xaf\xbf\xed\xbf\xbf", 1),
    /* 6.22 Non-character code points are valid UTF-8 (the F-row ones are
     * generated below) */
    V("6.22.1 U+FFFE", "\xef\xbf\xbe", OK),
    V("6.22.2 U+FFFF", "\xef\xbf\xbf", OK),
    /* 6.23 Unicode specials */
    V("6.23.1", "\xef\xbf\xb9", OK),
    V("6.23.2", "\xef\xbf\xba", OK),
    V("6.23.3", "\xef\xbf\xbb", OK),
    V("6.23.4", "\xef\xbf\xbc", OK),
    V("6.23.5", "\xef\xbf\xbd", OK),
    V("6.23.6", "\xef\xbf\xbe", OK),
    V("6.23.7", "\xef\xbf\xbf", OK),
    /* Brief's fail-fast examples. */
    V("F4 90 fails at 90", "\xf4\x90", 1),
    V("ED A0 fails at A0", "\xed\xa0", 1),
    V("C0 fails at once", "\xc0", 0),
};

static void test_utf8_autobahn_6_x_vectors_fail_at_the_first_bad_byte(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(AUTOBAHN_6) / sizeof(AUTOBAHN_6[0]); i++) {
        const vec_t *v = &AUTOBAHN_6[i];
        print_message("%s\n", v->name);
        check_vector((const uint8_t *)v->bytes, v->len, v->expect);
    }
}

static void test_utf8_autobahn_6_6_every_prefix_of_kosme(void **state)
{
    (void)state;
    const uint8_t kosme[] = {0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5};
    for (size_t n = 1; n <= sizeof(kosme); n++) {
        /* Character boundaries fall after bytes 2, 5, 7, 9 and 11. */
        bool boundary = n == 2 || n == 5 || n == 7 || n == 9 || n == 11;
        check_vector(kosme, n, boundary ? OK : INC);
    }
}

static void test_utf8_autobahn_6_12_8_all_continuation_bytes(void **state)
{
    (void)state;
    uint8_t s[0x3F];
    for (unsigned b = 0x80; b < 0xBF; b++)
        s[b - 0x80] = (uint8_t)b;
    check_vector(s, sizeof(s), 0);
}

static void test_utf8_autobahn_6_13_lonely_start_bytes(void **state)
{
    (void)state;
    /* The Autobahn strings: each start byte of a range followed by a space. */
    const unsigned ranges[5][3] = {
        {0xc0, 0xdf, 0}, {0xe0, 0xef, 1}, {0xf0, 0xf7, 1}, {0xf8, 0xfb, 0}, {0xfc, 0xfd, 0}};
    for (size_t r = 0; r < 5; r++) {
        uint8_t s[64];
        size_t n = 0;
        for (unsigned b = ranges[r][0]; b < ranges[r][1]; b++) {
            s[n++] = (uint8_t)b;
            s[n++] = 0x20;
        }
        check_vector(s, n, (long)ranges[r][2]);
    }
    /* And every start byte alone before a space: a valid lead fails at the
     * space, a byte that can never lead fails at once. */
    for (unsigned b = 0xC0; b <= 0xFF; b++) {
        uint8_t s[2] = {(uint8_t)b, 0x20};
        bool lead = (b >= 0xC2 && b <= 0xF4);
        check_vector(s, 2, lead ? 1 : 0);
    }
}

static void test_utf8_autobahn_6_22_non_characters_are_valid(void **state)
{
    (void)state;
    const uint8_t z1s[] = {0xf0, 0xf1, 0xf2, 0xf3, 0xf4};
    const uint8_t z2s[] = {0x8f, 0x9f, 0xaf, 0xbf};
    size_t cnt = 0;
    for (size_t a = 0; a < sizeof(z1s); a++) {
        for (size_t b = 0; b < sizeof(z2s); b++) {
            for (uint8_t z3 = 0xbe; z3 <= 0xbf; z3++) {
                uint8_t s[4] = {z1s[a], z2s[b], 0xbf, z3};
                if (z1s[a] == 0xf4 && z2s[b] != 0x8f) {
                    check_vector(s, 4, 1); /* above U+10FFFF */
                } else if (z1s[a] == 0xf0 && z2s[b] == 0x8f) {
                    check_vector(s, 4, 1); /* overlong */
                } else {
                    check_vector(s, 4, OK);
                    cnt++;
                }
            }
        }
    }
    assert_int_equal(cnt, 32); /* Autobahn's 6.22.3 .. 6.22.34 */
}

static void test_utf8_autobahn_incremental_positions(void **state)
{
    (void)state;
    /* From case6_x_x.py test_utf8_incremental: state survives calls and the
     * failure is reported at the byte that breaks the sequence. */
    uint32_t st = WSH_UTF8_ACCEPT;
    const char *mixed = "\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1"; /* "µ@ßöäüàá" */
    assert_int_equal(wsh_utf8_validate(&st, (const uint8_t *)mixed, 15), 15);
    assert_int_equal(st, WSH_UTF8_ACCEPT);

    st = WSH_UTF8_ACCEPT;
    assert_int_equal(wsh_utf8_validate(&st, (const uint8_t *)"\xF5", 1), 0);
    assert_int_equal(st, WSH_UTF8_REJECT);

    /* The next three all fail on the 7th byte of the stream (0xA0). */
    st = WSH_UTF8_ACCEPT;
    assert_int_equal(wsh_utf8_validate(&st, (const uint8_t *)"edited", 6), 6);
    assert_int_equal(wsh_utf8_validate(&st, (const uint8_t *)"\xED\xA0\x80", 3), 1);
    assert_int_equal(st, WSH_UTF8_REJECT);

    st = WSH_UTF8_ACCEPT;
    assert_int_equal(wsh_utf8_validate(&st, (const uint8_t *)"edit", 4), 4);
    assert_int_equal(wsh_utf8_validate(&st, (const uint8_t *)"ed\xED\xA0\x80", 5), 3);

    st = WSH_UTF8_ACCEPT;
    assert_int_equal(wsh_utf8_validate(&st, (const uint8_t *)"edited\xED", 7), 7);
    assert_int_not_equal(st, WSH_UTF8_ACCEPT);
    assert_int_not_equal(st, WSH_UTF8_REJECT);
    assert_int_equal(wsh_utf8_validate(&st, (const uint8_t *)"\xA0\x80", 2), 0);
    assert_int_equal(st, WSH_UTF8_REJECT);
}

/* Generic UTF-8 integer encoding, also of values RFC 3629 forbids. */
static size_t encode(uint32_t c, uint8_t *o)
{
    if (c < 0x80) {
        o[0] = (uint8_t)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (uint8_t)(0xC0 | c >> 6);
        o[1] = (uint8_t)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (uint8_t)(0xE0 | c >> 12);
        o[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | c >> 18);
    o[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (c & 0x3F));
    return 4;
}

static void test_utf8_every_code_point(void **state)
{
    (void)state;
    uint8_t b[4];
    for (uint32_t c = 0; c <= 0x1FFFFF; c++) {
        size_t n = encode(c, b);
        uint32_t st = WSH_UTF8_ACCEPT;
        size_t r = wsh_utf8_validate(&st, b, n);
        if (c >= 0xD800 && c <= 0xDFFF) {
            assert_int_equal(r, 1); /* surrogate: fails at the second byte */
        } else if (c > 0x10FFFF) {
            /* F4 90.. fails at the second byte, F5..F7 at once. */
            assert_int_equal(r, c < 0x140000 ? 1 : 0);
        } else {
            assert_int_equal(r, n);
            assert_int_equal(st, WSH_UTF8_ACCEPT);
        }
    }
}

static void test_utf8_overlong_forms_of_every_short_code_point_fail(void **state)
{
    (void)state;
    for (uint32_t c = 0; c < 0x10000; c++) {
        uint8_t b[4];
        uint32_t st;
        if (c < 0x80) {
            b[0] = (uint8_t)(0xC0 | c >> 6);
            b[1] = (uint8_t)(0x80 | (c & 0x3F));
            st = WSH_UTF8_ACCEPT;
            assert_int_equal(wsh_utf8_validate(&st, b, 2), 0); /* C0/C1 */
        }
        if (c < 0x800) {
            b[0] = 0xE0;
            b[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
            b[2] = (uint8_t)(0x80 | (c & 0x3F));
            st = WSH_UTF8_ACCEPT;
            assert_int_equal(wsh_utf8_validate(&st, b, 3), 1); /* E0 80..9F */
        }
        b[0] = 0xF0;
        b[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
        b[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
        b[3] = (uint8_t)(0x80 | (c & 0x3F));
        st = WSH_UTF8_ACCEPT;
        assert_int_equal(wsh_utf8_validate(&st, b, 4), 1); /* F0 80..8F */
    }
}

static long dfa_whole(const uint8_t *d, size_t n)
{
    uint32_t st = WSH_UTF8_ACCEPT;
    size_t r = wsh_utf8_validate(&st, d, n);
    if (r < n)
        return (long)r;
    return st == WSH_UTF8_ACCEPT ? OK : INC;
}

static void test_utf8_matches_reference_on_all_short_inputs(void **state)
{
    (void)state;
    uint8_t b[3];
    for (unsigned x = 0; x < 256; x++) {
        b[0] = (uint8_t)x;
        assert_int_equal(dfa_whole(b, 1), ref_check(b, 1));
        for (unsigned y = 0; y < 256; y++) {
            b[1] = (uint8_t)y;
            assert_int_equal(dfa_whole(b, 2), ref_check(b, 2));
            /* Three-byte inputs whose first byte is ASCII reduce to the
             * two-byte case; the rest are compared exhaustively. */
            if (x < 0x80)
                continue;
            for (unsigned z = 0; z < 256; z++) {
                b[2] = (uint8_t)z;
                long want = ref_check(b, 3);
                if (dfa_whole(b, 3) != want)
                    fail_msg("%02x %02x %02x", x, y, z);
            }
        }
    }
}

static void test_utf8_matches_reference_on_four_byte_inputs(void **state)
{
    (void)state;
    /* Lead bytes E0..FF with every second byte and boundary values after. */
    const uint8_t edges[] = {0x00, 0x41, 0x7F, 0x80, 0x81, 0x8F, 0x90, 0x9F, 0xA0, 0xAF,
                             0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF};
    uint8_t b[4];
    for (unsigned w = 0xE0; w < 256; w++) {
        b[0] = (uint8_t)w;
        for (unsigned x = 0; x < 256; x++) {
            b[1] = (uint8_t)x;
            for (size_t y = 0; y < sizeof(edges); y++) {
                b[2] = edges[y];
                for (size_t z = 0; z < sizeof(edges); z++) {
                    b[3] = edges[z];
                    if (dfa_whole(b, 4) != ref_check(b, 4))
                        fail_msg("%02x %02x %02x %02x", b[0], b[1], b[2], b[3]);
                }
            }
        }
    }
}

static void test_utf8_fast_path_reports_failure_at_every_offset(void **state)
{
    (void)state;
    uint8_t buf[96];
    for (size_t len = 1; len <= sizeof(buf); len++) {
        for (size_t pos = 0; pos < len; pos++) {
            memset(buf, 'x', len);
            buf[pos] = 0xFF;
            uint32_t st = WSH_UTF8_ACCEPT;
            assert_int_equal(wsh_utf8_validate(&st, buf, len), pos);
            assert_int_equal(st, WSH_UTF8_REJECT);
            /* A valid two-byte character there instead passes. */
            if (pos + 1 < len) {
                buf[pos] = 0xC3;
                buf[pos + 1] = 0xA9;
                st = WSH_UTF8_ACCEPT;
                assert_int_equal(wsh_utf8_validate(&st, buf, len), len);
                assert_int_equal(st, WSH_UTF8_ACCEPT);
                /* ... and a broken one fails at its second byte. */
                buf[pos + 1] = 'y';
                st = WSH_UTF8_ACCEPT;
                assert_int_equal(wsh_utf8_validate(&st, buf, len), pos + 1);
            }
        }
        /* A lead byte at the very end leaves the state mid-sequence. */
        memset(buf, 'x', len);
        buf[len - 1] = 0xE2;
        uint32_t st = WSH_UTF8_ACCEPT;
        assert_int_equal(wsh_utf8_validate(&st, buf, len), len);
        assert_int_not_equal(st, WSH_UTF8_ACCEPT);
        assert_int_not_equal(st, WSH_UTF8_REJECT);
        assert_false(wsh_utf8_is_valid(buf, len));
    }
}

static void test_utf8_long_mixed_text_fails_at_the_exact_byte(void **state)
{
    (void)state;
    /* Runs of multi-byte text, where the fast path keeps dropping out. */
    uint8_t buf[1024];
    size_t n = 0;
    while (n + 4 <= sizeof(buf)) {
        memcpy(buf + n, "\xE4\xB8\xAD", 3); /* U+4E2D */
        n += 3;
        if (n % 7 == 0)
            buf[n++] = 'a';
    }
    assert_true(wsh_utf8_is_valid(buf, n));
    for (size_t pos = 0; pos < n; pos++) {
        uint8_t saved = buf[pos];
        buf[pos] = 0xFE;
        uint32_t st = WSH_UTF8_ACCEPT;
        size_t r = wsh_utf8_validate(&st, buf, n);
        assert_int_equal((long)r, ref_check(buf, n));
        assert_int_equal(r, pos); /* 0xFE can neither start nor continue */
        buf[pos] = saved;
    }
}

static void test_utf8_reject_is_sticky(void **state)
{
    (void)state;
    uint32_t st = WSH_UTF8_ACCEPT;
    assert_int_equal(wsh_utf8_validate(&st, (const uint8_t *)"a\xFF", 2), 1);
    assert_int_equal(st, WSH_UTF8_REJECT);
    assert_int_equal(wsh_utf8_validate(&st, (const uint8_t *)"abc", 3), 0);
    assert_int_equal(st, WSH_UTF8_REJECT);
}

static void test_utf8_state_carries_across_every_split_of_each_character(void **state)
{
    (void)state;
    const char *chars[] = {"\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xED\x9F\xBF", "\xEF\xBF\xBF",
                           "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF", "\xF3\xBF\xBF\xBF"};
    for (size_t i = 0; i < sizeof(chars) / sizeof(chars[0]); i++) {
        const uint8_t *c = (const uint8_t *)chars[i];
        size_t n = strlen(chars[i]);
        for (size_t cut = 1; cut < n; cut++) {
            uint32_t st = WSH_UTF8_ACCEPT;
            assert_int_equal(wsh_utf8_validate(&st, c, cut), cut);
            assert_int_not_equal(st, WSH_UTF8_ACCEPT);
            assert_int_not_equal(st, WSH_UTF8_REJECT);
            assert_int_equal(wsh_utf8_validate(&st, c + cut, n - cut), n - cut);
            assert_int_equal(st, WSH_UTF8_ACCEPT);
        }
    }
}

static void test_utf8_empty_input_is_valid_and_keeps_state(void **state)
{
    (void)state;
    uint32_t st = WSH_UTF8_ACCEPT;
    assert_int_equal(wsh_utf8_validate(&st, (const uint8_t *)"", 0), 0);
    assert_int_equal(st, WSH_UTF8_ACCEPT);
    assert_true(wsh_utf8_is_valid((const uint8_t *)"", 0));
    assert_int_equal(wsh_utf8_validate(&st, (const uint8_t *)"\xE2", 1), 1);
    uint32_t mid = st;
    assert_int_equal(wsh_utf8_validate(&st, (const uint8_t *)"", 0), 0);
    assert_int_equal(st, mid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_autobahn_6_x_vectors_fail_at_the_first_bad_byte),
        cmocka_unit_test(test_utf8_autobahn_6_6_every_prefix_of_kosme),
        cmocka_unit_test(test_utf8_autobahn_6_12_8_all_continuation_bytes),
        cmocka_unit_test(test_utf8_autobahn_6_13_lonely_start_bytes),
        cmocka_unit_test(test_utf8_autobahn_6_22_non_characters_are_valid),
        cmocka_unit_test(test_utf8_autobahn_incremental_positions),
        cmocka_unit_test(test_utf8_every_code_point),
        cmocka_unit_test(test_utf8_overlong_forms_of_every_short_code_point_fail),
        cmocka_unit_test(test_utf8_matches_reference_on_all_short_inputs),
        cmocka_unit_test(test_utf8_matches_reference_on_four_byte_inputs),
        cmocka_unit_test(test_utf8_fast_path_reports_failure_at_every_offset),
        cmocka_unit_test(test_utf8_long_mixed_text_fails_at_the_exact_byte),
        cmocka_unit_test(test_utf8_reject_is_sticky),
        cmocka_unit_test(test_utf8_state_carries_across_every_split_of_each_character),
        cmocka_unit_test(test_utf8_empty_input_is_valid_and_keeps_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
