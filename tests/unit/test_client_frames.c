/* Unit tests for the presence part of client/frames.c: the `presence`
 * request, the answer's list and the join/leave frames read back from the
 * hub's own builders (src/hub/presence.c, escapes and all), truncation and
 * count, and every malformed shape refused with WSHUB_EPROTO. The other
 * frames are tested in test_client_wsc.c. */
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
#include "hub/presence.h"
#include "store/history.h"
#include "wshub.h"

/* The hub's `presence` answer for hc, as proto.c frames it. */
static char *hub_answer(const wsh_history_chan_t *hc, const char *channel, size_t max)
{
    wsh_buf_t b;
    wsh_buf_init(&b);
    assert_int_equal(wsh_buf_appendf(&b, "{\"type\":\"presence\",\"id\":\"w7\",\"channel\":\"%s\",", channel), 0);
    assert_int_equal(wsh_presence_list_json(hc, max, &b), 0);
    assert_int_equal(wsh_buf_append(&b, "}", 1), 0);
    assert_int_equal(wsh_buf_append(&b, "", 1), 0);
    return (char *)b.data;
}

/* The text of a hub frame built into a wsh_msg_t (after its unmasked
 * RFC 6455 §5.2 header); drops the message's reference. */
static char *event_text(wsh_msg_t *m)
{
    assert_non_null(m);
    assert_true(m->len > 2);
    uint8_t len7 = m->data[1] & 0x7f;
    size_t hdr = len7 < 126 ? 2 : len7 == 126 ? 4 : 10;
    char *s = strndup((const char *)m->data + hdr, m->len - hdr);
    assert_non_null(s);
    wsh_msg_unref(m);
    return s;
}

static void test_presence_request_is_the_protocol_command(void **state)
{
    (void)state;
    wsh_buf_t b = {0};
    assert_int_equal(wsh_sf_presence(&b, 12, "room.a/b:c@d-e_f"), 0);
    assert_int_equal(wsh_buf_append(&b, "", 1), 0);
    assert_string_equal((char *)b.data, "{\"type\":\"presence\",\"id\":\"w12\",\"channel\":\"room.a/b:c@d-e_f\"}");
    wsh_buf_dispose(&b);
}

static void test_hub_answer_is_read_with_users_escapes_and_count(void **state)
{
    (void)state;
    wsh_history_t *h = wsh_history_new(false);
    wsh_presence_t *p = wsh_presence_new(10, 100);
    wsh_history_chan_t *hc = wsh_history_get(h, "room.r", 6);
    /* Quote, backslash, a control character and UTF-8 in the user. */
    const char user[] = "a\"b\\c\x01 caf\xc3\xa9";
    assert_int_equal(wsh_presence_add(p, hc, 1, "c1", 2, user, sizeof user - 1, NULL), 0);
    assert_int_equal(wsh_presence_add(p, hc, 2, "anon-2", 6, NULL, 0, NULL), 0);
    char *s = hub_answer(hc, "room.r", 1 << 20);

    wsh_sf_t f;
    assert_int_equal(wsh_sf_parse(s, strlen(s), &f), 0);
    assert_int_equal(f.type, WSH_SF_PRESENCE);
    assert_int_equal(f.id_kind, 'w');
    assert_int_equal(f.id_num, 7);
    assert_string_equal(f.channel, "room.r");
    assert_int_equal(f.count, 2);
    assert_false(f.truncated);

    wshub_presence_entry_t *e;
    size_t cnt;
    assert_int_equal(wsh_sf_presence_entries(s, strlen(s), &e, &cnt), 0);
    assert_int_equal(cnt, 2);
    int a = strcmp(e[0].client, "c1") == 0 ? 0 : 1; /* no promised order */
    assert_string_equal(e[a].client, "c1");
    assert_string_equal(e[a].user, user);
    assert_string_equal(e[1 - a].client, "anon-2");
    assert_null(e[1 - a].user);
    free(e);
    free(s);
    wsh_presence_free(p);
    wsh_history_free(h);
}

static void test_truncated_answer_keeps_the_full_count(void **state)
{
    (void)state;
    wsh_history_t *h = wsh_history_new(false);
    wsh_presence_t *p = wsh_presence_new(100, 1000);
    wsh_history_chan_t *hc = wsh_history_get(h, "room.t", 6);
    for (uint64_t i = 1; i <= 20; i++) {
        char id[32];
        int n = snprintf(id, sizeof id, "client-%02u", (unsigned)i);
        assert_int_equal(wsh_presence_add(p, hc, i, id, (size_t)n, NULL, 0, NULL), 0);
    }
    char *s = hub_answer(hc, "room.t", 100); /* room for a few entries only */
    wsh_sf_t f;
    assert_int_equal(wsh_sf_parse(s, strlen(s), &f), 0);
    assert_int_equal(f.count, 20);
    assert_true(f.truncated);
    wshub_presence_entry_t *e;
    size_t cnt;
    assert_int_equal(wsh_sf_presence_entries(s, strlen(s), &e, &cnt), 0);
    assert_true(cnt > 0 && cnt < 20);
    for (size_t i = 0; i < cnt; i++)
        assert_true(strncmp(e[i].client, "client-", 7) == 0);
    free(e);
    free(s);
    wsh_presence_free(p);
    wsh_history_free(h);
}

static void test_empty_answer_has_no_entries_and_no_allocation(void **state)
{
    (void)state;
    const char *s = "{\"type\":\"presence\",\"id\":\"w1\",\"channel\":\"room.e\",\"count\":0,\"truncated\":false,"
                    "\"clients\":[]}";
    wshub_presence_entry_t *e = (wshub_presence_entry_t *)1;
    size_t cnt = 99;
    assert_int_equal(wsh_sf_presence_entries(s, strlen(s), &e, &cnt), 0);
    assert_null(e);
    assert_int_equal(cnt, 0);
}

static void test_hub_join_and_leave_frames_are_read(void **state)
{
    (void)state;
    wsh_history_t *h = wsh_history_new(false);
    wsh_presence_t *p = wsh_presence_new(10, 100);
    wsh_history_chan_t *hc = wsh_history_get(h, "room.j", 6);
    assert_int_equal(wsh_presence_add(p, hc, 1, "Xy3", 3, "alice\n", 6, NULL), 0);
    assert_int_equal(wsh_presence_add(p, hc, 2, "k9F", 3, NULL, 0, NULL), 0);

    char *s = event_text(wsh_presence_event("join", hc, wsh_presence_find(p, hc, 1)));
    wsh_sf_t f;
    assert_int_equal(wsh_sf_parse(s, strlen(s), &f), 0);
    assert_int_equal(f.type, WSH_SF_JOIN);
    assert_string_equal(f.channel, "room.j");
    wshub_presence_entry_t *e;
    size_t cnt;
    assert_int_equal(wsh_sf_presence_entries(s, strlen(s), &e, &cnt), 0);
    assert_int_equal(cnt, 1);
    assert_string_equal(e[0].client, "Xy3");
    assert_string_equal(e[0].user, "alice\n");
    free(e);
    free(s);

    wsh_msg_t *leave = NULL;
    assert_int_equal(wsh_presence_remove(p, hc, 2, &leave), 0);
    s = event_text(leave);
    assert_int_equal(wsh_sf_parse(s, strlen(s), &f), 0);
    assert_int_equal(f.type, WSH_SF_LEAVE);
    assert_int_equal(wsh_sf_presence_entries(s, strlen(s), &e, &cnt), 0);
    assert_int_equal(cnt, 1);
    assert_string_equal(e[0].client, "k9F");
    assert_null(e[0].user);
    free(e);
    free(s);
    wsh_presence_free(p);
    wsh_history_free(h);
}

static void test_malformed_presence_frames_are_refused(void **state)
{
    (void)state;
    const char *bad[] = {
        "[1]",
        "{",
        "{\"type\":\"presence\",\"clients\":{}}",                          /* not an array */
        "{\"type\":\"presence\",\"clients\":[1]}",                         /* element not an object */
        "{\"type\":\"presence\",\"clients\":[{\"user\":\"u\"}]}",          /* no client */
        "{\"type\":\"presence\",\"clients\":[{\"client\":5}]}",            /* client not a string */
        "{\"type\":\"presence\",\"clients\":[{\"client\":\"a\"},{\"client\":\"b\",\"user\":null}]}",
        "{\"type\":\"presence\",\"clients\":[{\"client\":\"a\\u0000b\"}]}", /* would cut the C string */
        "{\"type\":\"join\",\"channel\":\"room.x\"}",                      /* join without client */
        "{\"type\":\"leave\",\"channel\":\"room.x\",\"client\":\"a\",\"user\":[\"u\"]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wshub_presence_entry_t *e = (wshub_presence_entry_t *)1;
        size_t cnt = 99;
        assert_int_equal(wsh_sf_presence_entries(bad[i], strlen(bad[i]), &e, &cnt), WSHUB_EPROTO);
        assert_null(e);
        assert_int_equal(cnt, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presence_request_is_the_protocol_command),
        cmocka_unit_test(test_hub_answer_is_read_with_users_escapes_and_count),
        cmocka_unit_test(test_truncated_answer_keeps_the_full_count),
        cmocka_unit_test(test_empty_answer_has_no_entries_and_no_allocation),
        cmocka_unit_test(test_hub_join_and_leave_frames_are_read),
        cmocka_unit_test(test_malformed_presence_frames_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
