/* RFC 6455 §5 frame codec: the incremental, non-allocating frame parser with
 * in-place unmasking, and the server-side frame encoders; not message
 * assembly, UTF-8 or close semantics beyond the close-code table (session.c). */
#include "ws/frame.h"

#include <limits.h>
#include <string.h>

#include "core/err.h"

enum {
    ST_HEADER = 0, /* collecting header bytes (hdr_len of hdr_need) */
    ST_PAYLOAD,    /* `remaining` payload bytes still to come */
    ST_END,        /* payload complete: the next call reports EV_END */
    ST_DEAD,       /* an error was reported; the parser is unusable */
};

void wsh_frame_parser_init(wsh_frame_parser_t *p, uint64_t max_payload)
{
    memset(p, 0, sizeof(*p));
    p->state = ST_HEADER;
    p->hdr_need = 2;
    p->require_mask = true;
    p->allowed_rsv = 0;
    p->max_payload = max_payload;
}

bool wsh_frame_parser_is_idle(const wsh_frame_parser_t *p)
{
    return p->state == ST_HEADER && p->hdr_len == 0;
}

void wsh_frame_unmask(uint8_t *data, size_t len, const uint8_t mask[4], uint8_t *pos)
{
    unsigned rot = *pos & 3u;
    /* The 8-byte mask word starts at the current rotation; because 8 is a
     * multiple of 4 the word stays valid for every following 8-byte block, so
     * the rotation only matters again for the tail. Built byte by byte, the
     * word is independent of host endianness. */
    uint8_t m8[8];
    for (unsigned k = 0; k < 4; k++)
        m8[k] = mask[(rot + k) & 3u];
    memcpy(m8 + 4, m8, 4);
    uint64_t mw;
    memcpy(&mw, m8, 8);

    size_t i = 0;
    /* Four independent words per iteration keep the loads and stores in
     * flight; memcpy is the aliasing- and alignment-safe way to load them. */
    for (; len - i >= 32; i += 32) {
        uint64_t a, b, c, d;
        memcpy(&a, data + i, 8);
        memcpy(&b, data + i + 8, 8);
        memcpy(&c, data + i + 16, 8);
        memcpy(&d, data + i + 24, 8);
        a ^= mw;
        b ^= mw;
        c ^= mw;
        d ^= mw;
        memcpy(data + i, &a, 8);
        memcpy(data + i + 8, &b, 8);
        memcpy(data + i + 16, &c, 8);
        memcpy(data + i + 24, &d, 8);
    }
    for (; len - i >= 8; i += 8) {
        uint64_t a;
        memcpy(&a, data + i, 8);
        a ^= mw;
        memcpy(data + i, &a, 8);
    }
    for (; i < len; i++)
        data[i] ^= m8[i & 7u];
    *pos = (uint8_t)((rot + len) & 3u);
}

static inline bool is_control(uint8_t opcode)
{
    return (opcode & 0x8) != 0;
}

static inline uint64_t load_be64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v = (v << 8) | b[k];
    return v;
}

static long fail(wsh_frame_parser_t *p, int err)
{
    p->state = ST_DEAD;
    return err;
}

/* Checks the first two header bytes and sets hdr_need to the full header
 * length. Every rule that these bytes alone decide is applied here, so a bad
 * frame fails before its extended length or mask arrives. */
static int check_base(wsh_frame_parser_t *p)
{
    uint8_t b0 = p->hdr[0], b1 = p->hdr[1];
    p->fin = (b0 & 0x80) != 0;
    p->rsv = (uint8_t)((b0 >> 4) & 7);
    p->opcode = b0 & 0x0F;
    uint8_t len7 = b1 & 0x7F;
    bool masked = (b1 & 0x80) != 0;

    /* RFC 6455 §5.2: RSV1-3 MUST be 0 unless an extension defines them. */
    if (p->rsv & ~p->allowed_rsv)
        return WSH_EPROTO;
    /* RFC 6455 §5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved. */
    if ((p->opcode >= 0x3 && p->opcode <= 0x7) || p->opcode >= 0xB)
        return WSH_EPROTO;
    /* RFC 6455 §5.1: a server MUST close on an unmasked client frame. */
    if (p->require_mask && !masked)
        return WSH_EPROTO;
    if (is_control(p->opcode)) {
        /* RFC 6455 §5.5: control frames MUST NOT be fragmented and carry at
         * most 125 bytes, so only the 7-bit length form is legal. */
        if (!p->fin || len7 > WSH_FRAME_MAX_CONTROL)
            return WSH_EPROTO;
    } else if (len7 < 126 && len7 > p->max_payload) {
        return WSH_ETOOBIG;
    }
    p->hdr_need = (uint8_t)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0));
    return 0;
}

/* Decodes the complete header: length, mask; enters the payload state. */
static int finish_header(wsh_frame_parser_t *p)
{
    uint8_t len7 = p->hdr[1] & 0x7F;
    size_t off = 2;
    uint64_t plen = len7;
    if (len7 == 126) {
        plen = (uint64_t)p->hdr[2] << 8 | p->hdr[3];
        /* RFC 6455 §5.2: "the minimal number of bytes MUST be used". */
        if (plen < 126)
            return WSH_EPROTO;
        off = 4;
    } else if (len7 == 127) {
        plen = load_be64(p->hdr + 2);
        /* RFC 6455 §5.2: the most significant bit MUST be 0. */
        if (plen >> 63)
            return WSH_EPROTO;
        if (plen < 65536)
            return WSH_EPROTO;
        off = 10;
    }
    /* Refused on the declared length, before any payload is buffered. Control
     * frames are bounded to 125 bytes by §5.5 already and stay exempt, so a
     * small message cap never blocks pings or the closing handshake. */
    if (!is_control(p->opcode) && plen > p->max_payload)
        return WSH_ETOOBIG;
    if (p->hdr[1] & 0x80)
        memcpy(p->mask, p->hdr + off, 4);
    p->mask_pos = 0;
    p->payload_len = plen;
    p->remaining = plen;
    p->state = plen ? ST_PAYLOAD : ST_END;
    return 0;
}

static void fill_ev(const wsh_frame_parser_t *p, wsh_frame_ev_t *ev, wsh_frame_ev_type_t type)
{
    ev->type = type;
    ev->fin = p->fin;
    ev->rsv = p->rsv;
    ev->opcode = p->opcode;
    ev->payload_len = p->payload_len;
    ev->data = NULL;
    ev->len = 0;
}

long wsh_frame_consume(wsh_frame_parser_t *p, uint8_t *data, size_t len, wsh_frame_ev_t *ev)
{
    switch (p->state) {
    case ST_PAYLOAD: {
        size_t n = p->remaining < len ? (size_t)p->remaining : len;
        if (n > LONG_MAX)
            n = LONG_MAX;
        fill_ev(p, ev, n ? WSH_FRAME_EV_PAYLOAD : WSH_FRAME_EV_NONE);
        if (n == 0)
            return 0;
        if (p->hdr[1] & 0x80)
            wsh_frame_unmask(data, n, p->mask, &p->mask_pos);
        p->remaining -= n;
        if (p->remaining == 0)
            p->state = ST_END;
        ev->data = data;
        ev->len = n;
        return (long)n;
    }
    case ST_END:
        fill_ev(p, ev, WSH_FRAME_EV_END);
        p->state = ST_HEADER;
        p->hdr_len = 0;
        p->hdr_need = 2;
        return 0;
    case ST_HEADER:
        break;
    default:
        fill_ev(p, ev, WSH_FRAME_EV_NONE);
        return WSH_EPROTO;
    }

    size_t used = 0;
    if (p->hdr_len == 0 && len >= 2) {
        /* The usual case, a whole header at hand: its bytes are copied one
         * by one (2 + at most 12) instead of through memcpy calls. */
        p->hdr[0] = data[0];
        p->hdr[1] = data[1];
        p->hdr_len = 2;
        int rc = check_base(p);
        if (rc) {
            fill_ev(p, ev, WSH_FRAME_EV_NONE);
            return fail(p, rc);
        }
        used = 2;
        if (len >= p->hdr_need) {
            for (size_t k = 2; k < p->hdr_need; k++)
                p->hdr[k] = data[k];
            p->hdr_len = p->hdr_need;
            used = p->hdr_need;
            goto complete;
        }
        /* Only part of the extended length or mask is here: collect the
         * rest below as if the bytes had come one call at a time. */
    }
    for (;;) {
        size_t take = (size_t)(p->hdr_need - p->hdr_len);
        if (take > len - used)
            take = len - used;
        if (take)
            memcpy(p->hdr + p->hdr_len, data + used, take);
        p->hdr_len = (uint8_t)(p->hdr_len + take);
        used += take;
        if (p->hdr_len < p->hdr_need) {
            fill_ev(p, ev, WSH_FRAME_EV_NONE);
            return (long)used;
        }
        if (p->hdr_len > 2)
            break;
        /* The first two bytes are in: validate them and learn the length. */
        int rc = check_base(p);
        if (rc) {
            fill_ev(p, ev, WSH_FRAME_EV_NONE);
            return fail(p, rc);
        }
        if (p->hdr_need == 2)
            break;
    }
complete:;
    int rc = finish_header(p);
    if (rc) {
        fill_ev(p, ev, WSH_FRAME_EV_NONE);
        return fail(p, rc);
    }
    fill_ev(p, ev, WSH_FRAME_EV_HEADER);
    return (long)used;
}

size_t wsh_frame_header_encode(uint8_t out[WSH_FRAME_MAX_SERVER_HEADER], uint8_t opcode, bool fin,
                               uint8_t rsv, uint64_t payload_len)
{
    out[0] = (uint8_t)((fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0F));
    if (payload_len < 126) {
        out[1] = (uint8_t)payload_len;
        return 2;
    }
    if (payload_len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (uint8_t)(payload_len >> 8);
        out[3] = (uint8_t)payload_len;
        return 4;
    }
    out[1] = 127;
    for (int k = 0; k < 8; k++)
        out[2 + k] = (uint8_t)(payload_len >> (56 - 8 * k));
    return 10;
}

static wsh_msg_t *fill_frame(wsh_msg_t *m, const uint8_t *hdr, size_t hlen, const void *payload,
                             size_t len)
{
    if (!m)
        return NULL;
    memcpy(m->data, hdr, hlen);
    if (len)
        memcpy(m->data + hlen, payload, len);
    return m;
}

wsh_msg_t *wsh_frame_build(uint8_t opcode, const void *payload, size_t len)
{
    uint8_t hdr[WSH_FRAME_MAX_SERVER_HEADER];
    size_t hlen = wsh_frame_header_encode(hdr, opcode, true, 0, len);
    return fill_frame(wsh_msg_new(hlen + len), hdr, hlen, payload, len);
}

wsh_msg_t *wsh_frame_try_build(uint8_t opcode, const void *payload, size_t len)
{
    uint8_t hdr[WSH_FRAME_MAX_SERVER_HEADER];
    if (len > SIZE_MAX - WSH_FRAME_MAX_SERVER_HEADER)
        return NULL;
    size_t hlen = wsh_frame_header_encode(hdr, opcode, true, 0, len);
    return fill_frame(wsh_msg_try_new(hlen + len), hdr, hlen, payload, len);
}

wsh_msg_t *wsh_frame_build_close(uint16_t code, const char *reason)
{
    /* RFC 6455 §5.5.1: the body is a 2-byte code then a UTF-8 reason, and the
     * whole control payload is at most 125 bytes; no code means no body. */
    uint8_t body[WSH_FRAME_MAX_CONTROL];
    size_t len = 0;
    if (code != 0) {
        body[0] = (uint8_t)(code >> 8);
        body[1] = (uint8_t)code;
        len = 2;
        size_t rlen = reason ? strlen(reason) : 0;
        size_t room = WSH_FRAME_MAX_CONTROL - 2;
        if (rlen > room) {
            /* Cut before the continuation bytes of a split character, so the
             * peer never sees a truncated sequence (it would fail with 1007). */
            rlen = room;
            while (rlen > 0 && ((uint8_t)reason[rlen] & 0xC0) == 0x80)
                rlen--;
        }
        if (rlen)
            memcpy(body + 2, reason, rlen);
        len += rlen;
    }
    return wsh_frame_build(WSH_OP_CLOSE, body, len);
}

bool wsh_frame_close_code_is_valid(uint16_t code)
{
    /* RFC 6455 §7.4.1/§7.4.2: 1004 is reserved, 1005, 1006 and 1015 must never
     * be sent; 1012-1014 are treated as unassigned here; 3000-3999 are
     * registered with IANA and 4000-4999 are private use. */
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
           (code >= 3000 && code <= 4999);
}
