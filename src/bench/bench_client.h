/* One client connection of `wshub bench`: a non-blocking TCP socket on the
 * project's loop that upgrades to WebSocket (RFC 6455 client side: masked
 * frames, Sec-WebSocket-Accept checked), subscribes or publishes, answers
 * pings, counts deliveries and records latency; or a keep-alive HTTP/1.1
 * publisher that pipelines POSTs. It never allocates per message: frames are
 * parsed in the loop's shared read buffer and only a short prefix of each
 * message is kept. Not for deciding what to do when (bench.c drives the
 * scenario) and not a general WebSocket client. */
#ifndef WSH_BENCH_BENCH_CLIENT_H
#define WSH_BENCH_BENCH_CLIENT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/bench_stats.h"
#include "core/buf.h"
#include "loop/loop.h"
#include "ws/frame.h"

typedef enum {
    WSH_BENCH_PROTO_WSHUB = 0, /* PROTOCOL.md: welcome, subscribe, publish, published */
    WSH_BENCH_PROTO_NCHAN,     /* nginx+nchan: /sub/CH over WS, POST /pub/CH, raw bodies */
} wsh_bench_proto_t;

typedef enum {
    WSH_BENCH_ROLE_SUB = 0,    /* subscribes to one channel and counts deliveries */
    WSH_BENCH_ROLE_PUB_WS,     /* publishes over its WebSocket, acked by `published` */
    WSH_BENCH_ROLE_PUB_HTTP,   /* publishes with pipelined keep-alive POSTs */
} wsh_bench_role_t;

typedef enum {
    WSH_BENCH_ST_IDLE = 0,     /* not started */
    WSH_BENCH_ST_CONNECTING,   /* TCP connect in progress */
    WSH_BENCH_ST_HANDSHAKE,    /* upgrade request sent, waiting for the 101 */
    WSH_BENCH_ST_WELCOME,      /* upgraded, waiting for wshub's `welcome` */
    WSH_BENCH_ST_SUBSCRIBING,  /* `subscribe` sent, waiting for `subscribed` */
    WSH_BENCH_ST_READY,        /* subscribed, or able to publish */
    WSH_BENCH_ST_CLOSING,      /* our close frame is sent; waiting for EOF */
    WSH_BENCH_ST_DONE,         /* socket closed (finished or failed) */
} wsh_bench_state_t;

/* Cumulative counts of one run; the driver snapshots them per phase. */
typedef struct wsh_bench_counters {
    uint64_t published;     /* publishes written (the driver counts them) */
    uint64_t acked;         /* `published` replies, HTTP responses */
    uint64_t delivered;     /* messages received by subscribers */
    uint64_t measured;      /* of which, received while measuring and
                             * stamped at or after the window opened */
    uint64_t err_connect;   /* socket, bind or TCP connect failed */
    uint64_t err_handshake; /* no valid 101, or welcome/subscribed never came */
    uint64_t err_protocol;  /* bad frame, `error` reply, non-2xx HTTP answer */
    uint64_t err_closed;    /* the server closed an open connection */
} wsh_bench_counters_t;

struct wsh_bench_conn;
struct wsh_bench_run;
/* Called after c changed state (old is the previous one), from inside the
 * connection's I/O callback or from wsh_bench_conn_start/close. It must not
 * start other connections (the driver does that from its before-sleep hook,
 * which keeps recursion bounded). */
typedef void (*wsh_bench_state_cb)(struct wsh_bench_run *run, struct wsh_bench_conn *c, wsh_bench_state_t old);

/* Everything the connections of one run share. Created and owned by the
 * driver (bench.c) for the whole run; connections only point to it. */
typedef struct wsh_bench_run {
    wsh_loop_t *loop;
    wsh_bench_proto_t proto;
    struct sockaddr_in server;   /* loopback address to connect to */
    char host[64];               /* Host header: "127.0.0.1:8080" */
    char ws_path[256];           /* wshub's WebSocket path (from --url) */
    bool offer_deflate;          /* handshakes offer permessage-deflate (--deflate, idle runs only) */
    size_t payload_len;          /* bytes of each published `data` */
    bool is_measuring;           /* count deliveries in the window and record latency */
    uint64_t measure_start_ns;   /* deliveries stamped before this are not measured */
    uint64_t rng;                /* xorshift64 state for masking keys */
    wsh_bench_counters_t cnt;
    uint64_t last_delivery_ns;   /* monotonic time of the last measured delivery */
    wsh_bench_hist_t hist;       /* delivery latency, ns */
    wsh_bench_state_cb on_state;
    void *data;                  /* the driver's */
} wsh_bench_run_t;

/* Bytes of each message kept for parsing: enough for wshub's envelope up to
 * and including "t" of the data (type, channel, offset, ts, id, data). */
#define WSH_BENCH_PREFIX_CAP 224

/* One connection. The driver allocates all of them at once (an array) and
 * frees them after the loop has stopped; a connection never frees itself. */
typedef struct wsh_bench_conn {
    wsh_io_t io;                 /* io.fd is -1 when there is no socket */
    wsh_bench_run_t *run;
    uint8_t role;                /* wsh_bench_role_t */
    uint8_t state;               /* wsh_bench_state_t */
    bool in_ctrl;                /* the frame being parsed is a control frame */
    bool in_msg;                 /* a data message has started and not finished */
    bool is_fin;                 /* the frame being parsed ends its message */
    uint8_t ctrl_op;             /* opcode of the control frame being parsed */
    uint8_t ctrl_len;
    uint8_t prefix_len;
    uint32_t channel;            /* subscriber: its channel; publisher: the next one */
    uint32_t inflight;           /* publishes not yet acknowledged */
    uint64_t index;              /* the driver's number for this connection */
    wsh_frame_parser_t fp;
    wsh_buf_t out;               /* unsent bytes from out_off on; empty when idle */
    size_t out_off;
    struct bench_hs *hs;         /* handshake scratch, only while upgrading */
    struct llhttp__internal_s *http; /* response parser of an HTTP publisher */
    uint8_t prefix[WSH_BENCH_PREFIX_CAP];
    uint8_t ctrl[WSH_FRAME_MAX_CONTROL];
} wsh_bench_conn_t;

/* Opens c's socket (bound to src first when src is non-NULL, with
 * IP_BIND_ADDRESS_NO_PORT so the port is picked per destination) and starts
 * the TCP connect; the rest of the handshake runs on the loop. role and
 * channel as above; for nchan subscribers channel also picks the URL. c must
 * be zeroed or finished. Returns 0, or -errno when no socket could be started
 * (counted as a connect error, c is DONE). */
int wsh_bench_conn_start(wsh_bench_run_t *run, wsh_bench_conn_t *c, wsh_bench_role_t role, uint32_t channel,
                         const struct sockaddr_in *src);

/* Appends one publish of run->payload_len bytes to channel, stamped with
 * now_ns (CLOCK_MONOTONIC), to c's output and counts it in c->inflight.
 * Nothing is written until wsh_bench_conn_flush. c must be a READY
 * publisher. No allocation once the output buffer has grown to a batch. */
void wsh_bench_conn_publish(wsh_bench_conn_t *c, uint32_t channel, uint64_t now_ns);

/* Writes as much queued output as the socket takes now and watches for
 * writability when some is left. A failed write closes c (err_closed). */
void wsh_bench_conn_flush(wsh_bench_conn_t *c);

/* Starts an orderly close: a WebSocket connection sends close 1000 and
 * waits in CLOSING for the server to close (then DONE); an HTTP publisher or
 * a connection still handshaking is closed at once. */
void wsh_bench_conn_close(wsh_bench_conn_t *c);

/* Closes c's socket now, without counting an error (deadline reached). */
void wsh_bench_conn_abort(wsh_bench_conn_t *c);

/* Parses the value of the first "t": number in s[0..len) (the publish
 * timestamp in the delivered data), preferring one after "data":. 0 or -1.
 * Exposed for tests. */
int wsh_bench_find_t(const uint8_t *s, size_t len, uint64_t *t);

/* Writes the JSON data of a publish, {"t":<t>,"p":"xxx..."}, padded with x
 * to exactly len bytes when len leaves room for the number (else as short as
 * possible). out must hold max(len, 40) bytes. Returns the bytes written.
 * Exposed for tests. */
size_t wsh_bench_build_payload(uint8_t *out, size_t len, uint64_t t);

#endif
