/* HTTP/1.1 responses queued on a connection: status line, fixed headers,
 * JSON error bodies (PROTOCOL.md) and the 101 for a WebSocket upgrade. */
#ifndef WSH_HTTP_RESPONSE_H
#define WSH_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

#include "net/conn.h"

/* Queues a complete response. ctype may be NULL (no body type). headers are
 * extra header lines, each ending in "\r\n", or NULL. When is_head, the body
 * is left out but Content-Length still describes it (RFC 9110 §9.3.2).
 * Without keep_alive the response says "Connection: close" (the caller closes).
 * A response that does not fit the out-queue cap closes the connection. */
void wsh_http_respond(wsh_conn_t *c, int status, const char *ctype, const char *headers, const void *body,
                      size_t len, bool keep_alive, bool is_head);

/* Queues {"error":{"code":code,"message":message}} with status. code and
 * message are escaped; message must not contain secrets. */
void wsh_http_respond_error(wsh_conn_t *c, int status, const char *code, const char *message,
                            const char *headers, bool keep_alive);

/* Queues the 101 Switching Protocols answer with Sec-WebSocket-Accept and,
 * when extensions is not NULL, a Sec-WebSocket-Extensions field with that
 * value (at most WSH_PMD_RESPONSE_MAX bytes, ws/deflate.h). */
void wsh_http_respond_upgrade(wsh_conn_t *c, const char *accept, const char *extensions);

#endif
