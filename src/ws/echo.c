/* Echoes each complete message back as one frame with the same opcode. */
#include "ws/echo.h"

#include "core/err.h"

static int on_message(wsh_ws_t *ws, uint8_t opcode, uint8_t *data, size_t len)
{
    /* The payload's size was set by the peer, so its frame may fail to
     * allocate; that closes only this connection, with 1009. */
    wsh_msg_t *m = wsh_frame_try_build(opcode, data, len);
    if (!m)
        return WSH_ENOMEM;
    wsh_ws_send(ws, m);
    wsh_msg_unref(m);
    return 0;
}

const wsh_ws_app_t wsh_echo_app = {
    .on_message = on_message,
    .on_close = NULL,
};
