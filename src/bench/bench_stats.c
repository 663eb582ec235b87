/* Log-linear latency histogram for the bench tool: bucket arithmetic,
 * merging and quantiles. Not for process statistics (bench_proc.c). */
#include "bench/bench_stats.h"

#include <math.h>
#include <string.h>

void wsh_bench_hist_init(wsh_bench_hist_t *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

uint32_t wsh_bench_hist_index(uint64_t v)
{
    if (v < WSH_BENCH_HIST_LINEAR)
        return (uint32_t)v;
    if (v > WSH_BENCH_HIST_HIGHEST)
        v = WSH_BENCH_HIST_HIGHEST;
    /* v lies in [2^m, 2^(m+1)) with m >= 8; its top 8 bits (a leading 1 and
     * 7 more) pick one of 128 sub-buckets of that power of two. */
    unsigned m = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = m - WSH_BENCH_HIST_SUB_BITS;
    return WSH_BENCH_HIST_LINEAR + (m - 8u) * WSH_BENCH_HIST_SUB + (uint32_t)((v >> shift) - WSH_BENCH_HIST_SUB);
}

uint64_t wsh_bench_hist_bucket_low(uint32_t idx)
{
    if (idx < WSH_BENCH_HIST_LINEAR)
        return idx;
    uint32_t k = (idx - WSH_BENCH_HIST_LINEAR) / WSH_BENCH_HIST_SUB;
    uint32_t sub = (idx - WSH_BENCH_HIST_LINEAR) % WSH_BENCH_HIST_SUB;
    unsigned shift = k + 8u - WSH_BENCH_HIST_SUB_BITS;
    return (uint64_t)(WSH_BENCH_HIST_SUB + sub) << shift;
}

uint64_t wsh_bench_hist_bucket_high(uint32_t idx)
{
    if (idx < WSH_BENCH_HIST_LINEAR)
        return idx;
    uint32_t k = (idx - WSH_BENCH_HIST_LINEAR) / WSH_BENCH_HIST_SUB;
    unsigned shift = k + 8u - WSH_BENCH_HIST_SUB_BITS;
    return wsh_bench_hist_bucket_low(idx) + (UINT64_C(1) << shift) - 1u;
}

void wsh_bench_hist_merge(wsh_bench_hist_t *dst, const wsh_bench_hist_t *src)
{
    if (src->cnt == 0)
        return;
    for (uint32_t i = 0; i < WSH_BENCH_HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->cnt += src->cnt;
    dst->clamped += src->clamped;
    dst->sum = dst->sum + src->sum < dst->sum ? UINT64_MAX : dst->sum + src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t wsh_bench_hist_percentile(const wsh_bench_hist_t *h, double q)
{
    if (h->cnt == 0)
        return 0;
    if (!(q > 0.0))
        return h->min;
    if (q >= 1.0)
        return h->max;
    /* The rank of the sample at quantile q, 1-based; ceil so p50 of two
     * samples is the first one, as in HdrHistogram. */
    double want = ceil(q * (double)h->cnt);
    uint64_t rank = want < 1.0 ? 1 : (uint64_t)want;
    if (rank > h->cnt)
        rank = h->cnt;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < WSH_BENCH_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = wsh_bench_hist_bucket_high(i);
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max; /* unreachable while cnt matches the buckets */
}

double wsh_bench_hist_mean(const wsh_bench_hist_t *h)
{
    return h->cnt ? (double)h->sum / (double)h->cnt : 0.0;
}
