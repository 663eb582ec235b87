/* Test driver for libwshub: drives one client through the public API only
 * (linked against the shared library), taking commands on stdin and
 * printing every callback as a JSON line on stdout, so the Python
 * integration tests (tests/integ/python/test_client_lib.py) can script it.
 * It runs the caller-loop integration: poll() over stdin and
 * wshub_client_fd()/events()/next_timeout_ms(), then wshub_client_process().
 *
 * usage: wshub_client_driver URL [--seed N] [--backoff-initial MS]
 *        [--backoff-max MS] [--max-attempts N] [--max-queue N] [--token T]
 *        [--auto-ack]
 * stdin: "sub CH [SINCE [EPOCH]]", "unsub CH", "pub CH JSON", "pubr CH JSON"
 *        (with receipts), "ack CH OFFSET", "presence CH", "close"; EOF
 *        closes too. join/leave events are printed as they come. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wshub.h"

static bool auto_ack;

static const char *state_name(wshub_state_t s)
{
    static const char *const names[] = {"IDLE", "CONNECTING", "CONNECTED", "RECONNECTING", "CLOSED"};
    return (unsigned)s < 5 ? names[s] : "?";
}

/* Prints s as a JSON string (or null): presence users may hold anything. */
static void put_str(const char *s)
{
    if (!s) {
        fputs("null", stdout);
        return;
    }
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void on_state(wshub_client_t *c, wshub_state_t s, int err, void *user)
{
    (void)user;
    printf("{\"ev\":\"state\",\"state\":\"%s\",\"err\":%d,\"errname\":\"%s\",\"connections\":%u,\"close_code\":%d,"
           "\"client\":",
           state_name(s), err, wshub_strerror(err), wshub_client_connections(c), wshub_client_close_code(c));
    put_str(wshub_client_id(c));
    printf("}\n");
    fflush(stdout);
}

static void on_presence(wshub_client_t *c, const wshub_presence_result_t *r, void *arg)
{
    (void)c;
    (void)arg;
    printf("{\"ev\":\"presence\",\"id\":%" PRIu64 ",\"channel\":\"%s\",\"err\":%d,\"code\":", r->request_id,
           r->channel, r->err);
    put_str(r->code);
    printf(",\"message\":");
    put_str(r->message);
    printf(",\"count\":%" PRIu64 ",\"truncated\":%s,\"clients\":[", r->count, r->is_truncated ? "true" : "false");
    for (size_t i = 0; i < r->entry_cnt; i++) {
        printf("%s{\"client\":", i ? "," : "");
        put_str(r->entries[i].client);
        printf(",\"user\":");
        put_str(r->entries[i].user);
        putchar('}');
    }
    printf("]}\n");
    fflush(stdout);
}

static void on_presence_event(wshub_client_t *c, wshub_presence_change_t change, const char *channel,
                              const wshub_presence_entry_t *who, void *user)
{
    (void)c;
    (void)user;
    printf("{\"ev\":\"%s\",\"channel\":\"%s\",\"client\":", change == WSHUB_PRESENCE_JOIN ? "join" : "leave",
           channel);
    put_str(who->client);
    printf(",\"user\":");
    put_str(who->user);
    printf("}\n");
    fflush(stdout);
}

static void on_message(wshub_client_t *c, const wshub_message_t *m, void *user)
{
    (void)user;
    printf("{\"ev\":\"message\",\"channel\":\"%s\",\"offset\":%" PRIu64 ",\"ts\":%" PRIu64
           ",\"epoch\":\"%s\",\"receipts\":%s,\"data\":%.*s}\n",
           m->channel, m->offset, m->ts, m->epoch, m->wants_receipt ? "true" : "false", (int)m->data_len, m->data);
    fflush(stdout);
    if (auto_ack && m->wants_receipt)
        wshub_ack(c, m->channel, m->offset);
}

static void on_publish(wshub_client_t *c, const wshub_publish_result_t *r, void *user)
{
    (void)c;
    (void)user;
    printf("{\"ev\":\"published\",\"id\":%" PRIu64 ",\"channel\":\"%s\",\"offset\":%" PRIu64
           ",\"duplicate\":%s,\"err\":%d,\"code\":\"%s\"}\n",
           r->publish_id, r->channel, r->offset, r->is_duplicate ? "true" : "false", r->err, r->code ? r->code : "");
    fflush(stdout);
}

static void on_receipt(wshub_client_t *c, const wshub_receipt_t *r, void *user)
{
    (void)c;
    (void)user;
    printf("{\"ev\":\"receipt\",\"id\":%" PRIu64 ",\"channel\":\"%s\",\"offset\":%" PRIu64 ",\"client\":\"%s\"}\n",
           r->publish_id, r->channel, r->offset, r->client);
    fflush(stdout);
}

static void on_lost(wshub_client_t *c, const char *channel, uint64_t since, uint64_t offset, const char *epoch,
                    void *user)
{
    (void)c;
    (void)user;
    printf("{\"ev\":\"lost\",\"channel\":\"%s\",\"since\":%" PRIu64 ",\"offset\":%" PRIu64 ",\"epoch\":\"%s\"}\n",
           channel, since, offset, epoch);
    fflush(stdout);
}

static void on_sub_error(wshub_client_t *c, const char *channel, const char *code, const char *message, void *user)
{
    (void)c;
    (void)user;
    printf("{\"ev\":\"sub_error\",\"channel\":\"%s\",\"code\":\"%s\",\"message\":\"%s\"}\n", channel, code, message);
    fflush(stdout);
}

static void command(wshub_client_t *c, char *line)
{
    char *cmd = strtok(line, " ");
    if (!cmd)
        return;
    char *ch = strtok(NULL, " ");
    char *rest = strtok(NULL, "");
    int rc = WSHUB_EINVAL;
    uint64_t id = 0;
    if (strcmp(cmd, "close") == 0) {
        rc = wshub_client_close(c);
    } else if (!ch) {
        rc = WSHUB_EINVAL;
    } else if (strcmp(cmd, "sub") == 0) {
        char *since = rest ? strtok(rest, " ") : NULL;
        char *epoch = since ? strtok(NULL, " ") : NULL;
        wshub_sub_options_t so = {.has_since = since != NULL, .since = since ? strtoull(since, NULL, 10) : 0,
                                  .epoch = epoch};
        rc = wshub_subscribe(c, ch, &so);
    } else if (strcmp(cmd, "unsub") == 0) {
        rc = wshub_unsubscribe(c, ch);
    } else if ((strcmp(cmd, "pub") == 0 || strcmp(cmd, "pubr") == 0) && rest) {
        rc = wshub_publish(c, ch, rest, strlen(rest), cmd[3] == 'r', &id);
    } else if (strcmp(cmd, "ack") == 0 && rest) {
        rc = wshub_ack(c, ch, strtoull(rest, NULL, 10));
    } else if (strcmp(cmd, "presence") == 0) {
        rc = wshub_presence(c, ch, on_presence, NULL, &id);
    }
    printf("{\"ev\":\"cmd\",\"cmd\":\"%s\",\"rc\":%d,\"id\":%" PRIu64 ",\"pending\":%zu}\n", cmd, rc, id,
           wshub_client_pending(c));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s URL [options]\n", argv[0]);
        return 2;
    }
    wshub_options_t o;
    wshub_options_init(&o);
    o.url = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : "0";
        if (strcmp(argv[i], "--auto-ack") == 0) {
            auto_ack = true;
            continue;
        }
        if (strcmp(argv[i], "--seed") == 0)
            o.seed = strtoull(v, NULL, 10);
        else if (strcmp(argv[i], "--backoff-initial") == 0)
            o.backoff_initial_ms = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(argv[i], "--backoff-max") == 0)
            o.backoff_max_ms = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(argv[i], "--max-attempts") == 0)
            o.max_attempts = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(argv[i], "--max-queue") == 0)
            o.max_queue = strtoul(v, NULL, 10);
        else if (strcmp(argv[i], "--token") == 0)
            o.token = v;
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
        i++;
    }
    o.on_state = on_state;
    o.on_message = on_message;
    o.on_publish = on_publish;
    o.on_receipt = on_receipt;
    o.on_lost = on_lost;
    o.on_sub_error = on_sub_error;
    wshub_client_t *c;
    int rc = wshub_client_new(&o, &c);
    if (rc != 0) {
        printf("{\"ev\":\"new_failed\",\"err\":%d,\"errname\":\"%s\"}\n", rc, wshub_strerror(rc));
        return 1;
    }
    wshub_set_presence_event_cb(c, on_presence_event);
    wshub_client_start(c);
    char line[65536];
    size_t line_len = 0;
    bool stdin_open = true;
    while (wshub_client_process(c) != WSHUB_ECLOSED) {
        struct pollfd p[2];
        int n = 0;
        if (stdin_open)
            p[n++] = (struct pollfd){.fd = 0, .events = POLLIN};
        int fd = wshub_client_fd(c), ev = wshub_client_events(c);
        if (fd >= 0)
            p[n++] = (struct pollfd){.fd = fd, .events = (short)(((ev & WSHUB_WANT_READ) ? POLLIN : 0) |
                                                                 ((ev & WSHUB_WANT_WRITE) ? POLLOUT : 0))};
        if (poll(p, (nfds_t)n, wshub_client_next_timeout_ms(c)) < 0 && errno != EINTR)
            break;
        if (stdin_open && p[0].revents) {
            ssize_t got = read(0, line + line_len, sizeof line - 1 - line_len);
            if (got <= 0) {
                stdin_open = false;
                wshub_client_close(c);
                continue;
            }
            line_len += (size_t)got;
            char *nl;
            while ((nl = memchr(line, '\n', line_len))) {
                *nl = '\0';
                command(c, line);
                size_t used = (size_t)(nl + 1 - line);
                memmove(line, nl + 1, line_len - used);
                line_len -= used;
            }
            if (line_len == sizeof line - 1)
                line_len = 0; /* an over-long line is dropped, not a hang */
        }
    }
    printf("{\"ev\":\"exit\",\"state\":\"%s\",\"err\":%d}\n", state_name(wshub_client_state(c)),
           wshub_client_last_error(c));
    fflush(stdout);
    wshub_client_free(c);
    return 0;
}
