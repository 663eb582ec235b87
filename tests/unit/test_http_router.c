/* Unit tests for src/http/router.c: exact paths beat prefixes, earlier
 * prefixes beat later ones, GET implies HEAD, and the 404 / 405 answers with
 * the exact Allow line. Not for the handlers behind the routes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "http/router.h"

static void cb_a(wsh_http_x_t *x) { (void)x; }
static void cb_b(wsh_http_x_t *x) { (void)x; }

static int tag_exact, tag_prefix, tag_prefix2;

static wsh_http_req_t *req_for(uint8_t method, const char *path)
{
    static wsh_http_req_t req;
    memset(&req, 0, sizeof req);
    req.method = method;
    req.path.ptr = path;
    req.path.len = strlen(path);
    req.url = req.path;
    return &req;
}

static const wsh_route_t *match(const wsh_router_t *r, uint8_t method, const char *path, int *status, char *allow,
                                size_t allow_len)
{
    *status = 0;
    return wsh_router_match(r, req_for(method, path), status, allow, allow_len);
}

static void add(wsh_router_t *r, const char *path, bool is_prefix, unsigned methods, void *data)
{
    assert_int_equal(wsh_router_add(r, path, is_prefix, methods, cb_a, data), 0);
}

static void test_router_exact_path_matches_only_itself(void **state)
{
    (void)state;
    wsh_router_t r = {0};
    add(&r, "/health", false, WSH_M_GET, &tag_exact);
    int st;
    char allow[64];
    const wsh_route_t *rt = match(&r, HTTP_GET, "/health", &st, allow, sizeof allow);
    assert_non_null(rt);
    assert_ptr_equal(rt->data, &tag_exact);
    assert_ptr_equal(rt->cb, cb_a);
    assert_null(match(&r, HTTP_GET, "/health/", &st, allow, sizeof allow));
    assert_int_equal(st, 404);
    assert_null(match(&r, HTTP_GET, "/healt", &st, allow, sizeof allow));
    assert_int_equal(st, 404);
    assert_null(match(&r, HTTP_GET, "/HEALTH", &st, allow, sizeof allow)); /* paths are case-sensitive */
    assert_int_equal(st, 404);
}

static void test_router_exact_beats_prefix_whatever_the_order(void **state)
{
    (void)state;
    wsh_router_t r = {0};
    add(&r, "/api/", true, WSH_M_GET | WSH_M_POST, &tag_prefix);
    add(&r, "/api/publish", false, WSH_M_POST, &tag_exact);
    int st;
    char allow[64];
    const wsh_route_t *rt = match(&r, HTTP_POST, "/api/publish", &st, allow, sizeof allow);
    assert_non_null(rt);
    assert_ptr_equal(rt->data, &tag_exact);
    rt = match(&r, HTTP_POST, "/api/other", &st, allow, sizeof allow);
    assert_non_null(rt);
    assert_ptr_equal(rt->data, &tag_prefix);

    wsh_router_t r2 = {0};
    add(&r2, "/api/publish", false, WSH_M_POST, &tag_exact);
    add(&r2, "/api/", true, WSH_M_GET | WSH_M_POST, &tag_prefix);
    rt = match(&r2, HTTP_POST, "/api/publish", &st, allow, sizeof allow);
    assert_non_null(rt);
    assert_ptr_equal(rt->data, &tag_exact);
}

static void test_router_exact_path_owns_its_methods_over_a_prefix(void **state)
{
    (void)state;
    /* An exact route decides for its path: a GET on a POST-only exact path is
     * 405 even though a prefix route would take GET. */
    wsh_router_t r = {0};
    add(&r, "/api/", true, WSH_M_GET, &tag_prefix);
    add(&r, "/api/publish", false, WSH_M_POST, &tag_exact);
    int st;
    char allow[64];
    assert_null(match(&r, HTTP_GET, "/api/publish", &st, allow, sizeof allow));
    assert_int_equal(st, 405);
    assert_string_equal(allow, "Allow: POST\r\n");
}

static void test_router_earlier_prefix_beats_later_prefix(void **state)
{
    (void)state;
    wsh_router_t r = {0};
    add(&r, "/api/channels/", true, WSH_M_GET, &tag_prefix);
    add(&r, "/api/", true, WSH_M_GET, &tag_prefix2);
    int st;
    char allow[64];
    const wsh_route_t *rt = match(&r, HTTP_GET, "/api/channels/x/history", &st, allow, sizeof allow);
    assert_non_null(rt);
    assert_ptr_equal(rt->data, &tag_prefix);
    rt = match(&r, HTTP_GET, "/api/stats", &st, allow, sizeof allow);
    assert_non_null(rt);
    assert_ptr_equal(rt->data, &tag_prefix2);
    /* The prefix matches itself too, but not a shorter path. */
    rt = match(&r, HTTP_GET, "/api/channels/", &st, allow, sizeof allow);
    assert_ptr_equal(rt->data, &tag_prefix);
    rt = match(&r, HTTP_GET, "/api/channels", &st, allow, sizeof allow);
    assert_ptr_equal(rt->data, &tag_prefix2);
}

static void test_router_later_prefix_takes_a_method_the_earlier_lacks(void **state)
{
    (void)state;
    wsh_router_t r = {0};
    add(&r, "/api/channels/", true, WSH_M_GET, &tag_prefix);
    add(&r, "/api/", true, WSH_M_POST, &tag_prefix2);
    int st;
    char allow[64];
    const wsh_route_t *rt = match(&r, HTTP_POST, "/api/channels/x/publish", &st, allow, sizeof allow);
    assert_non_null(rt);
    assert_ptr_equal(rt->data, &tag_prefix2);
}

static void test_router_get_implies_head(void **state)
{
    (void)state;
    wsh_router_t r = {0};
    add(&r, "/", false, WSH_M_GET, &tag_exact);
    assert_int_equal(r.routes[0].methods, WSH_M_GET | WSH_M_HEAD);
    int st;
    char allow[64];
    const wsh_route_t *rt = match(&r, HTTP_HEAD, "/", &st, allow, sizeof allow);
    assert_non_null(rt);
    assert_ptr_equal(rt->data, &tag_exact);
}

static void test_router_head_is_not_implied_without_get(void **state)
{
    (void)state;
    wsh_router_t r = {0};
    add(&r, "/api/publish", false, WSH_M_POST, &tag_exact);
    int st;
    char allow[64];
    assert_null(match(&r, HTTP_HEAD, "/api/publish", &st, allow, sizeof allow));
    assert_int_equal(st, 405);
    assert_string_equal(allow, "Allow: POST\r\n");
}

static void test_router_unknown_path_is_404_with_empty_allow(void **state)
{
    (void)state;
    wsh_router_t r = {0};
    add(&r, "/health", false, WSH_M_GET, &tag_exact);
    add(&r, "/api/", true, WSH_M_GET, &tag_prefix);
    int st;
    char allow[64];
    memset(allow, 'z', sizeof allow);
    assert_null(match(&r, HTTP_GET, "/nope", &st, allow, sizeof allow));
    assert_int_equal(st, 404);
    assert_string_equal(allow, "");
    /* The empty router answers 404 too. */
    wsh_router_t empty = {0};
    assert_null(match(&empty, HTTP_GET, "/", &st, allow, sizeof allow));
    assert_int_equal(st, 404);
}

static void test_router_wrong_method_is_405_with_exact_allow_line(void **state)
{
    (void)state;
    wsh_router_t r = {0};
    add(&r, "/health", false, WSH_M_GET, &tag_exact);
    int st;
    char allow[64];
    assert_null(match(&r, HTTP_POST, "/health", &st, allow, sizeof allow));
    assert_int_equal(st, 405);
    assert_string_equal(allow, "Allow: GET, HEAD\r\n");
}

static void test_router_allow_line_unites_routes_on_the_same_path(void **state)
{
    (void)state;
    /* Two exact routes for one path with different methods (and callbacks). */
    wsh_router_t r = {0};
    add(&r, "/api/channels/x", false, WSH_M_GET, &tag_exact);
    assert_int_equal(wsh_router_add(&r, "/api/channels/x", false, WSH_M_DELETE | WSH_M_OPTIONS, cb_b, &tag_prefix),
                     0);
    int st;
    char allow[96];
    const wsh_route_t *rt = match(&r, HTTP_DELETE, "/api/channels/x", &st, allow, sizeof allow);
    assert_non_null(rt);
    assert_ptr_equal(rt->cb, cb_b);
    assert_null(match(&r, HTTP_PUT, "/api/channels/x", &st, allow, sizeof allow));
    assert_int_equal(st, 405);
    assert_string_equal(allow, "Allow: GET, HEAD, DELETE, OPTIONS\r\n");
}

static void test_router_allow_line_lists_every_method_in_fixed_order(void **state)
{
    (void)state;
    wsh_router_t r = {0};
    add(&r, "/x", false, WSH_M_OPTIONS | WSH_M_DELETE | WSH_M_PUT | WSH_M_POST | WSH_M_GET, &tag_exact);
    int st;
    char allow[96];
    assert_null(match(&r, HTTP_PATCH, "/x", &st, allow, sizeof allow));
    assert_int_equal(st, 405);
    assert_string_equal(allow, "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS\r\n");
}

static void test_router_prefix_405_lists_methods_of_matching_prefixes(void **state)
{
    (void)state;
    wsh_router_t r = {0};
    add(&r, "/api/channels/", true, WSH_M_GET, &tag_prefix);
    add(&r, "/api/", true, WSH_M_POST, &tag_prefix2);
    add(&r, "/other/", true, WSH_M_PUT, &tag_exact);
    int st;
    char allow[96];
    assert_null(match(&r, HTTP_DELETE, "/api/channels/x", &st, allow, sizeof allow));
    assert_int_equal(st, 405);
    assert_string_equal(allow, "Allow: GET, HEAD, POST\r\n");
}

static void test_router_methods_outside_the_table_are_405(void **state)
{
    (void)state;
    wsh_router_t r = {0};
    add(&r, "/ws", false, WSH_M_GET, &tag_exact);
    int st;
    char allow[64];
    assert_null(match(&r, HTTP_CONNECT, "/ws", &st, allow, sizeof allow));
    assert_int_equal(st, 405);
    assert_string_equal(allow, "Allow: GET, HEAD\r\n");
}

static void test_router_small_allow_buffer_is_not_overrun(void **state)
{
    (void)state;
    wsh_router_t r = {0};
    add(&r, "/x", false, WSH_M_GET | WSH_M_POST | WSH_M_DELETE, &tag_exact);
    int st;
    char allow[32];
    memset(allow, '#', sizeof allow);
    assert_null(match(&r, HTTP_PUT, "/x", &st, allow, 12));
    assert_int_equal(st, 405);
    assert_int_equal(strnlen(allow, 12), 11); /* truncated, NUL-terminated */
    for (size_t i = 12; i < sizeof allow; i++)
        assert_int_equal(allow[i], '#');
    memset(allow, '#', sizeof allow);
    assert_null(match(&r, HTTP_PUT, "/x", &st, allow, 0));
    assert_int_equal(st, 405);
    assert_int_equal(allow[0], '#');
}

static void test_router_add_refuses_past_capacity(void **state)
{
    (void)state;
    wsh_router_t r = {0};
    for (int i = 0; i < WSH_ROUTER_MAX; i++)
        assert_int_equal(wsh_router_add(&r, "/p", false, WSH_M_GET, cb_a, NULL), 0);
    assert_int_equal(wsh_router_add(&r, "/q", false, WSH_M_GET, cb_a, NULL), -ENOSPC);
    assert_int_equal(r.cnt, WSH_ROUTER_MAX);
}

static void test_router_matches_on_path_not_query(void **state)
{
    (void)state;
    wsh_router_t r = {0};
    add(&r, "/ws", false, WSH_M_GET, &tag_exact);
    wsh_http_req_t *req = req_for(HTTP_GET, "/ws");
    req->url.ptr = "/ws?channels=a,b";
    req->url.len = strlen(req->url.ptr);
    req->query.ptr = req->url.ptr + 4;
    req->query.len = req->url.len - 4;
    int st = 0;
    char allow[64];
    const wsh_route_t *rt = wsh_router_match(&r, req, &st, allow, sizeof allow);
    assert_non_null(rt);
    assert_ptr_equal(rt->data, &tag_exact);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_exact_path_matches_only_itself),
        cmocka_unit_test(test_router_exact_beats_prefix_whatever_the_order),
        cmocka_unit_test(test_router_exact_path_owns_its_methods_over_a_prefix),
        cmocka_unit_test(test_router_earlier_prefix_beats_later_prefix),
        cmocka_unit_test(test_router_later_prefix_takes_a_method_the_earlier_lacks),
        cmocka_unit_test(test_router_get_implies_head),
        cmocka_unit_test(test_router_head_is_not_implied_without_get),
        cmocka_unit_test(test_router_unknown_path_is_404_with_empty_allow),
        cmocka_unit_test(test_router_wrong_method_is_405_with_exact_allow_line),
        cmocka_unit_test(test_router_allow_line_unites_routes_on_the_same_path),
        cmocka_unit_test(test_router_allow_line_lists_every_method_in_fixed_order),
        cmocka_unit_test(test_router_prefix_405_lists_methods_of_matching_prefixes),
        cmocka_unit_test(test_router_methods_outside_the_table_are_405),
        cmocka_unit_test(test_router_small_allow_buffer_is_not_overrun),
        cmocka_unit_test(test_router_add_refuses_past_capacity),
        cmocka_unit_test(test_router_matches_on_path_not_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
