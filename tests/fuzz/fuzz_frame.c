/* libFuzzer target for the WebSocket receive path (frame parser, UTF-8
 * validator, session): feeds the input whole and again in chunks cut at points
 * derived from the input, checks every callback's contract, and requires both
 * runs to agree; not a test of sending or compression. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ws/frame.h"
#include "ws/session.h"
#include "ws/utf8.h"

/* What one run observed; two runs over the same bytes must match. */
typedef struct obs {
    wsh_session_t *s;
    uint64_t max_message;
    uint64_t digest;
    unsigned nmsg, npong, nclose;
} obs_t;

/* Contract violations abort, which libFuzzer reports as a crash. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static uint64_t mix(uint64_t h, const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ d[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t mix_u64(uint64_t h, uint64_t v)
{
    uint8_t b[8];
    memcpy(b, &v, 8);
    return mix(h, b, 8);
}

static int on_message(void *ud, uint8_t opcode, uint8_t *data, size_t len)
{
    obs_t *o = ud;
    CHECK(data != NULL);
    CHECK(opcode == WSH_OP_TEXT || opcode == WSH_OP_BINARY);
    CHECK(len <= o->max_message);
    /* Text is valid UTF-8 unless it is still compressed (RSV1). */
    if (opcode == WSH_OP_TEXT && !(o->s->msg_rsv & 0x4))
        CHECK(wsh_utf8_is_valid(data, len));
    o->nmsg++;
    o->digest = mix_u64(o->digest, 'M');
    o->digest = mix_u64(o->digest, opcode);
    o->digest = mix_u64(o->digest, len);
    o->digest = mix(o->digest, data, len); /* also proves data is readable */
    return 0;
}

static void on_control(void *ud, uint8_t opcode, const uint8_t *payload, size_t len)
{
    obs_t *o = ud;
    CHECK(opcode == WSH_OP_PONG);
    CHECK(len <= WSH_FRAME_MAX_CONTROL);
    CHECK(!o->s->is_close_sent);
    o->npong++;
    o->digest = mix_u64(o->digest, 'P');
    o->digest = mix(o->digest, payload, len);
}

static void on_close(void *ud, uint16_t code, const uint8_t *reason, size_t reason_len)
{
    obs_t *o = ud;
    CHECK(o->nclose == 0);
    if (code == 0)
        CHECK(reason_len == 0);
    else
        CHECK(wsh_frame_close_code_is_valid(code));
    CHECK(reason_len <= WSH_FRAME_MAX_CONTROL - 2);
    CHECK(wsh_utf8_is_valid(reason, reason_len));
    o->nclose++;
    o->digest = mix_u64(o->digest, 'C');
    o->digest = mix_u64(o->digest, code);
    o->digest = mix(o->digest, reason, reason_len);
}

static const wsh_session_cb_t CB = {on_message, on_control, on_close};

typedef struct setup {
    wsh_session_limits_t lim;
    bool deflate;    /* RSV1 negotiated */
    bool close_sent; /* our close went out before any input */
} setup_t;

/* A small xorshift generator seeded from the input: the cut points are a
 * function of the bytes, so every crash reproduces from its input alone. */
static uint64_t next_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Feeds data[0..size) in chunks (whole when seed is 0), each copied into an
 * exact-size allocation so that reads past a chunk are caught. */
static int run(const setup_t *su, const uint8_t *data, size_t size, uint64_t seed, obs_t *o)
{
    wsh_session_t s;
    memset(o, 0, sizeof(*o));
    o->s = &s;
    o->max_message = su->lim.max_message;
    wsh_session_init(&s, &su->lim);
    if (su->deflate)
        s.fp.allowed_rsv = 0x4;
    if (su->close_sent)
        wsh_session_mark_close_sent(&s);
    int rc = 0;
    size_t off = 0;
    uint64_t x = seed | 1;
    do {
        size_t n = size - off;
        if (seed) {
            /* Mostly tiny chunks (splitting headers and UTF-8 sequences),
             * sometimes larger ones (keeping frames whole). */
            uint64_t r = next_rand(&x);
            size_t span = (r & 3) == 0 ? 512 : (r & 3) == 1 ? 16 : 3;
            size_t want = 1 + (size_t)((r >> 8) % span);
            if (want < n)
                n = want;
        }
        uint8_t *chunk = malloc(n ? n : 1);
        CHECK(chunk != NULL);
        if (n)
            memcpy(chunk, data + off, n);
        rc = wsh_session_feed(&s, &CB, o, chunk, n);
        free(chunk);
        off += n;
    } while (off < size && rc == 0);
    if (rc) {
        /* Errors are from the documented set, and release the message. */
        CHECK(rc == WSH_EPROTO || rc == WSH_EUTF8 || rc == WSH_ETOOBIG || rc == WSH_ENOMEM ||
              rc == WSH_EPOLICY);
        CHECK(s.msg == NULL);
        /* The error is sticky: nothing more is parsed or delivered. */
        uint64_t before = o->digest;
        uint8_t more[1] = {0x81};
        CHECK(wsh_session_feed(&s, &CB, o, more, sizeof(more)) == rc);
        CHECK(o->digest == before);
    }
    if (s.is_closed_recv)
        CHECK(s.msg == NULL && o->nclose == 1);
    CHECK(s.msg == NULL || s.msg->len <= su->lim.max_message);
    wsh_session_dispose(&s);
    CHECK(s.msg == NULL);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The setup comes from a hash of the whole input rather than from a
     * prefix, so seeds stay plain wire bytes. */
    uint64_t h = mix(0xcbf29ce484222325ull, data, size);
    static const uint64_t max_messages[8] = {1u << 20, 1u << 20, 1u << 20, 65536, 1000, 126, 125, 0};
    static const uint32_t max_fragments[4] = {0, 0, 1, 4};
    setup_t su;
    su.lim.max_message = max_messages[h & 7];
    su.lim.max_fragments = max_fragments[(h >> 3) & 3];
    su.deflate = ((h >> 5) & 3) == 0;
    su.close_sent = ((h >> 7) & 7) == 0;

    obs_t whole, split;
    int rc_whole = run(&su, data, size, 0, &whole);
    int rc_split = run(&su, data, size, h | 1, &split);
    /* The session is a function of the byte stream, not of how it arrives. */
    CHECK(rc_whole == rc_split);
    CHECK(whole.digest == split.digest);
    CHECK(whole.nmsg == split.nmsg && whole.npong == split.npong && whole.nclose == split.nclose);
    return 0;
}
