/* Per-address connection counts and handshake buckets, shared by every
 * worker behind one mutex: an accept, a close or a handshake takes it once,
 * which costs far less than the syscalls around it, and an address then has
 * one budget however the kernel spreads its connections over the workers. */
#include "net/iplimit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/bucket.h"
#include "core/hmap.h"
#include "core/list.h"

/* One client address. IPv4 and IPv4-mapped IPv6 share the v4 key, so a
 * dual-stack listener counts an address once. */
typedef struct entry {
    wsh_hnode_t node;
    uint8_t addr[16];
    uint32_t conns;
    wsh_bucket_t hs;
} entry_t;

struct wsh_iplimit {
    wsh_iplimit_opts_t o;
    pthread_mutex_t mu; /* guards map and every entry */
    wsh_hmap_t map;
};

wsh_iplimit_t *wsh_iplimit_new(const wsh_iplimit_opts_t *opts)
{
    if (!opts->max_conns && !opts->hs_rate)
        return NULL;
    wsh_iplimit_t *l = wsh_xcalloc(1, sizeof *l);
    l->o = *opts;
    if (l->o.hs_rate && !l->o.hs_burst)
        l->o.hs_burst = l->o.hs_rate * 2;
    pthread_mutex_init(&l->mu, NULL);
    wsh_hmap_init(&l->map);
    return l;
}

void wsh_iplimit_free(wsh_iplimit_t *l)
{
    if (!l)
        return;
    size_t pos = 0;
    wsh_hnode_t *n = wsh_hmap_iter(&l->map, &pos, NULL);
    while (n) {
        wsh_hnode_t *next = wsh_hmap_iter(&l->map, &pos, n);
        free(WSH_CONTAINER_OF(n, entry_t, node));
        n = next;
    }
    wsh_hmap_dispose(&l->map);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* The 16-byte key of peer: IPv4 as ::ffff:a.b.c.d. False for other families. */
static bool key_of(const struct sockaddr *peer, uint8_t key[16])
{
    if (peer->sa_family == AF_INET) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        memcpy(key, mapped, 12);
        memcpy(key + 12, &((const struct sockaddr_in *)(const void *)peer)->sin_addr, 4);
        return true;
    }
    if (peer->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)(const void *)peer)->sin6_addr, 16);
        return true;
    }
    return false;
}

static entry_t *find(wsh_iplimit_t *l, const uint8_t key[16], uint64_t hash)
{
    for (wsh_hnode_t *n = wsh_hmap_find(&l->map, hash); n; n = wsh_hmap_next_same(n)) {
        entry_t *e = WSH_CONTAINER_OF(n, entry_t, node);
        if (memcmp(e->addr, key, 16) == 0)
            return e;
    }
    return NULL;
}

static entry_t *get(wsh_iplimit_t *l, const struct sockaddr *peer, bool create)
{
    uint8_t key[16];
    if (!key_of(peer, key))
        return NULL;
    uint64_t hash = wsh_hash_bytes(key, sizeof key);
    entry_t *e = find(l, key, hash);
    if (!e && create) {
        e = wsh_xcalloc(1, sizeof *e);
        memcpy(e->addr, key, sizeof key);
        wsh_hmap_insert(&l->map, &e->node, hash);
    }
    return e;
}

static bool is_idle(const wsh_iplimit_t *l, const entry_t *e, uint64_t now_ms)
{
    return e->conns == 0 && (!l->o.hs_rate || wsh_bucket_is_full(&e->hs, l->o.hs_rate, now_ms));
}

bool wsh_iplimit_open(wsh_iplimit_t *l, const struct sockaddr *peer)
{
    if (!l)
        return true;
    pthread_mutex_lock(&l->mu);
    entry_t *e = get(l, peer, true);
    bool ok = true;
    if (e) {
        e->conns++;
        ok = !l->o.max_conns || e->conns <= l->o.max_conns;
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}

void wsh_iplimit_close(wsh_iplimit_t *l, const struct sockaddr *peer, uint64_t now_ms)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    entry_t *e = get(l, peer, false);
    if (e && e->conns > 0) {
        e->conns--;
        if (is_idle(l, e, now_ms)) {
            wsh_hmap_remove(&l->map, &e->node);
            free(e);
        }
    }
    pthread_mutex_unlock(&l->mu);
}

uint32_t wsh_iplimit_handshake(wsh_iplimit_t *l, const struct sockaddr *peer, uint64_t now_ms)
{
    if (!l || !l->o.hs_rate)
        return 0;
    pthread_mutex_lock(&l->mu);
    entry_t *e = get(l, peer, true);
    uint32_t wait_s = 0;
    if (e && !wsh_bucket_take(&e->hs, l->o.hs_rate, l->o.hs_burst, now_ms))
        wait_s = (uint32_t)(wsh_bucket_wait_ms(&e->hs, l->o.hs_rate, l->o.hs_burst, now_ms) / 1000 + 1);
    pthread_mutex_unlock(&l->mu);
    return wait_s;
}

void wsh_iplimit_sweep(wsh_iplimit_t *l, uint64_t now_ms)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    size_t pos = 0;
    wsh_hnode_t *n = wsh_hmap_iter(&l->map, &pos, NULL);
    while (n) {
        wsh_hnode_t *next = wsh_hmap_iter(&l->map, &pos, n);
        entry_t *e = WSH_CONTAINER_OF(n, entry_t, node);
        if (is_idle(l, e, now_ms)) {
            wsh_hmap_remove(&l->map, &e->node);
            free(e);
        }
        n = next;
    }
    pthread_mutex_unlock(&l->mu);
}

size_t wsh_iplimit_count(wsh_iplimit_t *l)
{
    if (!l)
        return 0;
    pthread_mutex_lock(&l->mu);
    size_t n = l->map.cnt;
    pthread_mutex_unlock(&l->mu);
    return n;
}
