/* libFuzzer target for the header tokenizers of the edge checks: the Bearer
 * credential, Origin and Host values, the query-parameter reader, the API-key
 * and Origin verdicts over arbitrary header sets, and log redaction. Each
 * must stay inside its input, keep its invariants, never crash or leak. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/redact.h"
#include "http/access.h"
#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            abort();                                                                                                   \
    } while (0)

static bool is_token68(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("-._~+/=", c);
}

static void fuzz_bearer(const char *s, size_t n)
{
    const char *tok;
    size_t len;
    if (wsh_access_parse_bearer(s, n, &tok, &len) < 0)
        return;
    CHECK(len > 0 && tok >= s && tok + len == s + n);
    for (size_t i = 0; i < len; i++)
        CHECK(tok[i] && is_token68(tok[i]));
}

static void fuzz_origin(const char *s, size_t n)
{
    for (int wild = 0; wild < 2; wild++) {
        wsh_origin_t o;
        if (wsh_access_parse_origin(s, n, wild, &o) < 0)
            continue;
        CHECK(o.host[0] && o.port > 0 && (wild || !o.is_wildcard));
        for (const char *p = o.host; *p; p++)
            CHECK(!(*p >= 'A' && *p <= 'Z'));
        /* The canonical form parses back to the same origin, and matches it. */
        char canon[300];
        int cn = snprintf(canon, sizeof canon, "%s://%s%s:%u", o.scheme, o.is_wildcard ? "*." : "", o.host, o.port);
        wsh_origin_t back;
        CHECK(cn > 0 && wsh_access_parse_origin(canon, (size_t)cn, true, &back) == 0);
        CHECK(strcmp(back.scheme, o.scheme) == 0 && strcmp(back.host, o.host) == 0 && back.port == o.port &&
              back.is_wildcard == o.is_wildcard);
        if (!o.is_wildcard)
            CHECK(wsh_access_origin_matches(&o, &back));
    }
    char host[WSH_ORIGIN_HOST_MAX + 1];
    uint16_t port;
    if (wsh_access_parse_host(s, n, host, &port) == 0)
        CHECK(host[0] && strlen(host) <= n);
}

static void fuzz_query(const char *s, size_t n)
{
    wsh_http_req_t *req = calloc(1, sizeof *req);
    CHECK(req);
    req->query.ptr = s;
    req->query.len = n;
    static const char *const names[] = {"token", "channels", "api_key", ""};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char out[64];
        memset(out, 'Z', sizeof out);
        long r = wsh_http_req_query(req, names[i], out, sizeof out);
        CHECK(r == -1 || r == -2 || (r >= 0 && (size_t)r < sizeof out && out[r] == '\0'));
    }
    free(req);
}

/* Lines "name: value" of the input become the headers of a request. */
static void fuzz_verdicts(const char *s, size_t n)
{
    wsh_http_req_t *req = calloc(1, sizeof *req);
    CHECK(req);
    size_t start = 0;
    for (size_t i = 0; i <= n && req->header_cnt < 16; i++) {
        if (i < n && s[i] != '\n')
            continue;
        const char *line = s + start;
        size_t len = i - start;
        const char *colon = memchr(line, ':', len);
        if (colon) {
            wsh_http_header_t *h = &req->headers[req->header_cnt++];
            h->name.ptr = line;
            h->name.len = (size_t)(colon - line);
            h->value.ptr = colon + 1;
            h->value.len = len - h->name.len - 1;
        }
        start = i + 1;
    }
    static wsh_access_t a;
    static bool ready;
    if (!ready) {
        char k[] = "fuzz-key", o1[] = "https://ok.example", o2[] = "http://*.example.org:8080";
        char *keys[] = {k}, *origins[] = {o1, o2};
        char err[64];
        CHECK(wsh_access_init(&a, keys, 1, origins, 2, true, err, sizeof err) == 0);
        ready = true;
    }
    int st = wsh_access_check_key(&a, req);
    CHECK(st == 0 || st == 401 || st == 403);
    const char *why = NULL;
    bool ok = wsh_access_origin_allowed(&a, req, &why);
    CHECK(ok ? why == NULL : why != NULL);
    free(req);
}

static void fuzz_redact(const char *s, size_t n)
{
    size_t cap = n + 1;
    char *buf = malloc(cap);
    CHECK(buf);
    memcpy(buf, s, n);
    size_t r = wsh_redact(buf, n, cap);
    CHECK(r < cap && buf[r] == '\0');
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy, so a read past the input is an ASan finding, and no
     * tokenizer may rely on a terminator. */
    char *s = malloc(size ? size : 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    fuzz_bearer(s, size);
    fuzz_origin(s, size);
    fuzz_query(s, size);
    fuzz_verdicts(s, size);
    fuzz_redact(s, size);
    free(s);
    return 0;
}
