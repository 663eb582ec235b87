/* Client-side JSON frames (see frames.h). */
#include "frames.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "http/json_escape.h"
#include "wshub.h"

bool wsh_sf_channel_ok(const char *name)
{
    size_t n = 0;
    for (const char *p = name; *p; p++, n++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  strchr("_.:@/-", ch) != NULL;
        if (!ok || n >= 255)
            return false;
    }
    return n > 0;
}

static void get_str(const char *s, const wsh_json_tok_t *toks, int obj, const char *key, char *out, size_t cap)
{
    out[0] = '\0';
    int i = wsh_json_obj_get(s, toks, obj, key);
    if (i >= 0 && toks[i].type == WSH_JSON_STRING && wsh_json_str_decode(s, &toks[i], out, cap) < 0) {
        /* Too long for our field: keep a cut copy rather than nothing. */
        size_t n = toks[i].end - toks[i].start - 2;
        n = n < cap - 1 ? n : cap - 1;
        memcpy(out, s + toks[i].start + 1, n);
        out[n] = '\0';
    }
}

static uint64_t get_u64(const char *s, const wsh_json_tok_t *toks, int obj, const char *key)
{
    uint64_t v = 0;
    int i = wsh_json_obj_get(s, toks, obj, key);
    if (i >= 0 && toks[i].type == WSH_JSON_NUMBER && wsh_json_get_u64(s, &toks[i], &v) != 0)
        v = 0;
    return v;
}

static void fill(const char *s, const wsh_json_tok_t *toks, int obj, wsh_sf_t *f);

static bool get_bool(const char *s, const wsh_json_tok_t *toks, int obj, const char *key)
{
    int i = wsh_json_obj_get(s, toks, obj, key);
    return i >= 0 && toks[i].type == WSH_JSON_TRUE;
}

int wsh_sf_parse(const char *s, size_t len, wsh_sf_t *f)
{
    static const struct { const char *name; wsh_sf_type_t type; } types[] = {
        {"welcome", WSH_SF_WELCOME},     {"subscribed", WSH_SF_SUBSCRIBED}, {"unsubscribed", WSH_SF_UNSUBSCRIBED},
        {"published", WSH_SF_PUBLISHED}, {"message", WSH_SF_MESSAGE},       {"receipt", WSH_SF_RECEIPT},
        {"error", WSH_SF_ERROR},         {"history", WSH_SF_HISTORY},       {"presence", WSH_SF_PRESENCE},
        {"join", WSH_SF_JOIN},           {"leave", WSH_SF_LEAVE},
    };
    /* A hub frame has a dozen top-level fields; room for more keeps unknown
     * future fields harmless. Deeper values (data) are validated, not recorded. */
    wsh_json_tok_t toks[96];
    memset(f, 0, sizeof *f);
    int n = wsh_json_parse(s, len, toks, sizeof toks / sizeof toks[0], 1, 128, NULL);
    if (n < 1 || toks[0].type != WSH_JSON_OBJECT)
        return WSHUB_EPROTO;
    int t = wsh_json_obj_get(s, toks, 0, "type");
    if (t < 0 || toks[t].type != WSH_JSON_STRING)
        return WSHUB_EPROTO;
    f->type = WSH_SF_OTHER;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (wsh_json_str_eq(s, &toks[t], types[i].name))
            f->type = types[i].type;
    fill(s, toks, 0, f);
    return 0;
}

int wsh_sf_each_history_message(const char *s, size_t len, void (*each)(void *user, const wsh_sf_t *m), void *user)
{
    /* Every recorded value takes at least one byte, so len + 2 tokens always fit. */
    wsh_json_tok_t *toks = malloc((len + 2) * sizeof *toks);
    if (!toks)
        return WSHUB_ENOMEM;
    int rc = WSHUB_EPROTO;
    int n = wsh_json_parse(s, len, toks, len + 2, 3, 128, NULL);
    int arr = n >= 1 && toks[0].type == WSH_JSON_OBJECT ? wsh_json_obj_get(s, toks, 0, "messages") : -1;
    if (arr >= 0 && toks[arr].type == WSH_JSON_ARRAY) {
        char channel[256];
        get_str(s, toks, 0, "channel", channel, sizeof channel);
        wsh_sf_t m;
        for (uint32_t k = 0, i = (uint32_t)arr + 1; k < toks[arr].size; k++, i = toks[i].next) {
            if (toks[i].type != WSH_JSON_OBJECT)
                continue;
            memset(&m, 0, sizeof m);
            fill(s, toks, (int)i, &m);
            m.type = WSH_SF_MESSAGE;
            if (!m.channel[0])
                memcpy(m.channel, channel, sizeof channel);
            if (m.data)
                each(user, &m);
        }
        rc = 0;
    }
    free(toks);
    return rc;
}

/* Decodes string token t into the string area at *next (room checked by
 * the caller: a decoded string is shorter than its quoted form). */
static const char *take_str(const char *s, const wsh_json_tok_t *t, char **next)
{
    char *out = *next;
    long n = wsh_json_str_decode(s, t, out, t->end - t->start);
    /* A \u0000 would cut the C string: refuse it rather than report a
     * different id than the hub's. */
    if (n < 0 || strlen(out) != (size_t)n)
        return NULL;
    *next = out + n + 1;
    return out;
}

/* Reads {"client":..., "user":...} at toks[obj] into e. 0 or WSHUB_EPROTO. */
static int take_entry(const char *s, const wsh_json_tok_t *toks, int obj, wshub_presence_entry_t *e, char **next)
{
    if (toks[obj].type != WSH_JSON_OBJECT)
        return WSHUB_EPROTO;
    int ci = wsh_json_obj_get(s, toks, obj, "client");
    int ui = wsh_json_obj_get(s, toks, obj, "user");
    if (ci < 0 || toks[ci].type != WSH_JSON_STRING || (ui >= 0 && toks[ui].type != WSH_JSON_STRING))
        return WSHUB_EPROTO;
    e->client = take_str(s, &toks[ci], next);
    e->user = ui >= 0 ? take_str(s, &toks[ui], next) : NULL;
    return e->client && (ui < 0 || e->user) ? 0 : WSHUB_EPROTO;
}

int wsh_sf_presence_entries(const char *s, size_t len, wshub_presence_entry_t **out, size_t *cnt)
{
    *out = NULL;
    *cnt = 0;
    /* Every recorded value takes at least one byte, so len + 2 tokens always fit. */
    wsh_json_tok_t *toks = malloc((len + 2) * sizeof *toks);
    if (!toks)
        return WSHUB_ENOMEM;
    int rc = WSHUB_EPROTO;
    wshub_presence_entry_t *e = NULL;
    int n = wsh_json_parse(s, len, toks, len + 2, 3, 128, NULL);
    if (n < 1 || toks[0].type != WSH_JSON_OBJECT)
        goto done;
    int arr = wsh_json_obj_get(s, toks, 0, "clients");
    if (arr >= 0 && toks[arr].type != WSH_JSON_ARRAY)
        goto done;
    size_t want = arr >= 0 ? toks[arr].size : 1;
    if (want == 0) {
        rc = 0;
        goto done;
    }
    /* The entries, then their strings: each decoded string (with its NUL)
     * is no longer than its quoted form, so len bytes hold them all. */
    rc = WSHUB_ENOMEM;
    e = malloc(want * sizeof *e + len);
    if (!e)
        goto done;
    char *next = (char *)(e + want);
    rc = 0;
    if (arr < 0) {
        rc = take_entry(s, toks, 0, &e[0], &next);
    } else {
        uint32_t i = (uint32_t)arr + 1;
        for (size_t k = 0; k < want && rc == 0; k++, i = toks[i].next)
            rc = take_entry(s, toks, (int)i, &e[k], &next);
    }
    if (rc == 0) {
        *out = e;
        *cnt = want;
        e = NULL;
    }
done:
    free(e);
    free(toks);
    return rc;
}

static void fill(const char *s, const wsh_json_tok_t *toks, int obj, wsh_sf_t *f)
{
    get_str(s, toks, obj, "channel", f->channel, sizeof f->channel);
    get_str(s, toks, obj, "epoch", f->epoch, sizeof f->epoch);
    get_str(s, toks, obj, "client", f->client, sizeof f->client);
    get_str(s, toks, obj, "code", f->code, sizeof f->code);
    get_str(s, toks, obj, "message", f->message, sizeof f->message);
    f->offset = get_u64(s, toks, obj, "offset");
    f->ts = get_u64(s, toks, obj, "ts");
    f->heartbeat = get_u64(s, toks, obj, "heartbeat");
    f->recovered = get_bool(s, toks, obj, "recovered");
    f->receipts = get_bool(s, toks, obj, "receipts");
    f->duplicate = get_bool(s, toks, obj, "duplicate");
    f->truncated = get_bool(s, toks, obj, "truncated");
    f->count = get_u64(s, toks, obj, "count");
    int d = wsh_json_obj_get(s, toks, obj, "data");
    if (d >= 0) {
        f->data = s + toks[d].start;
        f->data_len = toks[d].end - toks[d].start;
    }
    char id[32];
    get_str(s, toks, obj, "id", id, sizeof id);
    if ((id[0] == 'p' || id[0] == 's' || id[0] == 'h' || id[0] == 'w') && id[1] >= '0' && id[1] <= '9') {
        uint64_t v = 0;
        const char *p = id + 1;
        while (*p >= '0' && *p <= '9' && v < UINT64_MAX / 10)
            v = v * 10 + (uint64_t)(*p++ - '0');
        if (*p == '\0') {
            f->id_kind = id[0];
            f->id_num = v;
        }
    }
}

static int add_str(wsh_buf_t *out, const char *s)
{
    if (wsh_buf_append(out, "\"", 1) || wsh_json_escape_buf(out, s, strlen(s)) || wsh_buf_append(out, "\"", 1))
        return WSHUB_ENOMEM;
    return 0;
}

int wsh_sf_subscribe(wsh_buf_t *out, uint64_t sid, const char *channel, bool has_since, uint64_t since,
                     const char *epoch, unsigned history)
{
    if (wsh_buf_appendf(out, "{\"type\":\"subscribe\",\"id\":\"s%" PRIu64 "\",\"channel\":", sid) ||
        add_str(out, channel))
        return WSHUB_ENOMEM;
    if (has_since) {
        if (wsh_buf_appendf(out, ",\"since\":%" PRIu64, since))
            return WSHUB_ENOMEM;
        if (epoch && epoch[0] && (wsh_buf_appendf(out, ",\"epoch\":") || add_str(out, epoch)))
            return WSHUB_ENOMEM;
    } else if (history && wsh_buf_appendf(out, ",\"history\":%u", history)) {
        return WSHUB_ENOMEM;
    }
    return wsh_buf_append(out, "}", 1) ? WSHUB_ENOMEM : 0;
}

int wsh_sf_unsubscribe(wsh_buf_t *out, const char *channel)
{
    if (wsh_buf_appendf(out, "{\"type\":\"unsubscribe\",\"channel\":") || add_str(out, channel) ||
        wsh_buf_append(out, "}", 1))
        return WSHUB_ENOMEM;
    return 0;
}

int wsh_sf_publish(wsh_buf_t *out, uint64_t pid, const char *channel, const char *data, size_t data_len,
                   bool receipts, const char *key)
{
    if (wsh_buf_appendf(out, "{\"type\":\"publish\",\"id\":\"p%" PRIu64 "\",\"channel\":", pid) ||
        add_str(out, channel) || wsh_buf_appendf(out, ",\"idempotency_key\":") || add_str(out, key) ||
        (receipts && wsh_buf_appendf(out, ",\"receipts\":true")) || wsh_buf_appendf(out, ",\"data\":") ||
        wsh_buf_append(out, data, data_len) || wsh_buf_append(out, "}", 1))
        return WSHUB_ENOMEM;
    return 0;
}

int wsh_sf_ack(wsh_buf_t *out, const char *channel, uint64_t offset)
{
    if (wsh_buf_appendf(out, "{\"type\":\"ack\",\"channel\":") || add_str(out, channel) ||
        wsh_buf_appendf(out, ",\"offset\":%" PRIu64 "}", offset))
        return WSHUB_ENOMEM;
    return 0;
}

int wsh_sf_presence(wsh_buf_t *out, uint64_t wid, const char *channel)
{
    if (wsh_buf_appendf(out, "{\"type\":\"presence\",\"id\":\"w%" PRIu64 "\",\"channel\":", wid) ||
        add_str(out, channel) || wsh_buf_append(out, "}", 1))
        return WSHUB_ENOMEM;
    return 0;
}

int wsh_sf_history(wsh_buf_t *out, uint64_t hid, const char *channel, uint64_t since, unsigned limit)
{
    if (wsh_buf_appendf(out, "{\"type\":\"history\",\"id\":\"h%" PRIu64 "\",\"channel\":", hid) ||
        add_str(out, channel) ||
        wsh_buf_appendf(out, ",\"since\":%" PRIu64 ",\"limit\":%u}", since, limit))
        return WSHUB_ENOMEM;
    return 0;
}
