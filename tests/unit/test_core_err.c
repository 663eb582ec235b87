/* Unit tests for src/core/err.c: each project error maps to the close code and
 * HTTP status PROTOCOL.md gives it, names are stable snake_case, unknown
 * errors fall back to 1011/500, and every status has a reason phrase. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/err.h"

typedef struct {
    int err;
    uint16_t close_code;
    int http_status;
    const char *name;
} row_t;

/* The contract, written out independently of err.c's table. */
static const row_t want[] = {
    {WSH_EPROTO, 1002, 400, "protocol_error"},
    {WSH_EUTF8, 1007, 400, "invalid_utf8"},
    {WSH_ETOOBIG, 1009, 413, "too_large"},
    {WSH_EUNSUPPORTED, 1003, 415, "unsupported_data"},
    {WSH_EPOLICY, 1008, 400, "policy_violation"},
    {WSH_EINTERNAL, 1011, 500, "internal_error"},
    {WSH_EOVERLOAD, 1013, 503, "overloaded"},
    {WSH_EUNAUTH, 4001, 401, "unauthorized"},
    {WSH_ESLOW, 4008, 503, "slow_consumer"},
    {WSH_ERATE, 4029, 429, "rate_limited"},
    {WSH_EHEADTOOBIG, 1009, 431, "headers_too_large"},
    {WSH_ETIMEOUT, 1001, 408, "timeout"},
    {WSH_EBADREQ, 1002, 400, "bad_request"},
    {WSH_ENOTFOUND, 1002, 404, "not_found"},
    {WSH_EMETHOD, 1002, 405, "method_not_allowed"},
    {WSH_EVERSION, 1002, 426, "upgrade_required"},
    {WSH_ENOMEM, 1009, 413, "too_large"},
    {WSH_EFORBIDDEN, 1008, 403, "forbidden"},
    {WSH_ESHUTDOWN, 1001, 503, "shutting_down"},
    {WSH_EPAYLOAD, 1007, 400, "invalid_payload"},
};
#define WANT_CNT (sizeof want / sizeof want[0])

static void test_err_each_error_maps_to_its_close_code(void **state)
{
    (void)state;
    for (size_t i = 0; i < WANT_CNT; i++)
        if (wsh_err_close_code(want[i].err) != want[i].close_code)
            fail_msg("%s: close code %u, want %u", want[i].name, wsh_err_close_code(want[i].err),
                     want[i].close_code);
}

static void test_err_each_error_maps_to_its_http_status(void **state)
{
    (void)state;
    for (size_t i = 0; i < WANT_CNT; i++)
        if (wsh_err_http_status(want[i].err) != want[i].http_status)
            fail_msg("%s: status %d, want %d", want[i].name, wsh_err_http_status(want[i].err), want[i].http_status);
}

static void test_err_each_error_has_its_stable_name(void **state)
{
    (void)state;
    for (size_t i = 0; i < WANT_CNT; i++)
        assert_string_equal(wsh_err_name(want[i].err), want[i].name);
}

static void test_err_protocol_close_codes_of_protocol_md(void **state)
{
    (void)state;
    /* PROTOCOL.md "Close codes", the ones a peer relies on by number. */
    assert_int_equal(wsh_err_close_code(WSH_ESHUTDOWN), 1001);
    assert_int_equal(wsh_err_close_code(WSH_EPROTO), 1002);
    assert_int_equal(wsh_err_close_code(WSH_EUNSUPPORTED), 1003);
    assert_int_equal(wsh_err_close_code(WSH_EUTF8), 1007);
    assert_int_equal(wsh_err_close_code(WSH_EPOLICY), 1008);
    assert_int_equal(wsh_err_close_code(WSH_ETOOBIG), 1009);
    assert_int_equal(wsh_err_close_code(WSH_EINTERNAL), 1011);
    assert_int_equal(wsh_err_close_code(WSH_EOVERLOAD), 1013);
    assert_int_equal(wsh_err_close_code(WSH_EUNAUTH), 4001);
    assert_int_equal(wsh_err_close_code(WSH_ESLOW), 4008);
    assert_int_equal(wsh_err_close_code(WSH_ERATE), 4029);
}

static void test_err_close_codes_are_sendable(void **state)
{
    (void)state;
    /* RFC 6455 §7.4.1: 1004, 1005, 1006 and 1015 must not be sent in a close
     * frame; 1000-2999 are protocol codes, 4000-4999 private use. */
    for (size_t i = 0; i < WANT_CNT; i++) {
        uint16_t c = wsh_err_close_code(want[i].err);
        assert_true((c >= 1000 && c <= 1014) || (c >= 4000 && c <= 4999));
        assert_true(c != 1004 && c != 1005 && c != 1006 && c != 1015);
        assert_true(c != 1000); /* an error is never a normal closure */
    }
}

static void test_err_unknown_errors_fall_back_to_internal(void **state)
{
    (void)state;
    const int unknown[] = {0, -1, -EPIPE, -ECONNRESET, -1000, -1021, -9999, 1};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_int_equal(wsh_err_close_code(unknown[i]), 1011);
        assert_int_equal(wsh_err_http_status(unknown[i]), 500);
        assert_string_equal(wsh_err_name(unknown[i]), "internal_error");
    }
}

static void test_err_codes_never_collide_with_errno(void **state)
{
    (void)state;
    for (size_t i = 0; i < WANT_CNT; i++) {
        assert_true(want[i].err < -1000);
        for (size_t j = i + 1; j < WANT_CNT; j++)
            assert_int_not_equal(want[i].err, want[j].err);
    }
}

static void test_err_names_are_snake_case_and_distinct(void **state)
{
    (void)state;
    for (size_t i = 0; i < WANT_CNT; i++) {
        const char *n = wsh_err_name(want[i].err);
        assert_true(n[0] != '\0');
        for (const char *p = n; *p; p++)
            assert_true(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_');
        for (size_t j = i + 1; j < WANT_CNT; j++) {
            /* Only the two "too large" causes share a wire name on purpose. */
            bool shared = (want[i].err == WSH_ETOOBIG && want[j].err == WSH_ENOMEM) ||
                          (want[i].err == WSH_ENOMEM && want[j].err == WSH_ETOOBIG);
            if (!shared)
                assert_string_not_equal(n, wsh_err_name(want[j].err));
        }
    }
}

static void test_err_every_mapped_status_has_a_reason_phrase(void **state)
{
    (void)state;
    for (size_t i = 0; i < WANT_CNT; i++) {
        int st = wsh_err_http_status(want[i].err);
        assert_true(st >= 400 && st <= 599);
        assert_string_not_equal(wsh_http_reason(st), "Unknown");
    }
}

static void test_err_http_reason_phrases(void **state)
{
    (void)state;
    assert_string_equal(wsh_http_reason(101), "Switching Protocols");
    assert_string_equal(wsh_http_reason(200), "OK");
    assert_string_equal(wsh_http_reason(400), "Bad Request");
    assert_string_equal(wsh_http_reason(404), "Not Found");
    assert_string_equal(wsh_http_reason(405), "Method Not Allowed");
    assert_string_equal(wsh_http_reason(413), "Content Too Large"); /* RFC 9110 §15.5.14 */
    assert_string_equal(wsh_http_reason(426), "Upgrade Required");
    assert_string_equal(wsh_http_reason(431), "Request Header Fields Too Large");
    assert_string_equal(wsh_http_reason(503), "Service Unavailable");
    assert_string_equal(wsh_http_reason(299), "Unknown");
    assert_string_equal(wsh_http_reason(0), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_each_error_maps_to_its_close_code),
        cmocka_unit_test(test_err_each_error_maps_to_its_http_status),
        cmocka_unit_test(test_err_each_error_has_its_stable_name),
        cmocka_unit_test(test_err_protocol_close_codes_of_protocol_md),
        cmocka_unit_test(test_err_close_codes_are_sendable),
        cmocka_unit_test(test_err_unknown_errors_fall_back_to_internal),
        cmocka_unit_test(test_err_codes_never_collide_with_errno),
        cmocka_unit_test(test_err_names_are_snake_case_and_distinct),
        cmocka_unit_test(test_err_every_mapped_status_has_a_reason_phrase),
        cmocka_unit_test(test_err_http_reason_phrases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
