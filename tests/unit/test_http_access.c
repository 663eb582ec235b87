/* Unit tests for src/http/access.c: Bearer parsing, origin parsing and
 * matching (exact, wildcard, default ports), the API-key verdicts (401/403)
 * and the Origin verdicts (null, repeated, same-origin). Not the routes that
 * call them (tests/integ/attacks). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "http/access.h"

static wsh_http_req_t req;

static void req_reset(void)
{
    memset(&req, 0, sizeof req);
}

static void req_add(const char *name, const char *value)
{
    wsh_http_header_t *h = &req.headers[req.header_cnt++];
    h->name.ptr = name;
    h->name.len = strlen(name);
    h->value.ptr = value;
    h->value.len = strlen(value);
}

static int bearer(const char *v, char *out)
{
    const char *tok;
    size_t len;
    if (wsh_access_parse_bearer(v, strlen(v), &tok, &len) < 0)
        return -1;
    memcpy(out, tok, len);
    out[len] = '\0';
    return 0;
}

static void test_bearer_accepts_token68_in_any_case_of_the_scheme(void **state)
{
    (void)state;
    char t[128];
    assert_int_equal(bearer("Bearer abc.DEF-_~+/9==", t), 0);
    assert_string_equal(t, "abc.DEF-_~+/9==");
    assert_int_equal(bearer("bEaReR   key", t), 0);
    assert_string_equal(t, "key");
}

static void test_bearer_rejects_other_shapes(void **state)
{
    (void)state;
    char t[128];
    const char *bad[] = {"", "Bearer", "Bearer ", "Bearer  ", "Basic abc", "Bearerabc", "Bearer a b",
                         "Bearer a=b", "Bearer =", "Bearer \"q\"", "Bearer a\tb", "Bearer a,b", " Bearer a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(bearer(bad[i], t), -1);
}

static int origin(const char *s, bool wild, wsh_origin_t *o)
{
    return wsh_access_parse_origin(s, strlen(s), wild, o);
}

static void test_origin_parses_scheme_host_and_default_port(void **state)
{
    (void)state;
    wsh_origin_t o;
    assert_int_equal(origin("HTTPS://App.Example.COM", false, &o), 0);
    assert_string_equal(o.scheme, "https");
    assert_string_equal(o.host, "app.example.com");
    assert_int_equal(o.port, 443);
    assert_int_equal(origin("http://127.0.0.1:8080", false, &o), 0);
    assert_int_equal(o.port, 8080);
    assert_int_equal(origin("http://[::1]:9", false, &o), 0);
    assert_string_equal(o.host, "[::1]");
    assert_int_equal(origin("ws://h", false, &o), 0);
    assert_int_equal(o.port, 80);
}

static void test_origin_rejects_null_paths_userinfo_and_bad_ports(void **state)
{
    (void)state;
    wsh_origin_t o;
    const char *bad[] = {"null", "", "http://", "http:///", "ftp://h", "http://h/", "http://u@h", "http://h:0",
                         "http://h:65536", "http://h:123456", "http://h:", "http://h:8a", "http://[::1", "http://[]",
                         "http://h h", "//h", "http:/h", "http://*.example.com"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(origin(bad[i], false, &o), -1);
    /* Wildcards only where allowed, and never over one label or an IP. */
    assert_int_equal(origin("https://*.example.com", true, &o), 0);
    assert_true(o.is_wildcard);
    assert_int_equal(origin("https://*.com", true, &o), -1);
    assert_int_equal(origin("https://*.[::1]", true, &o), -1);
    assert_int_equal(origin("https://a.*.com", true, &o), -1);
}

static void test_wildcard_needs_a_label_in_front_and_the_same_scheme_and_port(void **state)
{
    (void)state;
    wsh_origin_t e, o;
    assert_int_equal(origin("https://*.example.com", true, &e), 0);
    assert_int_equal(origin("https://a.example.com", false, &o), 0);
    assert_true(wsh_access_origin_matches(&e, &o));
    assert_int_equal(origin("https://a.b.example.com:443", false, &o), 0);
    assert_true(wsh_access_origin_matches(&e, &o));
    assert_int_equal(origin("https://example.com", false, &o), 0);
    assert_false(wsh_access_origin_matches(&e, &o));
    assert_int_equal(origin("https://badexample.com", false, &o), 0);
    assert_false(wsh_access_origin_matches(&e, &o));
    assert_int_equal(origin("http://a.example.com", false, &o), 0);
    assert_false(wsh_access_origin_matches(&e, &o));
    assert_int_equal(origin("https://a.example.com:8443", false, &o), 0);
    assert_false(wsh_access_origin_matches(&e, &o));
}

static void test_key_verdicts_are_401_missing_403_wrong_0_right(void **state)
{
    (void)state;
    wsh_access_t a;
    char k1[] = "first-key", k2[] = "second";
    char *keys[] = {k1, k2};
    char err[64];
    assert_int_equal(wsh_access_init(&a, keys, 2, NULL, 0, false, err, sizeof err), 0);
    req_reset();
    assert_int_equal(wsh_access_check_key(&a, &req), 401);
    req_add("Authorization", "Bearer first-keyX");
    assert_int_equal(wsh_access_check_key(&a, &req), 403);
    req_reset();
    req_add("authorization", "Bearer second");
    assert_int_equal(wsh_access_check_key(&a, &req), 0);
    req_add("Authorization", "Bearer second");
    assert_int_equal(wsh_access_check_key(&a, &req), 401); /* two credentials: ambiguous */
    req_reset();
    req_add("Authorization", "Basic Zmlyc3Qta2V5");
    assert_int_equal(wsh_access_check_key(&a, &req), 401);
    wsh_access_dispose(&a);
    /* No keys configured: everything passes. */
    assert_int_equal(wsh_access_check_key(NULL, &req), 0);
}

static void test_origin_verdicts(void **state)
{
    (void)state;
    wsh_access_t a;
    char o1[] = "https://app.example.com", o2[] = "https://*.example.org";
    char *origins[] = {o1, o2};
    char err[200];
    const char *why;
    assert_int_equal(wsh_access_init(&a, NULL, 0, origins, 2, false, err, sizeof err), 0);
    req_reset();
    req_add("Host", "hub.local:8080");
    assert_true(wsh_access_origin_allowed(&a, &req, &why)); /* no Origin: not a browser */
    req_add("Origin", "https://app.example.com");
    assert_true(wsh_access_origin_allowed(&a, &req, &why));
    req.headers[1].value.ptr = "null";
    req.headers[1].value.len = 4;
    assert_false(wsh_access_origin_allowed(&a, &req, &why));
    assert_string_equal(why, "Origin null is not allowed");
    req.headers[1].value.ptr = "http://HUB.local:8080";
    req.headers[1].value.len = strlen("http://HUB.local:8080");
    assert_true(wsh_access_origin_allowed(&a, &req, &why)); /* same origin */
    req.headers[1].value.ptr = "http://hub.local:8081";
    req.headers[1].value.len = strlen("http://hub.local:8081");
    assert_false(wsh_access_origin_allowed(&a, &req, &why));
    req.headers[1].value.ptr = "https://x.example.org";
    req.headers[1].value.len = strlen("https://x.example.org");
    assert_true(wsh_access_origin_allowed(&a, &req, &why));
    req_add("Origin", "https://x.example.org");
    assert_false(wsh_access_origin_allowed(&a, &req, &why)); /* repeated */
    wsh_access_dispose(&a);
    char bad[] = "https://*.com";
    char *bads[] = {bad};
    assert_int_equal(wsh_access_init(&a, NULL, 0, bads, 1, false, err, sizeof err), -1);
    assert_non_null(strstr(err, "https://*.com"));
}

static void test_host_default_port_follows_the_origin_scheme(void **state)
{
    (void)state;
    wsh_access_t a;
    char o1[] = "https://other.example";
    char *origins[] = {o1};
    char err[64];
    const char *why;
    assert_int_equal(wsh_access_init(&a, NULL, 0, origins, 1, false, err, sizeof err), 0);
    req_reset();
    req_add("Host", "hub.example");
    req_add("Origin", "https://hub.example");
    assert_true(wsh_access_origin_allowed(&a, &req, &why));
    req.headers[1].value.ptr = "https://hub.example:8443";
    req.headers[1].value.len = strlen("https://hub.example:8443");
    assert_false(wsh_access_origin_allowed(&a, &req, &why));
    wsh_access_dispose(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bearer_accepts_token68_in_any_case_of_the_scheme),
        cmocka_unit_test(test_bearer_rejects_other_shapes),
        cmocka_unit_test(test_origin_parses_scheme_host_and_default_port),
        cmocka_unit_test(test_origin_rejects_null_paths_userinfo_and_bad_ports),
        cmocka_unit_test(test_wildcard_needs_a_label_in_front_and_the_same_scheme_and_port),
        cmocka_unit_test(test_key_verdicts_are_401_missing_403_wrong_0_right),
        cmocka_unit_test(test_origin_verdicts),
        cmocka_unit_test(test_host_default_port_follows_the_origin_scheme),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
