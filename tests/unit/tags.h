/* Test-side data for loop watchers and timers. wsh_io_t and wsh_timer_t
 * carry no data pointer (their owners embed them and use WSH_CONTAINER_OF);
 * tests that share one callback between bare watchers keep each watcher's
 * datum here instead, keyed by its address. Include after cmocka.h. */
#ifndef WSH_TESTS_UNIT_TAGS_H
#define WSH_TESTS_UNIT_TAGS_H

#include <stdint.h>

#define TAGS_SLOTS 16384u /* open addressing; tests tag at most a few thousand */

static struct {
    const void *key;
    void *data;
} g_tags[TAGS_SLOTS];

static inline size_t tag_slot(const void *key)
{
    size_t i = (size_t)(((uintptr_t)key >> 3) * 0x9E3779B97F4A7C15ull >> 50) & (TAGS_SLOTS - 1);
    while (g_tags[i].key && g_tags[i].key != key)
        i = (i + 1) & (TAGS_SLOTS - 1);
    return i;
}

/* Stack addresses repeat across tests: tagging a key again replaces its datum. */
static inline void tag(const void *key, const void *data)
{
    size_t i = tag_slot(key);
    g_tags[i].key = key;
    g_tags[i].data = (void *)data;
}

static inline void *data_of(const void *key)
{
    size_t i = tag_slot(key);
    if (!g_tags[i].key)
        fail_msg("no data tagged for %p", key);
    return g_tags[i].data;
}

#endif
