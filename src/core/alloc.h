/* Allocation wrappers: the server aborts on its own allocations, peers' sizes use wsh_try_*.
 * Not a pool or arena; see arena.h for per-request memory. */
#ifndef WSH_CORE_ALLOC_H
#define WSH_CORE_ALLOC_H

#include <stddef.h>

/* Allocate or abort with a message: for memory whose size the server controls
 * (DESIGN.md "Errors": out of memory on our own allocations is fatal). */
void *wsh_xmalloc(size_t len);
void *wsh_xcalloc(size_t cnt, size_t len);
void *wsh_xrealloc(void *p, size_t len);
char *wsh_xstrdup(const char *s);

/* Allocate or return NULL: for sizes a peer controls (message and body
 * buffers), so that running out closes only that connection (1009/413). */
void *wsh_try_malloc(size_t len);
void *wsh_try_realloc(void *p, size_t len);

/* Fault injection for tests: when set to N > 0, the Nth wsh_try_* call from now
 * fails (returns NULL) and the counter disarms. 0 disarms. Thread-local. */
void wsh_alloc_fail_nth(unsigned long n);

#endif
