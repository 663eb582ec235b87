/* Unit tests for client/wsc.c and client/frames.c: masked client frames
 * decoded by the server's own parser (src/ws/frame.c), server frames decoded
 * by the client's parser settings, the opening handshake checked against
 * the server's Sec-WebSocket-Accept, and the JSON requests and replies. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/msg.h"
#include "frames.h"
#include "http/upgrade.h"
#include "ws/frame.h"
#include "wsc.h"
#include "wshub.h"

/* Runs a whole buffer through parser p, checking one complete frame comes out
 * with the expected opcode and payload. */
static void expect_frame(wsh_frame_parser_t *p, uint8_t *data, size_t len, uint8_t opcode, const uint8_t *payload,
                         size_t plen)
{
    wsh_buf_t got = {0};
    wsh_frame_ev_t ev;
    bool header = false, end = false;
    do {
        long n = wsh_frame_consume(p, data, len, &ev);
        assert_true(n >= 0);
        data += n;
        len -= (size_t)n;
        if (ev.type == WSH_FRAME_EV_HEADER) {
            header = true;
            assert_int_equal(ev.opcode, opcode);
            assert_true(ev.fin);
            assert_int_equal(ev.payload_len, plen);
        } else if (ev.type == WSH_FRAME_EV_PAYLOAD) {
            assert_int_equal(wsh_buf_append(&got, ev.data, ev.len), 0);
        } else if (ev.type == WSH_FRAME_EV_END) {
            end = true;
        }
    } while (ev.type != WSH_FRAME_EV_NONE);
    assert_true(header && end);
    assert_int_equal(len, 0);
    assert_int_equal(got.len, plen);
    if (plen)
        assert_memory_equal(got.data, payload, plen);
    wsh_buf_dispose(&got);
}

static void test_client_frames_round_trip_through_the_server_parser(void **state)
{
    (void)state;
    const size_t sizes[] = {0, 1, 125, 126, 127, 65535, 65536, 70001};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        uint8_t *payload = malloc(n + 1);
        for (size_t k = 0; k < n; k++)
            payload[k] = (uint8_t)('a' + k % 26);
        wsh_buf_t out = {0};
        assert_int_equal(wsh_wsc_frame(&out, WSH_OP_TEXT, payload, n), 0);
        /* RFC 6455 §5.3: every client frame is masked. */
        assert_true(out.data[1] & 0x80);
        if (n >= 16)
            assert_memory_not_equal(out.data + out.len - n, payload, 16); /* masked on the wire */
        wsh_frame_parser_t p;
        wsh_frame_parser_init(&p, 1 << 20); /* the server's settings: masks required */
        expect_frame(&p, out.data, out.len, WSH_OP_TEXT, payload, n);
        wsh_buf_dispose(&out);
        free(payload);
    }
}

static void test_client_frames_get_fresh_masks(void **state)
{
    (void)state;
    wsh_buf_t a = {0}, b = {0};
    assert_int_equal(wsh_wsc_frame(&a, WSH_OP_TEXT, "same payload", 12), 0);
    assert_int_equal(wsh_wsc_frame(&b, WSH_OP_TEXT, "same payload", 12), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_not_equal(a.data + 2, b.data + 2, 4 + 12);
    wsh_buf_dispose(&a);
    wsh_buf_dispose(&b);
}

static void test_client_close_frame_carries_its_code(void **state)
{
    (void)state;
    wsh_buf_t out = {0};
    assert_int_equal(wsh_wsc_close_frame(&out, 1000), 0);
    wsh_frame_parser_t p;
    wsh_frame_parser_init(&p, 1 << 20);
    const uint8_t code[2] = {0x03, 0xE8};
    expect_frame(&p, out.data, out.len, WSH_OP_CLOSE, code, 2);
    wsh_buf_dispose(&out);
}

static void test_server_frames_parse_with_the_client_settings(void **state)
{
    (void)state;
    const size_t sizes[] = {0, 5, 126, 65536};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t *payload = calloc(1, sizes[i] + 1);
        memset(payload, 'x', sizes[i]);
        wsh_msg_t *m = wsh_frame_build(WSH_OP_TEXT, payload, sizes[i]);
        wsh_frame_parser_t p;
        wsh_frame_parser_init(&p, 1 << 20);
        p.require_mask = false; /* what client.c sets: servers never mask */
        expect_frame(&p, m->data, m->len, WSH_OP_TEXT, payload, sizes[i]);
        wsh_msg_unref(m);
        free(payload);
    }
}

static void test_handshake_request_has_the_rfc_headers(void **state)
{
    (void)state;
    wsh_url_t u;
    assert_int_equal(wsh_url_parse("ws://127.0.0.1:9000/ws?channels=a", &u), 0);
    char key[WSH_WSC_KEY_LEN];
    assert_int_equal(wsh_wsc_make_key(key), 0);
    assert_int_equal(strlen(key), 24);
    wsh_buf_t out = {0};
    assert_int_equal(wsh_wsc_request(&out, &u, key, "tok123"), 0);
    assert_int_equal(wsh_buf_append(&out, "", 1), 0);
    const char *s = (const char *)out.data;
    assert_true(strncmp(s, "GET /ws?channels=a HTTP/1.1\r\n", 29) == 0);
    assert_non_null(strstr(s, "\r\nHost: 127.0.0.1:9000\r\n"));
    assert_non_null(strstr(s, "\r\nUpgrade: websocket\r\n"));
    assert_non_null(strstr(s, "\r\nConnection: Upgrade\r\n"));
    assert_non_null(strstr(s, "\r\nSec-WebSocket-Version: 13\r\n"));
    assert_non_null(strstr(s, "\r\nAuthorization: Bearer tok123\r\n"));
    char line[64];
    snprintf(line, sizeof line, "\r\nSec-WebSocket-Key: %s\r\n", key);
    assert_non_null(strstr(s, line));
    assert_int_equal(strcmp(s + strlen(s) - 4, "\r\n\r\n"), 0);
    wsh_buf_dispose(&out);
}

static void test_handshake_answer_is_checked_against_the_server_accept(void **state)
{
    (void)state;
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    char accept[WSH_UPGRADE_ACCEPT_LEN];
    wsh_upgrade_accept_key(key, strlen(key), accept);
    char ok[512];
    int n = snprintf(ok, sizeof ok,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n\r\n\x81\x02hi",
                     accept);
    int status;
    /* Every prefix of the head is "need more"; the whole head is its length. */
    for (int cut = 0; cut < n - 4; cut++)
        assert_int_equal(wsh_wsc_response(ok, (size_t)cut, key, &status), 0);
    assert_int_equal(wsh_wsc_response(ok, (size_t)n, key, &status), n - 4);
    assert_int_equal(status, 101);
    /* The RFC 6455 §1.3 example: this key's accept is known. */
    assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /* Another key's answer is refused. */
    assert_int_equal(wsh_wsc_response(ok, (size_t)n, "AAAAAAAAAAAAAAAAAAAAAA==", &status), WSHUB_EHANDSHAKE);
}

static void test_handshake_refusals(void **state)
{
    (void)state;
    int status;
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    const char *e401 = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(wsh_wsc_response(e401, strlen(e401), key, &status), WSHUB_EREFUSED);
    assert_int_equal(status, 401);
    const char *e400 = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(wsh_wsc_response(e400, strlen(e400), key, &status), WSHUB_EHANDSHAKE);
    const char *no_upgrade = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    assert_int_equal(wsh_wsc_response(no_upgrade, strlen(no_upgrade), key, &status), WSHUB_EHANDSHAKE);
    char huge[WSH_WSC_MAX_HEAD + 100];
    memset(huge, 'a', sizeof huge);
    assert_int_equal(wsh_wsc_response(huge, sizeof huge, key, &status), WSHUB_EHANDSHAKE);
}

static void test_requests_are_valid_json_with_the_protocol_fields(void **state)
{
    (void)state;
    wsh_buf_t b = {0};
    assert_int_equal(wsh_sf_subscribe(&b, 3, "news", true, 41, "00112233aabbccdd", 0), 0);
    assert_int_equal(wsh_buf_append(&b, "", 1), 0);
    assert_string_equal((char *)b.data,
                        "{\"type\":\"subscribe\",\"id\":\"s3\",\"channel\":\"news\",\"since\":41,\"epoch\":\"00112233aabbccdd\"}");
    b.len = 0;
    assert_int_equal(wsh_sf_subscribe(&b, 4, "news", false, 0, NULL, 5), 0);
    assert_int_equal(wsh_buf_append(&b, "", 1), 0);
    assert_string_equal((char *)b.data, "{\"type\":\"subscribe\",\"id\":\"s4\",\"channel\":\"news\",\"history\":5}");
    b.len = 0;
    assert_int_equal(wsh_sf_publish(&b, 7, "a/b", "{\"x\":[1]}", 9, true, "k\"1"), 0);
    assert_int_equal(wsh_buf_append(&b, "", 1), 0);
    assert_string_equal((char *)b.data, "{\"type\":\"publish\",\"id\":\"p7\",\"channel\":\"a/b\",\"idempotency_key\":"
                                        "\"k\\\"1\",\"receipts\":true,\"data\":{\"x\":[1]}}");
    b.len = 0;
    assert_int_equal(wsh_sf_ack(&b, "news", 12), 0);
    wsh_json_tok_t t[8];
    assert_true(wsh_json_parse((char *)b.data, b.len, t, 8, 1, 8, NULL) > 0);
    wsh_buf_dispose(&b);
}

static void test_server_frames_are_read_into_fields(void **state)
{
    (void)state;
    wsh_sf_t f;
    const char *msg = "{\"type\":\"message\",\"channel\":\"news\",\"offset\":7,\"ts\":1795310762917,\"id\":\"p1\","
                      "\"receipts\":true,\"data\":{\"x\":[1,2]}}";
    assert_int_equal(wsh_sf_parse(msg, strlen(msg), &f), 0);
    assert_int_equal(f.type, WSH_SF_MESSAGE);
    assert_string_equal(f.channel, "news");
    assert_int_equal(f.offset, 7);
    assert_int_equal(f.ts, 1795310762917ull);
    assert_true(f.receipts);
    assert_int_equal(f.data_len, strlen("{\"x\":[1,2]}"));
    assert_memory_equal(f.data, "{\"x\":[1,2]}", f.data_len);
    const char *sub = "{\"type\":\"subscribed\",\"channel\":\"c\",\"offset\":3,\"epoch\":\"0123456789abcdef\","
                      "\"recovered\":false,\"id\":\"s12\"}";
    assert_int_equal(wsh_sf_parse(sub, strlen(sub), &f), 0);
    assert_int_equal(f.type, WSH_SF_SUBSCRIBED);
    assert_false(f.recovered);
    assert_int_equal(f.id_kind, 's');
    assert_int_equal(f.id_num, 12);
    assert_string_equal(f.epoch, "0123456789abcdef");
    const char *err = "{\"type\":\"error\",\"code\":\"bad_channel\",\"message\":\"no\",\"id\":\"user-id\"}";
    assert_int_equal(wsh_sf_parse(err, strlen(err), &f), 0);
    assert_int_equal(f.type, WSH_SF_ERROR);
    assert_int_equal(f.id_kind, 0); /* not an id this client made */
    assert_string_equal(f.code, "bad_channel");
    const char *junk[] = {"[1]", "{\"no\":\"type\"}", "{\"type\":1}", "{", ""};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        assert_int_equal(wsh_sf_parse(junk[i], strlen(junk[i]), &f), WSHUB_EPROTO);
}

static void test_channel_names_follow_the_hub_rules(void **state)
{
    (void)state;
    assert_true(wsh_sf_channel_ok("a"));
    assert_true(wsh_sf_channel_ok("user:42/inbox@eu-1.x_y"));
    assert_false(wsh_sf_channel_ok(""));
    assert_false(wsh_sf_channel_ok("a b"));
    assert_false(wsh_sf_channel_ok("a\"b"));
    char name[300];
    memset(name, 'a', 255);
    name[255] = '\0';
    assert_true(wsh_sf_channel_ok(name));
    name[255] = 'a';
    name[256] = '\0';
    assert_false(wsh_sf_channel_ok(name));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_frames_round_trip_through_the_server_parser),
        cmocka_unit_test(test_client_frames_get_fresh_masks),
        cmocka_unit_test(test_client_close_frame_carries_its_code),
        cmocka_unit_test(test_server_frames_parse_with_the_client_settings),
        cmocka_unit_test(test_handshake_request_has_the_rfc_headers),
        cmocka_unit_test(test_handshake_answer_is_checked_against_the_server_accept),
        cmocka_unit_test(test_handshake_refusals),
        cmocka_unit_test(test_requests_are_valid_json_with_the_protocol_fields),
        cmocka_unit_test(test_server_frames_are_read_into_fields),
        cmocka_unit_test(test_channel_names_follow_the_hub_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
