/* RFC 6455 §5 frame codec, sans-I/O: an incremental parser that never
 * allocates, unmasks payload in place, and reports header/payload/end events;
 * and a server-side (unmasked) header encoder. It knows nothing of messages,
 * fragments across frames, UTF-8 or sockets (session.c does). */
#ifndef WSH_WS_FRAME_H
#define WSH_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"

enum {
    WSH_OP_CONT = 0x0,
    WSH_OP_TEXT = 0x1,
    WSH_OP_BINARY = 0x2,
    WSH_OP_CLOSE = 0x8,
    WSH_OP_PING = 0x9,
    WSH_OP_PONG = 0xA,
};

/* Largest possible frame header: 2 + 8 (len) + 4 (mask). */
#define WSH_FRAME_MAX_HEADER 14
/* Server frames carry no mask: 2 + 8. */
#define WSH_FRAME_MAX_SERVER_HEADER 10
/* RFC 6455 §5.5: control frame payloads are at most 125 bytes. */
#define WSH_FRAME_MAX_CONTROL 125

typedef enum {
    WSH_FRAME_EV_NONE = 0,    /* consumed bytes, nothing complete yet (need more) */
    WSH_FRAME_EV_HEADER,      /* a header was parsed: fin, rsv, opcode, payload_len valid */
    WSH_FRAME_EV_PAYLOAD,     /* ev.data/ev.len is an unmasked chunk of payload */
    WSH_FRAME_EV_END,         /* the current frame's payload is complete */
} wsh_frame_ev_type_t;

typedef struct wsh_frame_ev {
    wsh_frame_ev_type_t type;
    bool fin;
    uint8_t rsv;        /* RSV1..3 as bits 0x4,0x2,0x1 (i.e. (b0 >> 4) & 7) */
    uint8_t opcode;
    uint64_t payload_len;
    uint8_t *data;      /* EV_PAYLOAD: points into the caller's buffer, unmasked in place */
    size_t len;
} wsh_frame_ev_t;

/* Caller-owned parser state (a few dozen bytes); wsh_frame_parser_init before
 * use, no dispose needed. */
typedef struct wsh_frame_parser {
    uint8_t state;
    uint8_t hdr[WSH_FRAME_MAX_HEADER];
    uint8_t hdr_len;     /* header bytes collected so far */
    uint8_t hdr_need;    /* header bytes needed (2 until the length form is known) */
    bool fin;
    uint8_t rsv;
    uint8_t opcode;
    uint8_t mask[4];
    uint8_t mask_pos;    /* rotation of the mask for the next payload byte */
    uint8_t allowed_rsv; /* RSV bits an extension has negotiated (0x4 for deflate) */
    bool require_mask;   /* true on the server: clients MUST mask (RFC 6455 §5.1) */
    uint64_t payload_len;
    uint64_t remaining;
    uint64_t max_payload; /* data frames declaring more fail with WSH_ETOOBIG */
} wsh_frame_parser_t;

/* Server-side parser: requires masked frames, no RSV bits allowed, data frames
 * whose declared length exceeds max_payload are refused before any payload is
 * read (control frames are bounded by §5.5's 125 bytes instead). After init
 * the owner may set allowed_rsv (negotiated extensions) and require_mask
 * (false on a client, which then accepts frames with or without a mask). */
void wsh_frame_parser_init(wsh_frame_parser_t *p, uint64_t max_payload);

/* Consumes bytes from data[0..len) and reports exactly one event in *ev.
 * Returns the number of bytes consumed (>= 0), or a negative error. EV_END
 * consumes nothing (it follows the frame's last EV_PAYLOAD, or its EV_HEADER
 * when the payload is empty); EV_NONE is reported only once all of data has
 * been consumed and the parser needs more bytes. EV_HEADER consumes exactly
 * the header's bytes, so the payload starts at data + return value. Errors:
 *   WSH_EPROTO  unmasked client frame, RSV bits not negotiated, reserved
 *               opcode, control frame fragmented or longer than 125,
 *               64-bit length with the top bit set, non-minimal length encoding;
 *   WSH_ETOOBIG a data frame's declared payload_len > max_payload.
 * The parser is unusable after an error (later calls return WSH_EPROTO).
 * Payload bytes are unmasked in place, so data must be writable; payload
 * chunks never extend past the frame. Callers loop, advancing data by the
 * return value, until EV_NONE: do { n = consume(...); ... } while (ev.type). */
long wsh_frame_consume(wsh_frame_parser_t *p, uint8_t *data, size_t len, wsh_frame_ev_t *ev);

/* True when the parser sits between frames (no partial header or payload). */
bool wsh_frame_parser_is_idle(const wsh_frame_parser_t *p);

/* XORs data with the 4-byte mask starting at rotation *pos (0..3), updating
 * *pos; processes 8 bytes at a time. Exposed for tests and the client side. */
void wsh_frame_unmask(uint8_t *data, size_t len, const uint8_t mask[4], uint8_t *pos);

/* Writes an unmasked server frame header into out; returns its length (2, 4 or 10). */
size_t wsh_frame_header_encode(uint8_t out[WSH_FRAME_MAX_SERVER_HEADER], uint8_t opcode, bool fin,
                               uint8_t rsv, uint64_t payload_len);

/* Builds a complete, unfragmented, unmasked frame (header + payload) in one
 * refcounted msg. Aborts on OOM (sizes are ours); use wsh_frame_try_build for
 * payloads a peer sized. */
wsh_msg_t *wsh_frame_build(uint8_t opcode, const void *payload, size_t len);
wsh_msg_t *wsh_frame_try_build(uint8_t opcode, const void *payload, size_t len);

/* Builds a close frame with code (0 = no status code, empty payload, reason
 * ignored) and a reason (NUL-terminated UTF-8, may be NULL) truncated at a
 * character boundary to fit the 123 bytes left after the code. Aborts on OOM. */
wsh_msg_t *wsh_frame_build_close(uint16_t code, const char *reason);

/* RFC 6455 §7.4: true if code may appear in a close frame received from a peer
 * (1000-1003, 1007-1011, 3000-4999; not 1004-1006, 1015 or anything else). */
bool wsh_frame_close_code_is_valid(uint16_t code);

#endif
