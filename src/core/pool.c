/* Fixed-size object pool: large slabs carved on demand, a free list,
 * ASan-aware. */
#include "core/pool.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* Under AddressSanitizer a recycled object is poisoned while on the free
 * list, so a use after wsh_pool_free is still caught as it would be with
 * free(). */
#if defined(__SANITIZE_ADDRESS__)
#define WSH_POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WSH_POOL_ASAN 1
#endif
#endif
#ifdef WSH_POOL_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* The slab's first bytes link it into p->slabs; objects follow, aligned. */
#define SLAB_HEAD 16u

void wsh_pool_init(wsh_pool_t *p, size_t obj_size)
{
    assert(obj_size > 0 && obj_size <= WSH_POOL_MAX_OBJ);
    memset(p, 0, sizeof *p);
    p->obj_size = (obj_size + 7) & ~(size_t)7;
}

void wsh_pool_dispose(wsh_pool_t *p)
{
    void *s = p->slabs;
    while (s) {
        void *next;
        UNPOISON(s, WSH_POOL_SLAB);
        memcpy(&next, s, sizeof next);
        free(s);
        s = next;
    }
    p->free_list = NULL;
    p->slabs = NULL;
    p->bump = p->bump_end = NULL;
    p->live = 0;
}

void *wsh_pool_alloc(wsh_pool_t *p)
{
    uint8_t *obj;
    if (p->free_list) {
        obj = p->free_list;
        UNPOISON(obj, p->obj_size);
        memcpy(&p->free_list, obj, sizeof p->free_list);
    } else {
        if (!p->bump || p->bump_end - p->bump < (ptrdiff_t)p->obj_size) {
            uint8_t *slab = wsh_xmalloc(WSH_POOL_SLAB);
            memcpy(slab, &p->slabs, sizeof p->slabs);
            p->slabs = slab;
            p->bump = slab + SLAB_HEAD;
            p->bump_end = slab + WSH_POOL_SLAB;
            /* Not yet handed out: poisoned until carved. */
            POISON(p->bump, (size_t)(p->bump_end - p->bump));
        }
        obj = p->bump;
        p->bump += p->obj_size;
        UNPOISON(obj, p->obj_size);
    }
    memset(obj, 0, p->obj_size);
    p->live++;
    return obj;
}

void wsh_pool_free(wsh_pool_t *p, void *obj)
{
    if (!obj)
        return;
    assert(p->live > 0);
    memcpy(obj, &p->free_list, sizeof p->free_list);
    POISON(obj, p->obj_size);
    p->free_list = obj;
    p->live--;
}
