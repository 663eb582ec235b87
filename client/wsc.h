/* The client side of RFC 6455 that the server code does not have: the
 * opening handshake request and the check of its answer (§4.1), and masked
 * frames (§5.3). Sans-I/O; frame parsing reuses src/ws/frame.c. */
#ifndef WSH_CLIENT_WSC_H
#define WSH_CLIENT_WSC_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "url.h"

/* Length of a Sec-WebSocket-Key (base64 of 16 bytes) plus NUL. */
#define WSH_WSC_KEY_LEN 25
/* Largest handshake answer head accepted. */
#define WSH_WSC_MAX_HEAD 16384

/* Draws a fresh random key (RFC 6455 §4.1: 16 random bytes, base64). 0 or WSHUB_EINVAL. */
int wsh_wsc_make_key(char key[WSH_WSC_KEY_LEN]);

/* Appends the upgrade request for u with key (and "Authorization: Bearer
 * token" when token is non-NULL) to out. 0 or WSHUB_ENOMEM. */
int wsh_wsc_request(wsh_buf_t *out, const wsh_url_t *u, const char *key, const char *token);

/* Checks the answer head in buf[0..len). Returns the head's length (> 0)
 * when it is complete and a valid 101 for key (bytes after it are frames), 0
 * when more bytes are needed, WSHUB_EREFUSED for 401/403, or WSHUB_EHANDSHAKE
 * (another status, a missing or wrong Sec-WebSocket-Accept, Upgrade or
 * Connection, or a head over WSH_WSC_MAX_HEAD). *status gets the status code
 * once the status line is complete (0 before). */
long wsh_wsc_response(const char *buf, size_t len, const char *key, int *status);

/* Appends one masked frame with FIN set (opcode, payload) to out, masking
 * with a fresh random key. 0 or WSHUB_ENOMEM / WSHUB_EINVAL. */
int wsh_wsc_frame(wsh_buf_t *out, uint8_t opcode, const void *payload, size_t len);

/* Appends a masked close frame with code (0 = none) and no reason. */
int wsh_wsc_close_frame(wsh_buf_t *out, uint16_t code);

#endif
