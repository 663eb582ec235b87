/* Counters, gauges and the publish-to-write latency histogram, kept per loop
 * thread without locks or atomic read-modify-writes (one writer each), and
 * summed into Prometheus text on scrape. Not logging, not tracing. */
#ifndef WSH_OBS_METRICS_H
#define WSH_OBS_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Close codes counted individually; anything else counts as "other". */
#define WSH_METRICS_CLOSE_CODES 13
/* Upper bounds of the latency buckets, in microseconds (+Inf is implicit). */
#define WSH_METRICS_LAT_BUCKETS 15

typedef _Atomic uint64_t wsh_counter_t;

/* One per loop thread, registered with wsh_metrics_register; lives until
 * process exit (a scrape may read it from another thread at any time). */
typedef struct wsh_metrics {
    wsh_counter_t conns_open;        /* gauge: TCP connections (any protocol) */
    wsh_counter_t conns_total;
    wsh_counter_t clients_open;      /* gauge: WebSocket clients on /ws */
    wsh_counter_t clients_total;
    wsh_counter_t subscriptions;     /* gauge */
    wsh_counter_t channels;          /* gauge: channels with subscribers */
    wsh_counter_t published;         /* messages accepted by publish (WS + HTTP) */
    wsh_counter_t delivered;         /* message frames queued to subscribers */
    wsh_counter_t bytes_in;
    wsh_counter_t bytes_out;
    wsh_counter_t slow_closes;       /* connections closed with 4008 */
    wsh_counter_t http_requests;
    wsh_counter_t http_errors;       /* answered with a 4xx/5xx status */
    wsh_counter_t dead_letters;      /* messages with receipts not acked by every subscriber in time */
    wsh_counter_t presence_entries;  /* gauge: connections listed on presence channels */
    wsh_counter_t presence_refused;  /* subscriptions left unlisted by a presence cap */
    wsh_counter_t deflate_in_bytes;  /* permessage-deflate: payload bytes compressed (once per message) */
    wsh_counter_t deflate_out_bytes; /* ... and what they compressed to */
    wsh_counter_t inflate_in_bytes;  /* compressed bytes of received messages */
    wsh_counter_t inflate_out_bytes; /* ... and what they inflated to */
    wsh_counter_t closes[WSH_METRICS_CLOSE_CODES + 1]; /* close frames we sent, by code */
    wsh_counter_t lat_buckets[WSH_METRICS_LAT_BUCKETS + 1];
    wsh_counter_t lat_count;
    wsh_counter_t lat_sum_us;
} wsh_metrics_t;

/* The calling thread's metrics (set by wsh_metrics_register; a static
 * fallback before that, so code paths in tests never crash). */
extern _Thread_local wsh_metrics_t *wsh_metrics_tls;

/* Allocates this thread's metrics block, adds it to the scrape list and makes
 * it current. Up to 256 threads. */
wsh_metrics_t *wsh_metrics_register(void);

/* Single-writer add: a relaxed load and store, which compile to a plain add
 * (no lock prefix) yet keep concurrent scrapes free of data races. */
static inline void wsh_metric_add(wsh_counter_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}
#define WSH_METRIC_ADD(field, n) wsh_metric_add(&wsh_metrics_tls->field, (uint64_t)(n))
#define WSH_METRIC_INC(field) WSH_METRIC_ADD(field, 1)
#define WSH_METRIC_DEC(field) WSH_METRIC_ADD(field, (uint64_t)-1)

/* Sum of one field over every registered thread (for /health and tests). */
uint64_t wsh_metrics_total(size_t offset);
#define WSH_METRICS_TOTAL(field) wsh_metrics_total(offsetof(wsh_metrics_t, field))

/* Counts a close frame we sent with code. */
void wsh_metrics_count_close(uint16_t code);
/* Records one publish-to-write latency sample (the connection layer samples
 * one per socket write, not one per delivered message). */
void wsh_metrics_observe_latency_ns(uint64_t ns);

/* Appends the Prometheus text exposition (format 0.0.4) of all threads' sums. 0 or WSH_ENOMEM. */
int wsh_metrics_render(wsh_buf_t *out);

#endif
