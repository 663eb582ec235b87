/* A pool of equal-sized objects for one thread: objects are carved from
 * large slabs on demand and recycled through a free list, so each costs
 * exactly its size (rounded to 8), with no per-object malloc header. Used
 * for the records every connection holds, where that header was a large
 * share of the object. Slabs go back to malloc only at dispose.
 *
 * Slabs are WSH_POOL_SLAB bytes, at glibc's mmap threshold, so they live
 * outside the brk heap: a storm of short-lived allocations (handshake
 * state) cannot leave holes between long-lived objects, and the heap can be
 * trimmed afterwards. Objects are carved lazily, so a slab's untouched
 * pages never become resident. */
#ifndef WSH_CORE_POOL_H
#define WSH_CORE_POOL_H

#include <stddef.h>
#include <stdint.h>

#define WSH_POOL_SLAB (128u * 1024u)
#define WSH_POOL_MAX_OBJ 4096

typedef struct wsh_pool {
    size_t obj_size;   /* rounded up to a multiple of 8 */
    void *free_list;   /* recycled objects; the first word links them */
    void *slabs;       /* every slab; its first word links them */
    uint8_t *bump;     /* next never-used object in the newest slab */
    uint8_t *bump_end;
    size_t live;       /* objects handed out and not yet freed */
} wsh_pool_t;

/* obj_size must be 1 to WSH_POOL_MAX_OBJ. */
void wsh_pool_init(wsh_pool_t *p, size_t obj_size);
/* Frees every slab; objects still live are released with them. */
void wsh_pool_dispose(wsh_pool_t *p);
/* A zeroed object; aborts on OOM like wsh_xmalloc. */
void *wsh_pool_alloc(wsh_pool_t *p);
/* obj must come from p (NULL is ignored). */
void wsh_pool_free(wsh_pool_t *p, void *obj);

#endif
