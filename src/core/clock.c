/* Clock readings for deadlines and timestamps; no caching (the loop caches). */
#include "core/clock.h"

#include <time.h>

static uint64_t read_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t wsh_clock_mono_ms(void) { return read_ns(CLOCK_MONOTONIC) / 1000000ull; }
uint64_t wsh_clock_mono_ns(void) { return read_ns(CLOCK_MONOTONIC); }
uint64_t wsh_clock_wall_ms(void) { return read_ns(CLOCK_REALTIME) / 1000000ull; }
uint64_t wsh_clock_wall_ns(void) { return read_ns(CLOCK_REALTIME); }
