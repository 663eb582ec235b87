/* `wshub pub`: publishes one message or one per stdin line through
 * libwshub, prints each answer (and receipts) as a JSON line, and says with
 * its exit code whether everything was stored and acknowledged in time. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "core/buf.h"
#include "core/json.h"
#include "http/json_escape.h"
#include "ws/utf8.h"
#include "wshub.h"

typedef struct pub_run {
    const wsh_cli_opts_t *o;
    int exit;
    size_t published, answered, ok, acked_fully;
    bool hub_error;
    unsigned *rcpt;     /* receipts counted per publish id */
    size_t rcpt_cap;
} pub_run_t;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_state(wshub_client_t *c, wshub_state_t state, int err, void *user)
{
    pub_run_t *r = user;
    if (state == WSHUB_STATE_RECONNECTING && wshub_client_connections(c) == 0 && r->exit == 0) {
        wsh_cli_error("cannot reach the hub at %s: %s", r->o->url, wshub_strerror(err));
        r->exit = WSH_CLI_ECONNECT;
    } else if (state == WSHUB_STATE_RECONNECTING) {
        wsh_cli_error("connection lost (%s), reconnecting", wshub_strerror(err));
    } else if (state == WSHUB_STATE_CLOSED && err == WSHUB_EREFUSED) {
        wsh_cli_error("refused by the hub (close code %d)", wshub_client_close_code(c));
        r->exit = WSH_CLI_EHUB;
    }
}

static void on_publish(wshub_client_t *c, const wshub_publish_result_t *p, void *user)
{
    (void)c;
    pub_run_t *r = user;
    r->answered++;
    if (p->err == 0) {
        r->ok++;
        char ch[2 * 256 + 8];
        wsh_json_escape(ch, sizeof ch, p->channel, strlen(p->channel));
        printf("{\"type\":\"published\",\"channel\":\"%s\",\"offset\":%llu%s}\n", ch,
               (unsigned long long)p->offset, p->is_duplicate ? ",\"duplicate\":true" : "");
        fflush(stdout);
    } else if (p->err == WSHUB_EHUB) {
        wsh_cli_error("publish to %s refused: %s: %s", p->channel, p->code, p->message);
        r->hub_error = true;
    }
}

static void on_receipt(wshub_client_t *c, const wshub_receipt_t *rc, void *user)
{
    (void)c;
    pub_run_t *r = user;
    char ch[2 * 256 + 8], client[2 * 80 + 8];
    wsh_json_escape(ch, sizeof ch, rc->channel, strlen(rc->channel));
    wsh_json_escape(client, sizeof client, rc->client, strlen(rc->client));
    printf("{\"type\":\"receipt\",\"channel\":\"%s\",\"offset\":%llu,\"client\":\"%s\"}\n", ch,
           (unsigned long long)rc->offset, client);
    fflush(stdout);
    if (rc->publish_id < r->rcpt_cap && ++r->rcpt[rc->publish_id] == r->o->receipts)
        r->acked_fully++;
}

/* Publishes text as it is when it is one JSON value, else as a JSON string. */
static int publish_text(wshub_client_t *c, pub_run_t *r, const char *channel, const char *text, size_t len)
{
    wsh_json_tok_t tok;
    wsh_buf_t b = {0};
    const char *data = text;
    size_t data_len = len;
    if (!wsh_utf8_is_valid((const uint8_t *)text, len) || wsh_json_parse(text, len, &tok, 1, 0, 64, NULL) < 1) {
        if (wsh_buf_append(&b, "\"", 1) || wsh_json_escape_buf(&b, text, len) || wsh_buf_append(&b, "\"", 1)) {
            wsh_buf_dispose(&b);
            return WSHUB_ENOMEM;
        }
        data = (const char *)b.data;
        data_len = b.len;
    }
    uint64_t id;
    int rc = wshub_publish(c, channel, data, data_len, r->o->receipts > 0, &id);
    wsh_buf_dispose(&b);
    if (rc != 0)
        return rc;
    r->published++;
    if (id >= r->rcpt_cap) {
        size_t cap = r->rcpt_cap ? r->rcpt_cap * 2 : 64;
        while (cap <= id)
            cap *= 2;
        unsigned *p = realloc(r->rcpt, cap * sizeof *p);
        if (!p)
            return WSHUB_ENOMEM;
        memset(p + r->rcpt_cap, 0, (cap - r->rcpt_cap) * sizeof *p);
        r->rcpt = p;
        r->rcpt_cap = cap;
    }
    return 0;
}

/* Publishes every complete line in *in (CR LF or LF; empty lines skipped). */
static int publish_lines(wshub_client_t *c, pub_run_t *r, const char *channel, wsh_buf_t *in, bool at_eof)
{
    size_t start = 0;
    for (size_t i = 0; i <= in->len; i++) {
        bool end = i == in->len;
        if (!end && in->data[i] != '\n')
            continue;
        if (end && !at_eof)
            break;
        size_t n = i - start;
        if (n && in->data[start + n - 1] == '\r')
            n--;
        if (n) {
            int rc = publish_text(c, r, channel, (const char *)in->data + start, n);
            if (rc != 0)
                return rc;
        }
        start = i + 1;
    }
    wsh_buf_consume(in, start > in->len ? in->len : start);
    return 0;
}

static bool all_done(const pub_run_t *r)
{
    return r->answered == r->published && (r->o->receipts == 0 || r->acked_fully >= r->ok);
}

int wsh_cli_pub(const wsh_cli_opts_t *o)
{
    pub_run_t r = {.o = o};
    const char *channel = o->argv[0];
    bool from_stdin = o->argc == 1 || strcmp(o->argv[1], "-") == 0;
    wshub_options_t wo;
    wsh_cli_client_options(o, &wo);
    wo.on_state = on_state;
    wo.on_publish = on_publish;
    wo.on_receipt = on_receipt;
    wo.user = &r;
    wshub_client_t *c;
    int rc = wsh_cli_client_new(o, &wo, &c);
    if (rc != 0)
        return rc;
    wsh_buf_t in = {0};
    bool input_done = !from_stdin;
    int result = WSH_CLI_OK;
    if (!from_stdin) {
        rc = publish_text(c, &r, channel, o->argv[1], strlen(o->argv[1]));
        if (rc != 0) {
            wsh_cli_error("cannot publish to \"%s\": %s", channel, wshub_strerror(rc));
            result = WSH_CLI_EUSAGE;
            goto out;
        }
    }
    wshub_client_start(c);
    uint64_t deadline = input_done ? mono_ms() + (uint64_t)o->timeout_ms : 0;
    for (;;) {
        if (wshub_client_process(c) == WSHUB_ECLOSED || r.exit)
            break;
        if (input_done && all_done(&r))
            break;
        uint64_t now = mono_ms();
        if (input_done && now >= deadline) {
            if (r.answered < r.published)
                wsh_cli_error("timed out: %zu of %zu publishes answered", r.answered, r.published);
            else
                wsh_cli_error("timed out: %zu of %zu messages got %u receipts", r.acked_fully, r.ok, o->receipts);
            result = WSH_CLI_ETIMEOUT;
            break;
        }
        int wait = wshub_client_next_timeout_ms(c);
        if (input_done && (wait < 0 || (uint64_t)wait > deadline - now))
            wait = (int)(deadline - now);
        struct pollfd p[2];
        int n = 0, ev = wshub_client_events(c);
        /* Stop reading input while the queue is full: backpressure, not an error. */
        bool read_input = !input_done && wshub_client_pending(c) + 64 < wo.max_queue;
        if (read_input)
            p[n++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
        if (wshub_client_fd(c) >= 0)
            p[n++] = (struct pollfd){.fd = wshub_client_fd(c),
                                     .events = (short)(((ev & WSHUB_WANT_READ) ? POLLIN : 0) |
                                                       ((ev & WSHUB_WANT_WRITE) ? POLLOUT : 0))};
        if (poll(p, (nfds_t)n, wait) < 0 && errno != EINTR)
            break;
        if (read_input && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            char buf[8192];
            ssize_t got = read(STDIN_FILENO, buf, sizeof buf);
            if (got > 0 && wsh_buf_append(&in, buf, (size_t)got) != 0)
                got = -1;
            if (got <= 0 && !(got < 0 && errno == EINTR))
                input_done = true;
            rc = publish_lines(c, &r, channel, &in, input_done);
            if (rc != 0) {
                wsh_cli_error("cannot publish to \"%s\": %s", channel, wshub_strerror(rc));
                result = rc == WSHUB_EINVAL ? WSH_CLI_EUSAGE : WSH_CLI_EHUB;
                break;
            }
            if (input_done)
                deadline = mono_ms() + (uint64_t)o->timeout_ms;
        }
    }
    if (r.exit)
        result = r.exit;
    else if (result == WSH_CLI_OK && r.hub_error)
        result = WSH_CLI_EHUB;
    if (result != WSH_CLI_ECONNECT && wshub_client_state(c) != WSHUB_STATE_CLOSED) {
        wshub_client_close(c);
        for (int i = 0; i < 4 && wshub_client_run(c, 500) != WSHUB_ECLOSED; i++)
            ;
    }
out:
    wshub_client_free(c);
    wsh_buf_dispose(&in);
    free(r.rcpt);
    return result;
}
