/* Unit tests for src/http/static.c and the table cmake/embed_web.cmake
 * generates: lookups are exact, If-None-Match follows RFC 9110's weak
 * comparison, every asset has a type and a quoted tag, and the route list
 * covers every asset. Not for the HTTP answers (tests/browser/assets.test.js). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "http/static.h"

static bool matches(const char *value, const char *etag)
{
    return wsh_static_etag_matches(value, strlen(value), etag);
}

static void test_static_find_is_exact(void **state)
{
    (void)state;
    const wsh_static_asset_t *a = wsh_static_find("/client.js", 10);
    assert_non_null(a);
    assert_string_equal(a->ctype, "text/javascript; charset=utf-8");
    assert_true(a->len > 1000);
    assert_non_null(wsh_static_find("/", 1));
    assert_string_equal(wsh_static_find("/", 1)->ctype, "text/html; charset=utf-8");
    assert_non_null(wsh_static_find("/examples/overlay.html", 22));
    assert_null(wsh_static_find("/client.j", 9));
    assert_null(wsh_static_find("/client.jsx", 11));
    assert_null(wsh_static_find("/index.html", 11));
    assert_null(wsh_static_find("/examples/../client.js", 22));
    assert_null(wsh_static_find("", 0));
}

static void test_static_assets_are_well_formed(void **state)
{
    (void)state;
    assert_true(wsh_web_asset_cnt >= 5);
    for (size_t i = 0; i < wsh_web_asset_cnt; i++) {
        const wsh_static_asset_t *a = &wsh_web_assets[i];
        assert_true(a->path[0] == '/');
        assert_true(strlen(a->ctype) > 0);
        size_t n = strlen(a->etag);
        assert_int_equal(n, 22);
        assert_true(a->etag[0] == '"' && a->etag[n - 1] == '"');
        /* The generator appends a NUL after the bytes; len excludes it. */
        assert_int_equal(a->data[a->len], 0);
        /* Each asset is reachable through exactly the routes registered. */
        bool routed = false;
        for (size_t r = 0; r < wsh_web_route_cnt; r++) {
            const wsh_static_route_t *rt = &wsh_web_routes[r];
            size_t rn = strlen(rt->path);
            if (rt->is_prefix ? strncmp(a->path, rt->path, rn) == 0 : strcmp(a->path, rt->path) == 0)
                routed = true;
        }
        assert_true(routed);
    }
}

static void test_static_etag_weak_comparison(void **state)
{
    (void)state;
    const char *tag = "\"abc\"";
    assert_true(matches("\"abc\"", tag));
    assert_true(matches("W/\"abc\"", tag));
    assert_true(matches("*", tag));
    assert_true(matches(" \"x\" , \"abc\"", tag));
    assert_true(matches("\"x\",W/\"abc\" ", tag));
    assert_false(matches("\"abcd\"", tag));
    assert_false(matches("abc", tag));
    assert_false(matches("\"ab\"", tag));
    assert_false(matches("", tag));
    assert_false(matches(",,, ,", tag));
    assert_false(matches("w/\"abc\"", tag));
    /* A comma inside a quoted tag does not split it. */
    assert_false(matches("\"a,\"abc\"\"", tag));
    assert_true(matches("\"a,b\", \"abc\"", tag));
}

static void test_static_etag_bounds_are_respected(void **state)
{
    (void)state;
    /* Only len bytes are read: the value is not NUL-terminated in a request. */
    const char buf[] = "\"abc\"XYZ";
    assert_true(wsh_static_etag_matches(buf, 5, "\"abc\""));
    assert_false(wsh_static_etag_matches(buf, 4, "\"abc\""));
    assert_false(wsh_static_etag_matches(buf, 0, "\"abc\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_static_find_is_exact),
        cmocka_unit_test(test_static_assets_are_well_formed),
        cmocka_unit_test(test_static_etag_weak_comparison),
        cmocka_unit_test(test_static_etag_bounds_are_respected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
