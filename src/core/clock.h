/* Clocks: monotonic milliseconds for deadlines, wall milliseconds for timestamps. */
#ifndef WSH_CORE_CLOCK_H
#define WSH_CORE_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds; never goes back. */
uint64_t wsh_clock_mono_ms(void);
/* CLOCK_MONOTONIC in nanoseconds, for latency measurement. */
uint64_t wsh_clock_mono_ns(void);
/* CLOCK_REALTIME in nanoseconds since the Unix epoch: one read gives both a
 * publish's `ts` and its latency stamp. */
uint64_t wsh_clock_wall_ns(void);
/* CLOCK_REALTIME in milliseconds since the Unix epoch (the `ts` field). */
uint64_t wsh_clock_wall_ms(void);

#endif
