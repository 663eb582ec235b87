/* Option table, parsing and layering of the server configuration. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "http/access.h"

typedef enum { OPT_STRING, OPT_SIZE, OPT_DURATION, OPT_BOOL, OPT_LEVEL, OPT_LISTEN, OPT_COUNT, OPT_HISTORY_RULE, OPT_STRLIST,
               OPT_AUTH /* repeatable auth values, parsed by auth/authcfg.c */ } opt_type_t;

typedef struct option {
    const char *name;   /* flag without "--", config key, and WSHUB_<NAME> env var */
    opt_type_t type;
    size_t offset;
    const char *arg;
    const char *help;
    uint64_t min, max;  /* inclusive range for sizes, counts and durations; max 0 = unbounded */
} option_t;

#define OFF(f) offsetof(wsh_config_t, f)

static const option_t options[] = {
    {"listen", OPT_LISTEN, OFF(listen), "HOST:PORT", "address to listen on, repeatable (default 127.0.0.1:8080)", 0, 0},
    {"tls-listen", OPT_LISTEN, OFF(tls_listen), "HOST:PORT", "address served with TLS (https://, wss://), repeatable; needs --tls-cert and --tls-key", 0, 0},
    {"tls-cert", OPT_STRING, OFF(tls_cert), "FILE", "PEM certificate chain for tls-listen (reloaded on SIGHUP)", 0, 0},
    {"tls-key", OPT_STRING, OFF(tls_key), "FILE", "PEM private key for tls-cert, unencrypted (reloaded on SIGHUP)", 0, 0},
    {"data-dir", OPT_STRING, OFF(data_dir), "DIR", "directory for durable history (default: memory only)", 0, 0},
    {"config", OPT_STRING, OFF(config_file), "FILE", "configuration file (docs/configuration.md)", 0, 0},
    {"log-level", OPT_LEVEL, OFF(log_level), "LEVEL", "debug, info, warn, error or off (default info)", 0, 0},
    {"echo", OPT_BOOL, OFF(echo), NULL, "also serve GET /echo, an echo endpoint for conformance suites", 0, 0},
    {"max-message", OPT_SIZE, OFF(max_message), "BYTES", "largest WebSocket message, then close 1009 (default 1MiB)", 1, 1ull << 31},
    {"max-queue", OPT_SIZE, OFF(max_queue), "BYTES", "unsent bytes per connection, then close 4008 (default 4MiB)", 1024, 0},
    {"max-body", OPT_SIZE, OFF(max_body), "BYTES", "largest HTTP request body, then 413 (default 1MiB)", 0, 0},
    {"max-head", OPT_SIZE, OFF(max_head), "BYTES", "largest HTTP request head, then 431 (default 16KiB)", 256, 1u << 20},
    {"max-headers", OPT_COUNT, OFF(max_headers), "N", "most HTTP request headers, then 431 (default 64)", 1, 128},
    {"max-fragments", OPT_COUNT, OFF(max_fragments), "N", "most frames per message, then close 1008; 0 = no cap (default 65536)", 0, UINT32_MAX},
    {"max-subscriptions", OPT_COUNT, OFF(max_subscriptions), "N", "channels one connection may subscribe to (default 1024)", 1, 1000000},
    {"heartbeat", OPT_DURATION, OFF(heartbeat_ms), "DURATION", "ping interval; silent for two closes (default 25s; 0 = off)", 0, 0},
    {"request-timeout", OPT_DURATION, OFF(request_timeout_ms), "DURATION", "time to send an HTTP request, then 408 (default 10s)", 1, 0},
    {"history-size", OPT_COUNT, OFF(history_size), "N", "messages kept per channel for recovery and history (default 1000)", 0, 1000000},
    {"history-ttl", OPT_DURATION, OFF(history_ttl_ms), "DURATION", "drop kept messages older than this; 0 = never (default 24h)", 0, 0},
    {"history-prefix", OPT_HISTORY_RULE, OFF(history_rules), "PREFIX=N[,TTL]", "retention for channels starting with PREFIX, repeatable (e.g. events.=100,1h)", 0, 0},
    {"idempotency-window", OPT_DURATION, OFF(idem_window_ms), "DURATION", "how long a publish's idempotency key is remembered (default 5m)", 1, 0},
    {"workers", OPT_COUNT, OFF(workers), "N", "event-loop threads; 0 = one per CPU this process may use (default 0)", 0, 64},
    {"drain-timeout", OPT_DURATION, OFF(drain_timeout_ms), "DURATION", "shutdown wait for clients' close frames (default 5s)", 0, 0},
    {"close-timeout", OPT_DURATION, OFF(close_timeout_ms), "DURATION", "wait for a peer's close frame after ours (default 5s)", 0, 0},
    {"api-key", OPT_STRLIST, OFF(api_keys), "KEY", "HTTP API key (Authorization: Bearer KEY), repeatable; none = API open", 0, 0},
    {"protect-metrics", OPT_BOOL, OFF(protect_metrics), NULL, "/metrics and /health also need an API key", 0, 0},
    {"allowed-origin", OPT_STRLIST, OFF(allowed_origins), "ORIGIN", "browser origin allowed to open /ws (scheme://host[:port] or scheme://*.domain), repeatable; none = any", 0, 0},
    {"max-conns", OPT_COUNT, OFF(max_conns), "N", "TCP connections, then 503; at most RLIMIT_NOFILE-128 (default 100000)", 1, 10000000},
    {"max-conns-per-ip", OPT_COUNT, OFF(max_conns_per_ip), "N", "TCP connections per client address, then 429; 0 = off (default 0)", 0, 1000000},
    {"handshake-rate", OPT_COUNT, OFF(handshake_rate), "N", "WebSocket handshakes per second per address, then 429; 0 = off (default 0)", 0, 1000000},
    {"handshake-burst", OPT_COUNT, OFF(handshake_burst), "N", "handshakes an address may make at once (default 2 x rate)", 0, 1000000},
    {"max-channels", OPT_COUNT, OFF(max_channels), "N", "channels in the process, then limit_exceeded / 503 (default 1000000)", 1, 100000000},
    {"max-presence", OPT_COUNT, OFF(max_presence), "N", "connections listed in one channel's presence; later subscribers are not listed (default 10000)", 1, 1000000},
    {"max-presence-total", OPT_COUNT, OFF(max_presence_total), "N", "presence entries in the process, over every channel (default 1000000)", 1, 100000000},
    {"msg-rate", OPT_COUNT, OFF(msg_rate), "N", "messages per second per connection, then rate_limited and close 4029; 0 = off (default 0)", 0, 1000000},
    {"msg-burst", OPT_COUNT, OFF(msg_burst), "N", "messages a connection may send at once (default 2 x rate)", 0, 1000000},
    {"control-rate", OPT_COUNT, OFF(control_rate), "N", "pings per second per connection, then close 1008; 0 = off (default 10)", 0, 1000000},
    {"control-burst", OPT_COUNT, OFF(control_burst), "N", "pings a connection may send at once (default 20)", 0, 1000000},
    {"permessage-deflate", OPT_BOOL, OFF(permessage_deflate), NULL, "accept permessage-deflate offers (RFC 7692, docs/compression.md; default off)", 0, 0},
    {"deflate-threshold", OPT_SIZE, OFF(deflate_threshold), "BYTES", "with permessage-deflate: send messages under this size uncompressed (default 128)", 0, 1ull << 31},
    {"token-secret", OPT_AUTH, OFF(auth.keys), "[kid=KID:]SECRET", "HS256 token secret, 32+ bytes, repeatable for rotation", 0, 0},
    {"token-key", OPT_AUTH, OFF(auth.keys), "FILE", "PEM public key for RS256/ES256 tokens, repeatable for rotation", 0, 0},
    {"token-audience", OPT_STRING, OFF(auth.audience), "AUD", "tokens must carry this aud (default: not checked)", 0, 0},
    {"token-issuer", OPT_STRING, OFF(auth.issuer), "ISS", "tokens must carry this iss (default: not checked)", 0, 0},
    {"token-leeway", OPT_DURATION, OFF(auth.leeway_ms), "DURATION", "clock skew allowed on exp and nbf (default 60s)", 0, 3600000},
    {"auth-timeout", OPT_DURATION, OFF(auth.auth_timeout_ms), "DURATION", "time to send auth when a token is needed, then close 4001 (default 10s)", 1, 0},
    {"token-grace", OPT_DURATION, OFF(auth.grace_ms), "DURATION", "time after exp before close 4001 (default 30s)", 0, 0},
    {"namespace", OPT_AUTH, OFF(auth.ns), "PREFIX:FLAGS", "channel namespace rule, repeatable (docs/security.md)", 0, 0},
};
#define OPTION_CNT (sizeof options / sizeof options[0])

/* Error line context: "--max-message", "WSHUB_MAX_MESSAGE" or "file:3: max-message". */
static void bad_value(const char *where, const char *what, const char *value)
{
    fprintf(stderr, "wshub: %s: %s \"%s\"\n", where, what, value);
}

static void set_defaults(wsh_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    wsh_sock_parse_hostport("127.0.0.1:8080", &cfg->listen[0]);
    cfg->listen_cnt = 1;
    cfg->log_level = WSH_LOG_INFO;
    cfg->max_message = 1u << 20;
    cfg->max_queue = 4u << 20;
    cfg->max_body = 1u << 20;
    cfg->max_head = 16u << 10;
    cfg->max_headers = 64;
    cfg->max_fragments = 65536;
    cfg->max_subscriptions = 1024;
    cfg->history_size = 1000;
    cfg->history_ttl_ms = 24ull * 3600 * 1000;
    cfg->idem_window_ms = 5 * 60 * 1000;
    cfg->heartbeat_ms = 25000;
    cfg->request_timeout_ms = 10000;
    cfg->drain_timeout_ms = 5000;
    cfg->close_timeout_ms = 5000;
    cfg->max_conns = 100000;
    cfg->max_channels = 1000000;
    cfg->max_presence = 10000;
    cfg->max_presence_total = 1000000;
    cfg->control_rate = 10;
    cfg->control_burst = 20;
    cfg->deflate_threshold = 128;
    wsh_authcfg_init(&cfg->auth);
}

int wsh_config_parse_size(const char *s, uint64_t *out)
{
    char *end;
    if (!isdigit((unsigned char)*s) || (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    static const struct { const char *suffix; unsigned shift; } units[] = {
        {"", 0}, {"B", 0}, {"K", 10}, {"KB", 10}, {"KiB", 10}, {"M", 20}, {"MB", 20}, {"MiB", 20},
        {"G", 30}, {"GB", 30}, {"GiB", 30},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            if (v > (UINT64_MAX >> units[i].shift))
                return -1;
            *out = (uint64_t)v << units[i].shift;
            return 0;
        }
    }
    return -1;
}

int wsh_config_parse_duration_ms(const char *s, uint64_t *out)
{
    char *end;
    /* Plain decimal only: strtod would also take hex, exponents and "inf". */
    size_t digits = strspn(s, "0123456789.");
    if (!isdigit((unsigned char)*s) || memchr(s, '.', digits) != memrchr(s, '.', digits))
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || !isfinite(v) || v < 0 || end != s + digits)
        return -1;
    double mult;
    if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (*end == '\0' || strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "m") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else
        return -1;
    double ms = v * mult;
    if (ms > 1e15)
        return -1;
    *out = (uint64_t)(ms + 0.5);
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* Checks o's range; prints "where: must be MIN..MAX, got "value"" and
 * returns true when v is outside it. */
static bool out_of_range(const option_t *o, uint64_t v, const char *where, const char *value)
{
    if (v >= o->min && (o->max == 0 || v <= o->max))
        return false;
    char what[96];
    if (o->max)
        snprintf(what, sizeof what, "must be between %llu and %llu%s, got", (unsigned long long)o->min,
                 (unsigned long long)o->max, o->type == OPT_SIZE ? " bytes" : o->type == OPT_DURATION ? " ms" : "");
    else
        snprintf(what, sizeof what, "must be at least %llu%s, got", (unsigned long long)o->min,
                 o->type == OPT_SIZE ? " bytes" : o->type == OPT_DURATION ? " ms" : "");
    bad_value(where, what, value);
    return true;
}

/* Which layer last reset the listen list, so a later layer replaces the list
 * of an earlier one instead of appending to it. */
typedef enum { LAYER_DEFAULT, LAYER_FILE, LAYER_ENV, LAYER_FLAGS } layer_t;

typedef struct loader {
    wsh_config_t *cfg;
    layer_t listen_layer;
    layer_t tls_listen_layer;
} loader_t;

static int apply(loader_t *ld, layer_t layer, const option_t *o, const char *value, const char *where)
{
    wsh_config_t *cfg = ld->cfg;
    void *field = (char *)cfg + o->offset;
    switch (o->type) {
    case OPT_STRING: {
        char **p = field;
        if (*value == '\0') {
            bad_value(where, "empty value", value);
            return -1;
        }
        free(*p);
        *p = wsh_xstrdup(value);
        return 0;
    }
    case OPT_SIZE:
    case OPT_COUNT: {
        uint64_t v;
        int rc;
        if (o->type == OPT_SIZE) {
            rc = wsh_config_parse_size(value, &v);
        } else {
            char *end;
            errno = 0;
            v = strtoull(value, &end, 10);
            rc = (!isdigit((unsigned char)*value) || *end || errno) ? -1 : 0;
        }
        if (rc < 0) {
            bad_value(where, o->type == OPT_SIZE ? "invalid size" : "invalid count", value);
            return -1;
        }
        if (out_of_range(o, v, where, value))
            return -1;
        *(uint64_t *)field = v;
        return 0;
    }
    case OPT_DURATION: {
        uint64_t v;
        if (wsh_config_parse_duration_ms(value, &v) < 0) {
            bad_value(where, "invalid duration", value);
            return -1;
        }
        if (out_of_range(o, v, where, value))
            return -1;
        *(uint64_t *)field = v;
        return 0;
    }
    case OPT_BOOL:
        if (parse_bool(value, field) < 0) {
            bad_value(where, "invalid boolean", value);
            return -1;
        }
        return 0;
    case OPT_LEVEL:
        if (wsh_log_parse_level(value, field) < 0) {
            bad_value(where, "invalid log level", value);
            return -1;
        }
        return 0;
    case OPT_HISTORY_RULE: {
        /* PREFIX=N[,TTL]: the last '=' separates, so a prefix may not hold one. */
        const char *eq = strrchr(value, '=');
        char num[64];
        wsh_config_history_rule_t r = {0};
        const char *comma = eq ? strchr(eq, ',') : NULL;
        size_t plen = eq ? (size_t)(eq - value) : 0;
        size_t nlen = eq ? (comma ? (size_t)(comma - eq - 1) : strlen(eq + 1)) : 0;
        char *end = NULL;
        if (!eq || plen == 0 || plen >= sizeof r.prefix || nlen == 0 || nlen >= sizeof num) {
            bad_value(where, "invalid rule (want PREFIX=N[,TTL])", value);
            return -1;
        }
        memcpy(r.prefix, value, plen);
        memcpy(num, eq + 1, nlen);
        num[nlen] = '\0';
        errno = 0;
        r.size = strtoull(num, &end, 10);
        if (!isdigit((unsigned char)num[0]) || *end || errno || r.size > 1000000) {
            bad_value(where, "invalid rule size (want 0..1000000)", value);
            return -1;
        }
        if (comma) {
            if (wsh_config_parse_duration_ms(comma + 1, &r.ttl_ms) < 0) {
                bad_value(where, "invalid rule duration", value);
                return -1;
            }
            r.has_ttl = true;
        }
        if (cfg->history_rule_cnt == WSH_CONFIG_MAX_HISTORY_RULES) {
            bad_value(where, "too many history rules, at most 32", value);
            return -1;
        }
        cfg->history_rules[cfg->history_rule_cnt++] = r;
        return 0;
    }
    case OPT_AUTH:
        return wsh_authcfg_apply(&cfg->auth, o->name, value, where, wsh_config_parse_duration_ms);
    case OPT_STRLIST: {
        wsh_config_strlist_t *l = field;
        if (*value == '\0') {
            bad_value(where, "empty value", value);
            return -1;
        }
        if (l->cnt == 64) {
            bad_value(where, "too many values, at most 64", "...");
            return -1;
        }
        wsh_origin_t origin;
        if (o->offset == OFF(allowed_origins) && wsh_access_parse_origin(value, strlen(value), true, &origin) < 0) {
            bad_value(where, "invalid origin (want scheme://host[:port] or scheme://*.domain)", value);
            return -1;
        }
        l->items = wsh_xrealloc(l->items, (l->cnt + 1) * sizeof *l->items);
        l->items[l->cnt++] = wsh_xstrdup(value);
        return 0;
    }
    case OPT_LISTEN: {
        wsh_hostport_t hp;
        if (wsh_sock_parse_hostport(value, &hp) < 0) {
            bad_value(where, "invalid address (want HOST:PORT)", value);
            return -1;
        }
        /* listen and tls-listen are two lists with the same layering. */
        bool is_tls = o->offset == OFF(tls_listen);
        wsh_hostport_t *list = is_tls ? cfg->tls_listen : cfg->listen;
        size_t *cnt = is_tls ? &cfg->tls_listen_cnt : &cfg->listen_cnt;
        layer_t *list_layer = is_tls ? &ld->tls_listen_layer : &ld->listen_layer;
        if (*list_layer != layer) {
            *cnt = 0;
            *list_layer = layer;
        }
        if (*cnt == WSH_CONFIG_MAX_LISTEN) {
            bad_value(where, "too many listen addresses, at most 16", value);
            return -1;
        }
        list[(*cnt)++] = hp;
        return 0;
    }
    }
    return -1;
}

static const option_t *find_option(const char *name, size_t len)
{
    for (size_t i = 0; i < OPTION_CNT; i++)
        if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* The file format (docs/configuration.md): one `key = value` per line, keys
 * being the flag names; `#` starts a comment; values may be "double quoted";
 * `listen` may repeat. */
static int load_file(loader_t *ld, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        bad_value("--config", strerror(errno), path);
        return -1;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char where[300];
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        if (!strchr(line, '\n') && !feof(f)) {
            bad_value(where, "line too long", "...");
            rc = -1;
            break;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            bad_value(where, "expected key = value, got", s);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(s);
        char *value = trim(eq + 1);
        if (value[0] == '"') {
            /* A quoted value ends at the next quote; only a comment may follow. */
            char *close = strchr(value + 1, '"');
            char *rest = close ? trim(close + 1) : NULL;
            if (!close || (*rest != '\0' && *rest != '#')) {
                bad_value(where, "unterminated or trailing text after quoted value", value);
                rc = -1;
                break;
            }
            *close = '\0';
            value++;
        } else {
            char *hash = strchr(value, '#');
            if (hash) {
                *hash = '\0';
                value = trim(value);
            }
        }
        const option_t *o = find_option(key, strlen(key));
        if (!o || o->offset == OFF(config_file)) {
            bad_value(where, "unknown key", key);
            rc = -1;
            break;
        }
        snprintf(where, sizeof where, "%s:%d: %s", path, lineno, key);
        rc = apply(ld, LAYER_FILE, o, value, where);
    }
    fclose(f);
    return rc;
}

static void env_name(const option_t *o, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "WSHUB_");
    for (const char *p = o->name; *p && n + 1 < cap; p++)
        out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

static const char *env_get(char **envp, const char *name)
{
    size_t n = strlen(name);
    for (char **e = envp; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

void wsh_config_print_usage(void)
{
    printf("usage: wshub serve [options]\n\n"
           "Runs the hub. Every option can also be set as an environment variable\n"
           "WSHUB_<NAME> (e.g. WSHUB_MAX_MESSAGE=2MiB; WSHUB_LISTEN takes a\n"
           "comma-separated list) or in the --config file as `name = value`.\n"
           "Precedence: defaults < file < environment < flags.\n\noptions:\n");
    for (size_t i = 0; i < OPTION_CNT; i++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s%s%s", options[i].name, options[i].arg ? " " : "",
                 options[i].arg ? options[i].arg : "");
        printf("  %-28s %s\n", flag, options[i].help);
    }
    printf("  %-28s %s\n  %-28s %s\n", "--help", "show this help", "--version", "show the version");
}

/* TLS settings only make sense together: a certificate with nowhere to
 * serve it (or an address with no certificate) is a mistake to report, never
 * a reason to serve plaintext quietly. The default plain listener stands
 * only while nobody configured any address. */
static int check_tls(loader_t *ld)
{
    wsh_config_t *cfg = ld->cfg;
    if (cfg->tls_listen_cnt && ld->listen_layer == LAYER_DEFAULT)
        cfg->listen_cnt = 0;
    if (cfg->tls_listen_cnt && (!cfg->tls_cert || !cfg->tls_key)) {
        fprintf(stderr, "wshub: --tls-listen: needs both --tls-cert FILE and --tls-key FILE\n");
        return -1;
    }
    if (!cfg->tls_listen_cnt && (cfg->tls_cert || cfg->tls_key)) {
        fprintf(stderr, "wshub: %s: set, but no --tls-listen address to serve TLS on\n",
                cfg->tls_cert ? "--tls-cert" : "--tls-key");
        return -1;
    }
    if (cfg->listen_cnt + cfg->tls_listen_cnt > WSH_CONFIG_MAX_LISTEN) {
        fprintf(stderr, "wshub: --tls-listen: at most %d listen and tls-listen addresses in all\n", WSH_CONFIG_MAX_LISTEN);
        return -1;
    }
    return 0;
}

int wsh_config_load(wsh_config_t *cfg, int argc, char **argv, char **envp)
{
    loader_t ld = {cfg, LAYER_DEFAULT, LAYER_DEFAULT};
    set_defaults(cfg);
    /* The config file is named by a flag or the environment, but its values
     * rank below both: find it first, apply it, then the others. */
    const char *file = env_get(envp, "WSHUB_CONFIG");
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            wsh_config_print_usage();
            return 1;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("wshub " WSH_VERSION "\n");
            return 1;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
    }
    if (file) {
        cfg->config_file = wsh_xstrdup(file);
        if (load_file(&ld, file) < 0)
            return -1;
    }
    for (size_t i = 0; i < OPTION_CNT; i++) {
        char name[64];
        env_name(&options[i], name, sizeof name);
        const char *v = env_get(envp, name);
        if (!v || options[i].offset == OFF(config_file))
            continue;
        if (options[i].type == OPT_LISTEN || options[i].type == OPT_STRLIST) {
            /* A list in one variable: "127.0.0.1:8080,[::1]:8080". */
            char *copy = wsh_xstrdup(v), *save = NULL;
            int rc = 0;
            for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save))
                rc = apply(&ld, LAYER_ENV, &options[i], trim(tok), name);
            free(copy);
            if (rc < 0)
                return -1;
        } else if (apply(&ld, LAYER_ENV, &options[i], v, name) < 0) {
            return -1;
        }
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            bad_value("serve", "unexpected argument", a);
            return -1;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        const option_t *o = find_option(name, name_len);
        if (!o) {
            bad_value("serve", "unknown option", a);
            return -1;
        }
        const char *value;
        if (eq) {
            value = eq + 1;
        } else if (o->type == OPT_BOOL) {
            value = "true";
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            bad_value(a, "missing value", "");
            return -1;
        }
        if (o->offset == OFF(config_file))
            continue;
        char where[80];
        snprintf(where, sizeof where, "--%.*s", (int)name_len, name);
        if (apply(&ld, LAYER_FLAGS, o, value, where) < 0)
            return -1;
    }
    return check_tls(&ld);
}

void wsh_config_dispose(wsh_config_t *cfg)
{
    free(cfg->data_dir);
    free(cfg->config_file);
    free(cfg->tls_cert);
    free(cfg->tls_key);
    cfg->tls_cert = cfg->tls_key = NULL;
    wsh_config_strlist_t *lists[] = {&cfg->api_keys, &cfg->allowed_origins};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        for (size_t k = 0; k < lists[i]->cnt; k++)
            free(lists[i]->items[k]);
        free(lists[i]->items);
        lists[i]->items = NULL;
        lists[i]->cnt = 0;
    }
    cfg->data_dir = cfg->config_file = NULL;
    wsh_authcfg_dispose(&cfg->auth);
}
