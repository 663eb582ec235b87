/* Latency histogram for `wshub bench`: HDR-style log-linear buckets over
 * nanoseconds (exact below 256 ns, then 128 sub-buckets per power of two, so
 * every bucket is under 0.8% wide) from 0 to just over 60 s, in one fixed
 * array: recording a sample never allocates. Not thread-safe (one per loop;
 * merge them). Not a general metrics type (obs/metrics.h is). */
#ifndef WSH_BENCH_BENCH_STATS_H
#define WSH_BENCH_BENCH_STATS_H

#include <stdint.h>

/* Values below this are their own bucket (resolution 1 ns). */
#define WSH_BENCH_HIST_LINEAR 256u
/* Sub-buckets per power of two above the linear range: 2^7, so the relative
 * width of a bucket is at most 1/128 (0.78%). */
#define WSH_BENCH_HIST_SUB_BITS 7u
#define WSH_BENCH_HIST_SUB 128u
/* Largest value kept exactly in a bucket: 2^36 - 1 ns (68.7 s), which covers
 * the 60 s that a bench deadline allows. Larger samples are clamped into the
 * last bucket and counted in `clamped`; `max` keeps their true value. */
#define WSH_BENCH_HIST_HIGHEST ((UINT64_C(1) << 36) - 1)
/* 256 linear buckets + 28 powers of two (2^8 .. 2^35) x 128. */
#define WSH_BENCH_HIST_BUCKETS (WSH_BENCH_HIST_LINEAR + 28u * WSH_BENCH_HIST_SUB)

/* Caller-owned (about 30 KiB: embed it or allocate it once); init before use,
 * no dispose. */
typedef struct wsh_bench_hist {
    uint64_t cnt;       /* samples recorded */
    uint64_t min, max;  /* exact extremes (min is UINT64_MAX while empty) */
    uint64_t sum;       /* for the mean; saturates instead of wrapping */
    uint64_t clamped;   /* samples above WSH_BENCH_HIST_HIGHEST */
    uint64_t buckets[WSH_BENCH_HIST_BUCKETS];
} wsh_bench_hist_t;

/* Empties h (also the way to reset it between phases). */
void wsh_bench_hist_init(wsh_bench_hist_t *h);

/* Bucket index of value v (values over WSH_BENCH_HIST_HIGHEST map to the
 * last bucket). Monotonic in v. Exposed for tests. */
uint32_t wsh_bench_hist_index(uint64_t v);
/* Smallest and largest value that falls in bucket idx (< WSH_BENCH_HIST_BUCKETS). */
uint64_t wsh_bench_hist_bucket_low(uint32_t idx);
uint64_t wsh_bench_hist_bucket_high(uint32_t idx);

/* Records one sample of v nanoseconds. O(1), no allocation. */
static inline void wsh_bench_hist_record(wsh_bench_hist_t *h, uint64_t v)
{
    h->buckets[wsh_bench_hist_index(v)]++;
    h->cnt++;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->sum = h->sum + v < h->sum ? UINT64_MAX : h->sum + v;
    if (v > WSH_BENCH_HIST_HIGHEST)
        h->clamped++;
}

/* Adds every sample of src to dst. */
void wsh_bench_hist_merge(wsh_bench_hist_t *dst, const wsh_bench_hist_t *src);

/* The value at quantile q (0 < q <= 1, e.g. 0.99): the largest value of the
 * bucket that holds the ceil(q * cnt)-th smallest sample, clamped into
 * [min, max], so it overstates the true quantile by less than 0.8% and
 * quantiles of one histogram are ordered (q1 <= q2 gives p(q1) <= p(q2) <=
 * max). q <= 0 gives min, q >= 1 gives max. 0 when the histogram is empty. */
uint64_t wsh_bench_hist_percentile(const wsh_bench_hist_t *h, double q);

/* Mean of the samples (0 when empty). */
double wsh_bench_hist_mean(const wsh_bench_hist_t *h);

#endif
