/* Request routing: a small table of exact and prefix paths with allowed
 * methods, answering which handler runs or why none does (404/405 + Allow). */
#ifndef WSH_HTTP_ROUTER_H
#define WSH_HTTP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"
#include "net/conn.h"

#define WSH_M_GET 0x01u
#define WSH_M_HEAD 0x02u
#define WSH_M_POST 0x04u
#define WSH_M_PUT 0x08u
#define WSH_M_DELETE 0x10u
#define WSH_M_OPTIONS 0x20u

/* One request being answered; lives on the stack of the HTTP handler for the
 * duration of the route callback. */
typedef struct wsh_http_x {
    wsh_conn_t *conn;
    wsh_http_req_t *req;
    void *data;        /* the route's data */
    bool keep_alive;   /* the response may keep the connection open */
    bool is_head;
} wsh_http_x_t;

/* A route callback answers x (wsh_http_respond*), or takes the connection
 * over (WebSocket upgrade: wsh_conn_set_handler). */
typedef void (*wsh_route_cb)(wsh_http_x_t *x);

typedef struct wsh_route {
    const char *path;
    bool is_prefix;
    unsigned methods;  /* WSH_M_*; GET implies HEAD */
    wsh_route_cb cb;
    void *data;
} wsh_route_t;

#define WSH_ROUTER_MAX 32
/* Caller-owned, filled at start-up, read-only afterwards (shared by loops). */
typedef struct wsh_router {
    wsh_route_t routes[WSH_ROUTER_MAX];
    size_t cnt;
} wsh_router_t;

/* Adds a route; exact paths win over prefixes, earlier prefixes over later.
 * 0 or -ENOSPC. */
int wsh_router_add(wsh_router_t *r, const char *path, bool is_prefix, unsigned methods, wsh_route_cb cb,
                   void *data);

/* Finds the route for req. On no match returns NULL with *status 404, or 405
 * with allow set to the "Allow: ...\r\n" header line for the path. */
const wsh_route_t *wsh_router_match(const wsh_router_t *r, const wsh_http_req_t *req, int *status, char *allow,
                                    size_t allow_len);

#endif
