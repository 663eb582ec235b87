/* The JSON command protocol on /ws (PROTOCOL.md "Frames on /ws"): parses a
 * client frame, dispatches by `type`, and writes the replies. Not transport. */
#ifndef WSH_HUB_PROTO_H
#define WSH_HUB_PROTO_H

#include <stddef.h>

#include "hub/client.h"

/* Handles one text frame from cl. Malformed frames and unknown types get an
 * `error` reply and the connection stays open; returns 0, or a negative
 * WSH_E* only when the connection must close. */
int wsh_proto_handle(wsh_client_t *cl, const char *s, size_t len);

/* Sends {"type":"error","code":code,"message":message[,"id":id]} where id is
 * the raw JSON of the request's id (NULL/0 when it had none). */
int wsh_proto_send_error(wsh_client_t *cl, const char *code, const char *message, const char *id, size_t id_len);

#endif
