/* Unit tests for src/http/upgrade.c: each RFC 6455 §4.2.1 handshake rule and
 * the Sec-WebSocket-Accept computation. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "http/http.h"
#include "http/upgrade.h"

/* RFC 6455 §1.3's example key and the accept value printed there (checked
 * independently: printf '%s' "$KEY$GUID" | openssl sha1 -binary | base64). */
#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* Parses a request made of `line`, then `headers` (CRLF-separated lines,
 * without the final empty line), then `body`, and runs the handshake check. */
static int check_full(const char *line, const char *headers, const char *body, char accept[WSH_UPGRADE_ACCEPT_LEN],
                      const char **why)
{
    char in[2048];
    int n = snprintf(in, sizeof in, "%s\r\n%s\r\n%s", line, headers, body);
    assert_true(n > 0 && (size_t)n < sizeof in);
    wsh_http_parser_t p;
    wsh_http_req_t *req = NULL;
    wsh_http_parser_init(&p, NULL);
    long rc = wsh_http_parser_feed(&p, (const uint8_t *)in, (size_t)n, &req);
    if (rc != n || !req) {
        print_error("request did not parse (%ld): %s\n", rc, in);
        fail();
    }
    int err = wsh_upgrade_check(req, accept, why);
    wsh_http_parser_dispose(&p);
    return err;
}

static int check(const char *headers, const char **why)
{
    char accept[WSH_UPGRADE_ACCEPT_LEN];
    return check_full("GET /ws HTTP/1.1", headers, "", accept, why);
}

#define STD_HOST "Host: example.com\r\n"
#define STD_UPG "Upgrade: websocket\r\nConnection: Upgrade\r\n"
#define STD_KEY "Sec-WebSocket-Key: " KEY "\r\n"
#define STD_VER "Sec-WebSocket-Version: 13\r\n"

static void test_upgrade_accept_key_matches_rfc6455_example(void **state)
{
    (void)state;
    char accept[WSH_UPGRADE_ACCEPT_LEN];
    memset(accept, 'X', sizeof accept);
    wsh_upgrade_accept_key(KEY, strlen(KEY), accept);
    assert_string_equal(accept, ACCEPT);
}

static void test_upgrade_valid_request_yields_accept(void **state)
{
    (void)state;
    char accept[WSH_UPGRADE_ACCEPT_LEN];
    const char *why = "unset";
    int err = check_full("GET /ws?channels=a HTTP/1.1", STD_HOST STD_UPG STD_KEY STD_VER, "", accept, &why);
    assert_int_equal(err, 0);
    assert_null(why);
    assert_string_equal(accept, ACCEPT);
}

static void test_upgrade_tokens_are_case_insensitive_lists(void **state)
{
    (void)state;
    const char *why;
    assert_int_equal(check(STD_HOST "Connection: keep-alive, Upgrade\r\nupgrade: WebSocket\r\n" STD_KEY STD_VER, &why), 0);
    assert_int_equal(check(STD_HOST "CONNECTION: upgrade\r\nUPGRADE: WEBSOCKET\r\n" STD_KEY STD_VER, &why), 0);
    assert_int_equal(check(STD_HOST "Connection: keep-alive\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" STD_KEY
                                    STD_VER,
                           &why),
                     0);
    /* Whitespace around the key is trimmed by the parser. */
    assert_int_equal(check(STD_HOST STD_UPG "Sec-WebSocket-Key:   " KEY "  \r\n" STD_VER, &why), 0);
}

static void test_upgrade_post_is_emethod(void **state)
{
    (void)state;
    char accept[WSH_UPGRADE_ACCEPT_LEN];
    const char *why = NULL;
    assert_int_equal(check_full("POST /ws HTTP/1.1", STD_HOST STD_UPG STD_KEY STD_VER, "", accept, &why), WSH_EMETHOD);
    assert_non_null(why);
    assert_int_equal(wsh_err_http_status(WSH_EMETHOD), 405);
}

static void test_upgrade_http10_is_ebadreq(void **state)
{
    (void)state;
    char accept[WSH_UPGRADE_ACCEPT_LEN];
    const char *why = NULL;
    assert_int_equal(check_full("GET /ws HTTP/1.0", STD_HOST STD_UPG STD_KEY STD_VER, "", accept, &why), WSH_EBADREQ);
    assert_non_null(why);
}

static void test_upgrade_missing_upgrade_or_connection_token_is_ebadreq(void **state)
{
    (void)state;
    const char *why;
    assert_int_equal(check(STD_HOST "Connection: Upgrade\r\n" STD_KEY STD_VER, &why), WSH_EBADREQ);
    assert_int_equal(check(STD_HOST "Upgrade: websocket\r\n" STD_KEY STD_VER, &why), WSH_EBADREQ);
    assert_int_equal(check(STD_HOST "Upgrade: websocket\r\nConnection: keep-alive\r\n" STD_KEY STD_VER, &why),
                     WSH_EBADREQ);
    assert_int_equal(check(STD_HOST "Upgrade: h2c\r\nConnection: Upgrade\r\n" STD_KEY STD_VER, &why), WSH_EBADREQ);
    assert_int_equal(check(STD_HOST "Upgrade: websockets\r\nConnection: Upgrade\r\n" STD_KEY STD_VER, &why),
                     WSH_EBADREQ);
    assert_int_equal(check(STD_HOST "Upgrade: websocket\r\nConnection: Upgraded\r\n" STD_KEY STD_VER, &why),
                     WSH_EBADREQ);
}

static void test_upgrade_version_other_than_13_is_eversion(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_int_equal(check(STD_HOST STD_UPG STD_KEY "Sec-WebSocket-Version: 8\r\n", &why), WSH_EVERSION);
    assert_non_null(why);
    assert_int_equal(wsh_err_http_status(WSH_EVERSION), 426);
    assert_int_equal(check(STD_HOST STD_UPG STD_KEY, &why), WSH_EVERSION);
    assert_int_equal(check(STD_HOST STD_UPG STD_KEY "Sec-WebSocket-Version: 13, 8\r\n", &why), WSH_EVERSION);
    assert_int_equal(check(STD_HOST STD_UPG STD_KEY "Sec-WebSocket-Version: 130\r\n", &why), WSH_EVERSION);
    assert_int_equal(check(STD_HOST STD_UPG STD_KEY "Sec-WebSocket-Version: 013\r\n", &why), WSH_EVERSION);
    assert_int_equal(check(STD_HOST STD_UPG STD_KEY "Sec-WebSocket-Version:\r\n", &why), WSH_EVERSION);
    assert_int_equal(check(STD_HOST STD_UPG STD_KEY STD_VER "Sec-WebSocket-Version: 8\r\n", &why), WSH_EVERSION);
    /* Surrounding whitespace is not part of the value. */
    assert_int_equal(check(STD_HOST STD_UPG STD_KEY "Sec-WebSocket-Version:  13 \r\n", &why), 0);
}

static void test_upgrade_missing_key_is_ebadreq(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_int_equal(check(STD_HOST STD_UPG STD_VER, &why), WSH_EBADREQ);
    assert_non_null(why);
}

static void test_upgrade_two_keys_are_ebadreq(void **state)
{
    (void)state;
    const char *why;
    assert_int_equal(check(STD_HOST STD_UPG STD_KEY STD_KEY STD_VER, &why), WSH_EBADREQ);
}

static void test_upgrade_key_of_15_bytes_is_ebadreq(void **state)
{
    (void)state;
    const char *why;
    /* base64 of 15 bytes is 20 characters without padding. */
    assert_int_equal(check(STD_HOST STD_UPG "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n" STD_VER, &why), WSH_EBADREQ);
    /* base64 of 17 bytes: 24 characters with a single '='. */
    assert_int_equal(check(STD_HOST STD_UPG "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=\r\n" STD_VER, &why),
                     WSH_EBADREQ);
    /* 18 bytes: 24 characters, no padding. */
    assert_int_equal(check(STD_HOST STD_UPG "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA\r\n" STD_VER, &why),
                     WSH_EBADREQ);
}

static void test_upgrade_junk_key_is_ebadreq(void **state)
{
    (void)state;
    const char *why;
    static const char *const junk[] = {
        "dGhlIHNhbXBsZSBub25jZQ=",     /* 23 chars */
        "dGhlIHNhbXBsZSBub25jZQ===",   /* 25 chars */
        "dGhlIHNhbXBsZSBub25j!Q==",    /* bad alphabet */
        "dGhlIHNhbXBsZSBub25-ZQ==",    /* base64url, not base64 */
        "dGhlIHNhbXBsZSBu b25jZQ==",   /* inner space */
        "dGhlIHNhbXBsZSBub25jZ===",    /* third '=' */
        "=GhlIHNhbXBsZSBub25jZQ==",    /* padding first */
        "dGhlIHNhbXBsZSBub25jZQ=A",    /* junk after padding */
        "",
        "not a key",
    };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        char hdrs[256];
        snprintf(hdrs, sizeof hdrs, STD_HOST STD_UPG "Sec-WebSocket-Key: %s\r\n" STD_VER, junk[i]);
        if (check(hdrs, &why) != WSH_EBADREQ) {
            print_error("accepted key '%s'\n", junk[i]);
            fail();
        }
    }
}

static void test_upgrade_with_body_is_ebadreq(void **state)
{
    (void)state;
    char accept[WSH_UPGRADE_ACCEPT_LEN];
    const char *why;
    assert_int_equal(check_full("GET /ws HTTP/1.1", STD_HOST STD_UPG STD_KEY STD_VER "Content-Length: 3\r\n", "abc",
                                accept, &why),
                     WSH_EBADREQ);
    assert_int_equal(check_full("GET /ws HTTP/1.1", STD_HOST STD_UPG STD_KEY STD_VER "Transfer-Encoding: chunked\r\n",
                                "0\r\n\r\n", accept, &why),
                     WSH_EBADREQ);
    assert_int_equal(check_full("GET /ws HTTP/1.1", STD_HOST STD_UPG STD_KEY STD_VER "Content-Length: 0\r\n", "",
                                accept, &why),
                     0);
}

static void test_upgrade_missing_host_is_ebadreq(void **state)
{
    (void)state;
    /* The HTTP/1.1 parser already refuses a request without Host, so the
     * request is built by hand to reach the handshake rule itself. */
    wsh_http_req_t req;
    memset(&req, 0, sizeof req);
    req.method = HTTP_GET;
    req.http_major = 1;
    req.http_minor = 1;
    static const char *const hv[][2] = {
        {"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Sec-WebSocket-Key", KEY}, {"Sec-WebSocket-Version", "13"},
        {"Host", "h"},
    };
    for (size_t i = 0; i < 5; i++) {
        req.headers[i].name = (wsh_http_span_t){hv[i][0], strlen(hv[i][0])};
        req.headers[i].value = (wsh_http_span_t){hv[i][1], strlen(hv[i][1])};
    }
    char accept[WSH_UPGRADE_ACCEPT_LEN];
    const char *why;
    req.header_cnt = 4;
    assert_int_equal(wsh_upgrade_check(&req, accept, &why), WSH_EBADREQ);
    req.header_cnt = 5;
    assert_int_equal(wsh_upgrade_check(&req, accept, NULL), 0);
    assert_string_equal(accept, ACCEPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upgrade_accept_key_matches_rfc6455_example),
        cmocka_unit_test(test_upgrade_valid_request_yields_accept),
        cmocka_unit_test(test_upgrade_tokens_are_case_insensitive_lists),
        cmocka_unit_test(test_upgrade_post_is_emethod),
        cmocka_unit_test(test_upgrade_http10_is_ebadreq),
        cmocka_unit_test(test_upgrade_missing_upgrade_or_connection_token_is_ebadreq),
        cmocka_unit_test(test_upgrade_version_other_than_13_is_eversion),
        cmocka_unit_test(test_upgrade_missing_key_is_ebadreq),
        cmocka_unit_test(test_upgrade_two_keys_are_ebadreq),
        cmocka_unit_test(test_upgrade_key_of_15_bytes_is_ebadreq),
        cmocka_unit_test(test_upgrade_junk_key_is_ebadreq),
        cmocka_unit_test(test_upgrade_with_body_is_ebadreq),
        cmocka_unit_test(test_upgrade_missing_host_is_ebadreq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
