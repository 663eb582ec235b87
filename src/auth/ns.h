/* Namespaces: channel-name prefixes that say who may subscribe and publish
 * there and whether history and presence are on (docs/security.md,
 * "Namespaces and permissions"). Parsing and lookup only; the decisions are
 * in hub/authz.c (permissions) and hub/presence.c (presence). */
#ifndef WSH_AUTH_NS_H
#define WSH_AUTH_NS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    WSH_NS_ANON_SUB = 1 << 0,    /* connections without a token may subscribe and read history */
    WSH_NS_ANON_PUB = 1 << 1,    /* ... and publish (implies WSH_NS_PUBLISH) */
    WSH_NS_PUBLISH = 1 << 2,     /* clients may publish here at all (with a "pubs" grant) */
    WSH_NS_PRESENCE = 1 << 3,    /* presence is on: the `presence` command and HTTP route answer, and
                                  * subscribers get `join`/`leave` (hub/presence.c, docs/presence.md) */
    WSH_NS_HAS_HISTORY = 1 << 4, /* history= was given: retention overrides history-size */
    WSH_NS_HAS_TTL = 1 << 5,     /* ttl= was given */
};

#define WSH_NS_PREFIX_MAX 255

/* One `namespace = PREFIX:FLAGS` rule. prefix_len 0 with is_default is the
 * rule for every channel no other prefix matches ("*"). */
typedef struct wsh_ns {
    char prefix[WSH_NS_PREFIX_MAX + 1];
    uint16_t prefix_len;
    bool is_default;
    uint8_t flags;
    uint32_t history;    /* messages kept, with WSH_NS_HAS_HISTORY */
    uint64_t ttl_ms;     /* with WSH_NS_HAS_TTL */
} wsh_ns_t;

/* Parses a duration ("10s", "1h") into ms; 0 or -1 (config.c's parser). */
typedef int (*wsh_ns_duration_fn)(const char *s, uint64_t *out_ms);

/* Parses "PREFIX:FLAG,FLAG,..." where the last ':' separates the prefix
 * (channel names may contain ':'), PREFIX is "*" for the default namespace
 * or 1-255 channel-name characters, and each FLAG is one of anon-sub,
 * anon-pub, publish, presence, history=N (0..1000000), ttl=DURATION. Flags
 * may be empty ("chat.:" allows nothing but granted subscribing). Returns 0,
 * or -1 with *why set to a static explanation. */
int wsh_ns_parse(const char *spec, wsh_ns_duration_fn parse_duration, wsh_ns_t *out, const char **why);

/* The rule whose prefix is the longest one that name[0..len) starts with,
 * among rules[0..cnt) (the default rule, if listed, matches last); NULL when
 * none does. */
const wsh_ns_t *wsh_ns_find(const wsh_ns_t *rules, size_t cnt, const char *name, size_t len);

#endif
