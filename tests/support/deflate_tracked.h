/* Includes src/ws/deflate.c with its allocator calls routed through
 * counters, so a test or fuzzer can assert that no buffer sized from peer
 * input ever exceeds the cap: g_max_alloc is the largest request seen (reset
 * it before each case). Shared by tests/unit/test_ws_deflate.c and
 * tests/fuzz/fuzz_deflate.c; include it once, after core/alloc.h. */
#ifndef WSH_TESTS_DEFLATE_TRACKED_H
#define WSH_TESTS_DEFLATE_TRACKED_H

static size_t g_max_alloc;
void *track_malloc(size_t len);
void *track_realloc(void *p, size_t len);
void *track_malloc(size_t len)
{
    if (len > g_max_alloc)
        g_max_alloc = len;
    return wsh_try_malloc(len);
}
void *track_realloc(void *p, size_t len)
{
    if (len > g_max_alloc)
        g_max_alloc = len;
    return wsh_try_realloc(p, len);
}
#define wsh_try_malloc track_malloc
#define wsh_try_realloc track_realloc
#include "../../src/ws/deflate.c"
#undef wsh_try_malloc
#undef wsh_try_realloc

#endif
