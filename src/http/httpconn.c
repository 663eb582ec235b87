/* The request/response cycle of one HTTP connection, on top of the sans-I/O parser. */
#include "http/httpconn.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "http/response.h"

/* Handler state; allocated at accept, freed when the connection closes or
 * is upgraded (a WebSocket keeps none of it). */
typedef struct httpconn {
    wsh_http_parser_t parser;
    const wsh_httpconn_opts_t *opts;
    bool is_draining;
    bool is_waiting;        /* a route answers later (wsh_httpconn_wait) */
    bool wait_keep_alive;   /* keep-alive of the waiting request */
    bool wait_is_head;
    bool has_routed;        /* a request was answered: later ones time from their first byte */
    bool is_head_gated;     /* the current request's head went through opts->head_gate */
} httpconn_t;

static size_t on_data(wsh_conn_t *c, uint8_t *data, size_t len);
static void on_shutdown(wsh_conn_t *c);
static void on_free(wsh_conn_t *c);

static const wsh_conn_handler_t http_handler = {
    .on_data = on_data,
    .on_eof = NULL,
    .on_shutdown = on_shutdown,
    .on_free = on_free,
};

static void free_state(httpconn_t *h)
{
    wsh_http_parser_dispose(&h->parser);
    free(h);
}

static void on_timeout(wsh_timer_t *t)
{
    wsh_conn_t *c = wsh_conn_of_timer(t);
    httpconn_t *h = c->proto;
    if (wsh_http_parser_is_mid_request(&h->parser)) {
        /* RFC 9110 §15.5.9: the server closes a request it waited too long
         * for; this is what stops slowloris. */
        wsh_log_info(c->id, "http request timeout, closing");
        wsh_http_respond_error(c, 408, "timeout", "request not complete in time", NULL, false);
        wsh_conn_close_after_flush(c);
    } else {
        wsh_log_debug(c->id, "idle keep-alive connection closed");
        wsh_conn_close(c);
    }
}

wsh_conn_t *wsh_httpconn_accept(wsh_net_t *net, int fd, const struct sockaddr_storage *peer,
                                const wsh_httpconn_opts_t *opts)
{
    httpconn_t *h = wsh_xcalloc(1, sizeof *h);
    h->opts = opts;
    wsh_http_parser_init(&h->parser, &opts->lim);
    wsh_conn_t *c = wsh_conn_new(net, fd, peer, &http_handler, h);
    if (!c->is_closed)
        wsh_conn_timer_start(c, opts->request_timeout_ms, on_timeout);
    return c;
}

static void reject(wsh_conn_t *c, int err)
{
    int status = wsh_err_http_status(err);
    const char *msg = status == 431   ? "request head too large"
                      : status == 413 ? "request body too large"
                                      : "malformed HTTP request";
    wsh_log_info(c->id, "http %d %s", status, msg);
    wsh_http_respond_error(c, status, wsh_err_name(err), msg, NULL, false);
    wsh_conn_close_after_flush(c);
}

/* Request targets longer than this get 414 (catalogue B11). The catalogue
 * says 4 KiB, but a token may be 4 KiB (auth/jwt.h) and travel in ?token=
 * next to ?channels=, so the cap leaves room for both. */
#define MAX_TARGET 8192

static void route(wsh_conn_t *c, httpconn_t *h, wsh_http_req_t *req)
{
    if (req->url.len > MAX_TARGET) {
        wsh_log_info(c->id, "http 414 request target of %zu bytes", req->url.len);
        wsh_http_respond_error(c, 414, "uri_too_long", "the request target is over 8 KiB", NULL, false);
        wsh_conn_close_after_flush(c);
        return;
    }
    h->has_routed = true;
    wsh_http_x_t x = {
        .conn = c,
        .req = req,
        /* A request carrying Upgrade that is not switched (any non-101
         * answer, on any route) ends the connection: a proxy that took the
         * attempt for a tunnel must not get later bytes to our routes
         * (upgrade smuggling, attacks-and-faults B9). */
        .keep_alive = req->keep_alive && !h->is_draining && !wsh_http_req_header(req, "Upgrade"),
        .is_head = req->method == HTTP_HEAD,
    };
    int status = 0;
    char allow[96];
    const wsh_route_t *rt = wsh_router_match(h->opts->router, req, &status, allow, sizeof allow);
    if (!rt) {
        const char *code = status == 405 ? "method_not_allowed" : "not_found";
        const char *msg = status == 405 ? "method not allowed on this path" : "no such path";
        wsh_http_respond_error(c, status, code, msg, status == 405 ? allow : NULL, x.keep_alive);
    } else {
        x.data = rt->data;
        rt->cb(&x);
    }
    wsh_log_debug(c->id, "http %s %.*s", llhttp_method_name((llhttp_method_t)req->method),
                  (int)req->path.len, req->path.ptr);
    if (c->h == &http_handler && wsh_conn_is_open(c) && !x.keep_alive && !h->is_waiting)
        wsh_conn_close_after_flush(c);
}

void wsh_httpconn_wait(wsh_http_x_t *x)
{
    httpconn_t *h = x->conn->proto;
    h->is_waiting = true;
    h->wait_keep_alive = x->keep_alive;
    h->wait_is_head = x->is_head;
}

bool wsh_httpconn_is_waiting(const wsh_conn_t *c)
{
    return c->h == &http_handler && ((const httpconn_t *)c->proto)->is_waiting;
}

void wsh_httpconn_finish(wsh_conn_t *c, int status, const void *body, size_t len)
{
    if (!wsh_httpconn_is_waiting(c) || !wsh_conn_is_open(c))
        return;
    httpconn_t *h = c->proto;
    h->is_waiting = false;
    bool keep = h->wait_keep_alive && !h->is_draining;
    wsh_http_respond(c, status, "application/json", NULL, body, len, keep, h->wait_is_head);
    if (!wsh_conn_is_open(c))
        return;
    if (!keep) {
        wsh_conn_close_after_flush(c);
        return;
    }
    wsh_http_parser_next(&h->parser);
    wsh_conn_timer_start(c, h->opts->request_timeout_ms, on_timeout);
    /* Requests pipelined behind the one that waited are parsed now. */
    wsh_conn_resume_input(c);
}

static size_t on_data(wsh_conn_t *c, uint8_t *data, size_t len)
{
    httpconn_t *h = c->proto;
    if (h->is_waiting)
        return 0;
    bool was_mid = wsh_http_parser_is_mid_request(&h->parser);
    wsh_http_req_t *req = NULL;
    long n = wsh_http_parser_feed(&h->parser, data, len, &req);
    if (n < 0) {
        reject(c, (int)n);
        return len;
    }
    if (!req) {
        if (h->opts->head_gate && !h->is_head_gated) {
            wsh_http_req_t *head = wsh_http_parser_head(&h->parser);
            if (head) {
                h->is_head_gated = true;
                if (!h->opts->head_gate(c, head, h->opts->head_gate_ud)) {
                    wsh_conn_timer_stop(c);
                    wsh_conn_close_after_flush(c);
                    return len;
                }
            }
        }
        if (h->parser.wants_continue) {
            /* Sent once, when the head is in and the body is awaited. */
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            h->parser.wants_continue = false;
            wsh_msg_t *m = wsh_msg_new_copy(cont, sizeof cont - 1);
            wsh_conn_send_force(c, m);
            wsh_msg_unref(m);
        }
        /* A later request's deadline counts from its first byte, not from
         * when the connection went idle; the first one's from the accept, so
         * accept-to-headers is bounded too (catalogue B3: a peer that waits
         * before its first byte gains nothing). */
        if (!was_mid && h->has_routed && wsh_http_parser_is_mid_request(&h->parser))
            wsh_conn_timer_start(c, h->opts->request_timeout_ms, on_timeout);
        return (size_t)n;
    }
    wsh_conn_timer_stop(c);
    h->is_head_gated = false;
    route(c, h, req);
    if (c->h != &http_handler) {
        /* Upgraded: the new handler owns the connection and its timer. */
        free_state(h);
        return (size_t)n;
    }
    if (!wsh_conn_is_open(c))
        return len;
    if (h->is_waiting)
        return (size_t)n; /* the parser keeps the request until the answer is sent */
    wsh_http_parser_next(&h->parser);
    wsh_conn_timer_start(c, h->opts->request_timeout_ms, on_timeout);
    return (size_t)n;
}

static void on_shutdown(wsh_conn_t *c)
{
    httpconn_t *h = c->proto;
    h->is_draining = true;
    if (!h->is_waiting && !wsh_http_parser_is_mid_request(&h->parser))
        wsh_conn_close(c);
}

static void on_free(wsh_conn_t *c)
{
    free_state(c->proto);
}
