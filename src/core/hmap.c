/* Chained hash table and the keyed hash it uses. */
#include "core/hmap.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/alloc.h"

static uint64_t sip_k0, sip_k1;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void init_key(void)
{
    uint64_t k[2] = {0x736f6d6570736575ull, 0x646f72616e646f6dull};
    if (getrandom(k, sizeof k, 0) != (ssize_t)sizeof k) {
        /* Without entropy the table still works; only flooding resistance
         * is lost, which matters for exposed servers, not for correctness. */
        k[0] ^= (uint64_t)(uintptr_t)&k;
    }
    sip_k0 = k[0];
    sip_k1 = k[1];
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                             \
    do {                                                                                                     \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                                            \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                                               \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                                               \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                                            \
    } while (0)

/* SipHash-1-3 (one compression round, three finalisation rounds): the
 * variant hash tables use for speed; the key, not the round count, is what
 * defeats flooding. Written from the SipHash paper (Aumasson, Bernstein). */
uint64_t wsh_hash_bytes(const void *data, size_t len)
{
    pthread_once(&key_once, init_key);
    const uint8_t *p = data;
    uint64_t v0 = 0x736f6d6570736575ull ^ sip_k0;
    uint64_t v1 = 0x646f72616e646f6dull ^ sip_k1;
    uint64_t v2 = 0x6c7967656e657261ull ^ sip_k0;
    uint64_t v3 = 0x7465646279746573ull ^ sip_k1;
    size_t full = len & ~(size_t)7;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t m;
        memcpy(&m, p + i, 8);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < (len & 7); i++)
        b |= (uint64_t)p[full + i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t wsh_hash_u64(uint64_t v)
{
    return wsh_hash_bytes(&v, sizeof v);
}

void wsh_hmap_init(wsh_hmap_t *m)
{
    m->buckets = NULL;
    m->cap = 0;
    m->cnt = 0;
}

void wsh_hmap_dispose(wsh_hmap_t *m)
{
    free(m->buckets);
    wsh_hmap_init(m);
}

static void grow(wsh_hmap_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    wsh_hnode_t **b = wsh_xcalloc(cap, sizeof *b);
    for (size_t i = 0; i < m->cap; i++) {
        wsh_hnode_t *n = m->buckets[i];
        while (n) {
            wsh_hnode_t *next = n->next;
            size_t idx = n->hash & (cap - 1);
            n->next = b[idx];
            b[idx] = n;
            n = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->cap = cap;
}

void wsh_hmap_insert(wsh_hmap_t *m, wsh_hnode_t *node, uint64_t hash)
{
    if (m->cnt >= m->cap)
        grow(m);
    node->hash = hash;
    size_t idx = hash & (m->cap - 1);
    node->next = m->buckets[idx];
    m->buckets[idx] = node;
    m->cnt++;
}

void wsh_hmap_remove(wsh_hmap_t *m, wsh_hnode_t *node)
{
    wsh_hnode_t **pp = &m->buckets[node->hash & (m->cap - 1)];
    while (*pp && *pp != node)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = node->next;
        m->cnt--;
    }
    node->next = NULL;
}

wsh_hnode_t *wsh_hmap_find(const wsh_hmap_t *m, uint64_t hash)
{
    if (!m->cap)
        return NULL;
    wsh_hnode_t *n = m->buckets[hash & (m->cap - 1)];
    while (n && n->hash != hash)
        n = n->next;
    return n;
}

wsh_hnode_t *wsh_hmap_next_same(const wsh_hnode_t *node)
{
    wsh_hnode_t *n = node->next;
    while (n && n->hash != node->hash)
        n = n->next;
    return n;
}

wsh_hnode_t *wsh_hmap_iter(const wsh_hmap_t *m, size_t *pos, wsh_hnode_t *node)
{
    if (node && node->next)
        return node->next;
    for (size_t i = node ? *pos + 1 : *pos; i < m->cap; i++) {
        if (m->buckets[i]) {
            *pos = i;
            return m->buckets[i];
        }
    }
    *pos = m->cap;
    return NULL;
}
