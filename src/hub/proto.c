/* Command parsing and dispatch for /ws frames. */
#include "hub/proto.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "http/json_escape.h"

/* Tokens recorded per command: the root object and its direct members. */
#define CMD_TOKENS 64
/* Nesting allowed inside a command (data included); deeper is refused, so a
 * hostile frame cannot exhaust the stack. */
#define CMD_MAX_DEPTH 64
/* A request id longer than this is not an id but an abuse. */
#define ID_MAX 256

typedef struct cmd {
    wsh_client_t *cl;
    const char *s;
    wsh_json_tok_t *toks;
    const char *id;   /* raw JSON of "id", or NULL */
    size_t id_len;
} cmd_t;

int wsh_proto_send_error(wsh_client_t *cl, const char *code, const char *message, const char *id, size_t id_len)
{
    wsh_buf_t b;
    wsh_buf_init(&b);
    int rc = wsh_buf_appendf(&b, "{\"type\":\"error\",\"code\":\"%s\",\"message\":\"", code);
    rc = rc ? rc : wsh_json_escape_buf(&b, message, strlen(message));
    rc = rc ? rc : wsh_buf_append(&b, "\"", 1);
    if (!rc && id) {
        rc = wsh_buf_append(&b, ",\"id\":", 6);
        rc = rc ? rc : wsh_buf_append(&b, id, id_len);
    }
    rc = rc ? rc : wsh_buf_append(&b, "}", 1);
    if (!rc)
        rc = wsh_client_send_json(cl, (const char *)b.data, b.len);
    wsh_buf_dispose(&b);
    return rc == WSH_ESLOW ? 0 : rc;
}

static int reply_error(const cmd_t *c, const char *code, const char *message)
{
    return wsh_proto_send_error(c->cl, code, message, c->id, c->id_len);
}

static int handle_ping(const cmd_t *c)
{
    char out[ID_MAX + 96];
    int n = snprintf(out, sizeof out, "{\"type\":\"pong\",%s%.*s%s\"ts\":%llu}", c->id ? "\"id\":" : "",
                     (int)c->id_len, c->id ? c->id : "", c->id ? "," : "",
                     (unsigned long long)wsh_clock_wall_ms());
    wsh_client_send_json(c->cl, out, (size_t)n);
    return 0;
}

/* A JSON number without fraction or exponent (the grammar is already checked). */
static bool is_integer(const char *s, const wsh_json_tok_t *t)
{
    if (t->type != WSH_JSON_NUMBER)
        return false;
    for (uint32_t i = t->start; i < t->end; i++)
        if (s[i] == '.' || s[i] == 'e' || s[i] == 'E')
            return false;
    return true;
}

typedef struct command {
    const char *type;
    int (*handle)(const cmd_t *c);
} command_t;

static const command_t commands[] = {
    {"ping", handle_ping},
};

int wsh_proto_handle(wsh_client_t *cl, const char *s, size_t len)
{
    wsh_json_tok_t toks[CMD_TOKENS];
    size_t err_pos = 0;
    int n = wsh_json_parse(s, len, toks, CMD_TOKENS, 1, CMD_MAX_DEPTH, &err_pos);
    cmd_t c = {cl, s, toks, NULL, 0};
    if (n == WSH_ETOOBIG)
        return wsh_proto_send_error(cl, "bad_request", "frame nests too deep or has too many fields", NULL, 0);
    if (n < 0) {
        char msg[64];
        snprintf(msg, sizeof msg, "invalid JSON at byte %zu", err_pos);
        return wsh_proto_send_error(cl, "bad_request", msg, NULL, 0);
    }
    if (toks[0].type != WSH_JSON_OBJECT)
        return wsh_proto_send_error(cl, "bad_request", "a frame must be a JSON object", NULL, 0);
    int id = wsh_json_obj_get(s, toks, 0, "id");
    if (id >= 0) {
        const wsh_json_tok_t *t = &toks[id];
        bool ok = (t->type == WSH_JSON_STRING || is_integer(s, t)) && t->end - t->start <= ID_MAX;
        if (!ok)
            return wsh_proto_send_error(cl, "bad_request", "id must be a string or an integer", NULL, 0);
        c.id = s + t->start;
        c.id_len = t->end - t->start;
    }
    int type = wsh_json_obj_get(s, toks, 0, "type");
    if (type < 0 || toks[type].type != WSH_JSON_STRING)
        return reply_error(&c, "bad_request", "missing \"type\"");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (wsh_json_str_eq(s, &toks[type], commands[i].type))
            return commands[i].handle(&c);
    return reply_error(&c, "unknown_type", "unknown frame type");
}
