/* Blocking one-shot HTTP/1.1 client over the client transport (see http_client.h). */
#include "http_client.h"

#include <poll.h>
#include <string.h>
#include <time.h>

#include <llhttp.h>

#include "transport.h"
#include "url.h"
#include "wshub.h"

typedef struct call_state {
    wsh_http_answer_t *a;
    size_t max_body;
    bool done;
    bool too_big;
} call_state_t;

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    call_state_t *st = p->data;
    if (st->a->body.len + len > st->max_body) {
        st->too_big = true;
        return -1;
    }
    return wsh_buf_append(&st->a->body, at, len) == 0 ? 0 : -1;
}

static int on_complete(llhttp_t *p)
{
    call_state_t *st = p->data;
    st->done = true;
    return HPE_PAUSED; /* one answer is all we want */
}

static long left_ms(const struct timespec *end)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (end->tv_sec - now.tv_sec) * 1000 + (end->tv_nsec - now.tv_nsec) / 1000000;
}

/* Waits until t can make progress in the direction(s) ev, or the deadline. */
static int wait_io(wsh_tp_t *t, short ev, const struct timespec *end)
{
    long left = left_ms(end);
    if (left <= 0)
        return WSHUB_ETIMEOUT;
    struct pollfd p = {.fd = t->fd, .events = ev};
    int n = poll(&p, 1, (int)left);
    if (n == 0)
        return WSHUB_ETIMEOUT;
    return 0; /* EINTR or ready: the caller retries its step */
}

int wsh_http_do(const wsh_http_call_t *call, wsh_http_answer_t *a)
{
    memset(a, 0, sizeof *a);
    wsh_url_t u;
    if (wsh_url_parse(call->url, &u) != 0 || u.is_ws)
        return WSHUB_EURL;
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += call->timeout_ms / 1000;
    end.tv_nsec += (long)(call->timeout_ms % 1000) * 1000000;
    if (end.tv_nsec >= 1000000000) {
        end.tv_sec++;
        end.tv_nsec -= 1000000000;
    }
    SSL_CTX *ctx = NULL;
    wsh_buf_t req = {0};
    wsh_tp_t t = {.fd = -1};
    int rc = 0;
    if (u.is_tls && !(ctx = wsh_tp_tls_ctx(call->ca_file, call->tls_no_verify)))
        return WSHUB_ETLS;
    rc = wsh_tp_open(&t, &u, ctx, call->tls_no_verify);
    while (rc == 0) {
        int r = wsh_tp_progress(&t);
        if (r < 0)
            rc = r;
        else if (r == 1)
            break;
        else
            rc = wait_io(&t, wsh_tp_events(&t), &end);
    }
    if (rc != 0)
        goto out;
    bool v6 = strchr(u.host, ':') != NULL;
    if (wsh_buf_appendf(&req, "%s %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nConnection: close\r\nAccept: application/json\r\n"
                              "User-Agent: wshub-cli/" WSH_VERSION "\r\n",
                        call->method, u.path, v6 ? "[" : "", u.host, v6 ? "]" : "", u.port) ||
        (call->token && wsh_buf_appendf(&req, "Authorization: Bearer %s\r\n", call->token)) ||
        (call->body && wsh_buf_appendf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                                       call->body_len)) ||
        wsh_buf_append(&req, "\r\n", 2) || (call->body && wsh_buf_append(&req, call->body, call->body_len))) {
        rc = WSHUB_ENOMEM;
        goto out;
    }
    size_t sent = 0;
    while (rc == 0 && sent < req.len) {
        long n = wsh_tp_write(&t, req.data + sent, req.len - sent);
        if (n < 0)
            rc = (int)n;
        else if (n == 0)
            rc = wait_io(&t, POLLOUT | POLLIN, &end);
        else
            sent += (size_t)n;
    }
    llhttp_settings_t settings;
    llhttp_settings_init(&settings);
    settings.on_body = on_body;
    settings.on_message_complete = on_complete;
    llhttp_t parser;
    llhttp_init(&parser, HTTP_RESPONSE, &settings);
    call_state_t st = {.a = a, .max_body = call->max_body ? call->max_body : (64u << 20)};
    parser.data = &st;
    char buf[16384];
    while (rc == 0 && !st.done) {
        long n = wsh_tp_read(&t, buf, sizeof buf);
        if (n == 0) {
            rc = wait_io(&t, POLLIN, &end);
            continue;
        }
        if (n < 0) {
            /* EOF ends a body without a length (Connection: close). */
            if (llhttp_finish(&parser) == HPE_OK && st.done)
                break;
            rc = parser.status_code ? WSHUB_EIO : WSHUB_EPROTO;
            break;
        }
        llhttp_errno_t e = llhttp_execute(&parser, buf, (size_t)n);
        if (e != HPE_OK && e != HPE_PAUSED)
            rc = WSHUB_EPROTO;
    }
    if (rc == 0 && st.too_big)
        rc = WSHUB_EPROTO;
    if (rc == 0) {
        a->status = parser.status_code;
        if (wsh_buf_reserve(&a->body, 1) == 0)
            a->body.data[a->body.len] = '\0';
        else
            rc = WSHUB_ENOMEM;
    }
out:
    wsh_tp_close(&t);
    if (ctx)
        SSL_CTX_free(ctx);
    wsh_buf_dispose(&req);
    if (rc != 0)
        wsh_buf_dispose(&a->body);
    return rc;
}
