/* Unit tests for src/core/redact.c and src/core/bucket.h: credentials in
 * queries and Authorization values are replaced, other text is untouched,
 * truncation is safe; the token bucket's burst, refill and wrap. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/bucket.h"
#include "core/redact.h"

static const char *redact(const char *in)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s", in);
    wsh_redact(buf, strlen(buf), sizeof buf);
    return buf;
}

static void test_query_credentials_are_redacted(void **state)
{
    (void)state;
    assert_string_equal(redact("GET /ws?token=abc.def&channels=a"), "GET /ws?token=[redacted]&channels=a");
    assert_string_equal(redact("/x?channels=a&ACCESS_TOKEN=zz"), "/x?channels=a&ACCESS_TOKEN=[redacted]");
    assert_string_equal(redact("url=\"/p?api_key=k1;x\""), "url=\"/p?api_key=[redacted];x\"");
    assert_string_equal(redact("token=first"), "token=[redacted]");
    assert_string_equal(redact("?key=1 ?secret=2 ?password=3"), "?key=[redacted] ?secret=[redacted] ?password=[redacted]");
}

static void test_authorization_values_are_redacted(void **state)
{
    (void)state;
    assert_string_equal(redact("Authorization: Bearer eyJ.x.y"), "Authorization: Bearer [redacted]");
    assert_string_equal(redact("auth bearer k, next"), "auth bearer [redacted], next");
    assert_string_equal(redact("Basic dXNlcjpwdw=="), "Basic [redacted]");
}

static void test_other_text_is_untouched(void **state)
{
    (void)state;
    const char *keep[] = {"client connected id=abc", "idempotency_key=k1", "monkey=banana", "tokens=3",
                          "token= (empty)", "handshake refused 403: origin not allowed", ""};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        assert_string_equal(redact(keep[i]), keep[i]);
}

static void test_redaction_respects_the_capacity(void **state)
{
    (void)state;
    char buf[12] = "token=abcdef";
    size_t n = wsh_redact(buf, 11, sizeof buf);
    assert_int_equal(n, strlen(buf));
    assert_true(n <= 11);
    assert_memory_equal(buf, "token=", 6);
    assert_null(strstr(buf, "abc"));
    /* A buffer larger than the side buffer masks in place instead. */
    static char big[4096];
    memset(big, 'a', sizeof big - 1);
    memcpy(big + 100, "?token=SECRET&", 14);
    wsh_redact(big, sizeof big - 1, sizeof big);
    assert_null(strstr(big, "SECRET"));
}

static void test_bucket_allows_the_burst_then_the_rate(void **state)
{
    (void)state;
    wsh_bucket_t b = {0};
    uint64_t t = 1000000;
    for (int i = 0; i < 20; i++)
        assert_true(wsh_bucket_take(&b, 10, 20, t));
    assert_false(wsh_bucket_take(&b, 10, 20, t));
    assert_int_equal(wsh_bucket_wait_ms(&b, 10, 20, t), 100);
    assert_false(wsh_bucket_take(&b, 10, 20, t + 99));
    assert_true(wsh_bucket_take(&b, 10, 20, t + 100));
    assert_false(wsh_bucket_take(&b, 10, 20, t + 150));
    /* The 50 ms already waited count toward the next token. */
    assert_true(wsh_bucket_take(&b, 10, 20, t + 200));
    assert_false(wsh_bucket_is_full(&b, 10, t + 200));
    assert_true(wsh_bucket_is_full(&b, 10, t + 2200));
    /* Refill across the 32-bit wrap of the millisecond clock. */
    wsh_bucket_t w = {0};
    uint64_t near = 0xFFFFFF00ull;
    for (int i = 0; i < 5; i++)
        assert_true(wsh_bucket_take(&w, 1000, 5, near));
    assert_false(wsh_bucket_take(&w, 1000, 5, near));
    assert_true(wsh_bucket_take(&w, 1000, 5, near + 0x200));
    assert_int_equal(sizeof(wsh_bucket_t), 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_credentials_are_redacted),
        cmocka_unit_test(test_authorization_values_are_redacted),
        cmocka_unit_test(test_other_text_is_untouched),
        cmocka_unit_test(test_redaction_respects_the_capacity),
        cmocka_unit_test(test_bucket_allows_the_burst_then_the_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
