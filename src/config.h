/* Server configuration: embedded defaults < config file < WSHUB_* environment
 * < command-line flags, validated once at start. Not runtime state. */
#ifndef WSH_CONFIG_H
#define WSH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/authcfg.h"
#include "core/log.h"
#include "net/sock.h"

#define WSH_CONFIG_MAX_LISTEN 16

/* history-prefix PREFIX=SIZE[,TTL]: retention for channels under a prefix. */
typedef struct wsh_config_history_rule {
    char prefix[256];
    uint64_t size;
    uint64_t ttl_ms;
    bool has_ttl;       /* else the global history-ttl applies */
} wsh_config_history_rule_t;
#define WSH_CONFIG_MAX_HISTORY_RULES 32

/* A repeatable string option (api-key, allowed-origin); values from every
 * layer are kept, in order. */
typedef struct wsh_config_strlist {
    char **items;
    size_t cnt;
} wsh_config_strlist_t;

/* Filled by wsh_config_load; strings are owned and released by wsh_config_dispose. */
typedef struct wsh_config {
    wsh_hostport_t listen[WSH_CONFIG_MAX_LISTEN];
    size_t listen_cnt;
    /* TLS listeners (docs/security.md, TLS); listen + tls-listen <= WSH_CONFIG_MAX_LISTEN. */
    wsh_hostport_t tls_listen[WSH_CONFIG_MAX_LISTEN];
    size_t tls_listen_cnt;
    char *tls_cert;            /* PEM certificate chain; required with tls-listen */
    char *tls_key;             /* PEM private key, unencrypted */
    char *data_dir;            /* NULL: history in memory only */
    char *config_file;         /* the file that was read, if any */
    wsh_log_level_t log_level;
    bool echo;                 /* serve GET /echo for conformance suites */
    uint64_t max_message;      /* bytes per WebSocket message */
    uint64_t max_queue;        /* unsent bytes per connection before close 4008 */
    uint64_t max_body;         /* HTTP request body bytes */
    uint64_t max_head;         /* HTTP request line + headers bytes */
    uint64_t max_headers;      /* HTTP header count */
    uint64_t max_fragments;    /* frames per WebSocket message; 0 = no cap */
    uint64_t max_subscriptions; /* channels one connection may subscribe to */
    uint64_t heartbeat_ms;     /* server ping interval; 0 = off */
    uint64_t request_timeout_ms;
    uint64_t drain_timeout_ms;
    uint64_t close_timeout_ms; /* wait for the peer's close frame after ours */
    uint64_t workers;          /* event-loop threads; 0 = one per usable CPU */
    uint64_t history_size;     /* messages retained per channel */
    uint64_t history_ttl_ms;   /* retained messages older than this are dropped; 0 = no age limit */
    uint64_t idem_window_ms;   /* how long an idempotency key is remembered */
    wsh_config_history_rule_t history_rules[WSH_CONFIG_MAX_HISTORY_RULES];
    size_t history_rule_cnt;
    /* Edge limits and access (docs/security.md "Limits"). */
    wsh_config_strlist_t api_keys;        /* HTTP API needs one of these as a Bearer credential */
    wsh_config_strlist_t allowed_origins; /* browser origins allowed to open /ws; empty = any */
    bool protect_metrics;                 /* /metrics and /health need an API key too */
    uint64_t max_conns;                   /* TCP connections per process (also capped by RLIMIT_NOFILE) */
    uint64_t max_conns_per_ip;            /* 0 = off */
    uint64_t handshake_rate;              /* WebSocket handshakes per second per IP; 0 = off */
    uint64_t handshake_burst;
    uint64_t max_channels;                /* channels per process */
    uint64_t max_presence;                /* entries in one channel's presence list */
    uint64_t max_presence_total;          /* presence entries per process */
    uint64_t msg_rate;                    /* messages per second per connection; 0 = off */
    uint64_t msg_burst;
    uint64_t control_rate;                /* inbound pings per second per connection; 0 = off */
    uint64_t control_burst;
    bool permessage_deflate;              /* accept RFC 7692 offers (docs/compression.md) */
    uint64_t deflate_threshold;           /* payloads under this many bytes are sent uncompressed */
    wsh_auth_config_t auth;    /* token keys, auth timeouts, namespaces (docs/security.md) */
} wsh_config_t;

/* Loads the configuration for `wshub serve` from argv (after the subcommand)
 * and envp. Returns 0; 1 when --help or --version was printed (exit 0); or -1
 * after printing exactly one line naming the bad value on stderr (exit 2). */
int wsh_config_load(wsh_config_t *cfg, int argc, char **argv, char **envp);
void wsh_config_dispose(wsh_config_t *cfg);

/* Parsers shared with other subcommands; each returns 0 or -1. */
/* "1048576", "64KiB", "16MiB", "1GiB" (also K, M, G, KB, MB, GB as powers of 1024). */
int wsh_config_parse_size(const char *s, uint64_t *out);
/* "250ms", "10s", "5m", "1h", or a bare number of seconds (decimals allowed). */
int wsh_config_parse_duration_ms(const char *s, uint64_t *out);

/* Writes the serve usage text to stdout. */
void wsh_config_print_usage(void);

#endif
