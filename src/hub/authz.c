/* Connection authentication state and permission decisions. */
#include "hub/authz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/grants.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "hub/channel.h"
#include "hub/proto.h"

static const wsh_auth_config_t *auth_of(const wsh_client_t *cl)
{
    return cl->hub->opts->auth;
}

int wsh_authz_verify(const wsh_auth_config_t *ac, const char *token, size_t len, wsh_identity_t **out,
                      const char **why)
{
    wsh_jwt_policy_t p = {&ac->keys, ac->audience, ac->issuer, ac->leeway_ms / 1000};
    return wsh_jwt_verify(&p, token, len, wsh_clock_wall_ms() / 1000, out, why);
}

static wsh_loop_t *loop_of(const wsh_client_t *cl)
{
    return cl->hub->loop;
}

static void on_deadline(wsh_timer_t *t)
{
    wsh_authz_t *a = WSH_CONTAINER_OF(t, wsh_authz_t, timer);
    const char *why = a->id ? "token expired" : "authentication timeout";
    wsh_log_info(wsh_ws_id(a->cl->ws), "closing 4001: %s", why);
    wsh_ws_close(a->cl->ws, 4001, why);
}

static wsh_authz_t *state_of(wsh_client_t *cl)
{
    if (!cl->authz) {
        wsh_authz_t *a = wsh_xcalloc(1, sizeof *a);
        a->cl = cl;
        wsh_timer_init(&a->timer, on_deadline);
        cl->authz = a;
    }
    return cl->authz;
}

/* Arms the close at exp + grace (wall clock to loop time), or disarms. */
static void arm_expiry(wsh_authz_t *a)
{
    const wsh_auth_config_t *ac = auth_of(a->cl);
    if (!a->id->exp) {
        wsh_loop_timer_stop(loop_of(a->cl), &a->timer);
        return;
    }
    uint64_t close_at = a->id->exp * 1000 + ac->grace_ms;
    uint64_t now = wsh_clock_wall_ms();
    wsh_loop_timer_start(loop_of(a->cl), &a->timer, close_at > now ? close_at - now : 0);
}

void wsh_authz_start(wsh_client_t *cl, wsh_identity_t *id)
{
    const wsh_auth_config_t *ac = auth_of(cl);
    if (!ac || !wsh_authcfg_is_enabled(ac)) {
        free(id);
        return;
    }
    if (id) {
        wsh_authz_t *a = state_of(cl);
        a->id = id;
        arm_expiry(a);
        wsh_log_info(wsh_ws_id(cl->ws), "authenticated user=%s", id->user);
        return;
    }
    if (wsh_authcfg_has_anonymous(ac))
        return;
    /* Nothing here works without a token: the connection gets auth-timeout
     * to send one, and meanwhile only messages big enough for `auth`. */
    wsh_authz_t *a = state_of(cl);
    wsh_loop_timer_start(loop_of(cl), &a->timer, ac->auth_timeout_ms);
    if (wsh_session_max_message(&cl->ws->session) > WSH_AUTHZ_PREAUTH_MAX)
        wsh_session_set_max_message(&cl->ws->session, WSH_AUTHZ_PREAUTH_MAX);
}

/* Drops the subscriptions the new identity no longer allows. */
static void recheck_subscriptions(wsh_client_t *cl)
{
    wsh_sub_t *next;
    for (wsh_sub_t *s = cl->subs; s; s = next) {
        next = s->client_next; /* s may be dropped below */
        const wsh_channel_t *ch = s->ch;
        if (wsh_authz_may_subscribe(cl, ch->name, ch->name_len))
            continue;
        char out[WSH_CHANNEL_NAME_MAX + 80];
        int n = snprintf(out, sizeof out, "{\"type\":\"unsubscribed\",\"channel\":\"%s\",\"reason\":\"forbidden\"}",
                         ch->name);
        wsh_log_info(wsh_ws_id(cl->ws), "refresh dropped channel=%s", ch->name);
        /* Copy the name: unsubscribing may free the channel. */
        char name[WSH_CHANNEL_NAME_MAX + 1];
        size_t len = ch->name_len;
        memcpy(name, ch->name, len);
        wsh_channel_unsubscribe(cl->hub, cl, name, len);
        wsh_client_send_json(cl, out, (size_t)n);
    }
}

static void refuse(wsh_client_t *cl, const char *why, const char *req_id, size_t id_len)
{
    wsh_log_info(wsh_ws_id(cl->ws), "auth refused: %s, closing 4001", why);
    wsh_proto_send_error(cl, "unauthorized", why, req_id, id_len);
    wsh_ws_close(cl->ws, 4001, why);
}

int wsh_authz_handle_auth(wsh_client_t *cl, const char *token, size_t len, const char *req_id, size_t id_len)
{
    const wsh_auth_config_t *ac = auth_of(cl);
    if (!ac || !wsh_authcfg_is_enabled(ac)) {
        refuse(cl, "no token keys are configured", req_id, id_len);
        return 0;
    }
    /* The token is a JSON string; base64url and dots need no escapes, so
     * the raw bytes between the quotes are the token, and an escape means
     * it is not one. */
    if (!token || len < 2 || token[0] != '"' || memchr(token + 1, '\\', len - 2)) {
        refuse(cl, "missing or malformed \"token\"", req_id, id_len);
        return 0;
    }
    wsh_identity_t *id;
    const char *why;
    if (wsh_authz_verify(ac, token + 1, len - 2, &id, &why) < 0) {
        refuse(cl, why, req_id, id_len);
        return 0;
    }
    wsh_authz_t *a = state_of(cl);
    if (a->id && strcmp(a->id->user, id->user) != 0) {
        free(id);
        refuse(cl, "a refresh must keep the same sub", req_id, id_len);
        return 0;
    }
    bool is_refresh = a->id != NULL;
    free(a->id);
    a->id = id;
    wsh_session_set_max_message(&cl->ws->session, cl->ws->opts->lim.max_message);
    arm_expiry(a);
    wsh_log_info(wsh_ws_id(cl->ws), "%s user=%s", is_refresh ? "token refreshed" : "authenticated", id->user);
    wsh_buf_t b;
    wsh_buf_init(&b);
    int rc = wsh_buf_appendf(&b, "{\"type\":\"authed\"");
    if (!rc && req_id) {
        rc = wsh_buf_append(&b, ",\"id\":", 6);
        rc = rc ? rc : wsh_buf_append(&b, req_id, id_len);
    }
    /* The user is a checked, NUL-free string, but may need JSON escapes. */
    rc = rc ? rc : wsh_buf_append(&b, ",\"user\":\"", 9);
    for (const char *p = id->user; !rc && *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\')
            rc = wsh_buf_appendf(&b, "\\%c", c);
        else if (c < 0x20)
            rc = wsh_buf_appendf(&b, "\\u%04x", c);
        else
            rc = wsh_buf_append(&b, p, 1);
    }
    if (!rc && id->exp)
        rc = wsh_buf_appendf(&b, "\",\"exp\":%llu}", (unsigned long long)id->exp);
    else if (!rc)
        rc = wsh_buf_append(&b, "\",\"exp\":null}", 13);
    if (!rc)
        wsh_client_send_json(cl, (const char *)b.data, b.len);
    wsh_buf_dispose(&b);
    if (is_refresh)
        recheck_subscriptions(cl);
    return 0;
}

static const wsh_identity_t *identity_of(const wsh_client_t *cl)
{
    return cl->authz ? cl->authz->id : NULL;
}

bool wsh_authz_may_subscribe(const wsh_client_t *cl, const char *name, size_t len)
{
    const wsh_auth_config_t *ac = auth_of(cl);
    if (!ac)
        return true;
    if (wsh_authcfg_ns_for(ac, name, len)->flags & WSH_NS_ANON_SUB)
        return true;
    const wsh_identity_t *id = identity_of(cl);
    return id && wsh_grant_match_any(id->subs, id->sub_cnt, name, len);
}

bool wsh_authz_may_publish(const wsh_client_t *cl, const char *name, size_t len)
{
    const wsh_auth_config_t *ac = auth_of(cl);
    if (!ac)
        return true;
    uint8_t flags = wsh_authcfg_ns_for(ac, name, len)->flags;
    if (flags & WSH_NS_ANON_PUB)
        return true;
    if (!(flags & WSH_NS_PUBLISH))
        return false;
    const wsh_identity_t *id = identity_of(cl);
    return id && wsh_grant_match_any(id->pubs, id->pub_cnt, name, len);
}

const char *wsh_authz_denied_why(const wsh_client_t *cl, const char *name, size_t len, bool is_publish)
{
    const wsh_auth_config_t *ac = auth_of(cl);
    if (is_publish && ac && !(wsh_authcfg_ns_for(ac, name, len)->flags & WSH_NS_PUBLISH))
        return "clients may not publish in this namespace";
    if (!identity_of(cl))
        return is_publish ? "publishing here needs a token" : "subscribing here needs a token";
    return is_publish ? "the token does not grant publishing to this channel"
                      : "the token does not grant subscribing to this channel";
}

void wsh_authz_release(wsh_client_t *cl)
{
    wsh_authz_t *a = cl->authz;
    if (!a)
        return;
    wsh_loop_timer_stop(loop_of(cl), &a->timer);
    free(a->id);
    free(a);
    cl->authz = NULL;
}
