/* Deferred publish answers. */
#include "hub/pending.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "http/httpconn.h"
#include "hub/client.h"
#include "hub/proto.h"
#include "net/conn.h"

wsh_pending_t *wsh_pending_new(wsh_hub_t *hub, uint64_t conn_id, bool is_http, const char *id, size_t id_len)
{
    wsh_pending_t *p = wsh_xcalloc(1, sizeof *p + id_len + 1);
    p->refs = 1;
    p->worker = hub->bus_idx;
    p->conn_id = conn_id;
    p->is_http = is_http;
    p->status = 200;
    if (id) {
        memcpy(p->id, id, id_len);
        p->id_len = id_len;
    }
    return p;
}

static void answer(wsh_hub_t *hub, wsh_pending_t *p)
{
    wsh_conn_t *c = wsh_net_find(hub->net, p->conn_id);
    if (!c || !wsh_conn_is_open(c))
        return; /* the publisher left; the messages are stored all the same */
    if (p->is_http) {
        if (p->err == WSH_ETOOBIG) {
            static const char e[] = "{\"error\":{\"code\":\"too_large\",\"message\":\"message too large to deliver\"}}";
            wsh_httpconn_finish(c, 413, e, sizeof e - 1);
        } else if (p->err) {
            static const char e[] = "{\"error\":{\"code\":\"unavailable\",\"message\":\"the message could not be stored\"}}";
            wsh_httpconn_finish(c, 503, e, sizeof e - 1);
        } else {
            wsh_httpconn_finish(c, p->status, p->body.data, p->body.len);
        }
        return;
    }
    wsh_ws_t *ws = c->proto;
    wsh_client_t *cl = ws->app_data;
    if (p->err == WSH_ETOOBIG)
        wsh_proto_send_error(cl, "too_large", "message too large to deliver", p->id_len ? p->id : NULL, p->id_len);
    else if (p->err)
        wsh_proto_send_error(cl, "unavailable", "the message could not be stored", p->id_len ? p->id : NULL,
                             p->id_len);
    else
        wsh_client_send_json(cl, (const char *)p->body.data, p->body.len);
}

void wsh_pending_release(wsh_hub_t *hub, wsh_pending_t *p)
{
    if (--p->refs)
        return;
    answer(hub, p);
    wsh_buf_dispose(&p->body);
    free(p);
}
