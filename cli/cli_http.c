/* `wshub channels`, `wshub history` and `wshub presence`: calls to the
 * hub's HTTP API, whose base comes from the WebSocket URL (ws -> http,
 * wss -> https). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/json.h"
#include "frames.h"
#include "http_client.h"
#include "url.h"
#include "wshub.h"

/* Appends channel to out percent-encoded as one path segment (a '/' in a
 * name must not split the path: docs/protocol.md "HTTP API"). */
static size_t encode_segment(char *out, size_t cap, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (; *s && n + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
            out[n++] = (char)ch;
        } else {
            out[n++] = '%';
            out[n++] = hex[ch >> 4];
            out[n++] = hex[ch & 15];
        }
    }
    out[n] = '\0';
    return n;
}

/* GETs path from the hub; on success *a holds a 2xx answer. Returns an exit code. */
static int get(const wsh_cli_opts_t *o, const char *path, wsh_http_answer_t *a)
{
    wsh_url_t u;
    if (wsh_url_parse(o->url, &u) != 0) {
        wsh_cli_error("invalid --url %s", o->url);
        return WSH_CLI_EUSAGE;
    }
    char url[WSH_URL_HOST_MAX + 4096];
    wsh_url_http_base(&u, url, 300);
    snprintf(url + strlen(url), sizeof url - strlen(url), "%s", path);
    wsh_http_call_t call = {.method = "GET", .url = url, .token = o->token, .ca_file = o->ca_file,
                            .tls_no_verify = o->insecure, .timeout_ms = o->timeout_ms};
    int rc = wsh_http_do(&call, a);
    if (rc == WSHUB_ETIMEOUT) {
        wsh_cli_error("no answer from %s within %d ms", url, o->timeout_ms);
        return WSH_CLI_ETIMEOUT;
    }
    if (rc != 0) {
        wsh_cli_error("cannot reach the hub at %s: %s", url, wshub_strerror(rc));
        return WSH_CLI_ECONNECT;
    }
    if (a->status < 200 || a->status > 299) {
        wsh_cli_error("the hub answered %d: %.*s", a->status, (int)(a->body.len > 500 ? 500 : a->body.len),
                      a->body.len ? (const char *)a->body.data : "");
        wsh_buf_dispose(&a->body);
        return WSH_CLI_EHUB;
    }
    return WSH_CLI_OK;
}

/* Tokenizes an answer body down to depth 3 (root, its fields, array
 * elements, their fields). Returns the tokens (free them) or NULL. */
static wsh_json_tok_t *parse_body(const wsh_http_answer_t *a, int *cnt)
{
    size_t cap = a->body.len + 2; /* every recorded value takes at least one byte */
    wsh_json_tok_t *toks = malloc(cap * sizeof *toks);
    if (!toks)
        return NULL;
    *cnt = wsh_json_parse((const char *)a->body.data, a->body.len, toks, cap, 3, 128, NULL);
    if (*cnt < 1 || toks[0].type != WSH_JSON_OBJECT) {
        free(toks);
        return NULL;
    }
    return toks;
}

static uint64_t field_u64(const char *s, const wsh_json_tok_t *toks, int obj, const char *key)
{
    uint64_t v = 0;
    int i = wsh_json_obj_get(s, toks, obj, key);
    if (i >= 0 && toks[i].type == WSH_JSON_NUMBER)
        wsh_json_get_u64(s, &toks[i], &v);
    return v;
}

static void field_str(const char *s, const wsh_json_tok_t *toks, int obj, const char *key, char *out, size_t cap)
{
    out[0] = '\0';
    int i = wsh_json_obj_get(s, toks, obj, key);
    if (i >= 0 && toks[i].type == WSH_JSON_STRING)
        wsh_json_str_decode(s, &toks[i], out, cap);
}

int wsh_cli_channels(const wsh_cli_opts_t *o)
{
    wsh_http_answer_t a;
    int rc = get(o, "/api/channels", &a);
    if (rc != WSH_CLI_OK)
        return rc;
    if (!o->pretty) {
        printf("%s\n", (const char *)a.body.data);
        wsh_buf_dispose(&a.body);
        return WSH_CLI_OK;
    }
    int cnt;
    const char *s = (const char *)a.body.data;
    wsh_json_tok_t *toks = parse_body(&a, &cnt);
    int arr = toks ? wsh_json_obj_get(s, toks, 0, "channels") : -1;
    if (arr < 0 || toks[arr].type != WSH_JSON_ARRAY) {
        wsh_cli_error("unexpected answer from the hub: %s", s);
        free(toks);
        wsh_buf_dispose(&a.body);
        return WSH_CLI_EHUB;
    }
    printf("%-40s %12s %12s\n", "CHANNEL", "SUBSCRIBERS", "OFFSET");
    for (uint32_t k = 0, i = (uint32_t)arr + 1; k < toks[arr].size; k++, i = toks[i].next) {
        char name[256];
        field_str(s, toks, (int)i, "name", name, sizeof name);
        printf("%-40s %12" PRIu64 " %12" PRIu64 "\n", name, field_u64(s, toks, (int)i, "subscribers"),
               field_u64(s, toks, (int)i, "offset"));
    }
    free(toks);
    wsh_buf_dispose(&a.body);
    return WSH_CLI_OK;
}

int wsh_cli_history(const wsh_cli_opts_t *o)
{
    char path[1024] = "/api/channels/";
    size_t n = strlen(path);
    n += encode_segment(path + n, sizeof path - n - 64, o->argv[0]);
    snprintf(path + n, sizeof path - n, "/history?since=%" PRIu64 "&limit=%u", o->has_since ? o->since : 0,
             o->limit);
    wsh_http_answer_t a;
    int rc = get(o, path, &a);
    if (rc != WSH_CLI_OK)
        return rc;
    int cnt;
    const char *s = (const char *)a.body.data;
    wsh_json_tok_t *toks = parse_body(&a, &cnt);
    int arr = toks ? wsh_json_obj_get(s, toks, 0, "messages") : -1;
    if (arr < 0 || toks[arr].type != WSH_JSON_ARRAY) {
        wsh_cli_error("unexpected answer from the hub: %.200s", s);
        free(toks);
        wsh_buf_dispose(&a.body);
        return WSH_CLI_EHUB;
    }
    char epoch[40], channel[256];
    field_str(s, toks, 0, "epoch", epoch, sizeof epoch);
    field_str(s, toks, 0, "channel", channel, sizeof channel);
    for (uint32_t k = 0, i = (uint32_t)arr + 1; k < toks[arr].size; k++, i = toks[i].next) {
        int d = wsh_json_obj_get(s, toks, (int)i, "data");
        if (d < 0)
            continue;
        wsh_cli_print_message(o->pretty, channel[0] ? channel : o->argv[0], field_u64(s, toks, (int)i, "offset"),
                              field_u64(s, toks, (int)i, "ts"), epoch, s + toks[d].start,
                              toks[d].end - toks[d].start);
    }
    free(toks);
    wsh_buf_dispose(&a.body);
    return WSH_CLI_OK;
}

/* Prints s in a column of width w for a terminal: control characters
 * (a user is whatever a token's `sub` says) become '?', so no escape
 * sequence from the hub reaches the terminal. */
static void print_cell(const char *s, int w)
{
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
        putchar(*p < 0x20 || *p == 0x7f ? '?' : *p);
    for (; n < w; n++)
        putchar(' ');
}

int wsh_cli_presence(const wsh_cli_opts_t *o)
{
    /* Checked here like `pub`/`sub` names: a name the hub must refuse is a
     * bad command line, not a hub error. */
    if (!wsh_sf_channel_ok(o->argv[0])) {
        wsh_cli_error("\"%s\" is not a channel name (1-255 bytes of A-Z a-z 0-9 _ . : @ / -)", o->argv[0]);
        return WSH_CLI_EUSAGE;
    }
    char path[1024] = "/api/channels/";
    size_t n = strlen(path);
    n += encode_segment(path + n, sizeof path - n - 16, o->argv[0]);
    snprintf(path + n, sizeof path - n, "/presence");
    wsh_http_answer_t a;
    int rc = get(o, path, &a);
    if (rc != WSH_CLI_OK)
        return rc;
    const char *s = a.body.len ? (const char *)a.body.data : "";
    wshub_presence_entry_t *e = NULL;
    size_t cnt = 0;
    int cnt_toks;
    wsh_json_tok_t *toks = a.body.len ? parse_body(&a, &cnt_toks) : NULL;
    int ci = toks ? wsh_json_obj_get(s, toks, 0, "count") : -1;
    if (!toks || ci < 0 || toks[ci].type != WSH_JSON_NUMBER ||
        wsh_sf_presence_entries(s, a.body.len, &e, &cnt) != 0 || wsh_json_obj_get(s, toks, 0, "clients") < 0) {
        wsh_cli_error("unexpected answer from the hub: %.200s", s);
        rc = WSH_CLI_EHUB;
        goto done;
    }
    if (!o->pretty) {
        /* The hub's answer as it is: one JSON object, like `channels`. */
        printf("%s\n", s);
        goto done;
    }
    uint64_t count = field_u64(s, toks, 0, "count");
    printf("%-40s %s\n", "CLIENT", "USER");
    for (size_t i = 0; i < cnt; i++) {
        print_cell(e[i].client, 40);
        putchar(' ');
        print_cell(e[i].user ? e[i].user : "-", 0);
        putchar('\n');
    }
    if (count > cnt)
        printf("(%zu of %" PRIu64 " listed: the hub truncated the list)\n", cnt, count);
done:
    free(e);
    free(toks);
    wsh_buf_dispose(&a.body);
    return rc;
}
