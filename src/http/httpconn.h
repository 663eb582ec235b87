/* HTTP/1.1 on a connection: parses requests one at a time, routes them,
 * enforces the request timeout (408) and the parser's limits (431/413/400),
 * keeps the connection alive between requests, and hands it over on upgrade.
 * Not the parser (http.c) and not any endpoint's logic. */
#ifndef WSH_HTTP_HTTPCONN_H
#define WSH_HTTP_HTTPCONN_H

#include <stdbool.h>
#include <stdint.h>

#include "http/http.h"
#include "http/router.h"
#include "net/conn.h"

/* Shared by every HTTP connection of a server; outlives them. */
typedef struct wsh_httpconn_opts {
    wsh_http_limits_t lim;
    uint64_t request_timeout_ms; /* a request must complete within this (else 408); also the keep-alive idle limit */
    const wsh_router_t *router;
    /* Optional: called once per request whose body is still to come, as
     * soon as its head is complete and before "100 Continue" is sent (only
     * body bytes that arrived with the head have been read). Returning false
     * means it has answered (without keep-alive): the connection closes
     * after that answer and the rest of the body is never read. */
    bool (*head_gate)(wsh_conn_t *c, const wsh_http_req_t *req, const void *ud);
    const void *head_gate_ud;
} wsh_httpconn_opts_t;

/* Starts HTTP on a freshly accepted fd (takes ownership). */
wsh_conn_t *wsh_httpconn_accept(wsh_net_t *net, int fd, const struct sockaddr_storage *peer,
                                const wsh_httpconn_opts_t *opts);

/* Called from a route callback: the answer comes later (a durable publish
 * waits for its commit). Until wsh_httpconn_finish, the connection reads no
 * further request (pipelined bytes wait) and the request timeout is off. */
void wsh_httpconn_wait(wsh_http_x_t *x);

/* Answers the waiting request of c with a JSON body and status, then goes on
 * with the next request. Does nothing if c is not waiting. */
void wsh_httpconn_finish(wsh_conn_t *c, int status, const void *body, size_t len);

/* True if c is an HTTP connection waiting for wsh_httpconn_finish. */
bool wsh_httpconn_is_waiting(const wsh_conn_t *c);

#endif
