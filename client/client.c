/* libwshub's connection state machine: connect, upgrade, frames in and out,
 * heartbeat, reconnect with backoff, resubscribe with offsets, and the
 * publish queue. The public API in include/wshub.h; the protocol rules it
 * keeps are in docs/clients.md. */
#include "wshub.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "backoff.h"
#include "core/json.h"
#include "frames.h"
#include "transport.h"
#include "url.h"
#include "ws/frame.h"
#include "ws/utf8.h"
#include "wsc.h"

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
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static char *dup_str(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

const char *wshub_version(void)
{
    return WSH_VERSION;
}

const char *wshub_strerror(int err)
{
    switch (err) {
    case WSHUB_OK: return "success";
    case WSHUB_EINVAL: return "invalid argument";
    case WSHUB_ENOMEM: return "out of memory";
    case WSHUB_EURL: return "invalid URL (want ws://host[:port]/path or wss://...)";
    case WSHUB_ECONNECT: return "cannot connect to the hub";
    case WSHUB_ETLS: return "TLS handshake or certificate verification failed";
    case WSHUB_EHANDSHAKE: return "WebSocket upgrade refused or invalid";
    case WSHUB_EPROTO: return "protocol error from the hub";
    case WSHUB_EIO: return "connection lost";
    case WSHUB_ETIMEOUT: return "timed out";
    case WSHUB_ECLOSED: return "client closed";
    case WSHUB_EQUEUEFULL: return "publish queue full";
    case WSHUB_EREFUSED: return "refused by the hub (unauthorized or policy), not retrying";
    case WSHUB_EHUB: return "the hub answered with an error";
    case WSHUB_ESTATE: return "not allowed in the client's current state";
    default: return "unknown error";
    }
}

void wshub_options_init(wshub_options_t *o)
{
    memset(o, 0, sizeof *o);
    o->url = "ws://127.0.0.1:8080/ws";
    o->backoff_initial_ms = 500;
    o->backoff_max_ms = 30000;
    o->connect_timeout_ms = 10000;
    o->max_queue = 1024;
    o->max_message = 16u << 20;
}

int wshub_client_new(const wshub_options_t *o, wshub_client_t **out)
{
    if (!o || !out)
        return WSHUB_EINVAL;
    *out = NULL;
    wshub_client_t *c = calloc(1, sizeof *c);
    if (!c)
        return WSHUB_ENOMEM;
    c->o = *o;
    c->tp.fd = -1;
    c->pubs_tail = &c->pubs;
    c->next_pub_id = c->next_sub_id = 1;
    int rc = WSHUB_ENOMEM;
    c->url_str = dup_str(o->url ? o->url : "ws://127.0.0.1:8080/ws");
    c->token = dup_str(o->token);
    c->ca_file = dup_str(o->ca_file);
    if (!c->url_str || (o->token && !c->token) || (o->ca_file && !c->ca_file))
        goto fail;
    c->o.url = c->url_str;
    c->o.token = c->token;
    c->o.ca_file = c->ca_file;
    rc = wsh_url_parse(c->url_str, &c->url);
    if (rc != 0 || !c->url.is_ws) {
        rc = WSHUB_EURL;
        goto fail;
    }
    if (c->o.backoff_initial_ms == 0)
        c->o.backoff_initial_ms = 1;
    if (c->o.backoff_max_ms < c->o.backoff_initial_ms)
        c->o.backoff_max_ms = c->o.backoff_initial_ms;
    if (c->o.connect_timeout_ms == 0)
        c->o.connect_timeout_ms = 10000;
    if (c->o.max_queue == 0)
        c->o.max_queue = 1;
    if (c->o.max_message == 0)
        c->o.max_message = 16u << 20;
    unsigned char rnd[16];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        rc = WSHUB_EINVAL;
        goto fail;
    }
    /* The idempotency-key prefix must differ between clients (and between
     * runs of one program), so it is random; the counter makes it unique here. */
    for (int i = 0; i < 8; i++) {
        static const char hex[] = "0123456789abcdef";
        c->key_prefix[2 * i] = hex[rnd[i] >> 4];
        c->key_prefix[2 * i + 1] = hex[rnd[i] & 15];
    }
    if (o->seed)
        c->rng = o->seed;
    else
        memcpy(&c->rng, rnd + 8, sizeof c->rng);
    if (c->url.is_tls) {
        c->tls = wsh_tp_tls_ctx(c->ca_file, o->tls_no_verify);
        if (!c->tls) {
            rc = WSHUB_ETLS;
            goto fail;
        }
    }
    *out = c;
    return 0;
fail:
    free(c->url_str);
    free(c->token);
    free(c->ca_file);
    free(c);
    return rc;
}

static void set_state(wshub_client_t *c, wshub_state_t s, int err)
{
    c->last_err = err;
    if (c->state == s)
        return;
    c->state = s;
    if (c->o.on_state)
        c->o.on_state(c, s, err, c->o.user);
}

/* Drops the socket and everything tied to one connection. */
static void drop_link(wshub_client_t *c)
{
    wsh_tp_close(&c->tp);
    c->head.len = 0;
    c->out.len = 0;
    c->msg.len = 0;
    c->in_msg = false;
    c->ctl_len = 0;
    c->is_upgraded = false;
    c->client_id[0] = '\0';
    for (pub_t *p = c->pubs; p; p = p->next)
        p->is_sent = false;
    /* The next connection resumes from `last`, which covers any repair. */
    for (sub_t *s = c->subs; s; s = s->next) {
        s->is_repairing = false;
        wsh_buf_dispose(&s->held);
    }
}

static void free_pub(pub_t *p)
{
    free(p->channel);
    free(p);
}

/* Removes and returns the publish with id (NULL if none). */
static pub_t *take_pub(wshub_client_t *c, uint64_t id)
{
    for (pub_t **pp = &c->pubs; *pp; pp = &(*pp)->next) {
        pub_t *p = *pp;
        if (p->id != id)
            continue;
        *pp = p->next;
        if (c->pubs_tail == &p->next)
            c->pubs_tail = pp;
        c->pub_cnt--;
        return p;
    }
    return NULL;
}

/* Becomes CLOSED: answers every unanswered publish with WSHUB_ECLOSED. */
static void finish_close(wshub_client_t *c, int err)
{
    drop_link(c);
    c->phase = PH_NONE;
    /* Unlink first, so a callback that publishes gets ECLOSED, not a corrupt list. */
    set_state(c, WSHUB_STATE_CLOSED, err);
    pub_t *p = c->pubs;
    c->pubs = NULL;
    c->pubs_tail = &c->pubs;
    c->pub_cnt = 0;
    while (p) {
        pub_t *next = p->next;
        if (c->o.on_publish) {
            wshub_publish_result_t r = {.publish_id = p->id, .channel = p->channel, .err = WSHUB_ECLOSED};
            c->o.on_publish(c, &r, c->o.user);
        }
        free_pub(p);
        p = next;
    }
}

static void begin_attempt(wshub_client_t *c, uint64_t now);

/* The link failed or ended (err says why): close for good if the hub refused
 * us or the caller asked, else wait a jittered backoff delay and retry. */
static void link_lost(wshub_client_t *c, int err, uint64_t now)
{
    drop_link(c);
    if (c->close_requested) {
        finish_close(c, 0);
        return;
    }
    if (err == WSHUB_EREFUSED) {
        finish_close(c, err);
        return;
    }
    c->attempt++;
    if (c->o.max_attempts && c->attempt >= c->o.max_attempts) {
        finish_close(c, err);
        return;
    }
    unsigned delay = wsh_backoff_delay(c->o.backoff_initial_ms, c->o.backoff_max_ms, c->attempt - 1, &c->rng);
    c->phase = PH_NONE;
    c->deadline = now + delay;
    set_state(c, WSHUB_STATE_RECONNECTING, err);
}

static void begin_attempt(wshub_client_t *c, uint64_t now)
{
    c->deadline = now + c->o.connect_timeout_ms;
    int rc = wsh_wsc_make_key(c->key);
    if (rc == 0)
        rc = wsh_tp_open(&c->tp, &c->url, c->tls, c->o.tls_no_verify);
    if (rc != 0) {
        link_lost(c, rc, now);
        return;
    }
    wsh_frame_parser_init(&c->fp, c->o.max_message);
    c->fp.require_mask = false; /* RFC 6455 §5.1: the server never masks. */
    c->phase = PH_CONNECT;
}

int wshub_client_start(wshub_client_t *c)
{
    if (!c)
        return WSHUB_EINVAL;
    if (c->state != WSHUB_STATE_IDLE)
        return WSHUB_ESTATE;
    c->state = WSHUB_STATE_CONNECTING;
    if (c->o.on_state)
        c->o.on_state(c, c->state, 0, c->o.user);
    begin_attempt(c, now_ms());
    return 0;
}

/* Appends one masked text frame holding json[0..len). */
static int send_text(wshub_client_t *c, const wsh_buf_t *json)
{
    return wsh_wsc_frame(&c->out, WSH_OP_TEXT, json->data, json->len);
}

static int send_subscribe(wshub_client_t *c, sub_t *s)
{
    wsh_buf_t b = {0};
    s->sent_since = s->has_pos;
    int rc = wsh_sf_subscribe(&b, s->sid, s->channel, s->has_pos, s->last, s->epoch, s->history);
    if (rc == 0)
        rc = send_text(c, &b);
    wsh_buf_dispose(&b);
    return rc;
}

static int send_publish(wshub_client_t *c, pub_t *p)
{
    char key[48];
    snprintf(key, sizeof key, "%s-%" PRIu64, c->key_prefix, p->id);
    wsh_buf_t b = {0};
    int rc = wsh_sf_publish(&b, p->id, p->channel, p->data, p->data_len, p->receipts, key);
    if (rc == 0)
        rc = send_text(c, &b);
    wsh_buf_dispose(&b);
    if (rc == 0)
        p->is_sent = true;
    return rc;
}

static bool is_open(const wshub_client_t *c)
{
    return c->phase == PH_OPEN;
}

static sub_t *find_sub(wshub_client_t *c, const char *channel)
{
    for (sub_t *s = c->subs; s; s = s->next)
        if (strcmp(s->channel, channel) == 0)
            return s;
    return NULL;
}

static void remove_sub(wshub_client_t *c, sub_t *gone)
{
    for (sub_t **pp = &c->subs; *pp; pp = &(*pp)->next) {
        if (*pp == gone) {
            *pp = gone->next;
            wsh_buf_dispose(&gone->held);
            free(gone);
            return;
        }
    }
}

int wshub_subscribe(wshub_client_t *c, const char *channel, const wshub_sub_options_t *so)
{
    static const wshub_sub_options_t from_now;
    if (!so)
        so = &from_now;
    if (!c || !channel || !wsh_sf_channel_ok(channel) || (so->epoch && strlen(so->epoch) >= 40))
        return WSHUB_EINVAL;
    if (c->state == WSHUB_STATE_CLOSED || c->close_requested)
        return WSHUB_ECLOSED;
    if (find_sub(c, channel))
        return 0; /* already subscribed: the hub treats a repeat as harmless, so do we */
    size_t n = strlen(channel) + 1;
    sub_t *s = calloc(1, sizeof *s + n);
    if (!s)
        return WSHUB_ENOMEM;
    memcpy(s->channel, channel, n);
    s->sid = c->next_sub_id++;
    s->last = so->since;
    s->has_pos = so->has_since;
    s->history = so->has_since ? 0 : so->history;
    if (so->epoch)
        snprintf(s->epoch, sizeof s->epoch, "%s", so->epoch);
    s->next = c->subs;
    c->subs = s;
    if (is_open(c) && send_subscribe(c, s) != 0) {
        remove_sub(c, s);
        return WSHUB_ENOMEM;
    }
    return 0;
}

int wshub_unsubscribe(wshub_client_t *c, const char *channel)
{
    if (!c || !channel)
        return WSHUB_EINVAL;
    sub_t *s = find_sub(c, channel);
    if (!s)
        return WSHUB_EINVAL;
    remove_sub(c, s);
    if (is_open(c)) {
        wsh_buf_t b = {0};
        int rc = wsh_sf_unsubscribe(&b, channel);
        if (rc == 0)
            rc = send_text(c, &b);
        wsh_buf_dispose(&b);
        return rc;
    }
    return 0;
}

int wshub_publish(wshub_client_t *c, const char *channel, const char *data, size_t data_len, bool receipts,
                  uint64_t *publish_id)
{
    if (!c || !channel || !data || !wsh_sf_channel_ok(channel))
        return WSHUB_EINVAL;
    /* Checked here, so a typo fails at the call instead of as a hub error
     * frame later (and the hub never sees a frame that breaks the JSON). */
    wsh_json_tok_t tok;
    if (!wsh_utf8_is_valid((const uint8_t *)data, data_len) ||
        wsh_json_parse(data, data_len, &tok, 1, 0, 64, NULL) < 1)
        return WSHUB_EINVAL;
    if (c->state == WSHUB_STATE_CLOSED || c->close_requested)
        return WSHUB_ECLOSED;
    if (c->pub_cnt >= c->o.max_queue)
        return WSHUB_EQUEUEFULL;
    pub_t *p = malloc(sizeof *p + data_len);
    if (!p)
        return WSHUB_ENOMEM;
    p->channel = dup_str(channel);
    if (!p->channel) {
        free(p);
        return WSHUB_ENOMEM;
    }
    p->next = NULL;
    p->id = c->next_pub_id++;
    p->receipts = receipts;
    p->is_sent = false;
    p->data_len = data_len;
    memcpy(p->data, data, data_len);
    *c->pubs_tail = p;
    c->pubs_tail = &p->next;
    c->pub_cnt++;
    if (publish_id)
        *publish_id = p->id;
    /* Sent now only if nothing older is still waiting, so order is kept. */
    if (is_open(c))
        send_publish(c, p);
    return 0;
}

int wshub_ack(wshub_client_t *c, const char *channel, uint64_t offset)
{
    if (!c || !channel || !wsh_sf_channel_ok(channel))
        return WSHUB_EINVAL;
    if (!is_open(c))
        return c->state == WSHUB_STATE_CLOSED ? WSHUB_ECLOSED : WSHUB_ESTATE;
    wsh_buf_t b = {0};
    int rc = wsh_sf_ack(&b, channel, offset);
    if (rc == 0)
        rc = send_text(c, &b);
    wsh_buf_dispose(&b);
    return rc;
}

int wshub_client_close(wshub_client_t *c)
{
    if (!c)
        return WSHUB_EINVAL;
    if (c->state == WSHUB_STATE_CLOSED || c->close_requested)
        return 0;
    c->close_requested = true;
    uint64_t now = now_ms();
    if (c->phase == PH_OPEN || c->phase == PH_UPGRADE) {
        /* RFC 6455 §7.1.2: start the closing handshake and wait for the echo. */
        if (c->phase == PH_OPEN)
            wsh_wsc_close_frame(&c->out, 1000);
        c->phase = PH_CLOSING;
    } else {
        drop_link(c);
        c->phase = PH_CLOSING;
    }
    /* The transition to CLOSED happens in process(), never inside this call. */
    c->deadline = now + (c->tp.fd >= 0 ? 1000 : 0);
    return 0;
}

void wshub_client_free(wshub_client_t *c)
{
    if (!c)
        return;
    wsh_tp_close(&c->tp);
    while (c->pubs) {
        pub_t *p = c->pubs;
        c->pubs = p->next;
        free_pub(p);
    }
    while (c->subs) {
        sub_t *s = c->subs;
        c->subs = s->next;
        wsh_buf_dispose(&s->held);
        free(s);
    }
    wsh_buf_dispose(&c->head);
    wsh_buf_dispose(&c->out);
    wsh_buf_dispose(&c->msg);
    if (c->tls)
        SSL_CTX_free(c->tls);
    free(c->url_str);
    free(c->token);
    free(c->ca_file);
    free(c);
}

/* welcome: the connection is usable. Resubscribe and re-send before telling
 * the application, so its own new publishes queue behind the older ones. */
static void on_welcome(wshub_client_t *c, const wsh_sf_t *f)
{
    c->phase = PH_OPEN;
    c->attempt = 0;
    c->connections++;
    c->heartbeat_ms = f->heartbeat * 1000;
    snprintf(c->client_id, sizeof c->client_id, "%s", f->client);
    for (sub_t *s = c->subs; s; s = s->next)
        send_subscribe(c, s);
    for (pub_t *p = c->pubs; p; p = p->next)
        send_publish(c, p);
    set_state(c, WSHUB_STATE_CONNECTED, 0);
}

static void report_lost(wshub_client_t *c, sub_t *s, uint64_t since, uint64_t offset);

static void on_subscribed(wshub_client_t *c, const wsh_sf_t *f)
{
    sub_t *s = find_sub(c, f->channel);
    if (!s)
        return;
    bool resumed = s->sent_since;
    uint64_t since = s->last;
    snprintf(s->epoch, sizeof s->epoch, "%s", f->epoch);
    if (resumed && f->recovered)
        return; /* the replay follows; dedup by offset keeps it exactly-once */
    /* From here, resume from the hub's current offset; a history request
     * replays up to `history` messages at or below it, so start below them. */
    /* A history request replays up to `history` retained messages at or
     * below the offset, maybe fewer: start from the first that comes. */
    s->last = f->offset;
    s->has_pos = resumed || !s->history;
    s->history = 0;
    if (resumed)
        report_lost(c, s, since, f->offset);
}

static sub_t *find_sub_by_sid(wshub_client_t *c, uint64_t sid)
{
    for (sub_t *s = c->subs; s; s = s->next)
        if (s->sid == sid)
            return s;
    return NULL;
}

static void report_lost(wshub_client_t *c, sub_t *s, uint64_t since, uint64_t offset)
{
    if (!c->o.on_lost)
        return;
    /* Copies: the callback may unsubscribe, which frees s. */
    char channel[256], epoch[40];
    snprintf(channel, sizeof channel, "%s", s->channel);
    snprintf(epoch, sizeof epoch, "%s", s->epoch);
    c->o.on_lost(c, channel, since, offset, epoch, c->o.user);
}

/* Asks the hub for the messages after s->last (a gap repair). 0 or an error. */
static int request_repair(wshub_client_t *c, sub_t *s)
{
    wsh_buf_t b = {0};
    int rc = wsh_sf_history(&b, s->sid, s->channel, s->last, 1000);
    if (rc == 0)
        rc = send_text(c, &b);
    wsh_buf_dispose(&b);
    if (rc == 0)
        s->is_repairing = true;
    return rc;
}

static void hold(sub_t *s, const char *raw, size_t len)
{
    uint32_t n = (uint32_t)len;
    if (wsh_buf_reserve(&s->held, 4 + len) == 0) {
        wsh_buf_append(&s->held, &n, 4);
        wsh_buf_append(&s->held, raw, len);
    }
}

/* One message for a subscription. Exactly once, in order: anything at or
 * below the last delivered offset was seen already (a replay overlapping a
 * live delivery). A message past a hole (offset > last + 1) is held while
 * the hole is fetched with a `history` request, unless allow_gap (the repair
 * is over): then on_lost reports the hole and delivery goes on. */
static void on_message(wshub_client_t *c, const wsh_sf_t *f, const char *raw, size_t len, bool allow_gap)
{
    sub_t *s = find_sub(c, f->channel);
    if (!s || !f->data)
        return;
    if (s->has_pos && f->offset <= s->last)
        return;
    if (s->is_repairing) {
        hold(s, raw, len);
        return;
    }
    if (s->has_pos && f->offset > s->last + 1) {
        if (!allow_gap && request_repair(c, s) == 0) {
            hold(s, raw, len);
            return;
        }
        report_lost(c, s, s->last, f->offset - 1);
        if (!(s = find_sub(c, f->channel)))
            return;
    }
    s->last = f->offset;
    s->has_pos = true;
    if (!c->o.on_message)
        return;
    char epoch[40];
    snprintf(epoch, sizeof epoch, "%s", s->epoch);
    wshub_message_t m = {.channel = f->channel, .offset = f->offset, .ts = f->ts, .epoch = epoch,
                         .data = f->data, .data_len = f->data_len, .wants_receipt = f->receipts};
    c->o.on_message(c, &m, c->o.user);
}

static void on_repaired_message(void *user, const wsh_sf_t *m)
{
    on_message(user, m, NULL, 0, true);
}

/* The answer to a gap repair: deliver what it holds, then what was held.
 * raw is NULL when the hub answered the request with an error. */
static void on_history(wshub_client_t *c, const wsh_sf_t *f, const char *raw, size_t len)
{
    sub_t *s = f->id_kind == 'h' ? find_sub_by_sid(c, f->id_num) : NULL;
    if (!s || !s->is_repairing)
        return;
    char channel[256];
    snprintf(channel, sizeof channel, "%s", s->channel);
    uint64_t before = s->last;
    s->is_repairing = false;
    wsh_buf_t held = s->held; /* detached: callbacks below may free s */
    wsh_buf_init(&s->held);
    if (raw)
        wsh_sf_each_history_message(raw, len, on_repaired_message, c);
    s = find_sub(c, channel);
    /* Without progress the hole cannot be filled (already dropped by
     * retention): report it instead of asking again forever. */
    bool allow_gap = !s || s->last == before;
    for (size_t off = 0; off + 4 <= held.len;) {
        uint32_t n;
        memcpy(&n, held.data + off, 4);
        off += 4;
        wsh_sf_t m;
        if (off + n <= held.len && wsh_sf_parse((const char *)held.data + off, n, &m) == 0)
            on_message(c, &m, (const char *)held.data + off, n, allow_gap);
        off += n;
    }
    wsh_buf_dispose(&held);
}

static void on_published(wshub_client_t *c, const wsh_sf_t *f)
{
    if (f->id_kind != 'p')
        return;
    pub_t *p = take_pub(c, f->id_num);
    if (!p)
        return;
    if (c->o.on_publish) {
        wshub_publish_result_t r = {.publish_id = p->id, .channel = p->channel, .offset = f->offset,
                                    .is_duplicate = f->duplicate};
        c->o.on_publish(c, &r, c->o.user);
    }
    free_pub(p);
}

static void on_error_frame(wshub_client_t *c, const wsh_sf_t *f)
{
    if (f->id_kind == 'p') {
        pub_t *p = take_pub(c, f->id_num);
        if (!p)
            return;
        if (c->o.on_publish) {
            wshub_publish_result_t r = {.publish_id = p->id, .channel = p->channel, .err = WSHUB_EHUB,
                                        .code = f->code, .message = f->message};
            c->o.on_publish(c, &r, c->o.user);
        }
        free_pub(p);
    } else if (f->id_kind == 'h') {
        on_history(c, f, NULL, 0);
    } else if (f->id_kind == 's') {
        for (sub_t *s = c->subs; s; s = s->next) {
            if (s->sid != f->id_num)
                continue;
            char channel[256];
            snprintf(channel, sizeof channel, "%s", s->channel);
            remove_sub(c, s);
            if (c->o.on_sub_error)
                c->o.on_sub_error(c, channel, f->code, f->message, c->o.user);
            return;
        }
    }
}

static void on_receipt(wshub_client_t *c, const wsh_sf_t *f)
{
    if (f->id_kind != 'p' || !c->o.on_receipt)
        return;
    wshub_receipt_t r = {.publish_id = f->id_num, .channel = f->channel, .offset = f->offset, .client = f->client};
    c->o.on_receipt(c, &r, c->o.user);
}

/* One complete text message from the hub. */
static int on_text(wshub_client_t *c, const char *s, size_t len)
{
    if (!wsh_utf8_is_valid((const uint8_t *)s, len))
        return WSHUB_EPROTO;
    wsh_sf_t f;
    if (wsh_sf_parse(s, len, &f) != 0)
        return WSHUB_EPROTO;
    if (c->phase == PH_UPGRADE) {
        /* The hub's first frame is always welcome (docs/protocol.md). */
        if (f.type != WSH_SF_WELCOME)
            return WSHUB_EPROTO;
        on_welcome(c, &f);
        return 0;
    }
    switch (f.type) {
    case WSH_SF_SUBSCRIBED: on_subscribed(c, &f); break;
    case WSH_SF_MESSAGE: on_message(c, &f, s, len, false); break;
    case WSH_SF_HISTORY: on_history(c, &f, s, len); break;
    case WSH_SF_PUBLISHED: on_published(c, &f); break;
    case WSH_SF_RECEIPT: on_receipt(c, &f); break;
    case WSH_SF_ERROR: on_error_frame(c, &f); break;
    default: break;
    }
    return 0;
}

/* A close frame arrived: RFC 6455 §5.5.1, answer it (unless we started the
 * close), then the link is over. 4001 and 1008 mean "do not come back". */
static int on_close_frame(wshub_client_t *c)
{
    int code = c->ctl_len >= 2 ? (c->ctl[0] << 8) | c->ctl[1] : 1005;
    c->close_code = code;
    if (c->phase != PH_CLOSING) {
        wsh_wsc_close_frame(&c->out, c->ctl_len >= 2 ? (uint16_t)code : 0);
        /* Best effort: the echo is polite, not required for correctness. */
        long n = wsh_tp_write(&c->tp, c->out.data, c->out.len);
        (void)n;
    }
    if (code == 4001 || code == 1008)
        return WSHUB_EREFUSED;
    return WSHUB_EIO;
}

/* Feeds received bytes through the frame parser. Returns 0 or the error that ends the link. */
static int on_bytes(wshub_client_t *c, uint8_t *data, size_t len)
{
    wsh_frame_ev_t ev;
    do {
        long n = wsh_frame_consume(&c->fp, data, len, &ev);
        if (n < 0)
            return WSHUB_EPROTO;
        data += n;
        len -= (size_t)n;
        switch (ev.type) {
        case WSH_FRAME_EV_HEADER:
            c->cur_op = ev.opcode;
            if (ev.opcode >= 0x8) {
                c->ctl_len = 0;
            } else if (ev.opcode == WSH_OP_CONT) {
                if (!c->in_msg)
                    return WSHUB_EPROTO; /* §5.4: a continuation needs an open message */
            } else {
                if (c->in_msg)
                    return WSHUB_EPROTO; /* §5.4: no new message inside a fragmented one */
                c->in_msg = true;
                c->msg_op = ev.opcode;
                c->msg.len = 0;
            }
            if (ev.opcode < 0x8 && c->msg.len + ev.payload_len > c->o.max_message)
                return WSHUB_EPROTO;
            break;
        case WSH_FRAME_EV_PAYLOAD:
            if (c->cur_op >= 0x8) {
                memcpy(c->ctl + c->ctl_len, ev.data, ev.len); /* ≤ 125 in all, checked by the parser */
                c->ctl_len += (uint8_t)ev.len;
            } else if (wsh_buf_append(&c->msg, ev.data, ev.len) != 0) {
                return WSHUB_ENOMEM;
            }
            break;
        case WSH_FRAME_EV_END:
            if (c->cur_op == WSH_OP_PING) {
                /* §5.5.3: a pong echoes the ping's payload. */
                if (wsh_wsc_frame(&c->out, WSH_OP_PONG, c->ctl, c->ctl_len) != 0)
                    return WSHUB_ENOMEM;
            } else if (c->cur_op == WSH_OP_CLOSE) {
                return on_close_frame(c);
            } else if (c->cur_op < 0x8 && ev.fin) {
                c->in_msg = false;
                /* Binary is not part of the hub's protocol; ignore it. */
                if (c->msg_op == WSH_OP_TEXT) {
                    int rc = on_text(c, (const char *)c->msg.data, c->msg.len);
                    if (rc != 0)
                        return rc;
                }
                c->msg.len = 0;
            }
            break;
        default:
            break;
        }
    } while (ev.type != WSH_FRAME_EV_NONE);
    return 0;
}

/* Reads the upgrade answer; the bytes after its head are frames. */
static int on_upgrade_bytes(wshub_client_t *c, uint8_t *data, size_t len)
{
    if (wsh_buf_append(&c->head, data, len) != 0)
        return WSHUB_ENOMEM;
    int status;
    long n = wsh_wsc_response((const char *)c->head.data, c->head.len, c->key, &status);
    if (n <= 0)
        return (int)n;
    c->is_upgraded = true;
    size_t rest = c->head.len - (size_t)n;
    int rc = 0;
    if (rest)
        rc = on_bytes(c, c->head.data + n, rest);
    c->head.len = 0;
    return rc;
}

static int flush_out(wshub_client_t *c)
{
    while (c->out.len) {
        long n = wsh_tp_write(&c->tp, c->out.data, c->out.len);
        if (n <= 0)
            return (int)n;
        wsh_buf_consume(&c->out, (size_t)n);
    }
    return 0;
}

/* Reads what the socket has, up to 64 reads so one busy link cannot keep
 * the caller's loop from its other work. */
static int read_some(wshub_client_t *c, uint64_t now)
{
    uint8_t buf[16384];
    for (int i = 0; i < 64; i++) {
        long n = wsh_tp_read(&c->tp, buf, sizeof buf);
        if (n <= 0)
            return (int)n;
        c->last_rx = now;
        int rc = c->is_upgraded ? on_bytes(c, buf, (size_t)n) : on_upgrade_bytes(c, buf, (size_t)n);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int wshub_client_process(wshub_client_t *c)
{
    if (!c)
        return WSHUB_EINVAL;
    if (c->state == WSHUB_STATE_IDLE)
        return 0;
    if (c->state == WSHUB_STATE_CLOSED)
        return WSHUB_ECLOSED;
    uint64_t now = now_ms();
    if (c->phase == PH_NONE && now >= c->deadline)
        begin_attempt(c, now);
    if (c->phase == PH_CONNECT) {
        int r = wsh_tp_progress(&c->tp);
        if (r < 0) {
            link_lost(c, r, now);
        } else if (r == 1) {
            c->head.len = 0;
            c->last_rx = now;
            if (wsh_wsc_request(&c->out, &c->url, c->key, c->o.token) != 0)
                link_lost(c, WSHUB_ENOMEM, now);
            else
                c->phase = PH_UPGRADE;
        }
    }
    if ((c->phase == PH_UPGRADE || c->phase == PH_OPEN || c->phase == PH_CLOSING) && c->tp.fd >= 0) {
        int rc = flush_out(c);
        if (rc == 0)
            rc = read_some(c, now);
        if (rc == 0)
            rc = flush_out(c);
        if (rc != 0) {
            if (c->phase == PH_CLOSING)
                finish_close(c, 0);
            else
                link_lost(c, rc, now);
        }
    }
    if ((c->phase == PH_CONNECT || c->phase == PH_UPGRADE) && now >= c->deadline)
        link_lost(c, WSHUB_ETIMEOUT, now);
    else if (c->phase == PH_OPEN && c->heartbeat_ms && now - c->last_rx > 2 * c->heartbeat_ms)
        link_lost(c, WSHUB_ETIMEOUT, now); /* dead link: not even a ping for two intervals */
    else if (c->phase == PH_CLOSING && now >= c->deadline)
        finish_close(c, 0);
    return c->state == WSHUB_STATE_CLOSED ? WSHUB_ECLOSED : 0;
}

int wshub_client_fd(const wshub_client_t *c)
{
    return c ? c->tp.fd : -1;
}

int wshub_client_events(const wshub_client_t *c)
{
    if (!c || c->tp.fd < 0)
        return 0;
    if (c->phase == PH_CONNECT)
        return (wsh_tp_events(&c->tp) & POLLOUT) ? WSHUB_WANT_WRITE : WSHUB_WANT_READ;
    return WSHUB_WANT_READ | (c->out.len ? WSHUB_WANT_WRITE : 0);
}

int wshub_client_next_timeout_ms(const wshub_client_t *c)
{
    if (!c || c->state == WSHUB_STATE_IDLE || c->state == WSHUB_STATE_CLOSED)
        return -1;
    uint64_t deadline = c->deadline;
    if (c->phase == PH_OPEN) {
        if (!c->heartbeat_ms)
            return -1;
        deadline = c->last_rx + 2 * c->heartbeat_ms + 1;
    }
    uint64_t now = now_ms();
    if (deadline <= now)
        return 0;
    return deadline - now > INT32_MAX ? INT32_MAX : (int)(deadline - now);
}

int wshub_client_run(wshub_client_t *c, int timeout_ms)
{
    if (!c)
        return WSHUB_EINVAL;
    if (c->state == WSHUB_STATE_IDLE)
        return WSHUB_ESTATE;
    uint64_t end = timeout_ms >= 0 ? now_ms() + (uint64_t)timeout_ms : 0;
    for (;;) {
        if (c->stop_requested) {
            c->stop_requested = false;
            return 0;
        }
        int rc = wshub_client_process(c);
        if (rc == WSHUB_ECLOSED)
            return rc;
        if (c->stop_requested) {
            c->stop_requested = false;
            return 0;
        }
        int wait = wshub_client_next_timeout_ms(c);
        if (timeout_ms >= 0) {
            uint64_t now = now_ms();
            if (now >= end)
                return WSHUB_ETIMEOUT;
            int left = (int)(end - now);
            if (wait < 0 || wait > left)
                wait = left;
        }
        int fd = wshub_client_fd(c), ev = wshub_client_events(c);
        struct pollfd p = {.fd = fd,
                           .events = (short)(((ev & WSHUB_WANT_READ) ? POLLIN : 0) |
                                             ((ev & WSHUB_WANT_WRITE) ? POLLOUT : 0))};
        int n = poll(&p, fd >= 0 ? 1 : 0, wait);
        if (n < 0) {
            if (errno == EINTR)
                return 0;
            return WSHUB_EIO;
        }
    }
}

void wshub_client_stop(wshub_client_t *c)
{
    if (c)
        c->stop_requested = true;
}

wshub_state_t wshub_client_state(const wshub_client_t *c)
{
    return c ? c->state : WSHUB_STATE_CLOSED;
}

int wshub_client_last_error(const wshub_client_t *c)
{
    return c ? c->last_err : WSHUB_EINVAL;
}

int wshub_client_close_code(const wshub_client_t *c)
{
    return c ? c->close_code : 0;
}

size_t wshub_client_pending(const wshub_client_t *c)
{
    return c ? c->pub_cnt : 0;
}

unsigned wshub_client_connections(const wshub_client_t *c)
{
    return c ? c->connections : 0;
}

const char *wshub_client_id(const wshub_client_t *c)
{
    return c && c->client_id[0] ? c->client_id : NULL;
}
