/* Unit tests for client/url.c: ws/wss/http/https URL splitting and the HTTP
 * base derived from a WebSocket URL; not name resolution. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "url.h"
#include "wshub.h"

static void test_url_ws_with_port_and_path(void **state)
{
    (void)state;
    wsh_url_t u;
    assert_int_equal(wsh_url_parse("ws://127.0.0.1:8080/ws", &u), 0);
    assert_false(u.is_tls);
    assert_true(u.is_ws);
    assert_string_equal(u.host, "127.0.0.1");
    assert_string_equal(u.port, "8080");
    assert_string_equal(u.path, "/ws");
}

static void test_url_default_ports_and_paths(void **state)
{
    (void)state;
    wsh_url_t u;
    assert_int_equal(wsh_url_parse("WSS://hub.example.com", &u), 0);
    assert_true(u.is_tls);
    assert_string_equal(u.port, "443");
    assert_string_equal(u.path, "/");
    assert_int_equal(wsh_url_parse("ws://h?channels=a,b", &u), 0);
    assert_string_equal(u.port, "80");
    assert_string_equal(u.path, "/?channels=a,b");
    assert_int_equal(wsh_url_parse("https://h:8443/api/channels?x=1", &u), 0);
    assert_false(u.is_ws);
    assert_true(u.is_tls);
    assert_string_equal(u.path, "/api/channels?x=1");
}

static void test_url_ipv6_literal(void **state)
{
    (void)state;
    wsh_url_t u;
    assert_int_equal(wsh_url_parse("ws://[::1]:9000/ws", &u), 0);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.port, "9000");
    char base[300];
    wsh_url_http_base(&u, base, sizeof base);
    assert_string_equal(base, "http://[::1]:9000");
    assert_int_equal(wsh_url_parse("ws://[::1]x/ws", &u), WSHUB_EURL);
    assert_int_equal(wsh_url_parse("ws://[::1/ws", &u), WSHUB_EURL);
}

static void test_url_rejects_what_it_cannot_connect_to(void **state)
{
    (void)state;
    wsh_url_t u;
    const char *bad[] = {
        "", "127.0.0.1:8080", "ftp://h/", "ws://", "ws://:80/", "ws://h:0/", "ws://h:65536/", "ws://h:80x/",
        "ws://h:/", "ws://user@h/", "ws://h/a b", "ws://h/#frag", "ws://h/\x01", "ws://h:123456/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(wsh_url_parse(bad[i], &u), WSHUB_EURL);
    assert_int_equal(wsh_url_parse(NULL, &u), WSHUB_EURL);
    char longhost[400];
    memset(longhost, 'a', sizeof longhost);
    memcpy(longhost, "ws://", 5);
    longhost[sizeof longhost - 1] = '\0';
    assert_int_equal(wsh_url_parse(longhost, &u), WSHUB_EURL);
}

static void test_url_http_base_follows_the_ws_scheme(void **state)
{
    (void)state;
    wsh_url_t u;
    char base[300];
    assert_int_equal(wsh_url_parse("ws://127.0.0.1:8080/ws", &u), 0);
    wsh_url_http_base(&u, base, sizeof base);
    assert_string_equal(base, "http://127.0.0.1:8080");
    assert_int_equal(wsh_url_parse("wss://hub.example.com/ws", &u), 0);
    wsh_url_http_base(&u, base, sizeof base);
    assert_string_equal(base, "https://hub.example.com:443");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_ws_with_port_and_path),
        cmocka_unit_test(test_url_default_ports_and_paths),
        cmocka_unit_test(test_url_ipv6_literal),
        cmocka_unit_test(test_url_rejects_what_it_cannot_connect_to),
        cmocka_unit_test(test_url_http_base_follows_the_ws_scheme),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
