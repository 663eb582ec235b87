/* Unit tests for src/core/json.c: every RFC 8259 grammar rule accepted and
 * rejected by name, token recording (record_depth, cap, max_depth, `next`),
 * error offsets, and the accessors (obj_get, str_eq, str_decode, get_u64).
 * Not for the JSON commands built on it (test_hub_proto.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"

#define TOKS 128
#define DEEP 64

/* Parses a copy of s in a buffer of exactly strlen(s) bytes (no NUL after it),
 * so ASan reports any read past len. */
static int parse_n(const char *s, size_t len, wsh_json_tok_t *toks, size_t cap, unsigned rd, unsigned md,
                   size_t *err_pos)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, s, len);
    int rc = wsh_json_parse(copy, len, toks, cap, rd, md, err_pos);
    free(copy);
    return rc;
}

static int parse_all(const char *s, wsh_json_tok_t *toks)
{
    return parse_n(s, strlen(s), toks, TOKS, DEEP, DEEP, NULL);
}

static void assert_valid(const char *s)
{
    wsh_json_tok_t toks[TOKS];
    int rc = parse_all(s, toks);
    if (rc < 1)
        fail_msg("expected valid JSON: %s (got %d)", s, rc);
}

/* Rejected as malformed, with the error offset where the grammar broke. */
static void assert_invalid_at(const char *s, size_t want_pos)
{
    wsh_json_tok_t toks[TOKS];
    size_t pos = (size_t)-1;
    int rc = parse_n(s, strlen(s), toks, TOKS, DEEP, DEEP, &pos);
    if (rc != WSH_EBADREQ)
        fail_msg("expected WSH_EBADREQ for %s, got %d", s, rc);
    if (pos != want_pos)
        fail_msg("err_pos for %s: want %zu, got %zu", s, want_pos, pos);
}

static void assert_invalid(const char *s)
{
    wsh_json_tok_t toks[TOKS];
    size_t pos = (size_t)-1;
    int rc = parse_n(s, strlen(s), toks, TOKS, DEEP, DEEP, &pos);
    if (rc != WSH_EBADREQ)
        fail_msg("expected WSH_EBADREQ for %s, got %d", s, rc);
    assert_true(pos <= strlen(s));
}

/* ---- valid documents of each kind (RFC 8259 §2-§7) ---- */

static void test_json_accepts_each_scalar_as_whole_document(void **state)
{
    (void)state;
    /* RFC 8259 §2: a JSON text is any serialized value, not only objects/arrays. */
    const char *docs[] = {"0", "-0", "1", "123", "\"\"", "\"s\"", "true", "false", "null"};
    static const uint8_t types[] = {WSH_JSON_NUMBER, WSH_JSON_NUMBER, WSH_JSON_NUMBER, WSH_JSON_NUMBER,
                                    WSH_JSON_STRING, WSH_JSON_STRING, WSH_JSON_TRUE,   WSH_JSON_FALSE,
                                    WSH_JSON_NULL};
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        wsh_json_tok_t toks[TOKS];
        assert_int_equal(parse_all(docs[i], toks), 1);
        assert_int_equal(toks[0].type, types[i]);
        assert_int_equal(toks[0].start, 0);
        assert_int_equal(toks[0].end, strlen(docs[i]));
        assert_int_equal(toks[0].next, 1);
    }
}

static void test_json_accepts_empty_object_and_array_with_inner_whitespace(void **state)
{
    (void)state;
    wsh_json_tok_t toks[TOKS];
    assert_int_equal(parse_all("{}", toks), 1);
    assert_int_equal(toks[0].type, WSH_JSON_OBJECT);
    assert_int_equal(toks[0].size, 0);
    assert_int_equal(parse_all("[ \t\r\n]", toks), 1);
    assert_int_equal(toks[0].type, WSH_JSON_ARRAY);
    assert_int_equal(toks[0].size, 0);
    assert_int_equal(toks[0].end, 6);
    assert_int_equal(parse_all("{ \n }", toks), 1);
}

static void test_json_accepts_nested_document_and_records_spans(void **state)
{
    (void)state;
    const char *s = "{\"a\":[1,{\"b\":null}],\"c\":{\"d\":[true,false]},\"e\":\"x\"}";
    wsh_json_tok_t toks[TOKS];
    int n = parse_all(s, toks);
    /* obj, "a", [..], 1, {..}, "b", null, "c", {..}, "d", [..], true, false, "e", "x" */
    assert_int_equal(n, 15);
    assert_int_equal(toks[0].type, WSH_JSON_OBJECT);
    assert_int_equal(toks[0].size, 3);
    assert_int_equal(toks[0].end, strlen(s));
    assert_int_equal(toks[0].next, 15);
    assert_int_equal(toks[1].type, WSH_JSON_STRING);
    assert_int_equal(toks[1].start, 1);
    assert_int_equal(toks[1].end, 4); /* quotes included */
    assert_int_equal(toks[2].type, WSH_JSON_ARRAY);
    assert_int_equal(toks[2].size, 2);
    assert_int_equal(toks[2].next, 7);
    assert_memory_equal(s + toks[2].start, "[1,{\"b\":null}]", toks[2].end - toks[2].start);
    assert_int_equal(toks[4].type, WSH_JSON_OBJECT);
    assert_int_equal(toks[4].size, 1);
    assert_int_equal(toks[6].type, WSH_JSON_NULL);
    assert_int_equal(toks[10].type, WSH_JSON_ARRAY);
    assert_int_equal(toks[10].size, 2);
    assert_int_equal(toks[11].type, WSH_JSON_TRUE);
    assert_int_equal(toks[12].type, WSH_JSON_FALSE);
    assert_int_equal(toks[14].type, WSH_JSON_STRING);
    assert_memory_equal(s + toks[14].start, "\"x\"", 3);
}

static void test_json_accepts_every_escape(void **state)
{
    (void)state;
    wsh_json_tok_t toks[TOKS];
    /* RFC 8259 §7: the two-character escapes and \uXXXX in either case. */
    assert_int_equal(parse_all("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\u00E9 \\uABCD\"", toks), 1);
    assert_true(toks[0].has_escape);
    assert_int_equal(parse_all("\"plain\"", toks), 1);
    assert_false(toks[0].has_escape);
}

static void test_json_accepts_surrogate_pair(void **state)
{
    (void)state;
    wsh_json_tok_t toks[TOKS];
    assert_int_equal(parse_all("[\"\\ud83d\\ude00\"]", toks), 2);
    assert_int_equal(toks[1].type, WSH_JSON_STRING);
    assert_true(toks[1].has_escape);
    assert_valid("\"\\uDBFF\\uDFFF\"");
    assert_valid("\"\\uD800\\uDC00\"");
}

static void test_json_accepts_number_forms(void **state)
{
    (void)state;
    /* RFC 8259 §6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
    const char *ok[] = {"-0", "1e10", "1.5E-3", "0.0", "-0.0e0", "1E+2", "10", "-123.456e789",
                        "123456789012345678901234567890", "0e0"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        wsh_json_tok_t toks[TOKS];
        assert_int_equal(parse_all(ok[i], toks), 1);
        assert_int_equal(toks[0].type, WSH_JSON_NUMBER);
        assert_int_equal(toks[0].end, strlen(ok[i]));
    }
    assert_valid("[-0,1e10,1.5E-3]");
}

static void test_json_accepts_utf8_and_del_inside_strings(void **state)
{
    (void)state;
    /* RFC 8259 §7: only U+0000..U+001F must be escaped; DEL and non-ASCII pass. */
    assert_valid("\"caf\xc3\xa9 \xf0\x9f\x98\x80 \x7f\"");
}

static void test_json_accepts_leading_and_trailing_whitespace(void **state)
{
    (void)state;
    wsh_json_tok_t toks[TOKS];
    /* RFC 8259 §2: ws = space, tab, LF, CR around any value. */
    assert_int_equal(parse_all(" \t\r\n{\"a\":1}", toks), 3);
    assert_int_equal(toks[0].start, 4);
    assert_int_equal(parse_all("{\"a\":1} \t\r\n", toks), 3);
    assert_int_equal(toks[0].end, 7);
    assert_int_equal(parse_all(" { \"a\" : 1 , \"b\" : [ 2 , 3 ] } ", toks), 7);
}

/* ---- rejections ---- */

static void test_json_rejects_empty_and_whitespace_only_input(void **state)
{
    (void)state;
    assert_invalid_at("", 0);
    assert_invalid_at(" \n\t", 3);
}

static void test_json_rejects_missing_comma_between_elements(void **state)
{
    (void)state;
    assert_invalid_at("[1 2]", 3);
    assert_invalid_at("{\"a\":1 \"b\":2}", 7);
}

static void test_json_rejects_leading_zero(void **state)
{
    (void)state;
    assert_invalid_at("[01]", 2);
    assert_invalid("-01");
    assert_invalid("00");
}

static void test_json_rejects_truncated_literal(void **state)
{
    (void)state;
    assert_invalid_at("{\"a\":tru}", 5);
    assert_invalid("tru");
    assert_invalid("nul");
    assert_invalid("fals");
    assert_invalid("True");
    assert_invalid("NULL");
    assert_invalid("truex");
}

static void test_json_rejects_lone_high_surrogate(void **state)
{
    (void)state;
    /* RFC 8259 §8.2: a lone surrogate cannot be turned into UTF-8. */
    assert_invalid_at("[\"\\ud800\"]", 8);
    assert_invalid("[\"\\ud800x\"]");
    assert_invalid("[\"\\ud800\\n\"]");
    assert_invalid("[\"\\ud800\\ud800\"]"); /* high followed by high */
    assert_invalid("[\"\\ud800\\u0041\"]");
    assert_invalid("\"\\ud800\\u");
    assert_invalid("\"\\ud800\\");
}

static void test_json_rejects_lone_low_surrogate(void **state)
{
    (void)state;
    assert_invalid_at("[\"\\udc00\"]", 2);
    assert_invalid("[\"\\udfff\\ud800\"]"); /* pair in the wrong order */
}

static void test_json_rejects_trailing_value(void **state)
{
    (void)state;
    assert_invalid_at("{} {}", 3);
    assert_invalid_at("1 2", 2);
    assert_invalid_at("[]]", 2);
    assert_invalid_at("\"a\"\"b\"", 3);
}

static void test_json_rejects_empty_array_element(void **state)
{
    (void)state;
    assert_invalid_at("[1,,2]", 3);
    assert_invalid_at("[,1]", 1);
    assert_invalid_at("[,]", 1);
}

static void test_json_rejects_sign_without_digits(void **state)
{
    (void)state;
    assert_invalid_at("{\"a\":-}", 6);
    assert_invalid("-");
    assert_invalid("+1");
    assert_invalid("--1");
}

static void test_json_rejects_exponent_without_digits(void **state)
{
    (void)state;
    assert_invalid_at("[1e]", 3);
    assert_invalid("[1e+]");
    assert_invalid("[1E-]");
    assert_invalid("1e");
}

static void test_json_rejects_fraction_without_digits(void **state)
{
    (void)state;
    assert_invalid_at("[1.]", 3);
    assert_invalid("[.5]");
    assert_invalid("1.e5");
    assert_invalid("1.");
}

static void test_json_rejects_non_json_numbers(void **state)
{
    (void)state;
    assert_invalid("0x10");
    assert_invalid("Infinity");
    assert_invalid("-Infinity");
    assert_invalid("NaN");
    assert_invalid("1_000");
}

static void test_json_rejects_trailing_comma_in_object(void **state)
{
    (void)state;
    assert_invalid_at("{\"a\":1,}", 7);
    assert_invalid_at("{,}", 1);
}

static void test_json_rejects_trailing_comma_in_array(void **state)
{
    (void)state;
    assert_invalid_at("[1,]", 3);
}

static void test_json_rejects_missing_colon(void **state)
{
    (void)state;
    assert_invalid_at("{\"a\" 1}", 5);
    assert_invalid("{\"a\"}");
    assert_invalid("{\"a\":}");
    assert_invalid("{\"a\"::1}");
}

static void test_json_rejects_non_string_key(void **state)
{
    (void)state;
    assert_invalid_at("{1:2}", 1);
    assert_invalid("{a:1}");
    assert_invalid("{'a':1}");
    assert_invalid("{null:1}");
}

static void test_json_rejects_unescaped_control_char_in_string(void **state)
{
    (void)state;
    assert_invalid_at("[\"a\nb\"]", 3);
    assert_invalid("\"\t\"");
    assert_invalid("\"\x1f\"");
    /* An embedded NUL byte inside the given length is a control char too. */
    wsh_json_tok_t toks[TOKS];
    size_t pos = 0;
    assert_int_equal(parse_n("\"a\0b\"", 5, toks, TOKS, 1, 8, &pos), WSH_EBADREQ);
    assert_int_equal(pos, 2);
}

static void test_json_rejects_unknown_escape(void **state)
{
    (void)state;
    assert_invalid_at("[\"\\x\"]", 2);
    assert_invalid("\"\\a\"");
    assert_invalid("\"\\'\"");
    assert_invalid("\"\\U0041\"");
    assert_invalid("\"\\0\"");
}

static void test_json_rejects_bad_unicode_escape(void **state)
{
    (void)state;
    assert_invalid_at("[\"\\u12G4\"]", 2);
    assert_invalid("\"\\u12\"");
    assert_invalid("\"\\u\"");
    assert_invalid("\"\\u00");
}

static void test_json_rejects_unterminated_containers_and_strings(void **state)
{
    (void)state;
    assert_invalid("[");
    assert_invalid("{");
    assert_invalid("[1");
    assert_invalid("[1,");
    assert_invalid("{\"a\"");
    assert_invalid("{\"a\":1");
    assert_invalid("\"abc");
    assert_invalid("\"abc\\");
    assert_invalid("]");
    assert_invalid("}");
    assert_invalid("[1}");
    assert_invalid("{\"a\":1]");
}

static void test_json_rejects_whitespace_outside_rfc_set(void **state)
{
    (void)state;
    /* RFC 8259 §2 lists exactly four whitespace bytes. */
    assert_invalid("\f1");
    assert_invalid("1\v");
    assert_invalid("[1,\xc2\xa0 2]");
}

/* Every strict prefix of a valid container document is invalid, and parsing
 * it reads nothing past its length (parse_n copies into an exact buffer). */
static void test_json_every_truncation_of_a_document_is_rejected_in_bounds(void **state)
{
    (void)state;
    const char *s = "{\"k\\u00e9\":[1.5e-3,-0,\"\\ud83d\\ude00\",true,false,null,{}],\"z\":{\"y\":[]}}";
    size_t len = strlen(s);
    wsh_json_tok_t toks[TOKS];
    for (size_t n = 0; n < len; n++) {
        size_t pos = (size_t)-1;
        int rc = parse_n(s, n, toks, TOKS, DEEP, DEEP, &pos);
        if (rc != WSH_EBADREQ)
            fail_msg("prefix of %zu bytes: got %d", n, rc);
        assert_true(pos <= n);
    }
    assert_int_equal(parse_n(s, len, toks, TOKS, DEEP, DEEP, NULL), 14);
}

/* ---- limits: depth, token cap ---- */

static char *nested_arrays(unsigned depth)
{
    char *s = malloc(2 * (size_t)depth + 1);
    assert_non_null(s);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = '\0';
    return s;
}

static void test_json_nesting_up_to_max_depth_is_accepted(void **state)
{
    (void)state;
    wsh_json_tok_t toks[TOKS];
    char *s = nested_arrays(8);
    assert_int_equal(parse_n(s, strlen(s), toks, TOKS, 0, 8, NULL), 1);
    free(s);
    /* Scalars do not count as nesting: max_depth 0 still takes a bare value. */
    assert_int_equal(parse_n("42", 2, toks, TOKS, 0, 0, NULL), 1);
    assert_int_equal(parse_n("[1]", 3, toks, TOKS, 0, 1, NULL), 1);
}

static void test_json_nesting_beyond_max_depth_is_too_big(void **state)
{
    (void)state;
    wsh_json_tok_t toks[TOKS];
    size_t pos = 0;
    char *s = nested_arrays(9);
    assert_int_equal(parse_n(s, strlen(s), toks, TOKS, 0, 8, &pos), WSH_ETOOBIG);
    assert_int_equal(pos, 8); /* the ninth '[' */
    free(s);
    assert_int_equal(parse_n("[]", 2, toks, TOKS, 0, 0, NULL), WSH_ETOOBIG);
    assert_int_equal(parse_n("{\"a\":{}}", 8, toks, TOKS, 0, 1, NULL), WSH_ETOOBIG);
}

static void test_json_very_deep_input_is_refused_without_recursing_through_it(void **state)
{
    (void)state;
    wsh_json_tok_t toks[TOKS];
    char *s = nested_arrays(200000);
    assert_int_equal(parse_n(s, strlen(s), toks, TOKS, 1, 32, NULL), WSH_ETOOBIG);
    free(s);
}

static void test_json_token_cap_exceeded_is_too_big(void **state)
{
    (void)state;
    wsh_json_tok_t toks[4];
    assert_int_equal(parse_n("[1,2,3]", 7, toks, 3, 1, 8, NULL), WSH_ETOOBIG);
    assert_int_equal(parse_n("[1,2,3]", 7, toks, 4, 1, 8, NULL), 4);
    /* Keys count as tokens too. */
    assert_int_equal(parse_n("{\"a\":1,\"b\":2}", 13, toks, 4, 1, 8, NULL), WSH_ETOOBIG);
    assert_int_equal(parse_n("1", 1, toks, 0, 1, 8, NULL), WSH_ETOOBIG);
}

static void test_json_token_cap_counts_only_recorded_depths(void **state)
{
    (void)state;
    wsh_json_tok_t toks[2];
    /* A thousand elements one level below the recorded depth need no tokens. */
    char s[4096];
    size_t n = 0;
    n += (size_t)snprintf(s + n, sizeof s - n, "{\"data\":[");
    for (int i = 0; i < 1000; i++)
        n += (size_t)snprintf(s + n, sizeof s - n, "%s%d", i ? "," : "", i);
    n += (size_t)snprintf(s + n, sizeof s - n, "]}");
    assert_int_equal(parse_n(s, n, toks, 1, 0, 8, NULL), 1);
    wsh_json_tok_t more[4];
    assert_int_equal(parse_n(s, n, more, 3, 1, 8, NULL), 3);
    assert_int_equal(more[2].type, WSH_JSON_ARRAY);
    assert_int_equal(more[2].size, 1000);
}

static void test_json_invalid_json_beyond_recorded_depth_is_still_rejected(void **state)
{
    (void)state;
    wsh_json_tok_t toks[TOKS];
    size_t pos = 0;
    const char *s = "{\"data\":{\"x\":[1,2,]}}";
    assert_int_equal(parse_n(s, strlen(s), toks, TOKS, 0, 8, &pos), WSH_EBADREQ);
    assert_int_equal(pos, 18);
}

/* ---- record_depth semantics ---- */

static void test_json_record_depth_zero_records_only_the_root(void **state)
{
    (void)state;
    const char *s = "{\"a\":[1,2],\"b\":{\"c\":3}}";
    wsh_json_tok_t toks[TOKS];
    assert_int_equal(parse_n(s, strlen(s), toks, TOKS, 0, 8, NULL), 1);
    assert_int_equal(toks[0].type, WSH_JSON_OBJECT);
    assert_int_equal(toks[0].size, 2);
    assert_int_equal(toks[0].start, 0);
    assert_int_equal(toks[0].end, strlen(s));
    assert_int_equal(toks[0].next, 1);
}

static void test_json_record_depth_one_records_children_and_next_skips_subtrees(void **state)
{
    (void)state;
    const char *s = "{\"a\":[1,[2,3]],\"b\":{\"c\":{\"d\":4}},\"e\":5}";
    wsh_json_tok_t toks[TOKS];
    assert_int_equal(parse_n(s, strlen(s), toks, TOKS, 1, 8, NULL), 7);
    /* root, "a", [..], "b", {..}, "e", 5 */
    assert_int_equal(toks[2].type, WSH_JSON_ARRAY);
    assert_int_equal(toks[2].size, 2); /* counted even though not recorded */
    assert_int_equal(toks[2].next, 3);
    assert_memory_equal(s + toks[2].start, "[1,[2,3]]", toks[2].end - toks[2].start);
    assert_int_equal(toks[4].type, WSH_JSON_OBJECT);
    assert_int_equal(toks[4].size, 1);
    assert_memory_equal(s + toks[4].start, "{\"c\":{\"d\":4}}", toks[4].end - toks[4].start);
    assert_int_equal(toks[6].type, WSH_JSON_NUMBER);
    assert_int_equal(toks[0].next, 7);
}

static void test_json_next_walks_siblings_across_recorded_subtrees(void **state)
{
    (void)state;
    const char *s = "[[1,[2]],{\"k\":[3,4]},5,\"s\"]";
    wsh_json_tok_t toks[TOKS];
    int n = parse_all(s, toks);
    assert_int_equal(n, 12);
    assert_int_equal(toks[0].size, 4);
    /* Walk the root's children by `next`. */
    static const uint8_t want[] = {WSH_JSON_ARRAY, WSH_JSON_OBJECT, WSH_JSON_NUMBER, WSH_JSON_STRING};
    uint32_t i = 1;
    for (uint32_t k = 0; k < toks[0].size; k++) {
        assert_true(i < (uint32_t)n);
        assert_int_equal(toks[i].type, want[k]);
        i = toks[i].next;
    }
    assert_int_equal(i, (uint32_t)n);
}

/* ---- accessors ---- */

static void test_json_obj_get_finds_plain_and_escaped_keys(void **state)
{
    (void)state;
    const char *s = "{\"t\\u0079pe\":\"ping\",\"a\\\"b\":1,\"\\u00e9\":2,\"id\":3}";
    wsh_json_tok_t toks[TOKS];
    assert_int_equal(parse_n(s, strlen(s), toks, TOKS, 1, 8, NULL), 9);
    int v = wsh_json_obj_get(s, toks, 0, "type");
    assert_int_equal(v, 2);
    assert_true(wsh_json_str_eq(s, &toks[v], "ping"));
    assert_int_equal(wsh_json_obj_get(s, toks, 0, "a\"b"), 4);
    assert_int_equal(wsh_json_obj_get(s, toks, 0, "\xc3\xa9"), 6);
    assert_int_equal(wsh_json_obj_get(s, toks, 0, "id"), 8);
    assert_int_equal(wsh_json_obj_get(s, toks, 0, "missing"), -1);
    assert_int_equal(wsh_json_obj_get(s, toks, 0, "typ"), -1);
    assert_int_equal(wsh_json_obj_get(s, toks, 0, "types"), -1);
}

static void test_json_obj_get_skips_nested_objects_with_the_same_key(void **state)
{
    (void)state;
    const char *s = "{\"x\":{\"type\":1,\"y\":[{\"type\":0}]},\"type\":2}";
    wsh_json_tok_t toks[TOKS];
    /* Whole tree recorded: obj_get must jump over x's subtree by `next`. */
    assert_true(parse_all(s, toks) > 5);
    int v = wsh_json_obj_get(s, toks, 0, "type");
    assert_true(v > 0);
    uint64_t u = 99;
    assert_int_equal(wsh_json_get_u64(s, &toks[v], &u), 0);
    assert_int_equal(u, 2);
    /* And the nested object answers for itself. */
    int x = wsh_json_obj_get(s, toks, 0, "x");
    assert_int_equal(x, 2);
    int inner = wsh_json_obj_get(s, toks, x, "type");
    assert_int_equal(wsh_json_get_u64(s, &toks[inner], &u), 0);
    assert_int_equal(u, 1);
    /* Only the first level recorded: the same answer. */
    assert_int_equal(parse_n(s, strlen(s), toks, TOKS, 1, 8, NULL), 5);
    v = wsh_json_obj_get(s, toks, 0, "type");
    assert_int_equal(v, 4);
}

static void test_json_obj_get_on_duplicate_keys_returns_the_first(void **state)
{
    (void)state;
    const char *s = "{\"a\":1,\"a\":2}";
    wsh_json_tok_t toks[TOKS];
    assert_int_equal(parse_all(s, toks), 5);
    assert_int_equal(wsh_json_obj_get(s, toks, 0, "a"), 2);
}

static void test_json_obj_get_on_non_object_returns_minus_one(void **state)
{
    (void)state;
    const char *s = "[\"a\",1]";
    wsh_json_tok_t toks[TOKS];
    assert_int_equal(parse_all(s, toks), 3);
    assert_int_equal(wsh_json_obj_get(s, toks, 0, "a"), -1);
    assert_int_equal(wsh_json_obj_get(s, toks, 1, "a"), -1);
}

static void test_json_obj_get_on_object_with_unrecorded_children_returns_minus_one(void **state)
{
    (void)state;
    /* The object's members lie beyond record_depth: there are no key tokens
     * to compare, so the lookup must not walk into unrelated (or unwritten)
     * token slots. Poison the slots to catch a walk. */
    const char *s = "{\"a\":1,\"b\":2}";
    wsh_json_tok_t toks[8];
    memset(toks, 0x5a, sizeof toks);
    assert_int_equal(parse_n(s, strlen(s), toks, 8, 0, 8, NULL), 1);
    assert_int_equal(toks[0].size, 2);
    assert_int_equal(wsh_json_obj_get(s, toks, 0, "a"), -1);
    const char *t = "{\"o\":{\"a\":1},\"a\":\"x\"}";
    memset(toks, 0x5a, sizeof toks);
    assert_int_equal(parse_n(t, strlen(t), toks, 8, 1, 8, NULL), 5);
    assert_int_equal(wsh_json_obj_get(t, toks, 2, "a"), -1);
    assert_int_equal(wsh_json_obj_get(t, toks, 0, "a"), 4);
}

static void test_json_str_eq_compares_after_unescaping(void **state)
{
    (void)state;
    const char *s = "[\"ab\",\"a\\u0062\",\"a\\nb\",1]";
    wsh_json_tok_t toks[TOKS];
    assert_int_equal(parse_all(s, toks), 5);
    assert_true(wsh_json_str_eq(s, &toks[1], "ab"));
    assert_false(wsh_json_str_eq(s, &toks[1], "a"));
    assert_false(wsh_json_str_eq(s, &toks[1], "abc"));
    assert_true(wsh_json_str_eq(s, &toks[2], "ab"));
    assert_false(wsh_json_str_eq(s, &toks[2], "a"));
    assert_false(wsh_json_str_eq(s, &toks[2], "abc"));
    assert_true(wsh_json_str_eq(s, &toks[3], "a\nb"));
    assert_false(wsh_json_str_eq(s, &toks[4], "1")); /* not a string */
}

static void test_json_str_eq_handles_long_escaped_strings(void **state)
{
    (void)state;
    /* 300 characters, the first escaped: equality must not depend on a
     * fixed-size decode buffer. */
    char lit[301], doc[320];
    memset(lit, 'x', 300);
    lit[300] = '\0';
    int n = snprintf(doc, sizeof doc, "\"\\u0078%s\"", lit + 1);
    assert_true(n > 0 && (size_t)n < sizeof doc);
    wsh_json_tok_t toks[TOKS];
    assert_int_equal(parse_all(doc, toks), 1);
    assert_true(toks[0].has_escape);
    assert_true(wsh_json_str_eq(doc, &toks[0], lit));
    lit[299] = 'y';
    assert_false(wsh_json_str_eq(doc, &toks[0], lit));
    lit[299] = '\0';
    assert_false(wsh_json_str_eq(doc, &toks[0], lit));
}

static void test_json_str_eq_embedded_nul_does_not_match_prefix(void **state)
{
    (void)state;
    const char *s = "\"ab\\u0000c\"";
    wsh_json_tok_t toks[TOKS];
    assert_int_equal(parse_all(s, toks), 1);
    assert_false(wsh_json_str_eq(s, &toks[0], "ab"));
    assert_false(wsh_json_str_eq(s, &toks[0], "abc"));
}

static void test_json_str_decode_produces_utf8(void **state)
{
    (void)state;
    const char *s = "\"\\\"\\\\\\/\\b\\f\\n\\r\\t|\\u0041\\u00e9\\u20AC\\ud83d\\ude00|\xc3\xa9\"";
    const char want[] = "\"\\/\b\f\n\r\t|A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\xc3\xa9";
    wsh_json_tok_t toks[TOKS];
    assert_int_equal(parse_all(s, toks), 1);
    char out[64];
    memset(out, 0x7e, sizeof out);
    long n = wsh_json_str_decode(s, &toks[0], out, sizeof out);
    assert_int_equal(n, (long)sizeof want - 1);
    assert_memory_equal(out, want, sizeof want); /* includes the NUL */
}

static void test_json_str_decode_keeps_escaped_nul_in_length(void **state)
{
    (void)state;
    const char *s = "\"a\\u0000b\"";
    wsh_json_tok_t toks[TOKS];
    assert_int_equal(parse_all(s, toks), 1);
    char out[8];
    assert_int_equal(wsh_json_str_decode(s, &toks[0], out, sizeof out), 3);
    assert_memory_equal(out, "a\0b\0", 4);
}

static void test_json_str_decode_reports_when_output_does_not_fit(void **state)
{
    (void)state;
    const char *s = "\"\\u00e9xy\""; /* decodes to 4 bytes */
    wsh_json_tok_t toks[TOKS];
    assert_int_equal(parse_all(s, toks), 1);
    char out[8];
    memset(out, 0x7e, sizeof out);
    assert_int_equal(wsh_json_str_decode(s, &toks[0], out, 5), 4);
    assert_int_equal(out[4], '\0');
    memset(out, 0x7e, sizeof out);
    assert_int_equal(wsh_json_str_decode(s, &toks[0], out, 4), -1);
    assert_int_equal(out[4], 0x7e); /* nothing past cap */
    assert_int_equal(out[5], 0x7e);
    assert_int_equal(wsh_json_str_decode(s, &toks[0], out, 1), -1);
}

static void test_json_str_decode_empty_string_needs_room_for_the_nul(void **state)
{
    (void)state;
    const char *s = "\"\"";
    wsh_json_tok_t toks[TOKS];
    assert_int_equal(parse_all(s, toks), 1);
    char out[2] = {'x', 'x'};
    assert_int_equal(wsh_json_str_decode(s, &toks[0], out, 1), 0);
    assert_int_equal(out[0], '\0');
    /* cap 0 cannot hold the terminating NUL: it does not fit. */
    assert_int_equal(wsh_json_str_decode(s, &toks[0], out, 0), -1);
}

static void test_json_get_u64_reads_the_full_range(void **state)
{
    (void)state;
    const char *s = "[0,7,18446744073709551615,18446744073709551616,99999999999999999999]";
    wsh_json_tok_t toks[TOKS];
    assert_int_equal(parse_all(s, toks), 6);
    uint64_t v = 1;
    assert_int_equal(wsh_json_get_u64(s, &toks[1], &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(wsh_json_get_u64(s, &toks[2], &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(wsh_json_get_u64(s, &toks[3], &v), 0);
    assert_true(v == UINT64_MAX);
    v = 42;
    assert_int_equal(wsh_json_get_u64(s, &toks[4], &v), -1);
    assert_int_equal(v, 42); /* untouched on failure */
    assert_int_equal(wsh_json_get_u64(s, &toks[5], &v), -1);
}

static void test_json_get_u64_rejects_sign_fraction_exponent_and_non_numbers(void **state)
{
    (void)state;
    const char *s = "[-1,-0,1.0,1e3,1E0,\"5\",true,null]";
    wsh_json_tok_t toks[TOKS];
    assert_int_equal(parse_all(s, toks), 9);
    for (int i = 1; i <= 8; i++) {
        uint64_t v = 42;
        if (wsh_json_get_u64(s, &toks[i], &v) != -1)
            fail_msg("token %d accepted as u64", i);
        assert_int_equal(v, 42);
    }
}

static void test_json_input_longer_than_uint32_is_too_big(void **state)
{
    (void)state;
    if (sizeof(size_t) <= 4)
        skip();
    wsh_json_tok_t toks[1];
    /* The length check comes first: nothing is read. */
    assert_int_equal(wsh_json_parse("1", (size_t)UINT32_MAX + 1, toks, 1, 0, 8, NULL), WSH_ETOOBIG);
}

/* ---- the wide scans: strings 16 bytes and digit runs 8 bytes at a time ---- */

/* A string of n plain bytes with `stop` at offset k (or no stop when k == n),
 * so every position relative to the 16-byte blocks and the tail is tried. */
static void test_json_string_scan_finds_each_stop_byte_at_every_offset(void **state)
{
    (void)state;
    static const char stops[] = {'\x01', '\x1f', '\n', '\0'};
    for (size_t n = 0; n <= 40; n++) {
        for (size_t k = 0; k < n; k++) {
            for (size_t j = 0; j < sizeof stops; j++) {
                char doc[64];
                doc[0] = '"';
                memset(doc + 1, 'a', n);
                doc[1 + k] = stops[j];
                doc[1 + n] = '"';
                /* A control character is where the grammar breaks. */
                wsh_json_tok_t toks[4];
                size_t pos = (size_t)-1;
                assert_int_equal(parse_n(doc, n + 2, toks, 4, 0, 8, &pos), WSH_EBADREQ);
                assert_int_equal(pos, 1 + k);
            }
            /* An escaped quote there is part of the string. */
            char doc[64];
            doc[0] = '"';
            memset(doc + 1, 'a', n);
            doc[1 + k] = '\\';
            doc[1 + n] = '"';
            doc[2 + n] = '"';
            wsh_json_tok_t toks[4];
            if (k + 1 < n) {
                doc[2 + k] = 'n';
                assert_int_equal(parse_n(doc, n + 2, toks, 4, 0, 8, NULL), 1);
                assert_true(toks[0].has_escape);
                assert_int_equal(toks[0].end, n + 2);
            }
        }
        /* Plain bytes only, including DEL and UTF-8 lead bytes. */
        char doc[64];
        doc[0] = '"';
        for (size_t i = 0; i < n; i++)
            doc[1 + i] = (char)(i % 3 == 0 ? 0x7f : i % 3 == 1 ? 0xc3 : 'z');
        doc[1 + n] = '"';
        wsh_json_tok_t toks[4];
        assert_int_equal(parse_n(doc, n + 2, toks, 4, 0, 8, NULL), 1);
        assert_false(toks[0].has_escape);
        assert_int_equal(toks[0].end, n + 2);
        /* Unterminated: the error is at the end, wherever the scan stopped. */
        size_t pos = (size_t)-1;
        assert_int_equal(parse_n(doc, n + 1, toks, 4, 0, 8, &pos), WSH_EBADREQ);
        assert_int_equal(pos, n + 1);
    }
}

static void test_json_digit_runs_of_every_length_end_where_the_digits_do(void **state)
{
    (void)state;
    for (size_t n = 1; n <= 30; n++) {
        char doc[64];
        memset(doc, '7', n);
        wsh_json_tok_t toks[4];
        assert_int_equal(parse_n(doc, n, toks, 4, 0, 8, NULL), 1);
        assert_int_equal(toks[0].end, n);
        /* A non-digit inside the run ends the number there. */
        for (size_t k = 1; k < n; k++) {
            char bad[64];
            memcpy(bad, doc, n);
            bad[k] = ':'; /* '0' + 10: the byte after '9' */
            size_t pos = (size_t)-1;
            assert_int_equal(parse_n(bad, n, toks, 4, 0, 8, &pos), WSH_EBADREQ);
            assert_int_equal(pos, k);
            bad[k] = '/'; /* the byte before '0' */
            assert_int_equal(parse_n(bad, n, toks, 4, 0, 8, &pos), WSH_EBADREQ);
            assert_int_equal(pos, k);
        }
        /* Fraction digits too. */
        char frac[80] = "0.";
        memset(frac + 2, '9', n);
        assert_int_equal(parse_n(frac, n + 2, toks, 4, 0, 8, NULL), 1);
        assert_int_equal(toks[0].end, n + 2);
    }
}

static void test_json_unrecorded_values_get_the_same_errors_as_recorded_ones(void **state)
{
    (void)state;
    /* The same bad document nested at a recorded and an unrecorded depth. */
    static const struct {
        const char *doc;
        size_t pos;
    } cases[] = {
        {"[[1,]]", 4}, {"[{\"a\" 1}]", 6}, {"[{\"a\":tru}]", 6}, {"[[01]]", 3},
        {"[\"\\x\"]", 2}, {"[{1:2}]", 2},  {"[[1 2]]", 4},      {"[{\"a\":1,}]", 8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (unsigned rd = 0; rd <= 3; rd++) {
            wsh_json_tok_t toks[16];
            size_t pos = (size_t)-1;
            int rc = parse_n(cases[i].doc, strlen(cases[i].doc), toks, 16, rd, 8, &pos);
            if (rc != WSH_EBADREQ || pos != cases[i].pos)
                fail_msg("%s with record depth %u: rc %d at %zu", cases[i].doc, rd, rc, pos);
        }
    }
    /* The depth limit holds below the recorded depths as well. */
    wsh_json_tok_t toks[16];
    size_t pos = (size_t)-1;
    assert_int_equal(parse_n("[[[[1]]]]", 9, toks, 16, 1, 3, &pos), WSH_ETOOBIG);
    assert_int_equal(pos, 3);
}

static void test_json_str_eq_n_takes_the_length_and_unescapes(void **state)
{
    (void)state;
    const char *s = "[\"publish\",\"pub\\u006cish\",\"a\\u0000b\"]";
    wsh_json_tok_t toks[8];
    assert_int_equal(parse_all(s, toks), 4);
    assert_true(wsh_json_str_eq_n(s, &toks[1], "publish", 7));
    assert_false(wsh_json_str_eq_n(s, &toks[1], "publish", 6));
    assert_true(wsh_json_str_eq_n(s, &toks[2], "publish", 7));
    assert_true(wsh_json_str_eq_n(s, &toks[3], "a\0b", 3)); /* a NUL inside is compared too */
    assert_false(wsh_json_str_eq_n(s, &toks[0], "publish", 7)); /* not a string */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_accepts_each_scalar_as_whole_document),
        cmocka_unit_test(test_json_string_scan_finds_each_stop_byte_at_every_offset),
        cmocka_unit_test(test_json_digit_runs_of_every_length_end_where_the_digits_do),
        cmocka_unit_test(test_json_unrecorded_values_get_the_same_errors_as_recorded_ones),
        cmocka_unit_test(test_json_str_eq_n_takes_the_length_and_unescapes),
        cmocka_unit_test(test_json_accepts_empty_object_and_array_with_inner_whitespace),
        cmocka_unit_test(test_json_accepts_nested_document_and_records_spans),
        cmocka_unit_test(test_json_accepts_every_escape),
        cmocka_unit_test(test_json_accepts_surrogate_pair),
        cmocka_unit_test(test_json_accepts_number_forms),
        cmocka_unit_test(test_json_accepts_utf8_and_del_inside_strings),
        cmocka_unit_test(test_json_accepts_leading_and_trailing_whitespace),
        cmocka_unit_test(test_json_rejects_empty_and_whitespace_only_input),
        cmocka_unit_test(test_json_rejects_missing_comma_between_elements),
        cmocka_unit_test(test_json_rejects_leading_zero),
        cmocka_unit_test(test_json_rejects_truncated_literal),
        cmocka_unit_test(test_json_rejects_lone_high_surrogate),
        cmocka_unit_test(test_json_rejects_lone_low_surrogate),
        cmocka_unit_test(test_json_rejects_trailing_value),
        cmocka_unit_test(test_json_rejects_empty_array_element),
        cmocka_unit_test(test_json_rejects_sign_without_digits),
        cmocka_unit_test(test_json_rejects_exponent_without_digits),
        cmocka_unit_test(test_json_rejects_fraction_without_digits),
        cmocka_unit_test(test_json_rejects_non_json_numbers),
        cmocka_unit_test(test_json_rejects_trailing_comma_in_object),
        cmocka_unit_test(test_json_rejects_trailing_comma_in_array),
        cmocka_unit_test(test_json_rejects_missing_colon),
        cmocka_unit_test(test_json_rejects_non_string_key),
        cmocka_unit_test(test_json_rejects_unescaped_control_char_in_string),
        cmocka_unit_test(test_json_rejects_unknown_escape),
        cmocka_unit_test(test_json_rejects_bad_unicode_escape),
        cmocka_unit_test(test_json_rejects_unterminated_containers_and_strings),
        cmocka_unit_test(test_json_rejects_whitespace_outside_rfc_set),
        cmocka_unit_test(test_json_every_truncation_of_a_document_is_rejected_in_bounds),
        cmocka_unit_test(test_json_nesting_up_to_max_depth_is_accepted),
        cmocka_unit_test(test_json_nesting_beyond_max_depth_is_too_big),
        cmocka_unit_test(test_json_very_deep_input_is_refused_without_recursing_through_it),
        cmocka_unit_test(test_json_token_cap_exceeded_is_too_big),
        cmocka_unit_test(test_json_token_cap_counts_only_recorded_depths),
        cmocka_unit_test(test_json_invalid_json_beyond_recorded_depth_is_still_rejected),
        cmocka_unit_test(test_json_record_depth_zero_records_only_the_root),
        cmocka_unit_test(test_json_record_depth_one_records_children_and_next_skips_subtrees),
        cmocka_unit_test(test_json_next_walks_siblings_across_recorded_subtrees),
        cmocka_unit_test(test_json_obj_get_finds_plain_and_escaped_keys),
        cmocka_unit_test(test_json_obj_get_skips_nested_objects_with_the_same_key),
        cmocka_unit_test(test_json_obj_get_on_duplicate_keys_returns_the_first),
        cmocka_unit_test(test_json_obj_get_on_non_object_returns_minus_one),
        cmocka_unit_test(test_json_obj_get_on_object_with_unrecorded_children_returns_minus_one),
        cmocka_unit_test(test_json_str_eq_compares_after_unescaping),
        cmocka_unit_test(test_json_str_eq_handles_long_escaped_strings),
        cmocka_unit_test(test_json_str_eq_embedded_nul_does_not_match_prefix),
        cmocka_unit_test(test_json_str_decode_produces_utf8),
        cmocka_unit_test(test_json_str_decode_keeps_escaped_nul_in_length),
        cmocka_unit_test(test_json_str_decode_reports_when_output_does_not_fit),
        cmocka_unit_test(test_json_str_decode_empty_string_needs_room_for_the_nul),
        cmocka_unit_test(test_json_get_u64_reads_the_full_range),
        cmocka_unit_test(test_json_get_u64_rejects_sign_fraction_exponent_and_non_numbers),
        cmocka_unit_test(test_json_input_longer_than_uint32_is_too_big),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
