/* libwshub's connection and its state machine: connect, upgrade, frames in
 * and out, heartbeat, reconnect with backoff, close. Subscriptions live in
 * client_subs.c, the publish queue in client_pubs.c. The public API is in
 * include/wshub.h; the rules it keeps are in docs/clients.md. */
#include "client_int.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "backoff.h"
#include "ws/utf8.h"

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
    c->next_pub_id = c->next_sub_id = c->next_preq_id = 1;
    c->preqs_tail = &c->preqs;
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
    c->is_broken = false;
    c->client_id[0] = '\0';
    wsh_cl_pubs_reset(c);
    wsh_cl_subs_reset(c);
    wsh_cl_presence_reset(c);
}

/* Becomes CLOSED: answers every unanswered publish with WSHUB_ECLOSED. */
static void finish_close(wshub_client_t *c, int err)
{
    drop_link(c);
    c->phase = PH_NONE;
    set_state(c, WSHUB_STATE_CLOSED, err);
    wsh_cl_pubs_fail_all(c);
    wsh_cl_presence_fail_all(c);
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
int wsh_cl_send_text(wshub_client_t *c, const wsh_buf_t *json)
{
    return wsh_wsc_frame(&c->out, WSH_OP_TEXT, json->data, json->len);
}

bool wsh_cl_is_open(const wshub_client_t *c)
{
    return c->phase == PH_OPEN;
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
    wsh_cl_pubs_free(c);
    wsh_cl_subs_free(c);
    wsh_cl_presence_free(c);
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
        wsh_cl_send_subscribe(c, s);
    wsh_cl_presence_send_all(c);
    for (pub_t *p = c->pubs; p; p = p->next)
        wsh_cl_send_publish(c, p);
    set_state(c, WSHUB_STATE_CONNECTED, 0);
}

static void on_error_frame(wshub_client_t *c, const wsh_sf_t *f)
{
    if (f->id_kind == 'p')
        wsh_cl_pubs_on_error(c, f);
    else if (f->id_kind == 'h' || f->id_kind == 's')
        wsh_cl_subs_on_error(c, f);
    else if (f->id_kind == 'w')
        wsh_cl_presence_on_error(c, f);
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
    case WSH_SF_SUBSCRIBED: wsh_cl_on_subscribed(c, &f); break;
    case WSH_SF_MESSAGE: wsh_cl_on_message(c, &f, s, len, false); break;
    case WSH_SF_HISTORY: wsh_cl_on_history(c, &f, s, len); break;
    case WSH_SF_PUBLISHED: wsh_cl_on_published(c, &f); break;
    case WSH_SF_RECEIPT: wsh_cl_on_receipt(c, &f); break;
    case WSH_SF_ERROR: on_error_frame(c, &f); break;
    case WSH_SF_PRESENCE: wsh_cl_on_presence(c, &f, s, len); break;
    case WSH_SF_JOIN:
    case WSH_SF_LEAVE: wsh_cl_on_presence_event(c, &f, s, len); break;
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
                    if (c->is_broken)
                        return WSHUB_EPROTO;
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
