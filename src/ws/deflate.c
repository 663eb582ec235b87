/* permessage-deflate (RFC 7692): offer negotiation, capped inflate and
 * once-per-message compression with per-thread zlib streams; not framing or
 * the decision of when to use them (wsconn.c). */
#include "ws/deflate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "core/alloc.h"
#include "core/err.h"
#include "obs/metrics.h"
#include "ws/frame.h"

/* ---- Negotiation -------------------------------------------------------- */

/* RFC 9110 §5.6.2 tchar. */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

typedef struct lexer {
    const char *s;
    size_t len, pos;
} lexer_t;

static void skip_ows(lexer_t *lx)
{
    while (lx->pos < lx->len && (lx->s[lx->pos] == ' ' || lx->s[lx->pos] == '\t'))
        lx->pos++;
}

static bool peek_is(const lexer_t *lx, char c)
{
    return lx->pos < lx->len && lx->s[lx->pos] == c;
}

/* Reads a token; its length (0 when none is there). */
static size_t read_token(lexer_t *lx, const char **tok)
{
    size_t start = lx->pos;
    while (lx->pos < lx->len && is_tchar((unsigned char)lx->s[lx->pos]))
        lx->pos++;
    *tok = lx->s + start;
    return lx->pos - start;
}

/* A parameter value after unescaping. Values of the parameters we know are
 * at most two digits, so a longer one only has to be recognised as too long
 * (invalid), never stored whole. */
typedef struct value {
    char buf[8];
    size_t len;       /* real length, may exceed sizeof buf */
    bool is_present;
    bool is_token;    /* RFC 6455 §9.1: a quoted value must be a token once unquoted */
} value_t;

static void value_put(value_t *v, char c)
{
    if (v->len < sizeof v->buf)
        v->buf[v->len] = c;
    v->len++;
    if (!is_tchar((unsigned char)c))
        v->is_token = false;
}

/* Reads token / quoted-string (RFC 9110 §5.6.4); WSH_EBADREQ when neither. */
static int read_value(lexer_t *lx, value_t *v)
{
    v->is_present = true;
    v->is_token = true;
    v->len = 0;
    if (!peek_is(lx, '"')) {
        const char *tok;
        size_t n = read_token(lx, &tok);
        if (n == 0)
            return WSH_EBADREQ;
        for (size_t i = 0; i < n; i++)
            value_put(v, tok[i]);
        return 0;
    }
    lx->pos++;
    while (lx->pos < lx->len) {
        unsigned char c = (unsigned char)lx->s[lx->pos++];
        if (c == '"') {
            if (v->len == 0)
                v->is_token = false;
            return 0;
        }
        if (c == '\\') {
            if (lx->pos >= lx->len)
                return WSH_EBADREQ;
            c = (unsigned char)lx->s[lx->pos++];
        }
        /* qdtext and quoted-pair: HTAB, SP, VCHAR, obs-text; never CTLs. */
        if ((c < 0x20 && c != '\t') || c == 0x7F)
            return WSH_EBADREQ;
        value_put(v, (char)c);
    }
    return WSH_EBADREQ; /* unclosed quoted-string */
}

static bool name_is(const char *tok, size_t len, const char *name)
{
    return strlen(name) == len && strncasecmp(tok, name, len) == 0;
}

/* RFC 7692 §7.1.2.1/§7.1.2.2: a decimal 8..15, no leading zero. 0 if invalid. */
static uint8_t window_bits(const value_t *v)
{
    if (!v->is_present || !v->is_token || v->len == 0 || v->len > 2 || v->buf[0] == '0')
        return 0;
    unsigned n = 0;
    for (size_t i = 0; i < v->len; i++) {
        if (v->buf[i] < '0' || v->buf[i] > '9')
            return 0;
        n = n * 10 + (unsigned)(v->buf[i] - '0');
    }
    return n >= WSH_PMD_MIN_BITS && n <= WSH_PMD_MAX_BITS ? (uint8_t)n : 0;
}

enum {
    P_SERVER_NCT = 1,
    P_CLIENT_NCT = 2,
    P_SERVER_BITS = 4,
    P_CLIENT_BITS = 8,
};

/* One permessage-deflate offer being read. */
typedef struct offer {
    unsigned seen;
    bool is_ok;
    uint8_t server_bits; /* 0: not limited by the offer */
} offer_t;

/* Applies one parameter to an offer (RFC 7692 §7.1: an unknown parameter,
 * a repeated one or an invalid value makes the offer unacceptable). */
static void offer_param(offer_t *o, const char *name, size_t name_len, const value_t *v)
{
    unsigned bit;
    if (name_is(name, name_len, "server_no_context_takeover"))
        bit = P_SERVER_NCT;
    else if (name_is(name, name_len, "client_no_context_takeover"))
        bit = P_CLIENT_NCT;
    else if (name_is(name, name_len, "server_max_window_bits"))
        bit = P_SERVER_BITS;
    else if (name_is(name, name_len, "client_max_window_bits"))
        bit = P_CLIENT_BITS;
    else
        bit = 0;
    if (!bit || (o->seen & bit)) {
        o->is_ok = false;
        return;
    }
    o->seen |= bit;
    switch (bit) {
    case P_SERVER_NCT:
    case P_CLIENT_NCT:
        /* §7.1.1.1/§7.1.1.2: these take no value. */
        if (v->is_present)
            o->is_ok = false;
        break;
    case P_SERVER_BITS:
        /* §7.1.2.1: the value is mandatory. */
        o->server_bits = window_bits(v);
        if (!o->server_bits)
            o->is_ok = false;
        break;
    case P_CLIENT_BITS:
        /* §7.1.2.2: with or without a value. We inflate with the largest
         * window, which reads a stream made with any smaller one, so the
         * value is checked but needs no answer. */
        if (v->is_present && !window_bits(v))
            o->is_ok = false;
        break;
    }
}

/* Reads one field's extension list; accepts the first good offer into *out
 * unless *accepted already. */
static int parse_field(const char *s, size_t len, bool *accepted, wsh_pmd_agreed_t *out)
{
    lexer_t lx = {s, len, 0};
    for (;;) {
        skip_ows(&lx);
        if (lx.pos == lx.len)
            return 0;
        /* RFC 9110 §5.6.1: empty list elements are accepted and ignored. */
        if (peek_is(&lx, ',')) {
            lx.pos++;
            continue;
        }
        const char *name;
        size_t name_len = read_token(&lx, &name);
        if (name_len == 0)
            return WSH_EBADREQ;
        bool is_pmd = name_is(name, name_len, "permessage-deflate");
        offer_t o = {0, true, 0};
        skip_ows(&lx);
        while (peek_is(&lx, ';')) {
            lx.pos++;
            skip_ows(&lx);
            const char *pname;
            size_t pname_len = read_token(&lx, &pname);
            if (pname_len == 0)
                return WSH_EBADREQ;
            skip_ows(&lx);
            value_t v = {{0}, 0, false, false};
            if (peek_is(&lx, '=')) {
                lx.pos++;
                skip_ows(&lx);
                int rc = read_value(&lx, &v);
                if (rc)
                    return rc;
                skip_ows(&lx);
            }
            if (is_pmd)
                offer_param(&o, pname, pname_len, &v);
        }
        if (lx.pos < lx.len && !peek_is(&lx, ','))
            return WSH_EBADREQ;
        if (is_pmd && o.is_ok && !*accepted) {
            *accepted = true;
            out->server_bits = o.server_bits ? o.server_bits : WSH_PMD_MAX_BITS;
            /* §7.1.2.1: a limited window is accepted by echoing it. */
            if (o.server_bits)
                snprintf(out->response, sizeof out->response,
                         "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                         "server_max_window_bits=%u",
                         (unsigned)o.server_bits);
            else
                snprintf(out->response, sizeof out->response,
                         "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
        }
    }
}

int wsh_pmd_negotiate(const wsh_pmd_field_t *fields, size_t cnt, wsh_pmd_agreed_t *out)
{
    bool accepted = false;
    /* Every field is read even after an offer is accepted: a malformed
     * header is refused whole, whatever comes first in it. */
    for (size_t i = 0; i < cnt; i++) {
        int rc = parse_field(fields[i].ptr, fields[i].len, &accepted, out);
        if (rc)
            return rc;
    }
    return accepted ? 1 : 0;
}

/* ---- Per-thread zlib streams ------------------------------------------- */

/* Created on first use by the thread's loop; no connection holds one. */
typedef struct pmd_thread {
    z_stream *inflater;
    z_stream *deflaters[WSH_PMD_MAX_BITS + 1]; /* by window bits */
} pmd_thread_t;

static _Thread_local pmd_thread_t pmd_tls;

static z_stream *get_inflater(void)
{
    z_stream *z = pmd_tls.inflater;
    if (z)
        return inflateReset(z) == Z_OK ? z : NULL;
    z = wsh_try_malloc(sizeof *z);
    if (!z)
        return NULL;
    memset(z, 0, sizeof *z);
    /* Raw DEFLATE (negative bits) with the largest window: it reads any
     * stream a client made with client_max_window_bits up to 15. */
    if (inflateInit2(z, -WSH_PMD_MAX_BITS) != Z_OK) {
        free(z);
        return NULL;
    }
    pmd_tls.inflater = z;
    return z;
}

static z_stream *get_deflater(uint8_t bits)
{
    z_stream *z = pmd_tls.deflaters[bits];
    if (z)
        return deflateReset(z) == Z_OK ? z : NULL;
    z = wsh_try_malloc(sizeof *z);
    if (!z)
        return NULL;
    memset(z, 0, sizeof *z);
    /* zlib refuses a raw 8-bit window, so 8 is served by 9. That still
     * honours 8: deflate never matches further back than the window minus
     * MIN_LOOKAHEAD (262 bytes), i.e. 250 bytes at 9 bits, within the 256 a
     * peer that asked for 8 keeps (test_ws_deflate checks it). */
    int zbits = bits < 9 ? 9 : bits;
    if (deflateInit2(z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -zbits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(z);
        return NULL;
    }
    pmd_tls.deflaters[bits] = z;
    return z;
}

void wsh_pmd_thread_dispose(void)
{
    if (pmd_tls.inflater) {
        inflateEnd(pmd_tls.inflater);
        free(pmd_tls.inflater);
        pmd_tls.inflater = NULL;
    }
    for (size_t i = 0; i <= WSH_PMD_MAX_BITS; i++) {
        if (pmd_tls.deflaters[i]) {
            deflateEnd(pmd_tls.deflaters[i]);
            free(pmd_tls.deflaters[i]);
            pmd_tls.deflaters[i] = NULL;
        }
    }
}

/* ---- Inflate ------------------------------------------------------------ */

int wsh_pmd_inflate(const uint8_t *in, size_t in_len, uint64_t max_len, uint8_t **out, size_t *out_len)
{
    /* RFC 7692 §7.2.2: the sender removed this empty stored block's tail. */
    static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
    if (max_len > UINT32_MAX || in_len > UINT32_MAX)
        return WSH_ETOOBIG;
    z_stream *z = get_inflater();
    if (!z)
        return WSH_ENOMEM;
    /* Start near a typical ratio, grow by doubling, never past max_len. */
    size_t cap = in_len < 256 ? 1024 : in_len * 4;
    if (cap > max_len)
        cap = (size_t)max_len;
    uint8_t *buf = wsh_try_malloc(cap ? cap : 1);
    if (!buf)
        return WSH_ENOMEM;
    size_t used = 0;
    bool tail_fed = false;
    int rc = 0;
    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = (uInt)in_len;
    for (;;) {
        if (z->avail_in == 0 && !tail_fed) {
            z->next_in = (Bytef *)(uintptr_t)tail;
            z->avail_in = sizeof tail;
            tail_fed = true;
        }
        uint8_t probe;
        bool is_probe = false;
        if (used == cap) {
            if (cap >= max_len) {
                /* The buffer is at the cap: one byte more output means the
                 * message is too big, found without allocating past it. */
                is_probe = true;
                z->next_out = &probe;
                z->avail_out = 1;
            } else {
                size_t ncap = cap * 2 > max_len ? (size_t)max_len : cap * 2;
                uint8_t *nb = wsh_try_realloc(buf, ncap);
                if (!nb) {
                    rc = WSH_ENOMEM;
                    goto fail;
                }
                buf = nb;
                cap = ncap;
            }
        }
        if (!is_probe) {
            z->next_out = buf + used;
            z->avail_out = (uInt)(cap - used);
        }
        int zrc = inflate(z, Z_SYNC_FLUSH);
        if (is_probe) {
            if (z->avail_out == 0) {
                rc = WSH_ETOOBIG;
                goto fail;
            }
        } else {
            used = cap - z->avail_out;
        }
        if (zrc == Z_STREAM_END)
            break; /* a final block ends the message; anything after it is ignored */
        if (zrc == Z_OK || zrc == Z_BUF_ERROR) {
            /* All input read and room left over: inflate has flushed all. */
            if (tail_fed && z->avail_in == 0 && z->avail_out > 0)
                break;
            if (zrc == Z_BUF_ERROR && z->avail_out > 0) {
                rc = WSH_EPAYLOAD; /* no progress with input and room: not DEFLATE */
                goto fail;
            }
            continue;
        }
        rc = zrc == Z_MEM_ERROR ? WSH_ENOMEM : WSH_EPAYLOAD;
        goto fail;
    }
    WSH_METRIC_ADD(inflate_in_bytes, in_len);
    WSH_METRIC_ADD(inflate_out_bytes, used);
    *out = buf;
    *out_len = used;
    return 0;
fail:
    free(buf);
    return rc;
}

/* ---- Deflate ------------------------------------------------------------ */

wsh_msg_t *wsh_pmd_compress(uint8_t opcode, const uint8_t *payload, size_t len, uint8_t bits)
{
    if (bits < WSH_PMD_MIN_BITS || bits > WSH_PMD_MAX_BITS || len > UINT32_MAX / 2)
        return NULL;
    z_stream *z = get_deflater(bits);
    if (!z)
        return NULL;
    /* Worth sending only if smaller: the output buffer is as large as the
     * payload, and running out of it means "not smaller". 4 extra bytes
     * hold the sync-flush tail that is stripped below. */
    size_t room = len + 4;
    wsh_msg_t *m = wsh_msg_try_new(WSH_FRAME_MAX_SERVER_HEADER + room);
    if (!m)
        return NULL;
    uint8_t *dst = m->data + WSH_FRAME_MAX_SERVER_HEADER;
    z->next_in = (Bytef *)(uintptr_t)payload;
    z->avail_in = (uInt)len;
    z->next_out = dst;
    z->avail_out = (uInt)room;
    /* RFC 7692 §7.2.1: end on a byte boundary with an empty stored block
     * (Z_SYNC_FLUSH), then drop its 00 00 ff ff. */
    int zrc = deflate(z, Z_SYNC_FLUSH);
    size_t out = room - z->avail_out;
    if (zrc != Z_OK || z->avail_in != 0 || z->avail_out == 0 || out < 4 ||
        memcmp(dst + out - 4, "\x00\x00\xff\xff", 4) != 0) {
        wsh_msg_unref(m);
        return NULL;
    }
    out -= 4;
    if (out >= len) {
        wsh_msg_unref(m);
        return NULL;
    }
    /* The header's length is known only now: write it just before the
     * payload's final place and slide the payload down to meet it. */
    uint8_t hdr[WSH_FRAME_MAX_SERVER_HEADER];
    size_t hlen = wsh_frame_header_encode(hdr, opcode, true, WSH_PMD_RSV, out);
    memcpy(m->data, hdr, hlen);
    if (hlen != WSH_FRAME_MAX_SERVER_HEADER)
        memmove(m->data + hlen, dst, out);
    m->len = (uint32_t)(hlen + out);
    /* Give back the room the compression saved; the msg may move. */
    wsh_msg_t *shrunk = wsh_try_realloc(m, sizeof *m + m->len);
    if (shrunk)
        m = shrunk;
    WSH_METRIC_ADD(deflate_in_bytes, len);
    WSH_METRIC_ADD(deflate_out_bytes, out);
    return m;
}

/* Reads frame's header if it is exactly one FIN text/binary frame without
 * RSV bits and without a mask; its header length, else 0. */
static size_t whole_data_frame(const wsh_msg_t *f, uint64_t *plen)
{
    if (f->len < 2 || (f->data[0] != 0x81 && f->data[0] != 0x82) || (f->data[1] & 0x80))
        return 0;
    uint8_t len7 = f->data[1] & 0x7F;
    size_t hlen = len7 == 126 ? 4 : len7 == 127 ? 10 : 2;
    if (f->len < hlen)
        return 0;
    uint64_t n = len7;
    if (len7 == 126)
        n = (uint64_t)f->data[2] << 8 | f->data[3];
    else if (len7 == 127)
        for (int k = 0; k < 8; k++)
            n = n << 8 | f->data[2 + k];
    /* Several frames batched in one msg are sent as they are. */
    if (n != f->len - hlen)
        return 0;
    *plen = n;
    return hlen;
}

wsh_msg_t *wsh_pmd_frame_for(wsh_msg_t *frame, uint8_t bits, uint32_t threshold)
{
    uint64_t plen;
    size_t hlen = whole_data_frame(frame, &plen);
    /* RFC 7692 §6: each message may be sent compressed or not; small ones
     * gain too little to pay for the compression. */
    if (!hlen || plen < threshold)
        return frame;
    /* The variant tag is the window bits; the chain is as long as the
     * distinct windows the subscribers asked for (nearly always one). */
    for (wsh_msg_t *v = frame->alt; v; v = v->alt)
        if (v->alt_tag == bits)
            return v->len ? v : frame;
    wsh_msg_t *v = wsh_pmd_compress(frame->data[0] & 0x0F, frame->data + hlen, (size_t)plen, bits);
    if (!v) {
        /* Not smaller (or no memory): remember with an empty marker so the
         * next subscriber does not try again. */
        v = wsh_msg_try_new(0);
        if (!v)
            return frame;
    }
    v->alt_tag = bits;
    /* The latency metric reads the stamp of the frame actually written. */
    v->pub_ns = frame->pub_ns;
    v->alt = frame->alt;
    frame->alt = v;
    return v->len ? v : frame;
}
