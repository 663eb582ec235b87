/* Intrusive chained hash table with a keyed hash (SipHash-1-3), so names a
 * peer chooses cannot be crafted to collide. The table stores nodes embedded
 * in the caller's objects and never allocates per entry; comparing keys is
 * the caller's job. */
#ifndef WSH_CORE_HMAP_H
#define WSH_CORE_HMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct wsh_hnode {
    struct wsh_hnode *next;
    uint64_t hash;
} wsh_hnode_t;

/* Caller-owned; init/dispose. dispose frees the bucket array only: entries
 * belong to the caller. */
typedef struct wsh_hmap {
    wsh_hnode_t **buckets;
    size_t cap;   /* power of two, 0 before the first insert */
    size_t cnt;
} wsh_hmap_t;

void wsh_hmap_init(wsh_hmap_t *m);
void wsh_hmap_dispose(wsh_hmap_t *m);
/* Inserts node under hash (duplicates allowed: look up first). Grows the
 * bucket array (aborting on OOM) to keep chains short. O(1) amortised. */
void wsh_hmap_insert(wsh_hmap_t *m, wsh_hnode_t *node, uint64_t hash);
/* Unlinks node; it must be in m. O(chain). */
void wsh_hmap_remove(wsh_hmap_t *m, wsh_hnode_t *node);
/* First node of hash's chain with that exact hash, or NULL; continue with
 * wsh_hmap_next_same. */
wsh_hnode_t *wsh_hmap_find(const wsh_hmap_t *m, uint64_t hash);
wsh_hnode_t *wsh_hmap_next_same(const wsh_hnode_t *node);
/* Iterates every node: start with *pos = 0 and node NULL; returns NULL at the
 * end. The table must not change during iteration; to remove entries, fetch
 * the next node before removing the current one. */
wsh_hnode_t *wsh_hmap_iter(const wsh_hmap_t *m, size_t *pos, wsh_hnode_t *node);

/* Keyed SipHash-1-3 of data; the key is random per process. */
uint64_t wsh_hash_bytes(const void *data, size_t len);
/* Hash of a 64-bit value (pointer pairs, ids), same keyed function. */
uint64_t wsh_hash_u64(uint64_t v);

#endif
