/* libwshub's publish queue: publishes wait here (bounded) until the hub
 * answers, are re-sent in order with their idempotency keys after a
 * reconnect, and are answered ECLOSED on close; plus acks and receipts
 * (docs/clients.md "Offline queue"). */
#include "client_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "ws/utf8.h"

static void free_pub(pub_t *p)
{
    free(p->channel);
    free(p);
}

/* Removes and returns the publish with id (NULL if none). */
static pub_t *take_pub(wshub_client_t *c, uint64_t id)
{
    for (pub_t **pp = &c->pubs; *pp; pp = &(*pp)->next) {
        pub_t *p = *pp;
        if (p->id != id)
            continue;
        *pp = p->next;
        if (c->pubs_tail == &p->next)
            c->pubs_tail = pp;
        c->pub_cnt--;
        return p;
    }
    return NULL;
}

int wsh_cl_send_publish(wshub_client_t *c, pub_t *p)
{
    char key[48];
    snprintf(key, sizeof key, "%s-%" PRIu64, c->key_prefix, p->id);
    wsh_buf_t b = {0};
    int rc = wsh_sf_publish(&b, p->id, p->channel, p->data, p->data_len, p->receipts, key);
    if (rc == 0)
        rc = wsh_cl_send_text(c, &b);
    wsh_buf_dispose(&b);
    if (rc == 0)
        p->is_sent = true;
    return rc;
}

int wshub_publish(wshub_client_t *c, const char *channel, const char *data, size_t data_len, bool receipts,
                  uint64_t *publish_id)
{
    if (!c || !channel || !data || !wsh_sf_channel_ok(channel))
        return WSHUB_EINVAL;
    /* Checked here, so a typo fails at the call instead of as a hub error
     * frame later (and the hub never sees a frame that breaks the JSON). */
    wsh_json_tok_t tok;
    if (!wsh_utf8_is_valid((const uint8_t *)data, data_len) ||
        wsh_json_parse(data, data_len, &tok, 1, 0, 64, NULL) < 1)
        return WSHUB_EINVAL;
    if (c->state == WSHUB_STATE_CLOSED || c->close_requested)
        return WSHUB_ECLOSED;
    if (c->pub_cnt >= c->o.max_queue)
        return WSHUB_EQUEUEFULL;
    pub_t *p = malloc(sizeof *p + data_len);
    if (!p)
        return WSHUB_ENOMEM;
    p->channel = strdup(channel);
    if (!p->channel) {
        free(p);
        return WSHUB_ENOMEM;
    }
    p->next = NULL;
    p->id = c->next_pub_id++;
    p->receipts = receipts;
    p->is_sent = false;
    p->data_len = data_len;
    memcpy(p->data, data, data_len);
    *c->pubs_tail = p;
    c->pubs_tail = &p->next;
    c->pub_cnt++;
    if (publish_id)
        *publish_id = p->id;
    /* Sent now only if nothing older is still waiting, so order is kept. */
    if (wsh_cl_is_open(c))
        wsh_cl_send_publish(c, p);
    return 0;
}

int wshub_ack(wshub_client_t *c, const char *channel, uint64_t offset)
{
    if (!c || !channel || !wsh_sf_channel_ok(channel))
        return WSHUB_EINVAL;
    if (!wsh_cl_is_open(c))
        return c->state == WSHUB_STATE_CLOSED ? WSHUB_ECLOSED : WSHUB_ESTATE;
    wsh_buf_t b = {0};
    int rc = wsh_sf_ack(&b, channel, offset);
    if (rc == 0)
        rc = wsh_cl_send_text(c, &b);
    wsh_buf_dispose(&b);
    return rc;
}

void wsh_cl_on_published(wshub_client_t *c, const wsh_sf_t *f)
{
    if (f->id_kind != 'p')
        return;
    pub_t *p = take_pub(c, f->id_num);
    if (!p)
        return;
    if (c->o.on_publish) {
        wshub_publish_result_t r = {.publish_id = p->id, .channel = p->channel, .offset = f->offset,
                                    .is_duplicate = f->duplicate};
        c->o.on_publish(c, &r, c->o.user);
    }
    free_pub(p);
}

void wsh_cl_on_receipt(wshub_client_t *c, const wsh_sf_t *f)
{
    if (f->id_kind != 'p' || !c->o.on_receipt)
        return;
    wshub_receipt_t r = {.publish_id = f->id_num, .channel = f->channel, .offset = f->offset, .client = f->client};
    c->o.on_receipt(c, &r, c->o.user);
}

void wsh_cl_pubs_on_error(wshub_client_t *c, const wsh_sf_t *f)
{
    pub_t *p = take_pub(c, f->id_num);
    if (!p)
        return;
    if (c->o.on_publish) {
        wshub_publish_result_t r = {.publish_id = p->id, .channel = p->channel, .err = WSHUB_EHUB,
                                    .code = f->code, .message = f->message};
        c->o.on_publish(c, &r, c->o.user);
    }
    free_pub(p);
}

void wsh_cl_pubs_reset(wshub_client_t *c)
{
    for (pub_t *p = c->pubs; p; p = p->next)
        p->is_sent = false;
}

void wsh_cl_pubs_fail_all(wshub_client_t *c)
{
    /* Unlink first, so a callback that publishes gets ECLOSED, not a corrupt list. */
    pub_t *p = c->pubs;
    c->pubs = NULL;
    c->pubs_tail = &c->pubs;
    c->pub_cnt = 0;
    while (p) {
        pub_t *next = p->next;
        if (c->o.on_publish) {
            wshub_publish_result_t r = {.publish_id = p->id, .channel = p->channel, .err = WSHUB_ECLOSED};
            c->o.on_publish(c, &r, c->o.user);
        }
        free_pub(p);
        p = next;
    }
}

void wsh_cl_pubs_free(wshub_client_t *c)
{
    while (c->pubs) {
        pub_t *p = c->pubs;
        c->pubs = p->next;
        free_pub(p);
    }
}
