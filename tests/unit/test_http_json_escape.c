/* Unit tests for src/http/json_escape.c: escaping rules, UTF-8 handling and
 * truncation that never splits an escape or a character. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "http/json_escape.h"

#define S(lit) lit, sizeof(lit) - 1

static void expect_escape(const char *in, size_t len, const char *want)
{
    char out[256];
    size_t n = wsh_json_escape(out, sizeof out, in, len);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    assert_int_equal(wsh_json_escape_len(in, len), strlen(want));
}

static void test_json_escape_quotes_backslash_and_controls(void **state)
{
    (void)state;
    expect_escape(S("plain text"), "plain text");
    expect_escape(S("say \"hi\""), "say \\\"hi\\\"");
    expect_escape(S("a\\b"), "a\\\\b");
    expect_escape(S("l1\nl2\tx\r"), "l1\\u000al2\\u0009x\\u000d");
    expect_escape(S("\x01\x1f"), "\\u0001\\u001f");
    expect_escape(S("nul\0in"), "nul\\u0000in");
    /* DEL and '/' need no escape in JSON. */
    expect_escape(S("\x7f/"), "\x7f/");
    expect_escape(S(""), "");
}

static void test_json_escape_keeps_valid_utf8(void **state)
{
    (void)state;
    expect_escape(S("caf\xc3\xa9"), "caf\xc3\xa9");
    expect_escape(S("\xe2\x82\xac"), "\xe2\x82\xac");             /* U+20AC */
    expect_escape(S("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");     /* U+1F600 */
    expect_escape(S("\xef\xbf\xbf"), "\xef\xbf\xbf");             /* U+FFFF */
    expect_escape(S("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf");     /* U+10FFFF */
    expect_escape(S("\xed\x9f\xbf"), "\xed\x9f\xbf");             /* U+D7FF */
}

static void test_json_escape_replaces_invalid_utf8(void **state)
{
    (void)state;
    expect_escape(S("\x80"), "\\ufffd");                             /* stray continuation */
    expect_escape(S("\xc0\xaf"), "\\ufffd\\ufffd");                  /* overlong '/' */
    expect_escape(S("\xe0\x80\xaf"), "\\ufffd\\ufffd\\ufffd");       /* overlong */
    expect_escape(S("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");       /* surrogate U+D800 */
    expect_escape(S("\xf4\x90\x80\x80"), "\\ufffd\\ufffd\\ufffd\\ufffd"); /* > U+10FFFF */
    expect_escape(S("\xf5\x80\x80\x80"), "\\ufffd\\ufffd\\ufffd\\ufffd");
    expect_escape(S("\xff"), "\\ufffd");
    expect_escape(S("a\xc3"), "a\\ufffd");                           /* truncated at the end */
    expect_escape(S("\xe2\x82x"), "\\ufffd\\ufffdx");                /* truncated inside */
}

static void test_json_escape_truncates_on_whole_units(void **state)
{
    (void)state;
    char out[32];
    /* Every capacity: the output is always a prefix of the full escape made
     * of whole units, and never exceeds cap-1 bytes. */
    static const char in[] = "a\"\xc3\xa9\n\xf0\x9f\x98\x80z";
    static const char full[] = "a\\\"\xc3\xa9\\u000a\xf0\x9f\x98\x80z";
    static const size_t unit_ends[] = {0, 1, 3, 5, 11, 15, 16};
    for (size_t cap = 1; cap <= sizeof full; cap++) {
        memset(out, 'Q', sizeof out);
        size_t n = wsh_json_escape(out, cap, in, sizeof in - 1);
        size_t want = 0;
        for (size_t u = 0; u < sizeof unit_ends / sizeof unit_ends[0]; u++)
            if (unit_ends[u] <= cap - 1)
                want = unit_ends[u];
        assert_int_equal(n, want);
        assert_int_equal(out[n], '\0');
        assert_memory_equal(out, full, n);
    }
    assert_int_equal(wsh_json_escape(out, 0, in, sizeof in - 1), 0);
    assert_int_equal(out[0], 'a'); /* nothing written with cap 0 */
}

static void test_json_escape_buf_appends_and_stays_nul_terminated(void **state)
{
    (void)state;
    wsh_buf_t b;
    wsh_buf_init(&b);
    assert_int_equal(wsh_buf_append(&b, "{\"m\":\"", 6), 0);
    assert_int_equal(wsh_json_escape_buf(&b, S("x\"y\n")), 0);
    assert_int_equal(wsh_buf_append(&b, "\"}", 2), 0);
    assert_int_equal(b.len, 6 + 10 + 2);
    assert_memory_equal(b.data, "{\"m\":\"x\\\"y\\u000a\"}", b.len);
    wsh_buf_dispose(&b);
}

static void test_json_escape_buf_failure_leaves_buffer_unchanged(void **state)
{
    (void)state;
    wsh_buf_t b;
    wsh_buf_init(&b);
    wsh_alloc_fail_nth(1);
    assert_int_equal(wsh_json_escape_buf(&b, S("abc")), WSH_ENOMEM);
    wsh_alloc_fail_nth(0);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(wsh_json_escape_buf(&b, S("abc")), 0);
    char big[400];
    memset(big, '\n', sizeof big);
    wsh_alloc_fail_nth(1);
    assert_int_equal(wsh_json_escape_buf(&b, big, sizeof big), WSH_ENOMEM);
    wsh_alloc_fail_nth(0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "abc", 3);
    wsh_buf_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_escape_quotes_backslash_and_controls),
        cmocka_unit_test(test_json_escape_keeps_valid_utf8),
        cmocka_unit_test(test_json_escape_replaces_invalid_utf8),
        cmocka_unit_test(test_json_escape_truncates_on_whole_units),
        cmocka_unit_test(test_json_escape_buf_appends_and_stays_nul_terminated),
        cmocka_unit_test(test_json_escape_buf_failure_leaves_buffer_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
