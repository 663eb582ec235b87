/* Per-address admission limits of the process: concurrent connections per
 * client IP and WebSocket handshakes per second per IP. Off unless
 * configured (docs/security.md says why). One table shared by every worker
 * (thread-safe), so an address has one budget whichever worker accepts its
 * connections. Not the global connection cap (worker.c). */
#ifndef WSH_NET_IPLIMIT_H
#define WSH_NET_IPLIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct wsh_iplimit_opts {
    uint32_t max_conns;   /* per address; 0 = no cap */
    uint32_t hs_rate;     /* handshakes per second per address; 0 = no cap */
    uint32_t hs_burst;    /* handshakes at once (0: twice the rate) */
} wsh_iplimit_opts_t;

typedef struct wsh_iplimit wsh_iplimit_t;

/* NULL when opts enforce nothing: every call below accepts NULL and then
 * allows everything, so the common case costs one branch. */
wsh_iplimit_t *wsh_iplimit_new(const wsh_iplimit_opts_t *opts);
void wsh_iplimit_free(wsh_iplimit_t *l);

/* Counts a new connection from peer. Returns false when that takes the
 * address over max_conns (the connection is counted all the same: release
 * every opened one with wsh_iplimit_close). */
bool wsh_iplimit_open(wsh_iplimit_t *l, const struct sockaddr *peer);
/* Uncounts a connection counted by wsh_iplimit_open. */
void wsh_iplimit_close(wsh_iplimit_t *l, const struct sockaddr *peer, uint64_t now_ms);

/* Takes a handshake token for peer: 0 when allowed, else the whole seconds
 * (>= 1) to wait, for Retry-After. */
uint32_t wsh_iplimit_handshake(wsh_iplimit_t *l, const struct sockaddr *peer, uint64_t now_ms);

/* Forgets addresses with no connection and a full bucket; call every few
 * seconds so a scan from many addresses leaves nothing behind. */
void wsh_iplimit_sweep(wsh_iplimit_t *l, uint64_t now_ms);

/* Addresses currently tracked (for tests and metrics). */
size_t wsh_iplimit_count(wsh_iplimit_t *l);

#endif
