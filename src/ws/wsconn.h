/* A WebSocket connection on a net connection: feeds bytes to the session,
 * sends pongs and closes, runs the heartbeat and the closing handshake, and
 * hands whole messages to the application (hub client or echo). Not the
 * opening handshake (http/upgrade.c) and not JSON. */
#ifndef WSH_WS_WSCONN_H
#define WSH_WS_WSCONN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/bucket.h"
#include "core/msg.h"
#include "net/conn.h"
#include "ws/session.h"

typedef struct wsh_ws wsh_ws_t;

/* The application on top; callbacks run on the loop thread. */
typedef struct wsh_ws_app {
    /* A complete message (text is valid UTF-8); data lives during the call.
     * Return 0, or a negative WSH_E* to close with that error's code. */
    int (*on_message)(wsh_ws_t *ws, uint8_t opcode, uint8_t *data, size_t len);
    /* The connection is gone and ws is freed right after: release the app's
     * state. Runs after the loop iteration that closed it, never inside a send. */
    void (*on_close)(wsh_ws_t *ws);
    /* Frees the memory handed to wsh_ws_start_in; runs last, after on_close.
     * NULL for connections started with wsh_ws_start. */
    void (*release)(wsh_ws_t *ws);
} wsh_ws_app_t;

/* Shared, read-only options (from the config). */
typedef struct wsh_ws_opts {
    wsh_session_limits_t lim;
    uint64_t heartbeat_ms;     /* ping interval; silent for 2 intervals → close; 0 = off */
    uint64_t close_timeout_ms; /* wait for the peer's close frame after ours */
    uint32_t ctrl_rate;        /* pings per second a peer may send (then close 1008); 0 = no limit */
    uint32_t ctrl_burst;
    uint32_t pmd_threshold;    /* permessage-deflate: payloads under this many bytes go uncompressed */
    bool pmd_enabled;          /* permessage-deflate offers may be accepted (docs/compression.md) */
} wsh_ws_opts_t;

/* Owned by the net connection (its proto state); freed with it. */
struct wsh_ws {
    wsh_session_t session;
    wsh_conn_t *conn;
    const wsh_ws_opts_t *opts;
    const wsh_ws_app_t *app;
    void *app_data;
    uint64_t last_recv_ms;
    /* Whether our close frame went out is session.is_close_sent (one flag,
     * not two: this struct is part of every connection's cost). */
    wsh_bucket_t ctrl_bucket;  /* pings received (opts->ctrl_rate) */
    /* permessage-deflate: 0 when not negotiated, else our compressor's window
     * bits (8..15). It sits in what was tail padding: a connection without
     * deflate costs nothing more, and one with it holds no zlib state. */
    uint8_t pmd_bits;
};

/* Takes over c (already answered with 101) as a WebSocket. Returns the new
 * state; app->on_close will run exactly once when the connection ends. */
wsh_ws_t *wsh_ws_start(wsh_conn_t *c, const wsh_ws_opts_t *opts, const wsh_ws_app_t *app, void *app_data);

/* Like wsh_ws_start, but in memory the application provides (zeroed, at
 * least sizeof(wsh_ws_t) plus its own state, which starts at ws->app_data =
 * ws + 1, aligned for pointers and 64-bit integers): one block per
 * connection, which the application may take from a pool. app->release
 * frees it when the connection ends. */
wsh_ws_t *wsh_ws_start_in(wsh_conn_t *c, const wsh_ws_opts_t *opts, const wsh_ws_app_t *app, void *mem);

/* Turns permessage-deflate on for ws (RFC 7692), before any frame of it is
 * read: RSV1 becomes legal on a message's first frame, compressed messages
 * are inflated before the application sees them, and wsh_ws_send sends the
 * compressed variant of data frames at or over opts->pmd_threshold.
 * server_bits is the window our compressor may use (8..15). */
void wsh_ws_enable_deflate(wsh_ws_t *ws, uint8_t server_bits);

/* Queues a complete frame (a reference is taken). When the out-queue is over
 * its cap the connection is closed with 4008 and WSH_ESLOW returned. Frames
 * after our close frame are dropped (0). */
int wsh_ws_send(wsh_ws_t *ws, wsh_msg_t *frame);
/* Builds a text frame from data and queues it. */
int wsh_ws_send_text(wsh_ws_t *ws, const void *data, size_t len);

/* Starts the closing handshake (RFC 6455 §7.1.2): sends close with code and
 * reason, drops later data, waits close_timeout_ms for the peer's close, then
 * closes TCP. */
void wsh_ws_close(wsh_ws_t *ws, uint16_t code, const char *reason);

/* Fails the connection (RFC 6455 §7.1.7) for err: logs once, sends the close
 * code of err (WSH_ESLOW first discards unsent frames), and closes TCP after
 * flushing. */
void wsh_ws_fail(wsh_ws_t *ws, int err, const char *reason);

static inline uint64_t wsh_ws_id(const wsh_ws_t *ws) { return ws->conn->id; }

#endif
