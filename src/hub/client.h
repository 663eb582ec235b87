/* A hub client: one WebSocket connection speaking the JSON protocol on /ws,
 * with its id. It is the wsh_ws_app_t for /ws; proto.c interprets its frames. */
#ifndef WSH_HUB_CLIENT_H
#define WSH_HUB_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/bucket.h"
#include "core/list.h"
#include "hub/hub.h"
#include "ws/wsconn.h"

#define WSH_CLIENT_ID_MAX 64
/* Length of a generated id (96 random bits in base64url). */
#define WSH_CLIENT_GEN_ID_LEN 16
/* Bytes of the block holding a connection's WebSocket and client with an
 * id of id_len characters. */
#define WSH_CLIENT_BLOCK(id_len) (sizeof(wsh_ws_t) + offsetof(wsh_client_t, id) + (id_len) + 1)

/* Created by wsh_client_attach when a /ws upgrade succeeds; freed when its
 * connection ends (wsh_ws_app_t.on_close). */
typedef struct wsh_client {
    wsh_hub_t *hub;
    wsh_ws_t *ws;
    struct wsh_sub *subs;     /* first subscription; linked by wsh_sub_t.client_next */
    struct wsh_authz *authz;   /* token identity and deadlines (hub/authz.h); NULL when unused */
    uint32_t sub_cnt;
    /* Message rate (opts->msg_rate): 8 bytes inline, no allocation. A
     * strike is a second in which messages were refused; strikes reset
     * after 10 quiet seconds (strike_s is the monotonic second, mod 256). */
    wsh_bucket_t msg_bucket;
    uint8_t rate_strikes;
    uint8_t rate_strike_s;
    bool is_pooled;           /* its block came from hub->client_pool */
    /* Exactly as long as the id (a generated one is 16 characters), not
     * WSH_CLIENT_ID_MAX: this struct is part of every idle connection's cost. */
    char id[];
} wsh_client_t;

/* True if s (len bytes) is an acceptable client id: 1-64 of [A-Za-z0-9_.:-]. */
bool wsh_client_id_is_valid(const char *s, size_t len);

/* Makes a client on an upgraded connection: takes id when valid (an
 * X-Client-Id header), else generates a random one; starts the WebSocket
 * with ws_opts and sends `welcome`. */
wsh_client_t *wsh_client_attach(wsh_hub_t *hub, wsh_conn_t *c, const wsh_ws_opts_t *ws_opts, const char *id,
                                size_t id_len);

/* Subscribes cl to each name of a comma-separated list (the `channels=`
 * query of the upgrade request), answering `subscribed` or `error` for each. */
void wsh_client_subscribe_list(wsh_client_t *cl, const char *list, size_t len);

/* Queues a text frame with the given JSON; 0 or WSH_ESLOW (then closed 4008). */
int wsh_client_send_json(wsh_client_t *cl, const char *json, size_t len);

#endif
