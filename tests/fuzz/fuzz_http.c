/* libFuzzer target for the HTTP request parser and the handshake check: any
 * input, fed whole and in input-derived pieces, must give the same requests
 * and error, never crash, never leak; not a test of routing or responses. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "http/http.h"
#include "http/upgrade.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            abort();                                                                                                   \
    } while (0)

typedef struct digest {
    uint64_t h;      /* FNV-1a over everything observed */
    int err;         /* final feed error, 0 if none */
    size_t req_cnt;
    size_t leftover; /* bytes left for the WebSocket after an accepted upgrade */
} digest_t;

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t mix_span(uint64_t h, const wsh_http_span_t *s)
{
    h = mix(h, &s->len, sizeof s->len);
    return mix(h, s->ptr, s->len);
}

static bool is_tchar(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Checks the request's invariants and folds everything a caller could read
 * from it into the digest; returns true for an accepted upgrade. */
static bool observe(digest_t *d, const wsh_http_parser_t *p, const wsh_http_req_t *r)
{
    CHECK(!wsh_http_parser_is_mid_request(p));
    CHECK(r->url.len > 0 && r->path.ptr == r->url.ptr && r->path.len <= r->url.len);
    CHECK(r->query.len <= r->url.len - r->path.len);
    CHECK(r->header_cnt <= p->lim.max_headers && r->body.len <= p->lim.max_body);
    CHECK(p->head.len <= p->lim.max_head);
    for (size_t i = 0; i < r->url.len; i++)
        CHECK(r->url.ptr[i] > 0x20 && r->url.ptr[i] < 0x7f);
    uint8_t meta[6] = {r->method, r->http_major, r->http_minor, r->keep_alive, r->upgrade, 0};
    d->h = mix(d->h, meta, sizeof meta);
    d->h = mix_span(d->h, &r->url);
    d->h = mix_span(d->h, &r->path);
    d->h = mix_span(d->h, &r->query);
    for (size_t i = 0; i < r->header_cnt; i++) {
        const wsh_http_header_t *hd = &r->headers[i];
        CHECK(hd->name.len > 0);
        for (size_t k = 0; k < hd->name.len; k++)
            CHECK(is_tchar((uint8_t)hd->name.ptr[k]));
        for (size_t k = 0; k < hd->value.len; k++) {
            uint8_t c = (uint8_t)hd->value.ptr[k];
            CHECK(c >= 0x20 || c == '\t');
            CHECK(c != 0x7f);
        }
        CHECK(hd->value.len == 0 || (hd->value.ptr[0] != ' ' && hd->value.ptr[hd->value.len - 1] != ' '));
        d->h = mix_span(d->h, &hd->name);
        d->h = mix_span(d->h, &hd->value);
        /* The lookup must find this header or an earlier one of the same name. */
        char name[64];
        if (hd->name.len < sizeof name) {
            memcpy(name, hd->name.ptr, hd->name.len);
            name[hd->name.len] = '\0';
            const wsh_http_header_t *found = wsh_http_req_header(r, name);
            CHECK(found && found <= hd);
        }
        d->h = mix(d->h, (uint8_t[]){wsh_http_header_has_token(&hd->value, "upgrade")}, 1);
    }
    d->h = mix(d->h, &r->body.len, sizeof r->body.len);
    if (r->body.len)
        d->h = mix(d->h, r->body.data, r->body.len);

    static const char *const names[] = {"channels", "token", "since", "limit", "q", ""};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char out[32];
        long n = wsh_http_req_query(r, names[i], out, sizeof out);
        CHECK(n >= -2 && n < (long)sizeof out);
        if (n >= 0) {
            CHECK(out[n] == '\0' && strlen(out) == (size_t)n);
            d->h = mix(d->h, out, (size_t)n);
        }
        d->h = mix(d->h, &n, sizeof n);
    }

    char accept[WSH_UPGRADE_ACCEPT_LEN];
    const char *why = NULL;
    int rc = wsh_upgrade_check(r, accept, &why);
    CHECK(rc == 0 || rc == WSH_EMETHOD || rc == WSH_EVERSION || rc == WSH_EBADREQ);
    CHECK((rc == 0) == (why == NULL));
    d->h = mix(d->h, &rc, sizeof rc);
    if (rc == 0) {
        CHECK(strlen(accept) == WSH_UPGRADE_ACCEPT_LEN - 1);
        d->h = mix(d->h, accept, WSH_UPGRADE_ACCEPT_LEN - 1);
    }
    return rc == 0 && r->upgrade;
}

/* Feeds data to one parser as a connection would: chunks arrive with sizes
 * drawn from seed (or all at once when seed is 0), unconsumed bytes are
 * offered again with the next chunk. Each feed gets an exactly sized copy so
 * ASan sees any read past what was handed over. */
static void run(const uint8_t *data, size_t size, const wsh_http_limits_t *lim, uint64_t seed, digest_t *d)
{
    wsh_http_parser_t p;
    wsh_http_parser_init(&p, lim);
    memset(d, 0, sizeof *d);
    d->h = 0xcbf29ce484222325ull;
    size_t pos = 0, avail = 0;
    uint64_t rng = seed;
    while (avail < size) {
        size_t n = size - avail;
        if (seed) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t pick = (size_t)(rng >> 33);
            /* Mostly tiny pieces, sometimes large ones. */
            n = (pick & 3) ? 1 + (pick >> 2) % 8 : 1 + (pick >> 2) % 512;
            if (n > size - avail)
                n = size - avail;
        }
        avail += n;
        while (pos < avail) {
            size_t len = avail - pos;
            uint8_t *copy = malloc(len);
            CHECK(copy);
            memcpy(copy, data + pos, len);
            wsh_http_req_t *req = NULL;
            long rc = wsh_http_parser_feed(&p, copy, len, &req);
            free(copy);
            if (rc < 0) {
                CHECK(req == NULL);
                CHECK(rc == WSH_EBADREQ || rc == WSH_EHEADTOOBIG || rc == WSH_ETOOBIG || rc == WSH_ENOMEM);
                /* Errors are sticky. */
                CHECK(wsh_http_parser_feed(&p, (const uint8_t *)"x", 1, &req) == rc);
                d->err = (int)rc;
                goto out;
            }
            CHECK((size_t)rc <= len);
            pos += (size_t)rc;
            if (!req) {
                CHECK(pos == avail);
                /* A head offered early (the API-key gate) must be well formed
                 * and must not change the request it completes into: the
                 * digest is compared across splits, and only some splits
                 * stop here between head and body. */
                wsh_http_req_t *h = wsh_http_parser_head(&p);
                if (h) {
                    CHECK(wsh_http_parser_is_mid_request(&p));
                    CHECK(h->url.len > 0 && h->path.ptr == h->url.ptr && h->path.len <= h->url.len);
                    CHECK(h->header_cnt <= p.lim.max_headers && h->body.len <= p.lim.max_body);
                    for (size_t i = 0; i < h->header_cnt; i++)
                        CHECK(h->headers[i].name.len > 0);
                }
                break;
            }
            d->req_cnt++;
            if (observe(d, &p, req)) {
                /* Accepted upgrade: the rest is WebSocket frames. */
                d->leftover = size - pos;
                goto out;
            }
            wsh_http_parser_next(&p);
        }
    }
out:
    wsh_http_parser_dispose(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t h = mix(0xcbf29ce484222325ull, data, size);
    /* Limits from the input too, so small caps reach every limit path. */
    static const wsh_http_limits_t lims[4] = {
        {0, 0, 0},
        {0, 0, 0},
        {256, 8, 64},
        {64, 2, 8},
    };
    const wsh_http_limits_t *lim = &lims[h & 3];

    digest_t whole, split;
    run(data, size, lim, 0, &whole);
    run(data, size, lim, (h >> 8) | 1, &split);
    /* The split of the input must not change what the parser reports. */
    CHECK(whole.err == split.err && whole.req_cnt == split.req_cnt && whole.h == split.h &&
          whole.leftover == split.leftover);

    /* Sometimes fail one peer-sized allocation: a clean error, no leak. */
    if ((h & 0x30) == 0x30) {
        digest_t faulty;
        wsh_alloc_fail_nth(1 + (h >> 40) % 6);
        run(data, size, lim, (h >> 16) | 1, &faulty);
        wsh_alloc_fail_nth(0);
        CHECK(faulty.err == whole.err || faulty.err == WSH_ENOMEM);
    }
    return 0;
}
