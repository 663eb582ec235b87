/* Metric registration, recording helpers and the Prometheus renderer. */
#include "obs/metrics.h"

#include <pthread.h>
#include <stddef.h>

#include "core/alloc.h"

#define MAX_THREADS 256

static wsh_metrics_t fallback;
_Thread_local wsh_metrics_t *wsh_metrics_tls = &fallback;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static wsh_metrics_t *registry[MAX_THREADS];
static size_t registry_cnt;

static const uint16_t close_codes[WSH_METRICS_CLOSE_CODES] = {
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 1013, 4001, 4008, 4029, 1006,
};

static const uint64_t lat_bounds_us[WSH_METRICS_LAT_BUCKETS] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 5000000,
};

wsh_metrics_t *wsh_metrics_register(void)
{
    wsh_metrics_t *m = wsh_xcalloc(1, sizeof *m);
    pthread_mutex_lock(&registry_lock);
    if (registry_cnt < MAX_THREADS)
        registry[registry_cnt++] = m;
    pthread_mutex_unlock(&registry_lock);
    wsh_metrics_tls = m;
    return m;
}

void wsh_metrics_count_close(uint16_t code)
{
    size_t i = 0;
    while (i < WSH_METRICS_CLOSE_CODES && close_codes[i] != code)
        i++;
    WSH_METRIC_INC(closes[i]);
}

void wsh_metrics_observe_latency_ns(uint64_t ns)
{
    uint64_t us = ns / 1000;
    size_t i = 0;
    while (i < WSH_METRICS_LAT_BUCKETS && us > lat_bounds_us[i])
        i++;
    WSH_METRIC_INC(lat_buckets[i]);
    WSH_METRIC_INC(lat_count);
    WSH_METRIC_ADD(lat_sum_us, us);
}

uint64_t wsh_metrics_total(size_t offset)
{
    uint64_t total = 0;
    pthread_mutex_lock(&registry_lock);
    for (size_t i = 0; i < registry_cnt; i++)
        total += atomic_load_explicit((wsh_counter_t *)((char *)registry[i] + offset), memory_order_relaxed);
    pthread_mutex_unlock(&registry_lock);
    return total;
}
#define SUM(field) WSH_METRICS_TOTAL(field)

typedef struct simple {
    const char *name;
    const char *type;
    const char *help;
    size_t offset;
} simple_t;

static const simple_t simple_metrics[] = {
    {"wshub_connections", "gauge", "Open TCP connections (HTTP and WebSocket).", offsetof(wsh_metrics_t, conns_open)},
    {"wshub_connections_total", "counter", "TCP connections accepted.", offsetof(wsh_metrics_t, conns_total)},
    {"wshub_clients", "gauge", "Connected WebSocket clients on /ws.", offsetof(wsh_metrics_t, clients_open)},
    {"wshub_clients_total", "counter", "WebSocket clients that connected to /ws.", offsetof(wsh_metrics_t, clients_total)},
    {"wshub_subscriptions", "gauge", "Active channel subscriptions.", offsetof(wsh_metrics_t, subscriptions)},
    {"wshub_channels", "gauge", "Channels with at least one subscriber.", offsetof(wsh_metrics_t, channels)},
    {"wshub_messages_published_total", "counter", "Messages accepted by publish (WebSocket and HTTP).", offsetof(wsh_metrics_t, published)},
    {"wshub_messages_delivered_total", "counter", "Message frames queued to subscribers.", offsetof(wsh_metrics_t, delivered)},
    {"wshub_bytes_received_total", "counter", "Bytes read from sockets.", offsetof(wsh_metrics_t, bytes_in)},
    {"wshub_bytes_sent_total", "counter", "Bytes written to sockets.", offsetof(wsh_metrics_t, bytes_out)},
    {"wshub_slow_consumer_closes_total", "counter", "Connections closed with 4008 because their send queue passed its cap.", offsetof(wsh_metrics_t, slow_closes)},
    {"wshub_http_requests_total", "counter", "HTTP requests answered.", offsetof(wsh_metrics_t, http_requests)},
    {"wshub_dead_letters_total", "counter", "Messages published with receipts that some subscriber did not ack in time.", offsetof(wsh_metrics_t, dead_letters)},
    {"wshub_http_errors_total", "counter", "HTTP requests answered with a 4xx or 5xx status.", offsetof(wsh_metrics_t, http_errors)},
    {"wshub_presence_entries", "gauge", "Subscriptions listed in presence (channels of namespaces with the presence flag).", offsetof(wsh_metrics_t, presence_entries)},
    {"wshub_presence_refused_total", "counter", "Subscriptions left out of presence because a presence cap was reached.", offsetof(wsh_metrics_t, presence_refused)},
    {"wshub_deflate_in_bytes_total", "counter", "permessage-deflate: payload bytes compressed (once per message and window size).", offsetof(wsh_metrics_t, deflate_in_bytes)},
    {"wshub_deflate_out_bytes_total", "counter", "permessage-deflate: compressed size of those payloads.", offsetof(wsh_metrics_t, deflate_out_bytes)},
    {"wshub_inflate_in_bytes_total", "counter", "permessage-deflate: compressed bytes of received messages.", offsetof(wsh_metrics_t, inflate_in_bytes)},
    {"wshub_inflate_out_bytes_total", "counter", "permessage-deflate: inflated size of those messages.", offsetof(wsh_metrics_t, inflate_out_bytes)},
};

int wsh_metrics_render(wsh_buf_t *out)
{
    int rc = 0;
    for (size_t i = 0; i < sizeof simple_metrics / sizeof simple_metrics[0] && !rc; i++) {
        const simple_t *s = &simple_metrics[i];
        rc = wsh_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", s->name, s->help, s->name, s->type,
                             s->name, (unsigned long long)wsh_metrics_total(s->offset));
    }
    if (!rc)
        rc = wsh_buf_appendf(out, "# HELP wshub_ws_closes_total WebSocket close frames sent, by close code.\n"
                                  "# TYPE wshub_ws_closes_total counter\n");
    for (size_t i = 0; i <= WSH_METRICS_CLOSE_CODES && !rc; i++) {
        uint64_t v = wsh_metrics_total(offsetof(wsh_metrics_t, closes) + i * sizeof(wsh_counter_t));
        if (i < WSH_METRICS_CLOSE_CODES)
            rc = wsh_buf_appendf(out, "wshub_ws_closes_total{code=\"%u\"} %llu\n", close_codes[i], (unsigned long long)v);
        else
            rc = wsh_buf_appendf(out, "wshub_ws_closes_total{code=\"other\"} %llu\n", (unsigned long long)v);
    }
    if (!rc)
        rc = wsh_buf_appendf(out, "# HELP wshub_publish_write_latency_seconds Time from accepting a publish to "
                                  "writing its frame to a subscriber's socket.\n"
                                  "# TYPE wshub_publish_write_latency_seconds histogram\n");
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= WSH_METRICS_LAT_BUCKETS && !rc; i++) {
        cumulative += wsh_metrics_total(offsetof(wsh_metrics_t, lat_buckets) + i * sizeof(wsh_counter_t));
        if (i < WSH_METRICS_LAT_BUCKETS)
            rc = wsh_buf_appendf(out, "wshub_publish_write_latency_seconds_bucket{le=\"%g\"} %llu\n",
                                 (double)lat_bounds_us[i] / 1e6, (unsigned long long)cumulative);
        else
            rc = wsh_buf_appendf(out, "wshub_publish_write_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
                                 (unsigned long long)cumulative);
    }
    if (!rc)
        rc = wsh_buf_appendf(out, "wshub_publish_write_latency_seconds_sum %.6f\nwshub_publish_write_latency_seconds_count %llu\n",
                             (double)SUM(lat_sum_us) / 1e6, (unsigned long long)SUM(lat_count));
    return rc;
}
