/* /proc readers for the bench: a server's RSS and CPU time, and the bench's
 * own. Not for anything on the per-message path (each read is a few syscalls). */
#include "bench/bench_proc.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/err.h"

/* Parses decimal digits at s[*i..len) into *out; false when there are none
 * or they overflow. Advances *i past them. */
static bool parse_u64(const char *s, size_t len, size_t *i, uint64_t *out)
{
    uint64_t v = 0;
    size_t start = *i;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        unsigned d = (unsigned)(s[*i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
        (*i)++;
    }
    *out = v;
    return *i > start;
}

int wsh_bench_proc_parse_rss(const char *status, size_t len, uint64_t *bytes)
{
    static const char key[] = "VmRSS:";
    for (size_t i = 0; i + sizeof key - 1 <= len;) {
        if (memcmp(status + i, key, sizeof key - 1) == 0) {
            i += sizeof key - 1;
            while (i < len && (status[i] == ' ' || status[i] == '\t'))
                i++;
            uint64_t kib;
            if (!parse_u64(status, len, &i, &kib))
                return WSH_EBADREQ;
            if (len - i < 3 || memcmp(status + i, " kB", 3) != 0 || kib > UINT64_MAX / 1024)
                return WSH_EBADREQ;
            *bytes = kib * 1024;
            return 0;
        }
        const char *nl = memchr(status + i, '\n', len - i);
        if (!nl)
            break;
        i = (size_t)(nl - status) + 1;
    }
    return WSH_EBADREQ;
}

int wsh_bench_proc_parse_cpu_ticks(const char *stat, size_t len, uint64_t *ticks)
{
    const char *rp = NULL;
    for (size_t i = len; i > 0; i--)
        if (stat[i - 1] == ')') {
            rp = stat + i - 1;
            break;
        }
    if (!rp)
        return WSH_EBADREQ;
    /* After ") " come field 3 (state) onwards: utime is field 14, the 12th
     * field after the parenthesis, and stime the 13th. */
    size_t i = (size_t)(rp - stat) + 1;
    uint64_t utime = 0, stime = 0;
    for (unsigned field = 3; field <= 15; field++) {
        if (i >= len || stat[i] != ' ')
            return WSH_EBADREQ;
        i++;
        if (field == 14 || field == 15) {
            if (!parse_u64(stat, len, &i, field == 14 ? &utime : &stime))
                return WSH_EBADREQ;
        } else {
            while (i < len && stat[i] != ' ')
                i++;
        }
    }
    if (utime > UINT64_MAX - stime)
        return WSH_EBADREQ;
    *ticks = utime + stime;
    return 0;
}

/* Reads /proc/<pid>/<name> into buf (NUL-terminated); length or -errno. */
static long read_proc_file(pid_t pid, const char *name, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/%s", (long)pid, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            close(fd);
            return -err;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return (long)len;
}

int wsh_bench_proc_rss(pid_t pid, uint64_t *bytes)
{
    char buf[4096];
    long n = read_proc_file(pid, "status", buf, sizeof buf);
    if (n < 0)
        return (int)n;
    return wsh_bench_proc_parse_rss(buf, (size_t)n, bytes);
}

int wsh_bench_proc_cpu_s(pid_t pid, double *seconds)
{
    char buf[1024];
    long n = read_proc_file(pid, "stat", buf, sizeof buf);
    if (n < 0)
        return (int)n;
    uint64_t ticks;
    int rc = wsh_bench_proc_parse_cpu_ticks(buf, (size_t)n, &ticks);
    if (rc)
        return rc;
    long hz = sysconf(_SC_CLK_TCK);
    *seconds = (double)ticks / (double)(hz > 0 ? hz : 100);
    return 0;
}

double wsh_bench_proc_self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

uint64_t wsh_bench_proc_self_maxrss(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_maxrss * 1024; /* Linux reports KiB */
}
