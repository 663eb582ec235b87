/* Reconnect delays: exponential backoff with full jitter, and the small
 * seeded RNG that draws them; no timers or I/O. */
#ifndef WSH_CLIENT_BACKOFF_H
#define WSH_CLIENT_BACKOFF_H

#include <stdint.h>

/* splitmix64: advances *state and returns 64 random bits. Not for secrets
 * (WebSocket keys and masks come from OpenSSL's RAND_bytes). */
uint64_t wsh_rng_next(uint64_t *state);

/* The delay bound before retry number attempt (0-based): min(cap_ms,
 * initial_ms * 2^attempt), without overflow for any attempt. */
unsigned wsh_backoff_bound(unsigned initial_ms, unsigned cap_ms, unsigned attempt);

/* "Full jitter": a delay drawn uniformly from [0, wsh_backoff_bound(...)], so
 * clients that lost the same hub at the same moment do not return in step. */
unsigned wsh_backoff_delay(unsigned initial_ms, unsigned cap_ms, unsigned attempt, uint64_t *rng);

#endif
