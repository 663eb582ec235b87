/* Formatting of HTTP responses into one refcounted frame each. */
#include "http/response.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "obs/metrics.h"
#include "http/json_escape.h"

void wsh_http_respond(wsh_conn_t *c, int status, const char *ctype, const char *headers, const void *body,
                      size_t len, bool keep_alive, bool is_head)
{
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\n"
                     "Server: wshub/" WSH_VERSION "\r\n"
                     "%s%s%s"
                     "Content-Length: %zu\r\n"
                     "%s"
                     "%s"
                     "\r\n",
                     status, wsh_http_reason(status), ctype ? "Content-Type: " : "", ctype ? ctype : "",
                     ctype ? "\r\n" : "", len, keep_alive ? "" : "Connection: close\r\n", headers ? headers : "");
    if (n < 0 || (size_t)n >= sizeof head) {
        wsh_log_error(c->id, "response head too long, closing");
        wsh_conn_close(c);
        return;
    }
    WSH_METRIC_INC(http_requests);
    if (status >= 400)
        WSH_METRIC_INC(http_errors);
    size_t body_len = is_head ? 0 : len;
    wsh_msg_t *m = wsh_msg_try_new((size_t)n + body_len);
    if (!m) {
        wsh_conn_close(c);
        return;
    }
    memcpy(m->data, head, (size_t)n);
    if (body_len)
        memcpy(m->data + n, body, body_len);
    int rc = wsh_conn_send(c, m);
    wsh_msg_unref(m);
    if (rc == WSH_ESLOW) {
        /* The peer pipelines requests without reading answers. */
        wsh_log_warn(c->id, "http output over its cap, closing");
        wsh_conn_close(c);
    }
}

void wsh_http_respond_error(wsh_conn_t *c, int status, const char *code, const char *message,
                            const char *headers, bool keep_alive)
{
    wsh_buf_t b;
    wsh_buf_init(&b);
    int rc = wsh_buf_append(&b, "{\"error\":{\"code\":\"", 18);
    rc = rc ? rc : wsh_json_escape_buf(&b, code, strlen(code));
    rc = rc ? rc : wsh_buf_append(&b, "\",\"message\":\"", 13);
    rc = rc ? rc : wsh_json_escape_buf(&b, message, strlen(message));
    rc = rc ? rc : wsh_buf_append(&b, "\"}}", 3);
    if (rc) {
        wsh_buf_dispose(&b);
        wsh_conn_close(c);
        return;
    }
    wsh_http_respond(c, status, "application/json", headers, b.data, b.len, keep_alive, false);
    wsh_buf_dispose(&b);
}

void wsh_http_respond_upgrade(wsh_conn_t *c, const char *accept, const char *extensions)
{
    char head[384];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n"
                     "%s%s%s"
                     "\r\n",
                     accept, extensions ? "Sec-WebSocket-Extensions: " : "", extensions ? extensions : "",
                     extensions ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof head)
        abort(); /* our own fixed-size strings: a bug, not peer input */
    wsh_msg_t *m = wsh_msg_new_copy(head, (size_t)n);
    wsh_conn_send_force(c, m);
    wsh_msg_unref(m);
}
