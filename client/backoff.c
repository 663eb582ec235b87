/* Exponential backoff with full jitter (see backoff.h). */
#include "backoff.h"

uint64_t wsh_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

unsigned wsh_backoff_bound(unsigned initial_ms, unsigned cap_ms, unsigned attempt)
{
    uint64_t bound = initial_ms;
    /* Doubling stops once the cap is reached, so a large attempt cannot overflow. */
    for (unsigned i = 0; i < attempt && bound < cap_ms; i++)
        bound *= 2;
    return bound < cap_ms ? (unsigned)bound : cap_ms;
}

unsigned wsh_backoff_delay(unsigned initial_ms, unsigned cap_ms, unsigned attempt, uint64_t *rng)
{
    uint64_t bound = wsh_backoff_bound(initial_ms, cap_ms, attempt);
    return (unsigned)(wsh_rng_next(rng) % (bound + 1));
}
