/* `wshub bench`: flags, the scenario driver (connect, settle, warm up,
 * measure, drain, close) and the JSON report. Not for the wire: connections
 * live in bench_client.c, latency buckets in bench_stats.c, /proc readings
 * in bench_proc.c. */
#include "bench/bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench/bench_client.h"
#include "bench/bench_proc.h"
#include "bench/bench_stats.h"
#include "config.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "loop/loop.h"

#define NS_PER_S 1000000000ull
/* Handshakes in flight at once unless --max-pending says otherwise: enough
 * to fill a server's accept queue, few enough not to overflow it. */
#define DEFAULT_MAX_PENDING 256
/* Below this many subscribers one source address (the kernel's) is enough;
 * each extra address holds this many (ephemeral ports are ~28k per address). */
#define CONNS_PER_SOURCE 20000
/* Time for the server to settle after the last subscribe before RSS is read. */
#define SETTLE_MS 500
#define IDLE_SETTLE_MS 1000
/* After the run, time for servers to answer our close frames. */
#define CLOSE_MS 2000
/* Publishing cap of a --count run without --duration. */
#define COUNT_CAP_MS 60000

typedef enum {
    PH_CONNECT_SUBS,
    PH_CONNECT_PUBS,
    PH_SETTLE,
    PH_WARMUP,
    PH_QUIESCE,
    PH_MEASURE,
    PH_DRAIN,
    PH_HOLD,
    PH_CLOSE,
    PH_END,
} phase_t;

static const char *const phase_names[] = {"connect", "connect", "settle", "warmup", "quiesce",
                                          "measure", "drain",   "idle",   "close",  "end"};

typedef struct opts {
    char url[512];
    char path[256];
    char host[64];
    struct sockaddr_in server;
    wsh_bench_proto_t proto;
    uint32_t subscribers, channels, publishers, inflight, source_addrs, max_pending;
    bool via_http, has_via, has_duration, has_count, has_warmup, has_source_addrs, idle, quiet, deflate;
    double rate, connect_rate;
    uint64_t duration_ms, count, warmup_ms, drain_ms;
    size_t payload;
    long server_pid; /* 0 = none */
} opts_t;

/* The driver's state for one run; lives on wsh_bench_main's stack (the
 * connections and the run are heap arrays freed at its end). */
typedef struct bench {
    opts_t o;
    wsh_loop_t *loop;
    wsh_bench_run_t *run;
    wsh_bench_conn_t *subs, *pubs;
    uint64_t *next_due_ns;      /* per publisher, for --rate */
    uint32_t *chan_subs;        /* ready subscribers per channel */
    struct sockaddr_in *sources;
    uint32_t subs_started, pubs_started;
    uint32_t pending;           /* connections between TCP connect and ready */
    uint32_t ready_subs, ready_pubs, open_conns;
    uint64_t expected;          /* cumulative deliveries due: Σ ready subscribers of each publish's channel */
    phase_t phase;
    uint64_t phase_start_ns, phase_deadline_ns, run_start_ns;
    wsh_timer_t tick;
    uint64_t next_progress_ns;
    wsh_bench_counters_t last;  /* at the previous progress line */
    wsh_bench_counters_t base;  /* at the start of the measured window */
    wsh_bench_counters_t end;   /* at its end (errors are counted to the last close) */
    uint64_t base_expected;
    uint64_t measure_start_ns, publish_end_ns, drain_end_ns;
    uint64_t interval_ns;       /* per publisher, 0 = as fast as acks allow */
    bool is_interrupted, has_rss_before, has_rss_idle, has_rss_end, has_cpu;
    uint64_t rss_before, rss_idle, rss_end;
    double cpu_start, cpu_end, self_cpu_start, self_cpu_end;
    uint32_t ready_at_idle;
} bench_t;

/* ---- flags ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: wshub bench [options]\n\n"
            "Drives a wshub (or a peer: Bun, Node ws, nginx+nchan) on loopback and prints a JSON summary.\n\n"
            "  --url ws://HOST:PORT/PATH   target, 127.0.0.0/8 only (default ws://127.0.0.1:8080/ws)\n"
            "  --protocol wshub|nchan      wire protocol of the target (default wshub)\n"
            "  --subscribers N             subscriber connections (default 100)\n"
            "  --channels C                channels bench.0 .. bench.C-1; subscriber i takes i %% C (default 1)\n"
            "  --publishers P              publisher connections (default 1)\n"
            "  --publish-via ws|http       publish over WebSocket or HTTP POST (default ws; nchan: http)\n"
            "  --rate R                    publishes per second over all publishers, 0 = as fast as acks come (default 0)\n"
            "  --inflight K                unacknowledged publishes per publisher (default 16)\n"
            "  --duration SECONDS          measured publishing time (default 10)\n"
            "  --count M                   publish exactly M messages, then wait for their delivery\n"
            "  --payload BYTES             size of each message's data, >= 32 (default 64)\n"
            "  --warmup SECONDS            unmeasured publishing first (default 1; 0 with --count)\n"
            "  --drain SECONDS             wait for outstanding deliveries after publishing (default 5)\n"
            "  --source-addrs N            bind subscribers to 127.0.0.2 .. 127.0.0.(N+1) (default: one\n"
            "                              address below 20000 subscribers, else one per 20000)\n"
            "  --server-pid PID            report the server's RSS and CPU time from /proc\n"
            "  --idle                      connect and subscribe only, then hold for --duration (scenario S3)\n"
            "  --deflate                   with --idle: offer permessage-deflate (memory of deflate connections)\n"
            "  --connect-rate N            new connections per second while ramping up (default: as accepted)\n"
            "  --max-pending N             handshakes in flight while ramping up (default 256)\n"
            "  --quiet                     no progress lines on stderr\n"
            "  --help                      this text\n");
}

static void bad_value(const char *flag, const char *what, const char *value)
{
    fprintf(stderr, "wshub bench: %s: %s \"%s\"\n", flag, what, value);
}

static int parse_u64(const char *flag, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (s[0] < '0' || s[0] > '9')
        goto bad;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        goto bad;
    *out = v;
    return 0;
bad:;
    char what[96];
    snprintf(what, sizeof what, "must be an integer from %" PRIu64 " to %" PRIu64, min, max);
    bad_value(flag, what, s);
    return -1;
}

static int parse_u32(const char *flag, const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    uint64_t v;
    if (parse_u64(flag, s, min, max, &v) < 0)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_rate(const char *flag, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = (s[0] >= '0' && s[0] <= '9') ? strtod(s, &end) : -1;
    if (v < 0 || errno || *end || !isfinite(v) || v > 1e9) {
        bad_value(flag, "must be a number from 0 to 1e9", s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_seconds(const char *flag, const char *s, uint64_t *ms)
{
    if (wsh_config_parse_duration_ms(s, ms) != 0 || *ms > 86400000ull) {
        bad_value(flag, "must be a duration such as 10, 2.5, 500ms or 1m (at most 24h)", s);
        return -1;
    }
    return 0;
}

/* ws://HOST:PORT/PATH with HOST in 127.0.0.0/8 or "localhost": a bench
 * sends load, and load goes only to this machine. */
static int parse_url(opts_t *o, const char *url)
{
    static const char scheme[] = "ws://";
    if (strlen(url) >= sizeof o->url || strncmp(url, scheme, sizeof scheme - 1) != 0) {
        bad_value("--url", "must look like ws://127.0.0.1:8080/ws", url);
        return -1;
    }
    snprintf(o->url, sizeof o->url, "%s", url);
    const char *h = url + sizeof scheme - 1;
    const char *slash = strchr(h, '/');
    const char *hend = slash ? slash : h + strlen(h);
    const char *colon = memchr(h, ':', (size_t)(hend - h));
    const char *name_end = colon ? colon : hend;
    char name[64];
    if ((size_t)(name_end - h) == 0 || (size_t)(name_end - h) >= sizeof name) {
        bad_value("--url", "has no host", url);
        return -1;
    }
    memcpy(name, h, (size_t)(name_end - h));
    name[name_end - h] = '\0';
    uint32_t port = 80;
    if (colon) {
        char portbuf[8];
        size_t plen = (size_t)(hend - colon - 1);
        if (plen == 0 || plen >= sizeof portbuf) {
            bad_value("--url", "has a bad port", url);
            return -1;
        }
        memcpy(portbuf, colon + 1, plen);
        portbuf[plen] = '\0';
        if (parse_u32("--url port", portbuf, 1, 65535, &port) != 0)
            return -1;
    }
    struct in_addr a;
    if (strcmp(name, "localhost") == 0)
        a.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, name, &a) != 1) {
        bad_value("--url", "host must be an IPv4 loopback address (127.0.0.0/8) or localhost", name);
        return -1;
    }
    if ((ntohl(a.s_addr) >> 24) != 127) {
        bad_value("--url", "refusing a non-loopback host: only 127.0.0.0/8 may be loaded", name);
        return -1;
    }
    const char *path = slash ? slash : "/";
    if (strlen(path) >= sizeof o->path) {
        bad_value("--url", "path too long", path);
        return -1;
    }
    for (const char *p = path; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\') {
            bad_value("--url", "path must be printable ASCII without spaces, quotes or backslashes", path);
            return -1;
        }
    snprintf(o->path, sizeof o->path, "%s", path);
    snprintf(o->host, sizeof o->host, "%.*s", (int)(hend - h), h);
    memset(&o->server, 0, sizeof o->server);
    o->server.sin_family = AF_INET;
    o->server.sin_addr = a;
    o->server.sin_port = htons((uint16_t)port);
    return 0;
}

/* Returns 0, 1 after --help, or -1 after a bad flag. */
static int parse_flags(opts_t *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->subscribers = 100;
    o->channels = 1;
    o->publishers = 1;
    o->inflight = 16;
    o->duration_ms = 10000;
    o->warmup_ms = 1000;
    o->drain_ms = 5000;
    o->payload = 64;
    o->max_pending = DEFAULT_MAX_PENDING;
    if (parse_url(o, "ws://127.0.0.1:8080/ws") != 0)
        return -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(a, "--idle") == 0) {
            o->idle = true;
            continue;
        }
        if (strcmp(a, "--deflate") == 0) {
            o->deflate = true;
            continue;
        }
        if (strcmp(a, "--quiet") == 0) {
            o->quiet = true;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            bad_value("wshub bench", "unexpected argument", a);
            return -1;
        }
        /* --flag value or --flag=value */
        char flag[48];
        const char *v;
        const char *eq = strchr(a, '=');
        if (eq) {
            snprintf(flag, sizeof flag, "%.*s", (int)(eq - a), a);
            v = eq + 1;
        } else {
            snprintf(flag, sizeof flag, "%s", a);
            if (i + 1 >= argc) {
                bad_value(flag, "needs a value", "");
                return -1;
            }
            v = argv[++i];
        }
        int rc;
        uint64_t u64;
        if (strcmp(flag, "--url") == 0) {
            rc = parse_url(o, v);
        } else if (strcmp(flag, "--protocol") == 0) {
            rc = 0;
            if (strcmp(v, "wshub") == 0)
                o->proto = WSH_BENCH_PROTO_WSHUB;
            else if (strcmp(v, "nchan") == 0)
                o->proto = WSH_BENCH_PROTO_NCHAN;
            else
                bad_value(flag, "must be wshub or nchan", v), rc = -1;
        } else if (strcmp(flag, "--subscribers") == 0) {
            rc = parse_u32(flag, v, 0, 10000000, &o->subscribers);
        } else if (strcmp(flag, "--channels") == 0) {
            rc = parse_u32(flag, v, 1, 1000000, &o->channels);
        } else if (strcmp(flag, "--publishers") == 0) {
            rc = parse_u32(flag, v, 1, 10000, &o->publishers);
        } else if (strcmp(flag, "--publish-via") == 0) {
            rc = 0;
            o->has_via = true;
            if (strcmp(v, "ws") == 0)
                o->via_http = false;
            else if (strcmp(v, "http") == 0)
                o->via_http = true;
            else
                bad_value(flag, "must be ws or http", v), rc = -1;
        } else if (strcmp(flag, "--rate") == 0) {
            rc = parse_rate(flag, v, &o->rate);
        } else if (strcmp(flag, "--inflight") == 0) {
            rc = parse_u32(flag, v, 1, 65536, &o->inflight);
        } else if (strcmp(flag, "--duration") == 0) {
            rc = parse_seconds(flag, v, &o->duration_ms);
            o->has_duration = true;
            if (rc == 0 && o->duration_ms == 0)
                bad_value(flag, "must be more than 0", v), rc = -1;
        } else if (strcmp(flag, "--count") == 0) {
            rc = parse_u64(flag, v, 1, UINT64_C(1) << 40, &o->count);
            o->has_count = true;
        } else if (strcmp(flag, "--payload") == 0) {
            rc = parse_u64(flag, v, 32, 16u << 20, &u64);
            o->payload = (size_t)u64;
        } else if (strcmp(flag, "--warmup") == 0) {
            rc = parse_seconds(flag, v, &o->warmup_ms);
            o->has_warmup = true;
        } else if (strcmp(flag, "--drain") == 0) {
            rc = parse_seconds(flag, v, &o->drain_ms);
        } else if (strcmp(flag, "--source-addrs") == 0) {
            rc = parse_u32(flag, v, 0, 254, &o->source_addrs);
            o->has_source_addrs = true;
        } else if (strcmp(flag, "--server-pid") == 0) {
            rc = parse_u64(flag, v, 1, INT_MAX, &u64);
            o->server_pid = (long)u64;
        } else if (strcmp(flag, "--connect-rate") == 0) {
            rc = parse_rate(flag, v, &o->connect_rate);
        } else if (strcmp(flag, "--max-pending") == 0) {
            rc = parse_u32(flag, v, 1, 1000000, &o->max_pending);
        } else {
            bad_value("wshub bench", "unknown option", flag);
            rc = -1;
        }
        if (rc != 0)
            return -1;
    }
    if (o->proto == WSH_BENCH_PROTO_NCHAN) {
        if (o->has_via && !o->via_http) {
            bad_value("--publish-via", "nchan takes publishes over HTTP only (use http)", "ws");
            return -1;
        }
        o->via_http = true;
    }
    if (o->has_count && !o->has_warmup)
        o->warmup_ms = 0; /* "exactly M messages" means no warm-up publishes unless asked */
    /* The generator does not inflate: it only holds idle deflate
     * connections (welcome and subscribed stay under the threshold). */
    if (o->deflate && !o->idle) {
        bad_value("--deflate", "needs --idle", "");
        return -1;
    }
    if (!o->has_source_addrs) {
        o->source_addrs = 0;
        if (o->subscribers >= CONNS_PER_SOURCE)
            o->source_addrs = (o->subscribers + CONNS_PER_SOURCE - 1) / CONNS_PER_SOURCE;
        if (o->source_addrs > 254)
            o->source_addrs = 254;
    }
    if (o->server_pid) {
        uint64_t rss;
        int rc = wsh_bench_proc_rss((pid_t)o->server_pid, &rss);
        if (rc != 0) {
            char pid[24];
            snprintf(pid, sizeof pid, "%ld", o->server_pid);
            bad_value("--server-pid", rc == -ENOENT ? "no such process" : "cannot read /proc/PID/status", pid);
            return -1;
        }
    }
    return 0;
}

/* Raises the soft fd limit to the hard one; -1 after a message when the
 * connections asked for cannot fit. */
static int ensure_fds(const opts_t *o)
{
    uint64_t need = (uint64_t)o->subscribers + (o->idle ? 0 : o->publishers) + 32;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < need && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        char v[24];
        snprintf(v, sizeof v, "%u", o->subscribers);
        char what[128];
        snprintf(what, sizeof what, "needs %" PRIu64 " file descriptors but the limit is %llu (raise ulimit -n)",
                 need, (unsigned long long)rl.rlim_cur);
        bad_value("--subscribers", what, v);
        return -1;
    }
    return 0;
}

/* ---- the scenario ---- */

static bool is_pending(uint8_t st) { return st >= WSH_BENCH_ST_CONNECTING && st <= WSH_BENCH_ST_SUBSCRIBING; }
static bool is_open(uint8_t st) { return st >= WSH_BENCH_ST_CONNECTING && st <= WSH_BENCH_ST_CLOSING; }

static void on_state(wsh_bench_run_t *run, wsh_bench_conn_t *c, wsh_bench_state_t old)
{
    bench_t *b = run->data;
    b->pending += is_pending(c->state);
    b->pending -= is_pending((uint8_t)old);
    b->open_conns += is_open(c->state);
    b->open_conns -= is_open((uint8_t)old);
    bool is_sub = c->role == WSH_BENCH_ROLE_SUB;
    if (c->state == WSH_BENCH_ST_READY) {
        if (is_sub) {
            b->ready_subs++;
            b->chan_subs[c->channel]++;
        } else {
            b->ready_pubs++;
        }
    }
    if (old == WSH_BENCH_ST_READY) {
        if (is_sub) {
            b->ready_subs--;
            b->chan_subs[c->channel]--;
        } else {
            b->ready_pubs--;
        }
    }
}

static uint64_t inflight_total(const bench_t *b)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < b->pubs_started; i++)
        if (b->pubs[i].state == WSH_BENCH_ST_READY)
            n += b->pubs[i].inflight;
    return n;
}

static uint64_t errors_total(const wsh_bench_counters_t *k)
{
    return k->err_connect + k->err_handshake + k->err_protocol + k->err_closed;
}

static void progress(bench_t *b, uint64_t now)
{
    const wsh_bench_counters_t *k = &b->run->cnt;
    double dt = 1.0;
    if (!b->o.quiet) {
        fprintf(stderr,
                "wshub bench: %6.1fs %-8s conns %u/%u pub/s %9.0f deliv/s %10.0f inflight %5" PRIu64
                " errors c/h/p/x %" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64 "\n",
                (double)(now - b->run_start_ns) / 1e9, phase_names[b->phase], b->ready_subs, b->o.subscribers,
                (double)(k->published - b->last.published) / dt, (double)(k->delivered - b->last.delivered) / dt,
                inflight_total(b), k->err_connect, k->err_handshake, k->err_protocol, k->err_closed);
    }
    b->last = *k;
}

static void set_phase(bench_t *b, phase_t ph, uint64_t now, uint64_t len_ms)
{
    b->phase = ph;
    b->phase_start_ns = now;
    b->phase_deadline_ns = now + len_ms * 1000000ull;
}

static void read_rss(const bench_t *b, uint64_t *out, bool *has)
{
    *has = b->o.server_pid && wsh_bench_proc_rss((pid_t)b->o.server_pid, out) == 0;
}

static void start_cpu(bench_t *b)
{
    b->self_cpu_start = wsh_bench_proc_self_cpu_s();
    b->has_cpu = b->o.server_pid && wsh_bench_proc_cpu_s((pid_t)b->o.server_pid, &b->cpu_start) == 0;
}

static void end_cpu(bench_t *b)
{
    b->self_cpu_end = wsh_bench_proc_self_cpu_s();
    if (b->has_cpu)
        b->has_cpu = wsh_bench_proc_cpu_s((pid_t)b->o.server_pid, &b->cpu_end) == 0;
}

static void start_measure(bench_t *b, uint64_t now)
{
    b->base = b->run->cnt;
    b->base_expected = b->expected;
    wsh_bench_hist_init(&b->run->hist);
    b->run->is_measuring = true;
    b->run->measure_start_ns = now;
    b->measure_start_ns = now;
    for (uint32_t i = 0; i < b->o.publishers; i++)
        b->next_due_ns[i] = now;
    start_cpu(b);
    uint64_t len_ms = b->o.has_count ? (b->o.has_duration ? b->o.duration_ms : COUNT_CAP_MS) : b->o.duration_ms;
    set_phase(b, PH_MEASURE, now, len_ms);
}

static void start_close(bench_t *b, uint64_t now)
{
    set_phase(b, PH_CLOSE, now, CLOSE_MS);
    for (uint32_t i = 0; i < b->subs_started; i++)
        wsh_bench_conn_close(&b->subs[i]);
    for (uint32_t i = 0; i < b->pubs_started; i++)
        wsh_bench_conn_close(&b->pubs[i]);
}

/* Everything published has been answered and delivered: in the measured
 * window, counting only measured deliveries; before it, all of them. */
static bool is_drained(const bench_t *b)
{
    if (inflight_total(b) != 0)
        return false;
    if (b->run->is_measuring)
        return b->run->cnt.measured - b->base.measured >= b->expected - b->base_expected;
    return b->run->cnt.delivered >= b->expected;
}

/* Connections still handshaking at a deadline count as handshake errors. */
static void abort_pending(bench_t *b, wsh_bench_conn_t *conns, uint32_t cnt)
{
    for (uint32_t i = 0; i < cnt; i++)
        if (is_pending(conns[i].state)) {
            if (conns[i].state == WSH_BENCH_ST_CONNECTING)
                b->run->cnt.err_connect++;
            else
                b->run->cnt.err_handshake++;
            wsh_bench_conn_abort(&conns[i]);
        }
}

static void after_connect(bench_t *b, uint64_t now)
{
    read_rss(b, &b->rss_idle, &b->has_rss_idle);
    b->ready_at_idle = b->ready_subs;
    if (b->o.idle) {
        start_cpu(b);
        b->measure_start_ns = now;
        set_phase(b, PH_HOLD, now, b->o.duration_ms);
    } else if (b->o.warmup_ms > 0) {
        for (uint32_t i = 0; i < b->o.publishers; i++)
            b->next_due_ns[i] = now;
        set_phase(b, PH_WARMUP, now, b->o.warmup_ms);
    } else {
        start_measure(b, now);
    }
}

static uint64_t connect_deadline_ms(const opts_t *o, uint32_t n)
{
    double per_s = o->connect_rate > 0 ? o->connect_rate : 2000.0;
    return 30000 + (uint64_t)((double)n / per_s * 1000.0);
}

/* Moves the scenario on; runs every iteration (cheap when nothing is due). */
static void advance(bench_t *b)
{
    uint64_t now = wsh_clock_mono_ns();
    if (now >= b->next_progress_ns && b->phase != PH_END) {
        progress(b, now);
        b->next_progress_ns += NS_PER_S;
        if (b->next_progress_ns <= now)
            b->next_progress_ns = now + NS_PER_S;
    }
    bool is_late = now >= b->phase_deadline_ns;
    switch (b->phase) {
    case PH_CONNECT_SUBS:
        if (b->subs_started == b->o.subscribers && b->pending == 0) {
            set_phase(b, PH_CONNECT_PUBS, now, connect_deadline_ms(&b->o, b->o.publishers));
        } else if (is_late) {
            abort_pending(b, b->subs, b->subs_started);
            b->run->cnt.err_connect += b->o.subscribers - b->subs_started;
            b->subs_started = b->o.subscribers;
            set_phase(b, PH_CONNECT_PUBS, now, connect_deadline_ms(&b->o, b->o.publishers));
        }
        if (b->phase == PH_CONNECT_PUBS && b->o.idle)
            set_phase(b, PH_SETTLE, now, IDLE_SETTLE_MS);
        break;
    case PH_CONNECT_PUBS:
        if (b->pubs_started == b->o.publishers && b->pending == 0) {
            set_phase(b, PH_SETTLE, now, SETTLE_MS);
        } else if (is_late) {
            abort_pending(b, b->pubs, b->pubs_started);
            b->run->cnt.err_connect += b->o.publishers - b->pubs_started;
            b->pubs_started = b->o.publishers;
            set_phase(b, PH_SETTLE, now, SETTLE_MS);
        }
        break;
    case PH_SETTLE:
        if (is_late)
            after_connect(b, now);
        break;
    case PH_WARMUP:
        /* With no publisher left (all failed), waiting out the phase is
         * pointless. */
        if (is_late || b->ready_pubs == 0)
            set_phase(b, PH_QUIESCE, now, b->o.drain_ms);
        break;
    case PH_QUIESCE:
        if (is_drained(b) || is_late)
            start_measure(b, now);
        break;
    case PH_MEASURE: {
        bool is_done = b->o.has_count && b->run->cnt.published - b->base.published >= b->o.count;
        if (is_done || is_late || b->ready_pubs == 0) {
            b->publish_end_ns = now;
            set_phase(b, PH_DRAIN, now, b->o.drain_ms);
        }
        break;
    }
    case PH_DRAIN:
        if (is_drained(b) || is_late) {
            b->drain_end_ns = now;
            b->run->is_measuring = false;
            b->end = b->run->cnt;
            end_cpu(b);
            read_rss(b, &b->rss_end, &b->has_rss_end);
            start_close(b, now);
        }
        break;
    case PH_HOLD:
        if (is_late) {
            b->publish_end_ns = b->drain_end_ns = now;
            end_cpu(b);
            read_rss(b, &b->rss_end, &b->has_rss_end);
            start_close(b, now);
        }
        break;
    case PH_CLOSE:
        if (b->open_conns == 0 || is_late) {
            for (uint32_t i = 0; i < b->subs_started; i++)
                wsh_bench_conn_abort(&b->subs[i]);
            for (uint32_t i = 0; i < b->pubs_started; i++)
                wsh_bench_conn_abort(&b->pubs[i]);
            b->phase = PH_END;
            wsh_loop_stop(b->loop);
        }
        break;
    case PH_END:
        break;
    }
}

/* Starts connections up to the pending bound and the connect rate. */
static void top_up(bench_t *b, bool is_sub)
{
    uint32_t *started = is_sub ? &b->subs_started : &b->pubs_started;
    uint32_t total = is_sub ? b->o.subscribers : b->o.publishers;
    wsh_bench_conn_t *conns = is_sub ? b->subs : b->pubs;
    uint64_t allowed = total;
    if (b->o.connect_rate > 0) {
        double s = (double)(wsh_clock_mono_ns() - b->phase_start_ns) / 1e9;
        allowed = (uint64_t)(s * b->o.connect_rate) + 1;
    }
    while (*started < total && *started < allowed && b->pending < b->o.max_pending) {
        uint32_t i = (*started)++;
        const struct sockaddr_in *src = NULL;
        wsh_bench_role_t role = WSH_BENCH_ROLE_SUB;
        uint32_t ch = i % b->o.channels;
        if (is_sub) {
            if (b->o.source_addrs)
                src = &b->sources[i % b->o.source_addrs];
        } else {
            role = b->o.via_http ? WSH_BENCH_ROLE_PUB_HTTP : WSH_BENCH_ROLE_PUB_WS;
        }
        wsh_bench_conn_start(b->run, &conns[i], role, ch, src);
    }
}

/* Sends what each ready publisher may send now: up to its window, and with
 * --rate, what its schedule has made due. One flush per publisher. */
static void pump(bench_t *b)
{
    bool is_measure = b->phase == PH_MEASURE;
    uint64_t now = wsh_clock_mono_ns();
    for (uint32_t p = 0; p < b->pubs_started; p++) {
        wsh_bench_conn_t *c = &b->pubs[p];
        if (c->state != WSH_BENCH_ST_READY)
            continue;
        uint32_t sent = 0;
        if (b->interval_ns) {
            /* A schedule that fell behind (the server is slower than --rate)
             * catches up by at most one window, not with a burst of all it
             * missed. */
            uint64_t slack = b->interval_ns * b->o.inflight;
            if (b->next_due_ns[p] + slack < now)
                b->next_due_ns[p] = now - slack;
        }
        while (c->inflight < b->o.inflight) {
            if (is_measure && b->o.has_count && b->run->cnt.published - b->base.published >= b->o.count)
                break;
            if (b->interval_ns) {
                if (b->next_due_ns[p] > now)
                    break;
                b->next_due_ns[p] += b->interval_ns;
            }
            uint32_t ch = c->channel;
            wsh_bench_conn_publish(c, ch, now);
            b->run->cnt.published++;
            b->expected += b->chan_subs[ch];
            c->channel = ch + 1 == b->o.channels ? 0 : ch + 1;
            sent++;
        }
        if (sent)
            wsh_bench_conn_flush(c);
    }
}

static bool on_before_sleep(wsh_loop_t *loop, void *data)
{
    (void)loop;
    bench_t *b = data;
    switch (b->phase) {
    case PH_CONNECT_SUBS:
        top_up(b, true);
        break;
    case PH_CONNECT_PUBS:
        top_up(b, false);
        break;
    case PH_WARMUP:
    case PH_MEASURE:
        pump(b);
        break;
    default:
        break;
    }
    advance(b);
    if (b->phase == PH_CONNECT_SUBS)
        top_up(b, true);
    else if (b->phase == PH_CONNECT_PUBS)
        top_up(b, false);
    return false;
}

static void on_tick(wsh_timer_t *t)
{
    bench_t *b = WSH_CONTAINER_OF(t, bench_t, tick);
    /* The before-sleep hook does the work; the tick only bounds the sleep:
     * 1 ms while a schedule (--rate, --connect-rate) needs it, else 20 ms. */
    bool is_paced = (b->interval_ns && (b->phase == PH_WARMUP || b->phase == PH_MEASURE)) ||
                    (b->o.connect_rate > 0 && (b->phase == PH_CONNECT_SUBS || b->phase == PH_CONNECT_PUBS));
    if (b->phase != PH_END)
        wsh_loop_timer_start(b->loop, &b->tick, is_paced ? 1 : 20);
}

static void on_signal(wsh_loop_t *loop, int signo, void *data)
{
    (void)loop;
    (void)signo;
    bench_t *b = data;
    uint64_t now = wsh_clock_mono_ns();
    b->is_interrupted = true;
    if (b->phase == PH_MEASURE) {
        b->phase_deadline_ns = now; /* drain what was sent, then report */
    } else if (b->phase == PH_DRAIN || b->phase == PH_HOLD) {
        b->phase_deadline_ns = now;
    } else if (b->phase != PH_CLOSE && b->phase != PH_END) {
        start_close(b, now);
    } else {
        b->phase_deadline_ns = now;
    }
}

/* ---- the report ---- */

static void put_us(FILE *out, const char *key, uint64_t ns, bool has, bool comma)
{
    if (has)
        fprintf(out, "\"%s\":%.1f%s", key, (double)ns / 1000.0, comma ? "," : "");
    else
        fprintf(out, "\"%s\":null%s", key, comma ? "," : "");
}

static void put_opt_u64(FILE *out, const char *key, uint64_t v, bool has, bool comma)
{
    if (has)
        fprintf(out, "\"%s\":%" PRIu64 "%s", key, v, comma ? "," : "");
    else
        fprintf(out, "\"%s\":null%s", key, comma ? "," : "");
}

static void put_opt_f(FILE *out, const char *key, double v, bool has, bool comma)
{
    if (has && isfinite(v))
        fprintf(out, "\"%s\":%.3f%s", key, v, comma ? "," : "");
    else
        fprintf(out, "\"%s\":null%s", key, comma ? "," : "");
}

static double seconds(uint64_t from, uint64_t to) { return to > from ? (double)(to - from) / 1e9 : 0.0; }

static int report(bench_t *b)
{
    const opts_t *o = &b->o;
    const wsh_bench_counters_t *k = &b->run->cnt;
    const wsh_bench_hist_t *h = &b->run->hist;
    bool is_idle = o->idle;
    uint64_t published = is_idle ? 0 : b->end.published - b->base.published;
    uint64_t delivered = is_idle ? 0 : b->end.measured - b->base.measured;
    uint64_t expected = is_idle ? 0 : b->expected - b->base_expected;
    double pub_window = seconds(b->measure_start_ns, b->publish_end_ns);
    uint64_t last = b->run->last_delivery_ns;
    if (last < b->publish_end_ns)
        last = b->publish_end_ns;
    if (last > b->drain_end_ns)
        last = b->drain_end_ns;
    double deliv_window = seconds(b->measure_start_ns, last);
    bool has_lat = h->cnt > 0;
    bool has_pid = o->server_pid != 0;
    double cpu = b->cpu_end - b->cpu_start;
    double self_cpu = b->self_cpu_end - b->self_cpu_start;
    /* The window the CPU times cover: measuring (or holding) through the drain. */
    double window = seconds(b->measure_start_ns, b->drain_end_ns);
    uint32_t conns = b->ready_at_idle;
    FILE *out = stdout;

    fprintf(out, "{\"tool\":\"wshub bench\",\"protocol\":\"%s\",\"url\":\"%s\",",
            o->proto == WSH_BENCH_PROTO_NCHAN ? "nchan" : "wshub", o->url);
    fprintf(out, "\"subscribers\":%u,\"channels\":%u,\"publishers\":%u,\"publish_via\":\"%s\",\"payload\":%zu,",
            o->subscribers, o->channels, is_idle ? 0 : o->publishers, o->via_http ? "http" : "ws", o->payload);
    fprintf(out, "\"idle\":%s,\"rate\":%.1f,\"inflight\":%u,", is_idle ? "true" : "false", o->rate, o->inflight);
    put_opt_u64(out, "count", o->count, o->has_count, true);
    fprintf(out, "\"warmup_s\":%.3f,\"duration_s\":%.3f,\"delivery_window_s\":%.3f,", is_idle ? 0.0 : o->warmup_ms / 1e3,
            is_idle ? seconds(b->measure_start_ns, b->drain_end_ns) : pub_window, deliv_window);
    fprintf(out, "\"subscribers_ready\":%u,", b->ready_at_idle);
    fprintf(out, "\"published\":%" PRIu64 ",\"publish_per_s\":%.1f,", published,
            pub_window > 0 ? (double)published / pub_window : 0.0);
    fprintf(out, "\"delivered\":%" PRIu64 ",\"delivered_expected\":%" PRIu64 ",\"delivered_per_s\":%.1f,", delivered,
            expected, deliv_window > 0 ? (double)delivered / deliv_window : 0.0);
    fprintf(out, "\"latency_us\":{");
    put_us(out, "p50", wsh_bench_hist_percentile(h, 0.50), has_lat, true);
    put_us(out, "p90", wsh_bench_hist_percentile(h, 0.90), has_lat, true);
    put_us(out, "p99", wsh_bench_hist_percentile(h, 0.99), has_lat, true);
    put_us(out, "p999", wsh_bench_hist_percentile(h, 0.999), has_lat, true);
    put_us(out, "max", h->max, has_lat, true);
    put_us(out, "mean", (uint64_t)wsh_bench_hist_mean(h), has_lat, true);
    fprintf(out, "\"samples\":%" PRIu64 "},", h->cnt);
    fprintf(out,
            "\"errors\":{\"connect\":%" PRIu64 ",\"handshake\":%" PRIu64 ",\"protocol\":%" PRIu64
            ",\"closed\":%" PRIu64 "},",
            k->err_connect, k->err_handshake, k->err_protocol, k->err_closed);
    fprintf(out, "\"server\":{");
    if (has_pid)
        fprintf(out, "\"pid\":%ld,", o->server_pid);
    else
        fprintf(out, "\"pid\":null,");
    put_opt_u64(out, "rss_before", b->rss_before, b->has_rss_before, true);
    put_opt_u64(out, "rss_idle", b->rss_idle, b->has_rss_idle, true);
    put_opt_u64(out, "rss_end", b->rss_end, b->has_rss_end, true);
    bool has_per_conn = b->has_rss_before && b->has_rss_idle && conns > 0;
    double per_conn = has_per_conn ? ((double)b->rss_idle - (double)b->rss_before) / conns : 0.0;
    put_opt_f(out, "rss_per_conn", per_conn, has_per_conn, true);
    put_opt_f(out, "cpu_s", cpu, b->has_cpu, true);
    put_opt_f(out, "cpu_s_per_million_deliveries", cpu / (double)delivered * 1e6, b->has_cpu && delivered > 0,
              true);
    put_opt_f(out, "cpu_util", cpu / window, b->has_cpu && window > 0, false);
    fprintf(out, "},\"self\":{");
    put_opt_f(out, "cpu_s", self_cpu, true, true);
    put_opt_f(out, "cpu_s_per_million_deliveries", self_cpu / (double)delivered * 1e6, delivered > 0, true);
    put_opt_f(out, "cpu_util", self_cpu / window, window > 0, true);
    fprintf(out, "\"max_rss\":%" PRIu64 "},", wsh_bench_proc_self_maxrss());
    fprintf(out, "\"interrupted\":%s}\n", b->is_interrupted ? "true" : "false");
    fflush(out);

    /* Exit status: errors past one per thousand subscribers (so any error
     * in a small run), a run that delivered nothing, or a --count run that
     * could not publish its count, mean the numbers do not stand. */
    uint64_t errs = errors_total(k);
    int rc = 0;
    if (errs > o->subscribers / 1000) {
        fprintf(stderr, "wshub bench: %" PRIu64 " errors (connect %" PRIu64 ", handshake %" PRIu64 ", protocol %" PRIu64
                ", closed %" PRIu64 ")\n", errs, k->err_connect, k->err_handshake, k->err_protocol, k->err_closed);
        rc = 1;
    }
    if (!is_idle && b->ready_at_idle > 0 && published > 0 && delivered == 0) {
        fprintf(stderr, "wshub bench: nothing was delivered\n");
        rc = 1;
    }
    if (!is_idle && o->has_count && published < o->count) {
        fprintf(stderr, "wshub bench: published %" PRIu64 " of --count %" PRIu64 "\n", published, o->count);
        rc = 1;
    }
    /* One thread: near a full core, the bench rather than the server may
     * be what limits the numbers. */
    if (window > 0 && self_cpu / window > 0.9)
        fprintf(stderr, "wshub bench: warning: the bench itself used %.0f%% of a CPU in the window; "
                        "the numbers may be limited by the bench\n", 100.0 * self_cpu / window);
    if (!is_idle && delivered < expected)
        fprintf(stderr, "wshub bench: %" PRIu64 " of %" PRIu64 " deliveries missing at the drain deadline\n",
                expected - delivered, expected);
    return rc;
}

int wsh_bench_main(int argc, char **argv)
{
    bench_t b;
    memset(&b, 0, sizeof b);
    int rc = parse_flags(&b.o, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (ensure_fds(&b.o) != 0)
        return 2;
    const opts_t *o = &b.o;

    b.loop = wsh_loop_new();
    b.run = wsh_xcalloc(1, sizeof *b.run);
    b.subs = wsh_xcalloc(o->subscribers ? o->subscribers : 1, sizeof *b.subs);
    b.pubs = wsh_xcalloc(o->publishers, sizeof *b.pubs);
    b.next_due_ns = wsh_xcalloc(o->publishers, sizeof *b.next_due_ns);
    b.chan_subs = wsh_xcalloc(o->channels, sizeof *b.chan_subs);
    b.sources = wsh_xcalloc(o->source_addrs ? o->source_addrs : 1, sizeof *b.sources);
    for (uint32_t i = 0; i < o->subscribers; i++) {
        b.subs[i].index = i;
        b.subs[i].io.fd = -1;
    }
    for (uint32_t i = 0; i < o->publishers; i++) {
        b.pubs[i].index = i;
        b.pubs[i].io.fd = -1;
    }
    for (uint32_t i = 0; i < o->source_addrs; i++) {
        b.sources[i].sin_family = AF_INET;
        b.sources[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + i); /* 127.0.0.2 + i */
    }

    wsh_bench_run_t *run = b.run;
    run->loop = b.loop;
    run->proto = o->proto;
    run->server = o->server;
    snprintf(run->host, sizeof run->host, "%s", o->host);
    snprintf(run->ws_path, sizeof run->ws_path, "%s", o->path);
    run->offer_deflate = o->deflate;
    run->payload_len = o->payload;
    if (getrandom(&run->rng, sizeof run->rng, 0) != sizeof run->rng || run->rng == 0)
        run->rng = wsh_clock_mono_ns() | 1;
    wsh_bench_hist_init(&run->hist);
    run->on_state = on_state;
    run->data = &b;
    if (o->rate > 0)
        b.interval_ns = (uint64_t)((double)NS_PER_S * o->publishers / o->rate);
    if (o->rate > 0 && b.interval_ns == 0)
        b.interval_ns = 1;

    read_rss(&b, &b.rss_before, &b.has_rss_before);
    uint64_t now = wsh_clock_mono_ns();
    b.run_start_ns = now;
    b.next_progress_ns = now + NS_PER_S;
    set_phase(&b, PH_CONNECT_SUBS, now, connect_deadline_ms(o, o->subscribers));
    wsh_loop_add_before_sleep(b.loop, on_before_sleep, &b);
    wsh_timer_init(&b.tick, on_tick);
    wsh_loop_timer_start(b.loop, &b.tick, 1);
    wsh_loop_signal_start(b.loop, SIGINT, on_signal, &b);
    wsh_loop_signal_start(b.loop, SIGTERM, on_signal, &b);
    if (!o->quiet)
        fprintf(stderr, "wshub bench: %s %s, %u subscribers on %u channels, %u %s publishers\n",
                o->proto == WSH_BENCH_PROTO_NCHAN ? "nchan" : "wshub", o->url, o->subscribers, o->channels,
                o->idle ? 0 : o->publishers, o->via_http ? "http" : "ws");

    wsh_loop_run(b.loop);

    rc = report(&b);
    wsh_loop_timer_stop(b.loop, &b.tick);
    wsh_loop_free(b.loop);
    free(b.sources);
    free(b.chan_subs);
    free(b.next_due_ns);
    free(b.pubs);
    free(b.subs);
    free(b.run);
    return rc;
}
