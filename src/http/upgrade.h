/* WebSocket opening handshake checks (RFC 6455 §4.2) and the 101 response;
 * pure functions over a parsed request, no I/O. */
#ifndef WSH_HTTP_UPGRADE_H
#define WSH_HTTP_UPGRADE_H

#include <stddef.h>

#include "http/http.h"

/* Length of Sec-WebSocket-Accept (base64 of a 20-byte SHA-1) plus NUL. */
#define WSH_UPGRADE_ACCEPT_LEN 29

/* Validates req as an opening handshake: GET, HTTP/1.1 or later, exactly one
 * Host, an Upgrade header with token "websocket" and a Connection header with
 * token "upgrade" (both case-insensitive comma lists, e.g. "Connection:
 * keep-alive, Upgrade"), no body (no Transfer-Encoding, Content-Length absent
 * or 0), exactly one Sec-WebSocket-Version of exactly "13", and exactly one
 * Sec-WebSocket-Key of 22 base64 characters plus "==" (16 bytes decoded).
 * Checked in that order; the first failure decides.
 * Returns 0 and writes the NUL-terminated Sec-WebSocket-Accept into accept
 * (*why set to NULL), or a negative error with *why set to a static
 * human-readable reason (why may be NULL):
 *   WSH_EMETHOD  not GET (405)
 *   WSH_EVERSION missing or other version (426, answer with Sec-WebSocket-Version: 13)
 *   WSH_EBADREQ  anything else (400). */
int wsh_upgrade_check(const wsh_http_req_t *req, char accept[WSH_UPGRADE_ACCEPT_LEN], const char **why);

/* Fetches the SHA-1 implementation once (idempotent, thread-safe); the
 * server calls it before listening, wsh_upgrade_accept_key calls it too. */
void wsh_upgrade_init(void);

/* Computes base64(SHA-1(key + GUID)) per RFC 6455 §4.2.2. */
void wsh_upgrade_accept_key(const char *key, size_t key_len, char accept[WSH_UPGRADE_ACCEPT_LEN]);

#endif
