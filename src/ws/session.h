/* A WebSocket session's receive side, sans-I/O: turns bytes into whole
 * messages (reassembling fragments into one buffer), answers pings through a
 * callback, validates text incrementally, and checks close frames. It never
 * touches a socket and knows nothing of JSON or channels. */
#ifndef WSH_WS_SESSION_H
#define WSH_WS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "ws/frame.h"

/* Callbacks into the owner (ws/wsconn.c on the server). All run synchronously
 * inside wsh_session_feed; none may free the session. */
typedef struct wsh_session_cb {
    /* A complete data message: opcode is WSH_OP_TEXT (already valid UTF-8,
     * unless s->msg_rsv has RSV1 set: a permessage-deflate message is still
     * compressed, and the owner validates it after inflating) or
     * WSH_OP_BINARY. data is valid only during the call (it may point into the
     * caller's read buffer); it is never NULL, even when len is 0. Return 0,
     * or a negative WSH_E* to fail the session with that error
     * (wsh_session_feed returns it). */
    int (*on_message)(void *ud, uint8_t opcode, uint8_t *data, size_t len);
    /* The session wants a control frame sent: a pong with the ping's payload
     * (RFC 6455 §5.5.2), also when the ping arrives between fragments;
     * payload is valid only during the call. Not called after
     * wsh_session_mark_close_sent. */
    void (*on_control)(void *ud, uint8_t opcode, const uint8_t *payload, size_t len);
    /* A valid close frame arrived: code is 0 when it had no status code
     * (then reason_len is 0); reason (valid UTF-8, not NUL-terminated) is
     * valid only during the call. The owner echoes it and closes the TCP
     * connection; the session consumes nothing after it. */
    void (*on_close)(void *ud, uint16_t code, const uint8_t *reason, size_t reason_len);
} wsh_session_cb_t;

/* Limits applied to every session (from the config). */
typedef struct wsh_session_limits {
    uint64_t max_message;   /* bytes; a message (all fragments) over it fails with WSH_ETOOBIG,
                             * judged on declared frame lengths before buffering; 0 allows
                             * only empty messages (it is not "unlimited") */
    uint32_t max_fragments; /* frames per message, 0 = unlimited; over it WSH_EPOLICY */
} wsh_session_limits_t;

/* Caller-owned (embedded in the connection). init/dispose. The message buffer
 * is allocated only while a fragmented message is being assembled and is freed
 * when the message completes, so an idle session holds no heap memory. */
typedef struct wsh_session {
    wsh_frame_parser_t fp;  /* fp.max_payload doubles as the message cap (lim->max_message) */
    wsh_buf_t *msg;         /* the message in progress; NULL unless one is being assembled */
    uint8_t *ctrl;          /* control payload being collected; allocated for the frame only */
    uint32_t max_fragments; /* lim->max_fragments */
    uint32_t utf8_state;
    uint32_t fragments;
    int error;              /* the first error feed returned (sticky), else 0 */
    /* The byte-sized fields together at the end: the struct is embedded in
     * every WebSocket connection, so padding costs per connection. */
    uint8_t ctrl_len;
    uint8_t frame_op;       /* opcode of the frame being parsed */
    bool frame_fin;
    uint8_t msg_op;         /* TEXT/BINARY while a message is in progress, else 0 */
    uint8_t msg_rsv;        /* RSV bits of the message's first frame (0x4: compressed,
                             * RFC 7692); readable from on_message */
    bool direct;            /* current frame is a whole message delivered from the input in place */
    bool is_closed_recv;    /* a close frame arrived: ignore everything after */
    bool is_close_sent;     /* we sent close: drop data messages, send no pongs */
} wsh_session_t;

/* lim's values are copied. The frame parser starts server-side (masked frames, no RSV bits): the owner sets
 * s->fp.allowed_rsv after negotiating an extension. RSV bits are refused on
 * control and continuation frames whatever is negotiated (RFC 7692 §6). */
void wsh_session_init(wsh_session_t *s, const wsh_session_limits_t *lim);
/* Changes the message cap (and so the frame cap) for what arrives next,
 * e.g. a small cap until the connection has authenticated. */
void wsh_session_set_max_message(wsh_session_t *s, uint64_t max_message);
static inline uint64_t wsh_session_max_message(const wsh_session_t *s) { return s->fp.max_payload; }

/* Frees the message buffer. */
void wsh_session_dispose(wsh_session_t *s);

/* Feeds received bytes (writable: payload is unmasked in place) and reports
 * what they complete to cb (any callback may be NULL) with ud; the owner
 * passes the same cb and ud on every call (they are not stored: the session
 * is part of every connection's cost). Returns 0 when
 * all were consumed (or ignored after a close frame), or a negative error:
 * WSH_EPROTO (1002: framing, continuation without start, data frame inside a
 * fragmented message, close payload of 1 byte or invalid close code),
 * WSH_EUTF8 (1007: at the first invalid byte of text or close reason),
 * WSH_ETOOBIG (1009), WSH_ENOMEM (1009), WSH_EPOLICY (1008: fragment cap),
 * or whatever on_message returned. After an error the session must not be fed;
 * if it is, it consumes nothing and returns the same error again. */
int wsh_session_feed(wsh_session_t *s, const wsh_session_cb_t *cb, void *ud, uint8_t *data, size_t len);

/* Records that our close frame went out: later data messages are discarded
 * and pings are not answered (RFC 6455 §5.5.1), but a close frame still
 * reaches on_close so the handshake can finish. */
void wsh_session_mark_close_sent(wsh_session_t *s);

#endif
