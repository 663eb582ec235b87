/* A token bucket in 6 bytes, small enough to sit inline in per-connection
 * structs: rate tokens per second, at most burst at once. Not thread-safe;
 * each bucket belongs to one loop. */
#ifndef WSH_CORE_BUCKET_H
#define WSH_CORE_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

/* Zero-initialized means full. `used` counts taken tokens not yet refilled,
 * so a calloc'ed owner needs no set-up; last_ms is the monotonic clock
 * truncated to 32 bits (differences stay right across the wrap). */
typedef struct wsh_bucket {
    uint32_t last_ms;
    uint16_t used;
} __attribute__((packed)) wsh_bucket_t;

#define WSH_BUCKET_MAX_BURST 65535u

/* Takes one token at now_ms: true if there was one. rate > 0; burst is
 * clamped to WSH_BUCKET_MAX_BURST. Refill is exact: the time that refilled
 * whole tokens is consumed, the remainder carries over. */
static inline bool wsh_bucket_take(wsh_bucket_t *b, uint32_t rate, uint32_t burst, uint64_t now_ms)
{
    uint32_t now = (uint32_t)now_ms;
    if (burst > WSH_BUCKET_MAX_BURST)
        burst = WSH_BUCKET_MAX_BURST;
    if (b->used == 0) {
        b->last_ms = now;
    } else {
        uint64_t refill = (uint64_t)(uint32_t)(now - b->last_ms) * rate / 1000u;
        if (refill >= b->used) {
            b->used = 0;
            b->last_ms = now;
        } else if (refill) {
            b->used = (uint16_t)(b->used - refill);
            b->last_ms += (uint32_t)(refill * 1000u / rate);
        }
    }
    if (b->used >= burst)
        return false;
    b->used++;
    return true;
}

/* Milliseconds until the next token (0 if one is available now). */
static inline uint64_t wsh_bucket_wait_ms(const wsh_bucket_t *b, uint32_t rate, uint32_t burst, uint64_t now_ms)
{
    if (burst > WSH_BUCKET_MAX_BURST)
        burst = WSH_BUCKET_MAX_BURST;
    if (b->used < burst)
        return 0;
    uint64_t need_ms = ((uint64_t)(b->used - burst + 1) * 1000u + rate - 1) / rate;
    uint32_t elapsed = (uint32_t)now_ms - b->last_ms;
    return need_ms > elapsed ? need_ms - elapsed : 0;
}

/* True when the bucket is full again at now_ms (its owner may be forgotten). */
static inline bool wsh_bucket_is_full(const wsh_bucket_t *b, uint32_t rate, uint64_t now_ms)
{
    return b->used == 0 || (uint64_t)(uint32_t)((uint32_t)now_ms - b->last_ms) * rate / 1000u >= b->used;
}

#endif
