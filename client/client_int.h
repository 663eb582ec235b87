/* What the pieces of libwshub share and nothing else: the client struct,
 * its subscriptions and publish queue, and the calls between client.c (the
 * connection and its state machine), client_subs.c (subscriptions, resume,
 * gap repair) and client_pubs.c (the publish queue, acks, receipts). Never
 * installed; every symbol here is hidden by -fvisibility=hidden. */
#ifndef WSH_CLIENT_CLIENT_INT_H
#define WSH_CLIENT_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "frames.h"
#include "transport.h"
#include "url.h"
#include "ws/frame.h"
#include "wsc.h"
#include "wshub.h"

/* Where the current connection attempt stands. */
typedef enum {
    PH_NONE,     /* no socket: IDLE, waiting out a backoff delay, or CLOSED */
    PH_CONNECT,  /* TCP connect and TLS handshake in progress */
    PH_UPGRADE,  /* upgrade request sent, waiting for 101 and then `welcome` */
    PH_OPEN,     /* welcome received: CONNECTED */
    PH_CLOSING,  /* our close frame is queued or sent; waiting for the hub's */
} phase_t;

/* One publish not yet answered. Created by wshub_publish, freed when the hub
 * answers (published or error) or the client closes. */
typedef struct pub {
    struct pub *next;
    uint64_t id;
    bool receipts;
    bool is_sent;   /* sent on the current connection */
    char *channel;
    size_t data_len;
    char data[];
} pub_t;

/* One subscription. Created by wshub_subscribe, freed by wshub_unsubscribe,
 * a subscribe error, or wshub_client_free. `last` is the offset of the last
 * message delivered to the application (or the position to resume from). */
typedef struct sub {
    struct sub *next;
    uint64_t sid;
    uint64_t last;
    bool has_pos;     /* last/epoch say where to resume */
    bool sent_since;  /* the subscribe on this connection carried since */
    unsigned history; /* asked on the first subscribe only */
    bool is_repairing; /* a history request for a gap is out */
    wsh_buf_t held;    /* messages that arrived during the repair: u32 length + text each */
    char epoch[40];
    char channel[];
} sub_t;

/* One presence request not yet answered. Created by wshub_presence, freed
 * after its callback ran (answer, error, or close). */
typedef struct preq {
    struct preq *next;
    uint64_t id;
    bool is_sent;   /* sent on the current connection */
    wshub_presence_cb cb;
    void *arg;
    char channel[];
} preq_t;

struct wshub_client {
    wshub_options_t o;
    char *url_str, *token, *ca_file;
    wsh_url_t url;
    SSL_CTX *tls;

    wshub_state_t state;
    phase_t phase;
    int last_err;
    int close_code;
    bool close_requested;
    bool stop_requested;

    wsh_tp_t tp;
    char key[WSH_WSC_KEY_LEN];
    wsh_buf_t head;            /* the upgrade answer until it is complete */
    wsh_buf_t out;             /* bytes to write, already framed and masked */
    wsh_buf_t msg;             /* the text message being reassembled */
    wsh_frame_parser_t fp;
    bool in_msg;               /* a fragmented data message is open */
    uint8_t msg_op;
    uint8_t cur_op;            /* opcode of the frame being read */
    uint8_t ctl[WSH_FRAME_MAX_CONTROL];
    uint8_t ctl_len;
    bool is_broken;            /* a subscription's repair outgrew its cap: drop the link */
    bool is_upgraded;          /* the 101 arrived on this connection */

    uint64_t deadline;         /* connect/upgrade timeout, close wait, or retry time */
    uint64_t last_rx;          /* when bytes last arrived */
    uint64_t heartbeat_ms;
    unsigned attempt;          /* failed attempts in a row */
    unsigned connections;
    uint64_t rng;
    char key_prefix[17];
    char client_id[80];

    uint64_t next_pub_id, next_sub_id;
    pub_t *pubs, **pubs_tail;
    size_t pub_cnt;
    sub_t *subs;

    uint64_t next_preq_id;
    preq_t *preqs, **preqs_tail; /* presence requests, oldest first */
    size_t preq_cnt;
    wshub_presence_event_cb on_presence_event;
};

/* client.c: appends one masked text frame holding json to the out-buffer. */
int wsh_cl_send_text(wshub_client_t *c, const wsh_buf_t *json);
/* client.c: true while CONNECTED (welcome received, not closing). */
bool wsh_cl_is_open(const wshub_client_t *c);

/* client_subs.c: the (re)subscribe request for s on this connection. */
int wsh_cl_send_subscribe(wshub_client_t *c, sub_t *s);
/* client_subs.c: frames about subscriptions. raw/len is the frame's text. */
void wsh_cl_on_subscribed(wshub_client_t *c, const wsh_sf_t *f);
void wsh_cl_on_message(wshub_client_t *c, const wsh_sf_t *f, const char *raw, size_t len, bool allow_gap);
void wsh_cl_on_history(wshub_client_t *c, const wsh_sf_t *f, const char *raw, size_t len);
/* client_subs.c: an error frame answering a subscribe ('s') or a repair ('h'). */
void wsh_cl_subs_on_error(wshub_client_t *c, const wsh_sf_t *f);
/* client_subs.c: true when the application is subscribed to channel. */
bool wsh_cl_is_subscribed(const wshub_client_t *c, const char *channel);
/* client_subs.c: forget per-connection state (repairs in flight). */
void wsh_cl_subs_reset(wshub_client_t *c);
void wsh_cl_subs_free(wshub_client_t *c);

/* client_pubs.c: sends p on this connection and marks it sent. */
int wsh_cl_send_publish(wshub_client_t *c, pub_t *p);
void wsh_cl_on_published(wshub_client_t *c, const wsh_sf_t *f);
void wsh_cl_on_receipt(wshub_client_t *c, const wsh_sf_t *f);
/* client_pubs.c: an error frame answering a publish ('p'). */
void wsh_cl_pubs_on_error(wshub_client_t *c, const wsh_sf_t *f);
/* client_pubs.c: marks every queued publish unsent (the link dropped). */
void wsh_cl_pubs_reset(wshub_client_t *c);
/* client_pubs.c: answers every queued publish with WSHUB_ECLOSED and frees it. */
void wsh_cl_pubs_fail_all(wshub_client_t *c);
void wsh_cl_pubs_free(wshub_client_t *c);

/* client_presence.c: sends every presence request not yet sent on this
 * connection (after the resubscribes, so the list includes this client). */
void wsh_cl_presence_send_all(wshub_client_t *c);
/* client_presence.c: a `presence` answer; raw/len is the frame's text. */
void wsh_cl_on_presence(wshub_client_t *c, const wsh_sf_t *f, const char *raw, size_t len);
/* client_presence.c: a `join` or `leave` frame. */
void wsh_cl_on_presence_event(wshub_client_t *c, const wsh_sf_t *f, const char *raw, size_t len);
/* client_presence.c: an error frame answering a presence request ('w'). */
void wsh_cl_presence_on_error(wshub_client_t *c, const wsh_sf_t *f);
/* client_presence.c: marks every request unsent (the link dropped). */
void wsh_cl_presence_reset(wshub_client_t *c);
/* client_presence.c: answers every request with WSHUB_ECLOSED and frees it. */
void wsh_cl_presence_fail_all(wshub_client_t *c);
void wsh_cl_presence_free(wshub_client_t *c);

#endif
