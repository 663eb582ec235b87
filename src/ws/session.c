/* WebSocket receive side (RFC 6455 §5.4-§5.5, §7, §8.1): frames to whole
 * messages, pings to pong requests, close-frame validation; not sockets,
 * sending, compression or anything above the message (JSON, channels). */
#include "ws/session.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "ws/utf8.h"

void wsh_session_init(wsh_session_t *s, const wsh_session_limits_t *lim)
{
    memset(s, 0, sizeof(*s));
    /* A single frame can never be larger than the message it belongs to, so
     * the parser refuses it on its declared length before reading payload. */
    wsh_frame_parser_init(&s->fp, lim->max_message);
    s->max_fragments = lim->max_fragments;
    s->utf8_state = WSH_UTF8_ACCEPT;
}

/* The message buffer lives behind a pointer, allocated while a message is
 * assembled from several reads or fragments and freed when it completes. */
static size_t msg_len(const wsh_session_t *s)
{
    return s->msg ? s->msg->len : 0;
}

static wsh_buf_t *msg_get(wsh_session_t *s)
{
    if (!s->msg) {
        s->msg = wsh_xmalloc(sizeof *s->msg);
        wsh_buf_init(s->msg);
    }
    return s->msg;
}

static void msg_drop(wsh_session_t *s)
{
    if (s->msg) {
        wsh_buf_dispose(s->msg);
        free(s->msg);
        s->msg = NULL;
    }
}

void wsh_session_set_max_message(wsh_session_t *s, uint64_t max_message)
{
    s->fp.max_payload = max_message;
}

void wsh_session_dispose(wsh_session_t *s)
{
    msg_drop(s);
    free(s->ctrl);
    s->ctrl = NULL;
}

void wsh_session_mark_close_sent(wsh_session_t *s)
{
    s->is_close_sent = true;
}

static inline bool is_control(uint8_t opcode)
{
    return (opcode & 0x8) != 0;
}

/* Text is validated as it arrives, except a compressed (RSV1) message, whose
 * wire bytes are not the text: its owner validates after inflating. */
static inline bool must_validate(const wsh_session_t *s)
{
    return s->msg_op == WSH_OP_TEXT && !(s->msg_rsv & 0x4);
}

/* Drops the message in progress and its buffer (an idle session holds no heap). */
static void reset_message(wsh_session_t *s)
{
    s->msg_op = 0;
    s->msg_rsv = 0;
    s->direct = false;
    s->fragments = 0;
    s->utf8_state = WSH_UTF8_ACCEPT;
    msg_drop(s);
}

/* Makes room for a whole frame at once, so its payload chunks append without
 * reallocating. The caller has already checked len against max_message. */
static int reserve_frame(wsh_session_t *s, uint64_t len)
{
    if (len == 0)
        return 0;
    if (len > SIZE_MAX)
        return WSH_ENOMEM;
    return wsh_buf_reserve(msg_get(s), (size_t)len);
}

/* One wsh_session_feed call: the owner's callbacks and where a message
 * delivered in place starts. Passed per call rather than kept in the
 * session, which every connection embeds (24 bytes each). */
typedef struct feed {
    wsh_session_t *s;
    const wsh_session_cb_t *cb;
    void *ud;
    uint8_t *direct_start; /* set by on_header when s->direct */
} feed_t;

/* rest/rest_len: the input that follows the header in this feed call. */
static int on_header(feed_t *f, const wsh_frame_ev_t *ev, uint8_t *rest, size_t rest_len)
{
    wsh_session_t *s = f->s;
    s->frame_op = ev->opcode;
    s->frame_fin = ev->fin;

    if (is_control(ev->opcode)) {
        /* RFC 7692 §6: the compression bit MUST NOT be set on control frames
         * (and no other extension is defined for them). */
        if (ev->rsv)
            return WSH_EPROTO;
        s->ctrl_len = 0;
        /* Held only while a control frame is open: an idle session keeps no
         * 125-byte buffer (issue: memory per idle connection). */
        if (!s->ctrl && !(s->ctrl = wsh_try_malloc(WSH_FRAME_MAX_CONTROL)))
            return WSH_ENOMEM;
        return 0;
    }

    if (ev->opcode == WSH_OP_CONT) {
        /* RFC 6455 §5.4: a continuation frame only follows a non-final frame. */
        if (!s->msg_op)
            return WSH_EPROTO;
        /* RFC 7692 §6.1: only a message's first frame carries RSV1. */
        if (ev->rsv)
            return WSH_EPROTO;
        if (s->max_fragments && s->fragments >= s->max_fragments)
            return WSH_EPOLICY;
        s->fragments++;
        /* The cap holds for what is assembled plus what this frame declares,
         * so an oversized message fails before its bytes are buffered.
         * msg.len never exceeds max_message, so the subtraction is safe. */
        if (ev->payload_len > s->fp.max_payload - msg_len(s))
            return WSH_ETOOBIG;
        return reserve_frame(s, ev->payload_len);
    }

    /* RFC 6455 §5.4: the fragments of one message are not interleaved with
     * another data message. */
    if (s->msg_op)
        return WSH_EPROTO;
    s->msg_op = ev->opcode;
    s->msg_rsv = ev->rsv;
    s->fragments = 1;
    s->utf8_state = WSH_UTF8_ACCEPT;
    if (ev->payload_len > s->fp.max_payload)
        return WSH_ETOOBIG;
    /* The common case: a whole message in one frame, all of it in this read.
     * It is delivered where it lies, without a copy or an allocation. */
    if (ev->fin && ev->payload_len <= rest_len) {
        s->direct = true;
        f->direct_start = rest;
        return 0;
    }
    s->direct = false;
    return reserve_frame(s, ev->payload_len);
}

static int on_payload(wsh_session_t *s, const uint8_t *data, size_t len)
{
    if (is_control(s->frame_op)) {
        /* The parser bounds control payloads to 125 bytes (§5.5). */
        memcpy(s->ctrl + s->ctrl_len, data, len);
        s->ctrl_len = (uint8_t)(s->ctrl_len + len);
        return 0;
    }
    /* RFC 6455 §8.1: fail as soon as invalid text is seen, not at the end. */
    if (must_validate(s) && wsh_utf8_validate(&s->utf8_state, data, len) != len)
        return WSH_EUTF8;
    if (s->direct)
        return 0;
    /* Room for the whole frame was reserved at its header. */
    return wsh_buf_append(msg_get(s), data, len);
}

static int on_close_frame(feed_t *f)
{
    wsh_session_t *s = f->s;
    uint16_t code = 0;
    size_t reason_len = 0;
    /* RFC 6455 §5.5.1: a body, if present, starts with a 2-byte status code. */
    if (s->ctrl_len == 1)
        return WSH_EPROTO;
    if (s->ctrl_len >= 2) {
        code = (uint16_t)(s->ctrl[0] << 8 | s->ctrl[1]);
        /* RFC 6455 §7.4: codes a peer may not send fail the connection. */
        if (!wsh_frame_close_code_is_valid(code))
            return WSH_EPROTO;
        reason_len = s->ctrl_len - 2u;
        /* RFC 6455 §5.5.1: the reason is UTF-8; §8.1 says invalid fails. */
        if (!wsh_utf8_is_valid(s->ctrl + 2, reason_len))
            return WSH_EUTF8;
    }
    /* RFC 6455 §5.5.1: nothing follows a close frame; a message in progress
     * is abandoned. */
    s->is_closed_recv = true;
    reset_message(s);
    if (f->cb && f->cb->on_close)
        f->cb->on_close(f->ud, code, s->ctrl + 2, reason_len);
    return 0;
}

static int on_control_end(feed_t *f)
{
    wsh_session_t *s = f->s;
    switch (s->frame_op) {
    case WSH_OP_PING:
        /* RFC 6455 §5.5.2/§5.5.3: answer with the same payload, unless our
         * close is already out (§5.5.1: nothing may follow it). */
        if (!s->is_close_sent && f->cb && f->cb->on_control)
            f->cb->on_control(f->ud, WSH_OP_PONG, s->ctrl, s->ctrl_len);
        return 0;
    case WSH_OP_CLOSE:
        return on_close_frame(f);
    default:
        /* RFC 6455 §5.5.3: an unsolicited pong needs no answer. */
        return 0;
    }
}

static int on_end(feed_t *f)
{
    wsh_session_t *s = f->s;
    if (is_control(s->frame_op)) {
        int rc = on_control_end(f);
        free(s->ctrl);
        s->ctrl = NULL;
        return rc;
    }
    if (!s->frame_fin)
        return 0;
    /* RFC 6455 §8.1: the message must end on a character boundary. */
    if (must_validate(s) && s->utf8_state != WSH_UTF8_ACCEPT)
        return WSH_EUTF8;
    uint8_t *data;
    size_t len;
    if (s->direct) {
        data = f->direct_start;
        len = (size_t)s->fp.payload_len;
    } else {
        /* An empty fragmented message never allocated; still hand out a
         * valid pointer. */
        static uint8_t empty[1];
        data = s->msg && s->msg->data ? s->msg->data : empty;
        len = msg_len(s);
    }
    int rc = 0;
    /* §5.5.1 / §7.1.4: after our close, data is read but not acted on. */
    if (!s->is_close_sent && f->cb && f->cb->on_message)
        rc = f->cb->on_message(f->ud, s->msg_op, data, len);
    reset_message(s);
    /* Only a negative value is an error (the callback's contract). */
    return rc < 0 ? rc : 0;
}

int wsh_session_feed(wsh_session_t *s, const wsh_session_cb_t *cb, void *ud, uint8_t *data, size_t len)
{
    feed_t f = {s, cb, ud, NULL};
    int rc = 0;
    if (s->error)
        return s->error;
    if (s->is_closed_recv)
        return 0;
    for (;;) {
        wsh_frame_ev_t ev;
        long n = wsh_frame_consume(&s->fp, data, len, &ev);
        if (n < 0) {
            rc = (int)n;
            goto fail;
        }
        data += n;
        len -= (size_t)n;
        switch (ev.type) {
        case WSH_FRAME_EV_NONE:
            return 0;
        case WSH_FRAME_EV_HEADER:
            rc = on_header(&f, &ev, data, len);
            break;
        case WSH_FRAME_EV_PAYLOAD:
            rc = on_payload(s, ev.data, ev.len);
            break;
        case WSH_FRAME_EV_END:
            rc = on_end(&f);
            /* RFC 6455 §5.5.1: bytes after a close frame are ignored. */
            if (rc == 0 && s->is_closed_recv)
                return 0;
            break;
        }
        if (rc)
            goto fail;
    }
fail:
    /* The session is dead: release the partial message now rather than
     * waiting for dispose, and refuse any further input. */
    reset_message(s);
    s->error = rc;
    return rc;
}
