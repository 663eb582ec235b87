/* libFuzzer target for src/core/json.c: parses each input under several record
 * depths, token caps and depth limits, checks the token invariants, and runs
 * obj_get, str_eq, str_decode and get_u64 on what was recorded. Not a
 * differential test against another JSON library. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"

#define MAX_TOKS 512

typedef struct {
    size_t cap;
    unsigned record_depth;
    unsigned max_depth;
} config_t;

/* The last one is the most permissive; the others must agree with it. */
static const config_t configs[] = {
    {1, 0, 8},        /* the root only */
    {16, 1, 32},      /* what proto.c asks for */
    {4, 1, 32},       /* a cap that commands with many fields hit */
    {64, 2, 4},       /* shallow depth limit */
    {MAX_TOKS, UINT_MAX, 64},
};
#define CONFIG_CNT (sizeof configs / sizeof configs[0])

#define CHECK(cond)          \
    do {                     \
        if (!(cond))         \
            __builtin_trap(); \
    } while (0)

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Checks one string token and exercises the decoders on it; the output
 * buffer is exactly as large as the contract needs, so ASan sees overruns. */
static void check_string(const char *s, const wsh_json_tok_t *t)
{
    CHECK(t->end - t->start >= 2);
    CHECK(s[t->start] == '"' && s[t->end - 1] == '"');
    size_t raw = t->end - t->start - 2;
    /* Decoding never grows a string: every escape is at least as long as its UTF-8. */
    char *out = malloc(raw + 1);
    CHECK(out != NULL);
    long n = wsh_json_str_decode(s, t, out, raw + 1);
    CHECK(n >= 0 && (size_t)n <= raw);
    CHECK(out[n] == '\0');
    if (!t->has_escape)
        CHECK((size_t)n == raw && memcmp(out, s + t->start + 1, raw) == 0);
    /* One byte short never fits; a shorter buffer is never overrun. */
    if (n > 0) {
        char *small = malloc((size_t)n);
        CHECK(small != NULL);
        CHECK(wsh_json_str_decode(s, t, small, (size_t)n) == -1);
        free(small);
    }
    /* str_eq agrees with str_decode when the text has no NUL to cut it. */
    if (memchr(out, '\0', (size_t)n) == NULL) {
        CHECK(wsh_json_str_eq(s, t, out));
        if (n > 0) {
            out[n - 1] = '\0';
            CHECK(!wsh_json_str_eq(s, t, out));
        }
    }
    free(out);
}

static void check_number(const char *s, const wsh_json_tok_t *t)
{
    uint64_t v = 7;
    int rc = wsh_json_get_u64(s, t, &v);
    bool plain = true;
    for (uint32_t i = t->start; i < t->end; i++)
        plain = plain && is_digit(s[i]);
    if (!plain) {
        CHECK(rc == -1 && v == 7);
        return;
    }
    /* Plain digits: it fits exactly when it has at most 20 digits and is <= UINT64_MAX. */
    size_t len = t->end - t->start;
    bool fits = len < 20 || (len == 20 && memcmp(s + t->start, "18446744073709551615", 20) <= 0);
    CHECK(fits ? rc == 0 : rc == -1);
    if (rc == 0) {
        uint64_t w = 0;
        for (uint32_t i = t->start; i < t->end; i++)
            w = w * 10 + (uint64_t)(s[i] - '0');
        CHECK(v == w);
    }
}

static void check_object(const char *s, const wsh_json_tok_t *toks, int n, int obj)
{
    const wsh_json_tok_t *o = &toks[obj];
    /* Keys the protocol looks up, a key never present, and each recorded key. */
    static const char *const keys[] = {"type", "id", "channel", "data", "", "\xc3\xa9"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        int v = wsh_json_obj_get(s, toks, obj, keys[k]);
        CHECK(v == -1 || (v > obj + 1 && v < n && (uint32_t)v < o->next));
        if (v >= 0)
            CHECK(wsh_json_str_eq(s, &toks[v - 1], keys[k]));
    }
    if (o->next == (uint32_t)obj + 1)
        return; /* members not recorded */
    uint32_t i = (uint32_t)obj + 1;
    for (uint32_t m = 0; m < o->size; m++) {
        CHECK(i + 1 < o->next);
        CHECK(toks[i].type == WSH_JSON_STRING);
        char key[64];
        long kl = wsh_json_str_decode(s, &toks[i], key, sizeof key);
        if (kl >= 0 && memchr(key, '\0', (size_t)kl) == NULL) {
            int v = wsh_json_obj_get(s, toks, obj, key);
            /* The first member with this key (duplicates are allowed). */
            CHECK(v >= obj + 2 && (uint32_t)v <= i + 1);
            CHECK(wsh_json_str_eq(s, &toks[v - 1], key));
        }
        i = toks[i + 1].next;
    }
    CHECK(i == o->next);
}

static void check_tokens(const char *s, size_t len, const wsh_json_tok_t *toks, int n, const config_t *cfg)
{
    CHECK(n >= 1 && (size_t)n <= cfg->cap);
    CHECK(toks[0].next == (uint32_t)n);
    for (int i = 0; i < n; i++) {
        const wsh_json_tok_t *t = &toks[i];
        CHECK(t->type >= WSH_JSON_OBJECT && t->type <= WSH_JSON_NULL);
        CHECK(t->start < t->end && t->end <= len);
        CHECK(t->next > (uint32_t)i && t->next <= (uint32_t)n);
        switch (t->type) {
        case WSH_JSON_OBJECT:
            CHECK(s[t->start] == '{' && s[t->end - 1] == '}');
            check_object(s, toks, n, i);
            break;
        case WSH_JSON_ARRAY: {
            CHECK(s[t->start] == '[' && s[t->end - 1] == ']');
            if (t->next == (uint32_t)i + 1)
                break;
            uint32_t j = (uint32_t)i + 1;
            for (uint32_t m = 0; m < t->size; m++) {
                CHECK(j < t->next);
                CHECK(toks[j].start >= t->start && toks[j].end <= t->end);
                j = toks[j].next;
            }
            CHECK(j == t->next);
            break;
        }
        case WSH_JSON_STRING: check_string(s, t); break;
        case WSH_JSON_NUMBER: check_number(s, t); break;
        case WSH_JSON_TRUE: CHECK(t->end - t->start == 4 && memcmp(s + t->start, "true", 4) == 0); break;
        case WSH_JSON_FALSE: CHECK(t->end - t->start == 5 && memcmp(s + t->start, "false", 5) == 0); break;
        case WSH_JSON_NULL: CHECK(t->end - t->start == 4 && memcmp(s + t->start, "null", 4) == 0); break;
        default: break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static wsh_json_tok_t toks[MAX_TOKS];
    const char *s = (const char *)data;
    int rc[CONFIG_CNT];
    for (size_t c = 0; c < CONFIG_CNT; c++) {
        size_t err_pos = SIZE_MAX;
        memset(toks, 0xa5, sizeof toks); /* stale slots must never be read as tokens */
        rc[c] = wsh_json_parse(s, size, toks, configs[c].cap, configs[c].record_depth, configs[c].max_depth,
                               &err_pos);
        if (rc[c] > 0)
            check_tokens(s, size, toks, rc[c], &configs[c]);
        else
            CHECK(rc[c] == WSH_EBADREQ || rc[c] == WSH_ETOOBIG);
        if (rc[c] == WSH_EBADREQ)
            CHECK(err_pos <= size);
    }
    /* Validity does not depend on how much is recorded: a document the most
     * permissive configuration accepts is never called malformed by another,
     * and one it calls malformed is never accepted. */
    int full = rc[CONFIG_CNT - 1];
    for (size_t c = 0; c + 1 < CONFIG_CNT; c++) {
        if (full > 0)
            CHECK(rc[c] != WSH_EBADREQ);
        if (full == WSH_EBADREQ)
            CHECK(rc[c] <= 0);
    }
    return 0;
}
