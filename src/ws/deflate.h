/* permessage-deflate (RFC 7692), server side: parses a handshake's
 * Sec-WebSocket-Extensions offers and writes the answer, inflates received
 * messages under the message-size cap, and compresses an outgoing frame once
 * into a variant kept beside the plain one (wsh_msg_t.alt). zlib streams are
 * kept per thread, none per connection. Not framing (frame.c), not message
 * assembly (session.c), not sockets (wsconn.c). docs/compression.md. */
#ifndef WSH_WS_DEFLATE_H
#define WSH_WS_DEFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"

/* RFC 7692 §7.1.2: LZ77 window sizes 2^8 .. 2^15 bytes. */
#define WSH_PMD_MIN_BITS 8
#define WSH_PMD_MAX_BITS 15
/* Room for the response value wsh_pmd_negotiate writes, with its NUL. */
#define WSH_PMD_RESPONSE_MAX 112
/* The RSV bit that marks a compressed message (RFC 7692 §6), as
 * wsh_frame_ev_t.rsv and wsh_session_t.msg_rsv hold it. */
#define WSH_PMD_RSV 0x4

/* One Sec-WebSocket-Extensions field value of the request (not NUL-terminated). */
typedef struct wsh_pmd_field {
    const char *ptr;
    size_t len;
} wsh_pmd_field_t;

/* What an accepted offer settles. */
typedef struct wsh_pmd_agreed {
    uint8_t server_bits;                 /* window of our compressor, 8..15 */
    char response[WSH_PMD_RESPONSE_MAX]; /* NUL-terminated value for the 101's Sec-WebSocket-Extensions */
} wsh_pmd_agreed_t;

/* Reads the values of every Sec-WebSocket-Extensions field of a request, in
 * order, as one extension list (RFC 6455 §9.1, RFC 9110 §5.3), and accepts
 * the first permessage-deflate offer whose parameters are all known, none
 * repeated and every value valid (RFC 7692 §7.1); other extensions are
 * ignored. The answer always carries server_no_context_takeover (§7.1.1.1:
 * the server may add it) and client_no_context_takeover (§7.1.1.2), and
 * echoes server_max_window_bits when the offer limits it.
 * Returns 1 (accepted: *out filled), 0 (no acceptable offer: decline, not a
 * handshake failure), or WSH_EBADREQ when a value is not extension-list
 * syntax (unclosed quote, bad token, stray characters), which answers 400. */
int wsh_pmd_negotiate(const wsh_pmd_field_t *fields, size_t cnt, wsh_pmd_agreed_t *out);

/* Inflates the payload of one compressed message (the concatenated payload
 * of its frames, RFC 7692 §7.2.2: the 00 00 ff ff tail is appended here) into
 * a new buffer. The inflater is this thread's, reset first, because the
 * answer asked for client_no_context_takeover. Output grows in steps and
 * never past max_len bytes of buffer, so a bomb costs at most max_len.
 * Returns 0 with *out (malloc'ed, the caller frees it; never NULL) and
 * *out_len; WSH_ETOOBIG when the message inflates to more than max_len;
 * WSH_EPAYLOAD when the data is not valid DEFLATE; WSH_ENOMEM. */
int wsh_pmd_inflate(const uint8_t *in, size_t in_len, uint64_t max_len, uint8_t **out, size_t *out_len);

/* Compresses payload into a new single-frame message (FIN, RSV1, opcode)
 * using this thread's compressor for `bits` (reset per message: the server
 * never takes context over, so the frame suits every connection that
 * agreed to that window). The trailing 00 00 ff ff is stripped (§7.2.1).
 * bits 8 is served by zlib's smallest raw window (9), whose matches reach
 * back at most 250 bytes, within a 256-byte window. Returns NULL when the result
 * is not smaller than the payload or memory runs out. */
wsh_msg_t *wsh_pmd_compress(uint8_t opcode, const uint8_t *payload, size_t len, uint8_t bits);

/* The frame to queue on a connection that agreed to deflate with window
 * `bits`: `frame` itself unless it is exactly one unfragmented text or
 * binary frame without RSV bits whose payload is at least `threshold` bytes
 * and compresses smaller; then its compressed variant, made on first use and
 * kept on frame->alt (tagged with bits) for every later subscriber. The
 * result is borrowed: frame keeps it alive; the caller refs what it queues. */
wsh_msg_t *wsh_pmd_frame_for(wsh_msg_t *frame, uint8_t bits, uint32_t threshold);

/* Frees this thread's zlib streams (a worker calls it when its loop ends). */
void wsh_pmd_thread_dispose(void);

#endif
