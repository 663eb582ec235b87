/* The bench's client connection state machine: TCP connect, WebSocket
 * upgrade (client side of RFC 6455 §4.1), wshub's welcome/subscribe/publish
 * exchange or nchan's raw messages, HTTP publishing with pipelined requests,
 * pings answered, latency taken from each delivery. Not for scheduling
 * publishes or phases (bench.c). */
#include "bench/bench_client.h"

#include <errno.h>
#include <llhttp.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/fmt.h"
#include "http/upgrade.h"

/* Largest 101 response head we accept; servers send a few hundred bytes. */
#define HS_CAP 4096
/* Largest message a server may send us: deliveries are small, but a peer
 * under test may batch; this only bounds the frame parser. */
#define MAX_MESSAGE (64u << 20)

/* Handshake scratch, allocated when the upgrade request is sent and freed
 * when the 101 has been checked, so an open connection holds none of it. */
struct bench_hs {
    char accept[WSH_UPGRADE_ACCEPT_LEN]; /* the Sec-WebSocket-Accept we expect */
    uint16_t len;
    char buf[HS_CAP];
};

static void on_io(wsh_loop_t *loop, wsh_io_t *io, uint32_t events);

/* xorshift64*: masking keys only need to be unpredictable enough that no
 * proxy can be steered (RFC 6455 §10.3); a bench talks to loopback only. */
static uint64_t next_rand(wsh_bench_run_t *run)
{
    uint64_t x = run->rng ? run->rng : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    run->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static void set_state(wsh_bench_conn_t *c, wsh_bench_state_t st)
{
    wsh_bench_state_t old = (wsh_bench_state_t)c->state;
    c->state = (uint8_t)st;
    if (c->run->on_state && old != st)
        c->run->on_state(c->run, c, old);
}

/* Closes the socket and releases everything the connection holds. */
static void finish(wsh_bench_conn_t *c)
{
    if (c->io.fd >= 0) {
        wsh_io_stop(c->run->loop, &c->io);
        close(c->io.fd);
        c->io.fd = -1;
    }
    free(c->hs);
    c->hs = NULL;
    free(c->http);
    c->http = NULL;
    wsh_buf_dispose(&c->out);
    c->out_off = 0;
    set_state(c, WSH_BENCH_ST_DONE);
}

/* The connection failed or the server went away: count it by how far it
 * had got, then close. A connection we were closing ends without error. */
static void lost(wsh_bench_conn_t *c)
{
    wsh_bench_counters_t *k = &c->run->cnt;
    switch ((wsh_bench_state_t)c->state) {
    case WSH_BENCH_ST_CONNECTING:
        k->err_connect++;
        break;
    case WSH_BENCH_ST_HANDSHAKE:
    case WSH_BENCH_ST_WELCOME:
    case WSH_BENCH_ST_SUBSCRIBING:
        k->err_handshake++;
        break;
    case WSH_BENCH_ST_READY:
        k->err_closed++;
        break;
    default:
        break;
    }
    finish(c);
}

static void protocol_error(wsh_bench_conn_t *c)
{
    c->run->cnt.err_protocol++;
    finish(c);
}

/* Makes room for len more bytes of output; aborts on OOM (our own sizes). */
static uint8_t *out_reserve(wsh_bench_conn_t *c, size_t len)
{
    /* Drop what has been written before growing, so a publisher that keeps
     * a partial write pending does not grow forever. */
    if (c->out_off > 0 && c->out_off >= c->out.len / 2) {
        wsh_buf_consume(&c->out, c->out_off);
        c->out_off = 0;
    }
    if (wsh_buf_reserve(&c->out, len) != 0) {
        fprintf(stderr, "wshub bench: out of memory\n");
        abort();
    }
    return c->out.data + c->out.len;
}

static void out_append(wsh_bench_conn_t *c, const void *data, size_t len)
{
    memcpy(out_reserve(c, len), data, len);
    c->out.len += len;
}

/* Writes a client header (RFC 6455 §5.2: MASK set, key follows the length)
 * into w and returns its length; *key receives the masking key. */
static size_t put_client_header(wsh_bench_conn_t *c, uint8_t *w, uint8_t opcode, uint64_t len, uint8_t key[4])
{
    size_t n = 0;
    w[n++] = (uint8_t)(0x80u | opcode);
    if (len < 126) {
        w[n++] = (uint8_t)(0x80u | len);
    } else if (len <= 0xFFFF) {
        w[n++] = 0x80u | 126u;
        w[n++] = (uint8_t)(len >> 8);
        w[n++] = (uint8_t)len;
    } else {
        w[n++] = 0x80u | 127u;
        for (int i = 7; i >= 0; i--)
            w[n++] = (uint8_t)(len >> (8 * i));
    }
    uint32_t r = (uint32_t)next_rand(c->run);
    memcpy(key, &r, 4);
    memcpy(w + n, key, 4);
    return n + 4;
}

/* Appends one complete masked frame. */
static void queue_frame(wsh_bench_conn_t *c, uint8_t opcode, const void *payload, size_t len)
{
    uint8_t *w = out_reserve(c, WSH_FRAME_MAX_HEADER + len);
    uint8_t key[4];
    size_t h = put_client_header(c, w, opcode, len, key);
    memcpy(w + h, payload, len);
    uint8_t pos = 0;
    wsh_frame_unmask(w + h, len, key, &pos); /* XOR both ways: masks */
    c->out.len += h + len;
}

void wsh_bench_conn_flush(wsh_bench_conn_t *c)
{
    if (c->io.fd < 0)
        return;
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->io.fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            lost(c);
            return;
        }
        c->out_off += (size_t)n;
    }
    uint32_t want = WSH_IO_READ;
    if (c->out_off == c->out.len)
        c->out.len = c->out_off = 0; /* keep the storage for the next batch */
    else
        want |= WSH_IO_WRITE;
    wsh_io_modify(c->run->loop, &c->io, want);
}

/* ---- payloads ---- */


static size_t payload_size(size_t len, size_t digits)
{
    size_t fixed = sizeof "{\"t\":,\"p\":\"\"}" - 1 + digits;
    return len > fixed ? len : fixed;
}

size_t wsh_bench_build_payload(uint8_t *out, size_t len, uint64_t t)
{
    char digits[20];
    size_t nd = wsh_fmt_u64(digits, t);
    size_t total = payload_size(len, nd);
    size_t pad = total - (sizeof "{\"t\":,\"p\":\"\"}" - 1 + nd);
    uint8_t *w = out;
    memcpy(w, "{\"t\":", 5);
    w += 5;
    memcpy(w, digits, nd);
    w += nd;
    memcpy(w, ",\"p\":\"", 6);
    w += 6;
    memset(w, 'x', pad);
    w += pad;
    memcpy(w, "\"}", 2);
    return total;
}

int wsh_bench_find_t(const uint8_t *s, size_t len, uint64_t *t)
{
    /* The data we publish is an object whose first member is "t", and
     * nothing before it in wshub's envelope (type, channel, offset, ts, id)
     * opens an object, so the first {"t": is it. memchr for '{' beats
     * memmem here: this runs once per delivery. */
    static const char key[] = "{\"t\":";
    const uint8_t *end = s + len;
    const uint8_t *k = NULL;
    for (const uint8_t *p = s; p < end; p++) {
        p = memchr(p, '{', (size_t)(end - p));
        if (!p)
            return -1;
        if ((size_t)(end - p) >= sizeof key - 1 && memcmp(p, key, sizeof key - 1) == 0) {
            k = p;
            break;
        }
    }
    if (!k)
        return -1;
    const uint8_t *p = k + sizeof key - 1;
    while (p < end && *p == ' ')
        p++;
    /* At most 19 digits always fit in 64 bits, so no overflow check (and
     * no division) is needed per digit. */
    uint64_t v = 0;
    const uint8_t *start = p;
    const uint8_t *stop = end - p > 19 ? p + 19 : end;
    while (p < stop && (unsigned)(*p - '0') < 10u)
        v = v * 10 + (unsigned)(*p++ - '0');
    /* A number cut off by the end of the prefix would read short; a longer
     * one is not ours. */
    if (p == start || p == end || (unsigned)(*p - '0') < 10u)
        return -1;
    *t = v;
    return 0;
}

/* ---- publishing ---- */

static int channel_name(char *out, size_t cap, uint32_t channel)
{
    return snprintf(out, cap, "bench.%u", channel);
}

void wsh_bench_conn_publish(wsh_bench_conn_t *c, uint32_t channel, uint64_t now_ns)
{
    wsh_bench_run_t *run = c->run;
    char digits[20];
    size_t data_len = payload_size(run->payload_len, wsh_fmt_u64(digits, now_ns));
    char head[512];
    int head_len;
    if (c->role == WSH_BENCH_ROLE_PUB_WS) {
        head_len = snprintf(head, sizeof head, "{\"type\":\"publish\",\"channel\":\"bench.%u\",\"data\":", channel);
        size_t total = (size_t)head_len + data_len + 1;
        uint8_t *w = out_reserve(c, WSH_FRAME_MAX_HEADER + total);
        uint8_t key[4];
        size_t h = put_client_header(c, w, WSH_OP_TEXT, total, key);
        memcpy(w + h, head, (size_t)head_len);
        wsh_bench_build_payload(w + h + head_len, run->payload_len, now_ns);
        w[h + total - 1] = '}';
        uint8_t pos = 0;
        wsh_frame_unmask(w + h, total, key, &pos);
        c->out.len += h + total;
    } else {
        char name[32];
        channel_name(name, sizeof name, channel);
        const char *path_fmt = run->proto == WSH_BENCH_PROTO_NCHAN ? "/pub/%s" : "/api/channels/%s/publish";
        char path[64];
        snprintf(path, sizeof path, path_fmt, name);
        head_len = snprintf(head, sizeof head,
                            "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                            "Content-Length: %zu\r\n\r\n",
                            path, run->host, data_len);
        uint8_t *w = out_reserve(c, (size_t)head_len + data_len);
        memcpy(w, head, (size_t)head_len);
        wsh_bench_build_payload(w + head_len, run->payload_len, now_ns);
        c->out.len += (size_t)head_len + data_len;
    }
    c->inflight++;
}

/* ---- HTTP publishers ---- */

static int on_http_headers_complete(llhttp_t *h)
{
    wsh_bench_conn_t *c = h->data;
    if (h->status_code < 200 || h->status_code > 299)
        c->run->cnt.err_protocol++;
    return 0;
}

static int on_http_message_complete(llhttp_t *h)
{
    wsh_bench_conn_t *c = h->data;
    if (c->inflight > 0)
        c->inflight--;
    c->run->cnt.acked++;
    return 0;
}

static const llhttp_settings_t http_settings = {
    .on_headers_complete = on_http_headers_complete,
    .on_message_complete = on_http_message_complete,
};

static void feed_http(wsh_bench_conn_t *c, const uint8_t *data, size_t len)
{
    llhttp_errno_t e = llhttp_execute(c->http, (const char *)data, len);
    if (e != HPE_OK)
        protocol_error(c);
}

/* ---- WebSocket messages ---- */

typedef enum { T_OTHER, T_MESSAGE, T_WELCOME, T_SUBSCRIBED, T_PUBLISHED, T_ERROR } msg_type_t;

/* The wshub frame type from its "type" member, found in the prefix. wshub
 * puts it first; peers may not, hence the search after the fast path. */
static msg_type_t wshub_type(const uint8_t *s, size_t len)
{
    static const char fast[] = "{\"type\":\"message\"";
    if (len >= sizeof fast - 1 && memcmp(s, fast, sizeof fast - 1) == 0)
        return T_MESSAGE;
    static const char key[] = "\"type\":\"";
    const uint8_t *k = memmem(s, len, key, sizeof key - 1);
    if (!k)
        return T_OTHER;
    const char *v = (const char *)k + sizeof key - 1;
    size_t left = len - (size_t)((const uint8_t *)v - s);
    static const struct { const char *name; msg_type_t type; } types[] = {
        {"message\"", T_MESSAGE},       {"welcome\"", T_WELCOME}, {"subscribed\"", T_SUBSCRIBED},
        {"published\"", T_PUBLISHED},   {"error\"", T_ERROR},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        size_t n = strlen(types[i].name);
        if (left >= n && memcmp(v, types[i].name, n) == 0)
            return types[i].type;
    }
    return T_OTHER;
}

static void delivered(wsh_bench_conn_t *c, const uint8_t *msg, size_t len, uint64_t now_ns)
{
    wsh_bench_run_t *run = c->run;
    run->cnt.delivered++;
    if (!run->is_measuring)
        return;
    /* A message stamped before the window opened (a warm-up publish that
     * arrives late, or one a server replays from its buffer to a new
     * subscriber) is not part of the measurement. */
    uint64_t t;
    bool has_t = wsh_bench_find_t(msg, len, &t) == 0;
    if (has_t && t < run->measure_start_ns)
        return;
    run->cnt.measured++;
    run->last_delivery_ns = now_ns;
    if (has_t)
        wsh_bench_hist_record(&run->hist, now_ns > t ? now_ns - t : 0);
}

static void send_subscribe(wsh_bench_conn_t *c)
{
    char buf[96];
    int n = snprintf(buf, sizeof buf, "{\"type\":\"subscribe\",\"channel\":\"bench.%u\"}", c->channel);
    queue_frame(c, WSH_OP_TEXT, buf, (size_t)n);
    set_state(c, WSH_BENCH_ST_SUBSCRIBING);
    wsh_bench_conn_flush(c);
}

/* A complete message; msg[0..len) is its start (all of it, or the prefix). */
static void on_message(wsh_bench_conn_t *c, const uint8_t *msg, size_t len, uint64_t now_ns)
{
    if (c->run->proto == WSH_BENCH_PROTO_NCHAN) {
        /* nchan sends each published body as it was posted, no envelope. */
        if (c->role == WSH_BENCH_ROLE_SUB)
            delivered(c, msg, len, now_ns);
        return;
    }
    msg_type_t type = wshub_type(msg, len);
    switch (type) {
    case T_MESSAGE:
        if (c->role == WSH_BENCH_ROLE_SUB)
            delivered(c, msg, len, now_ns);
        break;
    case T_WELCOME:
        if (c->state != WSH_BENCH_ST_WELCOME)
            break;
        if (c->role == WSH_BENCH_ROLE_SUB)
            send_subscribe(c);
        else
            set_state(c, WSH_BENCH_ST_READY);
        break;
    case T_SUBSCRIBED:
        if (c->state == WSH_BENCH_ST_SUBSCRIBING)
            set_state(c, WSH_BENCH_ST_READY);
        break;
    case T_PUBLISHED:
        if (c->inflight > 0)
            c->inflight--;
        c->run->cnt.acked++;
        break;
    case T_ERROR:
        if (c->role == WSH_BENCH_ROLE_PUB_WS) {
            /* A refused publish is still an answer: keep the window moving. */
            c->run->cnt.err_protocol++;
            if (c->inflight > 0)
                c->inflight--;
        } else {
            protocol_error(c);
        }
        break;
    case T_OTHER:
        break;
    }
}

static void on_control(wsh_bench_conn_t *c)
{
    switch (c->ctrl_op) {
    case WSH_OP_PING:
        /* RFC 6455 §5.5.3: a pong echoes the ping's application data. */
        queue_frame(c, WSH_OP_PONG, c->ctrl, c->ctrl_len);
        wsh_bench_conn_flush(c);
        break;
    case WSH_OP_CLOSE:
        if (c->state == WSH_BENCH_ST_CLOSING) {
            finish(c);
        } else {
            /* RFC 6455 §5.5.1: answer the close with a close, then go. */
            queue_frame(c, WSH_OP_CLOSE, c->ctrl, c->ctrl_len >= 2 ? 2 : 0);
            wsh_bench_conn_flush(c);
            if (c->io.fd >= 0)
                lost(c);
        }
        break;
    default:
        break;
    }
}

/* Runs the frame parser over data; stops early when the connection ends. */
static void feed_frames(wsh_bench_conn_t *c, uint8_t *data, size_t len, uint64_t now_ns)
{
    for (;;) {
        /* Fast path for the common case, a whole unfragmented unmasked text
         * frame in the buffer: handled in place, without the parser's three
         * events or a copy. Anything else (control frames, fragments, 64-bit
         * lengths, a frame cut by the read) goes through the parser, which
         * also rejects what is malformed. The checks here are the parser's
         * for such a frame: FIN, no RSV bits, opcode 1, no mask, and the
         * shortest length form (RFC 6455 §5.2). */
        while (len >= 2 && !c->in_msg && wsh_frame_parser_is_idle(&c->fp) && data[0] == 0x81 && data[1] < 0x7F) {
            size_t hl = 2, plen = data[1];
            if (plen == 126) {
                if (len < 4)
                    break;
                plen = (size_t)data[2] << 8 | data[3];
                if (plen < 126)
                    break;
                hl = 4;
            }
            if (len - hl < plen)
                break;
            on_message(c, data + hl, plen, now_ns);
            if (c->io.fd < 0)
                return;
            data += hl + plen;
            len -= hl + plen;
        }
        wsh_frame_ev_t ev;
        long n = wsh_frame_consume(&c->fp, data, len, &ev);
        if (n < 0) {
            protocol_error(c);
            return;
        }
        data += n;
        len -= (size_t)n;
        switch (ev.type) {
        case WSH_FRAME_EV_NONE:
            return;
        case WSH_FRAME_EV_HEADER:
            c->in_ctrl = (ev.opcode & 0x8) != 0;
            if (c->in_ctrl) {
                c->ctrl_op = ev.opcode;
                c->ctrl_len = 0;
                break;
            }
            /* RFC 6455 §5.4: a new data frame must not start while a
             * fragmented message is open, and a continuation needs one. */
            if ((ev.opcode == WSH_OP_CONT) != c->in_msg) {
                protocol_error(c);
                return;
            }
            if (ev.opcode != WSH_OP_CONT) {
                c->in_msg = true;
                c->prefix_len = 0;
            }
            c->is_fin = ev.fin;
            break;
        case WSH_FRAME_EV_PAYLOAD:
            if (c->in_ctrl) {
                memcpy(c->ctrl + c->ctrl_len, ev.data, ev.len); /* the parser bounds it to 125 */
                c->ctrl_len = (uint8_t)(c->ctrl_len + ev.len);
            } else if (c->prefix_len < WSH_BENCH_PREFIX_CAP) {
                size_t take = WSH_BENCH_PREFIX_CAP - c->prefix_len;
                if (take > ev.len)
                    take = ev.len;
                memcpy(c->prefix + c->prefix_len, ev.data, take);
                c->prefix_len = (uint8_t)(c->prefix_len + take);
            }
            break;
        case WSH_FRAME_EV_END:
            if (c->in_ctrl) {
                c->in_ctrl = false;
                on_control(c);
            } else if (c->is_fin) {
                c->in_msg = false;
                on_message(c, c->prefix, c->prefix_len, now_ns);
            }
            if (c->io.fd < 0)
                return;
            break;
        }
    }
}

/* ---- handshake ---- */

static void send_upgrade(wsh_bench_conn_t *c)
{
    wsh_bench_run_t *run = c->run;
    uint8_t raw[16];
    for (int i = 0; i < 2; i++) {
        uint64_t r = next_rand(run);
        memcpy(raw + 8 * i, &r, 8);
    }
    char key[25];
    EVP_EncodeBlock((unsigned char *)key, raw, 16); /* 24 characters and a NUL */
    c->hs = wsh_xmalloc(sizeof *c->hs);
    c->hs->len = 0;
    wsh_upgrade_accept_key(key, 24, c->hs->accept);
    char path[300];
    if (run->proto == WSH_BENCH_PROTO_NCHAN)
        snprintf(path, sizeof path, "/sub/bench.%u", c->channel);
    else
        snprintf(path, sizeof path, "%s", run->ws_path);
    char req[768];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                     path, run->host, key,
                     run->offer_deflate ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" : "");
    out_append(c, req, (size_t)n);
    set_state(c, WSH_BENCH_ST_HANDSHAKE);
    wsh_bench_conn_flush(c);
}

/* True when the head is a 101 whose Sec-WebSocket-Accept matches
 * (RFC 6455 §4.1: the client MUST fail the connection otherwise). */
static bool check_101(const struct bench_hs *hs, size_t head_len)
{
    const char *s = hs->buf;
    if (head_len < 13 || (memcmp(s, "HTTP/1.1 101", 12) != 0))
        return false;
    static const char name[] = "sec-websocket-accept:";
    const char *end = s + head_len;
    for (const char *line = s; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        if (!nl)
            break;
        line = nl + 1;
        if ((size_t)(end - line) > sizeof name - 1 && strncasecmp(line, name, sizeof name - 1) == 0) {
            const char *v = line + sizeof name - 1;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            size_t want = WSH_UPGRADE_ACCEPT_LEN - 1;
            return (size_t)(end - v) >= want + 2 && memcmp(v, hs->accept, want) == 0 &&
                   (v[want] == '\r' || v[want] == ' ');
        }
    }
    return false;
}

/* Collects the 101 head; returns the bytes of data it took, or -1 when the
 * connection failed. */
static long take_handshake(wsh_bench_conn_t *c, const uint8_t *data, size_t len)
{
    struct bench_hs *hs = c->hs;
    size_t old = hs->len;
    size_t take = HS_CAP - old < len ? HS_CAP - old : len;
    memcpy(hs->buf + old, data, take);
    hs->len = (uint16_t)(old + take);
    size_t from = old >= 3 ? old - 3 : 0;
    const char *e = memmem(hs->buf + from, hs->len - from, "\r\n\r\n", 4);
    if (!e) {
        if (hs->len == HS_CAP) {
            c->run->cnt.err_handshake++;
            finish(c);
            return -1;
        }
        return (long)take;
    }
    size_t head_len = (size_t)(e - hs->buf) + 4;
    if (!check_101(hs, head_len)) {
        c->run->cnt.err_handshake++;
        finish(c);
        return -1;
    }
    free(c->hs);
    c->hs = NULL;
    bool is_nchan = c->run->proto == WSH_BENCH_PROTO_NCHAN;
    set_state(c, is_nchan ? WSH_BENCH_ST_READY : WSH_BENCH_ST_WELCOME);
    return (long)(head_len - old);
}

/* ---- I/O ---- */

static void on_connected(wsh_bench_conn_t *c)
{
    if (c->role == WSH_BENCH_ROLE_PUB_HTTP) {
        c->http = wsh_xmalloc(sizeof *c->http);
        llhttp_init(c->http, HTTP_RESPONSE, &http_settings);
        c->http->data = c;
        wsh_io_modify(c->run->loop, &c->io, WSH_IO_READ);
        set_state(c, WSH_BENCH_ST_READY);
        return;
    }
    send_upgrade(c);
}

static void do_read(wsh_bench_conn_t *c)
{
    size_t cap;
    uint8_t *buf = wsh_loop_read_buf(c->run->loop, &cap);
    /* recv, not read: it skips the VFS layer (file position lock, rw
     * checks), measurably cheaper per call on this path. */
    ssize_t n = recv(c->io.fd, buf, cap, 0);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        lost(c);
        return;
    }
    if (n == 0) {
        lost(c);
        return;
    }
    /* One clock reading per read: every message in it arrived together. */
    uint64_t now_ns = wsh_clock_mono_ns();
    uint8_t *data = buf;
    size_t len = (size_t)n;
    if (c->state == WSH_BENCH_ST_HANDSHAKE) {
        long took = take_handshake(c, data, len);
        if (took < 0 || c->io.fd < 0)
            return;
        data += took;
        len -= (size_t)took;
        if (len == 0)
            return;
    }
    if (c->role == WSH_BENCH_ROLE_PUB_HTTP)
        feed_http(c, data, len);
    else
        feed_frames(c, data, len, now_ns);
}

static void on_io(wsh_loop_t *loop, wsh_io_t *io, uint32_t events)
{
    (void)loop;
    wsh_bench_conn_t *c = WSH_CONTAINER_OF(io, wsh_bench_conn_t, io);
    if (c->state == WSH_BENCH_ST_CONNECTING) {
        int err = 0;
        socklen_t elen = sizeof err;
        if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
            err = errno;
        if (err != 0) {
            lost(c);
            return;
        }
        if (events & (WSH_IO_WRITE | WSH_IO_READ))
            on_connected(c);
        return;
    }
    if (events & WSH_IO_READ) {
        do_read(c);
        if (c->io.fd < 0)
            return;
    }
    if (events & WSH_IO_WRITE)
        wsh_bench_conn_flush(c);
}

int wsh_bench_conn_start(wsh_bench_run_t *run, wsh_bench_conn_t *c, wsh_bench_role_t role, uint32_t channel,
                         const struct sockaddr_in *src)
{
    uint64_t index = c->index;
    memset(c, 0, offsetof(wsh_bench_conn_t, prefix));
    c->index = index;
    c->run = run;
    c->role = (uint8_t)role;
    c->channel = channel;
    c->io.fd = -1;
    wsh_frame_parser_init(&c->fp, MAX_MESSAGE);
    c->fp.require_mask = false; /* RFC 6455 §5.1: servers send unmasked frames */
    wsh_buf_init(&c->out);
    int err;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = errno;
        goto fail;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (src) {
        /* Without this, bind() picks the port before the destination is
         * known, and one source address runs out after ~28k sockets in
         * total instead of per destination. */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (const struct sockaddr *)src, sizeof *src) != 0)
            goto fail_fd;
    }
    if (connect(fd, (const struct sockaddr *)&run->server, sizeof run->server) != 0 && errno != EINPROGRESS)
        goto fail_fd;
    wsh_io_init(&c->io, fd, on_io);
    int rc = wsh_io_start(run->loop, &c->io, WSH_IO_WRITE);
    if (rc != 0) {
        errno = -rc;
        goto fail_fd;
    }
    set_state(c, WSH_BENCH_ST_CONNECTING);
    return 0;
fail_fd:
    err = errno;
    close(fd);
    c->io.fd = -1;
fail:
    run->cnt.err_connect++;
    set_state(c, WSH_BENCH_ST_DONE);
    return -err;
}

void wsh_bench_conn_close(wsh_bench_conn_t *c)
{
    if (c->io.fd < 0 || c->state == WSH_BENCH_ST_CLOSING)
        return;
    bool is_ws_open = c->role != WSH_BENCH_ROLE_PUB_HTTP &&
                      (c->state == WSH_BENCH_ST_WELCOME || c->state == WSH_BENCH_ST_SUBSCRIBING ||
                       c->state == WSH_BENCH_ST_READY);
    if (!is_ws_open) {
        finish(c);
        return;
    }
    static const uint8_t normal[2] = {0x03, 0xE8}; /* 1000, RFC 6455 §7.4.1 */
    queue_frame(c, WSH_OP_CLOSE, normal, sizeof normal);
    set_state(c, WSH_BENCH_ST_CLOSING);
    wsh_bench_conn_flush(c);
}

void wsh_bench_conn_abort(wsh_bench_conn_t *c)
{
    if (c->io.fd >= 0)
        finish(c);
}
