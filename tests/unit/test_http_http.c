/* Unit tests for src/http/http.c: every vector whole, byte by byte and at every
 * split point, limits, rejections, helpers and allocation failures. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "http/http.h"

/* ---- harness ------------------------------------------------------------ */

#define MAX_REQS 8

/* What a connection would see from one input: each request summarised as a
 * string, the final error, and how many bytes were left unconsumed. */
typedef struct outcome {
    int err;
    size_t req_cnt;
    char reqs[MAX_REQS][1024];
    size_t leftover;
} outcome_t;

static void summarise(const wsh_http_req_t *r, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s %.*s|%.*s|%.*s|ka=%d up=%d v=%d.%d|",
                     llhttp_method_name((llhttp_method_t)r->method), (int)r->url.len, r->url.ptr,
                     (int)r->path.len, r->path.ptr, (int)r->query.len, r->query.ptr, r->keep_alive,
                     r->upgrade, r->http_major, r->http_minor);
    for (size_t i = 0; i < r->header_cnt && n > 0 && (size_t)n < cap; i++)
        n += snprintf(out + n, cap - (size_t)n, "%.*s=%.*s;", (int)r->headers[i].name.len,
                      r->headers[i].name.ptr, (int)r->headers[i].value.len, r->headers[i].value.ptr);
    if (n > 0 && (size_t)n < cap)
        snprintf(out + n, cap - (size_t)n, "|%.*s", (int)r->body.len, r->body.data ? (char *)r->body.data : "");
}

/* Feeds in[0..len) in chunks whose ends are cuts[0..cut_cnt) then len, the
 * way a connection would: unconsumed bytes stay in a pending buffer and are
 * offered again with the next chunk. Stops at an error, or after an upgrade
 * request (the rest belongs to the WebSocket). */
static void run_cuts(const char *in, size_t len, const wsh_http_limits_t *lim, const size_t *cuts,
                     size_t cut_cnt, outcome_t *o)
{
    wsh_http_parser_t p;
    wsh_http_parser_init(&p, lim);
    memset(o, 0, sizeof *o);
    uint8_t *pend = malloc(len + 1);
    assert_non_null(pend);
    size_t pend_len = 0, pos = 0;
    bool stop = false;
    for (size_t c = 0; c <= cut_cnt && !stop; c++) {
        size_t end = c < cut_cnt ? cuts[c] : len;
        memcpy(pend + pend_len, in + pos, end - pos);
        pend_len += end - pos;
        pos = end;
        while (pend_len > 0) {
            wsh_http_req_t *req = NULL;
            long rc = wsh_http_parser_feed(&p, pend, pend_len, &req);
            if (rc < 0) {
                o->err = (int)rc;
                assert_null(req);
                stop = true;
                break;
            }
            assert_true((size_t)rc <= pend_len);
            memmove(pend, pend + rc, pend_len - (size_t)rc);
            pend_len -= (size_t)rc;
            if (!req) {
                assert_int_equal(pend_len, 0); /* no request: everything consumed */
                break;
            }
            assert_false(wsh_http_parser_is_mid_request(&p));
            assert_true(o->req_cnt < MAX_REQS);
            summarise(req, o->reqs[o->req_cnt++], sizeof o->reqs[0]);
            if (req->upgrade) {
                stop = true;
                break;
            }
            wsh_http_parser_next(&p);
        }
    }
    /* After an error the rest of the input is never read: nothing is left over. */
    o->leftover = o->err ? 0 : pend_len + (len - pos);
    free(pend);
    wsh_http_parser_dispose(&p);
}

static void assert_same_outcome(const outcome_t *a, const outcome_t *b, const char *what, size_t at)
{
    if (a->err != b->err || a->req_cnt != b->req_cnt || a->leftover != b->leftover) {
        print_error("%s %zu: err %d/%d reqs %zu/%zu leftover %zu/%zu\n", what, at, a->err, b->err,
                    a->req_cnt, b->req_cnt, a->leftover, b->leftover);
        fail();
    }
    for (size_t i = 0; i < a->req_cnt; i++) {
        if (strcmp(a->reqs[i], b->reqs[i]) != 0) {
            print_error("%s %zu: req %zu\n  %s\n  %s\n", what, at, i, a->reqs[i], b->reqs[i]);
            fail();
        }
    }
}

/* Runs the vector whole, byte by byte, and split in two at every point, and
 * checks every run gives the same outcome; returns the whole-run outcome. */
static void run_all(const char *in, size_t len, const wsh_http_limits_t *lim, outcome_t *whole)
{
    outcome_t o;
    run_cuts(in, len, lim, NULL, 0, whole);
    size_t *cuts = malloc((len + 1) * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i + 1 < len; i++)
        cuts[i] = i + 1;
    run_cuts(in, len, lim, cuts, len ? len - 1 : 0, &o);
    assert_same_outcome(whole, &o, "byte-by-byte", 0);
    for (size_t k = 1; k < len; k++) {
        cuts[0] = k;
        run_cuts(in, len, lim, cuts, 1, &o);
        assert_same_outcome(whole, &o, "split at", k);
    }
    free(cuts);
}

#define S(lit) lit, sizeof(lit) - 1

static void expect_reqs(const outcome_t *o, int err, size_t leftover, size_t cnt, ...)
{
    va_list ap;
    if (o->err != err || o->req_cnt != cnt || o->leftover != leftover) {
        print_error("want err %d reqs %zu leftover %zu, got err %d reqs %zu leftover %zu\n", err, cnt,
                    leftover, o->err, o->req_cnt, o->leftover);
        for (size_t i = 0; i < o->req_cnt; i++)
            print_error("  got %s\n", o->reqs[i]);
        fail();
    }
    va_start(ap, cnt);
    for (size_t i = 0; i < cnt; i++)
        assert_string_equal(o->reqs[i], va_arg(ap, const char *));
    va_end(ap);
}

static void expect_error(const char *in, size_t len, const wsh_http_limits_t *lim, int err)
{
    outcome_t o;
    run_all(in, len, lim, &o);
    if (o.err != err) {
        print_error("input %.*s: want %d got %d\n", (int)len, in, err, o.err);
        fail();
    }
    assert_int_equal(o.req_cnt, 0);
}

/* ---- vectors ------------------------------------------------------------ */

static void test_http_simple_get_whole_bytewise_and_every_split(void **state)
{
    (void)state;
    outcome_t o;
    run_all(S("GET /health HTTP/1.1\r\nHost: example.com\r\nUser-Agent:  curl/8 \r\n\r\n"), NULL, &o);
    expect_reqs(&o, 0, 0, 1,
                "GET /health|/health||ka=1 up=0 v=1.1|Host=example.com;User-Agent=curl/8;|");
}

static void test_http_pipelined_keepalive_pair_reported_one_at_a_time(void **state)
{
    (void)state;
    outcome_t o;
    run_all(S("GET /a?x=1 HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n"
              "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"),
            NULL, &o);
    expect_reqs(&o, 0, 0, 2, "GET /a?x=1|/a|x=1|ka=1 up=0 v=1.1|Host=h;Connection=keep-alive;|",
                "GET /b|/b||ka=1 up=0 v=1.1|Host=h;|");
}

static void test_http_feed_returns_bytes_up_to_end_of_first_request(void **state)
{
    (void)state;
    static const char in[] = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    wsh_http_parser_t p;
    wsh_http_req_t *req = NULL;
    wsh_http_parser_init(&p, NULL);
    long rc = wsh_http_parser_feed(&p, (const uint8_t *)in, sizeof in - 1, &req);
    assert_int_equal(rc, 28);
    assert_non_null(req);
    /* Until next(), nothing more is consumed and the same request is reported. */
    wsh_http_req_t *again = NULL;
    assert_int_equal(wsh_http_parser_feed(&p, (const uint8_t *)in + rc, sizeof in - 1 - (size_t)rc, &again), 0);
    assert_ptr_equal(again, req);
    wsh_http_parser_next(&p);
    rc = wsh_http_parser_feed(&p, (const uint8_t *)in + 28, sizeof in - 1 - 28, &req);
    assert_int_equal(rc, sizeof in - 1 - 28);
    assert_non_null(req);
    assert_int_equal(req->path.len, 2);
    assert_memory_equal(req->path.ptr, "/b", 2);
    wsh_http_parser_dispose(&p);
}

/* The head is offered once it is complete and the body is awaited, with
 * spans and method filled in; the request it then completes into has the
 * same head (the value trimming is not applied twice). */
static void test_http_parser_head_before_the_body(void **state)
{
    (void)state;
    static const char head[] = "POST /api/x?y=1 HTTP/1.1\r\nHost: h\r\nAuthorization:  Bearer k  \r\n"
                               "Content-Length: 5\r\n\r\n";
    wsh_http_parser_t p;
    wsh_http_req_t *req = NULL;
    wsh_http_parser_init(&p, NULL);
    assert_null(wsh_http_parser_head(&p));
    /* Part of the head: not yet. */
    long rc = wsh_http_parser_feed(&p, (const uint8_t *)head, 20, &req);
    assert_int_equal(rc, 20);
    assert_null(req);
    assert_null(wsh_http_parser_head(&p));
    rc = wsh_http_parser_feed(&p, (const uint8_t *)head + 20, sizeof head - 1 - 20, &req);
    assert_int_equal(rc, (long)(sizeof head - 1 - 20));
    assert_null(req);
    wsh_http_req_t *h = wsh_http_parser_head(&p);
    assert_non_null(h);
    char sum[512];
    summarise(h, sum, sizeof sum);
    assert_string_equal(sum, "POST /api/x?y=1|/api/x|y=1|ka=0 up=0 v=1.1|Host=h;Authorization=Bearer k;Content-Length=5;|");
    assert_ptr_equal(wsh_http_parser_head(&p), h); /* asking again changes nothing */
    rc = wsh_http_parser_feed(&p, (const uint8_t *)"hello", 5, &req);
    assert_int_equal(rc, 5);
    assert_non_null(req);
    assert_null(wsh_http_parser_head(&p)); /* complete: no longer a head */
    summarise(req, sum, sizeof sum);
    assert_string_equal(sum,
                        "POST /api/x?y=1|/api/x|y=1|ka=1 up=0 v=1.1|Host=h;Authorization=Bearer k;Content-Length=5;|hello");
    wsh_http_parser_next(&p);
    assert_null(wsh_http_parser_head(&p));
    wsh_http_parser_dispose(&p);
}

static void test_http_post_content_length_body(void **state)
{
    (void)state;
    outcome_t o;
    run_all(S("POST /api/publish HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n{\"a\":\"b c\"}"
              "GET /x HTTP/1.1\r\nHost: h\r\n\r\n"),
            NULL, &o);
    expect_reqs(&o, 0, 0, 2,
                "POST /api/publish|/api/publish||ka=1 up=0 v=1.1|Host=h;Content-Length=11;|{\"a\":\"b c\"}",
                "GET /x|/x||ka=1 up=0 v=1.1|Host=h;|");
}

static void test_http_chunked_body_with_extensions_and_trailers(void **state)
{
    (void)state;
    outcome_t o;
    run_all(S("POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
              "5;name=value\r\nhello\r\n"
              "7;x;y=\"q s\"\r\n, world\r\n"
              "0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n"
              "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"),
            NULL, &o);
    /* Trailers are not merged into the head's headers. */
    expect_reqs(&o, 0, 0, 2,
                "POST /p|/p||ka=1 up=0 v=1.1|Host=h;Transfer-Encoding=chunked;|hello, world",
                "GET /next|/next||ka=1 up=0 v=1.1|Host=h;|");
}

static void test_http_upgrade_request_leaves_frame_bytes_unconsumed(void **state)
{
    (void)state;
    outcome_t o;
    /* A masked text frame "Hi" right behind the handshake. */
    run_all(S("GET /ws?channels=a,b HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
              "\x81\x82\x01\x02\x03\x04\x49\x6b"),
            NULL, &o);
    expect_reqs(&o, 0, 8, 1,
                "GET /ws?channels=a,b|/ws|channels=a,b|ka=1 up=1 v=1.1|Host=h;Upgrade=websocket;"
                "Connection=Upgrade;Sec-WebSocket-Key=dGhlIHNhbXBsZSBub25jZQ==;Sec-WebSocket-Version=13;|");
}

static void test_http_rejected_upgrade_continues_as_http_after_next(void **state)
{
    (void)state;
    static const char in[] = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"
                             "GET /health HTTP/1.1\r\nHost: h\r\n\r\n";
    wsh_http_parser_t p;
    wsh_http_req_t *req = NULL;
    wsh_http_parser_init(&p, NULL);
    long rc = wsh_http_parser_feed(&p, (const uint8_t *)in, sizeof in - 1, &req);
    assert_int_equal(rc, strstr(in, "GET /health") - in);
    assert_non_null(req);
    assert_true(req->upgrade);
    wsh_http_parser_next(&p);
    long rc2 = wsh_http_parser_feed(&p, (const uint8_t *)in + rc, sizeof in - 1 - (size_t)rc, &req);
    assert_int_equal(rc2, sizeof in - 1 - (size_t)rc);
    assert_non_null(req);
    assert_false(req->upgrade);
    assert_int_equal(req->path.len, 7);
    wsh_http_parser_dispose(&p);
}

static void test_http_http10_request_is_not_keep_alive(void **state)
{
    (void)state;
    outcome_t o;
    /* Without keep-alive the second request is never processed (RFC 9112
     * §9.6): its bytes are consumed and ignored. */
    run_all(S("GET /old HTTP/1.0\r\n\r\nGET /ignored HTTP/1.1\r\nHost: h\r\n\r\n"), NULL, &o);
    expect_reqs(&o, 0, 0, 1, "GET /old|/old||ka=0 up=0 v=1.0||");
}

static void test_http_http10_keep_alive_allows_a_second_request(void **state)
{
    (void)state;
    outcome_t o;
    run_all(S("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n"), NULL, &o);
    expect_reqs(&o, 0, 0, 2, "GET /a|/a||ka=1 up=0 v=1.0|Connection=keep-alive;|", "GET /b|/b||ka=0 up=0 v=1.0||");
}

static void test_http_connection_close_ignores_later_bytes(void **state)
{
    (void)state;
    outcome_t o;
    run_all(S("GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGARBAGE\x01\x02"), NULL, &o);
    expect_reqs(&o, 0, 0, 1, "GET /a|/a||ka=0 up=0 v=1.1|Host=h;Connection=close;|");
}

static void test_http_leading_empty_lines_are_skipped(void **state)
{
    (void)state;
    outcome_t o;
    run_all(S("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), NULL, &o);
    expect_reqs(&o, 0, 0, 1, "GET /|/||ka=1 up=0 v=1.1|Host=h;|");
}

static void test_http_empty_header_value_and_fragment(void **state)
{
    (void)state;
    outcome_t o;
    run_all(S("GET /p?q=1#frag HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Spaces:   \r\nX-Tab:\tv\t\r\n\r\n"), NULL, &o);
    expect_reqs(&o, 0, 0, 1, "GET /p?q=1#frag|/p|q=1|ka=1 up=0 v=1.1|Host=h;X-Empty=;X-Spaces=;X-Tab=v;|");
}

/* ---- limits ------------------------------------------------------------- */

/* A request whose head is exactly n bytes: padding goes into one header. */
static char *head_of_size(size_t n)
{
    static const char pre[] = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
    static const char post[] = "\r\n\r\n";
    size_t fixed = sizeof pre - 1 + sizeof post - 1;
    assert_true(n > fixed);
    char *s = malloc(n + 1);
    assert_non_null(s);
    memcpy(s, pre, sizeof pre - 1);
    memset(s + sizeof pre - 1, 'a', n - fixed);
    memcpy(s + n - (sizeof post - 1), post, sizeof post);
    return s;
}

static void test_http_head_exactly_at_limit_passes(void **state)
{
    (void)state;
    wsh_http_limits_t lim = {.max_head = 200, .max_headers = 64, .max_body = 1024};
    char *s = head_of_size(200);
    outcome_t o;
    run_all(s, 200, &lim, &o);
    assert_int_equal(o.err, 0);
    assert_int_equal(o.req_cnt, 1);
    free(s);
}

static void test_http_head_one_byte_over_limit_is_431(void **state)
{
    (void)state;
    wsh_http_limits_t lim = {.max_head = 200, .max_headers = 64, .max_body = 1024};
    char *s = head_of_size(201);
    expect_error(s, 201, &lim, WSH_EHEADTOOBIG);
    assert_int_equal(wsh_err_http_status(WSH_EHEADTOOBIG), 431);
    free(s);
}

static void test_http_default_head_limit_is_16k(void **state)
{
    (void)state;
    char *ok = head_of_size(WSH_HTTP_DEFAULT_MAX_HEAD);
    char *big = head_of_size(WSH_HTTP_DEFAULT_MAX_HEAD + 1);
    outcome_t o;
    run_cuts(ok, WSH_HTTP_DEFAULT_MAX_HEAD, NULL, NULL, 0, &o);
    assert_int_equal(o.err, 0);
    assert_int_equal(o.req_cnt, 1);
    run_cuts(big, WSH_HTTP_DEFAULT_MAX_HEAD + 1, NULL, NULL, 0, &o);
    assert_int_equal(o.err, WSH_EHEADTOOBIG);
    free(ok);
    free(big);
}

static void test_http_unterminated_head_stops_at_limit_without_buffering_more(void **state)
{
    (void)state;
    wsh_http_limits_t lim = {.max_head = 100};
    wsh_http_parser_t p;
    wsh_http_req_t *req;
    char junk[1000];
    memcpy(junk, "GET /", 5);
    memset(junk + 5, 'a', sizeof junk - 5);
    wsh_http_parser_init(&p, &lim);
    assert_int_equal(wsh_http_parser_feed(&p, (const uint8_t *)junk, sizeof junk, &req), WSH_EHEADTOOBIG);
    assert_true(p.head.len <= 100);
    /* Errors are sticky. */
    assert_int_equal(wsh_http_parser_feed(&p, (const uint8_t *)"\r\n", 2, &req), WSH_EHEADTOOBIG);
    assert_null(req);
    wsh_http_parser_dispose(&p);
}

static char *request_with_headers(size_t cnt, size_t *len)
{
    size_t cap = 64 + cnt * 32;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t n = (size_t)snprintf(s, cap, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (size_t i = 1; i < cnt; i++)
        n += (size_t)snprintf(s + n, cap - n, "X-H%zu: %zu\r\n", i, i);
    n += (size_t)snprintf(s + n, cap - n, "\r\n");
    *len = n;
    return s;
}

static void test_http_64_headers_pass_65_is_431(void **state)
{
    (void)state;
    size_t len;
    outcome_t o;
    char *s = request_with_headers(64, &len);
    run_all(s, len, NULL, &o);
    assert_int_equal(o.err, 0);
    assert_int_equal(o.req_cnt, 1);
    free(s);
    s = request_with_headers(65, &len);
    expect_error(s, len, NULL, WSH_EHEADTOOBIG);
    free(s);
}

static void test_http_max_headers_is_clamped_to_array_size(void **state)
{
    (void)state;
    wsh_http_limits_t lim = {.max_headers = 1000};
    size_t len;
    outcome_t o;
    wsh_http_parser_t p;
    wsh_http_parser_init(&p, &lim);
    assert_int_equal(p.lim.max_headers, WSH_HTTP_MAX_HEADERS);
    wsh_http_parser_dispose(&p);
    char *s = request_with_headers(128, &len);
    run_cuts(s, len, &lim, NULL, 0, &o);
    assert_int_equal(o.err, 0);
    free(s);
    s = request_with_headers(129, &len);
    run_cuts(s, len, &lim, NULL, 0, &o);
    assert_int_equal(o.err, WSH_EHEADTOOBIG);
    free(s);
}

static void test_http_content_length_over_max_is_413_before_body(void **state)
{
    (void)state;
    wsh_http_limits_t lim = {.max_body = 10};
    static const char head[] = "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n";
    wsh_http_parser_t p;
    wsh_http_req_t *req;
    wsh_http_parser_init(&p, &lim);
    /* Only the head is fed: the error must not wait for body bytes. */
    assert_int_equal(wsh_http_parser_feed(&p, (const uint8_t *)head, sizeof head - 1, &req), WSH_ETOOBIG);
    assert_null(p.req.body.data);
    wsh_http_parser_dispose(&p);
    expect_error(S("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n01234567890"), &lim, WSH_ETOOBIG);
    /* Exactly at the cap passes. */
    outcome_t o;
    run_all(S("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789"), &lim, &o);
    expect_reqs(&o, 0, 0, 1, "POST /p|/p||ka=1 up=0 v=1.1|Host=h;Content-Length=10;|0123456789");
}

static void test_http_chunked_over_max_is_413(void **state)
{
    (void)state;
    wsh_http_limits_t lim = {.max_body = 10};
    expect_error(S("POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "6\r\nabcdef\r\n5\r\nghijk\r\n0\r\n\r\n"),
                 &lim, WSH_ETOOBIG);
    outcome_t o;
    run_all(S("POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
              "6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n"),
            &lim, &o);
    expect_reqs(&o, 0, 0, 1, "POST /p|/p||ka=1 up=0 v=1.1|Host=h;Transfer-Encoding=chunked;|abcdefghij");
}

static void test_http_trailer_and_extension_floods_are_413(void **state)
{
    (void)state;
    /* Raw body cap: max_body + max_head = 10 + 100 bytes after the head. */
    wsh_http_limits_t lim = {.max_head = 100, .max_body = 10};
    char buf[600];
    int n = snprintf(buf, sizeof buf, "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: ");
    memset(buf + n, 'a', 200);
    memcpy(buf + n + 200, "\r\n\r\n", 4);
    expect_error(buf, (size_t)n + 204, &lim, WSH_ETOOBIG);
    n = snprintf(buf, sizeof buf, "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;e=");
    memset(buf + n, 'a', 200);
    memcpy(buf + n + 200, "\r\nx\r\n0\r\n\r\n", 10);
    expect_error(buf, (size_t)n + 210, &lim, WSH_ETOOBIG);
}

/* A chunked request whose bytes after the head number exactly `after`: one
 * 3-byte chunk, then a trailer padded to size. */
static char *chunked_with_raw_body(size_t after, size_t *len)
{
    static const char head[] = "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    static const char pre[] = "3\r\nabc\r\n0\r\nT: ";
    static const char post[] = "\r\n\r\n";
    size_t fixed = sizeof pre - 1 + sizeof post - 1;
    assert_true(after > fixed);
    *len = sizeof head - 1 + after;
    char *s = malloc(*len);
    assert_non_null(s);
    memcpy(s, head, sizeof head - 1);
    memcpy(s + sizeof head - 1, pre, sizeof pre - 1);
    memset(s + sizeof head - 1 + sizeof pre - 1, 'v', after - fixed);
    memcpy(s + *len - (sizeof post - 1), post, sizeof post - 1);
    return s;
}

static void test_http_transmitted_body_exactly_at_cap_passes_one_over_is_413(void **state)
{
    (void)state;
    wsh_http_limits_t lim = {.max_head = 100, .max_body = 10};
    size_t len;
    outcome_t o;
    char *s = chunked_with_raw_body(110, &len);
    run_all(s, len, &lim, &o);
    assert_int_equal(o.err, 0);
    assert_int_equal(o.req_cnt, 1);
    free(s);
    s = chunked_with_raw_body(111, &len);
    expect_error(s, len, &lim, WSH_ETOOBIG);
    free(s);
}

static void test_http_header_count_error_does_not_depend_on_split(void **state)
{
    (void)state;
    /* The third header is one too many and its name is also malformed: llhttp
     * refuses the NUL before the name is complete, so every split gives 400. */
    wsh_http_limits_t lim = {.max_headers = 2};
    expect_error(S("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nConnecti\0\0: x\r\n\r\n"), &lim, WSH_EBADREQ);
    expect_error(S("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nConnection: x\r\n\r\n"), &lim, WSH_EHEADTOOBIG);
}

/* ---- rejections --------------------------------------------------------- */

static void test_http_rejects_malformed_request_lines(void **state)
{
    (void)state;
    expect_error(S("GET\r\n\r\n"), NULL, WSH_EBADREQ);
    expect_error(S("GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n"), NULL, WSH_EBADREQ);
    expect_error(S("G@T / HTTP/1.1\r\nHost: h\r\n\r\n"), NULL, WSH_EBADREQ);
    expect_error(S("get / HTTP/1.1\r\nHost: h\r\n\r\n"), NULL, WSH_EBADREQ);
    expect_error(S("GET / HTTP/1.2\r\nHost: h\r\n\r\n"), NULL, WSH_EBADREQ);
    expect_error(S("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), NULL, WSH_EBADREQ);
    expect_error(S("GET / FTP/1.1\r\nHost: h\r\n\r\n"), NULL, WSH_EBADREQ);
    expect_error(S("GET /\r\n\r\n"), NULL, WSH_EBADREQ); /* HTTP/0.9 */
    expect_error(S("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n"), NULL, WSH_EBADREQ);
    expect_error(S("GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"), NULL, WSH_EBADREQ);
    expect_error(S("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n"), NULL, WSH_EBADREQ);
    expect_error(S("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), NULL, WSH_EBADREQ); /* TLS hello */
}

static void test_http_rejects_bad_header_chars(void **state)
{
    (void)state;
    expect_error(S("GET / HTTP/1.1\r\nHost: h\r\nX : v\r\n\r\n"), NULL, WSH_EBADREQ);
    expect_error(S("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n"), NULL, WSH_EBADREQ);
    expect_error(S("GET / HTTP/1.1\r\nHost: h\r\nX(y): v\r\n\r\n"), NULL, WSH_EBADREQ);
    expect_error(S("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n"), NULL, WSH_EBADREQ);
    expect_error(S("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n"), NULL, WSH_EBADREQ);
    expect_error(S("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n"), NULL, WSH_EBADREQ);
    expect_error(S("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"), NULL, WSH_EBADREQ);
    expect_error(S("GET / HTTP/1.1\r\nHost: h\r\nX: a\nb: c\r\n\r\n"), NULL, WSH_EBADREQ);
    expect_error(S("GET / HTTP/1.1\r\nHo\x80st: h\r\n\r\n"), NULL, WSH_EBADREQ);
}

static void test_http_accepts_obs_text_in_header_values(void **state)
{
    (void)state;
    outcome_t o;
    run_all(S("GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\xc3\xa9\r\n\r\n"), NULL, &o);
    expect_reqs(&o, 0, 0, 1, "GET /|/||ka=1 up=0 v=1.1|Host=h;X-Name=caf\xc3\xa9;|");
}

static void test_http_rejects_missing_or_repeated_host(void **state)
{
    (void)state;
    expect_error(S("GET / HTTP/1.1\r\n\r\n"), NULL, WSH_EBADREQ);
    expect_error(S("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), NULL, WSH_EBADREQ);
    expect_error(S("GET / HTTP/1.0\r\nHost: a\r\nHOST: a\r\n\r\n"), NULL, WSH_EBADREQ);
}

static void test_http_rejects_smuggling_framing(void **state)
{
    (void)state;
    /* RFC 9112 §6.1/§6.3: CL with TE, and every ambiguous length. */
    expect_error(S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                 NULL, WSH_EBADREQ);
    expect_error(S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"),
                 NULL, WSH_EBADREQ);
    expect_error(S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"), NULL,
                 WSH_EBADREQ);
    expect_error(S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\nabcd"), NULL, WSH_EBADREQ);
    expect_error(S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\nabc"), NULL, WSH_EBADREQ);
    expect_error(S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc"), NULL, WSH_EBADREQ);
    expect_error(S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x3\r\n\r\nabc"), NULL, WSH_EBADREQ);
    expect_error(S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\nabc"), NULL,
                 WSH_EBADREQ);
    expect_error(S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nabc"), NULL, WSH_EBADREQ);
    expect_error(S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"), NULL,
                 WSH_EBADREQ);
}

static void test_http_rejects_bad_chunk_size(void **state)
{
    (void)state;
    expect_error(S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nZ\r\nabc\r\n0\r\n\r\n"), NULL,
                 WSH_EBADREQ);
    expect_error(S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n"), NULL,
                 WSH_EBADREQ);
    expect_error(S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n"), NULL,
                 WSH_EBADREQ);
    expect_error(S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "fffffffffffffffffff\r\nabc\r\n0\r\n\r\n"),
                 NULL, WSH_EBADREQ);
    expect_error(S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n"), NULL,
                 WSH_EBADREQ);
}

/* ---- state -------------------------------------------------------------- */

static void test_http_allocates_nothing_until_first_byte(void **state)
{
    (void)state;
    wsh_http_parser_t p;
    wsh_http_req_t *req = (wsh_http_req_t *)&p; /* must be overwritten */
    wsh_http_parser_init(&p, NULL);
    assert_null(p.head.data);
    assert_int_equal(wsh_http_parser_feed(&p, NULL, 0, &req), 0);
    assert_null(req);
    assert_null(p.head.data);
    assert_false(wsh_http_parser_is_mid_request(&p));
    wsh_http_parser_dispose(&p);
}

static void test_http_is_mid_request_from_first_byte_until_complete(void **state)
{
    (void)state;
    static const char in[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    wsh_http_parser_t p;
    wsh_http_req_t *req;
    wsh_http_parser_init(&p, NULL);
    assert_false(wsh_http_parser_is_mid_request(&p));
    assert_int_equal(wsh_http_parser_feed(&p, (const uint8_t *)in, 1, &req), 1);
    assert_null(req);
    assert_true(wsh_http_parser_is_mid_request(&p));
    assert_int_equal(wsh_http_parser_feed(&p, (const uint8_t *)in + 1, sizeof in - 2, &req), sizeof in - 2);
    assert_non_null(req);
    assert_false(wsh_http_parser_is_mid_request(&p));
    wsh_http_parser_next(&p);
    assert_false(wsh_http_parser_is_mid_request(&p));
    wsh_http_parser_dispose(&p);
}

static void test_http_next_without_request_is_a_noop(void **state)
{
    (void)state;
    static const char in[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    wsh_http_parser_t p;
    wsh_http_req_t *req;
    wsh_http_parser_init(&p, NULL);
    assert_int_equal(wsh_http_parser_feed(&p, (const uint8_t *)in, 10, &req), 10);
    wsh_http_parser_next(&p);
    assert_true(wsh_http_parser_is_mid_request(&p));
    assert_int_equal(wsh_http_parser_feed(&p, (const uint8_t *)in + 10, sizeof in - 11, &req), sizeof in - 11);
    assert_non_null(req);
    assert_int_equal(req->url.len, 1);
    wsh_http_parser_dispose(&p);
}

static void test_http_spans_survive_head_buffer_growth(void **state)
{
    (void)state;
    /* Many headers fed one byte at a time force several reallocations of the
     * head buffer; every span must still point at the right bytes. */
    size_t len;
    char *s = request_with_headers(60, &len);
    outcome_t o;
    size_t *cuts = malloc(len * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i + 1 < len; i++)
        cuts[i] = i + 1;
    run_cuts(s, len, NULL, cuts, len - 1, &o);
    assert_int_equal(o.req_cnt, 1);
    assert_non_null(strstr(o.reqs[0], "X-H1=1;"));
    assert_non_null(strstr(o.reqs[0], "X-H59=59;"));
    free(cuts);
    free(s);
}

/* ---- helpers ------------------------------------------------------------ */

static wsh_http_parser_t *parse_one(const char *in, size_t len, wsh_http_req_t **req)
{
    wsh_http_parser_t *p = malloc(sizeof *p);
    assert_non_null(p);
    wsh_http_parser_init(p, NULL);
    long rc = wsh_http_parser_feed(p, (const uint8_t *)in, len, req);
    assert_int_equal(rc, (long)len);
    assert_non_null(*req);
    return p;
}

static void free_one(wsh_http_parser_t *p)
{
    wsh_http_parser_dispose(p);
    free(p);
}

static void test_http_req_header_lookup_is_case_insensitive(void **state)
{
    (void)state;
    wsh_http_req_t *req;
    wsh_http_parser_t *p = parse_one(S("GET / HTTP/1.1\r\nhOsT: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n"), &req);
    const wsh_http_header_t *h = wsh_http_req_header(req, "HOST");
    assert_non_null(h);
    assert_int_equal(h->value.len, 1);
    h = wsh_http_req_header(req, "x-A");
    assert_non_null(h);
    assert_memory_equal(h->value.ptr, "1", 1);
    assert_null(wsh_http_req_header(req, "X-"));
    assert_null(wsh_http_req_header(req, "X-AB"));
    assert_null(wsh_http_req_header(req, "Upgrade"));
    free_one(p);
}

static bool has_tok(const char *value, const char *tok)
{
    wsh_http_span_t v = {value, strlen(value)};
    return wsh_http_header_has_token(&v, tok);
}

static void test_http_header_has_token_tokenises_with_ows(void **state)
{
    (void)state;
    assert_true(has_tok("Upgrade", "upgrade"));
    assert_true(has_tok("keep-alive, Upgrade", "upgrade"));
    assert_true(has_tok("keep-alive,Upgrade", "UPGRADE"));
    assert_true(has_tok(" , keep-alive ,\t upgrade\t, ", "upgrade"));
    assert_true(has_tok("upgrade,", "upgrade"));
    assert_false(has_tok("upgraded", "upgrade"));
    assert_false(has_tok("xupgrade", "upgrade"));
    assert_false(has_tok("up grade", "upgrade"));
    assert_false(has_tok("", "upgrade"));
    assert_false(has_tok(",,,", "upgrade"));
    assert_false(has_tok("keep-alive", "upgrade"));
    assert_true(has_tok("websocket", "websocket"));
    assert_false(has_tok("websocket/13", "websocket"));
}

static long query(const char *url, const char *name, char *out, size_t cap)
{
    char in[512];
    int n = snprintf(in, sizeof in, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", url);
    wsh_http_req_t *req;
    wsh_http_parser_t *p = parse_one(in, (size_t)n, &req);
    long rc = wsh_http_req_query(req, name, out, cap);
    free_one(p);
    return rc;
}

static void test_http_req_query_decodes_values(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(query("/ws?channels=a,b&token=x", "channels", out, sizeof out), 3);
    assert_string_equal(out, "a,b");
    assert_int_equal(query("/ws?channels=a,b&token=x", "token", out, sizeof out), 1);
    assert_string_equal(out, "x");
    assert_int_equal(query("/h?since=10&limit=5", "limit", out, sizeof out), 1);
    assert_string_equal(out, "5");
    assert_int_equal(query("/h?q=a+b%20c%2Bd%2f", "q", out, sizeof out), 8);
    assert_string_equal(out, "a b c+d/");
    assert_int_equal(query("/h?q=%C3%A9", "q", out, sizeof out), 2);
    assert_string_equal(out, "\xc3\xa9");
    assert_int_equal(query("/h?flag&q=", "flag", out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(query("/h?q=", "q", out, sizeof out), 0);
    assert_int_equal(query("/h?a=1&a=2", "a", out, sizeof out), 1);
    assert_string_equal(out, "1");
    assert_int_equal(query("/h?my%20key=v", "my key", out, sizeof out), 1);
    assert_int_equal(query("/h?x=1=2", "x", out, sizeof out), 3);
    assert_string_equal(out, "1=2");
    assert_int_equal(query("/h?q=1#q=2", "q", out, sizeof out), 1);
}

static void test_http_req_query_absent_is_minus_1(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(query("/h", "q", out, sizeof out), -1);
    assert_int_equal(query("/h?", "q", out, sizeof out), -1);
    assert_int_equal(query("/h?qq=1&xq=2", "q", out, sizeof out), -1);
    assert_int_equal(query("/h?q", "qq", out, sizeof out), -1);
    assert_int_equal(query("/h?%zz=1", "q", out, sizeof out), -1);
}

static void test_http_req_query_rejects_bad_escapes_nul_and_overflow(void **state)
{
    (void)state;
    char out[8];
    assert_int_equal(query("/h?q=%", "q", out, sizeof out), -2);
    assert_int_equal(query("/h?q=%4", "q", out, sizeof out), -2);
    assert_int_equal(query("/h?q=%4g", "q", out, sizeof out), -2);
    assert_int_equal(query("/h?q=%G4", "q", out, sizeof out), -2);
    assert_int_equal(query("/h?q=a%00b", "q", out, sizeof out), -2);
    assert_int_equal(query("/h?q=%4&r=1", "q", out, sizeof out), -2);
    assert_int_equal(query("/h?q=1234567", "q", out, sizeof out), 7);
    assert_int_equal(query("/h?q=12345678", "q", out, sizeof out), -2);
    assert_int_equal(query("/h?q=1", "q", out, 0), -2);
    assert_int_equal(query("/h?q=", "q", out, 1), 0);
}

static void test_http_pct_decode_decodes_path_segments(void **state)
{
    (void)state;
    char out[8];
    assert_int_equal(wsh_http_pct_decode(S("a%2Fb+c"), out, sizeof out), 5);
    assert_string_equal(out, "a/b+c"); /* '+' is literal in a path */
    assert_int_equal(wsh_http_pct_decode(S("%c3%A9"), out, sizeof out), 2);
    assert_string_equal(out, "\xc3\xa9");
    assert_int_equal(wsh_http_pct_decode(S(""), out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(wsh_http_pct_decode(S("1234567"), out, sizeof out), 7);
    assert_int_equal(wsh_http_pct_decode(S("12345678"), out, sizeof out), -1);
    assert_int_equal(wsh_http_pct_decode(S("a%"), out, sizeof out), -1);
    assert_int_equal(wsh_http_pct_decode(S("a%2"), out, sizeof out), -1);
    assert_int_equal(wsh_http_pct_decode(S("a%x0"), out, sizeof out), -1);
    assert_int_equal(wsh_http_pct_decode(S("a%00"), out, sizeof out), -1);
    assert_int_equal(wsh_http_pct_decode(S("a"), out, 0), -1);
}

/* ---- allocation failures ------------------------------------------------ */

static void test_http_allocation_failures_give_a_clean_error(void **state)
{
    (void)state;
    static const char in[] = "POST /api/channels/a/publish HTTP/1.1\r\nHost: example\r\nContent-Type: json\r\n"
                             "Content-Length: 300\r\n\r\n";
    char full[sizeof in - 1 + 300 + 200];
    memcpy(full, in, sizeof in - 1);
    memset(full + sizeof in - 1, 'x', 300);
    static const char chunked[] = "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "100\r\n";
    size_t full_len = sizeof in - 1 + 300;

    /* Content-Length body (reserved up front) and a chunked body that grows. */
    char chunked_full[sizeof chunked - 1 + 256 + 2 + 200 + 16];
    size_t cl = sizeof chunked - 1;
    memcpy(chunked_full, chunked, cl);
    memset(chunked_full + cl, 'y', 256);
    cl += 256;
    cl += (size_t)snprintf(chunked_full + cl, sizeof chunked_full - cl, "\r\nc8\r\n");
    memset(chunked_full + cl, 'z', 200);
    cl += 200;
    cl += (size_t)snprintf(chunked_full + cl, sizeof chunked_full - cl, "\r\n0\r\n\r\n");

    const char *vecs[] = {full, chunked_full};
    size_t lens[] = {full_len, cl};
    for (size_t v = 0; v < 2; v++) {
        size_t failures = 0;
        bool succeeded = false;
        for (unsigned long nth = 1; nth < 50 && !succeeded; nth++) {
            outcome_t o;
            wsh_alloc_fail_nth(nth);
            size_t *cuts = malloc(lens[v] * sizeof *cuts);
            assert_non_null(cuts);
            for (size_t i = 0; i + 1 < lens[v]; i++)
                cuts[i] = i + 1;
            /* Byte by byte, so every growth step is a separate allocation. */
            run_cuts(vecs[v], lens[v], NULL, cuts, lens[v] - 1, &o);
            free(cuts);
            wsh_alloc_fail_nth(0);
            if (o.err) {
                assert_int_equal(o.err, WSH_ENOMEM);
                assert_int_equal(o.req_cnt, 0);
                failures++;
            } else {
                assert_int_equal(o.req_cnt, 1);
                succeeded = true;
            }
        }
        assert_true(succeeded);
        assert_true(failures >= 2); /* the head and the body both failed once */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_simple_get_whole_bytewise_and_every_split),
        cmocka_unit_test(test_http_pipelined_keepalive_pair_reported_one_at_a_time),
        cmocka_unit_test(test_http_feed_returns_bytes_up_to_end_of_first_request),
        cmocka_unit_test(test_http_post_content_length_body),
        cmocka_unit_test(test_http_parser_head_before_the_body),
        cmocka_unit_test(test_http_chunked_body_with_extensions_and_trailers),
        cmocka_unit_test(test_http_upgrade_request_leaves_frame_bytes_unconsumed),
        cmocka_unit_test(test_http_rejected_upgrade_continues_as_http_after_next),
        cmocka_unit_test(test_http_http10_request_is_not_keep_alive),
        cmocka_unit_test(test_http_http10_keep_alive_allows_a_second_request),
        cmocka_unit_test(test_http_connection_close_ignores_later_bytes),
        cmocka_unit_test(test_http_leading_empty_lines_are_skipped),
        cmocka_unit_test(test_http_empty_header_value_and_fragment),
        cmocka_unit_test(test_http_head_exactly_at_limit_passes),
        cmocka_unit_test(test_http_head_one_byte_over_limit_is_431),
        cmocka_unit_test(test_http_default_head_limit_is_16k),
        cmocka_unit_test(test_http_unterminated_head_stops_at_limit_without_buffering_more),
        cmocka_unit_test(test_http_64_headers_pass_65_is_431),
        cmocka_unit_test(test_http_max_headers_is_clamped_to_array_size),
        cmocka_unit_test(test_http_content_length_over_max_is_413_before_body),
        cmocka_unit_test(test_http_chunked_over_max_is_413),
        cmocka_unit_test(test_http_trailer_and_extension_floods_are_413),
        cmocka_unit_test(test_http_transmitted_body_exactly_at_cap_passes_one_over_is_413),
        cmocka_unit_test(test_http_header_count_error_does_not_depend_on_split),
        cmocka_unit_test(test_http_rejects_malformed_request_lines),
        cmocka_unit_test(test_http_rejects_bad_header_chars),
        cmocka_unit_test(test_http_accepts_obs_text_in_header_values),
        cmocka_unit_test(test_http_rejects_missing_or_repeated_host),
        cmocka_unit_test(test_http_rejects_smuggling_framing),
        cmocka_unit_test(test_http_rejects_bad_chunk_size),
        cmocka_unit_test(test_http_allocates_nothing_until_first_byte),
        cmocka_unit_test(test_http_is_mid_request_from_first_byte_until_complete),
        cmocka_unit_test(test_http_next_without_request_is_a_noop),
        cmocka_unit_test(test_http_spans_survive_head_buffer_growth),
        cmocka_unit_test(test_http_req_header_lookup_is_case_insensitive),
        cmocka_unit_test(test_http_header_has_token_tokenises_with_ows),
        cmocka_unit_test(test_http_req_query_decodes_values),
        cmocka_unit_test(test_http_req_query_absent_is_minus_1),
        cmocka_unit_test(test_http_req_query_rejects_bad_escapes_nul_and_overflow),
        cmocka_unit_test(test_http_pct_decode_decodes_path_segments),
        cmocka_unit_test(test_http_allocation_failures_give_a_clean_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
